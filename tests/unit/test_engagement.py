"""Engagement analysis and RFM: a hand-built bank with known answers, the sample bank against
independent implementations (pandas quintiles, Polars from the raw tables and from
customer_month with the documented formula, the KPI tiles, numpy, statsmodels' cluster-robust
OLS), a simulation of the interval's coverage, and the planted personas."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

from analytics.common.months import add_months
from analytics.common.types import KpiFilters
from analytics.kpis import cubes, definitions, formulas
from analytics.kpis import engagement as eng
from analytics.kpis import rfm as rfm_lib
from analytics.kpis import summary as executive
from analytics.store.database import Database
from tests import banks

# -- the hand-built bank ------------------------------------------------------------------------
# Snapshot 2024-06-30, history from 2024-01. Period under test Apr-Jun 2024 (last day 06-30).
#
# id region born        joined      closed      debits in the period (and outside it)
# 1  North  1994-01-01  2020-01-01  -           06-30 23:59:59 10.00, 04-01 00:00:00 20.00 (+ a credit)
# 2  South  1974-01-01  2021-06-01  -           06-01 00:00:01 5.25 (03-31 23:59:59 7.00 is before)
# 3  North  1954-01-01  2024-05-03  -           05-10 12:00 100.00, 05-10 13:00 50.00
# 4  East   1984-01-01  2024-04-15  2024-06-10  06-05 80.00 (closed in the last month: not in RFM)
# 5  South  1994-06-30  2019-03-01  -           none (02-01 only): recency null, scores 1 1 1
# 6  East   2002-01-01  2023-01-01  2024-02-10  none (left before the period)
# 7  West   1990-01-01  2022-01-01  -           06-29 10:00 1.00
# 8  West   1960-01-01  2018-01-01  -           04-15 500, 04-20 400, 05-01 300
#
# Age bands on 2024-06-30: 1, 5, 7 -> 25-34; 2 -> 45-54; 3 -> 65+; 4 -> 35-44; 6 -> 18-24; 8 -> 55-64.
# Everyone holds a current account from joining to closing; 1 and 5 also hold savings (1 from
# 2024-05-10). Customer 1 has 6 sessions of 300 s in June; nobody has offers, nobody else sessions.
AS_OF = date(2024, 6, 30)
PERIOD = KpiFilters(start_month=date(2024, 4, 1), end_month=date(2024, 6, 1))
JUNE = KpiFilters(start_month=date(2024, 6, 1), end_month=date(2024, 6, 1))

CUSTOMERS = [
    (1, "North", date(1994, 1, 1), date(2020, 1, 1), None),
    (2, "South", date(1974, 1, 1), date(2021, 6, 1), None),
    (3, "North", date(1954, 1, 1), date(2024, 5, 3), None),
    (4, "East", date(1984, 1, 1), date(2024, 4, 15), date(2024, 6, 10)),
    (5, "South", date(1994, 6, 30), date(2019, 3, 1), None),
    (6, "East", date(2002, 1, 1), date(2023, 1, 1), date(2024, 2, 10)),
    (7, "West", date(1990, 1, 1), date(2022, 1, 1), None),
    (8, "West", date(1960, 1, 1), date(2018, 1, 1), None),
]
DEBITS = [
    (1, datetime(2024, 6, 30, 23, 59, 59), 10.0),
    (1, datetime(2024, 4, 1, 0, 0, 0), 20.0),
    (2, datetime(2024, 6, 1, 0, 0, 1), 5.25),
    (2, datetime(2024, 3, 31, 23, 59, 59), 7.0),
    (3, datetime(2024, 5, 10, 12), 100.0),
    (3, datetime(2024, 5, 10, 13), 50.0),
    (4, datetime(2024, 6, 5), 80.0),
    (5, datetime(2024, 2, 1), 60.0),
    (7, datetime(2024, 6, 29, 10), 1.0),
    (8, datetime(2024, 4, 15), 500.0),
    (8, datetime(2024, 4, 20), 400.0),
    (8, datetime(2024, 5, 1), 300.0),
]


def _tables() -> dict[str, pl.DataFrame]:
    tables = banks.empty_tables()
    tables["customers"] = banks.customers(
        [r[0] for r in CUSTOMERS],
        region=[r[1] for r in CUSTOMERS],
        birth_date=[r[2] for r in CUSTOMERS],
        gender=["female", "male"] * (len(CUSTOMERS) // 2),
        joined_at=[r[3] for r in CUSTOMERS],
        closed_at=[r[4] for r in CUSTOMERS],
    )
    tables["products"] = banks.rows(
        "products",
        [
            ("current_account", "Current account", "deposit", 2.0, 0.0),
            ("savings", "Savings", "deposit", 0.0, 0.01),
        ],
    )
    holdings = [
        (i, cid, "current_account", joined, closed, 100.0, 1.0)
        for i, (cid, _, _, joined, closed) in enumerate(CUSTOMERS, start=1)
    ]
    holdings += [
        (20, 1, "savings", date(2024, 5, 10), None, 500.0, 2.0),
        (21, 5, "savings", date(2019, 3, 1), None, 800.0, 2.0),
    ]
    tables["holdings"] = banks.rows("holdings", holdings)
    tx = [
        (i, cid, ts, amount, "debit", "groceries", "card_present", "NL", 0.1)
        for i, (cid, ts, amount) in enumerate(DEBITS, start=1)
    ]
    tx.append((99, 1, datetime(2024, 6, 15), 1000.0, "credit", "salary", "transfer", "NL", 0.0))
    tables["transactions"] = banks.rows("transactions", tx)
    tables["digital_events"] = banks.rows(
        "digital_events",
        [(day, 1, datetime(2024, 6, day, 8), "mobile_app", "session", 300, 4) for day in range(1, 7)],
    )
    return tables


@pytest.fixture(scope="module")
def bank():
    db = Database(":memory:", threads=1)
    db.load_dataset(_tables(), meta={"as_of": AS_OF.isoformat(), "history_start": "2024-01-01"})
    yield db.backend()
    db.close()


def _by_id(frame: pl.DataFrame) -> dict[int, dict]:
    return {row["customer_id"]: row for row in frame.iter_rows(named=True)}


# -- RFM on the hand-built bank -----------------------------------------------------------------
def test_rfm_known_answers_day_boundaries_ties_and_idle_customers(bank):
    rfm = rfm_lib.compute_rfm(bank, PERIOD)
    assert rfm.schema == rfm_lib.RFM_SCHEMA
    assert rfm.get_column("customer_id").to_list() == [1, 2, 3, 5, 7, 8]  # 4 closed in June, 6 in February
    got = {
        cid: (r["recency_days"], r["frequency"], r["monetary"], r["rfm_cell"], r["rfm_group"])
        for cid, r in _by_id(rfm).items()
    }
    # Five customers with debits: with n = 5 the quintile is the rank itself. Recency ranks
    # 8 (60 d) < 3 (51) < 2 (29) < 7 (1) < 1 (0); frequency 2 and 7 tie at 1 and 1 and 3 at 2,
    # the lower customer_id taking the lower rank; monetary 7 < 2 < 1 < 3 < 8.
    assert got == {
        1: (0, 2, 30.0, "533", "Potential Loyalists"),  # 23:59:59 on the last day is 0 days
        2: (29, 1, 5.25, "312", "About to Sleep"),  # 00:00:01 on June 1 is 29 days; March 31 not counted
        3: (51, 2, 150.0, "244", "At Risk"),
        5: (None, 0, 0.0, "111", "Lost"),
        7: (1, 1, 1.0, "421", "Potential Loyalists"),
        8: (60, 3, 1200.0, "155", "Can't Lose Them"),
    }


def test_rfm_period_end_is_exclusive_of_the_next_month(bank):
    # April-May: June's debits fall outside; customer 4 (closed in June) is at the end of May.
    rfm = _by_id(rfm_lib.compute_rfm(bank, KpiFilters(date(2024, 4, 1), date(2024, 5, 1))))
    assert sorted(rfm) == [1, 2, 3, 4, 5, 7, 8]
    assert (rfm[1]["frequency"], rfm[1]["monetary"], rfm[1]["recency_days"]) == (1, 20.0, 60)  # 05-31 - 04-01
    assert (rfm[2]["frequency"], rfm[2]["recency_days"], rfm[2]["r_score"]) == (0, None, 1)
    assert (rfm[4]["frequency"], rfm[7]["frequency"]) == (0, 0)


def test_rfm_honours_region_age_band_and_product_filters(bank):
    north = rfm_lib.compute_rfm(bank, KpiFilters(PERIOD.start_month, PERIOD.end_month, regions=("North",)))
    # Two customers with debits: ranks 1 and 2 of 2 are quintiles 1 and 5.
    assert north.select("customer_id", "rfm_cell").rows() == [
        (1, "511"),
        (3, "155"),
    ]  # equal F: lower id lower
    young = rfm_lib.compute_rfm(bank, KpiFilters(PERIOD.start_month, PERIOD.end_month, age_bands=("25-34",)))
    assert young.select("customer_id", "rfm_cell", "rfm_group").rows() == [
        (1, "555", "Champions"),
        (5, "111", "Lost"),
        (7, "111", "Lost"),
    ]
    savers = rfm_lib.compute_rfm(
        bank, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("savings",))
    )
    assert savers.get_column("customer_id").to_list() == [1, 5]
    assert _by_id(savers)[1]["frequency"] == 2  # every debit of a holder counts, whatever the product


def test_rfm_matching_nobody_is_an_empty_frame(bank):
    rfm = rfm_lib.compute_rfm(bank, KpiFilters(PERIOD.start_month, PERIOD.end_month, regions=("Atlantis",)))
    assert rfm.height == 0 and rfm.schema == rfm_lib.RFM_SCHEMA
    summary = rfm_lib.summarize_rfm_groups(rfm)
    assert summary.get_column("customers").sum() == 0 and summary.get_column("share").null_count() == 11


# -- the group map ------------------------------------------------------------------------------
# The R vs FM grid written out by hand (rows R = 5..1, columns FM cell = 1..5), from the
# rectangles of docs/engagement.md: a score s fills the cell from s - 1 to s.
GRID_BY_HAND = {
    5: ["New Customers", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"],
    3: ["About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    2: ["Lost", "Hibernating", "At Risk", "At Risk", "At Risk"],
    1: ["Lost", "Lost", "At Risk", "At Risk", "Can't Lose Them"],
}


def test_group_grid_is_the_hand_written_grid_and_covers_every_cell():
    expected = {(r, fm + 1): name for r, row in GRID_BY_HAND.items() for fm, name in enumerate(row)}
    assert rfm_lib.RFM_GROUP_GRID == expected
    assert set(expected.values()) == set(rfm_lib.RFM_GROUPS)


def test_group_map_on_a_hand_made_table_of_scores():
    cases = [
        # r, f, m, cell, group; FM = (f + m) / 2 and a half goes to the upper cell
        (5, 5, 5, "555", "Champions"),
        (5, 5, 4, "554", "Champions"),  # FM 4.5 -> cell 5
        (5, 4, 4, "544", "Loyal Customers"),
        (4, 5, 5, "455", "Loyal Customers"),
        (3, 3, 4, "334", "Loyal Customers"),  # FM 3.5 -> cell 4
        (3, 3, 3, "333", "Need Attention"),
        (3, 1, 2, "312", "About to Sleep"),
        (5, 1, 1, "511", "New Customers"),
        (5, 1, 2, "512", "Potential Loyalists"),
        (4, 1, 1, "411", "Promising"),
        (2, 2, 2, "222", "Hibernating"),
        (2, 1, 2, "212", "Hibernating"),
        (2, 1, 1, "211", "Lost"),
        (1, 5, 5, "155", "Can't Lose Them"),
        (1, 5, 4, "154", "Can't Lose Them"),
        (1, 4, 4, "144", "At Risk"),
        (2, 5, 5, "255", "At Risk"),
        (1, 1, 1, "111", "Lost"),
    ]
    frame = pl.DataFrame([c[:3] for c in cases], schema=["r_score", "f_score", "m_score"], orient="row")
    out = rfm_lib.label_rfm_groups(frame)
    assert out.select("rfm_cell", "rfm_group").rows() == [c[3:] for c in cases]


def test_group_map_rejects_bad_scores_naming_row_and_column():
    frame = pl.DataFrame({"r_score": [5, 3], "f_score": [1, 6], "m_score": [1, 1]})
    with pytest.raises(ValueError) as err:
        rfm_lib.label_rfm_groups(frame)
    assert str(err.value) == rfm_lib.MSG_BAD_SCORE.format(row=2, column="f_score", value=6)
    with pytest.raises(ValueError, match="r_score"):
        rfm_lib.label_rfm_groups(pl.DataFrame({"f_score": [1], "m_score": [1]}))


def test_summarize_rfm_groups_against_a_direct_count(bank):
    rfm = rfm_lib.compute_rfm(bank, PERIOD)
    summary = rfm_lib.summarize_rfm_groups(rfm)
    assert summary.get_column("rfm_group").to_list() == list(rfm_lib.RFM_GROUPS)
    rows = {r["rfm_group"]: r for r in summary.iter_rows(named=True)}
    # Potential Loyalists are customers 1 (0 d, 2 debits, 30.00) and 7 (1 d, 1 debit, 1.00).
    assert rows["Potential Loyalists"]["customers"] == 2
    assert rows["Potential Loyalists"]["share"] == pytest.approx(2 / 6)
    assert rows["Potential Loyalists"]["mean_recency_days"] == pytest.approx(0.5)
    assert rows["Potential Loyalists"]["mean_frequency"] == pytest.approx(1.5)
    assert rows["Potential Loyalists"]["mean_monetary"] == pytest.approx(15.5)
    assert rows["Potential Loyalists"]["monetary_share"] == pytest.approx(31.0 / 1386.25)
    assert rows["Lost"]["mean_recency_days"] is None and rows["Lost"]["mean_monetary"] == 0.0
    assert rows["Champions"]["customers"] == 0 and rows["Champions"]["mean_frequency"] is None
    segments = rfm_lib.rfm_segments(rfm)
    assert segments.columns == ["customer_id", "segment"]
    assert segments.row(0) == (1, "Potential Loyalists")


# -- engagement on the hand-built bank ----------------------------------------------------------
def test_drivers_known_answer_for_june(bank):
    # June rows: customers 1, 2, 3, 4 (closed in June), 5, 7, 8. Customer 1: 6 sessions of
    # 5 minutes and 2 products: 100 (0.3 x 6/8 + 0.2 x 5/6 + 0.3 x 2/5 + 0.2 x 0.5) = 61.1667;
    # customer 5: 2 products, no session: 100 (0.3 x 2/5 + 0.1) = 22; the other five hold one
    # product: 100 (0.3 x 1/5 + 0.1) = 16 (no offer: the neutral 0.5).
    drivers = eng.compute_engagement_drivers(bank, JUNE)
    points = dict(zip(drivers.components["component"], drivers.components["points"], strict=True))
    assert points["sessions"] == pytest.approx(22.5 / 7)
    assert points["minutes"] == pytest.approx(100 * 0.2 * 5 / 6 / 7)
    assert points["products"] == pytest.approx((12.0 + 12.0 + 5 * 6.0) / 7)
    assert points["offers"] == pytest.approx(10.0)
    assert drivers.score == pytest.approx((61.0 + 1 / 6 + 22.0 + 5 * 16.0) / 7)
    assert drivers.customer_months == 7
    inputs = dict(zip(drivers.components["component"], drivers.components["mean_input"], strict=True))
    assert inputs == pytest.approx({"sessions": 6 / 7, "minutes": 5 / 7, "products": 9 / 7, "offers": 0.5})
    # May (the previous month) has rows for the same seven customers: 1 (savings from May 10)
    # and 5 at 22 points, the others at 16; no session in May.
    assert drivers.score_previous == pytest.approx((2 * 22.0 + 5 * 16.0) / 7)
    assert drivers.change == pytest.approx(drivers.components["change"].sum())
    assert drivers.components["change"].to_list() == pytest.approx(
        [22.5 / 7, 100 * 0.2 * 5 / 6 / 7, 0.0, 0.0]
    )


def test_distribution_known_answer_for_june(bank):
    dist = eng.compute_engagement_distribution(bank, JUNE, bins=4)
    assert dist.customers == 7
    assert dist.histogram.get_column("customers").to_list() == [6, 0, 1, 0]  # 16 x 5, 22, 61.17
    assert dist.histogram.get_column("bin_end").to_list() == [25.0, 50.0, 75.0, 100.0]
    assert dist.median == pytest.approx(16.0) and dist.q1 == pytest.approx(16.0)
    assert dist.mean == pytest.approx(dist.kpi)  # one month: every customer weighs the same


def test_analysis_without_a_full_previous_period_gives_no_change(bank):
    analysis = eng.compute_engagement_analysis(bank, KpiFilters(date(2024, 1, 1), date(2024, 2, 1)))
    assert not analysis.previous_complete and analysis.note == eng.MSG_PREVIOUS_INCOMPLETE
    assert analysis.drivers.score is not None and analysis.drivers.score_previous is None
    assert analysis.drivers.components.get_column("change").null_count() == 4
    region = analysis.movement["region"]
    assert region.get_column("change").null_count() == region.height
    assert region.get_column("engagement").null_count() == 0


def test_analysis_matching_nobody_raises_nothing(bank):
    nobody = KpiFilters(PERIOD.start_month, PERIOD.end_month, regions=("Atlantis",))
    analysis = eng.compute_engagement_analysis(bank, nobody)
    assert analysis.note == eng.MSG_NO_CUSTOMERS
    assert analysis.distribution.customers == 0 and analysis.distribution.mean is None
    assert analysis.distribution.histogram.get_column("customers").sum() == 0
    assert analysis.drivers.score is None and analysis.drivers.ci_low is None
    assert all(frame.height == 0 for frame in analysis.movement.values())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: eng.compute_engagement_movement(b, PERIOD, by="gender"), "protected attribute"),
        (lambda b: eng.compute_engagement_movement(b, PERIOD, by="city"), "Unknown engagement breakdown"),
        (lambda b: eng.compute_engagement_distribution(b, PERIOD, bins=0), "histogram bins"),
        (lambda b: eng.compute_engagement_analysis(b, PERIOD, dimensions=("gender",)), "protected attribute"),
    ],
)
def test_bad_choices_are_refused_with_a_message(bank, call, message):
    with pytest.raises(ValueError, match=message):
        call(bank)


# -- the sample bank ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(sample_db):
    return sample_db.backend()


@pytest.fixture(scope="module")
def period(sample) -> KpiFilters:
    return cubes.default_filters(sample)


@pytest.fixture(scope="module")
def rfm(sample, period) -> pl.DataFrame:
    return rfm_lib.compute_rfm(sample, period)


@pytest.fixture(scope="module")
def analysis(sample, period, rfm) -> eng.EngagementAnalysis:
    return eng.compute_engagement_analysis(sample, period, rfm=rfm)


@pytest.fixture(scope="module")
def monthly(sample) -> pl.DataFrame:
    """customer_month with each component's points by the formula of docs/kpis.md (written out here)."""
    cm = sample.table("customer_month").to_polars()
    c = pl.col
    minutes = pl.when(c("sessions") > 0).then(c("session_seconds") / c("sessions") / 60.0).otherwise(0.0)
    offers = (
        pl.when(c("offers_sent") > 0)
        .then(pl.min_horizontal((c("offers_opened") + c("offers_clicked")) / (2.0 * c("offers_sent")), 1.0))
        .otherwise(0.5)
    )
    return cm.with_columns(
        minutes.alias("minutes"),
        offers.alias("offers"),
        (30.0 * pl.min_horizontal(c("sessions") / 8.0, 1.0)).alias("p_sessions"),
        (20.0 * pl.min_horizontal(minutes / 6.0, 1.0)).alias("p_minutes"),
        (30.0 * pl.min_horizontal(c("products_held") / 5.0, 1.0)).alias("p_products"),
        (20.0 * offers).alias("p_offers"),
    ).with_columns((c("p_sessions") + c("p_minutes") + c("p_products") + c("p_offers")).alias("score"))


