"""The Bayesian read-out of a treatment against control: chance to beat control, expected loss, intervals.

A proportion gets exact Beta posteriors under uniform priors (:func:`_beta_binomial`, by numerical
integration); a mean, a ratio or a CUPED-adjusted lift gets the normal approximation with a flat
prior (:func:`_normal_bayes`). :func:`analytics.experiments.comparison.compare` calls them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from analytics.experiments.arms import ArmStats

BAYES_BETA = "beta-binomial"
BAYES_NORMAL = "normal approximation"
_GAUSS_NODES = 128
"""Gauss-Legendre nodes of the beta-binomial integrals (1e-12 against closed forms; 512 nodes agree)."""
_TAIL = 1e-13
"""Posterior mass left out at each end of the integration range."""


@dataclass(frozen=True)
class Bayesian:
    """Bayesian read-out of treatment against control.

    Parameters
    ----------
    method : str
        "beta-binomial" (proportion, uniform Beta(1, 1) priors, exact posteriors by numerical
        integration) or "normal approximation" (mean and ratio: flat prior, the lift normal
        around its estimate with the unpooled standard error).
    chance_to_beat_control : float
        Posterior probability that the treatment mean exceeds the control mean.
    expected_loss : float
        Expected loss of shipping the treatment, ``E[max(control - treatment, 0)]``, in the
        metric's units.
    credible_interval : tuple of float
        Central ``1 - alpha`` posterior interval of the absolute lift.
    relative_credible_interval : tuple of float or None
        The same for ``treatment / control - 1``; None for a normal approximation whose control
        mean is 0.
    """

    method: str
    chance_to_beat_control: float
    expected_loss: float
    credible_interval: tuple[float, float]
    relative_credible_interval: tuple[float, float] | None


def _normal_bayes(mu: float, sigma: float, relative: tuple[float, float] | None, alpha: float) -> Bayesian:
    # Flat prior, normal likelihood of the lift: posterior N(lift, se^2).
    z = mu / sigma
    critical = float(stats.norm.isf(alpha / 2))
    # E[max(-D, 0)] for D ~ N(mu, sigma^2): sigma phi(mu / sigma) - mu Phi(-mu / sigma).
    loss = sigma * float(stats.norm.pdf(z)) - mu * float(stats.norm.sf(z))
    relative_ci = None
    if relative is not None:
        relative_ci = (relative[0] - critical * relative[1], relative[0] + critical * relative[1])
    return Bayesian(
        method=BAYES_NORMAL,
        chance_to_beat_control=float(stats.norm.cdf(z)),
        expected_loss=max(loss, 0.0),
        credible_interval=(mu - critical * sigma, mu + critical * sigma),
        relative_credible_interval=relative_ci,
    )


@functools.cache
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (computed once: an eigenvalue problem)."""
    return np.polynomial.legendre.leggauss(_GAUSS_NODES)


