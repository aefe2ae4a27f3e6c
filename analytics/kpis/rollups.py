"""Maintained aggregate tables, written once as Ibis expressions.

Every executive KPI needs, at least, one pass that groups all transactions by
customer and month. Rather than one such pass per tile, the loader builds a
``customer_month`` rollup (one row per customer and calendar month in which
the customer was a customer) right after each load, and the KPI functions
read that table in tens of milliseconds. See docs/kpis.md.

On top of it, two small cubes make every executive KPI additive, so that a filter
change reads a few thousand rows: ``kpi_cube`` (sums per month, region, age band and
joined bucket) and ``kpi_cube_product`` (the same per product, over each product's
holders: a customer-month counts under a product inside the customer's span of it, with
take-up as new and giving it up as closed, :func:`product_span_rows`).
:func:`build_kpi_cube_rows` is the one set of formulas; the KPI code applies it on the
fly to a filtered ``customer_month`` (and :func:`product_span_rows` for several
products) when no cube can answer.

Portability notes (the same expression must mean the same on DuckDB and
Spark): months come from ``truncate("M")`` before any comparison, ages are
computed from year/month/day parts rather than ``date_diff``, and all
timestamps are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics.common.expressions import age_band_expr
from analytics.common.types import PRODUCT_IDS
from analytics.kpis import statistics as es
from analytics.store.contracts import (
    COHORT_CUBE,
    CUSTOMER_FEATURES,
    CUSTOMER_MONTH,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
    FEATURE_WINDOW_MONTHS,
    KPI_CUBE,
    KPI_CUBE_PRODUCT,
)
from analytics.store.derived import register_builder

JOINED_BEFORE_HISTORY = date(1900, 1, 1)
"""``joined_bucket`` of customers who joined before the data set's history starts."""


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

    # Only signed-in visits are sessions; other event types may be recorded later.
    ev = backend.table("digital_events")
    ev = ev.filter(ev.event_type == "session")
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


def _joined_bucket(month: ir.DateValue, history_start: date | None) -> ir.DateValue:
    """A start month as a ``joined_bucket``: one shared value for starts before the history."""
    if history_start is None:
        return month
    return (month < ibis.literal(history_start, type="date")).ifelse(
        ibis.literal(JOINED_BEFORE_HISTORY, type="date"), month
    )


def product_span_rows(
    customer_month: ir.Table,
    holdings: ir.Table,
    customers: ir.Table,
    *,
    products: Sequence[str] | None,
    history_start: date | None,
) -> ir.Table:
    """``customer_month`` rows inside each customer's span of a product set P, with product-level flags.

    A customer's P-span runs from the month of the earliest ``opened_at`` among their
    holdings in P to the month of the latest ``closed_at`` (open-ended while any holding in
    P is open), clipped to their ``customer_month`` rows. Gaps between holdings inside the
    span are ignored: the span is continuous. Within it the flags become product-level:

    - ``is_new``: the span's first month (product take-up, including a new bank customer
      opening it), when that month is a row (inside the history);
    - ``is_closed``: the span's last month when the span ended (every holding in P closed,
      or the customer left the bank);
    - ``joined_bucket``: the span's first month on new or closed rows (see
      :func:`with_joined_bucket` for ``history_start``), null otherwise.

    Every other column is the customer-month's own. So under a product filter S + N is
    everyone who held P at some point in a period, retention and churn are those of P's
    holders.

    Parameters
    ----------
    customer_month : ibis.Table
        ``customer_month`` rows (possibly already sliced by month, region or age band).
    holdings, customers : ibis.Table
        The canonical tables.
    products : sequence of str or None
        P. None builds one span per product held (P = {p} for every p) and keeps a
        ``product_id`` column: the rows of ``kpi_cube_product``.
    history_start : datetime.date or None
        First month of the history; None keeps the exact start month in ``joined_bucket``
        (the same KPIs, since every period starts inside the history).

    Returns
    -------
    ibis.Table
        ``customer_month``'s columns with the flags replaced, ``joined_bucket``, and
        ``product_id`` when ``products`` is None.
    """
    keys = ["customer_id"]
    if products is None:
        keys.append("product_id")
    else:
        holdings = holdings.filter(holdings.product_id.isin(list(products)))
    spans = holdings.group_by(keys).aggregate(
        span_first=_month(holdings.opened_at).min(),
        span_last=_month(holdings.closed_at).max(),
        open_holdings=holdings.closed_at.isnull().cast("int64").sum(),
    )
    spans = spans.select(
        *keys,
        "span_first",
        span_last=ibis.cases((spans.open_holdings > 0, ibis.null("date")), else_=spans.span_last),
    )
    joined = customers.select(customer_id=customers.customer_id, joined_month=_month(customers.joined_at))
    rows = customer_month.join(spans, "customer_id").join(joined, "customer_id")
    rows = rows.filter(
        rows.month >= rows.span_first, rows.span_last.isnull() | (rows.month <= rows.span_last)
    )
    # A holding opened before the customer joined (degenerate data) starts the span at joining.
    start = ibis.greatest(rows.span_first, rows.joined_month)
    is_new = rows.month == start
    # A customer who leaves the bank while holding P ends the span with their last row.
    is_closed = rows.is_closed | (rows.span_last.notnull() & (rows.month == rows.span_last))
    columns = {name: rows[name] for name in CUSTOMER_MONTH.schema.names()}
    columns["is_new"] = is_new
    columns["is_closed"] = is_closed
    columns["joined_bucket"] = (is_new | is_closed).ifelse(
        _joined_bucket(start, history_start), ibis.null("date")
    )
    if products is None:
        columns["product_id"] = rows.product_id
    return rows.select(**columns)


