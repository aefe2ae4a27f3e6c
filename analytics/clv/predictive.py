"""Predictive customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend.

For any transaction log (customer id, date, value), in four steps:

1. :func:`summarize_transactions` turns the log into one row per customer with the
   sufficient statistics of the models: frequency x (repeat purchase days), recency t_x,
   age T and the mean value of the repeat purchases, for a calibration window, plus the
   actual purchases of a holdout window when one is given.
2. :class:`BgNbd` (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way")
   is fitted to (x, t_x, T) by maximum likelihood; it gives each customer's probability of
   being alive and expected purchases over any horizon.
3. :class:`GammaGamma` (Fader and Hardie 2013, "The Gamma-Gamma Model of Monetary Value")
   is fitted to the repeat customers' mean spend; it gives each customer's expected
   value per purchase.
4. :func:`customer_lifetime_value` discounts expected purchases x expected value month by
   month; :func:`calibration_holdout_table` compares predicted and actual holdout purchases
   by calibration frequency. :func:`fit_clv` runs steps 2-4 and returns a :class:`ClvResult`.

The likelihoods are written here with scipy (``gammaln``, ``betaln``, ``hyp2f1``) because
``lifetimes`` is unmaintained and PyMC-Marketing's MCMC stack is far too heavy for this
app; both fits are checked against the published CDNOW estimates (tests/unit/test_clv.py,
docs/clv.md). :func:`bank_transaction_log` reads the bank's debit transactions (spend,
not margin) so the same pipeline runs on the bank.

Conventions, edge cases and formulas: docs/clv.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, get_args

import ibis
import numpy as np
import polars as pl
from scipy import optimize, special

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = get_args(Period)
PERIOD_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
"""Length of one period in days: weeks of 7 days, months of 365.25 / 12 days."""
DAYS_PER_YEAR = 365.25

DEFAULT_DISCOUNT_RATE = 0.10
"""Annual discount rate of the CLV (the executive KPI uses the same 10%)."""
DEFAULT_HORIZON_YEARS = 1.0
"""CLV and expected-purchase horizon when none is given: one year, in the summary's periods."""
HOLDOUT_TOP_BUCKET = 7
"""Calibration frequencies of this many or more share one bucket (``7+``), as in the paper's figure."""
CORRELATION_WARNING_LEVEL = 0.3
"""Gamma-Gamma assumes spend per purchase independent of frequency; warn above this |Pearson r|."""
HOLDOUT_TABLE_COLUMNS: tuple[str, ...] = (
    "frequency",
    "bucket",
    "customers",
    "actual_mean",
    "predicted_mean",
    "actual_total",
    "predicted_total",
)
"""Columns of :func:`calibration_holdout_table`."""
NO_DROPOUT_LEVEL = 1e-6
"""Below this mean dropout probability per purchase, a / (a + b), the fit is reported as the NBD limit."""
MIN_GAMMA_GAMMA_CUSTOMERS = 10
"""Fewest repeat customers with a positive mean spend that the Gamma-Gamma fit accepts."""

_LOG_BOUND = 15.0
"""Log-parameters are searched in [-15, 15] (3e-7 to 3e6); a fit on a bound is refused (NBD limit aside)."""
_POLISH_ITERATIONS = 400
"""Nelder-Mead iterations after an L-BFGS-B run that stopped short (bounds the time of a failing fit)."""
_GRADIENT_TOLERANCE = 1e-4
"""Largest |gradient| of the mean log-likelihood (per log-parameter) accepted as converged."""

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
MSG_BAD_RFM = "{name} {problem} (customer at position {row}: {value})."
MSG_LENGTHS = "frequency, recency and T must have the same length, got {lengths}."
MSG_NO_REPEAT = (
    "No customer made a repeat purchase in the calibration period, so the BG/NBD model cannot be"
    " fitted: choose a later calibration_end or a longer history."
)
MSG_NOT_CONVERGED = (
    "The {model} fit did not converge ({detail}). Try a penalizer > 0, a longer calibration"
    " period or another period unit."
)
MSG_AT_BOUND = (
    "The {model} fit ran parameter {name} to the edge of its range ({value:.3g}): the data do not"
    " identify it. Try a penalizer > 0 or a longer calibration period."
)
MSG_NO_DROPOUT = (
    "The data show almost no dropout (mean dropout probability per purchase a / (a + b) = {share:.1g}):"
    " BG/NBD has reduced to the NBD model and treats every customer as alive."
)
MSG_FEW_REPEAT_CUSTOMERS = (
    "The Gamma-Gamma spend model needs at least {minimum} customers with a repeat purchase and a"
    " positive mean spend; the data have {count}."
)
MSG_INFINITE_MEAN_SPEND = (
    "The fitted Gamma-Gamma q is {q:.3f} <= 1, so the spend distribution has no finite mean and"
    " customers without a repeat purchase get no expected value."
)
MSG_NUMERIC = (
    "The expected purchases of the customer at position {row} (frequency {x:g}) cannot be computed"
    " in floating point with r, alpha, a, b = {params}."
)
MSG_NOT_FITTED = "{model} is not fitted yet: call fit first."
MSG_BAD_PENALIZER = "penalizer must be a finite number >= 0, got {value!r}."
MSG_BAD_HORIZON = "The horizon must be a finite number of periods > 0, got {value!r}."
MSG_BAD_DISCOUNT = "discount_rate must be a finite annual rate > -1, got {value!r}."
MSG_NO_HOLDOUT = (
    "The summary has no holdout: pass holdout_end to summarize_transactions to compare"
    " predicted and actual purchases."
)
MSG_SUMMARY_COLUMNS = "The customer summary has no column {missing}; it needs {needed}."


