"""Andor Shamrock (or Kymera) spectrograph with an iDus or Newton CCD, through pylablib, as the
spectrometer role (and the monochromator role: its grating and centre wavelength).

Manual: pylablib documentation, "Andor cameras" (``AndorSDK2Camera``: iDus, Newton, iXon ... use
Andor SDK2) and "Andor Shamrock spectrometers" (``ShamrockSpectrograph``), with the Andor SDK2
and Shamrock SDK manuals they wrap. From those pages: open the camera before the spectrograph;
the camera opens in a default state with its shutter closed, so the driver opens it (``"auto"``:
open while exposing) unless the camera has none; spectra are read in full vertical binning
(``set_read_mode("fvb")``, ``snap()`` returning one row); the spectrograph's wavelength axis
(``get_calibration``) needs the detector's pixel count and width (``setup_pixels_from_camera``)
and is recomputed after every grating or wavelength change. Units are pylablib's: seconds,
metres, degrees Celsius. Close the camera before the script ends, or the SDK keeps its
resources until the PC restarts.

Choices made here: the cooler setpoint is set with ``set_temperature`` after opening, because
pylablib 1.4.3-1.4.5 ignore a numeric ``temperature`` argument of the constructor; the fan runs at
full speed (pylablib's default is off). The shortest exposure is what the SDK makes of a request
for zero (it rounds up to the camera's minimum); the longest, 600 s, is qslab's bound (cosmic
rays and dark charge make longer single frames useless), not the camera's. The cooler is left on
by :meth:`ShamrockSpectrometer.safe` and by :meth:`close`: nothing about a cooled CCD is a hazard,
and each warm-up and cool-down cycle costs minutes and stresses the sensor (the Andor SDK manual
asks only Classic and ICCD systems to be warmed above -20 C before shutdown).

pylablib is optional (``pip install "qslab[andor]"``) and imported only to open real hardware.
The station's ``resource`` names the link for the record (for example ``"usb"``); the
``camera_index`` and ``spectrograph_index`` options pick the devices.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import numpy as np

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.registry import RESOLUTION_NM, DriverSpec, Option
from qslab.instruments.textlink import DeviceLink
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.andor import SimulatedAndor

MANUAL = (
    "pylablib documentation: 'Andor cameras' (AndorSDK2Camera) and 'Andor Shamrock spectrometers' "
    "(ShamrockSpectrograph); Andor SDK2 and Shamrock SDK manuals"
)
NAME = "Andor Shamrock"
TABLE = "station.spectrometer"
MAX_EXPOSURE_S = 600.0
FRAME_MARGIN_S = 5.0
"""How long past the exposure to wait for a frame (readout and transfer)."""


def _describe(exc: Exception) -> str:
    """pylablib raises some errors (its timeout) without a message: name the class then."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ShamrockSpectrometer(DeviceLink):
    """An Andor camera behind a Shamrock, both as pylablib objects (or their simulators).

    ``library`` is ``pylablib.devices.Andor`` or the simulator standing in for it; every
    failure of the library becomes a :class:`DeviceError` naming the system and its resource.
    """

    def __init__(self, library: Any, camera: Any, spectrograph: Any, resource: str) -> None:
        self.library = library
        self.camera = camera
        self.spectrograph = spectrograph
        self.resource = resource
        self.name = NAME
        with self.calling("reading the device information", _describe):
            head = camera.get_device_info()
            self.camera_model = str(head.head_model)
            self.camera_serial = str(head.serial_number)
            self.spectrograph_serial = str(spectrograph.get_device_info().serial_number)
            self.pixels = int(camera.get_detector_size()[0])
            self.max_counts = float(2 ** int(camera.get_channel_bitdepth()) - 1)
        self.wavelengths_nm = np.zeros(0)
        self._min_exposure_s = 0.0
        self._exposure_s = 0.0

    def configure(self, options: dict[str, Any]) -> None:
        """Spectra in full vertical binning with the shutter working, the cooler at its setpoint,
        the shortest exposure, then the grating and centre wavelength of ``options``."""
        with self.calling("setting up the camera", _describe):
            self.camera.set_read_mode("fvb")
            with contextlib.suppress(self.library.AndorNotSupportedError):
                self.camera.setup_shutter("auto")
            self.camera.set_temperature(options["cooler_setpoint_c"])
            self._exposure_s = self._min_exposure_s = float(self.camera.set_exposure(0))
            self.spectrograph.setup_pixels_from_camera(self.camera)
        self.set_grating(options["grating"])
        self.set_center_wavelength(options["center_wavelength_nm"])

    # -- monochromator: grating and centre wavelength ------------------------------------------
    @property
    def grating(self) -> int:
        with self.calling("reading the grating", _describe):
            return int(self.spectrograph.get_grating())

    @property
    def center_wavelength_nm(self) -> float:
        with self.calling("reading the wavelength", _describe):
            return float(self.spectrograph.get_wavelength()) * 1e9

    def set_grating(self, grating: int) -> None:
        """Turn the turret (10-20 s when it moves) and recompute the wavelength axis."""
        with self.calling("reading the gratings", _describe):
            count = int(self.spectrograph.get_gratings_number())
        if not 1 <= grating <= count:
            raise ValidationError(f"{TABLE}.grating", f"the turret has gratings 1-{count}")
        with self.calling(f"setting grating {grating}", _describe):
            self.spectrograph.set_grating(grating)
        self._update_axis()

    def set_center_wavelength(self, wavelength_nm: float) -> float:
        """Rotate the grating to centre ``wavelength_nm``; the centre reached, nm."""
        with self.calling("reading the wavelength limits", _describe):
            low, high = (limit * 1e9 for limit in self.spectrograph.get_wavelength_limits())
        if not low <= wavelength_nm <= high:
            raise ValidationError(
                f"{TABLE}.center_wavelength_nm",
                f"{wavelength_nm:g} nm is outside {low:g}-{high:g} nm for grating {self.grating}",
            )
        with self.calling(f"moving to {wavelength_nm:g} nm", _describe):
            self.spectrograph.set_wavelength(wavelength_nm * 1e-9)
        self._update_axis()
        return self.center_wavelength_nm

    def _update_axis(self) -> None:
        with self.calling("reading the calibration", _describe):
            axis = np.asarray(self.spectrograph.get_calibration(), dtype=float) * 1e9
        if axis.shape != (self.pixels,) or not np.all(np.diff(axis) != 0):
            raise self.error(f"calibration of {axis.size} wavelengths for {self.pixels} pixels")
        self.wavelengths_nm = axis

    # -- spectrometer --------------------------------------------------------------------------
    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        return self._min_exposure_s, MAX_EXPOSURE_S

    def set_exposure(self, seconds: float) -> None:
        low, high = self.exposure_limits_s
        if not low <= seconds <= high:
            raise ValidationError(
                f"{TABLE}.exposure_s", f"{seconds:g} s is outside {low:g}..{high:g} s"
            )
        with self.calling("setting the exposure", _describe):
            self._exposure_s = float(self.camera.set_exposure(seconds))

    def acquire(self) -> np.ndarray:
        with self.calling("reading a spectrum", _describe):
            frame = np.asarray(self.camera.snap(timeout=self._exposure_s + FRAME_MARGIN_S))
        if frame.shape != (1, self.pixels):
            raise self.error(f"frame of shape {frame.shape} for 1 x {self.pixels} pixels (fvb)")
        return frame[0].astype(float)

    # -- every role ------------------------------------------------------------------------------
    def identity(self) -> str:
        return (
            f"Andor {self.camera_model} s/n {self.camera_serial} "
            f"on Shamrock s/n {self.spectrograph_serial}"
        )

    def settings(self) -> dict[str, Any]:
        with self.calling("reading the settings", _describe):
            grating = self.spectrograph.get_grating_info()
            out = {
                "camera": self.camera_model,
                "camera_serial": self.camera_serial,
                "spectrograph_serial": self.spectrograph_serial,
                "grating": self.grating,
                "grooves_per_mm": float(grating.lines),
                "blaze": str(grating.blaze_wavelength),
                "center_wavelength_nm": self.center_wavelength_nm,
                "pixels": self.pixels,
                "wavelength_min_nm": float(self.wavelengths_nm.min()),
                "wavelength_max_nm": float(self.wavelengths_nm.max()),
                "exposure_s": self._exposure_s,
                "max_counts": self.max_counts,
                "read_mode": "fvb",
                "cooler_on": bool(self.camera.is_cooler_on()),
                "cooler_setpoint_c": self.camera.get_temperature_setpoint(),
                "sensor_temperature_c": float(self.camera.get_temperature()),
                "temperature_status": str(self.camera.get_temperature_status()),
            }
        return out

    def safe(self) -> None:
        """Nothing to do: a spectrometer only looks, and the cooler stays on (see the module)."""

    def close(self) -> None:
        """Spectrograph, then camera: the reverse of opening. Both are always released."""
        try:
            with self.calling("closing the spectrograph", _describe):
                self.spectrograph.close()
        finally:
            with self.calling("closing the camera", _describe):
                self.camera.close()


