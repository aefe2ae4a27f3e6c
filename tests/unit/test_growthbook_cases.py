"""GrowthBook's published stats-engine test cases, as known answers for Tailor (issue 12).

The inputs and expected outputs come from the tests of GrowthBook's stats engine (repository
growthbook/growthbook, folder packages/stats/tests); only the numbers are ported, never its code.
Each case configures Tailor to GrowthBook's definition where Tailor has it:

- GrowthBook reads every lift on the relative scale by default (interval and p-value of
  ``(mean_t - mean_c) / mean_c``, delta method): Tailor's ``relative_*`` fields;
- it uses Student's t with Welch-Satterthwaite degrees of freedom for proportions and ratios too:
  ``interval_method="welch-t"``;
- its CUPED relative lift divides by the control's unadjusted mean: Tailor's only definition;
- its sequential intervals apply the confidence-sequence boundary to the relative standard
  error: :class:`analytics.experiments.frequentist.Sequential`'s relative fields.

Where Tailor's definition differs and cannot be configured (its Bayesian read-out, CUPED for
ratio metrics, the variances of a CUPED-adjusted conversion), the test asserts Tailor's number
against an independent computation, states GrowthBook's number with the reason, and, where the
reason is a formula, reproduces GrowthBook's number from it. GrowthBook's tests round to 5
decimals (its per-test files) or 9 (test_gbstats.py); :func:`_published` compares to that
rounding.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy import integrate, special, stats
from statsmodels.stats.proportion import proportions_ztest

from analytics.experiments import external
from analytics.experiments.arms import MSG_INCONSISTENT_SUMS, ArmStats
from analytics.experiments.comparison import MSG_CUPED_RATIO, compare
from analytics.experiments.frequentist import INTERVAL_METHODS, TEST_PROPORTION, TEST_PROPORTION_WELCH
from analytics.experiments.sequential import confidence_sequence

FREQUENTIST_TESTS = "packages/stats/tests/frequentist/test_tests.py"
BAYESIAN_TESTS = "packages/stats/tests/bayesian/test_tests.py"
GBSTATS_TESTS = "packages/stats/tests/test_gbstats.py"
OLD_BAYESIAN_COMMIT = "4d499882c20b94240f4cd7e6d04d3b048f9d4cd6"
"""An earlier version of BAYESIAN_TESTS, whose Bayesian risk was Tailor's expected loss (exact Beta)."""


def _published(value: float | None, published: float, decimals: int = 5) -> None:
    """``value`` rounds to GrowthBook's published figure (which was rounded to ``decimals``)."""
    assert value is not None
    assert abs(value - published) <= 0.5 * 10.0**-decimals + 1e-12, (value, published)


def _published_pair(
    pair: tuple[float, float] | None, published: tuple[float, float], decimals: int = 5
) -> None:
    assert pair is not None
    _published(pair[0], published[0], decimals)
    _published(pair[1], published[1], decimals)


def _cs_multiplier(customers: int, tuning_n: float, alpha: float = 0.05) -> float:
    """Half-width of the confidence sequence over the standard error (Howard et al. 2021, normal
    mixture), written out from the paper's closed form for these tests."""
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning_n
    v = customers * rho2
    return math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / alpha))


# -- frequentist (FREQUENTIST_TESTS, class TestTwoSidedTTest) ----------------------------------
# setUp: SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3407) and (2422.7, 134698.29, 3461).
MEAN_C = ArmStats("control", 3407, 1396.87, 52377.9767)
MEAN_T = ArmStats("treatment", 3461, 2422.7, 134698.29)


def test_two_sided_ttest_relative():
    # test_two_sided_ttest: expected 0.70732, ci (-0.03526, 1.44989), uplift sd 0.37879, p 0.06191.
    f = compare(MEAN_C, MEAN_T, kind="mean").frequentist
    assert f.interval_method == "welch-t"
    _published(f.relative_lift, 0.70732)
    _published_pair(f.relative_ci, (-0.03526, 1.44989))
    _published(f.relative_standard_error, 0.37879)
    _published(f.relative_p_value, 0.06191)


def test_two_sided_ttest_absolute():
    # test_two_sided_ttest_absolute: expected 0.29, ci (0.04538, 0.53462), sd 0.12478, p 0.02016.
    f = compare(MEAN_C, MEAN_T, kind="mean").frequentist
    _published(f.absolute_lift, 0.29)
    _published_pair(f.absolute_ci, (0.04538, 0.53462))
    _published(f.standard_error, 0.12478)
    _published(f.p_value, 0.02016)


