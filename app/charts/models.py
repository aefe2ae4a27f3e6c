"""Charts of the Models & explanations page (Plotly figures from analytics results, no Streamlit)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl

from analytics.models import customer_explanations, explanations
from analytics.models import quality as model_quality

MODEL_COLOR, BASELINE_COLOR, RAISE_COLOR, LOWER_COLOR = "#0F4C81", "#9E9E9E", "#C62828", "#2E7D32"
PSI_COLORS = {"stable": "#2E7D32", "watch": "#F9A825", "shifted": "#C62828"}
WATERFALL_FEATURES = 10
CONFUSION_MEASURES = ("precision", "recall", "specificity", "f1", "accuracy")


def _layout(figure: go.Figure, *, height: int = 320, **extra) -> go.Figure:
    """Common size and margins."""
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **extra)
    return figure


def feature_label(feature: str) -> str:
    """A feature name in words (underscores as spaces)."""
    return feature.replace("_", " ")


def roc_figure(curves: dict, confusion) -> go.Figure:
    """ROC curves of the model and the baseline, with the threshold's point."""
    figure = go.Figure()
    for name, color in (("model", MODEL_COLOR), ("baseline", BASELINE_COLOR)):
        curve = curves[name]
        figure.add_trace(
            go.Scatter(
                x=curve.frame["fpr"].to_list(),
                y=curve.frame["tpr"].to_list(),
                name=f"{name.capitalize()} (AUC {curve.auc:.3f})",
                line={"color": color},
            )
        )
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="Chance", line={"dash": "dot", "color": "#BDBDBD"}))
    fpr = confusion.fp / max(confusion.fp + confusion.tn, 1)
    figure.add_trace(
        go.Scatter(
            x=[fpr],
            y=[confusion.recall or 0.0],
            mode="markers",
            marker={"size": 11, "color": RAISE_COLOR},
            name="Threshold",
        )
    )
    return _layout(
        figure, title="ROC curve", xaxis_title="False positive rate", yaxis_title="True positive rate"
    )


def pr_figure(curves: dict, confusion) -> go.Figure:
    """Precision-recall curves with the chance line (the outcome rate)."""
    figure = go.Figure()
    for name, color in (("model", MODEL_COLOR), ("baseline", BASELINE_COLOR)):
        curve = curves[name]
        figure.add_trace(
            go.Scatter(
                x=curve.frame["recall"].to_list(),
                y=curve.frame["precision"].to_list(),
                name=f"{name.capitalize()} (AP {curve.average_precision:.3f})",
                line={"color": color, "shape": "hv"},
            )
        )
    prevalence = curves["model"].prevalence
    figure.add_hline(y=prevalence, line_dash="dot", line_color="#BDBDBD", annotation_text="chance")
    if confusion.precision is not None:
        figure.add_trace(
            go.Scatter(
                x=[confusion.recall],
                y=[confusion.precision],
                mode="markers",
                marker={"size": 11, "color": RAISE_COLOR},
                name="Threshold",
            )
        )
    return _layout(figure, title="Precision and recall", xaxis_title="Recall", yaxis_title="Precision")


def calibration_figure(frames: dict) -> go.Figure:
    """Mean predicted probability against the observed rate, before and after calibration."""
    figure = go.Figure()
    styles = {
        "calibrated": ("Calibrated score", MODEL_COLOR, "solid"),
        "uncalibrated": ("Before calibration", "#64B5F6", "dash"),
        "baseline": ("Baseline", BASELINE_COLOR, "dot"),
    }
    top = 0.0
    for name, (label, color, dash) in styles.items():
        frame = frames[name]
        top = max(top, float(frame["mean_predicted"].max()), float(frame["observed_rate"].max()))
        figure.add_trace(
            go.Scatter(
                x=frame["mean_predicted"].to_list(),
                y=frame["observed_rate"].to_list(),
                mode="lines+markers",
                name=label,
                line={"color": color, "dash": dash},
                customdata=frame["customers"].to_list(),
                hovertemplate=(
                    "predicted %{x:.1%}, observed %{y:.1%} (%{customdata:,} customers)<extra></extra>"
                ),
            )
        )
    figure.add_trace(
        go.Scatter(x=[0, top], y=[0, top], name="Perfect", line={"dash": "dot", "color": "#BDBDBD"})
    )
    return _layout(
        figure,
        title="Calibration (test cut-off, deciles of the score)",
        xaxis={"title": "Mean predicted probability", "tickformat": ".0%"},
        yaxis={"title": "Observed rate", "tickformat": ".0%"},
    )


