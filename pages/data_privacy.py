"""Data & privacy: what does Tailor hold, is it sound, who agreed to what, what about one person?

For compliance reviewers and administrators (the data-protection officer's page); the import of
the bank's own tables is for administrators only. Sections, one drawn at a time:

- Data & quality: ``analytics.quality.dictionary`` (every table and column: type, meaning, rows,
  freshness) and ``analytics.quality.checks.run_quality_checks`` (nulls, keys, rules, orphans,
  future dates, freshness, with pass/fail and example keys);
- Consent: ``analytics.privacy.coverage.consent_coverage`` (share of current customers agreeing to
  marketing and to profiling, overall and by region, age band or channel) and
  ``consent_coverage_over_time`` (the last 24 month ends, from the consent history);
- Subject requests: ``analytics.privacy.subject.subject_access`` (everything held about one customer
  as a zip) and ``erase_subject`` (deleted everywhere, a tombstone in the audit log, the file
  rewritten), the customer named by number or masked id (``analytics.privacy.reference``);
- Audit log: ``analytics.access.audit_log.audit_log_view`` (filtered by who, what, when and
  customer pseudonym, with the HMAC chain's check) and an export that is itself audited;
- Import (administrators): ``analytics.store.imports.validate_import`` then ``import_table`` (one
  canonical table from a CSV or Parquet file, every problem listed, all or nothing).

Each section's widgets are a function of ``app.data_privacy``; every check of the role is made here
and again in the section, on the server.
"""

from __future__ import annotations

import streamlit as st

from app import components, data_privacy, resources, state

SECTIONS = {
    "quality": "Data & quality",
    "consent": "Consent",
    "requests": "Subject requests",
    "audit": "Audit log",
}
ADMIN_SECTIONS = {"import": "Import"}

user = components.require_access("data_privacy")
path = resources.database_path()

st.title("Data & privacy")
st.caption("The bank's data, its quality and consent, and the requests of the people it describes.")
offered = SECTIONS | (ADMIN_SECTIONS if user.role == "admin" else {})
section = st.segmented_control(
    "Section", list(offered), format_func=offered.get, key=state.DATA_SECTION, required=True
)
section = section if section in offered else next(iter(offered))
if section == "quality":
    data_privacy.quality_section(path)
elif section == "consent":
    data_privacy.consent_section(path, user)
elif section == "requests":
    data_privacy.requests_section(path, user)
elif section == "audit":
    data_privacy.audit_section(path, user)
elif section == "import":
    data_privacy.import_section(path, user)
