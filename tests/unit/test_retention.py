"""Retention analytics: the cohort matrix on a hand-built bank and on the sample bank against an
independent Polars computation from the raw tables; Kaplan-Meier and the log-rank test against
published values (Freireich's 6-MP trial) and a brute-force product-limit reference with delayed
entry; survival of customers and holdings by hand; the retention series against the KPI tiles."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime

import ibis
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.common.types import KpiFilters
from analytics.kpis import cubes, retention
from analytics.kpis import summary as executive
from analytics.kpis import survival as survival_lib
from analytics.store.database import Database
from tests import banks

# -- the hand-built bank ------------------------------------------------------------------------
# Snapshot 2024-06-30 (a month end, so June is the last full month), history from 2024-01.
#
# id region born        joined      closed      holdings (opened..closed, monthly margin)   fees
# (7 has no preferred channel, every other customer prefers the web)
# 1  North  1990-01-01  2020-01-01  -           current 2020-01-01.. 5.0                    Jan 1.00
# 2  South  1990-01-01  2021-06-01  2024-03-10  current ..2024-03-10 4.0
# 3  North  2002-01-01  2024-01-15  -           current 2024-01-15.. 2.0, savings 2024-03-01.. 3.0
#                                                                                           Jan 0.10, Apr 0.40
# 4  East   1990-01-01  2024-01-20  2024-03-05  current ..2024-03-05 1.0                    Feb 0.20
# 5  North  1990-01-01  2024-02-03  2024-02-25  current ..2024-02-25 1.5
# 6  South  1960-01-01  2024-02-10  -           current 2024-02-10.. 2.5                    Feb 0.30, May 0.05
# 7  East   1990-01-01  2024-06-05  -           current 2024-06-05.. 4.0                    Jun 0.60
# 8  East   1990-01-01  2023-12-31  2024-01-01  current ..2024-01-01 1.0
# 9  West   1990-01-01  2023-06-01  2023-12-15  current ..2023-12-15 1.0  (gone before the history)
#
# Age bands on 2024-06-30: 3 -> 18-24, 6 -> 55-64, everyone else 25-34.
AS_OF = date(2024, 6, 30)
HISTORY_START = date(2024, 1, 1)
CUSTOMERS = [
    (1, "North", date(1990, 1, 1), date(2020, 1, 1), None),
    (2, "South", date(1990, 1, 1), date(2021, 6, 1), date(2024, 3, 10)),
    (3, "North", date(2002, 1, 1), date(2024, 1, 15), None),
    (4, "East", date(1990, 1, 1), date(2024, 1, 20), date(2024, 3, 5)),
    (5, "North", date(1990, 1, 1), date(2024, 2, 3), date(2024, 2, 25)),
    (6, "South", date(1960, 1, 1), date(2024, 2, 10), None),
    (7, "East", date(1990, 1, 1), date(2024, 6, 5), None),
    (8, "East", date(1990, 1, 1), date(2023, 12, 31), date(2024, 1, 1)),
    (9, "West", date(1990, 1, 1), date(2023, 6, 1), date(2023, 12, 15)),
]
HOLDINGS = [
    (1, 1, "current_account", date(2020, 1, 1), None, 5.0),
    (2, 2, "current_account", date(2021, 6, 1), date(2024, 3, 10), 4.0),
    (3, 3, "current_account", date(2024, 1, 15), None, 2.0),
    (4, 3, "savings", date(2024, 3, 1), None, 3.0),
    (5, 4, "current_account", date(2024, 1, 20), date(2024, 3, 5), 1.0),
    (6, 5, "current_account", date(2024, 2, 3), date(2024, 2, 25), 1.5),
    (7, 6, "current_account", date(2024, 2, 10), None, 2.5),
    (8, 7, "current_account", date(2024, 6, 5), None, 4.0),
    (9, 8, "current_account", date(2023, 12, 31), date(2024, 1, 1), 1.0),
    (10, 9, "current_account", date(2023, 6, 1), date(2023, 12, 15), 1.0),
]
FEES = [
    (1, datetime(2024, 1, 5), 1.0),
    (3, datetime(2024, 1, 20), 0.10),
    (3, datetime(2024, 4, 2), 0.40),
    (4, datetime(2024, 2, 14), 0.20),
    (6, datetime(2024, 2, 20), 0.30),
    (6, datetime(2024, 5, 5), 0.05),
    (7, datetime(2024, 6, 10), 0.60),
]


def _tables() -> dict[str, pl.DataFrame]:
    tables = banks.empty_tables()
    tables["customers"] = banks.customers(
        [c[0] for c in CUSTOMERS],
        region=[c[1] for c in CUSTOMERS],
        birth_date=[c[2] for c in CUSTOMERS],
        preferred_channel=[None if c[0] == 7 else "web" for c in CUSTOMERS],
        joined_at=[c[3] for c in CUSTOMERS],
        closed_at=[c[4] for c in CUSTOMERS],
    )
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
            (hid, cid, product, opened, closed, 0.0, margin)
            for hid, cid, product, opened, closed, margin in HOLDINGS
        ],
    )
    tables["transactions"] = banks.rows(
        "transactions",
        [
            (i + 1, cid, ts, 10.0, "debit", "groceries", "card_present", "NL", fee)
            for i, (cid, ts, fee) in enumerate(FEES)
        ],
    )
    return tables


def _bank(as_of: date) -> Database:
    db = Database(":memory:", threads=1)
    db.load_dataset(_tables(), meta={"as_of": as_of.isoformat(), "history_start": HISTORY_START.isoformat()})
    return db


@pytest.fixture(scope="module")
def backend():
    db = _bank(AS_OF)
    yield db.backend()
    db.close()


def _cells(matrix: retention.CohortMatrix) -> dict[tuple[date, int], tuple]:
    """(cohort, k) -> (cohort_size, retained, revenue, revenue_retention) with revenue rounded to cents."""
    out = {}
    for row in matrix.cells.iter_rows(named=True):
        ratio = row["revenue_retention"]
        out[(row["cohort_month"], row["months_since_start"])] = (
            row["cohort_size"],
            row["retained"],
            round(row["revenue"], 6),
            None if ratio is None else round(ratio, 6),
        )
    return out


JAN, FEB, JUN = date(2024, 1, 1), date(2024, 2, 1), date(2024, 6, 1)


# -- cohort matrix on the hand-built bank ----------------------------------------------------------
def test_cohort_matrix_by_hand(backend):
    matrix = retention.compute_cohort_matrix(backend)
    # Cohort January (3, 4): both there until March (4 closes on 5 March, so March still counts),
    # then 3 alone. Revenue = fees + margin of every product held in the month:
    # Jan 2.10 + 1.00, Feb 2.00 + 1.20, Mar (3 opens savings) 5.00 + 1.00, Apr 5.40, May 5.00, Jun 5.00.
    # Revenue retention is relative to month 1 (3.20). Cohort February (5, 6): 5 leaves in February;
    # 1.50 + 2.80, then 6's 2.50, 2.50, 2.55, 2.50. Cohort June (7): 4.00 + 0.60, month 0 only.
    assert _cells(matrix) == {
        (JAN, 0): (2, 2, 3.1, None),
        (JAN, 1): (2, 2, 3.2, 1.0),
        (JAN, 2): (2, 2, 6.0, 1.875),
        (JAN, 3): (2, 1, 5.4, 1.6875),
        (JAN, 4): (2, 1, 5.0, 1.5625),
        (JAN, 5): (2, 1, 5.0, 1.5625),
        (FEB, 0): (2, 2, 4.3, None),
        (FEB, 1): (2, 1, 2.5, 1.0),
        (FEB, 2): (2, 1, 2.5, 1.0),
        (FEB, 3): (2, 1, 2.55, 1.02),
        (FEB, 4): (2, 1, 2.5, 1.0),
        (JUN, 0): (1, 1, 4.6, None),
    }
    cells = matrix.cells
    assert cells.schema == retention.CELL_SCHEMA
    assert cells.filter(pl.col("cohort_month") == JAN)["retained_share"].to_list() == [1, 1, 1, 0.5, 0.5, 0.5]
    assert cells.filter(pl.col("cohort_month") == JAN)["revenue_per_member"].round(6).to_list() == [
        1.55,
        1.6,
        3.0,
        2.7,
        2.5,
        2.5,
    ]
    assert cells.filter(pl.col("cohort_month") == FEB)["month"].to_list() == [
        date(2024, m, 1) for m in range(2, 7)
    ]
    # 1, 2 and 8 were customers when the history starts; 9 left before it and is nowhere
    assert matrix.customers_before_history == 3
    assert (matrix.history_start, matrix.last_month) == (HISTORY_START, date(2024, 6, 1))


def test_cohort_matrix_filters_keep_months_nobody_is_left_in(backend):
    north = retention.compute_cohort_matrix(backend, regions=["North"])
    # January: customer 3 alone; February: customer 5, gone after month 0 -> zeros, not absent cells
    assert _cells(north) == {
        (JAN, 0): (1, 1, 2.1, None),
        (JAN, 1): (1, 1, 2.0, 1.0),
        (JAN, 2): (1, 1, 5.0, 2.5),
        (JAN, 3): (1, 1, 5.4, 2.7),
        (JAN, 4): (1, 1, 5.0, 2.5),
        (JAN, 5): (1, 1, 5.0, 2.5),
        (FEB, 0): (1, 1, 1.5, None),
        (FEB, 1): (1, 0, 0.0, None),
        (FEB, 2): (1, 0, 0.0, None),
        (FEB, 3): (1, 0, 0.0, None),
        (FEB, 4): (1, 0, 0.0, None),
    }
    assert north.customers_before_history == 1
    young = retention.compute_cohort_matrix(backend, age_bands=("18-24",))
    assert set(_cells(young)) == {(JAN, k) for k in range(6)}
    assert young.customers_before_history == 0
    both = retention.compute_cohort_matrix(backend, regions=("South", "East"), age_bands=("25-34", "55-64"))
    assert sorted({cohort for cohort, _ in _cells(both)}) == [JAN, FEB, JUN]
    assert _cells(both)[(JAN, 0)] == (1, 1, 1.0, None)
    assert both.customers_before_history == 2


def test_cohort_range_and_max_months(backend):
    feb = retention.compute_cohort_matrix(backend, start_month=date(2024, 2, 14), end_month=date(2024, 2, 29))
    assert sorted(_cells(feb)) == [(FEB, k) for k in range(5)]
    short = retention.compute_cohort_matrix(backend, max_months=1)
    assert sorted(_cells(short)) == [(JAN, 0), (JAN, 1), (FEB, 0), (FEB, 1), (JUN, 0)]
    # cohorts asked for before the history or after the data: clipped, not an error
    wide = retention.compute_cohort_matrix(backend, start_month=date(2020, 1, 1), end_month=date(2030, 1, 1))
    assert_frame_equal(wide.cells, retention.compute_cohort_matrix(backend).cells)
    none = retention.compute_cohort_matrix(backend, start_month=date(2024, 3, 1), end_month=date(2024, 5, 1))
    assert none.cells.height == 0 and none.cells.schema == retention.CELL_SCHEMA
    assert none.customers_before_history == 3


def test_partial_snapshot_month_is_left_out():
    # Snapshot 15 June: June is not a full month, so its cells (and the June cohort) are absent.
    db = _bank(date(2024, 6, 15))
    try:
        matrix = retention.compute_cohort_matrix(db.backend())
    finally:
        db.close()
    assert matrix.last_month == date(2024, 5, 1)
    assert sorted(_cells(matrix)) == [(JAN, k) for k in range(5)] + [(FEB, k) for k in range(4)]


def test_cohort_inputs_are_validated(backend):
    with pytest.raises(ValueError, match="Unknown region 'Nowhere' in regions; choose from Capital"):
        retention.compute_cohort_matrix(backend, regions=["Nowhere"])
    with pytest.raises(ValueError, match="Unknown age band '30-39' in age_bands"):
        retention.compute_cohort_matrix(backend, age_bands=["30-39"])
    with pytest.raises(ValueError, match=r"cohorts start \(2024-05\) after they end \(2024-02\)"):
        retention.compute_cohort_matrix(backend, start_month=date(2024, 5, 1), end_month=date(2024, 2, 1))
    with pytest.raises(ValueError, match="max_months must be 0 or more, got -1"):
        retention.compute_cohort_matrix(backend, max_months=-1)


def test_cohort_heatmap_pivots_every_metric(backend):
    matrix = retention.compute_cohort_matrix(backend)
    shares = retention.cohort_heatmap(matrix)
    assert shares.columns == ["cohort_month", "cohort_size", *[str(k) for k in range(6)]]
    assert shares.row(0) == (JAN, 2, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5)
    assert shares.row(1) == (FEB, 2, 1.0, 0.5, 0.5, 0.5, 0.5, None)
    assert shares.row(2) == (JUN, 1, 1.0, None, None, None, None, None)
    revenue = retention.cohort_heatmap(matrix, metric="revenue_retention")
    assert revenue.row(0)[2:4] == (None, 1.0)
    for metric in retention.COHORT_METRICS:
        assert retention.cohort_heatmap(matrix, metric=metric).height == 3
    with pytest.raises(ValueError, match="Unknown metric 'churn'"):
        retention.cohort_heatmap(matrix, metric="churn")
    empty = retention.compute_cohort_matrix(backend, start_month=date(2024, 3, 1), end_month=date(2024, 3, 1))
    assert retention.cohort_heatmap(empty).height == 0


def test_cohort_matrix_is_one_grouped_query():
    expr = retention._cohort_sums(JAN, JUN, JUN, ("North",), ("25-34",))
    sql = ibis.to_sql(expr, dialect="duckdb")
    assert sql.count("GROUP BY") == 1
    assert sql.count('"cohort_cube"') == 1 and '"customer_month"' not in sql
    assert " OVER " not in sql.upper()


# -- cohort matrix on the sample bank against Polars on the raw tables ------------------------------
def _reference_cells(
    customers: pl.DataFrame, customer_month: pl.DataFrame, first: date, last: date
) -> pl.DataFrame:
    """Cohort cells from the customers' join / close dates (counts) and customer_month (revenue)."""
    c = pl.col
    cohort = customers.filter(c("joined_at") >= first, c("joined_at").dt.truncate("1mo") <= last).select(
        "customer_id", c("joined_at").dt.truncate("1mo").alias("cohort_month"), "closed_at"
    )
    months = pl.DataFrame({"month": pl.date_range(first, last, "1mo", eager=True)})
    # Still a customer in month m: joined by then and not closed before m starts.
    present = cohort.join(months, how="cross").filter(
        c("month") >= c("cohort_month"),
        c("closed_at").is_null() | (c("closed_at").dt.truncate("1mo") >= c("month")),
    )
    counts = present.group_by("cohort_month", "month").agg(pl.len().alias("retained"))
    sizes = cohort.group_by("cohort_month").agg(pl.len().alias("cohort_size"))
    revenue = (
        customer_month.join(cohort.select("customer_id", "cohort_month"), on="customer_id")
        .filter(c("month") <= last)
        .group_by("cohort_month", "month")
        .agg((c("fee_margin") + c("holding_margin")).sum().alias("revenue"))
    )
    grid = sizes.join(months, how="cross").filter(c("month") >= c("cohort_month"))
    return (
        grid.join(counts, on=["cohort_month", "month"], how="left")
        .join(revenue, on=["cohort_month", "month"], how="left")
        .with_columns(c("retained").fill_null(0).cast(pl.Int64), c("revenue").fill_null(0.0))
        .sort("cohort_month", "month")
    )


