"""Engagement analysis: the engagement score's distribution, drivers and movement by segment.

The Customer Engagement Score is the executive KPI of docs/kpis.md: each customer-month is
scored from that month alone (:func:`analytics.kpis.rollups.engagement_parts` and
:func:`analytics.kpis.rollups.monthly_engagement_score`, the one copy of the formula) and the KPI
is the sum of the scores over the customer-months of the period. This module answers what
lies behind that number:

- :func:`compute_engagement_distribution`: how the customers spread over 0..100 (each
  customer's mean monthly score, as :func:`analytics.kpis.cubes.compute_engagement_scores`);
- :func:`compute_engagement_drivers`: the exact decomposition of the KPI into its four
  capped components, in score points, now and in the previous period, and so what drove
  the change;
- :func:`compute_engagement_movement`: the KPI per region, age band or RFM group in the
  period and the one before, with a 95% interval for the change
  (:func:`summarize_engagement_change`);
- :func:`compute_engagement_analysis`: all three from one read of ``customer_month``.

The RFM group of a customer at the end of the period (:mod:`analytics.kpis.rfm`) is one of the
breakdowns of the movement.

Every read is an Ibis expression over the rows of :func:`analytics.kpis.cubes.customer_month_rows`
(so totals equal the executive tiles for the same filters, product spans included); the
results are Polars frames. Definitions, choices and the sources
of the conventions are in docs/engagement.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import polars as pl
from scipy import stats

from analytics.common.docs import shared_docs
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis import statistics as es
from analytics.kpis.cubes import available_months, customer_month_rows
from analytics.kpis.definitions import CONFIDENCE_LEVEL, MSG_BAD_LEVEL, MSG_NO_CUSTOMERS
from analytics.kpis.formulas import previous_period
from analytics.kpis.rfm import RFM_GROUPS, compute_rfm, require_columns
from analytics.kpis.rollups import engagement_parts, monthly_engagement_score

# -- choices and constants --------------------------------------------------------------------
SegmentDimension = Literal["region", "age_band", "rfm_group"]
SEGMENT_DIMENSIONS: tuple[str, ...] = get_args(SegmentDimension)
"""Dimensions engagement can be broken down by. Gender is a protected attribute and is not offered."""

DIMENSION_LABELS: dict[str, str] = {"region": "Region", "age_band": "Age band", "rfm_group": "RFM group"}

EngagementComponent = Literal["sessions", "minutes", "products", "offers"]
ENGAGEMENT_COMPONENTS: tuple[str, ...] = get_args(EngagementComponent)
"""The four parts of the score, named as in :func:`analytics.kpis.rollups.engagement_parts`."""

COMPONENT_LABELS: dict[str, str] = {
    "sessions": "Digital sessions",
    "minutes": "Session length",
    "products": "Products held",
    "offers": "Offer interaction",
}
COMPONENT_UNITS: dict[str, str] = {
    "sessions": "sessions a month",
    "minutes": "minutes a session",
    "products": "products",
    "offers": "share of offers opened and clicked (0-1)",
}
COMPONENT_WEIGHTS: dict[str, float] = {
    "sessions": es.ENGAGEMENT_WEIGHT_SESSIONS,
    "minutes": es.ENGAGEMENT_WEIGHT_MINUTES,
    "products": es.ENGAGEMENT_WEIGHT_PRODUCTS,
    "offers": es.ENGAGEMENT_WEIGHT_OFFERS,
}
COMPONENT_CAPS: dict[str, float | None] = {
    "sessions": es.ENGAGEMENT_SESSIONS_CAP,
    "minutes": es.ENGAGEMENT_MINUTES_CAP,
    "products": es.ENGAGEMENT_PRODUCTS_CAP,
    "offers": None,
}
"""Input that earns a component's full weight; the offer interaction is a share already (no cap)."""

DEFAULT_BINS = 20
MIN_GROUP_CUSTOMERS = 30
"""Groups with fewer customers than this in either period are flagged as too small to read (not hidden)."""

NO_RFM_GROUP = "(no RFM group)"
"""Group, in engagement movement, of customers who were no longer customers at the end of the period."""

