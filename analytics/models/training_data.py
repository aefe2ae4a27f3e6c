"""Point-in-time training data: cut-offs, features as of a date, outcomes after it, leakage checks.

How a training frame is made (docs/models.md says why each choice was made)
------------------------------------------------------------------------------
1. Features are :func:`analytics.kpis.rollups.build_customer_features` evaluated *as of a cut-off
   date* (:func:`load_point_in_time_features`): only data up to the cut-off enters, and the
   frame carries that date in its ``features_as_of`` column.
2. Labels come from what happened in the ``horizon_days`` after the cut-off
   (:func:`build_training_frame`): churn is ``customers.closed_at`` in
   ``(cutoff, cutoff + horizon]``; take-up of a product is a holding of it opened in that
   interval by a customer who did not hold it on the cut-off. A cut-off whose horizon runs
   past the snapshot is refused (its labels are unknown), and so is a feature frame
   computed after the cut-off or holding a date after it (:func:`check_no_leakage`).
   Only customers whose latest choice allows profiling are rows of a training frame: their
   data trains a model that profiles (docs/privacy.md).
3. :func:`default_cutoffs` chooses the training, validation and test cut-offs of the time
   split that :func:`analytics.models.training.train_model` uses.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args

import ibis
import numpy as np
import polars as pl

from analytics.access.consent import keep_profiling_consented
from analytics.common.docs import shared_docs
from analytics.kpis.rollups import build_customer_features, feature_window_start

Target = Literal["churn", "credit_card", "savings", "investment_fund"]

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


def check_target(target: str) -> None:
    """Refuse a target that is not one of :data:`TARGETS`.

    Parameters
    ----------
    target : str
        The target asked for.

    Raises
    ------
    ValueError
        For an unknown target (:data:`MSG_UNKNOWN_TARGET`).
    """
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


@shared_docs
def load_point_in_time_features(backend: ibis.BaseBackend, *, cutoff: date) -> pl.DataFrame:
    """``customer_features`` as they were on ``cutoff``, stamped with that date.

    Parameters
    ----------
    {backend}
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
    history_start, snapshot = history_bounds(backend)
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


@shared_docs
def history_bounds(backend: ibis.BaseBackend) -> tuple[date, date]:
    """The first month of the history and the snapshot date, as the store's ``Database`` reads them.

    Parameters
    ----------
    {backend}

    Returns
    -------
    tuple of datetime.date
        ``(history start, snapshot)`` from ``dataset_meta`` (the transactions' first and last
        day when it lacks them); the history start is the first of its month.
    """
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


@shared_docs
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
    {backend}
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
    check_target(target)
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


@shared_docs
def build_training_frame(
    backend: ibis.BaseBackend,
    *,
    target: Target,
    cutoff: date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    features: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Point-in-time features on ``cutoff`` joined to the outcome after it, for consenting customers.

    Customers who have not consented to profiling (their latest choice) are left out: a
    model trained on their data would profile with it (docs/privacy.md).

    Parameters
    ----------
    {backend}
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
        :data:`CUTOFF_COLUMN` and :data:`LABEL_COLUMN`; one row per eligible customer with
        profiling consent.

    Raises
    ------
    ValueError
        For an unknown target, a horizon past the snapshot (:data:`MSG_HORIZON_PAST_SNAPSHOT`),
        a cut-off without 12 months of history (:data:`MSG_SHORT_HISTORY`), or leaking
        features (see :func:`check_no_leakage`).
    """
    check_target(target)
    _check_cutoff(backend, cutoff, horizon_days)
    if features is None:
        features = load_point_in_time_features(backend, cutoff=cutoff)
    check_no_leakage(features, cutoff)
    labels = keep_profiling_consented(
        build_labels(backend, target=target, cutoff=cutoff, horizon_days=horizon_days), backend
    )
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
