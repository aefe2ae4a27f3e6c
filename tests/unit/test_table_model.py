"""analytics.models.table_model: a planted signal is found, SHAP is exact, bad targets are refused."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.models import table_model as tm


def planted_table(n: int = 3000, seed: int = 7) -> pl.DataFrame:
    """y depends strongly on x1 (+), on the plan "gold" (+); x2 is noise; ids and a constant."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    plan = rng.choice(["basic", "silver", "gold"], size=n)
    logit = 2.5 * x1 + 1.5 * (plan == "gold") - 0.5
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    x1_seen = [None if m else float(v) for v, m in zip(x1, rng.random(n) < 0.1, strict=True)]
    plan_seen = [None if m else str(v) for v, m in zip(plan, rng.random(n) < 0.05, strict=True)]
    return pl.DataFrame(
        {
            "client_id": [f"C{i:05d}" for i in range(n)],
            "x1": x1_seen,
            "x2": x2,
            "plan": plan_seen,
            "branch": ["HQ"] * n,
            "bought": np.where(y, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, tm.TableModelResult]:
    table = planted_table()
    return table, tm.train_on_table(table, target="bought", positive_label="yes", explain_rows=500)


def test_planted_signal_is_found(planted):
    table, result = planted
    assert result.auc > 0.8
    top = result.importance.row(0, named=True)
    assert top["feature"] == "x1" and top["direction"] == "+"
    ranks = result.importance.get_column("feature").to_list()
    assert ranks.index("plan") < ranks.index("x2")
    assert result.features == ("x1", "x2", "plan") and result.categorical == ("plan",)
    assert result.id_column == "client_id"
    assert (result.positive_label, result.negative_label) == ("yes", "no")


def test_id_and_constant_columns_are_dropped_with_notices(planted):
    _, result = planted
    assert tm.MSG_ID_LIKE.format(column="client_id", why="its name") in result.notices
    assert tm.MSG_CONSTANT.format(column="branch") in result.notices


def test_stratified_quarter_is_held_out(planted):
    table, result = planted
    assert result.holdout_rows == 750 and result.train_rows == 2250
    hold = result.predictions.filter(pl.col("split") == "holdout")
    overall = (table.get_column("bought") == "yes").mean()
    assert abs(hold.get_column("actual").mean() - overall) < 1 / 750 + 1e-12
    assert result.predictions.height == table.height
    assert result.predictions.get_column("client_id").to_list() == table.get_column("client_id").to_list()


def test_shap_is_additive_in_log_odds_with_missing_values_and_categories(planted):
    table, result = planted
    shap_values = result.shap_values
    rows = shap_values.get_column("row").to_numpy() - 1
    # The pipeline's own decision function on the raw input rows, recomputed here.
    x = tm._model_input(table[rows], ["x1", "x2"], ["plan"])
    decision = result.pipeline.decision_function(x)
    total = result.base_value + shap_values.select(result.features).to_numpy().sum(axis=1)
    assert np.max(np.abs(total - decision)) < 1e-6
    assert table[rows].get_column("x1").null_count() > 0 and table[rows].get_column("plan").null_count() > 0


def test_holdout_auc_matches_a_rank_count():
    table = planted_table(n=800, seed=3)
    result = tm.train_on_table(table, target="bought", positive_label="yes", explain_rows=50)
    hold = result.predictions.filter(pl.col("split") == "holdout")
    p = hold.get_column("probability").to_numpy()
    a = hold.get_column("actual").to_numpy()
    # Mann-Whitney form of the AUC: share of (positive, negative) pairs ranked correctly, ties half.
    diff = p[a == 1][:, None] - p[a == 0][None, :]
    assert result.auc == pytest.approx(float(((diff > 0) + 0.5 * (diff == 0)).mean()), abs=1e-12)


def test_unique_integer_column_is_an_id_and_boolean_target_needs_no_label():
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    frame = pl.DataFrame({"number": np.arange(n) * 3, "x": x, "flag": x + rng.normal(size=n) > 0})
    result = tm.train_on_table(frame, target="flag", explain_rows=20)
    assert result.positive_label == "True" and result.features == ("x",)
    assert tm.MSG_ID_LIKE.format(column="number", why="every value differs") in result.notices


def test_zero_one_target_and_missing_target_rows():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(size=n)
    label = (x > 0).astype(np.int64).tolist()
    label[5] = None
    frame = pl.DataFrame({"x": x, "churned": label})
    result = tm.train_on_table(frame, target="churned", explain_rows=10)
    assert result.positive_label == "1" and result.rows == n - 1
    assert tm.MSG_MISSING_TARGET_ROWS.format(count=1, target="churned") in result.notices


def test_missing_target_lists_the_columns():
    with pytest.raises(ValueError) as err:
        tm.train_on_table(pl.DataFrame({"a": [1, 2], "b": [0, 1]}), target="y")
    assert str(err.value) == tm.MSG_TARGET_MISSING.format(target="y", columns="a, b")
    assert str(err.value) == "The target column 'y' is not in the table. Its columns are: a, b."


def test_one_class_is_refused():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["no", "no", "no"]})
    with pytest.raises(ValueError) as err:
        tm.train_on_table(frame, target="y", positive_label="no")
    assert str(err.value) == (
        "The target column 'y' has one value only ('no') on its 3 rows: a model needs two classes."
    )


