"""NPS drill-down: promoters, passives and detractors over time and by group, with tests.

The executive tile gives one NPS for a period; this module answers *where* it comes
from and whether a difference is more than noise:

- :func:`compute_nps_drilldown` counts the answers of the period, of the previous period
  and of every month of a trend window, overall and by group (survey channel, touchpoint,
  region, age band, product held, customer segment), with 95% intervals, the change against
  the previous period and each group against the rest of the customers, tested;
- :func:`compare_nps` tests two samples of answers (two periods or two groups);
- :func:`nps_comments` returns the comments behind any bar of those charts.

The answers are the NPS survey answers (``survey_type = 'nps'``) given in a month in which
the respondent was a customer inside the filters: the rows of
:func:`analytics.kpis.cubes.customer_month_rows` (so that the overall NPS equals the executive tile
for the same filters, product spans included). Promoters score 9-10, passives 7-8,
detractors 0-6. The statistics are those of :func:`analytics.kpis.formulas.nps_interval`
(docs/kpis.md); docs/nps.md has the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import polars as pl
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics.common.docs import shared_docs
from analytics.common.formatting import format_period
from analytics.common.months import add_months
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.cubes import available_months, customer_month_rows
from analytics.kpis.definitions import CONFIDENCE_LEVEL, DEFAULT_TREND_MONTHS, SIGNIFICANCE_LEVEL
from analytics.kpis.formulas import nps_difference_z, nps_interval, previous_period

NpsDimension = Literal["channel", "touchpoint", "region", "age_band", "product", "segment"]
NPS_DIMENSIONS: tuple[str, ...] = get_args(NpsDimension)
"""Groups the answers can be broken down by (``segment`` needs a segment assignment)."""

DIMENSION_LABELS: dict[str, str] = {
    "channel": "Survey channel",
    "touchpoint": "Touchpoint",
    "region": "Region",
    "age_band": "Age band",
    "product": "Product held",
    "segment": "Segment",
}

NpsCategory = Literal["promoter", "passive", "detractor"]
NPS_CATEGORIES: tuple[str, ...] = get_args(NpsCategory)

MIN_GROUP_ANSWERS = 30
"""Below this many answers a group's NPS is shown but flagged as too small to read."""

NO_SEGMENT = "(no segment)"
"""Group of answers whose respondent has no segment in the assignment given."""

MAX_COMMENTS = 500

MSG_UNKNOWN_DIMENSION = "Unknown NPS breakdown {dimension!r}: choose one of {choices}."
MSG_SEGMENTS_NEEDED = "The segment breakdown needs a segment assignment (customer_id, segment)."
MSG_SEGMENT_COLUMNS = (
    "The segment assignment must have the columns customer_id and segment; it has {columns}."
)
MSG_UNKNOWN_CATEGORY = "Unknown NPS category {category!r}: choose one of promoter, passive, detractor."
MSG_BAD_LIMIT = "The number of comments must be between 1 and {most}, got {limit}."
MSG_NO_ANSWERS = "no NPS answers"
MSG_SMALL_GROUP = "fewer than {n} answers: too few to read"

_COUNT_SCHEMA = pl.Schema({"answers": pl.Int64, "promoters": pl.Int64, "detractors": pl.Int64})


@dataclass(frozen=True)
class NpsCounts:
    """One sample of NPS answers and its score.

    Parameters
    ----------
    answers, promoters, passives, detractors : int
        Answers, and answers scoring 9-10, 7-8 and 0-6.
    nps : float or None
        100 x (promoters - detractors) / answers; None without answers.
    ci_low, ci_high : float or None
        95% normal-approximation interval (:func:`analytics.kpis.formulas.nps_interval`).
    """

    answers: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def from_counts(cls, promoters: int, passives: int, detractors: int) -> NpsCounts:
        """Score a sample given its three counts.

        Examples
        --------
        >>> NpsCounts.from_counts(50, 30, 20).nps
        30.0
        """
        nps, low, high = nps_interval(promoters, passives, detractors, level=CONFIDENCE_LEVEL)
        return cls(
            answers=promoters + passives + detractors,
            promoters=promoters,
            passives=passives,
            detractors=detractors,
            nps=nps,
            ci_low=low,
            ci_high=high,
        )

    def shares(self) -> tuple[float | None, float | None, float | None]:
        """Shares of promoters, passives and detractors (None without answers)."""
        if self.answers == 0:
            return None, None, None
        n = self.answers
        return self.promoters / n, self.passives / n, self.detractors / n