class ClvFitError(ValueError):
    """A model could not be fitted to the data; the message says why and what to try."""


# -- summary of a transaction log -------------------------------------------------------


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


# -- BG/NBD ----------------------------------------------------------------------------


def _as_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = [np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, T)]
    try:
        x, tx, t_cal = np.broadcast_arrays(*arrays)
    except ValueError:
        raise ValueError(MSG_LENGTHS.format(lengths=tuple(v.size for v in arrays))) from None
    _check_values(x, "frequency", "must be a whole number >= 0", (x >= 0) & (x == np.floor(x)))
    _check_values(tx, "recency", "must be >= 0", tx >= 0)
    _check_values(t_cal, "T", "must be >= recency", t_cal >= tx)
    return x, tx, t_cal


def _check_values(values: np.ndarray, name: str, problem: str, ok: np.ndarray) -> None:
    bad = ~(ok & np.isfinite(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(MSG_BAD_RFM.format(name=name, problem=problem, row=row, value=values[row]))


def _check_penalizer(penalizer: float) -> None:
    if not (isinstance(penalizer, (int, float)) and math.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(MSG_BAD_PENALIZER.format(value=penalizer))


def bgnbd_log_likelihood(
    frequency: Sequence[float] | np.ndarray,
    recency: Sequence[float] | np.ndarray,
    T: Sequence[float] | np.ndarray,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
) -> np.ndarray:
    """Log-likelihood of each customer under the BG/NBD model (FHL 2005, eq. 6).

    ``L = B(a, b+x)/B(a, b) Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))``, summed in
    log space (log-sum-exp), so large frequencies neither overflow nor underflow.

    Parameters
    ----------
    frequency, recency, T : array-like
        Repeat purchases x, time of the last purchase t_x and age T (periods).
    r, alpha, a, b : float
        Model parameters (all > 0).

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.

    Examples
    --------
    >>> round(float(bgnbd_log_likelihood([0], [0.0], [10.0], r=1.0, alpha=1.0, a=1.0, b=1.0)[0]), 4)
    -2.3979
    """
    x, tx, t_cal = _as_rfm(frequency, recency, T)
    return _bgnbd_ll_and_grad(np.log([r, alpha, a, b]), x, tx, t_cal, gradient=False)[0]


def _bgnbd_ll_and_grad(
    log_params: np.ndarray, x: np.ndarray, tx: np.ndarray, t_cal: np.ndarray, *, gradient: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    x1 = np.maximum(x, 1.0)  # b + x - 1 only appears for x > 0; keep it positive elsewhere
    log_alpha_t = np.log(alpha + t_cal)
    log_alpha_tx = np.log(alpha + tx)
    ln_a1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * log_alpha_t
    ln_a2 = np.where(
        repeat,
        special.betaln(a + 1, b + x1 - 1) - special.betaln(a, b) - (r + x) * log_alpha_tx,
        -np.inf,
    )
    lse = np.logaddexp(ln_a1, ln_a2)
    ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + lse
    if not gradient:
        return ll, None
    # Analytic gradient (digamma differences), w1/w2: shares of the two likelihood terms.
    w2 = np.exp(ln_a2 - lse)
    w1 = 1.0 - w2
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + x)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w1 * log_alpha_t - w2 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + t_cal) + w2 / (alpha + tx))
    d_a = psi_ab - psi_abx + w2 / a
    d_b = special.digamma(b + x) - special.digamma(b) - w2 / (b + x1 - 1) + psi_ab - psi_abx
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b], axis=1)
    return ll, grad