def test_two_sided_ttest_binom():
    # test_two_sided_ttest_binom: ProportionStatistic(sum=14, n=28) and (16, 30), relative:
    # expected 0.06667, ci (-0.47767, 0.61101), sd 0.2717, p 0.80707 (t, Welch df).
    control, treatment = ArmStats("control", 28, 14, 14), ArmStats("treatment", 30, 16, 16)
    f = compare(control, treatment, kind="proportion", interval_method="welch-t").frequentist
    assert f.interval_method == "welch-t" and f.test == TEST_PROPORTION_WELCH
    _published(f.relative_lift, 0.06667)
    _published_pair(f.relative_ci, (-0.47767, 0.61101))
    _published(f.relative_standard_error, 0.2717)
    _published(f.relative_p_value, 0.80707)
    # Tailor's default reads proportions with z (the pooled two-proportion z-test, Wald
    # intervals): with 28 and 30 customers the t quantile (55.7 df) is 2.0035 against 1.96, so
    # GrowthBook's interval is 2.2% wider. Checked against statsmodels and the normal quantile.
    z = compare(control, treatment, kind="proportion").frequentist
    assert z.interval_method == "z" and z.test == TEST_PROPORTION
    _, pooled_p = proportions_ztest([16, 14], [30, 28])
    assert z.p_value == pytest.approx(pooled_p, rel=1e-12)
    half = stats.norm.isf(0.025) * f.relative_standard_error
    assert z.relative_ci == pytest.approx((f.relative_lift - half, f.relative_lift + half), rel=1e-12)
    assert z.relative_ci[0] > -0.47767 and z.relative_ci[1] < 0.61101


def test_two_sided_ttest_missing_variance():
    # test_two_sided_ttest_missing_variance: the control (sum 1396.87, sum of squares 52377.9767)
    # with n=2 has a negative variance; GrowthBook returns its empty result with
    # ZERO_NEGATIVE_VARIANCE_MESSAGE. Tailor refuses the sums, naming the arm.
    with pytest.raises(ValueError) as refused:
        ArmStats("control", 2, 1396.87, 52377.9767)
    assert str(refused.value) == MSG_INCONSISTENT_SUMS.format(
        arm="control", what="y", n=2, total=1396.87, sum_sq=52377.9767
    )


# -- sequential (FREQUENTIST_TESTS, class TestSequentialTTest) ----------------------------------
SEQ_C = ArmStats("control", 3000, 1396.87, 52377.9767)
SEQ_T = ArmStats("treatment", 3461, 2422.7, 134698.29)


def test_sequential_test_runs():
    # test_sequential_test_runs, tuning parameter 1000: expected 0.50336, ci (-0.55844, 1.56516),
    # sd 0.33341, p 1.
    f = compare(SEQ_C, SEQ_T, kind="mean", sequential=True, tuning_n=1000).frequentist
    _published(f.relative_lift, 0.50336)
    _published(f.relative_standard_error, 0.33341)
    s = f.sequential
    assert s.tuning_n == 1000 and s.customers == 6461
    _published_pair(s.relative_ci, (-0.55844, 1.56516))
    assert s.relative_p_value == 1.0
    # The same boundary on the absolute scale is what confidence_sequence gives.
    assert s.absolute_ci == pytest.approx(
        confidence_sequence(SEQ_C, SEQ_T, kind="mean", tuning_n=1000), rel=1e-12
    )


def test_sequential_test_runs_prop():
    # test_sequential_test_runs_prop: ProportionStatistic(1396, 3000) and (2422, 3461), default
    # tuning 5000: expected 0.50386, ci (0.40098, 0.60675), sd 0.03386, p 0.0. The confidence
    # sequence does not depend on the fixed-horizon reference distribution: z and t agree.
    control, treatment = ArmStats("control", 3000, 1396, 1396), ArmStats("treatment", 3461, 2422, 2422)
    for method in INTERVAL_METHODS:
        f = compare(
            control, treatment, kind="proportion", sequential=True, interval_method=method
        ).frequentist
        _published(f.relative_lift, 0.50386)
        _published(f.relative_standard_error, 0.03386)
        _published_pair(f.sequential.relative_ci, (0.40098, 0.60675))
        _published(f.sequential.relative_p_value, 0.0)


