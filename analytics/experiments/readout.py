"""A/B test read-outs on the bank: every metric of an experiment compared, checked and put in words.

:func:`read_out` loads an experiment and its arms' sums (:mod:`analytics.experiments.bank`),
checks the split against the design, compares every treatment with the control on every metric
(:func:`analytics.experiments.comparison.compare`), keeps the primary metric's and the
guardrails' own p-values and Holm-adjusts the secondary ones, and writes the decision line.
:func:`sequential_series` gives the always-valid interval at every look, for the sequential chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import polars as pl

from analytics.common.docs import shared_docs
from analytics.experiments.arms import MSG_BAD_PROBABILITY, ArmStats
from analytics.experiments.bank import (
    METRIC_KINDS,
    Experiment,
    aggregate_arms,
    arms_of,
    load_experiment,
)
from analytics.experiments.bayesian import Bayesian
from analytics.experiments.comparison import Comparison, compare
from analytics.experiments.frequentist import Frequentist, IntervalMethod, Srm, adjust_p_values, srm_test
from analytics.experiments.sequential import DEFAULT_TUNING_N, confidence_sequence

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
MSG_NO_ASSIGNMENTS = "Experiment {experiment_id} has no assigned customers."
MSG_CONTROL_MISSING = (
    "The control arm {control!r} has no customers in experiment {experiment_id} (arms: {arms})."
)
MSG_SINGLE_ARM = "Experiment {experiment_id} has a single arm ({arms}): there is nothing to compare."


@dataclass(frozen=True)
class MetricReadout:
    """One metric's comparisons, treatment by treatment.

    Parameters
    ----------
    metric : str
        One of :data:`analytics.experiments.bank.METRICS`.
    kind : str
        proportion, mean or ratio.
    role : str
        primary, guardrail or secondary.
    arms : tuple of analytics.experiments.arms.ArmStats
        Control first.
    comparisons : dict of str to analytics.experiments.comparison.Comparison
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
    arms: tuple[ArmStats, ...]
    comparisons: dict[str, Comparison]
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
    srm : analytics.experiments.frequentist.Srm
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
    srm: Srm
    metrics: tuple[MetricReadout, ...]
    decision: str
    alpha: float

    @property
    def primary(self) -> MetricReadout:
        """The primary metric's read-out."""
        return self.metrics[0]


def headline_test(comparison: Comparison) -> Frequentist:
    """The test a read-out leads with: CUPED-adjusted when available (smaller variance), else raw.

    Parameters
    ----------
    comparison : analytics.experiments.comparison.Comparison
        A treatment against control.

    Returns
    -------
    analytics.experiments.frequentist.Frequentist
        ``comparison.cuped.frequentist`` when CUPED ran, else ``comparison.frequentist``.
    """
    return comparison.cuped.frequentist if comparison.cuped is not None else comparison.frequentist


def _metric_readouts(
    aggregates: pl.DataFrame,
    experiment: Experiment,
    *,
    alpha: float,
    cuped: bool,
    interval_method: IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = DEFAULT_TUNING_N,
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
        comparisons: dict[str, Comparison] = {}
        problem = None
        try:
            for arm in treatments:
                comparisons[arm.name] = compare(
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
        holm = adjust_p_values([raw[key] for key in secondary], "holm")
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


def headline_bayesian(comparison: Comparison) -> Bayesian:
    """The Bayesian read-out matching :func:`headline_test`: on the CUPED-adjusted lift when available.

    Parameters
    ----------
    comparison : analytics.experiments.comparison.Comparison
        A treatment against control.

    Returns
    -------
    analytics.experiments.bayesian.Bayesian
        ``comparison.cuped.bayesian`` when CUPED ran, else ``comparison.bayesian``.
    """
    return comparison.cuped.bayesian if comparison.cuped is not None else comparison.bayesian


def headline_means(comparison: Comparison) -> tuple[float, float]:
    """The control's and the treatment's values behind :func:`headline_test`'s lift.

    Parameters
    ----------
    comparison : analytics.experiments.comparison.Comparison
        A treatment against control.

    Returns
    -------
    tuple of float
        (control, treatment): the CUPED-adjusted means when CUPED ran, else each arm's mean, or
        for a ratio metric each arm's total over its denominator's total.

    Examples
    --------
    >>> from analytics.experiments.arms import ArmStats
    >>> from analytics.experiments.comparison import compare
    >>> c = ArmStats("control", n=100, sum=10, sum_sq=10)
    >>> t = ArmStats("treatment", n=100, sum=15, sum_sq=15)
    >>> headline_means(compare(c, t, kind="proportion"))
    (0.1, 0.15)
    """
    if comparison.cuped is not None:
        return comparison.cuped.control_mean, comparison.cuped.treatment_mean
    control, treatment = comparison.control, comparison.treatment
    if comparison.kind == "ratio":
        return control.sum / control.d_sum, treatment.sum / treatment.d_sum
    return control.mean, treatment.mean


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


def srm_warning(srm: Srm | None) -> str:
    """The sentence that opens a decision line when the arms' sizes do not match the design.

    Parameters
    ----------
    srm : analytics.experiments.frequentist.Srm or None
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


def compose_decision(name: str, label: str, comparison: Comparison, *, alpha: float, unit: str) -> str:
    """The plain-language verdict on one treatment: direction, size, interval, p, chance to beat control.

    Parameters
    ----------
    name : str
        The treatment arm.
    label : str
        The metric in running text.
    comparison : analytics.experiments.comparison.Comparison
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


def decision_line(readout: MetricReadout, *, alpha: float, srm: Srm | None = None) -> str:
    """The plain-language verdict on a metric for the first treatment.

    Parameters
    ----------
    readout : MetricReadout
        Usually the primary metric.
    alpha : float
        Significance level.
    srm : analytics.experiments.frequentist.Srm, optional
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


@shared_docs
def read_out(
    backend: ibis.BaseBackend,
    experiment_id: str,
    *,
    snapshot: date,
    alpha: float = 0.05,
    cuped: bool = True,
    aggregates: pl.DataFrame | None = None,
    interval_method: IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = DEFAULT_TUNING_N,
) -> ExperimentResult:
    """The full read-out of one experiment: SRM, every metric with both schools, adjusted p-values.

    Parameters
    ----------
    {backend}
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
        raise ValueError(MSG_BAD_PROBABILITY.format(name="alpha", value=alpha))
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
    srm = srm_test(observed, experiment.design_split)
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
                comparison = compare(control, arm, kind=kind, alpha=alpha)
                low, high = confidence_sequence(control, arm, kind=kind, alpha=alpha)
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
