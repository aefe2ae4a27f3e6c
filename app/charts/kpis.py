"""The KPIs page's figures, tables and sentences: NPS, retention, predictive CLV, engagement and RFM.

Each function takes a result of ``analytics`` and returns a Plotly figure, a display table, a
line of text or ``st.dataframe`` column settings; nothing here computes a KPI, reads data or
draws on the page.
"""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.common.formatting import format_month, format_period
from analytics.kpis import nps as nps_lib
from analytics.kpis.definitions import SIGNIFICANCE_LEVEL
from app import components

CHART_COLOR = "#0F4C81"
CATEGORY_COLORS = {"promoter": "#2E7D32", "passive": "#B0BEC5", "detractor": "#C62828"}
CATEGORY_LABELS = {
    "promoter": "Promoters (9-10)",
    "passive": "Passives (7-8)",
    "detractor": "Detractors (0-6)",
}
COHORT_UNITS = {"retained_share": "%", "revenue_retention": "% of month 1", "revenue_per_member": "EUR"}
PARAMETER_KEYS = (
    "r",
    "alpha",
    "a",
    "b",
    "p",
    "q",
    "gamma",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
)
LEVEL_TEXT = f"{SIGNIFICANCE_LEVEL:.0%}"
"""The significance level as the sentences say it ("at 5%")."""


def _layout(figure: go.Figure, *, height: int = 340, **extra) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, **extra)
    return figure


def p_text(p: float | None) -> str:
    """A p-value as the page prints it (``< 0.001`` below a thousandth, ``n/a`` without one)."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def group_label(dimension: str, group: str) -> str:
    """A breakdown group's display name (products by their label)."""
    return components.PRODUCT_LABELS.get(group, group) if dimension == "product" else group


# -- NPS --------------------------------------------------------------------------------
def share_bars(frame: pl.DataFrame, x: str, labels: list[str]) -> go.Figure:
    """Stacked promoter/passive/detractor shares; customdata carries (x, category) for clicks."""
    figure = go.Figure()
    for category in nps_lib.NPS_CATEGORIES:
        shares = [None if v is None else 100 * v for v in frame.get_column(f"{category}_share").to_list()]
        keys = frame.get_column(x).to_list()
        figure.add_bar(
            x=labels,
            y=shares,
            name=CATEGORY_LABELS[category],
            marker_color=CATEGORY_COLORS[category],
            customdata=[[str(k), category] for k in keys],
            hovertemplate="%{x}<br>" + CATEGORY_LABELS[category] + ": %{y:.1f}%<extra></extra>",
        )
    return _layout(figure, barmode="stack", yaxis_title="Share of answers (%)", legend={"orientation": "h"})


def nps_line(frame: pl.DataFrame, x_labels: list) -> go.Figure:
    """NPS by month with its 95% interval as error bars."""
    nps_values = frame.get_column("nps").to_list()
    low, high = frame.get_column("ci_low").to_list(), frame.get_column("ci_high").to_list()
    figure = go.Figure(
        go.Scatter(
            x=x_labels,
            y=nps_values,
            mode="lines+markers",
            line={"color": CHART_COLOR, "width": 2},
            name="NPS",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [None if h is None else h - v for h, v in zip(high, nps_values, strict=True)],
                "arrayminus": [None if lo is None else v - lo for lo, v in zip(low, nps_values, strict=True)],
                "color": "#7A9CC6",
            },
            customdata=frame.get_column("answers").to_list(),
            hovertemplate="%{x}: NPS %{y:.1f}<br>%{customdata:,} answers<extra></extra>",
        )
    )
    return _layout(figure, yaxis_title="NPS (95% interval)")


def nps_group_bars(table: pl.DataFrame, group_labels: list[str]) -> go.Figure:
    """NPS of each group with its interval; grey bars for groups too small to read."""
    bars = go.Figure(
        go.Bar(
            x=table.get_column("nps").to_list(),
            y=group_labels,
            orientation="h",
            marker_color=[
                "#9E9E9E" if small else CHART_COLOR for small in table.get_column("small").to_list()
            ],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (table.get_column("ci_high") - table.get_column("nps")).to_list(),
                "arrayminus": (table.get_column("nps") - table.get_column("ci_low")).to_list(),
            },
            hovertemplate="%{y}: NPS %{x:.1f}<extra></extra>",
        )
    )
    return _layout(
        bars,
        height=80 + 34 * len(group_labels),
        xaxis_title="NPS (95% interval)",
        yaxis={"autorange": "reversed"},
    )