def test_sequential_test_runs_ra():
    # test_sequential_test_runs_ra: CUPED with pre-period sums (16.87, 527.9767) and (22.7,
    # 1348.29), post-pre cross sums 1 and 1, theta estimated: expected 0.50338,
    # ci (-0.50969, 1.51646), sd 0.33341, p 1.
    control = ArmStats("control", 3000, 1396.87, 52377.9767, x_sum=16.87, x_sum_sq=527.9767, xy_sum=1)
    treatment = ArmStats("treatment", 3461, 2422.7, 134698.29, x_sum=22.7, x_sum_sq=1348.29, xy_sum=1)
    result = compare(control, treatment, kind="mean", cuped=True, sequential=True)
    f = result.cuped.frequentist
    _published(f.relative_lift, 0.50338)
    _published(f.relative_standard_error, 0.33341)
    _published_pair(f.sequential.relative_ci, (-0.50969, 1.51646))
    assert f.sequential.relative_p_value == 1.0
    # The relative lift divides by the control's unadjusted mean.
    assert f.relative_lift == pytest.approx(f.absolute_lift / control.mean, rel=1e-12)


# -- ratio metrics with CUPED (FREQUENTIST_TESTS and GBSTATS_TESTS) ----------------------------
# test_two_sided_ttest_test_runs_ratio_ra / RATIO_RA_STATISTICS_DF: the post-period sums of the
# ratio's numerator (m) and denominator (d), the pre-period ones and their cross products.
RATIO_RA = pl.DataFrame(
    {
        "dimension": ["All", "All"],
        "variation": ["zero", "one"],
        "users": [100, 100],
        "count": [100, 100],
        "main_sum": [485.112236689623, 514.7757826608777],
        "main_sum_squares": [2715.484666118136, 2994.897482705013],
        "denominator_sum": [679.9093275844917, 705.4090874383759],
        "denominator_sum_squares": [4939.424001640236, 5291.36604146392],
        "covariate_sum": [192.59138069991536, 206.94157227402536],
        "covariate_sum_squares": [460.076026390857, 514.2903702246757],
        "denominator_pre_sum": [290.1398399750233, 302.54389139107326],
        "denominator_pre_sum_squares": [920.9461385038898, 994.4506208125663],
        "main_covariate_sum_product": [1113.6215759318352, 1237.0953021125997],
        "main_denominator_sum_product": [3602.146836776702, 3918.1561431600717],
        "main_post_denominator_pre_sum_product": [1559.2878434944676, 1701.0287270040265],
        "main_pre_denominator_post_sum_product": [1460.3181079276983, 1604.075950326651],
        "main_pre_denominator_pre_sum_product": [634.239482353647, 698.4173425817913],
        "denominator_post_denominator_pre_sum_product": [2130.9404074446747, 2292.081739775257],
    }
)


def _ratio_moments(n: int, m: float, mm: float, d: float, dd: float, md: float) -> tuple[float, float]:
    """A ratio sum(m) / sum(d) and the delta-method variance of it, from the sums."""
    ratio = m / d
    var_m, var_d = (mm - m * m / n) / (n - 1), (dd - d * d / n) / (n - 1)
    cov = (md - m * d / n) / (n - 1)
    return ratio, (var_m - 2 * ratio * cov + ratio**2 * var_d) / (n * (d / n) ** 2)


def test_ratio_with_cuped_is_read_without_it():
    # GrowthBook regresses a ratio on the pre-period numerator and denominator; its published
    # read-outs of these sums: relative -0.0007, ci (-0.00841, 0.00700), sd 0.00391, p 0.85771
    # (test_two_sided_ttest_test_runs_ratio_ra), p 0.857710405 (test_analyze_metric_df_ratio_ra),
    # sequential ci (-0.02063, 0.01923), p 1 (test_sequential_test_runs_ratio_ra). Tailor does
    # not offer CUPED for ratio metrics: a summary in GrowthBook's export names reads as a ratio
    # (the pre-period columns of the denominator are not used) and is compared without CUPED.
    arms, kind = external.external_arms(
        RATIO_RA, variant_col="variation", control="zero", metric="revenue_per_session", summary=True
    )
    assert kind == "ratio" and arms[0].has_covariate
    with pytest.raises(ValueError, match=MSG_CUPED_RATIO):
        compare(*arms, kind="ratio", cuped=True)
    result = external.read_out_external(
        arms, kind=kind, metric="revenue_per_session", design=(50, 50), cuped=True, sequential=True
    )
    comparison = result.comparisons["one"]
    assert comparison.cuped is None
    f = comparison.frequentist
    columns = ("main_sum", "main_sum_squares", "denominator_sum", "denominator_sum_squares")
    rows = RATIO_RA.select(*columns, "main_denominator_sum_product").rows()
    (r_c, v_c), (r_t, v_t) = (_ratio_moments(100, *row) for row in rows)
    assert f.absolute_lift == pytest.approx(r_t - r_c, rel=1e-12)
    assert f.standard_error == pytest.approx(math.sqrt(v_c + v_t), rel=1e-12)
    relative_se = math.sqrt(v_t + (r_t / r_c) ** 2 * v_c) / r_c
    assert f.relative_lift == pytest.approx(r_t / r_c - 1, rel=1e-12)
    assert f.relative_standard_error == pytest.approx(relative_se, rel=1e-12)
    assert f.relative_p_value == pytest.approx(2 * stats.norm.sf((r_t / r_c - 1) / relative_se), rel=1e-12)
    half = _cs_multiplier(200, 5000) * relative_se
    assert f.sequential.relative_ci == pytest.approx(
        (f.relative_lift - half, f.relative_lift + half), rel=1e-12
    )
    # Without the adjustment the lift is +2.3% [-3.2%, +7.7%], not -0.07%: the arms' pre-periods differ.
    assert f.relative_ci[0] < -0.0007 < f.relative_ci[1]


