"""The signed fairness audit report: its content, shared by the HTML and the PDF (issue 7, item 6).

A compliance reviewer signs off a fairness audit before a decision reaches customers; the
signed report is the evidence kept for auditors and regulators, so it stands alone: what was
audited and on which data (the audit's data hash), every group's figures with their intervals,
the verdict and why, how the figures were made, the model card when a model was audited
(:mod:`analytics.fairness.model_card`), and the sign-off.

- :func:`report_layout`: the report's content as one intermediate layout, which both
  renderers read, so the HTML (:func:`analytics.fairness.report_html.render_html`) and the PDF
  (:func:`analytics.fairness.report_pdf.render_pdf`) cannot say different things.
- :func:`sha256_hex`: the checksum stored with a sign-off to name the exact file signed.

Rates are shown in percent to one decimal, ratios, AUC and average precision to three
decimals, Brier scores to four; a rate that cannot be computed is shown as "undefined" with its
reason, never as 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import polars as pl

from analytics.fairness import metrics as fairness
from analytics.fairness.audits import SIGN_OFF_DECISIONS, AttributeAudit, FairnessAudit, SignOff
from analytics.fairness.metrics import Disparity
from analytics.fairness.model_card import ModelCard

MSG_CARD_OF_ANOTHER_MODEL = (
    "The model card is of {card_model!r} but the audit is of model {audit_model!r}: a report takes the "
    "card of the audited model."
)

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


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is read as UTC, the codebase's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


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


class Cell(NamedTuple):
    """One table cell: the text, a second line (interval or reason), a style, an optional bar."""

    text: str
    note: str = ""
    style: str = ""  # "", "undefined", "small", "pass", "fail" or "undecided"
    bar: tuple[float, float, float] | None = None  # value, low, high as shares of the bar's width


@dataclass(frozen=True)
class ReportTable:
    """A table of the report: caption, heading row, rows of cells and the PDF's relative column widths."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    widths: tuple[float, ...]  # relative column widths in the PDF


@dataclass(frozen=True)
class AttributeBlock:
    """One protected attribute's section: verdict, reason, rule, the groups' and the disparities' tables."""

    name: str
    verdict: str
    reason: str
    rule: str
    groups: ReportTable
    disparities: ReportTable


@dataclass(frozen=True)
class CardBlock:
    """The model card's section: facts, intended use, data, metrics, fairness and limitations."""

    heading: str
    facts: tuple[tuple[str, str], ...]
    intended_use: str
    out_of_scope: tuple[str, ...]
    splits: ReportTable | None
    metrics: ReportTable | None
    fairness: ReportTable | None
    fairness_text: str
    features: str
    limitations: tuple[str, ...]


@dataclass(frozen=True)
class ReportLayout:
    """Everything the report says, in order: what both renderers draw."""

    title: str
    facts: tuple[tuple[str, str], ...]
    mono_facts: frozenset[str]
    verdict: str
    verdict_meaning: str
    rule: str
    reasons: tuple[str, ...]
    attributes: tuple[AttributeBlock, ...]
    strata: ReportTable | None
    notes: tuple[str, ...]
    card: CardBlock | None
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


