"""Models & explanations: how good are the churn and take-up scores, and why did a customer get theirs?

Reads the registry (``analytics.models.registry``: models trained, scored and explained in
batch by ``python -m analytics train``) and draws five sections, one at a time:

- Quality: ``analytics.models.quality`` on the model's stored test scores (ROC and PR
  curves, calibration, lift and gains, the confusion matrix at a threshold the analyst
  moves, the comparison with the logistic baseline) and the stored population stability
  index per feature;
- Explanations: the stored SHAP sample (``analytics.models.explanations``: global importance,
  beeswarm, dependence coloured by the strongest interaction);
- One customer: a masked id (or a pick among the highest scores) gives the score, its
  waterfall and three reason codes (``customer_explanations.explain_customer``); the what-if form
  edits feature values, re-scores and re-explains;
- Segments: mean |SHAP| in a saved segment against the rest
  (``explanations.segment_comparison``);
- Your own table: an uploaded CSV or Parquet file trained and explained by
  ``analytics.models.table_model.train_on_table``, with the predictions and SHAP values to download.

Every read goes through ``app.resources``; the figures and tables are drawn by ``app.charts.models``.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.models import explanations
from analytics.models import quality as model_quality
from analytics.segments import store as segment_store
from app import components, resources, state
from app.charts import models as charts
from app.model_customer import customer_section
from app.model_upload import upload_section

SECTIONS = {
    "quality": "Quality",
    "explanations": "Explanations",
    "customer": "One customer",
    "segments": "Segments",
    "upload": "Your own table",
}
TARGET_LABELS = {
    "churn": "Churn in the next 90 days",
    "credit_card": "Take-up: credit card",
    "savings": "Take-up: savings",
    "investment_fund": "Take-up: investment fund",
}
KIND_LABELS = {"tree": "Gradient boosting (the score)", "baseline": "Logistic baseline"}
TOP_FEATURES = 15
BEESWARM_FEATURES = 12
MSG_NO_MODELS = (
    "No model is registered yet. `make run` trains them on first start; otherwise run"
    " `python -m analytics train --target all` with the app stopped, then reload."
)
MSG_NO_TEST_SCORES = (
    "This model was registered without its test scores: train a new version with"
    " `python -m analytics train --target {target}` to see its quality."
)


# -- model choice ----------------------------------------------------------------------------
def choose_model(registry: pl.DataFrame) -> str:
    """Target and version pickers; returns the chosen model id."""
    targets = [t for t in TARGET_LABELS if t in set(registry.get_column("target").to_list())]
    left, right = st.columns([2, 1])
    if state.get(state.MODEL_TARGET) not in targets:
        st.session_state[state.MODEL_TARGET] = targets[0]
    target = left.selectbox("Model", targets, format_func=TARGET_LABELS.get, key=state.MODEL_TARGET)
    versions = registry.filter(pl.col("target") == target).sort("version", descending=True)
    ids = versions.get_column("model_id").to_list()
    labels = {
        row["model_id"]: f"v{row['version']} · {row['trained_at']:%Y-%m-%d %H:%M}"
        for row in versions.iter_rows(named=True)
    }
    if state.get(state.MODEL_ID) not in ids:
        st.session_state[state.MODEL_ID] = ids[0]
    return right.selectbox("Version", ids, format_func=labels.get, key=state.MODEL_ID)


def model_caption(record) -> None:
    """Who trained the model, on what, and where to check it."""
    cutoffs = record.parameters.get("cutoffs", {})
    st.caption(
        f"{record.model_id} · trained {record.trained_at:%Y-%m-%d %H:%M} UTC by {record.trained_by} on data"
        f" as of {record.data_as_of} · training cut-offs {', '.join(cutoffs.get('train', []))}, validation"
        f" {cutoffs.get('validation')}, test {cutoffs.get('test')} · {record.horizon_days}-day horizon ·"
        f" training rows hash {record.training_snapshot_hash[:12]} · reproduce with"
        f" `python -m analytics train --target {record.target} --json`"
    )


# -- quality ---------------------------------------------------------------------------------
def quality_section(path: str, record) -> None:
    """Metrics against the baseline, curves, the threshold's confusion matrix, PSI."""
    views = resources.model_quality_views(path, record.model_id)
    if views is None:
        st.info(MSG_NO_TEST_SCORES.format(target=record.target))
        return
    scores, comparison = views.scores, views.comparison
    model, baseline = comparison.row(0, named=True), comparison.row(1, named=True)
    cols = st.columns(5)
    cols[0].metric("AUC", f"{model['auc']:.3f}", f"{model['auc_change']:+.3f} vs baseline")
    cols[1].metric(
        "Average precision",
        f"{model['average_precision']:.3f}",
        f"{model['average_precision_change']:+.3f} vs baseline",
    )
    cols[2].metric(
        "Brier score",
        f"{model['brier']:.4f}",
        f"{model['brier_change']:+.4f} vs baseline",
        delta_color="inverse",
    )
    cols[3].metric(
        "Outcome rate", charts.percent(views.prevalence), help="Share of test customers with the outcome."
    )
    cols[4].metric(
        "Test customers", f"{scores.height:,}", help=f"Customers on the test cut-off ({record.target})."
    )
    if baseline["auc"] > model["auc"]:
        st.warning(
            "The logistic baseline ranks customers better on the test cut-off"
            f" (AUC {baseline['auc']:.3f} against {model['auc']:.3f}). The gradient-boosted model"
            " is kept as the score because its SHAP explanation is exact and it captures"
            " interactions; see docs/models.md before relying on the difference."
        )

    default = views.default_threshold
    threshold = st.slider(
        "Threshold: customers scoring at or above it are flagged",
        min_value=0.0,
        max_value=1.0,
        step=0.005,
        format="%.3f",
        value=default,
        key=f"{state.MODEL_THRESHOLD}_{record.model_id}",  # each model starts at its own default
        help=f"Starts at {default:.3f}, the score above which the top tenth of test customers lies.",
    )
    y = scores.get_column("label").to_numpy()
    confusion = model_quality.confusion_at(y, scores.get_column("score").to_numpy(), threshold)
    base_confusion = model_quality.confusion_at(y, scores.get_column("baseline_score").to_numpy(), threshold)
    flagged = confusion.tp + confusion.fp
    left, right = st.columns([1, 1])
    with left:
        st.markdown(
            f"**Confusion matrix at {threshold:.3f}** · {flagged:,} flagged ({flagged / scores.height:.1%})"
        )
        st.dataframe(charts.confusion_table(confusion), hide_index=True)
        st.dataframe(charts.confusion_measures_table(confusion, base_confusion), hide_index=True)
        for sentence in confusion.undefined:
            st.caption(sentence)
    with right:
        st.plotly_chart(charts.roc_figure(views.roc, confusion), key="roc_chart")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.pr_figure(views.pr, confusion), key="pr_chart")
    with right:
        st.plotly_chart(charts.calibration_figure(views.calibration), key="calibration_chart")
    st.caption(
        "Calibration: the scores are Platt-scaled on the validation cut-off, so a score of 10% should mean"
        " about one customer in ten has the outcome; points on the diagonal are well calibrated."
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.lift_figure(views.lift), key="lift_chart")
    with right:
        st.plotly_chart(charts.gains_figure(views.lift), key="gains_chart")
    components.csv_download(
        views.lift["model"], file_name=f"tailor_{record.model_id}_lift.csv", key="lift_csv"
    )
    psi_view(record)


