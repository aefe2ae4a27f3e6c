"""Executive KPIs: helpers against published and hand-computed values, every KPI on a
small hand-built bank, filters, periods, the KPI cubes against the on-the-fly path, and
the sample bank against an independent pandas implementation on the raw tables
(bench.pandas_baseline)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.common.types import KpiFilters
from analytics.kpis import cubes, definitions, formulas, statistics
from analytics.kpis import summary as executive
from analytics.store.database import Database
from tests import banks

# -- the hand-built bank ------------------------------------------------------------------------
# Snapshot 2024-06-30, history from 2024-01. The period under test is Apr-Jun 2024, the
# previous one Jan-Mar 2024.
#
# id region born        joined      closed      holdings (product opened..closed, monthly margin)
# 1  North  1994-01-01  2020-01-01  -           current_account 2020-01-01.. 5.0; savings 2024-05-10.. 3.0
# 2  South  1974-01-01  2021-06-01  2024-05-20  current_account 2021-06-01..2024-05-20 4.0
# 3  North  1954-01-01  2024-05-03  -           current_account 2024-05-03.. 2.0; credit_card 2024-05-03.. 6.0
# 4  East   1984-01-01  2024-04-15  2024-06-10  current_account 2024-04-15..2024-06-10 1.0
# 5  South  1994-06-30  2019-03-01  -           savings 2019-03-01.. 2.0  (dormant: no transaction or session)
# 6  East   2002-01-01  2023-01-01  2024-02-10  current_account 2023-01-01..2024-02-10 1.5
#
# Age bands on 2024-06-30: 1 -> 25-34 (30), 2 -> 45-54 (50), 3 -> 65+ (70), 4 -> 35-44 (40),
# 5 -> 25-34 (30th birthday on the snapshot day), 6 -> 18-24 (22).
AS_OF = date(2024, 6, 30)
PERIOD = KpiFilters(start_month=date(2024, 4, 1), end_month=date(2024, 6, 1))
PREVIOUS = KpiFilters(start_month=date(2024, 1, 1), end_month=date(2024, 3, 1))


def _customers() -> pl.DataFrame:
    rows = [
        (1, "North", date(1994, 1, 1), date(2020, 1, 1), None),
        (2, "South", date(1974, 1, 1), date(2021, 6, 1), date(2024, 5, 20)),
        (3, "North", date(1954, 1, 1), date(2024, 5, 3), None),
        (4, "East", date(1984, 1, 1), date(2024, 4, 15), date(2024, 6, 10)),
        (5, "South", date(1994, 6, 30), date(2019, 3, 1), None),
        (6, "East", date(2002, 1, 1), date(2023, 1, 1), date(2024, 2, 10)),
    ]
    return banks.customers(
        [r[0] for r in rows],
        region=[r[1] for r in rows],
        birth_date=[r[2] for r in rows],
        gender=["female", "male", "female", "male", "other", "female"],
        joined_at=[r[3] for r in rows],
        closed_at=[r[4] for r in rows],
    )


def _tables() -> dict[str, pl.DataFrame]:
    tables = banks.empty_tables()
    tables["customers"] = _customers()
    tables["products"] = banks.rows(
        "products",
        [
            ("current_account", "Current account", "deposit", 2.0, 0.0),
            ("savings", "Savings", "deposit", 0.0, 0.01),
            ("credit_card", "Credit card", "lending", 1.0, 0.1),
        ],
    )
    tables["holdings"] = banks.rows(
        "holdings",
        [
            (1, 1, "current_account", date(2020, 1, 1), None, 1000.0, 5.0),
            (2, 1, "savings", date(2024, 5, 10), None, 5000.0, 3.0),
            (3, 2, "current_account", date(2021, 6, 1), date(2024, 5, 20), 0.0, 4.0),
            (4, 3, "current_account", date(2024, 5, 3), None, 300.0, 2.0),
            (5, 3, "credit_card", date(2024, 5, 3), None, 2000.0, 6.0),
            (6, 4, "current_account", date(2024, 4, 15), date(2024, 6, 10), 0.0, 1.0),
            (7, 5, "savings", date(2019, 3, 1), None, 800.0, 2.0),
            (8, 6, "current_account", date(2023, 1, 1), date(2024, 2, 10), 0.0, 1.5),
        ],
    )
    tx = [
        # period: customer 1 pays 0.50 + 0.00 in April and 0.25 in May; 2 pays 0.10 + 0.20; 3 pays 0.05
        (1, 1, datetime(2024, 4, 3, 10), 100.0, "debit", "groceries", "card_present", "NL", 0.5),
        (2, 1, datetime(2024, 4, 25, 9), 1000.0, "credit", "salary", "transfer", "NL", 0.0),
        (3, 1, datetime(2024, 5, 31, 23, 59, 59), 50.0, "debit", "travel", "card_online", "NL", 0.25),
        (4, 2, datetime(2024, 4, 7), 20.0, "debit", "groceries", "card_present", "NL", 0.1),
        (5, 2, datetime(2024, 5, 5), 30.0, "debit", "groceries", "card_present", "NL", 0.2),
        (6, 3, datetime(2024, 6, 1, 0, 0, 1), 10.0, "debit", "groceries", "atm", "NL", 0.05),
        # previous period
        (7, 1, datetime(2024, 3, 15), 40.0, "debit", "groceries", "card_present", "NL", 0.2),
        (8, 6, datetime(2024, 1, 20), 15.0, "debit", "groceries", "card_present", "NL", 0.1),
    ]
    tables["transactions"] = banks.rows("transactions", tx)
    events = []
    # customer 1: 6 sessions of 300 s in each of April, May and June (6 per month, 5 minutes each)
    for month in (4, 5, 6):
        for day in range(1, 7):
            events.append(
                (len(events) + 1, 1, datetime(2024, month, day, 8), "mobile_app", "session", 300, 4)
            )
    # customer 4: 3 sessions of 600 s in May (1 per month over its 3 months, 10 minutes each)
    for day in (2, 3, 4):
        events.append((len(events) + 1, 4, datetime(2024, 5, day, 20), "web", "session", 600, 9))
    tables["digital_events"] = banks.rows("digital_events", events)
    tables["campaigns"] = banks.rows(
        "campaigns",
        [(1, "Spring savings", "savings", "email", date(2024, 3, 1), date(2024, 6, 30), "cross_sell")],
    )
    tables["offers"] = banks.rows(
        "offers",
        [
            # period: 3 sent, 2 opened, 1 clicked, 1 converted
            (
                1,
                1,
                1,
                "savings",
                datetime(2024, 4, 2),
                datetime(2024, 4, 2, 1),
                datetime(2024, 4, 2, 2),
                datetime(2024, 5, 10),
            ),
            (2, 1, 1, "savings", datetime(2024, 4, 20), datetime(2024, 4, 21), None, None),
            (3, 1, 3, "savings", datetime(2024, 6, 5), None, None, None),
            # previous period: 1 sent and clicked
            (4, 1, 2, "savings", datetime(2024, 3, 2), datetime(2024, 3, 3), datetime(2024, 3, 3), None),
        ],
    )
    surveys = [
        # period NPS: 10, 3, 9, 7, 8 -> 2 promoters, 2 passives, 1 detractor
        (1, 1, datetime(2024, 4, 10), "nps", 10),
        (2, 2, datetime(2024, 5, 2), "nps", 3),
        (3, 3, datetime(2024, 6, 12), "nps", 9),
        (4, 5, datetime(2024, 5, 14), "nps", 7),
        (5, 1, datetime(2024, 6, 20), "nps", 8),
        # period CSAT: 5, 2, 4 -> 2 of 3 satisfied
        (6, 1, datetime(2024, 4, 11), "csat", 5),
        (7, 3, datetime(2024, 6, 13), "csat", 2),
        (8, 4, datetime(2024, 5, 15), "csat", 4),
        # previous NPS: 10 and 0 -> NPS 0; previous CSAT: 3 -> 0 of 1
        (9, 2, datetime(2024, 2, 1), "nps", 10),
        (10, 6, datetime(2024, 1, 5), "nps", 0),
        (11, 5, datetime(2024, 3, 9), "csat", 3),
    ]
    tables["surveys"] = banks.rows("surveys", [(*s, "email", "relationship", None) for s in surveys])
    return tables


def _same(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    """Both undefined, or equal within a relative and absolute tolerance."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@pytest.fixture(scope="module")
def backend():
    db = Database(":memory:", threads=1)
    db.load_dataset(_tables(), meta={"as_of": AS_OF.isoformat(), "history_start": "2024-01-01"})
    yield db.backend()
    db.close()


