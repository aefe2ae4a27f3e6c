"""Fairness audit of a registered model, and the reasons of one customer's adverse decision.

:func:`audit_model` audits a model's decisions at its operating threshold on its test cut-off
customers (outcomes known), with AUC and calibration per group; :func:`adverse_reasons` gives one
customer's decision at that threshold with its principal reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import ibis
import numpy as np
import polars as pl

from analytics.common.docs import shared_docs
from analytics.fairness import metrics as fairness
from analytics.fairness.audits import (
    FairnessAudit,
    attribute_sets,
    audit_from_counts,
    figures_hash,
    overall_verdict,
)
from analytics.models import registry as model_registry
from analytics.models.customer_explanations import reason_text
from analytics.models.quality_views import operating_threshold as models_page_threshold

OPERATING_SHARE = 0.1
"""A model's default operating threshold flags this share of its test customers (one campaign's reach)."""

MSG_NO_SCORES = "Model {model_id} has no stored test scores: train it again with `python -m analytics train`."


# -- a registered model ------------------------------------------------------------------------
def operating_threshold(scores: np.ndarray | pl.Series, *, share: float = OPERATING_SHARE) -> float:
    """The default operating threshold: the score that flags the top ``share`` of the test customers.

    The same rule as the Models page's default (``analytics.models.quality_views.operating_threshold``
    on the stored test scores), so a reviewer audits the decision the analyst sees.

    Parameters
    ----------
    scores : array-like
        The model's calibrated test scores.
    share : float
        Share of customers flagged.

    Returns
    -------
    float
        The ``1 - share`` quantile, to three decimals.
    """
    return models_page_threshold(np.asarray(scores, dtype=np.float64), share=share)


@shared_docs
def default_threshold(backend: ibis.BaseBackend, model_id: str) -> float:
    """A registered model's default operating threshold: :func:`operating_threshold` of its test scores.

    Parameters
    ----------
    {backend}
    model_id : str
        A registered model.

    Returns
    -------
    float
        The score that flags the top 10% of the test customers.

    Raises
    ------
    ValueError
        For a model without stored test scores (:data:`MSG_NO_SCORES`).
    """
    scores = backend.table("model_test_scores")
    mine = scores.filter(scores.model_id == ibis.literal(model_id, type="string")).select("score").to_polars()
    if mine.height == 0:
        raise ValueError(MSG_NO_SCORES.format(model_id=model_id))
    return operating_threshold(mine.get_column("score"))


@shared_docs
def audit_model(
    backend: ibis.BaseBackend,
    model_id: str,
    *,
    threshold: float | None = None,
    groups: Sequence[str] = fairness.PROTECTED_ATTRIBUTES,
) -> FairnessAudit:
    """A registered model's decisions at its operating threshold, by protected group.

    The customers are the model's test cut-off (``model_test_scores``: outcomes known, never
    seen in training); gender and the age band on the test cut-off come from ``customers`` (the
    models take age as an input, not gender).

    Parameters
    ----------
    {backend}
    model_id : str
        A registered model.
    threshold : float, optional
        Operating threshold; :func:`default_threshold` (the top 10% of the test customers, the
        Models page's default) when omitted.
    groups : sequence of str
        Protected attributes; with several, their intersection is audited too.

    Returns
    -------
    FairnessAudit
        kind "model".
    """
    record = model_registry.get_model(backend, model_id)
    as_of = date.fromisoformat(record.parameters["cutoffs"]["test"])
    if threshold is None:
        threshold = default_threshold(backend, model_id)
    rows = fairness.model_rows(backend, model_id, threshold=threshold, as_of=as_of)
    if rows.height == 0:
        raise ValueError(MSG_NO_SCORES.format(model_id=model_id))
    counts, quality = {}, {}
    for attrs in attribute_sets(groups):
        counts[attrs] = fairness.model_group_counts(
            backend, model_id, threshold=threshold, as_of=as_of, groups=attrs
        )
        quality[attrs] = fairness.score_quality(rows, y_true="y_true", score="score", groups=attrs)
    attributes = audit_from_counts(counts, quality_by_set=quality)
    target = record.target.replace("_", " ")
    noun = "likely to churn" if record.target == "churn" else f"likely to take up a {target}"
    return FairnessAudit(
        kind="model",
        subject_id=model_id,
        title=f"{target.capitalize()} model v{record.version}",
        decision=f"flagged as {noun} (calibrated score at or above {threshold:.3f})",
        has_outcome=True,
        threshold=threshold,
        as_of=as_of,
        n=rows.height,
        attributes=attributes,
        verdict=overall_verdict([a.verdict for a in attributes]),
        data_hash=figures_hash(
            model_id, record.training_snapshot_hash, threshold, *counts.values(), *quality.values()
        ),
        model_version=record.version,
        notes=(
            f"Customers: the {rows.height:,} customers of the test cut-off {as_of}, whose outcome over the "
            f"next {record.horizon_days} days is known and who were not used in training.",
        ),
    )


# -- individual decisions -----------------------------------------------------------------------------
def adverse_reasons(explanation, *, threshold: float, n: int = 3) -> tuple[bool, tuple[str, ...]]:
    """Whether a customer's decision was adverse (not selected), and its principal reasons.

    Being selected by a model means receiving something (an offer, retention contact), so the
    adverse outcome is a score below the threshold. Its reasons are the contributions that
    lowered the score most (as an adverse-action notice lists the principal reasons against the
    applicant), in the plain words of :func:`analytics.models.customer_explanations.reason_text`; a favourable
    decision gets the contributions that raised it.

    Parameters
    ----------
    explanation : analytics.models.customer_explanations.CustomerExplanation
        :func:`analytics.models.customer_explanations.explain_customer` for the customer.
    threshold : float
        The operating threshold.
    n : int
        Number of reasons.

    Returns
    -------
    tuple
        (adverse, reasons).
    """
    adverse = explanation.score < threshold
    contributions = explanation.contributions.filter(
        pl.col("points") < 0 if adverse else pl.col("points") > 0
    ).sort("points", descending=not adverse)
    reasons = tuple(
        reason_text(explanation.target, r["feature"], r["value"], r["typical"], r["points"])
        for r in contributions.head(n).iter_rows(named=True)
    )
    return adverse, reasons