def psi_view(record) -> None:
    """Population stability per feature with the 0.1 / 0.25 bands."""
    psi = record.psi
    st.markdown(
        "**Population stability: training rows against the current customers"
        " (their last 12 months, as of the snapshot)**"
    )
    if psi.height == 0:
        st.info("This model was registered without population stability figures.")
        return
    st.plotly_chart(charts.psi_figure(psi), key="psi_chart")
    st.caption(charts.psi_caption(psi))


# -- explanations ----------------------------------------------------------------------------
def explanations_section(path: str, record) -> None:
    """Global importance, beeswarm and dependence from the stored SHAP sample."""
    meta = resources.explanation_meta(path, record.model_id)
    if not meta:
        st.info(explanations.MSG_NO_EXPLANATION.format(model_id=record.model_id))
        return
    kind = st.segmented_control(
        "Explain", list(KIND_LABELS), format_func=KIND_LABELS.get, key=state.SHAP_KIND, required=True
    )
    kind = kind if kind in meta else "tree"
    info = meta[kind]
    st.caption(
        f"SHAP values of {info.rows:,} randomly sampled current customers"
        f" (features as of {info.features_as_of}),"
        f" {'exact tree SHAP' if kind == 'tree' else 'linear SHAP'} in {info.space}; computed"
        f" {info.explained_at:%Y-%m-%d %H:%M} UTC in {info.seconds:.1f} s. Base value {info.base_value:+.3f}"
        f" (a probability of {charts.percent(info.base_probability)})."
    )
    importance = resources.shap_importance(path, record.model_id, kind)
    top = importance.head(TOP_FEATURES)
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.importance_figure(top), key="importance_chart")
        st.caption("Red: higher values raise the score; green: higher values lower it.")
    with right:
        features = tuple(importance.head(BEESWARM_FEATURES)["feature"].to_list())
        points = resources.beeswarm(path, record.model_id, kind, features)
        st.plotly_chart(charts.beeswarm_figure(points, features), key="beeswarm_chart")
    components.csv_download(
        importance, file_name=f"tailor_{record.model_id}_{kind}_importance.csv", key="imp_csv"
    )

    options = importance["feature"].to_list()
    if state.get(state.DEPENDENCE_FEATURE) not in options:
        st.session_state[state.DEPENDENCE_FEATURE] = options[0]
    feature = st.selectbox(
        "Dependence of", options, format_func=charts.feature_label, key=state.DEPENDENCE_FEATURE
    )
    view = resources.dependence(path, record.model_id, kind, feature)
    st.plotly_chart(charts.dependence_figure(view), key="dependence_chart")


