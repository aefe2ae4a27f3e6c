"""Frequentist tests from the arms' sums: a treatment against control, the split, several tests at once.

- The test of one treatment against the control (used by
  :func:`analytics.experiments.comparison.compare`): two-proportion z-test, Welch's t-test, or a
  delta-method z-test for a ratio metric; on request Student's t with Welch-Satterthwaite degrees
  of freedom for proportions and ratios too, as GrowthBook. Absolute and relative lift, each with
  its interval and p-value (the relative ones by the delta method): :class:`Frequentist`.
- :func:`srm_test` checks the split of customers against the design (sample-ratio mismatch).
- :func:`adjust_p_values` corrects several metrics or segments (Holm, Benjamini-Hochberg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics.experiments.arms import (
    MSG_NO_VARIANCE_WITHIN,
    MSG_TOO_FEW,
    ArmStats,
    Num,
    _Difference,
    _difference,
    _no_variance,
)

IntervalMethod = Literal["z", "welch-t"]
INTERVAL_METHODS: tuple[str, ...] = get_args(IntervalMethod)
"""Reference distribution of a proportion's or ratio's test and intervals: the normal, or Student's t
with Welch-Satterthwaite degrees of freedom (GrowthBook's choice). Means always use Welch's t."""
AdjustMethod = Literal["holm", "bh"]
ADJUST_METHODS: tuple[str, ...] = get_args(AdjustMethod)
SRM_ALPHA = 0.001
"""A sample-ratio mismatch is flagged below this p-value (the read-out should not be trusted)."""
TEST_PROPORTION = "two-proportion z-test"
TEST_PROPORTION_WELCH = "Welch t-test (proportion, unpooled)"
TEST_WELCH = "Welch t-test"
TEST_RATIO = "delta-method z-test (ratio)"
TEST_RATIO_WELCH = "delta-method Welch t-test (ratio)"
MSG_UNKNOWN_INTERVAL = "Unknown interval method {method!r}: choose one of {choices}."
MSG_SRM_ARMS = "The sample-ratio test needs at least two arms, got {count}."
MSG_SRM_LENGTHS = "The design has {design} shares for {counts} arms: give one share per arm."
MSG_SRM_COUNT = "Arm {index}: the number of customers must be a whole number >= 0, got {count}."
MSG_SRM_EMPTY = "No customers in any arm: nothing to test."
MSG_DESIGN_SHARE = "Design share {index} must be a positive finite number, got {share}."
MSG_DESIGN_SUM = "The design split must sum to 100 (percent) or 1 (shares), got {total}."
MSG_NO_P_VALUES = "No p-values to adjust."
MSG_BAD_P_VALUE = "p-value {index} must be a number between 0 and 1, got {value}."
MSG_UNKNOWN_ADJUST = "Unknown correction {method!r}: choose one of {choices}."


@dataclass(frozen=True)
class Sequential:
    """Always-valid intervals and p-values at the current sample size.

    Computed by :func:`analytics.experiments.comparison.compare` on request, with the confidence
    sequence of :func:`analytics.experiments.sequential.confidence_sequence`.

    Parameters
    ----------
    tuning_n : int
        Total customers at which the confidence sequence is tightest.
    customers : int
        Customers in both arms at this look.
    absolute_ci : tuple of float
        The confidence sequence of the absolute lift.
    absolute_p_value : float
        Its always-valid p-value.
    relative_ci : tuple of float or None
        The same formula applied to the relative lift and its delta-method standard error (as
        GrowthBook); None without a relative lift.
    relative_p_value : float or None
        Its always-valid p-value.
    """

    tuning_n: int
    customers: int
    absolute_ci: tuple[float, float]
    absolute_p_value: float
    relative_ci: tuple[float, float] | None
    relative_p_value: float | None


@dataclass(frozen=True)
class Frequentist:
    """Frequentist read-out of treatment against control.

    Parameters
    ----------
    test : str
        "two-proportion z-test", "Welch t-test", "delta-method z-test (ratio)" or
        "Welch t-test (CUPED-adjusted)".
    absolute_lift : float
        Treatment mean minus control mean, in the metric's units.
    absolute_ci : tuple of float
        Its ``1 - alpha`` interval (unpooled standard error).
    relative_lift : float or None
        ``absolute_lift / |control mean|``; None when the control mean is 0.
    relative_ci : tuple of float or None
        Its interval by the delta method; None when the control mean is 0.
    p_value : float
        Two-sided p-value of "no difference".
    statistic : float
        The z or t statistic.
    standard_error : float
        Standard error of ``absolute_lift`` (unpooled: the one behind the interval; the
        two-proportion z statistic divides by the pooled one instead).
    df : float or None
        Welch-Satterthwaite degrees of freedom of a t-test; None for z-tests.
    relative_standard_error : float or None
        Delta-method standard error of ``relative_lift``; None when the control mean is 0.
    relative_p_value : float or None
        Two-sided p-value of "no difference" on the relative scale: ``relative_lift /
        relative_standard_error`` against the same reference distribution as the absolute test
        (as GrowthBook reports by default); None without a relative lift or when its standard
        error is 0.
    interval_method : {"z", "welch-t"}
        The reference distribution of the intervals (and of the p-values, except that the
        two-proportion z-test's absolute p-value uses the pooled standard error).
    sequential : Sequential or None
        The always-valid intervals and p-values, when asked for.

    Notes
    -----
    Intervals of proportions are Wald intervals (as statsmodels' "wald"): an arm with 0 or all
    conversions contributes no variance to them, so they are too narrow for tiny arms; the
    Bayesian intervals (exact Beta posteriors) are the ones to read then.
    """

    test: str
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    statistic: float
    standard_error: float
    df: float | None
    relative_standard_error: float | None
    relative_p_value: float | None
    interval_method: IntervalMethod
    sequential: Sequential | None = None

    @property
    def significant(self) -> bool:
        """Whether the absolute interval excludes 0 (equivalently p < alpha, up to rounding)."""
        return self.absolute_ci[0] > 0 or self.absolute_ci[1] < 0


@dataclass(frozen=True)
class Srm:
    """Sample-ratio mismatch: Pearson's chi-square test of the arm counts against the design.

    Parameters
    ----------
    chi_square : float
        The statistic.
    p_value : float
        Its p-value (``len(observed) - 1`` degrees of freedom).
    observed : tuple of int
        Customers per arm.
    expected : tuple of float
        Customers per arm expected from the design split.
    flagged : bool
        ``p_value < SRM_ALPHA``: the assignment is broken and the read-out should not be trusted.
    """

    chi_square: float
    p_value: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    flagged: bool


def _frequentist(
    control: ArmStats, treatment: ArmStats, kind: str, alpha: float, interval_method: str
) -> Frequentist:
    diff = _difference(control, treatment, kind)
    if kind == "mean":
        return _welch(diff, diff.relative_moments(), control.n, treatment.n, alpha, TEST_WELCH)
    if interval_method == "welch-t":
        if kind == "proportion":
            for arm in (control, treatment):
                if arm.n < 2:  # Welch-Satterthwaite divides by n - 1
                    raise ValueError(MSG_TOO_FEW.format(arm=arm.name, n=arm.n, kind="proportion (Welch t)"))
            if diff.se == 0:
                raise ValueError(_no_variance(control, treatment, MSG_NO_VARIANCE_WITHIN))
        test = TEST_PROPORTION_WELCH if kind == "proportion" else TEST_RATIO_WELCH
        return _welch(diff, diff.relative_moments(), control.n, treatment.n, alpha, test)
    if kind == "proportion":
        test = TEST_PROPORTION
        statistic, p_value = _proportion_z(control.sum, control.n, treatment.sum, treatment.n)
    else:
        test = TEST_RATIO
        statistic = diff.lift / diff.se
        p_value = float(2 * stats.norm.sf(abs(statistic)))
    relative = diff.relative_moments()
    return _readout(
        test, diff, relative, statistic=float(statistic), p_value=float(p_value), df=None, alpha=alpha
    )


def _readout(
    test: str,
    diff: _Difference,
    relative: tuple[float, float] | None,
    *,
    statistic: float,
    p_value: float,
    df: float | None,
    alpha: float,
) -> Frequentist:
    """Intervals of the absolute and relative lift, and the relative p-value.

    One reference distribution for all: Student's t with ``df`` degrees of freedom, or the
    normal when ``df`` is None.
    """
    reference = stats.norm() if df is None else stats.t(df)
    critical = float(reference.isf(alpha / 2))
    half = critical * diff.se
    relative_lift = relative_ci = relative_se = relative_p = None
    if relative is not None:
        relative_lift, relative_se = relative
        relative_ci = (relative_lift - critical * relative_se, relative_lift + critical * relative_se)
        if relative_se > 0:
            relative_p = float(2 * reference.sf(abs(relative_lift / relative_se)))
    return Frequentist(
        test=test,
        absolute_lift=diff.lift,
        absolute_ci=(diff.lift - half, diff.lift + half),
        relative_lift=relative_lift,
        relative_ci=relative_ci,
        p_value=p_value,
        statistic=statistic,
        standard_error=diff.se,
        df=df,
        relative_standard_error=relative_se,
        relative_p_value=relative_p,
        interval_method="z" if df is None else "welch-t",
    )


def _proportion_z(s_c: Num, n_c: Num, s_t: Num, n_t: Num) -> tuple[Num, Num]:
    """Two-proportion z statistic with the pooled standard error, and its two-sided p-value."""
    pooled = (s_c + s_t) / (n_c + n_t)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se0 > 0, (s_t / n_t - s_c / n_c) / np.where(se0 > 0, se0, 1.0), 0.0)
    return z, 2 * stats.norm.sf(np.abs(z))


def _welch_df(var_c: Num, var_t: Num, n_c: Num, n_t: Num) -> Num:
    """Welch-Satterthwaite degrees of freedom from the variances of the two means."""
    denominator = var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(denominator > 0, denominator, 1.0)
        return np.where(denominator > 0, (var_c + var_t) ** 2 / safe, 1.0)


def _welch(
    diff: _Difference, relative: tuple[float, float] | None, n_c: int, n_t: int, alpha: float, test: str
) -> Frequentist:
    df = float(_welch_df(diff.var_c, diff.var_t, n_c, n_t))
    statistic = diff.lift / diff.se
    p_value = float(2 * stats.t.sf(abs(statistic), df))
    return _readout(test, diff, relative, statistic=statistic, p_value=p_value, df=df, alpha=alpha)


def srm_test(counts: Sequence[int], design: Sequence[float]) -> Srm:
    """Test the customers per arm against the design split (sample-ratio mismatch).

    Pearson's chi-square goodness of fit (``scipy.stats.chisquare``) of the observed counts
    against ``total * share``; flagged when ``p < SRM_ALPHA`` (0.001), the threshold at which
    the assignment itself is considered broken.

    Parameters
    ----------
    counts : sequence of int
        Customers per arm (at least two arms).
    design : sequence of float
        The design's share of each arm, in percent (summing to 100) or as fractions (summing
        to 1).

    Returns
    -------
    Srm
        Statistic, p-value, observed and expected counts, flag.

    Raises
    ------
    ValueError
        Fewer than two arms, negative or fractional counts, no customers, a share that is not
        positive, shares summing to neither 100 nor 1, or one share per arm missing.

    Examples
    --------
    The sample bank's planted mismatch (exp03): 52% of customers in treatment for a 50/50 design.

    >>> srm = srm_test([8353, 9050], [50, 50])
    >>> round(srm.chi_square, 3), f"{srm.p_value:.3e}", srm.flagged
    (27.915, '1.267e-07', True)
    """
    if len(counts) < 2:
        raise ValueError(MSG_SRM_ARMS.format(count=len(counts)))
    if len(design) != len(counts):
        raise ValueError(MSG_SRM_LENGTHS.format(design=len(design), counts=len(counts)))
    observed: list[int] = []
    for index, count in enumerate(counts):
        try:
            value = float(count)
        except (TypeError, ValueError):
            raise ValueError(MSG_SRM_COUNT.format(index=index, count=count)) from None
        if not math.isfinite(value) or value < 0 or not value.is_integer():
            raise ValueError(MSG_SRM_COUNT.format(index=index, count=count))
        observed.append(int(value))
    shares: list[float] = []
    for index, share in enumerate(design):
        try:
            value = float(share)
        except (TypeError, ValueError):
            raise ValueError(MSG_DESIGN_SHARE.format(index=index, share=share)) from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(MSG_DESIGN_SHARE.format(index=index, share=share))
        shares.append(value)
    total_share = math.fsum(shares)
    if not (math.isclose(total_share, 100, abs_tol=1e-6) or math.isclose(total_share, 1, abs_tol=1e-9)):
        raise ValueError(MSG_DESIGN_SUM.format(total=total_share))
    total = sum(observed)
    if total == 0:
        raise ValueError(MSG_SRM_EMPTY)
    expected = [total * s / total_share for s in shares]
    result = stats.chisquare(observed, expected)
    p_value = float(result.pvalue)
    return Srm(
        chi_square=float(result.statistic),
        p_value=p_value,
        observed=tuple(observed),
        expected=tuple(expected),
        flagged=p_value < SRM_ALPHA,
    )


def adjust_p_values(p_values: Sequence[float], method: AdjustMethod) -> np.ndarray:
    """Adjust p-values of several metrics or segments for multiple testing.

    Holm's step-down method controls the family-wise error rate; Benjamini-Hochberg controls
    the false discovery rate (``statsmodels.stats.multitest.multipletests``, methods "holm"
    and "fdr_bh").

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values, each in [0, 1].
    method : {"holm", "bh"}
        The correction.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input order.

    Raises
    ------
    ValueError
        No p-values, a p-value outside [0, 1] or not a number, an unknown method.

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    if method not in ADJUST_METHODS:
        raise ValueError(MSG_UNKNOWN_ADJUST.format(method=method, choices=", ".join(ADJUST_METHODS)))
    if len(p_values) == 0:
        raise ValueError(MSG_NO_P_VALUES)
    values = []
    for index, p in enumerate(p_values):
        try:
            value = float(p)
        except (TypeError, ValueError):
            raise ValueError(MSG_BAD_P_VALUE.format(index=index, value=p)) from None
        if not (0 <= value <= 1):  # also rejects NaN
            raise ValueError(MSG_BAD_P_VALUE.format(index=index, value=p))
        values.append(value)
    _, adjusted, _, _ = multipletests(values, method="holm" if method == "holm" else "fdr_bh")
    return np.asarray(adjusted, dtype=np.float64)
