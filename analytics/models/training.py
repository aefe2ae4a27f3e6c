"""Churn and product-propensity models: time split, fit, calibration, test scores and importance.

How a model is made (docs/models.md says why each choice was made)
------------------------------------------------------------------
1. The training frames are point-in-time features joined to the outcomes after each cut-off
   (:mod:`analytics.models.training_data`: cut-offs, labels, leakage checks).
2. :func:`train_model` stacks the training cut-offs, calibrates on a later validation
   cut-off and scores on the latest test cut-off (:func:`~analytics.models.training_data.default_cutoffs`),
   for a HistGradientBoostingClassifier pipeline and a logistic-regression baseline
   (:mod:`analytics.models.pipelines`).
3. Its importance table is :func:`analytics.models.pipelines.explain` on test rows: exact SHAP
   values in log-odds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

import ibis
import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from analytics.common.docs import shared_docs
from analytics.models.pipelines import explain, importance_table, make_baseline_pipeline, make_tree_pipeline
from analytics.models.quality import calibration_frame
from analytics.models.training_data import (
    DEFAULT_HORIZON_DAYS,
    LABEL_COLUMN,
    SplitCutoffs,
    Target,
    build_training_frame,
    check_target,
    default_cutoffs,
    feature_matrix,
    history_bounds,
    model_features,
)

CalibrationMethod = Literal["sigmoid", "isotonic"]

MSG_CUTOFF_ORDER = (
    "Cut-offs must run train < validation < test with each split's labels ending before the next"
    " split's cut-off: {detail}."
)
MSG_NO_TRAIN_CUTOFF = "At least one training cut-off is needed."
MSG_ONE_CLASS = (
    "The {split} split (cut-off {cutoffs}) has {positives} positive outcomes out of {rows} rows: both"
    " outcomes are needed to train and score a {target} model."
)


@dataclass(frozen=True)
class TrainedModel:
    """A trained target model, its baseline, calibration, test metrics and explanation summary.

    Parameters
    ----------
    target : str
        The :data:`Target`.
    horizon_days : int
        Days after a cut-off in which the outcome is looked for.
    cutoffs : SplitCutoffs
        The time split.
    features : tuple of str
        Input columns of both pipelines, in order.
    pipeline : sklearn.pipeline.Pipeline
        ``ColumnTransformer`` (imputation) + ``HistGradientBoostingClassifier``, fitted on
        the training cut-offs; uncalibrated, the model SHAP explains.
    calibrated : sklearn.calibration.CalibratedClassifierCV
        ``pipeline`` frozen and calibrated on the validation cut-off: the probabilities to show.
    baseline : sklearn.pipeline.Pipeline
        :func:`analytics.segments.features.make_preprocessor` + ``LogisticRegression``.
    metrics : dict of str to float
        Test metrics of the tree model: ``auc``, ``average_precision``, ``brier`` (calibrated),
        ``brier_uncalibrated``, ``prevalence``, ``rows``, ``positives``.
    baseline_metrics : dict of str to float
        ``auc``, ``average_precision``, ``brier`` of the baseline on the test cut-off.
    calibration : polars.DataFrame
        Calibration curve on the test cut-off: ``model`` ("uncalibrated" or "calibrated"),
        ``bin``, ``mean_predicted``, ``observed_rate``, ``rows``.
    importance : polars.DataFrame
        ``feature``, ``mean_abs_shap`` (log-odds), ``direction`` ("+" when higher values
        raise the log-odds, "-" when they lower it, "0" for no relation), sorted by
        ``mean_abs_shap`` descending; from :func:`explain` on test rows.
    split_sizes : dict of str to int
        Rows and positives of each split (``train_rows``, ``train_positives``, ...).
    test_scores : polars.DataFrame
        The test cut-off's rows: ``customer_id``, ``label``, ``score`` (calibrated),
        ``score_uncalibrated``, ``baseline_score``; what the quality view draws.
    train_features : polars.DataFrame
        The stacked training rows' feature columns (the expected distribution of the
        population stability index).
    """

    target: str
    horizon_days: int
    cutoffs: SplitCutoffs
    features: tuple[str, ...]
    pipeline: Pipeline
    calibrated: CalibratedClassifierCV
    baseline: Pipeline
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    calibration: pl.DataFrame
    importance: pl.DataFrame
    split_sizes: dict[str, int]
    test_scores: pl.DataFrame
    train_features: pl.DataFrame

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome for each row of a feature frame.

        Parameters
        ----------
        frame : polars.DataFrame
            Holds every column of ``features``.

        Returns
        -------
        numpy.ndarray
            One probability per row.
        """
        return self.calibrated.predict_proba(feature_matrix(frame, self.features))[:, 1]


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "auc": float(roc_auc_score(y, p)),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
    }


