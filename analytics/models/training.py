"""Churn and product-propensity models: point-in-time training data, time split, calibration, SHAP.

How a model is made (docs/models.md says why each choice was made)
------------------------------------------------------------------
1. Features are :func:`analytics.kpis.rollups.build_customer_features` evaluated *as of a cut-off
   date* (:func:`load_point_in_time_features`): only data up to the cut-off enters, and the
   frame carries that date in its ``features_as_of`` column.
2. Labels come from what happened in the ``horizon_days`` after the cut-off
   (:func:`build_training_frame`): churn is ``customers.closed_at`` in
   ``(cutoff, cutoff + horizon]``; take-up of a product is a holding of it opened in that
   interval by a customer who did not hold it on the cut-off. A cut-off whose horizon runs
   past the snapshot is refused (its labels are unknown), and so is a feature frame
   computed after the cut-off or holding a date after it (:func:`check_no_leakage`).
3. :func:`train_model` stacks the training cut-offs, calibrates on a later validation
   cut-off and scores on the latest test cut-off (:func:`default_cutoffs`), for a
   HistGradientBoostingClassifier pipeline and a logistic-regression baseline.
4. :func:`explain` gives exact SHAP values of the uncalibrated tree model (TreeExplainer)
   or of the baseline (LinearExplainer), both in log-odds: the base value plus a row's
   SHAP values equals the pipeline's ``decision_function`` for that row.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol, get_args

import ibis
import numpy as np
import polars as pl
import shap
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from analytics.kpis.rollups import build_customer_features, feature_window_start
from analytics.models.quality import calibration_frame
from analytics.segments.features import ZERO_WHEN_MISSING, make_preprocessor

Target = Literal["churn", "credit_card", "savings", "investment_fund"]
CalibrationMethod = Literal["sigmoid", "isotonic"]
ModelKind = Literal["tree", "baseline"]

TARGETS: tuple[str, ...] = get_args(Target)
"""Every model target: churn, then the products whose take-up is modelled."""

AS_OF_COLUMN = "features_as_of"
"""Column of a feature frame holding the date its features were computed as of."""

LABEL_COLUMN = "label"
"""Column of a training frame holding the 0/1 outcome."""

CUTOFF_COLUMN = "cutoff"
"""Column of a training frame holding the cut-off date the row belongs to."""

DEFAULT_HORIZON_DAYS = 90
"""Days after the cut-off in which the outcome is looked for."""

MSG_UNKNOWN_TARGET = "Unknown target {target!r}: choose one of {choices}."
MSG_HORIZON_PAST_SNAPSHOT = (
    "Cut-off {cutoff} with a {horizon}-day horizon ends on {end}, after the snapshot {snapshot}:"
    " the outcome is not known yet. Choose a cut-off on or before {latest}."
)
MSG_SHORT_HISTORY = (
    "Cut-off {cutoff} needs 12 months of history for its features (from {window_start}), but the"
    " history starts on {history_start}. Choose a cut-off on or after {earliest}."
)
MSG_BAD_HORIZON = "horizon_days must be a positive number of days, not {horizon}."
MSG_NO_AS_OF = (
    "The feature frame has no {column!r} column: it cannot be shown to hold only data up to the"
    " cut-off. Build it with load_point_in_time_features."
)
MSG_FEATURES_AFTER_CUTOFF = (
    "Leakage: the feature frame was computed as of {as_of}, after the cut-off {cutoff} (row {row})."
)
MSG_DATE_AFTER_CUTOFF = (
    "Leakage: column {column!r} holds {value} on row {row}, after the cut-off {cutoff}: a feature"
    " may only use data up to the cut-off."
)
MSG_SNAPSHOT_VALUED = (
    "Leakage: column {column!r} comes from holdings.balance, which holds the latest balance (zero"
    " once a holding closes), not the balance on the cut-off {cutoff}: it reveals later closures."
)
MSG_CUTOFF_ORDER = (
    "Cut-offs must run train < validation < test with each split's labels ending before the next"
    " split's cut-off: {detail}."
)
MSG_NO_TRAIN_CUTOFF = "At least one training cut-off is needed."
MSG_ONE_CLASS = (
    "The {split} split (cut-off {cutoffs}) has {positives} positive outcomes out of {rows} rows: both"
    " outcomes are needed to train and score a {target} model."
)
MSG_UNKNOWN_FEATURE = "Feature column {column!r} is not in the training frame. Its columns are: {columns}."
MSG_NOT_ENOUGH_HISTORY = (
    "The data runs from {history_start} to {snapshot}: too short for a training, a validation and"
    " a test cut-off with 12 months of features and a {horizon}-day horizon each."
)

LABEL_PROXIES: dict[str, tuple[str, ...]] = {
    "churn": (),
    # Every eligible customer lacks the product on the cut-off: its flag and its own balance
    # are constant among them, and for scoring they would only restate eligibility.
    "credit_card": ("has_credit_card",),
    "savings": ("has_savings",),
    "investment_fund": ("has_investment_fund",),
}
"""Feature columns dropped per target because they restate the label or the eligibility rule."""

SNAPSHOT_VALUED_FEATURES: tuple[str, ...] = ("deposit_balance", "investment_balance", "credit_balance")
"""``customer_features`` columns that cannot be computed as of a past date.

