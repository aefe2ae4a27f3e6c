"""Fairness audits (issue 7, items 9-10) against references that do not share the module's code:
fairlearn's MetricFrame and scikit-learn on the same rows, statsmodels' meta-analysis for
Cochran's Q, polars computations from the raw tables, and the sample bank's planted biased
credit decision (truth.json ``biased_credit_offer``: women selected at 0.7x men's rate within
every credit band)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.proportion import confint_proportions_2indep

from analytics.fairness import audits as fairness_audit
from analytics.fairness import experiment_equity, exposure_audits, model_audits
from analytics.fairness import metrics as fairness
from analytics.store.database import open_database
from tests.fairness_reference import fairlearn_by_group, with_age_band

THRESHOLD = 0.5
RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy")
OUTCOME_RATES = RATES[1:]


# -- an uploaded table: two protected columns, an outcome and a score ---------------------------------
def _upload(seed: int = 0, n: int = 4000) -> pl.DataFrame:
    """Scores that know the outcome and favour men; rounded to 2 decimals so some sit on the threshold."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    y = rng.binomial(1, np.where(sex == "F", 0.3, 0.4))
    logit = rng.normal(0.0, 1.0, n) + 1.2 * y - 0.8 + 0.3 * (sex == "M") + 0.2 * (region == "east")
    score = np.round(1.0 / (1.0 + np.exp(-logit)), 2)
    return pl.DataFrame({"sex": sex, "region": region, "y": y, "score": score})


GROUP_SETS = (("sex",), ("region",), ("sex", "region"))


def _labels(frame: pl.DataFrame, attrs: tuple[str, ...]) -> np.ndarray:
    return frame.select(pl.concat_str([pl.col(a) for a in attrs], separator=" · ")).to_series().to_numpy()


def test_audit_frame_equals_fairlearn_and_sklearn_on_the_same_rows():
    rows = _upload()
    assert (rows["score"] == THRESHOLD).sum() > 0  # ties on the threshold are decided "at or above"
    audit = fairness_audit.audit_frame(
        rows, y_true="y", groups=["sex", "region"], score="score", threshold=THRESHOLD, source="scores.csv"
    )
    assert audit.kind == "upload" and audit.has_outcome and audit.threshold == THRESHOLD
    assert audit.n == rows.height
    assert [a.attribute for a in audit.attributes] == ["sex", "region", "sex · region"]
    y, s = rows["y"].to_numpy(), rows["score"].to_numpy()
    p = (s >= THRESHOLD).astype(np.int64)
    for attrs, attribute in zip(GROUP_SETS, audit.attributes, strict=True):
        sensitive = rows.select(attrs).to_pandas()
        reference = fairlearn_by_group(y, p, sensitive, attrs)
        metrics = attribute.metrics
        assert sorted(metrics["group"].to_list()) == sorted(reference.index)
        labels = _labels(rows, attrs)
        for row in metrics.iter_rows(named=True):
            for name in RATES:
                assert row[name] == pytest.approx(reference.loc[row["group"], name], abs=1e-9), (
                    attribute.attribute,
                    row["group"],
                    name,
                )
            part = labels == row["group"]
            assert row["n"] == part.sum()
            assert row["auc"] == pytest.approx(roc_auc_score(y[part], s[part]), abs=1e-12)
            assert row["calibration_gap"] == pytest.approx(s[part].mean() - y[part].mean(), abs=1e-12)
        kwargs = {"y_true": y, "y_pred": p, "sensitive_features": sensitive}
        for name, reference_fn in (
            ("demographic_parity_difference", demographic_parity_difference),
            ("demographic_parity_ratio", demographic_parity_ratio),
            ("equalized_odds_difference", equalized_odds_difference),
            ("equalized_odds_ratio", equalized_odds_ratio),
        ):
            assert attribute.disparity(name).value == pytest.approx(reference_fn(**kwargs), abs=1e-9), (
                attribute.attribute,
                name,
            )