@pytest.fixture(scope="module")
def values(backend) -> dict[str, definitions.KpiValue]:
    return executive.compute_kpis(backend, PERIOD)


@pytest.fixture(scope="module")
def summary(backend) -> executive.ExecutiveSummary:
    return executive.compute_executive_summary(backend, PERIOD)


# -- pure helpers -------------------------------------------------------------------------------
def test_nps_interval_matches_the_published_multinomial_example():
    # whuber's worked example (Cross Validated q. 18391, "How can I calculate margin of error
    # in a NPS result?"): shares 1/2 promoters, 1/3 passives, 1/6 detractors give NPS = 1/3 and a
    # per-answer variance of 5/9 (on the -1..1 scale); the same variance is CYBAEA's closed form.
    # With n = 900: se = 100 sqrt(5/9 / 900) = 2.484520, half-width 1.959964 * se = 4.869568.
    nps, low, high = formulas.nps_interval(450, 300, 150)
    assert nps == pytest.approx(100 / 3)
    assert low == pytest.approx(100 / 3 - 4.869568, abs=1e-5)
    assert high == pytest.approx(100 / 3 + 4.869568, abs=1e-5)


def test_nps_interval_hand_case_and_edges():
    # 2 promoters, 2 passives, 1 detractor: NPS 20; pP 0.4, pD 0.2; var = 0.4 + 0.2 - 0.04 = 0.56;
    # se = 100 sqrt(0.56 / 5) = 33.466401; 1.959964 se = 65.592947 -> (-45.5929, 85.5929).
    nps, low, high = formulas.nps_interval(2, 2, 1)
    assert (round(nps, 4), round(low, 4), round(high, 4)) == (20.0, -45.5929, 85.5929)
    # one promoter: zero variance, interval collapses on 100; nothing answered: undefined
    assert formulas.nps_interval(1, 0, 0) == (100.0, 100.0, 100.0)
    assert formulas.nps_interval(0, 0, 0) == (None, None, None)
    # a wide interval is clipped to the scale
    assert formulas.nps_interval(3, 0, 1)[2] == 100.0
    with pytest.raises(ValueError, match="confidence level"):
        formulas.nps_interval(1, 1, 1, level=1.0)


def test_wilson_interval_matches_newcombe():
    # Newcombe (1998), Statistics in Medicine 17:857, example 81/263: Wilson 0.2553 to 0.3662.
    p, low, high = formulas.wilson_interval(81, 263)
    assert round(p, 4) == 0.308
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert formulas.wilson_interval(0, 0) == (None, None, None)
    # 0 of 10: Wilson's lower bound is exactly 0 and the upper z^2/(n+z^2) = 3.8415/13.8415 = 0.2775
    p, low, high = formulas.wilson_interval(0, 10)
    assert (p, low, round(high, 4)) == (0.0, 0.0, 0.2775)


def test_two_sample_tests_by_hand():
    # 60/100 vs 50/100: pooled 0.55, se = sqrt(0.55 * 0.45 * 0.02) = 0.0703562 -> z = 1.421338
    assert formulas.two_proportion_z(60, 100, 50, 100) == pytest.approx(1.421338, abs=1e-6)
    assert formulas.two_proportion_z(0, 10, 0, 20) == 0.0
    assert formulas.two_proportion_z(1, 0, 1, 10) is None
    # NPS (2, 2, 1) vs (1, 0, 1): 20 - 0 = 20 points; variances 100^2 * 0.56 / 5 = 1120 and
    # 100^2 * (0.5 + 0.5 - 0) / 2 = 5000 -> z = 20 / sqrt(6120) = 0.255655
    assert formulas.nps_difference_z((2, 2, 1), (1, 0, 1)) == pytest.approx(0.255655, abs=1e-6)
    assert formulas.nps_difference_z((1, 0, 0), (1, 0, 0)) == 0.0
    assert formulas.nps_difference_z((1, 0, 0), (0, 0, 1)) is None
    assert formulas.nps_difference_z((1, 0, 0), (0, 0, 0)) is None


def test_clv_matches_closed_form_and_hand_case():
    # m = 100, r = 0.8, d = 10%, H = 2: 100 / 1.1 + 80 / 1.21 = 90.909091 + 66.115702 = 157.024793
    assert formulas.clv_from_margin(100.0, 0.8, discount_rate=0.1, horizon_years=2) == pytest.approx(
        157.024793, abs=1e-6
    )
    for m, r, d, h in [(250.0, 0.85, 0.10, 5), (90.0, 0.6, 0.08, 10), (40.0, 0.99, 0.12, 1)]:
        closed = m * (1 - (r / (1 + d)) ** h) / (1 + d - r)
        assert formulas.clv_from_margin(m, r, discount_rate=d, horizon_years=h) == pytest.approx(
            closed, rel=1e-12
        )
    # a monthly hazard of 1% -> r = 0.99^12 = 0.886385
    assert formulas.annual_retention_from_hazard(1, 100) == pytest.approx(0.886385, abs=1e-6)
    assert formulas.annual_retention_from_hazard(0, 0) is None


