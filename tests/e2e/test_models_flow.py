"""The compliance question in a real browser: why did this customer get this churn score?
An analyst opens Models & explanations, picks the highest-scored customer, reads the three
reasons and the waterfall, and re-scores a what-if."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_ANALYST, E2E_PASSWORD, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e


def test_analyst_opens_one_customers_explanation_and_re_scores_a_what_if(page, app_url):
    sign_in(page, app_url, E2E_ANALYST, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Models & explanations").click()
    expect(page.get_by_role("heading", name="Models & explanations")).to_be_visible()
    expect(page.get_by_text("Confusion matrix at")).to_be_visible()
    screenshot(page, "models_quality")

    page.get_by_test_id("stButtonGroup").first.get_by_text("One customer", exact=True).click()
    page.get_by_label("…or one of the highest scores (profiling consent given)").click()
    option = page.get_by_role("option").nth(1)
    masked = option.inner_text().split(" · ")[0]
    assert re.fullmatch(r"C-[0-9a-f]{12}", masked)
    option.click()
    expect(page.get_by_role("heading", name=f"Customer {masked}")).to_be_visible()
    expect(page.get_by_text("Why: the three largest contributions")).to_be_visible()
    reasons = page.locator("[data-testid='stMarkdownContainer'] li")
    expect(reasons).to_have_count(3)
    assert all("churn risk by" in text for text in reasons.all_inner_texts())
    # The waterfall is drawn in the browser: a Plotly waterfall trace whose last bar is the score.
    bars = page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
            .flatMap(plot => plot._fullData || [])
            .filter(trace => trace.type === 'waterfall')
            .map(trace => trace._length)[0]"""
    ).json_value()
    assert bars >= 3  # base value, contributions, the score
    score = page.locator("[data-testid='stMetric']").filter(has_text="Score: churn risk")
    before = float(score.locator("[data-testid='stMetricValue']").inner_text().rstrip("%"))
    screenshot(page, "models_customer_explanation")

    page.get_by_label("support contacts").fill("0")
    page.get_by_role("button", name="Re-score").click()
    after_tile = page.locator("[data-testid='stMetric']").filter(has_text="Score with these values")
    expect(after_tile).to_be_visible()
    after = float(after_tile.locator("[data-testid='stMetricValue']").inner_text().rstrip("%"))
    assert after <= before