def _pylablib_andor() -> Any:
    try:
        return importlib.import_module("pylablib.devices.Andor")
    except ImportError:
        raise ValidationError(
            f"{TABLE}.driver", 'andor.shamrock needs pylablib: pip install "qslab[andor]"'
        ) from None


def _open(library: Any, resource: str, options: dict[str, Any]) -> ShamrockSpectrometer:
    """Camera first, then the spectrograph (pylablib's advice), then set both up."""
    opened = []
    try:
        what = f"camera {options['camera_index']}"
        camera = library.AndorSDK2Camera(
            idx=options["camera_index"], temperature=options["cooler_setpoint_c"], fan_mode="full"
        )
        opened.append(camera)
        what = f"spectrograph {options['spectrograph_index']}"
        spectrograph = library.ShamrockSpectrograph(idx=options["spectrograph_index"])
        opened.append(spectrograph)
    except Exception as exc:  # noqa: BLE001 - no device, device busy, DLL missing
        for device in reversed(opened):
            with contextlib.suppress(Exception):
                device.close()
        raise DeviceError(NAME, resource, f"cannot open {what}: {_describe(exc)}") from exc
    system = ShamrockSpectrometer(library, camera, spectrograph, resource)
    try:
        system.configure(options)
    except Exception:
        with contextlib.suppress(DeviceError):
            system.close()
        raise
    return system


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SimulatedAndor:
    if options["pixels"] < 64 or not options["pixel_width_um"] > 0:
        raise ValidationError(
            f"{TABLE}.pixels",
            f"need at least 64 pixels of positive width, got {options['pixels']} pixels of "
            f"{options['pixel_width_um']:g} um",
        )
    return SimulatedAndor(bench, options["pixels"], options["pixel_width_um"])


