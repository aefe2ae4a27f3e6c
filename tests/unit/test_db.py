"""The DuckDB owner: contracts, validation messages, all-or-nothing loads, clear open errors."""

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.store import database as dbmod
from analytics.store.contracts import ALL_TABLES, CANONICAL_TABLES, CUSTOMERS, PRODUCTS, TRANSACTIONS
from analytics.store.database import (
    Database,
    DatabaseError,
    DataValidationError,
    open_database,
    validate_frame,
)

REPO = Path(__file__).resolve().parents[2]


def empty_tables():
    return {spec.name: pl.DataFrame(schema=spec.schema) for spec in CANONICAL_TABLES}


def transactions(**overrides):
    data = {
        "transaction_id": [1, 2],
        "customer_id": [7, 7],
        "ts": [datetime(2025, 1, 1, 9), datetime(2025, 1, 2, 10)],
        "amount": [12.5, 3.0],
        "direction": ["debit", "credit"],
        "merchant_category": ["groceries", "salary"],
        "channel": ["card_present", "transfer"],
        "country": ["NL", "NL"],
        "fee": [0.03, 0.0],
    }
    data.update(overrides)
    return pl.DataFrame(data)


def test_every_contract_table_is_created_with_its_columns_and_types():
    db = Database(":memory:")
    db.ensure_schema()
    assert db.missing_tables() == []
    for spec in ALL_TABLES.values():
        got = db.query(f'select * from "{spec.name}" limit 0')
        assert got.columns == spec.schema.names(), spec.name


def test_validation_names_source_row_and_column_of_a_bad_value():
    frame = transactions(amount=["12.5", "twelve"])
    with pytest.raises(DataValidationError) as err:
        validate_frame(TRANSACTIONS, frame, source="tx.csv")
    assert str(err.value) == "tx.csv, row 2, column amount: value 'twelve' is not a valid Float64"


def test_validation_reports_missing_values_duplicates_and_missing_columns():
    with pytest.raises(
        DataValidationError, match=r"transactions, row 1, column customer_id: value is missing"
    ):
        validate_frame(TRANSACTIONS, transactions(customer_id=[None, 7]))
    with pytest.raises(DataValidationError, match=r"row 2: duplicate key \(transaction_id=1\)"):
        validate_frame(TRANSACTIONS, transactions(transaction_id=[1, 1]))
    with pytest.raises(DataValidationError, match="missing column"):
        validate_frame(TRANSACTIONS, transactions().drop("fee"))
    with pytest.raises(DataValidationError, match="unexpected column"):
        validate_frame(TRANSACTIONS, transactions().with_columns(pl.lit(1).alias("extra")))


def test_validation_casts_text_to_the_contract_types():
    out = validate_frame(TRANSACTIONS, transactions(amount=["12.5", "3"]))
    assert out.schema == TRANSACTIONS.schema
    assert out.get_column("amount").to_list() == [12.5, 3.0]


def test_validation_parses_text_timestamps_and_names_a_bad_one():
    # polars 2 removed the string-to-temporal cast; a text column from a CSV must still load.
    out = validate_frame(TRANSACTIONS, transactions(ts=["2025-01-01 09:00:00", "2025-01-02T10:00:00"]))
    assert out.get_column("ts").to_list() == [datetime(2025, 1, 1, 9), datetime(2025, 1, 2, 10)]
    with pytest.raises(DataValidationError, match="row 2, column ts: value 'yesterday' is not a valid"):
        validate_frame(TRANSACTIONS, transactions(ts=["2025-01-01 09:00:00", "yesterday"]))


def products(monthly_fee: float | None = 0.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "product_id": ["savings"],
            "name": ["Savings"],
            "category": ["deposit"],
            "monthly_fee": [monthly_fee],
            "annual_margin_rate": [0.01],
        },
        schema_overrides={"monthly_fee": pl.Float64},
    )


def test_a_failed_load_writes_nothing():
    db = Database(":memory:")
    tables = empty_tables()
    tables["products"] = products()
    db.load_dataset(tables, meta={"as_of": "2025-01-31", "history_start": "2024-12-01"})
    assert db.query("select count(*) from products").item() == 1
    broken = dict(tables)
    broken["products"] = tables["products"].with_columns(pl.lit(None, pl.String).alias("name"))
    broken["transactions"] = transactions()
    with pytest.raises(DataValidationError, match="products, row 1, column name"):
        db.load_dataset(broken)
    assert db.query("select count(*) from products").item() == 1
    assert db.query("select count(*) from transactions").item() == 0


