"""What a procedure may ask of each instrument role, in physical units.

Procedures know these roles, never instrument models (in the spirit of bluesky's
``protocols.py``). Every role can report its identity and settings for the run record and can
be put in its safe state, which the engine calls on every way out of a run.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Device(Protocol):
    """Common to every role."""

    def identity(self) -> str:
        """The instrument's own identification string (``*IDN?`` or the vendor equivalent)."""

    def settings(self) -> dict[str, Any]:
        """Snapshot of the settings worth storing with a run (scalars or short lists)."""

    def safe(self) -> None:
        """Put the instrument in its safe state. Must not raise for an already-safe device."""

    def close(self) -> None:
        """Release the connection."""


@runtime_checkable
class Shutter(Device, Protocol):
    """Blocks the pump beam. A laser's own shutter offers the same three members."""

    @property
    def shutter_open(self) -> bool: ...

    def open_shutter(self) -> None: ...

    def close_shutter(self) -> None: ...


@runtime_checkable
class PulsedLaser(Shutter, Protocol):
    """A pulsed pump: emission, shutter, and the pulse train's wavelength and rate."""

    @property
    def wavelength_nm(self) -> float: ...

    @property
    def repetition_rate_hz(self) -> float: ...

    @property
    def pulse_width_s(self) -> float: ...

    @property
    def emission_on(self) -> bool: ...

    def set_emission(self, on: bool) -> None: ...


@runtime_checkable
class Attenuator(Device, Protocol):
    """Sets the fraction of pump energy that reaches the sample."""

    def transmissions(self) -> np.ndarray:
        """Every transmission the attenuator can set, ascending (continuous ones: a fine grid)."""

    def set_transmission(self, transmission: float) -> float:
        """Go to the setting nearest ``transmission``; return the nominal transmission reached."""

    @property
    def transmission(self) -> float: ...


@runtime_checkable
class EnergyMeter(Device, Protocol):
    """Pulse energy at the meter's plane, in joules."""

    def configure(self, wavelength_nm: float, repetition_rate_hz: float) -> None:
        """Wavelength correction, and the pulse rate a power head divides by."""

    def read_energies(self, count: int) -> np.ndarray:
        """Energies of ``count`` successive pulses, J."""


@runtime_checkable
class Spectrometer(Device, Protocol):
    """A spectrum in counts on a fixed wavelength axis."""

    @property
    def wavelengths_nm(self) -> np.ndarray: ...

    @property
    def max_counts(self) -> float:
        """Counts at which a pixel saturates."""

    @property
    def exposure_limits_s(self) -> tuple[float, float]:
        """Shortest and longest exposure the spectrometer accepts, both inclusive."""

    def set_exposure(self, seconds: float) -> None: ...

    def acquire(self) -> np.ndarray:
        """One spectrum in raw counts, one value per pixel."""


@runtime_checkable
class Monochromator(Device, Protocol):
    """A grating instrument set to a centre wavelength (a spectrograph's turret and drive)."""

    @property
    def grating(self) -> int: ...

    @property
    def center_wavelength_nm(self) -> float: ...

    def set_grating(self, grating: int) -> None: ...

    def set_center_wavelength(self, wavelength_nm: float) -> float:
        """Move there and wait until the drive has stopped; return the wavelength reached."""


@runtime_checkable
class TCSPC(Device, Protocol):
    """A time tagger / TCSPC counter streaming :class:`qslab.tcspc.tags.TagChunk` objects."""

    @property
    def mode(self) -> str:
        """``"T2"`` or ``"T3"``."""

    @property
    def resolution_ps(self) -> int: ...

    @property
    def sync_period_ps(self) -> int:
        """Laser period measured on the sync input; 0 when there is none."""

    def configure(self, channels: tuple[int, ...], delays_ps: dict[int, int]) -> None:
        """Detector channels to record and a cable delay to add to each."""

    def count_rates(self) -> dict[int, float]:
        """Counts per second on each channel (the sync as channel -1 in T3)."""

    def start(self, duration_s: float | None = None) -> None: ...

    def read_chunk(self) -> Any:
        """The next chunk of tags (a TagChunk), or None once the acquisition has ended."""

    def stop(self) -> None: ...


@runtime_checkable
class SampleStage(Device, Protocol):
    """Moves the sample in its own plane under a fixed pump beam, in millimetres: to a fresh
    spot when the film has bleached, or to the next device of an array."""

    @property
    def position_mm(self) -> tuple[float, float]:
        """(x, y) as the controller reports it."""

    def travel_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x_min, x_max), (y_min, y_max)): where the stage may go."""

    def move_to(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Move both axes and wait until in position; return the position reached."""


ROLE_TYPES: dict[str, type] = {
    "laser": PulsedLaser,
    "shutter": Shutter,
    "attenuator": Attenuator,
    "energy_meter": EnergyMeter,
    "spectrometer": Spectrometer,
    "monochromator": Monochromator,
    "tcspc": TCSPC,
    "stage": SampleStage,
}
