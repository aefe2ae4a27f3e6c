"""Predictive customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend.

For any transaction log (customer id, date, value), in four steps:

1. :func:`analytics.clv.transactions.summarize_transactions` turns the log into one row per
   customer with the sufficient statistics of the models, for a calibration window, plus the
   actual purchases of a holdout window when one is given.
2. :class:`analytics.clv.bgnbd.BgNbd` (Fader, Hardie and Lee 2005) is fitted to (x, t_x, T);
   it gives each customer's probability of being alive and expected purchases over any horizon.
3. :class:`analytics.clv.gamma_gamma.GammaGamma` (Fader and Hardie 2013) is fitted to the repeat
   customers' mean spend; it gives each customer's expected value per purchase.
4. Here, :func:`customer_lifetime_value` discounts expected purchases x expected value month by
   month; :func:`calibration_holdout_table` compares predicted and actual holdout purchases
   by calibration frequency. :func:`fit_clv` runs steps 2-4 and returns a :class:`ClvResult`.

Conventions, edge cases and formulas: docs/clv.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.clv.bgnbd import BgNbd
from analytics.clv.fitting import ClvFitError
from analytics.clv.gamma_gamma import MSG_INFINITE_MEAN_SPEND, GammaGamma
from analytics.clv.transactions import (
    DAYS_PER_YEAR,
    PERIOD_DAYS,
    Period,
    TransactionSummary,
    _check_period,
)

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
MSG_NO_DROPOUT = (
    "The data show almost no dropout (mean dropout probability per purchase a / (a + b) = {share:.1g}):"
    " BG/NBD has reduced to the NBD model and treats every customer as alive."
)
MSG_BAD_HORIZON = "The horizon must be a finite number of periods > 0, got {value!r}."
MSG_BAD_DISCOUNT = "discount_rate must be a finite annual rate > -1, got {value!r}."
MSG_NO_HOLDOUT = (
    "The summary has no holdout: pass holdout_end to summarize_transactions to compare"
    " predicted and actual purchases."
)
MSG_SUMMARY_COLUMNS = "The customer summary has no column {missing}; it needs {needed}."


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
        From :func:`analytics.clv.transactions.summarize_transactions` (or a frame with its columns).
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