@dataclass(frozen=True)
class NpsComparison:
    """Two samples of answers compared: is the NPS difference more than noise?

    Parameters
    ----------
    label_a, label_b : str
        What the two samples are (a period, a group).
    a, b : NpsCounts
        The samples.
    difference : float or None
        ``a.nps - b.nps`` in points.
    ci_low, ci_high : float or None
        95% interval of the difference (normal approximation, independent samples).
    z : float or None
        Two-sample z statistic (:func:`analytics.kpis.formulas.nps_difference_z`).
    p_value : float or None
        Two-sided p-value of z.
    chi2_p_value : float or None
        Pearson chi-square test that the promoter/passive/detractor mix is the same in
        both samples (scipy's ``chi2_contingency``); a second reading that also sees a
        change in the mix that leaves the NPS unchanged.
    significant : bool or None
        ``p_value < 0.05``; None when the test is undefined.
    note : str or None
        Why the test is undefined, or a warning about a small sample.
    """

    label_a: str
    label_b: str
    a: NpsCounts
    b: NpsCounts
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    z: float | None
    p_value: float | None
    chi2_p_value: float | None
    significant: bool | None
    note: str | None = None


@dataclass(frozen=True)
class NpsDrillDown:
    """Everything the NPS section of the KPIs page shows for one set of filters.

    Parameters
    ----------
    filters, previous_filters : KpiFilters
        The period and the one before it (same slices).
    current, previous : NpsCounts
        The answers of each period.
    change : NpsComparison
        The period against the previous one.
    trend : polars.DataFrame
        One row per month of the window: ``month`` and the columns of :data:`GROUP_COLUMNS`
        (nulls where a month has no answer).
    breakdowns : dict of str to polars.DataFrame
        One frame per dimension asked for: ``group`` and :data:`GROUP_COLUMNS` for the
        period, ``previous_nps, change, change_p_value, change_significant`` against the
        previous period, ``vs_rest_difference, vs_rest_p_value, vs_rest_p_holm,
        vs_rest_significant`` against the rest of the answers (Holm-adjusted over the
        dimension's groups), and ``small`` (fewer than :data:`MIN_GROUP_ANSWERS` answers).
    trend_by : dict of str to polars.DataFrame
        Monthly counts by group for the dimensions asked for: ``month, group`` and
        :data:`GROUP_COLUMNS`.
    """

    filters: KpiFilters
    previous_filters: KpiFilters
    current: NpsCounts
    previous: NpsCounts
    change: NpsComparison
    trend: pl.DataFrame
    breakdowns: dict[str, pl.DataFrame]
    trend_by: dict[str, pl.DataFrame]


GROUP_COLUMNS: tuple[str, ...] = (
    "answers",
    "promoters",
    "passives",
    "detractors",
    "promoter_share",
    "passive_share",
    "detractor_share",
    "nps",
    "ci_low",
    "ci_high",
)


