"""Sequential monitoring: always-valid intervals and p-values, so the result may be watched daily.

:func:`confidence_sequence` and :func:`sequential_p_value` give an always-valid interval and
p-value of one treatment against the control, so that looking at the result every day does not
inflate false positives; :func:`analytics.experiments.comparison.compare` adds them to its
read-out on request (:class:`analytics.experiments.frequentist.Sequential`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from analytics.experiments.arms import (
    MSG_NO_VARIANCE_WITHIN,
    ArmStats,
    MetricKind,
    Num,
    _check_arms,
    _check_probability,
    _Difference,
    _difference,
    _no_variance,
)
from analytics.experiments.frequentist import Frequentist, Sequential

DEFAULT_TUNING_N = 5000
"""Total customers (both arms) at which the confidence sequence is tightest, as GrowthBook's default."""
MSG_BAD_TUNING = "The tuning sample size must be a positive number of customers, got {tuning_n}."

# Asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2023,
# "Time-uniform central limit theory and asymptotic confidence sequences", arXiv:2103.06476)
# with the two-sided normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon (2021,
# "Time-uniform, nonparametric, nonasymptotic confidence sequences"): with n customers in all,
# sigma^2 = n SE^2 the per-customer variance of the lift estimate and mixing parameter rho,
#   half-width = sigma sqrt(2 (n rho^2 + 1) / (n^2 rho^2) log(sqrt(n rho^2 + 1) / alpha))
#              = SE sqrt(2 (n rho^2 + 1) / (n rho^2) log(sqrt(n rho^2 + 1) / alpha)),
# and rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / N makes the half-width (nearly) smallest
# at n = N, the tuning sample size. The always-valid p-value is 1 / the mixture e-value at 0,
#   log E = n rho^2 z^2 / (2 (n rho^2 + 1)) - log(n rho^2 + 1) / 2,  z = lift / SE,
# so p <= alpha exactly when the sequence excludes 0. This is GrowthBook's sequential test
# (tuning parameter N, default 5000); no maintained Python library computes it from sums.


