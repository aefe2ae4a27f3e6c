"""customer_features against an independent Polars computation from the raw tables of the sample
bank; consent exclusion against the customers table; prepare_feature_frame's messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics import features as F
from analytics.rollups import feature_window_start


@pytest.fixture(scope="module")
def raw(sample_db):
    names = ("customers", "transactions", "holdings", "customer_features")
    return {n: sample_db.backend().table(n).to_polars() for n in names}


def test_features_match_polars_reference(sample_db, raw):
    as_of = sample_db.snapshot_date()
    start = feature_window_start(as_of)
    cust = raw["customers"].filter(
        (pl.col("joined_at") <= as_of) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of))
    )
    tx = raw["transactions"].filter(
        pl.col("ts") >= datetime.combine(start, datetime.min.time()),
        pl.col("ts") < datetime.combine(as_of + timedelta(days=1), datetime.min.time()),
        pl.col("direction") == "debit",
    )
    per = tx.group_by("customer_id").agg(
        pl.len().alias("f"),
        pl.col("amount").sum().alias("m"),
        pl.col("ts").max().dt.date().alias("last"),
        ((pl.col("channel") == "card_online").sum() / pl.len()).alias("online"),
        (
            pl.col("amount").filter(pl.col("merchant_category") == "travel").sum() / pl.col("amount").sum()
        ).alias("travel"),
    )
    held = (
        raw["holdings"]
        .filter(
            (pl.col("opened_at") <= as_of) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of))
        )
        .group_by("customer_id")
        .agg(pl.col("product_id").n_unique().alias("p"))
    )
    ref = (
        cust.select("customer_id", "joined_at")
        .join(per, on="customer_id", how="left")
        .join(held, on="customer_id", how="left")
        .with_columns(
            pl.col("f").fill_null(0),
            pl.col("m").fill_null(0.0),
            pl.col("p").fill_null(0),
            ((pl.lit(as_of) - pl.col("last")).dt.total_days().fill_null((as_of - start).days + 1)).alias("r"),
            ((pl.lit(as_of) - pl.col("joined_at")).dt.total_days() / 30.4375).alias("tenure"),
        )
        .sort("customer_id")
    )
    got = raw["customer_features"].sort("customer_id")
    assert got.get_column("customer_id").to_list() == ref.get_column("customer_id").to_list()
    assert got["frequency"].to_list() == ref["f"].to_list()
    assert got["recency_days"].to_list() == ref["r"].to_list()
    assert got["products_held"].to_list() == ref["p"].to_list()
    np.testing.assert_allclose(got["monetary"].to_numpy(), ref["m"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["tenure_months"].to_numpy(), ref["tenure"].to_numpy(), rtol=1e-9)
    for mine, theirs in (("channel_card_online_share", "online"), ("spend_travel_share", "travel")):
        a, b = got[mine].to_numpy().astype(float), ref[theirs].to_numpy().astype(float)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=1e-12)


def test_window_start():
    assert feature_window_start(date(2026, 10, 31)) == date(2025, 11, 1)
    assert feature_window_start(date(2028, 2, 28)) == date(2027, 3, 1)


def test_consent_exclusion_count(sample_db, raw):
    as_of = sample_db.snapshot_date()
    expected = raw["customers"].filter(
        (pl.col("joined_at") <= as_of)
        & (pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of))
        & ~pl.col("consent_profiling")
    )
    ff = F.load_features(sample_db.backend())
    assert ff.excluded_no_consent == expected.height
    assert ff.n_customers == raw["customer_features"].height - expected.height
    assert not set(ff.frame["customer_id"]).intersection(expected["customer_id"])


def test_prepare_needs_an_id_column():
    with pytest.raises(ValueError) as err:
        F.prepare_feature_frame(pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, 1.0]}))
    assert str(err.value) == F.MSG_NO_ID_COLUMN.format(columns="a, b")


def test_prepare_drops_constant_and_missing_with_notices():
    frame = pl.DataFrame(
        {
            "Customer_ID": [1, 2, 3],
            "x": [1.0, 2.0, 5.0],
            "flat": [7, 7, 7],
            "empty": [None, None, None],
            "city": ["a", "b", "c"],
        },
        schema_overrides={"empty": pl.Float64},
    )
    ff = F.prepare_feature_frame(frame)
    assert ff.id_column == "Customer_ID" and ff.features == ("x",)
    assert ff.notices == (
        F.MSG_CONSTANT.format(column="flat"),
        F.MSG_ALL_MISSING.format(column="empty"),
        F.MSG_NOT_NUMERIC.format(column="city", dtype=pl.String),
    )


def test_prepare_no_numeric_column():
    with pytest.raises(ValueError) as err:
        F.prepare_feature_frame(pl.DataFrame({"id": [1, 2], "city": ["a", "b"], "flat": [1, 1]}))
    assert str(err.value) == F.MSG_NO_NUMERIC.format(dropped="'city', 'flat'")


def test_prepare_duplicate_id():
    with pytest.raises(ValueError, match="customer id 2 appears on more than one row \\(row 2\\)"):
        F.prepare_feature_frame(pl.DataFrame({"id": [1, 2, 2], "x": [1.0, 2.0, 3.0]}))


def test_preprocessor_log_and_zero_imputation():
    X = np.array([[0.0, np.nan], [np.e - 1, 1.0], [np.nan, 0.0]])
    out = F.make_preprocessor(["monetary", "inflow_salary_share"]).fit_transform(X)
    # monetary: the median (e - 1) / 2 is imputed before log1p, then standardized; share: nan -> 0.
    logs = np.log1p(np.array([0.0, np.e - 1, (np.e - 1) / 2]))
    np.testing.assert_allclose(out[:, 0], (logs - logs.mean()) / logs.std())
    share = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(out[:, 1], (share - share.mean()) / share.std())


def test_infinite_values_are_read_as_missing_with_a_notice():
    frame = pl.DataFrame(
        {"customer_id": [1, 2, 3, 4], "ratio": [1.0, float("inf"), 2.0, 3.0], "age": [20, 30, 40, 50]}
    )
    prepared = F.prepare_feature_frame(frame)
    assert prepared.frame.get_column("ratio").to_list() == [1.0, None, 2.0, 3.0]
    assert prepared.notices == (F.MSG_INFINITE.format(column="ratio", count=1, row=2),)
