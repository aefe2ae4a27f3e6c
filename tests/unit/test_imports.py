"""analytics.store.imports and ``python -m analytics import``: checks, all-or-nothing, reports.

Known answers on a 300-customer sample bank (an append adds exactly its rows and the rollups
show them, a replace replaces, a parent replace that would orphan rows is refused), the database
file byte-identical after refused imports, the mapping and the size cap, and property-based tests
(hypothesis) that feed malformed files and check each refusal names what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analytics.cli import main as cli
from analytics.store.contracts import CANONICAL_TABLES, DERIVED_TABLES
from analytics.store.database import Database
from analytics.store.imports import (
    MAX_PROBLEMS,
    ImportRefusedError,
    MappingError,
    format_report,
    import_table,
    read_mapping,
    validate_import,
)
from sample_data import generate_bank

SPECS = {spec.name: spec for spec in CANONICAL_TABLES}
NEW_KEY_OFFSET = 10_000_000
CASES_RUN: dict[str, int] = {}


@pytest.fixture(scope="module")
def bank():
    return generate_bank(300, seed=11)


@pytest.fixture(scope="module")
def bank_file(bank, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("imports") / "bank.duckdb"
    db = Database(path)
    db.load_dataset(bank.tables, meta=bank.meta)
    db.close()
    return path


@pytest.fixture()
def db_path(bank_file, tmp_path) -> Path:
    """A private copy of the small bank."""
    return Path(shutil.copyfile(bank_file, tmp_path / "bank.duckdb"))


@pytest.fixture()
def db(db_path):
    database = Database(db_path)
    yield database
    database.close()


def file_digest(path: Path) -> str:
    """The database file's hash, taken while it is closed (checkpointed), with no WAL beside it."""
    assert not Path(f"{path}.wal").exists()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_counts(db: Database) -> dict[str, int]:
    names = [*SPECS, *(spec.name for spec in DERIVED_TABLES), "audit_log"]
    return {name: db.query(f'select count(*) from "{name}"').item() for name in names}


def new_rows(bank, table: str, n: int = 4) -> pl.DataFrame:
    """Valid new rows of ``table``: existing ones with fresh keys (parents stay existing)."""
    frame = bank.tables[table].head(n)
    key = SPECS[table].primary_key[0]
    return frame.with_columns(pl.col(key) + NEW_KEY_OFFSET)


def csv_text(frame: pl.DataFrame) -> str:
    return frame.write_csv()


# -- known answers -----------------------------------------------------------------------
def test_good_append_adds_exactly_its_rows_and_the_rollups_show_them(db, bank):
    customer = bank.tables["customers"].filter(pl.col("closed_at").is_null())["customer_id"][0]
    month = date(2026, 3, 1)

    def month_row():
        return db.query(
            "select txn_count, spend from customer_month where customer_id = ? and month = ?",
            [customer, month],
        )

    before_rollup = month_row()
    before = db.query("select count(*) from transactions").item()
    incoming = pl.DataFrame(
        {
            "transaction_id": [900_000_001, 900_000_002, 900_000_003],
            "customer_id": [customer] * 3,
            "ts": ["2026-03-02 10:00:00", "2026-03-15T12:30:00", "2026-03-31 23:59:59"],
            "amount": ["10.50", "20", "5.25"],
            "direction": ["debit", "debit", "credit"],
            "merchant_category": ["groceries", "travel", "salary"],
            "channel": ["card_present", "card_online", "transfer"],
            "country": ["DE", "FR", "DE"],
            "fee": ["0.1", "0.2", "0"],
        }
    ).write_csv()
    report = import_table(db, "transactions", incoming.encode(), mode="append", source_name="tx.csv")
    assert report.committed and report.ok
    assert (report.rows_read, report.rows_added, report.rows_replaced) == (3, 3, 0)
    assert db.query("select count(*) from transactions").item() == before + 3
    after_rollup = month_row()
    old_count = before_rollup["txn_count"][0] if before_rollup.height else 0
    old_spend = before_rollup["spend"][0] if before_rollup.height else 0.0
    assert after_rollup["txn_count"][0] == old_count + 3
    assert round(after_rollup["spend"][0] - old_spend, 2) == 30.50
    assert "3 rows added" in format_report(report)


