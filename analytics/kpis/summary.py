"""Executive KPIs: NPS, CSAT, retention, churn, CLV, engagement, cross-sell, campaigns, actives.

Every KPI is additive over a small maintained cube (``kpi_cube``, and ``kpi_cube_product``
for products; :mod:`analytics.kpis.rollups`, rebuilt with ``customer_month`` at load time), so a
filter change reads a few thousand rows instead of reducing millions of customer-months
(docs/kpis.md).

How the numbers are made
------------------------
1. One Ibis query reads the cube rows of the months needed (the trend window, the period
   and the one before it) for the region / age-band slices, plus the product cube's rows of
   the two periods. A single-product filter reads ``kpi_cube_product``; a filter on two or
   more products builds the same cube rows on the fly from ``customer_month`` with the
   span of the set (:func:`analytics.kpis.rollups.product_span_rows` and
   :func:`analytics.kpis.rollups.build_kpi_cube_rows`, one set of formulas either way).

Under a product filter P the population is the customer-months inside each customer's
P-span (first month holding any product of P to the last, gaps ignored), and retention
and churn are those of P's holders: take-up counts as new, giving up every product of P
(or leaving the bank while holding it) counts as churn (docs/kpis.md).
2. Polars sums those rows per period (or month) and group into the additive
   :data:`SUM_COLUMNS` (:func:`bucket_sums`) and turns them into KPI values
   (:func:`kpis_from_sums`), so the same formulas serve the tiles, the trend, the
   breakdowns and the movers.

Periods are whole calendar months (:class:`analytics.common.types.KpiFilters`); the
previous period is the same number of months immediately before
(:func:`previous_period`). Shares are fractions in 0..1; NPS is on -100..100.
All formulas are in the docstrings of the ``compute_*`` functions and in
docs/kpis.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from statistics import NormalDist
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.months import add_months, last_full_month, months_between
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.rollups import (
    CUBE_COUNT_COLUMNS,
    CUBE_KEYS,
    build_kpi_cube_rows,
    engagement_parts,
    month_starts,
    monthly_engagement_score,
    product_span_rows,
    with_joined_bucket,
)
from analytics.kpis.statistics import (
    ENGAGEMENT_MINUTES_CAP,
    ENGAGEMENT_NEUTRAL_OFFER_INTERACTION,
    ENGAGEMENT_PRODUCTS_CAP,
    ENGAGEMENT_SESSIONS_CAP,
    ENGAGEMENT_WEIGHT_MINUTES,
    ENGAGEMENT_WEIGHT_OFFERS,
    ENGAGEMENT_WEIGHT_PRODUCTS,
    ENGAGEMENT_WEIGHT_SESSIONS,
    engagement_score,
)
from analytics.store.contracts import KPI_CUBE, KPI_CUBE_PRODUCT, SEGMENT_MEMBERS

__all__ = [
    "ENGAGEMENT_MINUTES_CAP",
    "ENGAGEMENT_NEUTRAL_OFFER_INTERACTION",
    "ENGAGEMENT_PRODUCTS_CAP",
    "ENGAGEMENT_SESSIONS_CAP",
    "ENGAGEMENT_WEIGHT_MINUTES",
    "ENGAGEMENT_WEIGHT_OFFERS",
    "ENGAGEMENT_WEIGHT_PRODUCTS",
    "ENGAGEMENT_WEIGHT_SESSIONS",
    "engagement_score",
]

KpiName = Literal[
    "nps",
    "csat",
    "retention_rate",
    "churn_rate",
    "clv",
    "engagement",
    "cross_sell",
    "ctr",
    "conversion_rate",
    "active_customers",
]
KPI_NAMES: tuple[str, ...] = get_args(KpiName)
"""Every KPI, in display order (loyalty, retention, value, engagement, campaigns, size)."""

KPI_LABELS: dict[str, str] = {
    "nps": "Net Promoter Score",
    "csat": "Customer satisfaction (CSAT)",
    "retention_rate": "Customer retention rate",
    "churn_rate": "Churn rate",
    "clv": "Customer lifetime value",
    "engagement": "Engagement score",
    "cross_sell": "Products per customer",
    "ctr": "Campaign click-through rate",
    "conversion_rate": "Campaign conversion rate",
    "active_customers": "Monthly active customers",
}
KPI_UNITS: dict[str, Literal["score", "pct", "eur", "ratio", "count"]] = {
    "nps": "score",
    "csat": "pct",
    "retention_rate": "pct",
    "churn_rate": "pct",
    "clv": "eur",
    "engagement": "score",
    "cross_sell": "ratio",
    "ctr": "pct",
    "conversion_rate": "pct",
    "active_customers": "count",
}
HIGHER_IS_BETTER: dict[str, bool] = {name: name != "churn_rate" for name in KPI_NAMES}

TESTED_KPIS: frozenset[str] = frozenset(
    {"nps", "csat", "retention_rate", "churn_rate", "ctr", "conversion_rate"}
)
"""KPIs that are sample estimates with a two-sample test for the change (the rest have none)."""

BREAKDOWN_DIMENSIONS: tuple[str, ...] = ("region", "age_band", "product")

DEFAULT_CLV_DISCOUNT_RATE = 0.10
DEFAULT_CLV_HORIZON_YEARS = 5
DEFAULT_TREND_MONTHS = 12
CONFIDENCE_LEVEL = 0.95
SIGNIFICANCE_LEVEL = 0.05

MOVERS_TOP = 10
MOVERS_MAX_PER_KPI = 3
"""At most this many rows of one KPI in the top list (so it is not all campaign rates by product)."""
MOVERS_MIN_CUSTOMERS = 30
"""Groups smaller than this in either period are left out of the movers (too noisy to rank)."""
MOVERS_MIN_RELATIVE_CHANGE = 0.05
"""An untested KPI (CLV, engagement, cross-sell, actives) is a mover only past this relative change."""

MSG_NO_CUSTOMERS = "no customers match the filters in the period"
MSG_NO_NPS = "no NPS answers in the period"
MSG_NO_CSAT = "no CSAT answers in the period"
MSG_NO_START_CUSTOMERS = "no customers at the start of the period"
MSG_NO_OFFERS = "no offers sent in the period"
MSG_BAD_LEVEL = "The confidence level must be strictly between 0 and 1, got {level}."
MSG_BAD_MONTHS = "The number of months must be at least 1, got {months}."

SUM_COLUMNS: tuple[str, ...] = (
    "customers",
    "customer_months",
    "months",
    "active",
    "at_start",
    "at_end",
    "new",
    "closed",
    "closed_at_start",
    "margin",
    "products",
    "engagement_sum",
    *CUBE_COUNT_COLUMNS,
)
"""Per-group sums every KPI is computed from (see :func:`kpis_from_sums`); all but ``months``
are sums of cube rows, so additive over groups.

