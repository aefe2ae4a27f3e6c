"""Reads of the KPI cubes: the months with data, the default period, sums per bucket and group, the trend.

Every KPI is additive over a small maintained cube (``kpi_cube``, and ``kpi_cube_product``
for products; :mod:`analytics.kpis.rollups`, rebuilt with ``customer_month`` at load time), so a
filter change reads a few thousand rows instead of reducing millions of customer-months
(docs/kpis.md).

A single-product filter reads ``kpi_cube_product``; a filter on two or more products (or a
saved segment) builds the same cube rows on the fly from ``customer_month`` with the span of
the set (:func:`analytics.kpis.rollups.product_span_rows` and
:func:`analytics.kpis.rollups.build_kpi_cube_rows`, one set of formulas either way). Under a
product filter P the population is the customer-months inside each customer's P-span (first
month holding any product of P to the last, gaps ignored), and retention and churn are those
of P's holders: take-up counts as new, giving up every product of P (or leaving the bank while
holding it) counts as churn (docs/kpis.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.months import add_months, last_full_month
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.definitions import (
    DEFAULT_CLV_DISCOUNT_RATE,
    DEFAULT_CLV_HORIZON_YEARS,
    DEFAULT_TREND_MONTHS,
    KPI_NAMES,
    MSG_BAD_MONTHS,
)
from analytics.kpis.formulas import bucket_sums, kpis_from_sums
from analytics.kpis.rollups import (
    CUBE_KEYS,
    build_kpi_cube_rows,
    engagement_parts,
    month_starts,
    monthly_engagement_score,
    product_span_rows,
    with_joined_bucket,
)
from analytics.store.contracts import KPI_CUBE, KPI_CUBE_PRODUCT, SEGMENT_MEMBERS

_CUBE_COLUMNS: tuple[str, ...] = tuple(KPI_CUBE.schema.names())
_PRODUCT_COLUMNS: tuple[str, ...] = tuple(KPI_CUBE_PRODUCT.schema.names())


@shared_docs
def available_months(backend: ibis.BaseBackend) -> list[date]:
    """Months with customers (the months of ``kpi_cube``, the same as ``customer_month``'s), ascending.

    Parameters
    ----------
    {backend}

    Returns
    -------
    list of datetime.date
        First days of months.
    """
    cube = backend.table("kpi_cube")
    frame = cube.select("month").distinct().order_by("month").to_polars()
    return frame.get_column("month").to_list()


@shared_docs
def default_filters(backend: ibis.BaseBackend, *, months: int = 3) -> KpiFilters:
    """The last ``months`` full calendar months with data, no slices.

    The snapshot month counts as full only when the snapshot date (``dataset_meta.as_of``,
    else the last transaction day) is its last day. Without any data, the months before
    today's are returned (every KPI is then undefined, nothing raises).

    Parameters
    ----------
    {backend}
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


@shared_docs
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
    {backend}
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


@shared_docs
def compute_engagement_scores(backend: ibis.BaseBackend, filters: KpiFilters) -> pl.DataFrame:
    """Per-customer engagement over the period: means of the monthly scores and their inputs.

    Read from ``customer_month`` (not the cubes). ``engagement`` is the mean of the
    customer's monthly scores; the components are the means of the monthly inputs
    (sessions, products held, offer interaction) and the overall average session length.
    The KPI (:func:`analytics.kpis.formulas.kpis_from_sums`) weights customers by their months in the period.

    Parameters
    ----------
    {backend}
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


@shared_docs
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
    {backend}
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
    window = list_trend_months(filters, months, first)
    sums = compute_period_sums(backend, filters, buckets=[(m, m) for m in window])
    return trend_from_sums(
        sums, window, clv_discount_rate=clv_discount_rate, clv_horizon_years=clv_horizon_years
    )


def _sliced(table: ir.Table, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """Rows of months ``first..last`` in the selected regions and age bands."""
    preds = [table.month >= ibis.literal(first, type="date"), table.month <= ibis.literal(last, type="date")]
    if filters.regions:
        preds.append(table.region.isin(list(filters.regions)))
    if filters.age_bands:
        preds.append(table.age_band.isin(list(filters.age_bands)))
    return table.filter(*preds)


@shared_docs
def customer_month_rows(backend: ibis.BaseBackend, filters: KpiFilters, first: date, last: date) -> ir.Table:
    """Filtered ``customer_month`` rows; under a product filter, the rows of the products' span.

    With products P the rows are those inside each customer's P-span, with product-level
    ``is_new`` / ``is_closed`` and a ``joined_bucket`` (:func:`analytics.kpis.rollups.product_span_rows`).
    Other modules (NPS drill-down, engagement) start from these rows so that their totals
    equal the executive tiles for the same filters.

    Parameters
    ----------
    {backend}
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


@shared_docs
def read_summary_rows(
    backend: ibis.BaseBackend, filters: KpiFilters, previous_start: date, trend_months: int
) -> tuple[pl.DataFrame, pl.DataFrame, date | None]:
    """The executive summary's reads: two plain, parameter-light queries on the small cubes.

    The slices are applied in Polars on a few thousand rows: building and compiling a
    filtered Ibis expression costs more than the filtering (BENCHMARKS.md).

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices.
    previous_start : datetime.date
        First month of the previous period.
    trend_months : int
        Minimum length of the trend window in months.

    Returns
    -------
    tuple
        The cube rows of the trend window and both periods, the product cube's rows of both
        periods (column ``product``), and the first month of the cube (None when empty).
    """
    first = min(list_trend_months(filters, trend_months, None)[0], previous_start)
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


def _snapshot_date(backend: ibis.BaseBackend) -> date | None:
    meta = backend.table("dataset_meta")
    found = meta.filter(meta.key == "as_of").select("value").to_polars()
    if found.height and found.item(0, 0):
        return datetime.fromisoformat(found.item(0, 0)).date()
    tx = backend.table("transactions")
    last = tx.aggregate(last=tx.ts.max()).to_polars().item(0, 0)
    return last.date() if last is not None else None


def list_trend_months(filters: KpiFilters, months: int, first_month: date | None) -> list[date]:
    """The months of the trend: back to ``months`` before the end, never before the data, always the period.

    Parameters
    ----------
    filters : KpiFilters
        The selected period.
    months : int
        Minimum length of the window.
    first_month : datetime.date or None
        First month with data (None: unknown, no clipping).

    Returns
    -------
    list of datetime.date
        First days of the months, ascending.
    """
    start = min(filters.start_month, add_months(filters.end_month, -(max(months, 1) - 1)))
    if first_month is not None:
        start = max(start, min(first_month, filters.start_month))
    return month_starts(start, filters.end_month)


def trend_from_sums(sums: pl.DataFrame, window: list[date], **options) -> pl.DataFrame:
    """One row of KPIs per month of ``window`` from one-month bucket sums (nulls where a month has none).

    Parameters
    ----------
    sums : polars.DataFrame
        :func:`analytics.kpis.formulas.bucket_sums` with one bucket per month.
    window : list of datetime.date
        The trend's months (:func:`list_trend_months`).
    **options
        ``clv_discount_rate`` and ``clv_horizon_years`` for
        :func:`analytics.kpis.formulas.kpis_from_sums`.

    Returns
    -------
    polars.DataFrame
        ``month`` and one Float64 column per KPI.
    """
    kpis = kpis_from_sums(sums, **options).select(pl.col("bucket").alias("month"), *KPI_NAMES)
    grid = pl.DataFrame({"month": window}, schema={"month": pl.Date})
    return grid.join(kpis, on="month", how="left").sort("month")
