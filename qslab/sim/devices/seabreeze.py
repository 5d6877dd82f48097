"""Simulated Ocean Insight spectrometer behind python-seabreeze's ``Spectrometer`` API.

The vendor ships a library, not a text protocol, so the simulator implements the library's API
(DESIGN.md principle 1): the same method names, arguments, units (integration time in
microseconds) and errors as ``seabreeze.spectrometers.Spectrometer`` (python-seabreeze 2.x,
``spectrometers.py`` and the pyseabreeze FLAMES device: 2048 pixels, 16-bit counts, integration
time accepted when ``1000 <= t < 655350000`` us, otherwise ``SeaBreezeError("Integration not in
[1000, 655350000]")``; electric-dark pixels 6-21; model name ``"FLAMES"``).

The wavelength axis is a third-order polynomial in the pixel index, as stored in an Ocean
spectrometer's EEPROM, with the gentle curvature of a FLAME-S grating. Counts come from the
bench: the film's emission during the exposure plus dark counts and noise; the electric-dark
pixels are masked from light, as on the detector. There are no nonlinearity coefficients, so
asking for that correction raises as seabreeze does on such a device.
"""

from __future__ import annotations

import numpy as np

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultSwitch

try:  # the very class real code catches, when python-seabreeze is installed
    from seabreeze.spectrometers import SeaBreezeError
except ImportError:  # seabreeze is optional; keep the same name without it

    class SeaBreezeError(Exception):
        """Stand-in for ``seabreeze.spectrometers.SeaBreezeError``."""


INTEGRATION_LIMITS_US = (1000, 655350000)
DARK_PIXELS = slice(6, 22)
CURVATURE = (-0.095, -0.019)
"""Second- and third-order terms of the calibration, as fractions of the span at the last pixel
(scaled from a FLAME-S calibration over 340-1030 nm)."""


def calibration(low_nm: float, high_nm: float, pixels: int) -> tuple[float, float, float, float]:
    """Coefficients c0..c3 of wavelength = sum(c_i * pixel**i), reaching ``high_nm`` exactly at
    the last pixel."""
    span, last = high_nm - low_nm, pixels - 1
    c2, c3 = CURVATURE[0] * span / last**2, CURVATURE[1] * span / last**3
    return low_nm, span * (1 - sum(CURVATURE)) / last, c2, c3


class SimulatedSpectrometer(FaultSwitch):
    """A spectrometer seen through seabreeze, looking at the film on the bench."""

    def __init__(
        self,
        bench: VirtualBench,
        model: str = "FLAMES",
        wavelength_range_nm: tuple[float, float] = (550.0, 780.0),
        pixels: int = 2048,
        serial_number: str = "FLMS00001",
    ) -> None:
        self.bench = bench
        self.resource_name = "sim:seabreeze"
        self._model = model
        self._serial = serial_number
        index = np.arange(pixels, dtype=float)
        coefficients = calibration(*wavelength_range_nm, pixels)
        self._wavelengths = sum(c * index**i for i, c in enumerate(coefficients))
        self._integration_us = 10000
        self._open = True
        self.connected = True
        """False: the USB cable is out; every transfer fails until it is back."""

    # -- seabreeze.spectrometers.Spectrometer API ------------------------------------------
    def wavelengths(self) -> np.ndarray:
        return self._wavelengths

    def intensities(
        self, correct_dark_counts: bool = False, correct_nonlinearity: bool = False
    ) -> np.ndarray:
        self._check_open()
        if correct_nonlinearity:
            raise SeaBreezeError("This device does not support nonlinearity correction.")
        fault = self.take_fault()
        if fault == "timeout":
            raise SeaBreezeError("Data transfer error")
        if fault == "error":
            raise SeaBreezeError("Undefined error")
        exposure_s = self._integration_us * 1e-6
        counts = self.bench.spectrum_counts(self._wavelengths, exposure_s)
        counts[DARK_PIXELS] = self._masked(counts[DARK_PIXELS].size, exposure_s)
        if correct_dark_counts:
            counts -= np.mean(counts[DARK_PIXELS])
        if fault == "garbage":
            return counts[: counts.size // 2]
        return counts

    @property
    def max_intensity(self) -> float:
        return self.bench.detector.max_counts

    def integration_time_micros(self, integration_time_micros: int) -> None:
        self._check_open()
        low, high = INTEGRATION_LIMITS_US
        if not low <= integration_time_micros < high:
            raise SeaBreezeError(f"Integration not in [{low:d}, {high:d}]")
        self._integration_us = int(integration_time_micros)

    @property
    def integration_time_micros_limits(self) -> tuple[int, int]:
        return INTEGRATION_LIMITS_US

    @property
    def serial_number(self) -> str:
        return self._serial

    @property
    def model(self) -> str:
        return self._model

    @property
    def pixels(self) -> int:
        return self._wavelengths.size

    def open(self) -> None:
        """seabreeze's ``Spectrometer.open()``: a closed device can be opened again."""
        if not self.connected:
            raise SeaBreezeError("No device found")
        self._open = True

    def close(self) -> None:
        self._open = False

    # -- detector ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._open:
            raise SeaBreezeError("Device not opened.")
        if not self.connected:
            raise SeaBreezeError("Data transfer error")

    def _masked(self, count: int, exposure_s: float) -> np.ndarray:
        """Counts of pixels that see no light: dark current, offset and read noise only."""
        d, rng = self.bench.detector, self.bench.rng
        with self.bench.lock:
            dark = rng.poisson(d.dark_counts_per_s * exposure_s, count).astype(float)
            dark += d.baseline_counts + rng.normal(0.0, d.read_noise_counts, count)
        return np.clip(np.round(dark), 0.0, d.max_counts)
