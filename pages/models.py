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

The figures are drawn by ``app.model_charts``.
"""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.models import customer_explanations, explanations, table_model
from analytics.models import quality as model_quality
from analytics.segments import store as segment_store
from app import components, resources, state
from app import model_charts as charts

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
WHAT_IF_FEATURES = 6
MAX_UPLOAD_ROWS = 500_000
CONFUSION_MEASURES = ("precision", "recall", "specificity", "f1", "accuracy")
MSG_NO_MODELS = (
    "No model is registered yet. `make run` trains them on first start; otherwise run"
    " `python -m analytics train --target all` with the app stopped, then reload."
)
MSG_NO_TEST_SCORES = (
    "This model was registered without its test scores: train a new version with"
    " `python -m analytics train --target {target}` to see its quality."
)
MSG_TOO_MANY_ROWS = "The file has {rows:,} rows; the page trains on at most {limit:,} (use the CLI for more)."


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.{digits}f}%"


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
    prevalence = float(scores.get_column("label").mean())
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
    cols[3].metric("Outcome rate", _percent(prevalence), help="Share of test customers with the outcome.")
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
        st.dataframe(
            pl.DataFrame(
                {
                    "": ["Outcome happened", "Outcome did not happen"],
                    "Flagged": [confusion.tp, confusion.fp],
                    "Not flagged": [confusion.fn, confusion.tn],
                }
            ),
            hide_index=True,
        )
        st.dataframe(
            pl.DataFrame(
                {
                    "Measure": ["Precision", "Recall", "Specificity", "F1", "Accuracy"],
                    "Model": [_percent(getattr(confusion, m)) for m in CONFUSION_MEASURES],
                    "Baseline": [_percent(getattr(base_confusion, m)) for m in CONFUSION_MEASURES],
                }
            ),
            hide_index=True,
        )
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
    counts = {band: int((psi["band"] == band).sum()) for band in charts.PSI_COLORS}
    st.caption(
        f"{counts['stable']} features stable (PSI < 0.1), {counts['watch']} to watch (0.1-0.25),"
        f" {counts['shifted']} shifted (>= 0.25): the population the model scores today differs from the one"
        " it learned from on those; retrain when a top feature shifts."
    )


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
        f" (a probability of {_percent(1 / (1 + math.exp(-info.base_value)))})."
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


# -- one customer ----------------------------------------------------------------------------
def customer_section(path: str, record, user) -> None:
    """Score, waterfall and reasons of one customer; what-if."""
    meta = resources.explanation_meta(path, record.model_id).get("tree")
    typical = meta.typical if meta is not None else {}
    raw = sees_raw_personal_data(user.role)
    top = resources.top_scored(path, record.model_id, user.role)
    if raw and top.height:
        components.log_view_once(
            resources.get_database(path),
            user,
            target="model_top_scores",
            details={"model_id": record.model_id, "customers": top.height},
        )
    left, right = st.columns(2)
    with left:
        st.text_input(
            "Customer (masked id" + (" or customer number)" if raw else ")"),
            key=state.CUSTOMER_REF,
            placeholder="C-1a2b3c4d5e6f",
        )
    with right:
        picks = {
            "": "—",
            **{
                row["masked_id"]: f"{row['customer']} · score {row['score']:.1%}"
                for row in top.iter_rows(named=True)
            },
        }
        chosen = st.selectbox(
            "…or one of the highest scores (profiling consent given)",
            list(picks),
            format_func=picks.get,
            key="customer_pick",
        )
    if raw and top.height:
        st.caption("The list shows customer numbers to your role; this view is logged.")
    text = (st.session_state.get(state.CUSTOMER_REF) or "").strip() or (chosen or "")
    if not text:
        st.info("Type a customer's masked id (shown on every customer list to your role) or pick one above.")
        return
    try:
        customer_id = customer_explanations.resolve_customer(
            text, resources.current_pseudonyms(path), allow_raw=raw
        )
        row = resources.customer_row(path, customer_id)
    except ValueError as exc:
        st.error(str(exc))
        return
    model = resources.loaded_model(path, record.model_id)
    result = customer_explanations.explain_customer(model, row, typical=typical)
    masked = resources.masked_id(path, customer_id)
    shown_id = f"{customer_id} ({masked})" if raw else masked
    components.log_view_once(
        resources.get_database(path),
        user,
        target="model_explanation",
        details={"model_id": record.model_id, "customer": str(customer_id) if raw else masked},
    )
    st.subheader(f"Customer {shown_id}")
    cols = st.columns(3)
    cols[0].metric(
        f"Score: {customer_explanations.TARGET_WORDS.get(record.target, record.target)}",
        _percent(result.score),
    )
    cols[1].metric("Starting point (base value)", _percent(result.base_probability))
    cols[2].metric(
        "Log-odds",
        f"{result.log_odds:+.3f}",
        f"{result.log_odds - result.base_value:+.3f} from the base",
        delta_color="off",
    )
    st.markdown("**Why: the three largest contributions**")
    for reason in result.reasons:
        st.markdown(f"- {reason[0].upper()}{reason[1:]}.")
    st.plotly_chart(charts.waterfall_figure(result), key="waterfall_chart")
    st.caption(
        "The bars add up exactly, in the log-odds of the calibrated score, from the base value to this"
        " customer's score; the points in the reasons are how much lower (or higher) the score would be"
        " without that contribution. The explanation is audited."
    )
    what_if(model, row, result, typical)


def what_if(
    model, row: pl.DataFrame, result: customer_explanations.CustomerExplanation, typical: dict
) -> None:
    """Edit the largest contributions' values, re-score and re-explain.

    The widgets are keyed by model and customer, so one customer's values never carry over to
    the next; an empty field is a missing value (the model imputes it, as it did when scoring),
    and only the fields the user changed are applied.
    """
    st.markdown("**What if?** Change the values of the largest contributions and re-score.")
    features = result.contributions.head(WHAT_IF_FEATURES)["feature"].to_list()
    prefix = f"wi_{result.model_id}_{result.customer_id}"
    original = {name: row.get_column(name)[0] for name in features}
    with st.form(f"{prefix}_form"):
        columns = st.columns(3)
        entered: dict[str, float | bool | None] = {}
        for index, name in enumerate(features):
            current = original[name]
            key = f"{prefix}_{name}"
            with columns[index % 3]:
                if row.schema[name] == pl.Boolean:
                    label = f"Holds {charts.feature_label(name.removeprefix('has_'))}"
                    entered[name] = st.checkbox(label, value=bool(current), key=key)
                elif row.schema[name].is_integer():
                    entered[name] = st.number_input(
                        charts.feature_label(name), value=current, step=1, key=key
                    )
                else:
                    entered[name] = st.number_input(
                        charts.feature_label(name), value=current, key=key, format="%.2f"
                    )
        st.caption("An empty field is a missing value: the model fills it in as it did when scoring.")
        submitted = st.form_submit_button("Re-score")
    if not submitted:
        return
    changes = {name: value for name, value in entered.items() if not _same(value, original[name])}
    try:
        edited = customer_explanations.apply_what_if(row, changes, features=model.features)
    except ValueError as exc:
        st.error(str(exc))
        return
    again = customer_explanations.explain_customer(model, edited, typical=typical)
    change = again.score - result.score
    what = ", ".join(charts.feature_label(name) for name in changes) or "nothing changed"
    st.metric(
        "Score with these values", _percent(again.score), f"{change * 100:+.1f} points", delta_color="off"
    )
    st.caption(f"Changed: {what}.")
    for reason in again.reasons:
        st.markdown(f"- {reason[0].upper()}{reason[1:]}.")
    st.plotly_chart(charts.waterfall_figure(again), key="what_if_waterfall")


def _same(entered, stored) -> bool:
    """Whether a form value equals the stored one (the number input shows floats to two decimals)."""
    if entered is None or stored is None:
        return entered is None and stored is None
    if isinstance(stored, bool):
        return bool(entered) == stored
    return math.isclose(float(entered), float(stored), rel_tol=0.0, abs_tol=0.005)


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
    members = segment_store.segment_members(resources.get_database(path).backend(), segment_id)
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


# -- upload ----------------------------------------------------------------------------------
def upload_section() -> None:
    """Train and explain a model of any two-class column of an uploaded customer table."""
    st.caption(
        "One row per customer, the outcome in one column; text columns are one-hot encoded,"
        " id-like and constant columns are left out with a notice, 25% is held out (stratified)"
        " to score and explain. Nothing is stored: the results are for download. The same as"
        " `python -m analytics model --input FILE --target COL --json`."
    )
    upload = st.file_uploader("Customer table (CSV or Parquet)", type=["csv", "parquet"], key="model_upload")
    if upload is None:
        return
    frame = components.read_upload(upload, max_rows=MAX_UPLOAD_ROWS, too_many=MSG_TOO_MANY_ROWS)
    if frame is None:
        return
    st.caption(f"{upload.name}: {frame.height:,} rows, {frame.width} columns.")
    target = st.selectbox("Outcome column", frame.columns, index=None, key="upload_target")
    if target is None:
        return
    if frame.schema[target].is_nested() or frame.schema[target] == pl.Object:
        st.error(table_model.MSG_TARGET_NOT_SCALAR.format(target=target, dtype=frame.schema[target]))
        return
    # The values as text, the way the CLI's --positive-label takes them (binary_target matches text).
    values = sorted({str(v) for v in frame.get_column(target).drop_nulls().unique().head(50).to_list()})
    positive = st.selectbox("Value that counts as the outcome (1)", values, key="upload_positive")
    if not st.button("Train and explain", key="upload_train"):
        return
    with st.status("Training on the uploaded table…", expanded=True) as status:
        try:
            status.write("Checking the columns and holding out 25%…")
            result = table_model.train_on_table(frame, target=target, positive_label=positive)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            status.update(label="The table cannot be modelled", state="error")
            st.error(str(exc))
            return
        status.update(label=f"Trained: holdout AUC {result.auc:.3f}", state="complete", expanded=False)
    for notice in result.notices:
        st.caption(notice)
    cols = st.columns(4)
    cols[0].metric("Holdout AUC", f"{result.auc:.3f}")
    cols[1].metric("Rows", f"{result.rows:,}")
    cols[2].metric(f"Outcome '{result.positive_label}'", f"{result.positives:,}")
    cols[3].metric("Features used", f"{len(result.features)}")
    top = result.importance.head(TOP_FEATURES)
    st.dataframe(
        top.select(
            pl.col("feature").alias("Feature"),
            pl.col("mean_abs_shap").round(4).alias("Mean |SHAP| (log-odds)"),
            pl.col("direction").alias("Higher values"),
        ),
        hide_index=True,
    )
    stem = upload.name.rsplit(".", 1)[0]
    components.csv_download(
        result.predictions, file_name=f"{stem}_predictions.csv", key="up_pred", label="Download predictions"
    )
    components.csv_download(
        result.shap_values, file_name=f"{stem}_shap.csv", key="up_shap", label="Download SHAP values"
    )


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
