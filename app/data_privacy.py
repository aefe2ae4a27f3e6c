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


AUDIT_ROWS = 1000
QUALITY_VIEWS = {
    "problems": "Checks that fail or warn",
    "all": "Every check",
    "dictionary": "Data dictionary",
}


def quality_section(path: str) -> None:
    """Every table's rows and freshness, the quality checks with pass/fail, the data dictionary."""
    with st.spinner("Checking every table…"):
        report = resources.quality_report(path)
    failed, warned = len(report.failed), len(report.warned)
    verdict = f"{len(report.checks):,} checks on the data as of {report.snapshot_date}: "
    if failed:
        st.error(verdict + f"**{failed} failed**, {warned} warn.")
    elif warned:
        st.warning(verdict + f"all pass, {warned} warn.")
    else:
        st.success(verdict + "all pass.")
    st.caption(
        f"Computed in {report.seconds:.1f} s; the same as `python -m analytics quality --json`."
        " Examples name rows by their key, customers by pseudonym, never personal data."
    )
    st.dataframe(charts.overview_table(resources.table_overview(path)), hide_index=True)
    show = st.segmented_control(
        "Show", list(QUALITY_VIEWS), format_func=QUALITY_VIEWS.get, key=state.QUALITY_SHOW, required=True
    )
    show = show or "problems"
    if show == "dictionary":
        st.dataframe(charts.dictionary_table(resources.data_dictionary(path)), hide_index=True)
        return
    checks = report.to_frame()
    if show == "problems":
        checks = charts.problems_only(checks)
        if checks.height == 0:
            st.info("No check fails or warns.")
            return
    st.dataframe(charts.checks_table(checks), hide_index=True)


def audit_section(path: str, user: User) -> None:
    """The audit log filtered by who, what, when and customer pseudonym; its chain; an audited export."""
    left, right = st.columns(2)
    who = left.text_input(
        "Who",
        key=state.AUDIT_WHO,
        max_chars=80,
        help="A user name, or a prefix ending in * (os:* for shell commands).",
    )
    actions = right.multiselect("What", resources.audit_actions(path), key=state.AUDIT_ACTIONS)
    left, right = st.columns(2)
    period = left.date_input("When (UTC days, both included)", value=(), key=state.AUDIT_PERIOD)
    customer = right.text_input(
        "Customer pseudonym", key=state.AUDIT_CUSTOMER, max_chars=20, placeholder="C-1a2b3c4d5e6f"
    )
    filters = {
        "who": who.strip() or None,
        "actions": actions or None,
        "since": period[0] if len(period) > 0 else None,
        "until": period[1] if len(period) > 1 else None,
        "customer": customer.strip() or None,
    }
    try:
        view = resources.audit_log_view(path, filters=filters, limit=AUDIT_ROWS)
    except ValueError as exc:
        st.error(str(exc))
        return
    chain = view.chain
    if chain.ok:
        st.success(
            f"The audit log is intact: every one of its {chain.rows:,} rows' seals matches"
            f" (head event {chain.head_event_id})."
        )
    else:
        st.error(f"The audit log's chain is broken: {chain.problem}.")
    st.caption(f"{view.total:,} rows match; the newest {min(view.total, AUDIT_ROWS):,} are shown.")
    st.dataframe(charts.audit_table(view.rows), hide_index=True)
    if view.rows.height and st.button("Prepare export", key="audit_prepare_export"):
        data = resources.export_audit_log(path, user, filters=filters, rows=view.rows)
        st.caption("This export is recorded in the audit log.")
        st.download_button(
            "Download CSV",
            data=data,
            file_name="tailor_audit_log.csv",
            mime="text/csv",
            key="audit_csv",
            icon=":material/download:",
            on_click="ignore",
        )
