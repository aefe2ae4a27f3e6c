"""Model quality: ROC, PR, calibration, lift and gains, confusion, comparison, population stability.

The measures of the model quality view; population stability (PSI) compares each feature's
training distribution with the latest month's.

Pure functions on numpy arrays and polars frames, no database: the quality page gets the labels
and scores of a trained model (:mod:`analytics.models.training`) and draws the frames returned here.

Conventions
-----------
* ``y`` holds 0/1 outcomes, ``score`` the model's predicted probability of a 1 (ranking
  measures accept any real score; calibration, Brier, log loss and thresholds need 0..1).
* A customer is predicted positive when ``score >= threshold`` (scikit-learn's convention, so
  :func:`confusion_at` agrees with the points of :func:`roc_curve_frame`).
* A measure that is undefined (a ratio with nothing under it) is ``None``, never NaN, and the
  result says why.
* PSI bins are the training (expected) distribution's quantiles (one bin per value for a
  feature with few values); missing values are a bin of their own; an empty bin's share is
  floored at :data:`PSI_EPSILON` before the logarithm.
  Bands: ``stable`` below 0.1, ``watch`` from 0.1 to below 0.25, ``shifted`` from 0.25 on
  (:data:`PSI_WATCH`, :data:`PSI_SHIFTED`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

PsiBand = Literal["stable", "watch", "shifted"]
PSI_BANDS: tuple[str, ...] = get_args(PsiBand)
"""PSI bands from calm to alarming."""

CalibrationStrategy = Literal["quantile", "uniform"]
CALIBRATION_STRATEGIES: tuple[str, ...] = get_args(CalibrationStrategy)

PSI_WATCH = 0.1
"""PSI at or above this is ``watch`` (a slight shift worth a look)."""
PSI_SHIFTED = 0.25
"""PSI at or above this is ``shifted`` (the population has moved; retraining is due)."""
PSI_EPSILON = 1e-4
"""Share given to an empty bin (0.01 %) so that ln(actual / expected) stays finite.