def test_replace_replaces_the_table(db, bank):
    products = bank.tables["products"].with_columns(pl.col("monthly_fee") + 1.0)
    report = import_table(db, "products", products, mode="replace", source_name="products.parquet")
    assert (report.rows_added, report.rows_replaced) == (products.height, products.height)
    stored = db.query("select product_id, monthly_fee from products order by product_id")
    expected = products.select("product_id", "monthly_fee").sort("product_id")
    assert stored.equals(expected)


def test_replace_of_a_parent_that_would_orphan_children_is_refused_naming_them(db, bank):
    kept = bank.tables["customers"].head(10)
    with pytest.raises(ImportRefusedError) as refused:
        import_table(db, "customers", kept, mode="replace", source_name="few.csv")
    report = refused.value.report
    assert not report.committed and report.problem_count > 0
    children = {p.message.split(" row(s) of ")[1].split(" ")[0] for p in report.problems}
    assert "holdings" in children
    assert all(p.column == "customer_id" and p.value is not None for p in report.problems)
    assert db.query("select count(*) from customers").item() == 300


def test_a_csv_keeps_text_as_written_and_converts_every_type(db, bank):
    rows = new_rows(bank, "customers", 1).with_columns(
        phone=pl.lit("0123 456"), consent_marketing=pl.lit(True), consent_profiling=pl.lit(False)
    )
    text = csv_text(rows).replace("true", "Yes").replace("false", "n")
    report = import_table(db, "customers", text.encode(), source_name="c.csv")
    assert report.committed
    stored = db.query(
        "select phone, consent_marketing, consent_profiling from customers where customer_id = ?",
        [rows["customer_id"][0]],
    )
    assert stored.row(0) == ("0123 456", True, False)


def test_refused_imports_leave_the_database_file_byte_identical(db_path, bank):
    good = new_rows(bank, "transactions")
    bad_files = {
        "wrong type": csv_text(good.with_columns(pl.lit("ten euros").alias("amount"))),
        "rule broken": csv_text(good.with_columns(direction=pl.lit("sideways"))),
        "orphan": csv_text(good.with_columns(pl.col("customer_id") + 999_999)),
        "duplicate key": csv_text(pl.concat([good, good.head(1)])),
        "existing key": csv_text(bank.tables["transactions"].head(2)),
        "after the snapshot": csv_text(good.with_columns(ts=pl.lit(datetime(2031, 1, 1)))),
    }
    before = file_digest(db_path)
    for label, text in bad_files.items():
        db = Database(db_path)
        try:
            with pytest.raises(ImportRefusedError):
                import_table(db, "transactions", text.encode(), source_name=f"{label}.csv")
        finally:
            db.close()
        assert file_digest(db_path) == before, label


def test_a_failure_inside_the_transaction_changes_nothing(db_path, bank):
    before = file_digest(db_path)
    db = Database(db_path)

    def broken_rollups():
        raise RuntimeError("rollup failed")

    db._rebuild_rollups = broken_rollups  # the last step inside the transaction fails
    try:
        with pytest.raises(RuntimeError, match="rollup failed"):
            import_table(db, "transactions", new_rows(bank, "transactions"), source_name="tx.parquet")
        assert db.query("select count(*) from transactions").item() == bank.tables["transactions"].height
    finally:
        db.close()
    assert file_digest(db_path) == before


def test_every_problem_is_collected_up_to_the_cap_with_the_total(db, bank):
    rows = pl.concat([new_rows(bank, "transactions", 1)] * 250).with_columns(
        transaction_id=pl.int_range(NEW_KEY_OFFSET, NEW_KEY_OFFSET + 250, dtype=pl.Int64),
        direction=pl.lit("sideways"),
    )
    report = validate_import(db, "transactions", rows, source_name="many.csv")
    assert report.problem_count == 250
    assert len(report.problems) == MAX_PROBLEMS
    assert [p.row for p in report.problems] == list(range(1, MAX_PROBLEMS + 1))
    assert report.problems[0].value == "sideways" and report.problems[0].column == "direction"
    assert "the first 100 shown" in format_report(report)
    assert report.problems_frame.columns == ["file", "row", "column", "value", "message"]


