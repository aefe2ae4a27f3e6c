"""AppTest of the entrypoint and the executive summary page, for every role."""

from __future__ import annotations

import pytest

from analytics.access import auth
from analytics.common.types import User
from app import components
from tests.app.conftest import MAIN, PASSWORD, REPO, new_app

PAGE = str(REPO / "pages" / "executive_summary.py")


def metric_labels(at):
    return [m.label for m in at.metric]


def metric_value(at, label):
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("role", ["executive", "marketing_analyst", "admin"])
def test_roles_with_access_see_kpi_tiles_with_numbers(bank, role):
    at = new_app(user=User(f"test_{role}", role)).run()
    assert not at.exception
    assert at.title[0].value == "Executive summary"
    labels = metric_labels(at)
    assert labels == list(components.SHORT_LABELS.values())
    nps = metric_value(at, "NPS")
    assert nps != "n/a" and -100 <= float(nps) <= 100
    assert any(c.value.startswith("95% CI [") for c in at.caption)


def test_compliance_reviewer_is_refused_the_page_on_the_server(bank):
    at = new_app(PAGE, user=User("test_compliance_reviewer", "compliance_reviewer")).run()
    assert not at.exception
    assert at.error[0].value == components.MSG_NO_ACCESS.format(role="Compliance reviewer")
    assert not at.metric


def test_compliance_reviewer_lands_on_the_models_page_without_the_executive_page(bank):
    at = new_app(user=User("test_compliance_reviewer", "compliance_reviewer")).run()
    assert not at.exception
    assert at.title[0].value == "Models & explanations"
    at.switch_page("../pages/account.py").run()
    assert at.title[0].value == "Account"
    assert "Executive summary" not in at.markdown[1].value


def test_anonymous_visitor_gets_only_the_sign_in_form(bank):
    at = new_app().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.metric
    page = new_app(PAGE).run()
    assert page.error[0].value == components.MSG_NOT_SIGNED_IN


def test_sign_in_with_the_right_password_opens_the_home_page(bank):
    at = new_app().run()
    at.text_input(key="sign_in_username").input("test_executive")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Executive summary"
    assert at.session_state["user"] == User("test_executive", "executive")


def test_wrong_password_gets_a_plain_refusal(bank):
    at = new_app().run()
    at.text_input(key="sign_in_username").input("test_executive")
    at.text_input(key="sign_in_password").input("wrong password")
    at.button[0].click().run()
    assert not at.exception
    assert at.error[0].value == auth.MSG_SIGN_IN_FAILED
    assert not at.metric


def test_changing_the_period_changes_the_numbers(bank):
    at = new_app(user=User("test_executive", "executive")).run()
    assert at.radio(key="period_preset").value == "Last 3 months"
    three_months = metric_value(at, "Monthly active customers")
    at.radio(key="period_preset").set_value("Last 12 months").run()
    assert not at.exception
    assert metric_value(at, "Monthly active customers") != three_months


def test_a_filter_matching_nobody_says_so(tiny_bank):
    at = new_app(user=User("tiny_exec", "executive"), filter_regions=["South"]).run()
    assert not at.exception
    assert at.info[0].value.startswith("No customers match these filters (South")
    assert not at.metric


def test_missing_or_corrupt_database_before_sign_in_shows_no_server_path(tmp_path, monkeypatch):
    # The detail (path, rebuild command) goes to the server log; tests/app/test_sign_in.py
    # shows that a signed-in administrator sees it.
    from app.main import MSG_DB_UNAVAILABLE

    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"garbage" * 1000)
    for path in (tmp_path / "absent.duckdb", corrupt):
        monkeypatch.setenv("TAILOR_DB", str(path))
        at = new_app(MAIN).run()
        assert not at.exception
        assert at.error[0].value == MSG_DB_UNAVAILABLE and str(tmp_path) not in at.error[0].value


def test_page_default_period_is_the_clis_default(bank):
    from analytics.kpis import cubes
    from analytics.store.database import Database

    db = Database(bank, read_only=False)
    expected = cubes.default_filters(db.backend())
    db.close()
    at = new_app(user=User("test_executive", "executive")).run()
    caption = at.caption[0].value
    assert caption.startswith(f"{expected.start_month:%b}–{expected.end_month:%b %Y} compared with")


def test_a_period_whose_previous_period_predates_the_data_says_so(bank):
    at = new_app(user=User("test_executive", "executive"), period_preset="Last 12 months").run()
    assert not at.exception
    assert "compared with" in at.caption[0].value
    at.radio(key="period_preset").set_value("Custom").run()
    at.selectbox(key="start_month").select_index(4).run()
    assert not at.exception
    assert "no comparison: the data does not cover all of" in at.caption[0].value
    assert at.info[0].value == "Nothing to compare: the data does not cover the whole previous period."


def test_a_saved_segment_is_offered_as_a_filter_and_filters_the_tiles(bank):
    from analytics.segments import store as segment_store
    from analytics.store.database import Database

    db = Database(bank)
    # A saved segment keeps only customers who consented to profiling (docs/privacy.md); for its
    # tiles to equal the region's, every North customer consents here.
    db.execute("UPDATE customers SET consent_profiling = true WHERE region = 'North'")
    north = db.query("SELECT customer_id FROM customers WHERE region = 'North'").get_column("customer_id")
    saved = segment_store.save_segment(
        db, name="North lasso", customer_ids=north, source="map_selection", created_by="t"
    )
    db.close()
    at = new_app(user=User("test_marketing_analyst", "marketing_analyst")).run()
    box = at.selectbox(key="filter_segment")
    assert f"North lasso (v1, {north.len():,} customers)" in box.options
    everyone = metric_value(at, "Monthly active customers")
    box.set_value(saved.segment_id).run()
    assert not at.exception
    assert "segment North lasso (v1" in at.caption[0].value
    in_segment = metric_value(at, "Monthly active customers")
    at.selectbox(key="filter_segment").set_value(None).run()
    at.multiselect(key="filter_regions").set_value(["North"]).run()
    assert metric_value(at, "Monthly active customers") == in_segment != everyone


EVIL_SEGMENT = "[click](http://evil.example) ![x](http://evil.example/x.png) **bold**"


def test_a_segment_name_reaches_the_executives_caption_escaped(bank):
    from analytics.common.formatting import escape_markdown
    from analytics.segments import store as segment_store
    from analytics.store.database import Database

    db = Database(bank)
    ids = db.query("SELECT customer_id FROM customers WHERE region = 'West'").get_column("customer_id")
    saved = segment_store.save_segment(
        db, name=EVIL_SEGMENT, customer_ids=ids, source="upload", created_by="t"
    )
    db.close()
    at = new_app(user=User("test_executive", "executive"), filter_segment=saved.segment_id).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "customers ·" in c.value)
    assert f"segment {escape_markdown(EVIL_SEGMENT)} (v1," in caption
    assert "](" not in caption and "**" not in caption


def test_a_csv_download_is_guarded_against_formula_injection(monkeypatch):
    import polars as pl
    import streamlit as st

    sent = {}
    monkeypatch.setattr(st, "download_button", lambda label, **kwargs: sent.update(kwargs))
    frame = pl.DataFrame(
        {"name": ['=HYPERLINK("http://evil.example")', "@SUM(A1)", "Ann"], "change": [-2, 0, 3]}
    )
    components.csv_download(frame, file_name="t.csv", key="t")
    assert sent["data"].decode("utf-8").splitlines() == [
        "name,change",
        '"\'=HYPERLINK(""http://evil.example"")",-2',
        "'@SUM(A1),0",
        "Ann,3",
    ]
