"""The bank's stored CLV fit: what is stored, the holdout check against the raw
transactions, staleness on reload, the all-or-nothing model-output write, file reading."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from analytics.clv import store as clv_store
from analytics.store.contracts import CANONICAL_TABLES, CLV_FITS, CLV_PREDICTIONS
from analytics.store.database import Database, DataValidationError


@pytest.fixture(scope="module")
def fitted(sample_bank_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("clv") / "bank.duckdb"
    path.write_bytes(sample_bank_path.read_bytes())
    db = Database(path)
    lines: list[str] = []
    fit = clv_store.fit_bank_clv(db, progress=lines.append)
    yield db, fit, lines
    db.close()


def _debit_days(db: Database) -> pl.DataFrame:
    # Only customers who consented to profiling are fitted and predicted for (docs/privacy.md).
    return db.query(
        "SELECT DISTINCT t.customer_id, t.ts::DATE AS day FROM transactions t"
        " JOIN customers c USING (customer_id) WHERE t.direction = 'debit' AND c.consent_profiling"
    )


def test_fit_is_stored_with_its_predictions(fitted):
    db, fit, lines = fitted
    assert fit is not None and fit.data_as_of == db.snapshot_date()
    again = clv_store.load_stored_clv(db.backend())
    assert (again.fit_id, again.parameters) == (fit.fit_id, fit.parameters)
    assert again.calibration.equals(fit.calibration)
    predictions = clv_store.load_clv_predictions(db.backend(), fit.fit_id)
    assert predictions.height == fit.customers == db.query("SELECT count(*) FROM clv_predictions").item()
    for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
        assert fit.parameters[name] > 0 and fit.check_parameters[name] > 0
    assert predictions.select(pl.col("probability_alive").is_between(0, 1).all()).item()
    assert predictions.select((pl.col("clv") >= 0).all()).item()
    assert len(lines) >= 4  # progress, one line per step


def test_frequencies_are_repeat_purchase_days_in_the_raw_transactions(fitted):
    db, fit, _ = fitted
    days = _debit_days(db).filter(pl.col("day") <= fit.calibration_end)
    expected = days.group_by("customer_id").agg(frequency=pl.len() - 1)
    predictions = clv_store.load_clv_predictions(db.backend(), fit.fit_id)
    joined = predictions.join(expected, on="customer_id", suffix="_raw")
    assert joined.height == predictions.height == expected.height
    assert (joined["frequency"] == joined["frequency_raw"].cast(pl.Float64)).all()


def test_holdout_check_counts_the_purchase_days_after_the_check_calibration(fitted):
    db, fit, _ = fitted
    days = _debit_days(db)
    first = days.group_by("customer_id").agg(first=pl.col("day").min())
    calibrated = first.filter(pl.col("first") <= fit.check_calibration_end)
    holdout = days.filter(pl.col("day") > fit.check_calibration_end, pl.col("day") <= fit.holdout_end).join(
        calibrated, on="customer_id", how="semi"
    )
    assert fit.calibration.get_column("customers").sum() == calibrated.height
    assert fit.calibration.get_column("actual_total").sum() == holdout.height
    assert fit.check_calibration_end == fit.holdout_end - timedelta(days=clv_store.DEFAULT_HOLDOUT_DAYS)
    # The model predicts the holdout within 10% in total on the sample bank.
    predicted = fit.calibration.get_column("predicted_total").sum()
    assert abs(predicted - holdout.height) / holdout.height < 0.10


def test_prediction_summary_adds_up(fitted):
    db, fit, _ = fitted
    predictions = clv_store.load_clv_predictions(db.backend(), fit.fit_id)
    summary = clv_store.summarize_predictions(predictions, bins=10)
    assert summary["probability_alive"].get_column("customers").sum() == predictions.height
    assert summary["clv"].get_column("customers").sum() == predictions.height
    deciles = summary["deciles"]
    assert deciles.get_column("decile").to_list() == list(range(1, 11))
    assert deciles.get_column("share_of_clv").sum() == pytest.approx(1.0)
    assert deciles.get_column("mean_clv").is_sorted()
    assert deciles.get_column("customers").sum() == predictions.height


def test_a_new_data_load_empties_the_stored_fit(writable_bank):
    db = Database(writable_bank)
    clv_store.fit_bank_clv(db)
    tables = {spec.name: db.query(f'SELECT * FROM "{spec.name}"') for spec in CANONICAL_TABLES}
    db.load_dataset(tables, meta=db.meta())
    assert clv_store.load_stored_clv(db.backend()) is None
    assert db.query("SELECT count(*) FROM clv_predictions").item() == 0
    db.close()


def test_model_output_write_is_all_or_nothing():
    db = Database(":memory:")
    db.ensure_schema()
    good = pl.DataFrame(schema=CLV_PREDICTIONS.schema)
    bad_fit = pl.DataFrame({"fit_id": [None]}, schema={"fit_id": pl.String})
    with pytest.raises(DataValidationError):
        db.store_model_output(append={CLV_FITS.name: bad_fit}, replace={CLV_PREDICTIONS.name: good})
    with pytest.raises(KeyError, match="not model-output tables: customers"):
        db.store_model_output(append={"customers": good}, replace={})
    assert db.query("SELECT count(*) FROM clv_fits").item() == 0
    db.close()


def test_holdout_out_of_range_is_refused(sample_db):
    with pytest.raises(ValueError, match="between 7 and 730 days, got 3"):
        clv_store.fit_bank_clv(sample_db, holdout_days=3)
    with pytest.raises(ValueError, match="too little for a 700-day holdout"):
        clv_store.fit_bank_clv(sample_db, holdout_days=700)


def test_reading_transaction_files(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text("customer,date,value\n00042,2024-01-05,10.5\n00042,2024-02-01,3\n")
    frame = clv_store.read_transaction_file(csv, id_columns=("customer",)).collect()
    assert frame.get_column("customer").to_list() == ["00042", "00042"]
    parquet = tmp_path / "log.parquet"
    frame.write_parquet(parquet)
    assert clv_store.read_transaction_file(parquet).collect().equals(frame)
    with pytest.raises(ValueError, match="no such file"):
        clv_store.read_transaction_file(tmp_path / "missing.csv")
    (tmp_path / "log.xlsx").write_text("x")
    with pytest.raises(ValueError, match="use a .csv or .parquet file"):
        clv_store.read_transaction_file(tmp_path / "log.xlsx")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="Cannot read .*broken.parquet"):
        clv_store.read_transaction_file(tmp_path / "broken.parquet")
