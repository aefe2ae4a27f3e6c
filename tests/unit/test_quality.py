"""Data dictionary and data-quality checks: planted problems in a small bank, and the sample bank."""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl
import pytest

from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.cli.main import main
from analytics.quality.checks import FRESHNESS_LIMIT_DAYS, run_quality_checks
from analytics.quality.dictionary import data_dictionary, freshness_column, table_overview
from analytics.store.contracts import ALL_TABLES, CUSTOMERS, REFERENCES, TRANSACTIONS
from analytics.store.database import Database
from tests import banks

AS_OF = date(2025, 1, 31)


def _tables() -> dict[str, pl.DataFrame]:
    """A clean bank with a row in every canonical table, every feed fresh on AS_OF."""
    tables = banks.empty_tables()
    tables["customers"] = banks.customers([1, 2, 3], first_name=["Ann", "Bob", "Cy"])
    tables["products"] = banks.rows(
        "products",
        [
            ("current_account", "Current account", "deposit", 2.0, 0.0),
            ("savings", "Savings", "deposit", 0.0, 0.01),
        ],
    )
    tables["holdings"] = banks.rows(
        "holdings",
        [
            (1, 1, "current_account", date(2020, 1, 1), None, 100.0, 1.0),
            (2, 2, "savings", date(2021, 1, 1), None, 500.0, 0.5),
            (3, 3, "current_account", date(2024, 12, 2), None, 50.0, 1.0),
        ],
    )
    tables["transactions"] = banks.rows(
        "transactions",
        [
            (1, 1, datetime(2025, 1, 29, 10), 20.0, "debit", "groceries", "card_present", "NL", 0.1),
            (2, 2, datetime(2025, 1, 30, 11), 1000.0, "credit", "salary", "transfer", "NL", 0.0),
            (3, 3, datetime(2025, 1, 31, 12), 5.0, "debit", "travel", "card_online", "NL", 0.05),
        ],
    )
    tables["digital_events"] = banks.rows(
        "digital_events",
        [
            (1, 1, datetime(2025, 1, 30, 8), "mobile_app", "session", 60, 3),
            (2, 2, datetime(2025, 1, 31, 9), "web", "session", 30, 1),
        ],
    )
    tables["campaigns"] = banks.rows(
        "campaigns",
        [(1, "Winter savings", "savings", "email", date(2025, 1, 5), date(2025, 2, 15), "cross_sell")],
    )
    tables["offers"] = banks.rows(
        "offers", [(1, 1, 1, "savings", datetime(2025, 1, 6, 10), datetime(2025, 1, 6, 11), None, None)]
    )
    tables["experiments"] = banks.rows(
        "experiments",
        [
            (
                "exp1",
                "Test",
                "h",
                date(2025, 1, 5),
                date(2025, 2, 28),
                "control,treatment",
                "50,50",
                "conversion",
                1,
                "running",
            )
        ],
    )
    tables["assignments"] = banks.rows(
        "assignments",
        [("exp1", 1, "control", datetime(2025, 1, 5, 9)), ("exp1", 2, "treatment", datetime(2025, 1, 5, 9))],
    )
    tables["surveys"] = banks.rows(
        "surveys",
        [
            (1, 1, datetime(2025, 1, 29, 10), "nps", 9, "email", "relationship", None),
            (2, 2, datetime(2025, 1, 30, 10), "csat", 4, "web", "support", "Fine, thanks"),
        ],
    )
    tables["support_interactions"] = banks.rows(
        "support_interactions", [(1, 3, datetime(2025, 1, 30, 8), "chat", "fees", 30, 5.0, True, "Hello")]
    )
    return tables


def _bank(path: str = ":memory:") -> Database:
    db = Database(path)
    db.load_dataset(_tables(), meta={"as_of": AS_OF.isoformat(), "history_start": "2024-12-01"})
    return db


