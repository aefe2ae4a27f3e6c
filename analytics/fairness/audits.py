"""Fairness audits: the audit every decision ends in, its verdict, any table, and the sign-off.

Every audit ends in the same :class:`FairnessAudit`: per protected attribute (and their
intersection) the group metrics and disparities of :mod:`analytics.fairness.metrics`, a verdict, and a
hash of the figures it read, so a signed report can name exactly what was audited. The audits of
what the bank decides build it from their own counts:

- :func:`analytics.fairness.model_audits.audit_model`: a registered model's decisions at its
  operating threshold on its test cut-off customers (outcomes known), with AUC and calibration
  per group; and the reasons of one customer's adverse decision.
- :func:`analytics.fairness.exposure_audits.audit_exposure`,
  :func:`~analytics.fairness.exposure_audits.audit_targeting` and
  :func:`~analytics.fairness.exposure_audits.audit_credit_decision`: who was offered something
  among those who could have been, and the historical credit decision within credit bands.
- :func:`audit_frame` (here): any table (CLI, upload) with an outcome and a decision or a score.
- :func:`analytics.fairness.experiment_equity.experiment_equity`: does a treatment help one
  group less?

The verdict reads the four-fifths rule (:func:`analytics.fairness.metrics.disparities`): among groups
of at least 30 customers, an attribute fails when some group's selection rate is clearly below
0.8 times a more favoured group's (its whole Katz interval), passes when every group's interval
against the most favoured group lies at or above 0.8, and is undecided otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

import polars as pl
import polars.selectors as cs

from analytics.fairness import metrics as fairness
from analytics.fairness.metrics import Disparity

AuditKind = Literal["model", "offers", "credit_decision", "targeting", "upload"]
Verdict = Literal["pass", "fail", "undecided"]

MSG_NEEDS_DECISION = (
    "Name the decision: either a 0/1 decision column or a score column with a threshold (one of the two)."
)
MSG_GROUP_TYPE = "Column {column!r} holds {dtype} values: a protected attribute must hold plain values."
MSG_EMPTY_TABLE = "The table {source!r} has no rows: there is nothing to audit."
MSG_SCORE_NEEDS_THRESHOLD = (
    "Column {column!r} holds scores, not 0/1 decisions (row {row}: {value!r}): give a threshold to turn "
    "them into decisions."
)
MSG_SCORE_RANGE = "Column {column!r} must hold scores between 0 and 1; row {row} holds {value!r}."
# A protected attribute is a handful of groups (sex, age band, region); a column of hundreds of
# distinct values is an identifier or a free-text field, whose per-group tables, pairwise gaps and
# intersections would grow without bound and compare groups of one or two customers each.
MAX_GROUP_VALUES = 200
MSG_TOO_MANY_GROUPS = (
    "Column {column!r} has {count:,} distinct values: a protected attribute may have at most {limit:,} "
    "groups. Choose a coarser column (a band or a region, not an identifier)."
)


@dataclass(frozen=True)
class AttributeAudit:
    """The audit of one protected attribute (or an intersection of several).

    Parameters
    ----------
    attribute : str
        e.g. "gender", or "gender · age_band" for the intersection.
    metrics : polars.DataFrame
        :func:`analytics.fairness.metrics.group_metrics`, joined with AUC and calibration per group
        (:func:`analytics.fairness.metrics.score_quality`) when scores are known.
    disparities : tuple of Disparity
        :func:`analytics.fairness.metrics.disparities`.
    verdict : {"pass", "fail", "undecided"}
        The four-fifths rule's reading.
    reason : str
        One sentence that says why.
    rule : VerdictRule
        The rule the verdict reads, with the interval method of the deciding pair.
    """

    attribute: str
    metrics: pl.DataFrame
    disparities: tuple[Disparity, ...]
    verdict: Verdict
    reason: str
    rule: fairness.VerdictRule = fairness.FOUR_FIFTHS_RULE

    def disparity(self, name: str) -> Disparity:
        """The disparity called ``name`` (e.g. "demographic_parity_ratio")."""
        return next(d for d in self.disparities if d.name == name)


@dataclass(frozen=True)
class FairnessAudit:
    """An audited decision: what it is, the results per attribute, and the overall verdict.

    Parameters
    ----------
    kind : {"model", "offers", "credit_decision", "targeting", "upload"}
        What was audited.
    subject_id : str
        The model id, campaign id, file name...
    title : str
        A heading, e.g. "Churn model v1".
    decision : str
        The decision in words, e.g. "flagged as likely to churn (score at or above 0.071)".
    has_outcome : bool
        Whether outcomes are known (true/false positive rates, precision, equalized odds).
    threshold : float or None
        The operating threshold of a scored decision.
    as_of : datetime.date or None
        Date of the decision (the age bands are taken on it).
    n : int
        Customers audited.
    attributes : tuple of AttributeAudit
        One per protected attribute, then their intersection.
    verdict : {"pass", "fail", "undecided"}
        Fail if any attribute fails; pass if all pass; undecided otherwise.
    data_hash : str
        SHA-256 of the subject, threshold and every group's counts: the data snapshot of the audit.
    model_version : int or None
        The registered model's version.
    notes : tuple of str
        What the reader must know (e.g. which rates do not apply).
    strata : polars.DataFrame or None
        The credit decision within credit bands (``attribute``, ``stratum``, ``group``, ``n``,
        ``selected``, ``selection_rate``, ``reference`` (the group the four-fifths rule compared
        with), ``ratio`` (to the reference), ``low``, ``high`` and ``verdict`` on the row the rule
        reads, with ``rule``, ``rule_threshold`` and ``interval_method`` on that row).
    rule : VerdictRule
        The rule the overall verdict reads (the same as every attribute's).
    """

    kind: AuditKind
    subject_id: str
    title: str
    decision: str
    has_outcome: bool
    threshold: float | None
    as_of: date | None
    n: int
    attributes: tuple[AttributeAudit, ...]
    verdict: Verdict
    data_hash: str
    model_version: int | None = None
    notes: tuple[str, ...] = ()
    strata: pl.DataFrame | None = None
    rule: fairness.VerdictRule = fairness.FOUR_FIFTHS_RULE

    def attribute(self, name: str) -> AttributeAudit:
        """The audit of attribute ``name``."""
        return next(a for a in self.attributes if a.attribute == name)


def four_fifths_rule_of(rule: Disparity) -> fairness.VerdictRule:
    """The four-fifths rule with the interval method its deciding pair used."""
    default = fairness.FOUR_FIFTHS_RULE
    return replace(default, interval_method=rule.method or default.interval_method)


def four_fifths_verdict(
    disparities: Sequence[Disparity], *, subject: str = "selection rate"
) -> tuple[Verdict, str]:
    """The verdict of the four-fifths rule among ``disparities``, and why, in words.

    Parameters
    ----------
    disparities : sequence of Disparity
        :func:`analytics.fairness.metrics.disparities`; holds ``four_fifths_rule``.
    subject : str
        What the ratio compares ("selection rate").

    Returns
    -------
    tuple
        ``(verdict, reason)``.
    """
    rule = next(d for d in disparities if d.name == "four_fifths_rule")
    if rule.value is None:
        return "undecided", (
            f"No {subject} ratio can be judged: fewer than two groups have "
            f"{fairness.MIN_GROUP_SIZE} customers or more, or nobody was selected."
        )
    low, high = rule.groups[1], rule.groups[0]
    interval = f" [{rule.low:.2f}, {rule.high:.2f}]" if rule.low is not None and rule.high is not None else ""
    text = f"{subject.capitalize()} of {low} is {rule.value:.2f}{interval} times that of {high}"
    if rule.passed is True:
        return "pass", f"{text}: every group's interval lies at or above 0.8."
    if rule.passed is False:
        return "fail", f"{text}: below 0.8, the four-fifths rule fails."
    return (
        "undecided",
        f"{text}: the interval reaches below 0.8, so the rule is neither passed nor failed.",
    )


def overall_verdict(verdicts: Sequence[Verdict]) -> Verdict:
    """An audit's verdict from its attributes': any fail fails, all passes pass, else undecided.

    Parameters
    ----------
    verdicts : sequence of {"pass", "fail", "undecided"}
        One per attribute set.

    Returns
    -------
    {"pass", "fail", "undecided"}
        The overall verdict.
    """
    if "fail" in verdicts:
        return "fail"
    if verdicts and all(v == "pass" for v in verdicts):
        return "pass"
    return "undecided"


def figures_hash(*parts: object) -> str:
    """SHA-256 (hex) of the figures an audit read: frames as CSV, anything else as sorted JSON.

    Parameters
    ----------
    *parts : object
        Polars frames (floats rounded to ten decimals) and JSON-serializable values, in order.

    Returns
    -------
    str
        64 hex digits: the audit's ``data_hash``.
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pl.DataFrame):
            # Floats (mean scores) are summed in row order; ten decimals keep the same data's hash
            # the same whatever order its rows arrive in.
            digest.update(part.with_columns(cs.float().round(10)).write_csv().encode())
        else:
            digest.update(json.dumps(part, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def attribute_sets(groups: Sequence[str]) -> list[tuple[str, ...]]:
    """Each protected attribute alone, then all of them together (their intersection) when several.

    Parameters
    ----------
    groups : sequence of str
        The protected attributes.

    Returns
    -------
    list of tuple of str
        The attribute sets audited.
    """
    sets = [(g,) for g in groups]
    if len(groups) > 1:
        sets.append(tuple(groups))
    return sets


def selection_floor(attribute: AttributeAudit) -> float | None:
    """The lowest selection rate the four-fifths rule accepts: 0.8 times the top judged group's rate.

    Only groups of at least :data:`analytics.fairness.metrics.MIN_GROUP_SIZE` customers are
    judged, so the top rate is theirs.

    Parameters
    ----------
    attribute : AttributeAudit
        One attribute's audit.

    Returns
    -------
    float or None
        ``0.8 * top``; None when no judged group has a selection rate above 0.
    """
    judged = attribute.metrics.filter(~pl.col("small")).get_column("selection_rate").drop_nulls()
    top = float(judged.max()) if judged.len() else 0.0
    return fairness.FOUR_FIFTHS[0] * top if top else None


def audit_from_counts(
    counts_by_set: dict[tuple[str, ...], pl.DataFrame],
    *,
    quality_by_set: dict[tuple[str, ...], pl.DataFrame] | None = None,
    has_outcome: bool = True,
) -> tuple[AttributeAudit, ...]:
    """Metrics, disparities and verdicts for each attribute set from its confusion counts.

    Parameters
    ----------
    counts_by_set : dict
        Attribute tuple -> :func:`analytics.fairness.metrics.group_counts` (or the database's).
    quality_by_set : dict, optional
        Attribute tuple -> :func:`analytics.fairness.metrics.score_quality`, joined on the group.
    has_outcome : bool
        Without outcomes (exposure), the outcome rates are dropped and equalized odds is None.

    Returns
    -------
    tuple of AttributeAudit
        In the order of ``counts_by_set``.
    """
    out = []
    for attrs, counts in counts_by_set.items():
        name = " · ".join(attrs)
        if counts.height < 2:
            group = counts.get_column("group")[0] if counts.height else "none"
            raise ValueError(fairness.MSG_SINGLE_GROUP.format(column=name, group=group))
        metrics = fairness.group_metrics(counts)
        found = fairness.disparities(counts)
        if not has_outcome:
            metrics = metrics.with_columns(
                pl.lit(None, dtype=pl.Float64).alias(c)
                for c in metrics.columns
                if c.startswith(("true_positive_rate", "false_positive_rate", "precision", "accuracy"))
            ).with_columns(pl.lit("").alias("undefined"))
            found = [
                Disparity(d.name, None, None, None, ()) if d.name.startswith("equalized_odds") else d
                for d in found
            ]
        if quality_by_set and attrs in quality_by_set:
            metrics = metrics.join(quality_by_set[attrs].drop("n"), on="group", how="left")
        verdict, reason = four_fifths_verdict(found)
        rule = four_fifths_rule_of(next(d for d in found if d.name == "four_fifths_rule"))
        out.append(AttributeAudit(name, metrics, tuple(found), verdict, reason, rule))
    return tuple(out)


# -- any table ------------------------------------------------------------------------------------
def _decisions(
    frame: pl.DataFrame, *, y_pred: str | None, score: str | None, threshold: float | None
) -> pl.Series:
    if (y_pred is None) == (score is None):
        raise ValueError(MSG_NEEDS_DECISION)
    if y_pred is not None:
        if y_pred not in frame.columns:
            raise ValueError(
                fairness.MSG_MISSING_COLUMN.format(column=y_pred, columns=", ".join(frame.columns))
            )
        values = frame.get_column(y_pred)
        numbers = (
            values.cast(pl.Float64, strict=False) if values.dtype != pl.Boolean else values.cast(pl.Float64)
        )
        odd = numbers.is_not_null() & ~numbers.is_in([0.0, 1.0])
        if odd.any() and threshold is None:
            row = int(odd.arg_max())
            raise ValueError(MSG_SCORE_NEEDS_THRESHOLD.format(column=y_pred, row=row + 1, value=values[row]))
        if threshold is None:
            return fairness.binary_column(frame, y_pred)
        score = y_pred
    if score is None:  # neither a decision nor a score column (an assert would vanish under -O)
        raise ValueError(MSG_NEEDS_DECISION)
    if score not in frame.columns:
        raise ValueError(fairness.MSG_MISSING_COLUMN.format(column=score, columns=", ".join(frame.columns)))
    if threshold is None:
        numbers = frame.get_column(score).cast(pl.Float64, strict=False)
        odd = numbers.is_not_null() & ~numbers.is_in([0.0, 1.0])
        row = int(odd.arg_max()) if odd.any() else 0
        raise ValueError(MSG_SCORE_NEEDS_THRESHOLD.format(column=score, row=row + 1, value=frame[score][row]))
    if not 0 <= threshold <= 1:
        raise ValueError(fairness.MSG_BAD_THRESHOLD.format(threshold=threshold))
    values = frame.get_column(score).cast(pl.Float64, strict=False)
    bad = values.is_null() | values.is_nan() | (values < 0) | (values > 1)
    if bad.any():
        row = int(bad.arg_max())
        raise ValueError(MSG_SCORE_RANGE.format(column=score, row=row + 1, value=frame[score][row]))
    return (values >= threshold).cast(pl.Int64)


def audit_frame(
    frame: pl.DataFrame,
    *,
    y_true: str,
    groups: Sequence[str],
    y_pred: str | None = None,
    score: str | None = None,
    threshold: float | None = None,
    source: str = "table",
) -> FairnessAudit:
    """The audit of any customer-level table: an outcome, a decision (or a score and a threshold), groups.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer.
    y_true : str
        0/1 outcome column.
    groups : sequence of str
        Protected attribute columns (any the reviewer declares); with several, their
        intersection is audited too.
    y_pred : str, optional
        0/1 decision column.
    score : str, optional
        Score column in [0, 1], turned into decisions at ``threshold``.
    threshold : float, optional
        Needed with ``score`` (or with a ``y_pred`` that holds scores).
    source : str
        Name of the file, for the title.

    Returns
    -------
    FairnessAudit
        kind "upload"; AUC and calibration per group when a score is given.

    Raises
    ------
    ValueError
        A missing column (named, with the table's columns), labels outside {0, 1} (the row),
        a score without a threshold, a single group, no group column, a group column of more than
        :data:`MAX_GROUP_VALUES` distinct values (:data:`MSG_TOO_MANY_GROUPS`).
    """
    if not groups:
        raise ValueError(fairness.MSG_NO_GROUPS)
    if frame.height == 0:
        raise ValueError(MSG_EMPTY_TABLE.format(source=source))
    for column in (y_true, *groups):
        if column not in frame.columns:
            raise ValueError(
                fairness.MSG_MISSING_COLUMN.format(column=column, columns=", ".join(frame.columns))
            )
    for column in groups:
        if frame.schema[column].is_nested():
            raise ValueError(MSG_GROUP_TYPE.format(column=column, dtype=frame.schema[column]))
        count = frame.get_column(column).n_unique()
        if count > MAX_GROUP_VALUES:
            raise ValueError(MSG_TOO_MANY_GROUPS.format(column=column, count=count, limit=MAX_GROUP_VALUES))
    decisions = _decisions(frame, y_pred=y_pred, score=score, threshold=threshold)
    scored_by = score or (y_pred if threshold is not None else None)
    data = frame.select(*dict.fromkeys([y_true, *groups])).with_columns(decisions.alias("__decision"))
    if scored_by is not None:
        data = data.with_columns(frame.get_column(scored_by).cast(pl.Float64).alias("__score"))
    counts, quality = {}, {}
    for attrs in attribute_sets(groups):
        counts[attrs] = fairness.group_counts(data, y_true=y_true, y_pred="__decision", groups=attrs)
        if counts[attrs].height < 2:
            group = counts[attrs].get_column("group")[0] if counts[attrs].height else "none"
            raise ValueError(fairness.MSG_SINGLE_GROUP.format(column=" · ".join(attrs), group=group))
        if scored_by is not None:
            quality[attrs] = fairness.score_quality(data, y_true=y_true, score="__score", groups=attrs)
    attributes = audit_from_counts(counts, quality_by_set=quality)
    decision = f"{scored_by} at or above {threshold:g}" if scored_by is not None else f"{y_pred} = 1"
    return FairnessAudit(
        kind="upload",
        subject_id=source,
        title=f"Uploaded decisions: {source}",
        decision=decision,
        has_outcome=True,
        threshold=threshold,
        as_of=None,
        n=frame.height,
        attributes=attributes,
        verdict=overall_verdict([a.verdict for a in attributes]),
        data_hash=figures_hash(source, threshold, *counts.values(), *quality.values()),
    )


# -- sign-off -----------------------------------------------------------------------------------------
SignOffDecision = Literal["approved", "approved_with_conditions", "rejected"]
SIGN_OFF_DECISIONS: dict[str, str] = {
    "approved": "Approved",
    "approved_with_conditions": "Approved with conditions",
    "rejected": "Rejected",
}


@dataclass(frozen=True)
class SignOff:
    """A reviewer's decision on an audit, as printed in the report and stored in ``fairness_signoffs``.

    Parameters
    ----------
    signoff_id : str
        Identifier of the sign-off.
    reviewer : str
        User name of the reviewer.
    role : str
        Their role when signing (compliance_reviewer or admin).
    decision : {"approved", "approved_with_conditions", "rejected"}
        The decision.
    comment : str
        Conditions or justification (required to approve a failing audit).
    signed_at : datetime.datetime
        When, UTC (naive).
    """

    signoff_id: str
    reviewer: str
    role: str
    decision: SignOffDecision
    comment: str
    signed_at: datetime
