"""The lasing analysis recovers the cavity that synthetic spectrum series were built with.

Spectra are built here from models.py (the bench's truth), never with the fitting code: a 30-nm
Gaussian PL band growing linearly with pump, and on it cavity modes whose line area is the
steady-state rate equation b S(P / P_th; beta) (optionally averaged over a Gaussian spot) and
whose Lorentzian width narrows from the cold-cavity width to the lasing width as the photon
number crosses its threshold value, w = w_las + (w_cold - w_las) / (1 + S^2 / beta); each line is
convolved with the Gaussian instrument function, and every pixel gets Poisson and read noise.
Below threshold the mode peak is ``visibility`` x the local PL at the lowest pump: barely there.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import voigt_profile

from qslab.analysis.lasing import (
    ModeSeries,
    analyse_lasing,
    find_modes,
    lorentzian_fwhm,
    measure_modes,
    mode_thresholds,
)
from qslab.analysis.models import gaussian_spot_average, stimulated_fraction
from qslab.engine.documents import start_document
from qslab.storage import HDF5Writer, read_run

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
P_TH = 4.0  # uJ/cm^2, the nanopillar photonic-crystal cavity of the review
PUMP = np.geomspace(0.2, 5.0, 30) * P_TH
WAVELENGTHS = np.arange(650.0, 690.0, 0.025)
PL_PEAK = 2000.0  # counts at P_th
COLD_NM, LASING_NM = 1.2, 0.3
MODE_NM = 668.0
N_BOOT = 10


def s_curve(p, beta, spot=False):
    if spot:
        return gaussian_spot_average(lambda q: stimulated_fraction(q, beta), p)
    return stimulated_fraction(p, beta)


def series(
    beta,
    seed,
    resolution=0.1,
    modes=((MODE_NM, 1.0, 1.0),),
    visibility=0.1,
    spot=False,
    pump=PUMP,
):
    """(points, pixels) spectra; ``modes`` holds (centre nm, threshold / P_TH, relative area)."""
    rng = np.random.default_rng(seed)
    pl = np.exp(-0.5 * ((WAVELENGTHS - 670.0) / (30.0 / FWHM_PER_SIGMA)) ** 2)
    p_low = PUMP[0] / P_TH
    # area putting the lowest point's mode peak at `visibility` x the PL there (cold width)
    area = visibility * PL_PEAK * p_low * (np.pi * COLD_NM / 2) / (beta * p_low / (1 - p_low))
    spectra = []
    for p in np.asarray(pump) / P_TH:
        y = PL_PEAK * p * pl
        for centre, factor, relative in modes:
            s = float(s_curve(np.array([p / factor]), beta, spot)[0])
            width = LASING_NM + (COLD_NM - LASING_NM) / (1 + s**2 / beta)
            sigma = resolution / FWHM_PER_SIGMA
            y = y + relative * area * s * voigt_profile(WAVELENGTHS - centre, sigma, width / 2)
        spectra.append(rng.poisson(y) + rng.normal(0.0, 10.0, y.size))
    return np.array(spectra)


def analyse(spectra, resolution=0.1, **options):
    return analyse_lasing(PUMP, "uJ/cm^2", WAVELENGTHS, spectra, resolution, **options)


@pytest.fixture(scope="module")
def beta_scan():
    """Analyses over beta = 1e-3..1e-1 and three seeds: {(beta, seed): results}."""
    return {
        (beta, seed): analyse(series(beta, seed), n_bootstrap=N_BOOT)
        for beta in (1e-3, 1e-2, 1e-1)
        for seed in range(3)
    }


def test_beta_fit_recovers_threshold_and_beta_across_seeds(beta_scan):
    """Over 12 seeds x these 3 betas: threshold ratio 1.001 +- 0.017, beta ratio 0.92-1.15."""
    ratios = []
    for (beta, _), results in beta_scan.items():
        threshold = results["lasing_threshold"]
        assert threshold["method"] == "rate_equation" and threshold["units"] == "uJ/cm^2"
        assert threshold["value"] == pytest.approx(P_TH, rel=0.10)
        assert 0 < threshold["error"] < 0.1 * P_TH
        assert beta / 2 < results["beta"]["value"] < 2 * beta
        assert results["beta"]["error"] > 0
        ratios.append(threshold["value"] / P_TH)
    assert abs(np.mean(ratios) - 1) < 0.05


def test_other_methods_are_reported_and_agree_where_the_kink_is_sharp(beta_scan):
    results = beta_scan[(1e-3, 0)]
    for method in ("linear", "loglog", "linewidth"):
        entry = results[f"lasing_threshold_{method}"]
        assert entry["value"] == pytest.approx(P_TH, rel=0.15), method
        assert entry["error"] > 0 and entry["units"] == "uJ/cm^2"
    assert results["lasing_threshold_linear"]["method"] == "linear_x_intercept"


def test_deconvolved_linewidth_and_narrowing(beta_scan):
    true_narrowing = COLD_NM / LASING_NM
    for results in beta_scan.values():
        assert results["linewidth_nm"]["value"] == pytest.approx(LASING_NM, rel=0.15)
        narrowing = results["linewidth_narrowing"]
        assert narrowing["value"] > 1 + 3 * narrowing["error"]
        assert narrowing["value"] == pytest.approx(true_narrowing, rel=0.35)
        assert results["lasing_wavelength"]["value"] == pytest.approx(MODE_NM, abs=0.01)


def test_slope_efficiency_is_the_above_threshold_slope(beta_scan):
    """Well above threshold S -> p - 1: the line area grows by b / P_th per pump unit."""
    beta = 1e-3
    p_low = PUMP[0] / P_TH
    b = 0.1 * PL_PEAK * p_low * (np.pi * COLD_NM / 2) / (beta * p_low / (1 - p_low))
    slope = beta_scan[(beta, 0)]["slope_efficiency"]
    assert slope["units"] == "counts*nm/(uJ/cm^2)"
    assert slope["value"] == pytest.approx(b / P_TH, rel=0.05)


def test_linewidth_recovered_at_the_finer_grating():
    results = analyse(series(1e-2, seed=7, resolution=0.05), resolution=0.05, n_bootstrap=N_BOOT)
    assert results["linewidth_nm"]["value"] == pytest.approx(LASING_NM, rel=0.15)
    assert results["lasing_threshold"]["value"] == pytest.approx(P_TH, rel=0.10)


def test_ignoring_the_instrument_would_read_the_line_wider():
    """The deconvolution is doing work: at 0.25-nm resolution a 0.3-nm line looks 0.44 nm."""
    resolution = 0.25
    spectra = series(1e-2, seed=8, resolution=resolution)
    deconvolved = analyse(spectra, resolution, n_bootstrap=0)["linewidth_nm"]["value"]
    raw = analyse(spectra, 0.0, n_bootstrap=0)["linewidth_nm"]["value"]
    assert deconvolved == pytest.approx(LASING_NM, rel=0.15)
    assert raw > 1.3 * LASING_NM


@pytest.mark.parametrize("lorentz", [0.0, 0.05, 0.3, 1.0])
def test_olivero_inversion_matches_the_voigt_profile(lorentz):
    resolution = 0.1
    x = np.linspace(-5, 5, 200001)
    profile = voigt_profile(x, resolution / FWHM_PER_SIGMA, lorentz / 2)
    above = x[profile >= profile.max() / 2]
    measured = above[-1] - above[0]
    assert lorentzian_fwhm(measured, resolution) == pytest.approx(lorentz, abs=2e-3)


def test_barely_visible_below_threshold_still_fits():
    """Mode peak 3 % of the PL at the lowest pump: the faint points keep the S-curve's foot."""
    results = analyse(series(1e-2, seed=9, visibility=0.03), n_bootstrap=N_BOOT)
    assert results["lasing_threshold"]["value"] == pytest.approx(P_TH, rel=0.10)
    assert 0.5e-2 < results["beta"]["value"] < 2e-2