def _months(frame: pl.DataFrame, filters: KpiFilters) -> pl.DataFrame:
    return frame.filter(pl.col("month").is_between(filters.start_month, filters.end_month))


def test_rfm_measures_against_the_raw_tables(sample, period, rfm):
    last_day = add_months(period.end_month, 1) - timedelta(days=1)
    customers = sample.table("customers").to_polars()
    at_end = customers.filter(
        pl.col("joined_at") <= last_day, pl.col("closed_at").is_null() | (pl.col("closed_at") > last_day)
    ).select("customer_id")
    tx = sample.table("transactions").to_polars()
    start = datetime(period.start_month.year, period.start_month.month, 1)
    after = datetime(last_day.year, last_day.month, last_day.day) + timedelta(days=1)
    debits = tx.filter(pl.col("direction") == "debit", pl.col("ts") >= start, pl.col("ts") < after)
    per = debits.group_by("customer_id").agg(
        pl.len().alias("f"), pl.col("amount").sum().alias("m"), pl.col("ts").max().dt.date().alias("last")
    )
    expected = (
        at_end.join(per, on="customer_id", how="left")
        .with_columns((pl.lit(last_day) - pl.col("last")).dt.total_days().alias("r"))
        .sort("customer_id")
    )
    assert rfm.get_column("customer_id").to_list() == expected.get_column("customer_id").to_list()
    assert rfm.get_column("recency_days").to_list() == expected.get_column("r").to_list()
    assert rfm.get_column("frequency").to_list() == expected.get_column("f").fill_null(0).to_list()
    np.testing.assert_allclose(
        rfm["monetary"].to_numpy(), expected["m"].fill_null(0.0).to_numpy(), atol=0.005
    )
    assert rfm.filter(pl.col("frequency") == 0).get_column("recency_days").null_count() == (
        expected.get_column("f").null_count()
    )


