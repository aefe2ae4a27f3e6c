"""The Data & privacy page's sections: each a function drawing one section from app.resources.

Pages stay a list of what the user sees (pages/data_privacy.py); the widgets of each section
live here, the figures in app.charts.data_privacy.
"""

from __future__ import annotations

import streamlit as st

from analytics.common.formatting import escape_markdown
from analytics.common.types import User
from analytics.privacy.coverage import COVERAGE_GROUPS
from analytics.privacy.subject import SubjectNotFoundError
from analytics.store.contracts import CANONICAL_TABLES
from analytics.store.imports import IMPORT_MODES, ImportRefusedError, MappingError, read_mapping
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
    st.plotly_chart(charts.consent_over_time(resources.consent_over_time(path)), key="consent_over_time")
    st.caption(
        "Every choice is kept with its date (consent_events: onboarding, the GDPR re-confirmation, later"
        " changes in the app, through support or an import); a bank without a history file starts from"
        " one event per customer at their last change (docs/privacy.md)."
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


IMPORT_MAX_ROWS = 2_000_000
MSG_IMPORT_ADMIN_ONLY = "Only administrators import data."
MSG_CONFIRM_ERASURE = "Type the customer's number exactly to confirm the erasure; nothing was erased."


def import_section(path: str, user: User) -> None:
    """One canonical table from a CSV or Parquet file: checked against its contract, then all or nothing."""
    if user.role != "admin":  # the page hides the section; this is the server-side check
        st.error(MSG_IMPORT_ADMIN_ONLY)
        return
    st.caption(
        f"One table from one file, up to {IMPORT_MAX_ROWS:,} rows and 50 MB here (larger files with"
        " `python -m analytics import`). Every problem is listed; a refused file changes nothing. The"
        " rollups are rebuilt in the same transaction; models and CLV fits need a new run afterwards"
        " (docs/import.md)."
    )
    left, right = st.columns(2)
    table = left.selectbox("Table", [spec.name for spec in CANONICAL_TABLES], key="import_table")
    mode = right.radio("Mode", list(IMPORT_MODES), horizontal=True, key="import_mode")
    upload = st.file_uploader("File (CSV or Parquet)", type=["csv", "parquet"], key="import_file")
    mapping_file = st.file_uploader(
        "Column mapping (optional: JSON or CSV of source,target)", type=["json", "csv"], key="import_mapping"
    )
    if upload is None:
        return
    name = upload.name
    mapping = None
    if mapping_file is not None:
        try:
            mapping = read_mapping(mapping_file.getvalue(), name=mapping_file.name)
        except MappingError as exc:
            st.error(escape_markdown(str(exc)))
            return
    data = upload.getvalue()
    with st.spinner(f"Checking {escape_markdown(name)} against the {table} contract…"):
        report = resources.check_import(
            path, table, data, name=name, mode=mode, mapping=mapping, max_rows=IMPORT_MAX_ROWS
        )
    for notice in report.notices:
        st.caption(escape_markdown(notice))
    if not report.ok:
        _show_problems(report)
        return
    action = "add" if mode == "append" else "replace the table with"
    st.success(f"{report.rows_read:,} rows pass every check. Import will {action} them.")
    if st.button(f"Import into {table}", key="import_run", type="primary"):
        try:
            with st.spinner("Importing and rebuilding the rollups…"):
                done = resources.run_import(
                    path, user, table, data, name=name, mode=mode, mapping=mapping, max_rows=IMPORT_MAX_ROWS
                )
        except ImportRefusedError as exc:
            _show_problems(exc.report)
            return
        replaced = f", {done.rows_replaced:,} replaced" if done.rows_replaced else ""
        st.success(
            f"Imported {done.rows_added:,} rows into {table}{replaced}. The import is in the audit log."
        )


def _show_problems(report) -> None:
    more = (
        f" (the first {len(report.problems):,} are listed)"
        if report.problem_count > len(report.problems)
        else ""
    )
    name = escape_markdown(report.file)
    st.error(f"{name} was refused: {report.problem_count:,} problem(s){more}. Nothing was changed.")
    st.dataframe(charts.problems_table(report.problems_frame), hide_index=True)


def requests_section(path: str, user: User) -> None:
    """Data-subject requests: everything held about one customer as a zip, or their erasure."""
    st.caption(
        "GDPR articles 15 (access) and 17 (erasure). Name the customer by number or by the masked id"
        " they were shown. Every request is written to the audit log under the customer's pseudonym"
        " (docs/privacy-requests.md)."
    )
    text = st.text_input(
        "Customer", key=state.SUBJECT_REF, max_chars=20, placeholder="100001 or C-1a2b3c4d5e6f"
    )
    if not text.strip():
        return
    try:
        customer_id = resources.resolve_subject(path, text)
    except ValueError as exc:
        st.error(str(exc))
        return
    access, erase = st.columns(2)
    with access:
        st.subheader("Access")
        st.caption("A zip of JSON and CSV files, one per table that holds the customer, with a README.")
        if st.button("Prepare the access export", key="subject_prepare"):
            try:
                data = resources.subject_access(path, user, customer_id)
            except (SubjectNotFoundError, PermissionError) as exc:
                st.error(str(exc))
            else:
                st.download_button(
                    "Download the zip",
                    data=data,
                    file_name=f"tailor_subject_access_{customer_id}.zip",
                    mime="application/zip",
                    key="subject_zip",
                    icon=":material/download:",
                    on_click="ignore",
                )
    with erase:
        st.subheader("Erasure")
        st.caption(
            "Deletes the customer from every table, derived store and saved segment, redacts them from"
            " free text and rewrites the database file. Models trained on them keep what they learned"
            " until retrained. This cannot be undone."
        )
        confirm = st.text_input(
            "Type the customer number to confirm", key=state.SUBJECT_CONFIRM, max_chars=20
        )
        if st.button("Erase this customer", key="subject_erase", type="primary"):
            if confirm.strip() != str(customer_id):
                st.error(MSG_CONFIRM_ERASURE)
                return
            try:
                with st.spinner("Erasing and rewriting the database file…"):
                    report = resources.erase_subject(path, user, customer_id)
            except (SubjectNotFoundError, PermissionError) as exc:
                st.error(str(exc))
                return
            st.success(
                f"Erased {report.total_rows:,} rows in {report.seconds:.1f} s; the audit log keeps a"
                f" tombstone under {report.pseudonym}."
            )
            st.dataframe(charts.erasure_table(report.rows_deleted), hide_index=True)
            for note in report.notes:
                st.caption(note)
