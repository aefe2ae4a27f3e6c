"""Customer segmentation: clustering, evidence for k, segment profiles and KPIs per segment.

Data in, data out: a :class:`analytics.segments.features.FeatureFrame` goes in, a
:class:`SegmentationResult` comes out (the page draws it, the CLI prints it). The
clustering is scikit-learn's: k-means (MiniBatchKMeans above
:data:`MINIBATCH_THRESHOLD` customers), Gaussian mixture, HDBSCAN and Ward
agglomerative clustering; the last two are fitted on a sample and every other customer
is assigned to the nearest cluster centroid. See docs/segments.md for the rules
(evidence for k, the standardized mean difference, names, KPIs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import ibis
import numpy as np
import polars as pl
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    pairwise_distances_argmin,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture

from analytics.common.docs import shared_docs
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.cubes import customer_month_rows
from analytics.kpis.formulas import bucket_sums, kpis_from_sums
from analytics.kpis.rollups import CUBE_KEYS, build_kpi_cube_rows, with_joined_bucket
from analytics.segments.features import FeatureFrame, feature_phrase

Algorithm = Literal["kmeans", "gmm", "hdbscan", "agglomerative"]
ALGORITHMS: tuple[str, ...] = ("kmeans", "gmm", "hdbscan", "agglomerative")

MINIBATCH_THRESHOLD = 100_000
"""Above this many customers k-means is MiniBatchKMeans (batch 8192, shared/MEASURED.md)."""
MINIBATCH_BATCH_SIZE = 8192
SAMPLE_SIZE = 10_000
"""Customers HDBSCAN and agglomerative clustering are fitted on (the rest are assigned)."""
SILHOUETTE_SAMPLE = 3_000
"""Silhouette is quadratic in the customers: computed on a sample of this size."""
MIN_SEGMENT_SIZE = 50
"""Segments smaller than this get a warning (too small to act on or to read profiles from)."""
STABILITY_THRESHOLD = 0.9
"""k values whose bootstrap stability (mean ARI between refits) is below this are not suggested."""
DEFAULT_KS: tuple[int, ...] = tuple(range(2, 11))
NOISE = -1
"""Label of HDBSCAN's noise points."""

MSG_UNKNOWN_ALGORITHM = "Unknown algorithm {algorithm!r}: choose one of {choices}."
MSG_K_TOO_SMALL = "The number of segments k must be at least 2, got {k}."
MSG_K_TOO_LARGE = "The number of segments k = {k} is larger than the {n} customers to segment."
MSG_TOO_FEW = "At least 3 customers are needed to segment, got {n}."
MSG_SMALL_SEGMENT = (
    "Segment {segment} has only {size} customers (fewer than {minimum}): read its profile with care."
)
MSG_NOISE = "{count} customers ({share:.1%}) fit no cluster (HDBSCAN noise, segment -1)."
MSG_LABELS_LENGTH = "The labels ({labels}) and the feature rows ({rows}) differ in number."
MSG_NO_KS = "No k to evaluate: every k in {ks} is below 2 or above the {n} customers."

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SegmentationResult:
    """A segmentation and the evidence that goes with it.

    Parameters
    ----------
    algorithm : str
        One of :data:`ALGORITHMS`.
    k : int
        Segments asked for (HDBSCAN: clusters found).
    params : dict
        Parameters that remake it (random_state, sample sizes, feature columns).
    assignment : polars.DataFrame
        ``customer_id`` (the frame's id column, renamed) and ``segment`` (Int64; -1 noise).
    sizes : polars.DataFrame
        ``segment``, ``customers``, ``share`` ordered by segment.
    silhouette : float or None
        Mean silhouette on a sample of at most :data:`SILHOUETTE_SAMPLE` (noise left out).
    davies_bouldin : float or None
        Davies-Bouldin index on every customer (noise left out); lower is better.
    bic : float or None
        Bayesian information criterion of the Gaussian mixture (gmm only).
    noise : int
        Customers HDBSCAN left as noise.
    warnings : tuple of str
        Small segments, noise.
    excluded_no_consent : int
        Customers left out for lack of profiling consent.
    evidence : polars.DataFrame or None
        :func:`evaluate_k`'s table when k was suggested, else None.
    features : tuple of str
        Feature columns used.
    """

    algorithm: str
    k: int
    params: dict
    assignment: pl.DataFrame
    sizes: pl.DataFrame
    silhouette: float | None
    davies_bouldin: float | None
    bic: float | None
    noise: int
    warnings: tuple[str, ...]
    excluded_no_consent: int
    evidence: pl.DataFrame | None = None
    features: tuple[str, ...] = field(default_factory=tuple)


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(MSG_UNKNOWN_ALGORITHM.format(algorithm=algorithm, choices=", ".join(ALGORITHMS)))