Only empty bins are floored; the other shares are left as they are (not renormalised)."""
MISSING_BIN = "missing"
"""Label of the PSI bin holding missing values (null or NaN)."""

DEFAULT_MAX_POINTS = 500
"""Curves are thinned to at most this many points for drawing (the ends are always kept)."""

_MEASURES: tuple[str, ...] = ("auc", "average_precision", "brier", "log_loss")
"""Columns of :func:`compare_models`, in order."""

MSG_LENGTHS_DIFFER = "y has {n_y} values but {name} has {n_score}: they must be the same customers."
MSG_EMPTY = "No customers: y and the scores are empty."
MSG_BAD_LABELS = "y must hold only 0 and 1; found {values} (first at row {row})."
MSG_ONE_CLASS = (
    "Every customer in y has the outcome {label}: {measure} needs both outcomes (0 and 1) to be"
    " defined. Use a period or group with both."
)
MSG_NO_POSITIVES = "No customer in y has the outcome 1: lift and gains need at least one positive."
MSG_NOT_FINITE = "{name} holds a missing or infinite value at row {row}: every customer needs a score."
MSG_NOT_PROBABILITY = "{name} must be probabilities in [0, 1] for {measure}; row {row} has {value}."
MSG_BAD_THRESHOLD = "The threshold must be between 0 and 1, got {threshold}."
MSG_BAD_BINS = "bins must be a whole number of at least 2, got {bins}."
MSG_BAD_GROUPS = "groups must be a whole number from 1 to the number of customers ({n}), got {groups}."
MSG_BAD_MAX_POINTS = "max_points must be at least 2, got {max_points}."
MSG_BAD_STRATEGY = "Unknown calibration strategy {strategy!r}: choose one of {choices}."
MSG_NO_MODELS = "No models to compare: pass at least one name -> scores."
MSG_UNKNOWN_BASELINE = "Baseline {baseline!r} is not among the models: {models}."
MSG_UNKNOWN_FEATURE = "Feature {feature!r} is not a column of the {frame} frame."
MSG_NOT_NUMERIC = "Feature {feature!r} is not numeric ({dtype}) in the {frame} frame: PSI here bins numbers."
MSG_NO_EXPECTED = "The expected (training) sample of {feature!r} is empty: PSI needs a reference."
MSG_NO_ACTUAL = "The actual (latest) sample of {feature!r} is empty: there is nothing to compare."


@dataclass(frozen=True)
class RocCurve:
    """ROC curve for drawing and its area.

    Attributes
    ----------
    frame : pl.DataFrame
        ``fpr``, ``tpr``, ``threshold`` (null for the first point, which no threshold reaches),
        thinned to at most ``max_points`` rows with both ends kept.
    auc : float
        Area under the full (unthinned) curve.
    customers : int
        Number of customers scored.
    positives : int
        Customers with outcome 1.
    """

    frame: pl.DataFrame
    auc: float
    customers: int
    positives: int


@dataclass(frozen=True)
class PrCurve:
    """Precision-recall curve for drawing and its summary.

    Attributes
    ----------
    frame : pl.DataFrame
        ``recall``, ``precision``, ``threshold`` (null for the last point, recall 0 and
        precision 1 by convention), thinned to at most ``max_points`` rows, ends kept.
    average_precision : float
        Average precision of the full curve (step-wise, no interpolation).
    prevalence : float
        Share of positives: the precision of a model that ranks at random (the chance line).
    """

    frame: pl.DataFrame
    average_precision: float
    prevalence: float


@dataclass(frozen=True)
class ConfusionAtThreshold:
    """Confusion matrix and the rates built from it at one threshold.

    Attributes
    ----------
    threshold : float
        Customers with ``score >= threshold`` are predicted positive.
    tp, fp, tn, fn : int
        True / false positives and negatives.
    precision, recall, specificity, f1, accuracy : float or None
        ``None`` where the ratio has nothing under it; ``undefined`` says why.
    undefined : tuple[str, ...]
        One sentence per ``None`` measure naming it and the reason.
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    precision: float | None
    recall: float | None
    specificity: float | None
    f1: float | None
    accuracy: float | None
    undefined: tuple[str, ...]


# -- input checks --------------------------------------------------------------------------------