@pytest.fixture(scope="module")
def sample_frames(sample_db):
    backend = sample_db.backend()
    customers = backend.table("customers").select(
        "customer_id", "joined_at", "closed_at", "region", "birth_date"
    )
    cm = backend.table("customer_month").select("customer_id", "month", "fee_margin", "holding_margin")
    return customers.to_polars(), cm.to_polars()


def _compare_with_reference(matrix: retention.CohortMatrix, reference: pl.DataFrame) -> None:
    ours = matrix.cells.select("cohort_month", "month", "cohort_size", "retained", "revenue")
    theirs = reference.select("cohort_month", "month", "cohort_size", "retained", "revenue")
    assert_frame_equal(ours, theirs.cast(dict(ours.schema)), check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


def test_sample_bank_cohort_matrix_matches_raw_tables(sample_db, sample_frames):
    customers, customer_month = sample_frames
    matrix = retention.compute_cohort_matrix(sample_db.backend())
    first, last = matrix.history_start, matrix.last_month
    assert (first, last) == (date(2024, 11, 1), date(2026, 10, 1))
    _compare_with_reference(matrix, _reference_cells(customers, customer_month, first, last))
    # 24 cohorts, one cell per month from each cohort's to the last: 24 + 23 + ... + 1
    assert matrix.cells.height == 24 * 25 // 2
    before = customers.filter(
        pl.col("joined_at") < first, pl.col("closed_at").is_null() | (pl.col("closed_at") >= first)
    )
    assert matrix.customers_before_history == before.height


def test_sample_bank_cohort_matrix_with_filters_matches_raw_tables(sample_db, sample_frames):
    customers, customer_month = sample_frames
    as_of = date(2026, 10, 31)
    # Age on the snapshot date from the birth date, counted independently of the rollup's SQL.
    age = (
        as_of.year
        - pl.col("birth_date").dt.year()
        - (
            (pl.col("birth_date").dt.month() > as_of.month)
            | ((pl.col("birth_date").dt.month() == as_of.month) & (pl.col("birth_date").dt.day() > as_of.day))
        ).cast(pl.Int32)
    )
    chosen = customers.filter(pl.col("region").is_in(["North", "West"]), age.is_between(25, 44))
    matrix = retention.compute_cohort_matrix(
        sample_db.backend(),
        regions=("North", "West"),
        age_bands=("25-34", "35-44"),
        start_month=date(2025, 3, 1),
        end_month=date(2025, 8, 1),
    )
    reference = _reference_cells(chosen, customer_month, date(2025, 3, 1), date(2026, 10, 1)).filter(
        pl.col("cohort_month") <= date(2025, 8, 1)
    )
    _compare_with_reference(matrix, reference)
    assert matrix.cells.get_column("cohort_month").n_unique() == 6


# -- Kaplan-Meier and log-rank against published values ---------------------------------------------
# Freireich et al. (1963), remission times in weeks of 21 leukaemia patients on 6-MP (* censored):
# 6,6,6,6*,7,9*,10,10*,11*,13,16,17*,19*,20*,22,23,25*,32*,32*,34*,35*; and 21 on placebo, all relapsed.
SIX_MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def test_kaplan_meier_matches_the_published_6mp_estimates():
    km = survival_lib.kaplan_meier(SIX_MP, SIX_MP_EVENT)
    # Kleinbaum & Klein, Survival Analysis (3rd ed.), table of the 6-MP group: S(t) at each relapse
    # time, with n at risk and Greenwood standard errors (also R's survfit and Stata's sts list).
    assert km["time"].to_list() == [6, 7, 10, 13, 16, 22, 23]
    assert km["at_risk"].to_list() == [21, 17, 15, 12, 11, 7, 6]
    assert km["events"].to_list() == [3, 1, 1, 1, 1, 1, 1]
    assert km["survival"].round(3).to_list() == [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert km["std_err"].round(4).to_list() == [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346]
    # 95% log-log intervals: R survfit(conf.type = "log-log") and Stata sts list on the same data
    assert km["ci_low"].round(3).to_list() == [0.620, 0.563, 0.503, 0.432, 0.368, 0.268, 0.188]
    assert km["ci_high"].round(3).to_list() == [0.952, 0.923, 0.889, 0.849, 0.805, 0.747, 0.680]
    # the published medians: 23 weeks on 6-MP, 8 on placebo
    assert survival_lib.median_survival(km) == 23.0
    placebo = survival_lib.kaplan_meier(PLACEBO, [1] * 21)
    assert survival_lib.median_survival(placebo) == 8.0
    # Germán Rodríguez's Gehan page (Stata sts list), placebo at 1 week: 0.9048, se 0.0641, 0.6700..0.9753
    first = placebo.row(0, named=True)
    assert (round(first["survival"], 4), round(first["std_err"], 4)) == (0.9048, 0.0641)
    assert (round(first["ci_low"], 4), round(first["ci_high"], 4)) == (0.6700, 0.9753)
    assert placebo["survival"][-1] == 0.0 and placebo["ci_low"][-1] is None


def test_log_rank_matches_the_published_6mp_test():
    # 6-MP against placebo: log-rank chi-square 16.79 on 1 df, p = 4.17e-5 (Kleinbaum & Klein; R survdiff)
    test = survival_lib.log_rank_test(
        SIX_MP + PLACEBO, SIX_MP_EVENT + [1] * 21, ["6-MP"] * 21 + ["placebo"] * 21
    )
    assert round(test.statistic, 2) == 16.79
    assert test.df == 1
    assert test.p_value == pytest.approx(4.17e-5, rel=1e-3)
    assert survival_lib.log_rank_test(SIX_MP, SIX_MP_EVENT, ["one"] * 21) is None
    assert survival_lib.log_rank_test([1, 2], [0, 0], ["a", "b"]) is None


# -- Kaplan-Meier and log-rank against a brute-force reference ---------------------------------------
def _brute_force_km(time, event, entry, z=1.959963984540054):
    """Product-limit estimate by its definition: a loop over event times, risk sets counted directly."""
    rows, surv, greenwood = [], 1.0, 0.0
    for t in sorted({float(x) for x, e in zip(time, event, strict=True) if e}):
        n = sum(1 for x, a in zip(time, entry, strict=True) if a < t <= x)
        d = sum(1 for x, e in zip(time, event, strict=True) if e and x == t)
        surv *= 1.0 - d / n
        greenwood = greenwood + d / (n * (n - d)) if n > d else math.inf
        se = surv * math.sqrt(greenwood) if surv > 0 else None
        low = high = None
        if 0 < surv < 1:
            sigma = se / (surv * abs(math.log(surv)))
            low, high = surv ** math.exp(z * sigma), surv ** math.exp(-z * sigma)
        rows.append((t, n, d, surv, se, low, high))
    return rows


def _brute_force_log_rank(time, event, group, entry):
    """k-sample log-rank: (O - E)' V^-1 (O - E) over groups 1..k-1, hypergeometric variances."""
    labels = sorted(set(group))
    time, event, group, entry = map(np.asarray, (time, event, group, entry))
    observed_minus_expected = np.zeros(len(labels) - 1)
    var = np.zeros((len(labels) - 1, len(labels) - 1))
    for t in np.unique(time[event == 1]):
        at_risk = (entry < t) & (t <= time)
        n = at_risk.sum()
        d = ((time == t) & (event == 1)).sum()
        if n < 2:
            continue
        share = np.array([(at_risk & (group == g)).sum() / n for g in labels[1:]])
        deaths = np.array([((time == t) & (event == 1) & (group == g)).sum() for g in labels[1:]])
        observed_minus_expected += deaths - d * share
        var += d * (n - d) / (n - 1) * (np.diag(share) - np.outer(share, share))
    return float(observed_minus_expected @ np.linalg.solve(var, observed_minus_expected))


def _random_truncated(seed: int, n: int):
    rng = np.random.default_rng(seed)
    entry = np.maximum(rng.integers(-20, 40, n), 0) - 0.5
    time = entry + 0.5 + rng.integers(0, 30, n)
    event = (rng.random(n) < 0.4).astype(int)
    group = rng.choice(["a", "b", "c"], n)
    return time, event, entry, group


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kaplan_meier_with_delayed_entry_matches_brute_force(seed):
    time, event, entry, _ = _random_truncated(seed, 300)
    km = survival_lib.kaplan_meier(time, event, entry=entry)
    expected = _brute_force_km(time.tolist(), event.tolist(), entry.tolist())
    assert km.height == len(expected)
    for got, want in zip(km.iter_rows(), expected, strict=True):
        assert got[:3] == want[:3]
        for a, b in zip(got[3:], want[3:], strict=True):
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9, abs=1e-12)
    # without entry every subject is at risk from 0: the same as an entry before every time
    plain = survival_lib.kaplan_meier(time, event)
    assert_frame_equal(plain, survival_lib.kaplan_meier(time, event, entry=np.full(time.size, -1.0)))


@pytest.mark.parametrize("seed", [4, 5])
def test_log_rank_with_delayed_entry_matches_brute_force(seed):
    time, event, entry, group = _random_truncated(seed, 400)
    test = survival_lib.log_rank_test(time, event, group, entry=entry)
    expected = _brute_force_log_rank(time, event, group, entry)
    assert test.statistic == pytest.approx(expected, rel=1e-9)
    assert test.df == 2
    from scipy.stats import chi2

    assert test.p_value == pytest.approx(chi2.sf(expected, 2), rel=1e-9)


def test_kaplan_meier_hand_case_ties_and_edges():
    # Events at 1 and 2 and a censoring at 2 (at risk at 2, censored after the event), then 3:
    # S = 3/4, 3/4 * 2/3 = 1/2, then 0 with one at risk.
    km = survival_lib.kaplan_meier([1, 2, 2, 3], [True, True, False, True])
    assert km.select("time", "at_risk", "events").rows() == [(1.0, 4, 1), (2.0, 3, 1), (3.0, 1, 1)]
    assert km["survival"].to_list() == pytest.approx([0.75, 0.5, 0.0], abs=1e-12)
    assert survival_lib.median_survival(km) == 2.0  # S(2) = 0.5 reaches one half (Klein & Moeschberger)
    assert survival_lib.survival_at(km, 0.5) == {"survival": 1.0, "ci_low": None, "ci_high": None}
    assert survival_lib.survival_at(km, 2)["survival"] == pytest.approx(0.5)
    assert survival_lib.survival_at(km, 9, follow_up=3)["survival"] is None
    no_events = survival_lib.kaplan_meier([1, 2], [0, 0])
    assert no_events.height == 0 and no_events.schema == survival_lib.KM_SCHEMA
    assert survival_lib.median_survival(no_events) is None
    assert survival_lib.kaplan_meier([], []).height == 0


def test_kaplan_meier_inputs_are_validated():
    with pytest.raises(ValueError, match="same length"):
        survival_lib.kaplan_meier([1, 2], [1])
    with pytest.raises(ValueError, match="durations must be finite and 0 or more; row 1 has -1.0"):
        survival_lib.kaplan_meier([1, -1], [1, 1])
    with pytest.raises(ValueError, match="durations must be finite"):
        survival_lib.kaplan_meier([1, float("nan")], [1, 1])
    with pytest.raises(ValueError, match="events must be 0 or 1"):
        survival_lib.kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError, match="entry must be finite and before the duration; row 0 has entry 1.0"):
        survival_lib.kaplan_meier([1, 2], [1, 1], entry=[1, 0])
    with pytest.raises(ValueError, match="confidence level"):
        survival_lib.kaplan_meier([1, 2], [1, 1], level=1.5)
    with pytest.raises(ValueError, match="one label per duration"):
        survival_lib.log_rank_test([1, 2], [1, 1], ["a"])