def _check_k(k: int, n: int) -> None:
    if k < 2:
        raise ValueError(MSG_K_TOO_SMALL.format(k=k))
    if k > n:
        raise ValueError(MSG_K_TOO_LARGE.format(k=k, n=n))


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def _nearest_centroid(X: np.ndarray, labels: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Labels for every row of X: the nearest centroid of the clusters found on the fitted rows."""
    clusters = np.unique(labels[labels != NOISE])
    if clusters.size == 0:
        return np.full(X.shape[0], NOISE)
    centroids = np.vstack([X[fitted][labels == c].mean(axis=0) for c in clusters])
    # Chunked by scikit-learn: an n x k x d array would take gigabytes at bank scale.
    return clusters[pairwise_distances_argmin(X, centroids)]


def _fit(
    X: np.ndarray, *, algorithm: str, k: int | None, random_state: int, sample_size: int
) -> tuple[np.ndarray, object]:
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if algorithm == "kmeans":
        if n > MINIBATCH_THRESHOLD:
            model = MiniBatchKMeans(
                n_clusters=k, batch_size=MINIBATCH_BATCH_SIZE, n_init=3, random_state=random_state
            )
        else:
            model = KMeans(n_clusters=k, n_init=10, random_state=random_state)
        return model.fit_predict(X), model
    if algorithm == "gmm":
        model = GaussianMixture(n_components=k, covariance_type="full", random_state=random_state)
        fitted = _sample(n, max(sample_size, 50_000), rng)
        model.fit(X[fitted])
        return model.predict(X), model
    fitted = _sample(n, sample_size, rng)
    if algorithm == "agglomerative":
        model = AgglomerativeClustering(n_clusters=k, linkage="ward")
    else:
        model = HDBSCAN(min_cluster_size=max(MIN_SEGMENT_SIZE, len(fitted) // 100), copy=True)
    labels = model.fit_predict(X[fitted])
    if len(fitted) == n:
        return labels, model
    out = _nearest_centroid(X, labels, fitted)
    # Rows of the sample keep their own label (HDBSCAN's noise stays noise).
    out[fitted] = labels
    return out, model


def fit_segments(
    X: np.ndarray,
    *,
    algorithm: Algorithm,
    k: int | None = None,
    random_state: int = 0,
    sample_size: int = SAMPLE_SIZE,
) -> np.ndarray:
    """Cluster the rows of a scaled feature matrix.

    - ``kmeans``: KMeans (10 starts); MiniBatchKMeans (batch 8192) above
      :data:`MINIBATCH_THRESHOLD` rows;
    - ``gmm``: full-covariance Gaussian mixture, fitted on at most 50,000 rows, every row
      labelled by its most probable component;
    - ``agglomerative``: Ward linkage on ``sample_size`` rows, the rest assigned to the
      nearest cluster centroid;
    - ``hdbscan``: HDBSCAN (minimum cluster size max(50, 1% of the sample)) on the
      sample, the rest assigned to the nearest centroid; noise is labelled -1; ``k`` is
      ignored (HDBSCAN finds its number of clusters).

    Parameters
    ----------
    X : numpy.ndarray
        Rows = customers, already imputed and scaled (:func:`analytics.segments.features.make_preprocessor`).
    algorithm : {"kmeans", "gmm", "hdbscan", "agglomerative"}
        The method.
    k : int, optional
        Number of segments (required except for hdbscan).
    random_state : int
        Seed of the starts and the samples.
    sample_size : int
        Rows fitted by hdbscan and agglomerative.

    Returns
    -------
    numpy.ndarray
        One integer label per row (0..k-1; -1 for noise).

    Raises
    ------
    ValueError
        Unknown algorithm, k below 2 or above the number of rows.
    """
    _check_algorithm(algorithm)
    if algorithm != "hdbscan":
        _check_k(k if k is not None else 0, X.shape[0])
    return _fit(X, algorithm=algorithm, k=k, random_state=random_state, sample_size=sample_size)[0]


def evaluate_k(
    X: np.ndarray,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    algorithm: Literal["kmeans", "gmm"] = "kmeans",
    sample_size: int = SAMPLE_SIZE,
    n_bootstrap: int = 5,
    random_state: int = 0,
) -> pl.DataFrame:
    """Evidence for the number of segments, on a sample.

    For each k, on a sample of at most ``sample_size`` rows: the fit's silhouette (on at
    most :data:`SILHOUETTE_SAMPLE` of them), Davies-Bouldin index, BIC (gmm only), and the
    stability: the mean adjusted Rand index between every pair of ``n_bootstrap`` refits on
    bootstrap resamples of the sample, each refit labelling the same sample (Hennig's
    bootstrap stability, compared on a common set of points).

    Parameters
    ----------
    X : numpy.ndarray
        Scaled feature matrix.
    ks : sequence of int
        Candidate numbers of segments (those below 2 or above the rows are skipped).
    algorithm : {"kmeans", "gmm"}
        Method whose k is chosen.
    sample_size : int
        Rows used.
    n_bootstrap : int
        Bootstrap refits for the stability (at least 2).
    random_state : int
        Seed.

    Returns
    -------
    polars.DataFrame
        ``k, silhouette, davies_bouldin, bic, stability`` (bic null for kmeans).
    """
    if algorithm not in ("kmeans", "gmm"):
        raise ValueError(MSG_UNKNOWN_ALGORITHM.format(algorithm=algorithm, choices="kmeans, gmm"))
    rng = np.random.default_rng(random_state)
    sample = X[_sample(X.shape[0], sample_size, rng)]
    n = sample.shape[0]
    usable = [k for k in ks if 2 <= k < n]
    if not usable:
        raise ValueError(MSG_NO_KS.format(ks=list(ks), n=n))
    sil_rows = _sample(n, SILHOUETTE_SAMPLE, rng)
    boots = [rng.integers(0, n, n) for _ in range(max(n_bootstrap, 2))]
    rows = []
    for k in usable:
        if algorithm == "kmeans":
            model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(sample)
            labels, bic = model.labels_, None
        else:
            model = GaussianMixture(n_components=k, random_state=random_state).fit(sample)
            labels, bic = model.predict(sample), float(model.bic(sample))
        refits = []
        for b, idx in enumerate(boots):
            if algorithm == "kmeans":
                refit = KMeans(n_clusters=k, n_init=3, random_state=random_state + b + 1).fit(sample[idx])
            else:
                refit = GaussianMixture(n_components=k, random_state=random_state + b + 1).fit(sample[idx])
            refits.append(refit.predict(sample))
        m = len(refits)
        pairs = [adjusted_rand_score(refits[i], refits[j]) for i in range(m) for j in range(i + 1, m)]
        distinct = np.unique(labels).size > 1
        rows.append(
            {
                "k": k,
                "silhouette": (
                    float(silhouette_score(sample[sil_rows], labels[sil_rows])) if distinct else None
                ),
                "davies_bouldin": float(davies_bouldin_score(sample, labels)) if distinct else None,
                "bic": bic,
                "stability": float(np.mean(pairs)),
            }
        )
    schema = {"k": pl.Int64, "silhouette": pl.Float64, "davies_bouldin": pl.Float64, "bic": pl.Float64}
    return pl.DataFrame(rows, schema={**schema, "stability": pl.Float64})


def suggest_k(evidence: pl.DataFrame) -> int:
    """The suggested number of segments from :func:`evaluate_k`'s table.

    The finest reproducible segmentation: among the ks whose bootstrap stability is at
    least :data:`STABILITY_THRESHOLD`, the lowest BIC when the table has BIC values (gmm),
    else the largest k; the most stable k when none reaches it. Silhouette and
    Davies-Bouldin are shown next to it but do not decide: on bank data they favour the
    coarsest split (e.g. salaried / retired / students), which is stable but too coarse to
    act on (docs/segments.md).

    Parameters
    ----------
    evidence : polars.DataFrame
        ``k, silhouette, davies_bouldin, bic, stability``.

    Returns
    -------
    int
        The suggested k.

    Examples
    --------
    >>> ev = pl.DataFrame({"k": [2, 3, 4], "silhouette": [0.5, 0.7, 0.8], "davies_bouldin": [1.0, 0.8, 0.7],
    ...                    "bic": [None, None, None], "stability": [0.99, 0.95, 0.6]})
    >>> suggest_k(ev)
    3
    """
    stable = evidence.filter(pl.col("stability") >= STABILITY_THRESHOLD)
    if stable.height == 0:
        return int(evidence.sort(["stability", "k"], descending=[True, False]).item(0, "k"))
    if stable.get_column("bic").null_count() < stable.height:
        return int(stable.sort(["bic", "k"], nulls_last=True).item(0, "k"))
    return int(stable.get_column("k").max())


def standardized_mean_difference(inside: np.ndarray, outside: np.ndarray) -> float | None:
    """(mean inside - mean outside) / pooled standard deviation (Cohen's d, ddof=1 in each group).

    The pooled sd is ``sqrt(((n1 - 1) s1^2 + (n0 - 1) s0^2) / (n1 + n0 - 2))``; missing
    values are left out. None when either group has fewer than 2 values or the pooled sd is 0.

    Parameters
    ----------
    inside, outside : numpy.ndarray
        Values of the segment and of the rest.

    Returns
    -------
    float or None
        The SMD.

    Examples
    --------
    >>> round(standardized_mean_difference(np.array([2.0, 4.0]), np.array([1.0, 2.0, 3.0])), 4)
    0.866
    """
    a, b = inside[~np.isnan(inside)], outside[~np.isnan(outside)]
    if a.size < 2 or b.size < 2:
        return None
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
    if pooled <= 0:
        return None
    return float((a.mean() - b.mean()) / np.sqrt(pooled))


def profile_segments(
    features_raw: pl.DataFrame,
    labels: np.ndarray | pl.Series,
    *,
    kpis: pl.DataFrame | None = None,
    top: int = 3,
) -> pl.DataFrame:
    """Size, share, mean and standardized mean difference of every feature, per segment.

    Parameters
    ----------
    features_raw : polars.DataFrame
        Unscaled numeric features, one row per customer (no id column).
    labels : numpy.ndarray or polars.Series
        Segment of each row (noise -1 is profiled as its own segment).
    kpis : polars.DataFrame, optional
        :func:`segment_kpis`'s table, joined on ``segment``.
    top : int
        Distinguishing features listed per segment.

    Returns
    -------
    polars.DataFrame
        ``segment, customers, share``, ``mean_<f>`` and ``smd_<f>`` per feature,
        ``top_features`` (list of the features with the largest absolute SMD, first the
        largest), ``suggested_name``; then the KPI columns when given.
    """
    labels = np.asarray(labels)
    if labels.shape[0] != features_raw.height:
        raise ValueError(MSG_LABELS_LENGTH.format(labels=labels.shape[0], rows=features_raw.height))
    names = features_raw.columns
    X = features_raw.select(pl.col(c).cast(pl.Float64).fill_nan(None) for c in names).to_numpy()
    X = np.asarray(X, dtype=float)
    rows = []
    for seg in np.unique(labels):
        mask = labels == seg
        row: dict = {"segment": int(seg), "customers": int(mask.sum()), "share": float(mask.mean())}
        smds = {}
        for j, name in enumerate(names):
            col = X[:, j]
            inside = col[mask]
            row[f"mean_{name}"] = float(np.nanmean(inside)) if np.isfinite(inside).any() else None
            smds[name] = standardized_mean_difference(inside, col[~mask])
            row[f"smd_{name}"] = smds[name]
        ranked = sorted((n for n in names if smds[n] is not None), key=lambda n: -abs(smds[n]))
        row["top_features"] = [str(name) for name in ranked[:top]]
        row["suggested_name"] = suggest_name(row)
        rows.append(row)
    out = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("top_features").cast(pl.List(pl.String))
    )
    if kpis is not None:
        out = out.join(kpis, on="segment", how="left")
    return out


def suggest_name(profile_row: dict) -> str:
    """A name from the two features that set the segment apart most, e.g. "High income · Older".

    Parameters
    ----------
    profile_row : dict
        A row of :func:`profile_segments` (``top_features`` and ``smd_<f>``).

    Returns
    -------
    str
        Readable phrases (:data:`analytics.segments.features.FEATURE_LABELS`) joined by " · ";
        "Segment <n>" when nothing stands out.

    Examples
    --------
    >>> suggest_name({"segment": 1, "top_features": ["annual_income", "age"],
    ...               "smd_annual_income": 1.2, "smd_age": -0.8})
    'High income · Younger'
    """
    phrases = [
        feature_phrase(name, above=profile_row[f"smd_{name}"] > 0)
        for name in list(profile_row.get("top_features") or [])[:2]
    ]
    return " · ".join(phrases) if phrases else f"Segment {profile_row.get('segment')}"


@shared_docs
def segment_kpis(backend: ibis.BaseBackend, assignment: pl.DataFrame, filters: KpiFilters) -> pl.DataFrame:
    """NPS, churn rate, CLV and engagement per segment, with the KPI page's definitions.

    The segment members' ``customer_month`` rows in the filters' period (and slices,
    :func:`analytics.kpis.cubes.customer_month_rows`) are summed per segment into the cube's
    sums (:func:`analytics.kpis.rollups.build_kpi_cube_rows`), turned into period sums the way
    the KPI page does, and into KPIs by :func:`analytics.kpis.formulas.kpis_from_sums`: the same
    formulas as the executive tiles (historical margin-based CLV). Customers absent from
    ``assignment`` are left out.

    Parameters
    ----------
    {backend}
    assignment : polars.DataFrame
        ``customer_id`` and ``segment``.
    filters : KpiFilters
        Period and slices.

    Returns
    -------
    polars.DataFrame
        ``segment, customers, nps_responses, nps, at_start, churn_rate, clv, engagement``.
    """
    filters = normalize_filters(filters)
    members = ibis.memtable(
        assignment.select(pl.col("customer_id").cast(pl.Int64), pl.col("segment").cast(pl.Int64))
    )
    rows = customer_month_rows(backend, filters, filters.start_month, filters.end_month)
    rows = rows.join(members, "customer_id")
    if "joined_bucket" not in rows.columns:
        rows = with_joined_bucket(rows, backend.table("customers"), history_start=None)
    cube = build_kpi_cube_rows(rows, ("month", "segment", *CUBE_KEYS[1:])).to_polars()
    sums = bucket_sums(cube, [(filters.start_month, filters.end_month)], ("segment",))
    out = kpis_from_sums(sums)
    return out.select(
        "segment", "customers", "nps_responses", "nps", "at_start", "churn_rate", "clv", "engagement"
    ).sort("segment")


def run_segmentation(
    features: FeatureFrame,
    *,
    algorithm: Algorithm = "kmeans",
    k: int | None = None,
    random_state: int = 0,
    ks: Sequence[int] = DEFAULT_KS,
    progress: Progress | None = None,
) -> SegmentationResult:
    """Scale, (choose k,) cluster and measure: the one call behind the page, the CLI and the tests.

    Parameters
    ----------
    features : FeatureFrame
        Customers and features (:func:`analytics.segments.features.load_features` or
        :func:`analytics.segments.features.prepare_feature_frame`).
    algorithm : {"kmeans", "gmm", "hdbscan", "agglomerative"}
        The method.
    k : int, optional
        Number of segments; None picks it with :func:`evaluate_k` and :func:`suggest_k`
        (k-means evidence, except gmm's own for gmm). Ignored by hdbscan.
    random_state : int
        Seed.
    ks : sequence of int
        Candidates when k is None.
    progress : callable, optional
        Called with a short message before each step.

    Returns
    -------
    SegmentationResult
        The assignment and its evidence.

    Raises
    ------
    ValueError
        Unknown algorithm, k below 2 or above the number of customers, fewer than 3 customers.
    """
    _check_algorithm(algorithm)
    n = features.n_customers
    if n < 3:
        raise ValueError(MSG_TOO_FEW.format(n=n))
    if k is not None and algorithm != "hdbscan":
        _check_k(k, n)
    say = progress or (lambda _message: None)
    say("Scaling the features")
    X = features.scaled()
    evidence = None
    if k is None and algorithm != "hdbscan":
        say("Weighing the number of segments")
        evidence = evaluate_k(
            X, ks=ks, algorithm="gmm" if algorithm == "gmm" else "kmeans", random_state=random_state
        )
        k = suggest_k(evidence)
    say("Clustering")
    labels, model = _fit(X, algorithm=algorithm, k=k, random_state=random_state, sample_size=SAMPLE_SIZE)
    say("Measuring")
    rng = np.random.default_rng(random_state)
    clustered = labels != NOISE
    found = np.unique(labels[clustered])
    silhouette = davies_bouldin = None
    if found.size > 1:
        idx = np.flatnonzero(clustered)
        sil = idx[_sample(idx.size, SILHOUETTE_SAMPLE, rng)]
        if np.unique(labels[sil]).size > 1:
            silhouette = float(silhouette_score(X[sil], labels[sil]))
        davies_bouldin = float(davies_bouldin_score(X[clustered], labels[clustered]))
    bic = float(model.bic(X)) if algorithm == "gmm" else None
    assignment = pl.DataFrame(
        {"customer_id": features.frame.get_column(features.id_column), "segment": labels.astype(np.int64)}
    )
    sizes = (
        assignment.group_by("segment")
        .agg(pl.len().cast(pl.Int64).alias("customers"))
        .with_columns((pl.col("customers") / n).alias("share"))
        .sort("segment")
    )
    warnings = []
    noise = int((~clustered).sum())
    if noise:
        warnings.append(MSG_NOISE.format(count=noise, share=noise / n))
    for seg, size in sizes.filter(pl.col("segment") != NOISE).select("segment", "customers").iter_rows():
        if size < MIN_SEGMENT_SIZE:
            warnings.append(MSG_SMALL_SEGMENT.format(segment=seg, size=size, minimum=MIN_SEGMENT_SIZE))
    return SegmentationResult(
        algorithm=algorithm,
        k=int(found.size) if algorithm == "hdbscan" else int(k),
        params={
            "random_state": random_state,
            "sample_size": SAMPLE_SIZE,
            "features": list(features.features),
        },
        assignment=assignment,
        sizes=sizes,
        silhouette=silhouette,
        davies_bouldin=davies_bouldin,
        bic=bic,
        noise=noise,
        warnings=tuple(warnings),
        excluded_no_consent=features.excluded_no_consent,
        evidence=evidence,
        features=features.features,
    )


def segment_and_profile(
    features: FeatureFrame,
    *,
    algorithm: Algorithm = "kmeans",
    k: int | None = None,
    random_state: int = 0,
    progress: Progress | None = None,
) -> tuple[SegmentationResult, pl.DataFrame]:
    """Segment the customers and profile the segments on the features clustered.

    Parameters
    ----------
    features : FeatureFrame
        Customers and features, as for :func:`run_segmentation`.
    algorithm : {"kmeans", "gmm", "hdbscan", "agglomerative"}
        The method.
    k : int, optional
        Number of segments; None picks it from the evidence. Ignored by hdbscan.
    random_state : int
        Seed.
    progress : callable, optional
        Called with a short message before each step.

    Returns
    -------
    tuple of (SegmentationResult, polars.DataFrame)
        The segmentation and :func:`profile_segments` of its features (unscaled) by segment.

    Raises
    ------
    ValueError
        As :func:`run_segmentation`.
    """
    result = run_segmentation(
        features, algorithm=algorithm, k=k, random_state=random_state, progress=progress
    )
    labels = result.assignment.get_column("segment").to_numpy()
    return result, profile_segments(features.frame.select(result.features), labels)


def segment_clv_means(assignment: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Mean probability alive and predictive CLV of each segment's members.

    Parameters
    ----------
    assignment : polars.DataFrame
        ``customer_id, segment`` (:attr:`SegmentationResult.assignment`).
    predictions : polars.DataFrame
        A stored CLV fit's per-customer ``customer_id, probability_alive, clv``.

    Returns
    -------
    polars.DataFrame
        ``segment, probability_alive, predicted_clv`` (members without a prediction count as
        missing, not as zero).
    """
    return (
        assignment.join(predictions, on="customer_id", how="left")
        .group_by("segment")
        .agg(pl.col("probability_alive").mean(), pl.col("clv").mean().alias("predicted_clv"))
    )