def _groups_table(attribute: AttributeAudit, *, has_outcome: bool) -> ReportTable:
    metrics = attribute.metrics
    rates = _RATE_COLUMNS if has_outcome else _RATE_COLUMNS[:1]
    with_auc = "auc" in metrics.columns
    with_gap = "calibration_gap" in metrics.columns
    highs = [h for h in metrics.get_column("selection_rate_high").to_list() if h is not None]
    scale = max(highs) if highs and max(highs) > 0 else 1.0
    rows = []
    for r in metrics.iter_rows(named=True):
        reasons = _undefined_reasons(r.get("undefined", ""))
        cells = [Cell(str(r["group"])), Cell(f"{r['n']:,}")]
        for column, _ in rates:
            value = r[column]
            if value is None:
                cells.append(Cell("undefined", reasons.get(column, "not computable"), "undefined"))
                continue
            low, high = r[f"{column}_low"], r[f"{column}_high"]
            bar = None
            if column == "selection_rate" and low is not None and high is not None:
                bar = (value / scale, low / scale, high / scale)
            cells.append(Cell(_pct(value), _pct_interval(low, high), bar=bar))
        if with_auc:
            auc = r.get("auc")
            cells.append(
                Cell(_ratio(auc))
                if auc is not None
                else Cell("undefined", "one outcome class only", "undefined")
            )
        if with_gap:
            gap = r.get("calibration_gap")
            cells.append(
                Cell(f"{gap * 100:+.2f} pp")
                if gap is not None
                else Cell("undefined", "no scores", "undefined")
            )
        small = r["small"]
        cells.append(
            Cell("too small", f"under {fairness.MIN_GROUP_SIZE} customers: not judged", "small")
            if small
            else Cell("")
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
    return ReportTable(
        caption=f"Groups of {attribute.attribute}",
        headers=tuple(headers),
        rows=tuple(rows),
        widths=tuple(widths),
    )


def _disparity_value(d: Disparity, *, has_outcome: bool) -> tuple[Cell, Cell]:
    is_ratio = d.name.endswith("ratio") or d.name == "four_fifths_rule"
    if d.value is None:
        if d.name.startswith("equalized_odds") and not has_outcome:
            return Cell("does not apply", "the decision has no outcome", "undefined"), Cell("")
        if d.name.startswith("equalized_odds"):
            why = "true and false positive rates are undefined, or zero in every group"
        else:
            why = "nobody was selected in any group"
        return Cell("undefined", why, "undefined"), Cell("")
    value = _ratio(d.value) if is_ratio else _pp(d.value)
    interval = _ratio_interval(d.low, d.high) if is_ratio else _pp_interval(d.low, d.high)
    if not interval:
        return Cell(value), Cell("not computable", "a rate of 0 or an empty group in the pair", "undefined")
    return Cell(value), Cell(interval)


def _disparities_table(attribute: AttributeAudit, *, has_outcome: bool) -> ReportTable:
    rows = []
    for d in attribute.disparities:
        value, interval = _disparity_value(d, has_outcome=has_outcome)
        compared = f"{d.groups[0]} vs {d.groups[1]}" if len(d.groups) == 2 else ""
        if d.name == "four_fifths_rule":
            word = {True: "pass", False: "fail", None: "undecided"}[d.passed]
            verdict = Cell(VERDICT_WORDS[word], style=word)
        else:
            verdict = Cell("")
        method = INTERVAL_METHODS.get(d.method, d.method) if d.value is not None else ""
        label = Cell(DISPARITY_LABELS.get(d.name, d.name))
        rows.append((label, value, interval, Cell(method), Cell(compared), verdict))
    return ReportTable(
        caption=f"Disparities of {attribute.attribute}",
        headers=("Disparity", "Value", "95% interval", "Interval method", "Groups (highest vs lowest rate)",
                 "Four-fifths verdict"),
        rows=tuple(rows),
        widths=(3.2, 1.1, 1.7, 1.7, 2.6, 1.3),
    )  # fmt: skip


def _strata_table(strata: pl.DataFrame) -> ReportTable:
    rows = []
    for r in strata.iter_rows(named=True):
        verdict = r.get("verdict") or ""
        rows.append(
            (
                Cell(str(r.get("attribute", ""))),
                Cell(str(r["stratum"])),
                Cell(f"{r['group']} (reference)" if r["group"] == r["reference"] else str(r["group"])),
                Cell(f"{r['n']:,}"),
                Cell(f"{r['selected']:,}"),
                Cell(_pct(r["selection_rate"])),
                Cell(_ratio(r["ratio"])) if r["ratio"] is not None else Cell("undefined", "", "undefined"),
                Cell(_ratio_interval(r["low"], r["high"])),
                Cell(VERDICT_WORDS.get(verdict, verdict), style=verdict),
            )
        )
    return ReportTable(
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


def _card_block(card: ModelCard) -> CardBlock:
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
        splits = ReportTable(
            caption="Customers per split",
            headers=("Split", "Customers", "With the outcome", "Outcome rate"),
            rows=tuple(
                (
                    Cell(s.split),
                    Cell(f"{s.rows:,}"),
                    Cell("not stored" if s.positives is None else f"{s.positives:,}"),
                    Cell("" if s.positives is None or not s.rows else _pct(s.positives / s.rows, 2)),
                )
                for s in card.split_sizes
            ),
            widths=(1.5, 1.5, 1.5, 1.5),
        )
    metrics = None
    if card.metrics:
        metrics = ReportTable(
            caption=f"Test metrics on the {card.test_cutoff.isoformat()} cut-off",
            headers=("Metric", "Model", "Logistic baseline"),
            rows=tuple(
                (
                    Cell(m.label),
                    Cell(_metric_text(m.name, m.model)),
                    Cell(_metric_text(m.name, m.baseline) if m.baseline is not None else "not stored"),
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
        fairness_table = ReportTable(
            caption="Fairness by attribute",
            headers=("Attribute", "Verdict", "Demographic parity ratio [95% CI]",
                     "Equalized odds difference [95% CI]", "Too small to judge"),
            rows=tuple(
                (
                    Cell(a.attribute),
                    Cell(VERDICT_WORDS[a.verdict], style=a.verdict),
                    Cell(_ratio(a.demographic_parity_ratio) or "undefined",
                          _ratio_interval(a.demographic_parity_low, a.demographic_parity_high)),
                    Cell(_pp(a.equalized_odds_difference) or "undefined",
                          _pp_interval(a.equalized_odds_low, a.equalized_odds_high)),
                    Cell(", ".join(a.small_groups) or "none"),
                )
                for a in f.attributes
            ),
            widths=(1.8, 1.2, 1.9, 1.9, 2.2),
        )  # fmt: skip
    return CardBlock(
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


def report_layout(
    audit: FairnessAudit, *, card: ModelCard | None, signoff: SignOff | None, generated_at: datetime
) -> ReportLayout:
    """The report's content, read by both the HTML and the PDF renderer.

    Parameters
    ----------
    audit : FairnessAudit
        The audit (:mod:`analytics.fairness.audits`).
    card : ModelCard or None
        The model card (for a model audit, of the same model).
    signoff : SignOff or None
        The reviewer's decision; the report says "Not signed" without one.
    generated_at : datetime.datetime
        When the report is made (UTC; a naive value is read as UTC).

    Returns
    -------
    ReportLayout
        Title, facts, verdict, attribute sections, strata, notes, card, method and sign-off.

    Raises
    ------
    ValueError
        A card of another model than the audited one (:data:`MSG_CARD_OF_ANOTHER_MODEL`).
    """
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
        AttributeBlock(
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
    return ReportLayout(
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