# -- survival of customers and holdings on the hand-built bank -----------------------------------------
def test_survival_subjects_count_months_like_an_age():
    spans = pl.DataFrame(
        {
            "group": ["a"] * 4,
            "start": [date(2024, 1, 31), date(2024, 1, 31), date(2023, 11, 20), date(2024, 2, 1)],
            "end": [date(2024, 2, 29), date(2024, 3, 1), None, date(2023, 12, 1)],
        },
        schema={"group": pl.String, "start": pl.Date, "end": pl.Date},
    )
    subjects = survival_lib.survival_subjects(spans, history_start=date(2024, 2, 1), as_of=date(2024, 3, 19))
    # 31 Jan -> 29 Feb: 0 months; -> 1 Mar: 1; 20 Nov 2023 -> 19 Mar 2024 (censored): 3, entering at
    # its age on 1 Feb (2 months) minus half a month; an end before the history drops the subject.
    assert subjects.rows() == [
        ("a", 0, True, -0.5, True),
        ("a", 1, True, -0.5, True),
        ("a", 3, False, 1.5, True),
    ]
    days = survival_lib.survival_subjects(
        spans, history_start=date(2024, 2, 1), as_of=date(2024, 3, 19), time_unit="day"
    )
    assert days["duration"].to_list() == [29, 30, (date(2024, 3, 19) - date(2023, 11, 20)).days]
    assert days["entry"].to_list() == [0.5, 0.5, (date(2024, 2, 1) - date(2023, 11, 20)).days - 0.5]


