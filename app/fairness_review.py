"""The Fairness page's review sections: an audit shown and signed, a model card, mitigation, one decision.

Widgets only: the audits come from ``app.resources``, the figures and tables from
``app.charts.fairness``, the reasons from ``analytics.fairness.model_audits.adverse_reasons``.
"""

from __future__ import annotations

import json

import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.common.formatting import escape_markdown
from analytics.fairness import model_audits, signoffs
from analytics.fairness.audits import SIGN_OFF_DECISIONS, FairnessAudit
from analytics.fairness.metrics import VerdictRule
from analytics.models import customer_explanations
from app import resources, state
from app.charts import fairness as charts

MSG_NO_THRESHOLD = "This audit has no operating threshold: audit the model again from the Models section."
ATTRIBUTE_LABELS = {"gender": "Gender", "age_band": "Age band"}
CONSTRAINTS = {"demographic_parity": "Demographic parity", "equalized_odds": "Equalized odds"}


def verdict_banner(verdict: str, text: str, rule: VerdictRule) -> None:
    """The verdict in its colour, with the rule that gave it."""
    message = f"**{charts.VERDICT_WORDS[verdict]}** · {text}  \nRule: {rule.describe()}."
    {"pass": st.success, "fail": st.error, "undecided": st.warning}[verdict](message)


def show_audit(audit: FairnessAudit, *, key: str) -> None:
    """The verdict, then per attribute the chart, the groups and the disparities."""
    # The title carries an uploaded file's name and the decision its column names: user text.
    verdict_banner(
        audit.verdict, f"{escape_markdown(audit.title)}: {escape_markdown(audit.decision)}", audit.rule
    )
    facts = [f"{audit.n:,} customers"]
    if audit.as_of is not None:
        facts.append(f"decisions of {audit.as_of}")
    if audit.model_version is not None:
        facts.append(f"model version {audit.model_version}")
    facts.append(f"data hash {audit.data_hash[:12]}")
    st.caption(" · ".join(facts))
    for note in audit.notes:
        st.caption(note)
    tabs = st.tabs([a.attribute.replace("_", " ") for a in audit.attributes])
    for tab, attribute in zip(tabs, audit.attributes, strict=True):
        with tab:
            verdict_banner(attribute.verdict, attribute.reason, attribute.rule)
            st.plotly_chart(charts.selection_figure(attribute), key=f"{key}_{attribute.attribute}_chart")
            st.dataframe(charts.group_table(audit, attribute), hide_index=True)
            st.dataframe(charts.disparity_table(audit, attribute), hide_index=True)
    if audit.strata is not None and audit.strata.height:
        st.markdown("**Within credit bands** (creditworthiness held fixed)")
        st.dataframe(charts.strata_table(audit.strata), hide_index=True)


def signoff_panel(path: str, user, audit: FairnessAudit, *, card=None, key: str) -> None:
    """Sign the audit on screen: the decision, a comment, then the stored report to download."""
    st.subheader("Sign-off")
    with st.form(f"{key}_signoff", clear_on_submit=False):
        decision = st.radio(
            "Decision", list(SIGN_OFF_DECISIONS), format_func=SIGN_OFF_DECISIONS.get, horizontal=True
        )
        comment = st.text_area(
            "Comment (conditions, or why a failing audit is approved)", max_chars=2000, key=f"{key}_comment"
        )
        submitted = st.form_submit_button("Sign and store the report", type="primary")
    if submitted:
        try:
            with st.spinner("Rendering and storing the report"):
                signed = resources.sign_audit(
                    path, audit, user=user, decision=decision, comment=comment, card=card
                )
        except (ValueError, PermissionError) as exc:
            st.error(str(exc))
        else:
            st.session_state[state.FAIRNESS_SIGNED] = {
                "key": key,
                "signoff_id": signed.signoff.signoff_id,
                "html_sha256": signed.html_sha256,
                "pdf_sha256": signed.pdf_sha256,
                "pdf": signed.pdf,
            }
    signed_state = state.get(state.FAIRNESS_SIGNED)
    if signed_state and signed_state["key"] == key:
        st.success(
            f"Signed and stored (sign-off {signed_state['signoff_id']}). "
            f"HTML SHA-256 {signed_state['html_sha256']}, PDF SHA-256 {signed_state['pdf_sha256']}."
        )
        html = resources.signed_report(path, signed_state["signoff_id"])
        cols = st.columns(2)
        cols[0].download_button(
            "Download the signed report (HTML)",
            data=html.encode("utf-8"),
            file_name=f"fairness-audit-{signed_state['signoff_id']}.html",
            mime="text/html",
            key=f"{key}_html",
            on_click="ignore",
        )
        cols[1].download_button(
            "Download the signed report (PDF)",
            data=signed_state["pdf"],
            file_name=f"fairness-audit-{signed_state['signoff_id']}.pdf",
            mime="application/pdf",
            key=f"{key}_pdf",
            on_click="ignore",
        )


