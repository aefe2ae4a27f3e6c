"""Model cards and the signed fairness audit report as a self-contained HTML file and a PDF (issue 7, item 6).

A compliance reviewer signs off a fairness audit before a decision reaches customers; the
signed report is the evidence kept for auditors and regulators, so it stands alone: what was
audited and on which data (the audit's data hash), every group's figures with their intervals,
the verdict and why, how the figures were made, the model card when a model was audited, and
the sign-off.

- :func:`model_card`: a registered model's intended use, data, cut-offs, test metrics against
  the logistic baseline, fairness results (from a :class:`~analytics.fairness.audits.FairnessAudit`
  of the model) and limitations, some fixed and some computed (the baseline ranks as well,
  features whose population has shifted, protected attributes among the inputs, groups too
  small to judge).
- :func:`render_html`: one HTML file, inline CSS only (no script, no external reference of any
  kind, no web font), from a Jinja2 template with autoescaping on, since reviewer comments
  and uploaded group names are user text.
- :func:`render_pdf`: the same content with fpdf2's core fonts, deterministic (the creation
  date is the report's ``generated_at``; compression is off, so the text can be searched in
  the bytes). Core fonts are latin-1 only: the few other characters are mapped by
  :func:`pdf_text`.
- :func:`sha256_hex`: the checksum stored with a sign-off to name the exact file signed.

Both renderers read one intermediate layout (:func:`_layout`), so the HTML and the PDF cannot
say different things. Rates are shown in percent to one decimal, ratios, AUC and average
precision to three decimals, Brier scores to four; a rate that cannot be computed is shown as
"undefined" with its reason, never as 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, NamedTuple, get_args

import ibis
import jinja2
import polars as pl
from fpdf import FPDF
from fpdf.fonts import FontFace

from analytics.fairness import metrics as fairness
from analytics.fairness.audits import SIGN_OFF_DECISIONS, AttributeAudit, FairnessAudit, SignOff, Verdict
from analytics.fairness.metrics import Disparity
from analytics.models import registry as model_registry
from analytics.models.quality import PSI_SHIFTED

# -- model cards ------------------------------------------------------------------------------------
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
    "analytics.fairness.report.INTENDED_USE before issuing a card."
)
MSG_AUDIT_OF_ANOTHER_SUBJECT = (
    "The audit is of {kind} {subject!r}, not of model {model_id!r}: a model card takes the audit of "
    "its own model."
)
MSG_MISSING_PARAMETER = "Model {model_id} has no {key!r} in its registry parameters: train it again."
MSG_CARD_OF_ANOTHER_MODEL = (
    "The model card is of {card_model!r} but the audit is of model {audit_model!r}: a report takes the "
    "card of the audited model."
)


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
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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


# -- the report's content, shared by the HTML and the PDF ------------------------------------------
KIND_LABELS: dict[str, str] = {
    "model": "Model",
    "offers": "Campaign exposure",
    "credit_decision": "Credit decision (campaign)",
    "targeting": "Targeting list",
    "upload": "Uploaded table",
}

VERDICT_WORDS: dict[str, str] = {"pass": "PASS", "fail": "FAIL", "undecided": "UNDECIDED"}
VERDICT_MEANING: dict[str, str] = {
    "pass": "Every attribute is clearly within the four-fifths band.",
    "fail": "At least one attribute is clearly outside the four-fifths band.",
    "undecided": (
        "No attribute fails clearly, but at least one cannot be judged yet (a small group, or an "
        "interval across 0.8)."
    ),
}
VERDICT_COLOURS: dict[str, tuple[int, int, int]] = {
    "pass": (26, 127, 55),
    "fail": (180, 35, 24),
    "undecided": (154, 103, 0),
}
"""Print-safe colours of the verdicts; the word is always printed too (never colour alone)."""

DISPARITY_LABELS: dict[str, str] = {
    "demographic_parity_difference": "Demographic parity difference (selection rate, highest minus lowest)",
    "demographic_parity_ratio": "Demographic parity ratio (selection rate, lowest over highest)",
    "equalized_odds_difference": "Equalized odds difference (worse of the TPR and FPR gaps)",
    "equalized_odds_ratio": "Equalized odds ratio (worse of the TPR and FPR ratios)",
    "four_fifths_rule": "Four-fifths rule (selection-rate ratio within 0.8-1.25)",
}
INTERVAL_METHODS: dict[str, str] = {
    "newcombe": "Newcombe hybrid score",
    "katz-log": "Katz log",
    "": "none",
}

METHOD_PARAGRAPHS: tuple[tuple[str, str], ...] = (
    (
        "Counts to metrics",
        "For each group the decision's true and false positives and negatives are counted; every rate "
        "is arithmetic on those four counts: selection rate = (TP + FP) / n, true positive rate (TPR) = "
        "TP / (TP + FN), false positive rate (FPR) = FP / (FP + TN), precision = TP / (TP + FP). A rate "
        "whose denominator is zero is undefined and is shown as such with its reason, never as 0. AUC is "
        "computed on each group's scores; the calibration gap is the mean score minus the observed rate.",
    ),
    (
        "Intervals (95%)",
        "Each group's rate: Wilson score interval. A disparity is the highest minus the lowest rate (or "
        "lowest over highest) and its interval is that of the pair of groups that defines it: Newcombe's "
        "hybrid score interval for a difference, Katz's log interval for a ratio (statsmodels).",
    ),
    (
        "Disparities",
        "Demographic parity compares selection rates; equalized odds takes the worse of the TPR and FPR "
        "gaps (fairlearn's definitions). A group without a defined rate takes no part in that rate's "
        "comparison.",
    ),
    (
        f"The {fairness.MIN_GROUP_SIZE}-customer rule",
        f"A group with fewer than {fairness.MIN_GROUP_SIZE} customers is reported but neither passed nor "
        "failed: when it defines a comparison, the verdict is undecided.",
    ),
    (
        "Verdict: the four-fifths rule",
        f"Every group of at least {fairness.MIN_GROUP_SIZE} customers is compared with the most favoured "
        "such group by the ratio of their selection rates and its Katz log interval. An attribute fails "
        f"when some group's whole interval lies below {fairness.FOUR_FIFTHS[0]}, passes when every "
        f"group's interval lies at or above {fairness.FOUR_FIFTHS[0]}, and is undecided otherwise. "
        "The audit fails when any attribute fails "
        "and passes when all pass. The credit decision is also compared within credit bands, where a "
        "failure fails the decision: creditworthiness cannot explain it.",
    ),
    (
        "Data snapshot hash",
        "SHA-256 of the subject, the threshold, every group's counts and, for scores, every group's AUC "
        "and calibration: the same hash means the same figures.",
    ),
)
"""The report's "Method" section: (heading, paragraph)."""

