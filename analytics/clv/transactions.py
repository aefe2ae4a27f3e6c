"""A transaction log as the CLV models read it: one row per customer with their sufficient statistics.

:func:`summarize_transactions` turns any transaction log (customer id, date, value) into one row
per customer with frequency x (repeat purchase days), recency t_x, age T and the mean value of
the repeat purchases, for a calibration window, plus the actual purchases of a holdout window when
one is given (:class:`TransactionSummary`). :func:`bank_transaction_log` reads the bank's debit
transactions (spend, not margin) so the same pipeline runs on the bank.

Conventions, edge cases and formulas: docs/clv.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, get_args

import ibis
import polars as pl

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = get_args(Period)
PERIOD_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
"""Length of one period in days: weeks of 7 days, months of 365.25 / 12 days."""
DAYS_PER_YEAR = 365.25
MSG_BAD_PERIOD = "period must be one of day, week or month, got {period!r}."
MSG_MISSING_COLUMNS = "The transaction log has no column {missing}; its columns are: {present}."
MSG_SAME_COLUMN = "customer, date and value must be three different columns, got {columns}."
MSG_VALUE_NOT_NUMERIC = "Column {column!r} (value) must be numeric, but it holds {dtype}."
MSG_DATE_TYPE = "Column {column!r} (date) must hold dates, datetimes or text, but it holds {dtype}."
MSG_NULL_ID = "Column {column!r} (customer id) is empty in row {row}."
MSG_NULL_DATE = "Column {column!r} (date) is empty in row {row}."
MSG_BAD_DATE = "Column {column!r} (date) is not a date in row {row}: {value!r}."
MSG_NULL_VALUE = "Column {column!r} (value) is empty in row {row}."
MSG_NONFINITE_VALUE = "Column {column!r} (value) is not a finite number in row {row}: {value}."
MSG_BAD_WINDOW = "calibration_end ({calibration_end}) must be before holdout_end ({holdout_end})."
MSG_WINDOW_IN_FUTURE = (
    "{name} ({value}) is after as_of ({as_of}): the window would include days not observed yet."
)
MSG_NO_CUSTOMERS = (
    "No customer has a purchase (a transaction with a value >= 0) on or before calibration_end"
    " ({calibration_end}): there is nothing to fit."
)


@dataclass(frozen=True)
class TransactionSummary:
    """One row per customer with the models' sufficient statistics, and what was left out.

    Parameters
    ----------
    frame : polars.DataFrame
        ``customer_id`` (the input's type), ``frequency`` (int: purchase days after the
        first, in the calibration window), ``recency`` (first to last purchase),
        ``T`` (first purchase to ``calibration_end``), both in periods,
        ``monetary_value`` (mean value of the repeat purchase days, 0 without one), and
        with a holdout ``holdout_transactions`` (int, purchase days) and ``holdout_value``.
        Sorted by ``customer_id``.
    period : {"day", "week", "month"}
        Unit of recency, T and every horizon.
    calibration_end, holdout_end : datetime.date, datetime.date or None
        Last day of the calibration and of the holdout window (both inclusive).
    as_of : datetime.date
        The day the data were taken; rows after it are "in the future".
    rows_read : int
        Rows of the input.
    rows_used : int
        Rows that count as purchases (value >= 0, dated within the window).
    rows_negative : int
        Rows in the window with a negative value (refunds, reversals): left out.
    rows_after_window : int
        Rows dated after the window's end but not after ``as_of``: left out.
    rows_in_future : int
        Rows dated after ``as_of``: left out (a clock or time-zone problem in the source).
    customers_after_calibration : int
        Customers whose first purchase falls in the holdout: not in the calibration.
    """

    frame: pl.DataFrame
    period: Period
    calibration_end: date
    holdout_end: date | None
    as_of: date
    rows_read: int
    rows_used: int
    rows_negative: int
    rows_after_window: int
    rows_in_future: int
    customers_after_calibration: int

    @property
    def holdout_length(self) -> float | None:
        """Length of the holdout window in periods, or None without a holdout."""
        if self.holdout_end is None:
            return None
        return (self.holdout_end - self.calibration_end).days / PERIOD_DAYS[self.period]

    @property
    def notes(self) -> tuple[str, ...]:
        """Sentences on what was left out of the summary, for the page and the CLI."""
        out = []
        if self.rows_negative:
            out.append(
                f"{self.rows_negative:,} rows with a negative value (refunds, reversals) were left out:"
                " they are not purchases."
            )
        end = self.holdout_end or self.calibration_end
        if self.rows_after_window:
            out.append(f"{self.rows_after_window:,} rows dated after the window's end ({end}) were left out.")
        if self.rows_in_future:
            out.append(
                f"{self.rows_in_future:,} rows are dated after as_of ({self.as_of}) and were left out:"
                " check the source's clock and time zone."
            )
        if self.customers_after_calibration:
            out.append(
                f"{self.customers_after_calibration:,} customers made their first purchase after"
                f" calibration_end ({self.calibration_end}) and are not in the calibration."
            )
        return tuple(out)


def _row_of(mask: pl.Series) -> int:
    return int(mask.arg_true()[0]) + 1


def _date_expr(column: str, dtype: pl.DataType, date_format: str | None) -> pl.Expr:
    col = pl.col(column)
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        # The calendar date in the column's own time zone (naive columns: as stored, UTC in the bank).
        return col.dt.date()
    if dtype.is_integer():
        col = col.cast(pl.String)
    return col.str.strip_chars().str.to_date(format=date_format, strict=False)


def summarize_transactions(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    customer_col: str,
    date_col: str,
    value_col: str,
    calibration_end: date,
    holdout_end: date | None = None,
    period: Period = "week",
    as_of: date | None = None,
    date_format: str | None = None,
) -> TransactionSummary:
    """Reduce a transaction log to one row per customer: frequency, recency, T, mean spend.

    Conventions of Fader, Hardie and Lee (2005): purchases on the same day are one
    purchase (values summed); frequency is the number of purchase days after the first in
    ``[first day, calibration_end]``; recency and T run from the first purchase day to the
    last one and to ``calibration_end``, in ``period`` units (days / 7 for weeks,
    days / (365.25 / 12) for months). ``monetary_value`` is the mean value of the repeat
    purchase days (the first purchase is left out, as in Fader and Hardie's Gamma-Gamma
    note), 0 for customers without a repeat purchase.

    Rows with a negative value (refunds, reversals) are not purchases and are left out, as
    are rows dated after the window's end (``holdout_end``, else ``calibration_end``); both
    are counted in the result. A zero value is a purchase worth nothing (a free item, as in
    CDNOW): it counts for frequency and recency and lowers the mean spend; a repeat customer
    whose mean spend is 0 is left out of the Gamma-Gamma fit only. Customers whose first
    purchase is after ``calibration_end`` are not in the calibration (counted too).

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        The transaction log, one row per transaction.
    customer_col, date_col, value_col : str
        Its customer id (any type, kept as is), date (date, datetime, or text parsed with
        ``date_format``; integers such as 19970101 are read as text) and value (numeric).
    calibration_end : datetime.date
        Last day of the calibration window (inclusive).
    holdout_end : datetime.date, optional
        Last day of the holdout window ``(calibration_end, holdout_end]``; adds the actual
        holdout purchases and value per customer.
    period : {"day", "week", "month"}
        Time unit of recency, T and every horizon.
    as_of : datetime.date, optional
        The day the data were taken (default: today, UTC). The window may not end after
        it; rows dated after it are reported as in the future.
    date_format : str, optional
        strftime format of a text date column (default: inferred from the first value).

    Returns
    -------
    TransactionSummary
        The per-customer frame and the counts of what was left out.

    Raises
    ------
    ValueError
        A missing column, a non-numeric value column, an empty id, date or value, a date
        that cannot be read or a non-finite value (naming the row, counted from 1), a
        window that ends after ``as_of`` or a holdout that does not follow the calibration,
        or no customer in the calibration window.

    Examples
    --------
    >>> log = pl.DataFrame({
    ...     "id": [1, 1, 1, 2],
    ...     "day": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 8), date(2024, 1, 8)],
    ...     "eur": [10.0, 5.0, 7.0, 3.0],
    ... })
    >>> s = summarize_transactions(log, customer_col="id", date_col="day", value_col="eur",
    ...                            calibration_end=date(2024, 1, 15), as_of=date(2024, 2, 1))
    >>> s.frame.rows()
    [(1, 1, 1.0, 2.0, 12.0), (2, 0, 0.0, 1.0, 0.0)]
    """
    _check_period(period)
    as_of = as_of if as_of is not None else datetime.now(UTC).date()
    if holdout_end is not None and holdout_end <= calibration_end:
        raise ValueError(MSG_BAD_WINDOW.format(calibration_end=calibration_end, holdout_end=holdout_end))
    window_end = holdout_end if holdout_end is not None else calibration_end
    name = "holdout_end" if holdout_end is not None else "calibration_end"
    if window_end > as_of:
        raise ValueError(MSG_WINDOW_IN_FUTURE.format(name=name, value=window_end, as_of=as_of))

    lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    schema = lazy.collect_schema()
    columns = (customer_col, date_col, value_col)
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ValueError(
            MSG_MISSING_COLUMNS.format(
                missing=", ".join(repr(c) for c in missing), present=", ".join(schema.names())
            )
        )
    if len(set(columns)) < 3:
        raise ValueError(MSG_SAME_COLUMN.format(columns=", ".join(repr(c) for c in columns)))
    if not schema[value_col].is_numeric():
        raise ValueError(MSG_VALUE_NOT_NUMERIC.format(column=value_col, dtype=schema[value_col]))
    date_dtype = schema[date_col]
    if not (
        date_dtype in (pl.Date, pl.String) or isinstance(date_dtype, pl.Datetime) or date_dtype.is_integer()
    ):
        raise ValueError(MSG_DATE_TYPE.format(column=date_col, dtype=date_dtype))

    data = lazy.select(
        customer_id=pl.col(customer_col),
        date=_date_expr(date_col, date_dtype, date_format),
        value=pl.col(value_col).cast(pl.Float64),
        raw_date=pl.col(date_col),
    ).collect()
    _check_log(data, customer_col=customer_col, date_col=date_col, value_col=value_col)

    in_future = pl.col("date") > as_of
    after_window = (pl.col("date") > window_end) & ~in_future
    negative = (pl.col("date") <= window_end) & (pl.col("value") < 0)
    counts = data.select(future=in_future.sum(), after=after_window.sum(), negative=negative.sum()).row(
        0, named=True
    )
    used = data.filter((pl.col("date") <= window_end) & (pl.col("value") >= 0)).select(
        "customer_id", "date", "value"
    )

    days = PERIOD_DAYS[period]
    in_cal = pl.col("date") <= calibration_end
    first = pl.col("date").min()
    daily = used.group_by("customer_id", "date").agg(pl.col("value").sum())
    aggs = [
        first.alias("first"),
        in_cal.sum().cast(pl.Int64).alias("cal_days"),
        pl.col("date").filter(in_cal).max().alias("last"),
        pl.col("value").filter(in_cal & (pl.col("date") != first)).sum().alias("repeat_value"),
    ]
    if holdout_end is not None:
        aggs += [
            (~in_cal).sum().cast(pl.Int64).alias("holdout_transactions"),
            pl.col("value").filter(~in_cal).sum().alias("holdout_value"),
        ]
    per_customer = daily.group_by("customer_id").agg(aggs)
    after_calibration = per_customer.filter(pl.col("first") > calibration_end).height
    per_customer = per_customer.filter(pl.col("first") <= calibration_end)
    if per_customer.height == 0:
        raise ValueError(MSG_NO_CUSTOMERS.format(calibration_end=calibration_end))

    frequency = pl.col("cal_days") - 1
    out = per_customer.select(
        "customer_id",
        frequency.alias("frequency"),
        ((pl.col("last") - pl.col("first")).dt.total_days() / days).alias("recency"),
        ((pl.lit(calibration_end) - pl.col("first")).dt.total_days() / days).alias("T"),
        pl.when(frequency > 0)
        .then(pl.col("repeat_value") / frequency)
        .otherwise(0.0)
        .alias("monetary_value"),
        *(["holdout_transactions", "holdout_value"] if holdout_end is not None else []),
    ).sort("customer_id")
    return TransactionSummary(
        frame=out,
        period=period,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        as_of=as_of,
        rows_read=data.height,
        rows_used=used.height,
        rows_negative=int(counts["negative"]),
        rows_after_window=int(counts["after"]),
        rows_in_future=int(counts["future"]),
        customers_after_calibration=after_calibration,
    )


def _check_log(data: pl.DataFrame, *, customer_col: str, date_col: str, value_col: str) -> None:
    checks = data.select(
        null_id=pl.col("customer_id").is_null().any(),
        null_date=pl.col("raw_date").is_null().any(),
        bad_date=(pl.col("date").is_null() & pl.col("raw_date").is_not_null()).any(),
        null_value=pl.col("value").is_null().any(),
        bad_value=(~pl.col("value").is_finite()).any(),
    ).row(0, named=True)
    if checks["null_id"]:
        raise ValueError(MSG_NULL_ID.format(column=customer_col, row=_row_of(data["customer_id"].is_null())))
    if checks["null_date"]:
        raise ValueError(MSG_NULL_DATE.format(column=date_col, row=_row_of(data["raw_date"].is_null())))
    if checks["bad_date"]:
        row = _row_of(data["date"].is_null() & data["raw_date"].is_not_null())
        raise ValueError(MSG_BAD_DATE.format(column=date_col, row=row, value=data["raw_date"][row - 1]))
    if checks["null_value"]:
        raise ValueError(MSG_NULL_VALUE.format(column=value_col, row=_row_of(data["value"].is_null())))
    if checks["bad_value"]:
        row = _row_of(~data["value"].is_finite())
        raise ValueError(MSG_NONFINITE_VALUE.format(column=value_col, row=row, value=data["value"][row - 1]))


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(MSG_BAD_PERIOD.format(period=period))


def bank_transaction_log(
    backend: ibis.BaseBackend,
    *,
    start: date | None = None,
    end: date | None = None,
    joined_from: date | None = None,
) -> pl.DataFrame:
    """The bank's card and account spend as a transaction log: one row per customer and day.

    Value is **spend**: the sum of a day's debit amounts (money out) in EUR, not the
    bank's margin, so the CLV it gives is expected spend, not profit. Credits (salary,
    transfers in) are not purchases and are left out. Days are UTC calendar days (the
    ``ts`` column is UTC). Same-day debits are summed here already, as
    :func:`summarize_transactions` would.

    Parameters
    ----------
    backend : ibis.BaseBackend
        From :meth:`analytics.store.database.Database.backend`.
    start, end : datetime.date, optional
        First and last day kept (inclusive).
    joined_from : datetime.date, optional
        Keep only customers who joined on or after this day. The models measure age from
        the first purchase in the log; for customers who joined before the history starts
        that is not their first purchase, so restricting to a cohort that joined inside the
        history follows the models' assumption exactly.

    Returns
    -------
    polars.DataFrame
        ``customer_id`` (int), ``date`` (date), ``value`` (float, EUR > 0).
    """
    tx = backend.table("transactions")
    tx = tx.filter(tx.direction == "debit")
    day = tx.ts.date()
    if start is not None:
        tx = tx.filter(day >= start)
    if end is not None:
        tx = tx.filter(day <= end)
    if joined_from is not None:
        customers = backend.table("customers")
        cohort = customers.filter(customers.joined_at >= joined_from).customer_id
        tx = tx.filter(tx.customer_id.isin(cohort))
    expr = tx.group_by(customer_id=tx.customer_id, date=tx.ts.date()).aggregate(value=tx.amount.sum())
    return expr.to_polars()
