"""The analysis of one lasing series: the cavity modes, and for each its threshold, beta, slope
efficiency and linewidth narrowing (PHYSICS.md section 3).

Pure functions on arrays. ``pump`` holds one value per point in the regime's units (uJ/cm^2 for
fs one-photon pumping, kW/cm^2 peak intensity for ns quasi-CW, mJ/cm^2 for two-photon...);
``wavelengths`` is the ascending axis in nm; ``spectra`` is (points, pixels), dark-subtracted;
``resolution_nm`` is the FWHM of the spectrometer's instrument function.

**Modes.** A mode is a line narrower than ``max_linewidth_nm`` that stands ``min_snr`` times
the noise above the broad PL in at least 3 spectra (:func:`find_modes`). Whether it lases is for
the threshold fit to say: a cavity resonance that only filters the PL grows like a power law and
gets a NaN threshold with the reason, never a number. Each mode is fitted alone, in a window
cut short of its neighbours: lines closer than about 2 resolutions merge into one mode, and
lines closer than a few linewidths share light between their fits.

**Line shape and deconvolution.** A cavity mode is taken to be Lorentzian (a damped oscillator:
the cold-cavity width below threshold, narrowing above it) seen through a Gaussian instrument
function of FWHM ``resolution_nm`` (the quoted resolution is the measured width of a narrow
line, pixels included). The measured line is their convolution, a Voigt profile; it is fitted
with the Gaussian held at the resolution, so the fitted Lorentzian FWHM *is* the deconvolved
linewidth, exact for this assumption at any ratio of the two widths. A line broadened
inhomogeneously (Gaussian) would come out too narrow; the Olivero-Longbothum relation
(:func:`lorentzian_fwhm`) gives the same answer from a measured FWHM without a fit.

**Thresholds.** Four methods per mode, each with a seeded bootstrap error: the rate-equation
(beta) fit of the whole S-curve (primary: the only one that fits the physics, tests the kink
against a power law and gives beta), the x-intercept of the above-threshold line, the log-log
kink, and the midpoint of the linewidth collapse. The rate-equation model is the mode's
stimulated emission ``b S(P / P_th; beta)``, either as is (``pump_profile="flat"``) or averaged
over a Gaussian pump spot (``"gaussian"``); see :data:`PUMP_PROFILES` for when each applies.
Under a pump pulse comparable to the gain lifetime (ns, quasi-CW) the S-curve is the rate
equations integrated through the pulse (``"pulsed"``, :func:`mode_curve_pulsed`): the pulse's
FWHM over the gain lifetime must then be given (it is known, not fitted), and P_th is the peak
pump at which the carriers, at their maximum, reach threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.linalg import solveh_banded
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import curve_fit
from scipy.signal import find_peaks
from scipy.special import voigt_profile

from qslab.analysis.models import gaussian_spot_average, pulsed_s_curve, stimulated_fraction
from qslab.analysis.spectra import FWHM_PER_SIGMA, _noise_rms, fwhm_nm
from qslab.analysis.threshold import (
    NoThresholdError,
    SCurveModel,
    ThresholdResult,
    fit_s_curve,
    pairs_bootstrap,
    run_methods,
    threshold_linear,
    threshold_linewidth,
    threshold_loglog,
)

MIN_SNR = 8.0  # a line this many noise sigma above the PL is a mode candidate
MAX_LINEWIDTH_NM = 3.0  # wider lines are PL structure, not cavity modes
MIN_DETECTIONS = 3  # spectra a mode must appear in (a spike or a noise peak appears in one)
CLIP_SIGMA = 2.5  # pixels this far above the PL background belong to a line
CLIP_ITERATIONS = 8
PROMINENCE_FRACTION = 0.5  # a noise bump on a bright line's flank stands little above it
FIT_WINDOW_NM = 8.0  # full width of the window a mode is fitted in
EDGE_MARGIN = 0.45  # of the distance to the neighbouring mode: where a fit window must end
MIN_WINDOW_PIXELS = 12
RESOLVED_SNR = 6.0  # area / error above which a line's width and centre are measured
INTENSITY_FLOOR = 0.02  # a quick fit's stand-in for pump jitter: relative error of every intensity
PUMP_ERROR = 0.01  # relative error of a point's pump: the mean of a few pulses of ~2 % jitter
DETECTED_SNR = 3.0  # the log-log method uses the points where the mode is this clear
WELL_ABOVE = 2.0  # "well above threshold" for the narrowed linewidth, in units of P_th
METHODS = ("rate_equation", "linear", "loglog", "linewidth")


def mode_curve(pump, b: float, p_th: float, beta: float) -> np.ndarray:
    """Mode emission of the steady-state rate equation: ``b S(P / P_th; beta)``."""
    return b * stimulated_fraction(np.asarray(pump, dtype=float) / p_th, beta)


def mode_curve_gaussian_spot(pump, b: float, p_th: float, beta: float) -> np.ndarray:
    """:func:`mode_curve` summed over a Gaussian spot of peak pump ``pump``."""
    relative = np.asarray(pump, dtype=float) / p_th
    return b * gaussian_spot_average(lambda p: stimulated_fraction(p, beta), relative)


def mode_curve_pulsed(pump, b: float, p_th: float, beta: float, pulse_per_lifetime: float):
    """Mode emission per pulse for a Gaussian pump pulse of FWHM ``pulse_per_lifetime`` gain
    lifetimes and peak pump ``pump``: ``b`` times :func:`qslab.analysis.models.pulsed_s_curve`
    of P / P_th, P_th the peak pump at which the carriers just reach threshold at their
    maximum when beta -> 0. A long pulse gives the steady-state S-curve averaged over the
    pulse's envelope."""
    relative = np.asarray(pump, dtype=float) / p_th
    return b * pulsed_s_curve(relative, beta, pulse_per_lifetime)


