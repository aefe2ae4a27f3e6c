"""The bank's experiments: their definitions, and each arm's sums computed in the database.

The database does the heavy part: for one experiment it joins the assignments with the
events of the measurement window (and of a pre-period of the same length, for CUPED) and
reduces them to each arm's sufficient statistics (count, sums, sums of squares and
cross-products: :class:`analytics.experiments.arms.ArmStats`). A million customers never
leave DuckDB; the statistics (:mod:`analytics.experiments.comparison`) run on a few numbers per
arm, and :mod:`analytics.experiments.readout` assembles the read-out.

Metrics (docs/experiments.md)
-----------------------------
- ``conversion`` (proportion): the customer converted on an offer of the experiment's
  campaign within the window; only for experiments with a campaign. Pre-period: converted
  on any offer in the pre-period.
- ``revenue`` (mean): debit spend in the window, EUR (0 without any). Pre-period: the same sum.
- ``sessions`` (mean): digital sessions in the window. Pre-period: the same count.
- ``revenue_per_session`` (ratio, delta method): total spend over total sessions of the arm;
  no CUPED.

The window runs from the start date to the end date, or to the snapshot date if the
experiment is still running; the pre-period is the same number of days just before the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl

from analytics.common.docs import shared_docs
from analytics.experiments.arms import ArmStats, MetricKind

MetricName = Literal["conversion", "revenue", "sessions", "revenue_per_session"]
METRICS: tuple[str, ...] = get_args(MetricName)
METRIC_KINDS: dict[str, MetricKind] = {
    "conversion": "proportion",
    "revenue": "mean",
    "sessions": "mean",
    "revenue_per_session": "ratio",
}
MAX_LOOKS = 30
"""Looks of the sequential chart: every day of a window up to 30 days, else evenly spaced days."""
MSG_UNKNOWN_EXPERIMENT = "No experiment has the id {experiment_id!r}. Experiments: {known}."
MSG_NO_CAMPAIGN = "Experiment {experiment_id} has no campaign: its conversion metric is not defined."
MSG_UNKNOWN_METRIC = "Unknown metric {metric!r}: choose one of {choices}."
MSG_NOT_STARTED = "Experiment {experiment_id} starts on {start}, after the snapshot {snapshot}: no data yet."
LOOK_COLUMNS = {
    "conversion": ("conversion",),
    "revenue": ("revenue",),
    "sessions": ("sessions",),
    "revenue_per_session": ("revenue", "sessions"),
}
"""The per-customer columns each metric's looks need."""