def test_open_database_explains_a_missing_file(tmp_path):
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(DatabaseError) as err:
        open_database(missing)
    assert str(missing) in str(err.value) and "make data" in str(err.value)
    assert not missing.exists()


def test_open_database_explains_a_corrupt_file(tmp_path):
    corrupt = tmp_path / "bank.duckdb"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match="not a readable Tailor database.*make data"):
        open_database(corrupt)


def test_open_database_explains_an_incomplete_file(tmp_path):
    path = tmp_path / "bank.duckdb"
    partial = Database(path)
    partial.execute("create table customers (customer_id bigint)")
    partial.close()
    with pytest.raises(DatabaseError, match="lacks the table"):
        open_database(path)


def test_open_database_reports_a_lock_held_by_another_process(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "bank.duckdb"
    setup = Database(path)
    setup.ensure_schema()
    setup.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ok"
        with pytest.raises(DatabaseError, match="in use by another process"):
            open_database(path)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)


def test_db_path_comes_from_flag_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv(dbmod.DB_PATH_ENV, raising=False)
    assert dbmod.resolve_db_path() == REPO / "sample_data" / "bank.duckdb"
    monkeypatch.setenv(dbmod.DB_PATH_ENV, str(tmp_path / "env.duckdb"))
    assert dbmod.resolve_db_path() == tmp_path / "env.duckdb"
    assert dbmod.resolve_db_path(tmp_path / "flag.duckdb") == tmp_path / "flag.duckdb"


def test_each_thread_gets_its_own_cursor_and_backend():
    import threading

    db = Database(":memory:")
    db.ensure_schema()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(db.backend()))
    thread.start()
    thread.join()
    assert seen[0] is not db.backend()
    assert db.backend() is db.backend()


def test_write_audit_binds_user_text():
    db = Database(":memory:")
    db.ensure_schema()
    db.write_audit(username="x'); drop table users; --", role=None, action="sign_in_failed")
    assert db.query("select username from audit_log").item() == "x'); drop table users; --"
    assert "users" not in db.missing_tables()


def test_products_contract_round_trips_dates_and_nulls():
    db = Database(":memory:")
    tables = empty_tables()
    tables["products"] = products(monthly_fee=None)
    db.load_dataset(tables, meta={"as_of": "2025-01-31"})
    got = db.query("select * from products")
    assert got.schema == PRODUCTS.schema
    assert got.get_column("monthly_fee").to_list() == [None]
    assert db.snapshot_date() == date(2025, 1, 31)


def test_derived_tables_missing_from_an_older_file_are_rebuilt_on_open(sample_bank_path, tmp_path):
    import shutil

    path = tmp_path / "old.duckdb"
    shutil.copyfile(sample_bank_path, path)
    old = Database(path)
    expected = old.query("select count(*) as n, sum(spend) as s from customer_month").row(0)
    old.execute("drop table customer_month")
    old.execute("drop table audit_log")
    old.close()
    with pytest.raises(DatabaseError, match="lacks the table.*customer_month.*Move it away"):
        open_database(path, read_only=True)
    db = open_database(path)
    assert db.missing_tables() == []
    got = db.query("select count(*) as n, sum(spend) as s from customer_month").row(0)
    assert got[0] == expected[0] and got[1] == pytest.approx(expected[1])
    db.close()


def customer(customer_id: int) -> pl.DataFrame:
    row = {name: [None] for name in CUSTOMERS.schema.names()}
    row |= {
        "customer_id": [customer_id],
        "birth_date": [date(1980, 1, 1)],
        "gender": ["female"],
        "region": ["North"],
        "joined_at": [date(2020, 1, 1)],
        "consent_marketing": [True],
        "consent_profiling": [True],
    }
    return pl.DataFrame(row, schema=CUSTOMERS.schema)