def test_a_decision_column_gives_the_counts_of_score_at_or_above_the_threshold():
    rows = _upload(seed=1)
    y, s = rows["y"].to_numpy(), rows["score"].to_numpy()
    p = (s >= THRESHOLD).astype(np.int64)
    decided = rows.drop("score").with_columns(pl.Series("decision", p))
    audit = fairness_audit.audit_frame(decided, y_true="y", groups=["sex", "region"], y_pred="decision")
    assert audit.threshold is None and audit.decision == "decision = 1"
    for attrs, attribute in zip(GROUP_SETS, audit.attributes, strict=True):
        assert "auc" not in attribute.metrics.columns  # no score: no AUC or calibration
        labels = _labels(rows, attrs)
        for row in attribute.metrics.iter_rows(named=True):
            part = labels == row["group"]
            yy, pp = y[part], p[part]
            tp, fp = int(((yy == 1) & (pp == 1)).sum()), int(((yy == 0) & (pp == 1)).sum())
            tn, fn = int(((yy == 0) & (pp == 0)).sum()), int(((yy == 1) & (pp == 0)).sum())
            assert row["n"] == tp + fp + tn + fn
            expected = {
                "selection_rate": (tp + fp) / (tp + fp + tn + fn),
                "true_positive_rate": tp / (tp + fn),
                "false_positive_rate": fp / (fp + tn),
                "precision": tp / (tp + fp),
                "accuracy": (tp + tn) / (tp + fp + tn + fn),
            }
            for name, value in expected.items():
                assert row[name] == pytest.approx(value, abs=1e-12), (row["group"], name)


# -- raw tables of the sample bank, read without the module's Ibis expressions ---------------------
def _customers(db) -> pl.DataFrame:
    return db.query(
        "select customer_id, gender, birth_date, credit_score, joined_at, closed_at, consent_marketing"
        " from customers"
    )


def _contactable(customers: pl.DataFrame, day: date) -> pl.DataFrame:
    return customers.filter(
        (pl.col("joined_at") <= day)
        & (pl.col("closed_at").is_null() | (pl.col("closed_at") > day))
        & pl.col("consent_marketing")
    )


def _selection(population: pl.DataFrame, selected_ids, by: list[str]) -> dict[str, tuple[int, int]]:
    """Group label -> (customers, selected) for a set of selected customer ids."""
    chosen = pl.DataFrame({"customer_id": list(selected_ids)}, schema={"customer_id": pl.Int64}).unique()
    counted = (
        population.join(chosen.with_columns(pl.lit(1).alias("chosen")), on="customer_id", how="left")
        .with_columns(
            pl.concat_str([pl.col(c) for c in by], separator=" · ").alias("group"),
            pl.col("chosen").fill_null(0),
        )
        .group_by("group")
        .agg(pl.len().alias("n"), pl.col("chosen").sum().alias("selected"))
    )
    return {r["group"]: (r["n"], r["selected"]) for r in counted.iter_rows(named=True)}


def _rates_of(attribute: fairness_audit.AttributeAudit) -> dict[str, float]:
    return dict(zip(attribute.metrics["group"], attribute.metrics["selection_rate"], strict=True))


@pytest.fixture(scope="module")
def backend(sample_db):
    return sample_db.backend()


@pytest.fixture(scope="module")
def snapshot(sample_db) -> date:
    return sample_db.snapshot_date()


@pytest.fixture(scope="module")
def customers(sample_db) -> pl.DataFrame:
    return _customers(sample_db)


