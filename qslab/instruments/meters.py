"""What the energy-meter drivers have in common as the EnergyMeter role, whoever makes the meter.

A meter reads pulse energies directly with an energy head (pyroelectric, or a photodiode energy
head). A power head (photodiode, thermopile) cannot see single pulses: its pulse energy is the
average power divided by the repetition rate, which :meth:`PulseEnergyMeter.configure` must be
given along with the wavelength the head corrects for. Each driver's own module cites its
manual for how its meter is asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from qslab.errors import ValidationError
from qslab.instruments.textlink import TextLink


class PulseEnergyMeter(ABC):
    """The EnergyMeter role on the driver ``meter`` with the head ``head_name``: single pulses
    if it ``reads_pulses`` (an energy head), else power over the repetition rate given to
    :meth:`configure`."""

    needs_rate = "a power head needs the pulse repetition rate: call configure() first"
    """The error for reading a power head before :meth:`configure`."""

    def __init__(self, meter: TextLink, head_name: str, reads_pulses: bool) -> None:
        self.meter = meter
        self.head_name = head_name
        self.reads_pulses = reads_pulses
        self.repetition_rate_hz: float | None = None

    @abstractmethod
    def set_wavelength(self, wavelength_nm: float) -> None:
        """Make the head correct for ``wavelength_nm``, refusing one outside its range."""

    @abstractmethod
    def _pulse_energies(self, count: int) -> np.ndarray:
        """``count`` single-pulse energies (J) from an energy head."""

    @abstractmethod
    def _power_w(self) -> float:
        """One power reading (W) from a power head."""

    @abstractmethod
    def _settings(self) -> dict[str, Any]:
        """The meter's own settings for the run record (:meth:`settings` adds the rate)."""

    def configure(self, wavelength_nm: float, repetition_rate_hz: float) -> None:
        """Correct for the pump wavelength and remember the rate that turns power into energy."""
        if not repetition_rate_hz > 0:
            raise ValidationError(
                "energy_meter.repetition_rate_hz", f"must be positive, got {repetition_rate_hz!r}"
            )
        self.set_wavelength(wavelength_nm)
        self.repetition_rate_hz = float(repetition_rate_hz)

    def read_energies(self, count: int) -> np.ndarray:
        """``count`` pulse energies (J): single pulses from an energy head; from a power head,
        each is one power reading divided by the repetition rate."""
        if self.reads_pulses:
            return self._pulse_energies(count)
        if self.repetition_rate_hz is None:
            raise self.meter.error(self.needs_rate)
        watts = np.array([self._power_w() for _ in range(count)])
        return watts / self.repetition_rate_hz

    def _check_range(
        self, wavelength_nm: float, low: float, high: float, sent: float | None = None
    ) -> None:
        """Refuse ``wavelength_nm`` outside the head's range ``low``-``high`` (checking
        ``sent``, what the meter will be given for it, where that differs)."""
        if not low <= (wavelength_nm if sent is None else sent) <= high:
            raise self.meter.error(
                f"{wavelength_nm:g} nm is outside the {self.head_name} range {low:g}-{high:g} nm"
            )

    @property
    def _mode(self) -> str:
        """What the head reads: ``"energy"`` or ``"power"``."""
        return "energy" if self.reads_pulses else "power"

    def settings(self) -> dict[str, Any]:
        out = self._settings()
        rate = self.repetition_rate_hz
        return out if rate is None else {**out, "repetition_rate_hz": rate}

    def safe(self) -> None:  # noqa: B027 - the same for every meter, not for each to write
        """Nothing to do: a meter only measures."""

    def close(self) -> None:
        self.meter.adapter.close()