def _as_labels(y: ArrayLike) -> np.ndarray:
    """Return y as an int array of 0/1, or raise naming the first bad row."""
    arr = np.asarray(y, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(MSG_EMPTY)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        values = sorted({str(v) for v in np.unique(arr[bad])[:5]})
        raise ValueError(MSG_BAD_LABELS.format(values=", ".join(values), row=row))
    return arr.astype(np.int64)


def _as_scores(score: ArrayLike, n: int, *, name: str = "score") -> np.ndarray:
    """Return the scores as a float array of length n with no NaN/inf, or raise."""
    arr = np.asarray(score, dtype=float).ravel()
    if arr.size != n:
        raise ValueError(MSG_LENGTHS_DIFFER.format(n_y=n, name=name, n_score=arr.size))
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(MSG_NOT_FINITE.format(name=name, row=int(np.argmax(bad))))
    return arr


def _check_probabilities(score: np.ndarray, *, name: str, measure: str) -> None:
    bad = (score < 0) | (score > 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(MSG_NOT_PROBABILITY.format(name=name, measure=measure, row=row, value=score[row]))


def _check_two_classes(y: np.ndarray, measure: str) -> None:
    if y.min() == y.max():
        raise ValueError(MSG_ONE_CLASS.format(label=int(y[0]), measure=measure))


def _check_max_points(max_points: int) -> None:
    if max_points < 2:
        raise ValueError(MSG_BAD_MAX_POINTS.format(max_points=max_points))


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most max_points evenly spaced rows of n, always with the first and last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


# -- curves --------------------------------------------------------------------------------------


def roc_curve_frame(y: ArrayLike, score: ArrayLike, *, max_points: int = DEFAULT_MAX_POINTS) -> RocCurve:
    """ROC curve (scikit-learn's ``roc_curve``) thinned for drawing, with its AUC.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    score : array-like of float
        Model scores; higher means more likely a 1 (any real scale).
    max_points : int, default 500
        Most rows in the returned curve; the AUC always uses the full curve.

    Returns
    -------
    RocCurve
        The curve frame (``fpr``, ``tpr``, ``threshold``), AUC and counts.

    Examples
    --------
    >>> roc_curve_frame([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).auc
    0.75
    """
    _check_max_points(max_points)
    labels = _as_labels(y)
    scores = _as_scores(score, labels.size)
    _check_two_classes(labels, "the ROC curve and its AUC")
    fpr, tpr, thresholds = roc_curve(labels, scores)
    keep = _thin(fpr.size, max_points)
    frame = pl.DataFrame(
        {"fpr": fpr[keep], "tpr": tpr[keep], "threshold": thresholds[keep]},
        schema={"fpr": pl.Float64, "tpr": pl.Float64, "threshold": pl.Float64},
    ).with_columns(
        # scikit-learn's first threshold is +inf ("predict nobody positive"): no score reaches it.
        pl.when(pl.col("threshold").is_infinite())
        .then(None)
        .otherwise(pl.col("threshold"))
        .alias("threshold")
    )
    return RocCurve(
        frame=frame,
        auc=float(roc_auc_score(labels, scores)),
        customers=int(labels.size),
        positives=int(labels.sum()),
    )


def pr_curve_frame(y: ArrayLike, score: ArrayLike, *, max_points: int = DEFAULT_MAX_POINTS) -> PrCurve:
    """Precision-recall curve (scikit-learn's ``precision_recall_curve``) thinned for drawing.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    score : array-like of float
        Model scores; higher means more likely a 1.
    max_points : int, default 500
        Most rows in the returned curve; the average precision uses the full curve.

    Returns
    -------
    PrCurve
        The curve frame (``recall``, ``precision``, ``threshold``), average precision and the
        prevalence (the chance line).

    Examples
    --------
    >>> round(pr_curve_frame([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).average_precision, 4)
    0.8333
    """
    _check_max_points(max_points)
    labels = _as_labels(y)
    scores = _as_scores(score, labels.size)
    _check_two_classes(labels, "the precision-recall curve")
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last point (recall 0, precision 1) has no threshold in scikit-learn's output.
    threshold = np.append(thresholds, np.nan)
    keep = _thin(precision.size, max_points)
    frame = pl.DataFrame(
        {"recall": recall[keep], "precision": precision[keep], "threshold": threshold[keep]},
        schema={"recall": pl.Float64, "precision": pl.Float64, "threshold": pl.Float64},
    ).with_columns(pl.col("threshold").fill_nan(None))
    return PrCurve(
        frame=frame,
        average_precision=float(average_precision_score(labels, scores)),
        prevalence=float(labels.mean()),
    )


def calibration_frame(
    y: ArrayLike,
    score: ArrayLike,
    *,
    bins: int = 10,
    strategy: CalibrationStrategy = "quantile",
) -> pl.DataFrame:
    """Calibration (reliability) curve: mean predicted probability against the observed rate.

    Values are scikit-learn's ``calibration_curve``; the bin edges and customer counts use the
    same binning (edges at the score quantiles or evenly over 0..1, bins ``(lower, upper]``,
    the first one closed), and empty bins are left out as scikit-learn does.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    score : array-like of float in [0, 1]
        Predicted probabilities.
    bins : int, default 10
        Number of bins before empty ones (or tied quantile edges) are dropped.
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-count bins (quantiles of the scores) or equal-width bins over 0..1.

    Returns
    -------
    pl.DataFrame
        One row per non-empty bin: ``bin`` (0-based), ``lower``, ``upper``,
        ``mean_predicted``, ``observed_rate``, ``customers``.
    """
    if strategy not in CALIBRATION_STRATEGIES:
        choices = ", ".join(CALIBRATION_STRATEGIES)
        raise ValueError(MSG_BAD_STRATEGY.format(strategy=strategy, choices=choices))
    if int(bins) != bins or bins < 2:
        raise ValueError(MSG_BAD_BINS.format(bins=bins))
    labels = _as_labels(y)
    scores = _as_scores(score, labels.size)
    _check_probabilities(scores, name="score", measure="the calibration curve")
    observed, predicted = calibration_curve(labels, scores, n_bins=bins, strategy=strategy)
    if strategy == "quantile":
        edges = np.percentile(scores, np.linspace(0, 1, bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], scores)
    counts = np.bincount(bin_ids, minlength=bins)
    nonzero = np.flatnonzero(counts)
    return pl.DataFrame(
        {
            "bin": nonzero,
            "lower": edges[nonzero],
            "upper": edges[nonzero + 1],
            "mean_predicted": predicted,
            "observed_rate": observed,
            "customers": counts[nonzero],
        },
        schema={
            "bin": pl.Int64,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "mean_predicted": pl.Float64,
            "observed_rate": pl.Float64,
            "customers": pl.Int64,
        },
    )


def lift_gains_frame(y: ArrayLike, score: ArrayLike, *, groups: int = 10) -> pl.DataFrame:
    """Lift and cumulative gains by score group (deciles by default), best scores first.

    Customers are sorted by score, highest first (ties keep their input order), and cut into
    ``groups`` groups of equal size; when the count does not divide, the first groups get one
    customer more (``numpy.array_split``). Group 1 is the top-scored group.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    score : array-like of float
        Model scores; higher means more likely a 1.
    groups : int, default 10
        Number of groups, from 1 to the number of customers.

    Returns
    -------
    pl.DataFrame
        One row per group: ``group``, ``customers``, ``positives``, ``min_score``,
        ``max_score``, ``rate`` (positives / customers), ``lift`` (rate / overall rate),
        ``cumulative_share`` (share of customers in this group and above), ``gains`` (share
        of all positives captured so far) and ``cumulative_lift`` (gains / cumulative_share).

    Examples
    --------
    >>> frame = lift_gains_frame([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], groups=2)
    >>> frame["lift"].to_list(), frame["gains"].to_list()
    ([1.0, 1.0], [0.5, 1.0])
    """
    labels = _as_labels(y)
    scores = _as_scores(score, labels.size)
    n = labels.size
    if int(groups) != groups or not 1 <= groups <= n:
        raise ValueError(MSG_BAD_GROUPS.format(n=n, groups=groups))
    total_positives = int(labels.sum())
    if total_positives == 0:
        raise ValueError(MSG_NO_POSITIVES)
    order = np.argsort(-scores, kind="stable")
    parts = np.array_split(order, int(groups))
    customers = np.array([p.size for p in parts])
    positives = np.array([labels[p].sum() for p in parts])
    overall_rate = total_positives / n
    frame = pl.DataFrame(
        {
            "group": np.arange(1, len(parts) + 1),
            "customers": customers,
            "positives": positives,
            "min_score": [float(scores[p].min()) for p in parts],
            "max_score": [float(scores[p].max()) for p in parts],
        },
        schema={
            "group": pl.Int64,
            "customers": pl.Int64,
            "positives": pl.Int64,
            "min_score": pl.Float64,
            "max_score": pl.Float64,
        },
    )
    return frame.with_columns(
        rate=pl.col("positives") / pl.col("customers"),
        lift=pl.col("positives") / pl.col("customers") / overall_rate,
        cumulative_share=pl.col("customers").cum_sum() / n,
        gains=pl.col("positives").cum_sum() / total_positives,
    ).with_columns(cumulative_lift=pl.col("gains") / pl.col("cumulative_share"))


# -- threshold and comparison --------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def confusion_at(y: ArrayLike, score: ArrayLike, threshold: float) -> ConfusionAtThreshold:
    """Confusion matrix at a threshold the analyst picks, with precision, recall and friends.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    score : array-like of float in [0, 1]
        Predicted probabilities.
    threshold : float in [0, 1]
        Customers with ``score >= threshold`` are predicted positive.

    Returns
    -------
    ConfusionAtThreshold
        Counts, precision (tp / (tp + fp)), recall (tp / (tp + fn)), specificity
        (tn / (tn + fp)), F1 (2 tp / (2 tp + fp + fn)) and accuracy; ``None`` where a
        denominator is zero, with the reason in ``undefined``.

    Examples
    --------
    >>> result = confusion_at([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], 0.5)
    >>> result.tp, result.fp, result.tn, result.fn, result.precision
    (1, 1, 1, 1, 0.5)
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(MSG_BAD_THRESHOLD.format(threshold=threshold))
    labels = _as_labels(y)
    scores = _as_scores(score, labels.size)
    _check_probabilities(scores, name="score", measure="a probability threshold")
    predicted = scores >= threshold
    actual = labels == 1
    tp = int(np.sum(predicted & actual))
    fp = int(np.sum(predicted & ~actual))
    tn = int(np.sum(~predicted & ~actual))
    fn = int(np.sum(~predicted & actual))
    reasons: list[str] = []
    if tp + fp == 0:
        reasons.append(f"precision: no customer scores at or above the threshold {threshold}.")
    if tp + fn == 0:
        reasons.append("recall: no customer has the outcome 1.")
    if tn + fp == 0:
        reasons.append("specificity: no customer has the outcome 0.")
    if 2 * tp + fp + fn == 0:
        reasons.append("f1: no positive outcome and no positive prediction.")
    return ConfusionAtThreshold(
        threshold=float(threshold),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        accuracy=_ratio(tp + tn, labels.size),
        undefined=tuple(reasons),
    )


def compare_models(
    y: ArrayLike,
    scores: Mapping[str, ArrayLike],
    *,
    baseline: str | None = None,
) -> pl.DataFrame:
    """AUC, average precision, Brier score and log loss of several models on the same customers.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes.
    scores : mapping of str to array-like of float in [0, 1]
        Model name to predicted probabilities, in the order the rows should appear.
    baseline : str, optional
        A model name; adds ``*_change`` columns (model minus baseline) for each measure.
        Higher is better for AUC and average precision, lower for Brier and log loss.

    Returns
    -------
    pl.DataFrame
        One row per model: ``model``, ``auc``, ``average_precision``, ``brier``,
        ``log_loss`` (natural log), and with a baseline ``auc_change``,
        ``average_precision_change``, ``brier_change``, ``log_loss_change``.
    """
    if not scores:
        raise ValueError(MSG_NO_MODELS)
    if baseline is not None and baseline not in scores:
        raise ValueError(MSG_UNKNOWN_BASELINE.format(baseline=baseline, models=", ".join(scores)))
    labels = _as_labels(y)
    _check_two_classes(labels, "AUC, average precision and log loss")
    rows = []
    for name, values in scores.items():
        p = _as_scores(values, labels.size, name=f"the scores of {name!r}")
        _check_probabilities(p, name=f"the scores of {name!r}", measure="Brier score and log loss")
        rows.append(
            {
                "model": name,
                "auc": float(roc_auc_score(labels, p)),
                "average_precision": float(average_precision_score(labels, p)),
                "brier": float(brier_score_loss(labels, p)),
                "log_loss": float(log_loss(labels, p, labels=[0, 1])),
            }
        )
    frame = pl.DataFrame(rows, schema={"model": pl.String, **dict.fromkeys(_MEASURES, pl.Float64)})
    if baseline is None:
        return frame
    base = frame.row(list(scores).index(baseline), named=True)
    return frame.with_columns((pl.col(m) - base[m]).alias(f"{m}_change") for m in _MEASURES)


# -- population stability ------------------------------------------------------------------------


def psi_band(psi: float) -> PsiBand:
    """Band of a PSI value: ``stable`` < 0.1 <= ``watch`` < 0.25 <= ``shifted``.

    Parameters
    ----------
    psi : float
        A population stability index.

    Returns
    -------
    PsiBand
        ``"stable"``, ``"watch"`` or ``"shifted"``.

    Examples
    --------
    >>> psi_band(0.0999), psi_band(0.1), psi_band(0.25)
    ('stable', 'watch', 'shifted')
    """
    if psi >= PSI_SHIFTED:
        return "shifted"
    if psi >= PSI_WATCH:
        return "watch"
    return "stable"


def _as_feature(values: ArrayLike | pl.Series) -> np.ndarray:
    """Float array with NaN for missing values (polars nulls included)."""
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).to_numpy()
    return np.asarray(values, dtype=float).ravel()


def _bin_counts(
    values: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, list[float | None], list[float | None], list[str]]:
    """PSI bin counts: ``< e0``, ``[e0, e1)``, ..., ``>= e_last``; one edge c: ``< c``, ``= c``, ``> c``."""
    if edges.size == 0:
        return np.array([values.size]), [-np.inf], [np.inf], ["all values"]
    idx = np.searchsorted(edges, values, side="right")
    if edges.size == 1:
        c = float(edges[0])
        idx[values > c] = 2
        return (
            np.bincount(idx, minlength=3),
            [-np.inf, c, c],
            [c, c, np.inf],
            [f"< {c:g}", f"= {c:g}", f"> {c:g}"],
        )
    counts = np.bincount(idx, minlength=edges.size + 1)
    lowers = [-np.inf, *map(float, edges)]
    uppers = [*map(float, edges), np.inf]
    labels = [f"< {edges[0]:g}"]
    labels += [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f">= {edges[-1]:g}")
    return counts, lowers, uppers, labels


def _psi_edges(present: np.ndarray, bins: int) -> np.ndarray:
    """Lower edges of the PSI bins from the expected sample's non-missing values."""
    if present.size == 0:
        return np.empty(0)
    distinct = np.unique(present)
    if distinct.size <= bins:
        # Few distinct values (flags, counts): one bin per value, so a rare top value is not
        # merged with its neighbour as quantile edges would.
        return distinct
    # Quantiles 0, 1/bins, ..., (bins-1)/bins; the top bin is open above.
    return np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[:-1]))


