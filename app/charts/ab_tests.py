"""The A/B tests page's figures and tables: the read-out, the forest plot, the sequential chart.

Each function takes a result of :mod:`analytics.experiments` and returns a Plotly figure or a
display table (values formatted as the page shows them); nothing here computes a statistic or
reads data.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl

from analytics.experiments.bank import METRIC_KINDS
from analytics.experiments.external import ExternalResult
from analytics.experiments.readout import (
    METRIC_LABELS,
    ExperimentResult,
    MetricReadout,
    headline_bayesian,
    headline_means,
    headline_test,
)

TREATMENT_COLOR, CONTROL_COLOR, BAD_COLOR, BAND_COLOR = (
    "#0F4C81",
    "#9E9E9E",
    "#C62828",
    "rgba(15,76,129,0.18)",
)


def _layout(figure: go.Figure, *, height: int = 320, **extra) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **extra)
    return figure


def _value(metric: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if METRIC_KINDS.get(metric) == "proportion":
        return f"{value * 100:.2f}%"
    return f"{value:,.2f}"


def _lift(metric: str, value: float, low: float, high: float) -> str:
    if METRIC_KINDS.get(metric) == "proportion":
        return f"{value * 100:+.2f} pp [{low * 100:+.2f}, {high * 100:+.2f}]"
    return f"{value:+,.2f} [{low:+,.2f}, {high:+,.2f}]"


def _relative(lift: float | None, interval: tuple[float, float] | None, *, bare: bool = False) -> str:
    """A relative lift and its interval, or why there is none (a control value of 0)."""
    if interval is None or (lift is None and not bare):
        return "n/a (control is 0)"
    text = f"[{interval[0]:+.1%}, {interval[1]:+.1%}]"
    return text if bare else f"{lift:+.1%} {text}"


def listing_table(listing: pl.DataFrame) -> pl.DataFrame:
    """The experiments of :func:`analytics.experiments.bank.list_experiments`, as the page lists them."""
    return listing.select(
        pl.col("name").alias("Experiment"),
        pl.col("status").alias("Status"),
        pl.col("start_date").cast(pl.Date).alias("Start"),
        pl.col("end_date").cast(pl.Date).alias("End"),
        pl.col("primary_metric").alias("Primary metric"),
        pl.col("customers").alias("Customers"),
    )


def metrics_table(result: ExperimentResult) -> pl.DataFrame:
    """One row per metric and treatment: means, lifts with intervals, p-values, Bayesian figures."""
    rows = []
    for readout in result.metrics:
        if readout.problem:
            rows.append({"Metric": METRIC_LABELS[readout.metric], "Note": readout.problem})
            continue
        for name, comparison in readout.comparisons.items():
            test = headline_test(comparison)
            bayes = headline_bayesian(comparison)
            # The values shown are those the lift is computed from: CUPED-adjusted means when CUPED ran.
            means = headline_means(comparison)
            rows.append(
                {
                    "Metric": METRIC_LABELS[readout.metric],
                    "Role": readout.role,
                    "Treatment": name,
                    "Control": _value(readout.metric, means[0]),
                    "Treatment value": _value(readout.metric, means[1]),
                    "Lift [95% CI]": _lift(readout.metric, test.absolute_lift, *test.absolute_ci),
                    "Relative [95% CI]": _relative(test.relative_lift, test.relative_ci),
                    "p": f"{test.p_value:.3g}",
                    "p (adjusted)": f"{readout.adjusted_p[name]:.3g}",
                    "Chance to beat control": f"{bayes.chance_to_beat_control:.1%}",
                    "Expected loss": _value(readout.metric, bayes.expected_loss),
                    "CUPED variance cut": (
                        f"{comparison.cuped.variance_reduction:.0%}" if comparison.cuped is not None else "—"
                    ),
                    "Note": "guardrail worse" if readout.guardrail_breached.get(name) else "",
                }
            )
    return pl.DataFrame(rows)


def bayesian_table(readout: MetricReadout) -> pl.DataFrame:
    """Each treatment's Bayesian read-out of one metric (empty when it could not be compared)."""
    rows = []
    for name, comparison in readout.comparisons.items():
        b = headline_bayesian(comparison)
        rows.append(
            {
                "Treatment": name,
                "Method": b.method,
                "Chance to beat control": f"{b.chance_to_beat_control:.1%}",
                "Expected loss of shipping it": _value(readout.metric, b.expected_loss),
                "95% credible interval (relative)": _relative(None, b.relative_credible_interval, bare=True),
            }
        )
    return pl.DataFrame(rows)


