"""SHAP explanations of registered models: the stored sample, one customer's reasons, what-if.

What is explained, and in which unit (docs/models.md, Explanations)
-------------------------------------------------------------------
The score a customer sees is the *calibrated* probability of the gradient-boosted model.
Platt scaling (``CalibratedClassifierCV(method="sigmoid")``) maps the booster's raw
log-odds ``f`` to ``p = 1 / (1 + exp(-(slope * f + intercept)))``: the calibrated log-odds
is an affine function of ``f``. SHAP values are linear in the model, so the exact tree
SHAP values of ``f`` (TreeExplainer, tree-path-dependent) multiplied by ``slope``, with
the base value ``slope * E[f] + intercept``, are the exact SHAP values of the calibrated
log-odds: ``base_value + sum(shap) == logit(score)`` for every customer.
:func:`calibration_line` reads the two numbers from the fitted calibrator and
:func:`explain_scores` applies them. The logistic baseline is explained by linear SHAP in
its own log-odds.

Reason codes speak in probability points. Log-odds contributions do not add up in
probability, and spreading the probability change along the waterfall makes a feature's
points depend on where it falls in the order (the first step from a 1% base moves little
whatever its size). A reason's points are therefore the score minus the score the customer
would have without that contribution (:func:`points_without`): "raised churn risk by 12
points" means the risk would be 12 points lower if that feature contributed nothing. The
waterfall itself is drawn in log-odds, where the contributions do add up exactly.
"""

from __future__ import annotations

import json
import math
import re
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal

import ibis
import numpy as np
import polars as pl
from ibis.common.exceptions import TableNotFound
from shap.utils import approximate_interactions
from sklearn.calibration import CalibratedClassifierCV

from analytics.common.types import PRODUCT_IDS
from analytics.models import pipelines, training_data
from analytics.models import quality as model_quality
from analytics.models import registry as model_registry
from analytics.store.contracts import (
    CUSTOMER_FEATURES,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
    MODEL_EXPLANATIONS,
    MODEL_PREDICTIONS,
    MODEL_SHAP,
    MODEL_TEST_SCORES,
)
from analytics.store.database import Database

Kind = Literal["tree", "baseline"]
KINDS: tuple[Kind, ...] = ("tree", "baseline")

SAMPLE_ROWS = 10_000
"""Current customers whose SHAP values are stored per model (a random sample)."""

REASON_CODES = 3
"""Reasons given in words for one customer's score."""

CALIBRATED_SPACE = "log-odds of the calibrated score"
BASELINE_SPACE = "log-odds of the baseline's probability"

MSG_NOT_SIGMOID = (
    "The model is calibrated with {method!r}; only sigmoid (Platt) calibration maps the booster's"
    " log-odds linearly, which the exact explanation of the calibrated score relies on."
)
MSG_NO_EXPLANATION = (
    "Model {model_id} has no stored SHAP sample: run `python -m analytics score --model-id {model_id}`."
)
MSG_BAD_CUSTOMER_REF = (
    "{text!r} is not a customer reference: type a masked id such as C-1a2b3c4d5e6f{raw_hint}."
)
MSG_UNKNOWN_PSEUDONYM = "No current customer has the masked id {text!r}."
MSG_NOT_CURRENT = (
    "Customer {customer} is not a current customer on the snapshot {as_of}: only customers open on"
    " that day are scored."
)
MSG_UNKNOWN_WHAT_IF = "{feature!r} is not an input of this model; its inputs are: {features}."
MSG_BAD_WHAT_IF = "The what-if value of {feature!r} must be {expected}, got {value!r}."
MSG_EMPTY_SEGMENT = (
    "None of the segment's customers is in the stored SHAP sample of {rows:,} customers: there is"
    " nothing to compare."
)
MSG_NO_REST = "Every customer of the SHAP sample is in the segment: there is no rest to compare with."

PSEUDONYM_PATTERN = re.compile(r"^C-[0-9a-f]{12}$")
CUSTOMER_NUMBER_PATTERN = re.compile(r"[0-9]{1,18}")
"""A customer number as typed: ASCII digits that fit a 64-bit integer."""

TARGET_WORDS: dict[str, str] = {
    "churn": "churn risk",
    "credit_card": "the chance of taking up a credit card",
    "savings": "the chance of opening a savings account",
    "investment_fund": "the chance of investing in a fund",
}
"""What the score of each target is, in words ("raised churn risk by 12 points")."""

_CHANNEL_WORDS = {
    "card_present": "card in a shop",
    "card_online": "card online",
    "atm": "ATM",
    "transfer": "transfer",
    "direct_debit": "direct debit",
}

FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("{v} days since the last payment", "count"),
    "frequency": ("{v} payments in the last 12 months", "count"),
    "monetary": ("EUR {v} spent in the last 12 months", "money"),
    "avg_ticket": ("EUR {v} per payment on average", "money"),
    **{
        f"channel_{name}_share": (f"{{v}} of payments by {_CHANNEL_WORDS.get(name, name)}", "share")
        for name in FEATURE_TXN_CHANNELS
    },
    **{
        f"spend_{name}_share": (f"{{v}} of spending on {name.replace('_', ' ')}", "share")
        for name in FEATURE_MERCHANT_CATEGORIES
    },
    "spend_other_share": ("{v} of spending on other categories", "share"),
    "inflow": ("EUR {v} received in the last 12 months", "money"),
    **{
        f"inflow_{name}_share": (f"{{v}} of income from {name.replace('_', ' ')}", "share")
        for name in FEATURE_INFLOW_KINDS
    },
    "products_held": ("{v} products held", "count"),
    **{f"has_{name}": (name.replace("_", " "), "flag") for name in PRODUCT_IDS},
    "sessions_per_month": ("{v} digital sessions a month", "decimal"),
    "app_session_share": ("{v} of sessions in the mobile app", "share"),
    "avg_session_minutes": ("{v} minutes per session on average", "decimal"),
    "tenure_months": ("a customer for {v} months", "count"),
    "age": ("aged {v}", "count"),
    "annual_income": ("annual income EUR {v}", "money"),
    "credit_score": ("credit score {v}", "count"),
    "nps_score": ("NPS answer {v} (0-10)", "decimal"),
    "csat_score": ("satisfaction score {v} (1-5)", "decimal"),
    "support_contacts": ("{v} support contacts in the last 12 months", "count"),
    "offers_received": ("{v} offers received in the last 12 months", "count"),
    "offer_click_rate": ("{v} of offers clicked", "share"),
}
"""Plain words for each feature of the bank's models: a template with ``{v}`` and its unit."""

MISSING_WORDS: dict[str, str] = {
    "avg_ticket": "no payment in the last 12 months",
    "nps_score": "no NPS answer in the last 12 months",
    "csat_score": "no satisfaction answer in the last 12 months",
    "offer_click_rate": "no offer received in the last 12 months",
    "app_session_share": "no digital session in the last 12 months",
    "avg_session_minutes": "no digital session in the last 12 months",
}
"""What a missing value means, for the features whose missing value has a meaning."""


@dataclass(frozen=True)
class ExplanationMeta:
    """A stored SHAP sample's description (a ``model_explanations`` row, decoded).

    Parameters
    ----------
    model_id : str
        The model.
    kind : {"tree", "baseline"}
        The explained pipeline.
    rows : int
        Customers in the sample.
    base_value : float
        Expected value of the explained output.
    space : str
        What ``base_value`` plus a row's SHAP values add up to.
    features_as_of : datetime.date
        The snapshot the features were computed as of.
    explained_at : datetime.datetime
        When (naive UTC).
    seconds : float
        Time taken.
    typical : dict of str to float
        Median of each feature over all current customers (share of True for flags).
    """

    model_id: str
    kind: str
    rows: int
    base_value: float
    space: str
    features_as_of: date
    explained_at: datetime
    seconds: float
    typical: dict[str, float]


@dataclass(frozen=True)
class ShapMatrix:
    """A stored SHAP sample as matrices.

    Parameters
    ----------
    customer_ids : numpy.ndarray
        One per row.
    features : tuple of str
        One per column, in the model's input order.
    values : numpy.ndarray
        Feature values (NaN when missing), shape (rows, features).
    shap : numpy.ndarray
        SHAP values, same shape, in the sample's space.
    base_value : float
        Expected value of the explained output.
    space : str
        What the base value plus a row's SHAP values add up to.
    """

    customer_ids: np.ndarray
    features: tuple[str, ...]
    values: np.ndarray
    shap: np.ndarray
    base_value: float
    space: str


@dataclass(frozen=True)
class DependenceView:
    """One feature's dependence plot: its value against its SHAP value, coloured by another.

    Parameters
    ----------
    feature : str
        The feature on the x axis.
    interaction : str or None
        The feature that colours the points: the one whose value best explains the spread
        of ``feature``'s SHAP values at equal ``feature`` values
        (``shap.utils.approximate_interactions``, the heuristic of shap's own dependence plot).
    points : polars.DataFrame
        ``value``, ``shap``, ``colour`` (the interaction feature's value), one row per sample
        customer with a known value of ``feature``.
    """

    feature: str
    interaction: str | None
    points: pl.DataFrame


@dataclass(frozen=True)
class CustomerExplanation:
    """Why one customer got their score.

    Parameters
    ----------
    model_id : str
        The model.
    target : str
        What it predicts.
    customer_id : int
        The customer.
    score : float
        Calibrated probability.
    base_value : float
        Expected calibrated log-odds (where every explanation starts).
    log_odds : float
        ``logit(score)``; equals ``base_value`` plus the SHAP values.
    contributions : polars.DataFrame
        One row per feature, largest |SHAP| first: ``feature``, ``label`` (the value in
        words), ``value``, ``typical``, ``shap`` (calibrated log-odds), ``points``
        (:func:`points_without`: the score minus the score without that contribution).
    reasons : tuple of str
        The :data:`REASON_CODES` largest contributions in plain words.
    """

    model_id: str
    target: str
    customer_id: int
    score: float
    base_value: float
    log_odds: float
    contributions: pl.DataFrame
    reasons: tuple[str, ...]

    @property
    def base_probability(self) -> float:
        """The probability at the base value: where the waterfall starts."""
        return _sigmoid(self.base_value)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def calibration_line(calibrated: CalibratedClassifierCV) -> tuple[float, float]:
    """Slope and intercept of Platt scaling: ``logit(calibrated p) = slope * raw log-odds + intercept``.

    scikit-learn's sigmoid calibrator predicts ``expit(-(a * f + b))`` of the classifier's
    ``decision_function`` ``f``, so the slope is ``-a`` and the intercept ``-b``.

    Parameters
    ----------
    calibrated : sklearn.calibration.CalibratedClassifierCV
        Fitted on a frozen estimator with ``method="sigmoid"``.

    Returns
    -------
    tuple of float
        ``(slope, intercept)``.

    Raises
    ------
    ValueError
        For another calibration method (:data:`MSG_NOT_SIGMOID`).
    """
    if calibrated.method != "sigmoid" or len(calibrated.calibrated_classifiers_) != 1:
        raise ValueError(MSG_NOT_SIGMOID.format(method=calibrated.method))
    calibrator = calibrated.calibrated_classifiers_[0].calibrators[0]
    return -float(calibrator.a_), -float(calibrator.b_)


