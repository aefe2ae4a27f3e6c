"""Every Streamlit cache wrapper lives here; analytics/ stays uncached."""

from __future__ import annotations

import streamlit as st

from analytics import kpis
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