They sum ``holdings.balance``, the latest balance, which the data sets to 0 when a holding
closes: on a past cut-off they would tell who closes later (they made a churn model score an
AUC of 0.9998 before they were removed). :func:`load_point_in_time_features` leaves them out
and :func:`check_no_leakage` refuses them.
"""

NON_FEATURE_COLUMNS: tuple[str, ...] = ("customer_id", AS_OF_COLUMN, CUTOFF_COLUMN, LABEL_COLUMN)
"""Columns of a training frame that are never model inputs."""


@dataclass(frozen=True)
class SplitCutoffs:
    """Cut-off dates of the time split.

    Parameters
    ----------
    train : tuple of datetime.date
        Cut-offs whose rows are stacked to fit the models.
    validation : datetime.date
        Cut-off whose rows calibrate the probabilities.
    test : datetime.date
        Cut-off whose rows score the models (the latest one with a known outcome).
    """

    train: tuple[date, ...]
    validation: date
    test: date


@dataclass(frozen=True)
class Explanation:
    """Exact SHAP values of a fitted model, in log-odds.

    Parameters
    ----------
    base_value : float
        Expected log-odds (the explainer's expected value).
    values : numpy.ndarray
        SHAP values, shape (rows, features), in the order of ``features``.
    data : numpy.ndarray
        The explained feature values after the pipeline's preprocessing (tree model: imputed
        raw values; baseline: imputed, log-transformed and standardized values).
    features : tuple of str
        Names of the explained columns.
    space : str
        Always ``"log-odds"``: ``base_value + values.sum(axis=1)`` equals the pipeline's
        ``decision_function``.
    """

    base_value: float
    values: np.ndarray
    data: np.ndarray
    features: tuple[str, ...]
    space: str = "log-odds"


@dataclass(frozen=True)
class TrainedModel:
    """A trained target model, its baseline, calibration, test metrics and explanation summary.

    Parameters
    ----------
    target : str
        The :data:`Target`.
    horizon_days : int
        Days after a cut-off in which the outcome is looked for.
    cutoffs : SplitCutoffs
        The time split.
    features : tuple of str
        Input columns of both pipelines, in order.
    pipeline : sklearn.pipeline.Pipeline
        ``ColumnTransformer`` (imputation) + ``HistGradientBoostingClassifier``, fitted on
        the training cut-offs; uncalibrated, the model SHAP explains.
    calibrated : sklearn.calibration.CalibratedClassifierCV
        ``pipeline`` frozen and calibrated on the validation cut-off: the probabilities to show.
    baseline : sklearn.pipeline.Pipeline
        :func:`analytics.segments.features.make_preprocessor` + ``LogisticRegression``.
    metrics : dict of str to float
        Test metrics of the tree model: ``auc``, ``average_precision``, ``brier`` (calibrated),
        ``brier_uncalibrated``, ``prevalence``, ``rows``, ``positives``.
    baseline_metrics : dict of str to float
        ``auc``, ``average_precision``, ``brier`` of the baseline on the test cut-off.
    calibration : polars.DataFrame
        Calibration curve on the test cut-off: ``model`` ("uncalibrated" or "calibrated"),
        ``bin``, ``mean_predicted``, ``observed_rate``, ``rows``.
    importance : polars.DataFrame
        ``feature``, ``mean_abs_shap`` (log-odds), ``direction`` ("+" when higher values
        raise the log-odds, "-" when they lower it, "0" for no relation), sorted by
        ``mean_abs_shap`` descending; from :func:`explain` on test rows.
    split_sizes : dict of str to int
        Rows and positives of each split (``train_rows``, ``train_positives``, ...).
    test_scores : polars.DataFrame
        The test cut-off's rows: ``customer_id``, ``label``, ``score`` (calibrated),
        ``score_uncalibrated``, ``baseline_score``; what the quality view draws.
    train_features : polars.DataFrame
        The stacked training rows' feature columns (the expected distribution of the
        population stability index).
    """

    target: str
    horizon_days: int
    cutoffs: SplitCutoffs
    features: tuple[str, ...]
    pipeline: Pipeline
    calibrated: CalibratedClassifierCV
    baseline: Pipeline
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    calibration: pl.DataFrame
    importance: pl.DataFrame
    split_sizes: dict[str, int]
    test_scores: pl.DataFrame
    train_features: pl.DataFrame

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome for each row of a feature frame.

        Parameters
        ----------
        frame : polars.DataFrame
            Holds every column of ``features``.

        Returns
        -------
        numpy.ndarray
            One probability per row.
        """
        return self.calibrated.predict_proba(feature_matrix(frame, self.features))[:, 1]


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(MSG_UNKNOWN_TARGET.format(target=target, choices=", ".join(TARGETS)))


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clipped to the end of a shorter month."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_end(day: date) -> date:
    return _add_months(day.replace(day=1), 1) - timedelta(days=1)