def test_three_classes_are_refused_even_with_a_positive_label():
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "c", "a"]})
    with pytest.raises(ValueError) as err:
        tm.train_on_table(frame, target="y", positive_label="a")
    assert str(err.value) == (
        "The target column 'y' has 3 different values ('a', 'b', 'c'): a model of this kind needs"
        " exactly two. Recode the target to two classes."
    )


def test_text_target_needs_a_positive_label_that_exists():
    frame = pl.DataFrame({"x": [1.0, 2.0], "y": ["yes", "no"]})
    with pytest.raises(ValueError, match="say which one is the positive class"):
        tm.train_on_table(frame, target="y")
    with pytest.raises(ValueError) as err:
        tm.train_on_table(frame, target="y", positive_label="maybe")
    assert str(err.value) == tm.MSG_UNKNOWN_POSITIVE_LABEL.format(
        label="maybe", target="y", values="'no', 'yes'"
    )


def test_too_few_rows_of_a_class_are_refused():
    frame = pl.DataFrame({"x": np.arange(30.0), "y": [1] * 3 + [0] * 27})
    with pytest.raises(ValueError) as err:
        tm.train_on_table(frame, target="y")
    assert str(err.value) == tm.MSG_TOO_FEW_ROWS.format(target="y", count=3, value="1", minimum=10)


def test_outputs_are_written_next_to_the_input(planted, tmp_path):
    _, result = planted
    source = tmp_path / "customers.csv"
    predictions, shap_file = tm.write_table_model_outputs(result, source)
    assert predictions == tmp_path / "customers_predictions.csv"
    assert shap_file == tmp_path / "customers_shap.csv"
    assert pl.read_csv(predictions).height == result.predictions.height
    assert pl.read_csv(shap_file).columns[:4] == ["row", "client_id", "base_value", "log_odds"]


def test_a_list_target_is_refused_and_a_column_named_like_the_row_index_is_kept():
    from analytics.models.table_model import train_on_table

    frame = pl.DataFrame({"x": [1.0, 2.0], "tags": [[1], [2]]})
    with pytest.raises(ValueError, match="The target column 'tags' holds List\\(Int64\\) values"):
        train_on_table(frame, target="tags")
    table = planted_table(n=400).with_columns(pl.int_range(pl.len()).alias("__row"))
    result = train_on_table(table, target="bought", positive_label="yes")
    assert result.predictions.height == 400 and result.predictions["row"].to_list() == list(range(1, 401))