def lift_figure(frames: dict) -> go.Figure:
    """Lift by score decile, model against baseline."""
    figure = go.Figure()
    for name, color in (("model", MODEL_COLOR), ("baseline", BASELINE_COLOR)):
        frame = frames[name]
        figure.add_trace(
            go.Bar(
                x=frame["group"].to_list(),
                y=frame["lift"].to_list(),
                name=name.capitalize(),
                marker_color=color,
            )
        )
    figure.add_hline(y=1, line_dash="dot", line_color="#BDBDBD")
    return _layout(
        figure, title="Lift by score decile (1 = highest scores)", xaxis_title="Decile", yaxis_title="Lift"
    )


def gains_figure(frames: dict) -> go.Figure:
    """Cumulative gains: share of outcomes captured by the top share of customers."""
    figure = go.Figure()
    for name, color in (("model", MODEL_COLOR), ("baseline", BASELINE_COLOR)):
        frame = frames[name]
        figure.add_trace(
            go.Scatter(
                x=[0.0, *frame["cumulative_share"].to_list()],
                y=[0.0, *frame["gains"].to_list()],
                name=name.capitalize(),
                mode="lines+markers",
                line={"color": color},
            )
        )
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="Random", line={"dash": "dot", "color": "#BDBDBD"}))
    return _layout(
        figure,
        title="Cumulative gains",
        xaxis={"title": "Share of customers contacted (highest scores first)", "tickformat": ".0%"},
        yaxis={"title": "Share of outcomes captured", "tickformat": ".0%"},
    )


def beeswarm_figure(points: pl.DataFrame, features: tuple[str, ...]) -> go.Figure:
    """SHAP value per customer and feature, coloured by the value's rank (WebGL); missing values grey.

    Arrays, not lists: Plotly validates a list element by element (120,000 points took
    1.5 s per rerun on 200,000 customers; numpy arrays 0.14 s).
    """
    known = points.filter(pl.col("colour").is_not_null())
    missing = points.filter(pl.col("colour").is_null())
    figure = go.Figure(
        go.Scattergl(
            x=known["shap"].to_numpy(),
            y=known["y"].to_numpy(),
            mode="markers",
            marker={
                "size": 3,
                "color": known["colour"].to_numpy(),
                "colorscale": [[0, "#1E88E5"], [1, "#D81B60"]],
                "cmin": 0,
                "cmax": 1,
                "colorbar": {
                    "title": "value",
                    "tickvals": [0, 1],
                    "ticktext": ["low", "high"],
                    "thickness": 10,
                },
            },
            customdata=known["value"].to_numpy(),
            hovertemplate="SHAP %{x:+.3f}, value %{customdata}<extra></extra>",
            name="value known",
        )
    )
    if missing.height:
        figure.add_trace(
            go.Scattergl(
                x=missing["shap"].to_numpy(),
                y=missing["y"].to_numpy(),
                mode="markers",
                marker={"size": 3, "color": BASELINE_COLOR},
                hovertemplate="SHAP %{x:+.3f}, value missing<extra></extra>",
                name="value missing",
            )
        )
    figure.add_vline(x=0, line_color="#9E9E9E")
    return _layout(
        figure,
        height=90 + 34 * len(features),
        title="Beeswarm: each dot a customer (grey: value missing)",
        xaxis_title="SHAP value (log-odds)",
        yaxis={
            "tickvals": list(range(len(features))),
            "ticktext": [feature_label(f) for f in features],
            "autorange": "reversed",
        },
        showlegend=False,
    )