NOT_SIGNED = "Not signed"
NOT_SIGNED_TEXT = "No reviewer has signed off this audit: the report is not evidence of approval."


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is read as UTC, the codebase's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value * 100:.{digits}f}%"


def _pct_interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low * 100:.1f}%, {high * 100:.1f}%]"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _ratio_interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def _pp(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f} pp"


def _pp_interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low * 100:.1f}, {high * 100:.1f}] pp"


class _Cell(NamedTuple):
    """One table cell: the text, a second line (interval or reason), a style, an optional bar."""

    text: str
    note: str = ""
    style: str = ""  # "", "undefined", "small", "pass", "fail" or "undecided"
    bar: tuple[float, float, float] | None = None  # value, low, high as shares of the bar's width


@dataclass(frozen=True)
class _Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[_Cell, ...], ...]
    widths: tuple[float, ...]  # relative column widths in the PDF


@dataclass(frozen=True)
class _AttributeBlock:
    name: str
    verdict: str
    reason: str
    rule: str
    groups: _Table
    disparities: _Table


@dataclass(frozen=True)
class _CardBlock:
    heading: str
    facts: tuple[tuple[str, str], ...]
    intended_use: str
    out_of_scope: tuple[str, ...]
    splits: _Table | None
    metrics: _Table | None
    fairness: _Table | None
    fairness_text: str
    features: str
    limitations: tuple[str, ...]


@dataclass(frozen=True)
class _Layout:
    title: str
    facts: tuple[tuple[str, str], ...]
    mono_facts: frozenset[str]
    verdict: str
    verdict_meaning: str
    rule: str
    reasons: tuple[str, ...]
    attributes: tuple[_AttributeBlock, ...]
    strata: _Table | None
    notes: tuple[str, ...]
    card: _CardBlock | None
    method: tuple[tuple[str, str], ...]
    signoff: tuple[tuple[str, str], ...] | None
    comment: str
    footer: str


