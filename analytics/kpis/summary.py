"""The executive summary: every KPI tile with its change and test, the trend, breakdowns and movers.

How the numbers are made
------------------------
1. One read of the KPI cubes (:func:`analytics.kpis.cubes.read_summary_rows`): the cube rows of
   the months needed (the trend window, the period and the one before it) for the region /
   age-band slices, plus the product cube's rows of the two periods.
2. Polars sums those rows per period (or month) and group into the additive
   :data:`analytics.kpis.definitions.SUM_COLUMNS` (:func:`analytics.kpis.formulas.bucket_sums`)
   and turns them into KPI values (:func:`analytics.kpis.formulas.kpis_from_sums`), so the same
   formulas serve the tiles, the trend, the breakdowns and the movers.

Periods are whole calendar months (:class:`analytics.common.types.KpiFilters`); the
previous period is the same number of months immediately before
(:func:`analytics.kpis.formulas.previous_period`). Shares are fractions in 0..1; NPS is on
-100..100. The formulas are in docs/kpis.md and the docstrings of
:mod:`analytics.kpis.formulas`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import ibis
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.months import months_between
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.cubes import (
    available_months,
    compute_period_sums,
    list_trend_months,
    read_summary_rows,
    trend_from_sums,
)
from analytics.kpis.definitions import (
    BASE_COLUMN,
    BREAKDOWN_DIMENSIONS,
    DEFAULT_CLV_DISCOUNT_RATE,
    DEFAULT_CLV_HORIZON_YEARS,
    DEFAULT_TREND_MONTHS,
    KPI_LABELS,
    KPI_NAMES,
    KPI_UNITS,
    MOVERS_MAX_PER_KPI,
    MOVERS_MIN_CUSTOMERS,
    MOVERS_MIN_RELATIVE_CHANGE,
    MOVERS_SCHEMA,
    MOVERS_TOP,
    MSG_NO_CUSTOMERS,
    PROPORTIONS,
    SIGNIFICANCE_LEVEL,
    SUM_COLUMNS,
    SUM_SCHEMA,
    TESTED_KPIS,
    UNDEFINED_NOTE,
    KpiValue,
)
from analytics.kpis.formulas import (
    bucket_sums,
    change_z_exprs,
    kpis_from_sums,
    nps_interval,
    previous_period,
    wilson_interval,
    z_critical,
)


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


@shared_docs
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
    {backend}
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
    critical = z_critical(1.0 - SIGNIFICANCE_LEVEL)
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


@shared_docs
def compute_executive_summary(
    backend: ibis.BaseBackend,
    filters: KpiFilters,
    *,
    clv_discount_rate: float = DEFAULT_CLV_DISCOUNT_RATE,
    clv_horizon_years: int = DEFAULT_CLV_HORIZON_YEARS,
    trend_months: int = DEFAULT_TREND_MONTHS,
) -> ExecutiveSummary:
    """Everything on the executive summary page for one set of filters.

    One query over the KPI cubes (:func:`read_summary_rows`): the cube rows of the trend window
    and both periods for the slices, the product cube's rows of both periods, and the first
    month with data. Polars sums them per period and group (all KPIs are additive over
    the cube's rows) for the tiles, the breakdowns, the trend and the movers.

    Parameters
    ----------
    {backend}
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

    main, by_product, first_month = read_summary_rows(backend, filters, before.start_month, trend_months)
    window = list_trend_months(filters, trend_months, first_month)
    trend = trend_from_sums(bucket_sums(main, [(m, m) for m in window], ()), window, **options)

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
    critical = z_critical(1.0 - SIGNIFICANCE_LEVEL)
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


@shared_docs
def warm_up(backend: ibis.BaseBackend) -> None:
    """Pay the one-off costs of the first summary (lazy imports, first compile) ahead of a user.

    Runs one small executive summary on the first month with data (or nothing when the
    database is empty) and discards it. Call it once at application start.

    Parameters
    ----------
    {backend}
    """
    months = available_months(backend)
    if months:
        compute_executive_summary(backend, KpiFilters(months[-1], months[-1]), trend_months=1)


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


def _empty_total(span: tuple[date, date], options: dict) -> pl.DataFrame:
    zero = pl.DataFrame([dict.fromkeys(SUM_COLUMNS, 0)], schema=SUM_SCHEMA)
    return kpis_from_sums(zero.with_columns(pl.lit(months_between(*span) + 1).alias("months")), **options)


# -- private: results -----------------------------------------------------------------------
def _tile(
    name: str,
    row: dict,
    *,
    previous: dict | None = None,
    critical: float | None = None,
) -> KpiValue:
    value = _clean(row[name])
    base = int(row[BASE_COLUMN[name]] or 0)
    low = high = None
    if value is not None and name == "nps":
        promoters, detractors = int(row["nps_promoters"]), int(row["nps_detractors"])
        _, low, high = nps_interval(promoters, base - promoters - detractors, detractors)
    elif value is not None and name in PROPORTIONS:
        successes, trials = PROPORTIONS[name]
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
        note = MSG_NO_CUSTOMERS if not row["customers"] else UNDEFINED_NOTE[name]
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