def test_append_refuses_keys_already_in_the_table(db, bank):
    existing = bank.tables["surveys"].head(2)
    report = validate_import(db, "surveys", existing, source_name="s.csv")
    assert report.problem_count == 2
    assert all("already a key of surveys" in p.message for p in report.problems)


def test_planned_end_dates_may_lie_after_the_snapshot(db, bank):
    experiment = (
        bank.tables["experiments"]
        .head(1)
        .with_columns(experiment_id=pl.lit("exp_future"), end_date=pl.lit(date(2027, 6, 30)))
    )
    assert validate_import(db, "experiments", experiment, source_name="e.csv").ok


def test_size_cap_refuses_a_long_file_before_reading_it(db, bank, tmp_path):
    rows = new_rows(bank, "transactions", 3)
    csv_path, parquet_path = tmp_path / "tx.csv", tmp_path / "tx.parquet"
    rows.write_csv(csv_path)
    rows.write_parquet(parquet_path)
    for path in (csv_path, parquet_path):
        report = validate_import(db, "transactions", path, max_rows=2)
        assert report.problem_count == 1
        assert "at most 2 are read here" in report.problems[0].message
        assert validate_import(db, "transactions", path, max_rows=3).ok


# -- the mapping ---------------------------------------------------------------------------
def test_mapping_files_in_json_and_csv(tmp_path):
    as_json = tmp_path / "m.json"
    as_json.write_text(json.dumps({"cust_no": "customer_id", "note": None}))
    as_csv = tmp_path / "m.csv"
    as_csv.write_text("source,target\ncust_no,customer_id\nnote,\n")
    expected = {"cust_no": "customer_id", "note": None}
    assert read_mapping(as_json) == expected == read_mapping(as_csv)
    for content, name in ((b"[1]", "m.json"), (b"from,to\na,b\n", "m.csv"), (b"{}", "m.txt")):
        with pytest.raises(MappingError, match=name.replace(".", r"\.")):
            read_mapping(content, name=name)


def test_mapping_renames_drops_and_names_unknown_targets(db, bank):
    rows = new_rows(bank, "transactions", 2).rename({"customer_id": "cust_no"})
    rows = rows.with_columns(internal=pl.lit("x"))
    mapping = {"cust_no": "customer_id", "internal": None}
    assert validate_import(db, "transactions", rows, mapping=mapping, source_name="t.csv").ok
    wrong = validate_import(
        db, "transactions", rows, mapping={"cust_no": "client", "ghost": "fee"}, source_name="t.csv"
    )
    messages = [p.message for p in wrong.problems]
    assert any("sends cust_no to client, which is not a column of transactions" in m for m in messages)
    assert any("names column ghost, which the file does not have" in m for m in messages)
    assert any("unexpected column internal" in m for m in messages)
    assert any("missing column customer_id" in m for m in messages)


