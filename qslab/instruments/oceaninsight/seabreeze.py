"""Ocean Insight (Ocean Optics) spectrometers through python-seabreeze, as the spectrometer role.

Manual: python-seabreeze documentation, "seabreeze.spectrometers" API reference
(``Spectrometer.from_serial_number``, ``integration_time_micros``,
``integration_time_micros_limits``, ``wavelengths``, ``intensities``, ``max_intensity``,
``pixels``, ``model``, ``serial_number``, ``close``), with Ocean Insight's FLAME-S data sheet for
the detector (2048 pixels, 16-bit). The vendor ships a library rather than a text protocol, so
the simulator implements the same API and this driver cannot tell them apart.

python-seabreeze is optional (``pip install "qslab[seabreeze]"``) and imported only to open real
hardware. The station's ``resource`` names the link for the record (for example ``"usb"``); the
``serial_number`` option picks the spectrometer, the first free one when empty.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.registry import RESOLUTION_NM, DriverSpec, Option
from qslab.instruments.textlink import DeviceLink
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.seabreeze import SimulatedSpectrometer

MANUAL = "python-seabreeze documentation, 'seabreeze.spectrometers' API; Ocean FLAME-S data sheet"
NAME = "Ocean Insight spectrometer"


class OceanSpectrometer(DeviceLink):
    """The Spectrometer role on a seabreeze ``Spectrometer`` (or its simulator): raw counts,
    no dark or nonlinearity correction, every library failure a :class:`DeviceError`."""

    def __init__(self, device: Any, resource: str) -> None:
        self.device = device
        self.resource = resource
        self.name = NAME
        self.model = str(self._call("model", lambda: device.model))
        self.name = f"Ocean Insight {self.model}"
        self.serial_number = str(self._call("serial_number", lambda: device.serial_number))
        self.wavelengths_nm = np.array(self._call("wavelengths", device.wavelengths), dtype=float)
        self.max_counts = float(self._call("max_intensity", lambda: device.max_intensity))
        low, high = self._call("limits", lambda: device.integration_time_micros_limits)
        self._limits_us = (int(low), int(high))
        self._exposure_s: float | None = None

    def _call(self, what: str, function: Callable[[], Any]) -> Any:
        with self.calling(what):
            return function()

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        """seabreeze accepts ``low <= t < high``: the longest exposure is 1 us short of high."""
        low, high = self._limits_us
        return low * 1e-6, (high - 1) * 1e-6

    def set_exposure(self, seconds: float) -> None:
        low, high = self.exposure_limits_s
        if not low <= seconds <= high:
            raise ValidationError(
                "spectrometer.exposure_s",
                f"{seconds:g} s is outside the {self.model}'s range {low:g}..{high:g} s",
            )
        micros = round(seconds * 1e6)
        self._call("integration_time_micros", lambda: self.device.integration_time_micros(micros))
        self._exposure_s = micros * 1e-6

    def acquire(self) -> np.ndarray:
        counts = self._call(
            "intensities",
            lambda: self.device.intensities(correct_dark_counts=False, correct_nonlinearity=False),
        )
        counts = np.asarray(counts, dtype=float)
        if counts.shape != self.wavelengths_nm.shape:
            raise self.error(
                f"spectrum of {counts.size} values for {self.wavelengths_nm.size} pixels"
            )
        return counts

    def identity(self) -> str:
        return f"{self.name} s/n {self.serial_number}"

    def settings(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "serial_number": self.serial_number,
            "pixels": int(self.wavelengths_nm.size),
            "wavelength_min_nm": float(self.wavelengths_nm[0]),
            "wavelength_max_nm": float(self.wavelengths_nm[-1]),
            "max_counts": self.max_counts,
        }
        if self._exposure_s is not None:
            out["exposure_s"] = self._exposure_s
        return out

    def safe(self) -> None:
        """A spectrometer only looks; nothing to make safe."""

    def close(self) -> None:
        self._call("close", self.device.close)


def _open_hardware(resource: str, serial_number: str) -> Any:
    try:
        spectrometers = importlib.import_module("seabreeze.spectrometers")
    except ImportError:
        raise ValidationError(
            "station.spectrometer.driver",
            'oceaninsight.seabreeze needs python-seabreeze: pip install "qslab[seabreeze]"',
        ) from None
    try:
        return spectrometers.Spectrometer.from_serial_number(serial_number or None)
    except Exception as exc:  # noqa: BLE001 - no device, device busy, USB or backend failure
        raise DeviceError(NAME, resource, f"cannot open {serial_number or 'any'}: {exc}") from exc


def _axis(options: dict[str, Any]) -> tuple[float, float]:
    value = options["wavelength_range_nm"]
    ok = len(value) == 2 and all(isinstance(v, int | float) for v in value) and value[0] < value[1]
    if not ok or options["pixels"] < 64:
        raise ValidationError(
            "station.spectrometer.wavelength_range_nm",
            f"need [shortest, longest] nm and at least 64 pixels, got {value!r}, "
            f"{options['pixels']} pixels",
        )
    return float(value[0]), float(value[1])


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SimulatedSpectrometer:
    return SimulatedSpectrometer(
        bench, options["model"], _axis(options), options["pixels"], "FLMS00001"
    )


def connect(target: Any, options: dict[str, Any]) -> OceanSpectrometer:
    """The simulator as given, or the spectrometer with ``serial_number`` through seabreeze."""
    if isinstance(target, SimulatedSpectrometer):
        target.open()  # as from_serial_number opens a real one (again, after a close)
        return OceanSpectrometer(target, target.resource_name)
    return OceanSpectrometer(_open_hardware(target, options["serial_number"]), target)


DRIVER = DriverSpec(
    name="oceaninsight.seabreeze",
    role="spectrometer",
    description="Ocean Insight / Ocean Optics spectrometer (FLAME, USB2000+, ...) via seabreeze",
    connect=connect,
    simulator=simulator,
    options=(
        Option("serial_number", "str", "", "which spectrometer; empty: the first free one"),
        RESOLUTION_NM,
        Option("model", "str", "FLAMES", "simulation only: model name (seabreeze's for a FLAME-S)"),
        Option(
            "wavelength_range_nm",
            "list",
            [550.0, 780.0],
            "simulation only: first and last pixel wavelengths",
            "nm",
        ),
        Option("pixels", "int", 2048, "simulation only: detector pixels"),
    ),
    requires="seabreeze",
    manual=MANUAL,
)
