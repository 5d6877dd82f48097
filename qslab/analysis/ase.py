"""The analysis of one ASE series: thresholds by every method, the X and XX lines, their
splitting. Used at the end of a run and by anyone re-analysing a file."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.optimize import curve_fit

from qslab.analysis import fluence as fl
from qslab.analysis.spectra import FWHM_PER_SIGMA, fit_gaussian_peak, gaussian
from qslab.analysis.threshold import FLUENCE_UNITS, all_thresholds

log = logging.getLogger(__name__)

PRIMARY_ORDER = ("rate_equation", "linear", "loglog", "linewidth")
LOW_FLUENCE_SPECTRA = 3
BROAD_FRACTION = 0.7  # spectra this close to the widest are spontaneous: the X line is there
ASE_NARROWING = 0.5  # an ASE line is at most this fraction of the spontaneous linewidth


def analyse_ase(
    fluence: np.ndarray,
    integrated: np.ndarray,
    fwhm: np.ndarray,
    wavelengths: np.ndarray,
    spectra: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """``{name: {value, error, units, method, ...}}`` for the run's analysis group.

    ``ase_threshold`` is the first method of :data:`PRIMARY_ORDER` that could run; every method
    that ran is also stored under ``ase_threshold_<method>``. What cannot be determined is
    logged with the reason and left out rather than stored as a number that means nothing.
    """
    order = np.argsort(fluence, kind="stable")
    fluence, integrated, fwhm = fluence[order], integrated[order], fwhm[order]
    spectra = spectra[order]
    results: dict[str, dict[str, Any]] = {}

    finite = np.isfinite(fwhm)
    thresholds, failures = all_thresholds(fluence, integrated, fwhm if finite.sum() >= 5 else None)
    primary = next((m for m in PRIMARY_ORDER if m in thresholds), None)
    if primary is not None:
        results["ase_threshold"] = thresholds[primary].as_dict()
    for name in PRIMARY_ORDER:
        if name in thresholds:
            results[f"ase_threshold_{name}"] = thresholds[name].as_dict()
        elif name in failures:
            log.info("ASE threshold by %s not determined: %s", name, failures[name])
            results[f"ase_threshold_{name}"] = _undetermined(FLUENCE_UNITS, name, failures[name])
    if "rate_equation" in thresholds:
        details = thresholds["rate_equation"].details
        if "beta" in details:
            results["ase_beta"] = {
                "value": details["beta"],
                "error": details.get("beta_err", float("nan")),
                "units": "",
                "method": "rate_equation",
            }
    results.update(_lines(wavelengths, spectra, fwhm))
    return results


def _lines(
    wavelengths: np.ndarray, spectra: np.ndarray, fwhm: np.ndarray
) -> dict[str, dict[str, Any]]:
    """XX (ASE) line from the brightest spectrum, X line from the faintest, and the splitting.

    The X line is read from the faintest spectra that still have the spontaneous width. They
    hold spontaneous XX emission too, which pulls a single-Gaussian X fit to
    the blue; so the X line is fitted beside a band of the same width at the measured XX line.
    """
    out: dict[str, dict[str, Any]] = {}
    broad = np.isfinite(fwhm) & (fwhm > BROAD_FRACTION * np.nanmax(fwhm, initial=0.0))
    if not broad.any():
        log.warning("exciton line not determined: no spectrum with a spontaneous linewidth")
        return out
    low = spectra[broad][:LOW_FLUENCE_SPECTRA]
    peaks = np.max(low, axis=1, keepdims=True)
    faint = np.mean(low / np.where(peaks > 0, peaks, 1), axis=0)
    try:
        x_alone = fit_gaussian_peak(wavelengths, faint)
    except ValueError as exc:
        log.warning("exciton line not determined: %s", exc)
        return out
    xx_fit = _ase_line(wavelengths, spectra[-1], x_alone.fwhm_nm)
    if xx_fit is None:
        out["x_peak"] = _line(x_alone.center_nm, x_alone.center_err_nm, "nm", "gaussian")
        out["x_linewidth"] = _line(x_alone.fwhm_nm, x_alone.fwhm_err_nm, "nm", "gaussian")
        return out
    centre, centre_err, fwhm, fwhm_err = _exciton_beside(
        wavelengths, faint, x_alone, xx_fit.center_nm
    )
    out["x_peak"] = _line(centre, centre_err, "nm", "gaussian_beside_xx")
    out["x_linewidth"] = _line(fwhm, fwhm_err, "nm", "gaussian_beside_xx")
    out["xx_peak"] = _line(xx_fit.center_nm, xx_fit.center_err_nm, "nm", "gaussian_ase_line")
    out["ase_linewidth"] = _line(xx_fit.fwhm_nm, xx_fit.fwhm_err_nm, "nm", "gaussian_ase_line")
    splitting = fl.splitting_mev(xx_fit.center_nm, centre)
    error = (
        np.hypot(
            fl.photon_energy_ev(xx_fit.center_nm) / xx_fit.center_nm * xx_fit.center_err_nm,
            fl.photon_energy_ev(centre) / centre * centre_err,
        )
        * 1e3
    )
    out["xx_x_splitting"] = _line(splitting, float(error), "meV", "xx_peak - x_peak")
    return out


def _ase_line(wavelengths: np.ndarray, brightest: np.ndarray, spontaneous_fwhm: float):
    """The narrow ASE line of the brightest spectrum, or None (with the reason logged)."""
    try:
        fit = fit_gaussian_peak(wavelengths, brightest)
    except ValueError as exc:
        log.warning("biexciton ASE line not determined: %s", exc)
        return None
    if fit.fwhm_nm > ASE_NARROWING * spontaneous_fwhm:
        log.warning(
            "no ASE line at the highest fluence (%.1f nm wide, spontaneous %.1f nm): extend "
            "the fluence range upward to measure the XX line",
            fit.fwhm_nm,
            spontaneous_fwhm,
        )
        return None
    return fit


def _exciton_beside(wavelengths, spectrum, first, xx_nm: float):
    """X centre and FWHM (with errors) from X + XX Gaussians of one width, XX held at xx_nm."""

    def model(wl, centre, sigma, a_x, a_xx, offset):
        return gaussian(wl, centre, sigma, a_x, offset) + gaussian(wl, xx_nm, sigma, a_xx)

    p0 = [first.center_nm, first.sigma_nm, first.amplitude, 0.1 * first.amplitude, 0.0]
    try:
        popt, pcov = curve_fit(model, wavelengths, spectrum, p0=p0, maxfev=4000)
    except RuntimeError as exc:
        log.warning("X + XX fit did not converge (%s); single-line X fit kept", exc)
        return first.center_nm, first.center_err_nm, first.fwhm_nm, first.fwhm_err_nm
    err = np.sqrt(np.diag(pcov))
    return (
        float(popt[0]),
        float(err[0]),
        float(FWHM_PER_SIGMA * abs(popt[1])),
        float(FWHM_PER_SIGMA * err[1]),
    )


def _undetermined(units: str, method: str, why: str) -> dict[str, Any]:
    """A result that could not be had: stored as NaN with the reason, never silently dropped."""
    nan = float("nan")
    return {"value": nan, "error": nan, "units": units, "method": method, "note": why}


def _line(value: float, error: float, units: str, method: str) -> dict[str, Any]:
    return {"value": float(value), "error": float(error), "units": units, "method": method}