# -- statistics (no database) ---------------------------------------------------------------------
def compare_nps(a: NpsCounts, b: NpsCounts, *, label_a: str = "a", label_b: str = "b") -> NpsComparison:
    """Test whether two samples of answers have different NPS.

    The difference ``NPS_a - NPS_b`` has variance ``Var_a + Var_b`` (independent samples,
    each as in :func:`analytics.kpis.formulas.nps_interval`); z is the difference over its standard
    error and the interval is the difference +/- 1.96 standard errors. This is the
    two-sample z-test of the means of answers scored +1 / 0 / -1 with each sample's
    variance taken with divisor n, which the tests check against statsmodels.

    Parameters
    ----------
    a, b : NpsCounts
        The two samples.
    label_a, label_b : str
        Names for the result.

    Returns
    -------
    NpsComparison
        Difference, interval, z, p-values; undefined parts None with a note.

    Examples
    --------
    >>> result = compare_nps(NpsCounts.from_counts(60, 25, 15), NpsCounts.from_counts(45, 30, 25))
    >>> round(result.difference, 1), result.significant
    (25.0, True)
    """
    if a.answers == 0 or b.answers == 0:
        return NpsComparison(label_a, label_b, a, b, None, None, None, None, None, None, None, MSG_NO_ANSWERS)
    difference = float(a.nps) - float(b.nps)
    z = nps_difference_z((a.promoters, a.passives, a.detractors), (b.promoters, b.passives, b.detractors))
    low = high = p_value = None
    if z is not None and z != 0.0:
        se = abs(difference / z)
        half = NormalDist().inv_cdf(0.5 + CONFIDENCE_LEVEL / 2.0) * se
        low, high = difference - half, difference + half
        p_value = 2.0 * NormalDist().cdf(-abs(z))
    elif z == 0.0:
        low = high = difference
        p_value = 1.0
    chi2_p = _mix_test(a, b)
    small = min(a.answers, b.answers) < MIN_GROUP_ANSWERS
    note = MSG_SMALL_GROUP.format(n=MIN_GROUP_ANSWERS) if small else None
    return NpsComparison(
        label_a=label_a,
        label_b=label_b,
        a=a,
        b=b,
        difference=difference,
        ci_low=low,
        ci_high=high,
        z=z,
        p_value=p_value,
        chi2_p_value=chi2_p,
        significant=None if p_value is None else p_value < SIGNIFICANCE_LEVEL,
        note=note,
    )


def _mix_test(a: NpsCounts, b: NpsCounts) -> float | None:
    table = [[a.promoters, a.passives, a.detractors], [b.promoters, b.passives, b.detractors]]
    # Categories nobody chose carry no information and would make the expected counts zero.
    columns = [j for j in range(3) if table[0][j] + table[1][j] > 0]
    if len(columns) < 2:
        return 1.0
    reduced = [[row[j] for j in columns] for row in table]
    return float(stats.chi2_contingency(reduced, correction=False).pvalue)


