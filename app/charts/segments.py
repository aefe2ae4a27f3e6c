"""The segments page's figures and display tables: evidence for k, profiles, segment contrasts, the map.

Each function takes a result of :mod:`analytics.segments` and returns a Plotly figure or a display
table (values as the page shows them); nothing here computes a statistic or reads data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

CHART_COLOR = "#0F4C81"
MSG_NO_COLUMN = "The map's points have no column {column!r}."
ALGORITHM_LABELS = {
    "kmeans": "k-means",
    "gmm": "Gaussian mixture",
    "hdbscan": "HDBSCAN (finds k itself)",
    "agglomerative": "Agglomerative (Ward, on a sample)",
}
EVIDENCE = {
    "silhouette": ("Silhouette (higher is better)", True),
    "davies_bouldin": ("Davies-Bouldin (lower is better)", False),
    "stability": ("Stability: ARI of bootstrap refits", True),
    "bic": ("BIC of the mixture (lower is better)", False),
}
KPI_COLUMNS = {
    "nps": "NPS",
    "engagement": "Engagement",
    "clv": "CLV (historical) EUR",
    "probability_alive": "P(alive)",
    "predicted_clv": "Predictive CLV EUR",
}
MAP_COLORS = {"probability_alive": "P(alive)", "predicted_clv": "Predictive CLV EUR"}
"""Per-customer values the map can be coloured by, besides the segment and the features."""


def feature_label(column: str) -> str:
    """A feature column as a reader sees it: ``age_band`` -> ``Age band``."""
    return column.replace("_", " ").capitalize()


def layout(figure: go.Figure, *, height: int = 260, **extra) -> go.Figure:
    """The page's figure size and margins."""
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, **extra)
    return figure


def evidence_figures(evidence: pl.DataFrame, chosen: int) -> dict[str, go.Figure]:
    """One line chart per measure of the evidence for k (those with values), the chosen k dotted."""
    figures = {}
    for name, (title, _) in EVIDENCE.items():
        if name not in evidence.columns or not evidence[name].drop_nulls().len():
            continue
        figure = go.Figure(
            go.Scatter(
                x=evidence.get_column("k").to_list(),
                y=evidence.get_column(name).to_list(),
                mode="lines+markers",
                line={"color": CHART_COLOR},
            )
        )
        figure.add_vline(x=chosen, line_dash="dot", line_color="#C62828")
        figures[name] = layout(figure, title=title, xaxis_title="k")
    return figures


def profiles_view(profiles: pl.DataFrame, names: dict[int, str]) -> pl.DataFrame:
    """The profiles table as shown: names, size, share and KPIs rounded, what sets each apart."""
    columns = [
        pl.col("segment").alias("Segment"),
        pl.col("segment").replace_strict(names, default="").alias("Name"),
        pl.col("customers").alias("Customers"),
        (pl.col("share") * 100).round(1).alias("Share %"),
    ]
    for key, label in KPI_COLUMNS.items():
        if key in profiles.columns:
            scale = 100 if key == "probability_alive" else 1
            columns.append((pl.col(key) * scale).round(1).alias(label + (" %" if scale == 100 else "")))
    readable = (
        pl.col("top_features").cast(pl.List(pl.String)).list.eval(pl.element().str.replace_all("_", " "))
    )
    columns.append(readable.list.join(", ").alias("Sets it apart"))
    return profiles.select(columns)


def profiles_csv(profiles: pl.DataFrame) -> pl.DataFrame:
    """The profiles with list columns joined by commas, for the CSV download."""
    return profiles.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(", ")
        for c, t in profiles.schema.items()
        if isinstance(t, pl.List)
    )


def smd_chart(profiles: pl.DataFrame, segment: int, features: tuple[str, ...]) -> go.Figure:
    """The twelve features that set a segment apart most, as standardized mean differences."""
    row = profiles.filter(pl.col("segment") == segment).row(0, named=True)
    pairs = [(feature_label(f), row.get(f"smd_{f}")) for f in features]
    pairs = sorted((p for p in pairs if p[1] is not None), key=lambda p: abs(p[1]), reverse=True)[:12]
    figure = go.Figure(
        go.Bar(
            x=[v for _, v in pairs],
            y=[name for name, _ in pairs],
            orientation="h",
            marker_color=["#2E7D32" if v > 0 else "#C62828" for _, v in pairs],
            hovertemplate="%{y}: %{x:+.2f} SD<extra></extra>",
        )
    )
    return layout(
        figure,
        height=60 + 26 * len(pairs),
        xaxis_title="Standardized mean difference against the other customers (SD)",
        yaxis={"autorange": "reversed"},
    )


def scaling_view(scaling: pl.DataFrame) -> pl.DataFrame:
    """Each uploaded column's scaling and why, as shown."""
    return scaling.select(
        pl.col("column").alias("Column"),
        pl.col("scaling").alias("Scaling"),
        pl.col("reason").alias("Why"),
        pl.col("chosen_by").alias("Chosen by"),
    )


def saved_view(saved: pl.DataFrame) -> pl.DataFrame:
    """The saved segments table as shown."""
    return saved.select(
        "name", "version", "customers", "source", "created_by", "created_at", "data_as_of", "latest"
    )


