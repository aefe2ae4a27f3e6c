"""Executive summary: how are the bank's customer KPIs doing, and what moved?

Calls ``analytics.kpis.summary.compute_executive_summary`` (through the cached
``app.resources.executive_summary``) for the shared sidebar filters, and draws
the KPI tiles with their change against the previous period, monthly trends, a
breakdown by region, age band and product, and the biggest movers (figures from
``app.charts.executive_summary``). Every chart has the CSV of the table behind it;
Plotly's camera icon saves a PNG.
"""

import streamlit as st

from analytics.common.formatting import format_period
from analytics.kpis.definitions import HIGHER_IS_BETTER, KPI_LABELS, SIGNIFICANCE_LEVEL
from app import components, resources, state
from app.charts import executive_summary as charts

MSG_NO_DATA = "The database holds no monthly data yet. Load data, then reload this page."
MSG_NOBODY = "No customers match these filters ({what}, {period}). Widen the filters in the sidebar."

user = components.require_access("executive_summary")
path = resources.database_path()
months = resources.available_months(path)

st.title("Executive summary")
if not months:
    st.info(MSG_NO_DATA)
    st.stop()

filters = components.current_filters(months)
with st.spinner("Computing KPIs…"):
    summary = resources.executive_summary(path, resources.filter_key(filters))
period = format_period(filters.start_month, filters.end_month)
previous = format_period(summary.previous_filters.start_month, summary.previous_filters.end_month)
what = components.describe_filters(filters, resources.saved_segments(path))

if summary.customers_matched == 0:
    st.info(MSG_NOBODY.format(what=what, period=period))
    st.stop()

comparison = (
    f"compared with {previous}"
    if summary.previous_complete
    else f"no comparison: the data does not cover all of {previous}"
)
st.caption(
    f"{period} {comparison} · {what} · {summary.customers_matched:,} customers · "
    f"CLV over {summary.clv_horizon_years} years at a {summary.clv_discount_rate:.0%} discount rate"
)

# -- tiles ------------------------------------------------------------------------------
tiles = list(summary.tiles)
for row_start in range(0, len(tiles), 5):
    columns = st.columns(5)
    for column, kpi in zip(columns, tiles[row_start : row_start + 5], strict=False):
        with column:
            components.kpi_tile(kpi, higher_is_better=HIGHER_IS_BETTER.get(kpi.name, True))

kpi_names = [kpi.name for kpi in tiles]

# -- trend ------------------------------------------------------------------------------
st.subheader("Monthly trend")
trend_kpi = st.selectbox(
    "KPI", kpi_names, format_func=lambda k: KPI_LABELS[k], key=state.TREND_KPI, label_visibility="collapsed"
)
trend = summary.trend
st.plotly_chart(
    charts.trend_line(trend, trend_kpi, start_month=filters.start_month, end_month=filters.end_month),
    key="trend_chart",
)
components.csv_download(trend, file_name="tailor_kpi_trend.csv", key="trend_csv")

# -- breakdown --------------------------------------------------------------------------
st.subheader("Breakdown")
left, right = st.columns(2)
with left:
    dimension = st.segmented_control(
        "By",
        list(charts.DIMENSION_LABELS),
        format_func=charts.DIMENSION_LABELS.get,
        key=state.BREAKDOWN_DIMENSION,
        required=True,
    )
with right:
    breakdown_kpi = st.selectbox(
        "KPI", kpi_names, format_func=lambda k: KPI_LABELS[k], key=state.BREAKDOWN_KPI
    )
dimension = dimension or "region"
table = summary.breakdown[dimension]
if table.height == 0:
    st.info("No customers in any group for these filters.")
else:
    st.plotly_chart(charts.breakdown_bars(table, dimension, breakdown_kpi), key="breakdown_chart")
    components.csv_download(table, file_name=f"tailor_kpis_by_{dimension}.csv", key="breakdown_csv")

# -- movers -----------------------------------------------------------------------------
st.subheader("Biggest movers")
st.caption(
    f"Groups whose KPI changed most from {previous} to {period}; significance at "
    f"{SIGNIFICANCE_LEVEL:.0%} where a test exists."
)
movers = summary.movers
if movers.height == 0:
    st.info(
        "Nothing to compare: the data does not cover the whole previous period."
        if not summary.previous_complete
        else "No group changed enough to list for these filters."
    )
else:
    shown = charts.movers_table(movers)
    st.dataframe(shown, hide_index=True)
    components.csv_download(movers, file_name="tailor_kpi_movers.csv", key="movers_csv")

st.subheader("All KPIs")
overview = charts.tiles_frame(tiles)
st.dataframe(charts.tiles_view(tiles, period=period, previous=previous), hide_index=True)
components.csv_download(overview, file_name="tailor_kpis.csv", key="kpis_csv")