def test_rfm_scores_equal_pandas_qcut_of_first_ranks(rfm):
    active = rfm.filter(pl.col("frequency") > 0).sort("customer_id").to_pandas()
    for column, series in (
        ("r_score", -active["recency_days"]),
        ("f_score", active["frequency"]),
        ("m_score", active["monetary"]),
    ):
        expected = pd.qcut(series.rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
        assert (active[column].to_numpy() == expected.to_numpy()).all(), column
    idle = rfm.filter(pl.col("frequency") == 0)
    assert idle.height > 0
    assert idle.select("r_score", "f_score", "m_score", "rfm_group").unique().rows() == [(1, 1, 1, "Lost")]
    # Quintiles of equal size among the customers with a transaction.
    sizes = rfm.filter(pl.col("frequency") > 0).group_by("f_score").len().get_column("len")
    assert sizes.max() - sizes.min() <= 1


def test_rfm_region_filter_matches_the_customer_record(sample, period, rfm):
    region = "North"
    sliced = rfm_lib.compute_rfm(sample, KpiFilters(period.start_month, period.end_month, regions=(region,)))
    north = sample.table("customers").to_polars().filter(pl.col("region") == region).get_column("customer_id")
    assert (
        sliced.get_column("customer_id").to_list()
        == rfm.filter(pl.col("customer_id").is_in(north.implode())).get_column("customer_id").to_list()
    )


def _engagement_tile(backend, filters: KpiFilters) -> definitions.KpiValue:
    """The executive summary's engagement tile (the app's computation) for ``filters``."""
    summary = executive.compute_executive_summary(backend, filters)
    return next(t for t in summary.tiles if t.name == "engagement")


def test_drivers_add_up_to_the_kpi_tiles(sample, period, analysis):
    drivers = analysis.drivers
    tile = _engagement_tile(sample, period)
    before = _engagement_tile(sample, formulas.previous_period(period))
    assert math.isclose(drivers.score, tile.value, abs_tol=1e-9)
    assert math.isclose(drivers.components["points"].sum(), tile.value, abs_tol=1e-9)
    assert math.isclose(drivers.components["points_previous"].sum(), before.value, abs_tol=1e-9)
    assert math.isclose(drivers.components["change"].sum(), tile.value - before.value, abs_tol=1e-9)
    assert math.isclose(drivers.components["share_of_score"].sum(), 1.0, abs_tol=1e-12)
    assert math.isclose(drivers.components["share_of_change"].sum(), 1.0, abs_tol=1e-9)
    assert drivers.customer_months == tile.n


def test_drivers_under_slices_add_up_to_the_kpi_tiles(sample, period):
    for sliced in (
        KpiFilters(period.start_month, period.end_month, regions=("North", "East"), age_bands=("65+",)),
        KpiFilters(period.start_month, period.end_month, products=("savings", "credit_card")),
    ):
        drivers = eng.compute_engagement_drivers(sample, sliced)
        tile = _engagement_tile(sample, sliced)
        assert math.isclose(drivers.components["points"].sum(), tile.value, abs_tol=1e-9)
        assert drivers.customer_months == tile.n


def test_component_means_against_customer_month_and_the_documented_formula(period, analysis, monthly):
    now, before = _months(monthly, period), _months(monthly, formulas.previous_period(period))
    table = {r["component"]: r for r in analysis.drivers.components.iter_rows(named=True)}
    raw = {"sessions": "sessions", "minutes": "minutes", "products": "products_held", "offers": "offers"}
    weights = {"sessions": 30.0, "minutes": 20.0, "products": 30.0, "offers": 20.0}
    for name, column in raw.items():
        row = table[name]
        assert row["points"] == pytest.approx(now[f"p_{name}"].mean(), abs=1e-9)
        assert row["points_previous"] == pytest.approx(before[f"p_{name}"].mean(), abs=1e-9)
        assert row["mean_input"] == pytest.approx(now[column].cast(pl.Float64).mean(), abs=1e-9)
        assert row["mean_input_previous"] == pytest.approx(before[column].cast(pl.Float64).mean(), abs=1e-9)
        assert row["mean_capped"] == pytest.approx(now[f"p_{name}"].mean() / weights[name], abs=1e-9)
    per_customer = now.group_by("customer_id").agg(
        pl.col("score").mean(), *(pl.col(f"p_{k}").mean() for k in raw)
    )
    for name in raw:
        expected = np.corrcoef(per_customer[f"p_{name}"].to_numpy(), per_customer["score"].to_numpy())[0, 1]
        assert table[name]["correlation"] == pytest.approx(expected, abs=1e-9)


def test_distribution_against_the_per_customer_scores_and_numpy(sample, period, analysis):
    dist = analysis.distribution
    scores = cubes.compute_engagement_scores(sample, period).get_column("engagement").to_numpy()
    assert dist.customers == len(scores) == dist.histogram.get_column("customers").sum()
    edges = [*dist.histogram.get_column("bin_start").to_list(), 100.0]
    counts, _ = np.histogram(scores, bins=edges)
    assert dist.histogram.get_column("customers").to_list() == counts.tolist()
    assert dist.histogram.get_column("share").sum() == pytest.approx(1.0)
    assert dist.mean == pytest.approx(scores.mean(), abs=1e-9)
    assert dist.std == pytest.approx(scores.std(ddof=1), abs=1e-9)
    assert (dist.q1, dist.median, dist.q3) == pytest.approx(
        tuple(np.percentile(scores, [25, 50, 75])), abs=1e-9
    )
    assert dist.kpi == pytest.approx(_engagement_tile(sample, period).value, abs=1e-9)


def test_movement_by_region_equals_the_tiles_of_each_region(sample, period, analysis):
    region = analysis.movement["region"]
    before = formulas.previous_period(period)
    for row in region.iter_rows(named=True):
        sliced = KpiFilters(period.start_month, period.end_month, regions=(row["group"],))
        now = _engagement_tile(sample, sliced)
        then = _engagement_tile(
            sample, KpiFilters(before.start_month, before.end_month, regions=(row["group"],))
        )
        assert row["engagement"] == pytest.approx(now.value, abs=1e-9)
        assert row["engagement_previous"] == pytest.approx(then.value, abs=1e-9)
        assert row["customer_months"] == now.n and row["customer_months_previous"] == then.n
        assert row["ci_low"] < row["change"] < row["ci_high"]
    assert region.get_column("customers").sum() == analysis.distribution.customers


def test_movement_by_rfm_group_against_an_independent_grouping(period, analysis, rfm, monthly):
    groups = rfm.select("customer_id", "rfm_group")
    expected = {}
    for label, filters in (("now", period), ("before", formulas.previous_period(period))):
        rows = _months(monthly, filters).join(groups, on="customer_id", how="left")
        rows = rows.with_columns(pl.col("rfm_group").fill_null(eng.NO_RFM_GROUP))
        for g, mean, n in rows.group_by("rfm_group").agg(pl.col("score").mean(), pl.len()).iter_rows():
            expected[(label, g)] = (mean, n)
    movement = analysis.movement["rfm_group"]
    assert movement.get_column("group").to_list()[-1] == eng.NO_RFM_GROUP
    for row in movement.iter_rows(named=True):
        assert (row["engagement"], row["customer_months"]) == pytest.approx(expected[("now", row["group"])])
        assert (row["engagement_previous"], row["customer_months_previous"]) == pytest.approx(
            expected[("before", row["group"])]
        )
        assert row["small_group"] == (min(row["customers"], row["customers_previous"]) < 30)


def test_change_interval_equals_statsmodels_cluster_robust_ols(period, monthly):
    # The KPI change is the OLS slope of the customer-month score on a period dummy; its
    # customer-clustered sandwich variance without small-sample factors, times n / (n - 1),
    # is the variance of summarize_engagement_change.
    before = formulas.previous_period(period)
    rows = monthly.filter(
        pl.col("region") == "North", pl.col("month").is_between(before.start_month, period.end_month)
    ).with_columns((pl.col("month") >= period.start_month).cast(pl.Float64).alias("now"))
    fit = sm.OLS(rows["score"].to_numpy(), sm.add_constant(rows["now"].to_numpy())).fit(
        cov_type="cluster", cov_kwds={"groups": rows["customer_id"].to_numpy(), "use_correction": False}
    )
    per = rows.group_by("customer_id").agg(
        pl.col("now").sum().alias("months"),
        (pl.col("score") * pl.col("now")).sum().alias("score_sum"),
        (1.0 - pl.col("now")).sum().alias("months_previous"),
        (pl.col("score") * (1.0 - pl.col("now"))).sum().alias("score_sum_previous"),
    )
    out = eng.summarize_engagement_change(per).row(0, named=True)
    n = per.height
    se = (out["ci_high"] - out["change"]) / stats.t.ppf(0.975, n - 1)
    assert out["change"] == pytest.approx(fit.params[1], abs=1e-9)
    assert se**2 == pytest.approx(fit.bse[1] ** 2 * n / (n - 1), rel=1e-9)


def test_change_interval_covers_a_null_change_95_percent_of_the_time():
    # 2,000 simulated groups of 200 customers with the same score distribution in both periods:
    # a customer effect shared by the periods, 0-3 months in each (0 = absent), noise per month.
    rng = np.random.default_rng(7)
    groups, size = 2000, 200
    n = groups * size
    effect = rng.normal(0.0, 10.0, n)
    months = rng.choice([0, 1, 2, 3], size=(2, n), p=[0.05, 0.1, 0.15, 0.7])
    sums = [months[k] * (40.0 + effect) + np.sqrt(months[k]) * rng.normal(0.0, 8.0, n) for k in (0, 1)]
    frame = pl.DataFrame(
        {
            "group": np.repeat(np.arange(groups), size),
            "months": months[0],
            "score_sum": sums[0],
            "months_previous": months[1],
            "score_sum_previous": sums[1],
        }
    )
    out = eng.summarize_engagement_change(frame, by="group")
    coverage = ((out["ci_low"] <= 0) & (out["ci_high"] >= 0)).mean()
    assert 0.93 <= coverage <= 0.97
    assert out.get_column("small_group").sum() == 0


def test_personas_plant_rfm_differences(rfm, analysis, sample_truth):
    personas = pl.DataFrame(
        {
            "customer_id": sample_truth["personas"]["customer_ids"],
            "persona": sample_truth["personas"]["personas"],
        }
    )
    by_persona = (
        rfm.join(personas, on="customer_id")
        .group_by("persona")
        .agg(pl.col("f_score").mean(), pl.col("m_score").mean())
    )
    means = {r["persona"]: r for r in by_persona.iter_rows(named=True)}
    # Retirees make the fewest debits (0.85 a month against 1.35-1.55); the affluent spend the most.
    assert min(means, key=lambda p: means[p]["f_score"]) == "retiree"
    assert means["affluent"]["m_score"] > means["retiree"]["m_score"] + 0.5
    assert means["affluent"]["m_score"] > means["student"]["m_score"] + 0.5
    sizes = rfm_lib.summarize_rfm_groups(rfm)
    assert (sizes.get_column("customers") > 0).sum() >= 8
    engagement = {r["group"]: r["engagement"] for r in analysis.movement["rfm_group"].iter_rows(named=True)}
    assert engagement["Champions"] > engagement["Lost"] + 1.0
    assert engagement["Champions"] > engagement["Hibernating"] + 1.0