def test_ratio_fixture_with_impossible_sums_is_refused():
    # RATIO_STATISTICS_DF (GBSTATS_TESTS; published p 0.610663339, chance to win 0.694926359):
    # the denominator's sums of squares are below sum^2 / n in both arms (800 < 500^2 / 120,
    # 810 < 510^2 / 100: negative variances). No data has these sums; Tailor says so, naming
    # the first arm it reads (the control).
    summary = pl.DataFrame(
        {
            "variation": ["one", "zero"],
            "users": [120, 100],
            "main_sum": [300, 270],
            "main_sum_squares": [869.0, 848.79],
            "denominator_sum": [500, 510],
            "denominator_sum_squares": [800.0, 810.0],
            "main_denominator_sum_product": [-905, -900],
        }
    )
    with pytest.raises(ValueError) as refused:
        external.external_arms(summary, variant_col="variation", control="zero", metric="m", summary=True)
    assert str(refused.value) == MSG_INCONSISTENT_SUMS.format(
        arm="zero", what="d", n=100, total=510.0, sum_sq=810.0
    )


# -- test_gbstats.py: count metric and CUPED through the summary reader ------------------------
# QUERY_OUTPUT, dimension "one": variation "zero" (control) sum 270, sum of squares 848.79,
# 100 users; variation "one" 300, 869, 120 users.
COUNT_ONE = pl.DataFrame(
    {
        "dimension": ["one", "one"],
        "variation": ["one", "zero"],
        "main_sum": [300, 270],
        "main_sum_squares": [869.0, 848.79],
        "users": [120, 100],
        "count": [120, 100],
    }
)
# RA_STATISTICS_DF: a mean metric with its pre-period covariate.
RA_STATISTICS = pl.DataFrame(
    {
        "dimension": ["All", "All"],
        "variation": ["one", "zero"],
        "main_sum": [222, 300],
        "main_sum_squares": [555, 600],
        "covariate_sum": [120, 210],
        "covariate_sum_squares": [405, 415],
        "main_covariate_sum_product": [-10, -20],
        "users": [3000, 3001],
        "count": [3000, 3001],
    }
)


def _read(frame: pl.DataFrame, **options) -> external.ExternalResult:
    arms, kind = external.external_arms(
        frame, variant_col="variation", control="zero", metric="m", summary=True
    )
    return external.read_out_external(arms, kind=kind, metric="m", design=(50, 50), **options)


def test_get_metric_dfs_frequentist():
    # TestAnalyzeMetricDfFrequentist.test_get_metric_dfs_frequentist: control value 2.7,
    # treatment 2.5, expected -0.074074074, p 0.145219005.
    result = _read(COUNT_ONE)
    assert result.kind == "mean" and [a.mean for a in result.arms] == [2.7, 2.5]
    f = result.comparisons["one"].frequentist
    _published(f.relative_lift, -0.074074074, 9)
    _published(f.relative_p_value, 0.145219005, 9)


def test_analyze_metric_df_sequential():
    # TestAnalyzeMetricDfSequential, tuning parameter 600: p 0.892332229, ci[0] -0.233322085.
    f = _read(COUNT_ONE, sequential=True, tuning_n=600).comparisons["one"].frequentist
    _published(f.sequential.relative_p_value, 0.892332229, 9)
    _published(f.sequential.relative_ci[0], -0.233322085, 9)


