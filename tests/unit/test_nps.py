"""NPS drill-down: the tests against statsmodels and hand-worked values, the breakdowns
against an independent polars computation on the raw tables, the planted incident month,
comments and their redaction."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analytics.access.privacy import (
    REDACTED_EMAIL,
    REDACTED_NAME,
    REDACTED_PHONE,
    redact_comments,
    redact_text,
)
from analytics.common.types import KpiFilters
from analytics.kpis import definitions, formulas, nps
from analytics.kpis import summary as executive

PERIOD = KpiFilters(start_month=date(2026, 8, 1), end_month=date(2026, 10, 1))


def _scores(promoters: int, passives: int, detractors: int) -> np.ndarray:
    return np.r_[np.ones(promoters), np.zeros(passives), -np.ones(detractors)]


# -- statistics ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b"), [((60, 25, 15), (45, 30, 25)), ((400, 350, 250), (380, 300, 320))])
def test_compare_nps_is_the_two_sample_z_test_of_the_scored_answers(a, b):
    x, y = _scores(*a), _scores(*b)
    result = nps.compare_nps(nps.NpsCounts.from_counts(*a), nps.NpsCounts.from_counts(*b))
    # Independent computation from the raw answers (population variances, as nps_interval).
    se = np.sqrt(x.var() / x.size + y.var() / y.size)
    z = (x.mean() - y.mean()) / se
    assert result.difference == pytest.approx(100 * (x.mean() - y.mean()), abs=1e-9)
    assert result.z == pytest.approx(z, abs=1e-9)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-12)
    assert result.ci_low == pytest.approx(100 * (x.mean() - y.mean() - 1.959963984540054 * se), abs=1e-7)
    # statsmodels' z-test divides each variance by n - 1 instead of n: the same test up to that.
    sm_z, sm_p = CompareMeans(DescrStatsW(x, ddof=0), DescrStatsW(y, ddof=0)).ztest_ind(usevar="unequal")
    correction = np.sqrt((x.var() / (x.size - 1) + y.var() / (y.size - 1)) / (se**2))
    assert result.z == pytest.approx(sm_z * correction, rel=1e-9)
    # The mix test is Pearson's chi-square on the 2 x 3 table.
    expected_chi2 = stats.chi2_contingency([list(a), list(b)], correction=False).pvalue
    assert result.chi2_p_value == pytest.approx(expected_chi2, rel=1e-12)


def test_compare_nps_handles_empty_and_degenerate_samples():
    empty = nps.compare_nps(nps.NpsCounts.from_counts(0, 0, 0), nps.NpsCounts.from_counts(5, 0, 0))
    assert empty.difference is None and empty.significant is None and empty.note == nps.MSG_NO_ANSWERS
    same = nps.compare_nps(nps.NpsCounts.from_counts(40, 0, 0), nps.NpsCounts.from_counts(50, 0, 0))
    assert same.difference == 0.0 and same.p_value == 1.0 and same.significant is False
    small = nps.compare_nps(nps.NpsCounts.from_counts(5, 3, 2), nps.NpsCounts.from_counts(50, 30, 20))
    assert small.note == nps.MSG_SMALL_GROUP.format(n=nps.MIN_GROUP_ANSWERS)


def test_score_counts_matches_nps_interval_row_by_row():
    counts = pl.DataFrame(
        {
            "g": ["a", "b", "c", "d"],
            "answers": [6, 100, 0, 3],
            "promoters": [3, 10, 0, 3],
            "detractors": [1, 70, 0, 0],
        }
    )
    scored = nps.score_counts(counts)
    for row in scored.iter_rows(named=True):
        expected = formulas.nps_interval(row["promoters"], row["passives"], row["detractors"])
        assert (row["nps"], row["ci_low"], row["ci_high"]) == pytest.approx(expected, abs=1e-9)
    # whuber's worked example (Cross Validated): shares 1/2, 1/3, 1/6 -> variance 5/9 per answer.
    first = scored.row(0, named=True)
    assert first["promoter_share"] == pytest.approx(0.5) and first["passive_share"] == pytest.approx(1 / 3)
    assert (first["nps"] - first["ci_low"]) / 1.959963984540054 == pytest.approx(100 * np.sqrt(5 / 9 / 6))


def test_holm_adjustment_matches_the_hand_computation():
    # Holm: sort 0.01, 0.03, 0.04 -> 0.01*3, 0.03*2, max(0.04*1, previous) = 0.03, 0.06, 0.06.
    adjusted = nps._holm(pl.Series([0.01, 0.04, None, 0.03]))
    assert adjusted.to_list() == pytest.approx([0.03, 0.06, None, 0.06])


# -- the sample bank against the raw tables ----------------------------------------------------
def _raw_answers(sample_db, first: date, last: date) -> pl.DataFrame:
    """NPS answers given while the respondent was a customer, joined to their record, in polars."""
    surveys = sample_db.query("SELECT * FROM surveys WHERE survey_type = 'nps'")
    customers = sample_db.query("SELECT customer_id, region, joined_at, closed_at FROM customers")
    return (
        surveys.with_columns(month=pl.col("ts").dt.date().dt.truncate("1mo"))
        .filter(pl.col("month").is_between(first, last))
        .join(customers, on="customer_id")
        .filter(
            pl.col("joined_at").dt.truncate("1mo") <= pl.col("month"),
            pl.col("closed_at").is_null() | (pl.col("closed_at").dt.truncate("1mo") >= pl.col("month")),
        )
    )


def _tally(frame: pl.DataFrame, key: str) -> dict:
    out = frame.group_by(key).agg(
        answers=pl.len(), promoters=(pl.col("score") >= 9).sum(), detractors=(pl.col("score") <= 6).sum()
    )
    return {row[0]: tuple(int(v) for v in row[1:]) for row in out.iter_rows()}


@pytest.fixture(scope="module")
def drilldown(sample_db):
    return nps.compute_nps_drilldown(sample_db.backend(), PERIOD)


def _nps_tile(backend, filters: KpiFilters) -> definitions.KpiValue:
    """The executive summary's NPS tile (the app's computation) for ``filters``."""
    summary = executive.compute_executive_summary(backend, filters)
    return next(t for t in summary.tiles if t.name == "nps")


def test_overall_nps_equals_the_executive_tile(sample_db, drilldown):
    tile = _nps_tile(sample_db.backend(), PERIOD)
    assert drilldown.current.nps == pytest.approx(tile.value, abs=1e-9)
    assert drilldown.current.answers == tile.n
    assert (drilldown.current.ci_low, drilldown.current.ci_high) == pytest.approx((tile.ci_low, tile.ci_high))
    assert drilldown.previous_filters == formulas.previous_period(PERIOD)


@pytest.mark.parametrize("dimension", ["channel", "touchpoint", "region"])
def test_breakdowns_match_the_raw_tables(sample_db, drilldown, dimension):
    raw = _raw_answers(sample_db, PERIOD.start_month, PERIOD.end_month)
    expected = _tally(raw, dimension)
    frame = drilldown.breakdowns[dimension]
    got = {
        row[0]: tuple(row[1:])
        for row in frame.select("group", "answers", "promoters", "detractors").iter_rows()
    }
    assert got == expected


def test_product_breakdown_counts_each_product_held_in_the_answer_month(sample_db, drilldown):
    raw = _raw_answers(sample_db, PERIOD.start_month, PERIOD.end_month)
    holdings = sample_db.query("SELECT customer_id, product_id, opened_at, closed_at FROM holdings")
    held = (
        raw.join(holdings, on="customer_id", suffix="_holding")
        .filter(
            pl.col("opened_at").dt.truncate("1mo") <= pl.col("month"),
            pl.col("closed_at_holding").is_null()
            | (pl.col("closed_at_holding").dt.truncate("1mo") >= pl.col("month")),
        )
        .unique(["survey_id", "product_id"])
    )
    frame = drilldown.breakdowns["product"]
    got = {
        row[0]: tuple(row[1:])
        for row in frame.select("group", "answers", "promoters", "detractors").iter_rows()
    }
    assert got == _tally(held, "product_id")


def test_breakdown_tests_against_previous_period_and_the_rest(sample_db, drilldown):
    previous = formulas.previous_period(PERIOD)
    before = _tally(_raw_answers(sample_db, previous.start_month, previous.end_month), "region")
    frame = drilldown.breakdowns["region"]
    total = drilldown.current
    for row in frame.iter_rows(named=True):
        a0, p0, d0 = before[row["group"]]
        here = (row["promoters"], row["passives"], row["detractors"])
        z_prev = formulas.nps_difference_z(here, (p0, a0 - p0 - d0, d0))
        assert row["change_p_value"] == pytest.approx(2 * stats.norm.sf(abs(z_prev)), abs=1e-12)
        rest = (total.promoters - here[0], total.passives - here[1], total.detractors - here[2])
        z_rest = formulas.nps_difference_z(here, rest)
        assert row["vs_rest_p_value"] == pytest.approx(2 * stats.norm.sf(abs(z_rest)), abs=1e-12)
        assert row["vs_rest_p_holm"] >= row["vs_rest_p_value"]
    assert frame.get_column("small").dtype == pl.Boolean


def test_product_groups_overlap_so_the_rest_is_every_other_answer(sample_db, drilldown):
    # An answer counts once per product held: the rest of a product is the period's other
    # answers (total minus the group), never the sum of the other product groups.
    total = drilldown.current
    frame = drilldown.breakdowns["product"]
    assert frame.get_column("answers").sum() > total.answers  # the groups overlap
    for row in frame.iter_rows(named=True):
        here = (row["promoters"], row["passives"], row["detractors"])
        rest = (total.promoters - here[0], total.passives - here[1], total.detractors - here[2])
        rest_nps = 100.0 * (rest[0] - rest[2]) / sum(rest)
        assert row["vs_rest_difference"] == pytest.approx(row["nps"] - rest_nps, abs=1e-9)
        z = formulas.nps_difference_z(here, rest)
        assert row["vs_rest_p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-12)


def test_trend_by_month_matches_the_raw_tables(sample_db, drilldown):
    window = drilldown.trend.get_column("month").to_list()
    assert len(window) == definitions.DEFAULT_TREND_MONTHS and window[-1] == PERIOD.end_month
    raw = _raw_answers(sample_db, window[0], window[-1])
    expected = _tally(raw, "month")
    got = {
        row[0]: tuple(row[1:])
        for row in drilldown.trend.select("month", "answers", "promoters", "detractors").iter_rows()
    }
    assert got == expected


def test_segment_breakdown_uses_the_given_assignment(sample_db):
    customers = sample_db.query("SELECT customer_id FROM customers ORDER BY customer_id")
    assignment = customers.with_columns(
        segment=pl.when(pl.col("customer_id") % 2 == 0).then(pl.lit("even")).otherwise(pl.lit("odd"))
    ).filter(pl.col("customer_id") % 5 != 0)
    result = nps.compute_nps_drilldown(
        sample_db.backend(), PERIOD, dimensions=("segment",), segments=assignment
    )
    raw = _raw_answers(sample_db, PERIOD.start_month, PERIOD.end_month).with_columns(
        segment=pl.when(pl.col("customer_id") % 5 == 0)
        .then(pl.lit(nps.NO_SEGMENT))
        .when(pl.col("customer_id") % 2 == 0)
        .then(pl.lit("even"))
        .otherwise(pl.lit("odd"))
    )
    frame = result.breakdowns["segment"]
    got = {
        row[0]: tuple(row[1:])
        for row in frame.select("group", "answers", "promoters", "detractors").iter_rows()
    }
    assert got == _tally(raw, "segment")


def test_planted_incident_month_is_found_and_significant(sample_db, sample_truth):
    incident = datetime.strptime(sample_truth["incident_month"]["month"], "%Y-%m").date()
    month = KpiFilters(start_month=incident, end_month=incident)
    result = nps.compute_nps_drilldown(sample_db.backend(), month, dimensions=("channel",))
    # The month is the trend's lowest and far below the month before, beyond noise.
    trend = result.trend.drop_nulls("nps")
    assert trend.sort("nps").item(0, "month") == incident
    assert result.change.difference < -10 and result.change.significant and result.change.p_value < 1e-6
    assert result.change.chi2_p_value < 1e-6


def test_region_filter_keeps_only_that_region(sample_db):
    filters = KpiFilters(start_month=PERIOD.start_month, end_month=PERIOD.end_month, regions=("North",))
    result = nps.compute_nps_drilldown(sample_db.backend(), filters, dimensions=("region",))
    assert result.breakdowns["region"].get_column("group").to_list() == ["North"]
    assert result.current.nps == pytest.approx(_nps_tile(sample_db.backend(), filters).value, abs=1e-9)


# -- comments ----------------------------------------------------------------------------------
def test_comments_behind_a_bar_are_that_bars_answers(sample_db):
    frame = nps.nps_comments(
        sample_db.backend(), PERIOD, dimension="region", group="North", category="detractor", limit=500
    )
    raw = _raw_answers(sample_db, PERIOD.start_month, PERIOD.end_month).filter(
        pl.col("region") == "North", pl.col("score") <= 6, pl.col("comment").is_not_null()
    )
    assert set(frame.get_column("survey_id")) == set(raw.get_column("survey_id"))
    assert frame.item(0, "total") == raw.height
    assert frame.get_column("ts").is_sorted(descending=True)
    few = nps.nps_comments(sample_db.backend(), PERIOD, month=date(2026, 9, 15), limit=3)
    assert few.height == 3 and few.item(0, "total") > 3
    assert all(ts.month == 9 for ts in few.get_column("ts"))


def test_comment_redaction_per_role(sample_db):
    frame = nps.nps_comments(sample_db.backend(), PERIOD, limit=500)
    frame = frame.filter(pl.col("comment").str.contains("call me|e-mail me|Regards|My name"))
    assert frame.height > 0
    analyst = redact_comments(frame, "marketing_analyst", key=b"k")
    assert "first_name" not in analyst.columns and analyst.get_column("customer_id").dtype == pl.String
    for (first, last), text in zip(
        frame.select("first_name", "last_name").iter_rows(), analyst.get_column("comment"), strict=True
    ):
        assert first not in text and last not in text and "@" not in text
        assert any(tag in text for tag in (REDACTED_EMAIL, REDACTED_PHONE, REDACTED_NAME))
    reviewer = redact_comments(frame, "compliance_reviewer", key=b"k")
    assert reviewer.equals(frame)


def test_redact_text_examples():
    assert redact_text("Mail me at a.b-c@mail.example.nl please") == f"Mail me at {REDACTED_EMAIL} please"
    assert redact_text("Call 06-85562154 or +31650902706.") == f"Call {REDACTED_PHONE} or {REDACTED_PHONE}."
    assert (
        redact_text("Paid 1,250 euro in 2026, waited 40 minutes.")
        == "Paid 1,250 euro in 2026, waited 40 minutes."
    )
    assert redact_text("Regards, Jérôme Blanchet", names=["jérôme", "Blanchet"]) == "Regards, [name] [name]"
    assert redact_text("Mark my words about the market", names=["Mark"]) == "[name] my words about the market"
    assert redact_text(None) is None


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input_gets_clear_messages(sample_db):
    backend = sample_db.backend()
    with pytest.raises(ValueError, match="Unknown NPS breakdown 'city'"):
        nps.compute_nps_drilldown(backend, PERIOD, dimensions=("city",))
    with pytest.raises(ValueError, match="needs a segment assignment"):
        nps.compute_nps_drilldown(backend, PERIOD, dimensions=("segment",))
    with pytest.raises(ValueError, match="it has customer, group"):
        nps.compute_nps_drilldown(
            backend, PERIOD, dimensions=("segment",), segments=pl.DataFrame({"customer": [1], "group": ["a"]})
        )
    with pytest.raises(ValueError, match="between 1 and 500, got 0"):
        nps.nps_comments(backend, PERIOD, limit=0)
    with pytest.raises(ValueError, match="Unknown NPS category 'fan'"):
        nps.nps_comments(backend, PERIOD, category="fan")
    with pytest.raises(ValueError, match="starts"):
        nps.compute_nps_drilldown(
            backend, KpiFilters(start_month=date(2026, 9, 1), end_month=date(2026, 8, 1))
        )
