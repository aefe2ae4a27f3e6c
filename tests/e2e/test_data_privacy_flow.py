"""The Data & privacy page in a real browser: an administrator uploads a transactions file with a
bad amount and a customer nobody knows; the page lists both problems by row and column, offers no
import, and the audit log shows that nothing was imported."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, E2E_ADMIN, E2E_PASSWORD, screenshot
from tests.e2e.test_executive_flow import sign_in

pytestmark = pytest.mark.e2e

HEADER = "transaction_id,customer_id,ts,amount,direction,merchant_category,channel,country,fee"
BAD_FILE = (
    f"{HEADER}\n"
    "99000001,100001,2026-01-02 10:00:00,twelve,debit,groceries,card_present,NL,0\n"
    "99000002,999999999,2026-01-02 11:00:00,5.00,debit,groceries,card_present,NL,0\n"
)


def test_admin_uploads_a_bad_file_sees_every_problem_and_nothing_is_imported(page, app_url):
    sign_in(page, app_url, E2E_ADMIN, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Data & privacy").click()
    expect(page.get_by_role("heading", name="Data & privacy")).to_be_visible()
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("checks on the data")
    page.get_by_test_id("stButtonGroup").first.get_by_text("Import", exact=True).click()

    page.get_by_test_id("stSelectbox").filter(has_text="Table").click()
    page.get_by_role("option", name="transactions", exact=True).click()
    ARTIFACTS.mkdir(exist_ok=True)
    bad = ARTIFACTS / "bad_transactions.csv"
    bad.write_text(BAD_FILE)
    page.get_by_test_id("stFileUploader").first.locator("input[type='file']").set_input_files(str(bad))

    refusal = page.get_by_test_id("stAlertContentError").first
    expect(refusal).to_contain_text("bad_transactions.csv was refused: 2 problem(s)")
    expect(refusal).to_contain_text("Nothing was changed")
    problems = page.get_by_test_id("stDataFrame").last
    expect(problems).to_be_visible()
    expect(page.get_by_role("button", name="Import into transactions")).to_have_count(0)
    screenshot(page, "data_privacy_import_refused")

    # The audit log holds no import: the refusal wrote nothing.
    page.get_by_test_id("stButtonGroup").first.get_by_text("Audit log", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("The audit log is intact")
    page.get_by_test_id("stMultiSelect").filter(has_text="What").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    names = [options.nth(i).inner_text() for i in range(options.count())]
    assert "sign_in" in names and "import" not in names
    page.keyboard.press("Escape")
    screenshot(page, "data_privacy_audit_log")