# -- messages ---------------------------------------------------------------------------------
MSG_BAD_DIMENSION = "Unknown engagement breakdown {dimension!r}: choose one of {choices}."
MSG_PROTECTED_DIMENSION = (
    "Engagement is not broken down by {dimension!r}: it is a protected attribute. Choose one of {choices}."
)
MSG_BAD_BINS = "The number of histogram bins must be a whole number from 1 to 1000, got {bins!r}."
MSG_BAD_MIN_CUSTOMERS = "The smallest readable group must be at least 2 customers, got {n!r}."
MSG_PREVIOUS_INCOMPLETE = "the data does not cover the whole previous period: no change is shown"

_PROTECTED = frozenset({"gender"})

# -- result schemas ---------------------------------------------------------------------------
HISTOGRAM_SCHEMA = pl.Schema(
    {"bin_start": pl.Float64, "bin_end": pl.Float64, "customers": pl.Int64, "share": pl.Float64}
)

DRIVERS_SCHEMA = pl.Schema(
    {
        "component": pl.String,
        "label": pl.String,
        "unit": pl.String,
        "weight": pl.Float64,
        "cap": pl.Float64,
        "mean_input": pl.Float64,
        "mean_input_previous": pl.Float64,
        "mean_capped": pl.Float64,
        "mean_capped_previous": pl.Float64,
        "points": pl.Float64,
        "points_previous": pl.Float64,
        "change": pl.Float64,
        "share_of_score": pl.Float64,
        "share_of_change": pl.Float64,
        "correlation": pl.Float64,
    }
)
"""Columns of :attr:`EngagementDrivers.components`."""

CHANGE_SCHEMA = pl.Schema(
    {
        "group": pl.String,
        "customers": pl.Int64,
        "customers_previous": pl.Int64,
        "customers_both": pl.Int64,
        "customer_months": pl.Int64,
        "customer_months_previous": pl.Int64,
        "engagement": pl.Float64,
        "engagement_previous": pl.Float64,
        "change": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "significant": pl.Boolean,
        "small_group": pl.Boolean,
    }
)
"""Columns of :func:`summarize_engagement_change` and of the movement frames."""

_SUM_COLUMNS: tuple[str, ...] = (
    "months",
    "score_sum",
    *(f"points_{k}" for k in ENGAGEMENT_COMPONENTS),
    *(f"input_{k}" for k in ENGAGEMENT_COMPONENTS),
)
_CUSTOMER_SCHEMA = pl.Schema(
    {
        "customer_id": pl.Int64,
        "region": pl.String,
        "age_band": pl.String,
        **{name: pl.Int64 if name == "months" else pl.Float64 for name in _SUM_COLUMNS},
        **{f"{name}_previous": pl.Int64 if name == "months" else pl.Float64 for name in _SUM_COLUMNS},
    }
)


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngagementDistribution:
    """How the customers of a period spread over the engagement scale.

    Each customer's engagement is the mean of their monthly scores in the period (as
    :func:`analytics.kpis.cubes.compute_engagement_scores`); the KPI weights customers by their
    months in the period instead, so ``kpi`` and ``mean`` differ slightly when some
    customers joined or left during it.

    Parameters
    ----------
    histogram : polars.DataFrame
        ``bin_start, bin_end, customers, share``: equal-width bins over 0..100, each
        holding ``bin_start <= engagement < bin_end`` (the last one also 100).
    customers : int
        Customers with at least one month in the period.
    mean, std, median, q1, q3 : float or None
        Of the customers' engagement (``std`` with n - 1; quartiles linearly interpolated,
        as numpy's default); None without customers (``std`` also with one).
    kpi : float or None
        The executive KPI: sum of monthly scores / customer-months.
    """

    histogram: pl.DataFrame
    customers: int
    mean: float | None
    std: float | None
    median: float | None
    q1: float | None
    q3: float | None
    kpi: float | None


