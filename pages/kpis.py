"""KPIs: what is behind the executive tiles, and is a difference more than noise?

Four sections, one drawn at a time (each reads its own cached results for the sidebar
filters):

- NPS: ``analytics.kpis.nps.compute_nps_drilldown`` (promoters, passives and detractors by
  month and by group with 95% intervals and tests), ``analytics.kpis.nps.compare_nps`` for two
  chosen groups, ``analytics.kpis.nps.nps_comments`` for the comments behind a clicked bar,
  redacted with ``analytics.access.privacy.redact_comments`` for the viewer's role;
- Retention: ``analytics.kpis.retention`` (cohort heat maps of customers and revenue, monthly
  retention and churn, Kaplan-Meier curves);
- Predictive CLV: the BG/NBD + Gamma-Gamma fit stored by ``python -m analytics clv``
  (``analytics.clv.predictive``), with the calibration/holdout check;
- Engagement & RFM: ``analytics.kpis.engagement`` (score distribution, drivers, movement by
  segment, RFM groups).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.access.privacy import (
    mask_personal_data,
    pseudonym_key,
    redact_comments,
    sees_raw_personal_data,
)
from analytics.clv import store as clv_store
from analytics.common.formatting import format_month, format_period
from analytics.kpis import engagement as engagement_lib
from analytics.kpis import nps as nps_lib
from analytics.kpis import retention as retention_lib
from app import components, resources, state

SECTIONS = {"nps": "NPS", "retention": "Retention", "clv": "Predictive CLV", "engagement": "Engagement & RFM"}
CATEGORY_COLORS = {"promoter": "#2E7D32", "passive": "#B0BEC5", "detractor": "#C62828"}
CATEGORY_LABELS = {
    "promoter": "Promoters (9-10)",
    "passive": "Passives (7-8)",
    "detractor": "Detractors (0-6)",
}
CHART_COLOR = "#0F4C81"
CLV_FIT_ROLES = frozenset({"marketing_analyst", "admin"})
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
TOP_CUSTOMERS = 20
MSG_NO_CLV_FIT = (
    "No predictive CLV fit is stored for this data yet. It is fitted in batch: run "
    "`python -m analytics clv` (make run does it after building the sample bank)."
)
COHORT_METRICS = {
    "retained_share": "Customers retained",
    "revenue_retention": "Revenue retention",
    "revenue_per_member": "Revenue per member",
}
COHORT_UNITS = {"retained_share": "%", "revenue_retention": "% of month 1", "revenue_per_member": "EUR"}
SURVIVAL_GROUPS = {
    "none": "All customers",
    "region": "Region",
    "age_band": "Age band",
    "preferred_channel": "Preferred channel",
    "product": "Product (holdings)",
}
MSG_NO_DATA = "The database holds no monthly data yet. Load data, then reload this page."


def _layout(figure: go.Figure, *, height: int = 340, **extra) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, **extra)
    return figure


def _selected_point(event) -> dict | None:
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    return points[0] if points else None


def _p_text(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _group_label(dimension: str, group: str) -> str:
    return components.PRODUCT_LABELS.get(group, group) if dimension == "product" else group


# -- NPS --------------------------------------------------------------------------------
def _share_bars(frame: pl.DataFrame, x: str, labels: list[str]) -> go.Figure:
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


def _nps_line(frame: pl.DataFrame, x_labels: list) -> go.Figure:
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


def _show_comments(
    path: str, filters, user, *, dimension, group, month, category, what: str, segments_filters
) -> None:
    st.markdown(f"**Comments behind: {what}**")
    frame = resources.nps_comments(
        path,
        resources.filter_key(filters),
        dimension=dimension,
        group=group,
        month=month,
        category=category,
        segments_key=resources.filter_key(segments_filters),
    )
    if frame.height == 0:
        st.info("No comments were left with these answers.")
        return
    total = frame.item(0, "total")
    db = resources.get_database(path)
    shown = redact_comments(frame.drop("total"), user.role, key=pseudonym_key(db))
    if sees_raw_personal_data(user.role):
        components.log_view_once(
            db, user, target="nps_comments", details={"what": what, "rows": shown.height}
        )
        st.caption("You see the comments as written, personal data included; this view is logged.")
    else:
        st.caption("Names, e-mail addresses and phone numbers are redacted; customers are pseudonymized.")
    if total > shown.height:
        st.caption(f"The {shown.height:,} newest of {total:,} comments.")
    st.dataframe(
        shown.select("ts", "score", "category", "channel", "comment", "customer_id"),
        hide_index=True,
        column_config={"ts": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm")},
    )


def nps_section(path: str, filters, user) -> None:
    """NPS over time and by group, comparisons, and the comments behind a bar."""
    with st.spinner("Counting NPS answers…"):
        drill = resources.nps_drilldown(path, resources.filter_key(filters))
    change = drill.change
    current, previous = drill.current, drill.previous
    cols = st.columns(4)
    cols[0].metric("NPS", "n/a" if current.nps is None else f"{current.nps:.1f}", border=True)
    cols[1].metric("Answers", f"{current.answers:,}", border=True)
    cols[2].metric(
        f"NPS {format_period(drill.previous_filters.start_month, drill.previous_filters.end_month)}",
        "n/a" if previous.nps is None else f"{previous.nps:.1f}",
        border=True,
    )
    verdict = "n/a"
    if change.significant is not None:
        verdict = "significant" if change.significant else "within noise"
    cols[3].metric("Change", "n/a" if change.difference is None else f"{change.difference:+.1f}", border=True)
    st.markdown(_change_sentence(change, verdict))

    st.subheader("NPS by month")
    trend = drill.trend
    months = trend.get_column("month").to_list()
    labels = [format_month(m) for m in months]
    st.plotly_chart(_nps_line(trend, labels), key="nps_trend_line")
    st.caption("Click a bar segment to read the comments behind it.")
    month_event = st.plotly_chart(
        _share_bars(trend, "month", labels), key="nps_trend_bars", on_select="rerun", selection_mode="points"
    )
    components.csv_download(trend, file_name="tailor_nps_by_month.csv", key="nps_trend_csv")

    st.subheader("NPS by group")
    dimension = st.segmented_control(
        "Break down by",
        list(nps_lib.NPS_DIMENSIONS),
        format_func=lambda d: "Segment (RFM group)" if d == "segment" else nps_lib.DIMENSION_LABELS[d],
        key=state.NPS_DIMENSION,
        required=True,
    )
    dimension = dimension or "channel"
    table = drill.breakdowns[dimension]
    if table.height == 0:
        st.info("No NPS answers in any group for these filters.")
        group_event = None
    else:
        groups = table.get_column("group").to_list()
        group_labels = [_group_label(dimension, g) for g in groups]
        left, right = st.columns(2)
        with left:
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
            st.plotly_chart(
                _layout(
                    bars,
                    height=80 + 34 * len(groups),
                    xaxis_title="NPS (95% interval)",
                    yaxis={"autorange": "reversed"},
                ),
                key="nps_group_bars",
            )
        with right:
            group_event = st.plotly_chart(
                _share_bars(table, "group", group_labels),
                key=f"nps_group_shares_{dimension}",
                on_select="rerun",
                selection_mode="points",
            )
        st.dataframe(_breakdown_view(table, dimension, drill), hide_index=True)
        st.caption(
            "Change: against the previous period. Vs rest: this group against all other answers, "
            "p-values adjusted for the number of groups (Holm). Grey bars: fewer than "
            f"{nps_lib.MIN_GROUP_ANSWERS} answers, too few to read."
        )
        components.csv_download(table, file_name=f"tailor_nps_by_{dimension}.csv", key="nps_group_csv")
        _compare_groups(table, dimension, group_labels)

    st.subheader("Comments")
    _comments_panel(path, filters, user, drill, dimension, month_event, group_event)


def _change_sentence(change, verdict: str) -> str:
    if change.difference is None:
        return f"No comparison with {change.label_b}: {change.note}."
    interval = f"[{change.ci_low:+.1f}, {change.ci_high:+.1f}]" if change.ci_low is not None else ""
    return (
        f"NPS moved **{change.difference:+.1f} points** from {change.label_b} to {change.label_a} "
        f"(95% interval {interval}, p = {_p_text(change.p_value)}): **{verdict}** at 5%. "
        f"The promoter/passive/detractor mix test gives p = {_p_text(change.chi2_p_value)}."
    )


def _breakdown_view(table: pl.DataFrame, dimension: str, drill) -> pl.DataFrame:
    def fmt(value, pattern):
        return "" if value is None else pattern.format(value)

    rows = []
    for r in table.iter_rows(named=True):
        rows.append(
            {
                nps_lib.DIMENSION_LABELS[dimension]: _group_label(dimension, r["group"]),
                "Answers": r["answers"],
                "Promoters": fmt(r["promoter_share"], "{:.0%}"),
                "Passives": fmt(r["passive_share"], "{:.0%}"),
                "Detractors": fmt(r["detractor_share"], "{:.0%}"),
                "NPS": fmt(r["nps"], "{:.1f}"),
                "95% interval": "" if r["ci_low"] is None else f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]",
                "Previous": fmt(r["previous_nps"], "{:.1f}"),
                "Change": fmt(r["change"], "{:+.1f}"),
                "Change p": _p_text(r["change_p_value"]),
                "Vs rest": fmt(r["vs_rest_difference"], "{:+.1f}"),
                "Vs rest p (Holm)": _p_text(r["vs_rest_p_holm"]),
                "Note": "too few answers" if r["small"] else "",
            }
        )
    return pl.DataFrame(rows)


def _compare_groups(table: pl.DataFrame, dimension: str, labels: list[str]) -> None:
    groups = table.get_column("group").to_list()
    if len(groups) < 2:
        return
    with st.expander("Compare two groups", expanded=False):
        left, right = st.columns(2)
        names = dict(zip(groups, labels, strict=True))
        a = left.selectbox(
            "Group A", groups, index=0, format_func=names.get, key=f"nps_compare_a_{dimension}"
        )
        b = right.selectbox(
            "Group B", groups, index=1, format_func=names.get, key=f"nps_compare_b_{dimension}"
        )
        if a == b:
            st.info("Pick two different groups.")
            return
        counts = {}
        for g in (a, b):
            row = table.filter(pl.col("group") == g).row(0, named=True)
            counts[g] = nps_lib.NpsCounts.from_counts(row["promoters"], row["passives"], row["detractors"])
        result = nps_lib.compare_nps(counts[a], counts[b], label_a=names[a], label_b=names[b])
        if result.difference is None or result.p_value is None or result.ci_low is None:
            reason = result.note or "every answer in both groups is the same score category"
            st.info(f"No test: {reason}.")
            return
        verdict = "a significant difference" if result.significant else "within noise"
        st.markdown(
            f"{names[a]} ({result.a.nps:.1f}, {result.a.answers:,} answers) against {names[b]} "
            f"({result.b.nps:.1f}, {result.b.answers:,} answers): **{result.difference:+.1f} points**, "
            f"95% interval [{result.ci_low:+.1f}, {result.ci_high:+.1f}], p = {_p_text(result.p_value)} "
            f"(two-sample z); mix test p = {_p_text(result.chi2_p_value)}: **{verdict}** at 5%."
            + (f" Note: {result.note}." if result.note else "")
        )


def _comments_panel(path, filters, user, drill, dimension, month_event, group_event) -> None:
    month_point, group_point = _selected_point(month_event), _selected_point(group_event)
    month = group = category = None
    if group_point and group_point.get("customdata"):
        group, category = group_point["customdata"]
    elif month_point and month_point.get("customdata"):
        month_text, category = month_point["customdata"]
        month = date.fromisoformat(month_text)
    else:
        # Without a click: choose here (also the keyboard path).
        months = drill.trend.get_column("month").to_list()
        cols = st.columns(3)
        picked = cols[0].selectbox(
            "Month",
            [None, *reversed(months)],
            format_func=lambda m: "Whole period" if m is None else format_month(m),
            key="nps_comment_month",
        )
        category = cols[1].selectbox(
            "Answers",
            [None, *nps_lib.NPS_CATEGORIES],
            format_func=lambda c: "All answers" if c is None else CATEGORY_LABELS[c],
            key="nps_comment_category",
        )
        groups = drill.breakdowns[dimension].get_column("group").to_list()
        group = cols[2].selectbox(
            nps_lib.DIMENSION_LABELS[dimension],
            [None, *groups],
            format_func=lambda g: "All" if g is None else _group_label(dimension, g),
            key="nps_comment_group",
        )
        month = picked
    period_filters = filters
    if month is not None and not (filters.start_month <= month <= filters.end_month):
        # A month of the trend outside the period: read that month on its own (same slices).
        filters = replace(filters, start_month=month, end_month=month)
    parts = [
        format_month(month) if month else format_period(filters.start_month, filters.end_month),
        CATEGORY_LABELS[category] if category else "all answers",
    ]
    if group is not None:
        parts.append(f"{nps_lib.DIMENSION_LABELS[dimension]} {_group_label(dimension, group)}")
    _show_comments(
        path,
        filters,
        user,
        dimension=dimension if group is not None else None,
        group=group,
        month=month,
        category=category,
        what=" · ".join(parts),
        segments_filters=period_filters,
    )


# -- retention ----------------------------------------------------------------------------
def retention_section(path: str, filters) -> None:
    """Cohort heat maps, monthly retention and churn, Kaplan-Meier curves."""
    st.subheader("Cohorts")
    metric = st.segmented_control(
        "Show",
        list(COHORT_METRICS),
        format_func=COHORT_METRICS.get,
        key=state.COHORT_METRIC,
        required=True,
    )
    metric = metric or "retained_share"
    with st.spinner("Building the cohort matrix…"):
        matrix = resources.cohort_matrix(path, filters.end_month, filters.regions, filters.age_bands)
    wide = retention_lib.cohort_heatmap(matrix, metric=metric)
    if wide.height == 0:
        st.info("No customer joined inside the history within these filters.")
    else:
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
                hovertemplate="cohort %{y}<br>month %{x}: %{z:,.1f} "
                + COHORT_UNITS[metric]
                + "<extra></extra>",
            )
        )
        st.plotly_chart(
            _layout(
                heat,
                height=max(360, 22 * len(labels) + 80),
                xaxis_title="Months since joining",
                yaxis={"autorange": "reversed", "title": "Join month (customers)"},
            ),
            key="cohort_heatmap",
        )
        st.caption(
            f"Customers who joined from {format_month(matrix.history_start)} (the start of the history); "
            f"{matrix.customers_before_history:,} customers who joined earlier belong to no cohort. "
            "Revenue is fee plus product margin; revenue retention is against the cohort's first full month "
            "(month 1), since month 0 is partial. The product and segment filters do not apply to cohorts."
        )
        components.csv_download(matrix.cells, file_name="tailor_cohorts.csv", key="cohort_csv")

    st.subheader("Retention and churn by month")
    series = resources.retention_series(path, resources.filter_key(filters)).series
    months = series.get_column("month").to_list()
    # Retention sits near 99% and churn near 1% a month: one axis each, or both look flat.
    columns = st.columns(2)
    for column, (rate, prefix, color, name) in zip(
        columns,
        (
            ("retention_rate", "retention", CHART_COLOR, "Retention rate"),
            ("churn_rate", "churn", "#C62828", "Churn rate"),
        ),
        strict=True,
    ):
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
        with column:
            st.plotly_chart(
                _layout(figure, height=300, yaxis_title=f"{name} (%, 95% interval)"), key=f"series_{rate}"
            )
    st.caption("Each month as a one-month period, with the executive summary's definitions (docs/kpis.md).")
    components.csv_download(series, file_name="tailor_retention_by_month.csv", key="retention_csv")

    st.subheader("Survival (Kaplan-Meier)")
    by = st.selectbox(
        "Curves by", list(SURVIVAL_GROUPS), format_func=SURVIVAL_GROUPS.get, key=state.SURVIVAL_BY
    )
    with st.spinner("Fitting survival curves…"):
        result = resources.survival(path, by or "none", filters.regions, filters.age_bands)
    figure = go.Figure()
    for group in result.groups.get_column("group").to_list():
        curve = result.curves.filter(pl.col("group") == group).sort("time")
        times = [0, *curve.get_column("time").to_list()]
        values = [100.0, *(100 * v for v in curve.get_column("survival").to_list())]
        label = components.PRODUCT_LABELS.get(group, group) if by in ("product", "first_product") else group
        figure.add_scatter(x=times, y=values, mode="lines", line={"shape": "hv"}, name=label)
    unit = "months" if result.time_unit == "month" else "days"
    subject = "holdings still open" if result.subject == "holding" else "customers still with the bank"
    st.plotly_chart(
        _layout(figure, height=380, xaxis_title=f"Tenure ({unit})", yaxis_title=f"% of {subject}"),
        key="survival_curves",
    )
    test = result.log_rank
    if test is not None:
        verdict = "the curves differ" if test.p_value < 0.05 else "no evidence that the curves differ"
        st.markdown(
            f"Log-rank test across the groups: chi-square {test.statistic:,.1f} on {test.df} df, "
            f"p = {_p_text(test.p_value)}: **{verdict}** at 5%."
        )
    landmarks = result.landmarks.join(
        result.groups.select("group", "subjects", "events", "median"), on="group"
    )
    st.dataframe(
        landmarks.select(
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
        ),
        hide_index=True,
    )
    components.csv_download(result.curves, file_name="tailor_survival_curves.csv", key="survival_csv")
    st.caption(
        "Customers who joined before the history enter the risk set at their tenure on its first day "
        f"(delayed entry); {result.excluded_before_history:,} who had already left are not in the data. "
        "Intervals: Greenwood variance, log-log transform (docs/retention.md). Region and age-band filters "
        "apply; the period, product and segment filters do not (tenure is counted over the whole history)."
    )


# -- predictive CLV -----------------------------------------------------------------------
def clv_section(path: str, user) -> None:
    """The stored BG/NBD + Gamma-Gamma fit: parameters, holdout check, who is worth what."""
    fit = resources.stored_clv(path)
    can_fit = user.role in CLV_FIT_ROLES
    if fit is None:
        st.info(MSG_NO_CLV_FIT)
        if can_fit and st.button("Fit the models now", key="clv_fit", type="primary"):
            _refit(path, user)
        return
    params = fit.parameters
    st.caption(
        f"Fitted {fit.fitted_at:%Y-%m-%d %H:%M} UTC by {fit.fitted_by} on the data of {fit.data_as_of}; "
        f"time unit: {fit.period}; CLV over {fit.horizon_periods:.0f} {fit.period}s at a "
        f"{fit.discount_rate:.0%} annual discount rate. Value is spend on debit transactions, not margin. "
        "The fit covers every customer: the sidebar's filters do not apply here."
    )
    predictions, summary = resources.clv_predictions(path, fit.fit_id)
    cols = st.columns(4)
    cols[0].metric("Customers", f"{fit.customers:,}", border=True)
    cols[1].metric("Mean P(alive)", f"{predictions.get_column('probability_alive').mean():.1%}", border=True)
    cols[2].metric("Mean CLV", f"EUR {predictions.get_column('clv').mean():,.0f}", border=True)
    cols[3].metric(
        "Expected transactions", f"{predictions.get_column('expected_transactions').sum():,.0f}", border=True
    )
    for warning in fit.warnings:
        st.caption(f"Note: {warning}")

    left, right = st.columns(2)
    with left:
        st.subheader("Does the model predict? Holdout check")
        calibration = fit.calibration
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
        st.plotly_chart(
            _layout(
                figure,
                barmode="group",
                # Buckets are labels ("7+"), not numbers: a numeric axis would drop the last one.
                xaxis={
                    "type": "category",
                    "title": f"Repeat transactions in the calibration (to {fit.check_calibration_end})",
                },
                yaxis_title="Transactions per customer in the holdout",
                legend={"orientation": "h", "y": 1.12},
            ),
            key="clv_calibration",
        )
        actual = calibration.get_column("actual_total").sum()
        predicted = calibration.get_column("predicted_total").sum()
        st.caption(
            f"Fitted on the data up to {fit.check_calibration_end}, then compared with what the customers "
            f"did until {fit.holdout_end}: {predicted:,.0f} transactions predicted, {actual:,.0f} made"
            + (f" ({(predicted - actual) / actual:+.1%})." if actual else ".")
        )
        components.csv_download(calibration, file_name="tailor_clv_holdout_check.csv", key="clv_check_csv")
    with right:
        st.subheader("Fitted parameters")
        check = fit.check_parameters
        st.dataframe(
            pl.DataFrame(
                {
                    "Model": ["BG/NBD"] * 4 + ["Gamma-Gamma"] * 3 + ["BG/NBD", "Gamma-Gamma"],
                    "Parameter": [k if "likelihood" not in k else "log-likelihood" for k in PARAMETER_KEYS],
                    "Final fit": [params[k] for k in PARAMETER_KEYS],
                    "Check fit": [check[k] for k in PARAMETER_KEYS],
                }
            ),
            hide_index=True,
            column_config={
                "Final fit": st.column_config.NumberColumn(format="%.4f"),
                "Check fit": st.column_config.NumberColumn(format="%.4f"),
            },
        )
        st.caption(
            "BG/NBD: purchase rate ~ Gamma(r, alpha), drop-out chance after each purchase ~ Beta(a, b). "
            "Gamma-Gamma: spend per purchase (p, q, gamma). Maximum likelihood with scipy (docs/clv.md)."
        )

    left, right = st.columns(2)
    with left:
        st.subheader("Probability alive")
        st.plotly_chart(_histogram(summary["probability_alive"], "P(alive)", percent=True), key="clv_alive")
    with right:
        st.subheader("CLV")
        st.plotly_chart(_histogram(summary["clv"], "CLV (EUR, top 1% in the last bar)"), key="clv_hist")
    st.subheader("Value deciles")
    deciles = summary["deciles"]
    st.dataframe(
        deciles.select(
            pl.col("decile").alias("Decile (10 = highest)"),
            pl.col("customers").alias("Customers"),
            pl.col("mean_clv").round(0).alias("Mean CLV EUR"),
            (pl.col("share_of_clv") * 100).round(1).alias("Share of CLV %"),
            (pl.col("mean_probability_alive") * 100).round(1).alias("Mean P(alive) %"),
            pl.col("mean_expected_transactions").round(1).alias("Expected transactions"),
        ).sort("Decile (10 = highest)", descending=True),
        hide_index=True,
    )
    st.subheader("Most valuable customers")
    db = resources.get_database(path)
    top = predictions.sort("clv", descending=True).head(TOP_CUSTOMERS).drop("fit_id")
    shown = mask_personal_data(top, user.role, key=pseudonym_key(db))
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "customer_id": "Customer",
            "frequency": st.column_config.NumberColumn("Repeat purchases", format="%d"),
            "recency": st.column_config.NumberColumn(f"Last purchase ({fit.period}s in)", format="%.1f"),
            "T": st.column_config.NumberColumn(f"Observed ({fit.period}s)", format="%.1f"),
            "monetary_value": st.column_config.NumberColumn("Mean spend EUR", format="%.2f"),
            "probability_alive": st.column_config.NumberColumn("P(alive)", format="%.3f"),
            "expected_transactions": st.column_config.NumberColumn("Expected purchases", format="%.1f"),
            "expected_average_value": st.column_config.NumberColumn("Expected spend EUR", format="%.2f"),
            "clv": st.column_config.NumberColumn("CLV EUR", format="%.0f"),
        },
    )
    if sees_raw_personal_data(user.role):
        components.log_view_once(
            db, user, target="clv_top_customers", details={"fit_id": fit.fit_id, "rows": shown.height}
        )
        st.caption("Customer numbers are shown unmasked to your role; this view is logged.")
    components.csv_download(shown, file_name="tailor_clv_top_customers.csv", key="clv_top_csv")
    if can_fit:
        with st.expander("Fit again"):
            st.write(
                "Refits both models on the current data (a minute or less at 200,000 customers) and replaces "
                "the stored predictions. The batch job `python -m analytics clv` does the same."
            )
            if st.button("Fit again now", key="clv_refit"):
                _refit(path, user)


def _histogram(frame: pl.DataFrame, title: str, *, percent: bool = False) -> go.Figure:
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


def _refit(path: str, user) -> None:
    db = resources.get_database(path)
    with st.status("Fitting BG/NBD and Gamma-Gamma on the bank's transactions…", expanded=True) as status:
        try:
            clv_store.fit_bank_clv(db, fitted_by=user.username, progress=status.write)
        except ValueError as exc:  # ClvFitError included: the message says what failed and what to try
            status.update(label="The fit failed", state="error")
            st.error(str(exc))
            return
        status.update(label="Fitted and stored", state="complete")
    db.write_audit(username=user.username, role=user.role, action="fit_model", target="clv")
    resources.stored_clv.clear()
    st.rerun()


# -- engagement and RFM -------------------------------------------------------------------
def engagement_section(path: str, filters) -> None:
    """The engagement score's distribution, drivers and movement; RFM groups."""
    with st.spinner("Scoring engagement…"):
        analysis = resources.engagement_analysis(path, resources.filter_key(filters))
        rfm = resources.rfm(path, resources.filter_key(filters))
    distribution, drivers = analysis.distribution, analysis.drivers
    if distribution.customers == 0:
        st.info("No customers match these filters in the period.")
        return
    cols = st.columns(4)
    cols[0].metric("Engagement score", f"{drivers.score:.1f}", border=True)
    cols[1].metric("Customers", f"{distribution.customers:,}", border=True)
    cols[2].metric("Median customer", f"{distribution.median:.1f}", border=True)
    change = "n/a" if drivers.change is None else f"{drivers.change:+.2f}"
    cols[3].metric("Change vs previous period", change, border=True)
    if drivers.change is not None and drivers.ci_low is None:
        st.markdown(f"Engagement moved **{drivers.change:+.2f} points** (no interval: too few customers).")
    elif drivers.change is not None:
        verdict = "significant" if (drivers.ci_low > 0 or drivers.ci_high < 0) else "within noise"
        st.markdown(
            f"Engagement moved **{drivers.change:+.2f} points** (95% interval "
            f"[{drivers.ci_low:+.2f}, {drivers.ci_high:+.2f}]): **{verdict}**."
        )
    elif analysis.note:
        st.caption(analysis.note)

    left, right = st.columns(2)
    with left:
        st.subheader("Distribution")
        hist = distribution.histogram
        figure = go.Figure(
            go.Bar(
                x=[(a + b) / 2 for a, b in zip(hist["bin_start"], hist["bin_end"], strict=True)],
                y=hist.get_column("customers").to_list(),
                width=[b - a for a, b in zip(hist["bin_start"], hist["bin_end"], strict=True)],
                marker_color=CHART_COLOR,
                hovertemplate="score %{x:.0f}: %{y:,} customers<extra></extra>",
            )
        )
        st.plotly_chart(
            _layout(figure, xaxis_title="Customer's mean monthly score (0-100)", yaxis_title="Customers"),
            key="engagement_histogram",
        )
        st.caption(
            f"Quartiles {distribution.q1:.1f} / {distribution.median:.1f} / {distribution.q3:.1f}; "
            f"mean {distribution.mean:.1f}."
        )
    with right:
        st.subheader("Drivers")
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
        st.plotly_chart(
            _layout(
                figure,
                xaxis_title="Points of the score",
                barmode="group",
                legend={"orientation": "h", "y": 1.12},
                yaxis={"autorange": "reversed"},
            ),
            key="engagement_drivers",
        )
        st.caption("The score is the sum of its four capped, weighted components: the bars add up to it.")
    st.dataframe(_drivers_view(parts), hide_index=True)

    st.subheader("Movement by segment")
    dimension = st.segmented_control(
        "Group by",
        list(analysis.movement),
        format_func=lambda d: (
            "Segment (RFM group)" if d == "rfm_group" else engagement_lib.DIMENSION_LABELS[d]
        ),
        key=state.ENGAGEMENT_DIMENSION,
        required=True,
    )
    movement = analysis.movement[dimension or "region"]
    st.dataframe(_movement_view(movement), hide_index=True)
    components.csv_download(movement, file_name="tailor_engagement_movement.csv", key="engagement_csv")

    st.subheader("RFM groups")
    summary = engagement_lib.summarize_rfm_groups(rfm)
    left, right = st.columns([1, 1.3])
    with left:
        figure = go.Figure(
            go.Bar(
                x=summary.get_column("customers").to_list(),
                y=summary.get_column("rfm_group").to_list(),
                orientation="h",
                marker_color=CHART_COLOR,
                hovertemplate="%{y}: %{x:,} customers<extra></extra>",
            )
        )
        st.plotly_chart(
            _layout(figure, height=420, xaxis_title="Customers", yaxis={"autorange": "reversed"}),
            key="rfm_groups_chart",
        )
    with right:
        st.dataframe(
            summary.select(
                pl.col("rfm_group").alias("Group"),
                pl.col("customers").alias("Customers"),
                (pl.col("share") * 100).round(1).alias("Share %"),
                pl.col("mean_recency_days").round(1).alias("Days since last"),
                pl.col("mean_frequency").round(1).alias("Transactions"),
                pl.col("mean_monetary").round(0).alias("Spend EUR"),
                (pl.col("monetary_share") * 100).round(1).alias("Share of spend %"),
            ),
            hide_index=True,
            height=36 * (summary.height + 1) + 3,
        )
    st.caption(
        "Quintile scores 1-5 of recency, frequency and spend on debit transactions in the period "
        "(5 = best); groups from the usual R vs FM grid (docs/engagement.md). Customers without a "
        "debit score 1-1-1."
    )
    components.csv_download(summary, file_name="tailor_rfm_groups.csv", key="rfm_csv")


def _drivers_view(parts: pl.DataFrame) -> pl.DataFrame:
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


def _movement_view(movement: pl.DataFrame) -> pl.DataFrame:
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


# -- page ---------------------------------------------------------------------------------
user = components.require_access("kpis")
path = resources.database_path()
months = resources.available_months(path)

st.title("KPIs")
if not months:
    st.info(MSG_NO_DATA)
    st.stop()
filters = components.current_filters(months)
what = components.describe_filters(filters, resources.saved_segments(path))
st.caption(
    f"{format_period(filters.start_month, filters.end_month)} · {what} · "
    "every number here can be reproduced with `python -m analytics nps|retention|clv|engagement --json`"
)
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key=state.KPI_SECTION, required=True
)
section = section or "nps"
if section == "nps":
    nps_section(path, filters, user)
elif section == "retention":
    retention_section(path, filters)
elif section == "clv":
    clv_section(path, user)
elif section == "engagement":
    engagement_section(path, filters)
