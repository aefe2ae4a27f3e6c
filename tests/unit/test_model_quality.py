"""Model quality measures against references: scikit-learn's metrics on simulated scores, the
Mann-Whitney U statistic for AUC, hand-computed lift/gains and PSI tables, and the PSI identity
with the symmetrised Kullback-Leibler divergence (scipy.stats.entropy)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import entropy, mannwhitneyu
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from analytics.models import quality as mq


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3,000 customers, outcome drawn from a true probability; a good and a weak model score."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=3000)
    p_true = 1 / (1 + np.exp(-(x - 1.5)))
    y = (rng.random(3000) < p_true).astype(int)
    weak = 1 / (1 + np.exp(-(0.4 * x + rng.normal(scale=1.0, size=3000) - 1.5)))
    return y, p_true, weak


# -- ROC and PR ----------------------------------------------------------------------------------


def test_roc_auc_matches_sklearn_and_mann_whitney(simulated):
    y, score, _ = simulated
    result = mq.roc_curve_frame(y, score)
    assert result.auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    # AUC = U / (n1 n0), the Mann-Whitney statistic of the positives' scores.
    u = mannwhitneyu(score[y == 1], score[y == 0]).statistic
    assert result.auc == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)
    assert (result.customers, result.positives) == (3000, int(y.sum()))


def test_roc_curve_is_thinned_keeping_the_ends(simulated):
    y, score, _ = simulated
    frame = mq.roc_curve_frame(y, score, max_points=50).frame
    assert 2 <= frame.height <= 50
    assert frame.row(0, named=True) == {"fpr": 0.0, "tpr": 0.0, "threshold": None}
    assert (frame["fpr"][-1], frame["tpr"][-1]) == (1.0, 1.0)
    assert frame["fpr"].is_sorted() and frame["tpr"].is_sorted()
    assert frame["threshold"].null_count() == 1


def test_roc_small_published_example():
    # scikit-learn's roc_auc_score docstring example: AUC 0.75.
    result = mq.roc_curve_frame([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert result.auc == 0.75
    assert result.frame["fpr"].to_list() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert result.frame["tpr"].to_list() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_pr_curve_matches_sklearn(simulated):
    y, score, _ = simulated
    result = mq.pr_curve_frame(y, score, max_points=80)
    assert result.average_precision == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert result.prevalence == pytest.approx(y.mean())
    assert result.frame.height <= 80
    first, last = result.frame.row(0, named=True), result.frame.row(-1, named=True)
    assert first["recall"] == 1.0 and first["precision"] == pytest.approx(y.mean())
    assert (last["recall"], last["precision"], last["threshold"]) == (0.0, 1.0, None)


def test_pr_small_published_example():
    # scikit-learn's average_precision_score docstring example: 0.83...
    assert mq.pr_curve_frame([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).average_precision == pytest.approx(5 / 6)


# -- calibration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibration_values_match_sklearn(simulated, strategy):
    y, score, _ = simulated
    frame = mq.calibration_frame(y, score, bins=10, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(frame["observed_rate"].to_numpy(), prob_true)
    np.testing.assert_allclose(frame["mean_predicted"].to_numpy(), prob_pred)
    assert frame["customers"].sum() == y.size


def test_calibration_counts_by_hand():
    # Uniform bins of width 0.5 are (0, 0.5] and (0.5, 1]: 0.5 itself is in the first one.
    y = [0, 0, 1, 1, 1]
    score = [0.1, 0.5, 0.2, 0.7, 0.9]
    frame = mq.calibration_frame(y, score, bins=2, strategy="uniform")
    assert frame["customers"].to_list() == [3, 2]
    assert frame["observed_rate"].to_list() == pytest.approx([1 / 3, 1.0])
    assert frame["mean_predicted"].to_list() == pytest.approx([0.8 / 3, 0.8])
    # A bin with nobody in it is left out (0.5..1 here).
    frame = mq.calibration_frame([0, 1, 1], [0.1, 0.2, 0.3], bins=2, strategy="uniform")
    assert frame["bin"].to_list() == [0] and frame["customers"].to_list() == [3]


def test_calibration_of_true_probabilities_is_on_the_diagonal(simulated):
    # Planted truth: y was drawn with probability p_true, so every bin's rate is near its mean.
    y, p_true, _ = simulated
    frame = mq.calibration_frame(y, p_true, bins=5)
    gap = (frame["observed_rate"] - frame["mean_predicted"]).abs().max()
    assert gap < 0.05


# -- lift and gains ------------------------------------------------------------------------------

# Ten customers (given out of order), four positives: overall rate 0.4.
#   score 0.95 0.90 | 0.80 0.70 | 0.60 0.50 | 0.40 0.30 | 0.20 0.10
#   y     1    1    | 1    0    | 0    1    | 0    0    | 0    0
# Groups of two: positives 2, 1, 1, 0, 0; rate 1, .5, .5, 0, 0; lift 2.5, 1.25, 1.25, 0, 0;
# gains 2/4, 3/4, 4/4, 1, 1; cumulative lift 0.5/0.2, 0.75/0.4, 1/0.6, 1/0.8, 1/1.
LIFT_SCORES = [0.3, 0.95, 0.6, 0.1, 0.8, 0.5, 0.9, 0.2, 0.7, 0.4]
LIFT_LABELS = [0, 1, 0, 0, 1, 1, 1, 0, 0, 0]


def test_lift_gains_hand_example():
    frame = mq.lift_gains_frame(LIFT_LABELS, LIFT_SCORES, groups=5)
    assert frame["customers"].to_list() == [2] * 5
    assert frame["positives"].to_list() == [2, 1, 1, 0, 0]
    assert frame["max_score"].to_list() == [0.95, 0.8, 0.6, 0.4, 0.2]
    assert frame["min_score"].to_list() == [0.9, 0.7, 0.5, 0.3, 0.1]
    assert frame["rate"].to_list() == pytest.approx([1.0, 0.5, 0.5, 0.0, 0.0])
    assert frame["lift"].to_list() == pytest.approx([2.5, 1.25, 1.25, 0.0, 0.0])
    assert frame["cumulative_share"].to_list() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert frame["gains"].to_list() == pytest.approx([0.5, 0.75, 1.0, 1.0, 1.0])
    assert frame["cumulative_lift"].to_list() == pytest.approx([2.5, 1.875, 1 / 0.6, 1.25, 1.0])


def test_lift_deciles_of_ten_customers_are_single_customers():
    frame = mq.lift_gains_frame(LIFT_LABELS, LIFT_SCORES)
    assert frame["lift"].to_list() == pytest.approx([2.5, 2.5, 2.5, 0, 0, 2.5, 0, 0, 0, 0])


def test_lift_uneven_groups_give_the_extra_customer_to_the_top():
    frame = mq.lift_gains_frame([1, 0, 0, 1, 0, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], groups=3)
    assert frame["customers"].to_list() == [3, 2, 2]
    assert frame["positives"].to_list() == [1, 1, 0]


# -- confusion matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.05, 0.2, 0.5, 0.8])
def test_confusion_at_matches_sklearn(simulated, threshold):
    y, score, _ = simulated
    result = mq.confusion_at(y, score, threshold)
    pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert (result.tp, result.fp, result.tn, result.fn) == (tp, fp, tn, fn)
    assert result.precision == pytest.approx(precision_score(y, pred))
    assert result.recall == pytest.approx(recall_score(y, pred))
    assert result.specificity == pytest.approx(recall_score(y, pred, pos_label=0))
    assert result.f1 == pytest.approx(f1_score(y, pred))
    assert result.accuracy == pytest.approx(accuracy_score(y, pred))
    assert result.undefined == ()


def test_confusion_at_undefined_is_none_with_a_reason():
    # Nobody scores at or above 0.9: precision has nothing under it.
    result = mq.confusion_at([0, 1, 0], [0.2, 0.6, 0.1], 0.9)
    assert (result.tp, result.fp, result.tn, result.fn) == (0, 0, 2, 1)
    assert result.precision is None
    assert result.recall == 0.0 and result.f1 == 0.0 and result.specificity == 1.0
    assert len(result.undefined) == 1 and result.undefined[0].startswith("precision:")
    # Only negatives and nobody predicted positive: precision, recall and F1 are all undefined.
    result = mq.confusion_at([0, 0], [0.1, 0.2], 0.5)
    assert result.recall is None and result.f1 is None and result.precision is None
    assert result.accuracy == 1.0
    assert [r.split(":")[0] for r in result.undefined] == ["precision", "recall", "f1"]


def test_confusion_threshold_outside_unit_interval():
    with pytest.raises(ValueError, match="threshold must be between 0 and 1, got 1.5"):
        mq.confusion_at([0, 1], [0.2, 0.7], 1.5)


# -- model comparison ----------------------------------------------------------------------------


def test_compare_models_matches_sklearn(simulated):
    y, good, weak = simulated
    frame = mq.compare_models(y, {"tree": good, "baseline": weak}, baseline="baseline")
    assert frame["model"].to_list() == ["tree", "baseline"]
    for name, p in (("tree", good), ("baseline", weak)):
        row = frame.filter(pl.col("model") == name).row(0, named=True)
        assert row["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert row["average_precision"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
        assert row["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
        assert row["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    tree = frame.row(0, named=True)
    assert tree["auc_change"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, weak))
    assert tree["brier_change"] == pytest.approx(brier_score_loss(y, good) - brier_score_loss(y, weak))
    assert frame.row(1, named=True)["log_loss_change"] == 0.0
    assert tree["auc_change"] > 0  # planted: the true probability ranks better than the weak score


def test_compare_models_without_baseline_has_no_change_columns(simulated):
    y, good, _ = simulated
    frame = mq.compare_models(y, {"tree": good})
    assert frame.columns == ["model", "auc", "average_precision", "brier", "log_loss"]


def test_compare_models_bad_inputs(simulated):
    y, good, _ = simulated
    with pytest.raises(ValueError, match=r"Baseline 'glm' is not among the models: tree"):
        mq.compare_models(y, {"tree": good}, baseline="glm")
    with pytest.raises(ValueError, match="No models"):
        mq.compare_models(y, {})
    with pytest.raises(ValueError, match=r"the scores of 'tree' must be probabilities .* row 1 has 1.2"):
        mq.compare_models([0, 1], {"tree": [0.2, 1.2]})


# -- input checks --------------------------------------------------------------------------------


def test_lengths_differ_message():
    with pytest.raises(ValueError, match="y has 3 values but score has 2"):
        mq.roc_curve_frame([0, 1, 1], [0.1, 0.2])


def test_labels_not_binary_message():
    with pytest.raises(ValueError, match=r"y must hold only 0 and 1; found 2.0 \(first at row 2\)"):
        mq.pr_curve_frame([0, 1, 2], [0.1, 0.2, 0.3])


def test_single_class_message():
    with pytest.raises(ValueError, match="outcome 1: the ROC curve and its AUC needs both outcomes"):
        mq.roc_curve_frame([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="outcome 0: AUC"):
        mq.compare_models([0, 0], {"m": [0.1, 0.2]})


def test_missing_score_and_bad_groups_messages():
    with pytest.raises(ValueError, match="score holds a missing or infinite value at row 1"):
        mq.lift_gains_frame([0, 1], [0.1, float("nan")])
    with pytest.raises(
        ValueError, match=r"groups must be a whole number from 1 to the number of customers \(2\)"
    ):
        mq.lift_gains_frame([0, 1], [0.1, 0.2], groups=3)
    with pytest.raises(ValueError, match="No customer in y has the outcome 1"):
        mq.lift_gains_frame([0, 0], [0.1, 0.2], groups=2)
    with pytest.raises(ValueError, match="max_points must be at least 2"):
        mq.roc_curve_frame([0, 1], [0.1, 0.2], max_points=1)
    with pytest.raises(ValueError, match="Unknown calibration strategy 'kmeans'"):
        mq.calibration_frame([0, 1], [0.1, 0.2], strategy="kmeans")


# -- population stability ------------------------------------------------------------------------


def test_psi_hand_example_with_exact_shares():
    # Training 0..99 in quartile bins of 25 each; the latest month puts 40/30/20/10 % in them.
    # PSI = .15 ln 1.6 + .05 ln 1.2 - .05 ln .8 - .15 ln .4
    #     = .0705006 + .0091161 + .0111572 + .1374436 = 0.2282175
    expected = np.arange(100.0)
    actual = np.concatenate([np.full(40, 5.0), np.full(30, 30.0), np.full(20, 60.0), np.full(10, 90.0)])
    table = mq.psi_bin_table(expected, actual, bins=4)
    assert table["bin"].to_list() == [
        "< 0",
        "[0, 24.75)",
        "[24.75, 49.5)",
        "[49.5, 74.25)",
        ">= 74.25",
    ]
    assert table["expected_share"].to_list() == pytest.approx([0, 0.25, 0.25, 0.25, 0.25])
    assert table["actual_share"].to_list() == pytest.approx([0, 0.4, 0.3, 0.2, 0.1])
    psi = mq.population_stability_index(expected, actual, bins=4)
    assert psi == pytest.approx(0.2282175, abs=1e-7)
    assert mq.psi_band(psi) == "watch"


def test_psi_empty_bin_uses_the_stated_epsilon():
    # Nobody in the top quartile in the latest month: its share is taken as 1e-4.
    expected = np.arange(100.0)
    actual = np.concatenate([np.full(50, 5.0), np.full(25, 30.0), np.full(25, 60.0)])
    terms = [
        (0.5 - 0.25) * math.log(0.5 / 0.25),
        0.0,
        0.0,
        (1e-4 - 0.25) * math.log(1e-4 / 0.25),
    ]
    assert mq.PSI_EPSILON == 1e-4
    assert mq.population_stability_index(expected, actual, bins=4) == pytest.approx(sum(terms), abs=1e-9)


def test_psi_missing_values_are_their_own_bin():
    # Training: 80 values (20 per quartile) and 20 missing; latest: the same 80 and 120 missing.
    # PSI = 4 (.1 - .2) ln .5 + (.6 - .2) ln 3 = .2772589 + .4394449 = 0.7167038
    values = list(range(80))
    expected = pl.Series("x", values + [None] * 20, dtype=pl.Float64)
    actual = pl.Series("x", values + [None] * 120, dtype=pl.Float64)
    table = mq.psi_bin_table(expected, actual, bins=4)
    assert table["bin"][-1] == mq.MISSING_BIN
    assert table["actual_share"][-1] == pytest.approx(0.6)
    assert mq.population_stability_index(expected, actual, bins=4) == pytest.approx(0.7167038, abs=1e-7)


def test_psi_equals_symmetrised_kl_divergence():
    # With no empty bin, PSI is KL(a || e) + KL(e || a) of the binned shares (Jeffreys divergence).
    rng = np.random.default_rng(3)
    expected = rng.normal(size=5000)
    actual = rng.normal(0.3, 1.2, size=4000)
    actual = actual[(actual >= expected.min()) & (actual <= expected.max())]  # no outer-bin values
    table = mq.psi_bin_table(expected, actual, bins=10).filter(pl.col("expected_share") > 0)
    e, a = table["expected_share"].to_numpy(), table["actual_share"].to_numpy()
    assert table.height == 10 and (a > 0).all()
    reference = entropy(a, e) + entropy(e, a)
    assert mq.population_stability_index(expected, actual) == pytest.approx(reference, rel=1e-12)


def test_psi_of_a_sample_with_itself_is_zero_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(11)
    base = rng.normal(size=20000)
    assert mq.population_stability_index(base, base) == 0.0
    noise = rng.normal(size=20000)
    psis = [mq.population_stability_index(base, noise + shift) for shift in (0.0, 0.1, 0.25, 0.5, 1.0)]
    assert psis == sorted(psis)
    assert psis[0] < 0.01 and mq.psi_band(psis[-1]) == "shifted"


def test_psi_ties_and_constant_columns():
    # 60 % zeros: tied quantile edges merge, the same sample still gives 0.
    x = np.concatenate([np.zeros(60), np.arange(1.0, 41.0)])
    table = mq.psi_bin_table(x, x, bins=10)
    assert table["bin"].n_unique() == table.height
    # Quantile 0.6 interpolates between the last zero and 1 (0.4): the zeros fill [0, 0.4).
    assert (table["bin"][1], table["expected_share"][1]) == ("[0, 0.4)", pytest.approx(0.6))
    assert mq.population_stability_index(x, x) == 0.0
    # A constant feature gets the bins below / at / above it.
    constant = np.full(50, 5.0)
    assert mq.psi_bin_table(constant, constant)["bin"].to_list() == ["< 5", "= 5", "> 5"]
    assert mq.population_stability_index(constant, constant) == 0.0
    moved = mq.population_stability_index(constant, np.full(50, 6.0))
    assert moved == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4))


@pytest.mark.parametrize(
    ("psi", "band"),
    [
        (0.0, "stable"),
        (0.0999999, "stable"),
        (0.1, "watch"),
        (0.2499999, "watch"),
        (0.25, "shifted"),
        (3.0, "shifted"),
    ],
)
def test_psi_band_edges(psi, band):
    assert mq.psi_band(psi) == band


def test_psi_rare_flag_keeps_its_own_bin():
    # 5 % ones in training, 20 % in the latest month: one bin per value (few distinct values).
    # PSI = (.8 - .95) ln(.8 / .95) + (.2 - .05) ln 4 = .0257775 + .2079442 = 0.2337217
    expected = np.array([1] * 5 + [0] * 95)
    actual = np.array([1] * 20 + [0] * 80)
    assert mq.psi_bin_table(expected, actual)["bin"].to_list() == ["< 0", "[0, 1)", ">= 1"]
    assert mq.population_stability_index(expected, actual) == pytest.approx(0.2337217, abs=1e-7)


def test_psi_table_per_feature():
    rng = np.random.default_rng(5)
    train = pl.DataFrame(
        {"stable": rng.normal(size=4000), "moved": rng.normal(size=4000), "name": ["a"] * 4000}
    )
    latest = pl.DataFrame(
        {"stable": rng.normal(size=3000), "moved": rng.normal(1.0, 1.0, size=3000), "name": ["b"] * 3000}
    )
    table = mq.psi_table(train, latest, ["moved", "stable"])
    flags = mq.psi_table(
        pl.DataFrame({"has_card": [True] * 5 + [False] * 95}),
        pl.DataFrame({"has_card": [True] * 20 + [False] * 80}),
        ["has_card"],
    )
    assert flags["psi"][0] == pytest.approx(0.2337217, abs=1e-7)  # Booleans read as 0/1
    assert table["feature"].to_list() == ["moved", "stable"]
    assert table["band"].to_list() == ["shifted", "stable"]
    assert table["psi"][0] == pytest.approx(mq.population_stability_index(train["moved"], latest["moved"]))
    assert table["missing_actual"].to_list() == [0.0, 0.0]
    with pytest.raises(ValueError, match="Feature 'age' is not a column of the training frame"):
        mq.psi_table(train, latest, ["age"])
    with pytest.raises(ValueError, match="Feature 'name' is not numeric"):
        mq.psi_table(train, latest, ["name"])
    with pytest.raises(ValueError, match="The actual \\(latest\\) sample of 'moved' is empty"):
        mq.psi_table(train, latest.clear(), ["moved"])
    with pytest.raises(ValueError, match="bins must be a whole number of at least 2, got 1"):
        mq.psi_table(train, latest, ["moved"], bins=1)