def _fit_mle(
    objective,
    starts: list[np.ndarray],
    *,
    model: str,
    names: tuple[str, ...],
    max_iter: int,
    limits: dict[str, float] | None = None,
) -> optimize.OptimizeResult:
    """Minimize a (value, gradient) objective over log-parameters from several starts.

    L-BFGS-B with the analytic gradient from each start in turn, polished by Nelder-Mead
    when L-BFGS-B stops short; the first solution whose projected gradient is small is
    kept. A parameter on the edge of the search range is refused, except on the sides
    named in ``limits`` (-1 lower, +1 upper), which are limiting models the caller handles.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    limits = limits or {}
    detail = "no start gave a finite likelihood"
    for start in starts:
        with np.errstate(all="ignore"):
            res = optimize.minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10},
            )
            if not (np.isfinite(res.fun) and _largest_gradient(res.x, res.jac) < _GRADIENT_TOLERANCE):
                polished = optimize.minimize(
                    lambda p: objective(p)[0],
                    res.x,
                    method="Nelder-Mead",
                    bounds=bounds,
                    options={"maxiter": min(max_iter, _POLISH_ITERATIONS), "xatol": 1e-9, "fatol": 1e-13},
                )
                value, jac = objective(polished.x)
                if np.isfinite(value) and (not np.isfinite(res.fun) or value <= res.fun):
                    res = optimize.OptimizeResult(
                        x=polished.x, fun=value, jac=jac, success=polished.success, message=polished.message
                    )
        if not np.isfinite(res.fun):
            continue
        grad_max = _largest_gradient(res.x, res.jac)
        if grad_max >= _GRADIENT_TOLERANCE:
            detail = f"largest gradient {grad_max:.2g} > {_GRADIENT_TOLERANCE:g}; optimizer: {res.message}"
            continue
        for i, name in enumerate(names):
            side = np.sign(res.x[i]) if abs(res.x[i]) > _LOG_BOUND - 1e-3 else 0
            if side and limits.get(name) != side:
                raise ClvFitError(MSG_AT_BOUND.format(model=model, name=name, value=math.exp(res.x[i])))
        return res
    raise ClvFitError(MSG_NOT_CONVERGED.format(model=model, detail=detail))


def _largest_gradient(log_params: np.ndarray, jac: np.ndarray) -> float:
    """Largest |gradient| component that could still move inside the bounds (projected gradient)."""
    jac = np.array(jac, dtype=float)
    edge = _LOG_BOUND - 1e-3
    jac[(log_params <= -edge) & (jac > 0)] = 0.0
    jac[(log_params >= edge) & (jac < 0)] = 0.0
    return float(np.max(np.abs(jac)))


class BgNbd:
    """The BG/NBD model of repeat purchases (Fader, Hardie and Lee 2005), fitted by maximum likelihood.

    While alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they
    drop out with probability p ~ Beta(a, b). When the data show no dropout the fit may end
    with a at the bottom or b at the top of the search range: that is the NBD limit (nobody
    drops out), a valid answer that :func:`fit_clv` reports in its warnings; any other
    parameter on the edge of its range raises :class:`ClvFitError`.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters (``penalizer * (r² + α² + a² + b²)`` added to the mean
        negative log-likelihood), to keep a poorly identified fit finite; 0 is plain MLE.
    max_iter : int
        Iterations per optimizer run.

    Attributes
    ----------
    r_, alpha_, a_, b_ : float
        Fitted parameters.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_customers_ : int
        Customers fitted.
    converged_ : bool
        True: :meth:`fit` raises :class:`ClvFitError` rather than return an unconverged fit.

    Examples
    --------
    >>> x, t_x, T = [0, 2, 5, 1, 0, 3], [0.0, 20.0, 30.0, 5.0, 0.0, 35.0], [38.0] * 6
    >>> model = BgNbd(penalizer=0.01).fit(x, t_x, T)
    >>> [round(float(v), 2) for v in model.probability_alive([2, 2], [5.0, 35.0], [38.0, 38.0])]
    [0.31, 0.95]

    A customer who bought twice early on and not since is less likely to be alive than one
    who bought recently.
    """

    def __init__(self, penalizer: float = 0.0, *, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, frequency, recency, T) -> BgNbd:
        """Fit r, α, a, b by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchases x (whole numbers), recency t_x and age T (periods, 0 <= t_x <= T).

        Returns
        -------
        BgNbd
            ``self``, fitted.

        Raises
        ------
        ClvFitError
            No repeat purchase at all, no convergence, or a parameter running off to the
            edge of its range.
        ValueError
            Invalid inputs (named, with the first bad position).
        """
        _check_penalizer(self.penalizer)
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        if not (x > 0).any():
            raise ClvFitError(MSG_NO_REPEAT)
        n = x.size
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _bgnbd_ll_and_grad(log_params, x, tx, t_cal)
            params = np.exp(log_params)
            value = -ll.sum() / n + penalizer * np.sum(params**2)
            jac = -grad.sum(axis=0) / n + 2 * penalizer * params**2
            if not np.isfinite(value):
                return np.inf, np.zeros(4)
            return float(value), jac

        # Starts whose mean purchase rate r / α matches the observed one (Σx / ΣT), so they
        # suit any time unit; the first is BTYD's default (r = 1, a = 1, b = 3) rescaled.
        scale = float(t_cal.sum() / x.sum())
        starts = [
            np.log([1.0, scale, 1.0, 3.0]),
            np.log([0.5, scale / 2.0, 0.5, 1.0]),
            np.log([2.0, 2.0 * scale, 2.0, 10.0]),
        ]
        res = _fit_mle(
            objective,
            starts,
            model="BG/NBD",
            names=("r", "alpha", "a", "b"),
            max_iter=self.max_iter,
            # a -> 0 or b -> infinity is the NBD limit (nobody drops out): a valid answer.
            limits={"a": -1, "b": 1},
        )
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = float(_bgnbd_ll_and_grad(res.x, x, tx, t_cal, gradient=False)[0].sum())
        self.n_customers_ = int(n)
        self.converged_ = True
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "r_"):
            raise ValueError(MSG_NOT_FITTED.format(model="BgNbd"))
        return self.r_, self.alpha_, self.a_, self.b_

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """Probability that each customer is still alive at T (FHL 2005, eq. 11).

        ``P = 1 / (1 + [x > 0] a / (b + x - 1) ((α + T) / (α + t_x))^(r + x))``, in log
        space; 1 for customers without a repeat purchase (the model only lets customers
        drop out right after a purchase).

        Parameters
        ----------
        frequency, recency, T : array-like
            x, t_x and T per customer.

        Returns
        -------
        numpy.ndarray
            P(alive) per customer, in (0, 1].
        """
        r, alpha, a, b = self._params()
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        return _p_alive(r, alpha, a, b, x, tx, t_cal)

    def expected_purchases(self, t) -> np.ndarray:
        """Expected repeat purchases E[X(t)] of a new customer in their first t periods (FHL eq. 7).

        Parameters
        ----------
        t : float or array-like
            Time since the first purchase, in periods.

        Returns
        -------
        numpy.ndarray
            E[X(t)] for each t.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        zeros = np.zeros_like(t)
        return _conditional_expected(self._params(), t, zeros, zeros, zeros)

    def conditional_expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected purchases in the next t periods given each customer's (x, t_x, T) (FHL eq. 10).

        Written with the Euler transformation of the Gaussian hypergeometric function
        (Fader and Hardie 2013, "Overcoming the BG/NBD model's #NUM! error problem"),
        ``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``
        with ``z = t / (α+T+t)``, which stays finite for customers with hundreds of purchases.

        Parameters
        ----------
        t : float or array-like
            Horizon in periods (one value, or one per customer).
        frequency, recency, T : array-like
            x, t_x and T per customer.

        Returns
        -------
        numpy.ndarray
            E[Y(t) | x, t_x, T] per customer.
        """
        params = self._params()
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
        return _conditional_expected(params, t, x, tx, t_cal)


def _p_alive(r, alpha, a, b, x, tx, t_cal) -> np.ndarray:
    x1 = np.maximum(x, 1.0)
    log_odds_dead = np.log(a) - np.log(b + x1 - 1) + (r + x) * (np.log(alpha + t_cal) - np.log(alpha + tx))
    return np.where(x > 0, special.expit(-log_odds_dead), 1.0)


def _conditional_expected(params, t, x, tx, t_cal) -> np.ndarray:
    r, alpha, a, b = params
    if abs(a - 1.0) < 1e-6:
        # (a+b+x-1)/(a-1) [1 - (1-z)^(a-1) F] is 0/0 at a = 1: average the two sides.
        eps = 1e-5
        return 0.5 * (
            _conditional_expected((r, alpha, 1.0 - eps, b), t, x, tx, t_cal)
            + _conditional_expected((r, alpha, 1.0 + eps, b), t, x, tx, t_cal)
        )
    # g = ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z), with 1 - z = (α+T)/(α+T+t).
    z = t / (alpha + t_cal + t)
    with np.errstate(all="ignore"):
        # Euler-transformed form: stays finite for large x (2F1's parameters do not grow with x).
        g = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        bad = ~np.isfinite(g)
        if bad.any():
            # The printed form stays finite where a and b are both large (nearly the same dropout
            # probability for everyone), where the transformed 2F1 overflows.
            zb, xb = z[bad], x[bad]
            g[bad] = np.exp((r + xb) * np.log1p(-zb)) * special.hyp2f1(r + xb, b + xb, a + b + xb - 1, zb)
    if not np.isfinite(g).all():
        row = int(np.flatnonzero(~np.isfinite(g))[0])
        raise ValueError(MSG_NUMERIC.format(row=row, x=x[row], params=(r, alpha, a, b)))
    return (a + b + x - 1) / (a - 1) * (1.0 - g) * _p_alive(r, alpha, a, b, x, tx, t_cal)


# -- Gamma-Gamma -------------------------------------------------------------------------


def gamma_gamma_log_likelihood(
    frequency: Sequence[float] | np.ndarray,
    monetary_value: Sequence[float] | np.ndarray,
    *,
    p: float,
    q: float,
    gamma: float,
) -> np.ndarray:
    """Log-density of each repeat customer's mean spend under the Gamma-Gamma model.

    Fader and Hardie (2013): ``f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) γ^q m^(px-1) x^(px) / (γ + m x)^(px+q)``.

    Parameters
    ----------
    frequency : array-like
        Number of purchases x averaged (> 0).
    monetary_value : array-like
        Mean spend per purchase m (> 0).
    p, q, gamma : float
        Model parameters (all > 0).

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return _gg_ll_and_grad(np.log([p, q, gamma]), x, m, gradient=False)[0]