def segment_table(segments: pl.DataFrame) -> pl.DataFrame:
    """:func:`analytics.experiments.breakdown.segment_breakdown` as the page shows it (lift in percent)."""
    return segments.select(
        pl.col("group").alias("Group"),
        pl.col("treatment").alias("Treatment"),
        pl.col("control_n").alias("Control n"),
        pl.col("treatment_n").alias("Treatment n"),
        (pl.col("relative_lift") * 100).round(1).alias("Relative lift %"),
        pl.col("p_value").round(4).alias("p"),
        pl.col("p_adjusted").round(4).alias("p (BH)"),
        pl.col("note").fill_null("").alias("Note"),
    )


def external_arms_table(result: ExternalResult) -> pl.DataFrame:
    """Each arm of an uploaded experiment: customers, mean and variance (none below 2 customers)."""
    rows = []
    for arm in result.arms:
        variance = arm.variance if arm.n > 1 else None
        rows.append({"Arm": arm.name, "n": arm.n, "Mean": arm.mean, "Variance": variance})
    return pl.DataFrame(rows)


def external_comparisons_table(result: ExternalResult) -> pl.DataFrame:
    """Each treatment of an uploaded experiment against its control: test, lift, p, Bayesian figures."""
    rows = []
    for name, comparison in result.comparisons.items():
        f, b = headline_test(comparison), headline_bayesian(comparison)
        rows.append(
            {
                "Treatment": name,
                "Test": f.test,
                "Lift": f.absolute_lift,
                "CI low": f.absolute_ci[0],
                "CI high": f.absolute_ci[1],
                "Relative lift": f.relative_lift,
                "p": f.p_value,
                "Chance to beat control": b.chance_to_beat_control,
                "Expected loss": b.expected_loss,
                "CUPED variance cut": comparison.cuped.variance_reduction if comparison.cuped else None,
            }
        )
    return pl.DataFrame(rows)


def forest_figure(result: ExperimentResult) -> go.Figure:
    """Relative lift of every metric and treatment with its 95% interval."""
    labels, values, lows, highs, colors = [], [], [], [], []
    for readout in result.metrics:
        for name, comparison in readout.comparisons.items():
            test = headline_test(comparison)
            if test.relative_lift is None or test.relative_ci is None:
                continue  # no relative lift when the control's value is 0
            labels.append(f"{METRIC_LABELS[readout.metric]} · {name}")
            values.append(test.relative_lift * 100)
            lows.append(test.relative_ci[0] * 100)
            highs.append(test.relative_ci[1] * 100)
            colors.append(BAD_COLOR if readout.guardrail_breached.get(name) else TREATMENT_COLOR)
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=labels,
            mode="markers",
            marker={"size": 10, "color": colors},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for h, v in zip(highs, values, strict=True)],
                "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
            },
            hovertemplate="%{y}: %{x:+.2f}%<extra></extra>",
        )
    )
    figure.add_vline(x=0, line_color="#616161", line_dash="dot")
    return _layout(
        figure,
        height=110 + 45 * len(labels),
        title="Relative lift with 95% intervals (CUPED-adjusted where shown)",
        xaxis_title="relative lift, %",
        yaxis={"autorange": "reversed"},
    )


def sequential_figure(series: pl.DataFrame, metric: str, treatment: str) -> go.Figure:
    """The lift over time with the always-valid band and the fixed-horizon interval."""
    part = series.filter(pl.col("treatment") == treatment)
    scale = 100 if METRIC_KINDS[metric] == "proportion" else 1
    days = part["day"].to_list()
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=days + days[::-1],
            y=[v * scale for v in part["high"].to_list()] + [v * scale for v in part["low"].to_list()[::-1]],
            fill="toself",
            fillcolor=BAND_COLOR,
            line={"width": 0},
            name="Always-valid 95% interval",
            hoverinfo="skip",
        )
    )
    for column, dash, name in (
        ("fixed_low", "dot", "Fixed-horizon 95% interval"),
        ("fixed_high", "dot", None),
    ):
        figure.add_trace(
            go.Scatter(
                x=days,
                y=[v * scale for v in part[column].to_list()],
                line={"color": CONTROL_COLOR, "dash": dash},
                name=name or "",
                showlegend=name is not None,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[v * scale for v in part["lift"].to_list()],
            line={"color": TREATMENT_COLOR},
            name="Lift",
        )
    )
    figure.add_hline(y=0, line_color="#616161")
    unit = "pp" if scale == 100 else METRIC_LABELS[metric]
    return _layout(
        figure,
        height=360,
        title="Sequential monitoring: safe to look every day",
        yaxis_title=f"lift ({unit})",
    )
