"""Widgets both flows of the Segments page share: the method pickers, the quality metrics, the evidence for k.

Widgets only: the numbers come from ``analytics.segments.clustering`` (a ``SegmentationResult``),
the figures from ``app.charts.segments``.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.segments import clustering as seg
from app.charts import segments as charts

ALGORITHMS = charts.ALGORITHM_LABELS
"""The clustering methods, as the pickers name them."""


def evidence_charts(evidence: pl.DataFrame, chosen: int) -> None:
    """The evidence for k side by side, the chosen k marked."""
    figures = charts.evidence_figures(evidence, chosen)
    for column, (name, figure) in zip(st.columns(len(figures)), figures.items(), strict=True):
        with column:
            st.plotly_chart(figure, key=f"evidence_{name}")


def metrics(result: seg.SegmentationResult, *, bic: bool) -> None:
    """The number of segments and the fit's quality (BIC for the bank's customers only)."""
    cols = st.columns(4 if bic else 3)
    cols[0].metric("Segments", result.k, border=True)
    cols[1].metric(
        "Silhouette", "n/a" if result.silhouette is None else f"{result.silhouette:.3f}", border=True
    )
    cols[2].metric(
        "Davies-Bouldin",
        "n/a" if result.davies_bouldin is None else f"{result.davies_bouldin:.2f}",
        border=True,
    )
    if bic:
        cols[3].metric("BIC", "n/a" if result.bic is None else f"{result.bic:,.0f}", border=True)


def method_inputs(left, right, *, keys: tuple[str, str]) -> tuple[str, int | None]:
    """The algorithm and k pickers; k is None for "from the evidence" and for HDBSCAN."""
    algorithm = left.selectbox("Algorithm", list(ALGORITHMS), format_func=ALGORITHMS.get, key=keys[0])
    k_value = right.number_input(
        "Number of segments (0 = from the evidence)", min_value=0, max_value=30, step=1, key=keys[1]
    )
    # HDBSCAN finds its own number of clusters: k changes neither its result nor its cache entry.
    return algorithm, None if algorithm == "hdbscan" else (int(k_value) or None)