def test_customer_survival_by_hand(backend):
    result = survival_lib.compute_survival(backend)
    # Tenure in completed months. Entering late (joined before 2024-01): 1 at 48 months, 2 at 31,
    # 8 at 0 (joined on 31 December). At 0 months: 3, 4, 5, 6, 7, 8 at risk, 5 and 8 leave -> 4/6.
    # At 1 month: 3, 4, 6 at risk, 4 leaves -> 4/9. At 33 months only 2 is at risk (1 enters at 48)
    # and leaves -> 0. Customer 9 left before the history: excluded.
    assert result.subject == "customer" and result.time_unit == "month"
    curve = result.curves
    assert curve.select("group", "time", "at_risk", "events").rows() == [
        ("all", 0, 6, 2),
        ("all", 1, 3, 1),
        ("all", 33, 1, 1),
    ]
    assert curve["survival"].to_list() == pytest.approx([2 / 3, 4 / 9, 0.0], abs=1e-12)
    # Greenwood at 1 month: (4/9)^2 (2 / (6 * 4) + 1 / (3 * 2)) = 4/81 -> se 2/9
    assert curve["std_err"][1] == pytest.approx(2 / 9)
    assert result.groups.rows() == [("all", 8, 4, 4, 3, 1)]
    # S at 12 and 24 months is S(1); 60 months is past the longest follow-up (customer 1: 53)
    assert result.landmarks.select("time", "survival").rows() == [
        (12, pytest.approx(4 / 9)),
        (24, pytest.approx(4 / 9)),
        (60, None),
    ]
    assert result.log_rank is None
    assert result.excluded_before_history == 1
    assert (result.history_start, result.as_of) == (HISTORY_START, AS_OF)


