"""The two pipelines of every bank model and their exact SHAP explanation in log-odds.

:func:`make_tree_pipeline` (imputation + HistGradientBoostingClassifier, the model that is
calibrated and explained) and :func:`make_baseline_pipeline` (the logistic baseline);
:func:`explain` gives exact SHAP values of the uncalibrated tree model (TreeExplainer) or of
the baseline (LinearExplainer), both in log-odds: the base value plus a row's SHAP values
equals the pipeline's ``decision_function`` for that row.

Two booster settings are named here, each with its reason: :data:`BANK_BOOSTER` for the bank's
churn and take-up models and :data:`TABLE_BOOSTER` for an uploaded table
(:mod:`analytics.models.table_model`); docs/models.md, Pipelines, says which is which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol

import numpy as np
import polars as pl
import shap
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from analytics.models.training_data import feature_matrix
from analytics.segments.features import ZERO_WHEN_MISSING, make_preprocessor

ModelKind = Literal["tree", "baseline"]

BANK_BOOSTER: Mapping[str, float | int] = MappingProxyType(
    {
        "learning_rate": 0.02,
        "max_iter": 400,
        "max_depth": 2,
        "min_samples_leaf": 300,
        "l2_regularization": 5.0,
    }
)
"""Hyperparameters of the bank's churn and take-up boosters (:func:`make_tree_pipeline`).

Shallow, slowly learned trees: on the sample bank's validation cut-offs depth-2 trees
(pairwise interactions) beat 15-leaf trees for churn, savings and credit-card take-up (mean
validation AUC 0.783 against 0.770) and match the logistic baseline; the planted processes are
near-logistic in a few drivers (docs/models.md, Pipelines).
"""

TABLE_BOOSTER: Mapping[str, float | int] = MappingProxyType(
    {
        "learning_rate": 0.05,
        "max_iter": 200,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
    }
)
"""Hyperparameters of the booster trained on an uploaded table (:mod:`analytics.models.table_model`).

