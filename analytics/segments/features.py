"""Customer features for segmentation: named feature sets, scaling per feature, loading and checks.

The features themselves are computed in the database (``customer_features``, built with
the other rollups by :func:`analytics.kpis.rollups.build_customer_features`; every column is
documented in :data:`analytics.store.contracts.CUSTOMER_FEATURES`). This module decides how each
column enters a clustering (:data:`FEATURE_SCALING` for the bank's features,
:func:`choose_scaling` from the distribution for any other column, :func:`override_scaling`
for the user's choice, :func:`make_preprocessor`), which columns an analyst picks together
(:data:`FEATURE_SETS`), and turns either the database table (:func:`load_features`) or any
uploaded customer-level table (:func:`prepare_feature_frame`) into a :class:`FeatureFrame`.
See docs/segments.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import ibis
import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, PowerTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from analytics.common.docs import shared_docs
from analytics.common.types import PRODUCT_IDS
from analytics.store.contracts import (
    CUSTOMER_FEATURES,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
)

Scaling = Literal["log", "yeo_johnson", "standard", "share", "flag"]
SCALINGS: tuple[Scaling, ...] = ("log", "yeo_johnson", "standard", "share", "flag")
"""Every scaling a column can get (:func:`make_preprocessor` says what each does)."""

SKEW_THRESHOLD = 1.0
"""|skewness| above which an uploaded column is transformed (:func:`choose_scaling`).

1 is the usual line for "highly skewed" (Bulmer): an exponential has 2, a lognormal of sigma
0.5 has 1.8, a gamma of shape 4 exactly 1, a normal or uniform 0. At 2 an exponential-like
spend column would stay in raw units; at 0.5 mildly lopsided scores would be bent for nothing."""
LOG_OFFSET_QUANTILE = 0.01
"""An uploaded column's ``log`` is log(x + c), c this quantile of its positive values (:class:`LogOffset`)."""

MSG_NO_ID_COLUMN = (
    "The table has no customer id column: name one with id_column, or call a column customer_id or id."
    " Its columns are: {columns}."
)
MSG_ID_COLUMN_MISSING = "The id column {column!r} is not in the table. Its columns are: {columns}."
MSG_DUPLICATE_ID = "Column {column!r}: customer id {value!r} appears on more than one row (row {row})."
MSG_NULL_ID = "Column {column!r}: row {row} has no customer id."
MSG_FEATURE_MISSING = "The feature column {column!r} is not in the table. Its columns are: {columns}."
MSG_NOT_NUMERIC = "Column {column!r} is not numeric ({dtype}): it was left out."
MSG_CONSTANT = "Column {column!r} has the same value on every row: it was left out."
MSG_ALL_MISSING = "Column {column!r} has no value on any row: it was left out."
MSG_NO_NUMERIC = (
    "No numeric feature column is left to cluster on (after leaving out: {dropped}). Pick numeric"
    " columns that vary between customers."
)
MSG_EMPTY = "The table has no rows."
MSG_INFINITE = "Column {column!r} has {count} infinite value(s), first on row {row}: read as missing."
MSG_UNKNOWN_SET = "Unknown feature set {name!r}: choose one of {choices}."
MSG_SCALING_UNKNOWN_COLUMN = (
    "Cannot set the scaling of {column!r}: it is not one of the feature columns ({columns})."
)
MSG_UNKNOWN_SCALING = "Unknown scaling {scaling!r} for column {column!r}: choose one of {choices}."
MSG_LOG_NEGATIVE = (
    "Column {column!r} cannot be log-scaled: it has negative values (minimum {minimum:g})."
    " Choose yeo_johnson or standard."
)
MSG_NOT_A_SHARE = (
    "Column {column!r} is not a share: its values run from {minimum:g} to {maximum:g}, not within 0 and 1."
)
MSG_NOT_A_FLAG = "Column {column!r} is not a flag: it has {distinct} distinct values, not 2."

