"""Planning an experiment: customers needed for an effect, or the effect a size can detect.

:func:`sample_size` and :func:`minimum_detectable_effect` are each other's inverse, with the
formulas of the tests the read-out runs (two proportions as R's ``power.prop.test``, the t-test
as ``power.t.test``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower

from analytics.experiments.arms import _check_probability

PowerKind = Literal["proportion", "mean"]
POWER_KINDS: tuple[str, ...] = get_args(PowerKind)
MSG_NO_SOLUTION = (
    "No sample size reaches that power for an effect of {mde} with standard deviation {sd}: the"
    " effect is too small (or too large) next to the spread to plan for; check both numbers."
)
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
