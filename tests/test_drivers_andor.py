"""Andor Shamrock + iDus: the simulator keeps pylablib's API, the role reads the bench."""

from __future__ import annotations

import inspect
import math
import sys
import types

import numpy as np
import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.andor.shamrock import DRIVER
from qslab.instruments.roles import Spectrometer
from qslab.sim.bench import VirtualBench
from qslab.sim.devices import andor as sim_andor
from qslab.sim.devices.andor import (
    GRATING_CHANGE_S,
    SLEW_NM_PER_S,
    SimulatedAndor,
    SimulatedAndorSDK2Camera,
    SimulatedShamrockSpectrograph,
)

CAMERA_USED = (
    "get_device_info",
    "get_detector_size",
    "get_pixel_size",
    "get_channel_bitdepth",
    "set_read_mode",
    "get_read_mode",
    "setup_shutter",
    "get_shutter",
    "set_temperature",
    "get_temperature_setpoint",
    "get_temperature_range",
    "get_temperature",
    "get_temperature_status",
    "set_cooler",
    "is_cooler_on",
    "set_exposure",
    "get_exposure",
    "snap",
    "close",
    "is_opened",
)
SPECTROGRAPH_USED = (
    "get_device_info",
    "get_optical_parameters",
    "get_gratings_number",
    "get_grating",
    "set_grating",
    "get_grating_info",
    "is_wavelength_control_present",
    "get_wavelength",
    "set_wavelength",
    "get_wavelength_limits",
    "set_pixel_width",
    "get_pixel_width",
    "set_number_pixels",
    "get_number_pixels",
    "setup_pixels_from_camera",
    "get_calibration",
    "close",
    "is_opened",
)


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=8)


def open_spectrometer(bench, **given):
    return open_simulated(DRIVER, "station.spectrometer", bench, **given)


# -- (a) the library's API, as pylablib defines it ---------------------------------------------
def test_simulator_has_pylablibs_names_signatures_and_errors():
    andor = pytest.importorskip("pylablib.devices.Andor")
    pairs = [(SimulatedAndorSDK2Camera, andor.AndorSDK2Camera, CAMERA_USED)]
    pairs += [(SimulatedShamrockSpectrograph, andor.ShamrockSpectrograph, SPECTROGRAPH_USED)]
    for ours, theirs, names in pairs:
        for name in names:
            assert _parameters(getattr(ours, name)) == _parameters(getattr(theirs, name)), name
    for factory in ("AndorSDK2Camera", "ShamrockSpectrograph"):
        real = getattr(andor, factory).__init__
        assert _parameters(getattr(SimulatedAndor, factory)) == _parameters(real), factory
    for error in ("AndorError", "AndorTimeoutError", "AndorNotSupportedError"):
        assert getattr(SimulatedAndor, error) is getattr(andor, error)
    from pylablib.devices.Andor import AndorSDK2, Shamrock

    assert sim_andor.TDeviceInfo._fields == AndorSDK2.TDeviceInfo._fields
    assert sim_andor.TSpectrographInfo._fields == Shamrock.TDeviceInfo._fields
    assert sim_andor.TOpticalParameters._fields == Shamrock.TOpticalParameters._fields
    assert sim_andor.TGratingInfo._fields == Shamrock.TGratingInfo._fields


def test_camera_opens_in_pylablibs_default_state(bench):
    sim = SimulatedAndor(bench)
    camera = sim.AndorSDK2Camera(temperature=-60)
    assert camera.get_read_mode() == "image" and camera.get_shutter() == "closed"
    assert not camera.is_cooler_on()  # pylablib 1.4.5 ignores a numeric temperature
    with pytest.raises(sim.AndorNotSupportedError):
        camera.snap()  # only full vertical binning is simulated
    assert sim.AndorSDK2Camera().get_temperature_setpoint() == -76  # bottom 20 % of the range
    with pytest.raises(sim.AndorError, match="camera index 1 is not available"):
        sim.AndorSDK2Camera(idx=1)


def test_fvb_frame_is_one_row_of_16_bit_counts_and_times_out_like_pylablib(bench):
    sim = SimulatedAndor(bench, pixels=512)
    camera = sim.AndorSDK2Camera()
    camera.set_read_mode("fvb")
    frame = camera.snap()
    assert frame.shape == (1, 512) and frame.dtype == np.uint16
    camera.set_exposure(6.0)
    with pytest.raises(sim.AndorTimeoutError):
        camera.snap()  # pylablib's default frame timeout is 5 s