def connect(target: Any, options: dict[str, Any]) -> ShamrockSpectrometer:
    """The simulator as given, or the devices the index options pick through pylablib."""
    if isinstance(target, SimulatedAndor):
        return _open(target, target.resource_name, options)
    return _open(_pylablib_andor(), target, options)


DRIVER = DriverSpec(
    name="andor.shamrock",
    role="spectrometer",
    description="Andor Shamrock/Kymera spectrograph with an iDus/Newton CCD (SDK2) via pylablib",
    connect=connect,
    simulator=simulator,
    options=(
        Option("grating", "int", 1, "turret position of the grating (1 ...)"),
        RESOLUTION_NM,
        Option("center_wavelength_nm", "float", 650.0, "centre wavelength", "nm"),
        Option("cooler_setpoint_c", "float", -70.0, "CCD temperature setpoint", "degC"),
        Option("camera_index", "int", 0, "which Andor SDK2 camera (0: the first)"),
        Option("spectrograph_index", "int", 0, "which Shamrock (0: the first)"),
        Option("pixels", "int", 1024, "simulation only: detector columns (iDus 401: 1024)"),
        Option("pixel_width_um", "float", 26.0, "simulation only: pixel width", "um"),
    ),
    requires="andor",
    manual=MANUAL,
)
