"""The analyst's A/B read-out in a real browser: pick an experiment, read the decision line,
see the SRM banner on the broken one, and the sequential chart drawn."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_ANALYST, E2E_PASSWORD, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e


def test_analyst_reads_out_an_experiment_and_sees_the_srm_banner_on_another(page, app_url):
    sign_in(page, app_url, E2E_ANALYST, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("A/B tests").click()
    expect(page.get_by_role("heading", name="A/B tests", exact=True)).to_be_visible()
    page.get_by_label("Read out").click()
    page.get_by_role("option", name="Savings goals nudge").click()
    decision = page.get_by_text("Treatment raised conversion by 1.51 pp")
    expect(decision).to_be_visible()
    expect(decision).to_contain_text("chance to beat control")
    # The sequential chart is drawn in the browser: a band and the lift over the window's days.
    page.get_by_role("heading", name="Sequential monitoring").scroll_into_view_if_needed()
    days = page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
            .filter(plot => ((plot._fullLayout.title || {}).text || '').includes('Sequential monitoring'))
            .map(plot => plot._fullData.find(trace => trace.name === 'Lift')._length)[0]"""
    ).json_value()
    assert days >= 20
    screenshot(page, "ab_readout")

    page.get_by_label("Read out").click()
    page.get_by_role("option", name="New app home screen").click()
    banner = page.get_by_text("Sample ratio mismatch: control: 8,353")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("do not trust this read-out")
    screenshot(page, "ab_srm_banner")
