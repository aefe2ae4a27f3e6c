"""Sufficient statistics of one arm, and the moments and checks every comparison starts from.

The database aggregates each arm of an experiment to a handful of sums (customers, sum and
sum of squares of the metric, and the cross-sums that CUPED and ratio metrics need:
:class:`ArmStats`), so a million customers never leave DuckDB; the statistics of
:mod:`analytics.experiments` work from those sums and are pure (numpy, scipy, statsmodels).
:func:`arm_stats` computes the sums from per-customer values (uploads and tests).

Bad input raises ``ValueError`` with one of the ``MSG_*`` messages, which name the arm or
parameter at fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

MetricKind = Literal["proportion", "mean", "ratio"]
METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
Num = float | np.ndarray
"""A scalar or an array: the private formulas serve :func:`analytics.experiments.comparison.compare`
and the vectorized simulation."""
MSG_UNKNOWN_KIND = "Unknown metric kind {kind!r}: choose one of {choices}."
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
MSG_BAD_PROBABILITY = "{name} must be strictly between 0 and 1, got {value}."
MSG_NOT_NUMERIC = "Arm {arm!r}: the {what} values must be numbers ({error})."
MSG_NOT_1D = "Arm {arm!r}: the {what} values must be one value per customer (a 1-D array), got shape {shape}."
MSG_LENGTHS = "Arm {arm!r}: {what} has {got} values for {n} customers."


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


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not (0 < value < 1):
        raise ValueError(MSG_BAD_PROBABILITY.format(name=name, value=value))