def _gg_ll_and_grad(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, *, gradient: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_m = np.log(m)
    log_gxm = np.log(gamma + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * log_m
        + px * np.log(x)
        - (px + q) * log_gxm
    )
    if not gradient:
        return ll, None
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + log_m + np.log(x) - log_gxm)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_gxm
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    return ll, np.stack([d_p * p, d_q * q, d_gamma * gamma], axis=1)


class GammaGamma:
    """The Gamma-Gamma model of spend per purchase (Fader and Hardie 2013), fitted by maximum likelihood.

    Each purchase's value is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers; it assumes
    spend per purchase is independent of purchase frequency (``frequency_monetary_correlation_``
    reports the Pearson correlation that would contradict it).

    Parameters
    ----------
    penalizer : float
        L2 penalty ``penalizer * (p² + q² + γ²)`` on the mean negative log-likelihood.
    max_iter : int
        Iterations per optimizer run.

    Attributes
    ----------
    p_, q_, gamma_ : float
        Fitted parameters.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_customers_ : int
        Repeat customers fitted (frequency > 0 and monetary value > 0).
    frequency_monetary_correlation_ : float
        Pearson correlation of frequency and mean spend among them (NaN if undefined).
    converged_ : bool
        True: :meth:`fit` raises :class:`ClvFitError` rather than return an unconverged fit.
    """

    def __init__(self, penalizer: float = 0.0, *, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, frequency, monetary_value) -> GammaGamma:
        """Fit p, q, γ on the customers with a repeat purchase and a positive mean spend.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases x per customer (customers with x = 0 are skipped).
        monetary_value : array-like
            Mean value of the repeat purchases (customers with a value <= 0 are skipped).

        Returns
        -------
        GammaGamma
            ``self``, fitted.

        Raises
        ------
        ClvFitError
            Fewer than :data:`MIN_GAMMA_GAMMA_CUSTOMERS` usable customers, or no convergence.
        """
        _check_penalizer(self.penalizer)
        x_all = np.asarray(frequency, dtype=float)
        m_all = np.asarray(monetary_value, dtype=float)
        if x_all.shape != m_all.shape:
            raise ValueError(MSG_LENGTHS.format(lengths=(x_all.size, m_all.size)))
        keep = (x_all > 0) & (m_all > 0) & np.isfinite(m_all)
        x, m = x_all[keep], m_all[keep]
        if x.size < MIN_GAMMA_GAMMA_CUSTOMERS:
            raise ClvFitError(
                MSG_FEW_REPEAT_CUSTOMERS.format(minimum=MIN_GAMMA_GAMMA_CUSTOMERS, count=x.size)
            )
        n = x.size
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _gg_ll_and_grad(log_params, x, m)
            params = np.exp(log_params)
            value = -ll.sum() / n + penalizer * np.sum(params**2)
            if not np.isfinite(value):
                return np.inf, np.zeros(3)
            return float(value), -grad.sum(axis=0) / n + 2 * penalizer * params**2

        mean = float(m.mean())
        # Starts whose population mean p γ / (q - 1) equals the observed mean spend.
        starts = [np.log([1.0, 2.0, mean]), np.log([5.0, 3.0, 0.4 * mean]), np.log([0.5, 1.5, mean])]
        names = ("p", "q", "gamma")
        res = _fit_mle(objective, starts, model="Gamma-Gamma", names=names, max_iter=self.max_iter)
        self.p_, self.q_, self.gamma_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = float(_gg_ll_and_grad(res.x, x, m, gradient=False)[0].sum())
        self.n_customers_ = int(n)
        varies = x.std() > 0 and m.std() > 0
        self.frequency_monetary_correlation_ = float(np.corrcoef(x, m)[0, 1]) if varies else float("nan")
        self.converged_ = True
        return self

    def conditional_expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        """Expected value per purchase given x and mean spend m: ``p (γ + m x) / (p x + q - 1)``.

        With x = 0 this is the population mean ``p γ / (q - 1)``.

        Parameters
        ----------
        frequency, monetary_value : array-like
            Repeat purchases and their mean value per customer (m is ignored when x = 0).

        Returns
        -------
        numpy.ndarray
            Expected average value per customer.

        Raises
        ------
        ValueError
            Some customer has x = 0 and the fitted q <= 1 (no finite population mean).
        """
        if not hasattr(self, "p_"):
            raise ValueError(MSG_NOT_FITTED.format(model="GammaGamma"))
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
        if self.q_ <= 1 and (x == 0).any():
            raise ValueError(MSG_INFINITE_MEAN_SPEND.format(q=self.q_))
        return self.p_ * (self.gamma_ + m * x) / (self.p_ * x + self.q_ - 1)