def with_joined_bucket(
    customer_month: ir.Table, customers: ir.Table, *, history_start: date | None
) -> ir.Table:
    """``customer_month`` rows with ``joined_bucket``: the join month on new or closing rows, else null.

    Joins before ``history_start`` share the single value :data:`JOINED_BEFORE_HISTORY`
    (every period starts inside the history, so they are all "before the period" alike);
    with ``history_start=None`` the exact join month is kept, which gives the same KPIs.
    """
    joined = customers.select(customer_id=customers.customer_id, joined_month=_month(customers.joined_at))
    rows = customer_month.join(joined, "customer_id")
    bucket = _joined_bucket(rows.joined_month, history_start)
    flagged = rows.is_new | rows.is_closed
    return rows.mutate(joined_bucket=flagged.ifelse(bucket, ibis.null("date"))).drop("joined_month")


def engagement_parts(rows: ir.Table) -> dict[str, ir.FloatingValue]:
    """Uncapped inputs of the monthly engagement score of each customer-month row.

    ``sessions`` in the month, average session ``minutes`` (0 without sessions),
    ``products`` held, and ``offers`` interaction ((opened + clicked) / (2 sent), at most 1;
    the neutral 0.5 without offers).
    """
    sessions = rows.sessions.cast("float64")
    return {
        "sessions": sessions,
        "minutes": (rows.sessions > 0).ifelse(rows.session_seconds / sessions / 60.0, 0.0),
        "products": rows.products_held.cast("float64"),
        "offers": (rows.offers_sent > 0).ifelse(
            ibis.least((rows.offers_opened + rows.offers_clicked) / (2.0 * rows.offers_sent), 1.0),
            es.ENGAGEMENT_NEUTRAL_OFFER_INTERACTION,
        ),
    }


def monthly_engagement_score(parts: dict[str, ir.FloatingValue]) -> ir.FloatingValue:
    """The monthly Customer Engagement Score (0-100) from :func:`engagement_parts`, caps applied."""
    return 100.0 * (
        es.ENGAGEMENT_WEIGHT_SESSIONS * ibis.least(parts["sessions"] / es.ENGAGEMENT_SESSIONS_CAP, 1.0)
        + es.ENGAGEMENT_WEIGHT_MINUTES * ibis.least(parts["minutes"] / es.ENGAGEMENT_MINUTES_CAP, 1.0)
        + es.ENGAGEMENT_WEIGHT_PRODUCTS * ibis.least(parts["products"] / es.ENGAGEMENT_PRODUCTS_CAP, 1.0)
        + es.ENGAGEMENT_WEIGHT_OFFERS * parts["offers"]
    )


CUBE_COUNT_COLUMNS: tuple[str, ...] = (
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "offers_sent",
    "offers_opened",
    "offers_clicked",
    "offers_converted",
)
"""customer_month counts the cubes sum as they are."""