def score_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Add passives, shares, NPS and its 95% interval to rows of answer counts.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows with ``answers``, ``promoters`` and ``detractors`` (integers) and any keys.

    Returns
    -------
    polars.DataFrame
        The keys followed by :data:`GROUP_COLUMNS`; shares, NPS and interval are null
        for a row without answers.

    Examples
    --------
    >>> out = score_counts(pl.DataFrame({"answers": [100], "promoters": [50], "detractors": [20]}))
    >>> out.select("passives", "nps").row(0)
    (30, 30.0)
    """
    keys = [c for c in frame.columns if c not in _COUNT_SCHEMA]
    out = frame.with_columns(
        pl.col("answers", "promoters", "detractors").fill_null(0).cast(pl.Int64)
    ).with_columns(passives=pl.col("answers") - pl.col("promoters") - pl.col("detractors"))
    n = pl.col("answers").cast(pl.Float64)
    defined = pl.col("answers") > 0
    p, d = pl.col("promoters") / n, pl.col("detractors") / n
    nps = 100.0 * (p - d)
    # Same interval as analytics.kpis.formulas.nps_interval, vectorized (the tests check they agree).
    half = (
        NormalDist().inv_cdf(0.5 + CONFIDENCE_LEVEL / 2.0)
        * 100.0
        * ((p + d - (p - d) ** 2).clip(0.0) / n).sqrt()
    )
    return out.select(
        *keys,
        "answers",
        "promoters",
        "passives",
        "detractors",
        pl.when(defined).then(p).alias("promoter_share"),
        pl.when(defined).then(pl.col("passives") / n).alias("passive_share"),
        pl.when(defined).then(d).alias("detractor_share"),
        pl.when(defined).then(nps).alias("nps"),
        pl.when(defined).then((nps - half).clip(-100.0, 100.0)).alias("ci_low"),
        pl.when(defined).then((nps + half).clip(-100.0, 100.0)).alias("ci_high"),
    )


# -- database reads ---------------------------------------------------------------------------
@shared_docs
def nps_answers(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    first: date,
    last: date,
    dimension: str | None = None,
    segments: pl.DataFrame | None = None,
) -> ir.Table:
    """NPS answers of months ``first..last`` by customers inside the filters, as an Ibis table.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Slices (the months come from ``first`` and ``last``).
    first, last : datetime.date
        First and last month, inclusive.
    dimension : str or None
        Adds a ``group`` column: the survey's channel or touchpoint, the customer's region
        or age band, each product held in the answer's month (an answer counts once per
        product, so product groups overlap), or the segment from ``segments``.
    segments : polars.DataFrame or None
        ``customer_id, segment`` for the ``segment`` dimension; respondents missing from
        it fall in :data:`NO_SEGMENT`.

    Returns
    -------
    ibis.Table
        ``survey_id, customer_id, ts, month, score, category, channel, touchpoint,
        comment`` and ``group`` when a dimension is given.
    """
    if dimension is not None:
        _check_dimension(dimension)
    sv = backend.table("surveys")
    month = sv.ts.truncate("M").cast("date")
    sv = sv.filter(
        sv.survey_type == "nps",
        month >= ibis.literal(first, type="date"),
        month <= ibis.literal(last, type="date"),
    ).mutate(month=month)
    cm = customer_month_rows(backend, filters, first, last).select(
        "customer_id", "month", "region", "age_band"
    )
    rows = sv.join(cm, [sv.customer_id == cm.customer_id, sv.month == cm.month]).select(
        sv.survey_id,
        sv.customer_id,
        sv.ts,
        sv.month,
        sv.score,
        sv.channel,
        sv.touchpoint,
        sv.comment,
        cm.region,
        cm.age_band,
    )
    category = ibis.cases((rows.score >= 9, "promoter"), (rows.score <= 6, "detractor"), else_="passive")
    rows = rows.mutate(category=category)
    if dimension in {"channel", "touchpoint", "region", "age_band"}:
        rows = rows.mutate(group=rows[dimension])
    elif dimension == "product":
        ho = backend.table("holdings")
        held = rows.join(
            ho,
            [
                rows.customer_id == ho.customer_id,
                ho.opened_at.truncate("M").cast("date") <= rows.month,
                ho.closed_at.isnull() | (ho.closed_at.truncate("M").cast("date") >= rows.month),
            ],
        )
        # A customer holding two accounts of one product answers once for it.
        rows = held.select(*[held[c] for c in rows.columns], group=held.product_id).distinct()
    elif dimension == "segment":
        assignment = _segment_table(segments)
        joined = rows.left_join(assignment, rows.customer_id == assignment.customer_id)
        rows = joined.select(*[joined[c] for c in rows.columns], group=joined.segment.fill_null(NO_SEGMENT))
    return rows.drop("region", "age_band")


def _check_dimension(dimension: str) -> None:
    if dimension not in NPS_DIMENSIONS:
        raise ValueError(MSG_UNKNOWN_DIMENSION.format(dimension=dimension, choices=", ".join(NPS_DIMENSIONS)))


def _segment_table(segments: pl.DataFrame | None) -> ir.Table:
    if segments is None:
        raise ValueError(MSG_SEGMENTS_NEEDED)
    if not {"customer_id", "segment"} <= set(segments.columns):
        raise ValueError(MSG_SEGMENT_COLUMNS.format(columns=", ".join(segments.columns) or "none"))
    frame = segments.select(pl.col("customer_id").cast(pl.Int64), pl.col("segment").cast(pl.String))
    return ibis.memtable(frame.unique("customer_id", keep="first"))


def _counts(rows: ir.Table, keys: list[str]) -> pl.DataFrame:
    out = rows.group_by(keys).aggregate(
        answers=rows.count(),
        promoters=(rows.category == "promoter").sum(),
        detractors=(rows.category == "detractor").sum(),
    )
    return out.to_polars()


@shared_docs
def compute_nps_drilldown(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    dimensions: tuple[str, ...] = ("channel", "touchpoint", "region", "age_band", "product"),
    segments: pl.DataFrame | None = None,
    trend_months: int = DEFAULT_TREND_MONTHS,
) -> NpsDrillDown:
    """NPS of the period: overall, over time and by group, with intervals and tests.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices.
    dimensions : tuple of str
        Breakdowns to compute (:data:`NPS_DIMENSIONS`); ``segment`` needs ``segments``.
    segments : polars.DataFrame or None
        ``customer_id, segment`` assignment for the ``segment`` breakdown.
    trend_months : int
        The trend covers at least this many months up to the period's end (never before
        the first month with data) and always the whole period.

    Returns
    -------
    NpsDrillDown
        Overall counts of both periods, their comparison, the trend and the breakdowns.
    """
    filters = normalize_filters(filters)
    for dimension in dimensions:
        _check_dimension(dimension)
    previous = previous_period(filters)
    window = _trend_window(backend, filters, trend_months)
    first = min(window[0], previous.start_month)

    answers = nps_answers(backend, filters, first=first, last=filters.end_month)
    monthly = _counts(answers, ["month"])
    current = _sample(monthly, filters.start_month, filters.end_month)
    before = _sample(monthly, previous.start_month, previous.end_month)
    change = compare_nps(current, before, label_a=_period_label(filters), label_b=_period_label(previous))
    grid = pl.DataFrame({"month": window}, schema={"month": pl.Date})
    trend = score_counts(grid.join(monthly, on="month", how="left"))

    breakdowns: dict[str, pl.DataFrame] = {}
    trend_by: dict[str, pl.DataFrame] = {}
    for dimension in dimensions:
        rows = nps_answers(
            backend, filters, first=first, last=filters.end_month, dimension=dimension, segments=segments
        )
        by_month = _counts(rows, ["month", "group"])
        breakdowns[dimension] = _breakdown(by_month, filters, previous, total=current)
        trend_by[dimension] = score_counts(
            by_month.filter(pl.col("month") >= window[0])
            .sort("month", "group")
            .select("month", "group", *_COUNT_SCHEMA)
        )
    return NpsDrillDown(
        filters=filters,
        previous_filters=previous,
        current=current,
        previous=before,
        change=change,
        trend=trend,
        breakdowns=breakdowns,
        trend_by=trend_by,
    )


@shared_docs
def nps_comments(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    dimension: str | None = None,
    group: str | None = None,
    month: date | None = None,
    category: str | None = None,
    segments: pl.DataFrame | None = None,
    limit: int = 100,
) -> pl.DataFrame:
    """The comments behind one bar: answers with text, newest first.

    Personal data is not masked here: the caller masks it for the viewer's role
    (:func:`analytics.access.privacy.redact_comments`).

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices; ``month`` narrows the period to one month.
    dimension, group : str or None
        A breakdown and one of its groups (both or neither).
    month : datetime.date or None
        One month (any day of it) instead of the whole period.
    category : str or None
        ``promoter``, ``passive`` or ``detractor``.
    segments : polars.DataFrame or None
        Segment assignment for the ``segment`` dimension.
    limit : int
        Most comments returned (1 to :data:`MAX_COMMENTS`).

    Returns
    -------
    polars.DataFrame
        ``survey_id, customer_id, first_name, last_name, ts, score, category, channel,
        touchpoint, comment`` (the names are there for redaction) and ``total``, the number
        of comments matching (more than the rows returned when the limit cuts).
    """
    filters = normalize_filters(filters)
    if not 1 <= limit <= MAX_COMMENTS:
        raise ValueError(MSG_BAD_LIMIT.format(most=MAX_COMMENTS, limit=limit))
    if category is not None and category not in NPS_CATEGORIES:
        raise ValueError(MSG_UNKNOWN_CATEGORY.format(category=category))
    first, last = filters.start_month, filters.end_month
    if month is not None:
        first = last = month.replace(day=1)
    rows = nps_answers(
        backend,
        filters,
        first=first,
        last=last,
        dimension=dimension if group is not None else None,
        segments=segments,
    )
    rows = rows.filter(rows.comment.notnull())
    if group is not None:
        rows = rows.filter(rows.group == group)
    if category is not None:
        rows = rows.filter(rows.category == category)
    customers = backend.table("customers").select("customer_id", "first_name", "last_name")
    rows = rows.join(customers, "customer_id")
    total = rows.count().to_polars()
    frame = (
        rows.order_by([ibis.desc("ts"), "survey_id"])
        .limit(limit)
        .select(
            "survey_id",
            "customer_id",
            "first_name",
            "last_name",
            "ts",
            "score",
            "category",
            "channel",
            "touchpoint",
            "comment",
        )
        .to_polars()
    )
    return frame.with_columns(total=pl.lit(int(total), dtype=pl.Int64))


# -- private ------------------------------------------------------------------------------------
def _trend_window(backend: ibis.BaseBackend, filters: KpiFilters, months: int) -> list[date]:
    start = min(filters.start_month, add_months(filters.end_month, -(max(months, 1) - 1)))
    present = available_months(backend)
    if present:
        start = max(start, min(present[0], filters.start_month))
    out, month = [], start
    while month <= filters.end_month:
        out.append(month)
        month = add_months(month, 1)
    return out


def _sample(monthly: pl.DataFrame, first: date, last: date) -> NpsCounts:
    rows = monthly.filter(pl.col("month").is_between(first, last))
    answers, promoters, detractors = (int(rows.get_column(c).sum() or 0) for c in _COUNT_SCHEMA)
    return NpsCounts.from_counts(promoters, answers - promoters - detractors, detractors)


def _breakdown(
    by_month: pl.DataFrame, filters: KpiFilters, previous: KpiFilters, *, total: NpsCounts
) -> pl.DataFrame:
    def period_counts(first: date, last: date) -> pl.DataFrame:
        return (
            by_month.filter(pl.col("month").is_between(first, last))
            .group_by("group")
            .agg(pl.col(*_COUNT_SCHEMA).sum())
        )

    now = period_counts(filters.start_month, filters.end_month)
    before = period_counts(previous.start_month, previous.end_month)
    # The rest is every other answer of the period, from the period's own counts: product
    # groups overlap (an answer counts once per product held), so summing groups would not do.
    total_counts = (total.answers, total.promoters, total.detractors)
    rows = []
    for group, answers, promoters, detractors in now.sort("group").iter_rows():
        here = NpsCounts.from_counts(promoters, answers - promoters - detractors, detractors)
        earlier = before.filter(pl.col("group") == group)
        if earlier.height:
            a0, p0, d0 = earlier.select(*_COUNT_SCHEMA).row(0)
        else:
            a0 = p0 = d0 = 0
        against_previous = compare_nps(here, NpsCounts.from_counts(p0, a0 - p0 - d0, d0))
        ra, rp, rd = total_counts[0] - answers, total_counts[1] - promoters, total_counts[2] - detractors
        against_rest = compare_nps(here, NpsCounts.from_counts(rp, ra - rp - rd, rd))
        rows.append(
            {
                "group": group,
                "answers": answers,
                "promoters": promoters,
                "detractors": detractors,
                "previous_nps": against_previous.b.nps,
                "change": against_previous.difference,
                "change_p_value": against_previous.p_value,
                "change_significant": against_previous.significant,
                "vs_rest_difference": against_rest.difference,
                "vs_rest_p_value": against_rest.p_value,
            }
        )
    schema = {
        "group": pl.String,
        **_COUNT_SCHEMA,
        "previous_nps": pl.Float64,
        "change": pl.Float64,
        "change_p_value": pl.Float64,
        "change_significant": pl.Boolean,
        "vs_rest_difference": pl.Float64,
        "vs_rest_p_value": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    scored = score_counts(frame.select("group", *_COUNT_SCHEMA)).join(
        frame.drop(*_COUNT_SCHEMA), on="group", how="left", maintain_order="left"
    )
    holm = _holm(scored.get_column("vs_rest_p_value"))
    return scored.with_columns(
        vs_rest_p_holm=holm,
        vs_rest_significant=holm < SIGNIFICANCE_LEVEL,
        small=pl.col("answers") < MIN_GROUP_ANSWERS,
    )


def _holm(p_values: pl.Series) -> pl.Series:
    """Holm-adjusted p-values (statsmodels), nulls kept where a test is undefined."""
    out = [None] * len(p_values)
    present = [(i, p) for i, p in enumerate(p_values.to_list()) if p is not None and not math.isnan(p)]
    if present:
        adjusted = multipletests([p for _, p in present], method="holm")[1]
        for (i, _), value in zip(present, adjusted, strict=True):
            out[i] = float(value)
    return pl.Series("vs_rest_p_holm", out, dtype=pl.Float64)


def _period_label(filters: KpiFilters) -> str:
    return format_period(filters.start_month, filters.end_month)