def earliest_cutoff(history_start: date) -> date:
    """The first cut-off whose 12-month feature window lies inside the history.

    Parameters
    ----------
    history_start : datetime.date
        First day of the data set's history.

    Returns
    -------
    datetime.date
        The last day of the 12th month of the history.

    Examples
    --------
    >>> earliest_cutoff(date(2024, 11, 1))
    datetime.date(2025, 10, 31)
    """
    return _add_months(history_start, 12) - timedelta(days=1)


def latest_cutoff(snapshot: date, *, horizon_days: int = DEFAULT_HORIZON_DAYS) -> date:
    """The last cut-off whose outcome horizon ends on or before the snapshot.

    Parameters
    ----------
    snapshot : datetime.date
        The data set's snapshot date.
    horizon_days : int
        Days after the cut-off in which the outcome is looked for.

    Returns
    -------
    datetime.date
        ``snapshot - horizon_days``.

    Examples
    --------
    >>> latest_cutoff(date(2026, 10, 31))
    datetime.date(2026, 8, 2)
    """
    return snapshot - timedelta(days=horizon_days)


def default_cutoffs(
    history_start: date, snapshot: date, *, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> SplitCutoffs:
    """Month-end cut-offs for the time split: train, then validation, then test.

    The test cut-off is the last month end whose horizon fits before the snapshot; the
    validation cut-off is the last month end whose labels end before the test cut-off; the
    training cut-offs are every other month end, from the first with 12 months of history,
    whose labels end on or before the validation cut-off. So no label of an earlier split
    is observed after a later split's cut-off.

    Parameters
    ----------
    history_start : datetime.date
        First day of the history.
    snapshot : datetime.date
        Snapshot date.
    horizon_days : int
        Days of the outcome horizon.

    Returns
    -------
    SplitCutoffs
        The cut-offs.

    Raises
    ------
    ValueError
        When the history is too short for three splits (:data:`MSG_NOT_ENOUGH_HISTORY`).

    Examples
    --------
    >>> default_cutoffs(date(2024, 11, 1), date(2026, 10, 31))
    SplitCutoffs(train=(datetime.date(2025, 10, 31), datetime.date(2025, 12, 31)),\
 validation=datetime.date(2026, 4, 30), test=datetime.date(2026, 7, 31))
    """
    first = earliest_cutoff(history_start)

    def last_month_end_on_or_before(day: date) -> date:
        end = _month_end(day)
        return end if end <= day else day.replace(day=1) - timedelta(days=1)

    horizon = timedelta(days=horizon_days)
    test = last_month_end_on_or_before(latest_cutoff(snapshot, horizon_days=horizon_days))
    validation = last_month_end_on_or_before(test - horizon)
    last_train = validation - horizon
    train: list[date] = []
    day = first
    while day <= last_train:
        train.append(day)
        day = _month_end(_add_months(day.replace(day=1), 2))
    if not train:
        raise ValueError(
            MSG_NOT_ENOUGH_HISTORY.format(
                history_start=history_start, snapshot=snapshot, horizon=horizon_days
            )
        )
    return SplitCutoffs(train=tuple(train), validation=validation, test=test)


def load_point_in_time_features(backend: ibis.BaseBackend, *, cutoff: date) -> pl.DataFrame:
    """``customer_features`` as they were on ``cutoff``, stamped with that date.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    cutoff : datetime.date
        The as-of date: customers on that day, behaviour in the 12 months ending on it.

    Returns
    -------
    polars.DataFrame
        The columns of :data:`analytics.store.contracts.CUSTOMER_FEATURES` but
        :data:`SNAPSHOT_VALUED_FEATURES`, plus :data:`AS_OF_COLUMN` (Date); one row per
        customer, ordered by ``customer_id``.
    """
    # history_start is unused by the expression (its window is defined from as_of alone).
    expr = build_customer_features(backend, as_of=cutoff, history_start=cutoff)
    frame = expr.drop(*SNAPSHOT_VALUED_FEATURES).to_polars().sort("customer_id")
    return frame.with_columns(pl.lit(cutoff, dtype=pl.Date).alias(AS_OF_COLUMN))


def check_no_leakage(frame: pl.DataFrame, cutoff: date) -> None:
    """Refuse a feature frame that uses information from after ``cutoff``.

    Three checks: the frame's :data:`AS_OF_COLUMN` is on or before the cut-off on every row;
    no Date or Datetime column holds a value after the cut-off (a dated feature such as a
    "last login" taken from later data); and no column is one of
    :data:`SNAPSHOT_VALUED_FEATURES`, which hold the latest values whatever the as-of date.

    Parameters
    ----------
    frame : polars.DataFrame
        A feature frame (from :func:`load_point_in_time_features`, possibly with extra columns).
    cutoff : datetime.date
        The cut-off the features must respect.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        :data:`MSG_NO_AS_OF`, :data:`MSG_FEATURES_AFTER_CUTOFF`, :data:`MSG_DATE_AFTER_CUTOFF`
        (naming the column and the first offending row) or :data:`MSG_SNAPSHOT_VALUED`.

    Examples
    --------
    >>> frame = pl.DataFrame({"customer_id": [1], "features_as_of": [date(2026, 1, 31)]})
    >>> check_no_leakage(frame, date(2025, 12, 31))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Leakage: the feature frame was computed as of 2026-01-31, after the cut-off 2025-12-31...
    """
    if AS_OF_COLUMN not in frame.columns:
        raise ValueError(MSG_NO_AS_OF.format(column=AS_OF_COLUMN))
    as_of = frame.get_column(AS_OF_COLUMN).cast(pl.Date)
    late = (as_of > cutoff).fill_null(True)
    if late.any():
        row = int(late.arg_max())
        raise ValueError(MSG_FEATURES_AFTER_CUTOFF.format(as_of=as_of[row], cutoff=cutoff, row=row))
    for name in SNAPSHOT_VALUED_FEATURES:
        if name in frame.columns:
            raise ValueError(MSG_SNAPSHOT_VALUED.format(column=name, cutoff=cutoff))
    # A timestamp during the cut-off day itself is allowed: that day is inside the features' window.
    first_after = datetime.combine(cutoff + timedelta(days=1), time())
    for name, dtype in frame.schema.items():
        if name == AS_OF_COLUMN:
            continue
        column = frame.get_column(name)
        if dtype == pl.Date:
            after = column > cutoff
        elif isinstance(dtype, pl.Datetime):
            after = column.dt.replace_time_zone(None) >= first_after
        else:
            continue
        after = after.fill_null(False)
        if after.any():
            row = int(after.arg_max())
            raise ValueError(
                MSG_DATE_AFTER_CUTOFF.format(column=name, value=column[row], row=row, cutoff=cutoff)
            )


def _check_cutoff(backend: ibis.BaseBackend, cutoff: date, horizon_days: int) -> None:
    if horizon_days <= 0:
        raise ValueError(MSG_BAD_HORIZON.format(horizon=horizon_days))
    history_start, snapshot = _history_bounds(backend)
    end = cutoff + timedelta(days=horizon_days)
    if end > snapshot:
        raise ValueError(
            MSG_HORIZON_PAST_SNAPSHOT.format(
                cutoff=cutoff,
                horizon=horizon_days,
                end=end,
                snapshot=snapshot,
                latest=latest_cutoff(snapshot, horizon_days=horizon_days),
            )
        )
    if feature_window_start(cutoff) < history_start:
        raise ValueError(
            MSG_SHORT_HISTORY.format(
                cutoff=cutoff,
                window_start=feature_window_start(cutoff),
                history_start=history_start,
                earliest=earliest_cutoff(history_start),
            )
        )


def _history_bounds(backend: ibis.BaseBackend) -> tuple[date, date]:
    """(history start, snapshot) from ``dataset_meta``, as the store's ``Database`` reads them."""
    meta = backend.table("dataset_meta").to_polars()
    facts = dict(zip(meta.get_column("key").to_list(), meta.get_column("value").to_list(), strict=True))
    tx = backend.table("transactions")
    if "as_of" in facts:
        snapshot = date.fromisoformat(facts["as_of"][:10])
    else:
        snapshot = tx.ts.max().to_polars().date()
    if "history_start" in facts:
        history_start = date.fromisoformat(facts["history_start"][:10])
    else:
        history_start = tx.ts.min().to_polars().date()
    return history_start.replace(day=1), snapshot


def build_labels(
    backend: ibis.BaseBackend, *, target: Target, cutoff: date, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> pl.DataFrame:
    """The outcome of every customer on ``cutoff`` in the ``horizon_days`` after it.

    - ``churn``: 1 when ``customers.closed_at`` is in ``(cutoff, cutoff + horizon]``;
      customers are those joined on or before the cut-off and not closed on it.
    - a product: 1 when a ``holdings`` row of it has ``opened_at`` in
      ``(cutoff, cutoff + horizon]``; only customers (as above) without an open holding
      of the product on the cut-off are eligible.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    target : Target
        What is predicted.
    cutoff : datetime.date
        The cut-off date.
    horizon_days : int
        Days after the cut-off in which the outcome is looked for.

    Returns
    -------
    polars.DataFrame
        ``customer_id`` and :data:`LABEL_COLUMN` (Int8), ordered by ``customer_id``.
    """
    _check_target(target)
    cut = ibis.literal(cutoff, type="date")
    end = ibis.literal(cutoff + timedelta(days=horizon_days), type="date")
    customers = backend.table("customers")
    base = customers.filter(
        customers.joined_at <= cut, customers.closed_at.isnull() | (customers.closed_at > cut)
    )
    if target == "churn":
        out = base.select(
            "customer_id",
            label=(base.closed_at.notnull() & (base.closed_at <= end)).cast("int8"),
        )
    else:
        ho = backend.table("holdings").filter(lambda t: t.product_id == target)
        held = ho.filter(ho.opened_at <= cut, ho.closed_at.isnull() | (ho.closed_at > cut)).select(
            "customer_id"
        )
        opened = (
            ho.filter(ho.opened_at > cut, ho.opened_at <= end)
            .select("customer_id")
            .distinct()
            .mutate(label=ibis.literal(1, type="int8"))
        )
        eligible = base.select("customer_id").anti_join(held, "customer_id")
        out = eligible.left_join(opened, "customer_id").select(
            eligible.customer_id, label=opened.label.fill_null(0).cast("int8")
        )
    return out.to_polars().sort("customer_id")


def build_training_frame(
    backend: ibis.BaseBackend,
    *,
    target: Target,
    cutoff: date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    features: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Point-in-time features on ``cutoff`` joined to the outcome after it.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    target : Target
        What is predicted.
    cutoff : datetime.date
        The cut-off: features use data up to it, labels what happened after it.
    horizon_days : int
        Days after the cut-off in which the outcome is looked for.
    features : polars.DataFrame, optional
        A feature frame to use instead of computing one (e.g. shared by several targets, or
        with extra columns); it must pass :func:`check_no_leakage` for ``cutoff``.

    Returns
    -------
    polars.DataFrame
        The feature columns without the target's :data:`LABEL_PROXIES`, plus
        :data:`CUTOFF_COLUMN` and :data:`LABEL_COLUMN`; one row per eligible customer.

    Raises
    ------
    ValueError
        For an unknown target, a horizon past the snapshot (:data:`MSG_HORIZON_PAST_SNAPSHOT`),
        a cut-off without 12 months of history (:data:`MSG_SHORT_HISTORY`), or leaking
        features (see :func:`check_no_leakage`).
    """
    _check_target(target)
    _check_cutoff(backend, cutoff, horizon_days)
    if features is None:
        features = load_point_in_time_features(backend, cutoff=cutoff)
    check_no_leakage(features, cutoff)
    labels = build_labels(backend, target=target, cutoff=cutoff, horizon_days=horizon_days)
    drop = [c for c in LABEL_PROXIES[target] if c in features.columns]
    return (
        features.drop(drop)
        .join(labels, on="customer_id", how="inner")
        .with_columns(pl.lit(cutoff, dtype=pl.Date).alias(CUTOFF_COLUMN))
        .sort("customer_id")
    )


def model_features(frame: pl.DataFrame) -> tuple[str, ...]:
    """The model input columns of a training frame: numeric and boolean columns that are not keys.

    Parameters
    ----------
    frame : polars.DataFrame
        A training frame.

    Returns
    -------
    tuple of str
        Columns in frame order, without :data:`NON_FEATURE_COLUMNS`.
    """
    return tuple(
        name
        for name, dtype in frame.schema.items()
        if name not in NON_FEATURE_COLUMNS and (dtype.is_numeric() or dtype == pl.Boolean)
    )


def feature_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The float matrix of ``features`` (booleans as 0/1, nulls as NaN).

    Parameters
    ----------
    frame : polars.DataFrame
        Holds every column of ``features``.
    features : sequence of str
        Columns, in order.

    Returns
    -------
    numpy.ndarray
        Shape (rows, len(features)), float64.

    Raises
    ------
    ValueError
        When a column is missing (:data:`MSG_UNKNOWN_FEATURE`).
    """
    for name in features:
        if name not in frame.columns:
            raise ValueError(MSG_UNKNOWN_FEATURE.format(column=name, columns=", ".join(frame.columns)))
    return frame.select(pl.col(name).cast(pl.Float64) for name in features).to_numpy()


def make_tree_pipeline(features: Sequence[str], *, random_state: int = 0) -> Pipeline:
    """Imputation + HistGradientBoostingClassifier, the model that is calibrated and explained.

    Missing values are imputed (0 for :data:`analytics.segments.features.ZERO_WHEN_MISSING`, else the
    median) rather than left to the booster, so SHAP explains the same imputed matrix the
    trees see; the columns keep their input order and units (trees need no scaling).

    Parameters
    ----------
    features : sequence of str
        Input columns, in order.
    random_state : int
        Seed of the booster (used for its early-stopping split when enabled).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``prepare`` (ColumnTransformer) and ``model``.
    """
    zero = [i for i, name in enumerate(features) if name in ZERO_WHEN_MISSING]
    median = [i for i, name in enumerate(features) if name not in ZERO_WHEN_MISSING]
    prepare = ColumnTransformer(
        [
            ("median", SimpleImputer(strategy="median", keep_empty_features=True), median),
            ("zero", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True), zero),
        ]
    )
    # Shallow, slowly learned trees: on the sample bank's validation cut-offs depth-2 trees
    # (pairwise interactions) beat 15-leaf trees for churn, savings and credit-card take-up
    # (mean validation AUC 0.783 against 0.770) and match the logistic baseline; the planted
    # processes are near-logistic in a few drivers (docs/models.md, Pipelines).
    model = HistGradientBoostingClassifier(
        learning_rate=0.02,
        max_iter=400,
        max_depth=2,
        min_samples_leaf=300,
        l2_regularization=5.0,
        early_stopping=False,
        random_state=random_state,
    )
    return Pipeline([("prepare", prepare), ("model", model)])


def make_baseline_pipeline(features: Sequence[str]) -> Pipeline:
    """:func:`analytics.segments.features.make_preprocessor` + LogisticRegression: the baseline.

    Parameters
    ----------
    features : sequence of str
        Input columns, in order.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``prepare`` and ``model``.
    """
    return Pipeline([("prepare", make_preprocessor(features)), ("model", LogisticRegression(max_iter=2000))])


def transformed_features(pipeline: Pipeline, features: Sequence[str]) -> tuple[str, ...]:
    """Names of the columns leaving a fitted pipeline's ``prepare`` step, in their order.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline from :func:`make_tree_pipeline` or :func:`make_baseline_pipeline`.
    features : sequence of str
        Its input columns.

    Returns
    -------
    tuple of str
        Input names reordered as the ColumnTransformer concatenates its groups.
    """
    prepare: ColumnTransformer = pipeline.named_steps["prepare"]
    order: list[str] = []
    for _, _, columns in prepare.transformers_:
        if isinstance(columns, list) and columns and all(isinstance(i, (int, np.integer)) for i in columns):
            order.extend(features[i] for i in columns)
    return tuple(order)


class FittedPipelines(Protocol):
    """What :func:`explain` needs: a trained or a registered-and-loaded model."""

    @property
    def pipeline(self) -> Pipeline: ...  # noqa: D102

    @property
    def baseline(self) -> Pipeline: ...  # noqa: D102

    @property
    def features(self) -> tuple[str, ...]: ...  # noqa: D102


def explain(
    model: FittedPipelines,
    frame: pl.DataFrame,
    *,
    kind: ModelKind = "tree",
    background: pl.DataFrame | None = None,
) -> Explanation:
    """Exact SHAP values, in log-odds, of the uncalibrated tree model or of the baseline.

    The tree model is explained by ``shap.TreeExplainer`` (``model_output="raw"``, the
    booster's log-odds; tree-path-dependent, so no background is needed). The baseline is
    explained by ``shap.LinearExplainer`` with ``background`` (default: ``frame``) as the
    masker, giving ``coef * (x - mean)`` per feature. Either way
    ``base_value + values.sum(axis=1) == pipeline.decision_function(X)``. Calibration is a
    monotone map applied afterwards and is not part of the explanation.

    Parameters
    ----------
    model : TrainedModel or analytics.models.registry.LoadedModel
        A result of :func:`train_model`, or a registered model loaded from its artifact.
    frame : polars.DataFrame
        Rows to explain, holding ``model.features``.
    kind : {"tree", "baseline"}
        Which of the two fitted pipelines to explain.
    background : polars.DataFrame, optional
        Reference rows for the baseline's mean (ignored for the tree model).

    Returns
    -------
    Explanation
        Base value, SHAP values and the preprocessed values of the explained columns.
    """
    pipeline = model.pipeline if kind == "tree" else model.baseline
    prepare = pipeline.named_steps["prepare"]
    data = np.asarray(prepare.transform(feature_matrix(frame, model.features)), dtype=np.float64)
    names = transformed_features(pipeline, model.features)
    if kind == "tree":
        explainer = shap.TreeExplainer(pipeline.named_steps["model"], model_output="raw")
        values = np.asarray(explainer.shap_values(data, check_additivity=False), dtype=np.float64)
    else:
        ref = frame if background is None else background
        ref_data = np.asarray(prepare.transform(feature_matrix(ref, model.features)), dtype=np.float64)
        explainer = shap.LinearExplainer(pipeline.named_steps["model"], ref_data)
        values = np.asarray(explainer.shap_values(data), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    return Explanation(base_value=base, values=values, data=data, features=names)


def effect_direction(values: np.ndarray, shap_values: np.ndarray) -> str:
    """Direction of a feature's effect: the sign of the Pearson correlation of value and SHAP value.

    Rows without a value (NaN) are left out; "0" when fewer than two rows remain or either
    side is constant.

    Parameters
    ----------
    values : numpy.ndarray
        The feature's values.
    shap_values : numpy.ndarray
        Its SHAP values on the same rows.

    Returns
    -------
    str
        "+" when higher values raise the output, "-" when they lower it, "0" otherwise.

    Examples
    --------
    >>> effect_direction(np.array([1.0, 2.0, np.nan, 3.0]), np.array([-1.0, 0.0, 5.0, 1.0]))
    '+'
    """
    seen = ~np.isnan(values)
    x, s = values[seen], shap_values[seen]
    if x.size < 2 or np.std(x) == 0 or np.std(s) == 0:
        return "0"
    r = float(np.corrcoef(x, s)[0, 1])
    return "+" if r > 0 else "-" if r < 0 else "0"


def importance_table(explanation: Explanation) -> pl.DataFrame:
    """Mean |SHAP| per feature and the direction of its effect (:func:`effect_direction`).

    Parameters
    ----------
    explanation : Explanation
        From :func:`explain`.

    Returns
    -------
    polars.DataFrame
        ``feature``, ``mean_abs_shap``, ``direction``, sorted by ``mean_abs_shap`` descending
        (ties by feature name).
    """
    values, data = explanation.values, explanation.data
    return pl.DataFrame(
        {
            "feature": list(explanation.features),
            "mean_abs_shap": np.abs(values).mean(axis=0),
            "direction": [effect_direction(data[:, j], values[:, j]) for j in range(values.shape[1])],
        }
    ).sort(["mean_abs_shap", "feature"], descending=[True, False])


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "auc": float(roc_auc_score(y, p)),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
    }


def _calibration_rows(name: str, y: np.ndarray, p: np.ndarray, n_bins: int) -> pl.DataFrame:
    # One binning for the stored table and the page: model_quality's, which counts customers with
    # scikit-learn's own bin assignment (tied quantile edges leave bins empty and dropped).
    frame = calibration_frame(y, p, bins=n_bins, strategy="quantile")
    return frame.select(
        pl.lit(name).alias("model"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("bin"),
        "mean_predicted",
        "observed_rate",
        pl.col("customers").alias("rows"),
    )


def train_model(
    backend: ibis.BaseBackend,
    *,
    target: Target,
    cutoffs: SplitCutoffs | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    calibration: CalibrationMethod = "sigmoid",
    feature_frames: dict[date, pl.DataFrame] | None = None,
    explain_rows: int = 1000,
    random_state: int = 0,
) -> TrainedModel:
    """Train, calibrate, score and explain a model of ``target`` with a split by time.

    The tree pipeline (:func:`make_tree_pipeline`) and the baseline
    (:func:`make_baseline_pipeline`) are fitted on the stacked training cut-offs; the tree
    model is frozen and calibrated on the validation cut-off
    (``CalibratedClassifierCV(FrozenEstimator(...))``); both are scored on the test cut-off.
    The importance table comes from :func:`explain` on up to ``explain_rows`` random test rows.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    target : Target
        What is predicted.
    cutoffs : SplitCutoffs, optional
        The time split; :func:`default_cutoffs` of the data set when omitted.
    horizon_days : int
        Days after each cut-off in which the outcome is looked for.
    calibration : {"sigmoid", "isotonic"}
        Calibration method (Platt scaling by default: a few hundred positives per cut-off
        are too few for a stable isotonic step function).
    feature_frames : dict of date to polars.DataFrame, optional
        Point-in-time feature frames by cut-off (from :func:`load_point_in_time_features`)
        to reuse across targets; missing cut-offs are computed. Each is leakage-checked.
    explain_rows : int
        Test rows sampled for the importance table.
    random_state : int
        Seed of the booster and of the row sample.

    Returns
    -------
    TrainedModel
        Pipelines, calibration, metrics and importance.

    Raises
    ------
    ValueError
        For cut-offs out of order (:data:`MSG_CUTOFF_ORDER`), a split with one outcome only
        (:data:`MSG_ONE_CLASS`), or any error of :func:`build_training_frame`.
    """
    _check_target(target)
    if cutoffs is None:
        history_start, snapshot = _history_bounds(backend)
        cutoffs = default_cutoffs(history_start, snapshot, horizon_days=horizon_days)
    _check_split(cutoffs, horizon_days)
    frames = feature_frames or {}

    def split(days: Sequence[date]) -> pl.DataFrame:
        parts = [
            build_training_frame(
                backend, target=target, cutoff=d, horizon_days=horizon_days, features=frames.get(d)
            )
            for d in days
        ]
        return pl.concat(parts, how="vertical")

    train, valid, test = split(cutoffs.train), split([cutoffs.validation]), split([cutoffs.test])
    features = model_features(train)
    sizes: dict[str, int] = {}
    for name, part, days in (
        ("train", train, cutoffs.train),
        ("validation", valid, (cutoffs.validation,)),
        ("test", test, (cutoffs.test,)),
    ):
        positives = int(part.get_column(LABEL_COLUMN).sum())
        if positives == 0 or positives == part.height:
            raise ValueError(
                MSG_ONE_CLASS.format(
                    split=name,
                    cutoffs=", ".join(str(d) for d in days),
                    positives=positives,
                    rows=part.height,
                    target=target,
                )
            )
        sizes[f"{name}_rows"], sizes[f"{name}_positives"] = part.height, positives

    x_train, y_train = feature_matrix(train, features), train.get_column(LABEL_COLUMN).to_numpy()
    x_valid, y_valid = feature_matrix(valid, features), valid.get_column(LABEL_COLUMN).to_numpy()
    x_test, y_test = feature_matrix(test, features), test.get_column(LABEL_COLUMN).to_numpy()

    pipeline = make_tree_pipeline(features, random_state=random_state).fit(x_train, y_train)
    baseline = make_baseline_pipeline(features).fit(x_train, y_train)
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipeline), method=calibration).fit(x_valid, y_valid)

    raw = pipeline.predict_proba(x_test)[:, 1]
    cal = calibrated.predict_proba(x_test)[:, 1]
    metrics = _scores(y_test, cal)
    metrics["brier_uncalibrated"] = float(brier_score_loss(y_test, raw))
    metrics["auc_uncalibrated"] = float(roc_auc_score(y_test, raw))
    metrics["prevalence"] = float(y_test.mean())
    metrics["rows"] = float(len(y_test))
    metrics["positives"] = float(y_test.sum())
    baseline_score = baseline.predict_proba(x_test)[:, 1]
    baseline_metrics = _scores(y_test, baseline_score)
    calibration_table = pl.concat(
        [_calibration_rows("uncalibrated", y_test, raw, 10), _calibration_rows("calibrated", y_test, cal, 10)]
    )

    result = TrainedModel(
        target=target,
        horizon_days=horizon_days,
        cutoffs=cutoffs,
        features=features,
        pipeline=pipeline,
        calibrated=calibrated,
        baseline=baseline,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        calibration=calibration_table,
        importance=pl.DataFrame(),
        split_sizes=sizes,
        test_scores=pl.DataFrame(
            {
                "customer_id": test.get_column("customer_id").cast(pl.Int64),
                "label": test.get_column(LABEL_COLUMN).cast(pl.Int64),
                "score": cal,
                "score_uncalibrated": raw,
                "baseline_score": baseline_score,
            }
        ),
        train_features=train.select(features),
    )
    rows = test.sample(n=min(explain_rows, test.height), seed=random_state)
    importance = importance_table(explain(result, rows))
    return replace(result, importance=importance)


def _check_split(cutoffs: SplitCutoffs, horizon_days: int) -> None:
    if not cutoffs.train:
        raise ValueError(MSG_NO_TRAIN_CUTOFF)
    horizon = timedelta(days=horizon_days)
    last_train = max(cutoffs.train)
    if last_train + horizon > cutoffs.validation:
        raise ValueError(
            MSG_CUTOFF_ORDER.format(
                detail=f"training labels run to {last_train + horizon}, after the validation cut-off"
                f" {cutoffs.validation}"
            )
        )
    if cutoffs.validation + horizon > cutoffs.test:
        raise ValueError(
            MSG_CUTOFF_ORDER.format(
                detail=f"validation labels run to {cutoffs.validation + horizon}, after the test cut-off"
                f" {cutoffs.test}"
            )
        )