def test_engagement_score_components_and_caps():
    # caps: 8 sessions a month, 6 minutes, 5 products.
    # customer 1 of the fixture: 6 sessions/month -> 6/8 = 0.75, 5 min -> 5/6, 5/3 products -> 1/3,
    # offers (2 opened + 1 clicked) / (2 * 2 sent) = 0.75:
    # 100 (0.3 * 0.75 + 0.2 * 5/6 + 0.3 * 1/3 + 0.2 * 0.75) = 22.5 + 16.6667 + 10 + 15 = 64.1667
    score = statistics.engagement_score(6, 5, 5 / 3, offers_sent=2, offers_opened=2, offers_clicked=1)
    assert score == pytest.approx(22.5 + 100 / 6 + 10 + 15)
    # everything past the caps scores 100; nothing at all with no offer scores the neutral 0.5 * 20
    assert statistics.engagement_score(40, 30, 7, offers_sent=1, offers_opened=1, offers_clicked=1) == 100.0
    assert statistics.engagement_score(0, 0, 0) == 10.0


def test_previous_period_arithmetic():
    quarter = KpiFilters(date(2025, 1, 1), date(2025, 3, 1), regions=("North",), products=("savings",))
    before = formulas.previous_period(quarter)
    assert (before.start_month, before.end_month) == (date(2024, 10, 1), date(2024, 12, 1))
    assert before.regions == ("North",) and before.products == ("savings",)
    one = formulas.previous_period(KpiFilters(date(2025, 1, 1), date(2025, 1, 1)))
    assert (one.start_month, one.end_month) == (date(2024, 12, 1), date(2024, 12, 1))
    year = formulas.previous_period(KpiFilters(date(2024, 3, 1), date(2025, 2, 1)))
    assert (year.start_month, year.end_month) == (date(2023, 3, 1), date(2024, 2, 1))
    # days inside a month are read as that month
    mid = formulas.previous_period(KpiFilters(date(2024, 5, 17), date(2024, 6, 30)))
    assert (mid.start_month, mid.end_month) == (date(2024, 3, 1), date(2024, 4, 1))
    with pytest.raises(ValueError, match="after it ends"):
        formulas.previous_period(KpiFilters(date(2024, 6, 1), date(2024, 5, 1)))


def test_labels_units_and_directions_cover_every_kpi():
    assert (
        set(definitions.KPI_LABELS)
        == set(definitions.KPI_UNITS)
        == set(definitions.HIGHER_IS_BETTER)
        == set(definitions.KPI_NAMES)
    )
    assert definitions.KPI_UNITS["nps"] == "score" and definitions.KPI_UNITS["clv"] == "eur"
    assert [k for k, better in definitions.HIGHER_IS_BETTER.items() if not better] == ["churn_rate"]


# -- every KPI on the hand-built bank ---------------------------------------------------------------
def test_nps_on_fixture(values):
    nps = values["nps"]
    # Apr-Jun answers 10, 3, 9, 7, 8: (2 - 1) / 5 = 20
    assert (nps.value, nps.n) == (20.0, 5)
    assert (round(nps.ci_low, 4), round(nps.ci_high, 4)) == (-45.5929, 85.5929)
    assert nps.previous is None and nps.note is None


def test_csat_on_fixture(values):
    # Apr-Jun answers 5, 2, 4: 2 of 3 are 4 or 5
    assert values["csat"].value == pytest.approx(2 / 3)
    assert values["csat"].n == 3
    assert values["csat"].ci_low < 2 / 3 < values["csat"].ci_high


def test_retention_and_churn_on_fixture(values):
    # S (row in April, not new in it): 1, 2, 5 -> 3.  E (row in June, not closed in it): 1, 3, 5 -> 3
    # (4 closed in June, 2 in May).  N (joined Apr-Jun): 3, 4 -> 2.  retention = (3 - 2) / 3.
    # churn = closures among S (customer 2) / S = 1/3; the new customer 4 also left, so
    # retention + churn = 2/3, not 1.
    assert values["retention_rate"].value == pytest.approx(1 / 3)
    assert values["churn_rate"].value == pytest.approx(1 / 3)
    assert values["retention_rate"].n == values["churn_rate"].n == 3


def test_clv_on_fixture(values):
    # Customer-months Apr-Jun: 1 -> 3, 2 -> 2 (Apr, May), 3 -> 2 (May, Jun), 4 -> 3, 5 -> 3: 13.
    # Holding margin: 1: 5 + 8 + 8 = 21, 2: 4 + 4 = 8, 3: 8 + 8 = 16, 4: 1 * 3 = 3, 5: 2 * 3 = 6 -> 54
    # Fees: 0.50 + 0.00 + 0.25 + 0.10 + 0.20 + 0.05 = 1.10.  m = 12 * 55.10 / 13.
    # Closures: customers 2 and 4 -> hazard 2/13, r = (11/13)^12.
    m, r = 12 * 55.10 / 13, (11 / 13) ** 12
    expected = m * (1 - (r / 1.1) ** 5) / (1.1 - r)
    assert values["clv"].value == pytest.approx(expected, rel=1e-9)
    assert values["clv"].n == 5


def test_engagement_on_fixture(values):
    # The average MONTHLY score over the 13 customer-months of Apr-Jun (caps 8 sessions /
    # 6 minutes / 5 products; 0.3 * min(products / 5, 1) is 6 points a product):
    # 1 -> Apr: 6 sessions 0.3 * 0.75 = 22.5, 5 min 0.2 * 5/6 = 16.6667, 1 product 6, offers
    #      (2 opened + 1 clicked) / (2 * 2 sent) = 0.75 -> 15: 60.1667;
    #      May and Jun: 22.5 + 16.6667 + 2 products 12 + no offer 0.5 -> 10: 61.1667 each;
    # 2 -> Apr, May: 1 product 6 + neutral 10 = 16 each;
    # 3 -> May: 2 products 12 + 10 = 22; Jun: 12 + an offer never opened 0 = 12;
    # 4 -> Apr, Jun: 6 + 10 = 16; May: 3 sessions 0.3 * 3/8 = 11.25, 10 min capped 20, 6, 10 = 47.25;
    # 5 -> 3 months of 16.
    # sum = 182.5 + 32 + 34 + 79.25 + 48 = 375.75 over 13 customer-months
    assert values["engagement"].value == pytest.approx(375.75 / 13)
    assert values["engagement"].n == 13
    # the monthly score of customer 1 in April, from the helper
    april = statistics.engagement_score(6, 5, 1, offers_sent=2, offers_opened=2, offers_clicked=1)
    assert april == pytest.approx(22.5 + 100 / 6 + 6 + 15)