def nps_change_sentence(change, verdict: str) -> str:
    """The NPS change against the previous period, its interval and tests, in one sentence."""
    if change.difference is None:
        return f"No comparison with {change.label_b}: {change.note}."
    interval = f"[{change.ci_low:+.1f}, {change.ci_high:+.1f}]" if change.ci_low is not None else ""
    return (
        f"NPS moved **{change.difference:+.1f} points** from {change.label_b} to {change.label_a} "
        f"(95% interval {interval}, p = {p_text(change.p_value)}): **{verdict}** at {LEVEL_TEXT}. "
        f"The promoter/passive/detractor mix test gives p = {p_text(change.chi2_p_value)}."
    )


def nps_comparison_sentence(result, name_a: str, name_b: str) -> str:
    """Two groups' NPS compared (:func:`analytics.kpis.nps.compare_nps`), in one sentence."""
    verdict = "a significant difference" if result.significant else "within noise"
    return (
        f"{name_a} ({result.a.nps:.1f}, {result.a.answers:,} answers) against {name_b} "
        f"({result.b.nps:.1f}, {result.b.answers:,} answers): **{result.difference:+.1f} points**, "
        f"95% interval [{result.ci_low:+.1f}, {result.ci_high:+.1f}], p = {p_text(result.p_value)} "
        f"(two-sample z); mix test p = {p_text(result.chi2_p_value)}: **{verdict}** at {LEVEL_TEXT}."
        + (f" Note: {result.note}." if result.note else "")
    )


def nps_breakdown_view(table: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """The NPS-by-group table as shown: shares, intervals, changes and Holm-adjusted p-values."""

    def fmt(value, pattern):
        return "" if value is None else pattern.format(value)

    rows = []
    for r in table.iter_rows(named=True):
        rows.append(
            {
                nps_lib.DIMENSION_LABELS[dimension]: group_label(dimension, r["group"]),
                "Answers": r["answers"],
                "Promoters": fmt(r["promoter_share"], "{:.0%}"),
                "Passives": fmt(r["passive_share"], "{:.0%}"),
                "Detractors": fmt(r["detractor_share"], "{:.0%}"),
                "NPS": fmt(r["nps"], "{:.1f}"),
                "95% interval": "" if r["ci_low"] is None else f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]",
                "Previous": fmt(r["previous_nps"], "{:.1f}"),
                "Change": fmt(r["change"], "{:+.1f}"),
                "Change p": p_text(r["change_p_value"]),
                "Vs rest": fmt(r["vs_rest_difference"], "{:+.1f}"),
                "Vs rest p (Holm)": p_text(r["vs_rest_p_holm"]),
                "Note": "too few answers" if r["small"] else "",
            }
        )
    return pl.DataFrame(rows)


# -- retention ----------------------------------------------------------------------------
def cohort_heatmap(wide: pl.DataFrame, metric: str) -> go.Figure:
    """Cohorts (rows, with their size) by months since joining; shares in percent."""
    months = [c for c in wide.columns if c not in ("cohort_month", "cohort_size")]
    scale = 100 if metric in ("retained_share", "revenue_retention") else 1
    z = [[None if v is None else v * scale for v in row] for row in wide.select(months).rows()]
    labels = [f"{format_month(m)} ({n:,})" for m, n in wide.select("cohort_month", "cohort_size").rows()]
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=[int(m) for m in months],
            y=labels,
            colorscale="Blues",
            colorbar={"title": {"text": COHORT_UNITS[metric]}},
            hovertemplate="cohort %{y}<br>month %{x}: %{z:,.1f} " + COHORT_UNITS[metric] + "<extra></extra>",
        )
    )
    return _layout(
        heat,
        height=max(360, 22 * len(labels) + 80),
        xaxis_title="Months since joining",
        yaxis={"autorange": "reversed", "title": "Join month (customers)"},
    )


