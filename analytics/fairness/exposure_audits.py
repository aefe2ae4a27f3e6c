"""Fairness audits of exposure: campaigns, targeting lists and the historical credit decision.

- :func:`audit_exposure` and :func:`audit_targeting`: who was offered something among those who
  could have been. A campaign's population is the customers active on its first day who agreed
  to marketing; any later targeting list (a set of customer ids) goes through the same code.
  There is no outcome, so only selection rates and demographic parity are judged.
- :func:`audit_credit_decision`: the historical pre-approved personal-loan decision, audited
  among the customers its rule made eligible (credit score of at least
  :data:`CREDIT_ELIGIBILITY_MIN_SCORE`) and within credit bands, so a gap cannot be explained
  away by creditworthiness.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.expressions import age_band_expr
from analytics.fairness import metrics as fairness
from analytics.fairness.audits import (
    AuditKind,
    FairnessAudit,
    attribute_sets,
    audit_from_counts,
    figures_hash,
    four_fifths_rule_of,
    four_fifths_verdict,
    overall_verdict,
)

CREDIT_ELIGIBILITY_MIN_SCORE = 600
"""The pre-approval rule's floor: only customers at or above this credit score were eligible."""

CREDIT_BANDS: tuple[tuple[int, int], ...] = ((600, 649), (650, 699), (700, 749), (750, 850))
"""Credit bands inside which the credit decision is compared (a legitimate factor held fixed)."""

CREDIT_PRODUCT = "personal_loan"
"""The product of the historical credit-offer decision (the pre-approved personal loan campaign)."""

MSG_UNKNOWN_CAMPAIGN = "Campaign {campaign_id} does not exist. Campaigns: {known}."
MSG_NO_CREDIT_CAMPAIGN = (
    "The database holds no campaign for the product {product!r}: there is no credit decision."
)
MSG_EMPTY_TARGETING = "The targeting list is empty: there is nobody to audit."
MSG_UNKNOWN_TARGETS = "{count} customer ids of the targeting list are not in the population, e.g. {example}."


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
    counts = {attrs: _exposure_counts(population, selected, attrs) for attrs in attribute_sets(groups)}
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
        verdict=overall_verdict([a.verdict for a in attributes]),
        data_hash=figures_hash(kind, subject_id, as_of, *counts.values()),
        notes=(EXPOSURE_NOTE, *notes),
    )


@shared_docs
def list_campaigns(backend: ibis.BaseBackend) -> pl.DataFrame:
    """The campaigns whose exposure can be audited, in start order.

    Parameters
    ----------
    {backend}

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


@shared_docs
def audit_exposure(
    backend: ibis.BaseBackend, campaign_id: int, *, groups: Sequence[str] = fairness.PROTECTED_ATTRIBUTES
) -> FairnessAudit:
    """Who was sent a campaign's offer, among the customers who could have been, by protected group.

    Parameters
    ----------
    {backend}
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


@shared_docs
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
    {backend}
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
        subject_id=figures_hash(sorted(ids.to_list()))[:16],
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


@shared_docs
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
    {backend}
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
            verdict, _ = four_fifths_verdict([rule])
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
                        "interval_method": four_fifths_rule_of(rule).interval_method if defining else "",
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