def test_engagement_scores_per_customer(backend):
    scores = cubes.compute_engagement_scores(backend, PERIOD)
    assert scores.get_column("customer_id").to_list() == [1, 2, 3, 4, 5]
    # the mean of each customer's monthly scores (see test_engagement_on_fixture)
    assert scores.get_column("engagement").round(4).to_list() == [60.8333, 16.0, 17.0, 26.4167, 16.0]
    assert scores.get_column("months").to_list() == [3, 2, 2, 3, 3]
    assert scores.filter(pl.col("customer_id") == 4).get_column("avg_session_minutes").item() == 10.0


def test_cross_sell_on_fixture(values):
    # products held per customer-month: 1 -> 1 + 2 + 2, 2 -> 1 + 1, 3 -> 2 + 2, 4 -> 1 + 1 + 1,
    # 5 -> 1 + 1 + 1: 17 over 13 customer-months
    assert values["cross_sell"].value == pytest.approx(17 / 13)


def test_campaign_rates_on_fixture(values):
    # offers sent Apr-Jun: 3; clicked 1; converted 1 (the conversion in May counts for April's offer)
    assert values["ctr"].value == pytest.approx(1 / 3)
    assert values["conversion_rate"].value == pytest.approx(1 / 3)
    assert values["ctr"].n == 3


def test_active_customers_on_fixture(backend, values):
    # monthly actives (a transaction or session in the month), averaged over the 3 months:
    # April 1, 2 (4 joined but did nothing); May 1, 2, 4 (sessions); June 1, 3 -> (2 + 3 + 2) / 3.
    # 5 is dormant.
    assert values["active_customers"].value == pytest.approx(7 / 3)
    assert values["active_customers"].n == 5
    assert definitions.KPI_LABELS["active_customers"] == "Monthly active customers"
    # for a one-month period it is that month's count
    may = _tiles(executive.compute_executive_summary(backend, KpiFilters(date(2024, 5, 1), date(2024, 5, 1))))
    assert may["active_customers"].value == 3.0


def _tiles(summary: executive.ExecutiveSummary) -> dict[str, definitions.KpiValue]:
    """The summary's tiles by name, without the comparison fields (as compute_kpis gives them)."""
    return {t.name: replace(t, previous=None, change=None, change_significant=None) for t in summary.tiles}


def test_executive_tiles_agree_with_compute_kpis(backend, values, summary):
    # Every tile of the app's computation equals compute_kpis's, value, base, interval and note.
    tiles = _tiles(summary)
    assert list(tiles) == list(values)
    for name in definitions.KPI_NAMES:
        assert tiles[name] == values[name]
    # a longer horizon adds later, discounted years: strictly more value
    longer = _tiles(executive.compute_executive_summary(backend, PERIOD, clv_horizon_years=10))
    assert longer["clv"].value > values["clv"].value


# -- filters ---------------------------------------------------------------------------------------
def test_region_filter(backend):
    north = executive.compute_kpis(
        backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, regions=("North",))
    )
    # customers 1 and 3: NPS answers 10, 9, 8 -> (2 - 0) / 3; S = {1}, E = {1, 3}, N = {3}
    assert north["nps"].value == pytest.approx(200 / 3)
    assert north["retention_rate"].value == 1.0
    # actives: April 1, May 1, June 1 and 3
    assert north["active_customers"].value == pytest.approx(4 / 3)


def test_age_band_filter(backend):
    older = executive.compute_kpis(
        backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, age_bands=("65+",))
    )
    # only customer 3, new in May: nobody at the start -> retention undefined, with its note;
    # active only in June -> 1 / 3 a month
    assert older["active_customers"].value == pytest.approx(1 / 3)
    assert older["retention_rate"].value is None
    assert older["retention_rate"].note == definitions.MSG_NO_START_CUSTOMERS
    assert older["nps"].value == 100.0


def test_product_filter_keeps_the_customer_months_in_the_product_span(backend):
    savers = executive.compute_kpis(
        backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("savings",))
    )
    # savings spans: customer 1 from May (opened May 10), customer 5 from 2019; customer 1's
    # April does not count: products (2 + 2 + 1 + 1 + 1) / 5 customer-months
    assert savers["cross_sell"].value == pytest.approx(7 / 5)
    # customers = S + N: holders at the start {5} plus customer 1, who took it up in May (N)
    assert savers["active_customers"].n == 2
    # E = {1, 5} in June, N = {1}: retention (2 - 1) / 1 = 1 (the bank-level flags gave 2 / 1)
    assert savers["retention_rate"].value == pytest.approx(1.0)
    assert savers["churn_rate"].value == 0.0
    cards = executive.compute_kpis(
        backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("credit_card",))
    )
    # customer 3 joins the bank and opens the card in May: N = 1, S = 0
    assert cards["active_customers"].n == 1
    assert cards["retention_rate"].value is None
    # nobody held a credit card in Jan-Mar
    early = executive.compute_kpis(
        backend, KpiFilters(PREVIOUS.start_month, PREVIOUS.end_month, products=("credit_card",))
    )
    assert early["active_customers"].value is None


def test_two_product_filter_counts_each_customer_month_once(backend, values):
    both = executive.compute_kpis(
        backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("current_account", "savings"))
    )
    # every customer-month of Apr-Jun holds a current account or savings (customer 1 both in
    # May and June): the two-product slice is the whole population, counted once
    for name, value in values.items():
        assert _same(both[name].value, value.value), name
    assert both["active_customers"].n == 5
    # whereas the per-product slices overlap: 10 + 5 customer-months > 13
    sums = cubes.compute_period_sums(backend, PERIOD, by=("product",))
    per_product = dict(zip(sums.get_column("product"), sums.get_column("customer_months"), strict=True))
    assert per_product["current_account"] + per_product["savings"] == 10 + 5
    assert (
        cubes.compute_period_sums(
            backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("current_account", "savings"))
        )
        .get_column("customer_months")
        .item()
        == 13
    )


