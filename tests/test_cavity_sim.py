"""The simulated cavities and pump regimes obey the laser physics of PHYSICS.md section 3."""

from __future__ import annotations

import numpy as np
import pytest

from qslab.analysis.lasing import pulsed_model
from qslab.analysis.models import (
    GAUSSIAN_PULSE_AREA,
    pulse_onset,
    pulsed_output,
    pulsed_s_curve,
    stimulated_fraction,
)
from qslab.analysis.threshold import fit_s_curve
from qslab.sim.bench import Detector, LaserState, VirtualBench
from qslab.sim.cavity import (
    MIN_RELATIVE_GAIN,
    PCSEL,
    Cavity,
    NanopillarPC,
    OutsideGainBand,
    VerticalCavity,
)
from qslab.sim.sample import QSFilm

FS_400 = {"wavelength_nm": 400.0, "pulse_width_s": 140e-15}
NS_532 = {"wavelength_nm": 532.0, "pulse_width_s": 7e-9, "repetition_rate_hz": 100.0}
FS_800 = {"wavelength_nm": 800.0, "pulse_width_s": 140e-15}


def bench(design, pump=FS_400, film=None, **kwargs) -> VirtualBench:
    return VirtualBench(
        film=film or QSFilm(ase_yield=1e-3),
        laser=LaserState(emission=True, shutter_open=True, **pump),
        cavity_design=design,
        seed=3,
        realtime=False,
        **kwargs,
    )


def log_slope(x, y, i):
    return np.log(y[i + 1] / y[i]) / np.log(x[i + 1] / x[i])


def test_s_curve_has_slope_one_below_and_above_and_a_step_of_one_over_beta():
    b = bench(NanopillarPC(beta=0.01))
    f_th = b.lasing_truth().fluence_uj_cm2
    p = np.logspace(-3, 3, 61)
    out = b.mode_outputs(p * f_th)[0]
    assert log_slope(p, out, 0) == pytest.approx(1.0, abs=0.01)
    assert log_slope(p, out, 59) == pytest.approx(1.0, abs=0.01)
    step = (out[-1] / p[-1]) / (out[0] / p[0])
    assert step == pytest.approx(1 / 0.01, rel=0.01)
    assert log_slope(p, out, 30) > 3  # the S between the two branches


def test_fs_light_in_light_out_is_the_steady_state_curve_in_peak_fluence():
    b = bench(NanopillarPC())
    truth = b.lasing_truth()
    p = np.array([0.3, 1.0, 3.0])
    out = b.mode_outputs(p * truth.fluence_uj_cm2)[0]
    assert out == pytest.approx(stimulated_fraction(p, truth.beta), rel=1e-9)
    assert truth.units == "uJ/cm^2" and truth.regime == "fs"


def test_linewidth_at_three_times_threshold_is_narrower_than_the_cold_cavity():
    design = NanopillarPC()
    b = bench(design)
    f_th = b.lasing_truth().fluence_uj_cm2
    widths = b.cavity.linewidths(b.mode_outputs(np.array([0.1, 3.0]) * f_th))
    below, above = widths[0]
    assert below == pytest.approx(design.cold_linewidth_nm, rel=0.15)
    assert above < design.cold_linewidth_nm / 3
    assert above == pytest.approx(design.lasing_linewidth_nm, rel=0.05)


@pytest.mark.parametrize("period", [320.0, 335.0, 350.0])
def test_pcsel_line_follows_the_second_order_bragg_condition(period):
    design = PCSEL(period_nm=period)
    b = bench(design, NS_532, film=QSFilm(cross_section_cm2=2.5e-15, ase_yield=1e-3))
    assert 2 * b.lasing_truth().wavelength_nm == pytest.approx(2 * design.n_eff * period)


def test_pcsel_spectrum_peaks_at_the_bragg_wavelength_through_the_resolution():
    design = PCSEL(period_nm=335.0)
    film = QSFilm(cross_section_cm2=2.5e-15, ase_yield=1e-3)
    b = bench(design, NS_532, film=film, detector=Detector(resolution_nm=0.1))
    b.laser.pulse_energy_j = 3 * b.lasing_truth().fluence_uj_cm2 * 1e-6 * np.pi * b.w0_cm**2 / 2
    wl = np.linspace(600.0, 660.0, 1201)
    counts = b.spectrum_counts(wl, 0.05) - b.detector.baseline_counts
    assert wl[np.argmax(counts)] == pytest.approx(design.n_eff * 335.0, abs=0.06)


def ns_bench() -> VirtualBench:
    return bench(PCSEL(), NS_532, film=QSFilm(cross_section_cm2=2.5e-15, ase_yield=1e-3))


