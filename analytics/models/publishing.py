"""Scoring and explaining registered models in batch, and reading what scoring stored.

:func:`train_and_publish` and :func:`publish_model` are what ``python -m analytics train`` and
``score`` run: every current customer who consented to profiling scored (``model_predictions``)
and the SHAP sample stored (:func:`analytics.models.explanations.store_explanations`); the others
are neither trained on, scored nor explained (docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import polars as pl

from analytics.access.consent import profiling_consented
from analytics.common.docs import shared_docs
from analytics.models import registry as model_registry
from analytics.models import training_data
from analytics.models.explanations import SAMPLE_ROWS, ExplanationMeta, store_explanations
from analytics.store.contracts import CUSTOMER_FEATURES, MODEL_PREDICTIONS
from analytics.store.database import Database
from analytics.store.tables import optional_table


@dataclass(frozen=True)
class Publication:
    """What scoring and explaining a registered model wrote.

    Parameters
    ----------
    model : analytics.models.registry.RegisteredModel
        The model.
    scores : analytics.models.registry.ScoreSummary
        Its scores of every consenting current customer (``model_predictions``).
    explanations : list of ExplanationMeta
        Its stored SHAP samples (tree, baseline).
    """

    model: model_registry.RegisteredModel
    scores: model_registry.ScoreSummary
    explanations: list[ExplanationMeta]


def publish_model(
    db: Database,
    model_id: str,
    *,
    shap_rows: int = SAMPLE_ROWS,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> Publication:
    """Score every consenting current customer with a registered model and store its SHAP sample.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    model_id : str
        A registered model.
    shap_rows : int
        Size of the stored SHAP sample.
    features : polars.DataFrame, optional
        :func:`analytics.models.registry.current_features`, when the caller has them.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    Publication
        The model, its score summary and its explanation samples.
    """
    frame = features if features is not None else model_registry.current_features(db)
    scores = model_registry.score_customers(db, model_id, progress=progress, features=frame)
    metas = store_explanations(db, model_id, rows=shap_rows, features=frame, progress=progress)
    model = model_registry.get_model(db.backend(), model_id)
    return Publication(model=model, scores=scores, explanations=metas)


def train_and_publish(
    db: Database,
    *,
    target: training_data.Target,
    trained_by: str,
    shap_rows: int = SAMPLE_ROWS,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> Publication:
    """Train and register a model of ``target``, then score and explain the consenting current customers.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    target : Target
        What is predicted.
    trained_by : str
        Recorded with the model.
    shap_rows : int
        Size of the stored SHAP sample.
    features : polars.DataFrame, optional
        :func:`analytics.models.registry.current_features` (shared when several targets are trained).
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    Publication
        The registered model, its score summary and its explanation samples.
    """
    frame = features if features is not None else model_registry.current_features(db)
    model = model_registry.train_and_register(
        db, target=target, trained_by=trained_by, progress=progress, latest_features=frame
    )
    return publish_model(db, model.model_id, shap_rows=shap_rows, features=frame, progress=progress)


@shared_docs
def top_scored_customers(backend: ibis.BaseBackend, model_id: str, *, n: int = 20) -> pl.DataFrame:
    """The highest-scored current customers who consented to profiling, to pick one to explain.

    A profile list, not a marketing list: contacting them would also need marketing consent
    (:func:`analytics.access.consent.marketing_reachable`).

    Parameters
    ----------
    {backend}
    model_id : str
        A scored model.
    n : int
        Customers returned.

    Returns
    -------
    polars.DataFrame
        ``customer_id``, ``score``, highest first (ties by customer id); customers without
        profiling consent are left out.
    """
    table = optional_table(backend, MODEL_PREDICTIONS.name)
    if table is None:
        return pl.DataFrame(schema={"customer_id": pl.Int64, "score": pl.Float64})
    consented = profiling_consented(backend)
    scores = table.filter(table.model_id == model_id).select("customer_id", "score")
    return (
        scores.semi_join(consented, "customer_id")
        .order_by([ibis.desc("score"), "customer_id"])
        .limit(n)
        .to_polars()
    )


@shared_docs
def current_customer_ids(backend: ibis.BaseBackend) -> pl.Series:
    """Customer numbers of every current customer (the rows of ``customer_features``), ascending.

    Parameters
    ----------
    {backend}

    Returns
    -------
    polars.Series
        ``customer_id`` (Int64).
    """
    table = backend.table(CUSTOMER_FEATURES.name)
    return table.select("customer_id").order_by("customer_id").to_polars().get_column("customer_id")