ID_COLUMN_NAMES: tuple[str, ...] = ("customer_id", "id")
"""Column names taken as the customer id of an uploaded table, in this order (case-insensitive)."""

_CHANNELS = tuple(f"channel_{c}_share" for c in FEATURE_TXN_CHANNELS)
_CATEGORIES = tuple(f"spend_{c}_share" for c in (*FEATURE_MERCHANT_CATEGORIES, "other"))
_INFLOWS = tuple(f"inflow_{k}_share" for k in FEATURE_INFLOW_KINDS)
_FLAGS = tuple(f"has_{p}" for p in PRODUCT_IDS)

FEATURE_SCALING: dict[str, Scaling] = {
    # Money and counts are heavy-tailed (lognormal spend, income and balances): log1p, then
    # standardize, so a few large customers do not become clusters of their own.
    **dict.fromkeys(
        (
            "recency_days",
            "frequency",
            "monetary",
            "avg_ticket",
            "inflow",
            "deposit_balance",
            "investment_balance",
            "credit_balance",
            "annual_income",
            "sessions_per_month",
            "avg_session_minutes",
            "tenure_months",
            "support_contacts",
            "offers_received",
        ),
        "log",
    ),
    # Roughly symmetric: standardize only.
    **dict.fromkeys(("age", "credit_score", "products_held", "nps_score", "csat_score"), "standard"),
    # 0..1 shares: standardize, so a share that varies little between customers still counts.
    **dict.fromkeys((*_CHANNELS, *_CATEGORIES, *_INFLOWS, "app_session_share", "offer_click_rate"), "share"),
    # Booleans: 0/1, standardized.
    **dict.fromkeys(_FLAGS, "flag"),
}
"""How each ``customer_features`` column enters a clustering (any other column: :func:`choose_scaling`)."""

REASON_BANK = "the bank's scaling of this feature (FEATURE_SCALING)"
SCALING_SCHEMA = {"column": pl.String, "scaling": pl.String, "reason": pl.String, "chosen_by": pl.String}

ZERO_WHEN_MISSING: frozenset[str] = frozenset(_INFLOWS)
"""Columns whose missing value means zero, not "typical": a customer without any credit in the window
has no salary, pension or business income. Every other column's missing value is imputed with the
column's median (a customer without a debit gets the typical channel mix, not an impossible one)."""

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "life stage and income": (
        "age",
        "annual_income",
        "inflow_salary_share",
        "inflow_pension_share",
        "inflow_business_income_share",
    ),
    "behaviour and value": (
        "recency_days",
        "frequency",
        "monetary",
        "avg_ticket",
        "sessions_per_month",
        "app_session_share",
        "products_held",
        "deposit_balance",
        "investment_balance",
        "credit_balance",
    ),
    "spending mix": _CATEGORIES[:-1] + ("channel_card_online_share", "channel_atm_share"),
    "products and balances": (
        *_FLAGS,
        "products_held",
        "deposit_balance",
        "investment_balance",
        "credit_balance",
    ),
    "digital and service": (
        "sessions_per_month",
        "app_session_share",
        "avg_session_minutes",
        "support_contacts",
        "nps_score",
        "offer_click_rate",
    ),
    "everything": tuple(name for name in CUSTOMER_FEATURES.schema.names() if name != "customer_id"),
}
"""Named feature sets the analyst picks from (docs/segments.md says what each is for)."""

DEFAULT_FEATURE_SET = "life stage and income"
"""The set of the default segmentation (the one that recovers the sample bank's personas)."""