def test_ns_threshold_is_where_the_peak_carriers_reach_threshold():
    b = ns_bench()
    truth = b.lasing_truth()
    assert (truth.units, truth.quantity, truth.regime) == ("kW/cm^2", "peak_intensity", "ns")
    # the carriers without stimulated emission, integrated independently on a fine grid:
    # at the truth's peak pump (in CW thresholds) they just reach 1 at their maximum
    width = b.pulse_per_lifetime()
    sigma = width / 2.3548200450309493
    t, h = np.linspace(-6 * sigma, 6 * sigma + 5, 400_001, retstep=True)
    pump = np.exp(-0.5 * (t / sigma) ** 2)
    x = np.zeros_like(t)
    for k in range(1, t.size):  # exact exponential step of dx/dt = p - x, p linear in a step
        decay = np.exp(-h)
        x[k] = x[k - 1] * decay + pump[k - 1] * (1 - decay)
    p_peak = truth.mode_N / b.cavity.first_mode.threshold_N / (GAUSSIAN_PULSE_AREA * width)
    assert p_peak * x.max() == pytest.approx(1.0, rel=2e-4)
    assert pulse_onset(width) == pytest.approx(p_peak, rel=1e-9)


def test_ns_fit_of_the_noise_free_bench_curve_recovers_the_physical_threshold():
    b = ns_bench()
    truth = b.lasing_truth()
    fluence = truth.fluence_uj_cm2 * np.logspace(-1, np.log10(4), 30)
    intensity = b.pump_regime().from_peak_fluence(fluence)
    out = b.mode_outputs(fluence)[0]
    fit = fit_s_curve(pulsed_model(b.pulse_per_lifetime()), intensity, out, units="kW/cm^2")
    assert fit.value == pytest.approx(truth.threshold, rel=0.01)
    assert fit.details["beta"] == pytest.approx(truth.beta, rel=0.02)


def test_ns_output_is_the_pulse_integrated_rate_equation():
    b = ns_bench()
    truth = b.lasing_truth()
    width = b.pulse_per_lifetime()
    p = np.array([0.05, 0.7, 1.0, 1.5, 4.0])
    out = b.mode_outputs(p * truth.fluence_uj_cm2)[0]
    direct = pulsed_output(p * pulse_onset(width), truth.beta, width)
    assert out == pytest.approx(direct, rel=1e-3)


def test_ns_output_converges_in_the_time_step():
    p = np.geomspace(0.05, 20, 12)
    reference = pulsed_output(p, 0.005, 0.65, steps=40_000)
    assert pulsed_output(p, 0.005, 0.65) == pytest.approx(reference, rel=5e-4)


def test_pulsed_output_tends_to_the_steady_state_for_a_long_pulse():
    # a pulse much longer than the gain lifetime: the output follows the instantaneous pump
    p = np.array([0.5, 2.0])
    out = pulsed_output(p, 0.01, 100.0)
    sigma = 1 / 2.3548  # the pulse's FWHM is 1 = 100 lifetimes
    u = np.linspace(-4 * sigma, 4 * sigma, 4001)
    pulse = np.exp(-0.5 * (u / sigma) ** 2)
    expected = [np.trapezoid(stimulated_fraction(q * pulse, 0.01), u) for q in p]
    assert out / 100 == pytest.approx(np.array(expected), rel=0.03)
    assert pulse_onset(100.0) == pytest.approx(1.0, rel=1e-3)


def test_a_long_pulse_s_curve_tends_to_the_steady_state_one():
    # the model the analysis fits: for a pulse 300 lifetimes long it is the steady-state
    # S-curve averaged over the pulse's envelope (per unit area), threshold at p = 1
    beta, p = 0.01, np.geomspace(0.05, 20, 9)
    u = np.linspace(-5, 5, 20001)  # in sigma
    envelope = np.exp(-0.5 * u**2)
    area = np.trapezoid(envelope, u)
    expected = [np.trapezoid(stimulated_fraction(q * envelope, beta), u) / area for q in p]
    assert pulsed_s_curve(p, beta, 300.0) == pytest.approx(np.array(expected), rel=0.03)
    assert pulse_onset(300.0) == pytest.approx(1.0, rel=1e-4)


def test_a_short_pulse_tends_to_the_fs_threshold():
    # a pulse much shorter than the lifetime: the physical threshold brings <N>_th in total
    width = 0.001
    assert pulse_onset(width) * GAUSSIAN_PULSE_AREA * width == pytest.approx(1.0, rel=0.005)