# -- the planted biased credit decision -----------------------------------------------------------
def test_the_planted_credit_bias_fails_by_gender_overall_and_within_the_credit_bands(
    sample_db, backend, customers, sample_truth
):
    truth = sample_truth["biased_credit_offer"]
    campaigns = sample_db.query("select campaign_id, product_id, start_date from campaigns")
    campaign = (
        campaigns.filter(pl.col("product_id") == "personal_loan")
        .sort("start_date", "campaign_id")
        .row(0, named=True)
    )
    assert campaign["campaign_id"] == truth["campaign_id"]
    eligible = _contactable(customers, campaign["start_date"]).filter(pl.col("credit_score") >= 600)
    offered = sample_db.query(
        "select customer_id from offers where campaign_id = ?", [campaign["campaign_id"]]
    )["customer_id"]
    expected = {g: sel / n for g, (n, sel) in _selection(eligible, offered, ["gender"]).items()}

    audit = exposure_audits.audit_credit_decision(backend)
    assert audit.kind == "credit_decision" and audit.subject_id == str(campaign["campaign_id"])
    assert audit.verdict == "fail" and not audit.has_outcome
    assert audit.n == eligible.height == sum(truth["realized"]["eligible"].values())
    gender = audit.attribute("gender")
    assert gender.verdict == "fail"
    rates = _rates_of(gender)
    assert rates.keys() == expected.keys()
    for group, rate in expected.items():
        assert rates[group] == pytest.approx(rate, abs=1e-12), group
    female_to_male = rates["female"] / rates["male"]
    assert female_to_male == pytest.approx(expected["female"] / expected["male"], abs=1e-12)
    assert female_to_male == pytest.approx(truth["realized"]["four_fifths_ratio"], abs=1e-4)
    assert female_to_male == pytest.approx(truth["planted"]["disadvantaged_to_favoured_ratio"], abs=0.02)
    assert gender.disparity("demographic_parity_ratio").value == pytest.approx(
        min(expected.values()) / max(expected.values()), abs=1e-12
    )
    rule = gender.disparity("four_fifths_rule")
    assert rule.groups[1] == "female" and rule.passed is False and rule.high < 0.8

    strata = audit.strata.filter(pl.col("attribute") == "gender")
    assert sorted(strata["stratum"].unique().to_list()) == truth["credit_bands"]
    planted = truth["planted"]["disadvantaged_to_favoured_ratio"]
    clear_bands = 0
    for band, facts in truth["realized"]["by_band"].items():
        cell = {r["group"]: r for r in strata.filter(pl.col("stratum") == band).iter_rows(named=True)}
        assert {g: r["n"] for g, r in cell.items()} == facts["eligible"], band
        assert {g: r["selected"] for g, r in cell.items()} == facts["selected"], band
        female, male = cell["female"]["selection_rate"], cell["male"]["selection_rate"]
        assert female == pytest.approx(facts["selection_rate_female"], abs=1e-4)
        assert male == pytest.approx(facts["selection_rate_male"], abs=1e-4)
        assert female / male == pytest.approx(facts["ratio_female_to_male"], abs=1e-4)
        assert female / male == pytest.approx(planted, abs=0.01)
        assert cell["female"]["verdict"] in {"fail", "undecided"}, band
        # Women against men in the band: where statsmodels' Katz interval of the ratio lies wholly
        # below 0.8 the band must fail. (In 600-649 it reaches 0.801: 0.70 on ~1,250 customers a
        # group is not clearly below 0.8 at 95%, so undecided is as right as fail there.)
        _, upper = confint_proportions_2indep(
            facts["selected"]["female"],
            facts["eligible"]["female"],
            facts["selected"]["male"],
            facts["eligible"]["male"],
            method="log",
            compare="ratio",
        )
        if upper < 0.8:
            clear_bands += 1
            assert cell["female"]["verdict"] == "fail", band
    assert clear_bands >= 3


# -- targeting lists -------------------------------------------------------------------------------
def test_a_random_targeting_list_is_never_failed_and_its_rates_equal_polars(backend, customers, snapshot):
    population = _contactable(customers, snapshot)
    rng = np.random.default_rng(20261107)
    ids = rng.choice(population["customer_id"].to_numpy(), size=round(0.3 * population.height), replace=False)
    audit = exposure_audits.audit_targeting(backend, ids.tolist(), as_of=snapshot, groups=("gender",))
    assert audit.kind == "targeting" and audit.n == population.height and not audit.has_outcome
    expected = {g: sel / n for g, (n, sel) in _selection(population, ids.tolist(), ["gender"]).items()}
    gender = audit.attribute("gender")
    rates = _rates_of(gender)
    for group, rate in expected.items():
        assert rates[group] == pytest.approx(rate, abs=1e-12), group
    assert gender.disparity("demographic_parity_ratio").value == pytest.approx(
        min(expected.values()) / max(expected.values()), abs=1e-12
    )
    # A list drawn at random is fair by construction: it may be too noisy to pass, never fail.
    assert gender.verdict != "fail"


def test_a_list_drawn_at_random_within_each_gender_passes_on_gender(backend, customers, snapshot):
    # 30% of every gender, drawn at random: the selection rates are equal up to rounding, and the
    # smallest group (gender "other", about 235 contactable customers) is far above MIN_GROUP_SIZE.
    population = _contactable(customers, snapshot)
    rng = np.random.default_rng(7)
    ids = np.concatenate(
        [
            rng.choice(part["customer_id"].to_numpy(), size=round(0.3 * part.height), replace=False)
            for _, part in population.sort("gender").group_by("gender", maintain_order=True)
        ]
    )
    counted = _selection(population, ids.tolist(), ["gender"])
    expected = {g: sel / n for g, (n, sel) in counted.items()}
    ratio = min(expected.values()) / max(expected.values())
    assert ratio > 0.99 and min(n for n, _ in counted.values()) > 200
    audit = exposure_audits.audit_targeting(backend, ids.tolist(), as_of=snapshot, groups=("gender",))
    rule = audit.attribute("gender").disparity("four_fifths_rule")
    assert rule.value == pytest.approx(ratio, abs=1e-12)
    # The interval of a ratio must hold its own estimate; a ratio of 0.99 is clearly inside 0.8-1.25.
    assert rule.low <= rule.value <= rule.high, (rule.low, rule.value, rule.high)
    assert audit.attribute("gender").verdict == "pass", audit.attribute("gender").reason


