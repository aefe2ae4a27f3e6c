"""Every Streamlit cache wrapper lives here; analytics/ stays uncached."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics import clv_store, engagement, kpis, nps, retention
from analytics.db import Database, open_database, resolve_db_path
from analytics.schemas import KpiFilters


def database_path() -> str:
    """The configured database file (TAILOR_DB or the default), as a cache key."""
    return str(resolve_db_path())


@st.cache_resource(show_spinner=False)
def get_database(path: str) -> Database:
    """The process-wide owner of the DuckDB file (one per path; never mutate it)."""
    return open_database(path)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def available_months(path: str) -> list:
    """Full months with data, ascending (a snapshot taken mid-month leaves that month out).

    The same last month as the CLI's default period (``kpis.default_filters``), so the
    page's "last N months" and ``python -m analytics kpis`` agree.
    """
    backend = get_database(path).backend()
    last_full = kpis.default_filters(backend, months=1).end_month
    return [month for month in kpis.available_months(backend) if month <= last_full]


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def executive_summary(
    path: str,
    start_month,
    end_month,
    regions: tuple[str, ...],
    age_bands: tuple[str, ...],
    products: tuple[str, ...],
) -> kpis.ExecutiveSummary:
    """The executive KPIs for one filter combination (cached for ten minutes)."""
    filters = KpiFilters(
        start_month=start_month,
        end_month=end_month,
        regions=regions,
        age_bands=age_bands,
        products=products,
    )
    return kpis.compute_executive_summary(get_database(path).backend(), filters)


def _filters(start_month, end_month, regions, age_bands, products) -> KpiFilters:
    return KpiFilters(
        start_month=start_month, end_month=end_month, regions=regions, age_bands=age_bands, products=products
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def rfm(path: str, start_month, end_month, regions, age_bands, products) -> pl.DataFrame:
    """RFM scores and groups of the customers at the period's end (the page's segments)."""
    filters = _filters(start_month, end_month, regions, age_bands, products)
    return engagement.compute_rfm(get_database(path).backend(), filters)


def rfm_segments(path: str, filters: KpiFilters) -> pl.DataFrame:
    """``customer_id, segment`` from the RFM groups, for the breakdowns by segment."""
    return engagement.rfm_segments(rfm(path, *filter_key(filters)))


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def nps_drilldown(path: str, start_month, end_month, regions, age_bands, products) -> nps.NpsDrillDown:
    """The NPS drill-down for one filter combination, every breakdown including segments."""
    filters = _filters(start_month, end_month, regions, age_bands, products)
    return nps.compute_nps_drilldown(
        get_database(path).backend(),
        filters,
        dimensions=nps.NPS_DIMENSIONS,
        segments=rfm_segments(path, filters),
    )


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def nps_comments(
    path: str, start_month, end_month, regions, age_bands, products, *, dimension, group, month, category
) -> pl.DataFrame:
    """The comments behind one bar, unredacted (the page redacts them for the viewer's role)."""
    filters = _filters(start_month, end_month, regions, age_bands, products)
    segments = rfm_segments(path, filters) if dimension == "segment" else None
    return nps.nps_comments(
        get_database(path).backend(),
        filters,
        dimension=dimension,
        group=group,
        month=month,
        category=category,
        segments=segments,
        limit=nps.MAX_COMMENTS,
    )


def filter_key(filters: KpiFilters) -> tuple:
    """The filters as the positional cache-key arguments of the wrappers above."""
    return (filters.start_month, filters.end_month, filters.regions, filters.age_bands, filters.products)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def engagement_analysis(path: str, start_month, end_month, regions, age_bands, products):
    """Engagement distribution, drivers and movement by region, age band and RFM group."""
    filters = _filters(start_month, end_month, regions, age_bands, products)
    return engagement.compute_engagement_analysis(
        get_database(path).backend(),
        filters,
        rfm=rfm(path, start_month, end_month, regions, age_bands, products),
    )


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def stored_clv(path: str) -> clv_store.StoredClvFit | None:
    """The newest stored CLV fit (re-read every minute, and after a refit)."""
    return clv_store.load_stored_clv(get_database(path).backend())


@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def clv_predictions(path: str, fit_id: str) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """A stored fit's per-customer predictions and their histograms and deciles."""
    predictions = clv_store.load_clv_predictions(get_database(path).backend(), fit_id)
    return predictions, clv_store.summarize_predictions(predictions)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def cohort_matrix(path: str, end_month, regions, age_bands) -> retention.CohortMatrix:
    """Join-month cohorts up to ``end_month`` within the region and age-band filters."""
    return retention.compute_cohort_matrix(
        get_database(path).backend(), end_month=end_month, regions=regions, age_bands=age_bands
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def retention_series(
    path: str, start_month, end_month, regions, age_bands, products
) -> retention.RetentionSeries:
    """Monthly retention and churn rates with their intervals."""
    filters = _filters(start_month, end_month, regions, age_bands, products)
    return retention.compute_retention_series(get_database(path).backend(), filters)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def survival(path: str, by: str, regions, age_bands) -> retention.SurvivalResult:
    """Kaplan-Meier curves by group (monthly tenure)."""
    return retention.compute_survival(
        get_database(path).backend(), by=by, regions=regions, age_bands=age_bands
    )
