"""customer_features against an independent Polars computation from the raw tables of the sample
bank; consent exclusion against the customers table; prepare_feature_frame's messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from analytics.kpis.rollups import feature_window_start
from analytics.segments import features as F


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


# -- scaling of uploaded columns ------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(7)
    n = 2000
    return pl.DataFrame(
        {
            "vip": rng.integers(0, 2, n),  # 0/1
            "web_share": rng.beta(2, 5, n),  # within 0..1
            "spend": rng.lognormal(6, 1, n),  # non-negative, long right tail
            "age_like": rng.normal(45, 12, n),  # symmetric, with negative-free values
            "balance_change": rng.normal(0, 1, n),  # symmetric around 0
            "net_flow": rng.lognormal(7, 1.2, n) - rng.lognormal(6, 1.2, n),  # negative values, right tail
            "days_left": 365 - rng.lognormal(3, 1, n).clip(0, 365),  # non-negative, long left tail
            "monetary": rng.normal(100, 5, n),  # a bank feature by name: the bank's scaling wins
        }
    )


def _skew(values) -> float:
    # The adjusted Fisher-Pearson skewness, written out (G1 = g1 * sqrt(n (n - 1)) / (n - 2)).
    x = np.asarray(values, dtype=float)
    n = x.size
    g1 = np.mean((x - x.mean()) ** 3) / np.mean((x - x.mean()) ** 2) ** 1.5
    return g1 * np.sqrt(n * (n - 1)) / (n - 2)


def test_choose_scaling_of_planted_distributions(planted):
    table = F.choose_scaling(planted, planted.columns)
    assert table.columns == ["column", "scaling", "reason", "chosen_by"]
    assert table.get_column("column").to_list() == planted.columns
    got = {row["column"]: row for row in table.iter_rows(named=True)}
    assert {name: row["scaling"] for name, row in got.items()} == {
        "vip": "flag",
        "web_share": "share",
        "spend": "log",
        "age_like": "standard",
        "balance_change": "standard",
        "net_flow": "yeo_johnson",
        "days_left": "yeo_johnson",
        "monetary": "log",
    }
    skew = {name: round(_skew(planted[name]), 1) for name in planted.columns}
    assert got["vip"]["reason"] == "two distinct values (0 and 1)"
    assert got["web_share"]["reason"] == "every value within 0 and 1"
    assert got["spend"]["reason"] == f"non-negative, skewness {skew['spend']} > 1"
    assert got["net_flow"]["reason"] == f"negative values, skewness {skew['net_flow']} beyond ±1"
    assert got["days_left"]["reason"] == f"long left tail, skewness {skew['days_left']} < -1"
    assert got["age_like"]["reason"] == f"skewness {skew['age_like']} within ±1"
    assert got["monetary"]["reason"] == F.REASON_BANK and got["monetary"]["chosen_by"] == "bank"
    assert {row["chosen_by"] for name, row in got.items() if name != "monetary"} == {"rule"}


def test_uploaded_tables_get_the_rule_and_missing_values_do_not_count(planted):
    frame = planted.with_columns(pl.Series("customer_id", range(planted.height)))
    frame = frame.with_columns(
        pl.when(pl.col("customer_id") < 100).then(None).otherwise("spend").alias("spend")
    )
    prepared = F.prepare_feature_frame(frame)
    row = prepared.scaling.filter(pl.col("column") == "spend").row(0, named=True)
    assert row["scaling"] == "log"
    assert row["reason"] == f"non-negative, skewness {round(_skew(planted['spend'][100:]), 1)} > 1"


def test_bank_features_keep_their_scaling_and_their_numbers(sample_db):
    ff = F.load_features(sample_db.backend(), columns=F.FEATURE_SETS["everything"])
    assert ff.scaling.get_column("scaling").to_list() == [F.FEATURE_SCALING[c] for c in ff.features]
    assert set(ff.scaling.get_column("chosen_by")) == {"bank"}
    # The matrix is the one the preprocessor always gave these columns (no per-column choice).
    before = F.make_preprocessor(ff.features).fit_transform(ff.frame.select(ff.features).to_numpy())
    np.testing.assert_array_equal(ff.scaled(), before)


def test_override_scaling_is_checked_and_keeps_the_automatic_choice(planted):
    prepared = F.prepare_feature_frame(planted.with_columns(pl.Series("id", range(planted.height))))
    chosen = F.override_scaling(prepared, {"spend": "standard", "age_like": "yeo_johnson"})
    spend = chosen.scaling.filter(pl.col("column") == "spend").row(0, named=True)
    assert spend["scaling"] == "standard" and spend["chosen_by"] == "user"
    assert spend["reason"].startswith("set by the user (automatic: log, non-negative, skewness")
    assert chosen.scaling.filter(pl.col("chosen_by") == "user").height == 2
    assert prepared.scaling.filter(pl.col("chosen_by") == "user").height == 0  # a copy, not a change
    columns = ", ".join(prepared.features)
    refusals = {
        "shoe_size": ("log", F.MSG_SCALING_UNKNOWN_COLUMN.format(column="shoe_size", columns=columns)),
        "spend": (
            "logarithm",
            F.MSG_UNKNOWN_SCALING.format(scaling="logarithm", column="spend", choices=", ".join(F.SCALINGS)),
        ),
    }
    for column, (scaling, message) in refusals.items():
        with pytest.raises(ValueError) as err:
            F.override_scaling(prepared, {column: scaling})
        assert str(err.value) == message
    with pytest.raises(ValueError, match="Column 'net_flow' cannot be log-scaled: it has negative values"):
        F.override_scaling(prepared, {"net_flow": "log"})
    with pytest.raises(ValueError, match="Column 'spend' is not a share: its values run from"):
        F.override_scaling(prepared, {"spend": "share"})
    with pytest.raises(ValueError) as err:
        F.override_scaling(prepared, {"web_share": "flag"})
    assert str(err.value) == F.MSG_NOT_A_FLAG.format(column="web_share", distinct=planted.height)


def test_preprocessor_of_uploaded_log_and_yeo_johnson_columns():
    from sklearn.preprocessing import PowerTransformer

    rng = np.random.default_rng(3)
    X = np.column_stack([rng.lognormal(0, 2, 500), rng.normal(0, 1, 500) ** 3])
    X[0, 0] = 0.0
    out = F.make_preprocessor(
        ["spend", "flow"], scaling={"spend": "log", "flow": "yeo_johnson"}
    ).fit_transform(X)
    c = np.quantile(X[:, 0][X[:, 0] > 0], F.LOG_OFFSET_QUANTILE)
    logs = np.log(X[:, 0] + c)
    np.testing.assert_allclose(out[:, 0], (logs - logs.mean()) / logs.std())
    np.testing.assert_allclose(out[:, 1], PowerTransformer().fit_transform(X[:, [1]])[:, 0])
    # A bank feature's log stays log1p, whoever asks for it.
    bank = F.make_preprocessor(["monetary"], scaling={"monetary": "log"}).fit_transform(X[:, [0]])
    np.testing.assert_allclose(bank, F.make_preprocessor(["monetary"]).fit_transform(X[:, [0]]))


def test_log_offset_does_not_depend_on_the_unit():
    x = np.random.default_rng(5).lognormal(-3, 2, size=(400, 1))
    x[:10] = 0.0
    euros, thousands = (
        F.make_preprocessor(["x"], scaling={"x": "log"}).fit_transform(v) for v in (x, x / 1000)
    )
    np.testing.assert_allclose(euros, thousands, atol=1e-9)


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


# scikit-learn's array-API check skips itself unless SCIPY_ARRAY_API is set; LogOffset works on
# NumPy arrays only (it claims no array-API support), so that check is left out, not skipped.
_LOG_OFFSET_CHECKS = [
    (estimator, check)
    for estimator, check in estimator_checks_generator(F.LogOffset(), legacy=True)
    if _check_name(check) != "check_array_api_input"
]


@pytest.mark.parametrize(
    ("estimator", "check"), _LOG_OFFSET_CHECKS, ids=[_check_name(c) for _, c in _LOG_OFFSET_CHECKS]
)
def test_log_offset_follows_the_estimator_contract(estimator, check):
    check(estimator)
