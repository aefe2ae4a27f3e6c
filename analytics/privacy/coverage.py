"""Consent coverage: how many current customers agreed to each purpose, overall and by group.

A current customer on a day has joined by then and is not closed on it (the rule scoring and
the rollups use). Coverage is counted from the customers table's consent flags, which hold each
customer's latest choice and the date it was last changed (``consent_updated_at``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.expressions import age_band_expr
from analytics.store.contracts import CUSTOMERS

Purpose = Literal["marketing", "profiling"]
PURPOSES: dict[Purpose, str] = {"marketing": "consent_marketing", "profiling": "consent_profiling"}
"""Each consent purpose and the customers column that holds it."""

PURPOSE_LABELS: dict[Purpose, str] = {
    "marketing": "Marketing contact (offers, campaigns, target lists)",
    "profiling": "Profiling and personalization (segments, scores, explanations)",
}
COVERAGE_GROUPS: tuple[str, ...] = ("region", "age_band", "preferred_channel")
MSG_UNKNOWN_GROUP = "Consent coverage cannot be split by {group!r}: choose one of {choices}."


def _current(customers: ir.Table, as_of: date) -> ir.Table:
    day = ibis.literal(as_of, type="date")
    return customers.filter(
        customers.joined_at <= day, customers.closed_at.isnull() | (customers.closed_at > day)
    )


@shared_docs
def consent_coverage(backend: ibis.BaseBackend, *, as_of: date, by: str | None = None) -> pl.DataFrame:
    """Share of current customers who consent to each purpose, overall or per group.

    Parameters
    ----------
    {backend}
    as_of : datetime.date
        The day customers are counted on (the snapshot).
    by : str, optional
        ``region``, ``age_band`` or ``preferred_channel``; overall when omitted.

    Returns
    -------
    polars.DataFrame
        One row per purpose (and group): ``purpose``, the group column when ``by`` is given,
        ``customers``, ``consenting``, ``share`` (``consenting / customers``), ordered by purpose
        then group.

    Raises
    ------
    ValueError
        For an unknown ``by`` (:data:`MSG_UNKNOWN_GROUP`).
    """
    if by is not None and by not in COVERAGE_GROUPS:
        raise ValueError(MSG_UNKNOWN_GROUP.format(group=by, choices=", ".join(COVERAGE_GROUPS)))
    customers = _current(backend.table(CUSTOMERS.name), as_of)
    if by == "age_band":
        customers = customers.mutate(age_band=age_band_expr(customers.birth_date, as_of))
    keys = [by] if by else []
    parts = []
    for purpose, column in PURPOSES.items():
        agreed = customers[column].fill_null(False).cast("int64")
        counts = {"customers": customers.count(), "consenting": agreed.sum()}
        part = customers.group_by(keys).aggregate(**counts) if keys else customers.aggregate(**counts)
        parts.append(part.mutate(purpose=ibis.literal(purpose)))
    frame = ibis.union(*parts).to_polars() if len(parts) > 1 else parts[0].to_polars()
    frame = frame.select("purpose", *keys, "customers", "consenting").with_columns(
        (pl.col("consenting") / pl.col("customers")).alias("share")
    )
    return frame.sort(["purpose", *keys])


@shared_docs
def consent_changes_by_month(backend: ibis.BaseBackend, *, as_of: date) -> pl.DataFrame:
    """When current customers last changed their consent, by month, with their choice now.

    The customers table keeps each customer's latest choice and its date, not every change,
    so this is the month of the last change of each customer's current flags.

    Parameters
    ----------
    {backend}
    as_of : datetime.date
        The snapshot day.

    Returns
    -------
    polars.DataFrame
        ``month`` (first day), ``purpose``, ``customers`` (whose last change fell in that month),
        ``consenting`` (of those, agreeing now), ordered by month then purpose.
    """
    customers = _current(backend.table(CUSTOMERS.name), as_of)
    month = customers.consent_updated_at.truncate("M").cast("date").name("month")
    parts = []
    for purpose, column in PURPOSES.items():
        agreed = customers[column].fill_null(False).cast("int64")
        part = (
            customers.mutate(month=month, agreed=agreed)
            .group_by("month")
            .aggregate(customers=ibis._.count(), consenting=ibis._.agreed.sum())
            .mutate(purpose=ibis.literal(purpose))
        )
        parts.append(part)
    frame = ibis.union(*parts).to_polars()
    return frame.select("month", "purpose", "customers", "consenting").sort(["month", "purpose"])
