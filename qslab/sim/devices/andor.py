"""Simulated Andor spectroscopy system behind pylablib's API: a Shamrock 303i spectrograph with
an iDus 401 CCD (Andor SDK2) on its exit port.

Andor ships libraries, not a text protocol, so the simulator implements what
``pylablib.devices.Andor`` offers (pylablib 1.4; DESIGN.md principle 1): the factories
``AndorSDK2Camera(idx, ini_path, temperature, fan_mode, amp_mode)`` and
``ShamrockSpectrograph(idx)``, the error classes, and on the objects they return the methods
the driver uses, with pylablib's names, arguments and units (seconds for exposures, metres for
wavelengths, pixel sizes and focal length, degrees Celsius). Behaviour kept from pylablib and
its documentation: the camera opens in its default state (image read mode, internal shutter
closed, shortest exposure; a numeric ``temperature`` argument is ignored by pylablib 1.4.3-1.4.5,
so the setpoint must be set with ``set_temperature``); ``snap`` in full-vertical-binning mode
returns one row of pixels, as a ``(1, width)`` array of 16-bit counts; a frame that does not
arrive within ``timeout`` raises ``AndorTimeoutError``; a closed camera raises "camera is not
opened"; the spectrograph's ``get_calibration`` is empty until the detector's pixel count and
width are given (``setup_pixels_from_camera``); a bad grating index is pylablib's
``ValueError``; a wavelength outside the grating's limits is refused as the Shamrock SDK does
(``SHAMROCK_P2INVALID``, in pylablib's message format; the description text is the simulator's).

Optics: the calibration is the Czerny-Turner grating equation (as in fsc2's SpectraPro
calibration): with groove spacing d, inclusion angle g, grating angle psi from
``sin psi = m lambda_c / (2 d cos(g/2))``, a pixel n pixels off the detector centre sees
``lambda = d/m (sin(psi - g/2) + sin(psi + g/2 + theta))``,
``tan theta = n w cos(tilt) / (f + n w sin(tilt))``. The optical parameters (303 mm, 30 degree
inclusion angle, no focal tilt) and the turret (300, 1200, 150 g/mm) are representative of a
Shamrock 303i, not read from a real unit's EEPROM: with 26 um pixels they give about
0.27 nm per pixel at 650 nm on the 300 g/mm grating.

Detector: 1024 x 255 pixels of 26 um, 16-bit ADC (iDus 401). Light comes from the bench's
``spectrum_counts`` on the wavelength axis the spectrograph really produces, with the bench's
light collection (its ``counts_per_photon``) but this CCD's own noise: full vertical binning sums
the dark current of all 255 rows of a pixel column, 0.004 e-/pixel/s at -70 C, halving for every
7 C colder (Andor's iStar manual, appendix "Dark signal"), so about 1 count/s per column cooled and
several thousand warm; offset 500 counts, read noise 5 counts. These figures are representative
of a cooled iDus, not a data sheet; the dark current is two orders of magnitude below the
uncooled Ocean spectrometer's. The cooler reaches its setpoint at once (no cool-down is modelled).
Grating changes take 10 s and wavelength moves 100 nm/s of bench time (pylablib: "up to 10-20
seconds" for a grating change; the slew rate is assumed).
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import replace
from typing import Any

import numpy as np

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultSwitch

try:  # the very classes real code catches, when pylablib is installed
    from pylablib.devices.Andor import AndorError, AndorNotSupportedError, AndorTimeoutError
except ImportError:  # pylablib is optional; keep the same names without it

    class AndorError(Exception):
        """Stand-in for ``pylablib.devices.Andor.AndorError``."""

    class AndorTimeoutError(AndorError):
        """Stand-in for ``pylablib.devices.Andor.AndorTimeoutError``."""

    class AndorNotSupportedError(AndorError):
        """Stand-in for ``pylablib.devices.Andor.AndorNotSupportedError``."""


TDeviceInfo = namedtuple("TDeviceInfo", ["controller_model", "head_model", "serial_number"])
TSpectrographInfo = namedtuple("TDeviceInfo", ["serial_number"])
TOpticalParameters = namedtuple(
    "TOpticalParameters", ["focal_length", "angular_deviation", "focal_tilt"]
)
TGratingInfo = namedtuple("TGratingInfo", ["lines", "blaze_wavelength", "home", "offset"])

HEAD_MODEL = "DU401A_BV"
CAMERA_SERIAL = 14021
SPECTROGRAPH_SERIAL = "SR-0847"
ROWS = 255
BIT_DEPTH = 16
TEMPERATURE_RANGE_C = (-100, 20)
AMBIENT_C = 20.0
MIN_EXPOSURE_S = 1.0e-5
READOUT_S = 0.012
DARK_E_PER_PIXEL_S = 0.004
DARK_REFERENCE_C = -70.0
DARK_HALVING_C = 7.0
OFFSET_COUNTS = 500.0
READ_NOISE_COUNTS = 5.0
FOCAL_LENGTH_M = 0.303
INCLUSION_ANGLE_DEG = 30.0
FOCAL_TILT_DEG = 0.0
GRATINGS = ((300.0, "500"), (1200.0, "500"), (150.0, "800"))
"""Grooves per mm and blaze wavelength (nm, as the SDK's string) of turret positions 1-3."""
MAX_GRATING_ANGLE_DEG = 40.0
GRATING_CHANGE_S = 10.0
SLEW_NM_PER_S = 100.0


def czerny_turner_nm(
    lines_per_mm: float,
    center_nm: float,
    pixels: int,
    pixel_width_m: float,
    focal_length_m: float = FOCAL_LENGTH_M,
    inclusion_deg: float = INCLUSION_ANGLE_DEG,
    tilt_deg: float = FOCAL_TILT_DEG,
    order: int = 1,
) -> np.ndarray:
    """Wavelength (nm) at each pixel of a detector centred on ``center_nm``."""
    d = 1e6 / lines_per_mm
    half, tilt = math.radians(inclusion_deg) / 2, math.radians(tilt_deg)
    psi = math.asin(order * center_nm / (2 * d * math.cos(half)))
    x = (np.arange(pixels) - (pixels - 1) / 2) * pixel_width_m
    theta = np.arctan(x * math.cos(tilt) / (focal_length_m + x * math.sin(tilt)))
    return d / order * (math.sin(psi - half) + np.sin(psi + half + theta))


def max_wavelength_nm(lines_per_mm: float) -> float:
    """The longest centre wavelength the grating rotation reaches."""
    half = math.radians(INCLUSION_ANGLE_DEG) / 2
    return 2 * 1e6 / lines_per_mm * math.cos(half) * math.sin(math.radians(MAX_GRATING_ANGLE_DEG))


def dark_e_per_pixel_s(temperature_c: float) -> float:
    """Dark current of one pixel at the sensor temperature."""
    return DARK_E_PER_PIXEL_S * 2.0 ** ((temperature_c - DARK_REFERENCE_C) / DARK_HALVING_C)


class SimulatedAndor(FaultSwitch):
    """One Shamrock with one iDus on the bench, offering what ``pylablib.devices.Andor`` does.

    ``fault`` hits the next frame the camera reads.
    """

    AndorError = AndorError
    AndorTimeoutError = AndorTimeoutError
    AndorNotSupportedError = AndorNotSupportedError

    def __init__(
        self, bench: VirtualBench, pixels: int = 1024, pixel_width_um: float = 26.0
    ) -> None:
        self.bench = bench
        self.resource_name = "sim:andor"
        self.pixels = pixels
        self.pixel_width_m = pixel_width_um * 1e-6
        self.grating = 1
        self.center_nm = 500.0
        self.cooler_on = False
        self.setpoint_c: int | None = None

    # -- pylablib.devices.Andor ------------------------------------------------------------
    def AndorSDK2Camera(  # noqa: N802 - pylablib's class name
        self, idx=0, ini_path="", temperature=None, fan_mode="off", amp_mode=None
    ) -> SimulatedAndorSDK2Camera:
        if idx != 0:
            raise AndorError(f"camera index {idx} is not available (1 cameras exist)")
        return SimulatedAndorSDK2Camera(self, temperature)

    def ShamrockSpectrograph(self, idx=0) -> SimulatedShamrockSpectrograph:  # noqa: N802
        if idx != 0:
            raise AndorError(f"spectrograph index {idx} is not available (1 spectrograph exist)")
        return SimulatedShamrockSpectrograph(self)

    # -- optics and detector ---------------------------------------------------------------
    def wavelengths_nm(self, pixels: int | None = None, width_m: float | None = None):
        """The axis the spectrograph forms on a detector (by default, the iDus on its port)."""
        pixels = self.pixels if pixels is None else pixels
        width_m = self.pixel_width_m if width_m is None else width_m
        lines = GRATINGS[self.grating - 1][0]
        return czerny_turner_nm(lines, self.center_nm, pixels, width_m)

    @property
    def sensor_c(self) -> float:
        return float(self.setpoint_c) if self.cooler_on else AMBIENT_C

    def counts(self, exposure_s: float, shutter_open: bool) -> np.ndarray:
        """One full-vertical-binning readout: every row's charge summed per column."""
        dark = dark_e_per_pixel_s(self.sensor_c) * ROWS
        detector = replace(
            self.bench.detector,
            baseline_counts=OFFSET_COUNTS,
            dark_counts_per_s=dark,
            read_noise_counts=READ_NOISE_COUNTS,
            max_counts=2.0**BIT_DEPTH - 1,
        )
        return self.bench.spectrum_counts(
            self.wavelengths_nm(), exposure_s, detector=detector, blocked=not shutter_open
        )


class SimulatedAndorSDK2Camera:
    """An iDus 401 as ``pylablib.devices.Andor.AndorSDK2Camera`` shows it."""

    def __init__(self, system: SimulatedAndor, temperature: Any = None) -> None:
        self.system = system
        self._open = True
        self._read_mode = "image"
        self._shutter = "closed"
        self._exposure_s = MIN_EXPOSURE_S
        if temperature == "off":
            self.set_temperature(TEMPERATURE_RANGE_C[1], enable_cooler=False)
        elif temperature is None:
            low, high = TEMPERATURE_RANGE_C
            self.set_temperature(low + int((high - low) * 0.2))

    def _select(self) -> None:
        if not self._open:
            raise AndorError("camera is not opened")

    def get_device_info(self):
        self._select()
        return TDeviceInfo("USB", HEAD_MODEL, CAMERA_SERIAL)

    def get_detector_size(self):
        self._select()
        return (self.system.pixels, ROWS)

    def get_pixel_size(self):
        self._select()
        return (self.system.pixel_width_m, self.system.pixel_width_m)

    def get_channel_bitdepth(self, channel=None):
        self._select()
        return BIT_DEPTH

    # -- cooling -----------------------------------------------------------------------------
    def set_temperature(self, temperature, enable_cooler=True):
        self._select()
        low, high = TEMPERATURE_RANGE_C
        self.system.setpoint_c = int(min(max(temperature, low), high))
        if enable_cooler:
            self.set_cooler(True)
        return self.system.setpoint_c

    def get_temperature_setpoint(self):
        return self.system.setpoint_c

    def get_temperature_range(self):
        self._select()
        return TEMPERATURE_RANGE_C

    def get_temperature(self):
        self._select()
        return self.system.sensor_c

    def get_temperature_status(self):
        self._select()
        return "stabilized" if self.system.cooler_on else "off"

    def set_cooler(self, on=True):
        self._select()
        self.system.cooler_on = bool(on)
        return self.is_cooler_on()

    def is_cooler_on(self):
        self._select()
        return self.system.cooler_on

    # -- acquisition -------------------------------------------------------------------------
    def set_read_mode(self, mode):
        self._select()
        if mode not in ("fvb", "single_track", "multi_track", "random_track", "image"):
            raise ValueError(f"unrecognized read mode: {mode!r}")
        self._read_mode = mode
        return mode

    def get_read_mode(self):
        return self._read_mode

    def setup_shutter(self, mode, ttl_mode=0, open_time=None, close_time=None):
        self._select()
        modes = {"auto": "auto", "open": "open", True: "open", "closed": "closed", False: "closed"}
        if mode not in modes:
            raise ValueError(f"unrecognized shutter mode: {mode!r}")
        self._shutter = modes[mode]
        return (self._shutter, ttl_mode, open_time or 0, close_time or 0)

    def get_shutter(self):
        return self._shutter

    def set_exposure(self, exposure):
        self._select()
        self._exposure_s = max(float(exposure), MIN_EXPOSURE_S)
        return self.get_exposure()

    def get_exposure(self):
        self._select()
        return self._exposure_s

    def snap(self, timeout=5.0, return_info=False):
        """One frame; only full vertical binning is simulated."""
        self._select()
        if self._read_mode != "fvb":
            raise AndorNotSupportedError(
                f"simulated camera reads only 'fvb', not {self._read_mode}"
            )
        fault = self.system.take_fault()
        if fault == "timeout" or self._exposure_s + READOUT_S > timeout:
            self.system.bench.wait(timeout)
            raise AndorTimeoutError()
        if fault == "error":
            raise AndorError("function 'GetImages16' raised error 20013(DRV_ERROR_ACK)")
        counts = self.system.counts(self._exposure_s, self._shutter != "closed")
        self.system.bench.wait(READOUT_S)
        if fault == "garbage":
            counts = counts[: counts.size // 2]
        frame = counts.astype(np.uint16)[np.newaxis, :]
        return (frame, None) if return_info else frame

    def close(self):
        self._open = False

    def is_opened(self):
        return self._open


class SimulatedShamrockSpectrograph:
    """A Shamrock 303i as ``pylablib.devices.Andor.ShamrockSpectrograph`` shows it."""

    def __init__(self, system: SimulatedAndor) -> None:
        self.system = system
        self._open = True
        self._pixels = 0
        self._pixel_width_m = 0.0

    def get_device_info(self):
        return TSpectrographInfo(SPECTROGRAPH_SERIAL)

    def get_optical_parameters(self):
        return TOpticalParameters(FOCAL_LENGTH_M, INCLUSION_ANGLE_DEG, FOCAL_TILT_DEG)

    def get_gratings_number(self):
        return len(GRATINGS)

    def _check_grating(self, grating):
        if grating is None:
            return self.system.grating
        if grating < 1 or grating > len(GRATINGS):
            raise ValueError(
                f"incorrect grating index: {grating}; should be between 1 and {len(GRATINGS)}"
            )
        return grating

    def get_grating(self):
        return self.system.grating

    def set_grating(self, grating, force=False):
        grating = self._check_grating(grating)
        if force or grating != self.system.grating:
            self.system.bench.wait(GRATING_CHANGE_S)
            self.system.grating = grating
        return self.get_grating()

    def get_grating_info(self, grating=None):
        lines, blaze = GRATINGS[self._check_grating(grating) - 1]
        return TGratingInfo(lines, blaze, 0, 0)

    def is_wavelength_control_present(self):
        return True

    def get_wavelength(self):
        return self.system.center_nm * 1e-9

    def set_wavelength(self, wavelength):
        low, high = self.get_wavelength_limits()
        if not low <= wavelength <= high:
            raise AndorError(
                "function 'ShamrockSetWavelength' raised error 20267(SHAMROCK_P2INVALID): "
                "Invalid wavelength"
            )
        nm = wavelength / 1e-9
        self.system.bench.wait(abs(nm - self.system.center_nm) / SLEW_NM_PER_S)
        self.system.center_nm = nm
        return self.get_wavelength()

    def get_wavelength_limits(self, grating=None):
        lines = GRATINGS[self._check_grating(grating) - 1][0]
        return 0.0, max_wavelength_nm(lines) * 1e-9

    def set_pixel_width(self, width):
        self._pixel_width_m = float(width)
        return self.get_pixel_width()

    def get_pixel_width(self):
        return self._pixel_width_m

    def set_number_pixels(self, number):
        self._pixels = int(number)
        return self.get_number_pixels()

    def get_number_pixels(self):
        return self._pixels

    def setup_pixels_from_camera(self, cam):
        self.set_pixel_width(cam.get_pixel_size()[0])
        self.set_number_pixels(cam.get_detector_size()[0])
        return self.get_pixel_width(), self.get_number_pixels()

    def get_calibration(self):
        if not self._pixels:
            return np.zeros(0)
        return self.system.wavelengths_nm(self._pixels, self._pixel_width_m) * 1e-9

    def close(self):
        self._open = False

    def is_opened(self):
        return self._open