_RATE_COLUMNS = (
    ("selection_rate", "Selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("precision", "Precision"),
)


def _undefined_reasons(text: str) -> dict[str, str]:
    """``group_metrics``' "undefined" text ("true positive rate undefined: why; ...") per column."""
    out = {}
    for part in filter(None, (text or "").split("; ")):
        name, _, why = part.partition(" undefined: ")
        out[name.strip().replace(" ", "_")] = why.strip()
    return out


def _groups_table(attribute: AttributeAudit, *, has_outcome: bool) -> _Table:
    metrics = attribute.metrics
    rates = _RATE_COLUMNS if has_outcome else _RATE_COLUMNS[:1]
    with_auc = "auc" in metrics.columns
    with_gap = "calibration_gap" in metrics.columns
    highs = [h for h in metrics.get_column("selection_rate_high").to_list() if h is not None]
    scale = max(highs) if highs and max(highs) > 0 else 1.0
    rows = []
    for r in metrics.iter_rows(named=True):
        reasons = _undefined_reasons(r.get("undefined", ""))
        cells = [_Cell(str(r["group"])), _Cell(f"{r['n']:,}")]
        for column, _ in rates:
            value = r[column]
            if value is None:
                cells.append(_Cell("undefined", reasons.get(column, "not computable"), "undefined"))
                continue
            low, high = r[f"{column}_low"], r[f"{column}_high"]
            bar = None
            if column == "selection_rate" and low is not None and high is not None:
                bar = (value / scale, low / scale, high / scale)
            cells.append(_Cell(_pct(value), _pct_interval(low, high), bar=bar))
        if with_auc:
            auc = r.get("auc")
            cells.append(
                _Cell(_ratio(auc))
                if auc is not None
                else _Cell("undefined", "one outcome class only", "undefined")
            )
        if with_gap:
            gap = r.get("calibration_gap")
            cells.append(
                _Cell(f"{gap * 100:+.2f} pp")
                if gap is not None
                else _Cell("undefined", "no scores", "undefined")
            )
        small = r["small"]
        cells.append(
            _Cell("too small", f"under {fairness.MIN_GROUP_SIZE} customers: not judged", "small")
            if small
            else _Cell("")
        )
        rows.append(tuple(cells))
    headers = ["Group", "n", *(label + " [95% CI]" for _, label in rates)]
    widths = [2.6, 1.0, *([1.9] * len(rates))]
    if with_auc:
        headers.append("AUC")
        widths.append(1.5)
    if with_gap:
        headers.append("Calibration gap")
        widths.append(1.3)
    headers.append("Judged")
    widths.append(1.6)
    return _Table(
        caption=f"Groups of {attribute.attribute}",
        headers=tuple(headers),
        rows=tuple(rows),
        widths=tuple(widths),
    )


def _disparity_value(d: Disparity, *, has_outcome: bool) -> tuple[_Cell, _Cell]:
    is_ratio = d.name.endswith("ratio") or d.name == "four_fifths_rule"
    if d.value is None:
        if d.name.startswith("equalized_odds") and not has_outcome:
            return _Cell("does not apply", "the decision has no outcome", "undefined"), _Cell("")
        if d.name.startswith("equalized_odds"):
            why = "true and false positive rates are undefined, or zero in every group"
        else:
            why = "nobody was selected in any group"
        return _Cell("undefined", why, "undefined"), _Cell("")
    value = _ratio(d.value) if is_ratio else _pp(d.value)
    interval = _ratio_interval(d.low, d.high) if is_ratio else _pp_interval(d.low, d.high)
    if not interval:
        return _Cell(value), _Cell("not computable", "a rate of 0 or an empty group in the pair", "undefined")
    return _Cell(value), _Cell(interval)


def _disparities_table(attribute: AttributeAudit, *, has_outcome: bool) -> _Table:
    rows = []
    for d in attribute.disparities:
        value, interval = _disparity_value(d, has_outcome=has_outcome)
        compared = f"{d.groups[0]} vs {d.groups[1]}" if len(d.groups) == 2 else ""
        if d.name == "four_fifths_rule":
            word = {True: "pass", False: "fail", None: "undecided"}[d.passed]
            verdict = _Cell(VERDICT_WORDS[word], style=word)
        else:
            verdict = _Cell("")
        method = INTERVAL_METHODS.get(d.method, d.method) if d.value is not None else ""
        label = _Cell(DISPARITY_LABELS.get(d.name, d.name))
        rows.append((label, value, interval, _Cell(method), _Cell(compared), verdict))
    return _Table(
        caption=f"Disparities of {attribute.attribute}",
        headers=("Disparity", "Value", "95% interval", "Interval method", "Groups (highest vs lowest rate)",
                 "Four-fifths verdict"),
        rows=tuple(rows),
        widths=(3.2, 1.1, 1.7, 1.7, 2.6, 1.3),
    )  # fmt: skip


def _strata_table(strata: pl.DataFrame) -> _Table:
    rows = []
    for r in strata.iter_rows(named=True):
        verdict = r.get("verdict") or ""
        rows.append(
            (
                _Cell(str(r.get("attribute", ""))),
                _Cell(str(r["stratum"])),
                _Cell(f"{r['group']} (reference)" if r["group"] == r["reference"] else str(r["group"])),
                _Cell(f"{r['n']:,}"),
                _Cell(f"{r['selected']:,}"),
                _Cell(_pct(r["selection_rate"])),
                _Cell(_ratio(r["ratio"])) if r["ratio"] is not None else _Cell("undefined", "", "undefined"),
                _Cell(_ratio_interval(r["low"], r["high"])),
                _Cell(VERDICT_WORDS.get(verdict, verdict), style=verdict),
            )
        )
    return _Table(
        caption=(
            "Within credit bands (a legitimate factor held fixed); verdicts by the "
            f"{fairness.FOUR_FIFTHS_RULE.describe()}"
        ),
        headers=("Attribute", "Credit band", "Group", "n", "Selected", "Selection rate",
                 "Ratio to reference", "95% interval", "Verdict"),
        rows=tuple(rows),
        widths=(1.4, 1.2, 1.8, 1.0, 1.0, 1.2, 1.2, 1.6, 1.3),
    )  # fmt: skip


def _metric_text(name: str, value: float | None) -> str:
    if value is None:
        return "not stored"
    if name in ("rows", "positives"):
        return f"{value:,.0f}"
    if name == "prevalence":
        return _pct(value, 2)
    if name.startswith("brier"):
        return f"{value:.4f}"
    return f"{value:.3f}"


def _card_block(card: ModelCard) -> _CardBlock:
    facts = (
        ("Model", f"{card.model_id} (target {card.target}, version {card.version})"),
        ("Owner", card.owner),
        ("Trained at", _when(card.trained_at)),
        ("Trained by", card.trained_by),
        ("Data as of", card.data_as_of.isoformat()),
        ("Training cut-offs", ", ".join(d.isoformat() for d in card.train_cutoffs)),
        ("Validation cut-off (calibration)", card.validation_cutoff.isoformat()),
        ("Test cut-off", card.test_cutoff.isoformat()),
        ("Outcome horizon", f"{card.horizon_days} days after a cut-off"),
        ("Calibration", card.calibration or "not stored"),
        ("Training snapshot hash", card.training_snapshot_hash),
        ("Model file SHA-256", card.artifact_sha256),
    )
    splits = None
    if card.split_sizes:
        splits = _Table(
            caption="Customers per split",
            headers=("Split", "Customers", "With the outcome", "Outcome rate"),
            rows=tuple(
                (
                    _Cell(s.split),
                    _Cell(f"{s.rows:,}"),
                    _Cell("not stored" if s.positives is None else f"{s.positives:,}"),
                    _Cell("" if s.positives is None or not s.rows else _pct(s.positives / s.rows, 2)),
                )
                for s in card.split_sizes
            ),
            widths=(1.5, 1.5, 1.5, 1.5),
        )
    metrics = None
    if card.metrics:
        metrics = _Table(
            caption=f"Test metrics on the {card.test_cutoff.isoformat()} cut-off",
            headers=("Metric", "Model", "Logistic baseline"),
            rows=tuple(
                (
                    _Cell(m.label),
                    _Cell(_metric_text(m.name, m.model)),
                    _Cell(_metric_text(m.name, m.baseline) if m.baseline is not None else "not stored"),
                )
                for m in card.metrics
            ),
            widths=(3.0, 1.5, 1.5),
        )
    fairness_table, fairness_text = None, "No fairness audit is attached to this card."
    if card.fairness is not None:
        f = card.fairness
        fairness_text = (
            f"{f.title}: {f.decision}; {f.n:,} customers"
            + (f" on {f.as_of.isoformat()}" if f.as_of else "")
            + f". Overall verdict: {VERDICT_WORDS[f.verdict]} ({f.rule.describe()}). Data hash {f.data_hash}."
        )
        fairness_table = _Table(
            caption="Fairness by attribute",
            headers=("Attribute", "Verdict", "Demographic parity ratio [95% CI]",
                     "Equalized odds difference [95% CI]", "Too small to judge"),
            rows=tuple(
                (
                    _Cell(a.attribute),
                    _Cell(VERDICT_WORDS[a.verdict], style=a.verdict),
                    _Cell(_ratio(a.demographic_parity_ratio) or "undefined",
                          _ratio_interval(a.demographic_parity_low, a.demographic_parity_high)),
                    _Cell(_pp(a.equalized_odds_difference) or "undefined",
                          _pp_interval(a.equalized_odds_low, a.equalized_odds_high)),
                    _Cell(", ".join(a.small_groups) or "none"),
                )
                for a in f.attributes
            ),
            widths=(1.8, 1.2, 1.9, 1.9, 2.2),
        )  # fmt: skip
    return _CardBlock(
        heading=f"Model card: {card.model_id}",
        facts=facts,
        intended_use=card.intended_use,
        out_of_scope=card.out_of_scope,
        splits=splits,
        metrics=metrics,
        fairness=fairness_table,
        fairness_text=fairness_text,
        features=f"{len(card.features)} inputs: " + ", ".join(card.features),
        limitations=card.limitations,
    )


def _layout(
    audit: FairnessAudit, *, card: ModelCard | None, signoff: SignOff | None, generated_at: datetime
) -> _Layout:
    if card is not None and audit.kind == "model" and card.model_id != audit.subject_id:
        raise ValueError(
            MSG_CARD_OF_ANOTHER_MODEL.format(card_model=card.model_id, audit_model=audit.subject_id)
        )
    facts = [
        ("Subject", f"{KIND_LABELS.get(audit.kind, audit.kind)}: {audit.subject_id}"),
        ("Decision audited", audit.decision),
    ]
    if audit.threshold is not None:
        facts.append(("Operating threshold", f"{audit.threshold:g}"))
    facts += [
        ("Report generated", _when(generated_at)),
        ("Data date (as of)", audit.as_of.isoformat() if audit.as_of else "not stated (uploaded table)"),
        ("Model version", str(audit.model_version) if audit.model_version is not None else "not a model"),
        ("Data snapshot hash (SHA-256)", audit.data_hash),
        ("Customers audited (n)", f"{audit.n:,}"),
        ("Outcomes known", "yes" if audit.has_outcome else "no: selection rates only"),
    ]
    reasons = [f"{a.attribute}: {VERDICT_WORDS[a.verdict]}. {a.reason}" for a in audit.attributes]
    if audit.strata is not None and audit.strata.height:
        failed = audit.strata.filter(pl.col("verdict") == "fail")
        for r in failed.iter_rows(named=True):
            reasons.append(
                f"Within credit band {r['stratum']}, {r.get('attribute', 'the attribute')}: FAIL. The "
                f"selection rate of {r['group']} is {_ratio(r['ratio'])} times that of {r['reference']}: "
                "a gap creditworthiness does not explain."
            )
    attributes = tuple(
        _AttributeBlock(
            name=a.attribute,
            verdict=a.verdict,
            reason=a.reason,
            rule=f"Rule: {a.rule.describe()}.",
            groups=_groups_table(a, has_outcome=audit.has_outcome),
            disparities=_disparities_table(a, has_outcome=audit.has_outcome),
        )
        for a in audit.attributes
    )
    signed = None
    comment = ""
    if signoff is not None:
        signed = (
            ("Reviewer", signoff.reviewer),
            ("Role", signoff.role),
            ("Decision", SIGN_OFF_DECISIONS.get(signoff.decision, signoff.decision)),
            ("Signed at", _when(signoff.signed_at)),
            ("Sign-off id", signoff.signoff_id),
        )
        comment = signoff.comment
    return _Layout(
        title=f"Fairness audit: {audit.title}",
        facts=tuple(facts),
        mono_facts=frozenset({"Data snapshot hash (SHA-256)"}),
        verdict=audit.verdict,
        verdict_meaning=VERDICT_MEANING[audit.verdict],
        rule=f"Rule: {audit.rule.describe()}.",
        reasons=tuple(reasons),
        attributes=attributes,
        strata=_strata_table(audit.strata) if audit.strata is not None and audit.strata.height else None,
        notes=audit.notes,
        card=None if card is None else _card_block(card),
        method=METHOD_PARAGRAPHS,
        signoff=signed,
        comment=comment,
        footer=f"Tailor fairness audit: {audit.title}; data hash {audit.data_hash[:16]}",
    )


# -- HTML ----------------------------------------------------------------------------------------------
HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}</title>
<style>
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; font-size: 10.5pt; color: #1f2328;
       line-height: 1.4; max-width: 1100px; margin: 0 auto; padding: 16px;
       -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 18pt; margin: 0 0 8px; }
