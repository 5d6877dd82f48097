"""Ocean Insight spectrometer: the simulator keeps seabreeze's API, the role reads the bench."""

from __future__ import annotations

import inspect
import sys
import types

import numpy as np
import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.oceaninsight.seabreeze import DRIVER
from qslab.instruments.roles import Spectrometer
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.seabreeze import SeaBreezeError, SimulatedSpectrometer

USED = (
    "wavelengths",
    "intensities",
    "max_intensity",
    "integration_time_micros",
    "integration_time_micros_limits",
    "pixels",
    "model",
    "serial_number",
    "close",
)


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=6)


def open_spectrometer(bench, **given):
    return open_simulated(DRIVER, "station.spectrometer", bench, **given)


# -- (a) the library's API, as python-seabreeze defines it -----------------------------------
def test_simulator_has_seabreezes_names_and_signatures():
    real = pytest.importorskip("seabreeze.spectrometers").Spectrometer
    for name in USED:
        ours, theirs = getattr(SimulatedSpectrometer, name), getattr(real, name)
        assert type(ours) is type(theirs), name
        if callable(theirs):
            assert _parameters(ours) == _parameters(theirs), name
    assert SeaBreezeError is pytest.importorskip("seabreeze.spectrometers").SeaBreezeError


def test_integration_time_is_in_microseconds_with_seabreezes_limits_and_error(bench):
    sim = SimulatedSpectrometer(bench)
    assert sim.integration_time_micros_limits == (1000, 655350000)
    sim.integration_time_micros(1000)
    for bad in (999, 655350000):
        with pytest.raises(SeaBreezeError, match=r"Integration not in \[1000, 655350000\]"):
            sim.integration_time_micros(bad)


def test_wavelength_axis_is_a_monotonic_cubic_over_the_range(bench):
    sim = SimulatedSpectrometer(bench, wavelength_range_nm=(550.0, 780.0), pixels=2048)
    wl = sim.wavelengths()
    assert sim.pixels == wl.size == 2048
    assert wl[0] == pytest.approx(550.0) and wl[-1] == pytest.approx(780.0)
    assert np.all(np.diff(wl) > 0)
    fit = np.polynomial.polynomial.polyfit(np.arange(wl.size), wl, 3)
    assert abs(fit[2]) > 1e-7  # a real grating's curvature, not a straight line


def test_dark_pixels_see_no_light_and_correct_dark_counts(bench):
    sim = SimulatedSpectrometer(bench)
    bench.laser.emission = bench.laser.shutter_open = True
    sim.integration_time_micros(100000)
    raw = sim.intensities()
    assert np.median(raw[6:22]) < 1700 < np.max(raw)
    corrected = sim.intensities(correct_dark_counts=True)
    assert abs(np.mean(corrected[6:22])) < 1e-9
    with pytest.raises(SeaBreezeError, match="nonlinearity"):
        sim.intensities(correct_nonlinearity=True)


# -- (b) the role against the simulator on a bench -------------------------------------------
def test_more_counts_with_the_shutter_open(bench):
    sim, spectrometer = open_spectrometer(bench)
    assert isinstance(spectrometer, Spectrometer)
    bench.laser.emission = True
    spectrometer.set_exposure(0.01)
    dark = spectrometer.acquire()
    bench.laser.shutter_open = True
    lit = spectrometer.acquire()
    assert lit.shape == dark.shape == spectrometer.wavelengths_nm.shape == (2048,)
    assert lit.sum() > 2 * dark.sum()
    assert np.max(dark) < 0.1 * spectrometer.max_counts


def test_long_exposure_saturates_at_max_counts(bench):
    _, spectrometer = open_spectrometer(bench)
    bench.laser.emission = bench.laser.shutter_open = True
    spectrometer.set_exposure(2.0)
    counts = spectrometer.acquire()
    assert spectrometer.max_counts == 65535.0
    assert np.max(counts) == spectrometer.max_counts
    assert np.all(counts <= spectrometer.max_counts)


def test_exposure_limits_and_a_clear_error_outside_them(bench):
    sim, spectrometer = open_spectrometer(bench)
    low, high = spectrometer.exposure_limits_s
    assert low == 1e-3 and high == pytest.approx(655.35, abs=1e-5)
    spectrometer.set_exposure(high)
    with pytest.raises(ValidationError, match="outside"):
        spectrometer.set_exposure(1e-4)
    spectrometer.set_exposure(0.25)
    assert spectrometer.settings()["exposure_s"] == 0.25


def test_identity_and_settings(bench):
    _, spectrometer = open_spectrometer(bench, wavelength_range_nm=[600.0, 700.0], pixels=1024)
    assert spectrometer.identity() == "Ocean Insight FLAMES s/n FLMS00001"
    settings = spectrometer.settings()
    assert settings["pixels"] == 1024
    assert settings["wavelength_min_nm"] == pytest.approx(600.0)
    assert settings["wavelength_max_nm"] == pytest.approx(700.0)


def test_bad_axis_options_name_their_field(bench):
    options = DRIVER.check_options("station.spectrometer", {"wavelength_range_nm": [780.0, 550.0]})
    with pytest.raises(ValidationError, match="wavelength_range_nm"):
        DRIVER.simulator(bench, options)


def test_hardware_path_opens_by_serial_number_through_seabreeze(bench, monkeypatch):
    sim = SimulatedSpectrometer(bench, serial_number="FLMS12345")
    asked = []

    def from_serial_number(serial=None):
        asked.append(serial)
        return sim

    fake = types.ModuleType("seabreeze.spectrometers")
    fake.Spectrometer = types.SimpleNamespace(from_serial_number=from_serial_number)
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", fake)
    options = DRIVER.check_options("station.spectrometer", {"serial_number": "FLMS12345"})
    spectrometer = DRIVER.connect("usb", options)
    assert asked == ["FLMS12345"]
    assert spectrometer.identity() == "Ocean Insight FLAMES s/n FLMS12345"
    assert spectrometer.resource == "usb"


def test_missing_seabreeze_is_one_clear_validation_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", None)
    options = DRIVER.check_options("station.spectrometer", {})
    with pytest.raises(ValidationError, match=r'pip install "qslab\[seabreeze\]"') as info:
        DRIVER.connect("usb", options)
    assert info.value.field == "station.spectrometer.driver"


# -- (c) faults --------------------------------------------------------------------------------
@fault_words(error="Undefined error", garbage="1024 values", timeout="Data transfer")
def test_faults_raise_device_errors_and_the_next_spectrum_is_fine(bench, fault, words):
    sim, spectrometer = open_spectrometer(bench)
    with raises_on_fault(sim, fault, words, "Ocean Insight FLAMES", "sim:seabreeze"):
        spectrometer.acquire()
    assert spectrometer.acquire().shape == (2048,)


def test_a_closed_device_is_a_device_error(bench):
    _, spectrometer = open_spectrometer(bench)
    spectrometer.close()
    with pytest.raises(DeviceError, match="not opened"):
        spectrometer.acquire()
