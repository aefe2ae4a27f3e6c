"""The executive summary page's figures and tables: the monthly trend, the breakdown, movers, all KPIs.

Each function takes parts of an :class:`analytics.kpis.summary.ExecutiveSummary` and returns a
Plotly figure or a table; nothing here computes a KPI or reads data. Display strings are built on
plain Python lists after a frame is built, never as a Python callback inside a polars expression:
such a callback and another session's ``st.dataframe`` (``to_pandas``) froze the whole server
(issue 12; ``tools/polars_callbacks.py``).
"""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl

from analytics.common.formatting import format_change, format_interval, format_value
from analytics.kpis.definitions import KPI_LABELS, KPI_UNITS, KpiValue
from app import components

CHART_COLOR = "#0F4C81"
DIMENSION_LABELS = {"region": "Region", "age_band": "Age band", "product": "Product held"}
SIGNIFICANT_WORDS = {True: "yes", False: "no"}


def movers_table(movers: pl.DataFrame) -> pl.DataFrame:
    """The executive summary's "Biggest movers" as shown: labels and values in each KPI's unit."""
    kpis = movers.get_column("kpi").to_list()
    units = [KPI_UNITS[k] for k in kpis]

    def formatted(column: str, formatter) -> list[str | None]:
        return [formatter(v, u) for v, u in zip(movers.get_column(column).to_list(), units, strict=True)]

    values = movers.get_column("value").to_list()
    return pl.DataFrame(
        {
            "KPI": [KPI_LABELS.get(k, k) for k in kpis],
            "By": [DIMENSION_LABELS.get(d, d) for d in movers.get_column("dimension").to_list()],
            "Group": [components.PRODUCT_LABELS.get(v, v) for v in values],
            "Previous": formatted("previous", format_value),
            "Current": formatted("current", format_value),
            "Change": formatted("change", format_change),
            "Significant": [
                SIGNIFICANT_WORDS.get(s, "n/a") for s in movers.get_column("significant").to_list()
            ],
        },
        schema={c: pl.String for c in ("KPI", "By", "Group", "Previous", "Current", "Change", "Significant")},
    )


def _axis_values(series: pl.Series, unit: str) -> list:
    # Shares are stored as fractions; charts show percent.
    return [None if v is None else (v * 100 if unit == "pct" else v) for v in series.to_list()]


def _axis_title(name: str) -> str:
    unit = KPI_UNITS[name]
    suffix = {"pct": " (%)", "eur": " (EUR)"}.get(unit, "")
    return KPI_LABELS[name] + suffix


def trend_line(trend: pl.DataFrame, kpi: str, *, start_month: date, end_month: date) -> go.Figure:
    """One KPI by month, with the selected period shaded."""
    figure = go.Figure(
        go.Scatter(
            x=trend.get_column("month").to_list(),
            y=_axis_values(trend.get_column(kpi), KPI_UNITS[kpi]),
            mode="lines+markers",
            line={"color": CHART_COLOR, "width": 2},
            name=KPI_LABELS[kpi],
        )
    )
    figure.add_vrect(
        x0=start_month,
        x1=end_month,
        fillcolor=CHART_COLOR,
        opacity=0.08,
        line_width=0,
        annotation_text="selected period",
        annotation_position="top left",
    )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis_title=_axis_title(kpi),
        xaxis_title=None,
    )
    return figure


def breakdown_bars(table: pl.DataFrame, dimension: str, kpi: str) -> go.Figure:
    """One KPI per group of a breakdown, labelled in its unit, with the group's customers on hover."""
    labels = table.get_column(dimension).to_list()
    if dimension == "product":
        labels = [components.PRODUCT_LABELS.get(p, p) for p in labels]
    bars = go.Figure(
        go.Bar(
            x=_axis_values(table.get_column(kpi), KPI_UNITS[kpi]),
            y=labels,
            orientation="h",
            marker_color=CHART_COLOR,
            text=[format_value(v, KPI_UNITS[kpi]) for v in table.get_column(kpi).to_list()],
            textposition="auto",
            customdata=table.get_column("customers").to_list(),
            hovertemplate="%{y}: %{text}<br>%{customdata:,} customers<extra></extra>",
        )
    )
    bars.update_layout(
        height=60 + 32 * len(labels),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title=_axis_title(kpi),
        yaxis={"autorange": "reversed"},
    )
    return bars


def tiles_frame(tiles: list[KpiValue]) -> pl.DataFrame:
    """Every tile as one typed row (the CSV behind the table of all KPIs)."""
    return pl.DataFrame(
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


def tiles_view(tiles: list[KpiValue], *, period: str, previous: str) -> pl.DataFrame:
    """Every tile formatted in its unit, with the two periods as column names."""
    return pl.DataFrame(
        {
            "KPI": [k.label for k in tiles],
            period: [format_value(k.value, k.unit) for k in tiles],
            "95% interval": [format_interval(k.ci_low, k.ci_high, k.unit) or "" for k in tiles],
            previous: [format_value(k.previous, k.unit) for k in tiles],
            "Change": [format_change(k.change, k.unit) or "" for k in tiles],
            "Base": [f"{k.n:,}" for k in tiles],
            "Note": [k.note or "" for k in tiles],
        }
    )
