"""SHAP explanations of registered models: the calibrated score's exact SHAP and the stored sample.

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

The stored sample (:func:`store_explanations`), drawn from the current customers who consented
to profiling only (docs/privacy.md), feeds the global views: importance, beeswarm,
dependence and the comparison of a segment with the rest. One customer's reasons and the
what-if are :mod:`analytics.models.customer_explanations`.
"""

from __future__ import annotations

import json
import math
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal

import ibis
import numpy as np
import polars as pl
from shap.utils import approximate_interactions
from sklearn.calibration import CalibratedClassifierCV

from analytics.access.consent import keep_profiling_consented, profiling_consented
from analytics.common.docs import shared_docs
from analytics.models import pipelines, training_data
from analytics.models import registry as model_registry
from analytics.store.contracts import MODEL_EXPLANATIONS, MODEL_SHAP
from analytics.store.database import Database
from analytics.store.tables import optional_table

Kind = Literal["tree", "baseline"]
KINDS: tuple[Kind, ...] = ("tree", "baseline")

SAMPLE_ROWS = 10_000
"""Current customers with profiling consent whose SHAP values are stored per model (a random sample)."""

CALIBRATED_SPACE = "log-odds of the calibrated score"
BASELINE_SPACE = "log-odds of the baseline's probability"

MSG_NOT_SIGMOID = (
    "The model is calibrated with {method!r}; only sigmoid (Platt) calibration maps the booster's"
    " log-odds linearly, which the exact explanation of the calibrated score relies on."
)
MSG_NO_EXPLANATION = (
    "Model {model_id} has no stored SHAP sample: run `python -m analytics score --model-id {model_id}`."
)
MSG_EMPTY_SEGMENT = (
    "None of the segment's customers is in the stored SHAP sample of {rows:,} customers: there is"
    " nothing to compare."
)
MSG_NO_REST = "Every customer of the SHAP sample is in the segment: there is no rest to compare with."


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

    @property
    def base_probability(self) -> float:
        """The probability at the base value (for the tree: the calibrated score's starting point)."""
        return sigmoid(self.base_value)


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


def sigmoid(x: float) -> float:
    """The logistic function: the probability of log-odds ``x``.

    Parameters
    ----------
    x : float
        Log-odds.

    Returns
    -------
    float
        ``1 / (1 + exp(-x))``.

    Examples
    --------
    >>> sigmoid(0.0)
    0.5
    """
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


def store_explanations(
    db: Database,
    model_id: str,
    *,
    rows: int = SAMPLE_ROWS,
    random_state: int = 0,
    features: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExplanationMeta]:
    """Explain a random sample of consenting current customers with both pipelines; store the SHAP values.

    Only customers whose latest choice allows profiling are sampled (rows of a ``features``
    frame for others are dropped here). The model's earlier sample is replaced in one
    transaction. The medians of the features over those customers are stored with it (the
    "typical" value of reason codes).

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    model_id : str
        A registered model.
    rows : int
        Sample size (every consenting current customer when there are fewer).
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
    if features is None:
        frame = model_registry.current_features(db)
    else:
        frame = keep_profiling_consented(features, db.backend())
    if frame.height == 0:
        raise ValueError(model_registry.MSG_NO_CUSTOMERS.format(as_of=db.snapshot_date()))
    as_of = db.snapshot_date()
    sample = frame.sample(n=min(rows, frame.height), seed=random_state).sort("customer_id")
    typical = typical_values(frame, loaded.features)
    ids = sample.get_column("customer_id").cast(pl.Int64).to_numpy()
    values = training_data.feature_matrix(sample, loaded.features)
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


@shared_docs
def load_explanation_meta(backend: ibis.BaseBackend, model_id: str) -> dict[str, ExplanationMeta]:
    """The stored SHAP samples of a model, by pipeline.

    Parameters
    ----------
    {backend}
    model_id : str
        The model.

    Returns
    -------
    dict of str to ExplanationMeta
        ``"tree"`` and ``"baseline"`` when stored; empty when the model was not explained.
    """
    table = optional_table(backend, MODEL_EXPLANATIONS.name)
    if table is None:
        return {}
    rows = table.filter(table.model_id == model_id).to_polars()
    return {row["kind"]: _meta(row) for row in rows.iter_rows(named=True)}


@shared_docs
def load_shap_matrix(backend: ibis.BaseBackend, model_id: str, *, kind: Kind = "tree") -> ShapMatrix:
    """A model's stored SHAP sample as matrices (rows by customer, columns in input order).

    Parameters
    ----------
    {backend}
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
    table = optional_table(backend, MODEL_SHAP.name)
    if meta is None or table is None:
        raise ValueError(MSG_NO_EXPLANATION.format(model_id=model_id))
    features = model_registry.get_model(backend, model_id).features
    # A customer who withdrew profiling consent after the sample was stored is left out.
    long = (
        table.filter(table.model_id == model_id, table.kind == kind)
        .semi_join(profiling_consented(backend), "customer_id")
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