def test_single_product_from_the_cube_equals_the_on_the_fly_path(backend):
    # The on-the-fly path (customer_month + holdings semi-join) with the product named twice
    # is the same population as the single-product rows of kpi_cube_product.
    for product in ("current_account", "savings", "credit_card"):
        one = KpiFilters(PREVIOUS.start_month, PERIOD.end_month, products=(product,))
        twice = KpiFilters(PREVIOUS.start_month, PERIOD.end_month, products=(product, product))
        spans = [(date(2024, m, 1), date(2024, m, 1)) for m in range(1, 7)]
        assert_frame_equal(
            cubes.compute_period_sums(backend, one, buckets=spans),
            cubes.compute_period_sums(backend, twice, buckets=spans),
        )


# -- product spans: a second hand-built bank ----------------------------------------------------
# Snapshot 2024-06-30, history from 2024-01; period Apr-Jun 2024 (previous Jan-Mar). Everyone is
# in the North region; only customers and holdings matter.
#
# id joined      closed      holdings
# 11 2020-01-01  -           current_account 2020-01-01..; savings 2024-05-10..  (takes savings up)
# 12 2020-01-01  -           current_account 2020-01-01..; savings 2022-01-01..2024-05-15 (gives savings up)
# 13 2022-01-01  2024-05-20  savings 2022-01-01.. never closed (leaves the bank holding it)
# 14 2022-01-01  -           savings 2022-01-01..2024-02-10, again 2024-05-05.. (gap March-April)
# 15 2022-01-01  -           credit_card 2024-04-01..2024-04-30; savings 2024-06-01..
# 16 2024-05-03  -           savings 2024-05-03..  (a new bank customer opening it)
#
# Savings in Apr-Jun (span rows; S = first-month rows not new, E = last-month rows not closed):
#   11 May, Jun (new in May) | 12 Apr, May (closed May: span from 2022, a closure among S)
#   13 Apr, May (leaves the bank in May: a closure among S) | 14 Apr-Jun (the span is continuous:
#   in S and E, no closure in February) | 15 Jun (new) | 16 May, Jun (new)
#   S = {12, 13, 14} = 3, N = {11, 15, 16} = 3, E = {11, 14, 15, 16} = 4, 12 customer-months;
#   retention (4 - 3) / 3 = 1/3, churn 2/3, customers S + N = 6.
# Credit card: 15 in April only, new and closed in it: S = 0, N = 1, one closure not among S.
# Credit card or savings (the union's span): 15 runs April..open, May included: 3 months, new
#   in April; the rest as for savings: S = 3, N = 3, E = 4, 2+2+2+3+3+2 = 14 customer-months.
# Current account or savings: 11 and 12 hold a current account throughout (12 giving up
#   savings is no churn): S = {11, 12, 13, 14}, N = {15, 16}, E = {11, 12, 14, 15, 16};
#   retention (5 - 2) / 4 = 3/4, churn 1/4, 3+3+2+3+1+2 = 14 customer-months (the per-product
#   spans hold 6 + 12 = 18: summing them would count 11's and 12's months twice).
SPAN_CUSTOMERS = [
    (11, date(2020, 1, 1), None),
    (12, date(2020, 1, 1), None),
    (13, date(2022, 1, 1), date(2024, 5, 20)),
    (14, date(2022, 1, 1), None),
    (15, date(2022, 1, 1), None),
    (16, date(2024, 5, 3), None),
]
SPAN_HOLDINGS = [
    (11, "current_account", date(2020, 1, 1), None),
    (11, "savings", date(2024, 5, 10), None),
    (12, "current_account", date(2020, 1, 1), None),
    (12, "savings", date(2022, 1, 1), date(2024, 5, 15)),
    (13, "savings", date(2022, 1, 1), None),
    (14, "savings", date(2022, 1, 1), date(2024, 2, 10)),
    (14, "savings", date(2024, 5, 5), None),
    (15, "credit_card", date(2024, 4, 1), date(2024, 4, 30)),
    (15, "savings", date(2024, 6, 1), None),
    (16, "savings", date(2024, 5, 3), None),
]
SPAN_PRODUCTS = ("credit_card", "current_account", "savings")


def _span_tables() -> dict[str, pl.DataFrame]:
    tables = banks.empty_tables()
    customers = _customers().head(1)
    tables["customers"] = pl.concat(
        [
            customers.with_columns(
                pl.lit(cid).cast(pl.Int64).alias("customer_id"),
                pl.lit(joined).alias("joined_at"),
                pl.lit(closed, dtype=pl.Date).alias("closed_at"),
            )
            for cid, joined, closed in SPAN_CUSTOMERS
        ]
    ).cast(dict(tables["customers"].schema))
    tables["products"] = _tables()["products"]
    tables["holdings"] = banks.rows(
        "holdings",
        [
            (i + 1, cid, product, opened, closed, 0.0, 1.0)
            for i, (cid, product, opened, closed) in enumerate(SPAN_HOLDINGS)
        ],
    )
    return tables


@pytest.fixture(scope="module")
def span_backend():
    db = Database(":memory:", threads=1)
    db.load_dataset(_span_tables(), meta={"as_of": AS_OF.isoformat(), "history_start": "2024-01-01"})
    yield db.backend()
    db.close()


def _period_sums(backend, period: KpiFilters, products: tuple[str, ...]) -> dict:
    filters = KpiFilters(period.start_month, period.end_month, products=products)
    return cubes.compute_period_sums(backend, filters).row(0, named=True)


def test_product_take_up_give_up_bank_exit_and_gap(span_backend):
    sums = _period_sums(span_backend, PERIOD, ("savings",))
    assert (sums["at_start"], sums["new"], sums["at_end"], sums["closed_at_start"]) == (3, 3, 4, 2)
    assert (sums["customers"], sums["customer_months"]) == (6, 12)
    values = executive.compute_kpis(
        span_backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("savings",))
    )
    assert values["retention_rate"].value == pytest.approx(1 / 3)
    assert values["churn_rate"].value == pytest.approx(2 / 3)
    assert values["active_customers"].n == 6
    # customer 14's April (between two savings holdings) is in the span: April holds 12, 13, 14
    april = _period_sums(span_backend, KpiFilters(date(2024, 4, 1), date(2024, 4, 1)), ("savings",))
    assert (april["customer_months"], april["at_start"], april["new"]) == (3, 3, 0)
    # and closing the first holding in February is no churn: nobody leaves savings in Jan-Mar
    before = _period_sums(span_backend, PREVIOUS, ("savings",))
    assert (before["at_start"], before["closed"], before["closed_at_start"]) == (3, 0, 0)
    # taking the card up and giving it up in the same month: new and closed, not a closure among S
    card = _period_sums(span_backend, PERIOD, ("credit_card",))
    assert (card["at_start"], card["new"], card["closed"], card["closed_at_start"]) == (0, 1, 1, 0)


