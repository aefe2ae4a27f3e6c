"""The KPIs page's four sections, each a function drawing its widgets: NPS, retention, CLV, engagement.

Widgets only: results come from ``app.resources`` (cached per sidebar filters), figures, tables
and sentences from ``app.charts.kpis``. The page (pages/kpis.py) picks one section and calls it;
widget keys and labels are the ones the AppTests and browser tests look for.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.clv.summaries import summarize_clv_predictions, summarize_holdout_check
from analytics.common.formatting import format_month, format_period
from analytics.common.types import KpiFilters, User
from analytics.kpis import engagement as engagement_lib
from analytics.kpis import nps as nps_lib
from analytics.kpis import retention as retention_lib
from analytics.kpis import rfm as rfm_lib
from app import components, resources, state
from app.charts import kpis as charts

CLV_FIT_ROLES = frozenset({"marketing_analyst", "admin"})
TOP_CUSTOMERS = 20
MSG_NO_CLV_FIT = (
    "No predictive CLV fit is stored for this data yet. It is fitted in batch: run "
    "`python -m analytics clv` (make run does it after building the sample bank)."
)
MSG_CLV_CONSENT = (
    "A CLV prediction profiles one person: the models are fitted on, and predict for, the customers"
    " who consented to profiling only (docs/privacy.md)."
)
COHORT_METRICS = {
    "retained_share": "Customers retained",
    "revenue_retention": "Revenue retention",
    "revenue_per_member": "Revenue per member",
}
SURVIVAL_GROUPS = {
    "none": "All customers",
    "region": "Region",
    "age_band": "Age band",
    "preferred_channel": "Preferred channel",
    "product": "Product (holdings)",
}


# -- NPS --------------------------------------------------------------------------------
def nps_section(path: str, filters: KpiFilters, user: User) -> None:
    """NPS over time and by group, comparisons, and the comments behind a bar."""
    with st.spinner("Counting NPS answers…"):
        drill = resources.nps_drilldown(path, resources.filter_key(filters))
    change, current, previous = drill.change, drill.current, drill.previous
    cols = st.columns(4)
    cols[0].metric("NPS", "n/a" if current.nps is None else f"{current.nps:.1f}", border=True)
    cols[1].metric("Answers", f"{current.answers:,}", border=True)
    cols[2].metric(
        f"NPS {format_period(drill.previous_filters.start_month, drill.previous_filters.end_month)}",
        "n/a" if previous.nps is None else f"{previous.nps:.1f}",
        border=True,
    )
    verdict = (
        "n/a" if change.significant is None else ("significant" if change.significant else "within noise")
    )
    cols[3].metric("Change", "n/a" if change.difference is None else f"{change.difference:+.1f}", border=True)
    st.markdown(charts.nps_change_sentence(change, verdict))

    st.subheader("NPS by month")
    trend = drill.trend
    labels = [format_month(m) for m in trend.get_column("month").to_list()]
    st.plotly_chart(charts.nps_line(trend, labels), key="nps_trend_line")
    st.caption("Click a bar segment to read the comments behind it.")
    month_event = st.plotly_chart(
        charts.share_bars(trend, "month", labels),
        key="nps_trend_bars",
        on_select="rerun",
        selection_mode="points",
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
    group_event = None
    if table.height == 0:
        st.info("No NPS answers in any group for these filters.")
    else:
        group_labels = [charts.group_label(dimension, g) for g in table.get_column("group").to_list()]
        left, right = st.columns(2)
        left.plotly_chart(charts.nps_group_bars(table, group_labels), key="nps_group_bars")
        with right:
            group_event = st.plotly_chart(
                charts.share_bars(table, "group", group_labels),
                key=f"nps_group_shares_{dimension}",
                on_select="rerun",
                selection_mode="points",
            )
        st.dataframe(charts.nps_breakdown_view(table, dimension), hide_index=True)
        st.caption(
            "Change: against the previous period. Vs rest: this group against all other answers, "
            "p-values adjusted for the number of groups (Holm). Grey bars: fewer than "
            f"{nps_lib.MIN_GROUP_ANSWERS} answers, too few to read."
        )
        components.csv_download(table, file_name=f"tailor_nps_by_{dimension}.csv", key="nps_group_csv")
        _compare_groups(table, dimension, group_labels)

    st.subheader("Comments")
    _comments_panel(path, filters, user, drill, dimension, month_event, group_event)


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
            st.info(f"No test: {result.note or 'every answer in both groups is the same score category'}.")
            return
        st.markdown(charts.nps_comparison_sentence(result, names[a], names[b]))


def _comments_panel(path, filters, user, drill, dimension, month_event, group_event) -> None:
    clicked = charts.selected_comments(month_event, group_event)
    if clicked is not None:
        month, group, category = clicked
    else:
        # Without a click: choose here (also the keyboard path).
        cols = st.columns(3)
        month = cols[0].selectbox(
            "Month",
            [None, *reversed(drill.trend.get_column("month").to_list())],
            format_func=lambda m: "Whole period" if m is None else format_month(m),
            key="nps_comment_month",
        )
        category = cols[1].selectbox(
            "Answers",
            [None, *nps_lib.NPS_CATEGORIES],
            format_func=lambda c: "All answers" if c is None else charts.CATEGORY_LABELS[c],
            key="nps_comment_category",
        )
        group = cols[2].selectbox(
            nps_lib.DIMENSION_LABELS[dimension],
            [None, *drill.breakdowns[dimension].get_column("group").to_list()],
            format_func=lambda g: "All" if g is None else charts.group_label(dimension, g),
            key="nps_comment_group",
        )
    period_filters = filters
    if month is not None and not (filters.start_month <= month <= filters.end_month):
        # A month of the trend outside the period: read that month on its own (same slices).
        filters = replace(filters, start_month=month, end_month=month)
    what = charts.comments_title(filters, month, category, dimension, group)
    st.markdown(f"**Comments behind: {what}**")
    frame = resources.nps_comments(
        path,
        resources.filter_key(filters),
        dimension=dimension if group is not None else None,
        group=group,
        month=month,
        category=category,
        segments_key=resources.filter_key(period_filters),
    )
    if frame.height == 0:
        st.info("No comments were left with these answers.")
        return
    total = frame.item(0, "total")
    shown = resources.redacted_comments(path, frame.drop("total"), user.role)
    if sees_raw_personal_data(user.role):
        resources.log_personal_data_view(
            path, user, target="nps_comments", details={"what": what, "rows": shown.height}
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


# -- retention ----------------------------------------------------------------------------
def retention_section(path: str, filters: KpiFilters) -> None:
    """Cohort heat maps, monthly retention and churn, Kaplan-Meier curves."""
    st.subheader("Cohorts")
    metric = st.segmented_control(
        "Show", list(COHORT_METRICS), format_func=COHORT_METRICS.get, key=state.COHORT_METRIC, required=True
    )
    metric = metric or "retained_share"
    with st.spinner("Building the cohort matrix…"):
        matrix = resources.cohort_matrix(path, filters.end_month, filters.regions, filters.age_bands)
    wide = retention_lib.cohort_heatmap(matrix, metric=metric)
    if wide.height == 0:
        st.info("No customer joined inside the history within these filters.")
    else:
        st.plotly_chart(charts.cohort_heatmap(wide, metric), key="cohort_heatmap")
        st.caption(charts.cohort_caption(matrix))
        components.csv_download(matrix.cells, file_name="tailor_cohorts.csv", key="cohort_csv")

    st.subheader("Retention and churn by month")
    series = resources.retention_series(path, resources.filter_key(filters)).series
    # Retention sits near 99% and churn near 1% a month: one axis each, or both look flat.
    for column, (rate, prefix, color, name) in zip(st.columns(2), charts.RATE_LINES, strict=True):
        column.plotly_chart(charts.rate_line(series, rate, prefix, color, name), key=f"series_{rate}")
    st.caption("Each month as a one-month period, with the executive summary's definitions (docs/kpis.md).")
    components.csv_download(series, file_name="tailor_retention_by_month.csv", key="retention_csv")

    st.subheader("Survival (Kaplan-Meier)")
    by = st.selectbox(
        "Curves by", list(SURVIVAL_GROUPS), format_func=SURVIVAL_GROUPS.get, key=state.SURVIVAL_BY
    )
    with st.spinner("Fitting survival curves…"):
        result = resources.survival(path, by or "none", filters.regions, filters.age_bands)
    st.plotly_chart(charts.survival_curves(result, by), key="survival_curves")
    if result.log_rank is not None:
        st.markdown(charts.log_rank_sentence(result.log_rank))
    st.dataframe(charts.survival_landmarks_view(result), hide_index=True)
    components.csv_download(result.curves, file_name="tailor_survival_curves.csv", key="survival_csv")
    st.caption(charts.survival_caption(result))


# -- predictive CLV -----------------------------------------------------------------------
def clv_section(path: str, user: User) -> None:
    """The stored BG/NBD + Gamma-Gamma fit: parameters, holdout check, who is worth what."""
    fit = resources.stored_clv(path)
    can_fit = user.role in CLV_FIT_ROLES
    if fit is None:
        st.info(MSG_NO_CLV_FIT)
        if can_fit and st.button("Fit the models now", key="clv_fit", type="primary"):
            _refit(path, user)
        return
    st.caption(charts.clv_fit_caption(fit))
    st.caption(MSG_CLV_CONSENT)
    predictions, summary = resources.clv_predictions(path, fit.fit_id)
    overview = summarize_clv_predictions(predictions)
    cols = st.columns(4)
    cols[0].metric("Customers", f"{fit.customers:,}", border=True)
    cols[1].metric("Mean P(alive)", f"{overview.mean_probability_alive:.1%}", border=True)
    cols[2].metric("Mean CLV", f"EUR {overview.mean_clv:,.0f}", border=True)
    cols[3].metric("Expected transactions", f"{overview.expected_transactions:,.0f}", border=True)
    for warning in fit.warnings:
        st.caption(f"Note: {warning}")

    left, right = st.columns(2)
    with left:
        st.subheader("Does the model predict? Holdout check")
        st.plotly_chart(
            charts.clv_holdout_bars(fit.calibration, fit.check_calibration_end), key="clv_calibration"
        )

        check = summarize_holdout_check(fit.calibration)
        st.caption(charts.holdout_caption(fit, check))
        components.csv_download(
            fit.calibration, file_name="tailor_clv_holdout_check.csv", key="clv_check_csv"
        )
    with right:
        st.subheader("Fitted parameters")
        st.dataframe(
            charts.clv_parameters_view(fit.parameters, fit.check_parameters),
            hide_index=True,
            column_config=charts.CLV_PARAMETER_COLUMNS,
        )
        st.caption(charts.CLV_MODELS_CAPTION)

    left, right = st.columns(2)
    left.subheader("Probability alive")
    left.plotly_chart(
        charts.histogram(summary["probability_alive"], "P(alive)", percent=True), key="clv_alive"
    )
    right.subheader("CLV")
    right.plotly_chart(charts.histogram(summary["clv"], "CLV (EUR, top 1% in the last bar)"), key="clv_hist")
    st.subheader("Value deciles")
    st.dataframe(charts.clv_deciles_view(summary["deciles"]), hide_index=True)
    st.subheader("Most valuable customers")
    top = predictions.sort("clv", descending=True).head(TOP_CUSTOMERS).drop("fit_id")
    shown = resources.masked_customers(path, top, user.role)
    raw = sees_raw_personal_data(user.role)
    if raw:  # audited before it is drawn: a view that fails halfway was still sent in part
        resources.log_personal_data_view(
            path, user, target="clv_top_customers", details={"fit_id": fit.fit_id, "rows": shown.height}
        )
    st.dataframe(
        shown,
        hide_index=True,
        column_config=charts.clv_top_customers_columns(fit.period),
    )
    if raw:
        st.caption("Customer numbers are shown unmasked to your role; this view is logged.")
    # A download of customer rows (masked or not) is an export: each one is audited.
    components.csv_download(
        shown,
        file_name="tailor_clv_top_customers.csv",
        key="clv_top_csv",
        on_download=lambda: resources.log_export(
            path, user, target="clv_top_customers", details={"fit_id": fit.fit_id, "rows": shown.height}
        ),
    )
    if can_fit:
        with st.expander("Fit again"):
            st.write(
                "Refits both models on the current data (a minute or less at 200,000 customers) and replaces "
                "the stored predictions. The batch job `python -m analytics clv` does the same."
            )
            if st.button("Fit again now", key="clv_refit"):
                _refit(path, user)


def _refit(path: str, user: User) -> None:
    with st.status("Fitting BG/NBD and Gamma-Gamma on the bank's transactions…", expanded=True) as status:
        try:
            resources.refit_clv(path, user, progress=status.write)
        except ValueError as exc:  # ClvFitError included: the message says what failed and what to try
            status.update(label="The fit failed", state="error")
            st.error(str(exc))
            return
        status.update(label="Fitted and stored", state="complete")
    st.rerun()


# -- engagement and RFM -------------------------------------------------------------------
def engagement_section(path: str, filters: KpiFilters) -> None:
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
    sentence = charts.engagement_change_sentence(drivers)
    if sentence is not None:
        st.markdown(sentence)
    elif analysis.note:
        st.caption(analysis.note)

    left, right = st.columns(2)
    with left:
        st.subheader("Distribution")
        st.plotly_chart(charts.engagement_histogram(distribution.histogram), key="engagement_histogram")
        st.caption(
            f"Quartiles {distribution.q1:.1f} / {distribution.median:.1f} / {distribution.q3:.1f}; "
            f"mean {distribution.mean:.1f}."
        )
    with right:
        st.subheader("Drivers")
        st.plotly_chart(charts.engagement_drivers(drivers), key="engagement_drivers")
        st.caption("The score is the sum of its four capped, weighted components: the bars add up to it.")
    st.dataframe(charts.drivers_view(drivers.components), hide_index=True)

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
    st.dataframe(charts.movement_view(movement), hide_index=True)
    components.csv_download(movement, file_name="tailor_engagement_movement.csv", key="engagement_csv")

    st.subheader("RFM groups")
    summary = rfm_lib.summarize_rfm_groups(rfm)
    left, right = st.columns([1, 1.3])
    left.plotly_chart(charts.rfm_group_bars(summary), key="rfm_groups_chart")
    right.dataframe(charts.rfm_groups_view(summary), hide_index=True, height=36 * (summary.height + 1) + 3)
    st.caption(charts.RFM_CAPTION)
    components.csv_download(summary, file_name="tailor_rfm_groups.csv", key="rfm_csv")
