"""Fairness audits of what the bank decides: models, campaign exposure, the credit decision, experiments.

Every audit ends in the same :class:`FairnessAudit`: per protected attribute (and their
intersection) the group metrics and disparities of :mod:`analytics.fairness.metrics`, a verdict, and a
hash of the figures it read, so a signed report can name exactly what was audited.

- :func:`audit_model`: a registered model's decisions at its operating threshold on its test
  cut-off customers (outcomes known), with AUC and calibration per group.
- :func:`audit_exposure` and :func:`audit_targeting`: who was offered something among those who
  could have been. A campaign's population is the customers active on its first day who agreed
  to marketing; any later targeting list (a set of customer ids) goes through the same code.
  There is no outcome, so only selection rates and demographic parity are judged.
- :func:`audit_credit_decision`: the historical pre-approved personal-loan decision, audited
  among the customers its rule made eligible (credit score of at least
  :data:`CREDIT_ELIGIBILITY_MIN_SCORE`) and within credit bands, so a gap cannot be explained
  away by creditworthiness.
- :func:`audit_frame`: any table (CLI, upload) with an outcome and a decision or a score.
- :func:`experiment_equity`: does a treatment help one group less? Per-group lifts and
  Cochran's Q test of their heterogeneity.

The verdict reads the four-fifths rule (:func:`analytics.fairness.metrics.disparities`): among groups
of at least 30 customers, an attribute fails when some group's selection rate is clearly below
0.8 times a more favoured group's (its whole Katz interval), passes when every group's interval
against the most favoured group lies at or above 0.8, and is undecided otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
import polars.selectors as cs
from scipy import stats

from analytics.common.expressions import age_band_expr
from analytics.experiments import bank as experiment_bank
from analytics.experiments import breakdown as experiment_breakdown
from analytics.fairness import metrics as fairness
from analytics.fairness.metrics import Disparity
from analytics.models import registry as model_registry
from analytics.models.customer_explanations import reason_text
from analytics.models.quality_views import operating_threshold as models_page_threshold

AuditKind = Literal["model", "offers", "credit_decision", "targeting", "upload"]
Verdict = Literal["pass", "fail", "undecided"]

CREDIT_ELIGIBILITY_MIN_SCORE = 600
"""The pre-approval rule's floor: only customers at or above this credit score were eligible."""

CREDIT_BANDS: tuple[tuple[int, int], ...] = ((600, 649), (650, 699), (700, 749), (750, 850))
"""Credit bands inside which the credit decision is compared (a legitimate factor held fixed)."""

CREDIT_PRODUCT = "personal_loan"
"""The product of the historical credit-offer decision (the pre-approved personal loan campaign)."""

OPERATING_SHARE = 0.1
"""A model's default operating threshold flags this share of its test customers (one campaign's reach)."""

HETEROGENEITY_ALPHA = 0.05

HETEROGENEITY_RULE = fairness.VerdictRule(
    rule="cochran-q",
    threshold=HETEROGENEITY_ALPHA,
    threshold_meaning="the lifts differ between groups when Cochran's Q has a p-value below",
    interval_method="none",
    confidence_level=1 - HETEROGENEITY_ALPHA,
    min_group_size=fairness.MIN_GROUP_SIZE,
)
"""The rule of an experiment's equity verdict (:func:`experiment_equity`)."""

MSG_UNKNOWN_CAMPAIGN = "Campaign {campaign_id} does not exist. Campaigns: {known}."
MSG_NO_CREDIT_CAMPAIGN = (
    "The database holds no campaign for the product {product!r}: there is no credit decision."
)
MSG_NO_SCORES = "Model {model_id} has no stored test scores: train it again with `python -m analytics train`."
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
MSG_EMPTY_TARGETING = "The targeting list is empty: there is nobody to audit."
MSG_UNKNOWN_TARGETS = "{count} customer ids of the targeting list are not in the population, e.g. {example}."


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


