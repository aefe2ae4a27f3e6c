"""Fairness & compliance: is any decision worse for a protected group, and who signed it off?

What each role sees:

- compliance reviewers and admins audit and sign: a registered model at its operating threshold
  (``analytics.fairness.model_audits.audit_model``, with the model card from
  ``analytics.fairness.model_card.model_card``, ThresholdOptimizer's trade-off from
  ``analytics.fairness.mitigation.compare_thresholds`` and one customer's decision with its reasons), a
  campaign's exposure and the historical credit decision (``analytics.fairness.exposure_audits``),
  experiment lifts by group (``analytics.fairness.experiment_equity``), an uploaded table
  (``analytics.fairness.audits.audit_frame``); signing (``analytics.fairness.signoffs.sign_audit``)
  stores the report and its hash and offers the HTML and PDF;
- marketing analysts read the latest signed results and their reports;
- executives see only the pass/fail summary.

Every read and write goes through ``app.resources``; the figures and tables are
``app.charts.fairness``, the review sections (an audit, its sign-off, the model card, mitigation,
one decision) ``app.fairness_review``.
"""

from __future__ import annotations

import base64

import streamlit as st

from analytics.fairness import audits as fairness_audit
from analytics.fairness import metrics as fairness
from analytics.fairness import signoffs
from analytics.fairness.audits import SIGN_OFF_DECISIONS
from analytics.fairness.report import sha256_hex
from app import components, resources, state
from app.charts import fairness as charts
from app.fairness_review import (
    ATTRIBUTE_LABELS,
    individual_decision,
    mitigation_view,
    model_card_view,
    show_audit,
    signoff_panel,
    verdict_banner,
)

SECTIONS = {
    "models": "Models",
    "offers": "Offers & credit decision",
    "experiments": "Experiments",
    "upload": "Upload",
    "signoffs": "Sign-offs",
}
CREDIT_DECISION = "credit"
MSG_NO_MODELS = (
    "No model is registered yet: `make run` trains them (`python -m analytics train --target all`)."
)
MSG_NO_SIGNOFFS = "No audit has been signed yet."
# The audit only counts per group (1M predictions in about 1.2 s, BENCHMARKS.md), so it takes more rows.
MAX_UPLOAD_ROWS = 2_000_000
MSG_TOO_MANY_ROWS = "Use `python -m analytics fairness --input` for larger files."


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
    verdict_banner(equity.verdict, equity.reason, equity.rule)
    st.plotly_chart(charts.equity_figure(equity, attribute), key="equity_chart")
    st.dataframe(charts.equity_table(equity), hide_index=True)
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
        st.dataframe(charts.signoff_table(listing), hide_index=True)
    file = st.file_uploader(
        "Check a report file against the record", type=["html", "pdf"], key="verify_report"
    )
    if file is not None:
        digest = sha256_hex(file.getvalue())
        found = resources.find_signed_report(path, digest)
        if found is None:
            st.error(
                f"No stored sign-off has a report with SHA-256 {digest}: this file is not a signed report."
            )
        else:
            st.success(
                f"This is the report signed by {found['reviewer']} ({found['reviewer_role']}) on "
                f"{found['signed_at']:%Y-%m-%d %H:%M} UTC: {SIGN_OFF_DECISIONS[found['decision']]}."
            )


# -- roles that only read -----------------------------------------------------------------------
def analyst_view(path: str) -> None:
    """The latest signed result of each audited decision, and its report."""
    st.caption("The latest signed result of every audited decision. Audits are run and signed by compliance.")
    latest = resources.latest_signoffs(path)
    if latest.height == 0:
        st.info(MSG_NO_SIGNOFFS)
        return
    st.dataframe(charts.signoff_table(latest), hide_index=True)
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
    counts = signoffs.decision_counts(latest)
    for col, (decision, label) in zip(cols, SIGN_OFF_DECISIONS.items(), strict=True):
        col.metric(label, counts[decision])
    st.dataframe(charts.executive_table(latest), hide_index=True)
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