def test_second_mode_appearing_at_twice_threshold_has_its_own_threshold():
    modes = ((MODE_NM, 1.0, 1.0), (674.0, 2.0, 0.5))
    results = analyse(series(1e-2, seed=10, modes=modes), n_bootstrap=N_BOOT)
    assert results["n_modes"]["value"] == 2
    assert results["mode1_wavelength"]["value"] == pytest.approx(MODE_NM, abs=0.01)
    assert results["mode2_wavelength"]["value"] == pytest.approx(674.0, abs=0.01)
    assert results["mode1_threshold"]["value"] == pytest.approx(P_TH, rel=0.10)
    assert results["mode2_threshold"]["value"] == pytest.approx(2 * P_TH, rel=0.10)
    assert results["lasing_threshold"] == results["mode1_threshold"]
    assert results["mode2_linewidth_nm"]["value"] == pytest.approx(LASING_NM, rel=0.15)


def test_gaussian_spot_model_for_spot_averaged_emission():
    """Emitters spread over a Gaussian spot: the spot model recovers P_th, the plain model
    (one pump level) reads the smoother S-curve's bend as a higher threshold."""
    spectra = series(1e-3, seed=11, spot=True)
    spot = analyse(spectra, pump_profile="gaussian", n_bootstrap=N_BOOT)
    assert spot["lasing_threshold"]["method"] == "rate_equation_gaussian_spot"
    assert spot["lasing_threshold"]["value"] == pytest.approx(P_TH, rel=0.10)
    assert 0.5e-3 < spot["beta"]["value"] < 2e-3
    flat = analyse(spectra, pump_profile="flat", n_bootstrap=0)
    assert flat["lasing_threshold"]["value"] > 1.15 * P_TH


