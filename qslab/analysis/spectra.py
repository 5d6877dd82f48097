"""Per-spectrum numbers of an ASE scan: integrated emission, peak position, linewidth, line fits.

Spectra are 1-D background-subtracted arrays on an ascending (possibly non-uniform) wavelength
axis in nm. ``integrate``, ``peak_wavelength`` and ``fwhm_nm`` run once per scan point, at up to
thousands of spectra per second, so they use smoothing and interpolation only; the slower
least-squares ``fit_gaussian_peak`` is for the few spectra that define the X and XX lines.

Smoothing is done in pixel space with a boxcar whose width adapts to the line (about a fifth of
its FWHM): wide enough to beat per-pixel noise on a 30-nm PL band, narrow enough to leave a
sub-nm lasing line intact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import curve_fit

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
MIN_SNR = 5.0
_FIRST_SMOOTH_PX = 5
_MAX_SMOOTH_PX = 51


@dataclass(frozen=True)
class PeakFit:
    """One Gaussian line with 1-sigma errors, on a linear background.

    The background ``offset + slope * (wavelength - center_nm)`` takes up what background
    subtraction left and the tail of a neighbouring line (the X band under the XX ASE line).
    """

    center_nm: float
    center_err_nm: float
    sigma_nm: float
    sigma_err_nm: float
    amplitude: float
    amplitude_err: float
    offset: float
    offset_err: float
    slope_per_nm: float
    slope_err_per_nm: float

    @property
    def fwhm_nm(self) -> float:
        return float(FWHM_PER_SIGMA * self.sigma_nm)

    @property
    def fwhm_err_nm(self) -> float:
        return float(FWHM_PER_SIGMA * self.sigma_err_nm)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "fwhm_nm": self.fwhm_nm, "fwhm_err_nm": self.fwhm_err_nm}


def integrate(wavelengths_nm, spectrum, band: tuple[float, float] | None = None) -> float:
    """Trapezoid integral of the spectrum (counts x nm), over ``band`` = (lo, hi) nm if given.

    The band is clipped to the axis and its edges are interpolated, so the result varies
    smoothly as a band edge moves across a pixel.
    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    if band is None:
        return float(trapezoid(y, wl))
    lo, hi = max(band[0], wl[0]), min(band[1], wl[-1])
    if lo >= hi:
        raise ValueError(f"band {band} does not overlap the axis {wl[0]:.4g}-{wl[-1]:.4g} nm")
    inside = (wl > lo) & (wl < hi)
    edges = np.interp([lo, hi], wl, y)
    x = np.concatenate(([lo], wl[inside], [hi]))
    v = np.concatenate(([edges[0]], y[inside], [edges[1]]))
    return float(trapezoid(v, x))


def peak_wavelength(wavelengths_nm, spectrum, min_snr: float = MIN_SNR) -> float:
    """Wavelength of the dominant peak, NaN if its height is below ``min_snr`` times the noise.

    The position is the centroid of the smoothed spectrum above half maximum, weighted by the
    height above half maximum: symmetric lines give their centre to a fraction of a pixel, and
    pixels near half maximum (where noise decides what is included) weigh ~0. For a line cut by
    the end of the axis the window is made symmetric about the maximum, so it is not pulled in.
    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    line = _dominant_line(np.asarray(spectrum, dtype=float), min_snr)
    if line is None:
        return float("nan")
    smooth, i_max, _ = line
    half = 0.5 * smooth[i_max]
    lo, hi = _above_region(smooth, i_max, half)
    if lo == 0 or hi == smooth.size:
        reach = min(i_max - lo, hi - 1 - i_max)
        lo, hi = i_max - reach, i_max + reach + 1
    weights = (smooth[lo:hi] - half) * np.gradient(wl)[lo:hi]
    return float(np.dot(weights, wl[lo:hi]) / weights.sum())


def fwhm_nm(wavelengths_nm, spectrum, min_snr: float = MIN_SNR) -> float:
    """FWHM of the dominant peak from interpolated half-maximum crossings.

    NaN when there is no signal or a crossing falls off the axis. The smoothing kernel's width is
    removed in quadrature, which is exact for Gaussian lines; the kernel is at most ~1/5 of the
    line, so for other shapes the bias stays below ~1%. Two lines closer than their widths are
    measured as one.
    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    line = _dominant_line(y, min_snr)
    if line is None:
        return float("nan")
    smooth, i_max, width_px = line
    crossings = _half_max_crossings(smooth, i_max)
    if crossings is None:
        return float("nan")
    left, right = np.interp(crossings, np.arange(y.size), wl)
    nm_per_px = np.gradient(wl)[i_max]
    kernel_var = (width_px**2 - 1) / 12.0 * (FWHM_PER_SIGMA * nm_per_px) ** 2
    return float(np.sqrt(max((right - left) ** 2 - kernel_var, 0.0)))


