"""Scripted faults: a simulated station misbehaves at a chosen point, from its station file.

::

    [[faults]]
    role = "energy_meter"   # which simulated instrument (or the bench, for the beam faults)
    fault = "timeout"       # see FAULTS
    point = 4               # just before the 4th point of the plan is taken (1-based)
    factor = 0.5            # drift, defocus: the pump's pulse energy (drift) or the fraction
                            # reaching the sample's focus (defocus) is multiplied by this

Instrument faults (``timeout``, ``garbage``, ``error``) hit the instrument's next command,
like a glitch. ``unplugged`` takes the instrument off its link; it comes back when the run is
paused (the cable reseated) unless ``permanent = true``. The beam faults act on the bench and
are cleared by a pause the same way: ``interlock`` (a tripped safety interlock blocks the
beam), ``saturate`` (a stray light source saturates the spectrometer: gain x 1e6),
``drift`` (the pump loses power) and ``defocus`` (the sample drifts out of focus: less pump
where the emission comes from, unseen by the energy meter; the count rates collapse). With
suspenders configured, these are what a run must survive; without them, the run must fail
cleanly with the laser safe or leave points that say what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from qslab.checks import choice, flag, number, only
from qslab.errors import ValidationError

log = logging.getLogger(__name__)

DEVICE_FAULTS = ("timeout", "garbage", "error", "unplugged")
BEAM_FAULTS = ("interlock", "saturate", "drift", "defocus")
FAULTS = DEVICE_FAULTS + BEAM_FAULTS
KEYS = ("role", "fault", "point", "factor", "permanent")
SATURATING_GAIN = 1.0e6


@dataclass(frozen=True)
class ScriptedFault:
    role: str
    fault: str
    point: int
    factor: float = 0.5
    permanent: bool = False


def scripted_faults(tables: Any, roles: dict[str, Any]) -> tuple[ScriptedFault, ...]:
    """The ``[[faults]]`` array of tables, each checked against the station's roles."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValidationError("station.faults", "write each fault as a [[faults]] table")
    out = []
    for i, table in enumerate(tables):
        where = f"station.faults[{i}]"
        only(table, KEYS, where)
        fault = choice(table, "fault", where, FAULTS, None)
        role = table.get("role", "bench" if fault in BEAM_FAULTS else None)
        if fault in DEVICE_FAULTS:
            if role not in roles:
                raise ValidationError(
                    f"{where}.role", f"{role!r} is not a role of this station ({', '.join(roles)})"
                )
            if not roles[role].simulated:
                raise ValidationError(
                    f"{where}.role", f"{role} is a real instrument; faults are scripted on sim ones"
                )
        point = number(table, "point", where, None, positive=False, minimum=1, whole=True)
        factor = number(table, "factor", where, 0.5, positive=False, minimum=0)
        permanent = flag(table, "permanent", where, False)
        out.append(ScriptedFault(str(role), fault, point, factor, permanent))
    return tuple(out)


class FaultScript:
    """Arms each scripted fault once, just before its point, on the station's simulators."""

    def __init__(self, faults: tuple[ScriptedFault, ...], bench, simulators: dict[str, Any]):
        self.faults = faults
        self.bench = bench
        self.simulators = simulators
        self._armed: set[int] = set()
        self._to_clear: list[ScriptedFault] = []
        self._pulse_energy = bench.laser.pulse_energy_j
        self._gain = bench.detector.counts_per_photon
        for i, fault in enumerate(faults):
            sims = self._sims(fault.role) if fault.fault in DEVICE_FAULTS else []
            attribute = "connected" if fault.fault == "unplugged" else "fault"
            if not all(hasattr(sim, attribute) for sim in sims):
                raise ValidationError(
                    f"station.faults[{i}].fault",
                    f"the simulated {fault.role} cannot be made to fail with {fault.fault!r}",
                )

    def before_point(self, index: int) -> None:
        for k, fault in enumerate(self.faults):
            if fault.point == index + 1 and k not in self._armed:
                self._armed.add(k)
                log.warning(
                    "scripted fault: %s on %s at point %d", fault.fault, fault.role, index + 1
                )
                self._arm(fault)

    def _arm(self, fault: ScriptedFault) -> None:
        if fault.fault in ("timeout", "garbage", "error"):  # one-shot: the next command only
            for sim in self._sims(fault.role):
                sim.fault = fault.fault
        else:
            self._set(fault, faulty=True)
        if not fault.permanent:
            self._to_clear.append(fault)

    def after_pause(self) -> None:
        """What a pause puts right: a reseated cable, a reset interlock, a relocked laser."""
        for fault in self._to_clear:
            self._set(fault, faulty=False)
        self._to_clear = []

    def _set(self, fault: ScriptedFault, faulty: bool) -> None:
        """Put what ``fault`` acts on in its faulty state, or back in its healthy one."""
        bench = self.bench
        if fault.fault == "unplugged":
            for sim in self._sims(fault.role):
                sim.connected = not faulty
        elif fault.fault == "interlock":
            bench.set_blocked("interlock", faulty)
        elif fault.fault == "saturate":
            bench.detector.counts_per_photon = self._gain * (SATURATING_GAIN if faulty else 1.0)
        elif fault.fault == "drift":
            bench.laser.pulse_energy_j = self._pulse_energy * (fault.factor if faulty else 1.0)
        elif fault.fault == "defocus":
            bench.focus = fault.factor if faulty else 1.0

    def _sims(self, role: str) -> list[Any]:
        sims = self.simulators.get(role, [])
        return sims if isinstance(sims, list) else [sims]