def test_customer_survival_by_region_by_hand(backend):
    result = survival_lib.compute_survival(backend, by="region")
    by_group = {
        label: part.select("time", "at_risk", "events", "survival").rows()
        for (label,), part in result.curves.partition_by("group", as_dict=True).items()
    }
    # East: 4, 7 (censored at 0), 8 -> 2/3 at 0, then 4 alone leaves at 1. North: 1 enters at 48,
    # so at 0 only 3 and 5 are at risk. South: 2 alone at risk when it leaves at 33; 6 is censored at 4.
    assert by_group == {
        "East": [(0, 3, 1, pytest.approx(2 / 3)), (1, 1, 1, 0.0)],
        "North": [(0, 2, 1, 0.5)],
        "South": [(33, 1, 1, 0.0)],
    }
    assert result.groups.select("group", "median").rows() == [("East", 1), ("North", 0), ("South", 33)]
    subjects = {
        1: (53, 0, 47.5, "North"),
        2: (33, 1, 30.5, "South"),
        3: (5, 0, -0.5, "North"),
        4: (1, 1, -0.5, "East"),
        5: (0, 1, -0.5, "North"),
        6: (4, 0, -0.5, "South"),
        7: (0, 0, -0.5, "East"),
        8: (0, 1, -0.5, "East"),
    }
    time, event, entry, group = (list(column) for column in zip(*subjects.values(), strict=True))
    assert result.log_rank.statistic == pytest.approx(
        _brute_force_log_rank(time, event, group, entry), rel=1e-9
    )
    assert result.log_rank.df == 2


