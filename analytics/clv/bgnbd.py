"""BG/NBD (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way"): repeat purchases.

:class:`BgNbd` is fitted to (x, t_x, T) by maximum likelihood; it gives each customer's
probability of being alive and expected purchases over any horizon. The likelihood is written
here with scipy (``gammaln``, ``betaln``, ``hyp2f1``) because ``lifetimes`` is unmaintained and
PyMC-Marketing's MCMC stack is far too heavy for this app; the fit is checked against the
published CDNOW estimates (tests/unit/test_clv.py, docs/clv.md).
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

MSG_BAD_RFM = "{name} {problem} (customer at position {row}: {value})."
MSG_NO_REPEAT = (
    "No customer made a repeat purchase in the calibration period, so the BG/NBD model cannot be"
    " fitted: choose a later calibration_end or a longer history."
)
MSG_NUMERIC = (
    "The expected purchases of the customer at position {row} (frequency {x:g}) cannot be computed"
    " in floating point with r, alpha, a, b = {params}."
)


def _as_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = [np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, T)]
    try:
        x, tx, t_cal = np.broadcast_arrays(*arrays)
    except ValueError:
        raise ValueError(MSG_LENGTHS.format(lengths=tuple(v.size for v in arrays))) from None
    _check_values(x, "frequency", "must be a whole number >= 0", (x >= 0) & (x == np.floor(x)))
    _check_values(tx, "recency", "must be >= 0", tx >= 0)
    _check_values(t_cal, "T", "must be >= recency", t_cal >= tx)
    return x, tx, t_cal


def _check_values(values: np.ndarray, name: str, problem: str, ok: np.ndarray) -> None:
    bad = ~(ok & np.isfinite(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(MSG_BAD_RFM.format(name=name, problem=problem, row=row, value=values[row]))


def bgnbd_log_likelihood(
    frequency: Sequence[float] | np.ndarray,
    recency: Sequence[float] | np.ndarray,
    T: Sequence[float] | np.ndarray,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
) -> np.ndarray:
    """Log-likelihood of each customer under the BG/NBD model (FHL 2005, eq. 6).

    ``L = B(a, b+x)/B(a, b) Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))``, summed in
    log space (log-sum-exp), so large frequencies neither overflow nor underflow.

    Parameters
    ----------
    frequency, recency, T : array-like
        Repeat purchases x, time of the last purchase t_x and age T (periods).
    r, alpha, a, b : float
        Model parameters (all > 0).

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.

    Examples
    --------
    >>> round(float(bgnbd_log_likelihood([0], [0.0], [10.0], r=1.0, alpha=1.0, a=1.0, b=1.0)[0]), 4)
    -2.3979
    """
    x, tx, t_cal = _as_rfm(frequency, recency, T)
    return _bgnbd_ll_and_grad(np.log([r, alpha, a, b]), x, tx, t_cal, gradient=False)[0]


def _bgnbd_ll_and_grad(
    log_params: np.ndarray, x: np.ndarray, tx: np.ndarray, t_cal: np.ndarray, *, gradient: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    x1 = np.maximum(x, 1.0)  # b + x - 1 only appears for x > 0; keep it positive elsewhere
    log_alpha_t = np.log(alpha + t_cal)
    log_alpha_tx = np.log(alpha + tx)
    ln_a1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * log_alpha_t
    ln_a2 = np.where(
        repeat,
        special.betaln(a + 1, b + x1 - 1) - special.betaln(a, b) - (r + x) * log_alpha_tx,
        -np.inf,
    )
    lse = np.logaddexp(ln_a1, ln_a2)
    ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + lse
    if not gradient:
        return ll, None
    # Analytic gradient (digamma differences), w1/w2: shares of the two likelihood terms.
    w2 = np.exp(ln_a2 - lse)
    w1 = 1.0 - w2
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + x)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w1 * log_alpha_t - w2 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + t_cal) + w2 / (alpha + tx))
    d_a = psi_ab - psi_abx + w2 / a
    d_b = special.digamma(b + x) - special.digamma(b) - w2 / (b + x1 - 1) + psi_ab - psi_abx
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b], axis=1)
    return ll, grad


class BgNbd:
    """The BG/NBD model of repeat purchases (Fader, Hardie and Lee 2005), fitted by maximum likelihood.

    While alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they
    drop out with probability p ~ Beta(a, b). When the data show no dropout the fit may end
    with a at the bottom or b at the top of the search range: that is the NBD limit (nobody
    drops out), a valid answer that :func:`analytics.clv.predictive.fit_clv` reports in its
    warnings; any other parameter on the edge of its range raises :class:`ClvFitError`.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters (``penalizer * (r² + α² + a² + b²)`` added to the mean
        negative log-likelihood), to keep a poorly identified fit finite; 0 is plain MLE.
    max_iter : int
        Iterations per optimizer run.

    Attributes
    ----------
    r_, alpha_, a_, b_ : float
        Fitted parameters.
    log_likelihood_ : float
        Log-likelihood at the fit (without the penalty).
    n_customers_ : int
        Customers fitted.
    converged_ : bool
        True: :meth:`fit` raises :class:`ClvFitError` rather than return an unconverged fit.

    Examples
    --------
    >>> x, t_x, T = [0, 2, 5, 1, 0, 3], [0.0, 20.0, 30.0, 5.0, 0.0, 35.0], [38.0] * 6
    >>> model = BgNbd(penalizer=0.01).fit(x, t_x, T)
    >>> [round(float(v), 2) for v in model.probability_alive([2, 2], [5.0, 35.0], [38.0, 38.0])]
    [0.31, 0.95]

    A customer who bought twice early on and not since is less likely to be alive than one
    who bought recently.
    """

    def __init__(self, penalizer: float = 0.0, *, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, frequency, recency, T) -> BgNbd:
        """Fit r, α, a, b by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchases x (whole numbers), recency t_x and age T (periods, 0 <= t_x <= T).

        Returns
        -------
        BgNbd
            ``self``, fitted.

        Raises
        ------
        ClvFitError
            No repeat purchase at all, no convergence, or a parameter running off to the
            edge of its range.
        ValueError
            Invalid inputs (named, with the first bad position).
        """
        _check_penalizer(self.penalizer)
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        if not (x > 0).any():
            raise ClvFitError(MSG_NO_REPEAT)
        n = x.size
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _bgnbd_ll_and_grad(log_params, x, tx, t_cal)
            params = np.exp(log_params)
            value = -ll.sum() / n + penalizer * np.sum(params**2)
            jac = -grad.sum(axis=0) / n + 2 * penalizer * params**2
            if not np.isfinite(value):
                return np.inf, np.zeros(4)
            return float(value), jac

        # Starts whose mean purchase rate r / α matches the observed one (Σx / ΣT), so they
        # suit any time unit; the first is BTYD's default (r = 1, a = 1, b = 3) rescaled.
        scale = float(t_cal.sum() / x.sum())
        starts = [
            np.log([1.0, scale, 1.0, 3.0]),
            np.log([0.5, scale / 2.0, 0.5, 1.0]),
            np.log([2.0, 2.0 * scale, 2.0, 10.0]),
        ]
        res = _fit_mle(
            objective,
            starts,
            model="BG/NBD",
            names=("r", "alpha", "a", "b"),
            max_iter=self.max_iter,
            # a -> 0 or b -> infinity is the NBD limit (nobody drops out): a valid answer.
            limits={"a": -1, "b": 1},
        )
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = float(_bgnbd_ll_and_grad(res.x, x, tx, t_cal, gradient=False)[0].sum())
        self.n_customers_ = int(n)
        self.converged_ = True
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "r_"):
            raise ValueError(MSG_NOT_FITTED.format(model="BgNbd"))
        return self.r_, self.alpha_, self.a_, self.b_

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """Probability that each customer is still alive at T (FHL 2005, eq. 11).

        ``P = 1 / (1 + [x > 0] a / (b + x - 1) ((α + T) / (α + t_x))^(r + x))``, in log
        space; 1 for customers without a repeat purchase (the model only lets customers
        drop out right after a purchase).

        Parameters
        ----------
        frequency, recency, T : array-like
            x, t_x and T per customer.

        Returns
        -------
        numpy.ndarray
            P(alive) per customer, in (0, 1].
        """
        r, alpha, a, b = self._params()
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        return _p_alive(r, alpha, a, b, x, tx, t_cal)

    def expected_purchases(self, t) -> np.ndarray:
        """Expected repeat purchases E[X(t)] of a new customer in their first t periods (FHL eq. 7).

        Parameters
        ----------
        t : float or array-like
            Time since the first purchase, in periods.

        Returns
        -------
        numpy.ndarray
            E[X(t)] for each t.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        zeros = np.zeros_like(t)
        return _conditional_expected(self._params(), t, zeros, zeros, zeros)

    def conditional_expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected purchases in the next t periods given each customer's (x, t_x, T) (FHL eq. 10).

        Written with the Euler transformation of the Gaussian hypergeometric function
        (Fader and Hardie 2013, "Overcoming the BG/NBD model's #NUM! error problem"),
        ``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``
        with ``z = t / (α+T+t)``, which stays finite for customers with hundreds of purchases.

        Parameters
        ----------
        t : float or array-like
            Horizon in periods (one value, or one per customer).
        frequency, recency, T : array-like
            x, t_x and T per customer.

        Returns
        -------
        numpy.ndarray
            E[Y(t) | x, t_x, T] per customer.
        """
        params = self._params()
        x, tx, t_cal = _as_rfm(frequency, recency, T)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
        return _conditional_expected(params, t, x, tx, t_cal)


def _p_alive(r, alpha, a, b, x, tx, t_cal) -> np.ndarray:
    x1 = np.maximum(x, 1.0)
    log_odds_dead = np.log(a) - np.log(b + x1 - 1) + (r + x) * (np.log(alpha + t_cal) - np.log(alpha + tx))
    return np.where(x > 0, special.expit(-log_odds_dead), 1.0)


def _conditional_expected(params, t, x, tx, t_cal) -> np.ndarray:
    r, alpha, a, b = params
    if abs(a - 1.0) < 1e-6:
        # (a+b+x-1)/(a-1) [1 - (1-z)^(a-1) F] is 0/0 at a = 1: average the two sides.
        eps = 1e-5
        return 0.5 * (
            _conditional_expected((r, alpha, 1.0 - eps, b), t, x, tx, t_cal)
            + _conditional_expected((r, alpha, 1.0 + eps, b), t, x, tx, t_cal)
        )
    # g = ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z), with 1 - z = (α+T)/(α+T+t).
    z = t / (alpha + t_cal + t)
    with np.errstate(all="ignore"):
        # Euler-transformed form: stays finite for large x (2F1's parameters do not grow with x).
        g = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        bad = ~np.isfinite(g)
        if bad.any():
            # The printed form stays finite where a and b are both large (nearly the same dropout
            # probability for everyone), where the transformed 2F1 overflows.
            zb, xb = z[bad], x[bad]
            g[bad] = np.exp((r + xb) * np.log1p(-zb)) * special.hyp2f1(r + xb, b + xb, a + b + xb - 1, zb)
    if not np.isfinite(g).all():
        row = int(np.flatnonzero(~np.isfinite(g))[0])
        raise ValueError(MSG_NUMERIC.format(row=row, x=x[row], params=(r, alpha, a, b)))
    return (a + b + x - 1) / (a - 1) * (1.0 - g) * _p_alive(r, alpha, a, b, x, tx, t_cal)
