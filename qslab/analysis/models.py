"""Closed-form physics shared by the virtual bench (as truth) and the fits (as models).

PHYSICS.md section 3: Poisson occupation of a QS ensemble, the steady-state laser rate
equation with spontaneous-emission factor beta, its average over a Gaussian spot, and the rate
equations integrated through a pump pulse comparable to the gain lifetime (ns pumping).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.optimize import brentq
from scipy.special import erfcx

from qslab.analysis.spectra import FWHM_PER_SIGMA


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


# -- a pump pulse comparable to the gain lifetime (ns, quasi-CW) ------------------------------
PULSE_STEPS = 1000
"""Implicit time steps through a pulse, from 4 sigma before its peak to 1 lifetime after its
4 sigma; :data:`TAIL_STEPS` more, growing, carry the decay on to 8 lifetimes after that. With
the Richardson step of :func:`pulsed_output` the output is good to about 1e-4 for the
presets' pulses (2e-3 at beta = 1e-4)."""
TAIL_STEPS = 100
GAUSSIAN_PULSE_AREA = math.sqrt(math.pi / (4 * math.log(2)))
"""Integral of a Gaussian pulse of unit peak, in units of its FWHM."""


def _pulse(width_per_lifetime: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian pulse of unit peak and FWHM ``width_per_lifetime``, on a time grid in gain
    lifetimes, and each step's length: ``steps`` equal ones through the pulse, then growing
    ones through the decay (an implicit step integrates a linear decay exactly however long,
    so only the pulse needs fine steps)."""
    sigma = width_per_lifetime / FWHM_PER_SIGMA
    end = 4 * sigma + 1.0
    t = np.linspace(-4 * sigma, end, steps)
    tail = end + np.geomspace(t[1] - t[0], 7.0, TAIL_STEPS)
    t = np.concatenate([t, tail])
    return np.exp(-0.5 * (t[1:] / sigma) ** 2), np.diff(t)


@numba.njit(cache=True)
def _integrate_pulse(p_peak, beta, pulse, steps):  # pragma: no cover - compiled
    """Photons out per pulse for each peak pump (see :func:`pulsed_output`)."""
    out = np.empty(p_peak.size)
    for i in range(p_peak.size):
        x, total = 0.0, 0.0
        for k in range(pulse.size):
            h = steps[k]
            beta_step = beta * h / (1.0 + h)
            q = (x + h * p_peak[i] * pulse[k]) / (1.0 + h)
            root = math.sqrt((q - 1.0) ** 2 + 4.0 * beta_step * q)
            # stimulated_fraction(q, beta_step), without the cancellation below threshold
            s = 0.5 * (q - 1.0 + root) if q >= 1.0 else 2.0 * beta_step * q / (root + 1.0 - q)
            n = s / beta_step
            x = n / (1.0 + n)
            total += h * n
        out[i] = beta * total
    return out


def pulsed_output(p_peak, beta: float, width_per_lifetime: float, steps: int = PULSE_STEPS):
    """Photons out of a laser mode per pulse, in units of the threshold carrier number, for a
    Gaussian pump pulse of FWHM ``width_per_lifetime`` gain lifetimes whose instantaneous pump
    peaks at ``p_peak`` times the CW threshold.

    Normalised rate equations (carriers x in units of their threshold value, time t in units of
    the gain lifetime tau, photon lifetime much shorter so the photon number n follows x):
    dx/dt = p(t) - x (1 + beta n), n = x / (1 - x). An implicit Euler step of that equation is
    the steady-state relation with pump c / (1 + h) and factor beta h / (1 + h), c = x + h p,
    so each step is one stimulated fraction (stable however stiff the lasing regime). The
    output is the integral of beta n dt: beta n is the stimulated fraction, the same
    normalisation as the steady state, so the fs and ns outputs compare directly.

    Implicit Euler is first order in the step, so the result is extrapolated from ``steps``
    and ``steps // 2`` (Richardson: 2 I(h) - I(2h)). Compiled, vectorised over ``p_peak``:
    about 1 ms for 20 pump values, fast enough for a least-squares fit with bootstrap.
    """
    p = np.asarray(p_peak, dtype=float)
    flat = np.ascontiguousarray(p.ravel())
    fine = _integrate_pulse(flat, float(beta), *_pulse(width_per_lifetime, steps))
    coarse = _integrate_pulse(flat, float(beta), *_pulse(width_per_lifetime, steps // 2))
    return (2 * fine - coarse).reshape(p.shape)


def pulse_onset(width_per_lifetime: float) -> float:
    """Peak pump, in CW thresholds, at which the carriers just reach threshold at their
    maximum when beta -> 0: the physical threshold of a pulse of FWHM ``width_per_lifetime``
    gain lifetimes (1 for a long pulse, the total excitation 1 for a short one).

    Without stimulated emission x(t) is the pulse filtered by the lifetime, in closed form
    x(t) / p_peak = sigma sqrt(pi / 2) erfcx(z) exp(-t^2 / (2 sigma^2)),
    z = (sigma^2 - t) / (sigma sqrt 2); it peaks where dx/dt = 0, i.e. where x(t) equals the
    pulse, sigma sqrt(pi / 2) erfcx(z) = 1, and the onset is the inverse of the pulse there.
    """
    sigma = width_per_lifetime / FWHM_PER_SIGMA
    target = 1.0 / (sigma * math.sqrt(math.pi / 2))
    low, high = -1.0, 1.0
    while erfcx(low) < target:
        low *= 2
    while erfcx(high) > target:
        high *= 2
    z = brentq(lambda u: erfcx(u) - target, low, high, xtol=1e-14, rtol=1e-14)
    t = sigma**2 - z * sigma * math.sqrt(2.0)
    return math.exp(0.5 * (t / sigma) ** 2)


def pulsed_s_curve(p, beta: float, width_per_lifetime: float, steps: int = PULSE_STEPS):
    """:func:`pulsed_output` against the peak pump ``p`` relative to the pulse's physical
    threshold (:func:`pulse_onset`), per pulse area (in lifetimes): photons per lifetime at
    the pulse peak's rate, so that a long pulse gives the time average of the steady-state
    ``stimulated_fraction`` over its envelope and p = 1 is where the carriers reach threshold.
    """
    onset = pulse_onset(width_per_lifetime)
    area = GAUSSIAN_PULSE_AREA * width_per_lifetime
    return pulsed_output(np.asarray(p, dtype=float) * onset, beta, width_per_lifetime, steps) / area