RATE_LINES = (
    ("retention_rate", "retention", CHART_COLOR, "Retention rate"),
    ("churn_rate", "churn", "#C62828", "Churn rate"),
)
"""Monthly rate, prefix of its interval columns, colour and name, one chart each."""


def rate_line(series: pl.DataFrame, rate: str, prefix: str, color: str, name: str) -> go.Figure:
    """One monthly rate in percent with its 95% interval."""
    months = series.get_column("month").to_list()
    values = [None if v is None else 100 * v for v in series.get_column(rate).to_list()]
    low = [None if v is None else 100 * v for v in series.get_column(f"{prefix}_ci_low").to_list()]
    high = [None if v is None else 100 * v for v in series.get_column(f"{prefix}_ci_high").to_list()]
    figure = go.Figure(
        go.Scatter(
            x=months,
            y=values,
            mode="lines+markers",
            name=name,
            line={"color": color},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [
                    None if h is None or v is None else h - v for h, v in zip(high, values, strict=True)
                ],
                "arrayminus": [
                    None if lo is None or v is None else v - lo for lo, v in zip(low, values, strict=True)
                ],
                "color": color,
            },
            hovertemplate="%{x|%b %Y}: %{y:.2f}%<extra></extra>",
        )
    )
    return _layout(figure, height=300, yaxis_title=f"{name} (%, 95% interval)")


def survival_curves(result, by: str) -> go.Figure:
    """Kaplan-Meier step curves, one per group, in percent still there."""
    figure = go.Figure()
    for group in result.groups.get_column("group").to_list():
        curve = result.curves.filter(pl.col("group") == group).sort("time")
        times = [0, *curve.get_column("time").to_list()]
        values = [100.0, *(100 * v for v in curve.get_column("survival").to_list())]
        label = components.PRODUCT_LABELS.get(group, group) if by in ("product", "first_product") else group
        figure.add_scatter(x=times, y=values, mode="lines", line={"shape": "hv"}, name=label)
    unit = "months" if result.time_unit == "month" else "days"
    subject = "holdings still open" if result.subject == "holding" else "customers still with the bank"
    return _layout(figure, height=380, xaxis_title=f"Tenure ({unit})", yaxis_title=f"% of {subject}")


def log_rank_sentence(test) -> str:
    """The log-rank test across the survival groups and its verdict."""
    verdict = "the curves differ" if test.curves_differ() else "no evidence that the curves differ"
    return (
        f"Log-rank test across the groups: chi-square {test.statistic:,.1f} on {test.df} df, "
        f"p = {p_text(test.p_value)}: **{verdict}** at {LEVEL_TEXT}."
    )


def survival_landmarks_view(result) -> pl.DataFrame:
    """Survival at each landmark per group, with subjects, closures and the median tenure."""
    unit = "months" if result.time_unit == "month" else "days"
    landmarks = result.landmarks.join(
        result.groups.select("group", "subjects", "events", "median"), on="group"
    )
    return landmarks.select(
        pl.col("group").alias("Group"),
        pl.col("subjects").alias("Subjects"),
        pl.col("events").alias("Closures"),
        pl.col("median").alias(f"Median tenure ({unit})"),
        pl.col("time").alias(f"At ({unit})"),
        (pl.col("survival") * 100).round(1).alias("Surviving %"),
        pl.concat_str(
            pl.lit("["),
            (pl.col("ci_low") * 100).round(1),
            pl.lit(", "),
            (pl.col("ci_high") * 100).round(1),
            pl.lit("]"),
        ).alias("95% interval"),
    )


