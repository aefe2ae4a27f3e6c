"""Fairness & compliance: is any decision worse for a protected group, and who signed it off?

What each role sees:

- compliance reviewers and admins audit and sign: a registered model at its operating threshold
  (``analytics.fairness.audits.audit_model``, with the model card from
  ``analytics.fairness.report.model_card``, ThresholdOptimizer's trade-off from
  ``analytics.fairness.mitigation.compare_thresholds`` and one customer's decision with its reasons), a
  campaign's exposure and the historical credit decision (``audit_exposure``,
  ``audit_credit_decision``), experiment lifts by group (``experiment_equity``), an uploaded
  table (``audit_frame``); signing (``analytics.fairness.signoffs.sign_audit``) stores the report and its
  hash and offers the HTML and PDF;
- marketing analysts read the latest signed results and their reports;
- executives see only the pass/fail summary.
"""

from __future__ import annotations

import base64
import json

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.fairness import audits as fairness_audit
from analytics.fairness import metrics as fairness
from analytics.fairness import model_audits, signoffs
from analytics.fairness.audits import SIGN_OFF_DECISIONS, FairnessAudit
from analytics.fairness.metrics import VerdictRule
from analytics.fairness.report import sha256_hex
from analytics.models import customer_explanations
from app import components, resources, state

SECTIONS = {
    "models": "Models",
    "offers": "Offers & credit decision",
    "experiments": "Experiments",
    "upload": "Upload",
    "signoffs": "Sign-offs",
}
VERDICT_WORDS = {"pass": "Pass", "fail": "Fail", "undecided": "Undecided"}
ATTRIBUTE_LABELS = {"gender": "Gender", "age_band": "Age band"}
CONSTRAINTS = {"demographic_parity": "Demographic parity", "equalized_odds": "Equalized odds"}
BAR_COLOR, FAIL_COLOR, SMALL_COLOR = "#0F4C81", "#C62828", "#B0BEC5"
DISPARITY_LABELS = {
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
    "four_fifths_rule": "Four-fifths rule (selection-rate ratio of the pair it judged)",
}
CREDIT_DECISION = "credit"
MIN_GROUP = fairness.MIN_GROUP_SIZE
MSG_NO_MODELS = (
    "No model is registered yet: `make run` trains them (`python -m analytics train --target all`)."
)
MSG_NO_SIGNOFFS = "No audit has been signed yet."
MAX_UPLOAD_ROWS = 2_000_000
MSG_TOO_MANY_ROWS = (
    "{name} has {rows:,} rows; the page audits up to {limit:,}. Use `python -m analytics fairness --input` "
    "for larger files."
)


def _pct(value: float | None, digits: int = 1) -> str:
    return "undefined" if value is None else f"{value:.{digits}%}"


def _interval(low: float | None, high: float | None, *, pct: bool) -> str:
    if low is None or high is None:
        return ""
    return f"[{low:.1%}, {high:.1%}]" if pct else f"[{low:.3f}, {high:.3f}]"


def _verdict_banner(verdict: str, text: str, rule: VerdictRule) -> None:
    message = f"**{VERDICT_WORDS[verdict]}** · {text}  \nRule: {rule.describe()}."
    {"pass": st.success, "fail": st.error, "undecided": st.warning}[verdict](message)