def test_two_product_filter_is_the_span_of_the_union(span_backend):
    union = _period_sums(span_backend, PERIOD, ("credit_card", "savings"))
    assert (union["at_start"], union["new"], union["at_end"], union["closed_at_start"]) == (3, 3, 4, 2)
    assert (union["customers"], union["customer_months"]) == (6, 14)
    both = _period_sums(span_backend, PERIOD, ("current_account", "savings"))
    assert (both["at_start"], both["new"], both["at_end"], both["closed_at_start"]) == (4, 2, 5, 1)
    assert (both["customers"], both["customer_months"]) == (6, 14)
    per_product = cubes.compute_period_sums(span_backend, PERIOD, by=("product",))
    months = dict(
        zip(per_product.get_column("product"), per_product.get_column("customer_months"), strict=True)
    )
    assert months["current_account"] + months["savings"] == 18
    values = executive.compute_kpis(
        span_backend,
        KpiFilters(PERIOD.start_month, PERIOD.end_month, products=("current_account", "savings")),
    )
    assert values["retention_rate"].value == pytest.approx(3 / 4)
    assert values["churn_rate"].value == pytest.approx(1 / 4)


@pytest.mark.parametrize("product", SPAN_PRODUCTS)
def test_single_product_cube_equals_the_on_the_fly_span(span_backend, product):
    one = KpiFilters(PREVIOUS.start_month, PERIOD.end_month, products=(product,))
    twice = KpiFilters(PREVIOUS.start_month, PERIOD.end_month, products=(product, product))
    months = [(date(2024, m, 1), date(2024, m, 1)) for m in range(1, 7)]
    for buckets in (
        months,
        [(PREVIOUS.start_month, PREVIOUS.end_month), (PERIOD.start_month, PERIOD.end_month)],
    ):
        assert_frame_equal(
            cubes.compute_period_sums(span_backend, one, buckets=buckets),
            cubes.compute_period_sums(span_backend, twice, buckets=buckets),
        )


def test_product_breakdown_row_equals_the_page_filtered_on_that_product(span_backend):
    breakdown = executive.compute_executive_summary(span_backend, PERIOD).breakdown["product"]
    assert breakdown.get_column("product").to_list() == list(SPAN_PRODUCTS)
    for row in breakdown.iter_rows(named=True):
        filtered = executive.compute_executive_summary(
            span_backend, KpiFilters(PERIOD.start_month, PERIOD.end_month, products=(row["product"],))
        )
        assert row["customers"] == filtered.customers_matched
        for tile in filtered.tiles:
            assert _same(row[tile.name], tile.value), (row["product"], tile.name)
            assert tile.name != "retention_rate" or tile.value is None or tile.value <= 1


def test_filter_matching_nobody_gives_notes_not_errors(backend):
    nobody = KpiFilters(PERIOD.start_month, PERIOD.end_month, regions=("Atlantis",))
    values = executive.compute_kpis(backend, nobody)
    assert all(v.value is None and v.note == definitions.MSG_NO_CUSTOMERS for v in values.values())
    summary = executive.compute_executive_summary(backend, nobody)
    assert summary.customers_matched == 0
    assert all(t.value is None and t.previous is None and t.change is None for t in summary.tiles)
    assert summary.movers.height == 0 and summary.movers.schema == definitions.MOVERS_SCHEMA
    for dimension, table in summary.breakdown.items():
        assert table.height == 0
        assert table.columns == [dimension, "customers", *definitions.KPI_NAMES]
    assert summary.trend.height == 6
    assert summary.trend.drop("month").null_count().row(0) == (6,) * len(definitions.KPI_NAMES)


def test_period_outside_the_data_is_undefined(backend):
    later = KpiFilters(date(2030, 1, 1), date(2030, 2, 1))
    summary = executive.compute_executive_summary(backend, later)
    assert summary.customers_matched == 0
    assert summary.tiles[0].note == definitions.MSG_NO_CUSTOMERS


# -- the executive summary ------------------------------------------------------------------------
def test_summary_tiles_have_previous_change_and_tests(summary, values):
    tiles = {t.name: t for t in summary.tiles}
    assert [t.name for t in summary.tiles] == list(definitions.KPI_NAMES)
    assert summary.customers_matched == 5
    assert summary.previous_filters == PREVIOUS
    for name, value in values.items():
        assert tiles[name].value == value.value
    # previous NPS: answers 10 and 0 -> 0; change 20 points; z = 0.255655 -> not significant
    assert tiles["nps"].previous == 0.0
    assert tiles["nps"].change == 20.0
    assert tiles["nps"].change_significant is False
    # previous retention: S = {1, 2, 5, 6}, E = {1, 2, 5}, N = {} -> 3/4; churn 1/4 (customer 6)
    assert tiles["retention_rate"].previous == pytest.approx(0.75)
    assert tiles["churn_rate"].previous == pytest.approx(0.25)
    assert tiles["churn_rate"].change == pytest.approx(1 / 3 - 1 / 4)
    # previous CSAT 0 of 1; previous actives: January 6, February nobody, March 1 -> 2 / 3
    assert tiles["csat"].previous == 0.0
    assert tiles["active_customers"].previous == pytest.approx(2 / 3)
    # untested KPIs carry no significance
    assert tiles["clv"].change_significant is None and tiles["engagement"].change_significant is None
    assert tiles["ctr"].change_significant is False


def test_tile_tests_match_the_scalar_helpers(summary):
    tiles = {t.name: t for t in summary.tiles}
    # churn 1/3 vs 1/4 as proportions of 3 and 4 customers at the start
    z = formulas.two_proportion_z(1, 3, 1, 4)
    assert tiles["churn_rate"].change_significant is (abs(z) > 1.959964)
    # CTR 1/3 vs previous 1/1
    z = formulas.two_proportion_z(1, 3, 1, 1)
    assert tiles["ctr"].change_significant is (abs(z) > 1.959964)


def test_trend_has_one_row_per_month_and_matches_one_month_periods(backend, summary):
    trend = summary.trend
    assert trend.columns == ["month", *definitions.KPI_NAMES]
    assert trend.schema["month"] == pl.Date
    # 12 months back from June would start in July 2023; the data starts in January 2024
    assert trend.get_column("month").to_list() == [date(2024, m, 1) for m in range(1, 7)]
    for month in (date(2024, 2, 1), date(2024, 5, 1), date(2024, 6, 1)):
        one = executive.compute_kpis(backend, KpiFilters(month, month))
        row = trend.filter(pl.col("month") == month).row(0, named=True)
        for name in definitions.KPI_NAMES:
            assert _same(row[name], one[name].value), (month, name)
    june = trend.filter(pl.col("month") == date(2024, 6, 1)).row(0, named=True)
    # June: customers 1, 3, 4 (closing), 5; NPS answers 9 and 8 -> 50; 4 closes: churn 1/4
    assert june["nps"] == 50.0
    assert june["churn_rate"] == pytest.approx(0.25)


