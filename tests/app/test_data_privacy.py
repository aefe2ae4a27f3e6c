"""AppTest of the Data & privacy page: who may open it, and each section against the library."""

from __future__ import annotations

import json

import pytest

from analytics.common.types import User
from analytics.privacy import coverage
from app import resources
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "data_privacy.py")
ACCOUNT = str(REPO / "pages" / "account.py")


def page(role: str, **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


@pytest.mark.parametrize("role", ["executive", "marketing_analyst"])
def test_executives_and_analysts_are_refused_on_the_server(bank, role):
    at = page(role).run()
    assert not at.exception
    assert at.error and "does not give access to this page" in at.error[0].value
    assert not at.dataframe and not at.get("plotly_chart")


@pytest.mark.parametrize(
    ("role", "offered"),
    [("executive", False), ("marketing_analyst", False), ("compliance_reviewer", True), ("admin", True)],
)
def test_the_page_is_listed_only_for_reviewers_and_admins(bank, role, offered):
    at = new_app(ACCOUNT, user=User(f"test_{role}", role)).run()
    assert not at.exception
    listed = " ".join(m.value for m in at.markdown)
    assert ("Data & privacy" in listed) is offered


@pytest.mark.parametrize("role", ["compliance_reviewer", "admin"])
def test_consent_coverage_equals_the_library(bank, role):
    at = page(role, data_section="consent").run()
    assert not at.exception
    db = resources.get_database(resources.database_path())
    expected = coverage.consent_coverage(db.backend(), as_of=db.snapshot_date())
    shown = at.dataframe[0].value
    assert list(shown["Current customers"]) == expected.get_column("customers").to_list()
    assert list(shown["Consenting"]) == expected.get_column("consenting").to_list()
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    # The history's last month end is the snapshot: its shares are today's coverage.
    over_time = json.loads(charts[1].proto.spec)["data"]
    for trace, share in zip(over_time, expected.get_column("share"), strict=True):
        assert trace["y"][-1] == pytest.approx(share * 100)
    at.segmented_control(key="consent_by").set_value("age_band").run()
    assert not at.exception


def test_quality_section_shows_every_check_as_the_library_counts_them(bank):
    from analytics.quality import checks

    at = page("compliance_reviewer", data_section="quality").run()
    assert not at.exception
    report = checks.run_quality_checks(resources.get_database(resources.database_path()))
    assert at.success and f"{len(report.checks):,} checks" in at.success[0].value
    overview = at.dataframe[0].value
    assert "customers" in set(overview["Table"])
    at.segmented_control(key="quality_show").set_value("all").run()
    assert len(at.dataframe[1].value) == len(report.checks)
    at.segmented_control(key="quality_show").set_value("dictionary").run()
    assert not at.exception
    dictionary = at.dataframe[1].value
    assert {"email", "phone"} <= set(dictionary.loc[dictionary["Personal data"], "Column"])


def test_audit_log_filters_and_an_export_that_is_itself_audited(bank):
    from analytics.access import auth

    db = resources.get_database(resources.database_path())
    auth.authenticate(db, "test_admin", "wrong password")
    at = page("admin", data_section="audit").run()
    assert not at.exception
    assert "intact" in at.success[0].value
    at.text_input(key="audit_who").input("test_admin").run()
    at.multiselect(key="audit_actions").set_value(["sign_in_failed"]).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert list(shown["What"]) == ["sign_in_failed"] and list(shown["Who"]) == ["test_admin"]
    at.button(key="audit_prepare_export").click().run()
    assert not at.exception
    exports = db.query("select username, target from audit_log where action = 'export'").rows()
    assert exports == [("test_admin", "audit_log")]
    assert at.download_button(key="audit_csv")
    at.text_input(key="audit_customer").input("100001").run()
    assert not at.exception and at.error  # a raw number is not a pseudonym: refused by name


def test_only_an_admin_is_offered_the_import(bank):
    reviewer = page("compliance_reviewer", data_section="import").run()
    assert not reviewer.exception
    assert "Import" not in reviewer.segmented_control(key="data_section").options
    assert not reviewer.get("file_uploader")
    admin = page("admin", data_section="import").run()
    assert not admin.exception
    assert "Import" in admin.segmented_control(key="data_section").options


def test_a_bad_file_lists_its_problems_and_changes_nothing(bank):
    db = resources.get_database(resources.database_path())
    before = db.query("select count(*) from transactions").item()
    header = "transaction_id,customer_id,ts,amount,direction,merchant_category,channel,country,fee"
    bad = f"{header}\n99000001,100001,2026-01-02 10:00:00,abc,debit,groceries,card_present,NL,0\n"
    at = page("admin", data_section="import").run()
    at.selectbox(key="import_table").set_value("transactions").run()
    at.file_uploader(key="import_file").set_value(("tx.csv", bad.encode(), "text/csv")).run()
    assert not at.exception
    assert at.error and "tx.csv was refused: 1 problem(s)" in at.error[0].value
    problems = at.dataframe[0].value
    assert list(problems["Row"]) == [1] and list(problems["Column"]) == ["amount"]
    assert db.query("select count(*) from transactions").item() == before
    assert not at.button


def test_a_good_file_is_imported_once_and_audited(bank):
    db = resources.get_database(resources.database_path())
    before = db.query("select count(*) from transactions").item()
    header = "transaction_id,customer_id,ts,amount,direction,merchant_category,channel,country,fee"
    good = f"{header}\n99000001,100001,2026-01-02 10:00:00,12.50,debit,groceries,card_present,NL,0\n"
    at = page("admin", data_section="import").run()
    at.selectbox(key="import_table").set_value("transactions").run()
    at.file_uploader(key="import_file").set_value(("tx.csv", good.encode(), "text/csv")).run()
    assert "1 rows pass every check" in at.success[0].value
    at.button(key="import_run").click().run()
    assert not at.exception
    assert any("Imported 1 rows into transactions" in s.value for s in at.success)
    assert db.query("select count(*) from transactions").item() == before + 1
    audited = db.query("select username, target from audit_log where action = 'import'").rows()
    assert audited == [("test_admin", "transactions")]


def test_a_reviewer_exports_what_is_held_about_a_customer_named_by_masked_id(bank):
    import io
    import zipfile

    db = resources.get_database(resources.database_path())
    masked = resources.masked_id(resources.database_path(), 100001)
    at = page("compliance_reviewer", data_section="requests").run()
    at.text_input(key="subject_ref").input(masked).run()
    at.button(key="subject_prepare").click().run()
    assert not at.exception
    assert at.download_button(key="subject_zip")
    requests = db.query("select username, target from audit_log where action = 'subject_access'").rows()
    assert requests == [("test_compliance_reviewer", masked)]
    blob = resources.subject_access(resources.database_path(), User("x", "admin"), 100001)
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert "README.txt" in names and any(name.startswith("customers.") for name in names)


def test_an_erasure_needs_the_number_typed_again_then_removes_the_customer(bank):
    db = resources.get_database(resources.database_path())
    at = page("admin", data_section="requests").run()
    at.text_input(key="subject_ref").input("100002").run()
    at.text_input(key="subject_confirm").input("100003").run()
    at.button(key="subject_erase").click().run()
    assert not at.exception and "nothing was erased" in at.error[0].value
    assert db.query("select count(*) from customers where customer_id = 100002").item() == 1
    at.text_input(key="subject_confirm").input("100002").run()
    at.button(key="subject_erase").click().run()
    assert not at.exception
    assert any("Erased" in s.value for s in at.success)
    db = resources.get_database(resources.database_path())
    assert db.query("select count(*) from customers where customer_id = 100002").item() == 0
    assert db.query("select count(*) from audit_log where action = 'subject_erased'").item() == 1
    assert db.verify_audit().ok


def test_a_reference_that_is_neither_number_nor_masked_id_is_refused(bank):
    at = page("admin", data_section="requests").run()
    at.text_input(key="subject_ref").input("Julius").run()
    assert not at.exception and "neither a customer number nor a masked id" in at.error[0].value
