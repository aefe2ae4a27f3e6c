"""Headline figures of a stored CLV fit: the means over its customers and the holdout check's error.

Pure functions over the frames :mod:`analytics.clv.store` loads (per-customer predictions and
the calibration/holdout table), so the KPIs page and any other reader show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ClvOverview:
    """Means and totals of a fit's per-customer predictions.

    Parameters
    ----------
    mean_probability_alive : float or None
        Mean P(alive) over the customers (0..1); None without customers.
    mean_clv : float or None
        Mean CLV in EUR; None without customers.
    expected_transactions : float
        Sum of the expected purchases over the horizon.
    """

    mean_probability_alive: float | None
    mean_clv: float | None
    expected_transactions: float


@dataclass(frozen=True)
class HoldoutError:
    """The calibration/holdout check in one line: transactions predicted against those made.

    Parameters
    ----------
    predicted : float
        Transactions the check fit predicted for the holdout, summed over the buckets.
    actual : float
        Transactions the customers made in the holdout.
    relative_error : float or None
        ``(predicted - actual) / actual``; None when nobody bought in the holdout.
    """

    predicted: float
    actual: float
    relative_error: float | None


def summarize_clv_predictions(predictions: pl.DataFrame) -> ClvOverview:
    """Mean P(alive), mean CLV and expected purchases of a fit's customers.

    Parameters
    ----------
    predictions : polars.DataFrame
        From :func:`analytics.clv.store.load_clv_predictions` (``probability_alive``, ``clv``,
        ``expected_transactions``).

    Returns
    -------
    ClvOverview
        The headline figures.

    Examples
    --------
    >>> frame = pl.DataFrame(
    ...     {"probability_alive": [0.5, 1.0], "clv": [100.0, 300.0], "expected_transactions": [1.5, 2.0]}
    ... )
    >>> summarize_clv_predictions(frame)
    ClvOverview(mean_probability_alive=0.75, mean_clv=200.0, expected_transactions=3.5)
    """
    return ClvOverview(
        mean_probability_alive=predictions.get_column("probability_alive").mean(),
        mean_clv=predictions.get_column("clv").mean(),
        expected_transactions=predictions.get_column("expected_transactions").sum(),
    )


def summarize_holdout_check(calibration: pl.DataFrame) -> HoldoutError:
    """Total transactions predicted and made in the holdout, and the relative error.

    Parameters
    ----------
    calibration : polars.DataFrame
        The stored fit's calibration/holdout table (``StoredClvFit.calibration``:
        ``predicted_total``, ``actual_total`` per bucket of calibration frequency).

    Returns
    -------
    HoldoutError
        Sums over the buckets and ``(predicted - actual) / actual``.

    Examples
    --------
    >>> frame = pl.DataFrame({"predicted_total": [40.0, 70.0], "actual_total": [50.0, 50.0]})
    >>> summarize_holdout_check(frame)
    HoldoutError(predicted=110.0, actual=100.0, relative_error=0.1)
    """
    actual = calibration.get_column("actual_total").sum()
    predicted = calibration.get_column("predicted_total").sum()
    return HoldoutError(
        predicted=predicted,
        actual=actual,
        relative_error=(predicted - actual) / actual if actual else None,
    )