def build_kpi_cube_rows(rows: ir.Table, keys: tuple[str, ...]) -> ir.Table:
    """Additive KPI sums of customer-month ``rows`` (with ``joined_bucket``) grouped by ``keys``.

    Columns: ``customer_months``; ``new`` and ``closed`` rows; ``active`` customer-months
    with a transaction or a session; ``margin`` (fee plus holding margin); ``products``
    (sum of products held); ``engagement_sum`` (sum of the monthly Customer Engagement
    Score of each row, :func:`analytics.kpis.statistics.engagement_score`); then the NPS, CSAT
    and offer counts. See docs/kpis.md for how each KPI is made from them.
    """
    score = monthly_engagement_score(engagement_parts(rows))
    counts = {name: rows[name].sum().cast("int64") for name in CUBE_COUNT_COLUMNS}
    return rows.group_by(list(keys)).aggregate(
        customer_months=rows.count().cast("int64"),
        new=rows.is_new.cast("int64").sum(),
        closed=rows.is_closed.cast("int64").sum(),
        active=((rows.txn_count > 0) | (rows.sessions > 0)).cast("int64").sum(),
        margin=(rows.fee_margin + rows.holding_margin).sum().cast("float64"),
        products=rows.products_held.sum().cast("int64"),
        engagement_sum=score.sum().cast("float64"),
        **counts,
    )


CUBE_KEYS: tuple[str, ...] = ("month", "region", "age_band", "joined_bucket")


def build_kpi_cube(backend: ibis.BaseBackend, *, history_start: date) -> ir.Table:
    """Expression for ``kpi_cube``: :func:`build_kpi_cube_rows` of all of ``customer_month``.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend holding ``customers`` and the freshly built ``customer_month``.
    history_start : datetime.date
        First month of the history (joins before it share one ``joined_bucket``).

    Returns
    -------
    ibis.Table
        Rows with the contract's columns, in its order.
    """
    rows = with_joined_bucket(
        backend.table("customer_month"), backend.table("customers"), history_start=history_start
    )
    return build_kpi_cube_rows(rows, CUBE_KEYS).select(*KPI_CUBE.schema.names())


def build_kpi_cube_product(backend: ibis.BaseBackend, *, history_start: date) -> ir.Table:
    """Expression for ``kpi_cube_product``: the cube's sums per product, over each product's holders.

    :func:`product_span_rows` with P = {p} for every product p, grouped with ``product_id``:
    a customer-month counts under p when it lies in the customer's p-span, and new / closed
    mean taking p up / giving it up (or leaving the bank while holding it).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend holding ``customers``, ``holdings`` and the freshly built ``customer_month``.
    history_start : datetime.date
        First month of the history (spans starting before it share one ``joined_bucket``).

    Returns
    -------
    ibis.Table
        Rows with the contract's columns, in its order.
    """
    rows = product_span_rows(
        backend.table("customer_month"),
        backend.table("holdings"),
        backend.table("customers"),
        products=None,
        history_start=history_start,
    )
    return build_kpi_cube_rows(rows, ("month", "product_id", *CUBE_KEYS[1:])).select(
        *KPI_CUBE_PRODUCT.schema.names()
    )


def build_cohort_cube(backend: ibis.BaseBackend, *, history_start: date) -> ir.Table:
    """Expression for ``cohort_cube``: cohort members per join month, month, region and age band.

    The cohort heat maps (:func:`analytics.kpis.retention.compute_cohort_matrix`) sum it instead
    of joining ``customer_month`` to the customers on every request: about 11,000 rows at
    200,000 customers instead of millions.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend holding ``customers`` and the freshly built ``customer_month``.
    history_start : datetime.date
        First month of the history: customers who joined before it belong to no cohort.

    Returns
    -------
    ibis.Table
        Rows with the contract's columns, in its order.
    """
    customers = backend.table("customers")
    joined = customers.filter(customers.joined_at >= ibis.literal(history_start, type="date")).select(
        customer_id=customers.customer_id, cohort_month=_month(customers.joined_at)
    )
    cm = backend.table("customer_month")
    rows = cm.select("customer_id", "month", "region", "age_band", margin=cm.fee_margin + cm.holding_margin)
    rows = rows.join(joined, "customer_id")
    return (
        rows.group_by("cohort_month", "month", "region", "age_band")
        .aggregate(customers=rows.count().cast("int64"), margin=rows.margin.sum().cast("float64"))
        .select(*COHORT_CUBE.schema.names())
    )


def feature_window_start(as_of: date) -> date:
    """First day of the trailing window of ``customer_features``: the 12 months ending on ``as_of``.

    The window is ``[as_of + 1 day - 12 months, as_of]`` (a 29 February start moves to
    1 March).

    Examples
    --------
    >>> feature_window_start(date(2026, 10, 31))
    datetime.date(2025, 11, 1)
    >>> feature_window_start(date(2026, 6, 15))
    datetime.date(2025, 6, 16)
    """
    after = as_of + timedelta(days=1)
    months = after.year * 12 + after.month - 1 - FEATURE_WINDOW_MONTHS
    year, month = divmod(months, 12)
    try:
        return date(year, month + 1, after.day)
    except ValueError:
        return date(year, month + 2, 1)


