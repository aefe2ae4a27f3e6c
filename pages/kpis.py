"""KPIs: what is behind the executive tiles, and is a difference more than noise?

Four sections, one drawn at a time (each reads its own cached results for the sidebar
filters; the figures and tables are drawn by ``app.charts.kpis``):

- NPS: ``analytics.kpis.nps.compute_nps_drilldown`` (promoters, passives and detractors by
  month and by group with 95% intervals and tests), ``analytics.kpis.nps.compare_nps`` for two
  chosen groups, ``analytics.kpis.nps.nps_comments`` for the comments behind a clicked bar,
  redacted with ``analytics.access.privacy.redact_comments`` for the viewer's role;
- Retention: ``analytics.kpis.retention`` (cohort heat maps of customers and revenue, monthly
  retention and churn) and ``analytics.kpis.survival`` (Kaplan-Meier curves);
- Predictive CLV: the BG/NBD + Gamma-Gamma fit stored by ``python -m analytics clv``
  (``analytics.clv.store``), its means and holdout error (``analytics.clv.summaries``);
- Engagement & RFM: ``analytics.kpis.engagement`` (score distribution, drivers, movement by
  segment) and ``analytics.kpis.rfm`` (RFM groups).

Each section's widgets are a function of ``app.kpi_sections``; this script is the list of what
the user sees: access, title, filters, the section chosen.
"""

from __future__ import annotations

import streamlit as st

from analytics.common.formatting import format_period
from app import components, kpi_sections, resources, state

SECTIONS = {"nps": "NPS", "retention": "Retention", "clv": "Predictive CLV", "engagement": "Engagement & RFM"}
MSG_NO_DATA = "The database holds no monthly data yet. Load data, then reload this page."

user = components.require_access("kpis")
path = resources.database_path()
months = resources.available_months(path)

st.title("KPIs")
if not months:
    st.info(MSG_NO_DATA)
    st.stop()
filters = components.current_filters(months)
what = components.describe_filters(filters, resources.saved_segments(path))
st.caption(
    f"{format_period(filters.start_month, filters.end_month)} · {what} · "
    "every number here can be reproduced with `python -m analytics nps|retention|clv|engagement --json`"
)
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key=state.KPI_SECTION, required=True
)
section = section or "nps"
if section == "nps":
    kpi_sections.nps_section(path, filters, user)
elif section == "retention":
    kpi_sections.retention_section(path, filters)
elif section == "clv":
    kpi_sections.clv_section(path, user)
elif section == "engagement":
    kpi_sections.engagement_section(path, filters)