def test_a_list_of_all_the_men_and_a_third_of_the_women_fails(backend, customers, snapshot):
    population = _contactable(customers, snapshot)
    men = population.filter(pl.col("gender") == "male")["customer_id"].to_numpy()
    women = population.filter(pl.col("gender") == "female")["customer_id"].to_numpy()
    others = population.filter(~pl.col("gender").is_in(["male", "female"]))["customer_id"].to_numpy()
    rng = np.random.default_rng(11)
    thirds = [rng.choice(x, size=round(x.size / 3), replace=False) for x in (women, others)]
    ids = np.concatenate([men, *thirds])
    audit = exposure_audits.audit_targeting(backend, ids.tolist(), as_of=snapshot, groups=("gender",))
    gender = audit.attribute("gender")
    assert gender.verdict == "fail" and audit.verdict == "fail"
    rates = _rates_of(gender)
    assert rates["male"] == 1.0
    assert rates["female"] == pytest.approx(round(women.size / 3) / women.size, abs=1e-12)
    assert gender.disparity("demographic_parity_ratio").value == pytest.approx(min(rates.values()), abs=1e-12)
    rule = gender.disparity("four_fifths_rule")
    assert rule.groups[0] == "male" and rule.groups[1] in {"female", "other"} and rule.passed is False
    assert (gender.rule.rule, gender.rule.threshold) == ("four-fifths", 0.8)
    assert gender.rule.interval_method == "katz-log"
    assert audit.rule.rule == "four-fifths" and audit.rule.min_group_size == fairness.MIN_GROUP_SIZE


def test_a_verdict_decided_by_a_group_nobody_was_selected_from_names_the_adjusted_interval():
    # Group b: 50 customers, none selected; a: 50, half selected. Katz's log interval needs a
    # selected count above 0, so 0.5 is added and the rule record says so.
    frame = pl.DataFrame({"y": [0, 1] * 50, "d": [1, 0] * 25 + [0] * 50, "g": ["a"] * 50 + ["b"] * 50})
    audit = fairness_audit.audit_frame(frame, y_true="y", y_pred="d", groups=["g"], source="t")
    attribute = audit.attribute("g")
    assert attribute.verdict == "fail"
    assert attribute.rule.interval_method == "katz-log, 0.5 added"
    assert attribute.rule.as_dict()["rule"] == "four-fifths"
    assert attribute.rule.as_dict()["rule_threshold"] == 0.8


def test_targeting_lists_outside_the_population_or_empty_are_refused(backend, customers, snapshot):
    population = _contactable(customers, snapshot)
    inside = population["customer_id"].head(50).to_list()
    outsider = customers.filter(~pl.col("consent_marketing"))["customer_id"][0]
    with pytest.raises(ValueError) as info:
        exposure_audits.audit_targeting(backend, [*inside, outsider], as_of=snapshot)
    assert str(info.value) == exposure_audits.MSG_UNKNOWN_TARGETS.format(count=1, example=outsider)
    unknown = 10**12
    with pytest.raises(ValueError) as info:
        exposure_audits.audit_targeting(backend, [*inside, outsider, unknown, unknown], as_of=snapshot)
    assert str(info.value) in {
        exposure_audits.MSG_UNKNOWN_TARGETS.format(count=2, example=e) for e in (outsider, unknown)
    }
    with pytest.raises(ValueError) as info:
        exposure_audits.audit_targeting(backend, [], as_of=snapshot)
    assert str(info.value) == exposure_audits.MSG_EMPTY_TARGETING


