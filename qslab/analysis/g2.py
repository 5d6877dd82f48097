"""g2(0) from HBT pair counts under pulsed excitation, and the biexciton yield it gives.

PHYSICS.md section 3: g2(0) = area(k=0) / mean(area(k != 0)); in the limit <N> -> 0 it is
QY_XX/QY_X, at finite <N> it reads low (:func:`g2_at_n`), background pulls it toward 1 and a
time gate removes fast XX photons, so a gated value is never QY_XX/QY_X and always says so.
Results are dicts ``{value, error, units, method, ...}`` like every qslab analysis result.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import numpy as np
from scipy.optimize import curve_fit

from qslab.analysis.models import p_at_least_one, p_at_least_two

PAIRS_METHOD = "pulse-index pair counts"
HISTOGRAM_METHOD = "histogram peak areas, one-period windows"
RATE_RATIO = 4.0  # k_r,XX / k_r,X, the review's assumption


class PeakAreas(NamedTuple):
    """Pair counts in the peaks k = -K..K with their Poisson errors."""

    lags: np.ndarray
    areas: np.ndarray
    errors: np.ndarray


class _Correlation(Protocol):
    """What :func:`g2_of` reads (a :class:`qslab.tcspc.correlate.Correlation`)."""

    edges_ps: np.ndarray
    histogram: np.ndarray
    pulse_pairs: np.ndarray
    period_ps: int
    gate_ps: int


def areas_from_pairs(pulse_pairs: np.ndarray) -> PeakAreas:
    """Pairs counted by pulse index are the peak areas themselves."""
    areas = np.asarray(pulse_pairs, dtype=float)
    periods = (areas.size - 1) // 2
    return PeakAreas(np.arange(-periods, periods + 1), areas, np.sqrt(areas))


def areas_from_histogram(
    histogram: np.ndarray, edges_ps: np.ndarray, period_ps: int, periods: int
) -> PeakAreas:
    """Peak k holds the bins whose centre lies in [(k - 1/2) T, (k + 1/2) T).

    Only right when each decay ends within a period; pulse-index pairs need no windows.
    """
    edges = np.asarray(edges_ps, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    peak = np.floor(centres / period_ps + 0.5).astype(np.int64)
    inside = np.abs(peak) <= periods
    areas = np.bincount(
        peak[inside] + periods,
        weights=np.asarray(histogram, dtype=float)[inside],
        minlength=2 * periods + 1,
    )
    return PeakAreas(np.arange(-periods, periods + 1), areas, np.sqrt(areas))


def g2_zero(peaks: PeakAreas, *, gate_ns: float = 0.0, method: str = PAIRS_METHOD) -> dict:
    """area(0) / mean(area(k != 0)) with its Poisson error.

    Relative error sqrt(1/A0 + 1/sum A_k); with no pair yet in the centre peak, one count's
    worth. A gated result carries ``gate_ns`` and says "gated" in its method.
    """
    centre = float(peaks.areas[peaks.lags == 0][0])
    sides = peaks.areas[peaks.lags != 0]
    side_mean = float(sides.mean()) if sides.size else 0.0
    result: dict[str, Any] = {
        "value": math.nan,
        "error": math.nan,
        "units": "",
        "method": f"{method}, gated at {gate_ns:g} ns" if gate_ns > 0 else method,
        "centre_area": centre,
        "side_area_mean": side_mean,
        "side_peaks": int(sides.size),
    }
    if gate_ns > 0:
        result["gate_ns"] = float(gate_ns)
    if side_mean <= 0:
        result["note"] = "no pairs in the side peaks yet"
        return result
    value = centre / side_mean
    error = math.sqrt(max(centre, 1.0) / side_mean**2 + value**2 / float(sides.sum()))
    result.update(value=value, error=error)
    return result


def g2_of(correlation: _Correlation, source: str = "pulses") -> dict:
    """g2(0) of a correlation, from its pulse-index pairs or from its histogram, with its gate."""
    if source == "pulses":
        peaks, method = areas_from_pairs(correlation.pulse_pairs), PAIRS_METHOD
    elif source == "histogram":
        periods = (len(correlation.pulse_pairs) - 1) // 2
        peaks = areas_from_histogram(
            correlation.histogram, correlation.edges_ps, correlation.period_ps, periods
        )
        method = HISTOGRAM_METHOD
    else:
        raise ValueError(f"unknown source {source!r}; use 'pulses' or 'histogram'")
    return g2_zero(peaks, gate_ns=correlation.gate_ps / 1e3, method=method)


def background_corrected(g2: dict, rho: float, rho_error: float = 0.0) -> dict:
    """g2 = (g2_m - (1 - rho^2)) / rho^2 with rho = S / (S + B).

    Exact for background uncorrelated with the emitter (dark counts, stray light). For two
    detectors of different rho pass rho = sqrt(rho_A rho_B).
    """
    if not 0 < rho <= 1:
        raise ValueError("rho = S/(S+B) must lie in (0, 1]")
    measured, error = g2["value"], g2["error"]
    value = (measured - (1 - rho**2)) / rho**2
    error = math.hypot(error / rho**2, 2 * (measured - 1) / rho**3 * rho_error)
    return {
        **g2,
        "value": value,
        "error": error,
        "method": f"{g2['method']}, background-corrected",
        "rho": float(rho),
        "rho_error": float(rho_error),
        "measured_value": measured,
    }


def g2_at_n(n, qy_ratio):
    """g2(0) = 2 p2 QY_XX QY_X / (p1 QY_X + p2 QY_XX)^2 at mean excitation <N> = n.

    QY_X cancels: g2(0) = 2 p2 r / (p1 + p2 r)^2 with r = QY_XX / QY_X; p1 = P(n >= 1),
    p2 = P(n >= 2) (every n >= 3 relaxes to XX).
    """
    p1, p2 = p_at_least_one(n), p_at_least_two(n)
    return 2 * p2 * qy_ratio / (p1 + p2 * qy_ratio) ** 2


def qy_ratio_at_n(g2: float, g2_error: float, n: float) -> dict:
    """QY_XX/QY_X from one g2(0) measured at <N> = n: :func:`g2_at_n` solved for r.

    Of the quadratic's two roots, the one that tends to g2 as n -> 0, written without the
    cancellation: r = g2 p1^2 / (p2 (1 - x + sqrt(1 - 2x))), x = g2 p1.
    """
    p1, p2 = float(p_at_least_one(n)), float(p_at_least_two(n))
    x = g2 * p1
    result: dict[str, Any] = {"units": "", "method": "finite-<N> formula inverted", "n": n}
    if 1 - 2 * x < 0:
        nan = math.nan
        return {**result, "value": nan, "error": nan, "note": "g2(0) above the model's maximum"}
    root = math.sqrt(1 - 2 * x)
    denominator = 1 - x + root
    value = g2 * p1**2 / (p2 * denominator)
    slope = p1**2 / (p2 * denominator) * (1 + x * (1 + 1 / root) / denominator)
    return {**result, "value": value, "error": abs(slope) * g2_error}


def extrapolate_to_zero(n_values, g2_values, g2_errors) -> dict:
    """QY_XX/QY_X from g2(0) at several <N>: a weighted fit of :func:`g2_at_n`.

    The full formula is fitted, not its low-<N> expansion g2 ~ r (1 + (1/3 - r) <N>): that
    is off by O(<N>^2) (1 % at <N> = 0.3, 3 % at 0.5), as much as the statistical error of a
    good run, and the exact form costs nothing. The error is scaled by sqrt(chi2/dof) when that
    exceeds 1 (points scattering beyond their errors). <N> is taken as exact.
    """
    n = np.asarray(n_values, dtype=float)
    g2 = np.asarray(g2_values, dtype=float)
    sigma = np.asarray(g2_errors, dtype=float)
    if n.size < 2 or n.size != g2.size or n.size != sigma.size:
        raise ValueError("need g2(0) with its error at two or more <N>")
    start = qy_ratio_at_n(float(g2[np.argmin(n)]), 0.0, float(n.min()))["value"]
    (ratio,), covariance = curve_fit(
        g2_at_n,
        n,
        g2,
        p0=[start if math.isfinite(start) else float(g2.mean())],
        sigma=sigma,
        absolute_sigma=True,
        bounds=(0.0, np.inf),
    )
    chi2 = float(np.sum(((g2 - g2_at_n(n, ratio)) / sigma) ** 2))
    reduced = chi2 / (n.size - 1)
    error = math.sqrt(covariance[0, 0]) * max(1.0, math.sqrt(reduced))
    return {
        "value": float(ratio),
        "error": error,
        "units": "",
        "method": "weighted fit of g2(0) = 2 p2 r / (p1 + p2 r)^2 over <N>, extrapolated to 0",
        "chi2_reduced": reduced,
        "points": int(n.size),
        "n_min": float(n.min()),
        "n_max": float(n.max()),
    }


def auger_lifetime_ns(
    tau_x_ns: float,
    qy_xx: float,
    qy_x: float,
    *,
    tau_x_error_ns: float = 0.0,
    qy_xx_error: float = 0.0,
    qy_x_error: float = 0.0,
    rate_ratio: float = RATE_RATIO,
) -> dict:
    """tau_A = tau_r,XX QY_XX / (1 - QY_XX), tau_r,XX = tau_r,X / 4, tau_r,X = tau_X / QY_X.

    ``qy_xx`` is the absolute XX yield (QY_X times the measured ratio). Errors are propagated
    as independent.
    """
    if not 0 < qy_xx < 1 or not 0 < qy_x <= 1:
        raise ValueError("quantum yields must lie in (0, 1) for QY_XX and (0, 1] for QY_X")
    radiative_xx = tau_x_ns / qy_x / rate_ratio
    value = radiative_xx * qy_xx / (1 - qy_xx)
    error = value * math.sqrt(
        (tau_x_error_ns / tau_x_ns) ** 2
        + (qy_x_error / qy_x) ** 2
        + (qy_xx_error / (qy_xx * (1 - qy_xx))) ** 2
    )
    return {
        "value": value,
        "error": error,
        "units": "ns",
        "method": f"tau_r,XX QY_XX / (1 - QY_XX), k_r,XX = {rate_ratio:g} k_r,X",
        "radiative_xx_ns": radiative_xx,
    }