def undetermined(entry, why):
    return math.isnan(entry["value"]) and why in entry["note"]


def test_pure_pl_has_no_mode_and_no_threshold():
    results = analyse(series(1e-2, seed=12, modes=()), n_bootstrap=N_BOOT)
    assert results["n_modes"]["value"] == 0
    for key in ("lasing_threshold", "beta", "linewidth_nm", "lasing_threshold_linear"):
        assert undetermined(results[key], "nothing lases"), key


def test_cavity_mode_growing_linearly_is_found_but_does_not_lase():
    """A cold-cavity resonance filtering the PL: a mode, but no S-curve and no number."""
    rng = np.random.default_rng(13)
    pl = np.exp(-0.5 * ((WAVELENGTHS - 670.0) / (30.0 / FWHM_PER_SIGMA)) ** 2)
    line = voigt_profile(WAVELENGTHS - MODE_NM, 0.1 / FWHM_PER_SIGMA, COLD_NM / 2)
    clean = (PUMP / P_TH)[:, None] * (PL_PEAK * pl + 400.0 * line)
    spectra = rng.poisson(clean) + rng.normal(0.0, 10.0, clean.shape)
    results = analyse(spectra, n_bootstrap=N_BOOT)
    assert results["n_modes"]["value"] == 1
    assert results["mode1_wavelength"]["value"] == pytest.approx(MODE_NM, abs=0.05)
    for key in ("lasing_threshold", "lasing_threshold_linear", "beta", "lasing_wavelength"):
        assert undetermined(results[key], "not lasing"), key
    assert undetermined(results["linewidth_narrowing"], "no threshold")


def test_points_in_any_order_give_the_same_answer_and_arrays_follow_them():
    spectra = series(1e-2, seed=14)
    shuffle = np.random.default_rng(0).permutation(PUMP.size)
    ordered = analyse(spectra, n_bootstrap=5, seed=3)
    shuffled = analyse_lasing(
        PUMP[shuffle], "uJ/cm^2", WAVELENGTHS, spectra[shuffle], 0.1, n_bootstrap=5, seed=3
    )
    assert shuffled["lasing_threshold"] == ordered["lasing_threshold"]
    np.testing.assert_array_equal(
        shuffled["mode1_intensity"]["value"], ordered["mode1_intensity"]["value"][shuffle]
    )