# -- CLV, holdout check, the whole pipeline ------------------------------------------------


def _summary_frame(summary: TransactionSummary | pl.DataFrame, needed: tuple[str, ...]) -> pl.DataFrame:
    frame = summary.frame if isinstance(summary, TransactionSummary) else summary
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(MSG_SUMMARY_COLUMNS.format(missing=", ".join(missing), needed=", ".join(needed)))
    return frame


def _period_of(summary: TransactionSummary | pl.DataFrame, period: Period | None) -> Period:
    if period is None:
        period = summary.period if isinstance(summary, TransactionSummary) else "week"
    _check_period(period)
    return period


def customer_lifetime_value(
    bgnbd: BgNbd,
    gamma_gamma: GammaGamma,
    summary: TransactionSummary | pl.DataFrame,
    *,
    horizon_periods: float,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    period: Period | None = None,
) -> pl.DataFrame:
    """Discounted expected value of each customer's purchases over the next ``horizon_periods``.

    ``CLV = m̂ Σ_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1 + d)^(t_k in years)``: the horizon is cut
    into K equal steps of at most one month (t_0 = 0, t_K = horizon), the expected purchases
    of each step (BG/NBD, conditional on the customer's history) are valued at the expected
    value per purchase m̂ (Gamma-Gamma) and discounted at the step's end with the annual rate d.

    Parameters
    ----------
    bgnbd, gamma_gamma : BgNbd, GammaGamma
        Fitted models.
    summary : TransactionSummary or polars.DataFrame
        Customers with ``customer_id, frequency, recency, T, monetary_value``.
    horizon_periods : float
        Horizon in the summary's periods.
    discount_rate : float
        Annual discount rate (0.10 = 10% a year).
    period : {"day", "week", "month"}, optional
        Unit of the summary (default: the summary's, or week for a bare frame).

    Returns
    -------
    polars.DataFrame
        ``customer_id, expected_transactions`` (over the horizon), ``expected_average_value``
        and ``clv``, in the summary's order.
    """
    frame = _summary_frame(summary, ("customer_id", "frequency", "recency", "T", "monetary_value"))
    period = _period_of(summary, period)
    horizon = _check_horizon(horizon_periods)
    if not (isinstance(discount_rate, (int, float)) and math.isfinite(discount_rate) and discount_rate > -1):
        raise ValueError(MSG_BAD_DISCOUNT.format(value=discount_rate))
    x = frame["frequency"].to_numpy().astype(float)
    tx = frame["recency"].to_numpy()
    t_cal = frame["T"].to_numpy()
    value = gamma_gamma.conditional_expected_average_value(x, frame["monetary_value"].to_numpy())
    month = PERIOD_DAYS["month"] / PERIOD_DAYS[period]
    steps = max(1, math.ceil(horizon / month - 1e-9))
    previous = np.zeros(x.size)
    discounted = np.zeros(x.size)
    for k in range(1, steps + 1):
        t_k = horizon * k / steps
        cumulative = bgnbd.conditional_expected_purchases(t_k, x, tx, t_cal)
        years = t_k * PERIOD_DAYS[period] / DAYS_PER_YEAR
        discounted += (cumulative - previous) / (1.0 + discount_rate) ** years
        previous = cumulative
    return pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "expected_transactions": previous,
            "expected_average_value": value,
            "clv": value * discounted,
        }
    )


