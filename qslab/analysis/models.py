"""Closed-form physics shared by the virtual bench (as truth) and the fits (as models).

PHYSICS.md section 3: Poisson occupation of a QS ensemble, the steady-state laser rate
equation with spontaneous-emission factor beta, and its average over a Gaussian spot.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import cumulative_trapezoid


def p_at_least_one(n_mean):
    """Fraction of QSs holding one or more excitons: 1 - exp(-N)."""
    return -np.expm1(-np.asarray(n_mean, dtype=float))


def p_at_least_two(n_mean):
    """Fraction holding two or more (biexciton emitters): 1 - exp(-N) (1 + N)."""
    n = np.asarray(n_mean, dtype=float)
    return -np.expm1(-n) - n * np.exp(-n)


def stimulated_fraction(p, beta):
    """Rate-equation photon number times beta: [(p-1) + sqrt((p-1)^2 + 4 beta p)] / 2.

    ``p`` is the pump relative to threshold. Below threshold it is ~beta p / (1 - p); above it
    tends to p - 1, so a linear fit of the above-threshold branch crosses zero at p = 1.
    """
    p = np.asarray(p, dtype=float)
    return 0.5 * ((p - 1.0) + np.sqrt((p - 1.0) ** 2 + 4.0 * beta * p))


def _log_pump_grid(top: float) -> np.ndarray:
    """ln p from deep below threshold to ``top``, dense around p = 1 where the S-curve bends."""
    return np.unique(
        np.concatenate(
            [
                np.arange(-16.0, -1.0, 0.02),
                np.arange(-1.0, 1.0, 5e-4),
                np.arange(1.0, max(top, 1.0) + 0.02, 0.02),
            ]
        )
    )


def gaussian_spot_average(func, p_peak):
    """Integral of ``func(p_peak * exp(-u))`` over u >= 0.

    For a Gaussian beam F(r) = F0 exp(-2 r^2 / w0^2), substituting u = 2 r^2 / w0^2 turns the
    area integral into (pi w0^2 / 2) times this one; the prefactor is left to the caller.
    With s = ln p the integral is that of ``func(e^s)`` up to s = ln p_peak, so one cumulative
    integral on a grid dense around the threshold (p = 1) serves every peak value at once, and
    the sharp bend of a small-beta S-curve is resolved.
    """
    p_peak = np.atleast_1d(np.asarray(p_peak, dtype=float))
    positive = p_peak > 0
    out = np.zeros_like(p_peak)
    if positive.any():
        log_peak = np.log(p_peak[positive])
        s = _log_pump_grid(float(log_peak.max()))
        values = func(np.exp(s))
        # below the grid every yield is linear in p (or faster), so the tail adds values[0]
        cumulative = cumulative_trapezoid(values, s, initial=0.0) + values[0]
        out[positive] = np.interp(log_peak, s, cumulative)
    return out
