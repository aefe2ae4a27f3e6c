"""Gamma-Gamma (Fader and Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): spend per purchase.

:class:`GammaGamma` is fitted to the repeat customers' mean spend by maximum likelihood; it gives
each customer's expected value per purchase. Checked against the published CDNOW estimates
(tests/unit/test_clv.py, docs/clv.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from analytics.clv.fitting import (
    MSG_LENGTHS,
    MSG_NOT_FITTED,
    ClvFitError,
    _check_penalizer,
    _fit_mle,
)

MIN_GAMMA_GAMMA_CUSTOMERS = 10
"""Fewest repeat customers with a positive mean spend that the Gamma-Gamma fit accepts."""
MSG_FEW_REPEAT_CUSTOMERS = (
    "The Gamma-Gamma spend model needs at least {minimum} customers with a repeat purchase and a"
    " positive mean spend; the data have {count}."
)
MSG_INFINITE_MEAN_SPEND = (
    "The fitted Gamma-Gamma q is {q:.3f} <= 1, so the spend distribution has no finite mean and"
    " customers without a repeat purchase get no expected value."
)


def gamma_gamma_log_likelihood(
    frequency: Sequence[float] | np.ndarray,
    monetary_value: Sequence[float] | np.ndarray,
    *,
    p: float,
    q: float,
    gamma: float,
) -> np.ndarray:
    """Log-density of each repeat customer's mean spend under the Gamma-Gamma model.

    Fader and Hardie (2013): ``f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) γ^q m^(px-1) x^(px) / (γ + m x)^(px+q)``.

    Parameters
    ----------
    frequency : array-like
        Number of purchases x averaged (> 0).
    monetary_value : array-like
        Mean spend per purchase m (> 0).
    p, q, gamma : float
        Model parameters (all > 0).

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return _gg_ll_and_grad(np.log([p, q, gamma]), x, m, gradient=False)[0]


def _gg_ll_and_grad(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, *, gradient: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_m = np.log(m)
    log_gxm = np.log(gamma + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * log_m
        + px * np.log(x)
        - (px + q) * log_gxm
    )
    if not gradient:
        return ll, None
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + log_m + np.log(x) - log_gxm)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_gxm
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    return ll, np.stack([d_p * p, d_q * q, d_gamma * gamma], axis=1)


class GammaGamma:
    """The Gamma-Gamma model of spend per purchase (Fader and Hardie 2013), fitted by maximum likelihood.

    Each purchase's value is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers; it assumes
    spend per purchase is independent of purchase frequency (``frequency_monetary_correlation_``
    reports the Pearson correlation that would contradict it).

    Parameters
    ----------
    penalizer : float
        L2 penalty ``penalizer * (p² + q² + γ²)`` on the mean negative log-likelihood.
    max_iter : int
        Iterations per optimizer run.

    Attributes
    ----------
    p_, q_, gamma_ : float
        Fitted parameters.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_customers_ : int
        Repeat customers fitted (frequency > 0 and monetary value > 0).
    frequency_monetary_correlation_ : float
        Pearson correlation of frequency and mean spend among them (NaN if undefined).
    converged_ : bool
        True: :meth:`fit` raises :class:`ClvFitError` rather than return an unconverged fit.
    """

    def __init__(self, penalizer: float = 0.0, *, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, frequency, monetary_value) -> GammaGamma:
        """Fit p, q, γ on the customers with a repeat purchase and a positive mean spend.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases x per customer (customers with x = 0 are skipped).
        monetary_value : array-like
            Mean value of the repeat purchases (customers with a value <= 0 are skipped).

        Returns
        -------
        GammaGamma
            ``self``, fitted.

        Raises
        ------
        ClvFitError
            Fewer than :data:`MIN_GAMMA_GAMMA_CUSTOMERS` usable customers, or no convergence.
        """
        _check_penalizer(self.penalizer)
        x_all = np.asarray(frequency, dtype=float)
        m_all = np.asarray(monetary_value, dtype=float)
        if x_all.shape != m_all.shape:
            raise ValueError(MSG_LENGTHS.format(lengths=(x_all.size, m_all.size)))
        keep = (x_all > 0) & (m_all > 0) & np.isfinite(m_all)
        x, m = x_all[keep], m_all[keep]
        if x.size < MIN_GAMMA_GAMMA_CUSTOMERS:
            raise ClvFitError(
                MSG_FEW_REPEAT_CUSTOMERS.format(minimum=MIN_GAMMA_GAMMA_CUSTOMERS, count=x.size)
            )
        n = x.size
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _gg_ll_and_grad(log_params, x, m)
            params = np.exp(log_params)
            value = -ll.sum() / n + penalizer * np.sum(params**2)
            if not np.isfinite(value):
                return np.inf, np.zeros(3)
            return float(value), -grad.sum(axis=0) / n + 2 * penalizer * params**2

        mean = float(m.mean())
        # Starts whose population mean p γ / (q - 1) equals the observed mean spend.
        starts = [np.log([1.0, 2.0, mean]), np.log([5.0, 3.0, 0.4 * mean]), np.log([0.5, 1.5, mean])]
        names = ("p", "q", "gamma")
        res = _fit_mle(objective, starts, model="Gamma-Gamma", names=names, max_iter=self.max_iter)
        self.p_, self.q_, self.gamma_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = float(_gg_ll_and_grad(res.x, x, m, gradient=False)[0].sum())
        self.n_customers_ = int(n)
        varies = x.std() > 0 and m.std() > 0
        self.frequency_monetary_correlation_ = float(np.corrcoef(x, m)[0, 1]) if varies else float("nan")
        self.converged_ = True
        return self

    def conditional_expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        """Expected value per purchase given x and mean spend m: ``p (γ + m x) / (p x + q - 1)``.

        With x = 0 this is the population mean ``p γ / (q - 1)``.

        Parameters
        ----------
        frequency, monetary_value : array-like
            Repeat purchases and their mean value per customer (m is ignored when x = 0).

        Returns
        -------
        numpy.ndarray
            Expected average value per customer.

        Raises
        ------
        ValueError
            Some customer has x = 0 and the fitted q <= 1 (no finite population mean).
        """
        if not hasattr(self, "p_"):
            raise ValueError(MSG_NOT_FITTED.format(model="GammaGamma"))
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
        if self.q_ <= 1 and (x == 0).any():
            raise ValueError(MSG_INFINITE_MEAN_SPEND.format(q=self.q_))
        return self.p_ * (self.gamma_ + m * x) / (self.p_ * x + self.q_ - 1)
