"""Several sessions at once on one server, under a health watchdog (issue 12, item 1).

Three browser sessions (two executives, one analyst) switch between the executive summary and
the KPIs page and change the period at the same moments, so the server builds the movers table
and converts frames for ``st.dataframe`` in several sessions at once: the pair that froze the
whole server. The watchdog polls the health endpoint throughout; the test fails if it ever stops
answering, if a page shows an exception, or if a session does not settle. Bounded: three rounds.
The scale issue's load test (more sessions, tier M) reuses ``HealthWatchdog``.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_ANALYST, E2E_PASSWORD, E2E_USER, screenshot
from tests.e2e.test_executive_flow import sign_in
from tests.e2e.watchdog import HealthWatchdog

pytestmark = pytest.mark.e2e

ROUNDS = 3
PERIODS = ("Last 12 months", "Last 6 months", "Last 3 months")
HEALTH_LIMIT_SECONDS = 10.0


def _settled(page, heading: str) -> None:
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    assert page.locator("[data-testid='stException']").count() == 0, f"an exception on {heading}"


def test_concurrent_sessions_keep_the_server_healthy(browser, app_url):
    contexts = [browser.new_context(viewport={"width": 1280, "height": 1600}) for _ in range(3)]
    pages = [c.new_page() for c in contexts]
    users = (E2E_USER, E2E_USER, E2E_ANALYST)
    started = time.monotonic()
    with HealthWatchdog(app_url) as watchdog:
        for page, user in zip(pages, users, strict=True):
            sign_in(page, app_url, user, E2E_PASSWORD)
        for page in pages:
            _settled(page, "Executive summary")
        for round_ in range(ROUNDS):
            # Every session acts before any waits, so their reruns overlap on the server.
            for page in pages:
                page.get_by_test_id("stSidebar").get_by_text(PERIODS[round_], exact=True).click()
            for page in pages:
                _settled(page, "Executive summary")
                expect(page.get_by_text("Biggest movers")).to_be_visible()
            for page in pages:
                page.get_by_test_id("stSidebarNav").get_by_text("KPIs", exact=True).click()
            for page in pages:
                _settled(page, "KPIs")
            for page in pages:
                page.get_by_test_id("stSidebarNav").get_by_text("Executive summary", exact=True).click()
            for page in pages:
                _settled(page, "Executive summary")
    elapsed = time.monotonic() - started
    try:
        for index, page in enumerate(pages):
            exceptions = page.locator("[data-testid='stException']").count()
            assert exceptions == 0, f"session {index} saw an exception"
        screenshot(pages[-1], "load_three_sessions_analyst")
    finally:
        for context in contexts:
            context.close()
    assert watchdog.failures == [], watchdog.failures
    assert len(watchdog.latencies) >= 3, "the watchdog never polled"
    assert watchdog.worst < HEALTH_LIMIT_SECONDS, f"health answered in {watchdog.worst:.1f} s at worst"
    print(f"3 sessions x {ROUNDS} rounds in {elapsed:.1f} s; health polls {len(watchdog.latencies)}, "
          f"worst {watchdog.worst:.2f} s")  # fmt: skip