@dataclass(frozen=True)
class EngagementDrivers:
    """The KPI split exactly into its four components, now and in the previous period.

    The score is a weighted sum of four capped parts, so the KPI is the sum of the
    components' contributions (in score points) and its change the sum of theirs.

    Parameters
    ----------
    components : polars.DataFrame
        One row per component (:data:`ENGAGEMENT_COMPONENTS`), columns
        :data:`DRIVERS_SCHEMA`: ``mean_input`` the mean uncapped monthly input over the
        customer-months (sessions a month, minutes a session with 0 for months without a
        session, products held, offer interaction with 0.5 for months without an offer);
        ``mean_capped`` the mean capped part (0..1); ``points = 100 x weight x
        mean_capped``, the contribution to the KPI; ``change`` its difference from the
        previous period; ``share_of_score = points / score``; ``share_of_change = change /
        (score - score_previous)``; ``correlation`` the Pearson correlation, across the
        customers of the period, of the customer's points from the component with their
        engagement.
    score, score_previous : float or None
        The KPI in the period and in the previous one (the sum of ``points`` /
        ``points_previous``).
    change, ci_low, ci_high : float or None
        ``score - score_previous`` and its 95% interval (:func:`summarize_engagement_change`).
    customer_months, customer_months_previous : int
        The KPI's bases.
    previous_complete : bool
        Whether the data covers the whole previous period; when it does not, every
        previous value and change is None.
    """

    components: pl.DataFrame
    score: float | None
    score_previous: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    customer_months: int
    customer_months_previous: int
    previous_complete: bool

    def change_significant(self) -> bool | None:
        """Whether the change's 95% interval excludes zero; None without a change or an interval.

        Returns
        -------
        bool or None
            True when the engagement moved beyond noise.
        """
        if self.change is None or self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class EngagementAnalysis:
    """Everything the engagement section of the KPIs page shows, for one set of filters.

    Parameters
    ----------
    filters, previous_filters : KpiFilters
        The period and the one before it (same slices).
    distribution : EngagementDistribution
        Spread of the customers' engagement in the period.
    drivers : EngagementDrivers
        The KPI's decomposition and what drove its change.
    movement : dict of str to polars.DataFrame
        Per dimension asked for (:data:`SEGMENT_DIMENSIONS`), one row per group with the
        columns :data:`CHANGE_SCHEMA` (``group`` holds the region, age band or RFM group).
    previous_complete : bool
        Whether the data covers the whole previous period.
    note : str or None
        Why values are missing (no customer, or a previous period the data does not cover).
    """

    filters: KpiFilters
    previous_filters: KpiFilters
    distribution: EngagementDistribution
    drivers: EngagementDrivers
    movement: dict[str, pl.DataFrame]
    previous_complete: bool
    note: str | None = None


# -- engagement: public API -------------------------------------------------------------------
@shared_docs
def compute_engagement_analysis(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    dimensions: tuple[str, ...] = SEGMENT_DIMENSIONS,
    bins: int = DEFAULT_BINS,
    rfm: pl.DataFrame | None = None,
) -> EngagementAnalysis:
    """Distribution, drivers and movement by segment of the engagement score, from one read.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices; the previous period is :func:`analytics.kpis.formulas.previous_period`.
    dimensions : tuple of str
        Breakdowns for the movement, from :data:`SEGMENT_DIMENSIONS`.
    bins : int
        Histogram bins over 0..100.
    rfm : polars.DataFrame or None
        :func:`compute_rfm` of the same filters, when the caller has it; computed when
        ``rfm_group`` is asked for and it is None.

    Returns
    -------
    EngagementAnalysis
        The analysis; a filter that matches nobody gives empty frames and None values with
        a note, never an error.

    Raises
    ------
    ValueError
        For an unknown or protected dimension, or a bad number of bins.
    """
    filters = normalize_filters(filters)
    for dimension in dimensions:
        _check_dimension(dimension)
    _check_bins(bins)
    before = previous_period(filters)
    complete = _previous_complete(backend, before)
    customers = _customer_sums(backend, filters, before if complete else None)
    if "rfm_group" in dimensions and rfm is None:
        rfm = compute_rfm(backend, filters)
    distribution = _distribution(customers, bins)
    drivers = _drivers(customers, complete)
    movement = {d: _movement(customers, d, rfm) for d in dimensions}
    note = None
    if distribution.customers == 0:
        note = MSG_NO_CUSTOMERS
    elif not complete:
        note = MSG_PREVIOUS_INCOMPLETE
    return EngagementAnalysis(
        filters=filters,
        previous_filters=before,
        distribution=distribution,
        drivers=drivers,
        movement=movement,
        previous_complete=complete,
        note=note,
    )


@shared_docs
def compute_engagement_distribution(
    backend: ibis.BaseBackend, filters: KpiFilters, *, bins: int = DEFAULT_BINS
) -> EngagementDistribution:
    """Histogram and summary statistics of the customers' engagement in the period.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices.
    bins : int
        Number of equal-width bins over 0..100.

    Returns
    -------
    EngagementDistribution
        Histogram, mean, standard deviation, median, quartiles and the KPI.
    """
    filters = normalize_filters(filters)
    _check_bins(bins)
    return _distribution(_customer_sums(backend, filters, None), bins)