class _BetaPair:
    """Beta posteriors of the control (C) and treatment (T) rates, integrated numerically.

    Every quantity is a one-dimensional integral over the narrower posterior of a smooth
    function of the other one's distribution function (closed form by ``scipy.special.betainc``),
    by Gauss-Legendre quadrature. Written here because no maintained library gives the
    distribution of the difference or ratio of two Beta variables, nor the expected loss.
    """

    def __init__(self, control: ArmStats, treatment: ArmStats) -> None:
        # Uniform Beta(1, 1) prior: posterior Beta(conversions + 1, non-conversions + 1).
        self.a_c, self.b_c = control.sum + 1, control.n - control.sum + 1
        self.a_t, self.b_t = treatment.sum + 1, treatment.n - treatment.sum + 1
        self.mean_c = self.a_c / (self.a_c + self.b_c)
        self.mean_t = self.a_t / (self.a_t + self.b_t)
        sd_c = math.sqrt(stats.beta.var(self.a_c, self.b_c))
        sd_t = math.sqrt(stats.beta.var(self.a_t, self.b_t))
        self.outer_is_control = sd_c <= sd_t
        a, b = (self.a_c, self.b_c) if self.outer_is_control else (self.a_t, self.b_t)
        lo, hi = special.betaincinv(a, b, _TAIL), special.betaincinv(a, b, 1 - _TAIL)
        nodes, weights = _gauss_legendre()
        self.x = lo + (hi - lo) * (nodes + 1) / 2
        self.w = weights * (hi - lo) / 2 * stats.beta.pdf(self.x, a, b)
        self.sd = math.hypot(sd_c, sd_t)

    def diff_cdf(self, t: float) -> float:
        """P(T - C <= t)."""
        if self.outer_is_control:
            inner = special.betainc(self.a_t, self.b_t, np.clip(self.x + t, 0, 1))
        else:
            inner = special.betaincc(self.a_c, self.b_c, np.clip(self.x - t, 0, 1))
        return float(self.w @ inner)

    def ratio_cdf(self, r: float) -> float:
        """P(T / C - 1 <= r) for r > -1."""
        if self.outer_is_control:
            inner = special.betainc(self.a_t, self.b_t, np.clip((1 + r) * self.x, 0, 1))
        else:
            inner = special.betaincc(self.a_c, self.b_c, np.clip(self.x / (1 + r), 0, 1))
        return float(self.w @ inner)

    def expected_loss(self) -> float:
        """E[max(C - T, 0)], with closed-form inner expectations.

        For a Beta(a, b) variable V with mean m: E[V 1{V <= v}] = m I_v(a + 1, b), so
        E[(v - V)+] = v I_v(a, b) - m I_v(a + 1, b) and
        E[(V - v)+] = m (1 - I_v(a + 1, b)) - v (1 - I_v(a, b)).
        """
        x = self.x
        if self.outer_is_control:
            a, b, m = self.a_t, self.b_t, self.mean_t
            inner = x * special.betainc(a, b, x) - m * special.betainc(a + 1, b, x)
        else:
            a, b, m = self.a_c, self.b_c, self.mean_c
            inner = m * special.betaincc(a + 1, b, x) - x * special.betaincc(a, b, x)
        return max(float(self.w @ inner), 0.0)

    def diff_quantile(self, q: float) -> float:
        centre = self.mean_t - self.mean_c
        return _root(lambda t: self.diff_cdf(t) - q, centre, self.sd, -1.0, 1.0)

    def ratio_quantile(self, q: float) -> float:
        centre = self.mean_t / self.mean_c - 1
        # Delta-method spread of T / C, only to bracket the root.
        spread = math.sqrt(
            stats.beta.var(self.a_t, self.b_t) / self.mean_c**2
            + self.mean_t**2 * stats.beta.var(self.a_c, self.b_c) / self.mean_c**4
        )
        return _root(lambda r: self.ratio_cdf(r) - q, centre, spread, -1.0 + 1e-12, math.inf)


def _root(
    f: Callable[[float], float], centre: float, spread: float, lo_bound: float, hi_bound: float
) -> float:
    """Root of an increasing function, bracketed outwards from centre in steps of spread."""
    step = max(spread, 1e-12)
    lo, hi = max(centre - 8 * step, lo_bound), min(centre + 8 * step, hi_bound)
    for _ in range(64):
        if f(lo) <= 0 or lo <= lo_bound:
            break
        step *= 2
        lo = max(centre - 8 * step, lo_bound)
    step = max(spread, 1e-12)
    for _ in range(64):
        if f(hi) >= 0 or hi >= hi_bound:
            break
        step *= 2
        hi = min(centre + 8 * step, hi_bound)
    # A quantile beyond what the quadrature resolves (alpha below ~1e-12) sits at the bracket.
    if f(lo) > 0:
        return lo
    if f(hi) < 0:
        return hi
    return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-12))


def _beta_binomial(control: ArmStats, treatment: ArmStats, alpha: float) -> Bayesian:
    pair = _BetaPair(control, treatment)
    chance = 1 - pair.diff_cdf(0.0)
    return Bayesian(
        method=BAYES_BETA,
        chance_to_beat_control=min(max(chance, 0.0), 1.0),
        expected_loss=pair.expected_loss(),
        credible_interval=(pair.diff_quantile(alpha / 2), pair.diff_quantile(1 - alpha / 2)),
        relative_credible_interval=(pair.ratio_quantile(alpha / 2), pair.ratio_quantile(1 - alpha / 2)),
    )
