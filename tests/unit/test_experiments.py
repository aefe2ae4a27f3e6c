"""A/B read-outs on the sample bank: the arms' statistics against an independent polars
computation from the raw tables, and the planted experiments (a real lift, an A/A, a sample
ratio mismatch, a heavy-tailed revenue metric that CUPED helps) from the truth file."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.multitest import multipletests

from analytics.experiments import bank, breakdown, external
from analytics.experiments import readout as experiments
from analytics.experiments.arms import ArmStats
from analytics.experiments.comparison import Comparison, compare


@pytest.fixture(scope="module")
def backend(sample_db):
    return sample_db.backend()


@pytest.fixture(scope="module")
def snapshot(sample_db):
    return sample_db.snapshot_date()


def truth_of(sample_truth, experiment_id):
    return next(e for e in sample_truth["experiments"] if e["experiment_id"] == experiment_id)


def _polars_metrics(sample_db, experiment) -> pl.DataFrame:
    """Per-customer revenue (and its pre-period) from the raw tables, without the library's code."""
    start = datetime.combine(experiment.start_date, time())
    end = datetime.combine(experiment.window_end + timedelta(days=1), time())
    pre = start - timedelta(days=experiment.days)
    assigned = sample_db.query(
        "select customer_id, variant from assignments where experiment_id = ?", [experiment.experiment_id]
    )
    tx = sample_db.query(
        "select customer_id, ts, amount from transactions where direction = 'debit' and ts >= ? and ts < ?",
        [pre, end],
    )
    spend = tx.group_by("customer_id").agg(
        pl.col("amount").filter(pl.col("ts") >= start).sum().alias("y"),
        pl.col("amount").filter(pl.col("ts") < start).sum().alias("x"),
    )
    return assigned.join(spend, on="customer_id", how="left").with_columns(pl.col("y", "x").fill_null(0.0))


def test_arm_statistics_equal_a_polars_computation_from_the_raw_tables(sample_db, backend, snapshot):
    experiment = bank.load_experiment(backend, "exp04_cashback_spend", snapshot=snapshot)
    aggregates = bank.aggregate_arms(backend, experiment)
    arms = bank.arms_of(aggregates, experiment, "revenue")
    reference = _polars_metrics(sample_db, experiment)
    assert [a.name for a in arms] == ["control", "treatment"]
    for arm in arms:
        part = reference.filter(pl.col("variant") == arm.name)
        y, x = part["y"].to_numpy(), part["x"].to_numpy()
        assert arm.n == part.height
        assert arm.sum == pytest.approx(y.sum(), rel=1e-9)
        assert arm.sum_sq == pytest.approx((y * y).sum(), rel=1e-9)
        assert arm.x_sum == pytest.approx(x.sum(), rel=1e-9)
        assert arm.xy_sum == pytest.approx((x * y).sum(), rel=1e-9)


def test_planted_conversion_lift_is_found_with_the_planted_effect_inside_the_interval(
    backend, snapshot, sample_truth
):
    truth = truth_of(sample_truth, "exp01_savings_nudge")
    result = experiments.read_out(backend, "exp01_savings_nudge", snapshot=snapshot, cuped=False)
    assert result.counts == truth["n_per_arm"]
    assert not result.srm.flagged
    primary = result.primary
    assert primary.metric == "conversion" and primary.role == "primary"
    assert [a.sum for a in primary.arms] == [
        truth["realized"]["conversions"]["control"],
        truth["realized"]["conversions"]["treatment"],
    ]
    test = primary.comparisons["treatment"].frequentist
    assert test.p_value == pytest.approx(truth["realized"]["two_sided_p_value"], rel=0.02)
    low, high = test.relative_ci
    assert low < truth["planted_effect"]["relative_lift"] < high
    assert result.decision.startswith("Treatment raised conversion by 1.51 pp [0.53, 2.48] pp (+15.1%)")
    assert "chance to beat control 99." in result.decision


def test_the_aa_experiment_is_not_significant(backend, snapshot):
    result = experiments.read_out(backend, "exp02_insurance_banner_aa", snapshot=snapshot)
    test = experiments.headline_test(result.primary.comparisons["treatment"])
    assert test.p_value > 0.05
    assert result.decision.startswith("No significant difference in conversion")


