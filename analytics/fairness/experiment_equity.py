"""Experiment equity: does a treatment help one protected group less?

:func:`experiment_equity` gives the per-group lifts of an experiment's primary metric and
Cochran's Q test of their heterogeneity, with a verdict under :data:`HETEROGENEITY_RULE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import ibis
import numpy as np
import polars as pl
from scipy import stats

from analytics.common.docs import shared_docs
from analytics.experiments import bank as experiment_bank
from analytics.experiments import breakdown as experiment_breakdown
from analytics.fairness import metrics as fairness
from analytics.fairness.audits import Verdict

HETEROGENEITY_ALPHA = 0.05

HETEROGENEITY_RULE = fairness.VerdictRule(
    rule="cochran-q",
    threshold=HETEROGENEITY_ALPHA,
    threshold_meaning="the lifts differ between groups when Cochran's Q has a p-value below",
    interval_method="none",
    confidence_level=1 - HETEROGENEITY_ALPHA,
    min_group_size=fairness.MIN_GROUP_SIZE,
)
"""The rule of an experiment's equity verdict (:func:`experiment_equity`)."""


# -- experiments ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentEquity:
    """Does a treatment help one group less? Per-group lifts and their heterogeneity.

    Parameters
    ----------
    experiment_id, attribute, metric : str
        What was compared.
    lifts : polars.DataFrame
        :func:`analytics.experiments.breakdown.segment_breakdown` for the attribute.
    q, df, p_value : float or None
        Cochran's Q statistic of the lifts, its degrees of freedom and chi-square p-value
        (None with fewer than two comparable groups).
    verdict : {"pass", "fail", "undecided"}
        fail when the lifts differ (p below :data:`HETEROGENEITY_ALPHA`), pass when they do not
        and every group is large enough, undecided otherwise.
    least_helped : str or None
        The group with the smallest lift.
    reason : str
        One sentence.
    rule : VerdictRule
        The rule the verdict reads (:data:`HETEROGENEITY_RULE`).
    """

    experiment_id: str
    attribute: str
    metric: str
    lifts: pl.DataFrame
    q: float | None
    df: int | None
    p_value: float | None
    verdict: Verdict
    least_helped: str | None
    reason: str
    rule: fairness.VerdictRule = HETEROGENEITY_RULE


def cochran_q(effects: np.ndarray, standard_errors: np.ndarray) -> tuple[float, int, float]:
    """Cochran's Q test that several independent estimates share one value.

    Q = sum w_i (d_i - d_bar)^2 with w_i = 1 / se_i^2 and d_bar the inverse-variance weighted
    mean; under the null it is chi-square with k - 1 degrees of freedom (Cochran 1954). Written
    here because it is three lines; the tests check it against statsmodels' ``combine_effects``.

    Parameters
    ----------
    effects, standard_errors : numpy.ndarray
        One estimate and its standard error per group (at least two, all SE > 0).

    Returns
    -------
    tuple
        (Q, degrees of freedom, p-value).

    Examples
    --------
    >>> q, df, p = cochran_q(np.array([0.1, 0.1]), np.array([0.05, 0.05]))
    >>> (round(q, 6), df, round(p, 6))
    (0.0, 1, 1.0)
    """
    w = 1.0 / np.square(standard_errors)
    mean = float(np.sum(w * effects) / np.sum(w))
    q = float(np.sum(w * np.square(effects - mean)))
    df = int(effects.size - 1)
    return q, df, float(stats.chi2.sf(q, df))


@shared_docs
def experiment_equity(
    backend: ibis.BaseBackend,
    experiment_id: str,
    *,
    snapshot: date,
    attribute: str = "gender",
    metric: str | None = None,
) -> ExperimentEquity:
    """Each group's lift in an experiment and whether the treatment helps some group less.

    Parameters
    ----------
    {backend}
    experiment_id : str
        The experiment.
    snapshot : datetime.date
        The data set's snapshot date.
    attribute : {"gender", "age_band"}
        Protected attribute (the age band on the start date).
    metric : str, optional
        The experiment's primary metric when omitted.

    Returns
    -------
    ExperimentEquity
        Lifts with 95% intervals per group (first treatment against control) and Cochran's Q.
    """
    if attribute not in fairness.PROTECTED_ATTRIBUTES:
        raise ValueError(
            fairness.MSG_UNKNOWN_ATTRIBUTE.format(
                name=attribute, choices=", ".join(fairness.PROTECTED_ATTRIBUTES)
            )
        )
    experiment = experiment_bank.load_experiment(backend, experiment_id, snapshot=snapshot)
    metric = metric or experiment.primary_metric
    lifts = experiment_breakdown.segment_breakdown(backend, experiment, metric=metric, dimension=attribute)
    treatment = experiment.variants[1] if len(experiment.variants) > 1 else None
    usable = lifts.filter(
        (pl.col("treatment") == treatment) & pl.col("lift").is_not_null() & pl.col("low").is_not_null()
    )
    # The intervals are symmetric normal (Welch or z) intervals: SE = half-width / z(0.975).
    z = float(stats.norm.ppf(0.975))
    se = ((usable.get_column("high") - usable.get_column("low")) / (2 * z)).to_numpy()
    ok = se > 0
    if ok.sum() < 2:
        return ExperimentEquity(
            experiment_id, attribute, metric, lifts, None, None, None, "undecided", None,
            "Fewer than two groups have a lift to compare.",
        )  # fmt: skip
    effects = usable.get_column("lift").to_numpy()[ok]
    names = np.array(usable.get_column("group").to_list())[ok]
    q, df, p = cochran_q(effects, se[ok])
    least = str(names[int(np.argmin(effects))])
    small = bool(
        (
            usable.filter(pl.Series(ok)).select(pl.min_horizontal("control_n", "treatment_n"))
            < fairness.MIN_GROUP_SIZE
        )
        .to_series()
        .any()
    )
    if p < HETEROGENEITY_ALPHA:
        verdict: Verdict = "fail"
        reason = f"The lift differs between groups (Cochran's Q = {q:.2f}, p = {p:.3g}); {least} gains least."
    elif small:
        verdict = "undecided"
        reason = (
            f"No clear difference (p = {p:.3g}), but a group has fewer than "
            f"{fairness.MIN_GROUP_SIZE} customers per arm."
        )
    else:
        verdict = "pass"
        reason = f"No evidence the treatment helps one group less (Cochran's Q = {q:.2f}, p = {p:.3g})."
    if not math.isfinite(q):
        verdict, reason = "undecided", "The lifts' standard errors are not usable."
    return ExperimentEquity(experiment_id, attribute, metric, lifts, q, df, p, verdict, least, reason)
