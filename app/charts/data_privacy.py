"""The Data & privacy page's figures and display tables.

Each function takes a result of ``analytics.privacy`` / ``analytics.quality`` and returns a
Plotly figure or a table as shown; nothing here counts, reads data or draws on the page.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from analytics.privacy.coverage import PURPOSE_LABELS

PURPOSE_COLORS = {"marketing": "#0F4C81", "profiling": "#5E8C31"}
GROUP_LABELS = {"region": "Region", "age_band": "Age band", "preferred_channel": "Preferred channel"}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def coverage_table(overall: pl.DataFrame) -> pl.DataFrame:
    """Overall coverage as shown: purpose in words, counts, share in percent."""
    return overall.select(
        pl.col("purpose").replace_strict(PURPOSE_LABELS, return_dtype=pl.String).alias("Purpose"),
        pl.col("customers").alias("Current customers"),
        pl.col("consenting").alias("Consenting"),
        (pl.col("share") * 100).round(1).alias("Share (%)"),
    )


def coverage_by_group(frame: pl.DataFrame, by: str) -> go.Figure:
    """Grouped bars: the share consenting to each purpose in each group."""
    fig = go.Figure()
    for purpose, color in PURPOSE_COLORS.items():
        rows = frame.filter(pl.col("purpose") == purpose)
        fig.add_bar(
            x=rows.get_column(by).to_list(),
            y=(rows.get_column("share") * 100).to_list(),
            name=purpose.capitalize(),
            marker_color=color,
            customdata=rows.select("consenting", "customers").rows(),
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]:,} of %{customdata[1]:,})<extra>"
            + purpose
            + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        title=f"Share consenting by {GROUP_LABELS.get(by, by).lower()}",
        yaxis={"title": "% of current customers", "range": [0, 100]},
        margin=_MARGIN,
        height=360,
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def consent_changes(frame: pl.DataFrame) -> go.Figure:
    """Monthly bars: current customers whose last consent change fell in each month, by choice now."""
    profiling = frame.filter(pl.col("purpose") == "profiling").sort("month")
    months = profiling.get_column("month").to_list()
    fig = go.Figure()
    fig.add_bar(
        x=months, y=profiling.get_column("consenting").to_list(), name="Agree now", marker_color="#5E8C31"
    )
    fig.add_bar(
        x=months,
        y=(profiling.get_column("customers") - profiling.get_column("consenting")).to_list(),
        name="Refuse now",
        marker_color="#C62828",
    )
    fig.update_layout(
        barmode="stack",
        title="Month of each current customer's last consent change (profiling)",
        yaxis={"title": "customers"},
        margin=_MARGIN,
        height=320,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
