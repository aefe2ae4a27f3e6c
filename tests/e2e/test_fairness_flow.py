"""The compliance sign-off in a real browser: a reviewer audits the historical credit decision, sees
the planted gender gap fail inside every credit band, rejects it, and downloads the signed report,
whose SHA-256 is the one the page says was stored."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, E2E_PASSWORD, E2E_REVIEWER, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e


def test_reviewer_rejects_the_biased_credit_decision_and_downloads_the_signed_report(page, app_url):
    sign_in(page, app_url, E2E_REVIEWER, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Fairness & compliance").click()
    expect(page.get_by_role("heading", name="Fairness & compliance")).to_be_visible()
    page.get_by_test_id("stButtonGroup").first.get_by_text("Offers & credit decision", exact=True).click()
    verdict = page.get_by_test_id("stAlertContentError").first
    expect(verdict).to_contain_text("Fail")
    expect(verdict).to_contain_text("Credit decision: Pre-approved personal loan")
    expect(page.get_by_text("Within credit bands")).to_be_visible()
    # The selection-rate chart is drawn in the browser, one bar per gender.
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
            .some(plot => (plot._fullData || []).some(t => t.type === 'bar' && t.x.length === 3))"""
    )
    screenshot(page, "fairness_credit_decision")

    page.get_by_text("Rejected", exact=True).click()
    page.get_by_label("Comment (conditions, or why a failing audit is approved)").fill(
        "Women are pre-approved at 0.7 times the rate of men in every credit band."
    )
    page.get_by_role("button", name="Sign and store the report").click()
    stored = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Signed and stored")
    expect(stored).to_be_visible()
    html_sha = re.search(r"HTML SHA-256 ([0-9a-f]{64})", stored.inner_text()).group(1)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the signed report (HTML)").click()
    download = download_info.value
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "fairness-signed-report.html"
    download.save_as(path)
    content = path.read_bytes()
    assert hashlib.sha256(content).hexdigest() == html_sha
    text = content.decode("utf-8")
    assert E2E_REVIEWER in text and "Rejected" in text and "0.7 times the rate of men" in text

    with page.expect_download() as pdf_info:
        page.get_by_role("button", name="Download the signed report (PDF)").click()
    pdf_path = ARTIFACTS / "fairness-signed-report.pdf"
    pdf_info.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    screenshot(page, "fairness_signed")

    # The saved HTML is self-contained: opened on its own, it shows the verdict and the sign-off.
    page.goto(path.resolve().as_uri())
    expect(page.get_by_text(E2E_REVIEWER).first).to_be_visible()
    screenshot(page, "fairness_report_opened")
