"""Projections of the customers onto a 2-D map: PCA as the instant preview, UMAP fitted in batch.

A map places every customer at a point ``(x, y)`` so that customers with similar
features lie close together. Two methods:

* :func:`pca_map`, the first two principal components: linear, computed in well
  under a second even at a million customers, so the page can draw it at once;
* :func:`fit_umap_map`, UMAP (McInnes, Healy & Melville 2018, umap-learn): keeps
  local neighbourhoods, so groups of similar customers show as islands; it costs
  tens of seconds to minutes and is therefore fitted in batch and stored
  (:mod:`analytics.segments.maps`).
  Above ``sample_size`` customers it is fitted on a seeded uniform sample and
  the other customers are placed with ``UMAP.transform`` in chunks.

``umap`` is imported inside :func:`fit_umap_map` only: importing it costs 2-13 s
and its first fit in a process pays about 30 s of numba compilation
(shared/MEASURED.md), which no page load should pay. See docs/segment_map.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, get_args

import numpy as np
from sklearn.decomposition import PCA

UmapMetric = Literal["euclidean", "manhattan", "cosine", "correlation", "chebyshev"]
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


class MonotoneProgress:
    """Forward progress only when it moves forward, so a bar never jumps back."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._last = -1.0

    def __call__(self, fraction: float, message: str) -> None:
        """Report ``fraction`` (clipped to 0-1) and ``message`` if it is ahead of the last report."""
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
    report = MonotoneProgress(progress)
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