# -- predictive CLV -----------------------------------------------------------------------
def clv_holdout_bars(calibration: pl.DataFrame, calibration_end) -> go.Figure:
    """Actual against predicted holdout purchases per bucket of calibration frequency."""
    figure = go.Figure()
    figure.add_bar(
        x=calibration.get_column("bucket").to_list(),
        y=calibration.get_column("actual_mean").to_list(),
        name="Actual",
        marker_color=CHART_COLOR,
    )
    figure.add_bar(
        x=calibration.get_column("bucket").to_list(),
        y=calibration.get_column("predicted_mean").to_list(),
        name="Predicted (BG/NBD)",
        marker_color="#F2A541",
    )
    return _layout(
        figure,
        barmode="group",
        # Buckets are labels ("7+"), not numbers: a numeric axis would drop the last one.
        xaxis={"type": "category", "title": f"Repeat transactions in the calibration (to {calibration_end})"},
        yaxis_title="Transactions per customer in the holdout",
        legend={"orientation": "h", "y": 1.12},
    )


def clv_parameters_view(params: dict, check: dict) -> pl.DataFrame:
    """The final and the check fit's parameters side by side."""
    return pl.DataFrame(
        {
            "Model": ["BG/NBD"] * 4 + ["Gamma-Gamma"] * 3 + ["BG/NBD", "Gamma-Gamma"],
            "Parameter": [k if "likelihood" not in k else "log-likelihood" for k in PARAMETER_KEYS],
            "Final fit": [params[k] for k in PARAMETER_KEYS],
            "Check fit": [check[k] for k in PARAMETER_KEYS],
        }
    )


def histogram(frame: pl.DataFrame, title: str, *, percent: bool = False) -> go.Figure:
    """Bars of a ``bin_start, bin_end, customers`` histogram, each as wide as its bin."""
    scale = 100 if percent else 1
    starts, ends = frame.get_column("bin_start").to_list(), frame.get_column("bin_end").to_list()
    figure = go.Figure(
        go.Bar(
            x=[scale * (a + b) / 2 for a, b in zip(starts, ends, strict=True)],
            y=frame.get_column("customers").to_list(),
            width=[scale * (b - a) for a, b in zip(starts, ends, strict=True)],
            marker_color=CHART_COLOR,
            hovertemplate="%{x:.1f}: %{y:,} customers<extra></extra>",
        )
    )
    return _layout(
        figure, height=300, xaxis_title=title + (" (%)" if percent else ""), yaxis_title="Customers"
    )


def clv_deciles_view(deciles: pl.DataFrame) -> pl.DataFrame:
    """Value deciles, highest first, in display units."""
    return deciles.select(
        pl.col("decile").alias("Decile (10 = highest)"),
        pl.col("customers").alias("Customers"),
        pl.col("mean_clv").round(0).alias("Mean CLV EUR"),
        (pl.col("share_of_clv") * 100).round(1).alias("Share of CLV %"),
        (pl.col("mean_probability_alive") * 100).round(1).alias("Mean P(alive) %"),
        pl.col("mean_expected_transactions").round(1).alias("Expected transactions"),
    ).sort("Decile (10 = highest)", descending=True)


# -- engagement and RFM -------------------------------------------------------------------
def engagement_histogram(hist: pl.DataFrame) -> go.Figure:
    """Customers by their mean monthly engagement score."""
    figure = go.Figure(
        go.Bar(
            x=[(a + b) / 2 for a, b in zip(hist["bin_start"], hist["bin_end"], strict=True)],
            y=hist.get_column("customers").to_list(),
            width=[b - a for a, b in zip(hist["bin_start"], hist["bin_end"], strict=True)],
            marker_color=CHART_COLOR,
            hovertemplate="score %{x:.0f}: %{y:,} customers<extra></extra>",
        )
    )
    return _layout(figure, xaxis_title="Customer's mean monthly score (0-100)", yaxis_title="Customers")


def engagement_drivers(drivers) -> go.Figure:
    """Points of the score from each component, now and (when complete) in the previous period."""
    parts = drivers.components
    figure = go.Figure(
        go.Bar(
            x=parts.get_column("points").to_list(),
            y=parts.get_column("label").to_list(),
            orientation="h",
            marker_color=CHART_COLOR,
            name="This period",
            hovertemplate="%{y}: %{x:.2f} points<extra></extra>",
        )
    )
    if drivers.previous_complete:
        figure.add_bar(
            x=parts.get_column("points_previous").to_list(),
            y=parts.get_column("label").to_list(),
            orientation="h",
            marker_color="#9DB7D5",
            name="Previous period",
        )
    return _layout(
        figure,
        xaxis_title="Points of the score",
        barmode="group",
        legend={"orientation": "h", "y": 1.12},
        yaxis={"autorange": "reversed"},
    )