def test_the_sample_ratio_mismatch_is_flagged_and_the_decision_says_not_to_trust_it(
    backend, snapshot, sample_truth
):
    truth = truth_of(sample_truth, "exp03_app_home_screen")
    result = experiments.read_out(backend, "exp03_app_home_screen", snapshot=snapshot)
    assert result.srm.flagged
    assert result.srm.chi_square == pytest.approx(truth["realized"]["chi_square"], abs=1e-3)
    assert result.srm.p_value == pytest.approx(truth["realized"]["p_value"], rel=0.01)
    assert result.decision.startswith("Do not trust this read-out")
    assert result.experiment.window_end == snapshot  # still running: measured up to the snapshot


def test_cuped_cuts_the_variance_of_heavy_tailed_spend_by_more_than_30_percent(
    backend, snapshot, sample_truth
):
    truth = truth_of(sample_truth, "exp04_cashback_spend")
    result = experiments.read_out(backend, "exp04_cashback_spend", snapshot=snapshot)
    primary = result.primary
    assert primary.metric == "revenue"
    control, treatment = primary.arms
    assert control.mean == pytest.approx(truth["realized"]["control_mean"], abs=0.01)
    assert treatment.mean == pytest.approx(truth["realized"]["treatment_mean"], abs=0.01)
    comparison = primary.comparisons["treatment"]
    assert comparison.cuped is not None and comparison.cuped.variance_reduction > 0.30
    assert comparison.cuped.theta == pytest.approx(truth["realized"]["cuped_theta"], rel=0.05)
    cuped = comparison.cuped.frequentist
    assert cuped.relative_lift == pytest.approx(truth["realized"]["relative_effect_cuped"], abs=0.01)
    assert cuped.relative_ci[0] < truth["planted_effect"]["relative_effect"] < cuped.relative_ci[1]
    assert cuped.standard_error < comparison.frequentist.standard_error


def test_primary_and_guardrails_keep_their_p_values_and_secondaries_are_holm_adjusted(backend, snapshot):
    result = experiments.read_out(backend, "exp04_cashback_spend", snapshot=snapshot)
    roles = {m.metric: m.role for m in result.metrics}
    assert roles == {"revenue": "primary", "sessions": "guardrail", "revenue_per_session": "secondary"}
    for readout in result.metrics:
        raw = experiments.headline_test(readout.comparisons["treatment"]).p_value
        if readout.role != "secondary":
            assert readout.adjusted_p["treatment"] == raw
    secondary = [m for m in result.metrics if m.role == "secondary"]
    raw = [experiments.headline_test(m.comparisons["treatment"]).p_value for m in secondary]
    assert [m.adjusted_p["treatment"] for m in secondary] == pytest.approx(
        multipletests(raw, method="holm")[1]
    )


def test_a_guardrail_is_flagged_on_its_own_p_value_when_worse():
    control = ArmStats("control", n=5000, sum=5000 * 10.0, sum_sq=5000 * (100.0 + 4.0))
    worse = ArmStats("treatment", n=5000, sum=5000 * 9.85, sum_sq=5000 * (9.85**2 + 4.0))
    comparison = compare(control, worse, kind="mean")
    assert comparison.frequentist.p_value < 0.05 and comparison.frequentist.absolute_lift < 0
    readout = experiments.MetricReadout(
        "sessions", "mean", "guardrail", (control, worse), {"treatment": comparison}, {"treatment": 0.0}, {}
    )
    line = experiments.decision_line(readout, alpha=0.05)
    assert line.startswith("Treatment lowered sessions per customer by 0.15 [")  # no double negative


def test_the_last_look_of_the_sequence_is_the_full_window_and_wider_than_the_fixed_interval(
    backend, snapshot
):
    experiment = bank.load_experiment(backend, "exp01_savings_nudge", snapshot=snapshot)
    looks = bank.look_days(experiment)
    assert looks[0] == experiment.start_date and looks[-1] == experiment.window_end
    assert len(looks) == min(experiment.days, bank.MAX_LOOKS)
    aggregates = bank.aggregate_arms(backend, experiment, looks=looks)
    series = experiments.sequential_series(aggregates, experiment, metric="conversion", looks=looks)
    last = series.row(-1, named=True)
    final = (
        experiments.read_out(
            backend, "exp01_savings_nudge", snapshot=snapshot, cuped=False, aggregates=aggregates
        )
        .primary.comparisons["treatment"]
        .frequentist
    )
    assert last["day"] == experiment.window_end
    assert last["lift"] == pytest.approx(final.absolute_lift, abs=1e-12)
    assert (last["fixed_low"], last["fixed_high"]) == pytest.approx(final.absolute_ci, abs=1e-12)
    assert (series["low"] <= series["fixed_low"]).all() and (series["high"] >= series["fixed_high"]).all()
    # Customers are counted from their assignment day (the sample bank assigns over two days).
    assert aggregates["look0__n"].sum() < last["customers"] == 7755 + 7756
    assert (series["customers"].diff().drop_nulls() >= 0).all()