def test_two_photon_pump_gives_slope_two_on_a_fluence_axis():
    b = bench(VerticalCavity(), FS_800, film=QSFilm(x_peak_nm=695.0, gain_peak_nm=688.8))
    truth = b.lasing_truth()
    assert (truth.units, truth.order) == ("mJ/cm^2", 2)
    f = truth.fluence_uj_cm2 * np.array([0.01, 0.02, 50.0, 100.0])
    out = b.mode_outputs(f)[1]  # the central mode
    assert log_slope(f, out, 0) == pytest.approx(2.0, abs=0.02)
    assert log_slope(f, out, 2) == pytest.approx(2.0, abs=0.02)
    n = b.peak_excitation(truth.fluence_uj_cm2)
    assert n == pytest.approx(truth.peak_N)


def test_vertical_cavity_adds_side_modes_at_higher_fluence():
    film = QSFilm(x_peak_nm=695.0, gain_peak_nm=688.8)
    design = VerticalCavity()
    b = bench(design, FS_800, film=film)
    lines = [m.wavelength_nm for m in b.cavity.modes]
    spacing = 688.8**2 / (2 * design.index * design.length_um * 1e3)
    assert np.diff(lines) == pytest.approx([spacing, spacing], rel=0.05)
    f_th = b.lasing_truth().fluence_uj_cm2
    low, high = b.mode_outputs(np.array([1.3, 2.5]) * f_th).T
    assert low[1] > 0.5 and max(low[0], low[2]) < 0.05  # single mode
    assert min(high[0], high[2]) > 0.5  # multimode


def test_vertical_cavity_line_width_through_a_fine_grating():
    film = QSFilm(x_peak_nm=695.0, gain_peak_nm=688.8, two_photon_cross_section_gm=7e6)
    b = bench(
        VerticalCavity(), FS_800, film=film, w0_cm=10e-4, detector=Detector(resolution_nm=0.1)
    )
    b.laser.pulse_energy_j = 1.3 * b.lasing_truth().fluence_uj_cm2 * 1e-6 * np.pi * b.w0_cm**2 / 2
    wl = np.linspace(680.0, 698.0, 3601)
    counts = b.spectrum_counts(wl, 0.2) - b.detector.baseline_counts
    peak = np.argmax(counts)
    assert wl[peak] == pytest.approx(688.8, abs=0.02)
    above = wl[counts > counts[peak] / 2]
    fwhm = above.max() - above.min()
    assert 0.3 < fwhm < 0.4  # 0.3-nm Lorentzian seen through a 0.1-nm Gaussian


def test_resolution_broadens_the_film_bands_in_quadrature():
    from qslab.sim.sample import EmissionModel

    wl = np.linspace(550.0, 780.0, 2301)
    sharp = EmissionModel(QSFilm(), wl).shapes[2]
    blurred = EmissionModel(QSFilm(), wl, resolution_nm=8.0).shapes[2]
    fwhm = [np.ptp(wl[s > s.max() / 2]) for s in (sharp, blurred)]
    assert fwhm[1] == pytest.approx(np.hypot(fwhm[0], 8.0), abs=0.2)


def test_the_regime_follows_the_pump():
    film = QSFilm()
    assert bench(None, FS_400, film).pump_regime().name == "fs"
    assert bench(None, NS_532, film).pump_regime().name == "ns"
    assert bench(None, FS_800, film).pump_regime().name == "two_photon"


def test_a_bench_without_cavity_has_no_lasing_truth():
    b = bench(None)
    assert b.cavity is None and b.truth_record() == {}
    with pytest.raises(ValueError, match="no cavity"):
        b.true_lasing_threshold()


def test_a_cavity_whose_mode_misses_the_gain_band_is_refused_with_the_periods_that_lase():
    film = QSFilm()
    low, high = film.gain_band_nm(MIN_RELATIVE_GAIN)
    assert film.relative_gain(low) == pytest.approx(0.01) and low < film.gain_peak_nm < high
    for period in (1.0, 6e-303, 1e300):
        with pytest.raises(OutsideGainBand, match="a period between"):
            Cavity(NanopillarPC(period_nm=period), film)
    message = ""
    try:
        Cavity(PCSEL(period_nm=600.0), film)
    except OutsideGainBand as exc:
        message = str(exc)
    periods = [float(w) for w in message.split("between ")[1].split(" nm")[0].split(" and ")]
    for period in periods:  # the suggested periods put the line at the band's edges
        line = Cavity(PCSEL(period_nm=period * (1.01 if period == periods[0] else 0.99)), film)
        assert film.relative_gain(line.first_mode.wavelength_nm) >= 0.01


def test_side_modes_outside_the_gain_band_are_left_out():
    film = QSFilm(gain_bandwidth_meV=10.0)  # narrow gain: only the central longitudinal mode
    assert len(Cavity(VerticalCavity(), film).modes) == 1
    assert len(Cavity(VerticalCavity(), QSFilm()).modes) == 3