def test_a_load_whose_rollups_fail_leaves_the_previous_data(monkeypatch):
    from analytics.store import derived

    db = Database(":memory:")
    tables = empty_tables()
    tables["products"] = products()
    db.load_dataset(tables, meta={"as_of": "2025-01-31", "history_start": "2024-12-01"})

    def broken(*args, **kwargs):
        raise RuntimeError("rollup failed")

    monkeypatch.setitem(derived._BUILDERS, "kpi_cube_product", derived.Builder("kpi_cube_product", broken, 2))
    replacement = dict(tables)
    replacement["products"] = products(monthly_fee=9.0)
    replacement["customers"] = customer(7)
    replacement["transactions"] = transactions()
    with pytest.raises(RuntimeError, match="rollup failed"):
        db.load_dataset(replacement, meta={"as_of": "2025-02-28", "history_start": "2024-12-01"})
    assert db.query("select monthly_fee from products").item() == 0.0
    assert db.query("select count(*) from transactions").item() == 0
    assert db.meta()["as_of"] == "2025-01-31"


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("amount", float("nan"), "row 1, column amount: value is not a finite number"),
        ("fee", float("inf"), "row 1, column fee: value is not a finite number"),
        ("amount", -5.0, "row 1, column amount: value -5.0 is negative"),
        ("direction", "sideways", "row 1, column direction: value 'sideways' is not debit or credit"),
    ],
)
def test_value_rules_name_row_column_and_value(column, value, message):
    values = transactions()[column].to_list()
    values[0] = value
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_frame(TRANSACTIONS, transactions(**{column: values}))


def test_survey_scores_must_be_on_their_scale():
    from analytics.store.contracts import SURVEYS

    surveys = pl.DataFrame(
        {
            "survey_id": [1, 2, 3],
            "customer_id": [7, 7, 7],
            "ts": [datetime(2025, 1, 1)] * 3,
            "survey_type": ["nps", "csat", "csat"],
            "score": [10, 5, 6],
            "channel": ["email"] * 3,
            "touchpoint": ["relationship"] * 3,
            "comment": [None] * 3,
        },
        schema_overrides={"comment": pl.String},
    )
    with pytest.raises(
        DataValidationError, match=r"surveys, row 3, column score: value 6 is outside the scale"
    ):
        validate_frame(SURVEYS, surveys)


def test_rows_pointing_at_unknown_customers_are_refused_and_nothing_is_written():
    db = Database(":memory:")
    tables = empty_tables()
    tables["products"] = products()
    tables["transactions"] = transactions()
    with pytest.raises(
        DataValidationError, match=r"tx.csv, row 1, column customer_id: value 7 is not in customers"
    ):
        db.load_dataset(tables, source={"transactions": "tx.csv"})
    assert "products" in db.missing_tables()  # validation runs before anything is created


def test_a_reload_replaces_the_data_facts_and_pseudonyms_stay_the_same():
    from analytics.access import privacy

    db = Database(":memory:")
    tables = empty_tables()
    tables["products"] = products()
    db.load_dataset(tables, meta={"as_of": "2025-01-31", "history_start": "2024-12-01"})
    key = privacy.pseudonym_key(db)
    db.load_dataset(tables, meta={"as_of": "2025-03-31"})
    # The key lives outside the database (analytics.store.keys), so no load can touch it.
    assert db.meta() == {"as_of": "2025-03-31"}
    db.load_dataset(tables)
    assert db.meta() == {}
    assert privacy.pseudonym_key(db) == key


def test_model_output_deletes_and_appends_in_one_transaction():
    from analytics.store.contracts import MODEL_PREDICTIONS

    db = Database(":memory:")
    db.ensure_schema()
    scored = datetime(2026, 1, 1)

    def rows(model_id: str, scores: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "model_id": model_id,
                "customer_id": list(range(1, len(scores) + 1)),
                "score": scores,
                "scored_at": scored,
                "features_as_of": date(2025, 12, 31),
            },
            schema=MODEL_PREDICTIONS.schema,
        )

    db.store_model_output(append={"model_predictions": rows("m1", [0.1, 0.2])}, replace={})
    db.store_model_output(append={"model_predictions": rows("m2", [0.3])}, replace={})
    delete = {"model_predictions": ("model_id", ["m1"])}
    # A bad score (not a probability) fails validation: the delete must not have happened either.
    with pytest.raises(DataValidationError, match="score"):
        db.store_model_output(append={"model_predictions": rows("m1", [1.5])}, replace={}, delete=delete)
    assert db.query("select count(*) from model_predictions where model_id = 'm1'").item() == 2
    db.store_model_output(append={"model_predictions": rows("m1", [0.9])}, replace={}, delete=delete)
    counts = dict(db.query("select model_id, count(*) from model_predictions group by 1").iter_rows())
    assert counts == {"m1": 1, "m2": 1}
    with pytest.raises(KeyError, match="model_predictions has no column nope"):
        db.store_model_output(append={}, replace={}, delete={"model_predictions": ("nope", ["m1"])})
    with pytest.raises(KeyError, match="not model-output tables: customers"):
        db.store_model_output(append={}, replace={}, delete={"customers": ("customer_id", [1])})