def test_holding_survival_by_product_and_in_days(backend):
    result = survival_lib.compute_survival(backend, by="product", horizons=(1, 12))
    assert result.subject == "holding"
    # The current accounts follow their customers exactly; the savings account (3, opened March)
    # is censored at 3 months with no event; 9's account closed before the history: excluded.
    customers = survival_lib.compute_survival(backend)
    accounts = result.curves.filter(pl.col("group") == "current_account").with_columns(
        pl.lit("all").alias("group")
    )
    assert_frame_equal(accounts, customers.curves)
    assert result.groups.filter(pl.col("group") == "savings").rows() == [("savings", 1, 0, 1, 0, None)]
    assert result.landmarks.filter(pl.col("group") == "savings").select("time", "survival").rows() == [
        (1, 1.0),
        (12, None),
    ]
    assert result.excluded_before_history == 1
    days = survival_lib.compute_survival(backend, time_unit="day")
    # 5 leaves after 22 days, 8 after 1, 4 after 45; 2 after 1,013 days having entered at 944 - 1/2
    assert days.curves.select("time", "events").rows() == [(1, 1), (22, 1), (45, 1), (1013, 1)]
    assert days.landmarks["time"].to_list() == [365, 730, 1826]


@pytest.mark.parametrize("by", survival_lib.SURVIVAL_BY)
def test_every_grouping_runs_and_filters_apply(backend, by):
    result = survival_lib.compute_survival(backend, by=by, regions=("North", "East"))
    assert result.curves.schema == survival_lib.CURVE_SCHEMA
    assert result.groups.schema == survival_lib.GROUP_SCHEMA
    assert result.landmarks.schema == survival_lib.LANDMARK_SCHEMA
    if by != "product":
        # customers 1, 3, 5 (North) and 4, 7, 8 (East)
        assert result.groups["subjects"].sum() == 6
    if by == "first_product":
        assert set(result.groups["group"]) == {"current_account"}
    if by == "preferred_channel":
        # customer 7 has no preferred channel recorded
        assert result.groups.select("group", "subjects").rows() == [("unknown", 1), ("web", 5)]