def explain_scores(
    model: model_registry.LoadedModel,
    frame: pl.DataFrame,
    *,
    kind: Kind = "tree",
    background: pl.DataFrame | None = None,
) -> pipelines.Explanation:
    """Exact SHAP values of the calibrated score (tree) or of the baseline, in log-odds.

    Parameters
    ----------
    model : analytics.models.registry.LoadedModel
        A registered model, loaded.
    frame : polars.DataFrame
        Rows to explain, holding the model's features.
    kind : {"tree", "baseline"}
        The pipeline: the calibrated gradient-boosted model, or the logistic baseline.
    background : polars.DataFrame, optional
        Reference rows of the baseline's linear SHAP (default: ``frame``).

    Returns
    -------
    analytics.models.pipelines.Explanation
        For the tree, in :data:`CALIBRATED_SPACE`: ``base_value + values.sum(axis=1)``
        equals ``logit(model.predict_proba(frame))``. For the baseline, in
        :data:`BASELINE_SPACE`.
    """
    raw = pipelines.explain(model, frame, kind=kind, background=background)
    if kind == "baseline":
        return replace(raw, space=BASELINE_SPACE)
    slope, intercept = calibration_line(model.calibrated)
    return replace(
        raw,
        base_value=slope * raw.base_value + intercept,
        values=raw.values * slope,
        space=CALIBRATED_SPACE,
    )


def typical_values(frame: pl.DataFrame, features: Sequence[str]) -> dict[str, float]:
    """The median of each feature (the share of True for a flag), missing values left out.

    Parameters
    ----------
    frame : polars.DataFrame
        Every current customer.
    features : sequence of str
        The model's inputs.

    Returns
    -------
    dict of str to float
        Feature -> typical value; a feature missing on every row is left out.
    """
    out: dict[str, float] = {}
    for name in features:
        column = frame.get_column(name)
        numbers = column.cast(pl.Float64)
        value = numbers.mean() if column.dtype == pl.Boolean else numbers.median()
        if value is not None and math.isfinite(value):
            out[name] = float(value)
    return out


def _value_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    return training_data.feature_matrix(frame, features)


def store_explanations(
    db: Database,
    model_id: str,
    *,
    rows: int = SAMPLE_ROWS,
    random_state: int = 0,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExplanationMeta]:
    """Explain a random sample of current customers with both pipelines and store the SHAP values.

    The model's earlier sample is replaced in one transaction. The medians of the features
    over every current customer are stored with it (the "typical" value of reason codes).

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    model_id : str
        A registered model.
    rows : int
        Sample size (every current customer when there are fewer).
    random_state : int
        Seed of the sample.
    features : polars.DataFrame, optional
        :func:`analytics.models.registry.current_features`, when the caller has them.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    list of ExplanationMeta
        One per pipeline: tree, then baseline.
    """
    say = progress or (lambda _line: None)
    loaded = model_registry.load_model(db, model_id)
    frame = features if features is not None else model_registry.current_features(db)
    if frame.height == 0:
        raise ValueError(model_registry.MSG_NO_CUSTOMERS.format(as_of=db.snapshot_date()))
    as_of = db.snapshot_date()
    sample = frame.sample(n=min(rows, frame.height), seed=random_state).sort("customer_id")
    typical = typical_values(frame, loaded.features)
    ids = sample.get_column("customer_id").cast(pl.Int64).to_numpy()
    values = _value_matrix(sample, loaded.features)
    shap_parts, meta_rows = [], []
    for kind in KINDS:
        say(f"SHAP values of {sample.height:,} current customers ({kind})")
        started = clock.perf_counter()
        explanation = explain_scores(loaded, sample, kind=kind, background=frame)
        seconds = clock.perf_counter() - started
        # Back to the model's input order (the tree's ColumnTransformer groups its columns).
        order = [explanation.features.index(name) for name in loaded.features]
        shap_values = explanation.values[:, order]
        shap_parts.append(
            pl.DataFrame(
                {
                    "model_id": model_id,
                    "kind": kind,
                    "customer_id": np.repeat(ids, len(loaded.features)),
                    "feature": np.tile(np.array(loaded.features, dtype=object), len(ids)),
                    "value": values.ravel(),
                    "shap": shap_values.ravel(),
                },
                schema=MODEL_SHAP.schema,
                nan_to_null=True,
            )
        )
        meta_rows.append(
            {
                "model_id": model_id,
                "kind": kind,
                "rows": sample.height,
                "base_value": explanation.base_value,
                "space": explanation.space,
                "features_as_of": as_of,
                "explained_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
                "seconds": seconds,
                "typical": json.dumps(typical),
            }
        )
    say(f"storing {sum(p.height for p in shap_parts):,} SHAP values of {model_id}")
    db.store_model_output(
        append={
            MODEL_SHAP.name: pl.concat(shap_parts),
            MODEL_EXPLANATIONS.name: pl.DataFrame(meta_rows, schema=MODEL_EXPLANATIONS.schema),
        },
        replace={},
        delete={MODEL_SHAP.name: ("model_id", [model_id]), MODEL_EXPLANATIONS.name: ("model_id", [model_id])},
    )
    return [_meta(row) for row in meta_rows]