``customers`` = ``at_start + new`` (everyone who was a customer at some point in the period);
``customer_months`` customer-month rows; ``months`` months in the period (the same for
every group, not summed); ``active`` customer-months with a transaction or a session;
``at_start`` S, rows in the first month not new in it; ``at_end`` E, rows in the last month
not closed in it; ``new`` N, rows new in the period; ``closed`` rows closed in it;
``closed_at_start`` closures of customers who joined before the period (closures among S);
``margin`` fee plus holding margin in EUR; ``products`` sum over customer-months of
products held; ``engagement_sum`` sum of monthly engagement scores; then survey and
offer counts.
"""

_MEASURES: tuple[str, ...] = tuple(n for n in KPI_CUBE.schema.names() if n not in CUBE_KEYS)
"""Columns of the cubes summed as they are."""
_SUM_SCHEMA = pl.Schema(
    {name: pl.Float64 if name in {"margin", "engagement_sum"} else pl.Int64 for name in SUM_COLUMNS}
)

_BASE_COLUMN: dict[str, str] = {
    "nps": "nps_responses",
    "csat": "csat_responses",
    "retention_rate": "at_start",
    "churn_rate": "at_start",
    "clv": "customers",
    "engagement": "customer_months",
    "cross_sell": "customer_months",
    "ctr": "offers_sent",
    "conversion_rate": "offers_sent",
    "active_customers": "customers",
}
_UNDEFINED_NOTE: dict[str, str] = {
    "nps": MSG_NO_NPS,
    "csat": MSG_NO_CSAT,
    "retention_rate": MSG_NO_START_CUSTOMERS,
    "churn_rate": MSG_NO_START_CUSTOMERS,
    "clv": MSG_NO_CUSTOMERS,
    "engagement": MSG_NO_CUSTOMERS,
    "cross_sell": MSG_NO_CUSTOMERS,
    "ctr": MSG_NO_OFFERS,
    "conversion_rate": MSG_NO_OFFERS,
    "active_customers": MSG_NO_CUSTOMERS,
}
# Successes and trials of the KPIs that are proportions (for intervals and tests).
_PROPORTIONS: dict[str, tuple[str, str]] = {
    "csat": ("csat_satisfied", "csat_responses"),
    "retention_rate": ("retained", "at_start"),
    "churn_rate": ("closed_at_start", "at_start"),
    "ctr": ("offers_clicked", "offers_sent"),
    "conversion_rate": ("offers_converted", "offers_sent"),
}

MOVERS_SCHEMA = pl.Schema(
    {
        "dimension": pl.String,
        "value": pl.String,
        "kpi": pl.String,
        "previous": pl.Float64,
        "current": pl.Float64,
        "change": pl.Float64,
        "significant": pl.Boolean,
        "z": pl.Float64,
        "relative_change": pl.Float64,
    }
)


@dataclass(frozen=True)
class KpiValue:
    """One KPI tile.

    Parameters
    ----------
    name, label, unit : str
        Key in :data:`KPI_NAMES`, display name, and unit (:data:`KPI_UNITS`).
    value : float or None
        The KPI; None when undefined (no base), never NaN.
    n : int
        Base size: answers for NPS/CSAT, customers at the start for retention/churn,
        offers sent for the campaign rates, customer-months for engagement and cross-sell,
        customers (S + N) otherwise.
    ci_low, ci_high : float or None
        95% interval where the KPI is a sample estimate (NPS, CSAT and the rates).
    previous : float or None
        The same KPI in the previous period.
    change : float or None
        ``value - previous`` (NPS in points, shares in fraction units).
    change_significant : bool or None
        Two-sample test at 5% for the KPIs in :data:`TESTED_KPIS`; None otherwise.
    note : str or None
        Why the value is undefined.
    """

    name: str
    label: str
    unit: str
    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    previous: float | None = None
    change: float | None = None
    change_significant: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class ExecutiveSummary:
    """Everything the executive summary page shows, for one set of filters.

    Parameters
    ----------
    filters, previous_filters : KpiFilters
        The selected period and the one before it (same slices).
    customers_matched : int
        Customers at the start of the period plus customers who joined during it (S + N):
        everyone who was a customer at some point in it, within the filters (under a
        product filter, everyone who held one of the products at some point in it).
    tiles : tuple of KpiValue
        One per KPI, in :data:`KPI_NAMES` order, with previous value and change.
    trend : polars.DataFrame
        One row per month of the trend window: ``month`` (date) and one float column
        per KPI (null where undefined); each month is computed as a one-month period.
    breakdown : dict of str to polars.DataFrame
        Keys ``region``, ``age_band``, ``product``; columns: the dimension (str),
        ``customers`` (int) and one column per KPI, for the selected period.
    movers : polars.DataFrame
        Up to :data:`MOVERS_TOP` rows: ``dimension, value, kpi, previous, current,
        change, significant, z, relative_change`` (see :func:`compute_movers`).
    clv_discount_rate : float
        Annual discount rate used for CLV.
    clv_horizon_years : int
        CLV horizon in years.
    previous_complete : bool
        Whether the data covers the whole previous period. When it does not, no change,
        previous value or mover is given: a comparison with a partly empty period would
        show growth that is only the start of the data.
    """

    filters: KpiFilters
    previous_filters: KpiFilters
    customers_matched: int
    tiles: tuple[KpiValue, ...]
    trend: pl.DataFrame
    breakdown: dict[str, pl.DataFrame]
    movers: pl.DataFrame
    clv_discount_rate: float
    clv_horizon_years: int
    previous_complete: bool = True


# -- pure helpers (no database) -----------------------------------------------------------------
def _z_critical(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_BAD_LEVEL.format(level=level))
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def nps_interval(
    promoters: int, passives: int, detractors: int, *, level: float = CONFIDENCE_LEVEL
) -> tuple[float | None, float | None, float | None]:
    """NPS with its normal-approximation confidence interval.

    NPS = 100 (P - D) / n with n = promoters + passives + detractors. The answers are
    one multinomial sample scored +1 / 0 / -1, so with shares pP = P/n, pD = D/n
    ``Var(NPS) = 100^2 (pP + pD - (pP - pD)^2) / n`` and the interval is
    NPS +/- z_(1+level)/2 * sqrt(Var), clipped to the scale -100..100.

    Parameters
    ----------
    promoters, passives, detractors : int
        Answers of 9-10, 7-8 and 0-6.
    level : float
        Confidence level, 0.95 by default.

    Returns
    -------
    tuple of (float or None)
        ``(nps, low, high)``; all None when there is no answer.

    Examples
    --------
    >>> nps, low, high = nps_interval(450, 300, 150)
    >>> round(nps, 2), round(low, 2), round(high, 2)
    (33.33, 28.46, 38.2)
    """
    z = _z_critical(level)
    n = promoters + passives + detractors
    if n <= 0:
        return None, None, None
    nps = 100.0 * (promoters - detractors) / n
    se = 100.0 * math.sqrt(_nps_share_variance(promoters, detractors, n) / n)
    return nps, max(-100.0, nps - z * se), min(100.0, nps + z * se)


def _nps_share_variance(promoters: float, detractors: float, n: float) -> float:
    p, d = promoters / n, detractors / n
    # Rounding can push the exact zero of a one-category sample slightly negative.
    return max(0.0, p + d - (p - d) ** 2)


def nps_difference_z(current: tuple[int, int, int], previous: tuple[int, int, int]) -> float | None:
    """Two-sample z statistic of an NPS change.

    ``z = (NPS_1 - NPS_0) / sqrt(Var_1 + Var_0)`` with each variance as in
    :func:`nps_interval` (independent samples).

    Parameters
    ----------
    current, previous : tuple of int
        ``(promoters, passives, detractors)`` of each period.

    Returns
    -------
    float or None
        The z statistic; 0.0 when both samples are degenerate and equal; None when a
        period has no answer or both variances are zero with different scores.
    """
    n1, n0 = sum(current), sum(previous)
    if n1 <= 0 or n0 <= 0:
        return None
    diff = 100.0 * ((current[0] - current[2]) / n1 - (previous[0] - previous[2]) / n0)
    var = 100.0**2 * (
        _nps_share_variance(current[0], current[2], n1) / n1
        + _nps_share_variance(previous[0], previous[2], n0) / n0
    )
    if var <= 0.0:
        return 0.0 if diff == 0.0 else None
    return diff / math.sqrt(var)


def wilson_interval(
    successes: int, trials: int, *, level: float = CONFIDENCE_LEVEL
) -> tuple[float | None, float | None, float | None]:
    """A proportion with its Wilson score interval.

    ``centre = (p + z^2/2n) / (1 + z^2/n)``, ``half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)``
    with p = successes / trials; unlike the normal (Wald) interval it stays inside
    0..1 and behaves for p near 0 or 1.

    Parameters
    ----------
    successes, trials : int
        Counts; ``0 <= successes <= trials``.
    level : float
        Confidence level, 0.95 by default.

    Returns
    -------
    tuple of (float or None)
        ``(p, low, high)``; all None when ``trials`` is 0 or the counts are inconsistent.

    Examples
    --------
    >>> p, low, high = wilson_interval(81, 263)
    >>> round(p, 4), round(low, 4), round(high, 4)
    (0.308, 0.2553, 0.3662)
    """
    z = _z_critical(level)
    if trials <= 0 or successes < 0 or successes > trials:
        return None, None, None
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / (1.0 + z2n)
    # At p = 0 or 1 the bound is exactly 0 or 1; rounding would leave a few ulps.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return p, low, high


def two_proportion_z(x1: int, n1: int, x0: int, n0: int) -> float | None:
    """Pooled two-proportion z statistic of ``x1/n1 - x0/n0``.

    ``z = (p1 - p0) / sqrt(p (1 - p) (1/n1 + 1/n0))`` with the pooled p = (x1 + x0) / (n1 + n0).

    Parameters
    ----------
    x1, n1 : int
        Successes and trials now.
    x0, n0 : int
        Successes and trials before.

    Returns
    -------
    float or None
        The z statistic; 0.0 when the pooled share is 0 or 1 (no difference possible);
        None when either sample is empty or inconsistent.
    """
    if n1 <= 0 or n0 <= 0 or not (0 <= x1 <= n1 and 0 <= x0 <= n0):
        return None
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)
    if var <= 0.0:
        return 0.0
    return (x1 / n1 - x0 / n0) / math.sqrt(var)


def clv_from_margin(
    annual_margin: float,
    annual_retention: float,
    *,
    discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
) -> float:
    """Finite-horizon margin-multiple CLV.

    ``CLV = sum_{t=1..H} m r^(t-1) / (1 + d)^t``: margin m earned at the end of each year
    by a customer still there with probability r^(t-1), discounted at d (Gupta & Lehmann
    2003; Farris et al., *Marketing Metrics*). Closed form:
    ``m (1 - (r / (1 + d))^H) / (1 + d - r)``.

    Parameters
    ----------
    annual_margin : float
        m, margin per customer per year in EUR.
    annual_retention : float
        r, probability that a customer stays another year (0..1).
    discount_rate : float
        d, annual discount rate.
    horizon_years : int
        H, years counted.

    Returns
    -------
    float
        CLV in EUR.

    Examples
    --------
    >>> round(clv_from_margin(100.0, 0.8, discount_rate=0.1, horizon_years=2), 4)
    157.0248
    """
    growth = 1.0 + discount_rate
    return sum(annual_margin * annual_retention ** (t - 1) / growth**t for t in range(1, horizon_years + 1))


def annual_retention_from_hazard(closures: float, customer_months: float) -> float | None:
    """Annual retention implied by a monthly churn hazard: ``r = (1 - closures / customer_months)^12``.

    Parameters
    ----------
    closures : float
        Customers who closed in the period.
    customer_months : float
        Months of exposure (customer-month rows) in the period.

    Returns
    -------
    float or None
        r in 0..1; None without exposure.
    """
    if customer_months <= 0:
        return None
    return (1.0 - closures / customer_months) ** 12


def previous_period(filters: KpiFilters) -> KpiFilters:
    """The same number of whole months immediately before the period, with the same slices.

    Parameters
    ----------
    filters : KpiFilters
        The selected period.

    Returns
    -------
    KpiFilters
        The previous period.

    Examples
    --------
    >>> previous_period(KpiFilters(date(2025, 1, 1), date(2025, 3, 1))).start_month
    datetime.date(2024, 10, 1)
    """
    filters = normalize_filters(filters)
    months = months_between(filters.start_month, filters.end_month) + 1
    return replace(
        filters,
        start_month=add_months(filters.start_month, -months),
        end_month=add_months(filters.start_month, -1),
    )


def kpis_from_sums(
    sums: pl.DataFrame,
    *,
    clv_discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    clv_horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
) -> pl.DataFrame:
    """Add one column per KPI to a frame of per-group sums.

    Formulas (null when the base is zero):

    - ``nps = 100 (nps_promoters - nps_detractors) / nps_responses``
    - ``csat = csat_satisfied / csat_responses``
    - ``retention_rate = (at_end - new) / at_start``; ``churn_rate = closed_at_start / at_start``
    - ``clv``: :func:`clv_from_margin` with m = 12 margin / customer_months and
      r = (1 - closed / customer_months)^12
    - ``engagement = engagement_sum / customer_months`` (mean monthly engagement score)
    - ``cross_sell = products / customer_months``
    - ``ctr = offers_clicked / offers_sent``; ``conversion_rate = offers_converted / offers_sent``
    - ``active_customers = active / months`` (average monthly actives; null without customer-months)

    Also adds ``retained = at_end - new`` (successes of the retention proportion).

    Parameters
    ----------
    sums : polars.DataFrame
        Columns of :data:`SUM_COLUMNS`, plus any key columns (kept).
    clv_discount_rate : float
        Annual discount rate d for CLV.
    clv_horizon_years : int
        CLV horizon H in years.

    Returns
    -------
    polars.DataFrame
        ``sums`` with ``retained`` and the KPI columns (Float64) appended.
    """
    c = pl.col

    def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
        return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)

    margin = ratio(12.0 * c("margin"), c("customer_months"))
    retention = (1.0 - ratio(c("closed").cast(pl.Float64), c("customer_months"))) ** 12
    growth = 1.0 + clv_discount_rate
    multiple = (
        pl.sum_horizontal([retention ** (t - 1) / growth**t for t in range(1, clv_horizon_years + 1)])
        if clv_horizon_years > 0
        else pl.lit(0.0)
    )
    exprs = {
        "nps": ratio(100.0 * (c("nps_promoters") - c("nps_detractors")), c("nps_responses")),
        "csat": ratio(c("csat_satisfied"), c("csat_responses")),
        "retention_rate": ratio(c("at_end") - c("new"), c("at_start")),
        "churn_rate": ratio(c("closed_at_start"), c("at_start")),
        "clv": pl.when(c("customer_months") > 0).then(margin * multiple).otherwise(None),
        "engagement": ratio(c("engagement_sum"), c("customer_months")),
        "cross_sell": ratio(c("products"), c("customer_months")),
        "ctr": ratio(c("offers_clicked"), c("offers_sent")),
        "conversion_rate": ratio(c("offers_converted"), c("offers_sent")),
        "active_customers": pl.when((c("customer_months") > 0) & (c("months") > 0))
        .then(c("active") / c("months"))
        .otherwise(None),
    }
    return sums.with_columns(
        (c("at_end") - c("new")).alias("retained"),
        *(expr.cast(pl.Float64).alias(name) for name, expr in exprs.items()),
    )


def change_z_exprs(*, suffix: str = "_prev") -> dict[str, pl.Expr]:
    """Polars expressions for the z statistic of each tested KPI's change.

    For a frame holding the sums of the current period and, with ``suffix``, of the
    previous one (after :func:`kpis_from_sums` on both): NPS uses
    :func:`nps_difference_z`'s formula, the proportions (:data:`TESTED_KPIS` other than
    NPS) :func:`two_proportion_z`'s. Null where a test is undefined.

    Parameters
    ----------
    suffix : str
        Suffix of the previous period's columns.

    Returns
    -------
    dict of str to polars.Expr
        KPI name to its z expression.
    """
    c = pl.col

    def nps_var(p: str, d: str, n: str) -> pl.Expr:
        pp, pd_ = c(p) / c(n), c(d) / c(n)
        return 100.0**2 * pl.max_horizontal(pp + pd_ - (pp - pd_) ** 2, pl.lit(0.0)) / c(n)

    var = nps_var("nps_promoters", "nps_detractors", "nps_responses") + nps_var(
        "nps_promoters" + suffix, "nps_detractors" + suffix, "nps_responses" + suffix
    )
    diff = c("nps") - c("nps" + suffix)
    out = {
        "nps": pl.when((c("nps_responses") > 0) & (c("nps_responses" + suffix) > 0))
        .then(pl.when(var > 0).then(diff / var.sqrt()).when(diff == 0).then(0.0))
        .otherwise(None)
    }
    for name, (x, n) in _PROPORTIONS.items():
        x1, n1, x0, n0 = c(x), c(n), c(x + suffix), c(n + suffix)
        pooled = (x1 + x0) / (n1 + n0)
        var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)
        valid = (n1 > 0) & (n0 > 0) & (x1 >= 0) & (x1 <= n1) & (x0 >= 0) & (x0 <= n0)
        out[name] = (
            pl.when(valid)
            .then(pl.when(var > 0).then((x1 / n1 - x0 / n0) / var.sqrt()).otherwise(0.0))
            .otherwise(None)
        )
    return {name: expr.cast(pl.Float64) for name, expr in out.items()}


# -- database reads (Ibis) --------------------------------------------------------------
def available_months(backend: ibis.BaseBackend) -> list[date]:
    """Months with customers (the months of ``kpi_cube``, the same as ``customer_month``'s), ascending.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database (``Database.backend()``).

    Returns
    -------
    list of datetime.date
        First days of months.
    """
    cube = backend.table("kpi_cube")
    frame = cube.select("month").distinct().order_by("month").to_polars()
    return frame.get_column("month").to_list()


def default_filters(backend: ibis.BaseBackend, *, months: int = 3) -> KpiFilters:
    """The last ``months`` full calendar months with data, no slices.

    The snapshot month counts as full only when the snapshot date (``dataset_meta.as_of``,
    else the last transaction day) is its last day. Without any data, the months before
    today's are returned (every KPI is then undefined, nothing raises).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    months : int
        Length of the period.

    Returns
    -------
    KpiFilters
        The default period.
    """
    if months < 1:
        raise ValueError(MSG_BAD_MONTHS.format(months=months))
    present = available_months(backend)
    if not present:
        end = add_months(datetime.now(UTC).date().replace(day=1), -1)
        return KpiFilters(start_month=add_months(end, -(months - 1)), end_month=end)
    last_full = last_full_month(_snapshot_date(backend) or present[-1])
    end = min(present[-1], last_full) if last_full >= present[0] else present[-1]
    start = max(present[0], add_months(end, -(months - 1)))
    return KpiFilters(start_month=start, end_month=end)


def compute_period_sums(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    buckets: Sequence[tuple[date, date]] | None = None,
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Additive sums (:data:`SUM_COLUMNS`) per bucket and group, from the KPI cubes.

    A bucket is a run of whole months ``(first, last)`` treated as one period (start and
    end counts, closures among the customers at its start); every other sum adds its
    customer-months up.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Slices (regions, age bands, products); its period is the only bucket unless
        ``buckets`` is given.
    buckets : sequence of (date, date), optional
        Contiguous, non-overlapping month ranges, ascending.
    by : sequence of str
        Extra grouping: ``region``, ``age_band`` and/or ``product`` (a customer-month counts
        under every product whose span it lies in, each product's rows as under that
        product alone as filter; under a product filter only the selected products are
        listed).

    Returns
    -------
    polars.DataFrame
        ``bucket`` (first month of the bucket), the ``by`` columns and :data:`SUM_COLUMNS`;
        buckets or groups without customer-months have no row.
    """
    filters = normalize_filters(filters)
    spans = sorted(buckets) if buckets is not None else [(filters.start_month, filters.end_month)]
    first, last = spans[0][0], spans[-1][1]
    if "product" in by:
        rows = _product_rows(backend, filters, first, last).rename(product="product_id")
    else:
        rows = _main_rows(backend, filters, first, last)
    return bucket_sums(rows.to_polars(), spans, tuple(by))


def compute_kpis(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    clv_discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    clv_horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
) -> dict[str, KpiValue]:
    """Every KPI for the selected period only (``previous``/``change`` stay None).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.
    clv_discount_rate : float
        Annual discount rate for CLV.
    clv_horizon_years : int
        CLV horizon in years.

    Returns
    -------
    dict of str to KpiValue
        Keyed by KPI name, in :data:`KPI_NAMES` order.
    """
    sums = compute_period_sums(backend, filters)
    row = _total_row(
        kpis_from_sums(sums, clv_discount_rate=clv_discount_rate, clv_horizon_years=clv_horizon_years)
    )
    return {name: _tile(name, row) for name in KPI_NAMES}


def compute_nps(backend: ibis.BaseBackend, filters: KpiFilters) -> KpiValue:
    """Net Promoter Score of the period.

    ``NPS = 100 (promoters - detractors) / responses`` over ``survey_type = 'nps'`` answers
    given in the period (promoters score 9-10, detractors 0-6), with the 95% interval of
    :func:`nps_interval`. ``n`` is the number of answers.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    KpiValue
        NPS on -100..100.
    """
    return compute_kpis(backend, filters)["nps"]


def compute_csat(backend: ibis.BaseBackend, filters: KpiFilters) -> KpiValue:
    """Customer satisfaction: share of ``csat`` answers scoring 4 or 5 (top-2-box).

    ``CSAT = satisfied / responses`` over answers given in the period, with a Wilson 95%
    interval (:func:`wilson_interval`).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    KpiValue
        A fraction in 0..1.
    """
    return compute_kpis(backend, filters)["csat"]


def compute_retention(backend: ibis.BaseBackend, filters: KpiFilters) -> dict[str, KpiValue]:
    """Customer retention rate and churn rate of the period.

    - S: customers at the start (a ``customer_month`` row in the first month, not new in it)
    - E: customers at the end (a row in the last month and not closed in it; customers
      who closed earlier in the period have no row there)
    - N: customers who joined during the period

    ``retention_rate = (E - N) / S`` and ``churn_rate = closures among S / S``, where the
    closures among S are the closures in the period of customers who joined before it
    (the cubes' ``joined_bucket``). Under a product filter, retention and churn are those
    of the product's holders (take-up counts as new, giving up every product of the set
    counts as churn, as does leaving the bank while holding one). Since
    ``E - N = S - closures among S - closures among N``, ``retention + churn = 1 -
    (new customers who also left) / S``: the two need not sum to one. Wilson 95% intervals;
    ``n`` is S.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    dict of str to KpiValue
        ``retention_rate`` and ``churn_rate``, fractions.
    """
    values = compute_kpis(backend, filters)
    return {"retention_rate": values["retention_rate"], "churn_rate": values["churn_rate"]}


def compute_clv(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
) -> KpiValue:
    """Historical, margin-based customer lifetime value.

    - m = 12 * sum(fee_margin + holding_margin) / customer-months: average annual margin
      per customer observed in the period
    - r = (1 - closures / customer-months)^12: annual retention implied by the period's
      monthly churn hazard
    - ``CLV = sum_{t=1..H} m r^(t-1) / (1 + d)^t`` (:func:`clv_from_margin`)

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.
    discount_rate : float
        d, annual discount rate (10%).
    horizon_years : int
        H, years counted (5).

    Returns
    -------
    KpiValue
        CLV in EUR per customer; ``n`` is the number of customers.
    """
    return compute_kpis(backend, filters, clv_discount_rate=discount_rate, clv_horizon_years=horizon_years)[
        "clv"
    ]


def compute_engagement(backend: ibis.BaseBackend, filters: KpiFilters) -> KpiValue:
    """Average customer engagement score (0-100) of the period.

    The average MONTHLY Customer Engagement Score over the customer-months of the period:
    each customer-month is scored with :func:`engagement_score` from that month's sessions,
    average session length, products held and offer interaction, and the KPI is
    ``sum(score) / customer-months`` (dormant months pull it down). A one-month period is the
    plain mean over its customers; this is also what the trend shows per month.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    KpiValue
        Score on 0..100; ``n`` is the number of customer-months.
    """
    return compute_kpis(backend, filters)["engagement"]


def compute_engagement_scores(backend: ibis.BaseBackend, filters: KpiFilters) -> pl.DataFrame:
    """Per-customer engagement over the period: means of the monthly scores and their inputs.

    Read from ``customer_month`` (not the cubes). ``engagement`` is the mean of the
    customer's monthly scores; the components are the means of the monthly inputs
    (sessions, products held, offer interaction) and the overall average session length.
    The KPI (:func:`compute_engagement`) weights customers by their months in the period.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices (a product filter keeps the months inside the customer's span of
        the products: first month holding one to the last, gaps included).

    Returns
    -------
    polars.DataFrame
        ``customer_id, region, age_band, months, sessions_per_month, avg_session_minutes,
        products_held, offer_interaction, engagement``, ordered by customer.
    """
    filters = normalize_filters(filters)
    rows = customer_month_rows(backend, filters, filters.start_month, filters.end_month)
    parts = engagement_parts(rows)
    rows = rows.mutate(_offers=parts["offers"], _score=monthly_engagement_score(parts))
    sessions = rows.sessions.sum()
    return (
        rows.group_by(["customer_id", "region", "age_band"])
        .aggregate(
            months=rows.count(),
            sessions_per_month=rows.sessions.cast("float64").mean(),
            avg_session_minutes=(sessions > 0).ifelse(
                rows.session_seconds.sum() / sessions.cast("float64") / 60.0, 0.0
            ),
            products_held=rows.products_held.cast("float64").mean(),
            offer_interaction=rows._offers.mean(),
            engagement=rows._score.mean(),
        )
        .order_by("customer_id")
        .to_polars()
    )


def compute_cross_sell(backend: ibis.BaseBackend, filters: KpiFilters) -> KpiValue:
    """Cross-sell ratio: average number of distinct products held per customer.

    Averaged over customer-months: ``sum(products_held) / customer-months`` where
    products_held counts products held on at least one day of the month. Equivalently the
    mean of the monthly products-per-customer ratios, weighted by customers each month, so
    customers who left mid-period count for the months they were there.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    KpiValue
        Products per customer; ``n`` is the number of customer-months.
    """
    return compute_kpis(backend, filters)["cross_sell"]


def compute_campaign_rates(backend: ibis.BaseBackend, filters: KpiFilters) -> dict[str, KpiValue]:
    """Campaign click-through and conversion rates of offers sent in the period.

    ``ctr = clicked / sent`` and ``conversion_rate = converted / sent`` over offers whose
    ``sent_at`` falls in the period (a later click or conversion counts for the month the
    offer was sent), with Wilson 95% intervals; ``n`` is offers sent.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    dict of str to KpiValue
        ``ctr`` and ``conversion_rate``, fractions.
    """
    values = compute_kpis(backend, filters)
    return {"ctr": values["ctr"], "conversion_rate": values["conversion_rate"]}


def compute_active_customers(backend: ibis.BaseBackend, filters: KpiFilters) -> KpiValue:
    """Monthly active customers: customers with a transaction or session in a month, averaged over months.

    ``sum over the period's months of (customers with at least one transaction or digital
    session in the month) / months in the period``. For a one-month period it is the count
    of active customers of that month.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    KpiValue
        An average count; ``n`` is the number of customers in the population (S + N).
    """
    return compute_kpis(backend, filters)["active_customers"]


def compute_trend(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    months: int = DEFAULT_TREND_MONTHS,
    clv_discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    clv_horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
) -> pl.DataFrame:
    """Monthly KPIs over the period extended back to at least ``months`` months.

    Each month is computed as a one-month period (the product filter keeps the
    customer-months inside the customers' span of the products). The window never starts before the first
    month with data, but always covers the selected period.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices.
    months : int
        Minimum length of the window.
    clv_discount_rate : float
        Annual discount rate for CLV.
    clv_horizon_years : int
        CLV horizon in years.

    Returns
    -------
    polars.DataFrame
        ``month`` and one Float64 column per KPI, one row per month, nulls where undefined.
    """
    filters = normalize_filters(filters)
    cube = backend.table("kpi_cube")
    first = cube.aggregate(first=cube.month.min()).to_polars().item(0, 0)
    window = _window(filters, months, first)
    sums = compute_period_sums(backend, filters, buckets=[(m, m) for m in window])
    return _trend_frame(
        sums, window, clv_discount_rate=clv_discount_rate, clv_horizon_years=clv_horizon_years
    )


def compute_movers(
    current: pl.DataFrame,
    previous: pl.DataFrame,
    *,
    dimension: str,
    top: int | None = MOVERS_TOP,
) -> pl.DataFrame:
    """Rank the KPI changes of one breakdown between two periods.

    Groups present in both periods with at least :data:`MOVERS_MIN_CUSTOMERS` customers in
    each are compared KPI by KPI. Order: first significant changes of tested KPIs by |z|,
    then untested KPIs (CLV, engagement, cross-sell, actives) whose relative change is at
    least :data:`MOVERS_MIN_RELATIVE_CHANGE`, by |relative change|, then the rest (tested
    by |z|, untested by |relative change|); ties by dimension, group and KPI. With a
    ``top``, the list is made diverse: at most :data:`MOVERS_MAX_PER_KPI` rows per KPI.

    Parameters
    ----------
    current, previous : polars.DataFrame
        Sums with KPI columns (:func:`kpis_from_sums`) keyed by the column ``dimension``.
    dimension : str
        Name of the key column (``region``, ``age_band`` or ``product``).
    top : int or None
        Rows kept, with at most :data:`MOVERS_MAX_PER_KPI` of any one KPI; None keeps all.

    Returns
    -------
    polars.DataFrame
        Columns of :data:`MOVERS_SCHEMA`.
    """

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.lit(dimension).alias("dimension"), pl.col(dimension).cast(pl.String).alias("value")
        ).drop(dimension)

    return _rank_movers(_scored_movers(keyed(current), keyed(previous)), top=top)