def color_label(column: str) -> str:
    """What the map's colour choice reads as."""
    return "Segment" if column == "segment" else MAP_COLORS.get(column, feature_label(column))


def map_figure(
    points: pl.DataFrame,
    *,
    color: str | None = None,
    label: str = "customer",
    hover: Sequence[str] = (),
    title: str | None = None,
    marker_size: float = 3.0,
) -> go.Figure:
    """Plotly WebGL scatter of a map, coloured by a segment, KPI or feature, with lasso selection.

    Parameters
    ----------
    points : polars.DataFrame
        ``x``, ``y``, the ``label`` column (what hover names a customer by: pass the
        masked id or pseudonym for roles that must not see customer numbers) and any
        ``color`` / ``hover`` columns.
    color : str, optional
        Column to colour by: text or boolean columns give one trace per value (a
        legend entry each; nulls are "(none)"), numeric columns a continuous colour scale.
    label : str
        Column shown first in the hover box.
    hover : sequence of str
        Further columns shown on hover (key figures); numbers are shown with 2 decimals.
    title : str, optional
        Figure title.
    marker_size : float
        Point diameter in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        ``go.Scattergl`` traces, lasso as the default drag mode. Each point's
        ``customdata[0]`` is its row number in ``points`` (never the customer number),
        which :func:`analytics.segments.map_selection.rows_from_selection` maps back; the numeric
        hover columns follow.

    Raises
    ------
    ValueError
        When a named column is not in ``points``.
    """
    for column in ("x", "y", label, *hover, *([color] if color else [])):
        if column not in points.columns:
            raise ValueError(MSG_NO_COLUMN.format(column=column))
    extra = [h for h in dict.fromkeys(hover) if h != label]
    numeric = [h for h in extra if points.schema[h].is_numeric()]
    textual = [h for h in extra if h not in numeric]
    # Numbers travel as one float array (Plotly sends it base64-encoded) and text as one
    # string per point: at 200,000 points that serialises in 0.2 s instead of 0.9 s for
    # a mixed object array.
    lines = [pl.format("<b>{}</b>", pl.col(label).cast(pl.String).fill_null(""))]
    lines += [pl.format(f"{name}: {{}}", pl.col(name).cast(pl.String).fill_null("")) for name in textual]
    frame = points.with_row_index("_row").with_columns(pl.concat_str(lines, separator="<br>").alias("_text"))
    template = "%{text}" + "".join(
        f"<br>{name}: %{{customdata[{i + 1}]:,.2f}}" for i, name in enumerate(numeric)
    )
    template += "<extra></extra>"

    def trace(part: pl.DataFrame, name: str, marker: dict[str, Any]) -> go.Scattergl:
        customdata = np.column_stack(
            [part.get_column("_row").to_numpy().astype(np.float64)]
            + [part.get_column(h).cast(pl.Float64).fill_null(np.nan).to_numpy() for h in numeric]
        )
        return go.Scattergl(
            x=part.get_column("x").to_numpy().astype(np.float32),
            y=part.get_column("y").to_numpy().astype(np.float32),
            customdata=customdata,
            # An object array skips Plotly's per-element validation of a list (0.2 s at 200,000).
            text=part.get_column("_text").to_numpy().astype(object, copy=False),
            hovertemplate=template,
            mode="markers",
            marker={"size": marker_size, "opacity": 0.7, **marker},
            name=name,
        )

    fig = go.Figure()
    dtype = points.schema[color] if color else None
    if dtype is None or (dtype.is_numeric() and dtype != pl.Boolean):
        marker: dict[str, Any] = {}
        if color is not None:
            marker = {
                "color": frame.get_column(color).cast(pl.Float64).to_numpy(),
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": color}},
            }
        fig.add_trace(trace(frame, color or "customers", marker))
    else:
        frame = frame.with_columns(pl.col(color).cast(pl.String).fill_null("(none)").alias("_group"))
        for group, part in sorted(frame.partition_by("_group", as_dict=True).items()):
            fig.add_trace(trace(part, str(group[0]), {}))
    fig.update_layout(
        title=title,
        dragmode="lasso",
        xaxis={"showticklabels": False, "title": None, "zeroline": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False},
        legend={"title": {"text": color}, "itemsizing": "constant"},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
    )
    return fig


def map_chart(
    points: pl.DataFrame, names: dict[int, str], *, color: str, features: tuple[str, ...]
) -> tuple[go.Figure, pl.DataFrame]:
    """The customer map coloured by segment name, a value or a feature, with lasso selection.

    Returns the figure and the points it draws (with a ``name`` column), whose row numbers the
    selection refers to.
    """
    points = points.with_columns(
        pl.col("segment").replace_strict(names, default="", return_dtype=pl.String).alias("name")
    )
    hover = [c for c in ("name", "predicted_clv", "probability_alive", *features[:3]) if c in points.columns]
    figure = map_figure(points, color="name" if color == "segment" else color, label="customer", hover=hover)
    return layout(figure, height=560, dragmode="lasso"), points