def test_get_metric_dfs_bayesian():
    # TestAnalyzeMetricDfBayesian.test_get_metric_dfs_new: chance to win 0.071834168, risk of
    # the treatment 0.075691131, both of the *relative* lift under a flat prior (posterior
    # N(relative lift, its delta-method SE^2)). Tailor's Bayesian view of a mean is the flat-prior
    # posterior of the *absolute* lift, N(lift, SE^2): chance 0.0809, expected loss 0.205 in the
    # metric's units. Both from Tailor's own estimates:
    comparison = _read(COUNT_ONE).comparisons["one"]
    f, b = comparison.frequentist, comparison.bayesian
    assert b.chance_to_beat_control == pytest.approx(
        stats.norm.cdf(f.absolute_lift / f.standard_error), rel=1e-12
    )
    loss, _ = integrate.quad(lambda d: -d * stats.norm.pdf(d, f.absolute_lift, f.standard_error), -10, 0)
    assert b.expected_loss == pytest.approx(loss, rel=1e-8)
    mu, sigma = f.relative_lift, f.relative_standard_error
    _published(stats.norm.cdf(mu / sigma), 0.071834168, 9)
    _published(sigma * stats.norm.pdf(mu / sigma) - mu * stats.norm.sf(mu / sigma), 0.075691131, 9)


def test_analyze_metric_df_ra():
    # TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra (frequentist, relative):
    # the means shown are unadjusted (0.099966678, 0.074); expected -0.281707154, p 0.003732549.
    result = _read(RA_STATISTICS, cuped=True)
    assert [round(a.mean, 9) for a in result.arms] == [0.099966678, 0.074]
    f = result.comparisons["one"].cuped.frequentist
    _published(f.relative_lift, -0.281707154, 9)
    _published(f.relative_p_value, 0.003732549, 9)


def _cuped_relative_p(rows: pl.DataFrame, ddof: int) -> float:
    """The CUPED relative p-value written out (theta over both arms, delta method over the
    control's unadjusted mean, Welch df), with sample (ddof 1) or population (ddof 0) variances."""
    zero = rows.filter(pl.col("variation") == "zero").row(0, named=True)
    one = rows.filter(pl.col("variation") == "one").row(0, named=True)

    def moments(r: dict) -> tuple:
        n, y, x = r["users"], r["main_sum"], r["covariate_sum"]
        yy, xx = r.get("main_sum_squares", y), r.get("covariate_sum_squares", x)
        xy = r["main_covariate_sum_product"]
        d = n - ddof
        return n, y / n, x / n, (yy - y * y / n) / d, (xx - x * x / n) / d, (xy - x * y / n) / d

    n_all = zero["users"] + one["users"]
    s_x = zero["covariate_sum"] + one["covariate_sum"]
    s_xx = zero.get("covariate_sum_squares", zero["covariate_sum"]) + one.get(
        "covariate_sum_squares", one["covariate_sum"]
    )
    s_xy = zero["main_covariate_sum_product"] + one["main_covariate_sum_product"]
    s_y = zero["main_sum"] + one["main_sum"]
    theta = (s_xy - s_x * s_y / n_all) / (s_xx - s_x * s_x / n_all)
    n_c, y_c, x_c, vy_c, vx_c, c_c = moments(zero)
    n_t, y_t, x_t, vy_t, vx_t, c_t = moments(one)
    var_t = (vy_t + theta**2 * vx_t - 2 * theta * c_t) / n_t
    var_c = (vy_c + theta**2 * vx_c - 2 * theta * c_c) / n_c
    k = y_t / y_c
    var_rel = var_t / y_c**2 + (k * k * vy_c + theta**2 * vx_c - 2 * k * theta * c_c) / (n_c * y_c**2)
    lift = (y_t - theta * x_t) - (y_c - theta * x_c)
    df = (var_c + var_t) ** 2 / (var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1))
    return float(2 * stats.t.sf(abs(lift / y_c) / math.sqrt(var_rel), df))


