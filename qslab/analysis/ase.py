"""The analysis of one ASE series: thresholds by every method, the X and XX lines, their
splitting. Used at the end of a run and by anyone re-analysing a file."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.spectra import fit_gaussian_peak
from qslab.analysis.threshold import all_thresholds

log = logging.getLogger(__name__)

PRIMARY_ORDER = ("rate_equation", "linear", "loglog", "linewidth")
LOW_FLUENCE_SPECTRA = 3
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
    for name, why in failures.items():
        log.warning("ASE threshold by %s not determined: %s", name, why)
    for name, result in thresholds.items():
        results[f"ase_threshold_{name}"] = result.as_dict()
    primary = next((m for m in PRIMARY_ORDER if m in thresholds), None)
    if primary is not None:
        results["ase_threshold"] = thresholds[primary].as_dict()
    if "rate_equation" in thresholds:
        details = thresholds["rate_equation"].details
        if "beta" in details:
            results["ase_beta"] = {
                "value": details["beta"],
                "error": details.get("beta_err", float("nan")),
                "units": "",
                "method": "rate_equation",
            }
    results.update(_lines(wavelengths, spectra))
    return results


def _lines(wavelengths: np.ndarray, spectra: np.ndarray) -> dict[str, dict[str, Any]]:
    """X line from the faintest spectra, XX (ASE) line from the brightest, and the splitting."""
    out: dict[str, dict[str, Any]] = {}
    low = spectra[:LOW_FLUENCE_SPECTRA]
    peaks = np.max(low, axis=1, keepdims=True)
    try:
        x_fit = fit_gaussian_peak(wavelengths, np.mean(low / np.where(peaks > 0, peaks, 1), 0))
    except ValueError as exc:
        log.warning("exciton line not determined: %s", exc)
        return out
    out["x_peak"] = _line(x_fit.center_nm, x_fit.center_err_nm, "nm", "gaussian_low_fluence")
    out["x_linewidth"] = _line(x_fit.fwhm_nm, x_fit.fwhm_err_nm, "nm", "gaussian_low_fluence")
    try:
        xx_fit = fit_gaussian_peak(wavelengths, spectra[-1])
    except ValueError as exc:
        log.warning("biexciton ASE line not determined: %s", exc)
        return out
    if xx_fit.fwhm_nm > ASE_NARROWING * x_fit.fwhm_nm:
        log.warning(
            "no ASE line at the highest fluence (%.1f nm wide, spontaneous %.1f nm): extend "
            "the fluence range upward to measure the XX line",
            xx_fit.fwhm_nm,
            x_fit.fwhm_nm,
        )
        return out
    out["xx_peak"] = _line(xx_fit.center_nm, xx_fit.center_err_nm, "nm", "gaussian_ase_line")
    out["ase_linewidth"] = _line(xx_fit.fwhm_nm, xx_fit.fwhm_err_nm, "nm", "gaussian_ase_line")
    splitting = fl.splitting_mev(xx_fit.center_nm, x_fit.center_nm)
    error = (
        np.hypot(
            fl.photon_energy_ev(xx_fit.center_nm) / xx_fit.center_nm * xx_fit.center_err_nm,
            fl.photon_energy_ev(x_fit.center_nm) / x_fit.center_nm * x_fit.center_err_nm,
        )
        * 1e3
    )
    out["xx_x_splitting"] = _line(splitting, float(error), "meV", "xx_peak - x_peak")
    return out


def _line(value: float, error: float, units: str, method: str) -> dict[str, Any]:
    return {"value": float(value), "error": float(error), "units": units, "method": method}
