"""Who may be used for what: each customer's latest consent choice, by purpose.

The ``customers`` table holds the latest choice per purpose (``consent_profiling``,
``consent_marketing``; a missing value counts as no). docs/privacy.md says which output
needs which consent; the capabilities apply it where they build their data, with these
expressions:

- **profiling** (:func:`profiling_consented`, :func:`keep_profiling_consented`): anything that
  profiles or lists one person (segments, map points, scores, SHAP values, explanations,
  what-if, individual fairness decisions, CLV predictions, value lists) and the training
  rows of the models that do it;
- **marketing** (:func:`marketing_reachable`): a target or marketing list; it also needs
  profiling consent when the list is built from a profile (a segment, a score), and leaves
  out closed customers.

Aggregate figures that describe no one person (KPIs, consent coverage) count everyone.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.docs import shared_docs

Purpose = Literal["profiling", "marketing"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
"""The purposes a customer consents to separately."""

MSG_NO_PROFILING_CONSENT = (
    "Customer {customer} has not consented to profiling: no score, explanation, what-if or"
    " individual decision is computed or shown for them."
)
"""Refusal of a one-customer view; ``{customer}`` is the id as the viewer's role may read it."""


@shared_docs
def profiling_consented(backend: ibis.BaseBackend) -> ir.Table:
    """The customers whose latest choice allows profiling.

    Parameters
    ----------
    {backend}

    Returns
    -------
    ibis.expr.types.Table
        One column, ``customer_id``: customers with ``consent_profiling`` true (a missing
        value counts as no), whatever their status; semi-join it to keep them.
    """
    customers = backend.table("customers")
    return customers.filter(customers.consent_profiling.fill_null(False)).select("customer_id")


@shared_docs
def marketing_reachable(backend: ibis.BaseBackend, *, as_of: date, from_profile: bool = True) -> ir.Table:
    """The customers a marketing or target list may name on ``as_of``.

    Parameters
    ----------
    {backend}
    as_of : datetime.date
        The day of the list (the snapshot date): customers closed on or before it are left out.
    from_profile : bool
        Whether the list is built from a profile (a segment, a score, a recommendation): then
        profiling consent is needed as well as marketing consent.

    Returns
    -------
    ibis.expr.types.Table
        One column, ``customer_id``.
    """
    customers = backend.table("customers")
    day = ibis.literal(as_of, type="date")
    keep = customers.consent_marketing.fill_null(False) & (
        customers.closed_at.isnull() | (customers.closed_at > day)
    )
    if from_profile:
        keep = keep & customers.consent_profiling.fill_null(False)
    return customers.filter(keep).select("customer_id")


@shared_docs
def keep_profiling_consented(
    frame: pl.DataFrame, backend: ibis.BaseBackend, *, column: str = "customer_id"
) -> pl.DataFrame:
    """The rows of ``frame`` whose customer consented to profiling (order kept).

    For frames already in memory (a feature frame, stored predictions read back); an Ibis
    expression semi-joins :func:`profiling_consented` instead.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows naming a customer in ``column``.
    {backend}
    column : str
        The customer number column.

    Returns
    -------
    polars.DataFrame
        The consenting customers' rows.
    """
    ids = profiling_consented(backend).to_polars().get_column("customer_id").cast(pl.Int64)
    return frame.filter(pl.col(column).cast(pl.Int64).is_in(ids.implode()))


@shared_docs
def has_profiling_consent(backend: ibis.BaseBackend, customer_id: int) -> bool:
    """Whether one customer's latest choice allows profiling (False for an unknown customer).

    Parameters
    ----------
    {backend}
    customer_id : int
        The customer (a bound value).

    Returns
    -------
    bool
        ``consent_profiling`` of that customer.
    """
    customers = backend.table("customers")
    found = (
        customers.filter(customers.customer_id == ibis.literal(int(customer_id), type="int64"))
        .select(ok=customers.consent_profiling.fill_null(False))
        .to_polars()
    )
    return bool(found.height and found.item(0, 0))