def dependence_figure(view: explanations.DependenceView) -> go.Figure:
    """A feature's value against its SHAP value, coloured by its strongest interaction."""
    points = view.points
    coloured = points.filter(pl.col("colour").is_not_null()) if view.interaction else points.clear()
    grey = points.filter(pl.col("colour").is_null()) if view.interaction else points
    figure = go.Figure()
    if coloured.height:
        figure.add_trace(
            go.Scattergl(
                x=coloured["value"].to_numpy(),
                y=coloured["shap"].to_numpy(),
                mode="markers",
                marker={
                    "size": 4,
                    "opacity": 0.7,
                    "color": coloured["colour"].to_numpy(),
                    "colorscale": "RdBu_r",
                    "colorbar": {"title": feature_label(view.interaction or ""), "thickness": 10},
                },
                hoverinfo="skip",
                name=f"{feature_label(view.interaction or '')} known",
            )
        )
    if grey.height:
        figure.add_trace(
            go.Scattergl(
                x=grey["value"].to_numpy(),
                y=grey["shap"].to_numpy(),
                mode="markers",
                marker={"size": 4, "opacity": 0.5, "color": BASELINE_COLOR},
                hoverinfo="skip",
                name=f"{feature_label(view.interaction)} missing"
                if view.interaction
                else feature_label(view.feature),
            )
        )
    figure.add_hline(y=0, line_color="#9E9E9E")
    title = f"Dependence: {feature_label(view.feature)}"
    if view.interaction is not None:
        title += f" (colour: {feature_label(view.interaction)}, its strongest interaction; grey: not known)"
    return _layout(
        figure,
        height=380,
        title=title,
        xaxis_title=feature_label(view.feature),
        yaxis_title="SHAP value",
        showlegend=False,
    )


def waterfall_figure(result: customer_explanations.CustomerExplanation) -> go.Figure:
    """Base value, the largest contributions, the rest, and the score, in calibrated log-odds."""
    contributions = result.contributions
    top = contributions.head(WATERFALL_FEATURES)
    rest = contributions.slice(WATERFALL_FEATURES)
    labels = ["Base value"] + [str(x) for x in top["label"].to_list()]
    values = [result.base_value, *top["shap"].to_list()]
    measures = ["absolute"] + ["relative"] * top.height
    if rest.height:
        labels.append(f"{rest.height} other features")
        values.append(float(rest["shap"].sum()))
        measures.append("relative")
    labels.append(f"Score {result.score:.1%}")
    values.append(result.log_odds)
    measures.append("total")
    figure = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=values,
            measure=measures,
            increasing={"marker": {"color": RAISE_COLOR}},
            decreasing={"marker": {"color": LOWER_COLOR}},
            totals={"marker": {"color": MODEL_COLOR}},
            connector={"line": {"color": "#BDBDBD"}},
            hovertemplate="%{y}: %{x:+.3f}<extra></extra>",
        )
    )
    return _layout(
        figure,
        height=110 + 30 * len(labels),
        title="Waterfall (log-odds of the calibrated score)",
        yaxis={"autorange": "reversed"},
        xaxis_title="log-odds",
    )


def psi_figure(psi: pl.DataFrame) -> go.Figure:
    """PSI per feature, largest first, coloured by band, with the 0.1 and 0.25 lines."""
    shown = psi.sort("psi", descending=True)
    figure = go.Figure(
        go.Bar(
            x=shown["psi"].to_list(),
            y=[feature_label(f) for f in shown["feature"].to_list()],
            orientation="h",
            marker_color=[PSI_COLORS[b] for b in shown["band"].to_list()],
            hovertemplate="%{y}: PSI %{x:.3f}<extra></extra>",
        )
    )
    figure.add_vline(x=model_quality.PSI_WATCH, line_dash="dot", line_color=PSI_COLORS["watch"])
    figure.add_vline(x=model_quality.PSI_SHIFTED, line_dash="dot", line_color=PSI_COLORS["shifted"])
    return _layout(figure, height=80 + 16 * shown.height, yaxis={"autorange": "reversed"}, xaxis_title="PSI")