def _calibration_rows(name: str, y: np.ndarray, p: np.ndarray, n_bins: int) -> pl.DataFrame:
    # One binning for the stored table and the page: model_quality's, which counts customers with
    # scikit-learn's own bin assignment (tied quantile edges leave bins empty and dropped).
    frame = calibration_frame(y, p, bins=n_bins, strategy="quantile")
    return frame.select(
        pl.lit(name).alias("model"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("bin"),
        "mean_predicted",
        "observed_rate",
        pl.col("customers").alias("rows"),
    )


@shared_docs
def train_model(
    backend: ibis.BaseBackend,
    *,
    target: Target,
    cutoffs: SplitCutoffs | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    calibration: CalibrationMethod = "sigmoid",
    feature_frames: dict[date, pl.DataFrame] | None = None,
    explain_rows: int = 1000,
    random_state: int = 0,
) -> TrainedModel:
    """Train, calibrate, score and explain a model of ``target`` with a split by time.

    The tree pipeline (:func:`make_tree_pipeline`) and the baseline
    (:func:`make_baseline_pipeline`) are fitted on the stacked training cut-offs; the tree
    model is frozen and calibrated on the validation cut-off
    (``CalibratedClassifierCV(FrozenEstimator(...))``); both are scored on the test cut-off.
    The importance table comes from :func:`explain` on up to ``explain_rows`` random test rows.

    Parameters
    ----------
    {backend}
    target : Target
        What is predicted.
    cutoffs : SplitCutoffs, optional
        The time split; :func:`default_cutoffs` of the data set when omitted.
    horizon_days : int
        Days after each cut-off in which the outcome is looked for.
    calibration : {"sigmoid", "isotonic"}
        Calibration method (Platt scaling by default: a few hundred positives per cut-off
        are too few for a stable isotonic step function).
    feature_frames : dict of date to polars.DataFrame, optional
        Point-in-time feature frames by cut-off (from :func:`load_point_in_time_features`)
        to reuse across targets; missing cut-offs are computed. Each is leakage-checked.
    explain_rows : int
        Test rows sampled for the importance table.
    random_state : int
        Seed of the booster and of the row sample.

    Returns
    -------
    TrainedModel
        Pipelines, calibration, metrics and importance.

    Raises
    ------
    ValueError
        For cut-offs out of order (:data:`MSG_CUTOFF_ORDER`), a split with one outcome only
        (:data:`MSG_ONE_CLASS`), or any error of :func:`build_training_frame`.
    """
    check_target(target)
    if cutoffs is None:
        history_start, snapshot = history_bounds(backend)
        cutoffs = default_cutoffs(history_start, snapshot, horizon_days=horizon_days)
    _check_split(cutoffs, horizon_days)
    frames = feature_frames or {}

    def split(days: Sequence[date]) -> pl.DataFrame:
        parts = [
            build_training_frame(
                backend, target=target, cutoff=d, horizon_days=horizon_days, features=frames.get(d)
            )
            for d in days
        ]
        return pl.concat(parts, how="vertical")

    train, valid, test = split(cutoffs.train), split([cutoffs.validation]), split([cutoffs.test])
    features = model_features(train)
    sizes: dict[str, int] = {}
    for name, part, days in (
        ("train", train, cutoffs.train),
        ("validation", valid, (cutoffs.validation,)),
        ("test", test, (cutoffs.test,)),
    ):
        positives = int(part.get_column(LABEL_COLUMN).sum())
        if positives == 0 or positives == part.height:
            raise ValueError(
                MSG_ONE_CLASS.format(
                    split=name,
                    cutoffs=", ".join(str(d) for d in days),
                    positives=positives,
                    rows=part.height,
                    target=target,
                )
            )
        sizes[f"{name}_rows"], sizes[f"{name}_positives"] = part.height, positives

    x_train, y_train = feature_matrix(train, features), train.get_column(LABEL_COLUMN).to_numpy()
    x_valid, y_valid = feature_matrix(valid, features), valid.get_column(LABEL_COLUMN).to_numpy()
    x_test, y_test = feature_matrix(test, features), test.get_column(LABEL_COLUMN).to_numpy()

    pipeline = make_tree_pipeline(features, random_state=random_state).fit(x_train, y_train)
    baseline = make_baseline_pipeline(features).fit(x_train, y_train)
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipeline), method=calibration).fit(x_valid, y_valid)

    raw = pipeline.predict_proba(x_test)[:, 1]
    cal = calibrated.predict_proba(x_test)[:, 1]
    metrics = _scores(y_test, cal)
    metrics["brier_uncalibrated"] = float(brier_score_loss(y_test, raw))
    metrics["auc_uncalibrated"] = float(roc_auc_score(y_test, raw))
    metrics["prevalence"] = float(y_test.mean())
    metrics["rows"] = float(len(y_test))
    metrics["positives"] = float(y_test.sum())
    baseline_score = baseline.predict_proba(x_test)[:, 1]
    baseline_metrics = _scores(y_test, baseline_score)
    calibration_table = pl.concat(
        [_calibration_rows("uncalibrated", y_test, raw, 10), _calibration_rows("calibrated", y_test, cal, 10)]
    )

    result = TrainedModel(
        target=target,
        horizon_days=horizon_days,
        cutoffs=cutoffs,
        features=features,
        pipeline=pipeline,
        calibrated=calibrated,
        baseline=baseline,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        calibration=calibration_table,
        importance=pl.DataFrame(),
        split_sizes=sizes,
        test_scores=pl.DataFrame(
            {
                "customer_id": test.get_column("customer_id").cast(pl.Int64),
                "label": test.get_column(LABEL_COLUMN).cast(pl.Int64),
                "score": cal,
                "score_uncalibrated": raw,
                "baseline_score": baseline_score,
            }
        ),
        train_features=train.select(features),
    )
    rows = test.sample(n=min(explain_rows, test.height), seed=random_state)
    importance = importance_table(explain(result, rows))
    return replace(result, importance=importance)


def _check_split(cutoffs: SplitCutoffs, horizon_days: int) -> None:
    if not cutoffs.train:
        raise ValueError(MSG_NO_TRAIN_CUTOFF)
    horizon = timedelta(days=horizon_days)
    last_train = max(cutoffs.train)
    if last_train + horizon > cutoffs.validation:
        raise ValueError(
            MSG_CUTOFF_ORDER.format(
                detail=f"training labels run to {last_train + horizon}, after the validation cut-off"
                f" {cutoffs.validation}"
            )
        )
    if cutoffs.validation + horizon > cutoffs.test:
        raise ValueError(
            MSG_CUTOFF_ORDER.format(
                detail=f"validation labels run to {cutoffs.validation + horizon}, after the test cut-off"
                f" {cutoffs.test}"
            )
        )