def _rule_of(rule: Disparity) -> fairness.VerdictRule:
    """The four-fifths rule with the interval method its deciding pair used."""
    default = fairness.FOUR_FIFTHS_RULE
    return replace(default, interval_method=rule.method or default.interval_method)


def _verdict(disparities: Sequence[Disparity], *, subject: str = "selection rate") -> tuple[Verdict, str]:
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


def _overall(verdicts: Sequence[Verdict]) -> Verdict:
    if "fail" in verdicts:
        return "fail"
    if verdicts and all(v == "pass" for v in verdicts):
        return "pass"
    return "undecided"


def _hash(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pl.DataFrame):
            # Floats (mean scores) are summed in row order; ten decimals keep the same data's hash
            # the same whatever order its rows arrive in.
            digest.update(part.with_columns(cs.float().round(10)).write_csv().encode())
        else:
            digest.update(json.dumps(part, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def _attribute_sets(groups: Sequence[str]) -> list[tuple[str, ...]]:
    sets = [(g,) for g in groups]
    if len(groups) > 1:
        sets.append(tuple(groups))
    return sets


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
        verdict, reason = _verdict(found)
        rule = _rule_of(next(d for d in found if d.name == "four_fifths_rule"))
        out.append(AttributeAudit(name, metrics, tuple(found), verdict, reason, rule))
    return tuple(out)


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


def default_threshold(backend: ibis.BaseBackend, model_id: str) -> float:
    """A registered model's default operating threshold: :func:`operating_threshold` of its test scores.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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
    for attrs in _attribute_sets(groups):
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
        verdict=_overall([a.verdict for a in attributes]),
        data_hash=_hash(
            model_id, record.training_snapshot_hash, threshold, *counts.values(), *quality.values()
        ),
        model_version=record.version,
        notes=(
            f"Customers: the {rows.height:,} customers of the test cut-off {as_of}, whose outcome over the "
            f"next {record.horizon_days} days is known and who were not used in training.",
        ),
    )


# -- exposure: campaigns and targeting lists ----------------------------------------------------
def _population(backend: ibis.BaseBackend, as_of: date, *, min_credit_score: int | None = None) -> ir.Table:
    """Customers active on ``as_of`` who agreed to marketing, with the protected attributes."""
    c = backend.table("customers")
    day = ibis.literal(as_of, type="date")
    keep = (c.joined_at <= day) & (c.closed_at.isnull() | (c.closed_at > day)) & c.consent_marketing
    if min_credit_score is not None:
        keep = keep & (c.credit_score >= ibis.literal(int(min_credit_score)))
    rows = c.filter(keep)
    return rows.select(
        "customer_id",
        "credit_score",
        gender=rows.gender,
        age_band=age_band_expr(rows.birth_date, as_of),
    )


def _exposure_counts(population: ir.Table, selected: ir.Table, attrs: Sequence[str]) -> pl.DataFrame:
    """Selected / not selected per group, in the confusion-count layout (no outcome: all negatives)."""
    chosen = selected.select("customer_id").distinct().mutate(chosen=ibis.literal(1))
    joined = population.left_join(chosen, "customer_id")
    labels = [joined[a].cast("string").fill_null("(missing)") for a in attrs]
    group = labels[0] if len(labels) == 1 else ibis.literal(" · ").join(labels)
    picked = joined.chosen.fill_null(0).cast("int64")
    counts = (
        joined.mutate(group=group, picked=picked)
        .group_by("group")
        .aggregate(fp=ibis._.picked.sum(), n=ibis._.count())
        .order_by("group")
        .to_polars()
    )
    return counts.select(
        "group",
        pl.lit(0, dtype=pl.Int64).alias("tp"),
        pl.col("fp").cast(pl.Int64),
        (pl.col("n") - pl.col("fp")).cast(pl.Int64).alias("tn"),
        pl.lit(0, dtype=pl.Int64).alias("fn"),
        pl.col("n").cast(pl.Int64),
    )


EXPOSURE_NOTE = (
    "Exposure has no outcome: only selection rates and demographic parity apply; true and false "
    "positive rates, precision and equalized odds do not."
)


def _exposure_audit(
    population: ir.Table,
    selected: ir.Table,
    *,
    kind: AuditKind,
    subject_id: str,
    title: str,
    decision: str,
    as_of: date,
    groups: Sequence[str],
    notes: tuple[str, ...] = (),
) -> FairnessAudit:
    counts = {attrs: _exposure_counts(population, selected, attrs) for attrs in _attribute_sets(groups)}
    attributes = audit_from_counts(counts, has_outcome=False)
    first = next(iter(counts.values()))
    return FairnessAudit(
        kind=kind,
        subject_id=subject_id,
        title=title,
        decision=decision,
        has_outcome=False,
        threshold=None,
        as_of=as_of,
        n=int(first.get_column("n").sum()),
        attributes=attributes,
        verdict=_overall([a.verdict for a in attributes]),
        data_hash=_hash(kind, subject_id, as_of, *counts.values()),
        notes=(EXPOSURE_NOTE, *notes),
    )


def list_campaigns(backend: ibis.BaseBackend) -> pl.DataFrame:
    """The campaigns whose exposure can be audited, in start order.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.

    Returns
    -------
    polars.DataFrame
        ``campaign_id``, ``name``, ``product_id``, ``channel``, ``start_date``.
    """
    campaigns = backend.table("campaigns")
    return (
        campaigns.select("campaign_id", "name", "product_id", "channel", "start_date")
        .order_by("start_date", "campaign_id")
        .to_polars()
    )


def _campaign(backend: ibis.BaseBackend, campaign_id: int) -> dict:
    campaigns = backend.table("campaigns")
    rows = campaigns.filter(campaigns.campaign_id == ibis.literal(int(campaign_id), type="int64")).to_polars()
    if rows.height == 0:
        known = campaigns.select("campaign_id").order_by("campaign_id").to_polars()["campaign_id"].to_list()
        raise ValueError(
            MSG_UNKNOWN_CAMPAIGN.format(campaign_id=campaign_id, known=", ".join(map(str, known)))
        )
    return rows.row(0, named=True)


def _offers_of(backend: ibis.BaseBackend, campaign_id: int) -> ir.Table:
    offers = backend.table("offers")
    return offers.filter(offers.campaign_id == ibis.literal(int(campaign_id), type="int64"))


def audit_exposure(
    backend: ibis.BaseBackend, campaign_id: int, *, groups: Sequence[str] = fairness.PROTECTED_ATTRIBUTES
) -> FairnessAudit:
    """Who was sent a campaign's offer, among the customers who could have been, by protected group.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    campaign_id : int
        The campaign (a bound value).
    groups : sequence of str
        Protected attributes (taken on the campaign's first day).

    Returns
    -------
    FairnessAudit
        kind "offers"; the population is every customer active on the first day who agreed to
        marketing.
    """
    campaign = _campaign(backend, campaign_id)
    start = campaign["start_date"]
    return _exposure_audit(
        _population(backend, start),
        _offers_of(backend, campaign_id),
        kind="offers",
        subject_id=str(campaign_id),
        title=f"Campaign: {campaign['name']}",
        decision=f"sent the offer ({campaign['product_id'].replace('_', ' ')}, {campaign['channel']})",
        as_of=start,
        groups=groups,
        notes=(f"Population: customers active on {start} who agreed to marketing.",),
    )


def audit_targeting(
    backend: ibis.BaseBackend,
    customer_ids: Sequence[int] | pl.Series,
    *,
    as_of: date,
    title: str = "Targeting list",
    groups: Sequence[str] = fairness.PROTECTED_ATTRIBUTES,
) -> FairnessAudit:
    """Any targeting list (customer ids) against the customers who could have been targeted.

    The same audit as a campaign's exposure (:func:`audit_exposure`), so a list made by any
    later tool (next-best-offer, a segment export) plugs in before it is sent.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    customer_ids : sequence of int
        The customers on the list.
    as_of : datetime.date
        The day the list would be sent (population and age bands).
    title : str
        Heading of the audit.
    groups : sequence of str
        Protected attributes.

    Returns
    -------
    FairnessAudit
        kind "targeting".

    Raises
    ------
    ValueError
        An empty list, or ids outside the contactable population (how many, one example).
    """
    ids = pl.Series("customer_id", customer_ids, dtype=pl.Int64).unique().sort()
    if ids.len() == 0:
        raise ValueError(MSG_EMPTY_TARGETING)
    population = _population(backend, as_of)
    known = population.select("customer_id").to_polars().get_column("customer_id")
    unknown = ids.filter(~ids.is_in(known.implode()))
    if unknown.len():
        raise ValueError(MSG_UNKNOWN_TARGETS.format(count=unknown.len(), example=unknown[0]))
    selected = ibis.memtable(ids.to_frame())
    return _exposure_audit(
        population,
        selected,
        kind="targeting",
        subject_id=_hash(sorted(ids.to_list()))[:16],
        title=title,
        decision=f"on the targeting list ({ids.len():,} customers)",
        as_of=as_of,
        groups=groups,
        notes=(f"Population: customers active on {as_of} who agreed to marketing.",),
    )


def credit_campaign(backend: ibis.BaseBackend) -> dict:
    """The campaign of the historical credit-offer decision (the first for :data:`CREDIT_PRODUCT`)."""
    campaigns = backend.table("campaigns")
    rows = (
        campaigns.filter(campaigns.product_id == ibis.literal(CREDIT_PRODUCT, type="string"))
        .order_by("start_date", "campaign_id")
        .to_polars()
    )
    if rows.height == 0:
        raise ValueError(MSG_NO_CREDIT_CAMPAIGN.format(product=CREDIT_PRODUCT))
    return rows.row(0, named=True)


def _band_label(score: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(*((score.between(lo, hi), f"{lo}-{hi}") for lo, hi in CREDIT_BANDS), else_="(other)")


def audit_credit_decision(
    backend: ibis.BaseBackend, *, groups: Sequence[str] = fairness.PROTECTED_ATTRIBUTES
) -> FairnessAudit:
    """The historical pre-approved credit offer: who was pre-approved among the eligible, by group.

    The eligible customers are those the decision's rule admitted: active on the campaign's
    first day, agreed to marketing, credit score of at least :data:`CREDIT_ELIGIBILITY_MIN_SCORE`.
    A gap between groups could come from creditworthiness, so gender is also compared inside
    each credit band (:data:`CREDIT_BANDS`); a gap that holds within bands is not explained by it.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    groups : sequence of str
        Protected attributes.

    Returns
    -------
    FairnessAudit
        kind "credit_decision", with ``strata`` (gender within each credit band).
    """
    campaign = credit_campaign(backend)
    start = campaign["start_date"]
    population = _population(backend, start, min_credit_score=CREDIT_ELIGIBILITY_MIN_SCORE)
    selected = _offers_of(backend, campaign["campaign_id"])
    audit = _exposure_audit(
        population,
        selected,
        kind="credit_decision",
        subject_id=str(campaign["campaign_id"]),
        title=f"Credit decision: {campaign['name']}",
        decision="pre-approved for the personal loan",
        as_of=start,
        groups=groups,
        notes=(
            f"Population: customers active on {start} who agreed to marketing and had a credit score of "
            f"at least {CREDIT_ELIGIBILITY_MIN_SCORE} (the decision's eligibility rule).",
        ),
    )
    rows = []
    banded = population.mutate(credit_band=_band_label(population.credit_score))
    for attribute in groups:
        for lo, hi in CREDIT_BANDS:
            band = f"{lo}-{hi}"
            counts = _exposure_counts(banded.filter(banded.credit_band == band), selected, [attribute])
            if counts.height < 2:
                continue
            rule = next(d for d in fairness.disparities(counts) if d.name == "four_fifths_rule")
            verdict, _ = _verdict([rule])
            rates = dict(zip(counts["group"], (counts["fp"] / counts["n"]).to_list(), strict=True))
            # Ratios are to the group the rule compared with (the more favoured of its pair).
            reference = rule.groups[0] if rule.groups else None
            top_rate = rates.get(reference) if reference else None
            for r in counts.iter_rows(named=True):
                rate = rates[r["group"]]
                defining = bool(rule.groups) and r["group"] == rule.groups[1]
                rows.append(
                    {
                        "attribute": attribute,
                        "stratum": band,
                        "group": r["group"],
                        "n": r["n"],
                        "selected": r["fp"],
                        "selection_rate": rate,
                        "reference": reference,
                        "ratio": rate / top_rate if top_rate else None,
                        "low": rule.low if defining else None,
                        "high": rule.high if defining else None,
                        "verdict": verdict if defining else "",
                        "rule": fairness.FOUR_FIFTHS_RULE.rule if defining else "",
                        "rule_threshold": fairness.FOUR_FIFTHS_RULE.threshold if defining else None,
                        "interval_method": _rule_of(rule).interval_method if defining else "",
                    }
                )
    strata = pl.DataFrame(
        rows,
        schema={
            "attribute": pl.String,
            "stratum": pl.String,
            "group": pl.String,
            "n": pl.Int64,
            "selected": pl.Int64,
            "selection_rate": pl.Float64,
            "reference": pl.String,
            "ratio": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "verdict": pl.String,
            "rule": pl.String,
            "rule_threshold": pl.Float64,
            "interval_method": pl.String,
        },
    )
    # A gap inside a credit band is not explained by creditworthiness: it fails the decision
    # even where the overall comparison alone would not.
    band_verdicts = [v for v in strata.get_column("verdict").to_list() if v]
    verdict = "fail" if "fail" in band_verdicts else audit.verdict
    return FairnessAudit(**{**audit.__dict__, "strata": strata, "verdict": verdict})


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
    assert score is not None
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
        a score without a threshold, a single group, no group column.
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
    decisions = _decisions(frame, y_pred=y_pred, score=score, threshold=threshold)
    scored_by = score or (y_pred if threshold is not None else None)
    data = frame.select(*dict.fromkeys([y_true, *groups])).with_columns(decisions.alias("__decision"))
    if scored_by is not None:
        data = data.with_columns(frame.get_column(scored_by).cast(pl.Float64).alias("__score"))
    counts, quality = {}, {}
    for attrs in _attribute_sets(groups):
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
        verdict=_overall([a.verdict for a in attributes]),
        data_hash=_hash(source, threshold, *counts.values(), *quality.values()),
    )


# -- experiments ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentEquity:
    """Does a treatment help one group less? Per-group lifts and their heterogeneity.

    Parameters
    ----------
    experiment_id, attribute, metric : str
        What was compared.
    lifts : polars.DataFrame
        :func:`analytics.experiments.breakdown.segment_breakdown` for the attribute.
    q, df, p_value : float or None
        Cochran's Q statistic of the lifts, its degrees of freedom and chi-square p-value
        (None with fewer than two comparable groups).
    verdict : {"pass", "fail", "undecided"}
        fail when the lifts differ (p below :data:`HETEROGENEITY_ALPHA`), pass when they do not
        and every group is large enough, undecided otherwise.
    least_helped : str or None
        The group with the smallest lift.
    reason : str
        One sentence.
    rule : VerdictRule
        The rule the verdict reads (:data:`HETEROGENEITY_RULE`).
    """

    experiment_id: str
    attribute: str
    metric: str
    lifts: pl.DataFrame
    q: float | None
    df: int | None
    p_value: float | None
    verdict: Verdict
    least_helped: str | None
    reason: str
    rule: fairness.VerdictRule = HETEROGENEITY_RULE


def cochran_q(effects: np.ndarray, standard_errors: np.ndarray) -> tuple[float, int, float]:
    """Cochran's Q test that several independent estimates share one value.

    Q = sum w_i (d_i - d_bar)^2 with w_i = 1 / se_i^2 and d_bar the inverse-variance weighted
    mean; under the null it is chi-square with k - 1 degrees of freedom (Cochran 1954). Written
    here because it is three lines; the tests check it against statsmodels' ``combine_effects``.

    Parameters
    ----------
    effects, standard_errors : numpy.ndarray
        One estimate and its standard error per group (at least two, all SE > 0).

    Returns
    -------
    tuple
        (Q, degrees of freedom, p-value).

    Examples
    --------
    >>> q, df, p = cochran_q(np.array([0.1, 0.1]), np.array([0.05, 0.05]))
    >>> (round(q, 6), df, round(p, 6))
    (0.0, 1, 1.0)
    """
    w = 1.0 / np.square(standard_errors)
    mean = float(np.sum(w * effects) / np.sum(w))
    q = float(np.sum(w * np.square(effects - mean)))
    df = int(effects.size - 1)
    return q, df, float(stats.chi2.sf(q, df))


def experiment_equity(
    backend: ibis.BaseBackend,
    experiment_id: str,
    *,
    snapshot: date,
    attribute: str = "gender",
    metric: str | None = None,
) -> ExperimentEquity:
    """Each group's lift in an experiment and whether the treatment helps some group less.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    experiment_id : str
        The experiment.
    snapshot : datetime.date
        The data set's snapshot date.
    attribute : {"gender", "age_band"}
        Protected attribute (the age band on the start date).
    metric : str, optional
        The experiment's primary metric when omitted.

    Returns
    -------
    ExperimentEquity
        Lifts with 95% intervals per group (first treatment against control) and Cochran's Q.
    """
    if attribute not in fairness.PROTECTED_ATTRIBUTES:
        raise ValueError(
            fairness.MSG_UNKNOWN_ATTRIBUTE.format(
                name=attribute, choices=", ".join(fairness.PROTECTED_ATTRIBUTES)
            )
        )
    experiment = experiment_bank.load_experiment(backend, experiment_id, snapshot=snapshot)
    metric = metric or experiment.primary_metric
    lifts = experiment_breakdown.segment_breakdown(backend, experiment, metric=metric, dimension=attribute)
    treatment = experiment.variants[1] if len(experiment.variants) > 1 else None
    usable = lifts.filter(
        (pl.col("treatment") == treatment) & pl.col("lift").is_not_null() & pl.col("low").is_not_null()
    )
    # The intervals are symmetric normal (Welch or z) intervals: SE = half-width / z(0.975).
    z = float(stats.norm.ppf(0.975))
    se = ((usable.get_column("high") - usable.get_column("low")) / (2 * z)).to_numpy()
    ok = se > 0
    if ok.sum() < 2:
        return ExperimentEquity(
            experiment_id, attribute, metric, lifts, None, None, None, "undecided", None,
            "Fewer than two groups have a lift to compare.",
        )  # fmt: skip
    effects = usable.get_column("lift").to_numpy()[ok]
    names = np.array(usable.get_column("group").to_list())[ok]
    q, df, p = cochran_q(effects, se[ok])
    least = str(names[int(np.argmin(effects))])
    small = bool(
        (
            usable.filter(pl.Series(ok)).select(pl.min_horizontal("control_n", "treatment_n"))
            < fairness.MIN_GROUP_SIZE
        )
        .to_series()
        .any()
    )
    if p < HETEROGENEITY_ALPHA:
        verdict: Verdict = "fail"
        reason = f"The lift differs between groups (Cochran's Q = {q:.2f}, p = {p:.3g}); {least} gains least."
    elif small:
        verdict = "undecided"
        reason = (
            f"No clear difference (p = {p:.3g}), but a group has fewer than "
            f"{fairness.MIN_GROUP_SIZE} customers per arm."
        )
    else:
        verdict = "pass"
        reason = f"No evidence the treatment helps one group less (Cochran's Q = {q:.2f}, p = {p:.3g})."
    if not math.isfinite(q):
        verdict, reason = "undecided", "The lifts' standard errors are not usable."
    return ExperimentEquity(experiment_id, attribute, metric, lifts, q, df, p, verdict, least, reason)


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
