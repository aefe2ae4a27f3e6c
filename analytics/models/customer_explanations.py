"""One customer's score explained: the customer looked up, reason codes in words, what-if.

The score is explained by :func:`analytics.models.explanations.explain_scores` in the log-odds
of the calibrated score, where the waterfall's contributions add up exactly.

Reason codes speak in probability points. Log-odds contributions do not add up in
probability, and spreading the probability change along the waterfall makes a feature's
points depend on where it falls in the order (the first step from a 1% base moves little
whatever its size). A reason's points are therefore the score minus the score the customer
would have without that contribution (:func:`points_without`): "raised churn risk by 12
points" means the risk would be 12 points lower if that feature contributed nothing. The
waterfall itself is drawn in log-odds, where the contributions do add up exactly.

Only a customer who consented to profiling is explained: :func:`load_customer_features`, the
row every one-customer view (explanation, what-if, the fairness page's individual decision)
starts from, refuses anyone else with :data:`MSG_NO_PROFILING_CONSENT` (docs/privacy.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import numpy as np
import polars as pl

from analytics.access import consent
from analytics.common.docs import shared_docs
from analytics.common.types import PRODUCT_IDS
from analytics.models import registry as model_registry
from analytics.models import training_data
from analytics.models.explanations import explain_scores, sigmoid
from analytics.store.contracts import (
    CUSTOMER_FEATURES,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
)

REASON_CODES = 3
"""Reasons given in words for one customer's score."""

MSG_BAD_CUSTOMER_REF = (
    "{text!r} is not a customer reference: type a masked id such as C-1a2b3c4d5e6f{raw_hint}."
)
MSG_UNKNOWN_PSEUDONYM = "No current customer has the masked id {text!r}."
MSG_NOT_CURRENT = (
    "Customer {customer} is not a current customer on the snapshot {as_of}: only customers open on"
    " that day are scored."
)
MSG_NO_PROFILING_CONSENT = consent.MSG_NO_PROFILING_CONSENT
"""Refusal of a customer without profiling consent (named as the viewer's role may read them)."""
MSG_UNKNOWN_WHAT_IF = "{feature!r} is not an input of this model; its inputs are: {features}."
MSG_BAD_WHAT_IF = "The what-if value of {feature!r} must be {expected}, got {value!r}."
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
        return sigmoid(self.base_value)


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
    return sigmoid(log_odds) - 1.0 / (1.0 + np.exp(-(log_odds - c)))


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
    values = training_data.feature_matrix(row, model.features)[0]
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


@shared_docs
def load_customer_features(
    backend: ibis.BaseBackend, customer_id: int, *, as_of: date, shown_as: str
) -> pl.DataFrame:
    """One current customer's model inputs as of the snapshot (the row scoring used), if they consented.

    Reads the ``customer_features`` table, which :func:`analytics.store.database.Database.refresh_rollups`
    builds as of the snapshot with the same expression as
    :func:`analytics.models.training_data.load_point_in_time_features`, so the row equals that frame's.

    Parameters
    ----------
    {backend}
    customer_id : int
        The customer (a bound value).
    as_of : datetime.date
        The snapshot date (stamped in the ``features_as_of`` column).
    shown_as : str
        How a refusal names the customer: the masked id for a role that sees masked ids, the
        number only for one that may see it. The caller decides, so no message carries a raw
        customer number by default.

    Returns
    -------
    polars.DataFrame
        One row.

    Raises
    ------
    ValueError
        When the customer is not current on the snapshot (:data:`MSG_NOT_CURRENT`) or has not
        consented to profiling (:data:`MSG_NO_PROFILING_CONSENT`).
    """
    table = backend.table(CUSTOMER_FEATURES.name)
    row = (
        table.filter(table.customer_id == ibis.literal(int(customer_id), type="int64"))
        .drop(*training_data.SNAPSHOT_VALUED_FEATURES)
        .to_polars()
    )
    if row.height == 0:
        raise ValueError(MSG_NOT_CURRENT.format(customer=shown_as, as_of=as_of))
    if not consent.has_profiling_consent(backend, customer_id):
        raise ValueError(MSG_NO_PROFILING_CONSENT.format(customer=shown_as))
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