def test_breakdowns(summary):
    region = summary.breakdown["region"]
    assert region.columns == ["region", "customers", *definitions.KPI_NAMES]
    assert region.get_column("region").to_list() == ["East", "North", "South"]
    assert region.get_column("customers").to_list() == [1, 2, 2]
    assert region.schema["customers"] == pl.Int64
    # South: customers 2 and 5; NPS answers 3 and 7 -> -50
    assert region.filter(pl.col("region") == "South").get_column("nps").item() == -50.0
    age = summary.breakdown["age_band"]
    assert age.get_column("age_band").to_list() == ["25-34", "35-44", "45-54", "65+"]
    assert age.get_column("customers").to_list() == [2, 1, 1, 1]
    product = summary.breakdown["product"]
    # a customer-month counts under every product whose span holds it; customers = S + N:
    # current account S {1, 2} + N {3, 4}; savings S {5} + N {1} (takes it up in May); credit card N {3}
    counts = dict(zip(product.get_column("product"), product.get_column("customers"), strict=True))
    assert counts == {"credit_card": 1, "current_account": 4, "savings": 2}
    # savings: customer 1 in May and June, customer 5 in April-June -> 7 products over 5 customer-months
    savings = product.filter(pl.col("product") == "savings").row(0, named=True)
    assert savings["cross_sell"] == pytest.approx(7 / 5)


def test_movers_ranking():
    # a hand-made breakdown: region A's churn doubles on large samples (significant), region B's
    # engagement moves by 20% (untested, material), and both are small changes elsewhere
    def sums(churned: int, engagement: float) -> dict:
        base = dict.fromkeys(definitions.SUM_COLUMNS, 0)
        return base | {
            "customers": 1000,
            "customer_months": 3000,
            "months": 3,
            "at_start": 1000,
            "at_end": 1000 - churned,
            "closed": churned,
            "closed_at_start": churned,
            "engagement_sum": engagement * 3000,
        }

    now = formulas.kpis_from_sums(
        pl.DataFrame([{"region": "A", **sums(100, 30.0)}, {"region": "B", **sums(50, 36.0)}])
    )
    before = formulas.kpis_from_sums(
        pl.DataFrame([{"region": "A", **sums(50, 30.3)}, {"region": "B", **sums(50, 30.0)}])
    )
    movers = executive.compute_movers(now, before, dimension="region")
    assert movers.schema == definitions.MOVERS_SCHEMA
    first = movers.row(0, named=True)
    # churn 10% vs 5% on 1000 each: pooled 7.5%, se = sqrt(0.075 * 0.925 * 0.002) = 0.011779 -> z = 4.2448
    assert (first["value"], first["kpi"], first["significant"]) == ("A", "churn_rate", True)
    assert first["z"] == pytest.approx(4.2448, abs=1e-4)
    # retention mirrors churn here (nobody new), same |z|: ties go by KPI name
    second = movers.row(1, named=True)
    assert (second["value"], second["kpi"], second["significant"]) == ("A", "retention_rate", True)
    third = movers.row(2, named=True)
    assert (third["value"], third["kpi"], third["significant"]) == ("B", "engagement", None)
    assert third["relative_change"] == pytest.approx(0.2)
    # groups below the minimum size are left out
    small = now.with_columns(pl.lit(10).alias("customers"))
    assert executive.compute_movers(small, before, dimension="region").height == 0


def test_movers_keep_at_most_three_rows_per_kpi():
    # ten regions whose click-through rate all jumps significantly, and smaller NPS moves:
    # the top list takes three CTR rows, then the rest
    def sums(clicked: int, promoters: int) -> dict:
        base = dict.fromkeys(definitions.SUM_COLUMNS, 0)
        return base | {
            "customers": 1000,
            "customer_months": 3000,
            "months": 3,
            "offers_sent": 1000,
            "offers_clicked": clicked,
            "nps_responses": 1000,
            "nps_promoters": promoters,
        }

    regions = [f"R{i}" for i in range(10)]
    now = formulas.kpis_from_sums(
        pl.DataFrame([{"region": r, **sums(300 + i, 600)} for i, r in enumerate(regions)])
    )
    before = formulas.kpis_from_sums(pl.DataFrame([{"region": r, **sums(100, 500)} for r in regions]))
    movers = executive.compute_movers(now, before, dimension="region")
    assert movers.height == definitions.MOVERS_TOP
    per_kpi = movers.group_by("kpi").len()
    assert per_kpi.get_column("len").max() <= definitions.MOVERS_MAX_PER_KPI
    assert movers.get_column("kpi").head(3).to_list() == ["ctr"] * 3
    assert movers.get_column("value").head(3).to_list() == ["R9", "R8", "R7"]
    # without a top the ranking keeps every row
    assert (
        executive.compute_movers(now, before, dimension="region", top=None)
        .filter(pl.col("kpi") == "ctr")
        .height
        == 10
    )


def test_summary_movers_shape(summary):
    movers = summary.movers
    assert movers.columns[:7] == ["dimension", "value", "kpi", "previous", "current", "change", "significant"]
    # the fixture's groups have fewer than 30 customers: nothing is ranked
    assert movers.height == 0


def test_available_months_and_default_filters(backend):
    assert cubes.available_months(backend) == [date(2024, m, 1) for m in range(1, 7)]
    # the snapshot 2024-06-30 is the last day of June, so June is a full month
    assert cubes.default_filters(backend) == KpiFilters(date(2024, 4, 1), date(2024, 6, 1))
    assert cubes.default_filters(backend, months=12) == KpiFilters(date(2024, 1, 1), date(2024, 6, 1))


def test_default_filters_skip_a_partial_snapshot_month():
    db = Database(":memory:", threads=1)
    try:
        db.load_dataset(_tables(), meta={"as_of": "2024-06-15", "history_start": "2024-01-01"})
        assert cubes.default_filters(db.backend(), months=2) == KpiFilters(date(2024, 4, 1), date(2024, 5, 1))
    finally:
        db.close()


def test_default_filters_on_an_empty_database():
    db = Database(":memory:", threads=1)
    try:
        db.ensure_schema()
        backend = db.backend()
        assert cubes.available_months(backend) == []
        filters = cubes.default_filters(backend)
        summary = executive.compute_executive_summary(backend, filters)
        assert summary.customers_matched == 0
        assert summary.trend.height == 12
    finally:
        db.close()


