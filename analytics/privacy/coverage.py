"""Consent coverage: how many current customers agreed to each purpose, overall, by group and over time.

A current customer on a day has joined by then and is not closed on it (the rule scoring and
the rollups use). Coverage today is counted from the customers table's consent flags, which hold
each customer's latest choice and the date it was last changed (``consent_updated_at``); coverage
over time from the consent history (``consent_events``), each choice holding from its day until
the customer's next one for the purpose.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.access.consent import Purpose
from analytics.common.docs import shared_docs
from analytics.common.expressions import age_band_expr
from analytics.common.months import add_months
from analytics.store.contracts import CONSENT_EVENTS, CUSTOMERS

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


def coverage_days(as_of: date, months: int) -> list[date]:
    """The days :func:`consent_coverage_over_time` counts on: month ends, the last one ``as_of``.

    Examples
    --------
    >>> coverage_days(date(2026, 10, 31), 3)
    [datetime.date(2026, 8, 31), datetime.date(2026, 9, 30), datetime.date(2026, 10, 31)]
    >>> coverage_days(date(2026, 10, 15), 2)
    [datetime.date(2026, 9, 30), datetime.date(2026, 10, 15)]
    """
    if months < 1:
        raise ValueError(MSG_BAD_MONTHS.format(months=months))
    first = as_of.replace(day=1)
    days = [add_months(first, k + 1) - timedelta(days=1) for k in range(1 - months, 1)]
    days[-1] = min(days[-1], as_of)
    return days


MSG_BAD_MONTHS = "Consent coverage over time needs at least one month (got {months})."


@shared_docs
def consent_coverage_over_time(backend: ibis.BaseBackend, *, as_of: date, months: int = 24) -> pl.DataFrame:
    """Share of current customers consenting to each purpose at each month end, from the consent history.

    A customer's choice for a purpose on a day is their latest ``consent_events`` row on or
    before it (the higher ``event_id`` among rows of the same day); a customer without one by
    then counts as not consenting. The customers counted are those current on the day (joined
    by then, not closed on or before it). Computed in the engine: each event holds from its
    ``changed_at`` until the next event of the customer and purpose (a ``lead`` window), and is
    joined to the days it covers.

    Parameters
    ----------
    {backend}
    as_of : datetime.date
        The snapshot day: the last point (a month end, or the snapshot itself mid-month).
    months : int
        How many month ends, ``as_of``'s month included (:func:`coverage_days`).

    Returns
    -------
    polars.DataFrame
        One row per day and purpose: ``month_end`` (date), ``purpose``, ``customers`` (current
        that day), ``consenting`` (of them, agreeing that day), ``share`` (``consenting /
        customers``; null without customers), ordered by day then purpose.

    Raises
    ------
    ValueError
        For ``months`` below 1 (:data:`MSG_BAD_MONTHS`).
    """
    days = ibis.memtable({"month_end": coverage_days(as_of, months)}, schema={"month_end": "date"})
    customers = backend.table(CUSTOMERS.name)
    events = backend.table(CONSENT_EVENTS.name)
    current = customers.join(
        days,
        [
            customers.joined_at <= days.month_end,
            customers.closed_at.isnull() | (customers.closed_at > days.month_end),
        ],
    ).select("customer_id", "month_end")
    # Each event holds from its day until the customer's next event for the purpose; on a
    # shared day the earlier event_id holds for no day at all.
    span = ibis.window(
        group_by=[events.customer_id, events.purpose], order_by=[events.changed_at, events.event_id]
    )
    held = events.mutate(valid_to=events.changed_at.lead().over(span))
    granted = held.filter(held.granted)
    state = granted.join(
        days,
        [
            granted.changed_at <= days.month_end,
            granted.valid_to.isnull() | (granted.valid_to > days.month_end),
        ],
    ).select("customer_id", "purpose", "month_end")
    consenting = (
        state.join(current, ["customer_id", "month_end"])
        .group_by(["month_end", "purpose"])
        .aggregate(consenting=ibis._.count())
    )
    counts = current.group_by("month_end").aggregate(customers=ibis._.count())
    purposes = ibis.memtable({"purpose": list(PURPOSES)}, schema={"purpose": "string"})
    grid = (
        days.cross_join(purposes).left_join(counts, "month_end").select("month_end", "purpose", "customers")
    )
    frame = (
        grid.left_join(consenting, ["month_end", "purpose"])
        .select("month_end", "purpose", "customers", "consenting")
        .to_polars()
    )
    customers_now = pl.col("customers").fill_null(0)
    return (
        frame.with_columns(customers_now.cast(pl.Int64), pl.col("consenting").fill_null(0).cast(pl.Int64))
        .with_columns(
            pl.when(pl.col("customers") > 0).then(pl.col("consenting") / pl.col("customers")).alias("share")
        )
        .sort(["month_end", "purpose"])
    )
