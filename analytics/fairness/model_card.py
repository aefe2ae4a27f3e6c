"""Model cards: a registered model's intended use, data, metrics, fairness results and limitations.

:func:`model_card` reads the registry row of a model and, when given, the fairness audit of
that model (:class:`~analytics.fairness.audits.FairnessAudit`): its cut-offs, test metrics
against the logistic baseline, fairness results and limitations, some fixed and some computed
(the baseline ranks as well, features whose population has shifted, protected attributes among
the inputs, groups too small to judge). The signed report prints it
(:mod:`analytics.fairness.report`); the Fairness page and ``python -m analytics fairness`` show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, get_args

import ibis
import polars as pl

from analytics.common.docs import shared_docs
from analytics.fairness import metrics as fairness
from analytics.fairness.audits import AttributeAudit, FairnessAudit, Verdict
from analytics.models import registry as model_registry
from analytics.models.quality import PSI_SHIFTED

_NOT_FOR = (
    "It is not for credit decisions, pricing or any decision with legal or similarly significant "
    "effect on a customer."
)
INTENDED_USE: dict[str, str] = {
    "churn": (
        "Rank current customers by their risk of closing all their accounts in the next 90 days, "
        "to prioritise retention contact (a call, an offer). " + _NOT_FOR
    ),
    "credit_card": (
        "Take-up propensity: rank current customers who do not hold a credit card by how likely "
        "they are to open one in the next 90 days, to choose whom to offer it. " + _NOT_FOR
    ),
    "savings": (
        "Take-up propensity: rank current customers who do not hold a savings account by how likely "
        "they are to open one in the next 90 days, to choose whom to offer it. " + _NOT_FOR
    ),
    "investment_fund": (
        "Take-up propensity: rank current customers who do not hold an investment fund by how likely "
        "they are to buy one in the next 90 days, to choose whom to offer it. " + _NOT_FOR
    ),
}
"""What each target's model is for, in the words printed on its card."""

OUT_OF_SCOPE: tuple[str, ...] = (
    "Credit decisions: approval, limits, terms or pricing of any credit product.",
    "Pricing, fees or interest rates of any product.",
    "Any automated decision with legal or similarly significant effect on a person (GDPR art. 22).",
    "Employment, insurance underwriting, fraud or anti-money-laundering decisions.",
    "Judging one customer: a score is a rate among similar customers, not a fact about a person.",
)
"""Uses every model card rules out."""

TARGET_OUT_OF_SCOPE: dict[str, tuple[str, ...]] = {
    "churn": ("Predicting the closure of a single product or account: the outcome is closing all of them.",),
    "credit_card": ("Scoring customers who already hold a credit card: the model never saw them.",),
    "savings": ("Scoring customers who already hold a savings account: the model never saw them.",),
    "investment_fund": ("Scoring customers who already hold an investment fund: the model never saw them.",),
}
"""Uses ruled out for one target only."""

FIXED_LIMITATIONS: tuple[str, ...] = (
    "Trained and tested on the bank's own history: the figures hold for customers like those at the "
    "cut-offs, and may not after a change of products, prices, channels or economy.",
    "Associations, not causes: the reasons (SHAP values) say what moved a score, not why a customer "
    "acts nor what a contact would change.",
    "Fairness is audited for gender and age band only: other protected characteristics are not in "
    "the data and cannot be checked.",
)
"""Limitations printed on every card."""

PROTECTED_FEATURES: dict[str, str] = {
    "age": "age",
    "age_band": "age",
    "birth_date": "age",
    "gender": "gender",
}
"""Model inputs that are protected attributes themselves (feature -> attribute)."""

METRIC_LABELS: dict[str, str] = {
    "auc": "ROC AUC",
    "average_precision": "Average precision",
    "brier": "Brier score (calibrated)",
    "auc_uncalibrated": "ROC AUC before calibration",
    "brier_uncalibrated": "Brier score before calibration",
    "prevalence": "Outcome rate",
    "rows": "Test customers",
    "positives": "Test customers with the outcome",
}
"""Labels of the test metrics stored in the registry (other keys are shown by their name)."""

Split = Literal["train", "validation", "test"]
SPLITS: tuple[str, ...] = get_args(Split)

