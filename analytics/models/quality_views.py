"""The quality view of a registered model: curves, calibration, lift and the baseline, from its test scores.

Everything is computed from the model's stored test scores (``model_test_scores``: the test
cut-off's customers with the outcome that followed) by :mod:`analytics.models.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import polars as pl

from analytics.common.docs import shared_docs
from analytics.models import quality as model_quality
from analytics.store.contracts import MODEL_TEST_SCORES
from analytics.store.tables import optional_table


@shared_docs
def load_test_scores(backend: ibis.BaseBackend, model_id: str) -> pl.DataFrame:
    """A model's scores on its test cut-off with the outcomes that followed.

    Parameters
    ----------
    {backend}
    model_id : str
        The model.

    Returns
    -------
    polars.DataFrame
        ``model_test_scores`` columns but ``model_id``; empty for a model registered before
        test scores were stored.
    """
    table = optional_table(backend, MODEL_TEST_SCORES.name)
    if table is None:
        return pl.DataFrame(schema=MODEL_TEST_SCORES.schema).drop("model_id")
    return table.filter(table.model_id == model_id).drop("model_id").order_by("customer_id").to_polars()


def operating_threshold(scores: np.ndarray | pl.Series, *, share: float = 0.1) -> float:
    """The score above which the top ``share`` of customers lies: the default threshold to act on.

    Parameters
    ----------
    scores : array-like
        Calibrated scores.
    share : float
        Share of customers flagged (a tenth: one campaign's reach).

    Returns
    -------
    float
        The ``1 - share`` quantile, rounded to three decimals (0.5 when there are no scores).
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return 0.5
    return round(float(np.quantile(values, 1.0 - share)), 3)


@dataclass(frozen=True)
class QualityViews:
    """Everything the quality view draws for one model, from its stored test scores.

    Parameters
    ----------
    scores : polars.DataFrame
        :func:`load_test_scores`.
    roc : dict of str to analytics.models.quality.RocCurve
        ``model`` and ``baseline``.
    pr : dict of str to analytics.models.quality.PrCurve
        ``model`` and ``baseline``.
    calibration : dict of str to polars.DataFrame
        ``calibrated``, ``uncalibrated`` and ``baseline`` curves (deciles of the score).
    lift : dict of str to polars.DataFrame
        Lift and gains by decile of ``model`` and ``baseline``.
    comparison : polars.DataFrame
        :func:`analytics.models.quality.compare_models`, model first, with changes against the baseline.
    default_threshold : float
        :func:`operating_threshold` of the calibrated scores.
    prevalence : float
        Share of the test customers with the outcome.
    """

    scores: pl.DataFrame
    roc: dict
    pr: dict
    calibration: dict
    lift: dict
    comparison: pl.DataFrame
    default_threshold: float
    prevalence: float


@shared_docs
def quality_views(backend: ibis.BaseBackend, model_id: str) -> QualityViews | None:
    """The quality view of a model: curves, calibration, lift and the baseline comparison.

    Parameters
    ----------
    {backend}
    model_id : str
        The model.

    Returns
    -------
    QualityViews or None
        None when the model has no stored test scores.
    """
    scores = load_test_scores(backend, model_id)
    if scores.height == 0:
        return None
    y = scores.get_column("label").to_numpy()
    tree, base = scores.get_column("score").to_numpy(), scores.get_column("baseline_score").to_numpy()
    raw = scores.get_column("score_uncalibrated").to_numpy()
    pair = {"model": tree, "baseline": base}
    return QualityViews(
        scores=scores,
        roc={name: model_quality.roc_curve_frame(y, s) for name, s in pair.items()},
        pr={name: model_quality.pr_curve_frame(y, s) for name, s in pair.items()},
        calibration={
            name: model_quality.calibration_frame(y, s)
            for name, s in (("calibrated", tree), ("uncalibrated", raw), ("baseline", base))
        },
        lift={name: model_quality.lift_gains_frame(y, s) for name, s in pair.items()},
        comparison=model_quality.compare_models(y, pair, baseline="baseline"),
        default_threshold=operating_threshold(tree),
        prevalence=float(scores.get_column("label").mean()),
    )