# -- the command line ----------------------------------------------------------------------
def test_cli_imports_audits_and_reports_json(db_path, bank, tmp_path, capsys):
    good = tmp_path / "good.csv"
    new_rows(bank, "holdings", 3).write_csv(good)
    code = cli.main(["import", "--db", str(db_path), "--table", "holdings", "--file", str(good), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["ok"] and payload["rows_added"] == 3
    bad = tmp_path / "bad.csv"
    new_rows(bank, "holdings", 3).with_columns(pl.col("product_id") + "_x").write_csv(bad)
    code = cli.main(["import", "--db", str(db_path), "--table", "holdings", "--file", str(bad)])
    out = capsys.readouterr()
    assert code == 1
    assert "bad.csv, row 1, column product_id" in out.out and "is not a product_id of products" in out.out
    db = Database(db_path, read_only=True)
    try:
        audit = db.query("select username, action, target, details from audit_log")
    finally:
        db.close()
    assert audit.height == 1
    assert audit["action"][0] == "import" and audit["username"][0].startswith("os:")
    details = json.loads(audit["details"][0])
    assert (details["table"], details["mode"], details["rows"]) == ("holdings", "append", 3)
    assert details["file"] == str(good)


# -- property-based: malformed files ---------------------------------------------------------
MUTATIONS = (
    "wrong_type",
    "missing_column",
    "extra_column",
    "broken_quote",
    "huge_value",
    "empty",
    "duplicate_key",
    "orphan",
)
TYPED_COLUMNS = {
    "customers": ("customer_id", "birth_date", "credit_score", "annual_income", "consent_marketing"),
    "transactions": ("transaction_id", "customer_id", "ts", "amount", "fee"),
    "holdings": ("holding_id", "customer_id", "opened_at", "monthly_margin"),
}
NUMERIC_COLUMNS = {
    "customers": ("customer_id", "credit_score", "annual_income"),
    "transactions": ("transaction_id", "amount", "fee"),
    "holdings": ("holding_id", "balance", "monthly_margin"),
}
# No "y": it is a way to write true.
bad_token = st.text(alphabet="abcxz!?#%", min_size=1, max_size=12)


@pytest.fixture(scope="module")
def samples(bank) -> dict[str, pl.DataFrame]:
    """Valid new rows per table (small, so that hypothesis's report of a failing case stays short)."""
    return {table: new_rows(bank, table) for table in TYPED_COLUMNS}


@pytest.fixture(scope="module")
def shared_db(bank_file):
    """One database for every generated case; its file is hashed before and after them all."""
    before = file_digest(bank_file)
    database = Database(bank_file)
    yield database
    database.close()
    assert file_digest(bank_file) == before
    # How many malformed files hypothesis fed (visible with -s; docs/import.md quotes it).
    print(f"\nhypothesis cases run: {CASES_RUN} (total {sum(CASES_RUN.values())})")


@settings(
    max_examples=160,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=st.sampled_from(tuple(TYPED_COLUMNS)),
    mutation=st.sampled_from(MUTATIONS),
    pick=st.integers(min_value=0, max_value=10_000),
    token=bad_token,
    digits=st.integers(min_value=20, max_value=400),
    as_parquet=st.booleans(),
)
def test_malformed_files_are_refused_by_name_and_change_nothing(
    shared_db, samples, table, mutation, pick, token, digits, as_parquet
):
    assume(not (table == "customers" and mutation == "orphan"))  # customers reference nothing
    CASES_RUN["malformed"] = CASES_RUN.get("malformed", 0) + 1
    db = shared_db
    counts = table_counts(db)
    rows = samples[table]
    text_rows = rows.with_columns(pl.all().cast(pl.String))
    row = pick % rows.height
    columns = TYPED_COLUMNS[table]
    column = columns[pick % len(columns)]
    expect_row, expect_column, expect_words = None, None, None
    if mutation == "wrong_type":
        frame = text_rows.with_columns(
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit(token)).otherwise(pl.col(column)).alias(column)
        )
        expect_row, expect_column, expect_words = row + 1, column, "is not"
    elif mutation == "missing_column":
        column = SPECS[table].schema.names()[pick % len(SPECS[table].schema)]
        frame = text_rows.drop(column)
        expect_column, expect_words = column, "missing column"
    elif mutation == "extra_column":
        name = f"extra_{token}"
        frame = text_rows.with_columns(pl.lit("1").alias(name))
        expect_column, expect_words = name, "unexpected column"
    elif mutation == "huge_value":
        column = NUMERIC_COLUMNS[table][pick % len(NUMERIC_COLUMNS[table])]
        # Past Int64 for whole numbers, past the largest finite double for the others.
        huge = f"1e{309 + digits}" if SPECS[table].schema[column].is_float() else "9" * digits
        frame = text_rows.with_columns(
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit(huge)).otherwise(pl.col(column)).alias(column)
        )
        expect_row, expect_column = row + 1, column
    elif mutation == "duplicate_key":
        frame = pl.concat([text_rows, text_rows.slice(row, 1)])
        expect_row, expect_column, expect_words = (
            rows.height + 1,
            SPECS[table].primary_key[0],
            "duplicate key",
        )
    elif mutation == "orphan":
        frame = text_rows.with_columns(
            pl.when(pl.int_range(pl.len()) == row)
            .then(pl.lit(str(NEW_KEY_OFFSET * 7 + pick)))
            .otherwise(pl.col("customer_id"))
            .alias("customer_id")
        )
        expect_row, expect_column, expect_words = row + 1, "customer_id", "is not a customer_id of customers"
    else:
        frame = text_rows
    if mutation in ("broken_quote", "empty"):
        as_parquet = False
    if as_parquet:
        payload, name = _parquet_bytes(frame), f"{table}.parquet"
    else:
        payload, name = frame.write_csv().encode(), f"{table}.csv"
        if mutation == "broken_quote":
            at = pick % len(payload)
            payload = payload[:at] + b'"' + payload[at:]
            expect_words = "broken quoting"
        elif mutation == "empty":
            payload = b"" if pick % 2 else payload.split(b"\n")[0] + b"\n"
            expect_words = "empty" if pick % 2 else "no rows"
    with pytest.raises(ImportRefusedError) as refused:
        import_table(db, table, payload, mode="append", source_name=name)
    report = refused.value.report
    assert not report.committed and report.problem_count >= 1
    assert all(p.file == name and p.message for p in report.problems)
    matches = [
        p
        for p in report.problems
        if (expect_row is None or p.row == expect_row)
        and (expect_column is None or p.column == expect_column)
        and (expect_words is None or expect_words in p.message)
    ]
    assert matches, format_report(report)
    assert table_counts(db) == counts