def _meta(row: Mapping) -> ExplanationMeta:
    return ExplanationMeta(
        model_id=row["model_id"],
        kind=row["kind"],
        rows=int(row["rows"]),
        base_value=float(row["base_value"]),
        space=row["space"],
        features_as_of=row["features_as_of"],
        explained_at=row["explained_at"],
        seconds=float(row["seconds"] or 0.0),
        typical={k: float(v) for k, v in json.loads(row["typical"] or "{}").items()},
    )


def _table(backend: ibis.BaseBackend, name: str) -> ibis.Table | None:
    try:
        return backend.table(name)
    except TableNotFound:
        return None


def load_explanation_meta(backend: ibis.BaseBackend, model_id: str) -> dict[str, ExplanationMeta]:
    """The stored SHAP samples of a model, by pipeline.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    model_id : str
        The model.

    Returns
    -------
    dict of str to ExplanationMeta
        ``"tree"`` and ``"baseline"`` when stored; empty when the model was not explained.
    """
    table = _table(backend, MODEL_EXPLANATIONS.name)
    if table is None:
        return {}
    rows = table.filter(table.model_id == model_id).to_polars()
    return {row["kind"]: _meta(row) for row in rows.iter_rows(named=True)}


def load_shap_matrix(backend: ibis.BaseBackend, model_id: str, *, kind: Kind = "tree") -> ShapMatrix:
    """A model's stored SHAP sample as matrices (rows by customer, columns in input order).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    model_id : str
        The model.
    kind : {"tree", "baseline"}
        The pipeline.

    Returns
    -------
    ShapMatrix
        Values and SHAP values of the sample.

    Raises
    ------
    ValueError
        When the model has no stored sample (:data:`MSG_NO_EXPLANATION`).
    """
    meta = load_explanation_meta(backend, model_id).get(kind)
    table = _table(backend, MODEL_SHAP.name)
    if meta is None or table is None:
        raise ValueError(MSG_NO_EXPLANATION.format(model_id=model_id))
    features = model_registry.get_model(backend, model_id).features
    long = (
        table.filter(table.model_id == model_id, table.kind == kind)
        .select("customer_id", "feature", "value", "shap")
        .to_polars()
    )
    ids = np.sort(long.get_column("customer_id").unique().to_numpy())
    row_of = np.searchsorted(ids, long.get_column("customer_id").to_numpy())
    col_index = {name: j for j, name in enumerate(features)}
    col_of = long.get_column("feature").replace_strict(col_index, return_dtype=pl.Int64).to_numpy()
    values = np.full((ids.size, len(features)), np.nan)
    shap_values = np.zeros((ids.size, len(features)))
    values[row_of, col_of] = long.get_column("value").fill_null(np.nan).to_numpy()
    shap_values[row_of, col_of] = long.get_column("shap").to_numpy()
    return ShapMatrix(
        customer_ids=ids,
        features=features,
        values=values,
        shap=shap_values,
        base_value=meta.base_value,
        space=meta.space,
    )


def global_importance(matrix: ShapMatrix) -> pl.DataFrame:
    """Mean |SHAP| of each feature over the sample, with the direction of its effect.

    Parameters
    ----------
    matrix : ShapMatrix
        A stored sample.

    Returns
    -------
    polars.DataFrame
        ``feature``, ``mean_abs_shap``, ``mean_shap``, ``direction`` ("+" when higher values
        raise the output: the sign of the Pearson correlation of value and SHAP value over
        the customers with a value; "0" when either is constant), largest first.
    """
    directions = [
        pipelines.effect_direction(matrix.values[:, j], matrix.shap[:, j])
        for j in range(len(matrix.features))
    ]
    return pl.DataFrame(
        {
            "feature": list(matrix.features),
            "mean_abs_shap": np.abs(matrix.shap).mean(axis=0),
            "mean_shap": matrix.shap.mean(axis=0),
            "direction": directions,
        }
    ).sort(["mean_abs_shap", "feature"], descending=[True, False])