def _check_horizon(horizon: float) -> float:
    if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
        raise ValueError(MSG_BAD_HORIZON.format(value=horizon))
    return float(horizon)


def calibration_holdout_table(
    bgnbd: BgNbd,
    summary: TransactionSummary | pl.DataFrame,
    *,
    holdout_length: float | None = None,
    top_bucket: int = HOLDOUT_TOP_BUCKET,
) -> pl.DataFrame:
    """Predicted against actual holdout purchases, by calibration frequency (FHL 2005, Figure 4).

    Parameters
    ----------
    bgnbd : BgNbd
        Fitted on the calibration window.
    summary : TransactionSummary or polars.DataFrame
        Customers with ``frequency, recency, T, holdout_transactions``.
    holdout_length : float, optional
        Holdout length in periods (default: the summary's).
    top_bucket : int
        Frequencies of this many or more share the last bucket (``"7+"``).

    Returns
    -------
    polars.DataFrame
        One row per bucket: ``frequency`` (int, the bucket's lowest frequency),
        ``bucket`` (label, e.g. "0", "7+"), ``customers``, ``actual_mean`` and
        ``predicted_mean`` (holdout purchases per customer), ``actual_total``,
        ``predicted_total``. Buckets without customers are left out.

    Raises
    ------
    ValueError
        The summary has no holdout.
    """
    has_holdout = "holdout_transactions" in (
        summary.frame.columns if isinstance(summary, TransactionSummary) else summary.columns
    )
    if not has_holdout:
        raise ValueError(MSG_NO_HOLDOUT)
    frame = _summary_frame(summary, ("frequency", "recency", "T", "holdout_transactions"))
    if holdout_length is None:
        if not isinstance(summary, TransactionSummary) or summary.holdout_length is None:
            raise ValueError(MSG_NO_HOLDOUT)
        holdout_length = summary.holdout_length
    holdout_length = _check_horizon(holdout_length)
    predicted = bgnbd.conditional_expected_purchases(
        holdout_length, frame["frequency"].to_numpy(), frame["recency"].to_numpy(), frame["T"].to_numpy()
    )
    return (
        frame.select(
            pl.col("frequency").clip(upper_bound=top_bucket).cast(pl.Int64).alias("frequency"),
            pl.col("holdout_transactions").cast(pl.Float64).alias("actual"),
            pl.Series("predicted", predicted),
        )
        .group_by("frequency")
        .agg(
            customers=pl.len().cast(pl.Int64),
            actual_mean=pl.col("actual").mean(),
            predicted_mean=pl.col("predicted").mean(),
            actual_total=pl.col("actual").sum(),
            predicted_total=pl.col("predicted").sum(),
        )
        .sort("frequency")
        .with_columns(
            bucket=pl.when(pl.col("frequency") >= top_bucket)
            .then(pl.format("{}+", pl.col("frequency")))
            .otherwise(pl.col("frequency").cast(pl.String))
        )
        .select(*HOLDOUT_TABLE_COLUMNS)
    )


