"""Spectral helpers recover the line parameters that synthetic spectra were built with."""

import math
import time

import numpy as np
import pytest

from qslab.analysis.fluence import ev_to_nm, photon_energy_ev, splitting_mev
from qslab.analysis.spectra import fit_gaussian_peak, fwhm_nm, integrate, peak_wavelength

FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
# a spectrometer axis is a calibration polynomial of the pixel index, not a linspace
PIXELS = np.arange(2048)
WAVELENGTHS = 550.0 + 0.1 * PIXELS - 2e-6 * PIXELS**2


def line(center_nm, fwhm, height, wl=WAVELENGTHS):
    return height * np.exp(-0.5 * ((wl - center_nm) / (fwhm / FWHM_PER_SIGMA)) ** 2)


def pixel_nm(center_nm):
    return float(np.interp(center_nm, WAVELENGTHS, np.gradient(WAVELENGTHS)))


def test_integral_of_a_gaussian_is_its_area():
    spectrum = line(650.0, 20.0, 3.0)
    assert integrate(WAVELENGTHS, spectrum) == pytest.approx(
        3.0 * 20.0 / FWHM_PER_SIGMA * math.sqrt(2 * math.pi)
    )


def test_band_integrals_add_up_when_edges_fall_between_pixels():
    spectrum = line(650.0, 20.0, 3.0) + 0.1
    lo, mid, hi = 600.03, 652.517, 700.091
    parts = integrate(WAVELENGTHS, spectrum, (lo, mid)) + integrate(
        WAVELENGTHS, spectrum, (mid, hi)
    )
    assert parts == pytest.approx(integrate(WAVELENGTHS, spectrum, (lo, hi)), rel=1e-12)
    # a flat 0.1 over a 1-nm band that starts mid-pixel integrates to 0.1
    assert integrate(WAVELENGTHS, np.full(2048, 0.1), (600.037, 601.037)) == pytest.approx(0.1)


def test_band_outside_the_axis_is_rejected():
    with pytest.raises(ValueError, match="does not overlap"):
        integrate(WAVELENGTHS, np.ones(2048), (300.0, 400.0))


@pytest.mark.parametrize("fwhm", [30.0, 6.0, 0.5])
def test_peak_wavelength_within_a_fraction_of_a_pixel(fwhm):
    center = 663.37
    rng = np.random.default_rng(1)
    errors = [
        peak_wavelength(WAVELENGTHS, line(center, fwhm, 1000.0) + rng.normal(0, 20, 2048)) - center
        for _ in range(20)
    ]
    errors_px = np.array(errors) / pixel_nm(center)
    assert abs(errors_px.mean()) < 0.2
    assert np.sqrt(np.mean(errors_px**2)) < 0.5


@pytest.mark.parametrize("fwhm, tolerance", [(30.0, 0.03), (6.0, 0.03), (0.5, 0.1)])
def test_fwhm_of_a_noisy_line(fwhm, tolerance):
    rng = np.random.default_rng(2)
    for _ in range(10):
        spectrum = line(655.0, fwhm, 1000.0) + rng.normal(0, 20, 2048)
        assert fwhm_nm(WAVELENGTHS, spectrum) == pytest.approx(fwhm, rel=tolerance)


def test_no_signal_gives_nan():
    noise = np.random.default_rng(3).normal(0, 20, 2048)
    for spectrum in (noise, np.zeros(2048)):
        assert math.isnan(peak_wavelength(WAVELENGTHS, spectrum))
        assert math.isnan(fwhm_nm(WAVELENGTHS, spectrum))


def test_fwhm_is_undefined_when_the_line_runs_off_the_axis():
    spectrum = line(WAVELENGTHS[-1] - 5.0, 30.0, 1000.0)
    assert math.isnan(fwhm_nm(WAVELENGTHS, spectrum))
    assert peak_wavelength(WAVELENGTHS, spectrum) == pytest.approx(WAVELENGTHS[-1] - 5, abs=0.2)


def test_per_point_helpers_are_fast():
    spectrum = line(660.0, 30.0, 1000.0) + np.random.default_rng(4).normal(0, 20, 2048)
    start = time.perf_counter()
    for _ in range(200):
        integrate(WAVELENGTHS, spectrum)
        peak_wavelength(WAVELENGTHS, spectrum)
        fwhm_nm(WAVELENGTHS, spectrum)
    assert (time.perf_counter() - start) / 200 < 2e-3


def test_gaussian_fit_gives_the_biexciton_splitting():
    """X from a low-fluence PL spectrum, XX from a high-fluence ASE spectrum on the PL band."""
    x_nm = 670.0
    xx_nm = ev_to_nm(photon_energy_ev(x_nm) + 0.063)
    rng = np.random.default_rng(5)
    low = line(x_nm, 30.0, 200.0) + rng.normal(0, 5, 2048)
    high = line(x_nm, 30.0, 1000.0) + line(xx_nm, 6.0, 3000.0) + rng.normal(0, 20, 2048)
    x_fit, xx_fit = fit_gaussian_peak(WAVELENGTHS, low), fit_gaussian_peak(WAVELENGTHS, high)
    assert abs(x_fit.center_nm - x_nm) < 4 * x_fit.center_err_nm
    assert abs(xx_fit.center_nm - xx_nm) < 0.05
    assert x_fit.fwhm_nm == pytest.approx(30.0, rel=0.02)
    assert xx_fit.fwhm_nm == pytest.approx(6.0, rel=0.05)
    assert splitting_mev(xx_fit.center_nm, x_fit.center_nm) == pytest.approx(63.0, abs=1.0)


def test_gaussian_fit_separates_two_lines_in_one_spectrum():
    rng = np.random.default_rng(6)
    spectrum = line(610.0, 8.0, 500.0) + line(690.0, 20.0, 800.0) + rng.normal(0, 10, 2048)
    for center, fwhm in ((610.0, 8.0), (690.0, 20.0)):
        fit = fit_gaussian_peak(WAVELENGTHS, spectrum, around_nm=center + 1.0, window_nm=3 * fwhm)
        assert abs(fit.center_nm - center) < 4 * fit.center_err_nm
        assert abs(fit.fwhm_nm - fwhm) < 4 * fit.fwhm_err_nm
        assert fit.fwhm_nm == pytest.approx(fwhm, rel=0.03)
        assert fit.as_dict()["fwhm_nm"] == fit.fwhm_nm


def test_gaussian_fit_without_a_peak_asks_for_a_window():
    with pytest.raises(ValueError, match="window_nm"):
        fit_gaussian_peak(WAVELENGTHS, np.zeros(2048))