def test_segment_breakdown_adds_up_and_uses_benjamini_hochberg(backend, snapshot):
    experiment = bank.load_experiment(backend, "exp01_savings_nudge", snapshot=snapshot)
    table = breakdown.segment_breakdown(backend, experiment, metric="conversion", dimension="region")
    assert table["control_n"].sum() + table["treatment_n"].sum() == 7755 + 7756
    tested = table.filter(pl.col("p_value").is_not_null())
    expected = multipletests(tested["p_value"].to_numpy(), method="fdr_bh")[1]
    assert np.allclose(tested["p_adjusted"].to_numpy(), expected, atol=1e-12)
    ages = breakdown.segment_breakdown(backend, experiment, metric="conversion", dimension="age_band")
    assert set(ages["group"].to_list()) <= {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}


def test_refusals_name_the_problem(backend, snapshot):
    with pytest.raises(ValueError, match="No experiment has the id 'nope'. Experiments: exp"):
        bank.load_experiment(backend, "nope", snapshot=snapshot)
    experiment = bank.load_experiment(backend, "exp01_savings_nudge", snapshot=snapshot)
    with pytest.raises(ValueError, match="Unknown segment dimension 'city'"):
        breakdown.segment_breakdown(backend, experiment, metric="conversion", dimension="city")  # type: ignore[arg-type]
    # Gender is for the fairness audit only: the A/B tests page does not offer it.
    assert "gender" in breakdown.BREAKDOWN_DIMENSIONS and "gender" not in breakdown.SEGMENT_DIMENSIONS


def test_list_experiments_counts_every_assignment(backend):
    listing = bank.list_experiments(backend)
    assert (
        listing.height == 4
        and listing["customers"].sum() == 7755 + 7756 + 7805 + 7806 + 8353 + 9050 + 8753 + 8752
    )
    assert set(listing["status"].to_list()) == {"running", "completed"}


# -- external experiments ---------------------------------------------------------------------
def _rows() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 4000
    variant = np.where(rng.random(n) < 0.5, "A", "B")
    pre = rng.gamma(2.0, 50.0, n)
    y = 0.8 * pre + rng.normal(0, 20, n) + np.where(variant == "B", 5.0, 0.0)
    return pl.DataFrame({"group": variant, "spend": y, "spend_pre": pre})


def test_per_customer_rows_and_per_arm_summaries_give_the_same_read_out():
    rows = _rows()
    arms, kind = external.external_arms(rows, variant_col="group", control="A", metric="spend")
    assert kind == "mean" and [a.name for a in arms] == ["A", "B"]
    summary = rows.group_by("group").agg(
        pl.len().alias("n"), pl.col("spend").sum().alias("sum"), (pl.col("spend") ** 2).sum().alias("sum_sq")
    )
    sum_arms, _ = external.external_arms(
        summary, variant_col="group", control="A", metric="spend", summary=True
    )
    a = external.read_out_external(arms, kind=kind, metric="spend", design=(50, 50))
    b = external.read_out_external(sum_arms, kind=kind, metric="spend", design=(50, 50))
    fa, fb = a.comparisons["B"].frequentist, b.comparisons["B"].frequentist
    assert fa.p_value == pytest.approx(fb.p_value, rel=1e-9) and fa.absolute_ci == pytest.approx(
        fb.absolute_ci
    )
    with_cov, _ = external.external_arms(
        rows, variant_col="group", control="A", metric="spend", covariate="spend_pre"
    )
    cuped = external.read_out_external(with_cov, kind=kind, metric="spend", design=(50, 50), cuped=True)
    assert cuped.comparisons["B"].cuped.variance_reduction > 0.5
    assert "B raised spend" in cuped.decision


