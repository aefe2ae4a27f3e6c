"""Maximum-likelihood fitting shared by the BG/NBD and Gamma-Gamma models, and how a fit fails.

Both models are fitted over log-parameters by L-BFGS-B with their analytic gradients, from
several starts (:func:`_fit_mle`); a fit that does not converge, or that runs a parameter to the
edge of its range, raises :class:`ClvFitError` with what to try.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

_LOG_BOUND = 15.0
"""Log-parameters are searched in [-15, 15] (3e-7 to 3e6); a fit on a bound is refused (NBD limit aside)."""
_POLISH_ITERATIONS = 400
"""Nelder-Mead iterations after an L-BFGS-B run that stopped short (bounds the time of a failing fit)."""
_GRADIENT_TOLERANCE = 1e-4
"""Largest |gradient| of the mean log-likelihood (per log-parameter) accepted as converged."""
MSG_LENGTHS = "frequency, recency and T must have the same length, got {lengths}."
MSG_NOT_CONVERGED = (
    "The {model} fit did not converge ({detail}). Try a penalizer > 0, a longer calibration"
    " period or another period unit."
)
MSG_AT_BOUND = (
    "The {model} fit ran parameter {name} to the edge of its range ({value:.3g}): the data do not"
    " identify it. Try a penalizer > 0 or a longer calibration period."
)
MSG_NOT_FITTED = "{model} is not fitted yet: call fit first."
MSG_BAD_PENALIZER = "penalizer must be a finite number >= 0, got {value!r}."


class ClvFitError(ValueError):
    """A model could not be fitted to the data; the message says why and what to try."""


def _check_penalizer(penalizer: float) -> None:
    if not (isinstance(penalizer, (int, float)) and math.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(MSG_BAD_PENALIZER.format(value=penalizer))


def _fit_mle(
    objective,
    starts: list[np.ndarray],
    *,
    model: str,
    names: tuple[str, ...],
    max_iter: int,
    limits: dict[str, float] | None = None,
) -> optimize.OptimizeResult:
    """Minimize a (value, gradient) objective over log-parameters from several starts.

    L-BFGS-B with the analytic gradient from each start in turn, polished by Nelder-Mead
    when L-BFGS-B stops short; the first solution whose projected gradient is small is
    kept. A parameter on the edge of the search range is refused, except on the sides
    named in ``limits`` (-1 lower, +1 upper), which are limiting models the caller handles.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    limits = limits or {}
    detail = "no start gave a finite likelihood"
    for start in starts:
        with np.errstate(all="ignore"):
            res = optimize.minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10},
            )
            if not (np.isfinite(res.fun) and _largest_gradient(res.x, res.jac) < _GRADIENT_TOLERANCE):
                polished = optimize.minimize(
                    lambda p: objective(p)[0],
                    res.x,
                    method="Nelder-Mead",
                    bounds=bounds,
                    options={"maxiter": min(max_iter, _POLISH_ITERATIONS), "xatol": 1e-9, "fatol": 1e-13},
                )
                value, jac = objective(polished.x)
                if np.isfinite(value) and (not np.isfinite(res.fun) or value <= res.fun):
                    res = optimize.OptimizeResult(
                        x=polished.x, fun=value, jac=jac, success=polished.success, message=polished.message
                    )
        if not np.isfinite(res.fun):
            continue
        grad_max = _largest_gradient(res.x, res.jac)
        if grad_max >= _GRADIENT_TOLERANCE:
            detail = f"largest gradient {grad_max:.2g} > {_GRADIENT_TOLERANCE:g}; optimizer: {res.message}"
            continue
        for i, name in enumerate(names):
            side = np.sign(res.x[i]) if abs(res.x[i]) > _LOG_BOUND - 1e-3 else 0
            if side and limits.get(name) != side:
                raise ClvFitError(MSG_AT_BOUND.format(model=model, name=name, value=math.exp(res.x[i])))
        return res
    raise ClvFitError(MSG_NOT_CONVERGED.format(model=model, detail=detail))


def _largest_gradient(log_params: np.ndarray, jac: np.ndarray) -> float:
    """Largest |gradient| component that could still move inside the bounds (projected gradient)."""
    jac = np.array(jac, dtype=float)
    edge = _LOG_BOUND - 1e-3
    jac[(log_params <= -edge) & (jac > 0)] = 0.0
    jac[(log_params >= edge) & (jac < 0)] = 0.0
    return float(np.max(np.abs(jac)))