@dataclass(frozen=True)
class ClvParameters:
    """Fitted parameters of both models.

    Parameters
    ----------
    r, alpha : float
        Gamma heterogeneity of the purchase rate (shape, scale in periods).
    a, b : float
        Beta heterogeneity of the dropout probability.
    p, q, gamma : float
        Gamma-Gamma spend parameters.
    """

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class ClvResult:
    """Predictive CLV of every customer, with the fits and the holdout check.

    Parameters
    ----------
    params : ClvParameters
        r, α, a, b (BG/NBD) and p, q, γ (Gamma-Gamma).
    bgnbd_log_likelihood, gamma_gamma_log_likelihood : float
        Log-likelihoods at the fits.
    n_customers : int
        Customers in the calibration (BG/NBD fit).
    n_repeat_customers : int
        Customers in the Gamma-Gamma fit (a repeat purchase with positive mean value).
    period : {"day", "week", "month"}
        Time unit of recency, T and the horizon.
    horizon_periods : float
        Horizon of ``expected_transactions`` and ``clv``, in periods.
    discount_rate : float
        Annual discount rate of the CLV.
    frequency_monetary_correlation : float
        Pearson correlation of frequency and mean spend among repeat customers.
    customers : polars.DataFrame
        ``customer_id, frequency, recency, T, monetary_value, probability_alive,
        expected_transactions, expected_average_value, clv``.
    calibration_holdout : polars.DataFrame or None
        :func:`calibration_holdout_table`, when the summary has a holdout.
    warnings : tuple of str
        Things the reader should know: one-purchase customers, rows left out, a strong
        frequency-spend correlation.
    """

    params: ClvParameters
    bgnbd_log_likelihood: float
    gamma_gamma_log_likelihood: float
    n_customers: int
    n_repeat_customers: int
    period: Period
    horizon_periods: float
    discount_rate: float
    frequency_monetary_correlation: float
    customers: pl.DataFrame
    calibration_holdout: pl.DataFrame | None
    warnings: tuple[str, ...]