def test_results_are_deterministic_and_stored_by_the_hdf5_writer(tmp_path):
    spectra = series(1e-2, seed=15)
    results = analyse(spectra, n_bootstrap=5, seed=1)
    again = analyse(spectra, n_bootstrap=5, seed=1)
    assert json.dumps(_scalars(results)) == json.dumps(_scalars(again))
    for entry in results.values():
        assert {"value", "error", "units", "method"} <= set(entry)

    writer = HDF5Writer(tmp_path)
    start = start_document("lasing_threshold_scan", {}, {}, {}, {}, {}, "0.1.0")
    writer("start", start)
    writer("analysis", {"run_uid": start["uid"], "results": results})
    writer("stop", {"run_uid": start["uid"], "status": "completed", "num_events": 0})
    stored = read_run(writer.path).analysis
    assert stored["lasing_threshold"]["value"] == pytest.approx(
        results["lasing_threshold"]["value"]
    )
    assert stored["beta"]["method"] == "rate_equation"
    assert np.allclose(stored["mode1_intensity"]["value"], results["mode1_intensity"]["value"])


def _scalars(results):
    return {
        name: {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
        for name, entry in results.items()
    }


def test_bad_input_is_explained():
    spectra = series(1e-2, seed=16)
    with pytest.raises(ValueError, match="points, pixels"):
        analyse(spectra[:-1])
    with pytest.raises(ValueError, match="pump_profile"):
        analyse(spectra, pump_profile="top-hat")
    with pytest.raises(ValueError, match="pulse_per_lifetime"):
        analyse(spectra, pump_profile="pulsed")
    with pytest.raises(ValueError, match="resolution_nm"):
        analyse(spectra, resolution=-0.1)


def test_modes_found_and_measured_directly():
    spectra = series(1e-2, seed=17, modes=((MODE_NM, 1.0, 1.0), (660.0, 1.5, 0.3)))
    centres = find_modes(WAVELENGTHS, spectra, 0.1)
    assert centres == pytest.approx([660.0, MODE_NM], abs=0.03)
    main = measure_modes(WAVELENGTHS, spectra, centres, 0.1)[1]
    top = np.nanargmax(main.intensity)
    assert main.fwhm_nm[top] == pytest.approx(LASING_NM, rel=0.05)
    assert np.isnan(main.fwhm_nm[0]) or main.fwhm_nm[0] > 2 * LASING_NM


def _jittered_curve(beta, seed, pump_err=0.01, area_err=0.005):
    """A mode's light-in/light-out curve read at pumps with a ``pump_err`` relative error (the
    energy meter's mean of a few pulses), as a coarse scan refined around the bend would be."""
    rng = np.random.default_rng(seed)
    pump = np.sort(np.concatenate([np.geomspace(0.15, 5.0, 12), np.geomspace(0.8, 1.25, 4)]))
    true = P_TH * pump * (1 + pump_err * rng.standard_normal(pump.size))
    area = 1e5 * stimulated_fraction(true / P_TH, beta)
    area *= 1 + area_err * rng.standard_normal(pump.size)
    nan = np.full(pump.size, np.nan)
    return P_TH * pump, ModeSeries(MODE_NM, area, area_err * area, nan, nan, nan, nan)


def test_threshold_error_is_calibrated_under_pump_jitter():
    """Pulls (fitted - true) / error over 30 seeds spread by about 1 (1.15 here): the pump
    error, scaled by the steep slope near threshold, is in the weights. A 2 % intensity floor
    instead leaves the steepest points 3x noisier than assumed: pulls spread by 1.6."""
    pulls = []
    for seed in range(30):
        pump, mode = _jittered_curve(1e-2, seed)
        fit = mode_thresholds(pump, mode, "uJ/cm^2", n_bootstrap=30, seed=seed)[0]
        pulls.append((fit["rate_equation"].value - P_TH) / fit["rate_equation"].error)
    assert 0.7 < np.std(pulls) < 1.4
