"""Maintained aggregate tables, written once as Ibis expressions.

Every executive KPI needs, at least, one pass that groups all transactions by
customer and month. Rather than one such pass per tile, the loader builds a
``customer_month`` rollup (one row per customer and calendar month in which
the customer was a customer) right after each load, and the KPI functions
read that table in tens of milliseconds. See docs/kpis.md.

Portability notes (the same expression must mean the same on DuckDB and
Spark): months come from ``truncate("M")`` before any comparison, ages are
computed from year/month/day parts rather than ``date_diff``, and all
timestamps are UTC.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

from analytics.schemas import CUSTOMER_MONTH


def month_starts(first: date, last: date) -> list[date]:
    """First days of every calendar month from ``first``'s month to ``last``'s, inclusive.

    Examples
    --------
    >>> month_starts(date(2024, 11, 15), date(2025, 1, 2))
    [datetime.date(2024, 11, 1), datetime.date(2024, 12, 1), datetime.date(2025, 1, 1)]
    """
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def age_band_expr(birth_date: ir.DateValue, as_of: date) -> ir.StringValue:
    """Age band (18-24 ... 65+) on ``as_of`` from a birth-date column.

    Whole years are counted from date parts (birthday reached or not), because
    ``date_diff`` in years differs between engines.
    """
    before_birthday = (birth_date.month() > as_of.month) | (
        (birth_date.month() == as_of.month) & (birth_date.day() > as_of.day)
    )
    age = as_of.year - birth_date.year() - before_birthday.ifelse(1, 0)
    return (
        ibis.cases(
            (age < 25, "18-24"),
            (age < 35, "25-34"),
            (age < 45, "35-44"),
            (age < 55, "45-54"),
            (age < 65, "55-64"),
            else_="65+",
        )
    ).name("age_band")


def _month(ts: ir.Value) -> ir.DateValue:
    return ts.truncate("M").cast("date")


def build_customer_month(backend: ibis.BaseBackend, *, as_of: date, history_start: date) -> ir.Table:
    """Expression for the ``customer_month`` rollup.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend holding the canonical tables.
    as_of : datetime.date
        Snapshot date: the last month included and the date ages are taken on.
    history_start : datetime.date
        First month included (older months are outside the data set's history).

    Returns
    -------
    ibis.Table
        Rows of ``customer_month`` with the contract's columns, in its order.
    """
    customers = backend.table("customers")
    months = ibis.memtable({"month": month_starts(history_start, as_of)}, schema={"month": "date"})

    joined_month = _month(customers.joined_at)
    closed_month = _month(customers.closed_at)
    skeleton = (
        customers.cross_join(months)
        .filter(
            months.month >= joined_month,
            customers.closed_at.isnull() | (months.month <= closed_month),
        )
        .select(
            customers.customer_id,
            months.month,
            customers.region,
            age_band_expr(customers.birth_date, as_of),
            customers.gender,
            is_new=months.month == joined_month,
            is_closed=customers.closed_at.notnull() & (months.month == closed_month),
        )
    )

    tx = backend.table("transactions")
    tx_month = tx.group_by(customer_id=tx.customer_id, month=_month(tx.ts)).aggregate(
        txn_count=tx.count(),
        spend=(tx.direction == "debit").ifelse(tx.amount, 0.0).sum(),
        fee_margin=tx.fee.sum(),
    )

    ev = backend.table("digital_events")
    ev_month = ev.group_by(customer_id=ev.customer_id, month=_month(ev.ts)).aggregate(
        sessions=ev.count(),
        session_seconds=ev.duration_seconds.cast("int64").sum(),
    )

    of = backend.table("offers")
    of_month = of.group_by(customer_id=of.customer_id, month=_month(of.sent_at)).aggregate(
        offers_sent=of.count(),
        offers_opened=of.opened_at.notnull().sum(),
        offers_clicked=of.clicked_at.notnull().sum(),
        offers_converted=of.converted_at.notnull().sum(),
    )

    sv = backend.table("surveys")
    is_nps = sv.survey_type == "nps"
    is_csat = sv.survey_type == "csat"
    sv_month = sv.group_by(customer_id=sv.customer_id, month=_month(sv.ts)).aggregate(
        nps_responses=is_nps.sum(),
        nps_promoters=(is_nps & (sv.score >= 9)).sum(),
        nps_detractors=(is_nps & (sv.score <= 6)).sum(),
        csat_responses=is_csat.sum(),
        csat_satisfied=(is_csat & (sv.score >= 4)).sum(),
    )

    # A product counts in a month when it was held on at least one day of it.
    ho = backend.table("holdings")
    cm = skeleton.select("customer_id", "month")
    held = cm.join(
        ho,
        [
            cm.customer_id == ho.customer_id,
            _month(ho.opened_at) <= cm.month,
            ho.closed_at.isnull() | (_month(ho.closed_at) >= cm.month),
        ],
    )
    ho_month = held.group_by(customer_id=cm.customer_id, month=cm.month).aggregate(
        products_held=held.product_id.nunique(),
        holding_margin=held.monthly_margin.sum(),
    )

    out = skeleton
    for part in (tx_month, ev_month, of_month, sv_month, ho_month):
        out = out.left_join(part, ["customer_id", "month"]).drop("customer_id_right", "month_right")

    filled = {}
    for name, dtype in CUSTOMER_MONTH.schema.items():
        column = out[name]
        if name in {"customer_id", "month", "region", "age_band", "gender", "is_new", "is_closed"}:
            filled[name] = column
        elif dtype.is_float():
            filled[name] = column.fill_null(0.0).cast("float64")
        else:
            filled[name] = column.fill_null(0).cast("int64")
    return out.select(**filled)
