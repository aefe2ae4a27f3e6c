"""The 2-D customer map of the Segments page: PCA as the instant preview, UMAP fitted in batch.

A map places every customer at a point ``(x, y)`` so that customers with similar
features lie close together. Two methods:

* :func:`pca_map`, the first two principal components: linear, computed in well
  under a second even at a million customers, so the page can draw it at once;
* :func:`fit_umap_map`, UMAP (McInnes, Healy & Melville 2018, umap-learn): keeps
  local neighbourhoods, so groups of similar customers show as islands; it costs
  tens of seconds to minutes and is therefore fitted in batch and stored.
  Above ``sample_size`` customers it is fitted on a seeded uniform sample and
  the other customers are placed with ``UMAP.transform`` in chunks.

A map is fitted once per method, feature columns and parameters and stored
(:func:`store_map` in ``segment_maps`` / ``segment_map_points``); the page reads it
back with :func:`load_map` and :func:`load_map_points`. :func:`map_figure` builds
the Plotly WebGL scatter; :func:`customers_in_lasso` turns a lasso drawn on it
into customer ids. See docs/segment_map.md.

``umap`` is imported inside :func:`fit_umap_map` only: importing it costs 2-13 s
and its first fit in a process pays about 30 s of numba compilation
(shared/MEASURED.md), which no page load should pay.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import ibis
import numpy as np
import plotly.graph_objects as go
import polars as pl
from ibis.common.exceptions import TableNotFound
from sklearn.decomposition import PCA

from analytics.store.contracts import SEGMENT_MAP_POINTS, SEGMENT_MAPS
from analytics.store.database import Database

MapMethod = Literal["umap", "pca"]
UmapMetric = Literal["euclidean", "manhattan", "cosine", "correlation", "chebyshev"]
MAP_METHODS: tuple[str, ...] = get_args(MapMethod)
UMAP_METRICS: tuple[str, ...] = get_args(UmapMetric)

DEFAULT_SAMPLE_SIZE = 50_000
"""Above this many customers UMAP is fitted on a sample and the rest are transformed."""
TRANSFORM_CHUNK = 20_000
"""Rows per ``UMAP.transform`` call: bounds memory and gives the progress bar its steps."""

Progress = Callable[[float, str], None]

MSG_NOT_MATRIX = "The feature matrix must be 2-D (customers x features), got {ndim} dimension(s)."
MSG_TOO_FEW_FEATURES = "A 2-D map needs at least 2 feature columns, got {columns}."
MSG_TOO_FEW_ROWS = "{method} needs at least {minimum} customers, got {rows}."
MSG_NOT_FINITE = "The feature matrix has a missing or infinite value in row {row}, column {column}."
MSG_BAD_NEIGHBORS = "n_neighbors must be between 2 and 200, got {value}."
MSG_BAD_MIN_DIST = "min_dist must be between 0 and 1, got {value}."
MSG_BAD_METRIC = "metric must be one of {choices}, got {value!r}."
MSG_BAD_SAMPLE = "sample_size must be at least {minimum} (n_neighbors + 1), got {value}."
MSG_BAD_METHOD = "method must be one of {choices}, got {value!r}."
MSG_IDS_MISMATCH = "There are {ids} customer ids but {rows} rows of coordinates."
MSG_BAD_COORDS = "Coordinates must be an (n, 2) array of finite numbers; row {row} is not."
MSG_DUPLICATE_ID = "Customer id {value} appears more than once (rows {first} and {second})."
MSG_COLUMNS_MISMATCH = "There are {names} feature column names but the matrix has {columns} columns."
MSG_NO_COLUMN = "The map's points have no column {column!r}."
MSG_LASSO = "A lasso needs at least 3 corners with as many x as y values, got {nx} x and {ny} y."


@dataclass(frozen=True)
class StoredMap:
    """One stored customer map, without its points (see :func:`load_map_points`).

    Parameters
    ----------
    map_id : str
        Identifier (``segment_map_points.map_id``).
    method : {"umap", "pca"}
        How the coordinates were computed.
    feature_columns : tuple of str
        The features, in the order of the matrix's columns.
    params : dict
        The parameters it was fitted with (part of what identifies it).
    fitted_at : datetime.datetime
        When it was stored (UTC).
    fitted_by : str
        Who or what fitted it.
    data_as_of : datetime.date or None
        Snapshot date of the data it was fitted on.
    customers : int
        Customers on the map.
    sample_size : int
        Customers it was fitted on (the rest were transformed onto it).
    seconds : float
        Wall time of the fit and transform.
    """

    map_id: str
    method: MapMethod
    feature_columns: tuple[str, ...]
    params: dict
    fitted_at: datetime
    fitted_by: str
    data_as_of: date | None
    customers: int
    sample_size: int
    seconds: float


def _check_matrix(X: np.ndarray, *, method: str, minimum: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(MSG_NOT_MATRIX.format(ndim=X.ndim))
    if X.shape[1] < 2:
        raise ValueError(MSG_TOO_FEW_FEATURES.format(columns=X.shape[1]))
    if X.shape[0] < minimum:
        raise ValueError(MSG_TOO_FEW_ROWS.format(method=method, minimum=minimum, rows=X.shape[0]))
    X = X.astype(np.float64 if method == "PCA" else np.float32, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(MSG_NOT_FINITE.format(row=int(row) + 1, column=int(column) + 1))
    return X


def pca_map(X: np.ndarray, *, random_state: int | None = 0) -> np.ndarray:
    """Project customers on their first two principal components (the instant preview).

    Parameters
    ----------
    X : numpy.ndarray
        Scaled features, one row per customer (at least 2 rows and 2 columns, all finite).
    random_state : int or None
        Seed of the randomized SVD solver, which scikit-learn uses only for large
        matrices with many columns.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 coordinates: the scores on components 1 and 2 (signs as
        scikit-learn's ``svd_flip`` fixes them).

    Raises
    ------
    ValueError
        For a matrix that is not 2-D, has fewer than 2 columns or rows, or a non-finite value.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.1]])
    >>> coords = pca_map(X)
    >>> coords.shape, bool(abs(coords[:, 1]).max() < 0.1)
    ((4, 2), True)
    """
    X = _check_matrix(X, method="PCA", minimum=2)
    return PCA(n_components=2, random_state=random_state).fit_transform(X)


class _EpochSink:
    """File-like target for umap's tqdm bar: turns "n/total" epochs into progress fractions."""

    _pattern = re.compile(r"(\d+)/(\d+)")

    def __init__(self, report: Callable[[float, str], None]) -> None:
        self._report = report
        self.start, self.stop, self.label = 0.0, 1.0, ""

    def span(self, start: float, stop: float, label: str) -> None:
        self.start, self.stop, self.label = start, stop, label

    def write(self, text: str) -> int:
        found = self._pattern.findall(text)
        if found:
            done, total = (int(v) for v in found[-1])
            if total:
                # Stop short of the span's end, which belongs to the next step's message.
                share = 0.98 * done / total
                self._report(self.start + (self.stop - self.start) * share, self.label)
        return len(text)

    def flush(self) -> None:
        return None