_READABLE = {
    "recency_days": ("Lapsed", "Recently active"),
    "frequency": ("Frequent payers", "Few payments"),
    "monetary": ("High spend", "Low spend"),
    "avg_ticket": ("Large tickets", "Small tickets"),
    "inflow": ("High inflow", "Low inflow"),
    "products_held": ("Many products", "Few products"),
    "deposit_balance": ("Large deposits", "Small deposits"),
    "investment_balance": ("Investors", "No investments"),
    "credit_balance": ("Borrowers", "No borrowing"),
    "sessions_per_month": ("Digital regulars", "Rarely online"),
    "app_session_share": ("App-first", "Web or branch"),
    "avg_session_minutes": ("Long sessions", "Short sessions"),
    "tenure_months": ("Long-standing", "New"),
    "age": ("Older", "Younger"),
    "annual_income": ("High income", "Low income"),
    "credit_score": ("Low risk", "Higher risk"),
    "nps_score": ("Promoters", "Detractors"),
    "csat_score": ("Satisfied", "Less satisfied"),
    "support_contacts": ("Frequent support contacts", "Few support contacts"),
    "offers_received": ("Often targeted", "Rarely targeted"),
    "offer_click_rate": ("Responsive to offers", "Ignore offers"),
    "inflow_salary_share": ("Salaried", "No salary"),
    "inflow_pension_share": ("Pensioners", "No pension"),
    "inflow_business_income_share": ("Business income", "No business income"),
    "inflow_allowance_share": ("Allowance", "No allowance"),
}


def _phrases(column: str) -> tuple[str, str]:
    if column in _READABLE:
        return _READABLE[column]
    for prefix, suffix, what in (("spend_", "_share", "spend"), ("channel_", "_share", "payments")):
        if column.startswith(prefix) and column.endswith(suffix):
            name = column[len(prefix) : -len(suffix)].replace("_", " ")
            return f"More {name} {what}", f"Less {name} {what}"
    if column.startswith("has_"):
        name = column[4:].replace("_", " ")
        return f"Hold {name}", f"No {name}"
    name = column.replace("_", " ")
    return f"High {name}", f"Low {name}"


FEATURE_LABELS: dict[str, tuple[str, str]] = {
    name: _phrases(name) for name in CUSTOMER_FEATURES.schema.names() if name != "customer_id"
}
"""Readable phrases per feature: (when a segment is above the rest, when below); used for names."""


def feature_phrase(column: str, *, above: bool) -> str:
    """Readable phrase for a segment above (or below) the rest on ``column``.

    Parameters
    ----------
    column : str
        Feature name (any name: unknown ones get "High x" / "Low x").
    above : bool
        True when the segment's mean is above the rest's.

    Returns
    -------
    str
        E.g. "High income" for ``annual_income`` above.

    Examples
    --------
    >>> feature_phrase("annual_income", above=True)
    'High income'
    >>> feature_phrase("spend_travel_share", above=True)
    'More travel spend'
    """
    high, low = FEATURE_LABELS.get(column) or _phrases(column)
    return high if above else low


@dataclass(frozen=True)
class FeatureFrame:
    """Customers and the numeric features to cluster them on.

    Parameters
    ----------
    frame : polars.DataFrame
        ``id_column`` then the ``features`` (Float64; missing values stay null, the
        preprocessor imputes them).
    id_column : str
        Name of the customer id column.
    features : tuple of str
        Feature columns, in order.
    excluded_no_consent : int
        Customers left out because they did not consent to profiling (0 for uploads).
    notices : tuple of str
        Columns left out and why (constant, all missing, not numeric).
    scaling : polars.DataFrame or None
        ``column, scaling, reason, chosen_by`` per feature (:func:`choose_scaling`,
        :func:`override_scaling`); None: :data:`FEATURE_SCALING`, other columns ``standard``.
    """

    frame: pl.DataFrame
    id_column: str
    features: tuple[str, ...]
    excluded_no_consent: int = 0
    notices: tuple[str, ...] = field(default_factory=tuple)
    scaling: pl.DataFrame | None = None

    @property
    def n_customers(self) -> int:
        """Number of customers (rows)."""
        return self.frame.height

    def scaled(self) -> np.ndarray:
        """The features imputed and scaled by :func:`make_preprocessor`, as a float matrix.

        The clustering, the map and the benchmarks all start from this one matrix.
        """
        raw = self.frame.select(self.features).to_numpy()
        chosen = None
        if self.scaling is not None:
            chosen = dict(
                zip(self.scaling.get_column("column"), self.scaling.get_column("scaling"), strict=True)
            )
        preprocessor = make_preprocessor(self.features, scaling=chosen)
        return np.asarray(preprocessor.fit_transform(raw), dtype=float)


