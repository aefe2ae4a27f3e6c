"""Customers picked on the customer map: inside the last lasso drawn, else the points of a box.

The map's figure (``app.charts.segments.map_figure``) gives each point its row number in
``customdata[0]``: :func:`rows_from_selection` maps the points Plotly reports back to rows,
:func:`customers_in_lasso` takes every stored point inside a lasso's polygon (drawn or not), and
:func:`selected_customers` picks between the two as the Segments page does. See docs/segment_map.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

MSG_LASSO = "A lasso needs at least 3 corners with as many x as y values, got {nx} x and {ny} y."


def rows_from_selection(selected: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Row numbers of ``points`` picked by a lasso or box on the map's figure.

    Parameters
    ----------
    selected : sequence of mapping
        The selected points as Plotly reports them (each with ``customdata``, whose
        first value is the row number).

    Returns
    -------
    numpy.ndarray
        Sorted unique row numbers (int64).

    Examples
    --------
    >>> rows_from_selection([{"customdata": [4, "C-1"]}, {"customdata": [1, "C-2"]}]).tolist()
    [1, 4]
    """
    rows = [int(point["customdata"][0]) for point in selected if point.get("customdata") is not None]
    return np.unique(np.asarray(rows, dtype=np.int64))


def customers_in_lasso(points: pl.DataFrame, xs: Sequence[float], ys: Sequence[float]) -> pl.Series:
    """Customers whose point lies inside a lasso polygon (all of them, drawn or not).

    A figure may show a sample of a large map; the lasso's corners select among every
    stored point, so a segment made from it is not limited to what was drawn.

    Parameters
    ----------
    points : polars.DataFrame
        ``customer_id``, ``x``, ``y`` (from :func:`analytics.segments.maps.load_map_points`).
    xs, ys : sequence of float
        The lasso's corners in order (the polygon is closed automatically).

    Returns
    -------
    polars.Series
        ``customer_id`` of the points inside, in the frame's order.

    Raises
    ------
    ValueError
        For fewer than 3 corners or unequal x and y lists.

    Examples
    --------
    >>> pts = pl.DataFrame({"customer_id": [1, 2], "x": [0.5, 2.0], "y": [0.5, 0.5]})
    >>> customers_in_lasso(pts, [0, 1, 1, 0], [0, 0, 1, 1]).to_list()
    [1]
    """
    px = np.asarray(xs, dtype=np.float64)
    py = np.asarray(ys, dtype=np.float64)
    if px.size != py.size or px.size < 3:
        raise ValueError(MSG_LASSO.format(nx=px.size, ny=py.size))
    inside = _points_in_polygon(points.get_column("x").to_numpy(), points.get_column("y").to_numpy(), px, py)
    return points.get_column("customer_id").filter(pl.Series(inside))


def selected_customers(points: pl.DataFrame, selection: Mapping[str, Any]) -> pl.Series:
    """Customers picked on the map: inside the last lasso, else the points of a box.

    Parameters
    ----------
    points : polars.DataFrame
        ``customer_id``, ``x``, ``y``, in the row order of the map's figure.
    selection : mapping
        The chart's selection as Streamlit reports it (``lasso``: the drawn polygons,
        ``points``: the selected points).

    Returns
    -------
    polars.Series
        ``customer_id`` of the customers picked (empty when nothing is selected).

    Examples
    --------
    >>> pts = pl.DataFrame({"customer_id": [1, 2], "x": [0.5, 2.0], "y": [0.5, 0.5]})
    >>> selected_customers(pts, {"lasso": [{"x": [0, 1, 1, 0], "y": [0, 0, 1, 1]}]}).to_list()
    [1]
    >>> selected_customers(pts, {"points": [{"customdata": [1]}]}).to_list()
    [2]
    """
    lassos = selection.get("lasso") or []
    if lassos:
        shape = lassos[-1]
        return customers_in_lasso(points.select("customer_id", "x", "y"), shape["x"], shape["y"])
    if selection.get("points"):
        return points.get_column("customer_id").gather(rows_from_selection(selection["points"]))
    return pl.Series("customer_id", [], dtype=pl.Int64)


def _points_in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    # Even-odd ray casting (W. R. Franklin's PNPOLY), vectorised over points and looped over
    # edges; written here because no pinned library has it (matplotlib.path is not installed)
    # and a lasso has at most a few hundred corners.
    inside = np.zeros(x.shape, dtype=bool)
    qx, qy = np.roll(px, 1), np.roll(py, 1)
    for ax, ay, bx, by in zip(px, py, qx, qy, strict=True):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (bx - ax) * (y - ay) / (by - ay) + ax
        inside ^= crosses & (x < at)
    return inside
