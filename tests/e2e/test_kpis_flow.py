"""The KPIs page in a real browser: NPS with the comments behind a clicked bar, the cohort heat map."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_PASSWORD, E2E_USER, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e


def open_kpis(page, url: str) -> None:
    sign_in(page, url, E2E_USER, E2E_PASSWORD)
    expect(page.get_by_role("heading", name="Executive summary")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_text("KPIs").click()
    expect(page.get_by_role("heading", name="KPIs", exact=True)).to_be_visible()


def test_clicking_an_nps_bar_lists_the_comments_behind_it(page, app_url):
    open_kpis(page, app_url)
    expect(page.get_by_role("heading", name="NPS by month")).to_be_visible()
    expect(page.get_by_text("Comments behind: Aug–Oct 2026 · all answers")).to_be_visible()
    # The stacked bars of the monthly chart: the detractor trace is the third; click its last bar.
    bars = page.locator(".js-plotly-plot").nth(1).locator("g.trace.bars").nth(2).locator("path")
    expect(bars.last).to_be_visible()
    bars.last.click(force=True)
    expect(page.get_by_text("Comments behind: Oct 2026 · Detractors (0-6)")).to_be_visible()
    screenshot(page, "kpis_nps_comments_after_click")


def test_retention_section_shows_the_cohort_heat_map(page, app_url):
    open_kpis(page, app_url)
    page.get_by_test_id("stButtonGroup").first.get_by_text("Retention", exact=True).click()
    expect(page.get_by_role("heading", name="Cohorts")).to_be_visible()
    # A new session starts on the default period, whatever other sessions did.
    expect(page.get_by_test_id("stSidebar").locator("label:has(input:checked)")).to_have_text("Last 3 months")
    heatmap = page.locator(".js-plotly-plot").first.locator(".hm image, .heatmaplayer image")
    expect(heatmap.first).to_be_attached()
    expect(page.get_by_role("heading", name="Survival (Kaplan-Meier)")).to_be_visible()
    screenshot(page, "kpis_retention_cohort_heat_map")