@dataclass(frozen=True)
class Experiment:
    """An ``experiments`` row, decoded.

    Parameters
    ----------
    experiment_id, name, hypothesis : str
        Identity and what the treatment should change.
    start_date, end_date : datetime.date
        Planned window.
    window_end : datetime.date
        Last day measured: the end date, or the snapshot for a running experiment.
    variants : tuple of str
        Control first.
    design_split : tuple of float
        Planned shares in percent, same order.
    primary_metric : str
        One of :data:`METRICS`.
    campaign_id : int or None
        Campaign carrying the treatment.
    status : str
        running or completed.
    """

    experiment_id: str
    name: str
    hypothesis: str
    start_date: date
    end_date: date
    window_end: date
    variants: tuple[str, ...]
    design_split: tuple[float, ...]
    primary_metric: str
    campaign_id: int | None
    status: str

    @property
    def control(self) -> str:
        """The control arm's name (the first variant)."""
        return self.variants[0]

    @property
    def days(self) -> int:
        """Days in the measured window."""
        return (self.window_end - self.start_date).days + 1

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics defined for this experiment (conversion needs a campaign)."""
        return tuple(m for m in METRICS if m != "conversion" or self.campaign_id is not None)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@shared_docs
def list_experiments(backend: ibis.BaseBackend) -> pl.DataFrame:
    """Every experiment with its status and the customers assigned per arm.

    Parameters
    ----------
    {backend}

    Returns
    -------
    polars.DataFrame
        ``experiment_id``, ``name``, ``status``, ``start_date``, ``end_date``,
        ``primary_metric``, ``variants``, ``design_split``, ``customers``; newest start first.
    """
    experiments = backend.table("experiments")
    assignments = backend.table("assignments")
    counts = assignments.group_by("experiment_id").aggregate(customers=assignments.count())
    joined = experiments.left_join(counts, "experiment_id").select(
        "experiment_id",
        "name",
        "status",
        "start_date",
        "end_date",
        "primary_metric",
        "variants",
        "design_split",
        customers=ibis.coalesce(counts.customers, 0),
    )
    return joined.order_by([ibis.desc("start_date"), "experiment_id"]).to_polars()


@shared_docs
def load_experiment(backend: ibis.BaseBackend, experiment_id: str, *, snapshot: date) -> Experiment:
    """One experiment's definition.

    Parameters
    ----------
    {backend}
    experiment_id : str
        The experiment (a bound value).
    snapshot : datetime.date
        The data set's snapshot date (the window of a running experiment ends there).

    Returns
    -------
    Experiment
        Its definition.

    Raises
    ------
    ValueError
        For an unknown id (:data:`MSG_UNKNOWN_EXPERIMENT`) or one that starts after the snapshot.
    """
    table = backend.table("experiments")
    rows = table.filter(table.experiment_id == ibis.literal(experiment_id, type="string")).to_polars()
    if rows.height == 0:
        known = ", ".join(table.select("experiment_id").to_polars().get_column("experiment_id").to_list())
        raise ValueError(MSG_UNKNOWN_EXPERIMENT.format(experiment_id=experiment_id, known=known or "none"))
    row = rows.row(0, named=True)
    if row["start_date"] > snapshot:
        raise ValueError(
            MSG_NOT_STARTED.format(experiment_id=experiment_id, start=row["start_date"], snapshot=snapshot)
        )
    return Experiment(
        experiment_id=row["experiment_id"],
        name=row["name"],
        hypothesis=row["hypothesis"] or "",
        start_date=row["start_date"],
        end_date=row["end_date"],
        window_end=min(row["end_date"], snapshot),
        variants=_split(row["variants"]),
        design_split=tuple(float(s) for s in _split(row["design_split"])),
        primary_metric=row["primary_metric"] or "conversion",
        campaign_id=row["campaign_id"],
        status=row["status"] or "",
    )


def _ts(day: date) -> ir.Scalar:
    return ibis.literal(datetime.combine(day, time()), type="timestamp")


@shared_docs
def customer_metrics(
    backend: ibis.BaseBackend,
    experiment: Experiment,
    *,
    looks: Sequence[date] = (),
    look_metrics: Sequence[str] = METRICS,
) -> ir.Table:
    """Expression: one row per assigned customer with every metric, its pre-period value and look values.

    Columns: ``customer_id``, ``variant``, ``revenue``, ``revenue_pre``, ``sessions``,
    ``sessions_pre``, ``conversion`` and ``conversion_pre`` (with a campaign), and for each
    look day ``k``: ``revenue_k``, ``sessions_k``, ``conversion_k`` (values up to that day).

    Parameters
    ----------
    {backend}
    experiment : Experiment
        The experiment.
    looks : sequence of datetime.date
        Days of the sequential chart (values cumulated up to and including each).
    look_metrics : sequence of str
        Metrics whose look values are computed (each look adds conditional sums over the
        events: only the charted metric's are worth their cost).

    Returns
    -------
    ibis.Table
        Not executed: the caller aggregates it in the database.
    """
    wanted = {column for metric in look_metrics for column in LOOK_COLUMNS[metric]}
    revenue_looks = looks if "revenue" in wanted else ()
    session_looks = looks if "sessions" in wanted else ()
    conversion_looks = looks if "conversion" in wanted else ()
    start, end = experiment.start_date, experiment.window_end
    pre_start = start - timedelta(days=experiment.days)
    after_end = _ts(end + timedelta(days=1))
    assignments = backend.table("assignments")
    assigned = assignments.filter(assignments.experiment_id == experiment.experiment_id).select(
        "customer_id", "variant", "assigned_at"
    )
    tx = backend.table("transactions")
    tx = tx.filter(tx.direction == "debit", tx.ts >= _ts(pre_start), tx.ts < after_end)
    inside = tx.ts >= _ts(start)
    spend = tx.group_by("customer_id").aggregate(
        revenue=inside.ifelse(tx.amount, 0.0).sum(),
        revenue_pre=(~inside).ifelse(tx.amount, 0.0).sum(),
        **{
            f"revenue_{k}": (inside & (tx.ts < _ts(day + timedelta(days=1)))).ifelse(tx.amount, 0.0).sum()
            for k, day in enumerate(revenue_looks)
        },
    )
    events = backend.table("digital_events")
    events = events.filter(events.event_type == "session", events.ts >= _ts(pre_start), events.ts < after_end)
    e_inside = events.ts >= _ts(start)
    sessions = events.group_by("customer_id").aggregate(
        sessions=e_inside.cast("int64").sum(),
        sessions_pre=(~e_inside).cast("int64").sum(),
        **{
            f"sessions_{k}": (e_inside & (events.ts < _ts(day + timedelta(days=1)))).cast("int64").sum()
            for k, day in enumerate(session_looks)
        },
    )
    frame = assigned.left_join(spend, "customer_id").drop("customer_id_right")
    frame = frame.left_join(sessions, "customer_id").drop("customer_id_right")
    fills = {
        name: frame[name].fill_null(0) for name in frame.columns if name.startswith(("revenue", "sessions"))
    }
    if experiment.campaign_id is not None:
        offers = backend.table("offers")
        converted = offers.converted_at.notnull() & (offers.converted_at < after_end)
        window = converted & (offers.campaign_id == experiment.campaign_id)
        pre = converted & (offers.converted_at >= _ts(pre_start)) & (offers.converted_at < _ts(start))
        conv = (
            offers.filter(offers.converted_at.notnull())
            .group_by("customer_id")
            .aggregate(
                conversion=window.cast("int64").max(),
                conversion_pre=pre.cast("int64").max(),
                **{
                    f"conversion_{k}": (window & (offers.converted_at < _ts(day + timedelta(days=1))))
                    .cast("int64")
                    .max()
                    for k, day in enumerate(conversion_looks)
                },
            )
        )
        frame = frame.left_join(conv, "customer_id").drop("customer_id_right")
        fills |= {name: frame[name].fill_null(0) for name in frame.columns if name.startswith("conversion")}
    return frame.mutate(**fills)


def look_days(experiment: Experiment, *, max_looks: int = MAX_LOOKS) -> tuple[date, ...]:
    """Days of the sequential chart: every day of the window, or ``max_looks`` evenly spaced ones.

    Parameters
    ----------
    experiment : Experiment
        The experiment.
    max_looks : int
        Most looks drawn.

    Returns
    -------
    tuple of datetime.date
        Ascending; the last is the window's end.
    """
    days = experiment.days
    offsets = np.unique(np.linspace(0, days - 1, num=min(days, max_looks)).round().astype(int))
    return tuple(experiment.start_date + timedelta(days=int(o)) for o in offsets)


def _sums(prefix: str, y: ir.Column, *, x: ir.Column | None = None, d: ir.Column | None = None) -> dict:
    out = {f"{prefix}__sum": y.sum(), f"{prefix}__sum_sq": (y * y).sum()}
    if x is not None:
        out |= {
            f"{prefix}__x_sum": x.sum(),
            f"{prefix}__x_sum_sq": (x * x).sum(),
            f"{prefix}__xy_sum": (x * y).sum(),
        }
    if d is not None:
        out |= {
            f"{prefix}__d_sum": d.sum(),
            f"{prefix}__d_sum_sq": (d * d).sum(),
            f"{prefix}__yd_sum": (y * d).sum(),
        }
    return out


@shared_docs
def aggregate_arms(
    backend: ibis.BaseBackend,
    experiment: Experiment,
    *,
    looks: Sequence[date] = (),
    look_metrics: Sequence[str] = METRICS,
) -> pl.DataFrame:
    """Each arm's sufficient statistics of every metric (and of every look), computed in the database.

    Parameters
    ----------
    {backend}
    experiment : Experiment
        The experiment.
    looks : sequence of datetime.date
        Days of the sequential chart.
    look_metrics : sequence of str
        Metrics whose looks are aggregated (default every one; the page asks for the charted one).

    Returns
    -------
    polars.DataFrame
        One row per variant: ``variant``, ``n`` and ``<metric>__sum``, ``__sum_sq`` (and the
        covariate and denominator sums), and per look ``k``: ``look{k}__<metric>__sum`` ...
    """
    look_metrics = [m for m in look_metrics if m in experiment.metrics]
    frame = customer_metrics(backend, experiment, looks=looks, look_metrics=look_metrics)
    revenue = frame.revenue.cast("float64")
    sessions_ = frame.sessions.cast("float64")
    aggs: dict = {"n": frame.count()}
    aggs |= _sums("revenue", revenue, x=frame.revenue_pre.cast("float64"))
    aggs |= _sums("sessions", sessions_, x=frame.sessions_pre.cast("float64"))
    aggs |= _sums("revenue_per_session", revenue, d=sessions_)
    if experiment.campaign_id is not None:
        aggs |= _sums("conversion", frame.conversion.cast("float64"), x=frame.conversion_pre.cast("float64"))
    for k, day in enumerate(looks):
        # A look counts the customers assigned by the end of its day, with their values so far.
        enrolled = frame.assigned_at < _ts(day + timedelta(days=1))
        aggs[f"look{k}__n"] = enrolled.cast("int64").sum()

        def upto(column: str, enrolled: ir.BooleanColumn = enrolled) -> ir.FloatingColumn:
            return enrolled.ifelse(frame[column].cast("float64"), 0.0)

        if "revenue" in look_metrics:
            aggs |= _sums(f"look{k}__revenue", upto(f"revenue_{k}"))
        if "sessions" in look_metrics:
            aggs |= _sums(f"look{k}__sessions", upto(f"sessions_{k}"))
        if "revenue_per_session" in look_metrics:
            aggs |= _sums(f"look{k}__revenue_per_session", upto(f"revenue_{k}"), d=upto(f"sessions_{k}"))
        if "conversion" in look_metrics:
            aggs |= _sums(f"look{k}__conversion", upto(f"conversion_{k}"))
    return frame.group_by("variant").aggregate(**aggs).to_polars()


def _arm(row: dict, prefix: str, *, name: str, n_column: str = "n") -> ArmStats:
    def get(field: str):
        value = row.get(f"{prefix}__{field}")
        return None if value is None else float(value)

    return ArmStats(
        name=name,
        n=int(row[n_column] or 0),
        sum=float(row[f"{prefix}__sum"] or 0.0),
        sum_sq=float(row[f"{prefix}__sum_sq"] or 0.0),
        x_sum=get("x_sum"),
        x_sum_sq=get("x_sum_sq"),
        xy_sum=get("xy_sum"),
        d_sum=get("d_sum"),
        d_sum_sq=get("d_sum_sq"),
        yd_sum=get("yd_sum"),
    )


def arms_of(
    aggregates: pl.DataFrame, experiment: Experiment, metric: str, *, look: int | None = None
) -> tuple[ArmStats, ...]:
    """The arms' statistics of one metric (control first), from :func:`aggregate_arms`.

    Parameters
    ----------
    aggregates : polars.DataFrame
        From :func:`aggregate_arms`.
    experiment : Experiment
        The experiment (its variant order).
    metric : str
        One of the experiment's metrics.
    look : int, optional
        A look's index, for the values cumulated up to that day.

    Returns
    -------
    tuple of analytics.experiments.arms.ArmStats
        Control first, then the treatments in the design's order; arms without customers left out.
    """
    prefix = metric if look is None else f"look{look}__{metric}"
    rows = {row["variant"]: row for row in aggregates.iter_rows(named=True)}
    order = [v for v in experiment.variants if v in rows] + sorted(
        v for v in rows if v not in experiment.variants
    )
    n_column = "n" if look is None else f"look{look}__n"
    return tuple(_arm(rows[v], prefix, name=v, n_column=n_column) for v in order)
