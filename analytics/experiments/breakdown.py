"""An experiment's effect group by group: each treatment's lift within every group of a customer attribute.

:func:`segment_breakdown` reads the raw metric (without CUPED: groups are read for their
direction, not precision) in every region, age band or preferred channel, and in every gender
for the fairness audit of experiment effects; p-values are Benjamini-Hochberg-adjusted across groups.
"""

from __future__ import annotations

from typing import Literal, get_args

import ibis
import numpy as np
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.expressions import age_band_expr
from analytics.experiments.bank import METRIC_KINDS, Experiment, _sums, arms_of, customer_metrics
from analytics.experiments.comparison import compare
from analytics.experiments.frequentist import adjust_p_values

SegmentDimension = Literal["region", "age_band", "preferred_channel"]
SEGMENT_DIMENSIONS: tuple[str, ...] = get_args(SegmentDimension)
BREAKDOWN_DIMENSIONS: tuple[str, ...] = (*SEGMENT_DIMENSIONS, "gender")
"""What :func:`segment_breakdown` accepts: the page's dimensions, and gender for the fairness audit
of experiment effects (protected attributes are shown with the fairness page's safeguards only)."""
MSG_UNKNOWN_DIMENSION = "Unknown segment dimension {dimension!r}: choose one of {choices}."


@shared_docs
def segment_breakdown(
    backend: ibis.BaseBackend,
    experiment: Experiment,
    *,
    metric: str,
    dimension: SegmentDimension | Literal["gender"],
    alpha: float = 0.05,
) -> pl.DataFrame:
    """Each treatment's lift within every group of a customer dimension, BH-adjusted across groups.

    Parameters
    ----------
    {backend}
    experiment : Experiment
        The experiment.
    metric : str
        The metric (raw, without CUPED: groups are read for their direction, not precision).
    dimension : {"region", "age_band", "preferred_channel", "gender"}
        Customer attribute (the age band on the start date); gender is for the fairness audit
        (:data:`BREAKDOWN_DIMENSIONS`).
    alpha : float
        Significance level.

    Returns
    -------
    polars.DataFrame
        ``group``, ``treatment``, ``control_n``, ``treatment_n``, ``control_mean``,
        ``treatment_mean``, ``lift``, ``low``, ``high``, ``relative_lift``, ``p_value``,
        ``p_adjusted`` (Benjamini-Hochberg), ``significant``, ``note`` (why a group was not
        compared).
    """
    if dimension not in BREAKDOWN_DIMENSIONS:
        raise ValueError(
            MSG_UNKNOWN_DIMENSION.format(dimension=dimension, choices=", ".join(BREAKDOWN_DIMENSIONS))
        )

    frame = customer_metrics(backend, experiment)
    customers = backend.table("customers")
    attrs = customers.select(
        "customer_id",
        group=(
            age_band_expr(customers.birth_date, experiment.start_date)
            if dimension == "age_band"
            else customers[dimension]
        ).cast("string"),
    )
    joined = frame.left_join(attrs, "customer_id").drop("customer_id_right")
    y = joined[metric if metric != "revenue_per_session" else "revenue"].cast("float64")
    d = joined.sessions.cast("float64") if metric == "revenue_per_session" else None
    aggs = {"n": joined.count()} | _sums(metric, y, d=d)
    grouped = joined.group_by("group", "variant").aggregate(**aggs).to_polars()
    kind = METRIC_KINDS[metric]
    rows = []
    for group in sorted(grouped.get_column("group").drop_nulls().unique().to_list()):
        part = grouped.filter(pl.col("group") == group)
        arms = arms_of(part, experiment, metric)
        if not arms or arms[0].name != experiment.control:
            continue
        for arm in arms[1:]:
            row = {"group": group, "treatment": arm.name, "control_n": arms[0].n, "treatment_n": arm.n}
            try:
                c = compare(arms[0], arm, kind=kind, alpha=alpha).frequentist
            except ValueError as exc:
                rows.append(row | {"note": str(exc)})
                continue
            rows.append(
                row
                | {
                    "control_mean": arms[0].mean if kind != "ratio" else arms[0].sum / arms[0].d_sum,
                    "treatment_mean": arm.mean if kind != "ratio" else arm.sum / arm.d_sum,
                    "lift": c.absolute_lift,
                    "low": c.absolute_ci[0],
                    "high": c.absolute_ci[1],
                    "relative_lift": c.relative_lift,
                    "p_value": c.p_value,
                }
            )
    schema = {
        "group": pl.String,
        "treatment": pl.String,
        "control_n": pl.Int64,
        "treatment_n": pl.Int64,
        "control_mean": pl.Float64,
        "treatment_mean": pl.Float64,
        "lift": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
        "relative_lift": pl.Float64,
        "p_value": pl.Float64,
        "note": pl.String,
    }
    table = pl.DataFrame(rows, schema=schema)
    tested = table.get_column("p_value").is_not_null().to_numpy()
    adjusted = np.full(table.height, np.nan)
    if tested.any():
        adjusted[tested] = adjust_p_values(table.get_column("p_value").to_numpy()[tested], "bh")
    return table.with_columns(
        pl.Series("p_adjusted", adjusted, dtype=pl.Float64).fill_nan(None),
        (pl.Series("p_adjusted", adjusted).fill_nan(1.0) < alpha).alias("significant"),
    )