def test_external_refusals_name_file_row_and_column():
    rows = _rows()
    with pytest.raises(ValueError, match="Column 'nope' is not in the file"):
        external.external_arms(rows, variant_col="nope", control="A", metric="spend")
    with pytest.raises(
        ValueError, match="The control arm 'C' is not a value of column 'group' \\(its values: A, B\\)"
    ):
        external.external_arms(rows, variant_col="group", control="C", metric="spend")
    text = rows.with_columns(pl.col("spend").cast(pl.String)).with_columns(
        pl.when(pl.int_range(pl.len()) == 6).then(pl.lit("n/a")).otherwise(pl.col("spend")).alias("spend")
    )
    with pytest.raises(
        ValueError, match="Column 'spend' must hold numbers \\(or true/false\\); row 7 holds 'n/a'"
    ):
        external.external_arms(text, variant_col="group", control="A", metric="spend")
    with pytest.raises(ValueError, match="single arm"):
        external.external_arms(
            rows.filter(pl.col("group") == "A"), variant_col="group", control="A", metric="spend"
        )
    summary = pl.DataFrame({"arm": ["A", "B"], "n": [100, -5], "sum": [10.0, 12.0], "sum_sq": [10.0, 12.0]})
    with pytest.raises(ValueError, match="Arm 'B': n is negative"):
        external.external_arms(summary, variant_col="arm", control="A", metric="m", summary=True)
    empty = summary.with_columns(pl.Series("n", [100, 0]))
    with pytest.raises(ValueError, match="Arm 'B' has no customers"):
        external.external_arms(empty, variant_col="arm", control="A", metric="m", summary=True)
    with pytest.raises(ValueError, match="must give one share per arm"):
        external.parse_design("50,30,20", 2)
    assert external.parse_design(None, 4) == (25.0, 25.0, 25.0, 25.0)


def test_conversions_all_zero_in_both_arms_is_a_message_not_nan():
    rows = pl.DataFrame({"v": ["a", "b"] * 50, "converted": [0] * 100})
    arms, kind = external.external_arms(rows, variant_col="v", control="a", metric="converted")
    assert kind == "proportion"
    with pytest.raises(ValueError):
        external.read_out_external(arms, kind=kind, metric="converted", design=(50, 50))


def test_summary_arms_of_binary_data_are_read_as_proportions():
    summary = pl.DataFrame(
        {"arm": ["A", "B"], "n": [1000, 1000], "sum": [100.0, 130.0], "sum_sq": [100.0, 130.0]}
    )
    arms, kind = external.external_arms(
        summary, variant_col="arm", control="A", metric="converted", summary=True
    )
    assert kind == "proportion"
    result = external.read_out_external(arms, kind=kind, metric="conversion", design=(50, 50))
    assert isinstance(result.comparisons["B"], Comparison)
    assert result.comparisons["B"].frequentist.absolute_lift == pytest.approx(0.03)


def test_review_edge_cases_are_messages_not_tracebacks(backend, snapshot):
    nulls = pl.DataFrame({"v": ["a", None, "b", "a"], "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="Column 'v' has no value on row 2"):
        external.external_arms(nulls, variant_col="v", control="a", metric="y")
    fraction = pl.DataFrame({"arm": ["A", "B"], "n": [10.5, 10.0], "sum": [1.0, 2.0], "sum_sq": [1.0, 2.0]})
    with pytest.raises(ValueError, match="Arm 'A': n must be a whole number of customers, got 10.5"):
        external.external_arms(fraction, variant_col="arm", control="A", metric="m", summary=True)
    flags = pl.DataFrame({"treated": [True, False] * 50, "y": [1, 0, 0, 0] * 25})
    arms, _ = external.external_arms(flags, variant_col="treated", control="false", metric="y")
    assert [a.name for a in arms] == ["false", "true"]  # the names the page offers (text)
    # Control all 0, treatment all 1, with a covariate: no variance to adjust, the raw read-out stands.
    split = pl.DataFrame({"v": ["c"] * 20 + ["t"] * 20, "y": [0] * 20 + [1] * 20, "x": [0, 1] * 20})
    arms, kind = external.external_arms(split, variant_col="v", control="c", metric="y", covariate="x")
    result = external.read_out_external(arms, kind=kind, metric="conversion", design=(50, 50), cuped=True)
    assert result.comparisons["t"].cuped is None and result.decision.startswith(
        "T raised conversion by 100.00 pp"
    )
    with pytest.raises(ValueError, match="alpha must be strictly between 0 and 1, got 1.5"):
        experiments.read_out(backend, "exp01_savings_nudge", snapshot=snapshot, alpha=1.5)
