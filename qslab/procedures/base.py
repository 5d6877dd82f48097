"""What every procedure is: declared roles and parameters, a static check, and a body.

A procedure only talks to roles (qslab/instruments/roles.py) and only reports through its
:class:`RunContext`; it never opens files or plots. The engine runs :meth:`Procedure.run` in a
worker thread and turns whatever ends it into the run's status.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qslab.errors import PumpLost
from qslab.procedures.parameters import Parameter, resolve

PUMP_LOST_FRACTION = 0.01
"""Below this fraction of the expected pulse energy, the pump is taken as lost, not dim."""

if TYPE_CHECKING:
    from qslab.engine.runner import RunContext
    from qslab.station import Station


class Procedure(ABC):
    name: ClassVar[str]
    title: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]
    parameters: ClassVar[tuple[Parameter, ...]]

    def __init__(self, station: Station, values: dict[str, Any] | None = None) -> None:
        self.station = station
        self.values = resolve(self.parameters, values or {})
        station.require(self.roles, self.name)
        station.check_spot()
        self.validate()

    @classmethod
    def parameter(cls, name: str) -> Parameter:
        return next(p for p in cls.parameters if p.name == name)

    def validate(self) -> None:  # noqa: B027 - optional hook, most procedures add checks
        """Cross-checks between parameters and the station; no instrument is touched."""

    def parameter_record(self) -> dict[str, dict[str, Any]]:
        """Every parameter with its units, for the start document."""
        return {p.name: {"value": self.values[p.name], "units": p.units} for p in self.parameters}

    def prepare_pump(self) -> None:
        """Beam blocked, attenuator at its densest, laser emitting.

        With a separate shutter guarding the beam, the laser's own shutter is opened behind it
        (the separate one then does the switching); the engine's safe state closes both.
        """
        station = self.station
        laser = station["laser"]
        station.beam_shutter.close_shutter()
        station["attenuator"].safe()
        if not laser.emission_on:
            laser.set_emission(True)
        if station.beam_shutter is not laser and not laser.shutter_open:
            laser.open_shutter()
        if "energy_meter" in station.devices:
            station["energy_meter"].configure(laser.wavelength_nm, laser.repetition_rate_hz)

    def read_pulse_energies(self, transmission: float) -> np.ndarray:
        """``energy_samples`` pulse energies at the sample (J), read with the beam open.

        Raises :class:`PumpLost` when almost nothing arrives: a point taken without pump light
        would be stored as a valid point at zero fluence.
        """
        cfg = self.station.config
        energies = self.station["energy_meter"].read_energies(self.values["energy_samples"])
        energies = energies * cfg.calibration["sample_per_meter"]
        expected = cfg.calibration["full_pulse_energy_nJ"] * 1e-9 * transmission
        mean = float(np.mean(energies))
        if not mean >= PUMP_LOST_FRACTION * expected:
            raise PumpLost(
                f"the energy meter reads {mean * 1e9:.3g} nJ with the beam open where "
                f"{expected * 1e9:.3g} nJ was expected: is the laser off or interlocked, or "
                "the beam blocked?"
            )
        return energies

    def after_pause(self) -> None:
        """Called when a paused run goes on: the pause left the station safe (beam blocked,
        attenuator densest, maybe the laser off), so the pump is prepared again."""
        self.prepare_pump()

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """Take the data: emit a descriptor, one event per point, then the analysis."""