h2 { font-size: 13.5pt; margin: 22px 0 6px; border-bottom: 1px solid #d0d7de; padding-bottom: 2px;
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 11.5pt; margin: 14px 0 4px; break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; font-size: 9pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border: 1px solid #d0d7de; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
caption { text-align: left; font-weight: bold; padding: 2px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 9pt;
        overflow-wrap: anywhere; }
.note { display: block; color: #57606a; font-size: 8pt; }
.undefined { color: #57606a; font-style: italic; }
.small { color: #9a6700; }
.pass { color: #1a7f37; font-weight: bold; }
.fail { color: #b42318; font-weight: bold; }
.undecided { color: #9a6700; font-weight: bold; }
.verdict { border: 2px solid currentColor; padding: 8px 12px; margin: 10px 0; }
.verdict .word { font-size: 16pt; letter-spacing: 1px; }
.verdict p { color: #1f2328; font-weight: normal; margin: 4px 0; }
.comment { white-space: pre-wrap; border-left: 3px solid #d0d7de; padding-left: 8px; }
.unsigned { font-size: 14pt; font-weight: bold; color: #b42318; }
svg.bar { display: block; }
footer { margin-top: 24px; color: #57606a; font-size: 8pt; }
@media print { body { padding: 0; max-width: none; } }
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<dl class="facts">
{% for label, value in r.facts %}
<dt>{{ label }}</dt><dd{% if label in r.mono_facts %} class="mono"{% endif %}>{{ value }}</dd>
{% endfor %}
</dl>

<h2>Verdict</h2>
<div class="verdict {{ r.verdict }}">
<span class="word">{{ words[r.verdict] }}</span>
<p>{{ r.verdict_meaning }}</p>
<p class="rule">{{ r.rule }}</p>
{% for line in r.reasons %}
<p>{{ line }}</p>
{% endfor %}
</div>

{% macro bar(b, label) %}
<svg class="bar" width="122" height="12" viewBox="0 0 122 12" role="img" aria-label="{{ label }}">
<rect x="1" y="2" width="{{ "%.1f"|format(b[0] * 120) }}" height="8" fill="#8fb8de"></rect>
<line x1="{{ "%.1f"|format(1 + b[1] * 120) }}" y1="6" x2="{{ "%.1f"|format(1 + b[2] * 120) }}" y2="6"
 stroke="#1f2328" stroke-width="1.2"></line>
</svg>
{% endmacro %}
{% macro table(t) %}
<table>
<caption>{{ t.caption }}</caption>
<thead><tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}
<tr>
{% for c in row %}
<td{% if c.style %} class="{{ c.style }}"{% endif %}>{{ c.text }}
{% if c.bar %}{{ bar(c.bar, "selection rate " ~ c.text ~ " " ~ c.note) }}{% endif %}
{% if c.note %}<span class="note">{{ c.note }}</span>{% endif %}
</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}

{% for a in r.attributes %}
<h2>{{ a.name }}: <span class="{{ a.verdict }}">{{ words[a.verdict] }}</span></h2>
<p>{{ a.reason }}</p>
<p class="rule">{{ a.rule }}</p>
{{ table(a.groups) }}
{{ table(a.disparities) }}
{% endfor %}

{% if r.strata %}
<h2>Credit decision within credit bands</h2>
{{ table(r.strata) }}
{% endif %}

{% if r.notes %}
<h2>Notes</h2>
<ul>
{% for note in r.notes %}<li>{{ note }}</li>
{% endfor %}
</ul>
{% endif %}

{% if r.card %}
{% set c = r.card %}
<h2>{{ c.heading }}</h2>
<dl class="facts">
{% for label, value in c.facts %}
<dt>{{ label }}</dt><dd{% if 'hash' in label or 'SHA' in label %} class="mono"{% endif %}>{{ value }}</dd>
{% endfor %}
</dl>
<h3>Intended use</h3>
<p>{{ c.intended_use }}</p>
<h3>Out of scope</h3>
<ul>
{% for use in c.out_of_scope %}<li>{{ use }}</li>
{% endfor %}
</ul>
<h3>Data</h3>
{% if c.splits %}{{ table(c.splits) }}{% else %}<p>Split sizes are not stored.</p>{% endif %}
<p>{{ c.features }}</p>
<h3>Metrics</h3>
{% if c.metrics %}{{ table(c.metrics) }}{% else %}<p>No test metrics are stored.</p>{% endif %}
<h3>Fairness</h3>
<p>{{ c.fairness_text }}</p>
{% if c.fairness %}{{ table(c.fairness) }}{% endif %}
<h3>Limitations</h3>
<ul>
{% for item in c.limitations %}<li>{{ item }}</li>
{% endfor %}
</ul>
{% endif %}

<h2>Method</h2>
{% for heading, text in r.method %}
<p><strong>{{ heading }}.</strong> {{ text }}</p>
{% endfor %}

<h2>Sign-off</h2>
{% if r.signoff %}
<dl class="facts">
{% for label, value in r.signoff %}
<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}
<dt>Comment</dt><dd class="comment">{{ r.comment or "(none)" }}</dd>
</dl>
{% else %}
<p class="unsigned">{{ not_signed }}</p>
<p>{{ not_signed_text }}</p>
{% endif %}

<footer>{{ r.footer }}</footer>
</body>
</html>
"""
"""The report's Jinja2 template: inline CSS only, no script, no external reference."""

_ENVIRONMENT = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_TEMPLATE = _ENVIRONMENT.from_string(HTML_TEMPLATE)


def render_html(
    audit: FairnessAudit,
    *,
    card: ModelCard | None = None,
    signoff: SignOff | None = None,
    generated_at: datetime,
) -> str:
    """The audit report as one self-contained HTML file (inline CSS, no script, no external reference).

    Every text from outside (group names, the reviewer's comment) is HTML-escaped by the
    template's autoescaping.

    Parameters
    ----------
    audit : FairnessAudit
        The audit (:mod:`analytics.fairness.audits`).
    card : ModelCard, optional
        The model card, printed after the audit (for a model audit, of the same model).
    signoff : SignOff, optional
        The reviewer's decision; the report says "Not signed" without one.
    generated_at : datetime.datetime
        When the report is made (UTC; a naive value is read as UTC).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ValueError
        A card of another model than the audited one (:data:`MSG_CARD_OF_ANOTHER_MODEL`).
    """
    layout = _layout(audit, card=card, signoff=signoff, generated_at=generated_at)
    return _TEMPLATE.render(
        r=layout, words=VERDICT_WORDS, not_signed=NOT_SIGNED, not_signed_text=NOT_SIGNED_TEXT
    )


# -- PDF -------------------------------------------------------------------------------------------------
PDF_CHARACTERS: dict[str, str] = {
    "≥": ">=",
    "≤": "<=",
    "≠": "!=",
    "–": "-",
    "—": "-",
    "−": "-",
    "…": "...",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "•": "-",
    "€": "EUR",
    "→": "->",
}
"""Characters outside latin-1 that the PDF's core fonts cannot show, and what is printed instead."""


def pdf_text(text: str) -> str:
    """Text the PDF's core fonts (latin-1) can print: known characters mapped, others as [U+XXXX].

    An unknown character is written as its code point rather than dropped or turned into "?",
    so a group name is never silently changed into another one.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        Latin-1 text.

    Examples
    --------
    >>> pdf_text("score ≥ 0.5 · age 65+ – 女")
    'score >= 0.5 · age 65+ - [U+5973]'
    """
    out = []
    for ch in text:
        if ch in PDF_CHARACTERS:
            out.append(PDF_CHARACTERS[ch])
        elif ord(ch) < 256:
            out.append(ch)
        else:
            out.append(f"[U+{ord(ch):04X}]")
    return "".join(out)


_PAGES_ALIAS = "{tailor_total_pages}"  # fpdf2 swaps it for the page count; fpdf2's "{nb}" could be user text


class _ReportPDF(FPDF):
    """A4 pages with a footer naming the audit and the page, so a loose page still says what it is from."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(90, 90, 90)
        text = f"{pdf_text(self.footer_text)} - page {self.page_no()} of {_PAGES_ALIAS}"
        self.cell(0, 5, text, align="C")
        self.set_text_color(0, 0, 0)


_PDF_LINE = 4.2  # mm per line of body text
_PDF_TABLE_FONT = 7.5


def _pdf_heading(pdf: FPDF, text: str, *, size: float = 12.0) -> None:
    # A heading never sits alone at the foot of a page.
    if pdf.get_y() > pdf.h - pdf.b_margin - 25:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, size * 0.5, pdf_text(text), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _pdf_paragraph(pdf: FPDF, text: str, *, style: str = "", size: float = 9.5, keep: float = 0.0) -> None:
    # ``keep``: room (mm) the paragraph needs below it, so a lead-in is not left alone at a page foot.
    if keep and pdf.get_y() > pdf.h - pdf.b_margin - keep:
        pdf.add_page()
    pdf.set_font("Helvetica", style, size)
    pdf.multi_cell(0, _PDF_LINE, pdf_text(text), align="L", new_x="LMARGIN", new_y="NEXT")


def _pdf_facts(pdf: FPDF, facts: Sequence[tuple[str, str]], *, mono: frozenset[str] = frozenset()) -> None:
    width = 55
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(width, _PDF_LINE, pdf_text(label))
        is_mono = label in mono or "hash" in label.lower() or "SHA" in label
        pdf.set_font("Courier" if is_mono else "Helvetica", "", 8.5 if is_mono else 9)
        pdf.multi_cell(0, _PDF_LINE, pdf_text(value), align="L", new_x="LMARGIN", new_y="NEXT")


def _pdf_style(style: str) -> FontFace | None:
    if style in VERDICT_COLOURS:
        return FontFace(emphasis="BOLD", color=VERDICT_COLOURS[style])
    if style == "undefined":
        return FontFace(emphasis="ITALICS", color=(90, 90, 90))
    if style == "small":
        return FontFace(color=VERDICT_COLOURS["undecided"])
    return None


def _pdf_table(pdf: FPDF, table: _Table) -> None:
    pdf.set_font("Helvetica", "B", 9)
    if pdf.get_y() > pdf.h - pdf.b_margin - 20:
        pdf.add_page()
    pdf.multi_cell(0, _PDF_LINE, pdf_text(table.caption), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", _PDF_TABLE_FONT)
    # fpdf2's table breaks pages between rows and repeats the heading row on each new page.
    with pdf.table(
        col_widths=table.widths,
        text_align="LEFT",
        line_height=3.4,
        padding=0.8,
        repeat_headings=1,
        headings_style=FontFace(emphasis="BOLD", fill_color=(240, 241, 243)),
        width=pdf.epw,
    ) as out:
        heading = out.row()
        for h in table.headers:
            heading.cell(pdf_text(h))
        for row in table.rows:
            line = out.row()
            for c in row:
                text = c.text if not c.note else f"{c.text}\n{c.note}"
                line.cell(pdf_text(text), style=_pdf_style(c.style))
    pdf.ln(2)


def render_pdf(
    audit: FairnessAudit,
    *,
    card: ModelCard | None = None,
    signoff: SignOff | None = None,
    generated_at: datetime,
) -> bytes:
    """The audit report as a PDF with the same content as :func:`render_html` (tables, no charts).

    Deterministic: the same inputs give the same bytes. The document's creation date is
    ``generated_at`` (``FPDF.set_creation_date``), the file identifier is derived by fpdf2
    from the content and that date, and compression is off (``FPDF.set_compression(False)``)
    so the text can be searched in the file.

    Parameters
    ----------
    audit : FairnessAudit
        The audit.
    card : ModelCard, optional
        The model card.
    signoff : SignOff, optional
        The reviewer's decision; "Not signed" without one.
    generated_at : datetime.datetime
        When the report is made (UTC; a naive value is read as UTC).

    Returns
    -------
    bytes
        The PDF file.

    Raises
    ------
    ValueError
        A card of another model than the audited one (:data:`MSG_CARD_OF_ANOTHER_MODEL`).
    """
    layout = _layout(audit, card=card, signoff=signoff, generated_at=generated_at)
    pdf = _ReportPDF(format="A4")
    pdf.alias_nb_pages(_PAGES_ALIAS)
    pdf.footer_text = layout.footer
    pdf.set_compression(False)
    pdf.set_creation_date(_utc(generated_at))
    pdf.set_title(pdf_text(layout.title))
    pdf.set_creator("Tailor")
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    _pdf_heading(pdf, layout.title, size=15)
    _pdf_facts(pdf, layout.facts, mono=layout.mono_facts)

    _pdf_heading(pdf, "Verdict")
    pdf.set_text_color(*VERDICT_COLOURS[layout.verdict])
    _pdf_paragraph(pdf, VERDICT_WORDS[layout.verdict], style="B", size=14)
    pdf.set_text_color(0, 0, 0)
    _pdf_paragraph(pdf, layout.verdict_meaning)
    _pdf_paragraph(pdf, layout.rule)
    for line in layout.reasons:
        _pdf_paragraph(pdf, line)

    for a in layout.attributes:
        _pdf_heading(pdf, f"{a.name}: {VERDICT_WORDS[a.verdict]}")
        _pdf_paragraph(pdf, a.reason)
        _pdf_paragraph(pdf, a.rule)
        pdf.ln(1)
        _pdf_table(pdf, a.groups)
        _pdf_table(pdf, a.disparities)

    if layout.strata is not None:
        _pdf_heading(pdf, "Credit decision within credit bands")
        _pdf_table(pdf, layout.strata)

    if layout.notes:
        _pdf_heading(pdf, "Notes")
        for note in layout.notes:
            _pdf_paragraph(pdf, f"- {note}")

    if layout.card is not None:
        c = layout.card
        _pdf_heading(pdf, c.heading)
        _pdf_facts(pdf, c.facts)
        _pdf_heading(pdf, "Intended use", size=10.5)
        _pdf_paragraph(pdf, c.intended_use)
        _pdf_heading(pdf, "Out of scope", size=10.5)
        for use in c.out_of_scope:
            _pdf_paragraph(pdf, f"- {use}")
        _pdf_heading(pdf, "Data", size=10.5)
        if c.splits is not None:
            _pdf_table(pdf, c.splits)
        else:
            _pdf_paragraph(pdf, "Split sizes are not stored.")
        _pdf_paragraph(pdf, c.features, size=8.5)
        _pdf_heading(pdf, "Metrics", size=10.5)
        if c.metrics is not None:
            _pdf_table(pdf, c.metrics)
        else:
            _pdf_paragraph(pdf, "No test metrics are stored.")
        _pdf_heading(pdf, "Fairness", size=10.5)
        _pdf_paragraph(pdf, c.fairness_text)
        if c.fairness is not None:
            _pdf_table(pdf, c.fairness)
        _pdf_heading(pdf, "Limitations", size=10.5)
        for item in c.limitations:
            _pdf_paragraph(pdf, f"- {item}")

    _pdf_heading(pdf, "Method")
    for heading, text in layout.method:
        _pdf_paragraph(pdf, heading, style="B", keep=14)
        _pdf_paragraph(pdf, text)

    _pdf_heading(pdf, "Sign-off")
    if layout.signoff is not None:
        _pdf_facts(pdf, (*layout.signoff, ("Comment", layout.comment or "(none)")))
    else:
        pdf.set_text_color(*VERDICT_COLOURS["fail"])
        _pdf_paragraph(pdf, NOT_SIGNED, style="B", size=13)
        pdf.set_text_color(0, 0, 0)
        _pdf_paragraph(pdf, NOT_SIGNED_TEXT)
    return bytes(pdf.output())


def sha256_hex(data: bytes | str) -> str:
    """SHA-256 of a report (text is encoded as UTF-8), in hex: what a sign-off records of the file.

    Parameters
    ----------
    data : bytes or str
        The rendered report.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> sha256_hex("abc")  # FIPS 180-2, appendix B.1
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()