# Each planted problem is a statement that bypasses the loader, and the one check that must catch it.
PLANTS: dict[str, tuple[list[str], tuple[str, str, str | None]]] = {
    "null": (
        [
            "ALTER TABLE customers ALTER COLUMN region DROP NOT NULL",
            "UPDATE customers SET region = NULL WHERE customer_id = 2",
        ],
        ("not_null", "customers", "region"),
    ),
    "duplicate": (
        ["INSERT INTO transactions SELECT * FROM transactions WHERE transaction_id = 1"],
        ("unique_key", "transactions", None),
    ),
    "orphan": (
        ["INSERT INTO digital_events VALUES (3, 999, TIMESTAMP '2025-01-30 10:00', 'web', 'session', 10, 1)"],
        ("reference", "digital_events", "customer_id"),
    ),
    "out_of_range": (
        ["UPDATE customers SET credit_score = 900 WHERE customer_id = 3"],
        ("rule", "customers", "credit_score"),
    ),
    "stale": (
        ["UPDATE surveys SET ts = ts - INTERVAL 60 DAY"],
        ("freshness", "surveys", "ts"),
    ),
    "future": (
        ["UPDATE holdings SET opened_at = DATE '2025-03-01' WHERE holding_id = 3"],
        ("future_date", "holdings", "opened_at"),
    ),
    "not_finite": (
        ["UPDATE holdings SET balance = 'nan'::DOUBLE WHERE holding_id = 1"],
        ("finite", "holdings", "balance"),
    ),
}


def _failing(report) -> set[tuple[str, str, str | None]]:
    return {(c.name, c.table, c.column) for c in report.failed}


def test_a_clean_bank_passes_every_check_without_warnings():
    report = run_quality_checks(_bank())
    assert report.ok and not report.warned
    assert report.snapshot_date == AS_OF
    names = {c.name for c in report.checks}
    assert names == {
        "not_null",
        "finite",
        "unique_key",
        "rule",
        "reference",
        "future_date",
        "freshness",
        "not_empty",
    }
    assert sum(c.name == "reference" for c in report.checks) == len(REFERENCES)


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_each_planted_problem_is_found_by_exactly_its_check(plant):
    db = _bank()
    statements, expected = PLANTS[plant]
    for sql in statements:
        db.execute(sql)
    report = run_quality_checks(db)
    assert _failing(report) == {expected}
    (found,) = report.failed
    assert found.failing_rows == (0 if plant == "stale" else 1)


def test_all_planted_problems_together_are_each_found():
    db = _bank()
    for statements, _ in PLANTS.values():
        for sql in statements:
            db.execute(sql)
    assert _failing(run_quality_checks(db)) == {expected for _, expected in PLANTS.values()}


def test_examples_name_rows_by_key_and_customers_by_pseudonym_never_personal_data():
    db = _bank()
    for plant in ("null", "out_of_range", "duplicate", "orphan"):
        for sql in PLANTS[plant][0]:
            db.execute(sql)
    report = run_quality_checks(db)
    by_check = {(c.name, c.table): c for c in report.failed}
    key = pseudonym_key(db)
    masked = dict(zip([2, 3, 999], pseudonymize_ids(pl.Series([2, 3, 999]), key).to_list(), strict=True))
    assert by_check["not_null", "customers"].examples == (f"customer_id={masked[2]}",)
    assert by_check["rule", "customers"].examples == (f"customer_id={masked[3]}, credit_score=900",)
    assert by_check["unique_key", "transactions"].examples == ("transaction_id=1, rows=2",)
    assert by_check["reference", "digital_events"].examples == (f"event_id=3, customer_id={masked[999]}",)
    text = json.dumps([c.examples for c in report.checks])
    for personal in ("Ann", "Bob", "Cy", "1980-01-01", "customer_id=2", "customer_id=3", "999"):
        assert personal not in text


def test_freshness_limits_can_be_set_and_the_lag_is_explained():
    db = _bank()
    db.execute("UPDATE transactions SET ts = ts - INTERVAL 3 DAY")
    assert run_quality_checks(db).ok
    report = run_quality_checks(db, freshness_limits={"transactions": 2})
    (failed,) = report.failed
    assert (failed.name, failed.table) == ("freshness", "transactions")
    assert "2025-01-28, 3 days before" in failed.explanation
    assert FRESHNESS_LIMIT_DAYS["transactions"] == 7