def engagement_change_sentence(drivers) -> str | None:
    """The engagement change and its verdict; None without a change."""
    if drivers.change is None:
        return None
    significant = drivers.change_significant()
    if significant is None:
        return f"Engagement moved **{drivers.change:+.2f} points** (no interval: too few customers)."
    verdict = "significant" if significant else "within noise"
    return (
        f"Engagement moved **{drivers.change:+.2f} points** (95% interval "
        f"[{drivers.ci_low:+.2f}, {drivers.ci_high:+.2f}]): **{verdict}**."
    )


def drivers_view(parts: pl.DataFrame) -> pl.DataFrame:
    """The drivers table in display units."""
    return parts.select(
        pl.col("label").alias("Component"),
        pl.col("weight").alias("Weight"),
        pl.col("mean_input").round(2).alias("Mean input"),
        pl.col("points").round(2).alias("Points"),
        pl.col("points_previous").round(2).alias("Points before"),
        pl.col("change").round(2).alias("Change"),
        (pl.col("share_of_change") * 100).round(0).alias("Share of change %"),
        pl.col("correlation").round(2).alias("Correlation with score"),
    )


def movement_view(movement: pl.DataFrame) -> pl.DataFrame:
    """Engagement by group now and before, with the change's interval and a note."""
    return movement.select(
        pl.col("group").alias("Group"),
        pl.col("customers").alias("Customers"),
        pl.col("engagement").round(2).alias("Engagement"),
        pl.col("engagement_previous").round(2).alias("Before"),
        pl.col("change").round(2).alias("Change"),
        pl.concat_str(
            pl.lit("["), pl.col("ci_low").round(2), pl.lit(", "), pl.col("ci_high").round(2), pl.lit("]")
        ).alias("95% interval"),
        pl.when(pl.col("small_group"))
        .then(pl.lit("too few customers"))
        .when(pl.col("significant"))
        .then(pl.lit("significant"))
        .otherwise(pl.lit(""))
        .alias("Note"),
    )


def rfm_group_bars(summary: pl.DataFrame) -> go.Figure:
    """Customers per RFM group."""
    figure = go.Figure(
        go.Bar(
            x=summary.get_column("customers").to_list(),
            y=summary.get_column("rfm_group").to_list(),
            orientation="h",
            marker_color=CHART_COLOR,
            hovertemplate="%{y}: %{x:,} customers<extra></extra>",
        )
    )
    return _layout(figure, height=420, xaxis_title="Customers", yaxis={"autorange": "reversed"})


def rfm_groups_view(summary: pl.DataFrame) -> pl.DataFrame:
    """RFM groups with their share, recency, frequency and spend in display units."""
    return summary.select(
        pl.col("rfm_group").alias("Group"),
        pl.col("customers").alias("Customers"),
        (pl.col("share") * 100).round(1).alias("Share %"),
        pl.col("mean_recency_days").round(1).alias("Days since last"),
        pl.col("mean_frequency").round(1).alias("Transactions"),
        pl.col("mean_monetary").round(0).alias("Spend EUR"),
        (pl.col("monetary_share") * 100).round(1).alias("Share of spend %"),
    )


# -- captions and column settings ---------------------------------------------------------
def cohort_caption(matrix) -> str:
    """Who is in the cohorts and what the revenue figures mean."""
    return (
        f"Customers who joined from {format_month(matrix.history_start)} (the start of the history); "
        f"{matrix.customers_before_history:,} customers who joined earlier belong to no cohort. "
        "Revenue is fee plus product margin; revenue retention is against the cohort's first full month "
        "(month 1), since month 0 is partial. The product and segment filters do not apply to cohorts."
    )


