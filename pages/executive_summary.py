"""Executive summary: how are the bank's customer KPIs doing, and what moved?

Calls ``analytics.kpis.summary.compute_executive_summary`` (through the cached
``app.resources.executive_summary``) for the shared sidebar filters, and draws
the KPI tiles with their change against the previous period, monthly trends, a
breakdown by region, age band and product, and the biggest movers. Every chart
has the CSV of the table behind it; Plotly's camera icon saves a PNG.
"""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.common.formatting import format_change, format_interval, format_period, format_value
from analytics.kpis.definitions import HIGHER_IS_BETTER, KPI_LABELS, KPI_UNITS
from app import components, resources, state, tables
from app.tables import DIMENSION_LABELS

CHART_COLOR = "#0F4C81"
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


def _axis_values(series: pl.Series, unit: str) -> list:
    # Shares are stored as fractions; charts show percent.
    return [None if v is None else (v * 100 if unit == "pct" else v) for v in series.to_list()]


def _axis_title(name: str) -> str:
    unit = KPI_UNITS[name]
    suffix = {"pct": " (%)", "eur": " (EUR)"}.get(unit, "")
    return KPI_LABELS[name] + suffix


# -- trend ------------------------------------------------------------------------------
st.subheader("Monthly trend")
trend_kpi = st.selectbox(
    "KPI", kpi_names, format_func=lambda k: KPI_LABELS[k], key=state.TREND_KPI, label_visibility="collapsed"
)
trend = summary.trend
figure = go.Figure(
    go.Scatter(
        x=trend.get_column("month").to_list(),
        y=_axis_values(trend.get_column(trend_kpi), KPI_UNITS[trend_kpi]),
        mode="lines+markers",
        line={"color": CHART_COLOR, "width": 2},
        name=KPI_LABELS[trend_kpi],
    )
)
figure.add_vrect(
    x0=filters.start_month,
    x1=filters.end_month,
    fillcolor=CHART_COLOR,
    opacity=0.08,
    line_width=0,
    annotation_text="selected period",
    annotation_position="top left",
)
figure.update_layout(
    height=320,
    margin={"l": 10, "r": 10, "t": 30, "b": 10},
    yaxis_title=_axis_title(trend_kpi),
    xaxis_title=None,
)
st.plotly_chart(figure, key="trend_chart")
components.csv_download(trend, file_name="tailor_kpi_trend.csv", key="trend_csv")

# -- breakdown --------------------------------------------------------------------------
st.subheader("Breakdown")
left, right = st.columns(2)
with left:
    dimension = st.segmented_control(
        "By",
        list(DIMENSION_LABELS),
        format_func=DIMENSION_LABELS.get,
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
    labels = table.get_column(dimension).to_list()
    if dimension == "product":
        labels = [components.PRODUCT_LABELS.get(p, p) for p in labels]
    values = _axis_values(table.get_column(breakdown_kpi), KPI_UNITS[breakdown_kpi])
    bars = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=CHART_COLOR,
            text=[
                format_value(v, KPI_UNITS[breakdown_kpi]) for v in table.get_column(breakdown_kpi).to_list()
            ],
            textposition="auto",
            customdata=table.get_column("customers").to_list(),
            hovertemplate="%{y}: %{text}<br>%{customdata:,} customers<extra></extra>",
        )
    )
    bars.update_layout(
        height=60 + 32 * len(labels),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=_axis_title(breakdown_kpi),
        yaxis={"autorange": "reversed"},
    )
    st.plotly_chart(bars, key="breakdown_chart")
    components.csv_download(table, file_name=f"tailor_kpis_by_{dimension}.csv", key="breakdown_csv")

# -- movers -----------------------------------------------------------------------------
st.subheader("Biggest movers")
st.caption(
    f"Groups whose KPI changed most from {previous} to {period}; significance at 5% where a test exists."
)
movers = summary.movers
if movers.height == 0:
    st.info(
        "Nothing to compare: the data does not cover the whole previous period."
        if not summary.previous_complete
        else "No group changed enough to list for these filters."
    )
else:
    shown = tables.movers_table(movers)
    st.dataframe(shown, hide_index=True)
    components.csv_download(movers, file_name="tailor_kpi_movers.csv", key="movers_csv")

st.subheader("All KPIs")
overview = pl.DataFrame(
    {
        "kpi": [k.name for k in tiles],
        "label": [k.label for k in tiles],
        "unit": [k.unit for k in tiles],
        "value": [k.value for k in tiles],
        "ci_low": [k.ci_low for k in tiles],
        "ci_high": [k.ci_high for k in tiles],
        "previous": [k.previous for k in tiles],
        "change": [k.change for k in tiles],
        "change_significant": [k.change_significant for k in tiles],
        "base_n": [k.n for k in tiles],
        "note": [k.note for k in tiles],
    },
    schema_overrides={c: pl.Float64 for c in ("value", "ci_low", "ci_high", "previous", "change")}
    | {"change_significant": pl.Boolean, "note": pl.String},
)
st.dataframe(
    pl.DataFrame(
        {
            "KPI": [k.label for k in tiles],
            period: [format_value(k.value, k.unit) for k in tiles],
            "95% interval": [format_interval(k.ci_low, k.ci_high, k.unit) or "" for k in tiles],
            previous: [format_value(k.previous, k.unit) for k in tiles],
            "Change": [format_change(k.change, k.unit) or "" for k in tiles],
            "Base": [f"{k.n:,}" for k in tiles],
            "Note": [k.note or "" for k in tiles],
        }
    ),
    hide_index=True,
)
components.csv_download(overview, file_name="tailor_kpis.csv", key="kpis_csv")
