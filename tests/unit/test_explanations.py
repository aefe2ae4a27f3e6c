"""Explanations of registered models: additivity against the model's own probabilities, the stored
sample against shap called directly, planted churn drivers, reason codes, what-if, segment
comparison and look-ups. Reference values come from shap, scikit-learn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import shap
from polars.testing import assert_frame_equal
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from analytics.access.privacy import pseudonymize_ids
from analytics.models import (
    customer_explanations,
    explanations,
    pipelines,
    publishing,
    quality_views,
    training_data,
)
from analytics.models import quality as model_quality
from analytics.models import registry as model_registry
from analytics.store.database import Database
from tests.conftest import copy_bank
from tests.unit.test_models import DRIVER_FEATURES


@pytest.fixture(scope="module")
def db(model_bank_path):
    database = Database(model_bank_path, read_only=True)
    yield database
    database.close()


@pytest.fixture(scope="module")
def churn(db):
    record = model_registry.latest_model(db.backend(), "churn")
    return model_registry.load_model(db, record.model_id)


@pytest.fixture(scope="module")
def current(db):
    return model_registry.current_features(db)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


# -- additivity ----------------------------------------------------------------------------
def test_calibrated_shap_adds_up_to_the_score_for_1000_random_customers(churn, current):
    rows = current.sample(1000, seed=7)
    explanation = explanations.explain_scores(churn, rows)
    assert explanation.space == explanations.CALIBRATED_SPACE == "log-odds of the calibrated score"
    # The reference is the model's own probability (sklearn's calibrated predict_proba).
    score = churn.predict_proba(rows)
    total = explanation.base_value + explanation.values.sum(axis=1)
    assert np.max(np.abs(total - _logit(score))) < 1e-6


def test_raw_tree_shap_adds_up_to_the_booster_log_odds_and_equals_shap_called_directly(churn, current):
    rows = current.sample(1000, seed=8)
    raw = pipelines.explain(churn, rows)
    x = training_data.feature_matrix(rows, churn.features)
    assert (
        np.max(np.abs(raw.base_value + raw.values.sum(axis=1) - churn.pipeline.decision_function(x))) < 1e-6
    )
    # The calibrated explanation is the raw one times Platt's slope, as calibration_line says.
    slope, intercept = explanations.calibration_line(churn.calibrated)
    calibrated = explanations.explain_scores(churn, rows)
    assert np.allclose(calibrated.values, slope * raw.values, atol=1e-12)
    assert calibrated.base_value == pytest.approx(slope * raw.base_value + intercept, abs=1e-12)
    decision = churn.pipeline.decision_function(x)
    assert np.allclose(_logit(churn.predict_proba(rows)), slope * decision + intercept, atol=1e-9)


def test_baseline_linear_shap_adds_up_to_its_log_odds(churn, current):
    rows = current.sample(1000, seed=9)
    explanation = explanations.explain_scores(churn, rows, kind="baseline", background=current)
    assert explanation.space == explanations.BASELINE_SPACE
    x = training_data.feature_matrix(rows, churn.features)
    reference = churn.baseline.decision_function(x)
    assert np.max(np.abs(explanation.base_value + explanation.values.sum(axis=1) - reference)) < 1e-6


def test_isotonic_calibration_is_refused_by_name(churn, current):
    rows = current.sample(400, seed=1)
    x = training_data.feature_matrix(rows, churn.features)
    y = (np.arange(rows.height) % 5 == 0).astype(int)
    isotonic = CalibratedClassifierCV(FrozenEstimator(churn.pipeline), method="isotonic").fit(x, y)
    with pytest.raises(ValueError, match="calibrated with 'isotonic'"):
        explanations.calibration_line(isotonic)


# -- the stored sample ---------------------------------------------------------------------
def test_stored_sample_equals_shap_tree_explainer_called_directly(db, churn):
    meta = explanations.load_explanation_meta(db.backend(), churn.record.model_id)
    assert set(meta) == {"tree", "baseline"}
    matrix = explanations.load_shap_matrix(db.backend(), churn.record.model_id)
    assert matrix.values.shape == (meta["tree"].rows, len(churn.features)) == matrix.shap.shape
    ids = matrix.customer_ids[:200]
    rows = (
        model_registry.current_features(db)
        .filter(pl.col("customer_id").is_in(ids.tolist()))
        .sort("customer_id")
    )
    prepared = churn.pipeline.named_steps["prepare"].transform(
        training_data.feature_matrix(rows, churn.features)
    )
    direct = shap.TreeExplainer(churn.pipeline.named_steps["model"], model_output="raw").shap_values(prepared)
    names = pipelines.transformed_features(churn.pipeline, churn.features)
    slope, intercept = explanations.calibration_line(churn.calibrated)
    reorder = [names.index(n) for n in churn.features]
    assert np.allclose(matrix.shap[:200], slope * np.asarray(direct)[:, reorder], atol=1e-9)
    assert meta["tree"].base_value == pytest.approx(slope * float(np.ravel(
        shap.TreeExplainer(churn.pipeline.named_steps["model"], model_output="raw").expected_value
    )[0]) + intercept, abs=1e-9)  # fmt: skip
    # Values are the raw inputs: missing stays missing (NaN), flags are 0/1.
    raw = training_data.feature_matrix(rows, churn.features)
    assert np.array_equal(np.isnan(matrix.values[:200]), np.isnan(raw))
    assert np.allclose(np.nan_to_num(matrix.values[:200]), np.nan_to_num(raw))


def test_typical_values_are_medians_over_every_current_customer(db, churn, current):
    typical = explanations.load_explanation_meta(db.backend(), churn.record.model_id)["tree"].typical
    assert typical["support_contacts"] == float(np.median(current["support_contacts"].to_numpy()))
    assert typical["age"] == float(np.median(current["age"].to_numpy()))
    assert typical["has_savings"] == pytest.approx(current["has_savings"].cast(pl.Float64).mean())
    nps = current["nps_score"].drop_nulls().to_numpy()
    assert typical["nps_score"] == pytest.approx(float(np.median(nps)), rel=1e-12)


def test_stored_global_importance_ranks_the_planted_churn_drivers_with_their_direction(
    db, churn, sample_truth
):
    matrix = explanations.load_shap_matrix(db.backend(), churn.record.model_id)
    importance = explanations.global_importance(matrix)
    # Reference for the numbers: polars over the stored long table.
    shap_table = db.query(
        "select feature, avg(abs(shap)) as m from model_shap where model_id = ? and kind = 'tree' group by 1",
        [churn.record.model_id],
    )
    expected = dict(shap_table.iter_rows())
    for row in importance.iter_rows(named=True):
        assert row["mean_abs_shap"] == pytest.approx(expected[row["feature"]], rel=1e-9)
    planted = {}
    for driver in sample_truth["churn_drivers"]:
        column, sign = DRIVER_FEATURES[driver["feature"]]
        planted[column] = driver["direction"] if sign == 1 else {"+": "-", "-": "+"}[driver["direction"]]
    top = importance.head(5)
    hits = [r for r in top.iter_rows(named=True) if r["feature"] in planted]
    assert len(hits) >= 4, top
    for row in hits:
        assert row["direction"] == planted[row["feature"]], row


def test_storing_again_replaces_the_model_rows_only(model_bank_path, tmp_path):
    path = tmp_path / "bank.duckdb"
    copy_bank(model_bank_path, path)
    db = Database(path)
    try:
        churn_id = model_registry.latest_model(db.backend(), "churn").model_id
        card_id = model_registry.latest_model(db.backend(), "credit_card").model_id
        count = "select count(*) from model_shap where model_id = ?"
        before_card = db.query(count, [card_id]).item()
        metas = explanations.store_explanations(db, churn_id, rows=300, random_state=3)
        assert [m.kind for m in metas] == ["tree", "baseline"] and metas[0].rows == 300
        features = len(model_registry.get_model(db.backend(), churn_id).features)
        assert db.query(count, [churn_id]).item() == 2 * 300 * features
        assert db.query(count, [card_id]).item() == before_card
        assert db.query("select count(*) from model_explanations where model_id = ?", [churn_id]).item() == 2
    finally:
        db.close()


# -- views of the sample ------------------------------------------------------------------
def _planted_matrix() -> explanations.ShapMatrix:
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=(n, 3))
    x[:5, 1] = np.nan
    # Feature a's effect flips with the sign of c: the interaction the colour must find.
    shap_values = np.column_stack([x[:, 0] * np.sign(x[:, 2]), 0.1 * rng.normal(size=n), 0.2 * x[:, 2]])
    return explanations.ShapMatrix(
        customer_ids=np.arange(1, n + 1),
        features=("a", "b", "c"),
        values=x,
        shap=shap_values,
        base_value=-1.0,
        space="log-odds",
    )


def test_dependence_is_coloured_by_the_planted_interaction():
    matrix = _planted_matrix()
    view = explanations.dependence_view(matrix, "a")
    assert view.interaction == "c"
    assert view.points.height == 2000
    assert np.allclose(view.points["colour"].to_numpy(), matrix.values[:, 2])
    assert explanations.dependence_view(matrix, "b").points.height == 1995  # missing values left out


def test_beeswarm_colour_is_the_value_rank_and_rows_stay_in_their_band():
    matrix = _planted_matrix()
    points = explanations.beeswarm_points(matrix, ("c", "a"))
    c = points.filter(pl.col("feature") == "c")
    assert c["position"].unique().to_list() == [0] and (c["y"].abs() <= 0.4 + 1e-12).all()
    order = np.argsort(matrix.values[:, 2])
    assert np.all(np.diff(c["colour"].to_numpy()[order]) > 0)
    assert c["colour"].min() == 0.0 and c["colour"].max() == 1.0
    a = points.filter(pl.col("feature") == "a")
    assert ((a["y"] - 1).abs() <= 0.4 + 1e-12).all()


def test_global_importance_direction_and_means_by_hand():
    matrix = _planted_matrix()
    table = explanations.global_importance(matrix)
    assert table["feature"].to_list()[0] == "a"
    c = table.filter(pl.col("feature") == "c").row(0, named=True)
    assert c["direction"] == "+" and c["mean_abs_shap"] == pytest.approx(
        np.abs(0.2 * matrix.values[:, 2]).mean()
    )


def test_segment_comparison_by_hand():
    matrix = explanations.ShapMatrix(
        customer_ids=np.array([1, 2, 3, 4]),
        features=("x", "y"),
        values=np.zeros((4, 2)),
        shap=np.array([[1.0, 0.0], [-3.0, 0.5], [0.5, 0.5], [0.5, -0.5]]),
        base_value=0.0,
        space="log-odds",
    )
    table = explanations.segment_comparison(matrix, [1, 2, 99])
    x = table.filter(pl.col("feature") == "x").row(0, named=True)
    assert (x["in_segment"], x["rest"], x["difference"]) == (2.0, 0.5, 1.5)
    assert x["mean_shap_in_segment"] == -1.0 and x["customers_in"] == 2 and x["customers_rest"] == 2
    assert table["feature"].to_list() == ["x", "y"]
    with pytest.raises(ValueError, match="None of the segment's customers is in the stored SHAP sample of 4"):
        explanations.segment_comparison(matrix, [99])
    with pytest.raises(ValueError, match="no rest"):
        explanations.segment_comparison(matrix, [1, 2, 3, 4])


# -- one customer --------------------------------------------------------------------------
def test_customer_row_from_the_table_equals_the_point_in_time_frame(db, current):
    customer = int(current["customer_id"][123])
    row = customer_explanations.load_customer_features(
        db.backend(), customer, as_of=db.snapshot_date(), shown_as="C-000000000000"
    )
    # Equal up to the order of floating-point sums: DuckDB aggregates on two threads, so two
    # evaluations of the same expression may differ in the last bits of a sum.
    assert_frame_equal(
        row, current.filter(pl.col("customer_id") == customer), check_exact=False, rel_tol=1e-12
    )
    closed = db.query("select customer_id from customers where closed_at is not null limit 1").item()
    refusal = "Customer C-0123456789ab is not a current customer on the snapshot"
    with pytest.raises(ValueError, match=refusal) as info:
        customer_explanations.load_customer_features(
            db.backend(), closed, as_of=db.snapshot_date(), shown_as="C-0123456789ab"
        )
    assert str(closed) not in str(info.value)


def test_one_customer_explanation_adds_up_and_its_reasons_are_the_largest_contributions(db, churn, current):
    typical = explanations.load_explanation_meta(db.backend(), churn.record.model_id)["tree"].typical
    row = current.filter(pl.col("support_contacts") >= 3).head(1)
    result = customer_explanations.explain_customer(churn, row, typical=typical)
    score = float(churn.predict_proba(row)[0])
    assert result.score == pytest.approx(score, abs=1e-12)
    assert result.base_value + result.contributions["shap"].sum() == pytest.approx(
        _logit(np.array(score))[()], abs=1e-6
    )
    shap_abs = result.contributions["shap"].abs().to_numpy()
    assert np.all(np.diff(shap_abs) <= 0)
    # Points: the score minus the score with that contribution removed, by hand for the first.
    first = result.contributions.row(0, named=True)
    without = 1 / (1 + math.exp(-(result.log_odds - first["shap"])))
    assert first["points"] == pytest.approx(score - without, abs=1e-12)
    assert len(result.reasons) == 3
    assert result.reasons[0].startswith(
        customer_explanations.describe_value(first["feature"], first["value"])
    )
    stored = model_registry.load_predictions(db.backend(), churn.record.model_id)
    stored_score = stored.filter(pl.col("customer_id") == row["customer_id"][0])["score"][0]
    assert stored_score == pytest.approx(score, abs=1e-12)


def test_what_if_fewer_support_contacts_lowers_churn_risk_the_planted_way(db, churn, current):
    typical = explanations.load_explanation_meta(db.backend(), churn.record.model_id)["tree"].typical
    row = current.filter(pl.col("support_contacts") >= 4).head(1)
    before = customer_explanations.explain_customer(churn, row, typical=typical)
    edited = customer_explanations.apply_what_if(row, {"support_contacts": 0}, features=churn.features)
    after = customer_explanations.explain_customer(churn, edited, typical=typical)
    assert after.score < before.score
    assert row["support_contacts"][0] >= 4 and edited["support_contacts"][0] == 0  # the input is untouched
    contribution = after.contributions.filter(pl.col("feature") == "support_contacts")["shap"][0]
    assert contribution < 0


def test_what_if_refuses_unknown_features_and_wrong_kinds(churn, current):
    row = current.head(1)
    with pytest.raises(ValueError, match="'logins' is not an input of this model"):
        customer_explanations.apply_what_if(row, {"logins": 3}, features=churn.features)
    with pytest.raises(ValueError, match="'age' must be a number, got 'old'"):
        customer_explanations.apply_what_if(row, {"age": "old"}, features=churn.features)
    with pytest.raises(ValueError, match="'has_savings' must be True or False"):
        customer_explanations.apply_what_if(row, {"has_savings": 0.5}, features=churn.features)
    with pytest.raises(ValueError, match="must be a finite number"):
        customer_explanations.apply_what_if(row, {"monetary": float("inf")}, features=churn.features)
    edited = customer_explanations.apply_what_if(
        row, {"age": 40.6, "has_savings": True, "nps_score": None}, features=churn.features
    )
    assert edited["age"][0] == 41 and edited["has_savings"][0] is True and edited["nps_score"][0] is None


def test_tiny_contributions_are_worded_as_less_than_a_tenth_of_a_point():
    assert customer_explanations.reason_text("churn", "age", 40.0, 41.0, 0.0004).endswith(
        "by less than 0.1 points"
    )


def test_what_if_refuses_integers_beyond_what_a_float_holds(churn, current):
    with pytest.raises(ValueError, match="'support_contacts' must be a whole number below 2\\^53"):
        customer_explanations.apply_what_if(
            current.head(1), {"support_contacts": 2.0**60}, features=churn.features
        )


def test_points_without_matches_the_definition():
    p = customer_explanations.points_without(0.3, [0.5, -0.2])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert p[0] == pytest.approx(sig(0.3) - sig(-0.2), abs=1e-15)
    assert p[1] == pytest.approx(sig(0.3) - sig(0.5), abs=1e-15)


def test_reason_wording():
    assert (
        customer_explanations.reason_text("churn", "recency_days", 67.0, 20.0, 0.05)
        == "67 days since the last payment (typical: 20) raised churn risk by 5.0 points"
    )
    assert (
        customer_explanations.reason_text("credit_card", "has_mortgage", 1.0, 0.12, -0.004)
        == "holds a mortgage (12% of customers hold one) lowered the chance of taking up a credit card"
        " by 0.4 points"
    )
    assert customer_explanations.reason_text("churn", "nps_score", None, 8.0, 0.1).startswith(
        "no NPS answer in the last 12 months (typical: 8.0) raised churn risk by 10 points"
    )
    assert (
        customer_explanations.describe_value("spend_groceries_share", 0.25) == "25% of spending on groceries"
    )
    assert customer_explanations.describe_value("unknown_column", 2.5) == "unknown column 2.5"


# -- look-ups --------------------------------------------------------------------------------
def test_masked_ids_resolve_and_bad_references_are_named(current):
    ids = current["customer_id"].head(50)
    masked = pseudonymize_ids(ids, b"a test key")
    index = dict(zip(masked.to_list(), ids.to_list(), strict=True))
    assert customer_explanations.resolve_customer(f"  {masked[3]} ", index, allow_raw=False) == ids[3]
    assert (
        customer_explanations.resolve_customer(masked[4].upper().replace("C-", "c-"), index, allow_raw=False)
        == ids[4]
    )
    with pytest.raises(ValueError, match="'123' is not a customer reference: type a masked id such as C-"):
        customer_explanations.resolve_customer("123", index, allow_raw=False)
    assert customer_explanations.resolve_customer("123", index, allow_raw=True) == 123
    for bad in ("99999999999999999999999", "²", "12a"):
        with pytest.raises(
            ValueError, match="is not a customer reference: type a masked id .* or a customer number"
        ):
            customer_explanations.resolve_customer(bad, index, allow_raw=True)
    with pytest.raises(ValueError, match="No current customer has the masked id 'C-000000000000'"):
        customer_explanations.resolve_customer("C-000000000000", index, allow_raw=True)


def test_top_scored_customers_leave_out_refused_consent(db, churn):
    top = publishing.top_scored_customers(db.backend(), churn.record.model_id, n=30)
    reference = (
        model_registry.load_predictions(db.backend(), churn.record.model_id)
        .join(db.query("select customer_id, consent_profiling from customers"), on="customer_id")
        .filter(pl.col("consent_profiling"))
        .sort(["score", "customer_id"], descending=[True, False])
        .head(30)
    )
    assert top["customer_id"].to_list() == reference["customer_id"].to_list()
    assert top["score"].to_list() == reference["score"].to_list()


def test_operating_threshold_flags_the_top_tenth():
    scores = np.linspace(0.0, 1.0, 1001)
    threshold = quality_views.operating_threshold(scores)
    assert threshold == 0.9 and (scores >= threshold).mean() == pytest.approx(0.1, abs=0.001)
    assert quality_views.operating_threshold(np.array([])) == 0.5


def test_test_scores_reproduce_the_registered_metrics(db, churn):
    from sklearn.metrics import roc_auc_score

    scores = quality_views.load_test_scores(db.backend(), churn.record.model_id)
    metrics = churn.record.metrics
    assert scores.height == metrics["model"]["rows"] == metrics["split_sizes"]["test_rows"]
    assert scores["label"].sum() == metrics["model"]["positives"]
    y = scores["label"].to_numpy()
    assert roc_auc_score(y, scores["score"].to_numpy()) == pytest.approx(metrics["model"]["auc"], abs=1e-12)
    assert roc_auc_score(y, scores["baseline_score"].to_numpy()) == pytest.approx(
        metrics["baseline"]["auc"], abs=1e-12
    )
    # The stored rows are the test cut-off's customers with their own outcome: rebuild the
    # cut-off's frame independently and line them up by customer.
    from datetime import date

    cutoffs = churn.record.parameters["cutoffs"]
    test = training_data.build_training_frame(
        db.backend(), target="churn", cutoff=date.fromisoformat(cutoffs["test"])
    )
    assert scores["customer_id"].to_list() == test.sort("customer_id")["customer_id"].to_list()
    assert scores["label"].to_list() == test.sort("customer_id")["label"].to_list()
    assert np.allclose(scores["score"].to_numpy(), churn.predict_proba(test.sort("customer_id")), atol=1e-12)
    # PSI: training rows of the registered cut-offs against the current customers.
    train = pl.concat(
        [
            training_data.build_training_frame(db.backend(), target="churn", cutoff=date.fromisoformat(day))
            for day in cutoffs["train"]
        ]
    )
    expected = model_quality.psi_table(train, model_registry.current_features(db), churn.features)
    psi = churn.record.psi
    assert psi["feature"].to_list() == expected["feature"].to_list()
    # Two evaluations of the features differ in the last bits of their sums (DuckDB on two
    # threads), which can move a customer across a quantile edge: agree to 1e-4, not exactly.
    assert np.allclose(psi["psi"].to_numpy(), expected["psi"].to_numpy(), atol=1e-4)
    assert psi["band"].to_list() == expected["band"].to_list()
