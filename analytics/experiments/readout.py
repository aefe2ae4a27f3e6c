"""A/B test read-outs on the bank: per-customer metrics aggregated in the database, then the statistics.

The database does the heavy part: for one experiment it joins the assignments with the
events of the measurement window (and of a pre-period of the same length, for CUPED) and
reduces them to each arm's sufficient statistics (count, sums, sums of squares and
cross-products: :class:`analytics.experiments.stats.ArmStats`). A million customers never
leave DuckDB; the statistics (:mod:`analytics.experiments.stats`) run on a few numbers per arm.

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
from ibis.common.exceptions import TableNotFound

from analytics.common.expressions import age_band_expr
from analytics.experiments import stats

MetricName = Literal["conversion", "revenue", "sessions", "revenue_per_session"]
METRICS: tuple[str, ...] = get_args(MetricName)
METRIC_KINDS: dict[str, stats.MetricKind] = {
    "conversion": "proportion",
    "revenue": "mean",
    "sessions": "mean",
    "revenue_per_session": "ratio",
}
METRIC_LABELS = {
    "conversion": "Conversion",
    "revenue": "Spend per customer (EUR)",
    "sessions": "Sessions per customer",
    "revenue_per_session": "Spend per session (EUR)",
}
METRIC_WORDS = {
    "conversion": "conversion",
    "revenue": "spend per customer",
    "sessions": "sessions per customer",
    "revenue_per_session": "spend per session",
}
"""The metrics in running text (decision lines)."""
GUARDRAILS: tuple[str, ...] = ("sessions",)
"""Metrics that must not get significantly worse, whatever the primary metric (digital engagement)."""

SegmentDimension = Literal["region", "age_band", "preferred_channel"]
SEGMENT_DIMENSIONS: tuple[str, ...] = get_args(SegmentDimension)
BREAKDOWN_DIMENSIONS: tuple[str, ...] = (*SEGMENT_DIMENSIONS, "gender")
"""What :func:`segment_breakdown` accepts: the page's dimensions, and gender for the fairness audit
of experiment effects (protected attributes are shown with the fairness page's safeguards only)."""
MAX_LOOKS = 30
"""Looks of the sequential chart: every day of a window up to 30 days, else evenly spaced days."""

MSG_UNKNOWN_EXPERIMENT = "No experiment has the id {experiment_id!r}. Experiments: {known}."
MSG_NO_CAMPAIGN = "Experiment {experiment_id} has no campaign: its conversion metric is not defined."
MSG_UNKNOWN_METRIC = "Unknown metric {metric!r}: choose one of {choices}."
MSG_NO_ASSIGNMENTS = "Experiment {experiment_id} has no assigned customers."
MSG_CONTROL_MISSING = (
    "The control arm {control!r} has no customers in experiment {experiment_id} (arms: {arms})."
)
MSG_SINGLE_ARM = "Experiment {experiment_id} has a single arm ({arms}): there is nothing to compare."
MSG_UNKNOWN_DIMENSION = "Unknown segment dimension {dimension!r}: choose one of {choices}."
MSG_NOT_STARTED = "Experiment {experiment_id} starts on {start}, after the snapshot {snapshot}: no data yet."


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


@dataclass(frozen=True)
class MetricReadout:
    """One metric's comparisons, treatment by treatment.

    Parameters
    ----------
    metric : str
        One of :data:`METRICS`.
    kind : str
        proportion, mean or ratio.
    role : str
        primary, guardrail or secondary.
    arms : tuple of analytics.experiments.stats.ArmStats
        Control first.
    comparisons : dict of str to analytics.experiments.stats.Comparison
        By treatment name.
    adjusted_p : dict of str to float
        By treatment: the p-value itself for the primary metric and guardrails, the Holm-adjusted
        one (over the secondary metrics and treatments) for the others.
    guardrail_breached : dict of str to bool
        For a guardrail: significantly worse (p < alpha, unadjusted, and the lift below 0).
    problem : str or None
        Why the metric could not be compared (e.g. no variance in either arm), else None.
    """

    metric: str
    kind: str
    role: str
    arms: tuple[stats.ArmStats, ...]
    comparisons: dict[str, stats.Comparison]
    adjusted_p: dict[str, float]
    guardrail_breached: dict[str, bool]
    problem: str | None = None


@dataclass(frozen=True)
class ExperimentResult:
    """The read-out of one experiment.

    Parameters
    ----------
    experiment : Experiment
        What was run.
    counts : dict of str to int
        Customers per arm.
    srm : analytics.experiments.stats.Srm
        Sample-ratio check against the design split.
    metrics : tuple of MetricReadout
        Primary first, then guardrails, then the others.
    decision : str
        One plain-language line on the primary metric.
    alpha : float
        Significance level used.
    """

    experiment: Experiment
    counts: dict[str, int]
    srm: stats.Srm
    metrics: tuple[MetricReadout, ...]
    decision: str
    alpha: float

    @property
    def primary(self) -> MetricReadout:
        """The primary metric's read-out."""
        return self.metrics[0]


def _table(backend: ibis.BaseBackend, name: str) -> ibis.Table | None:
    try:
        return backend.table(name)
    except TableNotFound:
        return None


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def list_experiments(backend: ibis.BaseBackend) -> pl.DataFrame:
    """Every experiment with its status and the customers assigned per arm.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.

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


def load_experiment(backend: ibis.BaseBackend, experiment_id: str, *, snapshot: date) -> Experiment:
    """One experiment's definition.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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


LOOK_COLUMNS = {
    "conversion": ("conversion",),
    "revenue": ("revenue",),
    "sessions": ("sessions",),
    "revenue_per_session": ("revenue", "sessions"),
}
"""The per-customer columns each metric's looks need."""


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
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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


def _arm(row: dict, prefix: str, *, name: str, n_column: str = "n") -> stats.ArmStats:
    def get(field: str):
        value = row.get(f"{prefix}__{field}")
        return None if value is None else float(value)

    return stats.ArmStats(
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
) -> tuple[stats.ArmStats, ...]:
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
    tuple of analytics.experiments.stats.ArmStats
        Control first, then the treatments in the design's order; arms without customers left out.
    """
    prefix = metric if look is None else f"look{look}__{metric}"
    rows = {row["variant"]: row for row in aggregates.iter_rows(named=True)}
    order = [v for v in experiment.variants if v in rows] + sorted(
        v for v in rows if v not in experiment.variants
    )
    n_column = "n" if look is None else f"look{look}__n"
    return tuple(_arm(rows[v], prefix, name=v, n_column=n_column) for v in order)


def headline_test(comparison: stats.Comparison) -> stats.Frequentist:
    """The test a read-out leads with: CUPED-adjusted when available (smaller variance), else raw.

    Parameters
    ----------
    comparison : analytics.experiments.stats.Comparison
        A treatment against control.

    Returns
    -------
    analytics.experiments.stats.Frequentist
        ``comparison.cuped.frequentist`` when CUPED ran, else ``comparison.frequentist``.
    """
    return comparison.cuped.frequentist if comparison.cuped is not None else comparison.frequentist


def _metric_readouts(
    aggregates: pl.DataFrame,
    experiment: Experiment,
    *,
    alpha: float,
    cuped: bool,
    interval_method: stats.IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = stats.DEFAULT_TUNING_N,
) -> tuple[MetricReadout, ...]:
    primary = (
        experiment.primary_metric
        if experiment.primary_metric in experiment.metrics
        else experiment.metrics[0]
    )
    guardrails = [m for m in GUARDRAILS if m in experiment.metrics and m != primary]
    others = [m for m in experiment.metrics if m != primary and m not in guardrails]
    order = [
        (primary, "primary"),
        *((m, "guardrail") for m in guardrails),
        *((m, "secondary") for m in others),
    ]
    drafts = []
    for metric, role in order:
        kind = METRIC_KINDS[metric]
        arms = arms_of(aggregates, experiment, metric)
        control, treatments = arms[0], arms[1:]
        comparisons: dict[str, stats.Comparison] = {}
        problem = None
        try:
            for arm in treatments:
                comparisons[arm.name] = stats.compare(
                    control,
                    arm,
                    kind=kind,
                    alpha=alpha,
                    cuped=cuped and kind != "ratio",
                    interval_method=interval_method,
                    sequential=sequential,
                    tuning_n=tuning_n,
                )
        except ValueError as exc:
            comparisons, problem = {}, str(exc)
        drafts.append((metric, kind, role, arms, comparisons, problem))
    # The primary metric is the pre-registered test: it keeps its own p-value, as do guardrails
    # (a harm must not hide behind a correction). Holm runs over the secondary metrics and
    # treatments, the ones read in the hope of finding something.
    raw = {(m, t): headline_test(c).p_value for m, _, _, _, comps, _ in drafts for t, c in comps.items()}
    secondary = [(m, t) for m, _, role, _, comps, _ in drafts if role == "secondary" for t in comps]
    adjusted = dict(raw)
    if secondary:
        holm = stats.adjust_p_values([raw[key] for key in secondary], "holm")
        adjusted |= dict(zip(secondary, (float(v) for v in holm), strict=True))
    out = []
    for metric, kind, role, arms, comparisons, problem in drafts:
        adj = {t: float(adjusted[(metric, t)]) for t in comparisons}
        breached = {
            t: role == "guardrail" and adj[t] < alpha and headline_test(c).absolute_lift < 0
            for t, c in comparisons.items()
        }
        out.append(MetricReadout(metric, kind, role, arms, comparisons, adj, breached, problem))
    return tuple(out)


def headline_bayesian(comparison: stats.Comparison) -> stats.Bayesian:
    """The Bayesian read-out matching :func:`headline_test`: on the CUPED-adjusted lift when available.

    Parameters
    ----------
    comparison : analytics.experiments.stats.Comparison
        A treatment against control.

    Returns
    -------
    analytics.experiments.stats.Bayesian
        ``comparison.cuped.bayesian`` when CUPED ran, else ``comparison.bayesian``.
    """
    return comparison.cuped.bayesian if comparison.cuped is not None else comparison.bayesian


def _unit(metric: str) -> str:
    if METRIC_KINDS[metric] == "proportion":
        return "pp"
    return "EUR" if metric in ("revenue", "revenue_per_session") else ""


def _amount(value: float, unit: str, *, signed: bool) -> str:
    sign = ("+" if value >= 0 else "-") if signed else ""
    if unit == "pp":
        return f"{sign}{abs(value) * 100:.2f} pp"
    if unit == "EUR":
        return f"{sign}EUR {abs(value):,.2f}"
    return f"{sign}{abs(value):,.4g}"


def srm_warning(srm: stats.Srm | None) -> str:
    """The sentence that opens a decision line when the arms' sizes do not match the design.

    Parameters
    ----------
    srm : analytics.experiments.stats.Srm or None
        The sample-ratio check.

    Returns
    -------
    str
        "Do not trust this read-out: ..." when flagged, else "".
    """
    if srm is None or not srm.flagged:
        return ""
    return (
        f"Do not trust this read-out: the arms' sizes do not match the design (SRM p = {srm.p_value:.1e}). "
    )


def compose_decision(name: str, label: str, comparison: stats.Comparison, *, alpha: float, unit: str) -> str:
    """The plain-language verdict on one treatment: direction, size, interval, p, chance to beat control.

    Parameters
    ----------
    name : str
        The treatment arm.
    label : str
        The metric in running text.
    comparison : analytics.experiments.stats.Comparison
        The treatment against control (CUPED-adjusted figures lead when present).
    alpha : float
        Significance level.
    unit : str
        "pp" (a proportion), "EUR" or "" (plain numbers).

    Returns
    -------
    str
        e.g. "Treatment raised conversion by 1.51 pp [0.53, 2.48] pp (+15.1%), p = 0.0024;
        chance to beat control 99.9%." The verb carries the sign, so the size has none.
    """
    test, bayes = headline_test(comparison), headline_bayesian(comparison)
    low, high = test.absolute_ci
    scale = 100 if unit == "pp" else 1
    interval = f"[{low * scale:,.2f}, {high * scale:,.2f}]" + (" pp" if unit == "pp" else "")
    relative = (
        "relative lift undefined: control is 0"
        if test.relative_lift is None
        else f"{test.relative_lift:+.1%}"
    )
    cuped = " (CUPED-adjusted)" if comparison.cuped is not None else ""
    chance = f"chance to beat control {bayes.chance_to_beat_control:.1%}"
    tail = f"{interval} ({relative}){cuped}, p = {test.p_value:.2g}; {chance}."
    if test.p_value < alpha:
        verb = "raised" if test.absolute_lift > 0 else "lowered"
        size = _amount(test.absolute_lift, unit, signed=False)
        return f"{name[:1].upper()}{name[1:]} {verb} {label} by {size} {tail}"
    size = _amount(test.absolute_lift, unit, signed=True)
    return f"No significant difference in {label} for {name}: {size} {tail}"


def decision_line(readout: MetricReadout, *, alpha: float, srm: stats.Srm | None = None) -> str:
    """The plain-language verdict on a metric for the first treatment.

    Parameters
    ----------
    readout : MetricReadout
        Usually the primary metric.
    alpha : float
        Significance level.
    srm : analytics.experiments.stats.Srm, optional
        When flagged, the line starts with the warning not to trust the read-out.

    Returns
    -------
    str
        e.g. "Treatment raised conversion by 1.50 pp [0.90, 2.10] pp (+15.1%), p = 0.0024;
        chance to beat control 99.9%."
    """
    warning = srm_warning(srm)
    if readout.problem:
        return f"{warning}{METRIC_LABELS[readout.metric]} cannot be compared: {readout.problem}"
    name, comparison = next(iter(readout.comparisons.items()))
    return warning + compose_decision(
        name, METRIC_WORDS[readout.metric], comparison, alpha=alpha, unit=_unit(readout.metric)
    )


def read_out(
    backend: ibis.BaseBackend,
    experiment_id: str,
    *,
    snapshot: date,
    alpha: float = 0.05,
    cuped: bool = True,
    aggregates: pl.DataFrame | None = None,
    interval_method: stats.IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = stats.DEFAULT_TUNING_N,
) -> ExperimentResult:
    """The full read-out of one experiment: SRM, every metric with both schools, adjusted p-values.

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the Tailor database.
    experiment_id : str
        The experiment.
    snapshot : datetime.date
        The data set's snapshot date.
    alpha : float
        Significance level (two-sided).
    cuped : bool
        Adjust conversion, spend and sessions for their pre-period values.
    aggregates : polars.DataFrame, optional
        :func:`aggregate_arms` of the experiment, when the caller has it (with looks).
    interval_method : {"z", "welch-t"}
        Reference distribution of the conversion's and the ratio metric's tests and intervals.
    sequential : bool
        Also compute every comparison's always-valid intervals and p-values at the window's end
        (the last point of the page's sequential chart).
    tuning_n : int
        Tuning sample size of the confidence sequence.

    Returns
    -------
    ExperimentResult
        The read-out.

    Raises
    ------
    ValueError
        Unknown experiment, no assignments, a missing control or a single arm.
    """
    if not 0 < alpha < 1:
        raise ValueError(stats.MSG_BAD_PROBABILITY.format(name="alpha", value=alpha))
    experiment = load_experiment(backend, experiment_id, snapshot=snapshot)
    frame = aggregates if aggregates is not None else aggregate_arms(backend, experiment)
    counts = {row["variant"]: int(row["n"]) for row in frame.iter_rows(named=True)}
    if not counts:
        raise ValueError(MSG_NO_ASSIGNMENTS.format(experiment_id=experiment_id))
    if experiment.control not in counts:
        raise ValueError(
            MSG_CONTROL_MISSING.format(
                control=experiment.control, experiment_id=experiment_id, arms=", ".join(sorted(counts))
            )
        )
    if len(counts) < 2:
        raise ValueError(MSG_SINGLE_ARM.format(experiment_id=experiment_id, arms=", ".join(counts)))
    observed = [counts.get(v, 0) for v in experiment.variants]
    srm = stats.srm_test(observed, experiment.design_split)
    metrics = _metric_readouts(
        frame,
        experiment,
        alpha=alpha,
        cuped=cuped,
        interval_method=interval_method,
        sequential=sequential,
        tuning_n=tuning_n,
    )
    return ExperimentResult(
        experiment=experiment,
        counts={v: counts.get(v, 0) for v in experiment.variants},
        srm=srm,
        metrics=metrics,
        decision=decision_line(metrics[0], alpha=alpha, srm=srm),
        alpha=alpha,
    )


def sequential_series(
    aggregates: pl.DataFrame,
    experiment: Experiment,
    *,
    metric: str,
    looks: Sequence[date],
    alpha: float = 0.05,
) -> pl.DataFrame:
    """The always-valid interval of each treatment's lift at every look, with the fixed-horizon one.

    Parameters
    ----------
    aggregates : polars.DataFrame
        :func:`aggregate_arms` computed with ``looks``.
    experiment : Experiment
        The experiment.
    metric : str
        The metric.
    looks : sequence of datetime.date
        The looks the aggregates were computed for.
    alpha : float
        Level of both intervals.

    Returns
    -------
    polars.DataFrame
        ``day``, ``treatment``, ``customers``, ``lift``, ``low``, ``high`` (confidence
        sequence), ``fixed_low``, ``fixed_high``; looks where an arm has too few customers or
        no variance yet are left out.
    """
    rows = []
    kind = METRIC_KINDS[metric]
    for k, day in enumerate(looks):
        arms = arms_of(aggregates, experiment, metric, look=k)
        control = arms[0]
        for arm in arms[1:]:
            try:
                comparison = stats.compare(control, arm, kind=kind, alpha=alpha)
                low, high = stats.confidence_sequence(control, arm, kind=kind, alpha=alpha)
            except ValueError:
                continue
            rows.append(
                {
                    "day": day,
                    "treatment": arm.name,
                    "customers": control.n + arm.n,
                    "lift": comparison.frequentist.absolute_lift,
                    "low": low,
                    "high": high,
                    "fixed_low": comparison.frequentist.absolute_ci[0],
                    "fixed_high": comparison.frequentist.absolute_ci[1],
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "treatment": pl.String,
            "customers": pl.Int64,
            "lift": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "fixed_low": pl.Float64,
            "fixed_high": pl.Float64,
        },
    )


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
    backend : ibis.BaseBackend
        Backend over the Tailor database.
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
                c = stats.compare(arms[0], arm, kind=kind, alpha=alpha).frequentist
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
        adjusted[tested] = stats.adjust_p_values(table.get_column("p_value").to_numpy()[tested], "bh")
    return table.with_columns(
        pl.Series("p_adjusted", adjusted, dtype=pl.Float64).fill_nan(None),
        (pl.Series("p_adjusted", adjusted).fill_nan(1.0) < alpha).alias("significant"),
    )


MSG_COLUMN_MISSING = "Column {column!r} is not in the file. Its columns are: {columns}."
MSG_NOT_NUMERIC = "Column {column!r} must hold numbers (or true/false); row {row} holds {value!r}."
MSG_MISSING_VALUE = "Column {column!r} has no value on row {row}: every customer needs one."
MSG_SUMMARY_NEGATIVE = "Arm {arm!r}: {column} is negative ({value}); counts and sums of squares cannot be."
MSG_SUMMARY_FRACTION = "Arm {arm!r}: n must be a whole number of customers, got {value}."
MSG_SUMMARY_EMPTY_ARM = "Arm {arm!r} has no customers (n = 0)."
MSG_SUMMARY_DUPLICATE = "Arm {arm!r} appears on {count} rows of the summary: give one row per arm."
MSG_BAD_DESIGN = "The design split {design!r} must give one share per arm ({arms}), e.g. 50,50."
MSG_FILE_NO_CONTROL = "The control arm {control!r} is not a value of column {column!r} (its values: {arms})."
MSG_FILE_SINGLE_ARM = "Column {column!r} holds a single arm ({arms}): there is nothing to compare."
MSG_SUMMARY_MISSING = (
    "The summary has no column for {field} (accepted names, in any case: {names}). "
    "Its columns are: {columns}."
)
MSG_SUMMARY_CONFLICT = (
    "Columns {first!r} and {second!r} both give {field} but differ on row {row} ({a} and {b}): "
    "keep one of them."
)
MSG_SUMMARY_PARTIAL = (
    "The summary gives {given} but not {missing}: the {group} sums come as a group ({fields}), all or none."
)
MSG_SUMMARY_NOT_BINARY = (
    "Arm {arm!r}: the summary has no column for {field}, which only 0/1 values can do without (their sum of "
    "squares is their sum); {sum_field} = {value} is not a whole number between 0 and n = {n}."
)
SUMMARY_COLUMNS = ("n", "sum", "sum_sq")
"""The sums every per-arm summary gives (besides the variant column), by the library's names."""
SUMMARY_ALIASES: dict[str, tuple[str, ...]] = {
    "n": ("n", "users", "count"),
    "sum": ("sum", "main_sum"),
    "sum_sq": ("sum_sq", "sum_squares", "sum_of_squares", "main_sum_squares"),
    "x_sum": ("x_sum", "covariate_sum"),
    "x_sum_sq": ("x_sum_sq", "covariate_sum_sq", "covariate_sum_squares"),
    "xy_sum": ("xy_sum", "main_covariate_sum_product"),
    "d_sum": ("d_sum", "denominator_sum"),
    "d_sum_sq": ("d_sum_sq", "denominator_sum_sq", "denominator_sum_squares"),
    "yd_sum": ("yd_sum", "main_denominator_sum_product"),
}
"""Column names accepted for each :class:`analytics.experiments.stats.ArmStats` sum of a summary file,
compared without regard to case: the library's name first, then the aliases (GrowthBook's export names
``main_sum``, ``main_sum_squares``, ``covariate_sum``, ``main_covariate_sum_product``,
``denominator_sum``, ... and ``users`` / ``count`` for the customers)."""
SUMMARY_GROUPS: dict[str, tuple[str, ...]] = {
    "covariate": ("x_sum", "x_sum_sq", "xy_sum"),
    "denominator": ("d_sum", "d_sum_sq", "yd_sum"),
}
"""Optional groups of sums: the pre-period covariate (CUPED) and the ratio metric's denominator."""


@dataclass(frozen=True)
class ExternalResult:
    """The read-out of an uploaded experiment.

    Parameters
    ----------
    metric : str
        The metric column's name.
    kind : str
        proportion (0/1 values), mean, or ratio (a summary with denominator sums).
    arms : tuple of analytics.experiments.stats.ArmStats
        Control first.
    comparisons : dict of str to analytics.experiments.stats.Comparison
        By treatment.
    srm : analytics.experiments.stats.Srm
        Against the design split.
    decision : str
        The plain-language line.
    """

    metric: str
    kind: str
    arms: tuple[stats.ArmStats, ...]
    comparisons: dict[str, stats.Comparison]
    srm: stats.Srm
    decision: str


def _numbers(frame: pl.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        raise ValueError(MSG_COLUMN_MISSING.format(column=column, columns=", ".join(frame.columns)))
    series = frame.get_column(column)
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Float64)
    if not series.dtype.is_numeric():
        cast = series.cast(pl.Float64, strict=False)
        bad = cast.is_null() & series.is_not_null()
        if bad.any():
            row = int(bad.arg_max())
            raise ValueError(MSG_NOT_NUMERIC.format(column=column, row=row + 1, value=series[row]))
        series = cast
    values = series.cast(pl.Float64)
    missing = values.is_null() | values.is_nan() | values.is_infinite()
    if missing.any():
        raise ValueError(MSG_MISSING_VALUE.format(column=column, row=int(missing.arg_max()) + 1))
    return values.to_numpy()


def external_arms(
    frame: pl.DataFrame,
    *,
    variant_col: str,
    control: str,
    metric: str,
    covariate: str | None = None,
    summary: bool = False,
) -> tuple[tuple[stats.ArmStats, ...], stats.MetricKind]:
    """The arms of an uploaded experiment: per-customer rows or per-arm summaries.

    Parameters
    ----------
    frame : polars.DataFrame
        Per-customer rows (a variant column, the metric, optionally a pre-period covariate),
        or with ``summary`` one row per arm with the sums of :data:`SUMMARY_ALIASES`: ``n`` and
        ``sum`` always; ``sum_sq`` unless the values are 0/1; the covariate sums (CUPED) and the
        denominator sums (a ratio metric) as whole groups, optionally.
    variant_col : str
        The column naming each row's arm.
    control : str
        The control arm's name.
    metric : str
        The metric column (per-customer rows); with ``summary``, only its name.
    covariate : str, optional
        Pre-period value of the metric, for CUPED (per-customer rows only).
    summary : bool
        Whether the rows are per-arm summaries.

    Returns
    -------
    tuple
        The arms (control first, then the others in file order) and the metric kind:
        ``ratio`` for a summary with denominator sums, else ``proportion`` when every value is
        0 or 1, else ``mean``.

    Raises
    ------
    ValueError
        Missing columns, non-numeric or missing values (naming the row), negative or empty
        summaries, two columns giving the same sum with different values, a partial group of
        sums, a missing sum of squares for values that are not 0/1, sums no data could have, a
        missing control or a single arm.
    """
    if variant_col not in frame.columns:
        raise ValueError(MSG_COLUMN_MISSING.format(column=variant_col, columns=", ".join(frame.columns)))
    variants = frame.get_column(variant_col).cast(pl.String)
    if variants.null_count():
        raise ValueError(
            MSG_MISSING_VALUE.format(column=variant_col, row=int(variants.is_null().arg_max()) + 1)
        )
    names = [str(v) for v in variants.unique(maintain_order=True).drop_nulls().to_list()]
    if control not in names:
        raise ValueError(
            MSG_FILE_NO_CONTROL.format(control=control, column=variant_col, arms=", ".join(names) or "none")
        )
    if len(names) < 2:
        raise ValueError(MSG_FILE_SINGLE_ARM.format(column=variant_col, arms=", ".join(names)))
    order = [control, *(n for n in names if n != control)]
    if summary:
        return _summary_arms(frame, variants, order)
    y = _numbers(frame, metric)
    x = _numbers(frame, covariate) if covariate else None
    mask_of = {name: (variants == name).to_numpy() for name in order}
    arms = tuple(
        stats.arm_stats(name, y[mask], x=None if x is None else x[mask]) for name, mask in mask_of.items()
    )
    kind: stats.MetricKind = "proportion" if np.isin(y, (0.0, 1.0)).all() else "mean"
    return arms, kind


def _summary_columns(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The file's columns that give each sum of :data:`SUMMARY_ALIASES`, in the aliases' order."""
    by_name: dict[str, list[str]] = {}
    for column in frame.columns:
        by_name.setdefault(column.lower(), []).append(column)
    found = {}
    for field, names in SUMMARY_ALIASES.items():
        columns = [c for name in names for c in by_name.get(name, [])]
        if columns:
            found[field] = columns
    return found


def _summary_values(frame: pl.DataFrame, field: str, columns: list[str]) -> np.ndarray:
    """One sum's values; several columns naming it (``users`` and ``count``) must agree."""
    values = _numbers(frame, columns[0])
    for other in columns[1:]:
        more = _numbers(frame, other)
        differ = ~np.isclose(values, more, rtol=1e-12, atol=0.0)
        if differ.any():
            row = int(np.flatnonzero(differ)[0])
            raise ValueError(
                MSG_SUMMARY_CONFLICT.format(
                    first=columns[0], second=other, field=field, row=row + 1, a=values[row], b=more[row]
                )
            )
    return values


def _summary_arms(
    frame: pl.DataFrame, variants: pl.Series, order: Sequence[str]
) -> tuple[tuple[stats.ArmStats, ...], stats.MetricKind]:
    found = _summary_columns(frame)
    for field in ("n", "sum"):
        if field not in found:
            raise ValueError(
                MSG_SUMMARY_MISSING.format(
                    field=field, names=", ".join(SUMMARY_ALIASES[field]), columns=", ".join(frame.columns)
                )
            )
    for group, fields in SUMMARY_GROUPS.items():
        # The covariate's sum of squares may be left out for 0/1 values (checked per arm below).
        needed = [f for f in fields if f != "x_sum_sq"]
        given = [f for f in fields if f in found]
        missing = [f for f in needed if f not in found]
        if given and missing:
            raise ValueError(
                MSG_SUMMARY_PARTIAL.format(
                    given=", ".join(given), missing=", ".join(missing), group=group, fields=", ".join(fields)
                )
            )
    values = {field: _summary_values(frame, field, columns) for field, columns in found.items()}
    label = {field: columns[0] for field, columns in found.items()}
    arms = []
    for name in order:
        rows = np.flatnonzero((variants == name).to_numpy())
        if rows.size > 1:
            raise ValueError(MSG_SUMMARY_DUPLICATE.format(arm=name, count=rows.size))
        i = int(rows[0])
        for field in ("n", "sum_sq", "x_sum_sq", "d_sum_sq"):
            if field in values and values[field][i] < 0:
                raise ValueError(
                    MSG_SUMMARY_NEGATIVE.format(arm=name, column=label[field], value=values[field][i])
                )
        n = values["n"][i]
        if n != round(n):
            raise ValueError(MSG_SUMMARY_FRACTION.format(arm=name, value=n))
        if n == 0:
            raise ValueError(MSG_SUMMARY_EMPTY_ARM.format(arm=name))
        sums = {field: float(column[i]) for field, column in values.items() if field != "n"}
        for square, total in (("sum_sq", "sum"), ("x_sum_sq", "x_sum")):
            if square in sums or total not in sums:
                continue
            # 0/1 values (a conversion): the sum of squares is the sum, as GrowthBook's binomial
            # exports leave it out.
            if not (sums[total].is_integer() and 0 <= sums[total] <= n):
                raise ValueError(
                    MSG_SUMMARY_NOT_BINARY.format(
                        arm=name, field=square, sum_field=label[total], value=sums[total], n=int(n)
                    )
                )
            sums[square] = sums[total]
        arms.append(stats.ArmStats(name=name, n=int(n), **sums))
    if "d_sum" in found:
        return tuple(arms), "ratio"
    is_binary = all(a.sum_sq == a.sum and 0 <= a.sum <= a.n and a.sum.is_integer() for a in arms)
    return tuple(arms), "proportion" if is_binary else "mean"


def parse_design(text: str | None, arms: int) -> tuple[float, ...]:
    """Planned shares from text such as "50,50" (equal shares when empty).

    Parameters
    ----------
    text : str or None
        Comma-separated shares, one per arm, control first.
    arms : int
        Number of arms.

    Returns
    -------
    tuple of float
        The shares as given (percent or fractions; the SRM test normalizes them).

    Raises
    ------
    ValueError
        When the count differs from the arms or a share is not a positive number (:data:`MSG_BAD_DESIGN`).
    """
    if not text:
        return tuple([100.0 / arms] * arms)
    try:
        shares = tuple(float(part) for part in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != arms or any(not np.isfinite(s) or s <= 0 for s in shares):
        raise ValueError(MSG_BAD_DESIGN.format(design=text, arms=arms))
    return shares


def read_out_external(
    arms: Sequence[stats.ArmStats],
    *,
    kind: stats.MetricKind,
    metric: str,
    design: Sequence[float],
    alpha: float = 0.05,
    cuped: bool = False,
    interval_method: stats.IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = stats.DEFAULT_TUNING_N,
) -> ExternalResult:
    """Compare an uploaded experiment's treatments with its control.

    Parameters
    ----------
    arms : sequence of analytics.experiments.stats.ArmStats
        Control first (:func:`external_arms`).
    kind : {"proportion", "mean", "ratio"}
        The metric's kind.
    metric : str
        Its name, for the decision line.
    design : sequence of float
        Planned shares (:func:`parse_design`).
    alpha : float
        Significance level.
    cuped : bool
        Adjust for the covariate (when the arms carry one; not for a ratio metric, for which
        CUPED is not offered).
    interval_method : {"z", "welch-t"}
        Reference distribution of a proportion's or ratio's test and intervals
        (:func:`analytics.experiments.stats.compare`).
    sequential : bool
        Also compute the always-valid intervals and p-values.
    tuning_n : int
        Tuning sample size of the confidence sequence.

    Returns
    -------
    ExternalResult
        Comparisons, SRM and the decision line.
    """
    control = arms[0]
    adjust = cuped and kind != "ratio" and control.x_sum is not None
    comparisons = {
        arm.name: stats.compare(
            control,
            arm,
            kind=kind,
            alpha=alpha,
            cuped=adjust,
            interval_method=interval_method,
            sequential=sequential,
            tuning_n=tuning_n,
        )
        for arm in arms[1:]
    }
    srm = stats.srm_test([a.n for a in arms], list(design))
    name, comparison = next(iter(comparisons.items()))
    unit = "pp" if kind == "proportion" else ""
    decision = srm_warning(srm) + compose_decision(name, metric, comparison, alpha=alpha, unit=unit)
    return ExternalResult(metric, kind, tuple(arms), comparisons, srm, decision)