def _scored_movers(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Movers of every (dimension, value) group of two KPI frames, unranked (one Polars plan)."""
    c = pl.col
    joined = (
        current.lazy()
        .join(previous.lazy(), on=["dimension", "value"], how="inner", suffix="_prev")
        .filter((c("customers") >= MOVERS_MIN_CUSTOMERS) & (c("customers_prev") >= MOVERS_MIN_CUSTOMERS))
    )
    z = change_z_exprs(suffix="_prev")
    long = pl.concat(
        [
            joined.select(
                c("dimension"),
                c("value"),
                pl.lit(name).alias("kpi"),
                c(name + "_prev").cast(pl.Float64).alias("previous"),
                c(name).cast(pl.Float64).alias("current"),
                (z[name] if name in z else pl.lit(None, dtype=pl.Float64)).alias("z"),
            )
            for name in KPI_NAMES
        ]
    ).filter(c("previous").is_not_null() & c("current").is_not_null())
    critical = _z_critical(1.0 - SIGNIFICANCE_LEVEL)
    tested = c("kpi").is_in(sorted(TESTED_KPIS))
    scored = long.with_columns(
        (c("current") - c("previous")).alias("change"),
        pl.when(tested & c("z").is_not_null())
        .then(c("z").abs() > critical)
        .otherwise(None)
        .alias("significant"),
        pl.when(c("previous") != 0)
        .then((c("current") - c("previous")) / c("previous").abs())
        .otherwise(None)
        .alias("relative_change"),
    ).select(list(MOVERS_SCHEMA.names()))
    return scored.cast(dict(MOVERS_SCHEMA)).collect()


def compute_executive_summary(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    clv_discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    clv_horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
    trend_months: int = DEFAULT_TREND_MONTHS,
) -> ExecutiveSummary:
    """Everything on the executive summary page for one set of filters.

    One query over the KPI cubes (:func:`_summary_rows`): the cube rows of the trend window
    and both periods for the slices, the product cube's rows of both periods, and the first
    month with data. Polars sums them per period and group (all KPIs are additive over
    the cube's rows) for the tiles, the breakdowns, the trend and the movers.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Period and slices; a filter that matches nobody gives undefined values with notes.
    clv_discount_rate : float
        Annual discount rate for CLV.
    clv_horizon_years : int
        CLV horizon in years.
    trend_months : int
        Minimum length of the trend window in months.

    Returns
    -------
    ExecutiveSummary
        Tiles with previous values, changes and tests; trend; breakdowns; movers.
    """
    filters = normalize_filters(filters)
    before = previous_period(filters)
    spans = [(before.start_month, before.end_month), (filters.start_month, filters.end_month)]
    options = {"clv_discount_rate": clv_discount_rate, "clv_horizon_years": clv_horizon_years}

    main, by_product, first_month = _summary_rows(backend, filters, before.start_month, trend_months)
    window = _window(filters, trend_months, first_month)
    trend = _trend_frame(bucket_sums(main, [(m, m) for m in window], ()), window, **options)

    # Every level (total, region, age band, product) of both periods in one frame of sums,
    # turned into KPIs at once: S, E and the closures among S add up over cells like the rest.
    levels = kpis_from_sums(
        _levels(
            bucket_sums(main, spans, ()),
            bucket_sums(main, spans, ("region", "age_band")),
            bucket_sums(by_product, spans, ("product",)),
        ),
        **options,
    )
    now = levels.filter(pl.col("bucket") == spans[1][0])
    prior = levels.filter(pl.col("bucket") == spans[0][0])

    def total(frame: pl.DataFrame, span: tuple[date, date]) -> pl.DataFrame:
        found = frame.filter(pl.col("dimension") == "total")
        return found.drop("bucket", "dimension", "value") if found.height else _empty_total(span, options)

    tiles_frame = (
        total(now, spans[1])
        .join(total(prior, spans[0]), how="cross", suffix="_prev")
        .with_columns(**{f"z_{name}": expr for name, expr in change_z_exprs(suffix="_prev").items()})
    )
    row = tiles_frame.row(0, named=True)
    critical = _z_critical(1.0 - SIGNIFICANCE_LEVEL)
    previous_complete = first_month is not None and before.start_month >= first_month
    tiles = tuple(
        _tile(name, row, previous=row if previous_complete else None, critical=critical) for name in KPI_NAMES
    )

    breakdown = {
        dimension: now.filter(pl.col("dimension") == dimension)
        .select(pl.col("value").alias(dimension), pl.col("customers").cast(pl.Int64), *KPI_NAMES)
        .sort(dimension)
        for dimension in BREAKDOWN_DIMENSIONS
    }
    groups = pl.col("dimension") != "total"
    movers = (
        _rank_movers(_scored_movers(now.filter(groups), prior.filter(groups)), top=MOVERS_TOP)
        if previous_complete
        else pl.DataFrame(schema=MOVERS_SCHEMA)
    )
    return ExecutiveSummary(
        filters=filters,
        previous_filters=before,
        customers_matched=int(row["customers"]),
        tiles=tiles,
        trend=trend,
        breakdown=breakdown,
        movers=movers,
        clv_discount_rate=clv_discount_rate,
        clv_horizon_years=clv_horizon_years,
        previous_complete=previous_complete,
    )


def warm_up(backend: ibis.BaseBackend) -> None:
    """Pay the one-off costs of the first summary (lazy imports, first compile) ahead of a user.

    Runs one small executive summary on the first month with data (or nothing when the
    database is empty) and discards it. Call it once at application start.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    """
    months = available_months(backend)
    if months:
        compute_executive_summary(backend, KpiFilters(months[-1], months[-1]), trend_months=1)


# -- private: reads ---------------------------------------------------------------------------
def _month_of(value: ir.Value) -> ir.DateValue:
    return value.truncate("M").cast("date")


_CUBE_COLUMNS: tuple[str, ...] = tuple(KPI_CUBE.schema.names())
_PRODUCT_COLUMNS: tuple[str, ...] = tuple(KPI_CUBE_PRODUCT.schema.names())


def _sliced(table: ir.Table, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """Rows of months ``first..last`` in the selected regions and age bands."""
    preds = [table.month >= ibis.literal(first, type="date"), table.month <= ibis.literal(last, type="date")]
    if filters.regions:
        preds.append(table.region.isin(list(filters.regions)))
    if filters.age_bands:
        preds.append(table.age_band.isin(list(filters.age_bands)))
    return table.filter(*preds)


def customer_month_rows(backend: ibis.BaseBackend, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """Filtered ``customer_month`` rows; under a product filter, the rows of the products' span.

    With products P the rows are those inside each customer's P-span, with product-level
    ``is_new`` / ``is_closed`` and a ``joined_bucket`` (:func:`analytics.kpis.rollups.product_span_rows`).
    Other modules (NPS drill-down, engagement) start from these rows so that their totals
    equal the executive tiles for the same filters.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    filters : KpiFilters
        Slices (region, age band, products); the months come from ``first`` and ``last``.
    first, last : datetime.date
        First and last month (first days), inclusive.

    Returns
    -------
    ibis.Table
        ``customer_month`` rows (and, under a product filter, ``joined_bucket``).
    """
    rows = _members_only(backend, _sliced(backend.table("customer_month"), filters, first, last), filters)
    if filters.products:
        rows = product_span_rows(
            rows,
            backend.table("holdings"),
            backend.table("customers"),
            products=filters.products,
            history_start=None,
        )
    return rows


def _main_rows(backend: ibis.BaseBackend, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """Cube rows (kpi_cube's columns) of the filtered population for months ``first..last``.

    No product: ``kpi_cube``. One product: its rows of ``kpi_cube_product``. Two or more:
    the same cube rows built on the fly from ``customer_month`` with the span of the union
    (:func:`analytics.kpis.rollups.product_span_rows`, the expression that builds
    ``kpi_cube_product``), since summing per-product rows would count a customer-month in
    two products' spans twice.
    """
    if len(filters.products) > 1 or filters.segment_id:
        rows = customer_month_rows(backend, filters, first, last)
        if not filters.products:
            rows = with_joined_bucket(rows, backend.table("customers"), history_start=None)
        return build_kpi_cube_rows(rows, CUBE_KEYS).select(*_CUBE_COLUMNS)
    if filters.products:
        cube = _sliced(backend.table("kpi_cube_product"), filters, first, last)
        return cube.filter(cube.product_id == filters.products[0]).select(*_CUBE_COLUMNS)
    return _sliced(backend.table("kpi_cube"), filters, first, last).select(*_CUBE_COLUMNS)


def _product_rows(backend: ibis.BaseBackend, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """``kpi_cube_product`` rows for the product breakdown (only the selected products under a filter).

    For a saved segment the same rows are built on the fly from its members' customer-months
    (:func:`analytics.kpis.rollups.product_span_rows` with one span per product, as the cube).
    """
    if filters.segment_id:
        rows = _members_only(backend, _sliced(backend.table("customer_month"), filters, first, last), filters)
        spans = product_span_rows(
            rows, backend.table("holdings"), backend.table("customers"), products=None, history_start=None
        )
        cube = build_kpi_cube_rows(spans, ("month", "product_id", *CUBE_KEYS[1:]))
        if filters.products:
            cube = cube.filter(cube.product_id.isin(list(filters.products)))
        return cube.select(*_PRODUCT_COLUMNS)
    cube = _sliced(backend.table("kpi_cube_product"), filters, first, last)
    if filters.products:
        cube = cube.filter(cube.product_id.isin(list(filters.products)))
    return cube.select(*_PRODUCT_COLUMNS)


def _summary_rows(
    backend: ibis.BaseBackend, filters: KpiFilters, previous_start: date, trend_months: int
) -> tuple[pl.DataFrame, pl.DataFrame, date | None]:
    """The executive summary's reads: two plain, parameter-light queries on the small cubes.

    Returns the cube rows of the trend window and both periods, the product cube's rows of
    both periods (column ``product``) and the first month of the cube (to clip the window).
    The slices are applied in Polars on a few thousand rows: building and compiling a
    filtered Ibis expression costs more than the filtering (BENCHMARKS.md).
    """
    first = min(_window(filters, trend_months, None)[0], previous_start)
    last = filters.end_month
    cube = backend.table("kpi_cube").to_polars()
    first_month = cube.get_column("month").min() if cube.height else None
    products = backend.table("kpi_cube_product")
    products = products.filter(products.month >= ibis.literal(first, type="date")).to_polars()
    if filters.segment_id:
        # A saved segment is a set of customers, not a slice of the cubes: both reads on the fly.
        main = _main_rows(backend, filters, first, last).to_polars()
        by_product = _product_rows(backend, filters, previous_start, last).to_polars()
        return main, by_product.rename({"product_id": "product"}), first_month
    if len(filters.products) > 1:
        main = _main_rows(backend, filters, first, last).to_polars()
    elif filters.products:
        main = _slice_frame(products, filters, first, last).drop("product_id")
    else:
        main = _slice_frame(cube, filters, first, last)
    by_product = _slice_frame(products, filters, previous_start, last)
    if filters.products:
        by_product = by_product.filter(pl.col("product_id").is_in(list(filters.products)))
    return main, by_product.rename({"product_id": "product"}), first_month


def _members_only(backend: ibis.BaseBackend, rows: ir.Table, filters: KpiFilters) -> ir.Table:
    """``rows`` of the members of ``filters.segment_id`` (all rows without a segment)."""
    if not filters.segment_id:
        return rows
    members = backend.table(SEGMENT_MEMBERS.name)
    chosen = members.filter(members.segment_id == filters.segment_id).customer_id
    return rows.filter(rows.customer_id.isin(chosen))


def _slice_frame(frame: pl.DataFrame, filters: KpiFilters, first: date, last: date) -> pl.DataFrame:
    """Polars twin of :func:`_sliced` (plus the single product, when the frame has products)."""
    c = pl.col
    preds = [c("month").is_between(first, last)]
    if filters.regions:
        preds.append(c("region").is_in(list(filters.regions)))
    if filters.age_bands:
        preds.append(c("age_band").is_in(list(filters.age_bands)))
    if len(filters.products) == 1 and "product_id" in frame.columns:
        preds.append(c("product_id") == filters.products[0])
    return frame.filter(*preds)


def _levels(totals: pl.DataFrame, cells: pl.DataFrame, by_product: pl.DataFrame) -> pl.DataFrame:
    """Sums per bucket and level: ``dimension`` total / region / age_band / product and its ``value``."""
    agg = [pl.col("months").first(), *(pl.col(name).sum() for name in SUM_COLUMNS if name != "months")]
    columns = ["bucket", "dimension", "value", *SUM_COLUMNS]
    lazy = cells.lazy()
    # Totals are summed from the rows, not from the cells, so they equal compute_kpis to the last bit.
    parts = [
        totals.lazy()
        .with_columns(pl.lit("total").alias("dimension"), pl.lit(None, dtype=pl.String).alias("value"))
        .select(columns)
    ]
    for dimension in ("region", "age_band"):
        parts.append(
            lazy.group_by("bucket", dimension)
            .agg(agg)
            .with_columns(pl.lit(dimension).alias("dimension"), pl.col(dimension).alias("value"))
            .select(columns)
        )
    parts.append(
        by_product.lazy()
        .with_columns(pl.lit("product").alias("dimension"), pl.col("product").alias("value"))
        .select(columns)
    )
    return pl.concat(parts).collect()


def bucket_sums(rows: pl.DataFrame, spans: Sequence[tuple[date, date]], keys: Sequence[str]) -> pl.DataFrame:
    """:data:`SUM_COLUMNS` per bucket and ``keys`` from cube rows; ``spans`` must not overlap.

    S counts the first month's rows that are not new, E the last month's rows that are not
    closed, and the closures among S are closures of customers who joined before the
    bucket (``joined_bucket`` earlier than its first month).
    """
    months, starts, ends, lengths = [], [], [], []
    for first, last in spans:
        for month in month_starts(first, last):
            months.append(month)
            starts.append(first)
            ends.append(last)
            lengths.append(months_between(first, last) + 1)
    grid = pl.DataFrame(
        {"month": months, "bucket": starts, "bucket_end": ends, "months": lengths},
        schema={"month": pl.Date, "bucket": pl.Date, "bucket_end": pl.Date, "months": pl.Int64},
    )
    c = pl.col
    keys = ["bucket", *keys]
    if rows.height == 0:
        return pl.DataFrame(schema={**{k: rows.schema.get(k, pl.Date) for k in keys}, **_SUM_SCHEMA})
    # Cube rows come in no particular order; sorting them on their key makes the float sums
    # (margin, engagement) reproducible to the last bit.
    order = [
        k
        for k in ("month", "product_id", "product", "region", "age_band", "joined_bucket")
        if k in rows.columns
    ]
    summed = (
        rows.lazy()
        .sort(order, nulls_last=True)
        .join(grid.lazy(), on="month", how="inner", maintain_order="left")
        .group_by(keys)
        .agg(
            c("months").first(),
            (c("customer_months") - c("new")).filter(c("month") == c("bucket")).sum().alias("at_start"),
            (c("customer_months") - c("closed")).filter(c("month") == c("bucket_end")).sum().alias("at_end"),
            c("closed").filter(c("joined_bucket") < c("bucket")).sum().alias("closed_at_start"),
            *(c(name).sum() for name in _MEASURES),
        )
        .with_columns((c("at_start") + c("new")).alias("customers"))
    )
    return summed.select(*keys, *SUM_COLUMNS).cast(dict(_SUM_SCHEMA)).sort(keys).collect()


def _empty_total(span: tuple[date, date], options: dict) -> pl.DataFrame:
    zero = pl.DataFrame([dict.fromkeys(SUM_COLUMNS, 0)], schema=_SUM_SCHEMA)
    return kpis_from_sums(zero.with_columns(pl.lit(months_between(*span) + 1).alias("months")), **options)


def _snapshot_date(backend: ibis.BaseBackend) -> date | None:
    meta = backend.table("dataset_meta")
    found = meta.filter(meta.key == "as_of").select("value").to_polars()
    if found.height and found.item(0, 0):
        return datetime.fromisoformat(found.item(0, 0)).date()
    tx = backend.table("transactions")
    last = tx.aggregate(last=tx.ts.max()).to_polars().item(0, 0)
    return last.date() if last is not None else None


def _window(filters: KpiFilters, months: int, first_month: date | None) -> list[date]:
    """Trend months: back to ``months`` before the end, never before the data, always the period."""
    start = min(filters.start_month, add_months(filters.end_month, -(max(months, 1) - 1)))
    if first_month is not None:
        start = max(start, min(first_month, filters.start_month))
    return month_starts(start, filters.end_month)


def _trend_frame(sums: pl.DataFrame, window: list[date], **options) -> pl.DataFrame:
    kpis = kpis_from_sums(sums, **options).select(pl.col("bucket").alias("month"), *KPI_NAMES)
    grid = pl.DataFrame({"month": window}, schema={"month": pl.Date})
    return grid.join(kpis, on="month", how="left").sort("month")


# -- private: results -----------------------------------------------------------------------
def _tile(
    name: str,
    row: dict,
    *,
    previous: dict | None = None,
    critical: float | None = None,
) -> KpiValue:
    value = _clean(row[name])
    base = int(row[_BASE_COLUMN[name]] or 0)
    low = high = None
    if value is not None and name == "nps":
        promoters, detractors = int(row["nps_promoters"]), int(row["nps_detractors"])
        _, low, high = nps_interval(promoters, base - promoters - detractors, detractors)
    elif value is not None and name in _PROPORTIONS:
        successes, trials = _PROPORTIONS[name]
        _, low, high = wilson_interval(int(row[successes]), int(row[trials]))
    fields = {}
    if previous is not None:
        before = _clean(previous[name + "_prev"])
        change = value - before if value is not None and before is not None else None
        z = _clean(previous.get(f"z_{name}"))
        fields = {
            "previous": before,
            "change": change,
            "change_significant": None if z is None or critical is None else abs(z) > critical,
        }
    note = None
    if value is None:
        note = MSG_NO_CUSTOMERS if not row["customers"] else _UNDEFINED_NOTE[name]
    return KpiValue(
        name=name,
        label=KPI_LABELS[name],
        unit=KPI_UNITS[name],
        value=value,
        n=base,
        ci_low=low,
        ci_high=high,
        note=note,
        **fields,
    )


def _total_row(frame: pl.DataFrame) -> dict:
    if frame.height == 0:
        return dict.fromkeys((*SUM_COLUMNS, "retained", *KPI_NAMES))
    return frame.row(0, named=True)


def _rank_movers(frame: pl.DataFrame, *, top: int | None) -> pl.DataFrame:
    """Sort movers: significant tested changes, then material untested ones, then the rest."""
    tested = pl.col("kpi").is_in(sorted(TESTED_KPIS))
    ranked = frame.with_columns(
        pl.when(pl.col("significant"))
        .then(0)
        .when(~tested & (pl.col("relative_change").abs() >= MOVERS_MIN_RELATIVE_CHANGE))
        .then(1)
        .otherwise(2)
        .alias("_tier"),
        pl.when(tested)
        .then(pl.col("z").abs())
        .otherwise(pl.col("relative_change").abs())
        .alias("_importance"),
    ).sort(
        ["_tier", "_importance", "dimension", "value", "kpi"],
        descending=[False, True, False, False, False],
        nulls_last=True,
    )
    if top is not None:
        # Diversity: at most MOVERS_MAX_PER_KPI rows of any one KPI in the top list.
        ranked = ranked.filter(pl.int_range(pl.len()).over("kpi") < MOVERS_MAX_PER_KPI).head(top)
    return ranked.select(list(MOVERS_SCHEMA.names()))


def _clean(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