def _mode_start(curve):
    """Start completer for :class:`SCurveModel`: b puts the curve through the top point."""

    def start(levels: np.ndarray, level_y: np.ndarray, p_th: float, beta: float) -> list[float]:
        return [level_y[-1] / curve(levels[-1:], 1.0, p_th, beta)[0], p_th, beta]

    return start


def _mode_model(method: str, curve) -> SCurveModel:
    return SCurveModel(
        method=method,
        curve=curve,
        names=("b", "p_th", "beta"),
        kinds=("amplitude", "threshold", "beta"),
        start=_mode_start(curve),
    )


PUMP_PROFILES = {
    # The mode sees one pump level: a single micro-cavity (nanopillar photonic crystal,
    # vertical cavity) under a spot much wider than the mode, or a flat-top spot.
    "flat": _mode_model("rate_equation", mode_curve),
    # The signal sums emitters that each see their local pump across a Gaussian spot: arrays of
    # small cavities under one spot, or a large-area mode (PCSEL) pumped by a spot no wider
    # than it. Its S-curve is smoother and steepest near 1.5 P_th, not at P_th.
    "gaussian": _mode_model("rate_equation_gaussian_spot", mode_curve_gaussian_spot),
}
PULSED = "pulsed"
"""The ns (quasi-CW) profile: one pump level per mode, rate equations through the pulse; it
takes the pulse's FWHM over the gain lifetime (:func:`pulsed_model`)."""
PROFILE_NAMES = (*PUMP_PROFILES, PULSED)


@lru_cache(maxsize=16)
def pulsed_model(pulse_per_lifetime: float) -> SCurveModel:
    """The rate-equation model of a pump pulse of FWHM ``pulse_per_lifetime`` gain lifetimes
    (:func:`mode_curve_pulsed`); b, P_th and beta are fitted, the pulse width is known."""

    def curve(pump, b: float, p_th: float, beta: float) -> np.ndarray:
        return mode_curve_pulsed(pump, b, p_th, beta, pulse_per_lifetime)

    return _mode_model("rate_equation_pulsed", curve)


def rate_equation_model(pump_profile: str, pulse_per_lifetime: float | None = None):
    """The model of one of :data:`PROFILE_NAMES`; ``"pulsed"`` needs ``pulse_per_lifetime``
    (pump pulse FWHM over the gain lifetime, e.g. the sample's ``tau_xx_ns``)."""
    if pump_profile == PULSED:
        if not (pulse_per_lifetime is not None and pulse_per_lifetime > 0):
            raise ValueError(
                "pump_profile 'pulsed' needs pulse_per_lifetime, the pump pulse's FWHM over the "
                f"gain lifetime, > 0: got {pulse_per_lifetime!r}"
            )
        return pulsed_model(float(pulse_per_lifetime))
    if pump_profile not in PUMP_PROFILES:
        raise ValueError(f"pump_profile must be one of {sorted(PROFILE_NAMES)}: {pump_profile!r}")
    return PUMP_PROFILES[pump_profile]


@dataclass(frozen=True)
class ModeSeries:
    """One cavity mode through the series, one entry per spectrum (NaN where not measured).

    ``intensity`` is the fitted line area (spectrum units x nm) with its 1-sigma error.
    ``wavelength_nm`` and ``fwhm_nm`` (Lorentzian, resolution deconvolved) are measured only
    where the area stands :data:`RESOLVED_SNR` sigma clear; below that the area is fitted with
    the line shape held at the nearest well-measured spectrum's, which keeps the faint
    below-threshold points on the light-in/light-out curve without letting noise set a width.
    """

    centre_nm: float
    intensity: np.ndarray
    intensity_err: np.ndarray
    wavelength_nm: np.ndarray
    wavelength_err_nm: np.ndarray
    fwhm_nm: np.ndarray
    fwhm_err_nm: np.ndarray


@dataclass(frozen=True)
class _LineFit:
    """One spectrum's Voigt fit: offset from the mode centre, Lorentzian FWHM, area, errors."""

    shift: float
    shift_err: float
    fwhm: float
    fwhm_err: float
    area: float
    area_err: float

    @property
    def resolved(self) -> bool:
        return bool(self.area > RESOLVED_SNR * self.area_err)


