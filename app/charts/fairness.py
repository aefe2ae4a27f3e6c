"""The Fairness & compliance page's figures and display tables.

Each function takes a result of ``analytics.fairness`` and returns a Plotly figure or a table
as shown; nothing here computes a rate, reads data or draws on the page.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from analytics.fairness import metrics as fairness
from analytics.fairness.audits import SIGN_OFF_DECISIONS, AttributeAudit, FairnessAudit, selection_floor
from analytics.fairness.experiment_equity import ExperimentEquity
from analytics.fairness.mitigation import MitigationResult

VERDICT_WORDS = {"pass": "Pass", "fail": "Fail", "undecided": "Undecided"}
BAR_COLOR, FAIL_COLOR, SMALL_COLOR = "#0F4C81", "#C62828", "#B0BEC5"
DISPARITY_LABELS = {
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
    "four_fifths_rule": "Four-fifths rule (selection-rate ratio of the pair it judged)",
}
MITIGATION_MEASURES = (
    ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced accuracy"),
    ("auc", "AUC"),
    ("selection_rate", "Selection rate"),
    ("demographic_parity_difference", "Demographic parity difference"),
    ("equalized_odds_difference", "Equalized odds difference"),
    ("four_fifths_ratio", "Selection-rate ratio (four-fifths)"),
)
MIN_GROUP = fairness.MIN_GROUP_SIZE
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _pct(value: float | None, digits: int = 1) -> str:
    return "undefined" if value is None else f"{value:.{digits}%}"


def _interval(low: float | None, high: float | None, *, pct: bool) -> str:
    if low is None or high is None:
        return ""
    return f"[{low:.1%}, {high:.1%}]" if pct else f"[{low:.3f}, {high:.3f}]"


def selection_figure(attribute: AttributeAudit) -> go.Figure:
    """Selection rate per group with its 95% interval; the four-fifths line under the top group."""
    m = attribute.metrics.sort("group")
    rates = m.get_column("selection_rate").fill_null(0).to_numpy()
    # The rule judges groups of at least 30 customers only: the line is 4/5 of the top such group.
    floor = selection_floor(attribute)
    colors = [
        SMALL_COLOR if small else (FAIL_COLOR if floor and rate < floor else BAR_COLOR)
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
    if floor:
        figure.add_hline(
            y=floor,
            line_dash="dash",
            line_color=FAIL_COLOR,
            annotation_text=f"4/5 of the top group of {MIN_GROUP}+",
        )
    figure.update_layout(
        title=f"Selection rate by {attribute.attribute.replace('_', ' ')} (95% Wilson intervals)",
        yaxis_tickformat=".0%",
        height=320,
        margin=_MARGIN,
        showlegend=False,
    )
    return figure


def group_table(audit: FairnessAudit, attribute: AttributeAudit) -> pl.DataFrame:
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


def disparity_table(audit: FairnessAudit, attribute: AttributeAudit) -> pl.DataFrame:
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


def strata_table(strata: pl.DataFrame) -> pl.DataFrame:
    """The credit decision within credit bands, as shown."""
    return strata.select(
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


def mitigation_table(result: MitigationResult) -> pl.DataFrame:
    """Decision quality with one threshold and with per-group thresholds, side by side."""
    rows = []
    for field, label in MITIGATION_MEASURES:
        b, a = getattr(result.before, field), getattr(result.after, field)
        rows.append(
            {
                "Measure": label,
                "Before (one threshold)": None if b is None else round(b, 4),
                "After (per-group thresholds)": None if a is None else round(a, 4),
            }
        )
    return pl.DataFrame(rows)


def equity_figure(equity: ExperimentEquity, attribute: str) -> go.Figure:
    """Each group's lift with its 95% interval, against no lift."""
    lifts = equity.lifts
    figure = go.Figure(
        go.Scatter(
            x=lifts.get_column("lift").to_list(),
            y=lifts.get_column("group").to_list(),
            mode="markers",
            marker={"color": BAR_COLOR, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (lifts["high"] - lifts["lift"]).to_list(),
                "arrayminus": (lifts["lift"] - lifts["low"]).to_list(),
            },
        )
    )
    figure.add_vline(x=0, line_color="#9E9E9E")
    figure.update_layout(
        title=f"Lift in {equity.metric} by {attribute.replace('_', ' ')} (95% intervals)",
        height=300,
        margin=_MARGIN,
    )
    return figure


def equity_table(equity: ExperimentEquity) -> pl.DataFrame:
    """Each group's lift as shown."""
    return equity.lifts.select(
        pl.col("group").alias("Group"),
        pl.col("treatment").alias("Treatment"),
        pl.col("control_n").alias("Control n"),
        pl.col("treatment_n").alias("Treatment n"),
        pl.col("lift").round(5).alias(f"Lift ({equity.metric})"),
        pl.col("low").round(5).alias("Low"),
        pl.col("high").round(5).alias("High"),
        pl.col("note").alias("Note"),
    )


def signoff_table(listing: pl.DataFrame) -> pl.DataFrame:
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


def executive_table(latest: pl.DataFrame) -> pl.DataFrame:
    """Pass or fail and the sign-off of every audited decision, as executives see them."""
    return latest.select(
        pl.col("title").alias("Decision audited"),
        pl.col("audit_verdict").replace_strict(VERDICT_WORDS, default=None).alias("Fairness check"),
        pl.col("decision").replace_strict(SIGN_OFF_DECISIONS, default=None).alias("Compliance sign-off"),
        pl.col("signed_at").dt.strftime("%Y-%m-%d").alias("Signed"),
    )
