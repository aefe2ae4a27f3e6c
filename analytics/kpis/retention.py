"""Retention: cohort heat maps, retention and churn over time.

Two views of the question "how long do customers stay, and what are they worth while they
do?" (docs/retention.md); the third, survival curves, is :mod:`analytics.kpis.survival`:

1. **Cohort matrix** (:func:`compute_cohort_matrix`): customers grouped by the month they
   joined (their *cohort*), followed month by month: how many are still customers
   ``k`` months later and what margin they bring. One grouped Ibis aggregation over the
   maintained ``cohort_cube`` (``customer_month`` joined to the customers who joined inside
   the history, summed at load time); :func:`cohort_heatmap` pivots it for a heat map.
2. **Retention and churn series** (:func:`compute_retention_series`): the executive
   KPIs' customer retention and churn rates month by month, from
   :func:`analytics.kpis.cubes.compute_trend`, with Wilson 95% intervals
   (:func:`analytics.kpis.formulas.wilson_interval`) on their bases. No formula is repeated here.

The history's dates (:func:`read_dataset_dates`), the typed contract tables
(:func:`contract_table`) and the check of the region and age-band filters
(:func:`check_values`) are shared with the survival curves.

Every result is a frozen dataclass of plain values and Polars frames: dates are
``datetime.date``, missing values are None (never NaN), so the CLI's JSON conversion
prints them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.months import last_full_month
from analytics.common.types import AGE_BANDS, REGIONS, KpiFilters
from analytics.kpis import cubes, definitions, formulas
from analytics.store.contracts import ALL_TABLES

CohortMetric = Literal["retained_share", "retained", "revenue", "revenue_per_member", "revenue_retention"]
COHORT_METRICS: tuple[str, ...] = get_args(CohortMetric)
"""Cell values :func:`cohort_heatmap` can pivot."""

CONFIDENCE_LEVEL = definitions.CONFIDENCE_LEVEL
DEFAULT_SERIES_MONTHS = definitions.DEFAULT_TREND_MONTHS

MSG_UNKNOWN_VALUE = "Unknown {what} {value!r} in {parameter}; choose from {choices}."
MSG_BAD_COHORT_RANGE = (
    "The cohorts start ({start:%Y-%m}) after they end ({end:%Y-%m}): swap start_month and end_month."
)
MSG_BAD_MAX_MONTHS = "max_months must be 0 or more, got {value}."
MSG_BAD_METRIC = "Unknown metric {value!r}; choose from {choices}."

CELL_SCHEMA = pl.Schema(
    {
        "cohort_month": pl.Date,
        "months_since_start": pl.Int64,
        "month": pl.Date,
        "cohort_size": pl.Int64,
        "retained": pl.Int64,
        "retained_share": pl.Float64,
        "revenue": pl.Float64,
        "revenue_per_member": pl.Float64,
        "revenue_retention": pl.Float64,
    }
)
SERIES_SCHEMA = pl.Schema(
    {
        "month": pl.Date,
        "customers_at_start": pl.Int64,
        "new": pl.Int64,
        "retained": pl.Int64,
        "churned": pl.Int64,
        "retention_rate": pl.Float64,
        "retention_ci_low": pl.Float64,
        "retention_ci_high": pl.Float64,
        "churn_rate": pl.Float64,
        "churn_ci_low": pl.Float64,
        "churn_ci_high": pl.Float64,
    }
)


@dataclass(frozen=True)
class CohortMatrix:
    """Customer and revenue retention of monthly join cohorts (long form, one row per cell).

    Parameters
    ----------
    cells : polars.DataFrame
        One row per observed (cohort, months since start) cell, sorted by both; columns of
        :data:`CELL_SCHEMA`: ``cohort_month`` (month the customers joined),
        ``months_since_start`` (k, 0 = the joining month), ``month`` (the calendar month
        of the cell), ``cohort_size`` (customers who joined that month), ``retained``
        (of them, customers at some point in month k), ``retained_share`` (retained /
        cohort_size), ``revenue`` (their fee plus holding margin in month k, EUR),
        ``revenue_per_member`` (revenue / cohort_size: per initial member, so leavers
        count as 0), ``revenue_retention`` (revenue / the cohort's revenue in month 1,
        its first full month; null in month 0 and where month 1 earned nothing). Cells
        after the last full month of data are absent, never 0.
    history_start : datetime.date or None
        First month of the data set's history; cohorts start there.
    last_month : datetime.date or None
        Last full month of data (the snapshot month when the snapshot is its last day).
    customers_before_history : int
        Customers (within the region / age-band filters) who were already customers when
        the history starts: their join month is outside the data, so they are in no cohort.
    regions, age_bands : tuple of str
        The filters applied (empty: everyone).
    max_months : int or None
        Largest ``months_since_start`` kept (None: all).
    """

    cells: pl.DataFrame
    history_start: date | None
    last_month: date | None
    customers_before_history: int
    regions: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    max_months: int | None = None


@dataclass(frozen=True)
class RetentionSeries:
    """Customer retention and churn rate per month, with Wilson intervals.

    Parameters
    ----------
    filters : KpiFilters
        The period and slices asked for (the series covers at least its months).
    series : polars.DataFrame
        One row per month (:data:`SERIES_SCHEMA`): ``customers_at_start`` (S),
        ``new`` (N), ``retained`` (E - N), ``churned`` (closures among S), the rates of
        :func:`analytics.kpis.cubes.compute_trend` and their Wilson intervals; null where S is 0.
    confidence_level : float
        Level of the intervals.
    """

    filters: KpiFilters
    series: pl.DataFrame
    confidence_level: float = CONFIDENCE_LEVEL


# -- cohort matrix ------------------------------------------------------------------------------
@shared_docs
def compute_cohort_matrix(
    backend: ibis.BaseBackend,
    *,
    start_month: date | None = None,
    end_month: date | None = None,
    regions: Sequence[str] = (),
    age_bands: Sequence[str] = (),
    max_months: int | None = None,
) -> CohortMatrix:
    """Retention of customers and of their margin by join month, in one grouped query.

    A cohort is the customers who joined in one calendar month inside the history
    (customers who joined earlier have no known cohort and are only counted, in
    ``customers_before_history``). For cohort c and k = 0, 1, ... months later, up to the
    last full month of data:

    - ``retained`` = cohort members with a ``customer_month`` row in month c + k (a customer
      at some point in that month; the month they close still counts);
    - ``revenue`` = their ``fee_margin + holding_margin`` in that month (the margin of
      docs/kpis.md's CLV);
    - ``retained_share = retained / cohort_size`` and ``revenue_per_member = revenue /
      cohort_size``, with ``cohort_size`` the retained count at k = 0;
    - ``revenue_retention = revenue(k) / revenue(1)``: relative to the first full month,
      since customers join during month 0 (its fees are partial). Null at k = 0.

    Parameters
    ----------
    {backend}
    start_month, end_month : datetime.date, optional
        First and last cohort (any day of the month); default: every cohort of the history.
    regions, age_bands : sequence of str
        Keep only customers in these regions / age bands (:data:`analytics.common.types.REGIONS`,
        :data:`analytics.common.types.AGE_BANDS`); empty keeps everyone.
    max_months : int, optional
        Keep cells with ``months_since_start <= max_months``.

    Returns
    -------
    CohortMatrix
        The cells in long form and the counts around them.

    Raises
    ------
    ValueError
        On an unknown region or age band, cohorts that start after they end, or a negative
        ``max_months``.
    """
    regions = check_values(regions, REGIONS, what="region", parameter="regions")
    age_bands = check_values(age_bands, AGE_BANDS, what="age band", parameter="age_bands")
    if max_months is not None and max_months < 0:
        raise ValueError(MSG_BAD_MAX_MONTHS.format(value=max_months))
    first = start_month.replace(day=1) if start_month else None
    last = end_month.replace(day=1) if end_month else None
    if first and last and first > last:
        raise ValueError(MSG_BAD_COHORT_RANGE.format(start=first, end=last))

    history_start, as_of = read_dataset_dates(backend)
    last_month = last_full_month(as_of) if as_of else None
    empty = CohortMatrix(
        cells=pl.DataFrame(schema=CELL_SCHEMA),
        history_start=history_start,
        last_month=last_month,
        customers_before_history=0,
        regions=regions,
        age_bands=age_bands,
        max_months=max_months,
    )
    if history_start is None or last_month is None or last_month < history_start:
        return empty
    before = _customers_before_history(backend, history_start, regions, age_bands)
    first = max(first or history_start, history_start)
    last = min(last or last_month, last_month)
    if first > last:
        return replace(empty, customers_before_history=before)

    sums = backend.to_polars(_cohort_sums(first, last, last_month, regions, age_bands))
    cells = _cohort_cells(sums, last_month, max_months)
    return replace(empty, cells=cells, customers_before_history=before)


def cohort_heatmap(matrix: CohortMatrix, *, metric: CohortMetric = "retained_share") -> pl.DataFrame:
    """One row per cohort and one column per month since start, for a heat map.

    Parameters
    ----------
    matrix : CohortMatrix
        From :func:`compute_cohort_matrix`.
    metric : str
        The cell value (:data:`COHORT_METRICS`).

    Returns
    -------
    polars.DataFrame
        ``cohort_month``, ``cohort_size``, then columns ``"0"``, ``"1"``, ... (months since
        start, as strings) holding the metric; null where the cell is not observed yet.

    Examples
    --------
    >>> cells = pl.DataFrame(
    ...     {"cohort_month": [date(2024, 1, 1)] * 2 + [date(2024, 2, 1)], "months_since_start": [0, 1, 0],
    ...      "cohort_size": [4, 4, 2], "retained_share": [1.0, 0.75, 1.0]}
    ... )
    >>> matrix = CohortMatrix(cells=cells, history_start=None, last_month=None, customers_before_history=0)
    >>> cohort_heatmap(matrix).rows()
    [(datetime.date(2024, 1, 1), 4, 1.0, 0.75), (datetime.date(2024, 2, 1), 2, 1.0, None)]
    """
    if metric not in COHORT_METRICS:
        raise ValueError(MSG_BAD_METRIC.format(value=metric, choices=", ".join(COHORT_METRICS)))
    cells = matrix.cells
    if cells.height == 0:
        return pl.DataFrame(schema={"cohort_month": pl.Date, "cohort_size": pl.Int64})
    columns = [str(k) for k in range(int(cells.get_column("months_since_start").max()) + 1)]
    wide = cells.with_columns(pl.col("months_since_start").cast(pl.String)).pivot(
        on="months_since_start", index=["cohort_month", "cohort_size"], values=metric
    )
    for name in columns:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=cells.schema[metric]).alias(name))
    return wide.select("cohort_month", "cohort_size", *columns).sort("cohort_month")


def _cohort_sums(
    first: date,
    last: date,
    last_month: date,
    regions: tuple[str, ...],
    age_bands: tuple[str, ...],
) -> ir.Table:
    """The one grouped query: cohort members and their margin per (cohort, month).

    It reads the maintained ``cohort_cube`` (:func:`analytics.kpis.rollups.build_cohort_cube`,
    rebuilt with the other rollups at every load), whose rows are already summed per
    cohort, month, region and age band: the filters keep its slices and one small
    GROUP BY adds them up.
    """
    cube = contract_table("cohort_cube")
    preds = [
        cube.cohort_month >= ibis.literal(first, type="date"),
        cube.cohort_month <= ibis.literal(last, type="date"),
        cube.month <= ibis.literal(last_month, type="date"),
    ]
    if regions:
        preds.append(cube.region.isin(list(regions)))
    if age_bands:
        preds.append(cube.age_band.isin(list(age_bands)))
    rows = cube.filter(*preds)
    return rows.group_by("cohort_month", "month").aggregate(
        retained=rows.customers.sum().cast("int64"), revenue=rows.margin.sum().cast("float64")
    )


def _cohort_cells(sums: pl.DataFrame, last_month: date, max_months: int | None) -> pl.DataFrame:
    """Cells of :data:`CELL_SCHEMA` from per (cohort, month) counts and revenue.

    Every month from the cohort's to ``last_month`` gets a cell: a month in which no member
    was left has no row in the sums and shows 0 retained, 0 revenue.
    """
    if sums.height == 0:
        return pl.DataFrame(schema=CELL_SCHEMA)
    c = pl.col

    def index(month: pl.Expr) -> pl.Expr:
        return month.dt.year().cast(pl.Int64) * 12 + month.dt.month().cast(pl.Int64) - 1

    span = last_month.year * 12 + last_month.month - 1 - index(c("cohort_month"))
    if max_months is not None:
        span = pl.min_horizontal(span, pl.lit(max_months, dtype=pl.Int64))
    at = index(c("cohort_month")) + c("months_since_start")
    lazy = sums.lazy()
    grid = (
        lazy.filter(c("month") == c("cohort_month"))
        .select("cohort_month", c("retained").alias("cohort_size"))
        .with_columns(pl.int_ranges(0, span + 1, dtype=pl.Int64).alias("months_since_start"))
        .explode("months_since_start")
        .with_columns(pl.date(at // 12, at % 12 + 1, 1).alias("month"))
    )
    k = c("months_since_start")
    retained, revenue = c("retained").fill_null(0), c("revenue").fill_null(0.0)
    month_one = revenue.filter(k == 1).first().over("cohort_month")
    return (
        grid.join(lazy, on=["cohort_month", "month"], how="left")
        .select(
            "cohort_month",
            "months_since_start",
            "month",
            "cohort_size",
            retained.alias("retained"),
            (retained / c("cohort_size")).alias("retained_share"),
            revenue.alias("revenue"),
            (revenue / c("cohort_size")).alias("revenue_per_member"),
            pl.when((k >= 1) & (month_one > 0)).then(revenue / month_one).alias("revenue_retention"),
        )
        .cast(dict(CELL_SCHEMA))
        .sort("cohort_month", "months_since_start")
        .collect()
    )


def _customers_before_history(
    backend: ibis.BaseBackend, history_start: date, regions: tuple[str, ...], age_bands: tuple[str, ...]
) -> int:
    """Customers present in the history's first month who did not join in it (from ``kpi_cube``)."""
    cube = contract_table("kpi_cube")
    preds = [cube.month == ibis.literal(history_start, type="date")]
    if regions:
        preds.append(cube.region.isin(list(regions)))
    if age_bands:
        preds.append(cube.age_band.isin(list(age_bands)))
    cube = cube.filter(*preds)
    found = backend.to_polars(cube.aggregate(n=(cube.customer_months - cube.new).sum())).item(0, 0)
    return int(found or 0)


# -- retention and churn series -----------------------------------------------------------------
@shared_docs
def compute_retention_series(
    backend: ibis.BaseBackend, filters: KpiFilters, *, months: int = DEFAULT_SERIES_MONTHS
) -> RetentionSeries:
    """Customer retention and churn rate of every month, with Wilson intervals.

    Each month is a one-month period of the executive KPIs (docs/kpis.md, "Retention and
    churn"): retention = (E - N) / S and churn = closures among S / S, read from
    :func:`analytics.kpis.cubes.compute_trend` (so a month's value equals the KPI tile for that
    month alone), with S, N, E - N and the closures among S from
    :func:`analytics.kpis.cubes.compute_period_sums` and 95% Wilson intervals from
    :func:`analytics.kpis.formulas.wilson_interval` (E - N out of S is treated as a proportion, as
    the executive page does).

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices (regions, age bands, products) as on the executive page.
    months : int
        Minimum number of months shown, ending with the period's last month (never before
        the first month with data; always the whole period).

    Returns
    -------
    RetentionSeries
        The series, one row per month.

    Raises
    ------
    ValueError
        On an unknown region or age band, or a period that starts after it ends.
    """
    check_values(filters.regions, REGIONS, what="region", parameter="regions")
    check_values(filters.age_bands, AGE_BANDS, what="age band", parameter="age_bands")
    trend = cubes.compute_trend(backend, filters, months=months).select(
        "month", "retention_rate", "churn_rate"
    )
    window = trend.get_column("month").to_list()
    sums = formulas.kpis_from_sums(
        cubes.compute_period_sums(backend, filters, buckets=[(m, m) for m in window])
    ).select(
        pl.col("bucket").alias("month"),
        pl.col("at_start").alias("customers_at_start"),
        "new",
        "retained",
        pl.col("closed_at_start").alias("churned"),
    )
    counts = ("customers_at_start", "new", "retained", "churned")
    frame = trend.join(sums, on="month", how="left").with_columns(pl.col(counts).fill_null(0))
    bounds = {name: [] for name in SERIES_SCHEMA.names() if name.endswith(("_low", "_high"))}
    for row in frame.iter_rows(named=True):
        for rate, successes in (("retention", "retained"), ("churn", "churned")):
            _, low, high = formulas.wilson_interval(row[successes], row["customers_at_start"])
            if row[f"{rate}_rate"] is None:
                low = high = None
            bounds[f"{rate}_ci_low"].append(low)
            bounds[f"{rate}_ci_high"].append(high)
    series = frame.with_columns(
        *(pl.Series(name, values, dtype=pl.Float64) for name, values in bounds.items())
    ).select(list(SERIES_SCHEMA.names()))
    return RetentionSeries(filters=filters, series=series.cast(dict(SERIES_SCHEMA)))


# -- shared with the survival curves ----------------------------------------------------------
def contract_table(name: str) -> ir.Table:
    """Unbound Ibis table of a contract table, run with ``backend.to_polars``.

    Typed from :mod:`analytics.store.contracts` (the DDL the database was built from) rather than
    ``backend.table(name)``, which asks the database for the schema on every call: 2-3 ms
    each, as much as a quarter of the cohort matrix at 200,000 customers.

    Parameters
    ----------
    name : str
        A table of :data:`analytics.store.contracts.ALL_TABLES`.

    Returns
    -------
    ibis.expr.types.Table
        The table, bound to no backend.
    """
    return ibis.table(ibis.Schema.from_polars(ALL_TABLES[name].schema), name=name)


def check_values(
    values: Sequence[str], allowed: Sequence[str], *, what: str, parameter: str
) -> tuple[str, ...]:
    """The filter values as a tuple, each checked against its choices.

    Parameters
    ----------
    values : sequence of str
        The values asked for (regions, age bands).
    allowed : sequence of str
        Their choices.
    what, parameter : str
        Their name in the message, and the parameter that carried them.

    Returns
    -------
    tuple of str
        ``values``, unchanged.

    Raises
    ------
    ValueError
        :data:`MSG_UNKNOWN_VALUE` for the first value not in ``allowed``.
    """
    values = tuple(values)
    for value in values:
        if value not in allowed:
            raise ValueError(
                MSG_UNKNOWN_VALUE.format(
                    what=what, value=value, parameter=parameter, choices=", ".join(allowed)
                )
            )
    return values


@shared_docs
def read_dataset_dates(backend: ibis.BaseBackend) -> tuple[date | None, date | None]:
    """(first month of the history, snapshot date), read as ``Database.history_start`` / ``snapshot_date`` do.

    From ``dataset_meta`` (``history_start``, ``as_of``); without them, the first month of
    ``customer_month`` and the last transaction day.

    Parameters
    ----------
    {backend}

    Returns
    -------
    tuple of datetime.date or None
        The history's first month (first day) and the snapshot date; None without data.
    """
    meta = contract_table("dataset_meta")
    rows = backend.to_polars(meta.filter(meta.key.isin(["history_start", "as_of"])))
    facts = {k: v for k, v in rows.iter_rows() if v}
    history_start = as_of = None
    if "history_start" in facts:
        history_start = datetime.fromisoformat(facts["history_start"]).date().replace(day=1)
    else:
        cm = contract_table("customer_month")
        history_start = backend.to_polars(cm.aggregate(first=cm.month.min())).item(0, 0)
    if "as_of" in facts:
        as_of = datetime.fromisoformat(facts["as_of"]).date()
    else:
        tx = contract_table("transactions")
        last = backend.to_polars(tx.aggregate(last=tx.ts.max())).item(0, 0)
        as_of = last.date() if last is not None else None
    return history_start, as_of