ENCODINGS = ("latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32")


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(encoding=st.sampled_from(ENCODINGS), accent=st.sampled_from("éüñøçàÉ"), row=st.integers(0, 3))
def test_files_in_other_encodings_are_refused_by_name(shared_db, samples, encoding, accent, row):
    CASES_RUN["encodings"] = CASES_RUN.get("encodings", 0) + 1
    counts = table_counts(shared_db)
    rows = samples["customers"].with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(f"Jos{accent}"))
        .otherwise(pl.col("first_name"))
        .alias("first_name")
    )
    payload = rows.write_csv().encode(encoding)
    with pytest.raises(ImportRefusedError) as refused:
        import_table(shared_db, "customers", payload, source_name="customers.csv")
    (problem,) = refused.value.report.problems
    assert "UTF-8" in problem.message or "UTF-16" in problem.message, problem.message
    if encoding in ("latin-1", "cp1252"):
        # The first byte that is not UTF-8: this row's name, or an earlier accented value.
        line = int(re.search(r"on line (\d+)", problem.message).group(1))
        assert 2 <= line <= row + 2
    assert table_counts(shared_db) == counts


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


# -- the consent history --------------------------------------------------------------------
def _latest_consent(db: Database) -> pl.DataFrame:
    return db.query(
        "select customer_id, purpose, granted, changed_at, source from consent_events "
        "qualify row_number() over "
        "(partition by customer_id, purpose order by changed_at desc, event_id desc) = 1"
    )