# -- a campaign's exposure -----------------------------------------------------------------------------
def test_exposure_rates_equal_polars_on_the_raw_tables_and_outcome_rates_do_not_apply(
    sample_db, backend, customers
):
    campaigns = sample_db.query("select campaign_id, start_date from campaigns order by campaign_id")
    campaign = campaigns.row(0, named=True)
    start = campaign["start_date"]
    population = with_age_band(_contactable(customers, start), start)
    offered = sample_db.query(
        "select customer_id from offers where campaign_id = ?", [campaign["campaign_id"]]
    )["customer_id"]
    audit = exposure_audits.audit_exposure(backend, campaign["campaign_id"])
    assert audit.kind == "offers" and not audit.has_outcome and audit.as_of == start
    assert audit.n == population.height
    assert exposure_audits.EXPOSURE_NOTE in audit.notes
    assert [a.attribute for a in audit.attributes] == ["gender", "age_band", "gender · age_band"]
    sets = (["gender"], ["age_band"], ["gender", "age_band"])
    for attrs, attribute in zip(sets, audit.attributes, strict=True):
        expected = _selection(population, offered, attrs)
        metrics = attribute.metrics
        assert sorted(metrics["group"].to_list()) == sorted(expected)
        for row in metrics.iter_rows(named=True):
            n, selected = expected[row["group"]]
            assert row["n"] == n
            assert row["selection_rate"] == pytest.approx(selected / n, abs=1e-12), row["group"]
            assert all(row[name] is None for name in OUTCOME_RATES), row
        assert attribute.disparity("equalized_odds_difference").value is None
        assert attribute.disparity("equalized_odds_ratio").value is None
        rates = {g: s / n for g, (n, s) in expected.items()}
        assert attribute.disparity("demographic_parity_difference").value == pytest.approx(
            max(rates.values()) - min(rates.values()), abs=1e-12
        )
    known = ", ".join(str(c) for c in campaigns["campaign_id"].to_list())
    with pytest.raises(ValueError) as info:
        exposure_audits.audit_exposure(backend, 9999)
    assert str(info.value) == exposure_audits.MSG_UNKNOWN_CAMPAIGN.format(campaign_id=9999, known=known)


# -- Cochran's Q and experiment equity -------------------------------------------------------------
@pytest.mark.parametrize(
    ("effects", "standard_errors"),
    [
        ([0.10, 0.30, 0.25, -0.05], [0.10, 0.14, 0.12, 0.17]),
        ([0.012, 0.031], [0.006, 0.011]),
        ([1.5, 0.2, 0.9, 1.1, 0.4, 2.0], [0.3, 0.25, 0.5, 0.2, 0.4, 0.9]),
    ],
)
def test_cochran_q_equals_statsmodels_combine_effects(effects, standard_errors):
    effects, standard_errors = np.array(effects), np.array(standard_errors)
    q, df, p = experiment_equity.cochran_q(effects, standard_errors)
    reference = combine_effects(effects, np.square(standard_errors))
    homogeneity = reference.test_homogeneity()
    assert q == pytest.approx(reference.q, abs=1e-9)
    assert q == pytest.approx(homogeneity.statistic, abs=1e-9)
    assert df == reference.df == homogeneity.df == effects.size - 1
    assert p == pytest.approx(homogeneity.pvalue, abs=1e-9)


def test_cochran_q_on_a_hand_computed_case_reaches_the_published_critical_value():
    # Three estimates 0, 0, d with SE 1: the weighted mean is d/3 and Q = 2d^2/3 by hand. With
    # d^2 = 1.5 x 5.991, Q is the published 5% critical value of chi-square with 2 df (5.991).
    assert stats.chi2.sf(5.991, 2) == pytest.approx(0.05, abs=1e-4)
    effects = np.array([0.0, 0.0, np.sqrt(5.991 * 1.5)])
    q, df, p = experiment_equity.cochran_q(effects, np.ones(3))
    assert (round(q, 3), df) == (5.991, 2) and p == pytest.approx(0.05, abs=1e-4)