def fit_gaussian_peak(
    wavelengths_nm,
    spectrum,
    around_nm: float | None = None,
    window_nm: float | None = None,
) -> PeakFit:
    """Least-squares Gaussian on a linear background, over ``window_nm`` around ``around_nm``.

    ``around_nm`` defaults to the dominant peak and ``window_nm`` (full width) to three times
    the dominant line's FWHM, which suits the X line at low fluence and the XX ASE line at high
    fluence. To fit a weaker line next to a stronger one (X beside the ASE line), pass both, with a
    window that stays clear of the other line. Errors are 1 sigma, scaled by the residual scatter.
    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    centre = peak_wavelength(wl, y) if around_nm is None else float(around_nm)
    window = 3.0 * fwhm_nm(wl, y) if window_nm is None else float(window_nm)
    if not (np.isfinite(centre) and np.isfinite(window) and window > 0):
        raise ValueError("no clear peak to fit: pass around_nm and window_nm explicitly")
    inside = np.abs(wl - centre) <= window / 2
    if inside.sum() < 6:
        raise ValueError(f"fewer than 6 pixels within {window:.3g} nm of {centre:.4g} nm")
    return _fit_gaussian(wl[inside], y[inside])


def gaussian(wl, center, sigma, amplitude, offset=0.0, slope=0.0):
    """Line model of :func:`fit_gaussian_peak`: a Gaussian on a linear background."""
    dx = np.asarray(wl) - center
    return offset + slope * dx + amplitude * np.exp(-0.5 * (dx / sigma) ** 2)


def _fit_gaussian(wl: np.ndarray, y: np.ndarray) -> PeakFit:
    smooth = _boxcar(y, _FIRST_SMOOTH_PX)
    i_max = int(np.argmax(smooth))
    offset0 = float(min(np.median(y[:3]), np.median(y[-3:])))
    amplitude0 = max(float(smooth[i_max]) - offset0, np.finfo(float).tiny)
    pitch = float(np.median(np.diff(wl)))
    span = wl[-1] - wl[0]
    above = np.count_nonzero(smooth - offset0 > 0.5 * amplitude0)
    sigma0 = float(np.clip(above * pitch / FWHM_PER_SIGMA, pitch, span / 2))
    p0 = [wl[i_max], sigma0, amplitude0, offset0, 0.0]
    bounds = ([wl[0], pitch / 4, 0.0, -np.inf, -np.inf], [wl[-1], 2 * span] + [np.inf] * 3)
    try:
        popt, pcov = curve_fit(gaussian, wl, y, p0=p0, bounds=bounds)
    except RuntimeError as exc:
        raise ValueError(f"Gaussian fit near {wl[i_max]:.4g} nm did not converge") from exc
    err = np.sqrt(np.diag(pcov))
    # PeakFit takes each parameter followed by its error
    return PeakFit(*(float(v) for pair in zip(popt, err, strict=True) for v in pair))


def _dominant_line(y: np.ndarray, min_snr: float) -> tuple[np.ndarray, int, int] | None:
    """Smoothed spectrum, index of its maximum and smoothing width, or None without signal."""
    noise = _noise_rms(y)
    rough = _boxcar(y, _FIRST_SMOOTH_PX)
    i_rough = int(np.argmax(rough))
    if not rough[i_rough] > min_snr * noise:
        return None
    crossings = _half_max_crossings(rough, i_rough)
    rough_fwhm_px = crossings[1] - crossings[0] if crossings is not None else _FIRST_SMOOTH_PX
    width = int(np.clip(rough_fwhm_px / 5.0, 1, _MAX_SMOOTH_PX)) | 1
    smooth = rough if width == _FIRST_SMOOTH_PX else _boxcar(y, width)
    return smooth, int(np.argmax(smooth)), width


def _noise_rms(y: np.ndarray) -> float:
    """Per-pixel white-noise rms from the median absolute first difference (ignores lines)."""
    return float(1.4826 * np.median(np.abs(np.diff(y))) / np.sqrt(2.0))


def _boxcar(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return y
    return np.convolve(y, np.full(width, 1.0 / width), mode="same")


def _above_region(smooth: np.ndarray, i_max: int, level: float) -> tuple[int, int]:
    """Slice bounds of the contiguous run of pixels above ``level`` that contains ``i_max``."""
    below_left = np.flatnonzero(smooth[:i_max] <= level)
    below_right = np.flatnonzero(smooth[i_max:] <= level)
    lo = below_left[-1] + 1 if below_left.size else 0
    hi = i_max + below_right[0] if below_right.size else smooth.size
    return int(lo), int(hi)


def _half_max_crossings(smooth: np.ndarray, i_max: int) -> tuple[float, float] | None:
    """Fractional pixel positions where the line falls to half maximum, None off the axis."""
    half = 0.5 * smooth[i_max]
    lo, hi = _above_region(smooth, i_max, half)
    if lo == 0 or hi == smooth.size:
        return None
    left = lo - 1 + (half - smooth[lo - 1]) / (smooth[lo] - smooth[lo - 1])
    right = hi - 1 + (smooth[hi - 1] - half) / (smooth[hi - 1] - smooth[hi])
    return float(left), float(right)
