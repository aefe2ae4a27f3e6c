"""The Data & privacy page in a real browser: an administrator uploads a transactions file with a
bad amount and a customer nobody knows; the page lists both problems by row and column, offers no
import, and the audit log shows that nothing was imported; then erases a customer who left the
bank, after which nothing is held about them."""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import expect

from analytics.store.database import Database
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


def test_admin_erases_a_customer_and_nothing_is_held_about_them_afterwards(page, app_url, model_bank_path):
    # A customer who left the bank: no other browser test reads them (they are in no score list).
    db = Database(model_bank_path, read_only=True)
    customer = db.query("select min(customer_id) from customers where closed_at is not null").item()
    db.close()
    sign_in(page, app_url, E2E_ADMIN, E2E_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Data & privacy").click()
    expect(page.get_by_role("heading", name="Data & privacy")).to_be_visible()
    page.get_by_test_id("stButtonGroup").first.get_by_text("Subject requests", exact=True).click()
    page.get_by_role("textbox", name="Customer", exact=True).fill(str(customer))
    page.get_by_role("textbox", name="Customer", exact=True).press("Enter")
    page.get_by_role("textbox", name="Type the customer number to confirm").fill(str(customer))
    page.get_by_role("textbox", name="Type the customer number to confirm").press("Enter")
    page.get_by_role("button", name="Erase this customer").click()
    done = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Erased")
    expect(done).to_be_visible(timeout=120_000)  # rollups rebuilt and the file rewritten: seconds
    expect(done).to_contain_text("the audit log keeps a tombstone under C-")
    screenshot(page, "data_privacy_erased")

    # What is still held is the audit trail under the pseudonym: the access export has no table rows.
    page.get_by_role("button", name="Prepare the access export").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the zip").click()
    path = ARTIFACTS / "subject-access-after-erasure.zip"
    download_info.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert "README.txt" in names
    assert not [name for name in names if name.split(".")[0] in {"customers", "transactions", "holdings"}]