MSG_NO_INTENDED_USE = (
    "Model {model_id} has target {target!r}, for which no intended use is written: add it to "
    "analytics.fairness.model_card.INTENDED_USE before issuing a card."
)
MSG_AUDIT_OF_ANOTHER_SUBJECT = (
    "The audit is of {kind} {subject!r}, not of model {model_id!r}: a model card takes the audit of "
    "its own model."
)
MSG_MISSING_PARAMETER = "Model {model_id} has no {key!r} in its registry parameters: train it again."


@dataclass(frozen=True)
class SplitSize:
    """Rows of one split of a model's time split.

    Parameters
    ----------
    split : {"train", "validation", "test"}
        The split.
    rows : int
        Customers (rows) in it.
    positives : int or None
        Those with the outcome, when stored.
    """

    split: Split
    rows: int
    positives: int | None


@dataclass(frozen=True)
class CardMetric:
    """One test metric of the model and, when stored, of the logistic baseline.

    Parameters
    ----------
    name : str
        Key in the registry's ``metrics`` JSON, e.g. "auc".
    label : str
        Words for the report (:data:`METRIC_LABELS`).
    model, baseline : float or None
        The values on the test cut-off.
    """

    name: str
    label: str
    model: float | None
    baseline: float | None


@dataclass(frozen=True)
class AttributeFairness:
    """The fairness result of one protected attribute, as a model card reports it.

    Parameters
    ----------
    attribute : str
        e.g. "gender" or "gender · age_band".
    verdict : {"pass", "fail", "undecided"}
        The audit's four-fifths reading.
    reason : str
        Its one-sentence reason.
    demographic_parity_ratio : float or None
        Smallest over largest selection rate.
    demographic_parity_low, demographic_parity_high : float or None
        Its 95% interval.
    demographic_parity_method : str
        How that interval was made ("katz-log", "").
    equalized_odds_difference : float or None
        Worse of the true and false positive rate gaps.
    equalized_odds_low, equalized_odds_high : float or None
        Its 95% interval.
    equalized_odds_method : str
        How that interval was made ("newcombe", "").
    small_groups : tuple of str
        Groups under :data:`analytics.fairness.metrics.MIN_GROUP_SIZE` customers, as "name (n=12)".
    """

    attribute: str
    verdict: Verdict
    reason: str
    demographic_parity_ratio: float | None
    demographic_parity_low: float | None
    demographic_parity_high: float | None
    demographic_parity_method: str
    equalized_odds_difference: float | None
    equalized_odds_low: float | None
    equalized_odds_high: float | None
    equalized_odds_method: str
    small_groups: tuple[str, ...]


@dataclass(frozen=True)
class CardFairness:
    """The audit a model card summarises.

    Parameters
    ----------
    title : str
        The audit's title.
    decision : str
        The decision audited, in words.
    threshold : float or None
        Its operating threshold.
    as_of : datetime.date or None
        Date of the audited decisions.
    n : int
        Customers audited.
    data_hash : str
        The audit's data snapshot hash.
    verdict : {"pass", "fail", "undecided"}
        Overall verdict.
    attributes : tuple of AttributeFairness
        One per attribute audited.
    rule : VerdictRule
        The rule the verdicts read.
    """

    title: str
    decision: str
    threshold: float | None
    as_of: date | None
    n: int
    data_hash: str
    verdict: Verdict
    attributes: tuple[AttributeFairness, ...]
    rule: fairness.VerdictRule = fairness.FOUR_FIFTHS_RULE