# -- one audit ----------------------------------------------------------------------------------
def selection_figure(attribute: fairness_audit.AttributeAudit) -> go.Figure:
    """Selection rate per group with its 95% interval; the four-fifths line under the top group."""
    m = attribute.metrics.sort("group")
    rates = m.get_column("selection_rate").fill_null(0).to_numpy()
    # The rule judges groups of at least 30 customers only: the line is 4/5 of the top such group.
    judged = m.filter(~pl.col("small")).get_column("selection_rate").drop_nulls()
    top = float(judged.max()) if judged.len() else 0.0
    colors = [
        SMALL_COLOR if small else (FAIL_COLOR if top and rate < 0.8 * top else BAR_COLOR)
        for small, rate in zip(m.get_column("small").to_list(), rates, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=m.get_column("group").to_list(),
            y=rates,
            marker_color=colors,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (m.get_column("selection_rate_high").fill_null(0).to_numpy() - rates),
                "arrayminus": (rates - m.get_column("selection_rate_low").fill_null(0).to_numpy()),
            },
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    if top:
        figure.add_hline(
            y=0.8 * top,
            line_dash="dash",
            line_color=FAIL_COLOR,
            annotation_text=f"4/5 of the top group of {MIN_GROUP}+",
        )
    figure.update_layout(
        title=f"Selection rate by {attribute.attribute.replace('_', ' ')} (95% Wilson intervals)",
        yaxis_tickformat=".0%",
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    return figure


def group_table(audit: FairnessAudit, attribute: fairness_audit.AttributeAudit) -> pl.DataFrame:
    """The per-group table as shown: rates with intervals, 'too small' and undefined reasons."""
    m = attribute.metrics.sort("group")
    rows = []
    for r in m.iter_rows(named=True):
        row = {
            "Group": r["group"],
            "Customers": r["n"],
            "Selection rate": _pct(r["selection_rate"]),
            "95% interval": _interval(r["selection_rate_low"], r["selection_rate_high"], pct=True),
        }
        if audit.has_outcome:
            row |= {
                "True positive rate": _pct(r["true_positive_rate"]),
                "False positive rate": _pct(r["false_positive_rate"]),
                "Precision": _pct(r["precision"]),
            }
            if "auc" in r:
                row |= {
                    "AUC": "undefined" if r["auc"] is None else f"{r['auc']:.3f}",
                    "Mean score": _pct(r.get("mean_score")),
                    "Observed rate": _pct(r.get("observed_rate")),
                }
        row["Note"] = "; ".join(
            part
            for part in (f"too small to judge (< {MIN_GROUP})" if r["small"] else "", r["undefined"] or "")
            if part
        )
        rows.append(row)
    return pl.DataFrame(rows)


def disparity_table(audit: FairnessAudit, attribute: fairness_audit.AttributeAudit) -> pl.DataFrame:
    """Disparities with their intervals, methods and the groups they compare."""
    rows = []
    for d in attribute.disparities:
        if d.value is None and not audit.has_outcome and d.name.startswith("equalized_odds"):
            value, note = "not applicable", "exposure has no outcome"
        elif d.value is None:
            value, note = "undefined", "the rate is undefined in all but one group"
        else:
            value, note = f"{d.value:.3f}", ""
        verdict = (
            "" if d.name != "four_fifths_rule" else {True: "pass", False: "fail", None: "undecided"}[d.passed]
        )
        rows.append(
            {
                "Disparity": DISPARITY_LABELS[d.name],
                "Value": value,
                "95% interval": _interval(d.low, d.high, pct=False),
                "Interval method": d.method,
                "Groups compared": " vs ".join(d.groups) if d.groups else note,
                "Verdict": verdict,
            }
        )
    return pl.DataFrame(rows)


def show_audit(audit: FairnessAudit, *, key: str) -> None:
    """The verdict, then per attribute the chart, the groups and the disparities."""
    _verdict_banner(audit.verdict, f"{audit.title}: {audit.decision}", audit.rule)
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
            _verdict_banner(attribute.verdict, attribute.reason, attribute.rule)
            st.plotly_chart(selection_figure(attribute), key=f"{key}_{attribute.attribute}_chart")
            st.dataframe(group_table(audit, attribute), hide_index=True)
            st.dataframe(disparity_table(audit, attribute), hide_index=True)
    if audit.strata is not None and audit.strata.height:
        st.markdown("**Within credit bands** (creditworthiness held fixed)")
        strata = audit.strata.select(
            pl.col("attribute").alias("Attribute"),
            pl.col("stratum").alias("Credit band"),
            pl.col("group").alias("Group"),
            pl.col("n").alias("Eligible"),
            pl.col("selected").alias("Selected"),
            (pl.col("selection_rate") * 100).round(1).alias("Selection rate %"),
            pl.col("reference").alias("Compared with"),
            pl.col("ratio").round(3).alias("Ratio"),
            pl.col("verdict").alias("Verdict"),
            pl.col("rule").alias("Rule"),
            pl.col("interval_method").alias("Interval"),
        )
        st.dataframe(strata, hide_index=True)


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
                signed = signoffs.sign_audit(
                    resources.get_database(path),
                    audit,
                    reviewer=user.username,
                    role=user.role,
                    decision=decision,
                    comment=comment,
                    card=card,
                )
        except (ValueError, PermissionError) as exc:
            st.error(str(exc))
        else:
            resources.signoff_list.clear()
            resources.latest_signoffs.clear()
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


# -- sections -----------------------------------------------------------------------------------
def models_section(path: str, user) -> None:
    """A registered model: audit at a threshold, model card, mitigation, individual decisions."""
    models = resources.registered_models(path)
    if models.height == 0:
        st.info(MSG_NO_MODELS)
        return
    latest = models.sort("version", descending=True).unique(subset=["target"], keep="first").sort("target")
    labels = {
        r["model_id"]: f"{r['target'].replace('_', ' ')} v{r['version']}"
        for r in latest.iter_rows(named=True)
    }
    model_id = st.selectbox("Model", list(labels), format_func=labels.get, key="fairness_model")
    try:
        default = resources.fairness_default_threshold(path, model_id)
    except ValueError as exc:
        st.error(str(exc))
        return
    threshold = st.slider(
        "Operating threshold (customers at or above it are selected)",
        0.0,
        1.0,
        float(default),
        step=0.001,
        format="%.3f",
        key=f"fairness_threshold_{model_id}",
        help="The default flags the top 10% of the test customers, as on the Models page.",
    )
    try:
        with st.spinner("Auditing the model's decisions"):
            audit = resources.fairness_model_audit(path, model_id, threshold)
            card = resources.model_card(path, model_id, threshold)
    except ValueError as exc:
        st.error(str(exc))
        return
    show_audit(audit, key=f"model_{model_id}")
    with st.expander("Model card", expanded=False):
        model_card_view(card)
    mitigation_view(path, user, audit)
    individual_decision(path, user, audit)
    signoff_panel(path, user, audit, card=card, key=f"model_{model_id}_{threshold:.3f}")


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
    assert audit.threshold is not None
    try:
        with st.spinner("Fitting fairlearn's ThresholdOptimizer on half of the test customers"):
            result = resources.mitigation(path, audit.subject_id, audit.threshold, attribute, constraint)
    except ValueError as exc:
        st.warning(str(exc))
        return
    before, after = result.before, result.after
    rows = []
    for field, label in (
        ("accuracy", "Accuracy"),
        ("balanced_accuracy", "Balanced accuracy"),
        ("auc", "AUC"),
        ("selection_rate", "Selection rate"),
        ("demographic_parity_difference", "Demographic parity difference"),
        ("equalized_odds_difference", "Equalized odds difference"),
        ("four_fifths_ratio", "Selection-rate ratio (four-fifths)"),
    ):
        b, a = getattr(before, field), getattr(after, field)
        rows.append(
            {
                "Measure": label,
                "Before (one threshold)": None if b is None else round(b, 4),
                "After (per-group thresholds)": None if a is None else round(a, 4),
            }
        )
    st.dataframe(pl.DataFrame(rows), hide_index=True)
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
            summary = {
                "model_id": audit.subject_id,
                "attribute": attribute,
                "threshold": audit.threshold,
                "objective": result.objective,
                "fit_share": result.fit_share,
                "random_state": result.random_state,
                "before": before.__dict__,
                "after": after.__dict__,
                "group_thresholds": result.group_thresholds.to_dicts(),
            }
            try:
                signoffs.record_mitigation_decision(
                    resources.get_database(path),
                    reviewer=user.username,
                    role=user.role,
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
        row = resources.customer_row(path, customer_id)
    except ValueError as exc:
        st.error(str(exc))
        return
    model_id = audit.subject_id
    meta = resources.explanation_meta(path, model_id).get("tree")
    typical = meta.typical if meta is not None else {}
    result = customer_explanations.explain_customer(
        resources.loaded_model(path, model_id), row, typical=typical
    )
    assert audit.threshold is not None
    adverse, reasons = model_audits.adverse_reasons(result, threshold=audit.threshold)
    components.log_view_once(
        resources.get_database(path),
        user,
        target="fairness_decision",
        details={"model_id": model_id, "customer": str(customer_id) if raw else text},
    )
    outcome = "not selected (adverse)" if adverse else "selected"
    st.markdown(f"Score **{result.score:.1%}** against the threshold {audit.threshold:.3f}: **{outcome}**.")
    heading = "Principal reasons against selection" if adverse else "Reasons for selection"
    st.markdown(f"**{heading}**\n" + "\n".join(f"- {r[0].upper()}{r[1:]}." for r in reasons))


def offers_section(path: str, user) -> None:
    """A campaign's exposure, or the historical credit decision."""
    campaigns = resources.campaign_list(path)
    options = {CREDIT_DECISION: "Historical credit decision (pre-approved personal loan)"} | {
        str(r["campaign_id"]): f"Campaign: {r['name']} ({r['start_date']})"
        for r in campaigns.iter_rows(named=True)
    }
    choice = st.selectbox("Decision", list(options), format_func=options.get, key="fairness_offer")
    with st.spinner("Counting exposure by group in the database"):
        try:
            audit = resources.fairness_exposure_audit(
                path, None if choice == CREDIT_DECISION else int(choice)
            )
        except ValueError as exc:
            st.error(str(exc))
            return
    show_audit(audit, key=f"offers_{choice}")
    signoff_panel(path, user, audit, key=f"offers_{choice}")


def experiments_section(path: str) -> None:
    """Does the treatment help one group less?"""
    listing = resources.experiment_list(path)
    if listing.height == 0:
        st.info("The database holds no experiment yet.")
        return
    names = dict(zip(listing["experiment_id"], listing["name"], strict=True))
    cols = st.columns(2)
    experiment_id = cols[0].selectbox(
        "Experiment", list(names), format_func=names.get, key="fairness_experiment"
    )
    attribute = cols[1].selectbox(
        "Protected attribute",
        list(ATTRIBUTE_LABELS),
        format_func=ATTRIBUTE_LABELS.get,
        key="fairness_exp_attr",
    )
    with st.spinner("Lifts by group"):
        try:
            equity = resources.fairness_experiment(path, experiment_id, attribute)
        except ValueError as exc:
            st.error(str(exc))
            return
    _verdict_banner(equity.verdict, equity.reason, equity.rule)
    lifts = equity.lifts.select(
        pl.col("group").alias("Group"),
        pl.col("treatment").alias("Treatment"),
        pl.col("control_n").alias("Control n"),
        pl.col("treatment_n").alias("Treatment n"),
        pl.col("lift").round(5).alias(f"Lift ({equity.metric})"),
        pl.col("low").round(5).alias("Low"),
        pl.col("high").round(5).alias("High"),
        pl.col("note").alias("Note"),
    )
    figure = go.Figure(
        go.Scatter(
            x=equity.lifts.get_column("lift").to_list(),
            y=equity.lifts.get_column("group").to_list(),
            mode="markers",
            marker={"color": BAR_COLOR, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (equity.lifts["high"] - equity.lifts["lift"]).to_list(),
                "arrayminus": (equity.lifts["lift"] - equity.lifts["low"]).to_list(),
            },
        )
    )
    figure.add_vline(x=0, line_color="#9E9E9E")
    figure.update_layout(
        title=f"Lift in {equity.metric} by {attribute.replace('_', ' ')} (95% intervals)",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    st.plotly_chart(figure, key="equity_chart")
    st.dataframe(lifts, hide_index=True)
    if equity.q is not None:
        st.caption(
            f"Cochran's Q = {equity.q:.2f} on {equity.df} degrees of freedom, p = {equity.p_value:.3g}."
        )


def upload_section(path: str, user) -> None:
    """Any table of decisions: outcome, decision or score, and the columns declared protected."""
    file = st.file_uploader("Decisions (CSV or Parquet, one row per customer)", type=["csv", "parquet"])
    if file is None:
        st.caption(
            "Columns: a 0/1 outcome, a 0/1 decision or a score in [0, 1], and the protected attributes."
        )
        return
    table = components.read_upload(file, max_rows=MAX_UPLOAD_ROWS, too_many=MSG_TOO_MANY_ROWS)
    if table is None:
        return
    columns = table.columns
    cols = st.columns(3)
    y_true = cols[0].selectbox("Outcome (0/1)", columns, key="fair_up_true")
    kind = cols[1].radio("Decision given as", ["0/1 decision", "score and threshold"], key="fair_up_kind")
    decision = cols[2].selectbox("Decision or score column", columns, key="fair_up_pred")
    threshold = (
        st.number_input("Threshold", 0.0, 1.0, 0.5, step=0.01, key="fair_up_threshold")
        if kind == "score and threshold"
        else None
    )
    groups = st.multiselect("Protected attributes (declared by you)", columns, key="fair_up_groups")
    if not groups:
        st.info("Choose at least one protected attribute.")
        return
    try:
        audit = fairness_audit.audit_frame(
            table,
            y_true=y_true,
            y_pred=decision if threshold is None else None,
            score=decision if threshold is not None else None,
            threshold=threshold,
            groups=groups,
            source=file.name,
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    show_audit(audit, key="upload")
    signoff_panel(path, user, audit, key=f"upload_{audit.data_hash[:12]}")


def signoffs_section(path: str) -> None:
    """Every sign-off, and a check of a report file against the stored hashes."""
    listing = resources.signoff_list(path)
    if listing.height == 0:
        st.info(MSG_NO_SIGNOFFS)
    else:
        st.dataframe(signoff_frame(listing), hide_index=True)
    file = st.file_uploader(
        "Check a report file against the record", type=["html", "pdf"], key="verify_report"
    )
    if file is not None:
        digest = sha256_hex(file.getvalue())
        found = signoffs.find_report(resources.get_database(path).backend(), digest)
        if found is None:
            st.error(
                f"No stored sign-off has a report with SHA-256 {digest}: this file is not a signed report."
            )
        else:
            st.success(
                f"This is the report signed by {found['reviewer']} ({found['reviewer_role']}) on "
                f"{found['signed_at']:%Y-%m-%d %H:%M} UTC: {SIGN_OFF_DECISIONS[found['decision']]}."
            )


def signoff_frame(listing: pl.DataFrame) -> pl.DataFrame:
    """Sign-offs as shown to reviewers and analysts."""
    return listing.select(
        pl.col("signed_at").dt.strftime("%Y-%m-%d %H:%M").alias("Signed (UTC)"),
        pl.col("title").alias("Audit"),
        pl.col("audit_verdict").replace_strict(VERDICT_WORDS, default=None).alias("Verdict"),
        pl.col("decision").replace_strict(SIGN_OFF_DECISIONS, default=None).alias("Decision"),
        pl.col("reviewer").alias("Reviewer"),
        pl.col("comment").alias("Comment"),
        pl.col("report_sha256").str.slice(0, 12).alias("Report hash"),
        pl.col("signoff_id").alias("Sign-off"),
    )


# -- roles that only read -----------------------------------------------------------------------
def analyst_view(path: str) -> None:
    """The latest signed result of each audited decision, and its report."""
    st.caption("The latest signed result of every audited decision. Audits are run and signed by compliance.")
    latest = resources.latest_signoffs(path)
    if latest.height == 0:
        st.info(MSG_NO_SIGNOFFS)
        return
    st.dataframe(signoff_frame(latest), hide_index=True)
    st.caption(f"Verdicts read the {fairness.FOUR_FIFTHS_RULE.describe()}.")
    ids = latest.get_column("signoff_id").to_list()
    titles = dict(zip(ids, latest.get_column("title").to_list(), strict=True))
    chosen = st.selectbox("Read the signed report of", ids, format_func=titles.get, key="analyst_report")
    html = resources.signed_report(path, chosen)
    st.download_button(
        "Download the signed report (HTML)",
        data=html.encode("utf-8"),
        file_name=f"fairness-audit-{chosen}.html",
        mime="text/html",
        on_click="ignore",
    )
    # A data: URL gives the report its own opaque origin: its styles cannot restyle the app and
    # nothing in it can reach the app (st.html would inline its <style>).
    encoded = base64.b64encode(html.encode("utf-8")).decode("ascii")
    st.iframe(f"data:text/html;base64,{encoded}", height=900)


def executive_view(path: str) -> None:
    """Pass/fail per audited decision, nothing more."""
    latest = resources.latest_signoffs(path)
    if latest.height == 0:
        st.info(MSG_NO_SIGNOFFS)
        return
    cols = st.columns(3)
    decisions = latest.get_column("decision").to_list()
    cols[0].metric("Approved", sum(d == "approved" for d in decisions))
    cols[1].metric("Approved with conditions", sum(d == "approved_with_conditions" for d in decisions))
    cols[2].metric("Rejected", sum(d == "rejected" for d in decisions))
    st.dataframe(
        latest.select(
            pl.col("title").alias("Decision audited"),
            pl.col("audit_verdict").replace_strict(VERDICT_WORDS, default=None).alias("Fairness check"),
            pl.col("decision").replace_strict(SIGN_OFF_DECISIONS, default=None).alias("Compliance sign-off"),
            pl.col("signed_at").dt.strftime("%Y-%m-%d").alias("Signed"),
        ),
        hide_index=True,
    )
    st.caption(f"Fairness checks read the {fairness.FOUR_FIFTHS_RULE.describe()}.")


# -- page ---------------------------------------------------------------------------------------
user = components.require_access("fairness")
path = resources.database_path()
st.title("Fairness & compliance")
if user.role == "executive":
    st.caption("Pass or fail of every audited decision, as signed by compliance.")
    executive_view(path)
elif user.role == "marketing_analyst":
    analyst_view(path)
else:
    st.caption(
        "Every decision by gender and age band (and their intersection): rates with 95% intervals, "
        "disparities, the four-fifths rule. Sign the audit to store its report."
    )
    section = st.segmented_control(
        "Section", list(SECTIONS), format_func=SECTIONS.get, key=state.FAIRNESS_SECTION, required=True
    )
    section = section or "models"
    if section == "models":
        models_section(path, user)
    elif section == "offers":
        offers_section(path, user)
    elif section == "experiments":
        experiments_section(path)
    elif section == "upload":
        upload_section(path, user)
    else:
        signoffs_section(path)