@shared_docs
def compute_engagement_drivers(backend: ibis.BaseBackend, filters: KpiFilters) -> EngagementDrivers:
    """The KPI as the sum of its components' contributions, and what drove its change.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices; compared with :func:`analytics.kpis.formulas.previous_period`.

    Returns
    -------
    EngagementDrivers
        Per-component inputs, capped means, points, change and correlation.
    """
    filters = normalize_filters(filters)
    before = previous_period(filters)
    complete = _previous_complete(backend, before)
    return _drivers(_customer_sums(backend, filters, before if complete else None), complete)


@shared_docs
def compute_engagement_movement(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    by: str,
    rfm: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Engagement per group in the period and the previous one, with a 95% interval for the change.

    A customer belongs to one region and one age band throughout (both come from the
    customer record). The RFM group is the one at the end of the period
    (:func:`compute_rfm`) and is kept for both periods, so a row compares the same
    customers before and now; customers who were no longer customers at the end of the
    period form :data:`NO_RFM_GROUP`.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices.
    by : str
        ``region``, ``age_band`` or ``rfm_group`` (:data:`SEGMENT_DIMENSIONS`).
    rfm : polars.DataFrame or None
        :func:`compute_rfm` of the same filters; computed when needed and not given.

    Returns
    -------
    polars.DataFrame
        Columns :data:`CHANGE_SCHEMA`, one row per group (see
        :func:`summarize_engagement_change`); previous values and changes are null when
        the data does not cover the whole previous period.

    Raises
    ------
    ValueError
        For an unknown or protected dimension.
    """
    filters = normalize_filters(filters)
    _check_dimension(by)
    before = previous_period(filters)
    complete = _previous_complete(backend, before)
    if by == "rfm_group" and rfm is None:
        rfm = compute_rfm(backend, filters)
    return _movement(_customer_sums(backend, filters, before if complete else None), by, rfm)


def summarize_engagement_change(
    customers: pl.DataFrame,
    *,
    by: str | None = None,
    level: float = CONFIDENCE_LEVEL,
    min_customers: int = MIN_GROUP_CUSTOMERS,
) -> pl.DataFrame:
    """Engagement KPI of two periods per group, its change and a confidence interval for it.

    Per group, ``engagement = sum(score_sum) / sum(months)`` in each period (the KPI: the
    mean over customer-months) and ``change`` the difference. The KPI is a ratio of two
    sums over customers, and most customers are in both periods, so the interval treats
    customers as the sampled units (clusters) and linearizes the ratio (the delta method):
    with n customers in the group in either period, M_t and R_t the customer-months and
    the KPI of period t,

        a_i = (y_i1 - R_1 m_i1) / M_1 - (y_i0 - R_0 m_i0) / M_0,
        Var(change) = n / (n - 1) * sum_i a_i^2,

    where y_it and m_it are customer i's score sum and months (0 when absent). A customer
    present in both periods contributes both terms, so the pairing (their positive
    correlation) narrows the interval; a customer present in one period contributes one.
    The interval is ``change +/- t_(n-1) sqrt(Var)``. This is the cluster-robust variance
    of the difference of customer-month means (Deng et al. 2018, "Applying the Delta
    Method in Metric Analytics"), which the tests check against statsmodels' cluster-robust
    OLS; a Welch interval on per-customer means would ignore both the months weighting and
    the pairing.

    Parameters
    ----------
    customers : polars.DataFrame
        One row per customer: ``months``, ``score_sum``, ``months_previous``,
        ``score_sum_previous`` (0 when absent from a period) and the ``by`` column.
    by : str or None
        Grouping column; None gives one row for everybody (``group`` null).
    level : float
        Confidence level.
    min_customers : int
        Groups with fewer customers than this in either period get ``small_group``.

    Returns
    -------
    polars.DataFrame
        Columns :data:`CHANGE_SCHEMA`, ordered by group. ``customers_both`` counts the
        customers in both periods; values are null where a period has no customer-month,
        and the interval also with fewer than two customers.

    Examples
    --------
    >>> frame = pl.DataFrame(
    ...     {"months": [3, 3, 2], "score_sum": [150.0, 90.0, 20.0],
    ...      "months_previous": [3, 3, 0], "score_sum_previous": [120.0, 90.0, 0.0]}
    ... )
    >>> row = summarize_engagement_change(frame).row(0, named=True)
    >>> round(row["engagement"], 2), round(row["engagement_previous"], 2), round(row["change"], 2)
    (32.5, 35.0, -2.5)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_BAD_LEVEL.format(level=level))
    if min_customers < 2:
        raise ValueError(MSG_BAD_MIN_CUSTOMERS.format(n=min_customers))
    needed = ["months", "score_sum", "months_previous", "score_sum_previous", *([by] if by else [])]
    require_columns(customers, needed, what="customer table")
    c = pl.col
    key = c(by).cast(pl.String).alias("group") if by else pl.lit(None, dtype=pl.String).alias("group")
    rows = customers.lazy().select(
        key,
        c("months").fill_null(0).cast(pl.Int64).alias("m1"),
        c("score_sum").fill_null(0.0).cast(pl.Float64).alias("y1"),
        c("months_previous").fill_null(0).cast(pl.Int64).alias("m0"),
        c("score_sum_previous").fill_null(0.0).cast(pl.Float64).alias("y0"),
    )
    rows = rows.filter((c("m1") > 0) | (c("m0") > 0))
    totals = {
        "M1": c("m1").sum().over("group"),
        "Y1": c("y1").sum().over("group"),
        "M0": c("m0").sum().over("group"),
        "Y0": c("y0").sum().over("group"),
    }
    rows = rows.with_columns(**totals).with_columns(
        (c("Y1") / c("M1")).alias("R1"), (c("Y0") / c("M0")).alias("R0")
    )
    influence = (c("y1") - c("R1") * c("m1")) / c("M1") - (c("y0") - c("R0") * c("m0")) / c("M0")
    groups = (
        rows.with_columns(influence.alias("a"))
        .group_by("group")
        .agg(
            (c("m1") > 0).sum().cast(pl.Int64).alias("customers"),
            (c("m0") > 0).sum().cast(pl.Int64).alias("customers_previous"),
            ((c("m1") > 0) & (c("m0") > 0)).sum().cast(pl.Int64).alias("customers_both"),
            pl.len().cast(pl.Int64).alias("n"),
            c("M1").first().cast(pl.Int64).alias("customer_months"),
            c("M0").first().cast(pl.Int64).alias("customer_months_previous"),
            c("R1").first(),
            c("R0").first(),
            (c("a") ** 2).sum().alias("ss"),
        )
        .sort("group", nulls_last=True)
        .collect()
    )
    n = groups.get_column("n").to_numpy()
    # Student t with n - 1 degrees of freedom, as cluster-robust inference with n clusters.
    critical = [float(stats.t.ppf(0.5 + level / 2.0, k - 1)) if k >= 2 else None for k in n]
    both = (c("customer_months") > 0) & (c("customer_months_previous") > 0)
    change = pl.when(both).then(c("R1") - c("R0"))
    half = pl.when(both & (c("n") >= 2)).then(c("t") * (c("n") / (c("n") - 1) * c("ss")).sqrt())
    out = groups.with_columns(pl.Series("t", critical, dtype=pl.Float64)).select(
        "group",
        "customers",
        "customers_previous",
        "customers_both",
        "customer_months",
        "customer_months_previous",
        pl.when(c("customer_months") > 0).then(c("R1")).alias("engagement"),
        pl.when(c("customer_months_previous") > 0).then(c("R0")).alias("engagement_previous"),
        change.alias("change"),
        (change - half).alias("ci_low"),
        (change + half).alias("ci_high"),
        ((change - half > 0) | (change + half < 0)).alias("significant"),
        ((c("customers") < min_customers) | (c("customers_previous") < min_customers)).alias("small_group"),
    )
    return out.cast(dict(CHANGE_SCHEMA))


# -- private: reads ---------------------------------------------------------------------------
def _previous_complete(backend: ibis.BaseBackend, before: KpiFilters) -> bool:
    """Whether the data covers the whole previous period (the executive summary's rule)."""
    months = available_months(backend)
    return bool(months) and before.start_month >= months[0]


def _component_points(parts: dict[str, ir.FloatingValue]) -> dict[str, ir.FloatingValue]:
    """Each component's points in a customer-month's score.

    The score is linear in its capped parts, so a component's points are the score with
    the other inputs set to zero; the caps and weights stay in
    :func:`analytics.kpis.rollups.monthly_engagement_score` alone.
    """
    zero = {name: ibis.literal(0.0) for name in parts}
    return {name: monthly_engagement_score({**zero, name: parts[name]}) for name in ENGAGEMENT_COMPONENTS}


def _customer_sums(backend: ibis.BaseBackend, filters: KpiFilters, before: KpiFilters | None) -> pl.DataFrame:
    """One row per customer: months, score sum, points and input sums in the period and, if asked, before.

    Reads the rows of :func:`analytics.kpis.cubes.customer_month_rows` once for both periods.
    """
    first = before.start_month if before is not None else filters.start_month
    rows = customer_month_rows(backend, filters, first, filters.end_month)
    parts = engagement_parts(rows)
    points = _component_points(parts)
    current = rows.month >= ibis.literal(filters.start_month, type="date")
    sums = rows.group_by(
        customer_id=rows.customer_id, region=rows.region, age_band=rows.age_band, current=current
    ).aggregate(
        months=rows.count(),
        score_sum=monthly_engagement_score(parts).sum(),
        **{f"points_{k}": points[k].sum() for k in ENGAGEMENT_COMPONENTS},
        **{f"input_{k}": parts[k].sum() for k in ENGAGEMENT_COMPONENTS},
    )
    frame = sums.to_polars()
    keys = ["customer_id", "region", "age_band"]
    casts = {name: pl.Int64 if name == "months" else pl.Float64 for name in _SUM_COLUMNS}
    now = frame.filter(pl.col("current")).select(*keys, *_SUM_COLUMNS).cast(casts)
    prior = (
        frame.filter(~pl.col("current"))
        .select(*keys, *_SUM_COLUMNS)
        .cast(casts)
        .rename({name: f"{name}_previous" for name in _SUM_COLUMNS})
    )
    wide = now.join(prior, on=keys, how="full", coalesce=True)
    fill = {
        name: pl.col(name).fill_null(0 if name.startswith("months") else 0.0)
        for name in _CUSTOMER_SCHEMA.names()
        if name not in keys
    }
    return (
        wide.with_columns(**fill)
        .select(_CUSTOMER_SCHEMA.names())
        .cast(dict(_CUSTOMER_SCHEMA))
        .sort("customer_id")
    )


# -- private: results -------------------------------------------------------------------------
def _distribution(customers: pl.DataFrame, bins: int) -> EngagementDistribution:
    present = customers.filter(pl.col("months") > 0)
    scores = (present.get_column("score_sum") / present.get_column("months")).sort()
    edges = [100.0 * i / bins for i in range(bins + 1)]
    # Bin i holds edges[i] <= x < edges[i + 1]; the last bin also holds 100 (numpy's convention).
    index = (pl.Series(edges[1:-1], dtype=pl.Float64).search_sorted(scores, side="right")).cast(pl.Int64)
    counts = index.to_frame("bin").group_by("bin").agg(pl.len().cast(pl.Int64).alias("customers"))
    n = scores.len()
    histogram = (
        pl.DataFrame({"bin": list(range(bins))}, schema={"bin": pl.Int64})
        .join(counts, on="bin", how="left")
        .sort("bin")
        .select(
            pl.Series("bin_start", edges[:-1], dtype=pl.Float64),
            pl.Series("bin_end", edges[1:], dtype=pl.Float64),
            pl.col("customers").fill_null(0),
        )
        .with_columns((pl.col("customers") / n if n else pl.lit(None, dtype=pl.Float64)).alias("share"))
        .cast(dict(HISTOGRAM_SCHEMA))
    )
    months = int(customers.get_column("months").sum())
    kpi = float(customers.get_column("score_sum").sum()) / months if months else None
    if n == 0:
        return EngagementDistribution(
            histogram=histogram, customers=0, mean=None, std=None, median=None, q1=None, q3=None, kpi=kpi
        )
    return EngagementDistribution(
        histogram=histogram,
        customers=n,
        mean=float(scores.mean()),
        std=float(scores.std()) if n > 1 else None,
        median=float(scores.quantile(0.5, interpolation="linear")),
        q1=float(scores.quantile(0.25, interpolation="linear")),
        q3=float(scores.quantile(0.75, interpolation="linear")),
        kpi=kpi,
    )


def _drivers(customers: pl.DataFrame, complete: bool) -> EngagementDrivers:
    c = pl.col
    sums = customers.select(pl.all().exclude("customer_id", "region", "age_band").sum()).row(0, named=True)
    m1 = int(sums["months"])
    m0 = int(sums["months_previous"]) if complete else 0
    score = sums["score_sum"] / m1 if m1 else None
    before = sums["score_sum_previous"] / m0 if m0 else None
    change = score - before if score is not None and before is not None else None
    present = customers.filter(c("months") > 0)
    engagement = c("score_sum") / c("months")
    correlations = (
        present.select(
            *(pl.corr(c(f"points_{k}") / c("months"), engagement).alias(k) for k in ENGAGEMENT_COMPONENTS)
        ).row(0, named=True)
        if present.height > 1
        else dict.fromkeys(ENGAGEMENT_COMPONENTS)
    )
    rows = []
    for k in ENGAGEMENT_COMPONENTS:
        points = sums[f"points_{k}"] / m1 if m1 else None
        points_before = sums[f"points_{k}_previous"] / m0 if m0 else None
        delta = points - points_before if points is not None and points_before is not None else None
        scale = 100.0 * COMPONENT_WEIGHTS[k]
        rows.append(
            {
                "component": k,
                "label": COMPONENT_LABELS[k],
                "unit": COMPONENT_UNITS[k],
                "weight": COMPONENT_WEIGHTS[k],
                "cap": COMPONENT_CAPS[k],
                "mean_input": sums[f"input_{k}"] / m1 if m1 else None,
                "mean_input_previous": sums[f"input_{k}_previous"] / m0 if m0 else None,
                "mean_capped": points / scale if points is not None else None,
                "mean_capped_previous": points_before / scale if points_before is not None else None,
                "points": points,
                "points_previous": points_before,
                "change": delta,
                "share_of_score": points / score if points is not None and score else None,
                "share_of_change": delta / change if delta is not None and change else None,
                "correlation": _finite(correlations[k]),
            }
        )
    total = dict.fromkeys(("ci_low", "ci_high"))
    if customers.height:
        both = customers if complete else _without_previous(customers)
        total = summarize_engagement_change(both).row(0, named=True)
    return EngagementDrivers(
        components=pl.DataFrame(rows, schema=DRIVERS_SCHEMA),
        score=score,
        score_previous=before,
        change=change,
        ci_low=total["ci_low"],
        ci_high=total["ci_high"],
        customer_months=m1,
        customer_months_previous=m0,
        previous_complete=complete,
    )


def _movement(customers: pl.DataFrame, dimension: str, rfm: pl.DataFrame | None) -> pl.DataFrame:
    if dimension == "rfm_group":
        require_columns(rfm, ["customer_id", "rfm_group"], what="RFM table")
        groups = rfm.select(pl.col("customer_id").cast(pl.Int64), pl.col("rfm_group").cast(pl.String))
        customers = customers.join(groups, on="customer_id", how="left").with_columns(
            pl.col("rfm_group").fill_null(NO_RFM_GROUP)
        )
    out = summarize_engagement_change(customers, by=dimension)
    if dimension == "rfm_group":
        rank = {name: i for i, name in enumerate((*RFM_GROUPS, NO_RFM_GROUP))}
        out = out.sort(pl.col("group").replace_strict(rank, default=len(rank), return_dtype=pl.Int64))
    return out


def _without_previous(customers: pl.DataFrame) -> pl.DataFrame:
    return customers.with_columns(pl.lit(0).alias("months_previous"), pl.lit(0.0).alias("score_sum_previous"))


# -- private: checks --------------------------------------------------------------------------
def _check_dimension(dimension: str) -> None:
    choices = ", ".join(SEGMENT_DIMENSIONS)
    if dimension in _PROTECTED:
        raise ValueError(MSG_PROTECTED_DIMENSION.format(dimension=dimension, choices=choices))
    if dimension not in SEGMENT_DIMENSIONS:
        raise ValueError(MSG_BAD_DIMENSION.format(dimension=dimension, choices=choices))


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 1000:
        raise ValueError(MSG_BAD_BINS.format(bins=bins))


def _finite(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)
