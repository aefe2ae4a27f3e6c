"""References the fairness tests compare with: fairlearn called directly, age bands in plain polars."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score


def fairlearn_by_group(y: np.ndarray, p: np.ndarray, sensitive, attrs) -> object:
    """MetricFrame's selection rate, TPR, FPR, precision and accuracy per group.

    Returns a pandas frame indexed by the group label Tailor uses (values joined by " · ").
    Precision uses ``zero_division=0`` as fairlearn's own wrappers do.
    """
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": lambda a, b: precision_score(a, b, zero_division=0),
            "accuracy": accuracy_score,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sensitive,
    )
    by_group = frame.by_group.reset_index()
    by_group["group"] = by_group[list(attrs)].astype(str).agg(" · ".join, axis=1)
    return by_group.set_index("group")


def with_age_band(frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """``age_band`` on ``as_of`` from ``birth_date`` in polars (not the module's Ibis expression)."""
    month, day = pl.col("birth_date").dt.month(), pl.col("birth_date").dt.day()
    before_birthday = (month > as_of.month) | ((month == as_of.month) & (day > as_of.day))
    age = as_of.year - pl.col("birth_date").dt.year() - before_birthday.cast(pl.Int32)
    band = (
        pl.when(age < 25).then(pl.lit("18-24")).when(age < 35).then(pl.lit("25-34")).when(age < 45)
        .then(pl.lit("35-44")).when(age < 55).then(pl.lit("45-54")).when(age < 65).then(pl.lit("55-64"))
        .otherwise(pl.lit("65+"))
    )  # fmt: skip
    return frame.with_columns(band.alias("age_band"))
