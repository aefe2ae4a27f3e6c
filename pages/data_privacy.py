"""Data & privacy: what does Tailor hold, is it sound, who agreed to what, what about one person?

For compliance reviewers and administrators (the data-protection officer's page); the import of
the bank's own tables is for administrators only. Sections, one drawn at a time:

- Consent: ``analytics.privacy.coverage.consent_coverage`` (share of current customers agreeing to
  marketing and to profiling, overall and by region, age band or channel) and
  ``consent_changes_by_month``.

Each section's widgets are a function of ``app.data_privacy``; every check of the role is made here
and again in the section, on the server.
"""

from __future__ import annotations

import streamlit as st

from app import components, data_privacy, resources, state

SECTIONS = {"consent": "Consent"}

user = components.require_access("data_privacy")
path = resources.database_path()

st.title("Data & privacy")
st.caption("The bank's data, its quality and consent, and the requests of the people it describes.")
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key=state.DATA_SECTION, required=True
)
section = section if section in SECTIONS else next(iter(SECTIONS))
if section == "consent":
    data_privacy.consent_section(path, user)