def beeswarm_points(matrix: ShapMatrix, features: Sequence[str], *, random_state: int = 0) -> pl.DataFrame:
    """Points of a beeswarm plot: one per customer and feature, spread where they are dense.

    Each feature sits on its own row ``position`` (0 for the first of ``features``). A
    point's vertical offset is uniform noise scaled by the density of SHAP values around
    it (a 40-bin histogram per feature), so dense regions swell like shap's beeswarm.
    The colour is the value's percentile rank within the feature (0 low, 1 high; null
    when missing), which puts every feature on one colour scale.

    Parameters
    ----------
    matrix : ShapMatrix
        A stored sample.
    features : sequence of str
        Features to draw, top row first.
    random_state : int
        Seed of the vertical noise.

    Returns
    -------
    polars.DataFrame
        ``feature``, ``position``, ``y``, ``shap``, ``value``, ``colour``.
    """
    rng = np.random.default_rng(random_state)
    parts = []
    for position, name in enumerate(features):
        j = matrix.features.index(name)
        s, x = matrix.shap[:, j], matrix.values[:, j]
        counts, edges = np.histogram(s, bins=40)
        density = counts[np.clip(np.searchsorted(edges, s, side="right") - 1, 0, counts.size - 1)]
        spread = 0.4 * density / max(int(counts.max()), 1)
        known = ~np.isnan(x)
        colour = np.full(x.size, np.nan)
        if known.any():
            ranks = pl.Series(x[known]).rank("average").to_numpy()
            colour[known] = (ranks - 1) / max(known.sum() - 1, 1)
        parts.append(
            pl.DataFrame(
                {
                    "feature": name,
                    "position": position,
                    "y": position + rng.uniform(-1.0, 1.0, s.size) * spread,
                    "shap": s,
                    "value": x,
                    "colour": colour,
                },
                nan_to_null=True,
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame()


def dependence_view(matrix: ShapMatrix, feature: str, *, colour_by: str | None = None) -> DependenceView:
    """A feature's value against its SHAP value, coloured by the feature it interacts with most.

    Parameters
    ----------
    matrix : ShapMatrix
        A stored sample.
    feature : str
        One of its features.
    colour_by : str, optional
        The colouring feature; by default the strongest interaction found by
        ``shap.utils.approximate_interactions``.

    Returns
    -------
    DependenceView
        The points and the colouring feature.
    """
    j = matrix.features.index(feature)
    interaction = colour_by
    if interaction is None and len(matrix.features) > 1:
        # approximate_interactions bins by the feature's value; missing values are imputed with
        # the median only for this search (the plot itself leaves them out).
        filled = np.where(np.isnan(matrix.values), np.nanmedian(matrix.values, axis=0), matrix.values)
        filled = np.nan_to_num(filled)
        order = [int(i) for i in approximate_interactions(j, matrix.shap, filled) if int(i) != j]
        interaction = matrix.features[order[0]] if order else None
    known = ~np.isnan(matrix.values[:, j])
    colour = (
        matrix.values[known, matrix.features.index(interaction)]
        if interaction is not None
        else np.full(int(known.sum()), np.nan)
    )
    points = pl.DataFrame(
        {"value": matrix.values[known, j], "shap": matrix.shap[known, j], "colour": colour}, nan_to_null=True
    )
    return DependenceView(feature=feature, interaction=interaction, points=points)


def segment_comparison(matrix: ShapMatrix, members: Sequence[int] | pl.Series) -> pl.DataFrame:
    """Mean |SHAP| of each feature among a segment's customers against the rest of the sample.

    Parameters
    ----------
    matrix : ShapMatrix
        A stored sample.
    members : sequence of int or polars.Series
        The segment's customer ids (those outside the sample are ignored).

    Returns
    -------
    polars.DataFrame
        ``feature``, ``in_segment`` and ``rest`` (mean |SHAP|), ``difference``
        (in_segment - rest), ``mean_shap_in_segment``, ``mean_shap_rest``, ``customers_in``,
        ``customers_rest``; largest absolute difference first.

    Raises
    ------
    ValueError
        When no member, or every customer, is in the sample (:data:`MSG_EMPTY_SEGMENT`,
        :data:`MSG_NO_REST`).
    """
    inside = np.isin(matrix.customer_ids, np.asarray(list(members), dtype=np.int64))
    if not inside.any():
        raise ValueError(MSG_EMPTY_SEGMENT.format(rows=matrix.customer_ids.size))
    if inside.all():
        raise ValueError(MSG_NO_REST)
    a, b = np.abs(matrix.shap[inside]), np.abs(matrix.shap[~inside])
    frame = pl.DataFrame(
        {
            "feature": list(matrix.features),
            "in_segment": a.mean(axis=0),
            "rest": b.mean(axis=0),
            "mean_shap_in_segment": matrix.shap[inside].mean(axis=0),
            "mean_shap_rest": matrix.shap[~inside].mean(axis=0),
            "customers_in": int(inside.sum()),
            "customers_rest": int((~inside).sum()),
        }
    ).with_columns((pl.col("in_segment") - pl.col("rest")).alias("difference"))
    return frame.select(
        "feature",
        "in_segment",
        "rest",
        "difference",
        "mean_shap_in_segment",
        "mean_shap_rest",
        "customers_in",
        "customers_rest",
    ).sort(pl.col("difference").abs(), descending=True)


def points_without(log_odds: float, contributions: Sequence[float] | np.ndarray) -> np.ndarray:
    """Probability points each contribution adds: the score minus the score without it.

    For a customer at log-odds ``L``, contribution ``c`` adds ``sigmoid(L) - sigmoid(L - c)``:
    how much lower (or higher) the probability would be if that feature contributed nothing,
    the others unchanged. Unlike probability steps along a waterfall, this does not depend on
    an order, so each reason reads on its own; the points need not add up to the score.

    Parameters
    ----------
    log_odds : float
        The customer's log-odds (base value plus every contribution).
    contributions : sequence of float
        Log-odds contributions (SHAP values).

    Returns
    -------
    numpy.ndarray
        One value per contribution, in probability (0-1) units, with the contribution's sign.

    Examples
    --------
    >>> [round(float(v), 6) for v in points_without(0.0, [math.log(3), -math.log(3)])]
    [0.25, -0.25]
    """
    c = np.asarray(contributions, dtype=np.float64)
    return _sigmoid(log_odds) - 1.0 / (1.0 + np.exp(-(log_odds - c)))


def _number(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.0%}"
    if unit == "money":
        return f"{value:,.0f}"
    if unit == "decimal":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def describe_value(feature: str, value: float | None) -> str:
    """A feature's value in words, e.g. "3 support contacts in the last 12 months".

    Parameters
    ----------
    feature : str
        A model input.
    value : float or None
        Its value (None or NaN when missing; flags as 0/1).

    Returns
    -------
    str
        Plain words; features without a wording read ``name = value``.

    Examples
    --------
    >>> describe_value("support_contacts", 3.0)
    '3 support contacts in the last 12 months'
    >>> describe_value("has_mortgage", 0.0)
    'holds no mortgage'
    """
    template, unit = FEATURE_WORDS.get(feature, (f"{feature.replace('_', ' ')} {{v}}", "decimal"))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_WORDS.get(feature, f"{feature.replace('_', ' ')} not known")
    if unit == "flag":
        return f"holds a {template}" if value >= 0.5 else f"holds no {template}"
    return template.format(v=_number(float(value), unit))


def describe_typical(feature: str, typical: float | None) -> str:
    """The typical value of a feature in words, for the bracket of a reason code.

    Parameters
    ----------
    feature : str
        A model input.
    typical : float or None
        Its median over current customers (share of holders for a flag).

    Returns
    -------
    str
        e.g. "typical: 21", "38% of customers hold one"; "" when unknown.
    """
    if typical is None:
        return ""
    _, unit = FEATURE_WORDS.get(feature, ("", "decimal"))
    if unit == "flag":
        return f"{typical:.0%} of customers hold one"
    return f"typical: {_number(typical, unit)}"


def _points_text(points: float) -> str:
    size = abs(points) * 100
    if size < 0.05:
        return "less than 0.1"
    return f"{size:.1f}" if size < 9.95 else f"{size:.0f}"


def reason_text(target: str, feature: str, value: float | None, typical: float | None, points: float) -> str:
    """One reason code in plain words.

    Parameters
    ----------
    target : str
        The model's target (:data:`TARGET_WORDS`).
    feature : str
        The feature.
    value : float or None
        The customer's value.
    typical : float or None
        The typical value (:func:`typical_values`).
    points : float
        Its contribution in probability (0-1) units.

    Returns
    -------
    str
        e.g. "3 support contacts in the last 12 months (typical: 1) raised churn risk by 12 points".

    Examples
    --------
    >>> reason_text("churn", "support_contacts", 3.0, 1.0, 0.12)
    '3 support contacts in the last 12 months (typical: 1) raised churn risk by 12 points'
    """
    words = describe_value(feature, value)
    bracket = describe_typical(feature, typical)
    verb = "raised" if points > 0 else "lowered"
    what = TARGET_WORDS.get(target, f"the {target} score")
    size = _points_text(points)
    unit = "point" if size == "1" else "points"
    return f"{words}{f' ({bracket})' if bracket else ''} {verb} {what} by {size} {unit}"


def explain_customer(
    model: model_registry.LoadedModel,
    row: pl.DataFrame,
    *,
    typical: Mapping[str, float],
) -> CustomerExplanation:
    """Score one customer and explain the score: waterfall rows and the top reason codes.

    Parameters
    ----------
    model : analytics.models.registry.LoadedModel
        A registered model, loaded.
    row : polars.DataFrame
        One row of features (:func:`load_customer_features`, possibly edited by
        :func:`apply_what_if`).
    typical : mapping of str to float
        :func:`typical_values` (stored with the SHAP sample).

    Returns
    -------
    CustomerExplanation
        The score, the contributions (largest |SHAP| first, with probability points) and
        :data:`REASON_CODES` reasons.
    """
    explanation = explain_scores(model, row, kind="tree")
    order = [explanation.features.index(name) for name in model.features]
    shap_values = explanation.values[0, order]
    values = _value_matrix(row, model.features)[0]
    ranked = np.argsort(-np.abs(shap_values), kind="stable")
    log_odds = float(explanation.base_value + shap_values.sum())
    points = points_without(log_odds, shap_values[ranked])
    names = [model.features[i] for i in ranked]
    contributions = pl.DataFrame(
        {
            "feature": names,
            "label": [describe_value(n, float(values[i])) for n, i in zip(names, ranked, strict=True)],
            "value": values[ranked],
            "typical": [typical.get(n) for n in names],
            "shap": shap_values[ranked],
            "points": points,
        },
        schema={
            "feature": pl.String,
            "label": pl.String,
            "value": pl.Float64,
            "typical": pl.Float64,
            "shap": pl.Float64,
            "points": pl.Float64,
        },
        nan_to_null=True,
    )
    target = model.record.target
    reasons = tuple(
        reason_text(target, r["feature"], r["value"], r["typical"], r["points"])
        for r in contributions.head(REASON_CODES).iter_rows(named=True)
        if r["shap"] != 0
    )
    score = float(model.predict_proba(row)[0])
    return CustomerExplanation(
        model_id=model.record.model_id,
        target=target,
        customer_id=int(row.get_column("customer_id")[0]),
        score=score,
        base_value=explanation.base_value,
        log_odds=log_odds,
        contributions=contributions,
        reasons=reasons,
    )


def load_customer_features(backend: ibis.BaseBackend, customer_id: int, *, as_of: date) -> pl.DataFrame:
    """One current customer's model inputs as of the snapshot (the row scoring used).

    Reads the ``customer_features`` table, which :func:`analytics.store.database.Database.refresh_rollups`
    builds as of the snapshot with the same expression as
    :func:`analytics.models.training_data.load_point_in_time_features`, so the row equals that frame's.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    customer_id : int
        The customer (a bound value).
    as_of : datetime.date
        The snapshot date (stamped in the ``features_as_of`` column).

    Returns
    -------
    polars.DataFrame
        One row.

    Raises
    ------
    ValueError
        When the customer is not current on the snapshot (:data:`MSG_NOT_CURRENT`).
    """
    table = backend.table(CUSTOMER_FEATURES.name)
    row = (
        table.filter(table.customer_id == ibis.literal(int(customer_id), type="int64"))
        .drop(*training_data.SNAPSHOT_VALUED_FEATURES)
        .to_polars()
    )
    if row.height == 0:
        raise ValueError(MSG_NOT_CURRENT.format(customer=customer_id, as_of=as_of))
    return row.with_columns(pl.lit(as_of, dtype=pl.Date).alias(training_data.AS_OF_COLUMN))


def resolve_customer(text: str, pseudonyms: Mapping[str, int], *, allow_raw: bool) -> int:
    """The customer number behind a masked id (or, for roles that see raw ids, a number).

    Parameters
    ----------
    text : str
        What the user typed.
    pseudonyms : mapping of str to int
        Masked id -> customer number of the current customers
        (:func:`analytics.access.privacy.pseudonymize_ids`).
    allow_raw : bool
        Whether a plain customer number is accepted (roles that see raw personal data).

    Returns
    -------
    int
        The customer number.

    Raises
    ------
    ValueError
        For text that is no reference (:data:`MSG_BAD_CUSTOMER_REF`) or an unknown masked id
        (:data:`MSG_UNKNOWN_PSEUDONYM`).
    """
    cleaned = text.strip()
    if allow_raw and CUSTOMER_NUMBER_PATTERN.fullmatch(cleaned):
        return int(cleaned)
    lowered = cleaned[:2].upper() + cleaned[2:].lower()
    if not PSEUDONYM_PATTERN.match(lowered):
        hint = " or a customer number" if allow_raw else ""
        raise ValueError(MSG_BAD_CUSTOMER_REF.format(text=cleaned, raw_hint=hint))
    if lowered not in pseudonyms:
        raise ValueError(MSG_UNKNOWN_PSEUDONYM.format(text=lowered))
    return int(pseudonyms[lowered])


def apply_what_if(
    row: pl.DataFrame, changes: Mapping[str, float | bool | None], *, features: Sequence[str]
) -> pl.DataFrame:
    """A customer's row with some feature values replaced, for re-scoring and re-explaining.

    Parameters
    ----------
    row : polars.DataFrame
        One row of model inputs.
    changes : mapping of str to float, bool or None
        Feature -> new value (None for missing; True/False for flags).
    features : sequence of str
        The model's inputs (only those may change).

    Returns
    -------
    polars.DataFrame
        A new one-row frame; ``row`` is not modified.

    Raises
    ------
    ValueError
        For an unknown feature (:data:`MSG_UNKNOWN_WHAT_IF`) or a value of the wrong kind
        (:data:`MSG_BAD_WHAT_IF`).
    """
    updates = []
    for name, value in changes.items():
        if name not in features:
            raise ValueError(MSG_UNKNOWN_WHAT_IF.format(feature=name, features=", ".join(features)))
        dtype = row.schema[name]
        if value is None:
            updates.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        if dtype == pl.Boolean:
            if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
                raise ValueError(MSG_BAD_WHAT_IF.format(feature=name, expected="True or False", value=value))
            updates.append(pl.lit(bool(value), dtype=pl.Boolean).alias(name))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(MSG_BAD_WHAT_IF.format(feature=name, expected="a number", value=value))
        if not math.isfinite(float(value)):
            raise ValueError(MSG_BAD_WHAT_IF.format(feature=name, expected="a finite number", value=value))
        if dtype.is_integer():
            if abs(float(value)) >= 2**53:
                raise ValueError(
                    MSG_BAD_WHAT_IF.format(feature=name, expected="a whole number below 2^53", value=value)
                )
            updates.append(pl.lit(round(float(value)), dtype=dtype).alias(name))
        else:
            updates.append(pl.lit(float(value), dtype=dtype).alias(name))
    return row.with_columns(updates) if updates else row.clone()


def load_test_scores(backend: ibis.BaseBackend, model_id: str) -> pl.DataFrame:
    """A model's scores on its test cut-off with the outcomes that followed.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    model_id : str
        The model.

    Returns
    -------
    polars.DataFrame
        ``model_test_scores`` columns but ``model_id``; empty for a model registered before
        test scores were stored.
    """
    table = _table(backend, MODEL_TEST_SCORES.name)
    if table is None:
        return pl.DataFrame(schema=MODEL_TEST_SCORES.schema).drop("model_id")
    return table.filter(table.model_id == model_id).drop("model_id").order_by("customer_id").to_polars()


def operating_threshold(scores: np.ndarray | pl.Series, *, share: float = 0.1) -> float:
    """The score above which the top ``share`` of customers lies: the default threshold to act on.

    Parameters
    ----------
    scores : array-like
        Calibrated scores.
    share : float
        Share of customers flagged (a tenth: one campaign's reach).

    Returns
    -------
    float
        The ``1 - share`` quantile, rounded to three decimals (0.5 when there are no scores).
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return 0.5
    return round(float(np.quantile(values, 1.0 - share)), 3)


@dataclass(frozen=True)
class Publication:
    """What scoring and explaining a registered model wrote.

    Parameters
    ----------
    model : analytics.models.registry.RegisteredModel
        The model.
    scores : analytics.models.registry.ScoreSummary
        Its scores of every current customer (``model_predictions``).
    explanations : list of ExplanationMeta
        Its stored SHAP samples (tree, baseline).
    """

    model: model_registry.RegisteredModel
    scores: model_registry.ScoreSummary
    explanations: list[ExplanationMeta]


def publish_model(
    db: Database,
    model_id: str,
    *,
    shap_rows: int = SAMPLE_ROWS,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> Publication:
    """Score every current customer with a registered model and store its SHAP sample.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    model_id : str
        A registered model.
    shap_rows : int
        Size of the stored SHAP sample.
    features : polars.DataFrame, optional
        :func:`analytics.models.registry.current_features`, when the caller has them.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    Publication
        The model, its score summary and its explanation samples.
    """
    frame = features if features is not None else model_registry.current_features(db)
    scores = model_registry.score_customers(db, model_id, progress=progress, features=frame)
    metas = store_explanations(db, model_id, rows=shap_rows, features=frame, progress=progress)
    model = model_registry.get_model(db.backend(), model_id)
    return Publication(model=model, scores=scores, explanations=metas)


def train_and_publish(
    db: Database,
    *,
    target: training_data.Target,
    trained_by: str,
    shap_rows: int = SAMPLE_ROWS,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> Publication:
    """Train and register a model of ``target``, then score and explain the current customers.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    target : Target
        What is predicted.
    trained_by : str
        Recorded with the model.
    shap_rows : int
        Size of the stored SHAP sample.
    features : polars.DataFrame, optional
        :func:`analytics.models.registry.current_features` (shared when several targets are trained).
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    Publication
        The registered model, its score summary and its explanation samples.
    """
    frame = features if features is not None else model_registry.current_features(db)
    model = model_registry.train_and_register(
        db, target=target, trained_by=trained_by, progress=progress, latest_features=frame
    )
    return publish_model(db, model.model_id, shap_rows=shap_rows, features=frame, progress=progress)


def top_scored_customers(backend: ibis.BaseBackend, model_id: str, *, n: int = 20) -> pl.DataFrame:
    """The highest-scored current customers who consented to profiling: a target list's head.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    model_id : str
        A scored model.
    n : int
        Customers returned.

    Returns
    -------
    polars.DataFrame
        ``customer_id``, ``score``, highest first (ties by customer id); customers without
        profiling consent are left out.
    """
    table = _table(backend, MODEL_PREDICTIONS.name)
    if table is None:
        return pl.DataFrame(schema={"customer_id": pl.Int64, "score": pl.Float64})
    customers = backend.table("customers")
    consented = customers.filter(customers.consent_profiling).select("customer_id")
    scores = table.filter(table.model_id == model_id).select("customer_id", "score")
    return (
        scores.semi_join(consented, "customer_id")
        .order_by([ibis.desc("score"), "customer_id"])
        .limit(n)
        .to_polars()
    )


@dataclass(frozen=True)
class QualityViews:
    """Everything the quality view draws for one model, from its stored test scores.

    Parameters
    ----------
    scores : polars.DataFrame
        :func:`load_test_scores`.
    roc : dict of str to analytics.models.quality.RocCurve
        ``model`` and ``baseline``.
    pr : dict of str to analytics.models.quality.PrCurve
        ``model`` and ``baseline``.
    calibration : dict of str to polars.DataFrame
        ``calibrated``, ``uncalibrated`` and ``baseline`` curves (deciles of the score).
    lift : dict of str to polars.DataFrame
        Lift and gains by decile of ``model`` and ``baseline``.
    comparison : polars.DataFrame
        :func:`analytics.models.quality.compare_models`, model first, with changes against the baseline.
    default_threshold : float
        :func:`operating_threshold` of the calibrated scores.
    """

    scores: pl.DataFrame
    roc: dict
    pr: dict
    calibration: dict
    lift: dict
    comparison: pl.DataFrame
    default_threshold: float


def quality_views(backend: ibis.BaseBackend, model_id: str) -> QualityViews | None:
    """The quality view of a model: curves, calibration, lift and the baseline comparison.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    model_id : str
        The model.

    Returns
    -------
    QualityViews or None
        None when the model has no stored test scores.
    """
    scores = load_test_scores(backend, model_id)
    if scores.height == 0:
        return None
    y = scores.get_column("label").to_numpy()
    tree, base = scores.get_column("score").to_numpy(), scores.get_column("baseline_score").to_numpy()
    raw = scores.get_column("score_uncalibrated").to_numpy()
    pair = {"model": tree, "baseline": base}
    return QualityViews(
        scores=scores,
        roc={name: model_quality.roc_curve_frame(y, s) for name, s in pair.items()},
        pr={name: model_quality.pr_curve_frame(y, s) for name, s in pair.items()},
        calibration={
            name: model_quality.calibration_frame(y, s)
            for name, s in (("calibrated", tree), ("uncalibrated", raw), ("baseline", base))
        },
        lift={name: model_quality.lift_gains_frame(y, s) for name, s in pair.items()},
        comparison=model_quality.compare_models(y, pair, baseline="baseline"),
        default_threshold=operating_threshold(tree),
    )


def current_customer_ids(backend: ibis.BaseBackend) -> pl.Series:
    """Customer numbers of every current customer (the rows of ``customer_features``), ascending.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.

    Returns
    -------
    polars.Series
        ``customer_id`` (Int64).
    """
    table = backend.table(CUSTOMER_FEATURES.name)
    return table.select("customer_id").order_by("customer_id").to_polars().get_column("customer_id")
