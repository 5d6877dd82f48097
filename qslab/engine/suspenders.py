"""Suspenders: conditions checked on every point that pause a run instead of spoiling it.

A drifting pump, a collapsed count rate, a spectrum still saturated at the shortest exposure or
an instrument that stopped answering each make the point unusable. Rather than storing it (or
failing an overnight run), the engine pauses: the station goes to its safe state, waits (or,
with ``on_trip = "pause"``, waits for someone to resume the run), then retakes the point, marked
as a retake in the file. A point that cannot be taken after ``max_retakes`` tries fails the run
with the last reason. Configured in the station file::

    [suspenders]
    pump_energy_tolerance = 0.2   # pause if pulse energy / transmission drifts by > 20 %
    min_count_rate_cps = 2000     # pause if the detectors' total rate falls below this
    saturation = true             # pause if a spectrum stays saturated at the shortest exposure
    device_retries = true         # an instrument error pauses and reconnects instead of failing
    wait_s = 30                   # how long to wait before retaking
    max_retakes = 3               # tries per point before the run fails
    on_trip = "retry"             # or "pause": wait for a resume request (the GUI's button)

The pump reference is the first point of the run (or of the file being resumed): a station whose
calibration is off by a constant factor never trips it, a laser that loses power mid-run does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qslab.checks import choice, flag, number, only
from qslab.errors import DeviceError, PumpLost

ON_TRIP = ("retry", "pause")
KEYS = (
    "pump_energy_tolerance",
    "min_count_rate_cps",
    "saturation",
    "device_retries",
    "wait_s",
    "max_retakes",
    "on_trip",
)


@dataclass(frozen=True)
class SuspenderConfig:
    pump_energy_tolerance: float | None = None
    min_count_rate_cps: float | None = None
    saturation: bool = False
    device_retries: bool = False
    wait_s: float = 30.0
    max_retakes: int = 3
    on_trip: str = "retry"

    def suspends(self, error: Exception) -> bool:
        """Whether this error pauses the run (instead of failing it)."""
        if isinstance(error, PumpLost):
            return self.pump_energy_tolerance is not None
        return isinstance(error, DeviceError) and self.device_retries


def suspender_config(table: dict[str, Any], where: str = "station.suspenders") -> SuspenderConfig:
    """The ``[suspenders]`` table, checked key by key."""
    only(table, KEYS, where)

    def at_least_zero(name: str, default: float, whole: bool = False) -> float:
        return number(table, name, where, default, positive=False, minimum=0, whole=whole)

    def optional(name: str) -> float | None:
        return at_least_zero(name, 0.0) if name in table else None

    return SuspenderConfig(
        pump_energy_tolerance=optional("pump_energy_tolerance"),
        min_count_rate_cps=optional("min_count_rate_cps"),
        saturation=flag(table, "saturation", where, False),
        device_retries=flag(table, "device_retries", where, False),
        wait_s=at_least_zero("wait_s", 30.0),
        max_retakes=at_least_zero("max_retakes", 3, whole=True),
        on_trip=choice(table, "on_trip", where, ON_TRIP, "retry"),
    )


class PointChecks:
    """The data-based suspenders of one run; :meth:`trip` says why a point is unusable."""

    def __init__(self, config: SuspenderConfig) -> None:
        self.config = config
        self._pump_reference: float | None = None

    def accept(self, data: dict[str, Any]) -> None:
        """A point was kept: the first one sets the pump reference."""
        if self._pump_reference is None:
            self._pump_reference = _pump_per_transmission(data)

    def trip(self, data: dict[str, Any]) -> str:
        """Why this point must be retaken, or "" when it is fine."""
        c = self.config
        pump = _pump_per_transmission(data)
        reference = self._pump_reference
        if c.pump_energy_tolerance is not None and pump and reference:
            drift = pump / reference - 1.0
            if abs(drift) > c.pump_energy_tolerance:
                return (
                    f"pump pulse energy {drift:+.0%} off the run's first point "
                    f"(station.suspenders.pump_energy_tolerance = {c.pump_energy_tolerance:g})"
                )
        rate = data.get("count_rate")
        if c.min_count_rate_cps is not None and rate is not None and rate < c.min_count_rate_cps:
            return (
                f"count rate {rate:.4g} cps below {c.min_count_rate_cps:g} cps "
                "(station.suspenders.min_count_rate_cps)"
            )
        if c.saturation and bool(data.get("saturated", False)):
            return "spectrum saturated at the shortest exposure (station.suspenders.saturation)"
        return ""


def _pump_per_transmission(data: dict[str, Any]) -> float | None:
    """Pulse energy normalised by the attenuator: the laser's own output, whatever the point."""
    energy, transmission = data.get("pulse_energy"), data.get("transmission")
    if energy is None or not transmission or not math.isfinite(energy) or energy <= 0:
        return None
    return float(energy) / float(transmission)