def test_warm_up_runs_on_data_and_on_an_empty_database(backend):
    executive.warm_up(backend)
    db = Database(":memory:", threads=1)
    try:
        db.ensure_schema()
        executive.warm_up(db.backend())
    finally:
        db.close()


def test_no_nan_reaches_a_tile(summary):
    for tile in summary.tiles:
        for field in (tile.value, tile.ci_low, tile.ci_high, tile.previous, tile.change):
            assert field is None or math.isfinite(field)


def test_kpis_from_sums_leaves_zero_bases_undefined():
    zero = formulas.kpis_from_sums(pl.DataFrame([dict.fromkeys(definitions.SUM_COLUMNS, 0)]))
    assert zero.select(definitions.KPI_NAMES).null_count().row(0) == (1,) * len(definitions.KPI_NAMES)


# -- the sample bank against an independent pandas implementation on the raw tables ----------------
@pytest.fixture(scope="module")
def raw_bank(sample_bank_path):
    from bench.pandas_baseline import load_raw

    return load_raw(str(sample_bank_path))


def _sample_filters(backend) -> list[KpiFilters]:
    default = cubes.default_filters(backend)
    months = cubes.available_months(backend)
    return [
        default,
        KpiFilters(
            default.start_month, default.end_month, regions=("North", "Capital"), products=("credit_card",)
        ),
        KpiFilters(months[-12], months[-1], age_bands=("25-34", "65+")),
        KpiFilters(months[8], months[8], regions=("South",), products=("mortgage", "savings")),
    ]


@pytest.mark.parametrize("case", range(4))
def test_summary_matches_pandas_on_the_raw_tables(sample_db, raw_bank, case):
    from bench.pandas_baseline import compare, compute_summary

    filters = _sample_filters(sample_db.backend())[case]
    summary = executive.compute_executive_summary(sample_db.backend(), filters)
    baseline = compute_summary(raw_bank, filters)
    checked, worst, problems = compare(summary, baseline, tol=1e-9)
    assert summary.customers_matched > 0
    assert checked > 100
    assert problems == [], problems[:5]


def _sample_products(sample_db) -> list[str]:
    holdings = sample_db.backend().table("holdings")
    return holdings.select("product_id").distinct().order_by("product_id").to_polars().to_series().to_list()


def test_every_product_filter_matches_pandas_and_keeps_retention_at_most_one(sample_db, raw_bank):
    # pandas reads only the raw tables and writes the span definition again (bench.pandas_baseline)
    from bench.pandas_baseline import compare, compute_summary

    backend = sample_db.backend()
    default = cubes.default_filters(backend)
    products = _sample_products(sample_db)
    assert len(products) >= 3
    unfiltered = executive.compute_executive_summary(backend, default).breakdown["product"]
    for product in products:
        filters = KpiFilters(default.start_month, default.end_month, products=(product,))
        summary = executive.compute_executive_summary(backend, filters)
        checked, _, problems = compare(summary, compute_summary(raw_bank, filters), tol=1e-9)
        assert checked > 100 and problems == [], (product, problems[:5])
        tiles = {t.name: t for t in summary.tiles}
        # retention of the product's holders: take-up is new, so it cannot exceed 1
        for value in (tiles["retention_rate"].value, tiles["retention_rate"].previous):
            assert value is None or value <= 1.0, product
        trend = summary.trend.get_column("retention_rate").drop_nulls()
        assert (trend <= 1.0).all(), product
        # the breakdown row of the product is the page filtered on it
        row = unfiltered.filter(pl.col("product") == product).row(0, named=True)
        assert row["customers"] == summary.customers_matched
        for name in definitions.KPI_NAMES:
            assert _same(row[name], tiles[name].value), (product, name)
    assert (unfiltered.get_column("retention_rate").drop_nulls() <= 1.0).all()


def test_sample_bank_kpis_are_plausible(sample_db):
    summary = executive.compute_executive_summary(
        sample_db.backend(), cubes.default_filters(sample_db.backend())
    )
    tiles = {t.name: t for t in summary.tiles}
    assert -100 <= tiles["nps"].ci_low < tiles["nps"].value < tiles["nps"].ci_high <= 100
    assert 0 < tiles["churn_rate"].value < 0.2 and 0.8 < tiles["retention_rate"].value <= 1
    assert tiles["clv"].value > 0 and 1 <= tiles["cross_sell"].value <= 7
    assert 0 < tiles["engagement"].value < 100
    assert 0 < tiles["active_customers"].value <= summary.customers_matched
    assert summary.trend.height >= 12
    assert summary.movers.height == definitions.MOVERS_TOP
    assert set(summary.breakdown["region"].get_column("region")) <= {
        "Capital",
        "North",
        "South",
        "East",
        "West",
        "Central",
    }


def test_incident_month_shows_in_the_nps_trend(sample_db, sample_truth):
    incident = sample_truth.get("incident_month")
    assert incident, "the sample bank plants an incident month"
    month = date.fromisoformat(incident["month"] + "-01")
    months = cubes.available_months(sample_db.backend())
    end = months[min(months.index(month) + 3, len(months) - 1)]
    trend = cubes.compute_trend(sample_db.backend(), KpiFilters(month, end))
    nps = dict(zip(trend.get_column("month"), trend.get_column("nps"), strict=True))
    around = [date.fromisoformat(m + "-01") for m in incident["baseline_months"]]
    baseline = sum(nps[m] for m in around) / len(around)
    assert baseline - nps[month] >= 10
    for neighbour in (
        formulas.previous_period(KpiFilters(month, month)).start_month,
        months[months.index(month) + 1],
    ):
        assert nps[neighbour] - nps[month] >= 10
    # the same definition as the truth file: every NPS answer of the month, while a customer
    assert nps[month] == pytest.approx(incident["realized"]["nps_month"], abs=0.005)


def test_a_previous_period_before_the_data_gives_no_changes_or_movers(sample_db):
    from analytics.common.types import KpiFilters
    from analytics.kpis.cubes import available_months
    from analytics.kpis.summary import compute_executive_summary

    months = available_months(sample_db.backend())
    # 20 months whose previous 20 months start long before the first month of data.
    filters = KpiFilters(start_month=months[4], end_month=months[-1])
    summary = compute_executive_summary(sample_db.backend(), filters)
    assert summary.previous_complete is False
    assert all(
        t.previous is None and t.change is None and t.change_significant is None for t in summary.tiles
    )
    assert summary.movers.height == 0
    assert next(t for t in summary.tiles if t.name == "nps").value is not None
    covered = compute_executive_summary(
        sample_db.backend(), KpiFilters(start_month=months[-3], end_month=months[-1])
    )
    assert covered.previous_complete is True and covered.movers.height > 0
