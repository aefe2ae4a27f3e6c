"""Customer features for segmentation: named feature sets, scaling per feature, loading and checks.

The features themselves are computed in the database (``customer_features``, built with
the other rollups by :func:`analytics.rollups.build_customer_features`; every column is
documented in :data:`analytics.schemas.CUSTOMER_FEATURES`). This module decides how each
column enters a clustering (:data:`FEATURE_SCALING`, :func:`make_preprocessor`), which
columns an analyst picks together (:data:`FEATURE_SETS`), and turns either the database
table (:func:`load_features`) or any uploaded customer-level table
(:func:`prepare_feature_frame`) into a :class:`FeatureFrame`. See docs/segments.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import ibis
import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from analytics.schemas import (
    CUSTOMER_FEATURES,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
    PRODUCT_IDS,
)

Scaling = Literal["log", "standard", "share", "flag"]

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
"""How each ``customer_features`` column enters a clustering (any other column: ``standard``)."""

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
    """

    frame: pl.DataFrame
    id_column: str
    features: tuple[str, ...]
    excluded_no_consent: int = 0
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_customers(self) -> int:
        """Number of customers (rows)."""
        return self.frame.height

    def scaled(self) -> np.ndarray:
        """The features imputed and scaled by :func:`make_preprocessor`, as a float matrix.

        The clustering, the map and the benchmarks all start from this one matrix.
        """
        raw = self.frame.select(self.features).to_numpy()
        return np.asarray(make_preprocessor(self.features).fit_transform(raw), dtype=float)


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


def make_preprocessor(columns: Sequence[str]) -> ColumnTransformer:
    """Imputation and scaling of ``columns`` by their :data:`FEATURE_SCALING` kind.

    - ``log``: median imputation, ``log1p`` of the value clipped at 0, standardization;
    - ``standard``, ``share``, ``flag``: median imputation, standardization;
    - columns of :data:`ZERO_WHEN_MISSING`: missing is 0, then standardization.

    Columns not in :data:`FEATURE_SCALING` (uploaded tables) are ``standard``.

    Parameters
    ----------
    columns : sequence of str
        Feature columns, in the order of the matrix it will be fitted on.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Unfitted; its input is a 2-D array with ``columns`` in that order.
    """
    groups: dict[str, list[int]] = {"log": [], "zero": [], "plain": []}
    for i, name in enumerate(columns):
        if name in ZERO_WHEN_MISSING:
            groups["zero"].append(i)
        elif FEATURE_SCALING.get(name, "standard") == "log":
            groups["log"].append(i)
        else:
            groups["plain"].append(i)
    steps = {
        "log": Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("log1p", FunctionTransformer(_log1p_clipped, feature_names_out="one-to-one")),
                ("scale", StandardScaler()),
            ]
        ),
        "zero": Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        ),
        "plain": Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        ),
    }
    return ColumnTransformer([(kind, steps[kind], idx) for kind, idx in groups.items() if idx])


def _log1p_clipped(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(x, 0.0, None))


def load_features(
    backend: ibis.BaseBackend, *, columns: Sequence[str] | None = None, consent_only: bool = True
) -> FeatureFrame:
    """Read ``customer_features`` for clustering, leaving out customers without profiling consent.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    columns : sequence of str, optional
        Feature columns; the :data:`DEFAULT_FEATURE_SET` when omitted.
    consent_only : bool
        Keep only customers with ``customers.consent_profiling`` (the count left out is
        returned). False only for aggregate checks, never for clustering or exports.

    Returns
    -------
    FeatureFrame
        ``customer_id`` and the columns (Float64), ordered by customer.

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
    return FeatureFrame(frame=frame, id_column="customer_id", features=columns, excluded_no_consent=excluded)


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
        ``excluded_no_consent`` is 0 (an upload carries no consent flags).

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
    return FeatureFrame(frame=out, id_column=id_column, features=tuple(kept), notices=tuple(notices))


def _finite(values: pl.Series) -> pl.Series:
    """NaN and infinities as nulls (missing values, imputed later by the preprocessor)."""
    return values.fill_nan(None).set(values.is_infinite().fill_null(False), None)