def importance_figure(top: pl.DataFrame) -> go.Figure:
    """Mean |SHAP| per feature, red when higher values raise the score, green when they lower it."""
    figure = go.Figure(
        go.Bar(
            x=top["mean_abs_shap"].to_list(),
            y=[feature_label(f) for f in top["feature"].to_list()],
            orientation="h",
            marker_color=[
                RAISE_COLOR if d == "+" else LOWER_COLOR if d == "-" else BASELINE_COLOR
                for d in top["direction"].to_list()
            ],
            customdata=top["direction"].to_list(),
            hovertemplate="%{y}: mean |SHAP| %{x:.3f} (higher values %{customdata})<extra></extra>",
        )
    )
    return _layout(
        figure,
        height=90 + 24 * top.height,
        title="Global importance (mean |SHAP|)",
        yaxis={"autorange": "reversed"},
        xaxis_title="mean |SHAP| (log-odds)",
    )


def segment_comparison_figure(shown: pl.DataFrame) -> go.Figure:
    """Mean |SHAP| in the segment against everyone else, per feature."""
    figure = go.Figure()
    for column, name, color in (
        ("in_segment", "In the segment", MODEL_COLOR),
        ("rest", "Everyone else", BASELINE_COLOR),
    ):
        figure.add_trace(
            go.Bar(
                x=shown[column].to_list(),
                y=[feature_label(f) for f in shown["feature"].to_list()],
                orientation="h",
                name=name,
                marker_color=color,
            )
        )
    return _layout(
        figure,
        height=90 + 40 * shown.height,
        barmode="group",
        yaxis={"autorange": "reversed"},
        xaxis_title="mean |SHAP| (log-odds)",
        title="Features whose weight differs most",
    )


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage ("n/a" when missing or not finite)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def confusion_table(confusion: model_quality.ConfusionAtThreshold) -> pl.DataFrame:
    """The confusion matrix at the threshold, as shown."""
    return pl.DataFrame(
        {
            "": ["Outcome happened", "Outcome did not happen"],
            "Flagged": [confusion.tp, confusion.fp],
            "Not flagged": [confusion.fn, confusion.tn],
        }
    )


def confusion_measures_table(
    confusion: model_quality.ConfusionAtThreshold, baseline: model_quality.ConfusionAtThreshold
) -> pl.DataFrame:
    """Precision, recall, specificity, F1 and accuracy of the model and the baseline at the threshold."""
    return pl.DataFrame(
        {
            "Measure": ["Precision", "Recall", "Specificity", "F1", "Accuracy"],
            "Model": [percent(getattr(confusion, m)) for m in CONFUSION_MEASURES],
            "Baseline": [percent(getattr(baseline, m)) for m in CONFUSION_MEASURES],
        }
    )


def psi_caption(psi: pl.DataFrame) -> str:
    """How many features are stable, to watch and shifted, and what it means."""
    counts = {band: int((psi["band"] == band).sum()) for band in PSI_COLORS}
    return (
        f"{counts['stable']} features stable (PSI < 0.1), {counts['watch']} to watch (0.1-0.25),"
        f" {counts['shifted']} shifted (>= 0.25): the population the model scores today differs from the one"
        " it learned from on those; retrain when a top feature shifts."
    )


def table_importance_table(top: pl.DataFrame) -> pl.DataFrame:
    """An uploaded table's model: mean |SHAP| and direction per feature, as shown."""
    return top.select(
        pl.col("feature").alias("Feature"),
        pl.col("mean_abs_shap").round(4).alias("Mean |SHAP| (log-odds)"),
        pl.col("direction").alias("Higher values"),
    )