def survival_caption(result) -> str:
    """Delayed entry, the intervals and which filters apply to the survival curves."""
    return (
        "Customers who joined before the history enter the risk set at their tenure on its first day "
        f"(delayed entry); {result.excluded_before_history:,} who had already left are not in the data. "
        "Intervals: Greenwood variance, log-log transform (docs/retention.md). Region and age-band filters "
        "apply; the period, product and segment filters do not (tenure is counted over the whole history)."
    )


def clv_fit_caption(fit) -> str:
    """When, by whom and how the stored CLV fit was made."""
    return (
        f"Fitted {fit.fitted_at:%Y-%m-%d %H:%M} UTC by {fit.fitted_by} on the data of {fit.data_as_of}; "
        f"time unit: {fit.period}; CLV over {fit.horizon_periods:.0f} {fit.period}s at a "
        f"{fit.discount_rate:.0%} annual discount rate. Value is spend on debit transactions, not margin. "
        "The fit covers every customer: the sidebar's filters do not apply here."
    )


def holdout_caption(fit, check) -> str:
    """The holdout check in words (:func:`analytics.clv.summaries.summarize_holdout_check`)."""
    return (
        f"Fitted on the data up to {fit.check_calibration_end}, then compared with what the customers "
        f"did until {fit.holdout_end}: {check.predicted:,.0f} transactions predicted, "
        f"{check.actual:,.0f} made"
        + (f" ({check.relative_error:+.1%})." if check.relative_error is not None else ".")
    )


CLV_MODELS_CAPTION = (
    "BG/NBD: purchase rate ~ Gamma(r, alpha), drop-out chance after each purchase ~ Beta(a, b). "
    "Gamma-Gamma: spend per purchase (p, q, gamma). Maximum likelihood with scipy (docs/clv.md)."
)
RFM_CAPTION = (
    "Quintile scores 1-5 of recency, frequency and spend on debit transactions in the period "
    "(5 = best); groups from the usual R vs FM grid (docs/engagement.md). Customers without a "
    "debit score 1-1-1."
)


def clv_top_customers_columns(period: str) -> dict:
    """``st.dataframe`` column settings of the most valuable customers (``period``: the fit's time unit)."""
    return {
        "customer_id": "Customer",
        "frequency": st.column_config.NumberColumn("Repeat purchases", format="%d"),
        "recency": st.column_config.NumberColumn(f"Last purchase ({period}s in)", format="%.1f"),
        "T": st.column_config.NumberColumn(f"Observed ({period}s)", format="%.1f"),
        "monetary_value": st.column_config.NumberColumn("Mean spend EUR", format="%.2f"),
        "probability_alive": st.column_config.NumberColumn("P(alive)", format="%.3f"),
        "expected_transactions": st.column_config.NumberColumn("Expected purchases", format="%.1f"),
        "expected_average_value": st.column_config.NumberColumn("Expected spend EUR", format="%.2f"),
        "clv": st.column_config.NumberColumn("CLV EUR", format="%.0f"),
    }


CLV_PARAMETER_COLUMNS = {
    "Final fit": st.column_config.NumberColumn(format="%.4f"),
    "Check fit": st.column_config.NumberColumn(format="%.4f"),
}


def selected_comments(month_event, group_event) -> tuple[date | None, str | None, str | None] | None:
    """``(month, group, category)`` of a clicked NPS bar segment; None without a click."""

    def first_point(event) -> dict | None:
        points = (event or {}).get("selection", {}).get("points", []) if event else []
        return points[0] if points else None

    month_point, group_point = first_point(month_event), first_point(group_event)
    if group_point and group_point.get("customdata"):
        group, category = group_point["customdata"]
        return None, group, category
    if month_point and month_point.get("customdata"):
        month_text, category = month_point["customdata"]
        return date.fromisoformat(month_text), None, category
    return None


def comments_title(filters, month, category, dimension: str, group) -> str:
    """What the comments shown are behind: month or period, answers, group."""
    parts = [
        format_month(month) if month else format_period(filters.start_month, filters.end_month),
        CATEGORY_LABELS[category] if category else "all answers",
    ]
    if group is not None:
        parts.append(f"{nps_lib.DIMENSION_LABELS[dimension]} {group_label(dimension, group)}")
    return " · ".join(parts)