def voigt_line(wavelengths, centre_nm: float, lorentz_fwhm_nm: float, area: float, resolution_nm):
    """A Lorentzian line of the given FWHM and area, seen through the Gaussian instrument."""
    sigma = resolution_nm / FWHM_PER_SIGMA
    return area * voigt_profile(np.asarray(wavelengths) - centre_nm, sigma, lorentz_fwhm_nm / 2)


def lorentzian_fwhm(measured_fwhm_nm: float, resolution_nm: float) -> float:
    """Lorentzian FWHM whose Voigt profile with the instrument has the measured FWHM.

    Inverts Olivero and Longbothum's f_V = 0.5346 f_L + sqrt(0.2166 f_L^2 + f_G^2) (accurate
    to 0.02 %); a line no wider than the resolution gives 0.
    """
    f_v, f_g = float(measured_fwhm_nm), float(resolution_nm)
    if f_v <= f_g:
        return 0.0
    # 0.0692 f_L^2 - 1.0692 f_V f_L + (f_V^2 - f_G^2) = 0, smaller root
    a, b, c = 0.5346**2 - 0.2166, -2 * 0.5346 * f_v, f_v**2 - f_g**2
    return float((-b - np.sqrt(b * b - 4 * a * c)) / (2 * a))


def find_modes(
    wavelengths,
    spectra,
    resolution_nm: float,
    min_snr: float = MIN_SNR,
    max_linewidth_nm: float = MAX_LINEWIDTH_NM,
) -> np.ndarray:
    """Centres (nm, ascending) of the narrow lines found in at least 3 spectra.

    Each spectrum loses its PL (:func:`pl_background`), is smoothed to the resolution (a
    matched filter for the narrowest line) and searched for peaks ``min_snr`` noise sigma high
    (noise from the median absolute deviation), narrower than ``max_linewidth_nm`` and
    standing out from what they sit on by half their height. Detections within a resolution
    or two of each other across spectra are one mode, centred where it is seen most clearly.
    """
    wl = np.asarray(wavelengths, dtype=float)
    pitch = float(np.median(np.diff(wl)))
    found = [
        (wl[i], z)
        for k, spectrum in enumerate(np.atleast_2d(np.asarray(spectra, dtype=float)))
        for i, z in _narrow_peaks(spectrum, pitch, resolution_nm, min_snr, max_linewidth_nm, k)
    ]
    tolerance = max(2 * resolution_nm, 4 * pitch)
    return np.array(_clusters(found, tolerance))