def resolve_feature_set(name: str) -> tuple[str, ...]:
    """Columns of a named feature set.

    Parameters
    ----------
    name : str
        A key of :data:`FEATURE_SETS`.

    Returns
    -------
    tuple of str
        Its columns.

    Raises
    ------
    ValueError
        For an unknown name (:data:`MSG_UNKNOWN_SET`).
    """
    if name not in FEATURE_SETS:
        raise ValueError(MSG_UNKNOWN_SET.format(name=name, choices=", ".join(FEATURE_SETS)))
    return FEATURE_SETS[name]


def _column_stats(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """One row per column: minimum, maximum, distinct non-missing values, skewness (NaN as missing)."""
    schema = {"column": pl.String, "minimum": pl.Float64, "maximum": pl.Float64}
    schema |= {"distinct": pl.UInt32, "skewness": pl.Float64}
    if not columns:
        return pl.DataFrame(schema=schema)

    def values(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64).fill_nan(None)

    wide = frame.select(
        pl.struct(
            minimum=values(c).min(),
            maximum=values(c).max(),
            distinct=values(c).drop_nulls().n_unique(),
            skewness=values(c).skew(bias=False),
        ).alias(c)
        for c in columns
    )
    return wide.unpivot(variable_name="column", value_name="stats").unnest("stats").cast(schema)


def choose_scaling(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """How each column enters a clustering, and why: the bank's scaling, else a rule on its distribution.

    A column of the bank's feature list keeps its :data:`FEATURE_SCALING` kind (``chosen_by``
    "bank"). Any other column (an uploaded table's) gets the first that applies of:

    1. ``flag``: exactly two distinct values (a yes/no column);
    2. ``share``: every value within 0 and 1 (bounded: no tail to tame);
    3. ``log``: no negative value and skewness above :data:`SKEW_THRESHOLD` (spend, balances,
       counts: a long right tail);
    4. ``yeo_johnson``: |skewness| above :data:`SKEW_THRESHOLD` otherwise (negative values, e.g.
       net flows, or a long left tail): a Yeo-Johnson power transform, which takes any sign;
    5. ``standard``: otherwise (roughly symmetric).

    Skewness is the adjusted Fisher-Pearson sample skewness (bias-corrected, missing values
    left out). 1 is the usual line for a "highly skewed" distribution (Bulmer): an exponential
    has 2, a lognormal with sigma 0.5 has 1.8, a normal or uniform 0, a gamma of shape 4
    exactly 1. Without the log, standardization keeps the tail: a few large customers sit many
    standard deviations out and k-means spends clusters on them, or squeezes everyone else
    together (docs/segments.md has the measurement).

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer.
    columns : sequence of str
        Numeric feature columns of ``frame``.

    Returns
    -------
    polars.DataFrame
        ``column, scaling, reason, chosen_by`` in the order of ``columns``: ``scaling`` one of
        :data:`SCALINGS`, ``reason`` in words (e.g. "non-negative, skewness 4.2 > 1"),
        ``chosen_by`` "bank" or "rule".

    Examples
    --------
    >>> table = pl.DataFrame({"spend": [1.0, 2.0, 3.0, 4.0, 100.0], "vip": [0, 1, 0, 0, 1]})
    >>> choose_scaling(table, ["spend", "vip"]).select("scaling", "reason").rows()
    [('log', 'non-negative, skewness 2.2 > 1'), ('flag', 'two distinct values (0 and 1)')]
    """
    threshold = f"{SKEW_THRESHOLD:g}"
    skew = pl.col("skewness")
    rounded = skew.round(1)
    non_negative = pl.col("minimum") >= 0
    flag = pl.col("distinct") == 2
    share = non_negative & (pl.col("maximum") <= 1)
    log = non_negative & (skew > SKEW_THRESHOLD)
    power = skew.abs() > SKEW_THRESHOLD
    scaling = (
        pl.when(flag)
        .then(pl.lit("flag"))
        .when(share)
        .then(pl.lit("share"))
        .when(log)
        .then(pl.lit("log"))
        .when(power)
        .then(pl.lit("yeo_johnson"))
        .otherwise(pl.lit("standard"))
    )
    minimum, maximum = (
        pl.col(c).round(6).cast(pl.String).str.strip_suffix(".0") for c in ("minimum", "maximum")
    )
    reason = (
        pl.when(flag)
        .then(pl.format("two distinct values ({} and {})", minimum, maximum))
        .when(share)
        .then(pl.lit("every value within 0 and 1"))
        .when(log)
        .then(pl.format(f"non-negative, skewness {{}} > {threshold}", rounded))
        .when(power & non_negative)
        .then(pl.format(f"long left tail, skewness {{}} < -{threshold}", rounded))
        .when(power)
        .then(pl.format(f"negative values, skewness {{}} beyond ±{threshold}", rounded))
        .otherwise(pl.format(f"skewness {{}} within ±{threshold}", rounded.fill_null(0.0)))
    )
    bank = [c for c in columns if c in FEATURE_SCALING]
    known = pl.DataFrame(
        {
            "column": bank,
            "scaling": [FEATURE_SCALING[c] for c in bank],
            "reason": [REASON_BANK] * len(bank),
            "chosen_by": ["bank"] * len(bank),
        },
        schema=SCALING_SCHEMA,
    )
    ruled = _column_stats(frame, [c for c in columns if c not in FEATURE_SCALING]).select(
        "column", scaling.alias("scaling"), reason.alias("reason"), pl.lit("rule").alias("chosen_by")
    )
    order = pl.DataFrame({"column": list(columns)}, schema={"column": pl.String})
    return order.join(pl.concat([known, ruled]), on="column", how="left", maintain_order="left")


def override_scaling(features: FeatureFrame, overrides: Mapping[str, str]) -> FeatureFrame:
    """The same customers with some columns' scaling set by the user, checked against their values.

    Parameters
    ----------
    features : FeatureFrame
        Customers and features (its :attr:`FeatureFrame.scaling`, or :func:`choose_scaling`'s
        when it has none, is the starting point).
    overrides : mapping of str to str
        Column -> one of :data:`SCALINGS`.

    Returns
    -------
    FeatureFrame
        A copy whose ``scaling`` has the overridden rows with ``chosen_by`` "user" and a reason
        that keeps the automatic choice.

    Raises
    ------
    ValueError
        A column that is not a feature (:data:`MSG_SCALING_UNKNOWN_COLUMN`), an unknown scaling
        (:data:`MSG_UNKNOWN_SCALING`), ``log`` of a column with negative values
        (:data:`MSG_LOG_NEGATIVE`), ``share`` outside 0..1 (:data:`MSG_NOT_A_SHARE`), ``flag``
        of a column without exactly two values (:data:`MSG_NOT_A_FLAG`).
    """
    current = features.scaling
    if current is None:
        current = choose_scaling(features.frame, features.features)
    if not overrides:
        return replace(features, scaling=current)
    for column, scaling in overrides.items():
        if column not in features.features:
            columns = ", ".join(features.features)
            raise ValueError(MSG_SCALING_UNKNOWN_COLUMN.format(column=column, columns=columns))
        if scaling not in SCALINGS:
            choices = ", ".join(SCALINGS)
            raise ValueError(MSG_UNKNOWN_SCALING.format(scaling=scaling, column=column, choices=choices))
    # One row per overridden column (a handful), never per customer.
    for row in _column_stats(features.frame, list(overrides)).iter_rows(named=True):
        scaling = overrides[row["column"]]
        if row["minimum"] is None:  # no value at all: imputed, any scaling is harmless
            continue
        if scaling == "log" and row["minimum"] < 0:
            raise ValueError(MSG_LOG_NEGATIVE.format(**row))
        if scaling == "share" and not (row["minimum"] >= 0 and row["maximum"] <= 1):
            raise ValueError(MSG_NOT_A_SHARE.format(**row))
        if scaling == "flag" and row["distinct"] != 2:
            raise ValueError(MSG_NOT_A_FLAG.format(**row))
    chosen = pl.DataFrame(
        {"column": list(overrides), "override": list(overrides.values())},
        schema={"column": pl.String, "override": pl.String},
    )
    user = pl.col("override").is_not_null()
    table = current.join(chosen, on="column", how="left", maintain_order="left").select(
        "column",
        pl.coalesce("override", "scaling").alias("scaling"),
        pl.when(user)
        .then(pl.format("set by the user (automatic: {}, {})", "scaling", "reason"))
        .otherwise("reason")
        .alias("reason"),
        pl.when(user).then(pl.lit("user")).otherwise("chosen_by").alias("chosen_by"),
    )
    return replace(features, scaling=table)


class LogOffset(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """log(x + c) of each column, c learned as a low quantile of the column's positive values.

    The log of an uploaded column whose unit is unknown: ``log1p`` (c = 1) suits euros, counts
    and days, but squeezes every value below 1 towards 0 (spend in thousands, rates). With c
    taken from the column, multiplying it by a constant only shifts its log, which the
    standardization after it removes. A quantile rather than the smallest positive value, so
    that one stray tiny value does not push the zeros far out. Values below 0 are clipped to 0.

    Parameters
    ----------
    quantile : float
        Quantile of the positive values taken as c (:data:`LOG_OFFSET_QUANTILE`).

    Attributes
    ----------
    offset_ : numpy.ndarray
        c per column (1 for a column without positive values).
    n_features_in_ : int
        Columns seen in fit.
    """

    def __init__(self, quantile: float = LOG_OFFSET_QUANTILE):
        self.quantile = quantile

    def fit(self, X, y=None):
        """Learn c per column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values, imputed.
        y : None
            Ignored.

        Returns
        -------
        LogOffset
            self.
        """
        X = validate_data(self, X, dtype=np.float64)
        offsets = []
        for column in X.T:  # one quantile per feature column
            positive = column[column > 0]
            offsets.append(float(np.quantile(positive, self.quantile)) if positive.size else 1.0)
        self.offset_ = np.asarray(offsets, dtype=float)
        return self

    def transform(self, X):
        """log(max(x, 0) + c) per column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values, imputed.

        Returns
        -------
        numpy.ndarray
            The logs.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.log(np.clip(X, 0.0, None) + self.offset_)


_GROUPS: dict[str, tuple[str, str]] = {
    # name: (imputation, transform). The order is the matrix's column order; the first three are
    # the bank's features' groups, in the order they always had.
    "log": ("median", "log1p"),
    "zero": ("zero", "none"),
    "plain": ("median", "none"),
    "log_offset": ("median", "log_offset"),
    "yeo_johnson": ("median", "yeo_johnson"),
    "zero_log": ("zero", "log1p"),
    "zero_yeo_johnson": ("zero", "yeo_johnson"),
}


def _group_pipeline(imputation: str, transform: str) -> Pipeline:
    if imputation == "zero":
        impute = SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)
    else:
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
    steps: list[tuple[str, object]] = [("impute", impute)]
    if transform == "log1p":
        steps.append(("log1p", FunctionTransformer(_log1p_clipped, feature_names_out="one-to-one")))
    elif transform == "log_offset":
        steps.append(("log", LogOffset()))
    if transform == "yeo_johnson":
        # Yeo-Johnson, lambda by maximum likelihood, standardized by the transformer itself.
        steps.append(("power", PowerTransformer(method="yeo-johnson", standardize=True)))
    else:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def make_preprocessor(
    columns: Sequence[str], *, scaling: Mapping[str, Scaling] | None = None
) -> ColumnTransformer:
    """Imputation and scaling of ``columns`` by their scaling kind.

    - ``log``: median imputation, a log, standardization. The log is ``log1p`` of the value
      clipped at 0 for the bank's features (:data:`FEATURE_SCALING`: euros, counts, days) and
      :class:`LogOffset` (log(x + c), c from the column) for any other column;
    - ``yeo_johnson``: median imputation, Yeo-Johnson power transform, standardization;
    - ``standard``, ``share``, ``flag``: median imputation, standardization;
    - columns of :data:`ZERO_WHEN_MISSING`: missing is 0 instead of the median.

    Parameters
    ----------
    columns : sequence of str
        Feature columns, in the order of the matrix it will be fitted on.
    scaling : mapping of str to str, optional
        Scaling per column (:func:`choose_scaling`, :func:`override_scaling`); a column absent
        from it takes its :data:`FEATURE_SCALING` kind, else ``standard``.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Unfitted; its input is a 2-D array with ``columns`` in that order.
    """
    chosen = dict(scaling or {})
    names = {value: name for name, value in _GROUPS.items()}
    groups: dict[str, list[int]] = {name: [] for name in _GROUPS}
    for i, name in enumerate(columns):
        kind = chosen.get(name) or FEATURE_SCALING.get(name, "standard")
        if kind == "log":
            transform = "log1p" if name in FEATURE_SCALING else "log_offset"
        else:
            transform = "yeo_johnson" if kind == "yeo_johnson" else "none"
        groups[names[("zero" if name in ZERO_WHEN_MISSING else "median", transform)]].append(i)
    return ColumnTransformer(
        [(name, _group_pipeline(*_GROUPS[name]), idx) for name, idx in groups.items() if idx]
    )


def _log1p_clipped(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(x, 0.0, None))


@shared_docs
def load_features(
    backend: ibis.BaseBackend, *, columns: Sequence[str] | None = None, consent_only: bool = True
) -> FeatureFrame:
    """Read ``customer_features`` for clustering, leaving out customers without profiling consent.

    Parameters
    ----------
    {backend}
    columns : sequence of str, optional
        Feature columns; the :data:`DEFAULT_FEATURE_SET` when omitted.
    consent_only : bool
        Keep only customers with ``customers.consent_profiling`` (the count left out is
        returned). False only for aggregate checks, never for clustering or exports.

    Returns
    -------
    FeatureFrame
        ``customer_id`` and the columns (Float64), ordered by customer; ``scaling`` is
        :data:`FEATURE_SCALING`'s.

    Raises
    ------
    ValueError
        When a column is not in ``customer_features`` (:data:`MSG_FEATURE_MISSING`).
    """
    columns = tuple(columns) if columns is not None else FEATURE_SETS[DEFAULT_FEATURE_SET]
    known = [n for n in CUSTOMER_FEATURES.schema.names() if n != "customer_id"]
    for name in columns:
        if name not in known:
            raise ValueError(MSG_FEATURE_MISSING.format(column=name, columns=", ".join(known)))
    feats = backend.table(CUSTOMER_FEATURES.name)
    customers = backend.table("customers").select("customer_id", "consent_profiling")
    joined = feats.join(customers, "customer_id")
    counted = joined.aggregate(
        excluded=(~joined.consent_profiling.fill_null(False)).cast("int64").sum()
    ).to_polars()
    excluded = int(counted.item(0, 0) or 0) if consent_only else 0
    if consent_only:
        joined = joined.filter(joined.consent_profiling.fill_null(False))
    frame = (
        joined.select("customer_id", *columns)
        .order_by("customer_id")
        .to_polars()
        .with_columns(pl.col(c).cast(pl.Float64) for c in columns)
    )
    return FeatureFrame(
        frame=frame,
        id_column="customer_id",
        features=columns,
        excluded_no_consent=excluded,
        scaling=choose_scaling(frame, columns),
    )


def prepare_feature_frame(
    frame: pl.DataFrame, *, id_column: str | None = None, features: Sequence[str] | None = None
) -> FeatureFrame:
    """Turn any customer-level table into a :class:`FeatureFrame`, with clear messages for bad input.

    The id column is ``id_column`` when given, else the first column named like one of
    :data:`ID_COLUMN_NAMES` (case-insensitive). Of the other columns (or of ``features``),
    numeric and boolean ones are kept (booleans as 0/1); columns that are not numeric,
    constant or entirely missing are left out with a notice naming them.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer.
    id_column : str, optional
        The customer id column.
    features : sequence of str, optional
        Columns to use; every other column when omitted.

    Returns
    -------
    FeatureFrame
        ``excluded_no_consent`` is 0 (an upload carries no consent flags); ``scaling`` is
        :func:`choose_scaling`'s (change it with :func:`override_scaling`).

    Raises
    ------
    ValueError
        No id column, an unknown id or feature column, a missing or repeated id, no rows,
        or no numeric column left; the message names the column (and row).

    Examples
    --------
    >>> ff = prepare_feature_frame(pl.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 4.0], "c": [5, 5, 5]}))
    >>> ff.features, ff.notices
    (('x',), ("Column 'c' has the same value on every row: it was left out.",))
    """
    columns = ", ".join(frame.columns)
    if id_column is None:
        lower = {c.lower(): c for c in reversed(frame.columns)}
        id_column = next((lower[n] for n in ID_COLUMN_NAMES if n in lower), None)
        if id_column is None:
            raise ValueError(MSG_NO_ID_COLUMN.format(columns=columns))
    elif id_column not in frame.columns:
        raise ValueError(MSG_ID_COLUMN_MISSING.format(column=id_column, columns=columns))
    if frame.height == 0:
        raise ValueError(MSG_EMPTY)
    ids = frame.get_column(id_column)
    if ids.null_count():
        row = int(ids.is_null().arg_max())
        raise ValueError(MSG_NULL_ID.format(column=id_column, row=row + 1))
    duplicated = ids.is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_max())
        raise ValueError(MSG_DUPLICATE_ID.format(column=id_column, value=ids[row], row=row + 1))
    if features is None:
        candidates = [c for c in frame.columns if c != id_column]
    else:
        candidates = list(features)
        for name in candidates:
            if name not in frame.columns:
                raise ValueError(MSG_FEATURE_MISSING.format(column=name, columns=columns))
    kept, notices = [], []
    for name in candidates:
        dtype = frame.schema[name]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            notices.append(MSG_NOT_NUMERIC.format(column=name, dtype=dtype))
            continue
        values = frame.get_column(name).cast(pl.Float64)
        infinite = values.is_infinite().fill_null(False)
        if infinite.any():
            # An infinity is a broken value (a division by zero upstream): read it as missing and say where.
            row = int(infinite.arg_true()[0])
            notices.append(MSG_INFINITE.format(column=name, count=int(infinite.sum()), row=row + 1))
        values = _finite(values)
        if values.null_count() == values.len():
            notices.append(MSG_ALL_MISSING.format(column=name))
        elif values.drop_nulls().n_unique() < 2:
            notices.append(MSG_CONSTANT.format(column=name))
        else:
            kept.append(name)
    if not kept:
        dropped = ", ".join(repr(c) for c in candidates) or "no column"
        raise ValueError(MSG_NO_NUMERIC.format(dropped=dropped))
    out = frame.select(pl.col(id_column), *(_finite(frame.get_column(c).cast(pl.Float64)) for c in kept))
    return FeatureFrame(
        frame=out,
        id_column=id_column,
        features=tuple(kept),
        notices=tuple(notices),
        scaling=choose_scaling(out, kept),
    )


def _finite(values: pl.Series) -> pl.Series:
    """NaN and infinities as nulls (missing values, imputed later by the preprocessor)."""
    return values.fill_nan(None).set(values.is_infinite().fill_null(False), None)