def psi_bin_table(
    expected: ArrayLike | pl.Series,
    actual: ArrayLike | pl.Series,
    *,
    bins: int = 10,
    feature: str = "feature",
) -> pl.DataFrame:
    """Per-bin shares and PSI terms of one numeric feature, bins from the expected sample.

    Bins are the expected (training) sample's: with at most ``bins`` distinct values (flags,
    small counts) one bin per value; otherwise edges at its quantiles 0, 1/bins, ...,
    (bins-1)/bins with tied edges merged (so a feature with heavy ties gets fewer bins).
    Bins are ``[lower, upper)``: a first bin ``< min`` catches actual values below the
    training minimum (empty in training) and the top bin is open above. A constant feature
    c gets the bins ``< c``, ``= c`` and ``> c``. Missing values (null or NaN) form a bin of
    their own, listed when either sample has any. An empty bin's share is floored at
    :data:`PSI_EPSILON` before the logarithm.

    Parameters
    ----------
    expected : array-like or pl.Series of float
        The reference sample (training).
    actual : array-like or pl.Series of float
        The sample compared with it (e.g. the latest month).
    bins : int, default 10
        Number of quantile bins before tied edges merge; a feature with at most this many
        distinct values gets one bin per value.
    feature : str, default "feature"
        Name used in error messages.

    Returns
    -------
    pl.DataFrame
        One row per bin: ``bin`` (label such as ``"[1.5, 3)"``, ``">= 7"`` or ``"missing"``),
        ``lower``, ``upper`` (null for the missing bin; -inf/inf at the open ends), ``expected_share``,
        ``actual_share`` (raw shares), and ``psi`` = (a - e) ln(a / e) on the floored shares.
    """
    if int(bins) != bins or bins < 2:
        raise ValueError(MSG_BAD_BINS.format(bins=bins))
    exp = _as_feature(expected)
    act = _as_feature(actual)
    if exp.size == 0:
        raise ValueError(MSG_NO_EXPECTED.format(feature=feature))
    if act.size == 0:
        raise ValueError(MSG_NO_ACTUAL.format(feature=feature))
    exp_missing = np.isnan(exp)
    act_missing = np.isnan(act)
    present = exp[~exp_missing]
    edges = _psi_edges(present, int(bins))
    exp_counts, lowers, uppers, labels = _bin_counts(exp[~exp_missing], edges)
    act_counts = _bin_counts(act[~act_missing], edges)[0]
    if exp_missing.any() or act_missing.any():
        exp_counts = np.append(exp_counts, exp_missing.sum())
        act_counts = np.append(act_counts, act_missing.sum())
        labels.append(MISSING_BIN)
        lowers.append(None)
        uppers.append(None)
    exp_share = exp_counts / exp.size
    act_share = act_counts / act.size
    e = np.where(exp_share > 0, exp_share, PSI_EPSILON)
    a = np.where(act_share > 0, act_share, PSI_EPSILON)
    return pl.DataFrame(
        {
            "bin": labels,
            "lower": lowers,
            "upper": uppers,
            "expected_share": exp_share,
            "actual_share": act_share,
            "psi": (a - e) * np.log(a / e),
        },
        schema={
            "bin": pl.String,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "expected_share": pl.Float64,
            "actual_share": pl.Float64,
            "psi": pl.Float64,
        },
    )


