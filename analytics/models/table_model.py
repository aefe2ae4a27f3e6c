"""Bring your own table: train and explain a binary model on any customer-level table.

How a table becomes a model (docs/models.md, "Bring your own table", says why)
-----------------------------------------------------------------------------
1. The target column is found and checked to hold exactly two classes; the positive class
   is ``positive_label``, or ``True``/``1`` for a boolean or 0/1 target. Rows without a
   target are left out with a notice.
2. Id-like columns (named ``id``/``customer_id``/``*_id``, or string or integer columns whose
   values are all different), constant and all-missing columns and columns of other types
   (dates, lists) are left out with a notice. The first id-like column labels the output rows.
3. Numeric and boolean columns enter as floats with missing values left as NaN (the booster
   routes them natively and shap's TreeExplainer follows the same route); string columns are
   one-hot encoded (missing as its own category, rare levels grouped).
4. A stratified 25 % holdout scores the HistGradientBoostingClassifier (ROC AUC; its
   hyperparameters are :data:`analytics.models.pipelines.TABLE_BOOSTER`, not the bank models'
   :data:`~analytics.models.pipelines.BANK_BOOSTER`: each says why) and is
   explained by ``shap.TreeExplainer`` in log-odds; the SHAP values of a string column's
   one-hot columns are summed into one value per input column, which keeps
   ``base_value + sum(shap) == decision_function`` exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl
import shap
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from analytics.common.exports import write_safe_csv
from analytics.models.pipelines import TABLE_BOOSTER, effect_direction

Direction = Literal["+", "-", "0", "categorical"]

HOLDOUT_SHARE = 0.25
"""Share of the rows held out (stratified by the target) to score and explain the model."""

MIN_ROWS_PER_CLASS = 10
"""Fewest rows of each class a table needs: fewer leave the holdout without a class."""

MAX_CATEGORIES = 30
"""One-hot columns per string column at most; rarer levels are grouped as "infrequent"."""

MISSING_CATEGORY = "(missing)"
"""Level given to a missing value of a string column."""

ID_NAME_PATTERN = re.compile(r"^(id|.*_id)$", re.IGNORECASE)
"""Column names taken as identifiers whatever their values."""

MSG_TARGET_MISSING = "The target column {target!r} is not in the table. Its columns are: {columns}."
MSG_ONE_CLASS = (
    "The target column {target!r} has one value only ({values}) on its {rows:,} rows: a model needs"
    " two classes."
)
MSG_TARGET_NOT_SCALAR = (
    "The target column {target!r} holds {dtype} values: it needs one value per row (text, a number"
    " or true/false)."
)
MSG_MANY_CLASSES = (
    "The target column {target!r} has {count} different values ({values}): a model of this kind needs"
    " exactly two. Recode the target to two classes."
)
MSG_NEED_POSITIVE_LABEL = (
    "The target column {target!r} holds {values}: say which one is the positive class with"
    " positive_label (--positive-label)."
)
MSG_UNKNOWN_POSITIVE_LABEL = (
    "The positive label {label!r} is not a value of the target column {target!r}; its values are {values}."
)
MSG_TOO_FEW_ROWS = (
    "The target column {target!r} has {count:,} row(s) of class {value!r}: at least {minimum} of each"
    " class are needed to train and hold out 25 %."
)
MSG_NO_FEATURES = "No feature column is left to train on (after leaving out: {dropped})."
MSG_MISSING_TARGET_ROWS = (
    "{count:,} row(s) have no value in the target column {target!r}: they were left out."
)
MSG_ID_LIKE = "Column {column!r} looks like an identifier ({why}): it was left out of the features."
MSG_CONSTANT = "Column {column!r} has the same value on every row: it was left out."
MSG_ALL_MISSING = "Column {column!r} has no value on any row: it was left out."
MSG_UNSUPPORTED = "Column {column!r} is neither numeric, boolean nor text ({dtype}): it was left out."


@dataclass(frozen=True)
class TableModelResult:
    """A model trained on an uploaded table: its holdout AUC, SHAP importance and outputs.

    Parameters
    ----------
    target : str
        The target column.
    positive_label : str
        The target value modelled as 1, as text.
    negative_label : str
        The other target value, as text.
    id_column : str or None
        The id-like column labelling the output rows, if one was found.
    features : tuple of str
        Input columns the model uses, in table order.
    categorical : tuple of str
        The members of ``features`` that were one-hot encoded.
    notices : tuple of str
        Columns and rows left out, and why.
    rows : int
        Rows used (those with a target).
    positives : int
        Rows of the positive class.
    train_rows : int
        Rows fitted on.
    holdout_rows : int
        Rows held out to score and explain.
    auc : float
        ROC AUC on the holdout.
    base_value : float
        Expected log-odds of the booster (TreeExplainer's expected value).
    importance : polars.DataFrame
        ``feature``, ``mean_abs_shap`` (log-odds, over the explained holdout rows),
        ``direction`` ("+" when higher values raise the log-odds, "-" when they lower it,
        "0" for no relation, "categorical" for a string column), sorted by ``mean_abs_shap``
        descending.
    predictions : polars.DataFrame
        One row per used input row: ``row`` (1-based row of the input), the id column if
        any, ``split`` ("train" or "holdout"), ``actual`` (0/1) and ``probability``.
    shap_values : polars.DataFrame
        One row per explained holdout row: ``row``, the id column if any, ``base_value``,
        ``log_odds`` and one SHAP column per feature (``base_value`` plus the SHAP columns
        equals ``log_odds``).
    pipeline : sklearn.pipeline.Pipeline
        The fitted ``prepare`` (ColumnTransformer) + ``model`` (HistGradientBoostingClassifier).
    """

    target: str
    positive_label: str
    negative_label: str
    id_column: str | None
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    notices: tuple[str, ...]
    rows: int
    positives: int
    train_rows: int
    holdout_rows: int
    auc: float
    base_value: float
    importance: pl.DataFrame
    predictions: pl.DataFrame
    shap_values: pl.DataFrame
    pipeline: Pipeline


def _values_text(values: list) -> str:
    shown = ", ".join(repr(v) for v in values[:10])
    return shown + (f", ... ({len(values) - 10} more)" if len(values) > 10 else "")


def binary_target(column: pl.Series, *, positive_label: object = None) -> tuple[np.ndarray, str, str]:
    """The 0/1 outcome of a two-class target column.

    Without ``positive_label`` the positive class is ``True`` of a boolean column or ``1`` of a
    numeric 0/1 column; any other pair of values (``"yes"``/``"no"``) must be named, because
    which one is the event cannot be guessed. ``positive_label`` matches a value by its text
    (``"1"`` matches ``1``; ``"true"`` matches ``True``), as it arrives from the command line.

    Parameters
    ----------
    column : polars.Series
        The target, without missing values.
    positive_label : object, optional
        The value modelled as 1.

    Returns
    -------
    tuple of (numpy.ndarray, str, str)
        The 0/1 outcome (int64), the positive and the negative value as text.

    Raises
    ------
    ValueError
        One class (:data:`MSG_ONE_CLASS`), more than two (:data:`MSG_MANY_CLASSES`), a pair
        that needs a positive label (:data:`MSG_NEED_POSITIVE_LABEL`), or a positive label
        that is not a value (:data:`MSG_UNKNOWN_POSITIVE_LABEL`).

    Examples
    --------
    >>> y, pos, neg = binary_target(pl.Series("bought", ["no", "yes", "no"]), positive_label="yes")
    >>> y.tolist(), pos, neg
    ([0, 1, 0], 'yes', 'no')
    """
    name = column.name
    values = column.unique().sort().to_list()
    if len(values) == 1:
        raise ValueError(MSG_ONE_CLASS.format(target=name, values=_values_text(values), rows=column.len()))
    if len(values) > 2:
        raise ValueError(MSG_MANY_CLASSES.format(target=name, count=len(values), values=_values_text(values)))
    if positive_label is None:
        if column.dtype == pl.Boolean:
            positive = True
        elif column.dtype.is_numeric() and sorted(float(v) for v in values) == [0.0, 1.0]:
            positive = next(v for v in values if float(v) == 1.0)
        else:
            raise ValueError(MSG_NEED_POSITIVE_LABEL.format(target=name, values=_values_text(values)))
    else:
        wanted = str(positive_label)
        matches = [v for v in values if str(v) == wanted] or [
            v for v in values if isinstance(v, bool | int | float) and str(v).lower() == wanted.lower()
        ]
        if not matches and column.dtype.is_numeric():
            try:
                matches = [v for v in values if float(v) == float(wanted)]
            except ValueError:
                matches = []
        if not matches:
            raise ValueError(
                MSG_UNKNOWN_POSITIVE_LABEL.format(label=wanted, target=name, values=_values_text(values))
            )
        positive = matches[0]
    negative = next(v for v in values if v != positive)
    y = (column == positive).cast(pl.Int64).to_numpy()
    return y, str(positive), str(negative)


def _id_reason(series: pl.Series) -> str | None:
    if ID_NAME_PATTERN.match(series.name):
        return "its name"
    dtype = series.dtype
    if (dtype == pl.String or dtype.is_integer()) and series.len() > 1:
        if series.null_count() == 0 and series.n_unique() == series.len():
            return "every value differs"
    return None


def _select_columns(frame: pl.DataFrame, target: str) -> tuple[list[str], list[str], str | None, list[str]]:
    """Numeric and string feature columns, the id column, and notices for the columns left out."""
    numeric: list[str] = []
    categorical: list[str] = []
    id_column: str | None = None
    notices: list[str] = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame.get_column(name)
        reason = _id_reason(series)
        if reason is not None:
            notices.append(MSG_ID_LIKE.format(column=name, why=reason))
            id_column = id_column or name
            continue
        dtype = series.dtype
        if series.null_count() == series.len():
            notices.append(MSG_ALL_MISSING.format(column=name))
            continue
        if dtype.is_numeric() or dtype == pl.Boolean:
            kind = numeric
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            kind = categorical
        else:
            notices.append(MSG_UNSUPPORTED.format(column=name, dtype=dtype))
            continue
        if series.drop_nulls().n_unique() == 1 and series.null_count() == 0:
            notices.append(MSG_CONSTANT.format(column=name))
            continue
        kind.append(name)
    return numeric, categorical, id_column, notices


def _model_input(frame: pl.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Floats with NaN for numeric columns, object text with a missing level for string columns."""
    data: dict[str, np.ndarray] = {}
    for name in numeric:
        values = frame.get_column(name).cast(pl.Float64).to_numpy()
        data[name] = np.where(np.isfinite(values), values, np.nan)
    for name in categorical:
        text = frame.get_column(name).cast(pl.String).fill_null(MISSING_CATEGORY)
        data[name] = np.asarray(text.to_list(), dtype=object)
    return pd.DataFrame(data)


def _make_pipeline(numeric: list[str], categorical: list[str], random_state: int) -> Pipeline:
    # One-hot rather than the booster's native categorical splits: shap 0.51's TreeExplainer reads
    # those bitset splits as numeric thresholds and loses additivity (error ~13 log-odds when tried).
    # One transformer per text column so that ``output_indices_`` names each one's columns.
    encoders = [
        (
            f"text_{j}",
            OneHotEncoder(
                handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES, sparse_output=False
            ),
            [name],
        )
        for j, name in enumerate(categorical)
    ]
    prepare = ColumnTransformer([("numeric", "passthrough", numeric), *encoders])
    # TABLE_BOOSTER, not the bank models' BANK_BOOSTER (each says why); no imputation: the booster
    # routes NaN natively and TreeExplainer stays exact with it.
    model = HistGradientBoostingClassifier(**TABLE_BOOSTER, early_stopping=False, random_state=random_state)
    return Pipeline([("prepare", prepare), ("model", model)])


def _column_groups(pipeline: Pipeline, numeric: list[str], categorical: list[str]) -> list[list[int]]:
    """For each input feature (numeric, then text), the indices of its transformed columns."""
    slices = pipeline.named_steps["prepare"].output_indices_
    numeric_start = slices["numeric"].start
    groups = [[numeric_start + i] for i in range(len(numeric))]
    for j in range(len(categorical)):
        part = slices[f"text_{j}"]
        groups.append(list(range(part.start, part.stop)))
    return groups


def train_on_table(
    frame: pl.DataFrame,
    *,
    target: str,
    positive_label: object = None,
    explain_rows: int = 2000,
    random_state: int = 0,
) -> TableModelResult:
    """Train a gradient-boosted model of a two-class column and explain it with SHAP.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer: the target and any numeric, boolean or text columns.
    target : str
        The column to predict; it must hold two classes.
    positive_label : object, optional
        The target value modelled as 1 (needed unless the target is boolean or 0/1); see
        :func:`binary_target`.
    explain_rows : int
        Holdout rows explained at most (a random sample when the holdout is larger).
    random_state : int
        Seed of the holdout split, the booster and the explained sample.

    Returns
    -------
    TableModelResult
        AUC, importance, predictions for every row, SHAP values and the fitted pipeline.

    Raises
    ------
    ValueError
        Target absent (:data:`MSG_TARGET_MISSING`), not two classes or an unusable positive
        label (see :func:`binary_target`), fewer than :data:`MIN_ROWS_PER_CLASS` rows of a
        class (:data:`MSG_TOO_FEW_ROWS`), or no feature left (:data:`MSG_NO_FEATURES`).
    """
    if target not in frame.columns:
        raise ValueError(MSG_TARGET_MISSING.format(target=target, columns=", ".join(frame.columns)))
    if frame.schema[target].is_nested() or frame.schema[target] == pl.Object:
        raise ValueError(MSG_TARGET_NOT_SCALAR.format(target=target, dtype=frame.schema[target]))
    row_column = "__row"
    while row_column in frame.columns:  # a table may hold a column of that name already
        row_column = "_" + row_column
    frame = frame.with_row_index(row_column, offset=1)
    notices: list[str] = []
    missing = frame.get_column(target).null_count()
    if missing:
        notices.append(MSG_MISSING_TARGET_ROWS.format(count=missing, target=target))
        frame = frame.filter(pl.col(target).is_not_null())
    if frame.height == 0:
        raise ValueError(MSG_ONE_CLASS.format(target=target, values="none", rows=0))
    y, positive, negative = binary_target(frame.get_column(target), positive_label=positive_label)
    for value, count in ((positive, int(y.sum())), (negative, int(len(y) - y.sum()))):
        if count < MIN_ROWS_PER_CLASS:
            raise ValueError(
                MSG_TOO_FEW_ROWS.format(target=target, count=count, value=value, minimum=MIN_ROWS_PER_CLASS)
            )
    numeric, categorical, id_column, column_notices = _select_columns(frame.drop(row_column), target)
    notices += column_notices
    if not numeric and not categorical:
        dropped = ", ".join(c for c in frame.columns if c not in (row_column, target)) or "none"
        raise ValueError(MSG_NO_FEATURES.format(dropped=dropped))

    x = _model_input(frame, numeric, categorical)
    index = np.arange(frame.height)
    train_idx, hold_idx = train_test_split(
        index, test_size=HOLDOUT_SHARE, stratify=y, random_state=random_state
    )
    pipeline = _make_pipeline(numeric, categorical, random_state).fit(x.iloc[train_idx], y[train_idx])
    probability = pipeline.predict_proba(x)[:, 1]
    auc = float(roc_auc_score(y[hold_idx], probability[hold_idx]))

    rng = np.random.default_rng(random_state)
    explained = np.sort(rng.choice(hold_idx, size=min(explain_rows, len(hold_idx)), replace=False))
    data = np.asarray(pipeline.named_steps["prepare"].transform(x.iloc[explained]), dtype=np.float64)
    explainer = shap.TreeExplainer(pipeline.named_steps["model"], model_output="raw")
    raw = np.asarray(explainer.shap_values(data, check_additivity=False), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    groups = _column_groups(pipeline, numeric, categorical)
    values = np.column_stack([raw[:, g].sum(axis=1) for g in groups])
    names = [*numeric, *categorical]

    directions: list[str] = []
    for j, name in enumerate(names):
        if name in categorical:
            directions.append("categorical")
            continue
        directions.append(effect_direction(data[:, j], values[:, j]))
    importance = pl.DataFrame(
        {"feature": names, "mean_abs_shap": np.abs(values).mean(axis=0), "direction": directions}
    ).sort(["mean_abs_shap", "feature"], descending=[True, False])

    keys = frame.select(row_column, *([id_column] if id_column else [])).rename({row_column: "row"})
    split = np.full(frame.height, "train", dtype=object)
    split[hold_idx] = "holdout"
    predictions = keys.with_columns(
        pl.Series("split", split.tolist(), dtype=pl.String),
        pl.Series("actual", y),
        pl.Series("probability", probability),
    )
    shap_frame = keys[explained].with_columns(
        pl.lit(base).alias("base_value"),
        pl.Series("log_odds", pipeline.decision_function(x.iloc[explained])),
        *(pl.Series(name, values[:, j]) for j, name in enumerate(names)),
    )
    ordered = [c for c in frame.columns if c in set(names)]
    return TableModelResult(
        target=target,
        positive_label=positive,
        negative_label=negative,
        id_column=id_column,
        features=tuple(ordered),
        categorical=tuple(c for c in ordered if c in categorical),
        notices=tuple(notices),
        rows=frame.height,
        positives=int(y.sum()),
        train_rows=len(train_idx),
        holdout_rows=len(hold_idx),
        auc=auc,
        base_value=base,
        importance=importance,
        predictions=predictions,
        shap_values=shap_frame,
        pipeline=pipeline,
    )


def write_table_model_outputs(
    result: TableModelResult, input_path: str | Path, *, output_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write the predictions and SHAP values as ``<stem>_predictions.csv`` and ``<stem>_shap.csv``.

    Parameters
    ----------
    result : TableModelResult
        From :func:`train_on_table`.
    input_path : str or pathlib.Path
        The table that was read; its stem names the files.
    output_dir : str or pathlib.Path, optional
        Folder of the files (default: the input's folder); created when absent.

    Returns
    -------
    tuple of pathlib.Path
        The predictions file and the SHAP file.
    """
    source = Path(input_path)
    folder = Path(output_dir) if output_dir is not None else source.parent
    folder.mkdir(parents=True, exist_ok=True)
    predictions = folder / f"{source.stem}_predictions.csv"
    shap_file = folder / f"{source.stem}_shap.csv"
    write_safe_csv(result.predictions, predictions)
    write_safe_csv(result.shap_values, shap_file)
    return predictions, shap_file