def fit_clv(
    summary: TransactionSummary | pl.DataFrame,
    *,
    horizon_periods: float | None = None,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    period: Period | None = None,
    penalizer: float = 0.0,
) -> ClvResult:
    """Fit BG/NBD and Gamma-Gamma to a customer summary and value every customer.

    Parameters
    ----------
    summary : TransactionSummary or polars.DataFrame
        From :func:`summarize_transactions` (or a frame with its columns).
    horizon_periods : float, optional
        Horizon of the expected purchases and the CLV, in periods (default one year:
        52.18 weeks, 365.25 days or 12 months).
    discount_rate : float
        Annual discount rate of the CLV.
    period : {"day", "week", "month"}, optional
        Unit of the summary (default: the summary's, or week for a bare frame).
    penalizer : float
        L2 penalty of both fits (0: plain maximum likelihood).

    Returns
    -------
    ClvResult
        Parameters, log-likelihoods, per-customer predictions, holdout table, warnings.

    Raises
    ------
    ClvFitError
        A model cannot be fitted (no repeat purchases, no convergence, a parameter at the
        edge of its range, too few repeat customers, or a spend mean that is infinite).
    """
    needed = ("customer_id", "frequency", "recency", "T", "monetary_value")
    frame = _summary_frame(summary, needed)
    period = _period_of(summary, period)
    horizon = _check_horizon(
        horizon_periods
        if horizon_periods is not None
        else DEFAULT_HORIZON_YEARS * DAYS_PER_YEAR / PERIOD_DAYS[period]
    )
    x = frame["frequency"].to_numpy().astype(float)
    tx = frame["recency"].to_numpy()
    t_cal = frame["T"].to_numpy()
    m = frame["monetary_value"].to_numpy()

    bgnbd = BgNbd(penalizer).fit(x, tx, t_cal)
    gamma_gamma = GammaGamma(penalizer).fit(x, m)
    if gamma_gamma.q_ <= 1 and (x == 0).any():
        raise ClvFitError(MSG_INFINITE_MEAN_SPEND.format(q=gamma_gamma.q_))
    value = customer_lifetime_value(
        bgnbd, gamma_gamma, frame, horizon_periods=horizon, discount_rate=discount_rate, period=period
    )
    customers = frame.select(*needed).with_columns(
        probability_alive=pl.Series(bgnbd.probability_alive(x, tx, t_cal)),
        expected_transactions=value["expected_transactions"],
        expected_average_value=value["expected_average_value"],
        clv=value["clv"],
    )
    holdout = None
    if "holdout_transactions" in frame.columns and isinstance(summary, TransactionSummary):
        holdout = calibration_holdout_table(bgnbd, summary)

    notes: list[str] = []
    one_purchase = int((x == 0).sum())
    if one_purchase:
        notes.append(
            f"{one_purchase:,} of {x.size:,} customers ({one_purchase / x.size:.0%}) made a single purchase"
            " in the calibration period: BG/NBD counts them as alive (customers drop out only after a"
            " repeat purchase) and they get the population's mean spend per purchase."
        )
    dropout = bgnbd.a_ / (bgnbd.a_ + bgnbd.b_)
    if dropout < NO_DROPOUT_LEVEL:
        notes.append(MSG_NO_DROPOUT.format(share=dropout))
    skipped = int(((x > 0) & ~(m > 0)).sum())
    if skipped:
        notes.append(f"{skipped:,} repeat customers with no positive spend were left out of the spend model.")
    rho = gamma_gamma.frequency_monetary_correlation_
    if math.isfinite(rho) and abs(rho) > CORRELATION_WARNING_LEVEL:
        notes.append(
            f"Frequency and spend per purchase are correlated (Pearson r = {rho:.2f}); the Gamma-Gamma"
            " model assumes they are independent, so expected values per purchase are less reliable."
        )
    if isinstance(summary, TransactionSummary):
        notes.extend(summary.notes)

    return ClvResult(
        params=ClvParameters(
            r=bgnbd.r_,
            alpha=bgnbd.alpha_,
            a=bgnbd.a_,
            b=bgnbd.b_,
            p=gamma_gamma.p_,
            q=gamma_gamma.q_,
            gamma=gamma_gamma.gamma_,
        ),
        bgnbd_log_likelihood=bgnbd.log_likelihood_,
        gamma_gamma_log_likelihood=gamma_gamma.log_likelihood_,
        n_customers=bgnbd.n_customers_,
        n_repeat_customers=gamma_gamma.n_customers_,
        period=period,
        horizon_periods=horizon,
        discount_rate=float(discount_rate),
        frequency_monetary_correlation=rho,
        customers=customers,
        calibration_holdout=holdout,
        warnings=tuple(notes),
    )


# -- the bank's transactions ----------------------------------------------------------------


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