def spectrum_lines(
    wavelengths,
    spectrum,
    resolution_nm: float,
    min_snr: float = MIN_SNR,
    max_linewidth_nm: float = MAX_LINEWIDTH_NM,
) -> list[ModeSeries]:
    """The narrow lines of one spectrum, brightest first, each measured as a mode is
    (:func:`measure_modes`, one entry per series): what a scan sees at a point while it runs,
    before there are the spectra :func:`find_modes` needs to tell a mode from a spike."""
    wl = np.asarray(wavelengths, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    pitch = float(np.median(np.diff(wl)))
    peaks = _narrow_peaks(y, pitch, resolution_nm, min_snr, max_linewidth_nm, 0)
    centres = _clusters([(wl[i], z) for i, z in peaks], max(2 * resolution_nm, 4 * pitch), 1)
    try:
        lines = measure_modes(wl, y[None, :], centres, resolution_nm)
    except ValueError:  # lines too close to fit apart: keep the brightest alone
        brightest = max(peaks, key=lambda item: item[1][0])[0]
        lines = measure_modes(wl, y[None, :], [wl[brightest]], resolution_nm)
    measured = [line for line in lines if np.isfinite(line.intensity[0])]
    return sorted(measured, key=lambda line: -line.intensity[0])


def _narrow_peaks(spectrum, pitch, resolution_nm, min_snr, max_linewidth_nm, index):
    """(pixel, (height in sigma, spectrum index)) of the narrow lines in one spectrum."""
    residual = spectrum - pl_background(spectrum, max_linewidth_nm / pitch)
    smooth = gaussian_filter1d(residual, max(resolution_nm, pitch) / FWHM_PER_SIGMA / pitch)
    noise = 1.4826 * float(np.median(np.abs(smooth - np.median(smooth))))
    if not noise > 0:
        return []
    z = smooth / noise
    peaks, props = find_peaks(
        z, height=min_snr, prominence=min_snr, width=(None, max_linewidth_nm / pitch)
    )
    clear = props["prominences"] >= PROMINENCE_FRACTION * props["peak_heights"]
    return [(int(i), (float(z[i]), index)) for i in peaks[clear]]


def pl_background(spectrum, scale_px: float) -> np.ndarray:
    """The smooth PL under the lines: a Whittaker smoother (Eilers 2003) that leaves out
    the pixels standing more than 2.5 noise sigma above it, refitted until they settle.

    The second-difference penalty reproduces any cubic exactly, so the curved top of a PL
    band leaves only a residual as broad as the band (which the width cut rejects), where a
    running median leaves a cusp as narrow as a line. ``scale_px`` (the widest line) sets
    the smoothing length, lambda = scale_px^4.
    """
    y = np.asarray(spectrum, dtype=float)
    n = y.size
    lam = float(scale_px) ** 4
    bands = np.zeros((3, n))  # lam * D2^T D2 in the upper form of solveh_banded
    bands[0, 2:] = lam
    bands[1, 1:] = -4 * lam
    bands[1, [1, -1]] = -2 * lam
    bands[2] = 6 * lam
    bands[2, [0, -1]] = lam
    bands[2, [1, -2]] = 5 * lam
    clip = CLIP_SIGMA * _noise_rms(y)
    weights = np.ones(n)
    for _ in range(CLIP_ITERATIONS):
        system = bands.copy()
        system[2] += weights
        background = solveh_banded(system, weights * y)
        keep = (y - background < clip).astype(float)
        if np.array_equal(keep, weights):
            break
        weights = keep
    return background


def _clusters(found: list, tolerance: float, detections: int = MIN_DETECTIONS) -> list[float]:
    """Chain detections sorted by wavelength into modes; keep those seen in ``detections``
    spectra or more."""
    centres: list[float] = []
    found = sorted(found)
    start = 0
    for stop in range(1, len(found) + 1):
        if stop == len(found) or found[stop][0] - found[stop - 1][0] > tolerance:
            group = found[start:stop]
            if len({index for _, (_, index) in group}) >= detections:
                centres.append(float(max(group, key=lambda item: item[1][0])[0]))
            start = stop
    return centres


def measure_modes(
    wavelengths,
    spectra,
    centres_nm,
    resolution_nm: float,
    window_nm: float = FIT_WINDOW_NM,
) -> list[ModeSeries]:
    """Every mode in every spectrum: a Voigt line (Gaussian at the resolution) on a quadratic
    background, in a window of ``window_nm`` cut short of the neighbouring modes.

    The quadratic takes up the PL under the line, curved near its peak. Fits start from the
    spectrum where the mode is brightest and walk outwards, each starting from its neighbour's
    shape, because the line changes (narrows, shifts) gradually along a pump series.
    """
    wl = np.asarray(wavelengths, dtype=float)
    spectra = np.atleast_2d(np.asarray(spectra, dtype=float))
    centres = np.sort(np.asarray(centres_nm, dtype=float))
    modes = []
    for centre in centres:
        others = np.abs(centres[centres != centre] - centre)
        half = min([window_nm / 2, *(EDGE_MARGIN * others)])
        inside = np.abs(wl - centre) <= half
        if inside.sum() < MIN_WINDOW_PIXELS:
            raise ValueError(
                f"fewer than {MIN_WINDOW_PIXELS} pixels within {half:.3g} nm of the mode at "
                f"{centre:.4g} nm: the modes are too close for this spectrometer"
            )
        fits = _fit_series(wl[inside] - centre, spectra[:, inside], resolution_nm, half)
        modes.append(_series(centre, fits))
    return modes


def _fit_series(x: np.ndarray, spectra: np.ndarray, resolution_nm: float, half: float):
    """_LineFit per spectrum (None where no fit converged).

    A faint line's area is fitted with its shape held at that of the summed faint spectra
    next to it (pump-adjacent, so the cold-cavity width below threshold), or at the nearest
    resolved spectrum's when even the sum is too faint: a shape narrower than the line would
    lose its wings to the background and bias the faint end of the S-curve low.
    """
    strength = np.ptp(gaussian_filter1d(spectra, 2.0, axis=1), axis=1)
    brightest = int(np.argmax(strength))
    n = spectra.shape[0]
    fits: list[_LineFit | None] = [None] * n
    order = [*range(brightest, n), *range(brightest - 1, -1, -1)]
    for k in order:
        neighbour = fits[k - 1] if k > brightest else fits[k + 1] if k < brightest else None
        shape = _first_shape(x, spectra[k], resolution_nm) if neighbour is None else neighbour
        fits[k] = _free_fit(x, spectra[k], resolution_nm, half, shape)
    resolved = [k for k, fit in enumerate(fits) if fit is not None and fit.resolved]
    if not resolved:
        return fits
    for run in _runs([k for k in range(n) if k not in resolved]):
        nearest = fits[min(resolved, key=lambda j: min(abs(j - run[0]), abs(j - run[-1])))]
        pooled = _free_fit(x, spectra[run].sum(axis=0), resolution_nm, half, nearest)
        shape = pooled if pooled is not None and pooled.resolved else nearest
        for k in run:
            fits[k] = _fixed_shape_fit(x, spectra[k], resolution_nm, shape)
    return fits


def _runs(indices: list[int]) -> list[list[int]]:
    """Consecutive stretches of a sorted index list."""
    runs: list[list[int]] = []
    for k in indices:
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def _first_shape(x: np.ndarray, y: np.ndarray, resolution_nm: float) -> _LineFit:
    """Start for the brightest spectrum: centred, width from the half-maximum crossings."""
    measured = fwhm_nm(x, y - np.percentile(y, 10))
    width = lorentzian_fwhm(measured, resolution_nm) if np.isfinite(measured) else resolution_nm
    nan = float("nan")
    return _LineFit(0.0, nan, max(width, 0.1 * resolution_nm, 1e-3), nan, nan, nan)


def _design(x, resolution_nm, shift, fwhm) -> np.ndarray:
    """Columns of the linear part: unit-area line, then the quadratic background."""
    line = voigt_line(x, shift, fwhm, 1.0, resolution_nm)
    return np.column_stack([line, np.ones_like(x), x, x * x])


def _fixed_shape_fit(x, y, resolution_nm: float, shape: _LineFit) -> _LineFit:
    """Area (and background) with the line's centre and width held: a linear fit, so it works
    at any signal, negative areas included (they are noise, kept unbiased)."""
    design = _design(x, resolution_nm, shape.shift, shape.fwhm)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = design @ coef - y
    cov = np.linalg.pinv(design.T @ design) * float(resid @ resid) / (x.size - design.shape[1])
    nan = float("nan")
    return _LineFit(nan, nan, nan, nan, float(coef[0]), float(np.sqrt(cov[0, 0])))


def _free_fit(x, y, resolution_nm: float, half: float, shape: _LineFit) -> _LineFit | None:
    """Voigt fit with free centre (within a quarter window), Lorentzian FWHM and area."""

    def model(x, shift, fwhm, *linear):
        return _design(x, resolution_nm, shift, fwhm) @ np.asarray(linear)

    shift0 = float(np.clip(shape.shift, -half / 4, half / 4))
    fwhm0 = float(np.clip(shape.fwhm, 1e-4, half))
    coef, *_ = np.linalg.lstsq(_design(x, resolution_nm, shift0, fwhm0), y, rcond=None)
    p0 = [shift0, fwhm0, *coef]
    lower = [-half / 4, 0.0, -np.inf, -np.inf, -np.inf, -np.inf]
    upper = [half / 4, half, np.inf, np.inf, np.inf, np.inf]
    try:
        popt, pcov = curve_fit(model, x, y, p0=p0, bounds=(lower, upper))
    except (RuntimeError, ValueError):
        return None
    err = np.sqrt(np.diag(pcov))
    if not np.all(np.isfinite(err[:3])):
        return None
    return _LineFit(*(float(v) for pair in zip(popt[:3], err[:3], strict=True) for v in pair))


def _series(centre: float, fits: list[_LineFit | None]) -> ModeSeries:
    def column(name: str, offset: float = 0.0) -> np.ndarray:
        return np.array([np.nan if f is None else getattr(f, name) + offset for f in fits])

    return ModeSeries(
        centre_nm=float(centre),
        intensity=column("area"),
        intensity_err=column("area_err"),
        wavelength_nm=column("shift", centre),
        wavelength_err_nm=column("shift_err"),
        fwhm_nm=column("fwhm"),
        fwhm_err_nm=column("fwhm_err"),
    )


def mode_thresholds(
    pump,
    mode: ModeSeries,
    units: str,
    pump_profile: str = "flat",
    n_bootstrap: int = 100,
    seed: int | None = 0,
    pulse_per_lifetime: float | None = None,
    pump_rel_err: float = PUMP_ERROR,
) -> tuple[dict[str, ThresholdResult], dict[str, str]]:
    """({method: result} for the methods that ran, {method: why not} for the others).

    The rate-equation fit uses every point with a positive area and weighs it by its fitted
    area error and its pump error ``pump_rel_err`` (relative, which the line fit cannot see)
    times the curve's local log-log slope: pump jitter moves a point along the pump axis, so
    it scatters the steep points near threshold several times more than the others (the
    effective variance of :func:`~qslab.analysis.threshold.fit_s_curve`). If the fit finds no
    kink the mode does not lase in this range and no other method is run: a straight-line
    split or a sigmoid would always return some number.
    """
    x = np.asarray(pump, dtype=float)
    y, y_err = mode.intensity, mode.intensity_err
    positive = np.isfinite(y) & (y > 0)
    model = rate_equation_model(pump_profile, pulse_per_lifetime)
    try:
        primary = fit_s_curve(
            model,
            x[positive],
            y[positive],
            y_err[positive],
            n_bootstrap,
            seed,
            units,
            x_rel_err=pump_rel_err,
        )
    except NoThresholdError as exc:
        return {}, {method: f"not lasing: {exc}" for method in METHODS}
    except ValueError as exc:
        primary = exc
    clear = positive & (y > DETECTED_SNR * y_err)
    methods = {
        "linear": lambda: _linear_intercept(x[positive], y[positive], units, n_bootstrap, seed),
        "loglog": lambda: threshold_loglog(
            x[clear], y[clear], n_bootstrap=max(n_bootstrap, 2), seed=seed, units=units
        ),
        "linewidth": lambda: _linewidth_midpoint(x, mode.fwhm_nm, units, n_bootstrap, seed),
    }
    results, failures = run_methods(methods)
    if isinstance(primary, ValueError):
        failures["rate_equation"] = str(primary)
    else:
        if pump_profile == PULSED:
            primary.details["pulse_per_lifetime"] = float(pulse_per_lifetime)
        results["rate_equation"] = primary
    return results, failures


def _bootstrap_scatter(values: list[float], n_bootstrap: int, fallback: float) -> float:
    """Standard deviation of the refits, or ``fallback`` when most resamples failed."""
    if len(values) < max(2, n_bootstrap / 2):
        return float(fallback)
    return float(np.std(values, ddof=1))


def _linear_intercept(x, y, units: str, n_bootstrap: int, seed) -> ThresholdResult:
    """Method 1: where the straight line through the above-threshold branch crosses zero.

    The branch is the one :func:`threshold_linear` splits off; the intersection with the
    below-threshold line is kept in ``details``. Errors (intercept and slope) are pairs-
    bootstrap scatters.
    """

    def run(xs, ys):
        return threshold_linear(xs, ys, units=units)

    fit = run(x, y)
    d = fit.details
    intercept = d["x_intercept_above"]
    if not 0 < intercept < x.max():
        raise ValueError(
            f"the above-threshold line crosses zero at {intercept:.3g} {units}, outside the "
            "measured range: the upper branch is not linear yet, extend the range upward"
        )
    refits = pairs_bootstrap(run, x, y, n_bootstrap, seed)
    details = {
        "slope_above": d["slope_above"],
        "slope_above_err": _bootstrap_scatter(
            [r.details["slope_above"] for r in refits], n_bootstrap, np.nan
        ),
        "slope_below": d["slope_below"],
        "intersection": fit.value,
        "intersection_err": fit.error,
        "error_analytic": d["x_intercept_above_err"],
        "n_above": d["n_above"],
    }
    intercepts = [r.details["x_intercept_above"] for r in refits]
    error = _bootstrap_scatter(intercepts, n_bootstrap, d["x_intercept_above_err"])
    return ThresholdResult(float(intercept), error, units, "linear_x_intercept", details)


def _linewidth_midpoint(x, fwhm, units: str, n_bootstrap: int, seed) -> ThresholdResult:
    """Method 3, the sigmoid midpoint of the deconvolved FWHM, with a pairs-bootstrap error."""

    def run(xs, ws):
        return threshold_linewidth(xs, ws, units=units)

    fit = run(x, fwhm)
    refits = pairs_bootstrap(run, x, fwhm, n_bootstrap, seed)
    error = _bootstrap_scatter([r.value for r in refits], n_bootstrap, fit.error)
    details = {**fit.details, "error_covariance": fit.error}
    return ThresholdResult(fit.value, error, units, fit.method, details)


def analyse_lasing(
    pump,
    pump_units: str,
    wavelengths,
    spectra,
    resolution_nm: float,
    pump_profile: str = "flat",
    intensity_units: str = "counts",
    n_bootstrap: int = 100,
    seed: int | None = 0,
    min_snr: float = MIN_SNR,
    max_linewidth_nm: float = MAX_LINEWIDTH_NM,
    order: int = 1,
    pulse_per_lifetime: float | None = None,
) -> dict[str, dict[str, Any]]:
    """``{name: {value, error, units, method, ...}}`` for the run's analysis group.

    Main-mode keys: ``lasing_threshold`` (the rate-equation fit, in ``pump_units``), the four
    methods as ``lasing_threshold_<method>``, ``beta``, ``linewidth_nm`` (narrowest
    deconvolved FWHM above threshold), ``slope_efficiency`` (above-threshold slope of the line
    area, ``intensity_units``*nm per pump unit), ``linewidth_narrowing`` (median FWHM below
    threshold / median FWHM from twice threshold up) and ``lasing_wavelength``; ``n_modes``;
    and the same per mode as ``mode<k>_threshold``, ``mode<k>_threshold_<method>``,
    ``mode<k>_beta``, ``mode<k>_linewidth_nm``, ``mode<k>_slope_efficiency``,
    ``mode<k>_linewidth_narrowing``, ``mode<k>_wavelength``, plus the per-point arrays
    ``mode<k>_intensity`` and ``mode<k>_fwhm_nm`` in the order the points were given.

    Mode 1 is the main mode: lasing modes first, then by peak intensity. What cannot be
    determined is NaN with a ``note`` saying why. ``n_bootstrap`` and ``seed`` make every
    bootstrap error deterministic.

    ``order`` is the number of pump photons per excitation (2 under two-photon pumping): the
    model and every method then work on the excitation, pump**order, whose S-curve is the
    rate equation's, and each threshold's value and error are brought back to the pump axis
    (its other entries stay on the excitation axis, whose units ``excitation_units`` names).

    ``pump_profile="pulsed"`` (ns pumping) fits the rate equations integrated through a
    Gaussian pulse of FWHM ``pulse_per_lifetime`` gain lifetimes (:func:`mode_curve_pulsed`).
    """
    rate_equation_model(pump_profile, pulse_per_lifetime)  # refuse a bad choice before fitting
    pump, wl, spectra = _validated(pump, wavelengths, spectra, resolution_nm)
    if order < 1:
        raise ValueError(f"order must be 1 or more, got {order}")
    sort = np.argsort(pump, kind="stable")
    excitation, spectra = pump[sort] ** order, spectra[sort]
    centres = find_modes(wl, spectra, resolution_nm, min_snr, max_linewidth_nm)
    units = _Units(pump_units if order == 1 else f"({pump_units})^{order}", intensity_units)
    profile = (pump_profile, pulse_per_lifetime, order * PUMP_ERROR)
    per_mode = [
        _mode_results(excitation, mode, units, profile, n_bootstrap, seed, sort)
        for mode in measure_modes(wl, spectra, centres, resolution_nm)
    ]
    per_mode.sort(key=lambda r: (not np.isfinite(r["threshold"]["value"]), -r["_peak"]))
    results: dict[str, dict[str, Any]] = {
        "n_modes": _quantity(len(per_mode), 0, "", "find_modes", min_snr=min_snr)
    }
    for k, mode in enumerate(per_mode, start=1):
        results.update({f"mode{k}_{key}": v for key, v in mode.items() if key != "_peak"})
    main = per_mode[0] if per_mode else _no_mode(units, min_snr, max_linewidth_nm)
    results.update({MAIN_KEYS[key]: main[key] for key in MAIN_KEYS})
    if not np.isfinite(main["threshold"]["value"]):
        why = main["threshold"]["note"]
        results["lasing_wavelength"] = _quantity(np.nan, np.nan, "nm", "voigt_centre", why)
    return results if order == 1 else _on_pump_axis(results, order, pump_units, units.pump)


def _on_pump_axis(results, order: int, pump_units: str, excitation_units: str):
    """Thresholds fitted on the excitation axis (pump**order) back on the pump axis."""
    out = {}
    for name, entry in results.items():
        if entry["units"] == excitation_units:
            value = entry["value"] ** (1.0 / order)
            error = value * entry["error"] / (order * entry["value"])
            entry = {**entry, "value": value, "error": error, "units": pump_units}
            entry["excitation_units"] = excitation_units
        if "pump" in entry:  # the pump of a point, not a fitted quantity
            entry = {**entry, "pump": entry["pump"] ** (1.0 / order)}
        out[name] = entry
    return out


# per-mode key -> main-mode key
MAIN_KEYS = {
    "threshold": "lasing_threshold",
    **{f"threshold_{m}": f"lasing_threshold_{m}" for m in METHODS},
    "beta": "beta",
    "linewidth_nm": "linewidth_nm",
    "slope_efficiency": "slope_efficiency",
    "linewidth_narrowing": "linewidth_narrowing",
    "wavelength": "lasing_wavelength",
}


@dataclass(frozen=True)
class _Units:
    pump: str
    intensity: str

    @property
    def area(self) -> str:
        return f"{self.intensity}*nm"

    @property
    def slope(self) -> str:
        return f"{self.area}/({self.pump})"


def _validated(pump, wavelengths, spectra, resolution_nm):
    pump = np.asarray(pump, dtype=float).ravel()
    wl = np.asarray(wavelengths, dtype=float).ravel()
    spectra = np.atleast_2d(np.asarray(spectra, dtype=float))
    if spectra.shape != (pump.size, wl.size):
        raise ValueError(
            f"spectra must be (points, pixels) = ({pump.size}, {wl.size}), got {spectra.shape}"
        )
    if not (np.all(np.isfinite(pump)) and np.all(pump > 0)):
        raise ValueError("pump must be finite and > 0 at every point")
    if wl.size < MIN_WINDOW_PIXELS or not np.all(np.diff(wl) > 0):
        raise ValueError("the wavelength axis must be strictly ascending, 12 pixels or more")
    if not np.all(np.isfinite(spectra)):
        raise ValueError("spectra hold NaN or inf: mask saturated pixels before the analysis")
    if not (np.isfinite(resolution_nm) and resolution_nm >= 0):
        raise ValueError(f"resolution_nm must be finite and >= 0, got {resolution_nm}")
    return pump, wl, spectra


def _mode_results(pump, mode: ModeSeries, units: _Units, profile, n_bootstrap, seed, order):
    """Every per-mode entry (keys without the ``mode<k>_`` prefix); ``profile`` is (pump
    profile, pulse per lifetime, relative error of the excitation pump**order)."""
    thresholds, failures = mode_thresholds(
        pump, mode, units.pump, profile[0], n_bootstrap, seed, profile[1], profile[2]
    )

    out: dict[str, Any] = {}
    for name in METHODS:
        if name in thresholds:
            out[f"threshold_{name}"] = thresholds[name].as_dict()
        else:
            out[f"threshold_{name}"] = _quantity(np.nan, np.nan, units.pump, name, failures[name])
    out["threshold"] = out["threshold_rate_equation"]
    p_th = out["threshold"]["value"]
    out["beta"] = _beta(thresholds.get("rate_equation"), failures.get("rate_equation"))
    out["linewidth_nm"] = _narrowest_above(pump, mode, p_th)
    out["slope_efficiency"] = _slope_efficiency(thresholds.get("linear"), failures, units)
    out["linewidth_narrowing"] = _narrowing(pump, mode, p_th)
    out["wavelength"] = _wavelength(mode)
    unsort = np.argsort(order)
    out["intensity"] = _quantity(
        mode.intensity[unsort], mode.intensity_err[unsort], units.area, "voigt_line_area"
    )
    out["fwhm_nm"] = _quantity(
        mode.fwhm_nm[unsort], mode.fwhm_err_nm[unsort], "nm", "voigt_lorentzian_fwhm"
    )
    out["_peak"] = float(np.nanmax(mode.intensity, initial=-np.inf))
    return out


def _beta(primary: ThresholdResult | None, why: str | None) -> dict[str, Any]:
    if primary is None:
        return _quantity(np.nan, np.nan, "", "rate_equation", why)
    d = primary.details
    return _quantity(d["beta"], d["beta_err"], "", primary.method)


def _narrowest_above(pump, mode: ModeSeries, p_th: float) -> dict[str, Any]:
    method = "voigt_lorentzian_fwhm_narrowest_above_threshold"
    above = (pump > p_th) & np.isfinite(mode.fwhm_nm)
    if not above.any():
        why = "no threshold" if not np.isfinite(p_th) else "no line resolved above threshold"
        return _quantity(np.nan, np.nan, "nm", method, why)
    i = int(np.flatnonzero(above)[np.argmin(mode.fwhm_nm[above])])
    return _quantity(mode.fwhm_nm[i], mode.fwhm_err_nm[i], "nm", method, pump=float(pump[i]))


def _slope_efficiency(linear: ThresholdResult | None, failures, units: _Units) -> dict[str, Any]:
    method = "linear_above_threshold"
    if linear is None:
        return _quantity(np.nan, np.nan, units.slope, method, failures["linear"])
    d = linear.details
    return _quantity(d["slope_above"], d["slope_above_err"], units.slope, method)


def _narrowing(pump, mode: ModeSeries, p_th: float) -> dict[str, Any]:
    """Median FWHM below threshold over median FWHM from :data:`WELL_ABOVE` x threshold up."""
    method = "median_fwhm_below / median_fwhm_above"
    if not np.isfinite(p_th):
        return _quantity(np.nan, np.nan, "", method, "no threshold")
    measured = np.isfinite(mode.fwhm_nm)
    below = measured & (pump < p_th)
    above = measured & (pump >= WELL_ABOVE * p_th)
    if not (below.any() and above.any()):
        side = "below threshold" if not below.any() else f"above {WELL_ABOVE:g}x threshold"
        return _quantity(np.nan, np.nan, "", method, f"no linewidth measured {side}")
    w_below, e_below = _median_with_error(mode.fwhm_nm[below], mode.fwhm_err_nm[below])
    w_above, e_above = _median_with_error(mode.fwhm_nm[above], mode.fwhm_err_nm[above])
    value = w_below / w_above
    error = value * np.hypot(e_below / w_below, e_above / w_above)
    return _quantity(value, error, "", method, below_nm=w_below, above_nm=w_above)


def _median_with_error(values: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """Median and its standard error (1.25 sigma / sqrt(n) from the scatter of 3 or more
    values, from the fit errors of fewer)."""
    if values.size >= 3:
        return float(np.median(values)), float(
            1.2533 * np.std(values, ddof=1) / np.sqrt(values.size)
        )
    return float(np.median(values)), float(np.sqrt(np.sum(errors**2)) / values.size)


def _wavelength(mode: ModeSeries) -> dict[str, Any]:
    """Centre where the mode is brightest."""
    if not np.isfinite(mode.intensity).any():
        return _quantity(np.nan, np.nan, "nm", "voigt_centre", "the line fit failed everywhere")
    i = int(np.nanargmax(mode.intensity))
    centre, error = mode.wavelength_nm[i], mode.wavelength_err_nm[i]
    return _quantity(centre, error, "nm", "voigt_centre_at_brightest")


def _no_mode(units: _Units, min_snr: float, max_linewidth_nm: float) -> dict[str, Any]:
    """The main-mode entries when no mode was found."""
    why = (
        f"no line narrower than {max_linewidth_nm:g} nm stands {min_snr:g} sigma above the PL "
        f"in {MIN_DETECTIONS} or more spectra: nothing lases in this range"
    )
    unit_of = {"beta": "", "linewidth_narrowing": "", "slope_efficiency": units.slope}
    unit_of |= {"linewidth_nm": "nm", "wavelength": "nm"}
    return {
        key: _quantity(np.nan, np.nan, unit_of.get(key, units.pump), "find_modes", why)
        for key in MAIN_KEYS
    }


def _quantity(value, error, units: str, method: str, note: str | None = None, **extras):
    """One analysis entry; ``note`` says why a NaN value could not be determined."""
    out = {"value": _plain(value), "error": _plain(error), "units": units, "method": method}
    if note is not None:
        out["note"] = note
    return {**out, **{key: _plain(v) for key, v in extras.items()}}


def _plain(value):
    """Python numbers for scalars (JSON- and HDF5-friendly), float arrays for series."""
    if isinstance(value, int | np.integer):
        return int(value)
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array