@dataclass(frozen=True)
class ModelCard:
    """What a registered model is, is for and is not for, how good and how fair it is, and who owns it.

    Parameters
    ----------
    model_id : str
        Registry id.
    target : str
        The outcome modelled.
    version : int
        Version of the target's model.
    intended_use : str
        :data:`INTENDED_USE` of the target.
    out_of_scope : tuple of str
        :data:`OUT_OF_SCOPE` and the target's own (:data:`TARGET_OUT_OF_SCOPE`).
    data_as_of : datetime.date
        Snapshot date of the data it was trained on.
    train_cutoffs : tuple of datetime.date
        Cut-offs whose rows it was fitted on.
    validation_cutoff, test_cutoff : datetime.date
        Cut-off of the calibration rows and of the test rows.
    horizon_days : int
        Days after a cut-off in which the outcome is looked for.
    split_sizes : tuple of SplitSize
        Rows and positives per split (empty when not stored).
    training_snapshot_hash : str
        SHA-256 of the stacked training, validation and test rows.
    features : tuple of str
        The model's inputs.
    calibration : str
        Calibration method ("sigmoid": Platt scaling), or "" when not stored.
    metrics : tuple of CardMetric
        Every numeric test metric stored, model against baseline.
    fairness : CardFairness or None
        The fairness audit of the model, when one was given.
    limitations : tuple of str
        Fixed ones, then the computed ones.
    owner : str
        Accountable owner (``trained_by`` unless given).
    trained_at : datetime.datetime
        When it was registered (UTC).
    trained_by : str
        Who or which job trained it.
    artifact_sha256 : str
        SHA-256 of the stored model file.
    """

    model_id: str
    target: str
    version: int
    intended_use: str
    out_of_scope: tuple[str, ...]
    data_as_of: date
    train_cutoffs: tuple[date, ...]
    validation_cutoff: date
    test_cutoff: date
    horizon_days: int
    split_sizes: tuple[SplitSize, ...]
    training_snapshot_hash: str
    features: tuple[str, ...]
    calibration: str
    metrics: tuple[CardMetric, ...]
    fairness: CardFairness | None
    limitations: tuple[str, ...]
    owner: str
    trained_at: datetime
    trained_by: str
    artifact_sha256: str

    def metric(self, name: str) -> CardMetric | None:
        """The metric called ``name`` (e.g. "auc"), or None when it is not stored."""
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def test_auc(self) -> float | None:
        """The model's ROC AUC on the test cut-off."""
        found = self.metric("auc")
        return None if found is None else found.model


def _small_groups(attribute: AttributeAudit) -> tuple[str, ...]:
    small = attribute.metrics.filter(pl.col("small")).select("group", "n")
    return tuple(f"{g} (n={n})" for g, n in small.iter_rows())


def _card_fairness(audit: FairnessAudit) -> CardFairness:
    rows = []
    for a in audit.attributes:
        dp, eo = a.disparity("demographic_parity_ratio"), a.disparity("equalized_odds_difference")
        rows.append(
            AttributeFairness(
                attribute=a.attribute,
                verdict=a.verdict,
                reason=a.reason,
                demographic_parity_ratio=dp.value,
                demographic_parity_low=dp.low,
                demographic_parity_high=dp.high,
                demographic_parity_method=dp.method,
                equalized_odds_difference=eo.value,
                equalized_odds_low=eo.low,
                equalized_odds_high=eo.high,
                equalized_odds_method=eo.method,
                small_groups=_small_groups(a),
            )
        )
    return CardFairness(
        title=audit.title,
        decision=audit.decision,
        threshold=audit.threshold,
        as_of=audit.as_of,
        n=audit.n,
        data_hash=audit.data_hash,
        verdict=audit.verdict,
        attributes=tuple(rows),
        rule=audit.rule,
    )


def _number(value: object) -> float | None:
    # bool is an int to Python, but a flag is not a metric.
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _card_metrics(metrics: dict) -> tuple[CardMetric, ...]:
    model, baseline = metrics.get("model", {}) or {}, metrics.get("baseline", {}) or {}
    names = [k for k in model if _number(model[k]) is not None]
    names += [k for k in baseline if k not in names and _number(baseline[k]) is not None]
    return tuple(
        CardMetric(
            name=k,
            label=METRIC_LABELS.get(k, k.replace("_", " ")),
            model=_number(model.get(k)),
            baseline=_number(baseline.get(k)),
        )
        for k in names
    )


def _split_sizes(metrics: dict) -> tuple[SplitSize, ...]:
    sizes = metrics.get("split_sizes", {}) or {}
    out = []
    for split in SPLITS:
        rows = sizes.get(f"{split}_rows")
        if rows is not None:
            positives = sizes.get(f"{split}_positives")
            out.append(SplitSize(split, int(rows), None if positives is None else int(positives)))
    return tuple(out)