def _rho_squared(alpha: float, tuning_n: float) -> float:
    log_alpha = math.log(alpha)
    return (-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning_n


def _with_sequential(frequentist: Frequentist, customers: int, alpha: float, tuning_n: int) -> Frequentist:
    """The read-out with its always-valid intervals and p-values (unchanged when its SE is 0)."""
    f = frequentist
    if f.standard_error <= 0:
        return f
    half = float(_cs_halfwidth(f.standard_error, customers, alpha, tuning_n))
    p_value = float(_sequential_p(f.absolute_lift / f.standard_error, customers, alpha, tuning_n))
    relative_ci = relative_p = None
    if f.relative_lift is not None and f.relative_standard_error:
        # GrowthBook's sequential read-out: the same boundary around the relative lift, scaled
        # by its delta-method standard error.
        rel_half = float(_cs_halfwidth(f.relative_standard_error, customers, alpha, tuning_n))
        relative_ci = (f.relative_lift - rel_half, f.relative_lift + rel_half)
        z = f.relative_lift / f.relative_standard_error
        relative_p = float(_sequential_p(z, customers, alpha, tuning_n))
    sequential = Sequential(
        tuning_n=int(tuning_n),
        customers=int(customers),
        absolute_ci=(f.absolute_lift - half, f.absolute_lift + half),
        absolute_p_value=p_value,
        relative_ci=relative_ci,
        relative_p_value=relative_p,
    )
    return dataclasses.replace(f, sequential=sequential)


def _cs_halfwidth(se: Num, n: Num, alpha: float, tuning_n: float) -> Num:
    """Half-width of the confidence sequence (see the comment above) for SE of the lift and n customers."""
    v = n * _rho_squared(alpha, tuning_n)
    return se * np.sqrt(2 * (v + 1) / v * np.log(np.sqrt(v + 1) / alpha))


def _check_tuning(tuning_n: float) -> None:
    if not (isinstance(tuning_n, int | float) and math.isfinite(tuning_n) and tuning_n > 0):
        raise ValueError(MSG_BAD_TUNING.format(tuning_n=tuning_n))


def confidence_sequence(
    control: ArmStats,
    treatment: ArmStats,
    *,
    kind: MetricKind,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
) -> tuple[float, float]:
    """Always-valid interval of the absolute lift at the current sample size.

    An asymptotic confidence sequence (Waudby-Smith et al. 2023) with the normal-mixture
    boundary of Howard, Ramdas, McAuliffe & Sekhon (2021): the intervals computed after every
    day cover the true lift at all days at once with probability about ``1 - alpha``, so the
    experiment may be watched daily and stopped when the interval excludes 0. With ``n`` the
    customers in both arms and ``SE`` the unpooled standard error of the lift (as in
    :func:`analytics.experiments.comparison.compare`)::

        half-width = SE * sqrt(2 (n rho^2 + 1) / (n rho^2) * log(sqrt(n rho^2 + 1) / alpha))
        rho^2 = (-2 log(alpha) + log(1 - 2 log(alpha))) / tuning_n

    The interval is tightest when ``n`` is near ``tuning_n`` (GrowthBook's "tuning
    parameter") and always wider than the fixed-horizon interval: the price of peeking.

    Parameters
    ----------
    control, treatment : ArmStats
        The two arms, cumulative to the day of the look.
    kind : {"proportion", "mean", "ratio"}
        The metric's kind.
    alpha : float, default 0.05
        Error rate over all looks together.
    tuning_n : int, default 5000
        Total customers (both arms) at which the sequence is tightest; set it near the planned
        sample size.

    Returns
    -------
    tuple of float
        (low, high) of the absolute lift.

    Raises
    ------
    ValueError
        As :func:`analytics.experiments.comparison.compare`; a tuning size that is not positive.

    Examples
    --------
    >>> c = ArmStats("control", n=7755, sum=775, sum_sq=775)
    >>> t = ArmStats("treatment", n=7756, sum=892, sum_sq=892)
    >>> low, high = confidence_sequence(c, t, kind="proportion")
    >>> round(low, 4), round(high, 4)
    (-0.0003, 0.0305)
    """
    _check_probability("alpha", alpha)
    _check_tuning(tuning_n)
    diff = _sequential_difference(control, treatment, kind)
    half = float(_cs_halfwidth(diff.se, control.n + treatment.n, alpha, tuning_n))
    return diff.lift - half, diff.lift + half


def sequential_p_value(
    control: ArmStats,
    treatment: ArmStats,
    *,
    kind: MetricKind,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
) -> float:
    """Always-valid p-value of "no difference", consistent with :func:`confidence_sequence`.

    The reciprocal of the normal-mixture e-value at a lift of 0 (capped at 1):
    ``log E = n rho^2 z^2 / (2 (n rho^2 + 1)) - log(n rho^2 + 1) / 2`` with ``z = lift / SE``.
    It is below ``alpha`` exactly when the confidence sequence at the same ``alpha`` and
    ``tuning_n`` excludes 0 (``alpha`` enters only through ``rho``).

    Parameters
    ----------
    control, treatment : ArmStats
        The two arms, cumulative to the day of the look.
    kind : {"proportion", "mean", "ratio"}
        The metric's kind.
    alpha : float, default 0.05
        The level the mixture was tuned for.
    tuning_n : int, default 5000
        As in :func:`confidence_sequence`.

    Returns
    -------
    float
        The p-value, in (0, 1].

    Raises
    ------
    ValueError
        As :func:`confidence_sequence`.

    Examples
    --------
    >>> c = ArmStats("control", n=7755, sum=775, sum_sq=775)
    >>> t = ArmStats("treatment", n=7756, sum=892, sum_sq=892)
    >>> round(sequential_p_value(c, t, kind="proportion"), 4)
    0.0612
    """
    _check_probability("alpha", alpha)
    _check_tuning(tuning_n)
    diff = _sequential_difference(control, treatment, kind)
    return float(_sequential_p(diff.lift / diff.se, control.n + treatment.n, alpha, tuning_n))


def _sequential_difference(control: ArmStats, treatment: ArmStats, kind: str) -> _Difference:
    _check_arms(control, treatment, kind)
    diff = _difference(control, treatment, kind)
    if diff.se == 0:  # conversions all 0 in one arm and all 1 in the other
        raise ValueError(_no_variance(control, treatment, MSG_NO_VARIANCE_WITHIN))
    return diff


def _sequential_p(z: Num, n: Num, alpha: float, tuning_n: float) -> Num:
    v = n * _rho_squared(alpha, tuning_n)
    log_e = v * z**2 / (2 * (v + 1)) - 0.5 * np.log(v + 1)
    return np.exp(-np.maximum(log_e, 0.0))