def test_analyze_metric_df_ra_proportion():
    # test_analyze_metric_df_ra_proportion: the same sums without the sums of squares, read as
    # conversions (binomial): expected -0.31620216, p 0.000000353.
    binary = RA_STATISTICS.drop("main_sum_squares", "covariate_sum_squares")
    result = _read(binary, cuped=True)
    assert result.kind == "proportion"
    f = result.comparisons["one"].cuped.frequentist
    _published(f.relative_lift, -0.31620216, 9)
    # The p-value differs in the third digit: GrowthBook's CUPED keeps a binomial metric's
    # population variances p(1 - p) (and covariances over n), Tailor's treats the adjusted values
    # as a continuous metric with sample variances (over n - 1), as for any CUPED read-out:
    # 3.541e-7 here against 3.526e-7. Written out, the formula gives Tailor's number with
    # sample variances and GrowthBook's with population ones.
    assert f.relative_p_value == pytest.approx(_cuped_relative_p(binary, ddof=1), rel=1e-9)
    _published(_cuped_relative_p(binary, ddof=0), 0.000000353, 9)
    assert f.relative_p_value == pytest.approx(3.541e-7, rel=1e-3)


# -- Bayesian (BAYESIAN_TESTS) ------------------------------------------------------------------
BINOM_C, BINOM_T = ArmStats("control", 100, 49, 49), ArmStats("treatment", 100, 51, 51)
NORM_C = ArmStats("control", 10, 100, 1002.25)
NORM_T = ArmStats("treatment", 10, 105, 1111.5)


def test_bayesian_binomial_ab_test():
    # TestBinom.test_bayesian_binomial_ab_test, ProportionStatistic(49, 100) and (51, 100):
    # expected 0.04082, ci (-0.24779, 0.32943), sd 0.14725, chance to win 0.60918 (GrowthBook's
    # effect model: a normal posterior of the relative lift, flat prior). Tailor's Bayesian view
    # of a conversion is exact: Beta(1, 1) priors, P(T > C) by quadrature here: 0.61077.
    comparison = compare(BINOM_C, BINOM_T, kind="proportion")
    f, b = comparison.frequentist, comparison.bayesian
    a_c, b_c, a_t, b_t = 50, 52, 52, 50
    exact, _ = integrate.quad(lambda p: stats.beta.pdf(p, a_c, b_c) * special.betaincc(a_t, b_t, p), 0, 1)
    assert b.chance_to_beat_control == pytest.approx(exact, abs=1e-9)
    assert b.chance_to_beat_control == pytest.approx(0.61077, abs=1e-5)
    # GrowthBook's figures are the normal posterior of Tailor's relative lift and z interval.
    _published(f.relative_lift, 0.04082)
    _published(f.relative_standard_error, 0.14725)
    _published_pair(f.relative_ci, (-0.24779, 0.32943))
    _published(stats.norm.cdf(f.relative_lift / f.relative_standard_error), 0.60918)
    # The earlier version of that test (commit OLD_BAYESIAN_COMMIT) computed the risks from the
    # same exact Beta posteriors: [0.03872, 0.01912]. The second is Tailor's expected loss
    # E[max(C - T, 0)]; the first E[max(T - C, 0)] = that + E[T - C] = that + 2/102.
    _published(b.expected_loss, 0.01912)
    _published(b.expected_loss + (a_t / (a_t + b_t) - a_c / (a_c + b_c)), 0.03872)


def test_bayesian_gaussian_ab_test():
    # TestNorm.test_bayesian_gaussian_ab_test, SampleMeanStatistic(100, 1002.25, 10) and
    # (105, 1111.5, 10): expected 0.05, ci (-0.02, 0.12), sd 0.03572, chance to win 0.91923.
    b = compare(NORM_C, NORM_T, kind="mean").bayesian
    f = compare(NORM_C, NORM_T, kind="mean").frequentist
    _published(f.relative_lift, 0.05)
    _published(f.relative_standard_error, 0.03572)
    _published_pair(b.relative_credible_interval, (-0.02, 0.12))
    # GrowthBook's chance to win is that of the relative lift, Phi(0.05 / 0.03572) = 0.91923;
    # Tailor's is that of the absolute lift, Phi(0.5 / 0.35355) = 0.92135 (the delta method's
    # relative SE is not the absolute SE over the control mean: the control's noise enters twice).
    assert b.chance_to_beat_control == pytest.approx(
        stats.norm.cdf(0.5 / math.sqrt(0.25 / 10 + 1.0 / 10)), rel=1e-12
    )
    _published(stats.norm.cdf(f.relative_lift / f.relative_standard_error), 0.91923)
    # The earlier version (commit OLD_BAYESIAN_COMMIT) gave the absolute risks [0.51256, 0.01256]:
    # Tailor's expected loss E[max(C - T, 0)], and that plus the lift 0.5.
    _published(b.expected_loss, 0.01256)
    _published(b.expected_loss + 0.5, 0.51256)
