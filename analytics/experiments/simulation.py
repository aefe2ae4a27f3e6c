"""A/A simulations: how often each read-out declares a difference that is not there.

:func:`simulate_aa` checks the error rates of the fixed-horizon test and of the confidence
sequence, vectorized over experiments and days.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analytics.experiments.arms import _check_probability
from analytics.experiments.frequentist import _proportion_z, _welch_df
from analytics.experiments.power import (
    MSG_UNKNOWN_POWER_KIND,
    POWER_KINDS,
    PowerKind,
    _check_mean_baseline,
    _check_rate,
    _check_sd,
)
from analytics.experiments.sequential import DEFAULT_TUNING_N, _check_tuning, _cs_halfwidth

MSG_BAD_SIMULATION = "{name} must be a whole number >= {least}, got {value}."


def simulate_aa(
    n_experiments: int = 2000,
    *,
    n_per_arm: int,
    days: int,
    baseline: float,
    kind: PowerKind = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    tuning_n: int = DEFAULT_TUNING_N,
    seed: int = 0,
) -> dict[str, float | int]:
    """Simulate A/A experiments: how often each read-out declares a difference that is not there.

    Every experiment enrols ``n_per_arm`` customers per arm, evenly over ``days``; both arms
    have the same conversion rate (or mean and sd). The fixed-horizon test of
    :func:`analytics.experiments.comparison.compare` (two-proportion z-test or Welch's t-test) is
    run once at the end; the confidence sequence of
    :func:`analytics.experiments.sequential.confidence_sequence` is looked at after every day.
    Vectorized over experiments and days (per-day sufficient statistics are drawn directly:
    binomial counts, or for a mean the normal sum and chi-square spread of the day's customers),
    so 2,000 experiments take well under a second.

    Parameters
    ----------
    n_experiments : int, default 2000
        Experiments simulated.
    n_per_arm : int
        Customers per arm at the end.
    days : int
        Daily looks.
    baseline : float
        Conversion rate of both arms (proportion) or their mean (mean).
    kind : {"proportion", "mean"}, default "proportion"
        The metric's kind.
    sd : float, optional
        Standard deviation per customer (required for a mean).
    alpha : float, default 0.05
        Level of the test and of the sequence.
    tuning_n : int, default 5000
        Tuning size of the confidence sequence.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    dict
        ``fixed_horizon_false_positive_rate`` (share of experiments with p < alpha at the end),
        ``sequential_false_positive_rate`` (share whose sequence excluded 0 at any daily look),
        and the settings ``n_experiments``, ``n_per_arm``, ``days``, ``alpha``, ``tuning_n``.

    Raises
    ------
    ValueError
        Counts that are not positive whole numbers, fewer customers than days, a bad baseline
        or sd, alpha outside (0, 1).

    Examples
    --------
    >>> result = simulate_aa(200, n_per_arm=2000, days=10, baseline=0.1)
    >>> 0 <= result["sequential_false_positive_rate"] <= result["fixed_horizon_false_positive_rate"] + 0.05
    True
    """
    for name, value, least in (("n_experiments", n_experiments, 1), ("days", days, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ValueError(MSG_BAD_SIMULATION.format(name=name, value=value, least=least))
    if isinstance(n_per_arm, bool) or not isinstance(n_per_arm, int | np.integer) or n_per_arm < max(days, 2):
        raise ValueError(MSG_BAD_SIMULATION.format(name="n_per_arm", value=n_per_arm, least=max(days, 2)))
    if kind not in POWER_KINDS:
        raise ValueError(MSG_UNKNOWN_POWER_KIND.format(kind=kind, choices=", ".join(POWER_KINDS)))
    _check_probability("alpha", alpha)
    _check_tuning(tuning_n)
    rng = np.random.default_rng(seed)
    # Customers enrolled per arm on each day, as even as whole numbers allow.
    daily = np.diff(np.round(np.linspace(0, n_per_arm, days + 1)).astype(np.int64))
    n_cum = np.cumsum(daily).astype(np.float64)  # (days,)
    shape = (n_experiments, days, 2)
    if kind == "proportion":
        _check_rate(baseline)
        conversions = rng.binomial(np.broadcast_to(daily[None, :, None], shape), baseline)
        s = np.cumsum(conversions, axis=1).astype(np.float64)
        s_c, s_t = s[..., 0], s[..., 1]
        p_c, p_t = s_c / n_cum, s_t / n_cum
        lift = p_t - p_c
        se = np.sqrt(p_c * (1 - p_c) / n_cum + p_t * (1 - p_t) / n_cum)
        _, p_final = _proportion_z(s_c[:, -1], n_per_arm, s_t[:, -1], n_per_arm)
    else:
        _check_mean_baseline(baseline, relative=False)
        _check_sd(sd)
        k = np.broadcast_to(daily[None, :, None], shape).astype(np.float64)
        # The sum of k normal values and their centred sum of squares are independent:
        # N(k mu, k sd^2) and sd^2 chi-square(k - 1).
        day_sum = k * baseline + np.sqrt(k) * sd * rng.standard_normal(shape)
        day_m2 = sd**2 * rng.chisquare(np.maximum(k - 1, 1)) * (k > 1)
        day_sum_sq = day_m2 + np.where(k > 0, day_sum**2 / np.where(k > 0, k, 1), 0.0)
        s = np.cumsum(day_sum, axis=1)
        ss = np.cumsum(day_sum_sq, axis=1)
        n3 = n_cum[None, :, None]
        var_mean = np.maximum(ss - s**2 / n3, 0.0) / np.maximum(n3 - 1, 1) / n3
        lift = (s[..., 1] - s[..., 0]) / n_cum
        se = np.sqrt(var_mean[..., 0] + var_mean[..., 1])
        v_c, v_t = var_mean[:, -1, 0], var_mean[:, -1, 1]
        df = _welch_df(v_c, v_t, n_per_arm, n_per_arm)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se[:, -1] > 0, lift[:, -1] / np.where(se[:, -1] > 0, se[:, -1], 1), 0.0)
        p_final = 2 * stats.t.sf(np.abs(t), df)
    half = _cs_halfwidth(se, 2 * n_cum[None, :], alpha, tuning_n)
    excluded = (np.abs(lift) > half).any(axis=1)
    return {
        "fixed_horizon_false_positive_rate": float(np.mean(p_final < alpha)),
        "sequential_false_positive_rate": float(np.mean(excluded)),
        "n_experiments": int(n_experiments),
        "n_per_arm": int(n_per_arm),
        "days": int(days),
        "alpha": float(alpha),
        "tuning_n": int(tuning_n),
    }
