"""One treatment against the control: the frequentist, Bayesian, CUPED and sequential read-outs together.

:func:`compare` reads one treatment against the control: the frequentist test
(:mod:`analytics.experiments.frequentist`), the Bayesian read-out (chance to beat control,
expected loss, credible intervals: :mod:`analytics.experiments.bayesian`) and, on request, CUPED
(here) and the always-valid (sequential) intervals and p-values
(:mod:`analytics.experiments.sequential`).

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
import math
from dataclasses import dataclass

from analytics.experiments.arms import (
    ArmStats,
    MetricKind,
    _centred_cross,
    _centred_sq,
    _check_arms,
    _check_probability,
    _Difference,
    _difference,
)
from analytics.experiments.bayesian import Bayesian, _beta_binomial, _normal_bayes
from analytics.experiments.frequentist import (
    INTERVAL_METHODS,
    MSG_UNKNOWN_INTERVAL,
    Frequentist,
    IntervalMethod,
    _frequentist,
    _welch,
)
from analytics.experiments.sequential import DEFAULT_TUNING_N, _check_tuning, _with_sequential

TEST_CUPED = "Welch t-test (CUPED-adjusted)"
MSG_NEEDS_COVARIATE = (
    "Arm {arm!r} has no pre-period covariate sums (x_sum, x_sum_sq, xy_sum): CUPED needs them."
)
MSG_CUPED_RATIO = "CUPED is available for proportion and mean metrics, not for a ratio metric."
MSG_CUPED_EXACT = (
    "The pre-period covariate predicts the metric exactly, so CUPED leaves no variance: "
    "check that the covariate is the pre-period value and not the metric itself."
)


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
        Also compute the always-valid intervals and p-values
        (:class:`analytics.experiments.frequentist.Sequential`, on the raw and on the CUPED read-out).
    tuning_n : int, default 5000
        Tuning sample size of the confidence sequence (see
        :func:`analytics.experiments.sequential.confidence_sequence`).

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