def test_experiment_equity_lifts_and_q_equal_a_polars_recomputation(sample_db, backend, snapshot):
    experiment_id = "exp01_savings_nudge"
    row = sample_db.query(
        "select campaign_id, end_date, primary_metric from experiments where experiment_id = ?",
        [experiment_id],
    ).row(0, named=True)
    assert row["primary_metric"] == "conversion"
    # Conversion: the customer converted on an offer of the experiment's campaign by the window's end.
    window_end = min(row["end_date"], snapshot)
    after_end = datetime.combine(window_end + timedelta(days=1), time())
    converted = sample_db.query(
        "select distinct customer_id from offers where campaign_id = ? and converted_at < ?",
        [row["campaign_id"], after_end],
    ).with_columns(pl.lit(1).alias("y"))
    assigned = sample_db.query(
        "select a.customer_id, a.variant, c.gender from assignments a join customers c using (customer_id)"
        " where a.experiment_id = ?",
        [experiment_id],
    )
    per_arm = (
        assigned.join(converted, on="customer_id", how="left")
        .with_columns(pl.col("y").fill_null(0))
        .group_by("gender", "variant")
        .agg(pl.len().alias("n"), pl.col("y").mean().alias("rate"))
    )
    lifts, ses = {}, {}
    for gender in sorted(per_arm["gender"].unique().to_list()):
        arm = {r["variant"]: r for r in per_arm.filter(pl.col("gender") == gender).iter_rows(named=True)}
        c, t = arm["control"], arm["treatment"]
        lifts[gender] = t["rate"] - c["rate"]
        # Wald standard error of a difference of two proportions.
        ses[gender] = np.sqrt(c["rate"] * (1 - c["rate"]) / c["n"] + t["rate"] * (1 - t["rate"]) / t["n"])

    equity = experiment_equity.experiment_equity(
        backend, experiment_id, snapshot=snapshot, attribute="gender"
    )
    assert equity.metric == "conversion"
    got = dict(zip(equity.lifts["group"], equity.lifts["lift"], strict=True))
    assert got.keys() == lifts.keys()
    for gender, lift in lifts.items():
        assert got[gender] == pytest.approx(lift, abs=1e-12), gender
    names = list(lifts)
    effects, se = np.array([lifts[g] for g in names]), np.array([ses[g] for g in names])
    reference = combine_effects(effects, np.square(se)).test_homogeneity()
    assert equity.q == pytest.approx(reference.statistic, abs=1e-9)
    assert equity.df == reference.df == len(names) - 1
    assert equity.p_value == pytest.approx(reference.pvalue, abs=1e-9)
    assert equity.least_helped == names[int(np.argmin(effects))]
    assert equity.verdict == ("fail" if reference.pvalue < experiment_equity.HETEROGENEITY_ALPHA else "pass")


# -- a registered model ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_db(model_bank_path):
    db = open_database(model_bank_path, read_only=True)
    yield db
    db.close()


