"""The pump spot's size from a knife-edge scan.

A blade stepped across a Gaussian beam of 1/e^2 radius w passes
E(x) = E_bg + E0/2 erfc(sqrt(2) (x - x0) / w), x0 where the edge crosses the beam centre; a
negative w describes a blade that retreats as x grows, so either scan direction fits. The fit
weights each point by its meter scatter (never better than :data:`READING_RESOLUTION` of E0: a
reading has four significant digits, and a blocked beam reads the same zero every pulse), and
scales the errors by sqrt(chi2/dof) when the model fits worse than the scatter says. The 10-90 %
distance, read off the data without the model, is the cross-check: a Gaussian gives
:data:`WIDTH_10_90_PER_RADIUS` x w, a clipped or multimode beam does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import erfc, erfinv

SPOT_RADIUS_KEY = "spot_radius_1e2_um"
"""The analysis entry a station's ``[beam] spot_run`` reads."""
WIDTH_10_90_PER_RADIUS = math.sqrt(2) * float(erfinv(0.8))
"""10-90 % distance of a Gaussian knife-edge curve over its 1/e^2 radius (1.28)."""
READING_RESOLUTION = 1e-3
COVERED_HIGH, COVERED_LOW = 0.9, 0.1
"""A scan must reach from above the first to below the second transmission to pin w."""
LINEAR_CLIP = 1e-4
"""Transmissions are held this far from 0 and 1 before erfinv (noise may step outside)."""
MIN_POINTS = 8


@dataclass(frozen=True)
class KnifeEdgeFit:
    """A fitted knife-edge curve; lengths in um, positions in mm, energies as given."""

    radius_um: float
    radius_err_um: float
    centre_mm: float
    centre_err_mm: float
    width_10_90_um: float
    width_10_90_err_um: float
    full_energy: float
    background: float
    reduced_chi2: float


def edge_model(x_mm, background: float, full: float, centre_mm: float, radius_mm: float):
    """Energy passing a blade at ``x_mm`` (signed ``radius_mm``: see the module docstring)."""
    return background + 0.5 * full * erfc(math.sqrt(2) * (np.asarray(x_mm) - centre_mm) / radius_mm)


def fit_knife_edge(position_mm, energy, energy_err) -> KnifeEdgeFit:
    """Fit a knife-edge scan; :class:`ValueError` says how to fix a scan that cannot be fitted
    (no light, no edge in the range, only part of the edge)."""
    x, e, err = (np.asarray(a, dtype=float) for a in (position_mm, energy, energy_err))
    order = np.argsort(x)
    x, e, err = x[order], e[order], err[order]
    if x.size < MIN_POINTS:
        raise ValueError(f"{x.size} points; a knife-edge fit needs at least {MIN_POINTS}")
    span = f"{x[0]:g}..{x[-1]:g} mm"
    low, high = float(e.min()), float(e.max())
    if not high > 0:
        raise _not_covered(span, "no light passed the blade anywhere (or the pump is off)")
    sigma = np.maximum(err, READING_RESOLUTION * high)
    if high - low < 5 * float(np.median(sigma)) or low > COVERED_HIGH * high:
        raise _not_covered(span, f"the energy hardly changes ({low:.3g} to {high:.3g})")
    falling = bool(np.mean(e[: x.size // 4]) > np.mean(e[-(x.size // 4) :]))
    try:
        popt, pcov = curve_fit(
            edge_model,
            x,
            e,
            p0=_initial_guess(x, (e - low) / (high - low), falling, low, high),
            sigma=sigma,
            absolute_sigma=True,
            maxfev=20000,
        )
    except RuntimeError:
        raise _not_covered(span, "the edge model does not converge on it") from None
    background, full, centre, radius = (float(p) for p in popt)
    ends = edge_model(x[[0, -1]], 0.0, 1.0, centre, radius) if full > 0 else np.zeros(2)
    if not (max(ends) > COVERED_HIGH and min(ends) < COVERED_LOW):
        raise _not_covered(
            span,
            f"it covers transmissions {min(ends):.0%} to {max(ends):.0%} of the edge (fitted "
            f"centre {centre:.4g} mm, radius {abs(radius) * 1e3:.3g} um)",
        )
    dof = x.size - popt.size
    reduced = float(np.sum(((e - edge_model(x, *popt)) / sigma) ** 2) / dof)
    errors = np.sqrt(np.diag(pcov)) * math.sqrt(max(reduced, 1.0))
    width, width_err = _width_10_90(x, (e - background) / full, sigma / full, radius)
    return KnifeEdgeFit(
        radius_um=abs(radius) * 1e3,
        radius_err_um=float(errors[3]) * 1e3,
        centre_mm=centre,
        centre_err_mm=float(errors[2]),
        width_10_90_um=width * 1e3,
        width_10_90_err_um=width_err * 1e3,
        full_energy=full,
        background=background,
        reduced_chi2=reduced,
    )


def _not_covered(span: str, what: str) -> ValueError:
    return ValueError(
        f"the knife-edge scan over {span} does not cover the edge: {what}; the transmission "
        f"must run from above {COVERED_HIGH:.0%} to below {COVERED_LOW:.0%}: widen "
        "edge_start_mm..edge_stop_mm (or move it to where the blade is)"
    )


def _crossings(x: np.ndarray, t: np.ndarray, falling: bool, levels) -> list[float]:
    """Where the transmission ``t`` (over ascending ``x``) first reaches each of ``levels``
    coming from the dark side, interpolated on erfinv(2 t - 1), which a Gaussian edge makes
    linear in x (straight-line interpolation of t itself reads the 10-90 % width ~1 % wide)."""
    ts, xs = (t[::-1], x[::-1]) if falling else (t, x)
    rising = np.maximum.accumulate(ts)
    linear = erfinv(2 * np.clip(rising, LINEAR_CLIP, 1 - LINEAR_CLIP) - 1)
    return [float(np.interp(erfinv(2 * level - 1), linear, xs)) for level in levels]


def _initial_guess(
    x: np.ndarray, t: np.ndarray, falling: bool, low: float, high: float
) -> list[float]:
    """Background, full energy, centre at the half-way crossing, radius from the 10-90 %
    distance, signed by the scan's direction."""
    lower, centre, upper = _crossings(x, t, falling, (COVERED_LOW, 0.5, COVERED_HIGH))
    radius = abs(upper - lower) / WIDTH_10_90_PER_RADIUS or (x[-1] - x[0]) / 4
    return [low, high - low, centre, radius if falling else -radius]


def _width_10_90(
    x: np.ndarray, t: np.ndarray, t_err: np.ndarray, radius_mm: float
) -> tuple[float, float]:
    """Distance between the 10 % and 90 % crossings of the data, each crossing's error from
    the transmission's error there over the Gaussian edge's slope there."""
    levels = (COVERED_LOW, COVERED_HIGH)
    crossings = _crossings(x, t, radius_mm > 0, levels)
    errors = []
    for level, place in zip(levels, crossings, strict=True):
        s = float(erfinv(1 - 2 * level))  # sqrt(2) (x - x0) / w at this level
        slope = math.sqrt(2 / math.pi) * math.exp(-(s**2)) / abs(radius_mm)
        errors.append(float(np.interp(place, x, t_err)) / slope)
    return abs(crossings[1] - crossings[0]), math.hypot(*errors)