# -- segments --------------------------------------------------------------------------------
def segments_section(path: str, record) -> None:
    """Mean |SHAP| in a saved segment against the rest of the sample."""
    saved = resources.saved_segments(path)
    if saved.height == 0:
        st.info("No segment is saved yet: save one on the Segments page, then compare it here.")
        return
    labels = {row["segment_id"]: segment_store.segment_label(row) for row in saved.iter_rows(named=True)}
    segment_id = st.selectbox("Saved segment", list(labels), format_func=labels.get, key="shap_segment")
    try:
        matrix = resources.shap_matrix(path, record.model_id, "tree")
    except ValueError as exc:
        st.info(str(exc))
        return
    members = resources.segment_members(path, segment_id)
    try:
        table = explanations.segment_comparison(matrix, members)
    except ValueError as exc:
        st.info(str(exc))
        return
    first = table.row(0, named=True)
    st.caption(
        f"{first['customers_in']:,} of the segment's {members.len():,} customers are in the stored"
        f" SHAP sample, against {first['customers_rest']:,} others. Longer bars: the feature"
        " drives this segment's scores more."
    )
    st.plotly_chart(charts.segment_comparison_figure(table.head(TOP_FEATURES)), key="segment_shap_chart")
    components.csv_download(table, file_name=f"tailor_{record.model_id}_segment_shap.csv", key="seg_shap_csv")


# -- page ------------------------------------------------------------------------------------
user = components.require_access("models")
path = resources.database_path()
st.title("Models & explanations")
st.caption("Churn and take-up scores: how good they are, and why each customer got theirs.")
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key=state.MODEL_SECTION, required=True
)
section = section or "quality"
registry = resources.registered_models(path)
if section == "upload":
    upload_section()
    st.stop()
if registry.height == 0:
    st.info(MSG_NO_MODELS)
    st.stop()
model_id = choose_model(registry)
try:
    record = resources.loaded_model(path, model_id).record
except ValueError as exc:  # a missing or changed artifact: say which, never unpickle it
    st.error(str(exc))
    st.stop()
model_caption(record)
if section == "quality":
    quality_section(path, record)
elif section == "explanations":
    explanations_section(path, record)
elif section == "customer":
    customer_section(path, record, user)
elif section == "segments":
    segments_section(path, record)
