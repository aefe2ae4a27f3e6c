"""A/B-test statistics against independent references: statsmodels and scipy on the raw
values, closed forms, numerical integration, seeded Monte Carlo and bootstrap, published
values (GrowthBook's and R's documented examples), the sample bank's planted experiments,
and a vectorized simulation of 2,000 A/A experiments."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import integrate, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.proportion import test_proportions_2indep as proportions_2indep  # not a test
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analytics.experiments.arms import (
    MSG_BAD_COUNT,
    MSG_BAD_PROBABILITY,
    MSG_EMPTY_ARM,
    MSG_INCONSISTENT_SUMS,
    MSG_LENGTHS,
    MSG_NEEDS_DENOMINATOR,
    MSG_NO_VARIANCE,
    MSG_NO_VARIANCE_MEAN,
    MSG_NO_VARIANCE_PROPORTION,
    MSG_NO_VARIANCE_WITHIN,
    MSG_NOT_1D,
    MSG_NOT_FINITE,
    MSG_NOT_PROPORTION,
    MSG_PARTIAL_SUMS,
    MSG_TOO_FEW,
    MSG_UNKNOWN_KIND,
    MSG_ZERO_DENOMINATOR,
    ArmStats,
    arm_stats,
)
from analytics.experiments.bayesian import BAYES_BETA, BAYES_NORMAL
from analytics.experiments.comparison import (
    MSG_CUPED_EXACT,
    MSG_CUPED_RATIO,
    MSG_NEEDS_COVARIATE,
    TEST_CUPED,
    compare,
)
from analytics.experiments.frequentist import (
    MSG_BAD_P_VALUE,
    MSG_DESIGN_SHARE,
    MSG_DESIGN_SUM,
    MSG_NO_P_VALUES,
    MSG_SRM_ARMS,
    MSG_SRM_COUNT,
    MSG_SRM_EMPTY,
    MSG_SRM_LENGTHS,
    MSG_UNKNOWN_ADJUST,
    MSG_UNKNOWN_INTERVAL,
    TEST_PROPORTION,
    TEST_PROPORTION_WELCH,
    TEST_RATIO,
    TEST_RATIO_WELCH,
    TEST_WELCH,
    adjust_p_values,
    srm_test,
)
from analytics.experiments.power import (
    MSG_BAD_BASELINE_MEAN,
    MSG_BAD_BASELINE_RATE,
    MSG_BAD_MDE,
    MSG_BAD_PER_ARM,
    MSG_BAD_RATIO,
    MSG_BAD_SIDES,
    MSG_BAD_TRAFFIC,
    MSG_MDE_UNREACHABLE,
    MSG_NEEDS_SD,
    MSG_TARGET_RATE,
    MSG_UNKNOWN_POWER_KIND,
    _proportion_n,
    minimum_detectable_effect,
    sample_size,
)
from analytics.experiments.sequential import (
    MSG_BAD_TUNING,
    _cs_halfwidth,
    confidence_sequence,
    sequential_p_value,
)
from analytics.experiments.simulation import MSG_BAD_SIMULATION, simulate_aa


def _conversions(name: str, n: int, converted: int) -> ArmStats:
    return ArmStats(name, n=n, sum=converted, sum_sq=converted)


def _from_moments(name: str, mean: float, sd: float, n: int) -> ArmStats:
    """The sums of n values with the given mean and sample standard deviation."""
    total = mean * n
    return ArmStats(name, n=n, sum=total, sum_sq=sd**2 * (n - 1) + total**2 / n)


def _assert_finite(obj: object) -> None:
    """Every number in a (nested) result is finite."""
    if dataclasses.is_dataclass(obj):
        for field in dataclasses.fields(obj):
            _assert_finite(getattr(obj, field.name))
    elif isinstance(obj, tuple):
        for item in obj:
            _assert_finite(item)
    elif isinstance(obj, float):
        assert math.isfinite(obj)


# The sample bank's planted experiments (truth.json of the 20,000-customer bank, seed 42).
EXP01_CONTROL, EXP01_TREATMENT = _conversions("control", 7755, 775), _conversions("treatment", 7756, 892)
EXP01_P = 0.002442
EXP01_PLANTED_LIFT = 0.15
EXP02_CONTROL, EXP02_TREATMENT = _conversions("control", 7805, 610), _conversions("treatment", 7806, 657)
EXP02_P = 0.169096


# -- sufficient statistics ----------------------------------------------------------------------
def test_arm_stats_sums_mean_and_variance_match_numpy():
    rng = np.random.default_rng(1)
    y, x, d = rng.gamma(2, 50, 500), rng.normal(100, 20, 500), rng.poisson(4, 500) + 1.0
    arm = arm_stats("control", y, x=x, d=d)
    assert arm.n == 500
    assert arm.sum == pytest.approx(y.sum(), rel=1e-12)
    assert arm.sum_sq == pytest.approx((y**2).sum(), rel=1e-12)
    assert arm.xy_sum == pytest.approx((x * y).sum(), rel=1e-12)
    assert arm.yd_sum == pytest.approx((y * d).sum(), rel=1e-12)
    assert arm.mean == pytest.approx(np.mean(y), rel=1e-12)
    assert arm.variance == pytest.approx(np.var(y, ddof=1), rel=1e-9)
    assert arm_stats("booleans", np.array([True, False, True])).sum == 2.0


# -- frequentist: proportions -------------------------------------------------------------------
def test_two_proportion_test_matches_statsmodels_and_the_planted_experiment():
    f = compare(EXP01_CONTROL, EXP01_TREATMENT, kind="proportion").frequentist
    z, p = proportions_ztest([892, 775], [7756, 7755])
    assert f.test == TEST_PROPORTION
    assert f.statistic == pytest.approx(z, abs=1e-9)
    assert f.p_value == pytest.approx(p, abs=1e-9)
    # The score test at a difference of 0 uses the same pooled rate.
    score = proportions_2indep(892, 7756, 775, 7755, method="score", correction=False)
    assert f.p_value == pytest.approx(score.pvalue, abs=1e-9)
    low, high = confint_proportions_2indep(892, 7756, 775, 7755, method="wald", compare="diff")
    assert f.absolute_ci == pytest.approx((low, high), abs=1e-12)
    p_c, p_t = 775 / 7755, 892 / 7756
    unpooled = math.sqrt(p_c * (1 - p_c) / 7755 + p_t * (1 - p_t) / 7756)
    assert f.standard_error == pytest.approx(unpooled, rel=1e-12)
    # truth.json exp01: two-sided p 0.002442, planted +15% inside the relative interval.
    assert round(f.p_value, 6) == EXP01_P
    assert f.relative_lift == pytest.approx(0.1508, abs=1e-4)
    assert f.relative_ci[0] < EXP01_PLANTED_LIFT < f.relative_ci[1]
    assert f.df is None
    assert f.significant


def test_aa_experiment_is_not_significant():
    f = compare(EXP02_CONTROL, EXP02_TREATMENT, kind="proportion").frequentist
    assert round(f.p_value, 6) == EXP02_P  # truth.json exp02
    assert f.p_value > 0.05
    assert f.absolute_ci[0] < 0 < f.absolute_ci[1]
    assert not f.significant


def test_planted_experiments_agree_with_the_truth_file(sample_truth):
    by_kind = {e["kind"]: e for e in sample_truth["experiments"]}
    for kind in ("conversion", "aa"):
        exp = by_kind[kind]
        n, conv = exp["n_per_arm"], exp["realized"]["conversions"]
        f = compare(
            _conversions("control", n["control"], conv["control"]),
            _conversions("treatment", n["treatment"], conv["treatment"]),
            kind="proportion",
        ).frequentist
        assert f.p_value == pytest.approx(exp["realized"]["two_sided_p_value"], abs=1e-6)
    srm = by_kind["srm"]
    result = srm_test([srm["n_per_arm"]["control"], srm["n_per_arm"]["treatment"]], [50, 50])
    assert result.chi_square == pytest.approx(srm["realized"]["chi_square"], abs=1e-3)
    assert result.flagged


def test_relative_interval_delta_method_against_a_large_simulation():
    # The sd of the relative-lift estimator over 200,000 simulated experiments at the
    # planted rates is the delta-method standard error (2% tolerance; MC error ~0.2%).
    n_c, n_t, p_c, p_t = 7755, 7756, 0.10, 0.115
    rng = np.random.default_rng(7)
    x_c, x_t = rng.binomial(n_c, p_c, 200_000), rng.binomial(n_t, p_t, 200_000)
    simulated_sd = np.std((x_t / n_t) / (x_c / n_c) - 1)
    f = compare(
        _conversions("control", n_c, round(n_c * p_c)),
        _conversions("treatment", n_t, round(n_t * p_t)),
        kind="proportion",
    ).frequentist
    delta_se = (f.relative_ci[1] - f.relative_ci[0]) / (2 * stats.norm.isf(0.025))
    assert delta_se == pytest.approx(simulated_sd, rel=0.02)
    assert f.relative_standard_error == pytest.approx(delta_se, rel=1e-12)


def test_relative_p_value_is_the_delta_method_test_of_the_relative_lift():
    # Written out on the raw values: Var(m_t / m_c) = v_t / m_c^2 + m_t^2 v_c / m_c^4 with v the
    # variances of the means; Welch's degrees of freedom from scipy's own t-test.
    rng = np.random.default_rng(31)
    y_c, y_t = rng.gamma(2.0, 10.0, 500), rng.gamma(2.0, 11.5, 600)
    f = compare(arm_stats("control", y_c), arm_stats("treatment", y_t), kind="mean").frequentist
    m_c, m_t = y_c.mean(), y_t.mean()
    v_c, v_t = y_c.var(ddof=1) / y_c.size, y_t.var(ddof=1) / y_t.size
    se = math.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    df = stats.ttest_ind(y_t, y_c, equal_var=False).df
    assert f.relative_standard_error == pytest.approx(se, rel=1e-12)
    assert f.relative_p_value == pytest.approx(2 * stats.t.sf(abs(m_t / m_c - 1) / se, df), rel=1e-9)
    assert f.relative_ci == pytest.approx(
        (m_t / m_c - 1 - stats.t.isf(0.025, df) * se, m_t / m_c - 1 + stats.t.isf(0.025, df) * se), rel=1e-9
    )
    # The relative p-value and interval are one test: p < alpha exactly when the interval excludes 0.
    for seed in range(20):
        rng = np.random.default_rng(seed)
        c = compare(
            arm_stats("c", rng.normal(10, 3, 80)), arm_stats("t", rng.normal(10.8, 3, 80)), kind="mean"
        ).frequentist
        assert (c.relative_p_value < 0.05) == (c.relative_ci[0] > 0 or c.relative_ci[1] < 0)


def test_welch_t_for_proportions_is_growthbooks_reading():
    # The unpooled (Wald) variances p q / n against Student's t with Welch-Satterthwaite degrees
    # of freedom, written out; with thousands of customers it is the z reading to 1e-3.
    n_c, x_c, n_t, x_t = 40, 9, 35, 15
    f = compare(
        _conversions("c", n_c, x_c), _conversions("t", n_t, x_t), kind="proportion", interval_method="welch-t"
    ).frequentist
    p_c, p_t = x_c / n_c, x_t / n_t
    v_c, v_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    df = (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))
    se = math.sqrt(v_c + v_t)
    assert f.test == TEST_PROPORTION_WELCH and f.interval_method == "welch-t"
    assert f.df == pytest.approx(df, rel=1e-12)
    assert f.p_value == pytest.approx(2 * stats.t.sf((p_t - p_c) / se, df), rel=1e-12)
    half = stats.t.isf(0.025, df) * se
    assert f.absolute_ci == pytest.approx((p_t - p_c - half, p_t - p_c + half), rel=1e-12)
    z = compare(EXP01_CONTROL, EXP01_TREATMENT, kind="proportion").frequentist
    t = compare(EXP01_CONTROL, EXP01_TREATMENT, kind="proportion", interval_method="welch-t").frequentist
    assert z.interval_method == "z" and z.df is None
    assert t.absolute_ci == pytest.approx(z.absolute_ci, abs=1e-5)
    assert t.p_value == pytest.approx(z.p_value, rel=1e-2)
    ratio = compare(
        arm_stats("c", [3.0, 5.0, 2.0, 7.0], d=[1.0, 2.0, 1.0, 3.0]),
        arm_stats("t", [4.0, 6.0, 3.0, 9.0], d=[1.0, 2.0, 2.0, 3.0]),
        kind="ratio",
        interval_method="welch-t",
    ).frequentist
    assert ratio.test == TEST_RATIO_WELCH and ratio.df is not None


# -- frequentist: means -------------------------------------------------------------------------
def test_welch_matches_scipy_and_statsmodels_on_raw_values():
    rng = np.random.default_rng(3)
    y_c, y_t = rng.lognormal(3, 1, 400), rng.lognormal(3.1, 1.2, 650)
    f = compare(arm_stats("control", y_c), arm_stats("treatment", y_t), kind="mean").frequentist
    ref = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert f.test == TEST_WELCH
    assert f.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert f.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert f.df == pytest.approx(ref.df, abs=1e-9)
    cm = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c))
    assert f.absolute_ci == pytest.approx(cm.tconfint_diff(alpha=0.05, usevar="unequal"), abs=1e-9)
    assert f.absolute_lift == pytest.approx(y_t.mean() - y_c.mean(), abs=1e-9)


def test_welch_and_relative_interval_match_growthbooks_published_example():
    # growthbook/growthbook packages/stats/tests/frequentist/test_tests.py (TwoSidedTTest):
    # control mean 0.41, sd 3.9, n 3407; treatment mean 0.70, sd 6.2, n 3461.
    # Absolute (early version of the test): CI [0.04538, 0.53462], p 0.02016.
    # Relative (later version): lift 0.70732, sd 0.37879, CI [-0.03526, 1.44989].
    f = compare(
        _from_moments("control", 0.41, 3.9, 3407), _from_moments("treatment", 0.70, 6.2, 3461), kind="mean"
    ).frequentist
    assert f.absolute_ci == pytest.approx((0.04538, 0.53462), abs=1e-5)
    assert f.p_value == pytest.approx(0.02016, abs=1e-5)
    assert f.relative_lift == pytest.approx(0.70732, abs=1e-5)
    assert f.relative_ci == pytest.approx((-0.03526, 1.44989), abs=1e-5)


# -- frequentist: ratio metrics -----------------------------------------------------------------
def _sessions_and_revenue(rng: np.random.Generator, n: int, per_session: float):
    sessions = rng.poisson(3, n).astype(float)
    revenue = rng.gamma(2.0, per_session / 2, n) * sessions
    return revenue, sessions


def test_ratio_delta_method_standard_error_against_a_bootstrap():
    rng = np.random.default_rng(11)
    y_c, d_c = _sessions_and_revenue(rng, 1500, 10.0)
    y_t, d_t = _sessions_and_revenue(rng, 1500, 10.8)
    control, treatment = arm_stats("control", y_c, d=d_c), arm_stats("treatment", y_t, d=d_t)
    f = compare(control, treatment, kind="ratio").frequentist
    assert f.test == TEST_RATIO
    assert f.absolute_lift == pytest.approx(y_t.sum() / d_t.sum() - y_c.sum() / d_c.sum(), rel=1e-12)
    # Bootstrap: 2,000 resamples of customers in each arm (seed 12). The bootstrap sd has a
    # Monte Carlo error of about 1.6%, so 6% is a tolerance of almost 4 of those.
    boot = np.random.default_rng(12)
    i_c, i_t = boot.integers(0, 1500, (2000, 1500)), boot.integers(0, 1500, (2000, 1500))
    lifts = y_t[i_t].sum(1) / d_t[i_t].sum(1) - y_c[i_c].sum(1) / d_c[i_c].sum(1)
    assert f.standard_error == pytest.approx(np.std(lifts, ddof=1), rel=0.06)
    assert f.absolute_ci[0] < 0.8 < f.absolute_ci[1]


def test_ratio_with_a_unit_denominator_is_the_mean():
    rng = np.random.default_rng(5)
    y_c, y_t = rng.normal(10, 3, 300), rng.normal(10.5, 3, 300)
    ones = np.ones(300)
    ratio = compare(arm_stats("c", y_c, d=ones), arm_stats("t", y_t, d=ones), kind="ratio").frequentist
    welch = stats.ttest_ind(y_t, y_c, equal_var=False)
    se = (y_t.mean() - y_c.mean()) / welch.statistic
    assert ratio.standard_error == pytest.approx(se, rel=1e-9)
    assert ratio.p_value == pytest.approx(2 * stats.norm.sf(abs(welch.statistic)), rel=1e-9)


def test_ratio_relative_interval_matches_a_published_example():
    # PostHog's port of GrowthBook's engine (products/experiments/stats/.../test_frequentist_tests.py,
    # test_two_sided_ttest_with_ratio_statistic): relative lift 0.041333, CI [0.01378609, 0.0689]
    # (checked there to 4 places; it uses a t quantile with ~4,000 df where we use z).
    m_t, m_c = 99673.9364269569, 94605.79858780127
    treatment = ArmStats("treatment", 2034, m_t, 11298745.182728939, d_sum=947, d_sum_sq=947, yd_sum=m_t)
    control = ArmStats("control", 1966, m_c, 10463129.505392816, d_sum=936, d_sum_sq=936, yd_sum=m_c)
    f = compare(control, treatment, kind="ratio").frequentist
    assert f.relative_lift == pytest.approx(0.041333, abs=1e-6)
    assert f.relative_ci == pytest.approx((0.01378609, 0.0689), abs=1e-4)


# -- Bayesian -----------------------------------------------------------------------------------
def _miller_chance(a_c: int, b_c: int, a_t: int, b_t: int) -> float:
    """P(T > C) for C ~ Beta(a_c, b_c), T ~ Beta(a_t, b_t), integer a_t (Evan Miller, 2015,
    "Formulas for Bayesian A/B testing"): sum over i < a_t of
    B(a_c + i, b_c + b_t) / ((b_t + i) B(1 + i, b_t) B(a_c, b_c))."""
    return math.fsum(
        math.exp(
            special.betaln(a_c + i, b_c + b_t)
            - math.log(b_t + i)
            - special.betaln(1 + i, b_t)
            - special.betaln(a_c, b_c)
        )
        for i in range(a_t)
    )


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((7755, 775), (7756, 892)), ((20, 5), (20, 0)), ((50, 0), (50, 3)), ((200, 3), (4000, 70))],
)
def test_chance_to_beat_control_matches_evan_millers_closed_form(control, treatment):
    (n_c, x_c), (n_t, x_t) = control, treatment
    b = compare(_conversions("c", n_c, x_c), _conversions("t", n_t, x_t), kind="proportion").bayesian
    assert b.method == BAYES_BETA
    exact = _miller_chance(x_c + 1, n_c - x_c + 1, x_t + 1, n_t - x_t + 1)
    assert b.chance_to_beat_control == pytest.approx(exact, abs=1e-9)


def test_chance_to_beat_control_with_a_million_customers_against_quad():
    # Evan Miller's sum loses ~1e-9 to log-gamma cancellation here; adaptive quadrature does not.
    a_c, b_c, a_t, b_t = 100_001, 900_001, 101_001, 899_001
    lo, hi = stats.beta.ppf([1e-14, 1 - 1e-14], a_c, b_c)
    exact, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a_c, b_c) * special.betaincc(a_t, b_t, x), lo, hi, epsabs=1e-14, limit=200
    )
    b = compare(
        _conversions("c", 1_000_000, 100_000), _conversions("t", 1_000_000, 101_000), kind="proportion"
    ).bayesian
    assert b.chance_to_beat_control == pytest.approx(exact, abs=1e-11)


@pytest.mark.parametrize(("control", "treatment"), [((7755, 775), (7756, 892)), ((20, 5), (20, 0))])
def test_beta_binomial_against_monte_carlo(control, treatment):
    (n_c, x_c), (n_t, x_t) = control, treatment
    b = compare(_conversions("c", n_c, x_c), _conversions("t", n_t, x_t), kind="proportion").bayesian
    rng = np.random.default_rng(2024)
    draws = 1_000_000
    p_c, p_t = rng.beta(x_c + 1, n_c - x_c + 1, draws), rng.beta(x_t + 1, n_t - x_t + 1, draws)
    # Tolerances: 4 Monte Carlo standard errors.
    beats = p_t > p_c
    assert b.chance_to_beat_control == pytest.approx(beats.mean(), abs=4 * beats.std() / math.sqrt(draws))
    loss = np.maximum(p_c - p_t, 0)
    assert b.expected_loss == pytest.approx(loss.mean(), abs=4 * loss.std() / math.sqrt(draws))
    diff, ratio = p_t - p_c, p_t / p_c - 1
    # A quantile's MC error is about sqrt(q (1 - q) / draws) / density; 0.5% of the sd covers 4 of them.
    assert b.credible_interval == pytest.approx(np.quantile(diff, [0.025, 0.975]), abs=0.005 * diff.std())
    assert b.relative_credible_interval == pytest.approx(
        np.quantile(ratio, [0.025, 0.975]), abs=0.005 * ratio.std()
    )


def test_normal_approximation_for_means():
    rng = np.random.default_rng(8)
    y_c, y_t = rng.normal(50, 20, 800), rng.normal(52, 20, 800)
    b = compare(arm_stats("c", y_c), arm_stats("t", y_t), kind="mean").bayesian
    assert b.method == BAYES_NORMAL
    cm = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c))
    assert b.credible_interval == pytest.approx(cm.zconfint_diff(alpha=0.05, usevar="unequal"), abs=1e-9)
    mu, sigma = y_t.mean() - y_c.mean(), cm.std_meandiff_separatevar
    assert b.chance_to_beat_control == pytest.approx(stats.norm.sf(0, mu, sigma), abs=1e-12)
    loss, _ = integrate.quad(lambda d: -d * stats.norm.pdf(d, mu, sigma), mu - 12 * sigma, 0)
    assert b.expected_loss == pytest.approx(loss, rel=1e-8)


# -- CUPED --------------------------------------------------------------------------------------
def _planted_cuped(seed: int, n: int = 4000, effect: float = 2.0):
    rng = np.random.default_rng(seed)
    x_c, x_t = rng.gamma(4, 10, n), rng.gamma(4, 10, n)  # pre-period, same distribution
    y_c = 5 + 0.9 * x_c + rng.normal(0, 8, n)
    y_t = 5 + 0.9 * x_t + rng.normal(0, 8, n) + effect
    return x_c, y_c, x_t, y_t


def test_cuped_theta_adjusted_means_and_test_against_numpy_and_scipy():
    x_c, y_c, x_t, y_t = _planted_cuped(21)
    result = compare(arm_stats("c", y_c, x=x_c), arm_stats("t", y_t, x=x_t), kind="mean", cuped=True)
    x, y = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    cuped = result.cuped
    assert cuped.theta == pytest.approx(theta, rel=1e-9)
    adj_c, adj_t = y_c - theta * (x_c - x.mean()), y_t - theta * (x_t - x.mean())
    assert cuped.control_mean == pytest.approx(adj_c.mean(), rel=1e-9)
    assert cuped.treatment_mean == pytest.approx(adj_t.mean(), rel=1e-9)
    ref = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    assert cuped.frequentist.test == TEST_CUPED
    assert cuped.frequentist.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert cuped.frequentist.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    assert cuped.frequentist.df == pytest.approx(ref.df, rel=1e-9)
    pooled_raw = (np.var(y_c, ddof=1) + np.var(y_t, ddof=1)) / 2
    pooled_adj = (np.var(adj_c, ddof=1) + np.var(adj_t, ddof=1)) / 2
    assert cuped.variance_reduction == pytest.approx(1 - pooled_adj / pooled_raw, rel=1e-9)
    # The reduction is the squared correlation of x and y (within arms).
    within = np.corrcoef(
        np.concatenate([x_c - x_c.mean(), x_t - x_t.mean()]),
        np.concatenate([y_c - y_c.mean(), y_t - y_t.mean()]),
    )[0, 1]
    assert cuped.variance_reduction == pytest.approx(within**2, abs=0.01)


def test_cuped_cuts_variance_and_recovers_the_planted_effect():
    x_c, y_c, x_t, y_t = _planted_cuped(22, effect=2.0)
    result = compare(arm_stats("c", y_c, x=x_c), arm_stats("t", y_t, x=x_t), kind="mean", cuped=True)
    cuped = result.cuped
    assert cuped.variance_reduction > 0.3
    assert cuped.frequentist.standard_error < 0.8 * result.frequentist.standard_error
    low, high = cuped.frequentist.absolute_ci
    assert low < 2.0 < high
    assert low > 0  # significant after CUPED


def test_cuped_on_the_sample_banks_revenue_experiment(sample_db, sample_truth):
    # exp04: every debit of a treated customer in the experiment window is x1.08. The arms'
    # sums come from one Ibis aggregation, as the page will do.
    exp = next(e for e in sample_truth["experiments"] if e["kind"] == "revenue")
    start, end = date.fromisoformat(exp["start_date"]), date.fromisoformat(exp["end_date"])
    pre_start = date.fromisoformat(exp["pre_period"]["start_date"])
    backend = sample_db.backend()
    tx = backend.table("transactions")
    debit = tx.filter(tx.direction == "debit")
    day = debit.ts.cast("date")
    per_customer = debit.group_by("customer_id").aggregate(
        y=debit.amount.sum(where=day.between(start, end)),
        x=debit.amount.sum(where=day.between(pre_start, start - timedelta(days=1))),
    )
    assigned = backend.table("assignments")
    assigned = assigned.filter(assigned.experiment_id == exp["experiment_id"])
    joined = assigned.left_join(per_customer, "customer_id")
    rows = joined.select(variant=joined.variant, y=joined.y.fill_null(0.0), x=joined.x.fill_null(0.0))
    sums = (
        rows.group_by("variant")
        .aggregate(
            n=rows.count(),
            s=rows.y.sum(),
            ss=(rows.y * rows.y).sum(),
            xs=rows.x.sum(),
            xss=(rows.x * rows.x).sum(),
            xys=(rows.x * rows.y).sum(),
        )
        .to_polars()
    )
    arms = {r["variant"]: ArmStats(r["variant"], *list(r.values())[1:]) for r in sums.iter_rows(named=True)}
    result = compare(arms["control"], arms["treatment"], kind="mean", cuped=True)
    realized = exp["realized"]
    assert result.frequentist.relative_lift == pytest.approx(realized["relative_effect_raw"], abs=1e-4)
    assert result.cuped.theta == pytest.approx(realized["cuped_theta"], abs=1e-4)
    cuped = result.cuped
    # The truth file's relative_effect_cuped is adjusted treatment / adjusted control - 1 (numpy on
    # the raw values). The read-out divides the adjusted difference by the control's unadjusted
    # mean instead (Deng et al. 2013, as GrowthBook): both, from the truth file's theta and the sums.
    control, treatment = arms["control"], arms["treatment"]
    x_gap = treatment.x_sum / treatment.n - control.x_sum / control.n
    adjusted_lift = treatment.mean - control.mean - realized["cuped_theta"] * x_gap
    assert cuped.frequentist.relative_lift == pytest.approx(adjusted_lift / control.mean, abs=1e-4)
    adjusted_control = cuped.control_mean
    assert adjusted_lift / adjusted_control == pytest.approx(realized["relative_effect_cuped"], abs=1e-4)
    assert cuped.variance_reduction == pytest.approx(realized["r_squared_pre_vs_experiment"], abs=0.01)
    assert result.cuped.variance_reduction >= 0.3
    planted = exp["planted_effect"]["relative_effect"]
    low, high = result.cuped.frequentist.relative_ci
    assert low < planted < high
    assert result.frequentist.p_value > 0.05 > result.cuped.frequentist.p_value  # CUPED finds it


def test_cuped_with_a_constant_covariate_falls_back_to_the_raw_read_out():
    # A covariate that explains nothing (the bank's conversion experiments have no pre-period
    # conversions of their campaign) must not swap the exact test for a Welch approximation.
    rng = np.random.default_rng(4)
    y_c, y_t = rng.normal(5, 1, 200), rng.normal(5.2, 1, 200)
    zeros = np.zeros(200)
    result = compare(arm_stats("c", y_c, x=zeros), arm_stats("t", y_t, x=zeros), kind="mean", cuped=True)
    assert result.cuped is None
    conversions = compare(
        ArmStats("c", n=100, sum=0, sum_sq=0, x_sum=3, x_sum_sq=3, xy_sum=0),
        ArmStats("t", n=100, sum=100, sum_sq=100, x_sum=5, x_sum_sq=5, xy_sum=5),
        kind="proportion",
        cuped=True,
    )
    assert conversions.cuped is None  # no variance within the arms: nothing to adjust, no crash
    assert conversions.frequentist.test == "two-proportion z-test"


def test_power_with_no_solution_is_a_message_not_nan():
    with pytest.raises(ValueError, match="No sample size reaches that power"):
        sample_size(baseline=100.0, mde=1e-12, kind="mean", sd=1e12, relative=False)


def test_cuped_relative_lift_over_the_unadjusted_control_mean_against_a_simulation():
    # 4,000 simulated experiments (400 customers an arm, covariate explaining ~80% of the
    # variance): the sd of the adjusted difference over the control's unadjusted mean is the
    # delta-method standard error (4% tolerance; Monte Carlo error of an sd here ~1.1%).
    rng = np.random.default_rng(77)
    runs, n = 4000, 400
    x_c, x_t = rng.gamma(4, 10, (runs, n)), rng.gamma(4, 10, (runs, n))
    y_c = 5 + 0.9 * x_c + rng.normal(0, 8, (runs, n))
    y_t = 5 + 0.9 * x_t + rng.normal(0, 8, (runs, n)) + 2.0
    x, y = np.concatenate([x_c, x_t], axis=1), np.concatenate([y_c, y_t], axis=1)
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    theta = (xc * yc).sum(axis=1) / (xc * xc).sum(axis=1)
    lift = y_t.mean(axis=1) - y_c.mean(axis=1) - theta * (x_t.mean(axis=1) - x_c.mean(axis=1))
    simulated_sd = np.std(lift / y_c.mean(axis=1))
    ses = []
    for i in range(100):
        result = compare(
            arm_stats("c", y_c[i], x=x_c[i]), arm_stats("t", y_t[i], x=x_t[i]), kind="mean", cuped=True
        )
        cuped = result.cuped.frequentist
        assert cuped.relative_lift == pytest.approx(lift[i] / y_c[i].mean(), rel=1e-9)
        ses.append(cuped.relative_standard_error)
    assert math.sqrt(np.mean(np.square(ses))) == pytest.approx(simulated_sd, rel=0.04)


def test_cuped_on_conversions_with_the_pre_period_conversion():
    rng = np.random.default_rng(9)
    x_c, x_t = rng.binomial(1, 0.3, 5000), rng.binomial(1, 0.3, 5000)
    y_c = rng.binomial(1, np.where(x_c == 1, 0.5, 0.05))
    y_t = rng.binomial(1, np.where(x_t == 1, 0.55, 0.06))
    result = compare(arm_stats("c", y_c, x=x_c), arm_stats("t", y_t, x=x_t), kind="proportion", cuped=True)
    x, y = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    assert result.cuped.theta == pytest.approx(np.cov(x, y)[0, 1] / np.var(x, ddof=1), rel=1e-9)
    assert result.cuped.variance_reduction > 0.2
    assert result.cuped.frequentist.standard_error < result.frequentist.standard_error


# -- sample-ratio mismatch ----------------------------------------------------------------------
def test_srm_matches_scipy_and_the_planted_mismatch():
    result = srm_test([8353, 9050], [50, 50])
    ref = stats.chisquare([8353, 9050])
    assert result.chi_square == pytest.approx(ref.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert round(result.chi_square, 3) == 27.915  # truth.json exp03
    assert result.p_value == pytest.approx(1.267e-07, rel=1e-3)
    assert result.flagged
    assert result.expected == (8701.5, 8701.5)


def test_srm_three_arms_with_shares_or_percent():
    counts = [5100, 2450, 2450]
    ref = stats.chisquare(counts, [5000, 2500, 2500])
    for design in ([50, 25, 25], [0.5, 0.25, 0.25]):
        result = srm_test(counts, design)
        assert result.p_value == pytest.approx(ref.pvalue, rel=1e-12)
        assert not result.flagged


# -- sequential monitoring ----------------------------------------------------------------------
def test_confidence_sequence_width_matches_growthbooks_published_example():
    # growthbook test_tests.py TestSequentialTTest.test_sequential_test_runs: arms (sum 1396.87,
    # sum of squares 52377.9767, n 3000) and (2422.7, 134698.29, 3461), tuning parameter 1000:
    # relative CI [-0.55844, 1.56516] around 0.50336 with standard error 0.33341. The
    # half-width / standard error multiplier depends only on n, N and alpha, so ours must match.
    control = ArmStats("control", 3000, 1396.87, 52377.9767)
    treatment = ArmStats("treatment", 3461, 2422.7, 134698.29)
    low, high = confidence_sequence(control, treatment, kind="mean", tuning_n=1000)
    se = compare(control, treatment, kind="mean").frequentist.standard_error
    published = (1.56516 + 0.55844) / 2 / 0.33341
    assert (high - low) / 2 / se == pytest.approx(published, rel=5e-5)


def test_confidence_sequence_tightest_near_the_tuning_size():
    # rho from the closed form nearly minimises the half-width at n = N: within 1% of the
    # numerically optimal mixture (minimize_scalar over rho, formula written out here).
    alpha, tuning = 0.05, 5000

    def half(rho: float, n: float) -> float:
        v = n * rho**2
        return math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / alpha))

    best = min(half(r, tuning) for r in np.geomspace(1e-4, 1, 20001))
    ours = _cs_halfwidth(1.0, tuning, alpha, tuning)
    assert ours == pytest.approx(best, rel=0.01)
    assert ours > stats.norm.isf(alpha / 2)  # always wider than the fixed-horizon interval


def test_sequential_p_value_is_consistent_with_the_sequence():
    for n, x_c, x_t in [(2000, 200, 240), (7755, 775, 892), (20000, 2000, 2150), (5000, 500, 505)]:
        c, t = _conversions("c", n, x_c), _conversions("t", n, x_t)
        low, high = confidence_sequence(c, t, kind="proportion", tuning_n=5000)
        p = sequential_p_value(c, t, kind="proportion", tuning_n=5000)
        fixed = compare(c, t, kind="proportion").frequentist
        assert (p < 0.05) == (low > 0 or high < 0)
        assert low < fixed.absolute_ci[0] and high > fixed.absolute_ci[1]
        assert 0 < p <= 1


def test_compare_gives_the_sequence_and_its_p_value_on_both_scales():
    c, t = EXP01_CONTROL, EXP01_TREATMENT
    f = compare(c, t, kind="proportion", sequential=True, tuning_n=8000).frequentist
    s = f.sequential
    assert s.tuning_n == 8000 and s.customers == c.n + t.n
    assert s.absolute_ci == pytest.approx(
        confidence_sequence(c, t, kind="proportion", tuning_n=8000), rel=1e-12
    )
    assert s.absolute_p_value == pytest.approx(
        sequential_p_value(c, t, kind="proportion", tuning_n=8000), rel=1e-12
    )
    # The relative sequence is the same boundary around the relative lift, in its own SE.
    multiplier = (s.absolute_ci[1] - s.absolute_ci[0]) / (2 * f.standard_error)
    half = multiplier * f.relative_standard_error
    assert s.relative_ci == pytest.approx((f.relative_lift - half, f.relative_lift + half), rel=1e-12)
    assert (s.relative_p_value < 0.05) == (s.relative_ci[0] > 0 or s.relative_ci[1] < 0)
    assert compare(c, t, kind="proportion").frequentist.sequential is None


def test_aa_simulation_false_positive_rates():
    result = simulate_aa(2000, n_per_arm=5000, days=28, baseline=0.1, seed=1)
    assert 0.03 <= result["fixed_horizon_false_positive_rate"] <= 0.07
    assert result["sequential_false_positive_rate"] <= 0.05
    means = simulate_aa(2000, n_per_arm=3000, days=14, baseline=600.0, kind="mean", sd=900.0, seed=2)
    assert 0.03 <= means["fixed_horizon_false_positive_rate"] <= 0.07
    assert means["sequential_false_positive_rate"] <= 0.05


def test_aa_simulation_fixed_horizon_test_is_compares():
    # The simulation's end-of-experiment p-values are those of compare on the same counts.
    rng = np.random.default_rng(0)
    daily = np.diff(np.round(np.linspace(0, 800, 5)).astype(int))
    conv = rng.binomial(np.broadcast_to(daily[None, :, None], (3, 4, 2)), 0.2).sum(axis=1)
    expected = np.mean(
        [
            compare(
                _conversions("c", 800, int(c)), _conversions("t", 800, int(t)), kind="proportion"
            ).frequentist.p_value
            < 0.05
            for c, t in conv
        ]
    )
    result = simulate_aa(3, n_per_arm=800, days=4, baseline=0.2, seed=0)
    assert result["fixed_horizon_false_positive_rate"] == expected


# -- multiple testing ---------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "statsmodels_name"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_match_statsmodels(method, statsmodels_name):
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    expected = multipletests(p, method=statsmodels_name)[1]
    np.testing.assert_allclose(adjust_p_values(p, method), expected, rtol=0, atol=1e-15)
    # Hand values for the first three: Holm 10 x 0.001, 9 x 0.008; BH 10 x 0.001, 10 / 2 x 0.008.
    first = adjust_p_values(p, method)[:2]
    assert first == pytest.approx([0.01, 0.072] if method == "holm" else [0.01, 0.04])


# -- planning -----------------------------------------------------------------------------------
def test_sample_size_for_proportions_matches_rs_power_prop_test():
    # R documentation of power.prop.test (stats package):
    #   power.prop.test(p1 = .50, p2 = .75, power = .90)   => n = 76.7 per group
    #   power.prop.test(n = 50, p1 = .5, power = .90)      => p2 = 0.8026
    plan = sample_size(baseline=0.5, mde=0.25, kind="proportion", power=0.9, relative=False)
    assert plan.per_arm == 77 and plan.total == 154
    assert _proportion_n(0.5, 0.75, 0.05, 0.9, 2, 1.0) == pytest.approx(76.7, abs=0.05)
    mde = minimum_detectable_effect(baseline=0.5, per_arm=50, kind="proportion", power=0.9, relative=False)
    assert 0.5 + mde == pytest.approx(0.8026, abs=5e-5)
    relative = sample_size(baseline=0.1, mde=0.15, kind="proportion")
    absolute = sample_size(baseline=0.1, mde=0.015, kind="proportion", relative=False)
    assert relative.per_arm == absolute.per_arm
    assert sample_size(baseline=0.1, mde=0.15, kind="proportion", sides=1).per_arm < relative.per_arm


def test_sample_size_for_means_matches_rs_power_t_test():
    # R documentation of power.t.test: power.t.test(power = .90, delta = 1) => n = 22.02110;
    # power.t.test(n = 20, delta = 1) => power = 0.8689528.
    plan = sample_size(
        baseline=10.0, mde=1.0, kind="mean", sd=1.0, power=0.9, relative=False, daily_traffic=10
    )
    assert plan.per_arm == 23 and plan.total == 46 and plan.days == 5
    assert minimum_detectable_effect(
        baseline=10.0, per_arm=20, kind="mean", sd=1.0, power=0.8689528, relative=False
    ) == pytest.approx(1.0, abs=1e-5)
    assert minimum_detectable_effect(
        baseline=10.0, per_arm=20, kind="mean", sd=1.0, power=0.8689528
    ) == pytest.approx(0.1, abs=1e-6)


def test_planned_size_reaches_the_power_in_simulation_with_unequal_arms():
    # 20,000 simulated experiments at the planned sizes (control n, treatment 2n), run through
    # the pooled z-test written out here: the share detected is the planned 80% (SE 0.3%).
    plan = sample_size(baseline=0.1, mde=0.2, kind="proportion", ratio=2.0)
    n_c, n_t = plan.per_arm, plan.total - plan.per_arm
    assert n_t == pytest.approx(2 * n_c, abs=1)
    rng = np.random.default_rng(17)
    x_c, x_t = rng.binomial(n_c, 0.1, 20_000), rng.binomial(n_t, 0.12, 20_000)
    pooled = (x_c + x_t) / (n_c + n_t)
    z = (x_t / n_t - x_c / n_c) / np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    assert np.mean(np.abs(z) > stats.norm.isf(0.025)) == pytest.approx(0.8, abs=0.012)


def test_minimum_detectable_effect_inverts_sample_size():
    plan = sample_size(baseline=0.04, mde=0.1, kind="proportion", power=0.85)
    mde = minimum_detectable_effect(baseline=0.04, per_arm=plan.per_arm, kind="proportion", power=0.85)
    assert mde == pytest.approx(0.1, rel=1e-3)
    assert mde <= 0.1


# -- robustness ---------------------------------------------------------------------------------
def test_one_arm_without_conversions_still_reads():
    result = compare(_conversions("control", 100, 5), _conversions("treatment", 100, 0), kind="proportion")
    _assert_finite(result)
    assert result.frequentist.p_value == pytest.approx(proportions_ztest([0, 5], [100, 100])[1], abs=1e-12)
    assert result.bayesian.chance_to_beat_control < 0.05


def test_control_mean_zero_gives_no_relative_lift():
    result = compare(_conversions("control", 50, 0), _conversions("treatment", 50, 3), kind="proportion")
    _assert_finite(result)
    assert result.frequentist.relative_lift is None and result.frequentist.relative_ci is None
    assert result.bayesian.relative_credible_interval is not None  # the Beta posterior is never 0
    zero_mean = arm_stats("control", [-1.0, 1.0, -2.0, 2.0])
    means = compare(zero_mean, arm_stats("treatment", [0.0, 1.0, 2.0, 3.0]), kind="mean")
    assert means.frequentist.relative_lift is None
    assert means.bayesian.relative_credible_interval is None


def test_negative_control_mean_reads_relative_lift_in_the_metrics_direction():
    result = compare(_from_moments("c", -10.0, 2.0, 100), _from_moments("t", -5.0, 2.0, 100), kind="mean")
    assert result.frequentist.relative_lift == pytest.approx(0.5)


# -- bad input ----------------------------------------------------------------------------------
def _message(call, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    return str(info.value)


GOOD_C, GOOD_T = _conversions("control", 100, 10), _conversions("treatment", 100, 12)


def test_arm_errors_name_the_arm():
    assert _message(ArmStats, "a", -1, 0.0, 0.0) == MSG_BAD_COUNT.format(arm="a", n=-1)
    assert _message(ArmStats, "a", 2.5, 0.0, 0.0) == MSG_BAD_COUNT.format(arm="a", n=2.5)
    assert _message(ArmStats, "a", 3, float("nan"), 1.0) == MSG_NOT_FINITE.format(
        arm="a", field="sum", value=float("nan")
    )
    assert _message(ArmStats, "a", 3, 1.0, float("inf")) == MSG_NOT_FINITE.format(
        arm="a", field="sum_sq", value=float("inf")
    )
    assert _message(ArmStats, "a", 3, 6.0, 1.0) == MSG_INCONSISTENT_SUMS.format(
        arm="a", what="y", n=3, total=6.0, sum_sq=1.0
    )
    assert _message(ArmStats, "a", 3, 1.0, 1.0, x_sum=1.0) == MSG_PARTIAL_SUMS.format(
        arm="a", fields="x_sum, x_sum_sq, xy_sum"
    )
    assert _message(ArmStats, "a", 2, 2.0, 2.0, x_sum=2.0, x_sum_sq=2.0, xy_sum=5.0).startswith("Arm 'a'")
    assert _message(arm_stats, "a", [1.0, float("nan")]) == MSG_NOT_FINITE.format(
        arm="a", field="metric value 1", value=float("nan")
    )
    assert _message(arm_stats, "a", ["x", "y"]).startswith("Arm 'a': the metric values must be numbers")
    assert _message(arm_stats, "a", [1.0, 2.0], x=[1.0]) == MSG_LENGTHS.format(
        arm="a", what="covariate", got=1, n=2
    )
    assert _message(arm_stats, "a", [[1.0, 2.0]]) == MSG_NOT_1D.format(arm="a", what="metric", shape=(1, 2))


def test_compare_errors():
    empty = ArmStats("treatment", 0, 0.0, 0.0)
    assert _message(compare, GOOD_C, empty, kind="proportion") == MSG_EMPTY_ARM.format(arm="treatment")
    with pytest.raises(ValueError, match="has no customers"):
        _ = empty.mean
    for c, t in [((100, 0), (80, 0)), ((100, 100), (80, 80))]:
        assert _message(
            compare, _conversions("control", *c), _conversions("treatment", *t), kind="proportion"
        ) == MSG_NO_VARIANCE.format(
            control="control", treatment="treatment", detail=MSG_NO_VARIANCE_PROPORTION
        )
    flat = arm_stats("treatment", [3.0, 3.0, 3.0])
    flat_control = arm_stats("control", [1.0, 1.0])
    assert _message(compare, flat_control, flat, kind="mean") == MSG_NO_VARIANCE.format(
        control="control", treatment="treatment", detail=MSG_NO_VARIANCE_MEAN
    )
    too_many = ArmStats("treatment", 10, 12.0, 20.0)
    assert _message(compare, GOOD_C, too_many, kind="proportion") == MSG_NOT_PROPORTION.format(
        arm="treatment", n=10, total=12.0, sum_sq=20.0
    )
    not_binary = ArmStats("treatment", 10, 4.0, 7.0)
    assert _message(compare, GOOD_C, not_binary, kind="proportion") == MSG_NOT_PROPORTION.format(
        arm="treatment", n=10, total=4.0, sum_sq=7.0
    )
    negative = ArmStats("treatment", 10, -2.0, 2.0)
    assert "is not a conversion count" in _message(compare, GOOD_C, negative, kind="proportion")
    single = arm_stats("treatment", [5.0])
    assert _message(compare, arm_stats("control", [1.0, 2.0]), single, kind="mean") == MSG_TOO_FEW.format(
        arm="treatment", n=1, kind="mean"
    )
    assert _message(compare, GOOD_C, GOOD_T, kind="median") == MSG_UNKNOWN_KIND.format(
        kind="median", choices="proportion, mean, ratio"
    )
    for alpha in (0, 1, 1.5, float("nan")):
        message = _message(compare, GOOD_C, GOOD_T, kind="proportion", alpha=alpha)
        assert message == MSG_BAD_PROBABILITY.format(name="alpha", value=alpha)


def test_interval_method_and_sequential_errors():
    assert _message(compare, GOOD_C, GOOD_T, kind="proportion", interval_method="t") == (
        MSG_UNKNOWN_INTERVAL.format(method="t", choices="z, welch-t")
    )
    one = _conversions("treatment", 1, 1)
    assert _message(compare, GOOD_C, one, kind="proportion", interval_method="welch-t") == MSG_TOO_FEW.format(
        arm="treatment", n=1, kind="proportion (Welch t)"
    )
    none, every = _conversions("control", 100, 0), _conversions("treatment", 100, 100)
    assert _message(compare, none, every, kind="proportion", interval_method="welch-t") == (
        MSG_NO_VARIANCE.format(control="control", treatment="treatment", detail=MSG_NO_VARIANCE_WITHIN)
    )
    assert _message(compare, GOOD_C, GOOD_T, kind="proportion", sequential=True, tuning_n=-1) == (
        MSG_BAD_TUNING.format(tuning_n=-1)
    )
    # Separated arms have no within-arm variance: no sequence, and still nothing NaN.
    separated = compare(none, every, kind="proportion", sequential=True).frequentist
    assert separated.sequential is None
    _assert_finite(separated)


def test_ratio_and_cuped_errors():
    plain_c, plain_t = arm_stats("control", [1.0, 2.0, 3.0]), arm_stats("treatment", [2.0, 3.0, 5.0])
    assert _message(compare, plain_c, plain_t, kind="ratio") == MSG_NEEDS_DENOMINATOR.format(arm="control")
    zero_d = arm_stats("treatment", [1.0, 2.0, 3.0], d=[0.0, 0.0, 0.0])
    with_d = arm_stats("control", [1.0, 2.0, 3.0], d=[1.0, 1.0, 2.0])
    assert _message(compare, with_d, zero_d, kind="ratio") == MSG_ZERO_DENOMINATOR.format(arm="treatment")
    assert _message(compare, plain_c, plain_t, kind="mean", cuped=True) == MSG_NEEDS_COVARIATE.format(
        arm="control"
    )
    assert _message(compare, with_d, with_d, kind="ratio", cuped=True) == MSG_CUPED_RATIO
    y = [1.0, 2.0, 4.0]
    z = [2.0, 3.0, 7.0]
    exact_c, exact_t = arm_stats("control", y, x=y), arm_stats("treatment", z, x=z)
    assert _message(compare, exact_c, exact_t, kind="mean", cuped=True) == MSG_CUPED_EXACT


def test_srm_errors():
    assert _message(srm_test, [100], [100]) == MSG_SRM_ARMS.format(count=1)
    assert _message(srm_test, [100, 90], [50, 40]) == MSG_DESIGN_SUM.format(total=90.0)
    assert _message(srm_test, [100, 90], [0.5, 0.6]) == MSG_DESIGN_SUM.format(total=1.1)
    assert _message(srm_test, [100, -5], [50, 50]) == MSG_SRM_COUNT.format(index=1, count=-5)
    assert _message(srm_test, [100, 5.5], [50, 50]) == MSG_SRM_COUNT.format(index=1, count=5.5)
    assert _message(srm_test, [100, 90], [100, 0]) == MSG_DESIGN_SHARE.format(index=1, share=0)
    assert _message(srm_test, [100, 90], [100]) == MSG_SRM_LENGTHS.format(design=1, counts=2)
    assert _message(srm_test, [0, 0], [50, 50]) == MSG_SRM_EMPTY


def test_sequential_and_adjustment_errors():
    assert _message(confidence_sequence, GOOD_C, GOOD_T, kind="proportion", tuning_n=0) == (
        MSG_BAD_TUNING.format(tuning_n=0)
    )
    assert _message(sequential_p_value, GOOD_C, GOOD_T, kind="proportion", alpha=2) == (
        MSG_BAD_PROBABILITY.format(name="alpha", value=2)
    )
    none, every = _conversions("control", 100, 0), _conversions("treatment", 100, 100)
    _assert_finite(compare(none, every, kind="proportion"))  # separated arms still read
    assert _message(confidence_sequence, none, every, kind="proportion") == MSG_NO_VARIANCE.format(
        control="control", treatment="treatment", detail=MSG_NO_VARIANCE_WITHIN
    )
    assert _message(adjust_p_values, [], "holm") == MSG_NO_P_VALUES
    assert _message(adjust_p_values, [0.1, 1.5], "bh") == MSG_BAD_P_VALUE.format(index=1, value=1.5)
    nan = float("nan")
    assert _message(adjust_p_values, [nan], "bh") == MSG_BAD_P_VALUE.format(index=0, value=nan)
    assert _message(adjust_p_values, [0.1], "bonferroni") == MSG_UNKNOWN_ADJUST.format(
        method="bonferroni", choices="holm, bh"
    )
    assert _message(simulate_aa, 0, n_per_arm=100, days=5, baseline=0.1) == MSG_BAD_SIMULATION.format(
        name="n_experiments", value=0, least=1
    )


def test_planning_errors():
    def plan(**kwargs):
        return _message(sample_size, **({"baseline": 0.1, "mde": 0.1, "kind": "proportion"} | kwargs))

    assert plan(baseline=0) == MSG_BAD_BASELINE_RATE.format(baseline=0)
    assert plan(baseline=1.2) == MSG_BAD_BASELINE_RATE.format(baseline=1.2)
    assert plan(baseline=0.9, mde=0.2) == MSG_TARGET_RATE.format(baseline=0.9, target=0.9 + 0.9 * 0.2)
    assert plan(mde=0) == MSG_BAD_MDE.format(mde=0)
    assert plan(mde=-0.1) == MSG_BAD_MDE.format(mde=-0.1)
    assert plan(power=1) == MSG_BAD_PROBABILITY.format(name="power", value=1)
    assert plan(alpha=0) == MSG_BAD_PROBABILITY.format(name="alpha", value=0)
    assert plan(sides=3) == MSG_BAD_SIDES.format(sides=3)
    assert plan(ratio=0) == MSG_BAD_RATIO.format(ratio=0)
    assert plan(daily_traffic=0) == MSG_BAD_TRAFFIC.format(traffic=0)
    assert plan(kind="mean", baseline=10.0) == MSG_NEEDS_SD.format(sd=None)
    assert plan(kind="mean", baseline=0.0, sd=1.0) == MSG_BAD_BASELINE_MEAN.format(baseline=0.0)
    assert plan(kind="ratio") == MSG_UNKNOWN_POWER_KIND.format(kind="ratio", choices="proportion, mean")
    assert _message(
        minimum_detectable_effect, baseline=0.5, per_arm=2, kind="proportion"
    ) == MSG_MDE_UNREACHABLE.format(per_arm=2, baseline=0.5, power=0.8)
    assert _message(minimum_detectable_effect, baseline=0.5, per_arm=1, kind="proportion") == (
        MSG_BAD_PER_ARM.format(per_arm=1)
    )