def test_a_load_without_a_consent_history_gets_one_made_from_the_flags():
    db = Database(":memory:")
    tables = empty_tables()
    del tables["consent_events"]
    tables["customers"] = pl.concat([customer(7), customer(8)]).with_columns(
        consent_marketing=pl.Series([True, False]),
        consent_updated_at=pl.Series([date(2024, 3, 1), None], dtype=pl.Date),
    )
    db.load_dataset(tables)
    events = db.query("select * from consent_events order by customer_id, purpose")
    assert events.select("customer_id", "purpose", "granted", "changed_at", "source").rows() == [
        (7, "marketing", True, date(2024, 3, 1), "backfill"),
        (7, "profiling", True, date(2024, 3, 1), "backfill"),
        # No consent_updated_at: the choice is dated at joining.
        (8, "marketing", False, date(2020, 1, 1), "backfill"),
        (8, "profiling", True, date(2020, 1, 1), "backfill"),
    ]
    assert events.get_column("event_id").to_list() == [1, 2, 3, 4]
    # An empty history is no history either; a given one is loaded as it is.
    tables["consent_events"] = pl.DataFrame(schema=dbmod.CONSENT_EVENTS.schema)
    db.load_dataset(tables)
    assert db.query("select count(*) from consent_events").item() == 4
    tables["consent_events"] = pl.DataFrame(
        {"event_id": [5], "customer_id": [7], "purpose": ["marketing"], "granted": [True]}
        | {"changed_at": [date(2023, 1, 1)], "source": ["crm"]},
        schema=dbmod.CONSENT_EVENTS.schema,
    )
    db.load_dataset(tables)
    assert db.query("select event_id, source from consent_events").rows() == [(5, "crm")]


def test_a_consent_history_naming_an_unknown_purpose_or_customer_is_refused():
    db = Database(":memory:")
    tables = empty_tables() | {"customers": customer(7)}
    event = {"event_id": [1], "customer_id": [7], "purpose": ["newsletter"], "granted": [True]}
    event |= {"changed_at": [date(2023, 1, 1)], "source": ["crm"]}
    tables["consent_events"] = pl.DataFrame(event, schema=dbmod.CONSENT_EVENTS.schema)
    with pytest.raises(
        DataValidationError, match="column purpose: value 'newsletter' is not marketing or profiling"
    ):
        db.load_dataset(tables)
    tables["consent_events"] = tables["consent_events"].with_columns(
        purpose=pl.lit("marketing"), customer_id=pl.lit(9)
    )
    with pytest.raises(
        DataValidationError, match="consent_events, row 1, column customer_id: value 9 is not in customers"
    ):
        db.load_dataset(tables)


def test_an_older_file_without_a_consent_history_gets_one_on_open(sample_bank_path, tmp_path):
    import shutil

    path = tmp_path / "old.duckdb"
    shutil.copyfile(sample_bank_path, path)
    old = Database(path)
    old.execute("drop table consent_events")
    old.close()
    # A read-only open (a reporting command) still works; the history is made at the first write open.
    reader = open_database(path, read_only=True)
    assert reader.missing_tables() == ["consent_events"]
    reader.close()
    db = open_database(path)
    try:
        assert db.missing_tables() == []
        assert any("consent history" in notice for notice in db.notices)
        customers = db.query("select * from customers")
        events = db.query("select * from consent_events")
        assert events.height == 2 * customers.height
        assert set(events.get_column("source")) == {"backfill"}
        marketing = events.filter(pl.col("purpose") == "marketing").join(customers, on="customer_id")
        assert marketing.filter(pl.col("granted") != pl.col("consent_marketing")).height == 0
        assert marketing.filter(pl.col("changed_at") != pl.col("consent_updated_at")).height == 0
        # Nothing is made twice.
        assert db.backfill_consent_events() == 0
    finally:
        db.close()