class _Monotone:
    """Forward progress only when it moves forward, so a bar never jumps back."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._last = -1.0

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self._progress is not None and fraction > self._last:
            self._last = fraction
            self._progress(fraction, message)


# Share of a fit's time spent before the optimisation epochs (nearest-neighbour descent,
# fuzzy graph, spectral initialisation), and one transformed row's cost against one fitted
# row's (150,000 transformed in 22 s against 50,000 fitted in 45 s on 20 features,
# docs/segment_map.md); they only pace the bar.
_FIT_SHARE_BEFORE_EPOCHS = 0.45
_TRANSFORM_COST_PER_ROW = 0.17


def fit_umap_map(
    X: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: UmapMetric = "euclidean",
    random_state: int | None = 42,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    progress: Progress | None = None,
) -> np.ndarray:
    """Fit a 2-D UMAP map; above ``sample_size`` rows fit on a sample and transform the rest.

    Parameters
    ----------
    X : numpy.ndarray
        Scaled features, one row per customer (all finite; at least ``n_neighbors + 1`` rows).
    n_neighbors : int
        Size of the neighbourhood UMAP keeps (2-200): small values stress local detail,
        large ones the overall layout.
    min_dist : float
        How tightly points may pack (0-1).
    metric : {"euclidean", "manhattan", "cosine", "correlation", "chebyshev"}
        Distance between customers in feature space.
    random_state : int or None
        Seed of the sample and of UMAP. A seed makes the map reproducible and runs UMAP
        on one thread (umap-learn's rule); None lets it use every numba thread.
    sample_size : int
        Most rows UMAP is fitted on; the other rows are placed with ``UMAP.transform``
        in chunks of ``TRANSFORM_CHUNK``.
    progress : callable, optional
        Called as ``progress(fraction, message)`` with fractions that only increase,
        from 0.0 to a last call at 1.0 (a progress bar or a CLI line).

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 coordinates in the rows' order.

    Raises
    ------
    ValueError
        For a bad matrix or a parameter out of range (the message names it).
    """
    if not 2 <= n_neighbors <= 200:
        raise ValueError(MSG_BAD_NEIGHBORS.format(value=n_neighbors))
    if not 0.0 <= min_dist <= 1.0:
        raise ValueError(MSG_BAD_MIN_DIST.format(value=min_dist))
    if metric not in UMAP_METRICS:
        raise ValueError(MSG_BAD_METRIC.format(choices=", ".join(UMAP_METRICS), value=metric))
    if sample_size < n_neighbors + 1:
        raise ValueError(MSG_BAD_SAMPLE.format(minimum=n_neighbors + 1, value=sample_size))
    X = _check_matrix(X, method="UMAP", minimum=n_neighbors + 1)
    report = _Monotone(progress)
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if n > sample_size:
        # A uniform sample keeps every group in proportion; the rest land where their
        # neighbours in the sample are (UMAP.transform).
        fit_rows = np.sort(rng.choice(n, size=sample_size, replace=False))
        rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    else:
        fit_rows, rest = np.arange(n), np.arange(0)
    fit_cost = fit_rows.size
    total_cost = fit_cost + _TRANSFORM_COST_PER_ROW * rest.size
    fit_stop = fit_cost / total_cost
    report(0.0, "Loading UMAP (the first fit in a process compiles for about 30 s)")

    import umap  # 2-13 s to import: kept out of every page load

    sink = _EpochSink(report)
    model = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=random_state,
        n_jobs=1 if random_state is not None else -1,
        # umap draws its optimisation epochs through tqdm; a bar that writes "n/total"
        # into the sink is the only hook into the fit's progress.
        tqdm_kwds={"disable": False, "file": sink, "bar_format": "{n}/{total}", "mininterval": 0.25},
    )
    fitted_share = fit_stop * _FIT_SHARE_BEFORE_EPOCHS
    report(0.01 * fit_stop, f"Finding each customer's neighbours among {fit_rows.size:,}")
    sink.span(fitted_share, fit_stop, f"Laying out {fit_rows.size:,} customers")
    embedding = model.fit_transform(X[fit_rows])
    coords = np.empty((n, 2), dtype=np.float64)
    coords[fit_rows] = embedding
    placed = fit_rows.size
    for start in range(0, rest.size, TRANSFORM_CHUNK):
        chunk = rest[start : start + TRANSFORM_CHUNK]
        begin = (fit_cost + _TRANSFORM_COST_PER_ROW * start) / total_cost
        end = (fit_cost + _TRANSFORM_COST_PER_ROW * (start + chunk.size)) / total_cost
        label = f"Placing customers {placed + 1:,}-{placed + chunk.size:,} of {n:,} on the map"
        report(begin, label)
        sink.span(begin + 0.5 * (end - begin), end, label)
        coords[chunk] = model.transform(X[chunk])
        placed += chunk.size
    report(1.0, f"Map of {n:,} customers ready")
    return coords


def map_key(method: str, feature_columns: Sequence[str], params: Mapping[str, Any]) -> str:
    """Identity of a map: method, feature columns (as a set) and parameters, hashed.

    Parameters
    ----------
    method : str
        "umap" or "pca".
    feature_columns : sequence of str
        The features; their order does not change the key.
    params : mapping
        JSON-serialisable parameters.

    Returns
    -------
    str
        24 hex digits of a SHA-256.

    Examples
    --------
    >>> map_key("umap", ["b", "a"], {"n_neighbors": 15}) == map_key("umap", ["a", "b"], {"n_neighbors": 15})
    True
    """
    canonical = json.dumps(
        {"method": method, "features": sorted(feature_columns), "params": dict(params)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def store_map(
    db: Database,
    *,
    customer_ids: Sequence[int] | np.ndarray | pl.Series,
    coords: np.ndarray,
    method: MapMethod,
    feature_columns: Sequence[str],
    params: Mapping[str, Any],
    fitted_by: str = "batch",
    seconds: float = 0.0,
    sample_size: int | None = None,
) -> str:
    """Store a map, replacing the stored map of the same method, features and parameters.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    customer_ids : sequence of int
        One id per row of ``coords``, each once.
    coords : numpy.ndarray
        ``(n, 2)`` finite coordinates.
    method : {"umap", "pca"}
        How they were computed.
    feature_columns : sequence of str
        The features, in the order of the matrix's columns.
    params : mapping
        JSON-serialisable parameters (for UMAP: n_neighbors, min_dist, metric,
        random_state, sample_size); part of the map's identity.
    fitted_by : str
        User name, or "batch".
    seconds : float
        Wall time of the fit.
    sample_size : int, optional
        Customers the map was fitted on; default ``min(n, params["sample_size"])``, else n.

    Returns
    -------
    str
        The new map's id.

    Raises
    ------
    ValueError
        For ids and coordinates that disagree, a duplicate id, a bad row, or an unknown method.
    """
    if method not in MAP_METHODS:
        raise ValueError(MSG_BAD_METHOD.format(choices=", ".join(MAP_METHODS), value=method))
    ids = np.asarray(customer_ids, dtype=np.int64)
    coords = np.asarray(coords, dtype=np.float64)
    if ids.ndim != 1 or coords.ndim != 2 or coords.shape[0] != ids.size:
        raise ValueError(MSG_IDS_MISMATCH.format(ids=ids.size, rows=coords.shape[0] if coords.ndim else 0))
    bad = (coords.shape[1] != 2) | ~np.isfinite(coords).all(axis=1) if coords.size else np.zeros(0, bool)
    if np.any(bad):
        raise ValueError(MSG_BAD_COORDS.format(row=int(np.argmax(bad)) + 1))
    order = np.argsort(ids, kind="stable")
    dup = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if dup.size:
        first, second = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise ValueError(MSG_DUPLICATE_ID.format(value=int(ids[first]), first=first + 1, second=second + 1))
    n = int(ids.size)
    fitted_on = sample_size if sample_size is not None else min(n, int(params.get("sample_size", n)))
    key = map_key(method, feature_columns, params)
    map_id = uuid.uuid4().hex[:12]
    record = pl.DataFrame(
        {
            "map_id": [map_id],
            "map_key": [key],
            "method": [method],
            "feature_columns": [json.dumps(list(feature_columns))],
            "params": [json.dumps(dict(params), sort_keys=True, default=str)],
            "fitted_at": [datetime.now(UTC).replace(tzinfo=None)],
            "fitted_by": [fitted_by],
            "data_as_of": [db.snapshot_date()],
            "customers": [n],
            "sample_size": [fitted_on],
            "seconds": [float(seconds)],
        },
        schema=SEGMENT_MAPS.schema,
    )
    points = pl.DataFrame(
        {"map_id": [map_id] * n, "customer_id": ids, "x": coords[:, 0], "y": coords[:, 1]},
        schema=SEGMENT_MAP_POINTS.schema,
    )
    previous = _map_ids_for_key(db.backend(), key)
    # The new map is written first and the old one deleted after: a failure in between
    # leaves two maps under one key, and load_map reads the newer.
    db.store_model_output(append={SEGMENT_MAPS.name: record, SEGMENT_MAP_POINTS.name: points}, replace={})
    db.delete_model_rows(SEGMENT_MAP_POINTS.name, "map_id", previous)
    db.delete_model_rows(SEGMENT_MAPS.name, "map_id", previous)
    return map_id


def map_params(
    method: MapMethod,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: UmapMetric = "euclidean",
    random_state: int | None = 42,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> dict[str, Any]:
    """The parameters that identify a map, as stored: the page and the CLI build them alike.

    Parameters
    ----------
    method : {"umap", "pca"}
        The method; PCA keeps only ``random_state``.
    n_neighbors, min_dist, metric, random_state, sample_size
        As :func:`fit_umap_map`.

    Returns
    -------
    dict
        For UMAP ``n_neighbors, min_dist, metric, random_state, sample_size``; for PCA
        ``random_state``.

    Examples
    --------
    >>> map_params("pca", random_state=0)
    {'random_state': 0}
    """
    if method == "pca":
        return {"random_state": random_state}
    return {
        "n_neighbors": int(n_neighbors),
        "min_dist": float(min_dist),
        "metric": metric,
        "random_state": random_state,
        "sample_size": int(sample_size),
    }


def fit_and_store_map(
    db: Database,
    customer_ids: Sequence[int] | np.ndarray | pl.Series,
    X: np.ndarray,
    *,
    method: MapMethod,
    feature_columns: Sequence[str],
    fitted_by: str = "batch",
    extra_params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> StoredMap:
    """Fit a map (:func:`pca_map` or :func:`fit_umap_map`), time it and store it (:func:`store_map`).

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    customer_ids : sequence of int
        One id per row of ``X``.
    X : numpy.ndarray
        Scaled features, one row per customer.
    method : {"umap", "pca"}
        The method.
    feature_columns : sequence of str
        Names of ``X``'s columns, in order.
    fitted_by : str
        User name, or "batch".
    extra_params : mapping, optional
        Further facts that make two maps different (e.g. the scaler), stored with the parameters.
    progress : callable, optional
        As :func:`fit_umap_map` (PCA reports 0.0 and 1.0 only).
    **params
        ``n_neighbors, min_dist, metric, random_state, sample_size`` (see :func:`map_params`).

    Returns
    -------
    StoredMap
        The stored map, as :func:`load_map` reads it back.

    Raises
    ------
    ValueError
        For a bad matrix, parameter, or ids that do not match its rows.
    """
    if method not in MAP_METHODS:
        raise ValueError(MSG_BAD_METHOD.format(choices=", ".join(MAP_METHODS), value=method))
    names = list(feature_columns)
    if np.ndim(X) == 2 and np.shape(X)[1] != len(names):
        raise ValueError(MSG_COLUMNS_MISMATCH.format(names=len(names), columns=np.shape(X)[1]))
    if len(customer_ids) != len(X):
        raise ValueError(MSG_IDS_MISMATCH.format(ids=len(customer_ids), rows=len(X)))
    key_params = map_params(method, **params)
    started = time.perf_counter()
    if method == "pca":
        report = _Monotone(progress)
        report(0.0, "Projecting on the first two principal components")
        coords = pca_map(X, random_state=key_params["random_state"])
        report(1.0, f"Map of {len(X):,} customers ready")
        fitted_on = len(X)
    else:
        coords = fit_umap_map(X, **key_params, progress=progress)
        fitted_on = min(len(X), key_params["sample_size"])
    stored_params = key_params | dict(extra_params or {})
    store_map(
        db,
        customer_ids=customer_ids,
        coords=coords,
        method=method,
        feature_columns=names,
        params=stored_params,
        fitted_by=fitted_by,
        seconds=time.perf_counter() - started,
        sample_size=fitted_on,
    )
    stored = load_map(db.backend(), method=method, feature_columns=names, params=stored_params)
    assert stored is not None  # just written
    return stored


def _maps_table(backend: ibis.BaseBackend) -> ibis.Table | None:
    try:
        return backend.table(SEGMENT_MAPS.name)
    except TableNotFound:
        # A database from before this table existed, opened read-only: nothing stored yet.
        return None


def _map_ids_for_key(backend: ibis.BaseBackend, key: str) -> list[str]:
    maps = _maps_table(backend)
    if maps is None:
        return []
    return maps.filter(maps.map_key == key).select("map_id").to_polars().get_column("map_id").to_list()


def _stored(row: Mapping[str, Any]) -> StoredMap:
    return StoredMap(
        map_id=row["map_id"],
        method=row["method"],
        feature_columns=tuple(json.loads(row["feature_columns"])),
        params=json.loads(row["params"]),
        fitted_at=row["fitted_at"],
        fitted_by=row["fitted_by"],
        data_as_of=row["data_as_of"],
        customers=row["customers"],
        sample_size=row["sample_size"],
        seconds=row["seconds"],
    )


def load_map(
    backend: ibis.BaseBackend,
    *,
    method: MapMethod,
    feature_columns: Sequence[str],
    params: Mapping[str, Any],
) -> StoredMap | None:
    """The stored map for these method, features and parameters, or None if not fitted yet.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    method : {"umap", "pca"}
        As stored.
    feature_columns : sequence of str
        As stored (any order).
    params : mapping
        As stored.

    Returns
    -------
    StoredMap or None
        The newest map with that identity.
    """
    maps = _maps_table(backend)
    if maps is None:
        return None
    key = map_key(method, feature_columns, params)
    rows = maps.filter(maps.map_key == key).order_by(ibis.desc("fitted_at")).limit(1).to_polars()
    return _stored(rows.row(0, named=True)) if rows.height else None


def list_maps(backend: ibis.BaseBackend) -> list[StoredMap]:
    """Every stored map, newest first.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.

    Returns
    -------
    list of StoredMap
        Empty when nothing was stored.
    """
    maps = _maps_table(backend)
    if maps is None:
        return []
    rows = maps.order_by(ibis.desc("fitted_at")).to_polars()
    return [_stored(row) for row in rows.iter_rows(named=True)]


def load_map_points(backend: ibis.BaseBackend, map_id: str) -> pl.DataFrame:
    """The customers' coordinates on a stored map.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    map_id : str
        From :class:`StoredMap`.

    Returns
    -------
    polars.DataFrame
        ``customer_id`` (Int64), ``x``, ``y`` (Float64), by customer id.
    """
    points = backend.table(SEGMENT_MAP_POINTS.name)
    return (
        points.filter(points.map_id == map_id)
        .select("customer_id", "x", "y")
        .order_by("customer_id")
        .to_polars()
    )


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
        which :func:`rows_from_selection` maps back; the numeric hover columns follow.

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


def rows_from_selection(selected: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Row numbers of ``points`` picked by a lasso or box on :func:`map_figure`.

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
        ``customer_id``, ``x``, ``y`` (from :func:`load_map_points`).
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
        ``customer_id``, ``x``, ``y``, in the row order of the figure (:func:`map_figure`).
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