def test_survival_inputs_are_validated(backend):
    with pytest.raises(ValueError, match="Unknown grouping 'city' for by"):
        survival_lib.compute_survival(backend, by="city")
    with pytest.raises(ValueError, match="Unknown time_unit 'week'"):
        survival_lib.compute_survival(backend, time_unit="week")
    with pytest.raises(ValueError, match="Unknown region 'Mars'"):
        survival_lib.compute_survival(backend, regions=("Mars",))
    with pytest.raises(ValueError, match="horizons must be 0 or more"):
        survival_lib.compute_survival(backend, horizons=(-1,))


# -- survival on the sample bank against statsmodels on independently computed durations -------------
def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)


def test_sample_bank_survival_matches_statsmodels_on_raw_dates(sample_db, sample_frames):
    from statsmodels.duration.survfunc import SurvfuncRight

    customers, _ = sample_frames
    start, as_of = date(2024, 11, 1), date(2026, 10, 31)
    time, event, entry = [], [], []
    for joined, closed in customers.select("joined_at", "closed_at").iter_rows():
        end = closed if closed is not None else as_of
        time.append(_months_between(joined, end))
        event.append(closed is not None)
        entry.append(max(_months_between(joined, start), 0) - 0.5 if joined < start else -0.5)
    reference = SurvfuncRight(np.array(time, float), np.array(event, float), entry=np.array(entry))
    result = survival_lib.compute_survival(sample_db.backend())
    curve = result.curves
    assert curve["time"].to_list() == reference.surv_times.astype(int).tolist()
    assert curve["at_risk"].to_list() == reference.n_risk.astype(int).tolist()
    assert curve["survival"].to_numpy() == pytest.approx(reference.surv_prob, rel=1e-12)
    assert result.groups.row(0) == (
        "all",
        customers.height,
        int(sum(event)),
        customers.height - int(sum(event)),
        int(customers.filter(pl.col("joined_at") < start).height),
        result.groups["median"][0],
    )
    assert result.excluded_before_history == 0
    # The sample bank plants 13% closures over the 24 months; a year of tenure keeps most customers.
    assert 0.85 < result.landmarks["survival"][0] < 0.95