def population_stability_index(
    expected: ArrayLike | pl.Series,
    actual: ArrayLike | pl.Series,
    *,
    bins: int = 10,
) -> float:
    """Population stability index of one numeric feature: sum over bins of (a - e) ln(a / e).

    Bins come from the expected sample's quantiles, missing values are their own bin, and an
    empty bin's share is floored at :data:`PSI_EPSILON` (see :func:`psi_bin_table`).

    Parameters
    ----------
    expected : array-like or pl.Series of float
        The reference sample (training).
    actual : array-like or pl.Series of float
        The sample compared with it (e.g. the latest month).
    bins : int, default 10
        Number of quantile bins before tied edges merge; a feature with at most this many
        distinct values gets one bin per value.

    Returns
    -------
    float
        The PSI, 0 when the binned shares are identical; see :func:`psi_band`.

    Examples
    --------
    >>> population_stability_index([1, 2, 3, 4], [1, 2, 3, 4], bins=2)
    0.0
    """
    return float(psi_bin_table(expected, actual, bins=bins)["psi"].sum())


def psi_table(
    train_frame: pl.DataFrame,
    latest_frame: pl.DataFrame,
    features: Sequence[str],
    *,
    bins: int = 10,
) -> pl.DataFrame:
    """PSI and its band for each numeric feature, training frame against the latest month.

    Parameters
    ----------
    train_frame : pl.DataFrame
        The training sample (the expected distribution).
    latest_frame : pl.DataFrame
        The latest month's customers (the actual distribution).
    features : sequence of str
        Numeric (or Boolean, read as 0/1) columns present in both frames.
    bins : int, default 10
        Number of quantile bins per feature before tied edges merge; a feature with at most
        this many distinct values gets one bin per value.

    Returns
    -------
    pl.DataFrame
        ``feature``, ``psi``, ``band`` (:data:`PsiBand`), ``missing_expected`` and
        ``missing_actual`` (shares of missing values), in the order of ``features``.
    """
    rows = []
    for feature in features:
        for frame, name in ((train_frame, "training"), (latest_frame, "latest")):
            if feature not in frame.columns:
                raise ValueError(MSG_UNKNOWN_FEATURE.format(feature=feature, frame=name))
            dtype = frame.schema[feature]
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise ValueError(MSG_NOT_NUMERIC.format(feature=feature, dtype=dtype, frame=name))
        table = psi_bin_table(train_frame[feature], latest_frame[feature], bins=bins, feature=feature)
        psi = float(table["psi"].sum())
        missing = table.filter(pl.col("bin") == MISSING_BIN)
        rows.append(
            {
                "feature": feature,
                "psi": psi,
                "band": psi_band(psi),
                "missing_expected": float(missing["expected_share"].sum()),
                "missing_actual": float(missing["actual_share"].sum()),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "feature": pl.String,
            "psi": pl.Float64,
            "band": pl.Enum(PSI_BANDS),
            "missing_expected": pl.Float64,
            "missing_actual": pl.Float64,
        },
    )