def _computed_limitations(
    record: model_registry.RegisteredModel, metrics: tuple[CardMetric, ...], audit: FairnessAudit | None
) -> list[str]:
    out = []
    by_name = {m.name: m for m in metrics}
    for name, words in (("auc", "ROC AUC"), ("average_precision", "average precision")):
        m = by_name.get(name)
        if m is not None and m.model is not None and m.baseline is not None and m.baseline >= m.model:
            out.append(
                f"The logistic baseline ranks at least as well as the model on the test cut-off ({words} "
                f"{m.baseline:.3f} against {m.model:.3f}): the simpler, more transparent baseline would "
                "serve as well."
            )
    shifted = record.psi.filter(pl.col("psi") >= PSI_SHIFTED)
    shifted = shifted.sort(["psi", "feature"], descending=[True, False])
    if shifted.height:
        listed = ", ".join(f"{f} (PSI {p:.2f})" for f, p in shifted.select("feature", "psi").iter_rows())
        out.append(
            f"The population has shifted since training on {shifted.height} feature(s) with PSI ≥ "
            f"{PSI_SHIFTED:g}: {listed}. Retraining is due; the test figures may no longer hold."
        )
    protected = [(f, PROTECTED_FEATURES[f]) for f in record.features if f in PROTECTED_FEATURES]
    for feature, attribute in protected:
        out.append(
            f"The model takes {feature!r} as an input, and {attribute} is a protected attribute: using it "
            f"needs a legal basis, and the {attribute} results of the fairness audit show its effect on "
            "the decisions."
        )
    if audit is None:
        out.append("No fairness audit is attached to this card: audit the model before any use.")
    else:
        for a in audit.attributes:
            small = _small_groups(a)
            if small:
                out.append(
                    f"Too small to judge in the fairness audit ({a.attribute}, under "
                    f"{fairness.MIN_GROUP_SIZE} customers): {', '.join(small)}."
                )
    return out


@shared_docs
def model_card(
    backend: ibis.BaseBackend,
    model_id: str,
    *,
    audit: FairnessAudit | None = None,
    owner: str | None = None,
) -> ModelCard:
    """The model card of a registered model, with its fairness results when an audit is given.

    Parameters
    ----------
    {backend}
    model_id : str
        A registered model.
    audit : FairnessAudit, optional
        :func:`analytics.fairness.audits.audit_model` of this model.
    owner : str, optional
        The accountable owner; the model's ``trained_by`` when omitted.

    Returns
    -------
    ModelCard
        Everything read from the model's registry row (one row: no scan).

    Raises
    ------
    ValueError
        An unknown model (:data:`analytics.models.registry.MSG_UNKNOWN_MODEL`), an audit of
        something else (:data:`MSG_AUDIT_OF_ANOTHER_SUBJECT`), a target without an intended
        use (:data:`MSG_NO_INTENDED_USE`) or registry parameters without cut-offs.
    """
    record = model_registry.get_model(backend, model_id)
    if record.target not in INTENDED_USE:
        raise ValueError(MSG_NO_INTENDED_USE.format(model_id=model_id, target=record.target))
    if audit is not None and (audit.kind != "model" or audit.subject_id != model_id):
        raise ValueError(
            MSG_AUDIT_OF_ANOTHER_SUBJECT.format(kind=audit.kind, subject=audit.subject_id, model_id=model_id)
        )
    cutoffs = record.parameters.get("cutoffs")
    if not isinstance(cutoffs, dict) or not {"train", "validation", "test"} <= cutoffs.keys():
        raise ValueError(MSG_MISSING_PARAMETER.format(model_id=model_id, key="cutoffs"))
    metrics = _card_metrics(record.metrics)
    return ModelCard(
        model_id=record.model_id,
        target=record.target,
        version=record.version,
        intended_use=INTENDED_USE[record.target],
        out_of_scope=OUT_OF_SCOPE + TARGET_OUT_OF_SCOPE.get(record.target, ()),
        data_as_of=record.data_as_of,
        train_cutoffs=tuple(date.fromisoformat(d) for d in cutoffs["train"]),
        validation_cutoff=date.fromisoformat(cutoffs["validation"]),
        test_cutoff=date.fromisoformat(cutoffs["test"]),
        horizon_days=int(record.parameters.get("horizon_days", record.horizon_days)),
        split_sizes=_split_sizes(record.metrics),
        training_snapshot_hash=record.training_snapshot_hash,
        features=record.features,
        calibration=str(record.parameters.get("calibration", "")),
        metrics=metrics,
        fairness=None if audit is None else _card_fairness(audit),
        limitations=FIXED_LIMITATIONS + tuple(_computed_limitations(record, metrics, audit)),
        owner=owner or record.trained_by,
        trained_at=record.trained_at,
        trained_by=record.trained_by,
        artifact_sha256=record.artifact_sha256,
    )