def test_sample_bank_log_rank_by_age_band_matches_brute_force(sample_db):
    result = survival_lib.compute_survival(sample_db.backend(), by="age_band")
    spans = sample_db.backend().to_polars(
        survival_lib._survival_spans("age_band", date(2026, 10, 31), (), ())
    )
    subjects = survival_lib.survival_subjects(
        spans, history_start=date(2024, 11, 1), as_of=date(2026, 10, 31)
    )
    expected = _brute_force_log_rank(
        subjects["duration"].to_numpy(),
        subjects["event"].to_numpy().astype(int),
        subjects["group"].to_numpy(),
        subjects["entry"].to_numpy(),
    )
    assert result.log_rank.statistic == pytest.approx(expected, rel=1e-9)
    assert result.log_rank.df == 5
    # Churn is planted by persona, and personas are tied to age: the bands differ.
    assert result.log_rank.p_value < 1e-6
    assert result.groups["subjects"].sum() == 20_000


# -- retention and churn series -----------------------------------------------------------------
def test_series_months_equal_the_one_month_kpis(backend):
    series = retention.compute_retention_series(
        backend, KpiFilters(date(2024, 4, 1), date(2024, 6, 1)), months=6
    )
    frame = series.series
    assert frame.schema == retention.SERIES_SCHEMA
    assert frame["month"].to_list() == [date(2024, m, 1) for m in range(1, 7)]
    # March by hand: S = 1, 2, 3, 4, 6 (row in March, not new); E = 1, 3, 6; N = 0 -> 3/5.
    # Closures among S: 2 and 4 -> 2/5.
    march = frame.row(2, named=True)
    assert (march["customers_at_start"], march["retained"], march["churned"], march["new"]) == (5, 3, 2, 0)
    assert (march["retention_rate"], march["churn_rate"]) == (pytest.approx(0.6), pytest.approx(0.4))
    for row in frame.iter_rows(named=True):
        tiles = executive.compute_kpis(backend, KpiFilters(row["month"], row["month"]))
        for rate in ("retention", "churn"):
            tile = tiles[f"{rate}_rate"]
            assert row[f"{rate}_rate"] == tile.value
            assert (row[f"{rate}_ci_low"], row[f"{rate}_ci_high"]) == (tile.ci_low, tile.ci_high)
            assert row["customers_at_start"] == tile.n


def test_series_undefined_months_and_validation(backend):
    # January is the first month of the history: S counts those already there (1, 2, 8); a region
    # without customers gives null rates, zero counts, no interval.
    west = retention.compute_retention_series(
        backend, KpiFilters(date(2024, 1, 1), date(2024, 2, 1), regions=("West",))
    )
    assert west.series["retention_rate"].null_count() == west.series.height
    assert west.series["customers_at_start"].to_list() == [0] * west.series.height
    assert west.series["retention_ci_low"].null_count() == west.series.height
    with pytest.raises(ValueError, match="Unknown age band '70\\+' in age_bands"):
        retention.compute_retention_series(backend, KpiFilters(JAN, JUN, age_bands=("70+",)))
    with pytest.raises(ValueError, match="after it ends"):
        retention.compute_retention_series(backend, KpiFilters(JUN, JAN))


def test_sample_bank_series_equals_the_kpi_tiles(sample_db):
    backend = sample_db.backend()
    filters = dataclasses.replace(cubes.default_filters(backend), regions=("South",), products=("savings",))
    series = retention.compute_retention_series(backend, filters).series
    assert series.height == 12
    for row in series.iter_rows(named=True):
        tiles = executive.compute_kpis(
            backend, dataclasses.replace(filters, start_month=row["month"], end_month=row["month"])
        )
        assert row["retention_rate"] == tiles["retention_rate"].value
        assert row["churn_rate"] == tiles["churn_rate"].value
        assert (row["churn_ci_low"], row["churn_ci_high"]) == (
            tiles["churn_rate"].ci_low,
            tiles["churn_rate"].ci_high,
        )


# -- results are JSON-friendly ----------------------------------------------------------------------
def _jsonable(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pl.DataFrame):
        return [_jsonable(row) for row in value.to_dicts()]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def test_results_serialise_without_nan(backend):
    results = [
        retention.compute_cohort_matrix(backend, regions=("North",)),
        retention.compute_retention_series(backend, KpiFilters(JAN, JUN)),
        survival_lib.compute_survival(backend, by="region"),
        survival_lib.compute_survival(backend, by="product"),
    ]
    for result in results:
        text = json.dumps(_jsonable(result), allow_nan=False)
        assert "NaN" not in text
    survival = json.loads(json.dumps(_jsonable(results[2])))
    assert survival["history_start"] == "2024-01-01"
    assert survival["curves"][-1]["ci_low"] is None  # S = 0: no interval, never NaN