def test_calibration_needs_the_detector_and_follows_the_grating_equation(bench):
    sim = SimulatedAndor(bench)
    spectrograph = sim.ShamrockSpectrograph()
    assert spectrograph.get_calibration().size == 0
    spectrograph.setup_pixels_from_camera(sim.AndorSDK2Camera())
    spectrograph.set_wavelength(650e-9)
    wl = spectrograph.get_calibration() * 1e9
    assert wl.size == 1024 and np.all(np.diff(wl) > 0)
    assert wl[511] < 650.0 < wl[512]
    # reciprocal linear dispersion d cos(beta) / f at the centre, 26 um per pixel
    d_nm, half = 1e6 / 300, math.radians(15.0)
    beta = math.asin(650.0 / (2 * d_nm * math.cos(half))) + half
    per_pixel = d_nm * math.cos(beta) / 0.303 * 26e-6
    assert np.diff(wl)[511] == pytest.approx(per_pixel, rel=1e-3)
    assert 0.25 < per_pixel < 0.30  # a Shamrock 303i with 300 g/mm: about 275 nm on 1024 pixels


def test_spectrograph_refuses_like_pylablib_and_the_sdk(bench):
    spectrograph = SimulatedAndor(bench).ShamrockSpectrograph()
    with pytest.raises(ValueError, match="incorrect grating index: 4"):
        spectrograph.set_grating(4)
    with pytest.raises(SimulatedAndor.AndorError, match="SHAMROCK_P2INVALID"):
        spectrograph.set_wavelength(5e-6)


# -- (b) the role against the simulator on a bench ----------------------------------------------
def test_connect_sets_up_fvb_shutter_cooler_and_the_axis(bench):
    sim, spectrometer = open_spectrometer(bench, cooler_setpoint_c=-65)
    assert isinstance(spectrometer, Spectrometer)
    assert spectrometer.camera.get_read_mode() == "fvb"
    assert spectrometer.camera.get_shutter() == "auto"
    assert sim.cooler_on and sim.setpoint_c == -65
    wl = spectrometer.wavelengths_nm
    assert wl.shape == (1024,) and wl[0] < 600 < 700 < wl[-1]
    assert spectrometer.center_wavelength_nm == pytest.approx(650.0)
    assert spectrometer.max_counts == 65535.0


def test_the_films_emission_lands_on_the_axis(bench):
    _, spectrometer = open_spectrometer(bench)
    bench.laser.emission = bench.laser.shutter_open = True
    spectrometer.set_exposure(0.01)
    counts = spectrometer.acquire()
    peak = spectrometer.wavelengths_nm[np.argmax(counts)]
    assert 640 < peak < 690  # the X and XX lines of the default film
    bench.laser.shutter_open = False
    assert np.max(spectrometer.acquire()) < 0.2 * np.max(counts)


def test_cooled_ccd_dark_is_far_below_the_warm_one(bench):
    sim, spectrometer = open_spectrometer(bench)
    spectrometer.set_exposure(1.0)
    cooled = spectrometer.acquire().mean() - sim_andor.OFFSET_COUNTS
    assert cooled < 5  # the uncooled Ocean spectrometer collects 300 counts/s
    spectrometer.camera.set_cooler(False)
    warm = spectrometer.acquire().mean() - sim_andor.OFFSET_COUNTS
    assert warm > 500 * max(cooled, 1)
    assert spectrometer.settings()["temperature_status"] == "off"


def test_long_exposure_saturates_at_the_16_bit_full_scale(bench):
    _, spectrometer = open_spectrometer(bench)
    bench.laser.emission = bench.laser.shutter_open = True
    spectrometer.set_exposure(10.0)  # longer than pylablib's default frame timeout
    counts = spectrometer.acquire()
    assert np.max(counts) == spectrometer.max_counts


def test_exposure_limits_and_a_clear_error_outside_them(bench):
    _, spectrometer = open_spectrometer(bench)
    assert spectrometer.exposure_limits_s == (sim_andor.MIN_EXPOSURE_S, 600.0)
    spectrometer.set_exposure(600.0)
    with pytest.raises(ValidationError, match="outside") as info:
        spectrometer.set_exposure(1e-6)
    assert info.value.field == "station.spectrometer.exposure_s"
    spectrometer.set_exposure(0.25)
    assert spectrometer.settings()["exposure_s"] == 0.25