def test_an_empty_canonical_table_warns_and_an_empty_feed_fails_freshness():
    db = _bank()
    db.execute("DELETE FROM support_interactions")
    report = run_quality_checks(db)
    assert {(c.name, c.table) for c in report.warned} == {("not_empty", "support_interactions")}
    assert _failing(report) == {("freshness", "support_interactions", "ts")}


def test_a_rule_with_null_passes_as_on_load_and_unknown_tables_are_refused():
    db = _bank()
    db.execute("UPDATE customers SET credit_score = NULL WHERE customer_id = 1")
    assert run_quality_checks(db, tables=("customers",)).ok
    with pytest.raises(KeyError, match="no_such_table"):
        run_quality_checks(db, tables=("no_such_table",))


def test_freshness_column_is_the_event_time_or_the_main_date():
    assert freshness_column(TRANSACTIONS) == "ts"
    assert freshness_column(CUSTOMERS) == "joined_at"  # birth_date is personal, never a freshness column
    assert freshness_column(ALL_TABLES["offers"]) == "sent_at"
    assert freshness_column(ALL_TABLES["cohort_cube"]) == "month"
    assert freshness_column(ALL_TABLES["products"]) is None


def test_the_dictionary_lists_every_column_with_rows_and_freshness():
    db = _bank()
    dictionary = data_dictionary(db)
    assert dictionary.height == sum(len(spec.schema) for spec in ALL_TABLES.values())
    row = dictionary.filter((pl.col("table") == "transactions") & (pl.col("column") == "amount")).row(
        0, named=True
    )
    assert row["rows"] == 3 and row["freshness_column"] == "ts" and row["lag_days"] == 0
    assert row["dtype"] == "Float64" and row["sql_type"] == "DOUBLE" and not row["nullable"]
    assert row["description"] == TRANSACTIONS.columns["amount"]
    email = dictionary.filter((pl.col("table") == "customers") & (pl.col("column") == "email")).row(
        0, named=True
    )
    assert email["personal"] and email["nullable"] and not email["primary_key"]
    overview = table_overview(db)
    assert overview.height == len(ALL_TABLES)
    surveys = overview.filter(pl.col("table") == "surveys").row(0, named=True)
    assert (surveys["rows"], surveys["lag_days"], surveys["kind"]) == (2, 1, "canonical")


def test_the_sample_bank_passes_every_check(sample_db):
    report = run_quality_checks(sample_db)
    assert report.ok and not report.warned, [c.explanation for c in (*report.failed, *report.warned)]
    assert report.seconds < 15  # about 1.5 s on a laptop; the bound only catches a pathological slowdown


def test_the_sample_banks_dictionary_counts_its_rows(sample_db):
    overview = table_overview(sample_db)
    counts = dict(overview.select("table", "rows").iter_rows())
    assert counts["customers"] == sample_db.query("select count(*) from customers").item()
    assert counts["transactions"] > 100_000
    assert overview.filter(pl.col("table") == "transactions").item(0, "lag_days") == 0


def test_cli_prints_json_and_exits_0_unless_told_to_fail(tmp_path, capsys):
    path = tmp_path / "bank.duckdb"
    db = _bank(str(path))
    for sql in PLANTS["duplicate"][0]:
        db.execute(sql)
    db.close()
    assert main(["quality", "--db", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False and payload["failed"] == 1
    failed = [c for c in payload["checks"] if c["status"] == "fail"]
    assert failed[0]["name"] == "unique_key" and failed[0]["examples"] == ["transaction_id=1, rows=2"]
    assert main(["quality", "--db", str(path), "--fail-on-error"]) == 1
    out = capsys.readouterr().out
    assert "1 FAILED" in out and "e.g. transaction_id=1, rows=2" in out


def test_cli_dictionary_on_the_sample_bank(sample_bank_path, capsys):
    assert main(["quality", "--db", str(sample_bank_path), "--dictionary", "--fail-on-error"]) == 0
    out = capsys.readouterr().out
    assert "transactions" in out and "all passed" in out
