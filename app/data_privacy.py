"""The Data & privacy page's sections: each a function drawing one section from app.resources.

Pages stay a list of what the user sees (pages/data_privacy.py); the widgets of each section
live here, the figures in app.charts.data_privacy.
"""

from __future__ import annotations

import streamlit as st

from analytics.common.types import User
from analytics.privacy.coverage import COVERAGE_GROUPS
from app import resources, state
from app.charts import data_privacy as charts


def consent_section(path: str, user: User) -> None:
    """Consent coverage by purpose, by group, and when customers last changed their choice."""
    st.caption(
        "Current customers on the snapshot and their latest consent choice per purpose. Targeting and"
        " profiling outputs leave out whoever has not agreed to the purpose (docs/privacy.md)."
    )
    overall = resources.consent_coverage(path, None)
    st.dataframe(charts.coverage_table(overall), hide_index=True)
    by = st.segmented_control(
        "Split by",
        list(COVERAGE_GROUPS),
        format_func=charts.GROUP_LABELS.get,
        key=state.CONSENT_BY,
        required=True,
    )
    by = by or "region"
    st.plotly_chart(
        charts.coverage_by_group(resources.consent_coverage(path, by), by), key="consent_by_group"
    )
    st.plotly_chart(charts.consent_changes(resources.consent_changes(path)), key="consent_changes")
    st.caption(
        "The customers table keeps each customer's latest choice and its date; a full history of changes"
        " arrives with the consent log."
    )