The general-purpose setting the bank's models started from (15 leaves, learning rate 0.05, 200
rounds). :data:`BANK_BOOSTER` was tuned on the bank's validation cut-offs for its near-logistic
drivers; an uploaded table is any bank's data, of any size (a few thousand rows upwards), with
no validation split to tune on, so it keeps the setting that lets several columns interact and
fits small tables (leaves of 40 rows rather than 300). Its known answers (docs/models.md, Bring
your own table) were measured with it.
"""


@dataclass(frozen=True)
class Explanation:
    """Exact SHAP values of a fitted model, in log-odds.

    Parameters
    ----------
    base_value : float
        Expected log-odds (the explainer's expected value).
    values : numpy.ndarray
        SHAP values, shape (rows, features), in the order of ``features``.
    data : numpy.ndarray
        The explained feature values after the pipeline's preprocessing (tree model: imputed
        raw values; baseline: imputed, log-transformed and standardized values).
    features : tuple of str
        Names of the explained columns.
    space : str
        Always ``"log-odds"``: ``base_value + values.sum(axis=1)`` equals the pipeline's
        ``decision_function``.
    """

    base_value: float
    values: np.ndarray
    data: np.ndarray
    features: tuple[str, ...]
    space: str = "log-odds"


def make_tree_pipeline(features: Sequence[str], *, random_state: int = 0) -> Pipeline:
    """Imputation + HistGradientBoostingClassifier, the model that is calibrated and explained.

    Missing values are imputed (0 for :data:`analytics.segments.features.ZERO_WHEN_MISSING`, else the
    median) rather than left to the booster, so SHAP explains the same imputed matrix the
    trees see; the columns keep their input order and units (trees need no scaling).

    Parameters
    ----------
    features : sequence of str
        Input columns, in order.
    random_state : int
        Seed of the booster (used for its early-stopping split when enabled).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``prepare`` (ColumnTransformer) and ``model``.
    """
    zero = [i for i, name in enumerate(features) if name in ZERO_WHEN_MISSING]
    median = [i for i, name in enumerate(features) if name not in ZERO_WHEN_MISSING]
    prepare = ColumnTransformer(
        [
            ("median", SimpleImputer(strategy="median", keep_empty_features=True), median),
            ("zero", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True), zero),
        ]
    )
    model = HistGradientBoostingClassifier(**BANK_BOOSTER, early_stopping=False, random_state=random_state)
    return Pipeline([("prepare", prepare), ("model", model)])


def make_baseline_pipeline(features: Sequence[str]) -> Pipeline:
    """:func:`analytics.segments.features.make_preprocessor` + LogisticRegression: the baseline.

    Parameters
    ----------
    features : sequence of str
        Input columns, in order.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``prepare`` and ``model``.
    """
    return Pipeline([("prepare", make_preprocessor(features)), ("model", LogisticRegression(max_iter=2000))])


def transformed_features(pipeline: Pipeline, features: Sequence[str]) -> tuple[str, ...]:
    """Names of the columns leaving a fitted pipeline's ``prepare`` step, in their order.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline from :func:`make_tree_pipeline` or :func:`make_baseline_pipeline`.
    features : sequence of str
        Its input columns.

    Returns
    -------
    tuple of str
        Input names reordered as the ColumnTransformer concatenates its groups.
    """
    prepare: ColumnTransformer = pipeline.named_steps["prepare"]
    order: list[str] = []
    for _, _, columns in prepare.transformers_:
        if isinstance(columns, list) and columns and all(isinstance(i, (int, np.integer)) for i in columns):
            order.extend(features[i] for i in columns)
    return tuple(order)


class FittedPipelines(Protocol):
    """What :func:`explain` needs: a trained or a registered-and-loaded model."""

    @property
    def pipeline(self) -> Pipeline: ...  # noqa: D102

    @property
    def baseline(self) -> Pipeline: ...  # noqa: D102

    @property
    def features(self) -> tuple[str, ...]: ...  # noqa: D102


def explain(
    model: FittedPipelines,
    frame: pl.DataFrame,
    *,
    kind: ModelKind = "tree",
    background: pl.DataFrame | None = None,
) -> Explanation:
    """Exact SHAP values, in log-odds, of the uncalibrated tree model or of the baseline.

    The tree model is explained by ``shap.TreeExplainer`` (``model_output="raw"``, the
    booster's log-odds; tree-path-dependent, so no background is needed). The baseline is
    explained by ``shap.LinearExplainer`` with ``background`` (default: ``frame``) as the
    masker, giving ``coef * (x - mean)`` per feature. Either way
    ``base_value + values.sum(axis=1) == pipeline.decision_function(X)``. Calibration is a
    monotone map applied afterwards and is not part of the explanation.

    Parameters
    ----------
    model : TrainedModel or analytics.models.registry.LoadedModel
        A result of :func:`train_model`, or a registered model loaded from its artifact.
    frame : polars.DataFrame
        Rows to explain, holding ``model.features``.
    kind : {"tree", "baseline"}
        Which of the two fitted pipelines to explain.
    background : polars.DataFrame, optional
        Reference rows for the baseline's mean (ignored for the tree model).

    Returns
    -------
    Explanation
        Base value, SHAP values and the preprocessed values of the explained columns.
    """
    pipeline = model.pipeline if kind == "tree" else model.baseline
    prepare = pipeline.named_steps["prepare"]
    data = np.asarray(prepare.transform(feature_matrix(frame, model.features)), dtype=np.float64)
    names = transformed_features(pipeline, model.features)
    if kind == "tree":
        explainer = shap.TreeExplainer(pipeline.named_steps["model"], model_output="raw")
        values = np.asarray(explainer.shap_values(data, check_additivity=False), dtype=np.float64)
    else:
        ref = frame if background is None else background
        ref_data = np.asarray(prepare.transform(feature_matrix(ref, model.features)), dtype=np.float64)
        explainer = shap.LinearExplainer(pipeline.named_steps["model"], ref_data)
        values = np.asarray(explainer.shap_values(data), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    return Explanation(base_value=base, values=values, data=data, features=names)


def effect_direction(values: np.ndarray, shap_values: np.ndarray) -> str:
    """Direction of a feature's effect: the sign of the Pearson correlation of value and SHAP value.

    Rows without a value (NaN) are left out; "0" when fewer than two rows remain or either
    side is constant.

    Parameters
    ----------
    values : numpy.ndarray
        The feature's values.
    shap_values : numpy.ndarray
        Its SHAP values on the same rows.

    Returns
    -------
    str
        "+" when higher values raise the output, "-" when they lower it, "0" otherwise.

    Examples
    --------
    >>> effect_direction(np.array([1.0, 2.0, np.nan, 3.0]), np.array([-1.0, 0.0, 5.0, 1.0]))
    '+'
    """
    seen = ~np.isnan(values)
    x, s = values[seen], shap_values[seen]
    if x.size < 2 or np.std(x) == 0 or np.std(s) == 0:
        return "0"
    r = float(np.corrcoef(x, s)[0, 1])
    return "+" if r > 0 else "-" if r < 0 else "0"


def importance_table(explanation: Explanation) -> pl.DataFrame:
    """Mean |SHAP| per feature and the direction of its effect (:func:`effect_direction`).

    Parameters
    ----------
    explanation : Explanation
        From :func:`explain`.

    Returns
    -------
    polars.DataFrame
        ``feature``, ``mean_abs_shap``, ``direction``, sorted by ``mean_abs_shap`` descending
        (ties by feature name).
    """
    values, data = explanation.values, explanation.data
    return pl.DataFrame(
        {
            "feature": list(explanation.features),
            "mean_abs_shap": np.abs(values).mean(axis=0),
            "direction": [effect_direction(data[:, j], values[:, j]) for j in range(values.shape[1])],
        }
    ).sort(["mean_abs_shap", "feature"], descending=[True, False])
