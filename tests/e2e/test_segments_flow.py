"""The analyst's Segments flow in a real browser: segment, fit the UMAP map with its progress
bar, see the map drawn with every customer as a point."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_ANALYST, E2E_PASSWORD, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e

FIT_TIMEOUT_MS = 240_000  # the first UMAP fit in a process compiles numba code (~30 s) before fitting


def test_analyst_fits_the_umap_map_and_sees_every_customer_on_it(page, app_url):
    sign_in(page, app_url, E2E_ANALYST, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Segments").click()
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Customer map")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("No UMAP map is stored for this feature set yet")).to_be_visible()
    page.get_by_role("button", name="Fit the UMAP map").click()
    expect(page.get_by_text("UMAP fitted")).to_be_visible(timeout=FIT_TIMEOUT_MS)
    # The map is the chart of WebGL (scattergl) traces; count its points in the browser.
    points = page.evaluate(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
            .filter(plot => (plot._fullData || []).some(trace => trace.type === 'scattergl'))
            .map(plot => plot._fullData.reduce((n, trace) => n + trace._length, 0))
            .reduce((a, b) => a + b, 0)"""
    )
    expect(page.locator(".js-plotly-plot .gl-container canvas").first).to_be_attached()
    consented = page.locator("[data-testid='stCaptionContainer']").first.inner_text()
    expected = int(consented.split(" customers on the snapshot date")[0].replace(",", ""))
    assert points == expected > 10_000
    screenshot(page, "segments_umap_map")