def test_grating_and_wavelength_moves_take_bench_time_and_move_the_axis(bench):
    _, spectrometer = open_spectrometer(bench)
    waits = []
    bench.wait = waits.append
    coarse = np.ptp(spectrometer.wavelengths_nm)
    assert spectrometer.set_center_wavelength(700.0) == pytest.approx(700.0)
    assert np.mean(spectrometer.wavelengths_nm) == pytest.approx(700.0, abs=1.0)
    spectrometer.set_grating(2)
    assert np.ptp(spectrometer.wavelengths_nm) < coarse / 3.5  # 1200 against 300 g/mm
    assert waits == [pytest.approx(50.0 / SLEW_NM_PER_S), GRATING_CHANGE_S]
    assert spectrometer.settings()["grooves_per_mm"] == 1200.0


def test_bad_grating_and_wavelength_name_their_fields(bench):
    _, spectrometer = open_spectrometer(bench)
    with pytest.raises(ValidationError, match="gratings 1-3") as info:
        spectrometer.set_grating(4)
    assert info.value.field == "station.spectrometer.grating"
    with pytest.raises(ValidationError, match="outside") as info:
        spectrometer.set_center_wavelength(5000.0)
    assert info.value.field == "station.spectrometer.center_wavelength_nm"
    options = DRIVER.check_options("station.spectrometer", {"pixels": 10})
    with pytest.raises(ValidationError, match="64 pixels"):
        DRIVER.simulator(bench, options)


def test_identity_settings_and_safe_keep_the_cooler_on(bench):
    sim, spectrometer = open_spectrometer(bench, pixels=2000, pixel_width_um=13.5)
    assert spectrometer.identity() == "Andor DU401A_BV s/n 14021 on Shamrock s/n SR-0847"
    settings = spectrometer.settings()
    assert settings["pixels"] == 2000 and settings["cooler_setpoint_c"] == -70
    spectrometer.safe()
    assert sim.cooler_on


def _library(sim, shutterless=False):
    """A stand-in for ``pylablib.devices.Andor`` made of the simulator's own factories."""
    module = types.ModuleType("pylablib.devices.Andor")
    for name in ("ShamrockSpectrograph", "AndorError", "AndorNotSupportedError"):
        setattr(module, name, getattr(sim, name))
    opened = []

    def camera(idx=0, ini_path="", temperature=None, fan_mode="off", amp_mode=None):
        opened.append((idx, fan_mode))
        cam = sim.AndorSDK2Camera(idx, ini_path, temperature, fan_mode, amp_mode)
        if shutterless:
            cam.setup_shutter = _refuse(sim.AndorNotSupportedError)
        return cam

    module.AndorSDK2Camera = camera
    return module, opened


def _refuse(error):
    def setup_shutter(*args, **kwargs):
        raise error("option feat.AC_FEATURES_SHUTTER is not supported by DU401A_BV")

    return setup_shutter


@pytest.mark.parametrize("shutterless", [False, True])
def test_hardware_path_opens_through_pylablib(bench, monkeypatch, shutterless):
    sim = SimulatedAndor(bench)
    module, opened = _library(sim, shutterless)
    monkeypatch.setitem(sys.modules, "pylablib.devices.Andor", module)
    options = DRIVER.check_options("station.spectrometer", {"grating": 3})
    spectrometer = DRIVER.connect("usb", options)
    assert opened == [(0, "full")]
    assert spectrometer.resource == "usb" and sim.grating == 3
    assert spectrometer.acquire().shape == (1024,)


def test_missing_pylablib_is_one_clear_validation_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pylablib.devices.Andor", None)
    options = DRIVER.check_options("station.spectrometer", {})
    with pytest.raises(ValidationError, match=r'pip install "qslab\[andor\]"') as info:
        DRIVER.connect("usb", options)
    assert info.value.field == "station.spectrometer.driver"


def test_a_missing_camera_is_a_device_error(bench):
    with pytest.raises(DeviceError, match="cannot open camera 1: AndorError") as info:
        open_spectrometer(bench, camera_index=1)
    assert info.value.resource == "sim:andor"


# -- (c) faults ----------------------------------------------------------------------------------
@fault_words(error="DRV_ERROR_ACK", garbage="frame of shape", timeout="AndorTimeoutError")
def test_faults_raise_device_errors_and_the_next_spectrum_is_fine(bench, fault, words):
    sim, spectrometer = open_spectrometer(bench)
    with raises_on_fault(sim, fault, words, "Andor Shamrock", "sim:andor"):
        spectrometer.acquire()
    assert spectrometer.acquire().shape == (1024,)


def test_a_closed_camera_is_a_device_error(bench):
    _, spectrometer = open_spectrometer(bench)
    spectrometer.close()
    with pytest.raises(DeviceError, match="camera is not opened"):
        spectrometer.acquire()