def model_card_view(card) -> None:
    """The model card's fields as text."""
    for field, value in card.__dict__.items():
        if value in (None, "", (), []):
            continue
        label = field.replace("_", " ").capitalize()
        if isinstance(value, dict):
            st.markdown(f"**{label}**")
            st.json(json.loads(json.dumps(value, default=str)), expanded=False)
        elif isinstance(value, (list, tuple)):
            st.markdown(f"**{label}**\n" + "\n".join(f"- {v}" for v in value))
        else:
            st.markdown(f"**{label}:** {value}")


def mitigation_view(path: str, user, audit: FairnessAudit) -> None:
    """ThresholdOptimizer's trade-off; the reviewer accepts or rejects it (audit log)."""
    st.subheader("Mitigation: per-group thresholds")
    cols = st.columns(2)
    attribute = cols[0].selectbox(
        "Protected attribute", list(ATTRIBUTE_LABELS), format_func=ATTRIBUTE_LABELS.get, key="mitigation_attr"
    )
    constraint = cols[1].selectbox(
        "Constraint", list(CONSTRAINTS), format_func=CONSTRAINTS.get, key="mitigation_constraint"
    )
    if audit.threshold is None:  # a model audit always has its operating threshold
        raise ValueError(MSG_NO_THRESHOLD)
    try:
        with st.spinner("Fitting fairlearn's ThresholdOptimizer on half of the test customers"):
            result = resources.mitigation(path, audit.subject_id, audit.threshold, attribute, constraint)
    except ValueError as exc:
        st.warning(str(exc))
        return
    st.dataframe(charts.mitigation_table(result), hide_index=True)
    st.caption(
        f"Fitted on {result.n_fit:,} test customers, compared on the other {result.n_eval:,}. "
        + " ".join(result.notes)
    )
    st.dataframe(result.group_thresholds, hide_index=True)
    with st.form("mitigation_decision"):
        choice = st.radio(
            "Your decision on this mitigation",
            ["rejected", "accepted"],
            horizontal=True,
            key="mitigation_choice",
        )
        why = st.text_input("Why", key="mitigation_comment")
        if st.form_submit_button("Record the decision"):
            summary = signoffs.mitigation_summary(
                result, model_id=audit.subject_id, attribute=attribute, threshold=audit.threshold
            )
            try:
                resources.record_mitigation_decision(
                    path,
                    user,
                    model_id=audit.subject_id,
                    constraint=constraint,
                    decision=choice,
                    summary=summary,
                    comment=why,
                )
            except (ValueError, PermissionError) as exc:
                st.error(str(exc))
            else:
                st.success(
                    f"Recorded in the audit log: mitigation {choice}. Nothing changes in scoring until the "
                    "accepted thresholds are deployed."
                )


def individual_decision(path: str, user, audit: FairnessAudit) -> None:
    """One customer's decision at the threshold, with the reasons for an adverse one."""
    st.subheader("Individual decision")
    text = st.text_input(
        "Customer (masked id, e.g. C-1a2b3c4d5e6f)", key="fairness_customer", placeholder="C-…"
    ).strip()
    if not text:
        st.caption("Type a masked id to see the decision and its reasons (the view is logged).")
        return
    raw = sees_raw_personal_data(user.role)
    try:
        customer_id = customer_explanations.resolve_customer(
            text, resources.current_pseudonyms(path), allow_raw=raw
        )
        row = resources.customer_row(path, customer_id, user.role)
    except ValueError as exc:
        st.error(str(exc))
        return
    model_id = audit.subject_id
    meta = resources.explanation_meta(path, model_id).get("tree")
    typical = meta.typical if meta is not None else {}
    result = customer_explanations.explain_customer(
        resources.loaded_model(path, model_id), row, typical=typical
    )
    if audit.threshold is None:  # a model audit always has its operating threshold
        raise ValueError(MSG_NO_THRESHOLD)
    adverse, reasons = model_audits.adverse_reasons(result, threshold=audit.threshold)
    resources.log_personal_data_view(
        path,
        user,
        target="fairness_decision",
        details={"model_id": model_id, "customer": resources.masked_id(path, customer_id)},  # not the number
    )
    outcome = "not selected (adverse)" if adverse else "selected"
    st.markdown(f"Score **{result.score:.1%}** against the threshold {audit.threshold:.3f}: **{outcome}**.")
    heading = "Principal reasons against selection" if adverse else "Reasons for selection"
    st.markdown(f"**{heading}**\n" + "\n".join(f"- {r[0].upper()}{r[1:]}." for r in reasons))
