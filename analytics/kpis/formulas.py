"""The KPI formulas: scalar statistics (intervals, tests, CLV) and their Polars twins over sums.

No database here. Cube rows are summed per period and group into the additive
:data:`analytics.kpis.definitions.SUM_COLUMNS` (:func:`bucket_sums`) and turned into KPI values
(:func:`kpis_from_sums`), so the same formulas serve the tiles, the trend, the breakdowns
and the movers; the scalar functions (:func:`nps_interval`, :func:`wilson_interval`, ...) are
the definitions the vectorized ones are tested against (docs/kpis.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from statistics import NormalDist

import polars as pl

from analytics.common.months import add_months, months_between
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.definitions import (
    CONFIDENCE_LEVEL,
    DEFAULT_CLV_DISCOUNT_RATE,
    DEFAULT_CLV_HORIZON_YEARS,
    MEASURES,
    MSG_BAD_LEVEL,
    PROPORTIONS,
    SUM_COLUMNS,
    SUM_SCHEMA,
)
from analytics.kpis.rollups import month_starts


def z_critical(level: float) -> float:
    """Two-sided standard normal critical value of a confidence ``level`` (1.96 at 0.95)."""
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
    z = z_critical(level)
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
    z = z_critical(level)
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
    for name, (x, n) in PROPORTIONS.items():
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
        return pl.DataFrame(schema={**{k: rows.schema.get(k, pl.Date) for k in keys}, **SUM_SCHEMA})
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
            *(c(name).sum() for name in MEASURES),
        )
        .with_columns((c("at_start") + c("new")).alias("customers"))
    )
    return summed.select(*keys, *SUM_COLUMNS).cast(dict(SUM_SCHEMA)).sort(keys).collect()