def test_model_audit_counts_threshold_and_auc_equal_numpy_and_sklearn(model_db):
    from analytics.models import registry as model_registry

    backend = model_db.backend()
    record = model_registry.latest_model(backend, "churn")
    audit = model_audits.audit_model(backend, record.model_id)
    # The Models page's default: the top 10% of the model's test customers.
    test_scores = model_db.query("select score from model_test_scores where model_id = ?", [record.model_id])
    assert audit.threshold == round(float(np.quantile(test_scores["score"].to_numpy(), 0.9)), 3)
    assert audit.kind == "model" and audit.has_outcome and audit.model_version == record.version
    rows = model_db.query(
        "select s.label as y, s.score, c.gender from model_test_scores s join customers c using (customer_id)"
        " where s.model_id = ?",
        [record.model_id],
    )
    assert audit.n == rows.height
    gender = audit.attribute("gender")
    assert sorted(gender.metrics["group"].to_list()) == sorted(rows["gender"].unique().to_list())
    for row in gender.metrics.iter_rows(named=True):
        part = rows.filter(pl.col("gender") == row["group"])
        y, s = part["y"].to_numpy(), part["score"].to_numpy()
        p = s >= audit.threshold
        tp, fp = int((p & (y == 1)).sum()), int((p & (y == 0)).sum())
        tn, fn = int((~p & (y == 0)).sum()), int((~p & (y == 1)).sum())
        assert row["n"] == part.height == tp + fp + tn + fn
        assert row["selection_rate"] == pytest.approx((tp + fp) / part.height, abs=1e-12)
        assert row["true_positive_rate"] == pytest.approx(tp / (tp + fn), abs=1e-12)
        assert row["false_positive_rate"] == pytest.approx(fp / (fp + tn), abs=1e-12)
        assert row["precision"] == pytest.approx(tp / (tp + fp), abs=1e-12)
        assert row["accuracy"] == pytest.approx((tp + tn) / part.height, abs=1e-12)
        assert row["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert row["calibration_gap"] == pytest.approx(s.mean() - y.mean(), abs=1e-12)


# -- bad input (issue 7, item 10) ------------------------------------------------------------------------
def _bad_input_cases():
    rows = _upload(seed=3, n=200)
    columns = ", ".join(rows.columns)
    scores = rows["score"].to_numpy()
    first_score = int(np.flatnonzero((scores != 0) & (scores != 1))[0])
    labels = rows.with_columns(pl.Series("y", np.where(np.arange(rows.height) == 4, 2, rows["y"].to_numpy())))
    out_of_range = rows.with_columns(pl.Series("score", np.where(np.arange(rows.height) == 6, 1.3, scores)))
    one_group = rows.with_columns(pl.lit("F").alias("sex"))
    base = {"y_true": "y", "groups": ["sex", "region"], "score": "score", "threshold": THRESHOLD}
    return [
        pytest.param(
            rows,
            base | {"groups": ["sex", "branch"]},
            fairness.MSG_MISSING_COLUMN.format(column="branch", columns=columns),
            id="missing-group-column",
        ),
        pytest.param(
            rows,
            base | {"y_true": "churned"},
            fairness.MSG_MISSING_COLUMN.format(column="churned", columns=columns),
            id="missing-outcome-column",
        ),
        pytest.param(rows, base | {"groups": []}, fairness.MSG_NO_GROUPS, id="no-group-column"),
        pytest.param(
            one_group,
            base | {"groups": ["sex"]},
            fairness.MSG_SINGLE_GROUP.format(column="sex", group="F"),
            id="single-group",
        ),
        pytest.param(
            rows,
            base | {"score": None, "threshold": None, "y_pred": "score"},
            fairness_audit.MSG_SCORE_NEEDS_THRESHOLD.format(
                column="score", row=first_score + 1, value=rows["score"][first_score]
            ),
            id="scores-as-decisions-without-threshold",
        ),
        pytest.param(
            labels,
            base,
            fairness.MSG_NOT_BINARY.format(column="y", row=5, value=2),
            id="labels-outside-0-1",
        ),
        pytest.param(
            out_of_range,
            base,
            fairness_audit.MSG_SCORE_RANGE.format(column="score", row=7, value=1.3),
            id="score-outside-0-1",
        ),
        pytest.param(
            rows.with_columns((pl.col("score") >= THRESHOLD).cast(pl.Int64).alias("decision")),
            base | {"y_pred": "decision"},
            fairness_audit.MSG_NEEDS_DECISION,
            id="both-decision-and-score",
        ),
        pytest.param(rows, base | {"score": None}, fairness_audit.MSG_NEEDS_DECISION, id="neither"),
        pytest.param(
            rows,
            base | {"threshold": 1.5},
            fairness.MSG_BAD_THRESHOLD.format(threshold=1.5),
            id="threshold-outside-0-1",
        ),
        pytest.param(
            rows.with_columns(pl.Series("decision", ["yes", "no"] * (rows.height // 2))),
            base | {"score": None, "threshold": None, "y_pred": "decision"},
            fairness.MSG_NOT_BINARY.format(column="decision", row=1, value="yes"),
            id="decision-in-words-names-the-users-column",
        ),
        pytest.param(
            rows.with_columns(pl.Series("tags", [["a"], ["b"]] * (rows.height // 2))),
            base | {"groups": ["tags"]},
            fairness_audit.MSG_GROUP_TYPE.format(column="tags", dtype=pl.List(pl.String)),
            id="nested-group-column",
        ),
        pytest.param(
            rows.head(0), base, fairness_audit.MSG_EMPTY_TABLE.format(source="table"), id="empty-table"
        ),
    ]


@pytest.mark.parametrize(("frame", "kwargs", "message"), _bad_input_cases())
def test_bad_input_is_refused_with_the_modules_message(frame, kwargs, message):
    with pytest.raises(ValueError) as info:
        fairness_audit.audit_frame(frame, **kwargs)
    assert str(info.value) == message


def test_a_group_column_of_more_distinct_values_than_the_cap_is_refused_before_any_group_is_counted(
    monkeypatch,
):
    def no_counts(*_args, **_kwargs):
        raise AssertionError("groups were counted")

    monkeypatch.setattr(fairness, "group_counts", no_counts)
    rows = pl.DataFrame(
        {"y": [0, 1] * 250, "d": [1, 0] * 250, "postcode": [f"P{i % 250}" for i in range(500)]}
    )
    with pytest.raises(ValueError) as info:
        fairness_audit.audit_frame(rows, y_true="y", y_pred="d", groups=["postcode"])
    assert str(info.value) == fairness_audit.MSG_TOO_MANY_GROUPS.format(
        column="postcode", count=250, limit=fairness_audit.MAX_GROUP_VALUES
    )
    assert "'postcode' has 250 distinct values" in str(info.value) and fairness_audit.MAX_GROUP_VALUES == 200


def test_a_group_column_of_exactly_the_cap_is_audited():
    rows = pl.DataFrame({"y": [0, 1] * 200, "d": [1, 0] * 200, "g": [f"G{i % 200}" for i in range(400)]})
    audit = fairness_audit.audit_frame(rows, y_true="y", y_pred="d", groups=["g"])
    assert audit.n == 400


def test_a_score_given_without_a_threshold_names_a_row_that_holds_a_score():
    # The first row holds 0.0, a valid 0/1 decision: the message must point at a row that shows
    # the column holds scores (row 2 here), as it does when the scores come in as y_pred.
    rows = _upload(seed=4, n=200).with_columns(
        pl.Series("score", np.r_[0.0, 0.42, np.full(198, 0.6)]),
    )
    with pytest.raises(ValueError) as info:
        fairness_audit.audit_frame(rows, y_true="y", groups=["sex"], score="score")
    expected = fairness_audit.MSG_SCORE_NEEDS_THRESHOLD.format(column="score", row=2, value=0.42)
    assert str(info.value) == expected


# -- the data hash -------------------------------------------------------------------------------------
def test_the_data_hash_is_stable_for_the_same_data_and_changes_with_the_threshold(
    backend, customers, snapshot
):
    rows = _upload(seed=5, n=2000)

    def audit(frame: pl.DataFrame, threshold: float) -> fairness_audit.FairnessAudit:
        return fairness_audit.audit_frame(
            frame, y_true="y", groups=["sex", "region"], score="score", threshold=threshold, source="a.csv"
        )

    first = audit(rows, THRESHOLD)
    assert len(first.data_hash) == 64 and int(first.data_hash, 16) >= 0  # a SHA-256 in hex
    assert audit(rows.clone(), THRESHOLD).data_hash == first.data_hash
    assert audit(rows.sample(fraction=1.0, shuffle=True, seed=1), THRESHOLD).data_hash == first.data_hash
    assert audit(rows, 0.6).data_hash != first.data_hash
    # The same targeting list in another order is the same audit; one customer less is another.
    ids = _contactable(customers, snapshot)["customer_id"].head(3000).to_list()
    listed = exposure_audits.audit_targeting(backend, ids, as_of=snapshot, groups=("gender",))
    shuffled = exposure_audits.audit_targeting(backend, ids[::-1], as_of=snapshot, groups=("gender",))
    shorter = exposure_audits.audit_targeting(backend, ids[1:], as_of=snapshot, groups=("gender",))
    assert (shuffled.subject_id, shuffled.data_hash) == (listed.subject_id, listed.data_hash)
    assert shorter.data_hash != listed.data_hash and shorter.subject_id != listed.subject_id


def test_an_adverse_decision_lists_the_contributions_that_lowered_the_score():
    from analytics.models.customer_explanations import CustomerExplanation, reason_text

    contributions = pl.DataFrame(
        {
            "feature": ["support_contacts_12m", "sessions_90d", "nps_last", "tenure_months"],
            "label": ["", "", "", ""],
            "value": [0.0, 40.0, 9.0, 80.0],
            "typical": [1.0, 20.0, 7.0, 60.0],
            "shap": [-0.2, -0.5, -0.1, 0.3],
            "points": [-0.01, -0.03, -0.004, 0.02],
        }
    )
    explanation = CustomerExplanation("m", "churn", 1, 0.02, -3.0, -3.9, contributions, ())
    adverse, reasons = model_audits.adverse_reasons(explanation, threshold=0.05)
    assert adverse is True
    # The three contributions that lowered the score most, largest first, in the Models page's words.
    expected = [
        reason_text("churn", r["feature"], r["value"], r["typical"], r["points"])
        for r in contributions.sort("points").head(3).iter_rows(named=True)
    ]
    assert list(reasons) == expected and len(reasons) == 3
    favourable, reasons = model_audits.adverse_reasons(explanation, threshold=0.01)
    assert favourable is False
    assert list(reasons) == [reason_text("churn", "tenure_months", 80.0, 60.0, 0.02)]