def _age_years(birth_date: ir.DateValue, as_of: date) -> ir.IntegerValue:
    """Whole years on ``as_of`` from date parts (``date_diff`` in years differs between engines)."""
    before_birthday = (birth_date.month() > as_of.month) | (
        (birth_date.month() == as_of.month) & (birth_date.day() > as_of.day)
    )
    return as_of.year - birth_date.year() - before_birthday.ifelse(1, 0)


def _share(part: ir.NumericValue, whole: ir.NumericValue) -> ir.FloatingValue:
    return (whole > 0).ifelse(part.cast("float64") / whole.cast("float64"), ibis.null("float64"))


def build_customer_features(backend: ibis.BaseBackend, *, as_of: date, history_start: date) -> ir.Table:
    """Expression for ``customer_features``: one row per customer on ``as_of``, for the Segments page.

    Behaviour (transactions, sessions, surveys, support, offers) is taken over the trailing
    12 months ending on ``as_of`` (:func:`feature_window_start`); products and balances are
    the holdings open on ``as_of``; age and tenure are measured on ``as_of``. Every column is
    documented in :data:`analytics.store.contracts.CUSTOMER_FEATURES`; the choices in docs/segments.md.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend holding the canonical tables.
    as_of : datetime.date
        Snapshot date.
    history_start : datetime.date
        First month of the history; a window reaching before it simply sees less data (the
        parameter keeps the signature of the other rollups).

    Returns
    -------
    ibis.Table
        Rows with the contract's columns, in its order.
    """
    del history_start  # the window is defined from as_of alone
    start = feature_window_start(as_of)
    window_days = (as_of - start).days + 1
    start_ts = ibis.literal(datetime.combine(start, time()), type="timestamp")
    end_ts = ibis.literal(datetime.combine(as_of + timedelta(days=1), time()), type="timestamp")
    as_of_lit = ibis.literal(as_of, type="date")

    customers = backend.table("customers")
    base = customers.filter(
        customers.joined_at <= as_of_lit,
        customers.closed_at.isnull() | (customers.closed_at > as_of_lit),
    )
    exposure_start = ibis.greatest(base.joined_at, ibis.literal(start, type="date"))
    base = base.select(
        "customer_id",
        "annual_income",
        tenure_months=as_of_lit.delta(base.joined_at, unit="day").cast("float64") / 30.4375,
        age=_age_years(base.birth_date, as_of).cast("int64"),
        credit_score=base.credit_score.cast("int64"),
        _exposure_months=(as_of_lit.delta(exposure_start, unit="day") + 1).cast("float64") / 30.4375,
    )

    tx = backend.table("transactions")
    tx = tx.filter(tx.ts >= start_ts, tx.ts < end_ts)
    debit = tx.direction == "debit"
    credit = tx.direction == "credit"
    debit_amount = debit.ifelse(tx.amount, 0.0)
    credit_amount = credit.ifelse(tx.amount, 0.0)
    category = tx.merchant_category.fill_null("")
    tx_aggs = {
        "frequency": debit.cast("int64").sum(),
        "monetary": debit_amount.sum(),
        "_last_debit": debit.ifelse(tx.ts.date(), ibis.null("date")).max(),
        "inflow": credit_amount.sum(),
        **{f"_n_{name}": (debit & (tx.channel == name)).cast("int64").sum() for name in FEATURE_TXN_CHANNELS},
        **{
            f"_s_{name}": (debit & (tx.merchant_category == name)).ifelse(tx.amount, 0.0).sum()
            for name in FEATURE_MERCHANT_CATEGORIES
        },
        "_s_other": (debit & ~category.isin(list(FEATURE_MERCHANT_CATEGORIES))).ifelse(tx.amount, 0.0).sum(),
        **{
            f"_i_{name}": (credit & (tx.merchant_category == name)).ifelse(tx.amount, 0.0).sum()
            for name in FEATURE_INFLOW_KINDS
        },
    }
    tx_per = tx.group_by("customer_id").aggregate(**tx_aggs)

    ev = backend.table("digital_events")
    ev = ev.filter(ev.event_type == "session", ev.ts >= start_ts, ev.ts < end_ts)
    ev_per = ev.group_by("customer_id").aggregate(
        _sessions=ev.count(),
        _app_sessions=(ev.channel == "mobile_app").cast("int64").sum(),
        _session_seconds=ev.duration_seconds.cast("float64").sum(),
    )

    ho = backend.table("holdings")
    ho = ho.filter(ho.opened_at <= as_of_lit, ho.closed_at.isnull() | (ho.closed_at > as_of_lit))
    balance = ho.balance.fill_null(0.0)
    ho_per = ho.group_by("customer_id").aggregate(
        products_held=ho.product_id.nunique().cast("int64"),
        **{f"has_{name}": (ho.product_id == name).any() for name in PRODUCT_IDS},
        deposit_balance=ho.product_id.isin(["current_account", "savings"]).ifelse(balance, 0.0).sum(),
        investment_balance=(ho.product_id == "investment_fund").ifelse(balance, 0.0).sum(),
        credit_balance=ho.product_id.isin(["credit_card", "personal_loan", "mortgage"])
        .ifelse(balance, 0.0)
        .sum(),
    )

    sv = backend.table("surveys")
    sv = sv.filter(sv.ts >= start_ts, sv.ts < end_ts)
    sv_per = sv.group_by("customer_id").aggregate(
        nps_score=(sv.survey_type == "nps").ifelse(sv.score.cast("float64"), ibis.null("float64")).mean(),
        csat_score=(sv.survey_type == "csat").ifelse(sv.score.cast("float64"), ibis.null("float64")).mean(),
    )

    su = backend.table("support_interactions")
    su = su.filter(su.ts >= start_ts, su.ts < end_ts)
    su_per = su.group_by("customer_id").aggregate(support_contacts=su.count())

    of = backend.table("offers")
    of = of.filter(of.sent_at >= start_ts, of.sent_at < end_ts)
    of_per = of.group_by("customer_id").aggregate(
        offers_received=of.count(), _offers_clicked=of.clicked_at.notnull().cast("int64").sum()
    )

    out = base
    for part in (tx_per, ev_per, ho_per, sv_per, su_per, of_per):
        out = out.left_join(part, "customer_id").drop("customer_id_right")

    frequency = out.frequency.fill_null(0)
    monetary = out.monetary.fill_null(0.0)
    inflow = out.inflow.fill_null(0.0)
    sessions = out._sessions.fill_null(0)
    columns: dict[str, ir.Value] = {
        "customer_id": out.customer_id,
        "recency_days": as_of_lit.delta(out._last_debit, unit="day").fill_null(window_days),
        "frequency": frequency,
        "monetary": monetary,
        "avg_ticket": _share(monetary, frequency),
        **{
            f"channel_{name}_share": _share(out[f"_n_{name}"].fill_null(0), frequency)
            for name in FEATURE_TXN_CHANNELS
        },
        **{
            f"spend_{name}_share": _share(out[f"_s_{name}"].fill_null(0.0), monetary)
            for name in (*FEATURE_MERCHANT_CATEGORIES, "other")
        },
        "inflow": inflow,
        **{
            f"inflow_{name}_share": _share(out[f"_i_{name}"].fill_null(0.0), inflow)
            for name in FEATURE_INFLOW_KINDS
        },
        "products_held": out.products_held.fill_null(0),
        **{f"has_{name}": out[f"has_{name}"].fill_null(False) for name in PRODUCT_IDS},
        "deposit_balance": out.deposit_balance.fill_null(0.0),
        "investment_balance": out.investment_balance.fill_null(0.0),
        "credit_balance": out.credit_balance.fill_null(0.0),
        "sessions_per_month": sessions.cast("float64") / out._exposure_months,
        "app_session_share": _share(out._app_sessions.fill_null(0), sessions),
        "avg_session_minutes": _share(out._session_seconds.fill_null(0.0) / 60.0, sessions),
        "tenure_months": out.tenure_months,
        "age": out.age,
        "annual_income": out.annual_income,
        "credit_score": out.credit_score,
        "nps_score": out.nps_score,
        "csat_score": out.csat_score,
        "support_contacts": out.support_contacts.fill_null(0),
        "offers_received": out.offers_received.fill_null(0),
        "offer_click_rate": _share(out._offers_clicked.fill_null(0), out.offers_received.fill_null(0)),
    }
    typed = {name: columns[name].cast(_IBIS_TYPES[dtype]) for name, dtype in CUSTOMER_FEATURES.schema.items()}
    return out.select(**typed)


_IBIS_TYPES = {pl.Int64: "int64", pl.Float64: "float64", pl.Boolean: "boolean"}


# The store rebuilds these tables at every load; it imports no capability, so they are registered
# here (analytics/__init__.py imports this module). customer_month first: the cubes read it.
register_builder("customer_month", build_customer_month, order=0)
register_builder("kpi_cube", build_kpi_cube, order=1, uses_as_of=False)
register_builder("kpi_cube_product", build_kpi_cube_product, order=2, uses_as_of=False)
register_builder("cohort_cube", build_cohort_cube, order=3, uses_as_of=False)
register_builder("customer_features", build_customer_features, order=4)
