"""The audit-log viewer: filters with bound values, customers found by pseudonym, export, chain status."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from analytics.access.audit_log import (
    MSG_BAD_LIMIT,
    MSG_BAD_PERIOD,
    MSG_BAD_PSEUDONYM,
    audit_actions,
    audit_head,
    audit_log_csv,
    audit_log_view,
    count_audit_log,
    read_audit_log,
    record_audit_export,
)
from analytics.store.database import Database

ANN_CUSTOMER = "C-0123456789ab"
OTHER_CUSTOMER = "C-aaaaaaaaaaaa"


@pytest.fixture()
def db() -> Database:
    db = Database(":memory:")
    db.ensure_schema()
    db.write_audit(username="ann", role="admin", action="sign_in", target="sign_in")
    db.write_audit(
        username="anna",
        role="compliance_reviewer",
        action="view_personal_data",
        target="model_explanation",
        details={"model_id": "churn-v1", "customer": ANN_CUSTOMER},
    )
    db.write_audit(username="os:bob", role=None, action="export", target=f"customer:{ANN_CUSTOMER}")
    db.write_audit(
        username="=HYPERLINK(1)",
        role=None,
        action="sign_in_failed",
        target="sign_in",
        # A longer hex string that starts like a pseudonym is no reference to the customer.
        details={"data_hash": ANN_CUSTOMER + "cd", "customers": [OTHER_CUSTOMER]},
    )
    return db


def _ids(frame) -> list[int]:
    return frame.get_column("event_id").to_list()


def test_rows_come_newest_first_with_the_pseudonyms_they_mention(db):
    rows = read_audit_log(db)
    assert _ids(rows) == [4, 3, 2, 1]
    assert rows.columns == ["event_id", "ts", "username", "role", "action", "target", "details", "customers"]
    assert rows.get_column("customers").to_list() == [OTHER_CUSTOMER, ANN_CUSTOMER, ANN_CUSTOMER, None]


def test_who_is_exact_unless_it_ends_in_a_star(db):
    assert _ids(read_audit_log(db, who="ANN ")) == [1]
    assert _ids(read_audit_log(db, who="ann*")) == [2, 1]
    assert _ids(read_audit_log(db, who="os:*")) == [3]
    assert read_audit_log(db, who="an").height == 0


def test_actions_filter_on_any_of_them(db):
    assert _ids(read_audit_log(db, actions=["export", "sign_in"])) == [3, 1]
    assert count_audit_log(db, actions=["nothing_like_this"]) == 0


def test_a_customer_is_found_by_pseudonym_in_target_or_details(db):
    assert _ids(read_audit_log(db, customer=ANN_CUSTOMER)) == [3, 2]
    assert _ids(read_audit_log(db, customer=f" {OTHER_CUSTOMER} ")) == [4]
    assert read_audit_log(db, customer="C-ffffffffffff").height == 0


@pytest.mark.parametrize("bad", ["12345", "C-0123", "C-0123456789AB", "C-0123456789ab' OR 1=1 --", "%"])
def test_anything_but_a_pseudonym_is_refused_as_customer(db, bad):
    with pytest.raises(ValueError, match="pseudonym") as err:
        read_audit_log(db, customer=bad)
    assert str(err.value) == MSG_BAD_PSEUDONYM


def test_dates_are_whole_days_and_datetimes_instants(db):
    rows = read_audit_log(db)
    today = rows.item(0, "ts").date()
    assert read_audit_log(db, since=today, until=today).height == 4
    assert read_audit_log(db, until=today - timedelta(days=1)).height == 0
    assert read_audit_log(db, since=today + timedelta(days=1)).height == 0
    second = rows.filter(rows["event_id"] == 2).item(0, "ts")
    assert _ids(read_audit_log(db, until=second)) == [1]
    assert _ids(read_audit_log(db, since=second, actions=["view_personal_data"])) == [2]
    with pytest.raises(ValueError, match=MSG_BAD_PERIOD):
        read_audit_log(db, since=today, until=today - timedelta(days=1))


def test_filters_combine_and_the_limit_cuts_the_oldest(db):
    assert _ids(read_audit_log(db, who="ann*", customer=ANN_CUSTOMER, since=date(2000, 1, 1))) == [2]
    assert _ids(read_audit_log(db, limit=2)) == [4, 3]
    assert count_audit_log(db) == 4
    for bad in (0, 100_001):
        with pytest.raises(ValueError, match="limit") as err:
            read_audit_log(db, limit=bad)
        assert str(err.value) == MSG_BAD_LIMIT


def test_typed_text_is_bound_never_sql(db):
    assert read_audit_log(db, who="' OR 1=1 --").height == 0
    assert read_audit_log(db, who="%*").height == 0
    assert read_audit_log(db, actions=["' OR 1=1 --"]).height == 0


def test_filter_choices(db):
    assert audit_actions(db) == ["export", "sign_in", "sign_in_failed", "view_personal_data"]


def test_the_head_is_the_newest_event_and_a_kept_verification_is_used_as_given(db):
    head = audit_head(db)
    assert head == db.query("select max(event_id) from audit_log").item()
    kept = db.verify_audit()
    assert audit_log_view(db, chain=kept).chain is kept


def test_the_view_has_rows_total_and_an_intact_chain(db):
    view = audit_log_view(db, limit=1)
    assert view.total == 4 and _ids(view.rows) == [4]
    assert view.chain.ok and view.chain.rows == 4 and view.chain.head_event_id == 4


def test_the_view_reports_a_tampered_row(db):
    db.execute("UPDATE audit_log SET username = 'someone_else' WHERE event_id = 2")
    chain = audit_log_view(db).chain
    assert not chain.ok and chain.first_broken_event_id == 2


def test_the_export_is_formula_safe_csv_and_is_itself_audited(db):
    rows = read_audit_log(db, who="=hyperlink(1)")
    data = audit_log_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [r["username"] for r in parsed] == ["'=HYPERLINK(1)"]
    record_audit_export(
        db, username="ann", role="admin", rows=rows.height, who="=hyperlink(1)", customer=None
    )
    last = read_audit_log(db, limit=1).row(0, named=True)
    assert (last["action"], last["target"], last["username"]) == ("export", "audit_log", "ann")
    assert '"rows": 1' in last["details"] and db.verify_audit().ok
