"""Statistics of A/B tests, computed from per-arm sufficient statistics.

The database aggregates each arm of an experiment to a handful of sums (customers, sum and
sum of squares of the metric, and the cross-sums that CUPED and ratio metrics need:
:class:`ArmStats`), so a million customers never leave DuckDB; everything here works from
those sums and is pure (numpy, scipy, statsmodels).

- :func:`compare` reads one treatment against the control: the frequentist test (two-proportion
  z-test, Welch's t-test, or a delta-method z-test for a ratio metric; on request Student's t
  with Welch-Satterthwaite degrees of freedom for proportions and ratios too, as GrowthBook),
  absolute and relative lift, each with its interval and p-value (the relative ones by the
  delta method), the Bayesian read-out (chance to beat control, expected loss, credible
  intervals) and, on request, CUPED and the always-valid (sequential) intervals and p-values.
- :func:`srm_test` checks the split of customers against the design (sample-ratio mismatch).
- :func:`confidence_sequence` and :func:`sequential_p_value` give an always-valid interval and
  p-value, so that looking at the result every day does not inflate false positives.
- :func:`adjust_p_values` corrects several metrics or segments (Holm, Benjamini-Hochberg).
- :func:`sample_size` and :func:`minimum_detectable_effect` plan an experiment.
- :func:`simulate_aa` checks the error rates by simulating A/A experiments, vectorized.

Conventions: "lift" is treatment minus control, so a metric where higher is better is
assumed (for a metric where lower is better, read the signs the other way: the expected loss
is the expected shortfall of the treatment). Relative lift is divided by the absolute value of
the control mean, and is None when the control mean is 0 (a relative change from 0 is not
defined); the CUPED relative lift divides the adjusted difference by the control's
*unadjusted* mean (Deng et al. 2013, as GrowthBook), so that an imbalance of the pre-period
covariate between the arms does not move the denominator. Nothing returns NaN or infinity.
Bad input raises ``ValueError`` with one of the ``MSG_*`` messages, which name the arm or
parameter at fault.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import optimize, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

MetricKind = Literal["proportion", "mean", "ratio"]
METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
IntervalMethod = Literal["z", "welch-t"]
INTERVAL_METHODS: tuple[str, ...] = get_args(IntervalMethod)
"""Reference distribution of a proportion's or ratio's test and intervals: the normal, or Student's t
with Welch-Satterthwaite degrees of freedom (GrowthBook's choice). Means always use Welch's t."""
PowerKind = Literal["proportion", "mean"]
POWER_KINDS: tuple[str, ...] = get_args(PowerKind)
AdjustMethod = Literal["holm", "bh"]
Num = float | np.ndarray
"""A scalar or an array: the private formulas serve :func:`compare` and the vectorized simulation."""
ADJUST_METHODS: tuple[str, ...] = get_args(AdjustMethod)

SRM_ALPHA = 0.001
"""A sample-ratio mismatch is flagged below this p-value (the read-out should not be trusted)."""
DEFAULT_TUNING_N = 5000
"""Total customers (both arms) at which the confidence sequence is tightest, as GrowthBook's default."""

TEST_PROPORTION = "two-proportion z-test"
TEST_PROPORTION_WELCH = "Welch t-test (proportion, unpooled)"
TEST_WELCH = "Welch t-test"
TEST_RATIO = "delta-method z-test (ratio)"
TEST_RATIO_WELCH = "delta-method Welch t-test (ratio)"
TEST_CUPED = "Welch t-test (CUPED-adjusted)"
BAYES_BETA = "beta-binomial"
BAYES_NORMAL = "normal approximation"

MSG_UNKNOWN_KIND = "Unknown metric kind {kind!r}: choose one of {choices}."
MSG_UNKNOWN_INTERVAL = "Unknown interval method {method!r}: choose one of {choices}."
MSG_BAD_COUNT = "Arm {arm!r}: the number of customers must be a whole number >= 0, got {n}."
MSG_EMPTY_ARM = "Arm {arm!r} has no customers."
MSG_TOO_FEW = (
    "Arm {arm!r} has {n} customer(s): a {kind} metric needs at least 2 per arm to estimate its spread."
)
MSG_NOT_FINITE = "Arm {arm!r}: {field} is not a finite number ({value})."
MSG_PARTIAL_SUMS = "Arm {arm!r}: give all of {fields} or none of them."
MSG_INCONSISTENT_SUMS = (
    "Arm {arm!r}: the sums of {what} are inconsistent (n={n}, sum={total}, sum of squares={sum_sq}): "
    "no set of values has them."
)
MSG_INCONSISTENT_CROSS = (
    "Arm {arm!r}: the cross-product sum {field} is inconsistent with the sums of squares "
    "(it would make a correlation beyond -1..1)."
)
MSG_NOT_PROPORTION = (
    "Arm {arm!r} is not a conversion count: a proportion needs a whole number of conversions "
    "between 0 and n and a sum of squares equal to the sum (0/1 values); got n={n}, sum={total}, "
    "sum of squares={sum_sq}."
)
MSG_NO_VARIANCE = "Arms {control!r} and {treatment!r} have no variance ({detail}): there is nothing to test."
MSG_NO_VARIANCE_PROPORTION = "conversions are all 0 or all 1 in both arms"
MSG_NO_VARIANCE_MEAN = "every customer has the same value in each arm"
MSG_NO_VARIANCE_WITHIN = "within each arm every customer converts the same way"
MSG_NEEDS_DENOMINATOR = (
    "Arm {arm!r} has no denominator sums (d_sum, d_sum_sq, yd_sum): a ratio metric needs them."
)
MSG_ZERO_DENOMINATOR = "Arm {arm!r}: the denominator of the ratio metric sums to 0."
MSG_NEEDS_COVARIATE = (
    "Arm {arm!r} has no pre-period covariate sums (x_sum, x_sum_sq, xy_sum): CUPED needs them."
)
MSG_CUPED_RATIO = "CUPED is available for proportion and mean metrics, not for a ratio metric."
MSG_NO_SOLUTION = (
    "No sample size reaches that power for an effect of {mde} with standard deviation {sd}: the"
    " effect is too small (or too large) next to the spread to plan for; check both numbers."
)
MSG_CUPED_EXACT = (
    "The pre-period covariate predicts the metric exactly, so CUPED leaves no variance: "
    "check that the covariate is the pre-period value and not the metric itself."
)
MSG_BAD_PROBABILITY = "{name} must be strictly between 0 and 1, got {value}."
MSG_NOT_NUMERIC = "Arm {arm!r}: the {what} values must be numbers ({error})."
MSG_NOT_1D = "Arm {arm!r}: the {what} values must be one value per customer (a 1-D array), got shape {shape}."
MSG_LENGTHS = "Arm {arm!r}: {what} has {got} values for {n} customers."
MSG_SRM_ARMS = "The sample-ratio test needs at least two arms, got {count}."
MSG_SRM_LENGTHS = "The design has {design} shares for {counts} arms: give one share per arm."
MSG_SRM_COUNT = "Arm {index}: the number of customers must be a whole number >= 0, got {count}."
MSG_SRM_EMPTY = "No customers in any arm: nothing to test."
MSG_DESIGN_SHARE = "Design share {index} must be a positive finite number, got {share}."
MSG_DESIGN_SUM = "The design split must sum to 100 (percent) or 1 (shares), got {total}."
MSG_NO_P_VALUES = "No p-values to adjust."
MSG_BAD_P_VALUE = "p-value {index} must be a number between 0 and 1, got {value}."
MSG_UNKNOWN_ADJUST = "Unknown correction {method!r}: choose one of {choices}."
MSG_UNKNOWN_POWER_KIND = "Unknown metric kind {kind!r} for the power calculation: choose one of {choices}."
MSG_BAD_MDE = "The minimum detectable effect must be a positive finite number, got {mde}."
MSG_BAD_BASELINE_RATE = "The baseline conversion rate must be strictly between 0 and 1, got {baseline}."
MSG_TARGET_RATE = (
    "A baseline of {baseline} plus the effect gives a conversion rate of {target}, which is not below 1: "
    "choose a smaller effect."
)
MSG_BAD_BASELINE_MEAN = (
    "The baseline mean must be a finite number (and not 0 for a relative effect), got {baseline}."
)
MSG_NEEDS_SD = "A mean metric needs its standard deviation per customer (sd > 0), got {sd}."
MSG_BAD_SIDES = "sides must be 1 or 2, got {sides}."
MSG_BAD_RATIO = (
    "The allocation ratio (treatment customers per control customer) must be positive, got {ratio}."
)
MSG_BAD_TRAFFIC = "Daily traffic must be a positive number of customers, got {traffic}."
MSG_BAD_PER_ARM = "The number of customers per arm must be a whole number >= 2, got {per_arm}."
MSG_MDE_UNREACHABLE = (
    "With {per_arm} customers per arm, no rise of a {baseline} conversion rate (even to 100%) is "
    "detected with {power:.0%} power: more customers are needed."
)
MSG_BAD_TUNING = "The tuning sample size must be a positive number of customers, got {tuning_n}."
MSG_BAD_SIMULATION = "{name} must be a whole number >= {least}, got {value}."

_GAUSS_NODES = 128
"""Gauss-Legendre nodes of the beta-binomial integrals (1e-12 against closed forms; 512 nodes agree)."""
_TAIL = 1e-13
"""Posterior mass left out at each end of the integration range."""


# -- sufficient statistics --------------------------------------------------------------------
@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm for one metric.

    The per-customer values are y (the metric); optionally x, the pre-period value of the same
    metric, for CUPED; optionally d, the denominator of a ratio metric ``sum(y) / sum(d)``
    (for example revenue per session: y revenue, d sessions of each customer). All are sums
    over the arm's customers, so a database computes them in one ``GROUP BY``.

    Parameters
    ----------
    name : str
        Arm (variant) name, used in messages.
    n : int
        Customers in the arm.
    sum, sum_sq : float
        Sum of y and of y squared.
    x_sum, x_sum_sq, xy_sum : float or None
        Sums of x, x squared and x*y (all three or none).
    d_sum, d_sum_sq, yd_sum : float or None
        Sums of d, d squared and y*d (all three or none).

    Raises
    ------
    ValueError
        A negative or fractional count, a non-finite sum, a partial group of sums, or sums that
        no set of values can have (a sum of squares below sum^2 / n).

    Examples
    --------
    >>> arm = ArmStats("control", n=4, sum=10.0, sum_sq=30.0)
    >>> arm.mean, round(arm.variance, 6)
    (2.5, 1.666667)
    """

    name: str
    n: int
    sum: float
    sum_sq: float
    x_sum: float | None = None
    x_sum_sq: float | None = None
    xy_sum: float | None = None
    d_sum: float | None = None
    d_sum_sq: float | None = None
    yd_sum: float | None = None

    def __post_init__(self) -> None:
        n = self.n
        if isinstance(n, bool) or not isinstance(n, int | float | np.integer | np.floating):
            raise ValueError(MSG_BAD_COUNT.format(arm=self.name, n=n))
        if not math.isfinite(float(n)) or float(n) < 0 or not float(n).is_integer():
            raise ValueError(MSG_BAD_COUNT.format(arm=self.name, n=n))
        object.__setattr__(self, "n", int(n))
        for field in ("sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum", "d_sum", "d_sum_sq", "yd_sum"):
            value = getattr(self, field)
            if value is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(MSG_NOT_FINITE.format(arm=self.name, field=field, value=value)) from None
            if not math.isfinite(number):
                raise ValueError(MSG_NOT_FINITE.format(arm=self.name, field=field, value=value))
            object.__setattr__(self, field, number)
        for group in (("x_sum", "x_sum_sq", "xy_sum"), ("d_sum", "d_sum_sq", "yd_sum")):
            given = [getattr(self, f) is not None for f in group]
            if any(given) and not all(given):
                raise ValueError(MSG_PARTIAL_SUMS.format(arm=self.name, fields=", ".join(group)))
        self._check_moments("y", self.sum, self.sum_sq)
        if self.has_covariate:
            self._check_moments("x", self.x_sum, self.x_sum_sq)
            self._check_cross("xy_sum", self.sum, self.sum_sq, self.x_sum, self.x_sum_sq, self.xy_sum)
        if self.has_denominator:
            self._check_moments("d", self.d_sum, self.d_sum_sq)
            self._check_cross("yd_sum", self.sum, self.sum_sq, self.d_sum, self.d_sum_sq, self.yd_sum)

    def _check_moments(self, what: str, total: float, sum_sq: float) -> None:
        if self.n == 0:
            bad = total != 0 or sum_sq != 0
        else:
            bad = sum_sq < 0 or sum_sq - total * total / self.n < -1e-9 * max(sum_sq, 1.0)
        if bad:
            raise ValueError(
                MSG_INCONSISTENT_SUMS.format(arm=self.name, what=what, n=self.n, total=total, sum_sq=sum_sq)
            )

    def _check_cross(self, field: str, a: float, aa: float, b: float, bb: float, ab: float) -> None:
        if self.n == 0:
            if ab != 0:
                raise ValueError(MSG_INCONSISTENT_CROSS.format(arm=self.name, field=field))
            return
        # Cauchy-Schwarz on the centred sums: S_ab^2 <= S_aa * S_bb.
        s_aa, s_bb = max(aa - a * a / self.n, 0.0), max(bb - b * b / self.n, 0.0)
        s_ab = ab - a * b / self.n
        if s_ab * s_ab > s_aa * s_bb * (1 + 1e-9) + 1e-9 * max(abs(aa), 1.0) * max(abs(bb), 1.0):
            raise ValueError(MSG_INCONSISTENT_CROSS.format(arm=self.name, field=field))

    @property
    def has_covariate(self) -> bool:
        """Whether the CUPED covariate sums are given."""
        return self.x_sum is not None

    @property
    def has_denominator(self) -> bool:
        """Whether the ratio-metric denominator sums are given."""
        return self.d_sum is not None

    @property
    def mean(self) -> float:
        """Mean of y per customer (raises ``ValueError`` for an arm without customers)."""
        if self.n == 0:
            raise ValueError(MSG_EMPTY_ARM.format(arm=self.name))
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Sample variance of y (ddof=1; raises ``ValueError`` below 2 customers)."""
        if self.n < 2:
            raise ValueError(MSG_TOO_FEW.format(arm=self.name, n=self.n, kind="per-customer"))
        return _centred_sq(self.n, self.sum, self.sum_sq) / (self.n - 1)


def arm_stats(
    name: str,
    y: Sequence[float] | np.ndarray,
    *,
    x: Sequence[float] | np.ndarray | None = None,
    d: Sequence[float] | np.ndarray | None = None,
) -> ArmStats:
    """Sufficient statistics of one arm from per-customer values (uploads and tests).

    Parameters
    ----------
    name : str
        Arm name.
    y : array-like
        The metric, one value per customer (0/1 for a conversion).
    x : array-like, optional
        Pre-period value of the metric per customer (the CUPED covariate).
    d : array-like, optional
        Denominator per customer of a ratio metric ``sum(y) / sum(d)``.

    Returns
    -------
    ArmStats
        The sums.

    Raises
    ------
    ValueError
        Non-numeric or non-finite values, arrays of the wrong shape or length.

    Examples
    --------
    >>> arm_stats("control", [0, 1, 1, 0]).sum
    2.0
    """
    values = _as_values(name, "metric", y)
    n = values.size
    sums: dict[str, float] = {"sum": float(values.sum()), "sum_sq": float(values @ values)}
    if x is not None:
        xs = _as_values(name, "covariate", x, n=n)
        sums |= {"x_sum": float(xs.sum()), "x_sum_sq": float(xs @ xs), "xy_sum": float(xs @ values)}
    if d is not None:
        ds = _as_values(name, "denominator", d, n=n)
        sums |= {"d_sum": float(ds.sum()), "d_sum_sq": float(ds @ ds), "yd_sum": float(ds @ values)}
    return ArmStats(name, n, **sums)


def _as_values(arm: str, what: str, values: object, *, n: int | None = None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(MSG_NOT_NUMERIC.format(arm=arm, what=what, error=error)) from None
    if array.ndim != 1:
        raise ValueError(MSG_NOT_1D.format(arm=arm, what=what, shape=array.shape))
    if n is not None and array.size != n:
        raise ValueError(MSG_LENGTHS.format(arm=arm, what=what, got=array.size, n=n))
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(MSG_NOT_FINITE.format(arm=arm, field=f"{what} value {first}", value=array[first]))
    return array


def _centred_sq(n: int, a: float, aa: float) -> float:
    """Centred sum of squares S_aa = sum(a^2) - sum(a)^2 / n, clipped at 0 (rounding)."""
    return max(aa - a * a / n, 0.0)


def _centred_cross(n: int, a: float, b: float, ab: float) -> float:
    """Centred cross-product sum S_ab = sum(a b) - sum(a) sum(b) / n."""
    return ab - a * b / n


# -- result types -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Sequential:
    """Always-valid intervals and p-values at the current sample size (see :func:`confidence_sequence`).

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
class Bayesian:
    """Bayesian read-out of treatment against control.

    Parameters
    ----------
    method : str
        "beta-binomial" (proportion, uniform Beta(1, 1) priors, exact posteriors by numerical
        integration) or "normal approximation" (mean and ratio: flat prior, the lift normal
        around its estimate with the unpooled standard error).
    chance_to_beat_control : float
        Posterior probability that the treatment mean exceeds the control mean.
    expected_loss : float
        Expected loss of shipping the treatment, ``E[max(control - treatment, 0)]``, in the
        metric's units.
    credible_interval : tuple of float
        Central ``1 - alpha`` posterior interval of the absolute lift.
    relative_credible_interval : tuple of float or None
        The same for ``treatment / control - 1``; None for a normal approximation whose control
        mean is 0.
    """

    method: str
    chance_to_beat_control: float
    expected_loss: float
    credible_interval: tuple[float, float]
    relative_credible_interval: tuple[float, float] | None


@dataclass(frozen=True)
class Cuped:
    """CUPED (regression adjustment on the pre-period value of the metric).

    Parameters
    ----------
    theta : float
        ``cov(x, y) / var(x)`` over the customers of both arms (0 when x is constant).
    variance_reduction : float
        ``1 - Var(adjusted) / Var(raw)`` with both variances pooled within arms.
    control_mean, treatment_mean : float
        Adjusted means ``mean(y) - theta (mean(x) - pooled mean(x))``.
    frequentist : Frequentist
        Welch's t-test and intervals on the adjusted metric. Its relative lift is the adjusted
        difference over the control's unadjusted mean, with the delta-method variance of that
        ratio (the control's y and x means are correlated; the treatment's enter the numerator
        only).
    bayesian : Bayesian
        The normal approximation on the adjusted lift (flat prior), so that a CUPED read-out's
        chance to beat control agrees with its test.
    """

    theta: float
    variance_reduction: float
    control_mean: float
    treatment_mean: float
    frequentist: Frequentist
    bayesian: Bayesian


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one metric.

    Parameters
    ----------
    control, treatment : ArmStats
        The arms compared.
    kind : MetricKind
        proportion, mean or ratio.
    frequentist : Frequentist
        Test and intervals on the raw metric.
    bayesian : Bayesian
        Chance to beat control, expected loss, credible intervals (raw metric).
    cuped : Cuped or None
        The CUPED-adjusted read-out when asked for.
    """

    control: ArmStats
    treatment: ArmStats
    kind: MetricKind
    frequentist: Frequentist
    bayesian: Bayesian
    cuped: Cuped | None


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


@dataclass(frozen=True)
class SampleSize:
    """Customers needed to detect an effect.

    Parameters
    ----------
    per_arm : int
        Customers in the control arm (in each arm when the allocation ratio is 1).
    total : int
        Customers in both arms (control plus ``ratio`` times as many in treatment).
    days : int or None
        Days to enrol ``total`` customers at the given daily traffic; None without traffic.
    alpha, power : float
        Significance level and power.
    sides : int
        1 (one-sided) or 2 (two-sided) test.
    baseline : float
        Control conversion rate or mean.
    mde : float
        Minimum detectable effect as given (relative to the baseline or absolute).
    relative : bool
        Whether ``mde`` is relative.
    """

    per_arm: int
    total: int
    days: int | None
    alpha: float
    power: float
    sides: int
    baseline: float
    mde: float
    relative: bool


# -- comparing two arms -----------------------------------------------------------------------
def compare(
    control: ArmStats,
    treatment: ArmStats,
    *,
    kind: MetricKind,
    alpha: float = 0.05,
    cuped: bool = False,
    interval_method: IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = DEFAULT_TUNING_N,
) -> Comparison:
    """Read one treatment arm against the control arm.

    Proportion (0/1 per customer): two-proportion z-test with the pooled standard error under
    "no difference" (as ``statsmodels.stats.proportion.proportions_ztest``), interval with the
    unpooled (Wald) standard error ``sqrt(p_c q_c / n_c + p_t q_t / n_t)``. Mean: Welch's
    t-test, Welch-Satterthwaite degrees of freedom, t interval. Ratio ``sum(y) / sum(d)``:
    z-test with the delta-method variance of each arm's ratio
    ``(var_y - 2 R cov_yd + R^2 var_d) / (n mean_d^2)``. With ``interval_method="welch-t"``
    proportions and ratios are read as GrowthBook does: the unpooled standard error against
    Student's t with Welch-Satterthwaite degrees of freedom, for the test and the intervals.
    The relative lift ``(mean_t - mean_c) / |mean_c|`` gets its delta-method standard error
    ``sqrt(var_t + (mean_t / mean_c)^2 var_c) / |mean_c|`` (variances of the means), and from it
    an interval and a p-value with the same reference distribution as the absolute test.

    Parameters
    ----------
    control, treatment : ArmStats
        The two arms.
    kind : {"proportion", "mean", "ratio"}
        The metric's kind.
    alpha : float, default 0.05
        1 - confidence level of every interval (frequentist and Bayesian).
    cuped : bool, default False
        Also read the CUPED-adjusted metric (needs the ``x_*`` sums; proportion and mean only).
    interval_method : {"z", "welch-t"}, default "z"
        Reference distribution of a proportion's or ratio's test and intervals (means and CUPED
        always use Welch's t).
    sequential : bool, default False
        Also compute the always-valid intervals and p-values (:class:`Sequential`, on the raw
        and on the CUPED read-out).
    tuning_n : int, default 5000
        Tuning sample size of the confidence sequence (see :func:`confidence_sequence`).

    Returns
    -------
    Comparison
        Frequentist, Bayesian and optional CUPED read-outs.

    Raises
    ------
    ValueError
        An empty arm, inconsistent sums, no variance in either arm, a ratio without
        denominator sums or summing to 0, CUPED without covariate sums, alpha outside (0, 1),
        an unknown interval method, fewer than 2 customers in an arm or no variance within the
        arms for a proportion's Welch t-test, a tuning size that is not positive.

    Examples
    --------
    The sample bank's planted conversion experiment (exp01):

    >>> c = ArmStats("control", n=7755, sum=775, sum_sq=775)
    >>> t = ArmStats("treatment", n=7756, sum=892, sum_sq=892)
    >>> result = compare(c, t, kind="proportion")
    >>> round(result.frequentist.p_value, 6), round(result.frequentist.relative_lift, 4)
    (0.002442, 0.1508)
    """
    _check_probability("alpha", alpha)
    if interval_method not in INTERVAL_METHODS:
        raise ValueError(
            MSG_UNKNOWN_INTERVAL.format(method=interval_method, choices=", ".join(INTERVAL_METHODS))
        )
    if sequential:
        _check_tuning(tuning_n)
    _check_arms(control, treatment, kind)
    if cuped:
        if kind == "ratio":
            raise ValueError(MSG_CUPED_RATIO)
        for arm in (control, treatment):
            if not arm.has_covariate:
                raise ValueError(MSG_NEEDS_COVARIATE.format(arm=arm.name))
    frequentist = _frequentist(control, treatment, kind, alpha, interval_method)
    adjusted = _cuped(control, treatment, alpha) if cuped else None
    if adjusted is not None and (adjusted.theta == 0 or adjusted.variance_reduction <= 0):
        # A covariate that explains nothing (constant, e.g. no pre-period activity at all) would
        # only swap the exact test for a Welch approximation: the raw read-out stands.
        adjusted = None
    if sequential:
        customers = control.n + treatment.n
        frequentist = _with_sequential(frequentist, customers, alpha, tuning_n)
        if adjusted is not None:
            adjusted = dataclasses.replace(
                adjusted,
                frequentist=_with_sequential(adjusted.frequentist, customers, alpha, tuning_n),
            )
    if kind == "proportion":
        bayesian = _beta_binomial(control, treatment, alpha)
    else:
        diff = _difference(control, treatment, kind)
        bayesian = _normal_bayes(diff.lift, diff.se, diff.relative_moments(), alpha)
    return Comparison(
        control=control,
        treatment=treatment,
        kind=kind,
        frequentist=frequentist,
        bayesian=bayesian,
        cuped=adjusted,
    )


@dataclass(frozen=True)
class _Difference:
    """Arm means, variances of the means, and the unpooled standard error of their difference."""

    mean_c: float
    mean_t: float
    var_c: float
    var_t: float

    @property
    def lift(self) -> float:
        return self.mean_t - self.mean_c

    @property
    def se(self) -> float:
        return math.sqrt(self.var_c + self.var_t)

    def relative_moments(self) -> tuple[float, float] | None:
        """Relative lift and its delta-method standard error (None when the control mean is 0)."""
        if self.mean_c == 0:
            return None
        # Delta method for mean_t / mean_c with independent arms:
        # Var = var_t / m_c^2 + m_t^2 var_c / m_c^4 (the sign of m_c does not change it).
        m_c, m_t = np.float64(self.mean_c), np.float64(self.mean_t)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            se = float(np.sqrt(self.var_t + (m_t / m_c) ** 2 * self.var_c) / abs(m_c))
            lift = float((m_t - m_c) / abs(m_c))
        if not (math.isfinite(se) and math.isfinite(lift)):
            return None  # a control mean so near 0 that the ratio overflows
        return lift, se


def _check_arms(control: ArmStats, treatment: ArmStats, kind: str) -> None:
    if kind not in METRIC_KINDS:
        raise ValueError(MSG_UNKNOWN_KIND.format(kind=kind, choices=", ".join(METRIC_KINDS)))
    for arm in (control, treatment):
        if arm.n == 0:
            raise ValueError(MSG_EMPTY_ARM.format(arm=arm.name))
        if kind == "proportion":
            if not (0 <= arm.sum <= arm.n and arm.sum.is_integer() and abs(arm.sum_sq - arm.sum) <= 1e-9):
                raise ValueError(
                    MSG_NOT_PROPORTION.format(arm=arm.name, n=arm.n, total=arm.sum, sum_sq=arm.sum_sq)
                )
        elif arm.n < 2:
            raise ValueError(MSG_TOO_FEW.format(arm=arm.name, n=arm.n, kind=kind))
        if kind == "ratio":
            if not arm.has_denominator:
                raise ValueError(MSG_NEEDS_DENOMINATOR.format(arm=arm.name))
            if arm.d_sum == 0:
                raise ValueError(MSG_ZERO_DENOMINATOR.format(arm=arm.name))
    if kind == "proportion":
        pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
        if pooled in (0.0, 1.0):
            raise ValueError(_no_variance(control, treatment, MSG_NO_VARIANCE_PROPORTION))
    else:
        diff = _difference(control, treatment, kind)
        if diff.var_c + diff.var_t <= 0:
            raise ValueError(_no_variance(control, treatment, MSG_NO_VARIANCE_MEAN))


def _no_variance(control: ArmStats, treatment: ArmStats, detail: str) -> str:
    return MSG_NO_VARIANCE.format(control=control.name, treatment=treatment.name, detail=detail)


def _arm_moments(arm: ArmStats, kind: str) -> tuple[float, float]:
    """Mean of the arm's metric and the variance of that mean."""
    n = arm.n
    if kind == "proportion":
        p = arm.sum / n
        return p, p * (1 - p) / n
    var_y = _centred_sq(n, arm.sum, arm.sum_sq) / (n - 1)
    if kind == "mean":
        return arm.sum / n, var_y / n
    # Delta method for the ratio of two means (y and d of the same customers):
    # Var(R) = (var_y - 2 R cov_yd + R^2 var_d) / (n mean_d^2), R = sum(y) / sum(d).
    d_sum, d_sum_sq, yd_sum = float(arm.d_sum or 0), float(arm.d_sum_sq or 0), float(arm.yd_sum or 0)
    ratio = arm.sum / d_sum
    var_d = _centred_sq(n, d_sum, d_sum_sq) / (n - 1)
    cov_yd = _centred_cross(n, arm.sum, d_sum, yd_sum) / (n - 1)
    mean_d = d_sum / n
    return ratio, max(var_y - 2 * ratio * cov_yd + ratio**2 * var_d, 0.0) / (n * mean_d**2)


def _difference(control: ArmStats, treatment: ArmStats, kind: str) -> _Difference:
    mean_c, var_c = _arm_moments(control, kind)
    mean_t, var_t = _arm_moments(treatment, kind)
    return _Difference(mean_c, mean_t, var_c, var_t)


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


# -- CUPED ------------------------------------------------------------------------------------
def _cuped(control: ArmStats, treatment: ArmStats, alpha: float) -> Cuped | None:
    # CUPED (Deng, Xu, Kohavi & Walker 2013): y - theta (x - mean x), theta = cov(x, y) / var(x)
    # estimated on both arms together (x is measured before assignment, so it is independent
    # of the arm), as GrowthBook does.
    arms = (control, treatment)
    n = control.n + treatment.n
    sx = sum(float(a.x_sum or 0) for a in arms)
    sy = sum(a.sum for a in arms)
    s_xx = _centred_sq(n, sx, sum(float(a.x_sum_sq or 0) for a in arms))
    s_xy = _centred_cross(n, sx, sy, sum(float(a.xy_sum or 0) for a in arms))
    theta = s_xy / s_xx if s_xx > 0 else 0.0
    x_mean = sx / n
    means, variances, raw, adjusted = [], [], 0.0, 0.0
    for arm in arms:
        m = arm.n
        x_sum, x_sum_sq, xy_sum = float(arm.x_sum or 0), float(arm.x_sum_sq or 0), float(arm.xy_sum or 0)
        s_yy = _centred_sq(m, arm.sum, arm.sum_sq)
        # Within-arm centred sum of squares of y - theta x.
        s_xx_arm, s_xy_arm = _centred_sq(m, x_sum, x_sum_sq), _centred_cross(m, x_sum, arm.sum, xy_sum)
        s_adj = max(s_yy + theta**2 * s_xx_arm - 2 * theta * s_xy_arm, 0.0)
        raw += s_yy
        adjusted += s_adj
        means.append(arm.sum / m - theta * (x_sum / m - x_mean))
        variances.append(s_adj / (m - 1) / m if m > 1 else 0.0)
    if raw <= 0:
        return None  # every customer has the same value within each arm: nothing to adjust
    if variances[0] + variances[1] <= 0:
        raise ValueError(MSG_CUPED_EXACT)
    diff = _Difference(means[0], means[1], variances[0], variances[1])
    relative = _cuped_relative(control, treatment, diff, theta)
    return Cuped(
        theta=theta,
        variance_reduction=1 - adjusted / raw,
        control_mean=means[0],
        treatment_mean=means[1],
        frequentist=_welch(diff, relative, control.n, treatment.n, alpha, TEST_CUPED),
        bayesian=_normal_bayes(diff.lift, diff.se, relative, alpha),
    )


def _cuped_relative(
    control: ArmStats, treatment: ArmStats, diff: _Difference, theta: float
) -> tuple[float, float] | None:
    """The CUPED relative lift over the control's unadjusted mean, and its delta-method SE.

    r = D / ybar_c with D = (ybar_t - theta xbar_t) - (ybar_c - theta xbar_c), theta held
    fixed. The treatment's means enter D only: var_t(adjusted) / ybar_c^2. The control's
    ybar_c and xbar_c enter the numerator and the denominator, with gradient (-k, theta) /
    ybar_c where k = mu_t / mu_c at the linearization point (the arms' covariate means are
    equal there, by randomization), estimated by ybar_t / ybar_c as GrowthBook does; their part
    is (k^2 var_y + theta^2 var_x - 2 k theta cov_xy) / (n_c ybar_c^2).
    """
    n = control.n
    if control.sum == 0:
        return None
    mean_c = control.sum / n
    k = (treatment.sum / treatment.n) / mean_c
    if n > 1:
        x_sum, x_sum_sq = float(control.x_sum or 0), float(control.x_sum_sq or 0)
        xy_sum = float(control.xy_sum or 0)
        var_y = _centred_sq(n, control.sum, control.sum_sq) / (n - 1)
        var_x = _centred_sq(n, x_sum, x_sum_sq) / (n - 1)
        cov = _centred_cross(n, x_sum, control.sum, xy_sum) / (n - 1)
        control_part = max(k * k * var_y + theta * theta * var_x - 2 * k * theta * cov, 0.0) / n
    else:
        control_part = 0.0
    se = math.sqrt(diff.var_t + control_part) / abs(mean_c)
    lift = diff.lift / abs(mean_c)
    if not (math.isfinite(se) and math.isfinite(lift)):
        return None
    return lift, se


# -- Bayesian ---------------------------------------------------------------------------------
def _normal_bayes(mu: float, sigma: float, relative: tuple[float, float] | None, alpha: float) -> Bayesian:
    # Flat prior, normal likelihood of the lift: posterior N(lift, se^2).
    z = mu / sigma
    critical = float(stats.norm.isf(alpha / 2))
    # E[max(-D, 0)] for D ~ N(mu, sigma^2): sigma phi(mu / sigma) - mu Phi(-mu / sigma).
    loss = sigma * float(stats.norm.pdf(z)) - mu * float(stats.norm.sf(z))
    relative_ci = None
    if relative is not None:
        relative_ci = (relative[0] - critical * relative[1], relative[0] + critical * relative[1])
    return Bayesian(
        method=BAYES_NORMAL,
        chance_to_beat_control=float(stats.norm.cdf(z)),
        expected_loss=max(loss, 0.0),
        credible_interval=(mu - critical * sigma, mu + critical * sigma),
        relative_credible_interval=relative_ci,
    )


@functools.cache
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (computed once: an eigenvalue problem)."""
    return np.polynomial.legendre.leggauss(_GAUSS_NODES)


class _BetaPair:
    """Beta posteriors of the control (C) and treatment (T) rates, integrated numerically.

    Every quantity is a one-dimensional integral over the narrower posterior of a smooth
    function of the other one's distribution function (closed form by ``scipy.special.betainc``),
    by Gauss-Legendre quadrature. Written here because no maintained library gives the
    distribution of the difference or ratio of two Beta variables, nor the expected loss.
    """

    def __init__(self, control: ArmStats, treatment: ArmStats) -> None:
        # Uniform Beta(1, 1) prior: posterior Beta(conversions + 1, non-conversions + 1).
        self.a_c, self.b_c = control.sum + 1, control.n - control.sum + 1
        self.a_t, self.b_t = treatment.sum + 1, treatment.n - treatment.sum + 1
        self.mean_c = self.a_c / (self.a_c + self.b_c)
        self.mean_t = self.a_t / (self.a_t + self.b_t)
        sd_c = math.sqrt(stats.beta.var(self.a_c, self.b_c))
        sd_t = math.sqrt(stats.beta.var(self.a_t, self.b_t))
        self.outer_is_control = sd_c <= sd_t
        a, b = (self.a_c, self.b_c) if self.outer_is_control else (self.a_t, self.b_t)
        lo, hi = special.betaincinv(a, b, _TAIL), special.betaincinv(a, b, 1 - _TAIL)
        nodes, weights = _gauss_legendre()
        self.x = lo + (hi - lo) * (nodes + 1) / 2
        self.w = weights * (hi - lo) / 2 * stats.beta.pdf(self.x, a, b)
        self.sd = math.hypot(sd_c, sd_t)

    def diff_cdf(self, t: float) -> float:
        """P(T - C <= t)."""
        if self.outer_is_control:
            inner = special.betainc(self.a_t, self.b_t, np.clip(self.x + t, 0, 1))
        else:
            inner = special.betaincc(self.a_c, self.b_c, np.clip(self.x - t, 0, 1))
        return float(self.w @ inner)

    def ratio_cdf(self, r: float) -> float:
        """P(T / C - 1 <= r) for r > -1."""
        if self.outer_is_control:
            inner = special.betainc(self.a_t, self.b_t, np.clip((1 + r) * self.x, 0, 1))
        else:
            inner = special.betaincc(self.a_c, self.b_c, np.clip(self.x / (1 + r), 0, 1))
        return float(self.w @ inner)

    def expected_loss(self) -> float:
        """E[max(C - T, 0)], with closed-form inner expectations.

        For a Beta(a, b) variable V with mean m: E[V 1{V <= v}] = m I_v(a + 1, b), so
        E[(v - V)+] = v I_v(a, b) - m I_v(a + 1, b) and
        E[(V - v)+] = m (1 - I_v(a + 1, b)) - v (1 - I_v(a, b)).
        """
        x = self.x
        if self.outer_is_control:
            a, b, m = self.a_t, self.b_t, self.mean_t
            inner = x * special.betainc(a, b, x) - m * special.betainc(a + 1, b, x)
        else:
            a, b, m = self.a_c, self.b_c, self.mean_c
            inner = m * special.betaincc(a + 1, b, x) - x * special.betaincc(a, b, x)
        return max(float(self.w @ inner), 0.0)

    def diff_quantile(self, q: float) -> float:
        centre = self.mean_t - self.mean_c
        return _root(lambda t: self.diff_cdf(t) - q, centre, self.sd, -1.0, 1.0)

    def ratio_quantile(self, q: float) -> float:
        centre = self.mean_t / self.mean_c - 1
        # Delta-method spread of T / C, only to bracket the root.
        spread = math.sqrt(
            stats.beta.var(self.a_t, self.b_t) / self.mean_c**2
            + self.mean_t**2 * stats.beta.var(self.a_c, self.b_c) / self.mean_c**4
        )
        return _root(lambda r: self.ratio_cdf(r) - q, centre, spread, -1.0 + 1e-12, math.inf)


def _root(
    f: Callable[[float], float], centre: float, spread: float, lo_bound: float, hi_bound: float
) -> float:
    """Root of an increasing function, bracketed outwards from centre in steps of spread."""
    step = max(spread, 1e-12)
    lo, hi = max(centre - 8 * step, lo_bound), min(centre + 8 * step, hi_bound)
    for _ in range(64):
        if f(lo) <= 0 or lo <= lo_bound:
            break
        step *= 2
        lo = max(centre - 8 * step, lo_bound)
    step = max(spread, 1e-12)
    for _ in range(64):
        if f(hi) >= 0 or hi >= hi_bound:
            break
        step *= 2
        hi = min(centre + 8 * step, hi_bound)
    # A quantile beyond what the quadrature resolves (alpha below ~1e-12) sits at the bracket.
    if f(lo) > 0:
        return lo
    if f(hi) < 0:
        return hi
    return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-12))


def _beta_binomial(control: ArmStats, treatment: ArmStats, alpha: float) -> Bayesian:
    pair = _BetaPair(control, treatment)
    chance = 1 - pair.diff_cdf(0.0)
    return Bayesian(
        method=BAYES_BETA,
        chance_to_beat_control=min(max(chance, 0.0), 1.0),
        expected_loss=pair.expected_loss(),
        credible_interval=(pair.diff_quantile(alpha / 2), pair.diff_quantile(1 - alpha / 2)),
        relative_credible_interval=(pair.ratio_quantile(alpha / 2), pair.ratio_quantile(1 - alpha / 2)),
    )


# -- sample-ratio mismatch --------------------------------------------------------------------
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


# -- sequential monitoring --------------------------------------------------------------------
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
    :func:`compare`)::

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
        As :func:`compare`; a tuning size that is not positive.

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


# -- multiple testing -------------------------------------------------------------------------
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


# -- planning ---------------------------------------------------------------------------------
def _check_plan(alpha: float, power: float, sides: int, ratio: float) -> None:
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if sides not in (1, 2) or isinstance(sides, bool):
        raise ValueError(MSG_BAD_SIDES.format(sides=sides))
    if not (isinstance(ratio, int | float) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(MSG_BAD_RATIO.format(ratio=ratio))


def _proportion_n(p1: float, p2: float, alpha: float, power: float, sides: int, ratio: float) -> float:
    # Fleiss, Levin & Paik (2003, eq. 4.14 without continuity correction), as R's
    # power.prop.test: the pooled rate's variance under "no difference", the two rates'
    # variances under the alternative; n is the control arm, ratio * n the treatment arm.
    # Written here because statsmodels' NormalIndPower takes a single standardized effect and
    # cannot express the two different variances of the test we run.
    z_a, z_b = stats.norm.isf(alpha / sides), stats.norm.ppf(power)
    pooled = (p1 + ratio * p2) / (1 + ratio)
    null_sd = math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    alt_sd = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)
    return (z_a * null_sd + z_b * alt_sd) ** 2 / (p2 - p1) ** 2


def _t_alternative(sides: int) -> str:
    return "two-sided" if sides == 2 else "larger"


def sample_size(
    *,
    baseline: float,
    mde: float,
    kind: PowerKind,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    sides: int = 2,
    relative: bool = True,
    ratio: float = 1.0,
    daily_traffic: float | None = None,
) -> SampleSize:
    """Customers needed to detect a given effect, and the days to enrol them.

    Proportion: the normal-approximation formula for two proportions of Fleiss, Levin & Paik
    (as R's ``power.prop.test``), with the pooled rate's variance under "no difference" (the
    variance our z-test uses) and each rate's own variance under the alternative. Mean: the
    two-sample t-test power equation solved exactly (``statsmodels`` ``TTestIndPower``, as R's
    ``power.t.test``), with effect size ``effect / sd``. An increase of ``mde`` is planned for;
    a one-sided test looks in that direction only.

    Parameters
    ----------
    baseline : float
        Control conversion rate (proportion) or control mean (mean).
    mde : float
        Minimum detectable effect: a fraction of the baseline when ``relative`` (0.05 = +5%),
        else in the metric's units (0.01 = one percentage point for a rate).
    kind : {"proportion", "mean"}
        The metric's kind.
    sd : float, optional
        Standard deviation per customer (required for a mean).
    alpha : float, default 0.05
        Significance level.
    power : float, default 0.8
        Probability of detecting the effect if it is real.
    sides : {1, 2}, default 2
        One- or two-sided test.
    relative : bool, default True
        Whether ``mde`` is relative to the baseline.
    ratio : float, default 1.0
        Treatment customers per control customer.
    daily_traffic : float, optional
        Customers enrolled per day (both arms together), for the runtime.

    Returns
    -------
    SampleSize
        Customers per arm and in all, and days.

    Raises
    ------
    ValueError
        A probability outside (0, 1), a baseline rate outside (0, 1) or a target rate of 1 or
        more, an effect that is not positive, a mean without a positive sd, a relative effect on
        a zero mean, sides other than 1 or 2, a non-positive ratio or traffic.

    Examples
    --------
    R's ``power.prop.test(p1 = .50, p2 = .75, power = .90)`` gives n = 76.7 per group:

    >>> sample_size(baseline=0.5, mde=0.25, kind="proportion", power=0.9, relative=False).per_arm
    77
    """
    if kind not in POWER_KINDS:
        raise ValueError(MSG_UNKNOWN_POWER_KIND.format(kind=kind, choices=", ".join(POWER_KINDS)))
    _check_plan(alpha, power, sides, ratio)
    if not (isinstance(mde, int | float) and math.isfinite(mde) and mde > 0):
        raise ValueError(MSG_BAD_MDE.format(mde=mde))
    if daily_traffic is not None and not (
        isinstance(daily_traffic, int | float) and math.isfinite(daily_traffic) and daily_traffic > 0
    ):
        raise ValueError(MSG_BAD_TRAFFIC.format(traffic=daily_traffic))
    effect = _absolute_effect(baseline, mde, kind, relative)
    if kind == "proportion":
        target = baseline + effect
        if target >= 1:
            raise ValueError(MSG_TARGET_RATE.format(baseline=baseline, target=target))
        n_control = _proportion_n(baseline, target, alpha, power, sides, ratio)
    else:
        _check_sd(sd)
        n_control = float(
            TTestIndPower().solve_power(
                effect_size=effect / float(sd or 1),
                alpha=alpha,
                power=power,
                ratio=ratio,
                alternative=_t_alternative(sides),
            )
        )
    if not math.isfinite(n_control):
        raise ValueError(MSG_NO_SOLUTION.format(mde=mde, sd=sd))
    # A tolerance so that a float just above a whole number is not rounded up one customer more.
    per_arm = max(math.ceil(n_control - 1e-9), 2)
    treated = max(math.ceil(n_control * ratio - 1e-9), 2)
    total = per_arm + treated
    return SampleSize(
        per_arm=per_arm,
        total=total,
        days=math.ceil(total / daily_traffic) if daily_traffic is not None else None,
        alpha=alpha,
        power=power,
        sides=sides,
        baseline=baseline,
        mde=mde,
        relative=relative,
    )


def minimum_detectable_effect(
    *,
    baseline: float,
    per_arm: int,
    kind: PowerKind,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    sides: int = 2,
    relative: bool = True,
    ratio: float = 1.0,
) -> float:
    """Smallest increase detected with the given power by an experiment of a given size.

    The inverse of :func:`sample_size` (same formulas): for a proportion the target rate
    ``p2 > baseline`` is solved for with Brent's method; for a mean, the t-test power equation
    is solved for the effect size (``TTestIndPower``).

    Parameters
    ----------
    baseline : float
        Control conversion rate or mean.
    per_arm : int
        Customers in the control arm (``ratio`` times as many in treatment).
    kind : {"proportion", "mean"}
        The metric's kind.
    sd : float, optional
        Standard deviation per customer (required for a mean).
    alpha, power : float
        Significance level and power.
    sides : {1, 2}, default 2
        One- or two-sided test.
    relative : bool, default True
        Return the effect relative to the baseline (else in the metric's units).
    ratio : float, default 1.0
        Treatment customers per control customer.

    Returns
    -------
    float
        The minimum detectable effect.

    Raises
    ------
    ValueError
        As :func:`sample_size`; fewer than 2 customers per arm; no rate up to 100% reaches the
        power.

    Examples
    --------
    R's ``power.prop.test(n = 50, p1 = .5, power = .90)`` gives p2 = 0.8026:

    >>> d = minimum_detectable_effect(baseline=0.5, per_arm=50, kind="proportion", power=0.9, relative=False)
    >>> round(0.5 + d, 4)
    0.8026
    """
    if kind not in POWER_KINDS:
        raise ValueError(MSG_UNKNOWN_POWER_KIND.format(kind=kind, choices=", ".join(POWER_KINDS)))
    _check_plan(alpha, power, sides, ratio)
    if isinstance(per_arm, bool) or not isinstance(per_arm, int | np.integer) or per_arm < 2:
        raise ValueError(MSG_BAD_PER_ARM.format(per_arm=per_arm))
    if kind == "proportion":
        _check_rate(baseline)

        def shortfall(p2: float) -> float:
            return _proportion_n(baseline, p2, alpha, power, sides, ratio) - per_arm

        top = 1 - 1e-12
        if shortfall(top) > 0:
            raise ValueError(MSG_MDE_UNREACHABLE.format(per_arm=per_arm, baseline=baseline, power=power))
        # The required n falls from infinity (p2 -> baseline) to shortfall(top) <= 0.
        p2 = optimize.brentq(shortfall, baseline + 1e-12, top, xtol=1e-14, rtol=1e-13)
        effect = p2 - baseline
    else:
        _check_sd(sd)
        _check_mean_baseline(baseline, relative=relative)
        d = TTestIndPower().solve_power(
            nobs1=per_arm, alpha=alpha, power=power, ratio=ratio, alternative=_t_alternative(sides)
        )
        effect = float(d) * float(sd or 1)
    return effect / abs(baseline) if relative else effect


def _absolute_effect(baseline: float, mde: float, kind: str, relative: bool) -> float:
    if kind == "proportion":
        _check_rate(baseline)
    else:
        _check_mean_baseline(baseline, relative=relative)
    return mde * abs(baseline) if relative else mde


def _check_rate(baseline: float) -> None:
    if not (isinstance(baseline, int | float) and 0 < baseline < 1):
        raise ValueError(MSG_BAD_BASELINE_RATE.format(baseline=baseline))


def _check_mean_baseline(baseline: float, *, relative: bool) -> None:
    if not (isinstance(baseline, int | float) and math.isfinite(baseline)) or (relative and baseline == 0):
        raise ValueError(MSG_BAD_BASELINE_MEAN.format(baseline=baseline))


def _check_sd(sd: float | None) -> None:
    if not (isinstance(sd, int | float) and math.isfinite(sd) and sd > 0):
        raise ValueError(MSG_NEEDS_SD.format(sd=sd))


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not (0 < value < 1):
        raise ValueError(MSG_BAD_PROBABILITY.format(name=name, value=value))


# -- simulation -------------------------------------------------------------------------------
def simulate_aa(
    n_experiments: int = 2000,
    *,
    n_per_arm: int,
    days: int,
    baseline: float,
    kind: PowerKind = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
    seed: int = 0,
) -> dict[str, float | int]:
    """Simulate A/A experiments: how often each read-out declares a difference that is not there.

    Every experiment enrols ``n_per_arm`` customers per arm, evenly over ``days``; both arms
    have the same conversion rate (or mean and sd). The fixed-horizon test of :func:`compare`
    (two-proportion z-test or Welch's t-test) is run once at the end; the confidence sequence of
    :func:`confidence_sequence` is looked at after every day. Vectorized over experiments and
    days (per-day sufficient statistics are drawn directly: binomial counts, or for a mean the
    normal sum and chi-square spread of the day's customers), so 2,000 experiments take well
    under a second.

    Parameters
    ----------
    n_experiments : int, default 2000
        Experiments simulated.
    n_per_arm : int
        Customers per arm at the end.
    days : int
        Daily looks.
    baseline : float
        Conversion rate of both arms (proportion) or their mean (mean).
    kind : {"proportion", "mean"}, default "proportion"
        The metric's kind.
    sd : float, optional
        Standard deviation per customer (required for a mean).
    alpha : float, default 0.05
        Level of the test and of the sequence.
    tuning_n : int, default 5000
        Tuning size of the confidence sequence.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    dict
        ``fixed_horizon_false_positive_rate`` (share of experiments with p < alpha at the end),
        ``sequential_false_positive_rate`` (share whose sequence excluded 0 at any daily look),
        and the settings ``n_experiments``, ``n_per_arm``, ``days``, ``alpha``, ``tuning_n``.

    Raises
    ------
    ValueError
        Counts that are not positive whole numbers, fewer customers than days, a bad baseline
        or sd, alpha outside (0, 1).

    Examples
    --------
    >>> result = simulate_aa(200, n_per_arm=2000, days=10, baseline=0.1)
    >>> 0 <= result["sequential_false_positive_rate"] <= result["fixed_horizon_false_positive_rate"] + 0.05
    True
    """
    for name, value, least in (("n_experiments", n_experiments, 1), ("days", days, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ValueError(MSG_BAD_SIMULATION.format(name=name, value=value, least=least))
    if isinstance(n_per_arm, bool) or not isinstance(n_per_arm, int | np.integer) or n_per_arm < max(days, 2):
        raise ValueError(MSG_BAD_SIMULATION.format(name="n_per_arm", value=n_per_arm, least=max(days, 2)))
    if kind not in POWER_KINDS:
        raise ValueError(MSG_UNKNOWN_POWER_KIND.format(kind=kind, choices=", ".join(POWER_KINDS)))
    _check_probability("alpha", alpha)
    _check_tuning(tuning_n)
    rng = np.random.default_rng(seed)
    # Customers enrolled per arm on each day, as even as whole numbers allow.
    daily = np.diff(np.round(np.linspace(0, n_per_arm, days + 1)).astype(np.int64))
    n_cum = np.cumsum(daily).astype(np.float64)  # (days,)
    shape = (n_experiments, days, 2)
    if kind == "proportion":
        _check_rate(baseline)
        conversions = rng.binomial(np.broadcast_to(daily[None, :, None], shape), baseline)
        s = np.cumsum(conversions, axis=1).astype(np.float64)
        s_c, s_t = s[..., 0], s[..., 1]
        p_c, p_t = s_c / n_cum, s_t / n_cum
        lift = p_t - p_c
        se = np.sqrt(p_c * (1 - p_c) / n_cum + p_t * (1 - p_t) / n_cum)
        _, p_final = _proportion_z(s_c[:, -1], n_per_arm, s_t[:, -1], n_per_arm)
    else:
        _check_mean_baseline(baseline, relative=False)
        _check_sd(sd)
        k = np.broadcast_to(daily[None, :, None], shape).astype(np.float64)
        # The sum of k normal values and their centred sum of squares are independent:
        # N(k mu, k sd^2) and sd^2 chi-square(k - 1).
        day_sum = k * baseline + np.sqrt(k) * sd * rng.standard_normal(shape)
        day_m2 = sd**2 * rng.chisquare(np.maximum(k - 1, 1)) * (k > 1)
        day_sum_sq = day_m2 + np.where(k > 0, day_sum**2 / np.where(k > 0, k, 1), 0.0)
        s = np.cumsum(day_sum, axis=1)
        ss = np.cumsum(day_sum_sq, axis=1)
        n3 = n_cum[None, :, None]
        var_mean = np.maximum(ss - s**2 / n3, 0.0) / np.maximum(n3 - 1, 1) / n3
        lift = (s[..., 1] - s[..., 0]) / n_cum
        se = np.sqrt(var_mean[..., 0] + var_mean[..., 1])
        v_c, v_t = var_mean[:, -1, 0], var_mean[:, -1, 1]
        df = _welch_df(v_c, v_t, n_per_arm, n_per_arm)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se[:, -1] > 0, lift[:, -1] / np.where(se[:, -1] > 0, se[:, -1], 1), 0.0)
        p_final = 2 * stats.t.sf(np.abs(t), df)
    half = _cs_halfwidth(se, 2 * n_cum[None, :], alpha, tuning_n)
    excluded = (np.abs(lift) > half).any(axis=1)
    return {
        "fixed_horizon_false_positive_rate": float(np.mean(p_final < alpha)),
        "sequential_false_positive_rate": float(np.mean(excluded)),
        "n_experiments": int(n_experiments),
        "n_per_arm": int(n_per_arm),
        "days": int(days),
        "alpha": float(alpha),
        "tuning_n": int(tuning_n),
    }
