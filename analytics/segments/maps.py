"""Stored customer maps: each fitted once per method, feature columns and parameters.

:func:`fit_and_store_map` fits a map (:mod:`analytics.segments.projections`), times it and
stores it (:func:`store_map` in ``segment_maps`` / ``segment_map_points``), replacing the map of
the same identity (:func:`map_key` of the method, the features and :func:`map_params`); the page
reads it back with :func:`load_map` and :func:`load_map_points`. See docs/segment_map.md.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import ibis
import numpy as np
import polars as pl

from analytics.common.docs import shared_docs
from analytics.segments.projections import (
    DEFAULT_SAMPLE_SIZE,
    MonotoneProgress,
    Progress,
    UmapMetric,
    fit_umap_map,
    pca_map,
)
from analytics.store.contracts import SEGMENT_MAP_POINTS, SEGMENT_MAPS
from analytics.store.database import Database
from analytics.store.tables import optional_table

MapMethod = Literal["umap", "pca"]
MAP_METHODS: tuple[str, ...] = get_args(MapMethod)

MSG_NOT_READ_BACK = "The {method} map just stored could not be read back from the database."
MSG_BAD_METHOD = "method must be one of {choices}, got {value!r}."
MSG_IDS_MISMATCH = "There are {ids} customer ids but {rows} rows of coordinates."
MSG_BAD_COORDS = "Coordinates must be an (n, 2) array of finite numbers; row {row} is not."
MSG_DUPLICATE_ID = "Customer id {value} appears more than once (rows {first} and {second})."
MSG_COLUMNS_MISMATCH = "There are {names} feature column names but the matrix has {columns} columns."


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
        report = MonotoneProgress(progress)
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
    if stored is None:  # just written in this transaction: reading it back cannot miss
        raise RuntimeError(MSG_NOT_READ_BACK.format(method=method))
    return stored


def _maps_table(backend: ibis.BaseBackend) -> ibis.Table | None:
    # A database from before this table existed, opened read-only: nothing stored yet.
    return optional_table(backend, SEGMENT_MAPS.name)


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


@shared_docs
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
    {backend}
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


@shared_docs
def list_maps(backend: ibis.BaseBackend) -> list[StoredMap]:
    """Every stored map, newest first.

    Parameters
    ----------
    {backend}

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


@shared_docs
def load_map_points(backend: ibis.BaseBackend, map_id: str) -> pl.DataFrame:
    """The customers' coordinates on a stored map.

    Parameters
    ----------
    {backend}
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