def test_appended_customers_get_their_consent_choices_as_import_events(db, bank):
    before = db.query("select count(*), max(event_id) from consent_events").row(0)
    new = new_rows(bank, "customers", 2).with_columns(
        consent_marketing=pl.Series([True, False]),
        consent_profiling=pl.Series([False, True]),
        consent_updated_at=pl.Series([date(2026, 5, 4), None], dtype=pl.Date),
    )
    report = import_table(db, "customers", new, source_name="new.csv")
    assert any(n.startswith("4 consent change(s) added") for n in report.notices)
    ids = new.get_column("customer_id").to_list()
    events = db.query(
        "select * from consent_events where customer_id in (select unnest(?)) order by event_id", [ids]
    )
    assert events.select("customer_id", "purpose", "granted", "changed_at", "source").rows() == [
        (ids[0], "marketing", True, date(2026, 5, 4), "import"),
        (ids[0], "profiling", False, date(2026, 5, 4), "import"),
        # Without consent_updated_at the choice is dated on the import day (the snapshot date).
        (ids[1], "marketing", False, db.snapshot_date(), "import"),
        (ids[1], "profiling", True, db.snapshot_date(), "import"),
    ]
    assert events.get_column("event_id").to_list() == list(range(before[1] + 1, before[1] + 5))
    assert db.query("select count(*) from consent_events").item() == before[0] + 4


def test_a_replace_adds_an_event_only_where_a_flag_changes_and_the_history_ends_in_the_flags(db, bank):
    customers = db.query("select * from customers order by customer_id")
    events_before = db.query("select count(*) from consent_events").item()
    flipped, stale = customers.get_column("customer_id").to_list()[:2]
    latest = _latest_consent(db)
    last_day = latest.filter(pl.col("customer_id") == stale).get_column("changed_at").max()
    changed = customers.with_columns(
        consent_marketing=pl.when(pl.col("customer_id").is_in([flipped, stale]))
        .then(~pl.col("consent_marketing"))
        .otherwise(pl.col("consent_marketing")),
        consent_updated_at=pl.when(pl.col("customer_id") == flipped)
        .then(pl.lit(date(2026, 10, 1)))
        # A date older than the history's latest event cannot be the change's: the import day is.
        .when(pl.col("customer_id") == stale)
        .then(pl.lit(last_day - timedelta(days=400)))
        .otherwise(pl.col("consent_updated_at")),
    )
    import_table(db, "customers", changed, mode="replace", source_name="all.parquet")
    added = db.query("select * from consent_events where source = 'import' order by customer_id")
    assert added.select("customer_id", "purpose", "changed_at").rows() == [
        (flipped, "marketing", date(2026, 10, 1)),
        (stale, "marketing", db.snapshot_date()),
    ]
    assert db.query("select count(*) from consent_events").item() == events_before + 2
    now = _latest_consent(db).join(
        db.query("select customer_id, consent_marketing, consent_profiling from customers"), on="customer_id"
    )
    flag = (
        pl.when(pl.col("purpose") == "marketing")
        .then(pl.col("consent_marketing"))
        .otherwise(pl.col("consent_profiling"))
    )
    assert now.height == 2 * customers.height
    assert now.filter(pl.col("granted") != flag).height == 0


def test_a_refused_customers_import_adds_no_consent_event(db_path, bank):
    digest = file_digest(db_path)
    database = Database(db_path)
    bad = new_rows(bank, "customers", 2).with_columns(pl.Series("birth_date", [None, None], dtype=pl.Date))
    with pytest.raises(ImportRefusedError):
        import_table(database, "customers", bad, source_name="bad.csv")
    database.close()
    assert file_digest(db_path) == digest


def test_the_bank_can_import_its_own_consent_history(db, bank):
    customer = bank.tables["customers"].get_column("customer_id")[0]
    next_id = db.query("select max(event_id) + 1 from consent_events").item()
    history = pl.DataFrame(
        {"event_id": [next_id], "customer_id": [customer], "purpose": ["profiling"], "granted": [False]}
        | {"changed_at": [date(2026, 1, 2)], "source": ["crm"]}
    )
    report = import_table(db, "consent_events", history, source_name="consent.csv")
    assert report.committed and report.rows_added == 1
    wrong = history.with_columns(pl.lit("newsletter").alias("purpose"), pl.lit(next_id + 1).alias("event_id"))
    with pytest.raises(ImportRefusedError) as refused:
        import_table(db, "consent_events", wrong, source_name="consent.csv")
    assert refused.value.report.problems[0].message == "is not marketing or profiling"
