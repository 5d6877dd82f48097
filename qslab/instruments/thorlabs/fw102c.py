"""Thorlabs FW102C / FW212C motorized filter wheels as an attenuator (one wheel or a stack).

Manual: Thorlabs "FW102C Series and FW212C Series Motorized Fast Change Filter Wheels" user
manual, the serial command table (``*idn?``, ``pos=n``/``pos?``, ``pcount=n``/``pcount?``,
``trig``, ``speed``, ``sensors``, ``baud``, ``save``; 115200 baud 8N1, CR). The framing
(echo, CR-ended value, ``"> "`` prompt sent once the command has finished) and the error texts
``Command error CMD_NOT_DEFINED`` / ``CMD_ARG_INVALID`` were checked against the public drivers
of Odemis (``tlfw.py``), msl-equipment (``FWxx2C``) and Caltech hispec (``fw102c.py``). It is
Thorlabs' command interpreter, which the SC10 shutter controller speaks too
(:mod:`qslab.instruments.thorlabs.interpreter`).

Each wheel holds neutral-density filters; ``optical_densities`` gives the OD at every position
(one list per wheel for a stack). Wheels in series multiply their transmissions, so a fine wheel
(OD 0-0.5 in 0.1 steps) and a coarse one (OD 0-3 in 0.6 steps) give OD 0-3.5 in 0.1 steps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from qslab.errors import ValidationError
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import closing_on_error, open_link, switch
from qslab.instruments.thorlabs.interpreter import ThorlabsInterpreter
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.fw102c import FW102CSimulator

MANUAL = (
    "Thorlabs FW102C/FW212C Motorized Fast Change Filter Wheels user manual, "
    "serial command table (*idn?, pos, pcount, speed, sensors, trig, baud, save)"
)
CONNECTION = {
    "baud_rate": 115200,
    "write_termination": "\r",
    "read_termination": "\r",
    "timeout": 15000,
}
"""8N1 at 115200 baud. The prompt comes only after a move ends; half a turn of a 12-position
wheel at low speed takes about 12 s, hence the long timeout."""
OPTION_FIELD = "station.attenuator.optical_densities"
DEFAULT_DENSITIES = [0.0, 0.3, 0.6, 1.0, 2.0, 3.0]


class FW102C(ThorlabsInterpreter, Instrument):
    """One FW102C (6 positions) or FW212C (12 positions) filter wheel.

    Every command is a full exchange with the wheel (:class:`ThorlabsInterpreter`): a
    ``position`` set returns when the wheel has stopped. Error replies, garbage and timeouts
    raise :class:`DeviceError`.
    """

    def __init__(self, adapter, name: str = "Thorlabs FW102C", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    id = Instrument.measurement(
        "*idn?", """Get the model and firmware version.""", cast=str, maxsplit=0
    )

    position = Instrument.control(
        "pos?",
        "pos=%d",
        """Control the filter position (1 .. position_count); setting returns when the wheel
        has stopped.""",
        validator=strict_discrete_set,
        values=range(1, 13),
        cast=int,
        dynamic=True,
    )

    position_count = Instrument.control(
        "pcount?",
        "pcount=%d",
        """Control the wheel type: 6 (FW102C) or 12 (FW212C) positions.""",
        validator=strict_discrete_set,
        values=(6, 12),
        cast=int,
    )

    high_speed = switch(
        "speed?", "speed=%d", """Control the move profile: True for high speed, False for slow."""
    )

    sensors_active = switch(
        "sensors?",
        "sensors=%d",
        """Control the position sensors: False turns them off while idle (no stray light).""",
    )

    trigger_output = switch(
        "trig?",
        "trig=%d",
        """Control the trigger connector: True for output mode, False for input mode.""",
    )

    def save(self) -> None:
        """Store the current settings as the power-up defaults."""
        self.write("save")


class FilterWheelAttenuator:
    """The Attenuator role on one or more FW102C wheels in series."""

    def __init__(self, wheels: Sequence[FW102C], optical_densities: Sequence[Sequence[float]]):
        self.wheels = list(wheels)
        self.optical_densities = [list(ods) for ods in optical_densities]
        combos = list(itertools.product(*(range(1, len(ods) + 1) for ods in optical_densities)))
        self._combos = combos
        self._od = np.array([self._total_od(c) for c in combos])

    def _total_od(self, positions: Sequence[int]) -> float:
        pairs = zip(self.optical_densities, positions, strict=True)
        return float(sum(ods[p - 1] for ods, p in pairs))

    def transmissions(self) -> np.ndarray:
        return np.unique(10.0**-self._od)

    def set_transmission(self, transmission: float) -> float:
        """Nearest setting in log space (ties go to the denser one). Wheels that darken move
        first, so between moves the sample never gets more light than at either end; a turning
        wheel sweeps its filters through the beam, so close the shutter while changing."""
        target = -math.log10(transmission) if transmission > 0 else math.inf
        best = int(np.lexsort((-self._od, np.abs(self._od - target)))[0])
        self._move_to(self._combos[best])
        return float(10.0 ** -self._od[best])

    @property
    def transmission(self) -> float:
        return float(10.0 ** -self._total_od(self.positions))

    @property
    def positions(self) -> list[int]:
        return [wheel.position for wheel in self.wheels]

    def _move_to(self, positions: Sequence[int]) -> None:
        steps = zip(self.wheels, self.optical_densities, self.positions, positions, strict=True)
        moves = [
            (ods[new - 1] - ods[old - 1], wheel, new)
            for wheel, ods, old, new in steps
            if new != old
        ]
        for _, wheel, new in sorted(moves, key=lambda move: -move[0]):
            wheel.position = new

    def identity(self) -> str:
        return "; ".join(wheel.id for wheel in self.wheels)

    def settings(self) -> dict[str, Any]:
        positions = self.positions
        od = self._total_od(positions)
        return {"positions": positions, "optical_density": od, "transmission": 10.0**-od}

    def safe(self) -> None:
        """Every wheel at its densest filter."""
        self._move_to([int(np.argmax(ods)) + 1 for ods in self.optical_densities])

    def close(self) -> None:
        for wheel in self.wheels:
            wheel.adapter.close()


def _is_od(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def wheel_densities(options: dict[str, Any]) -> list[list[float]]:
    """The option as one list of ODs per wheel, checked (6 or 12 numbers >= 0 each)."""
    value = options["optical_densities"]
    wheels = value if value and all(isinstance(v, list) for v in value) else [value]
    for index, ods in enumerate(wheels, start=1):
        if not isinstance(ods, list) or len(ods) not in (6, 12):
            raise ValidationError(
                OPTION_FIELD,
                f"wheel {index}: give the OD of each of its 6 (FW102C) or 12 (FW212C) positions,"
                f" got {ods!r}",
            )
        if not all(_is_od(od) for od in ods):
            raise ValidationError(OPTION_FIELD, f"wheel {index}: ODs must be numbers >= 0: {ods!r}")
    return [[float(od) for od in ods] for ods in wheels]


def simulator(bench: VirtualBench, options: dict[str, Any]) -> list[FW102CSimulator]:
    """One simulated wheel per entry of ``optical_densities``, in beam order."""
    return [FW102CSimulator(bench, ods, i) for i, ods in enumerate(wheel_densities(options))]


def _open_wheel(target: Any) -> FW102C:
    adapter, resource = open_link(target, CONNECTION)
    return FW102C(adapter, resource=resource)


def connect(target: Any, options: dict[str, Any]) -> FilterWheelAttenuator:
    """Open one wheel per resource (a string, a simulator, or a list of either)."""
    densities = wheel_densities(options)
    targets = list(target) if isinstance(target, list | tuple) else [target]
    if len(targets) != len(densities):
        raise ValidationError(
            "station.attenuator.resource",
            f"{len(densities)} wheel(s) in optical_densities but {len(targets)} resource(s)",
        )
    wheels: list[FW102C] = []
    with closing_on_error(wheels):
        for target_, ods in zip(targets, densities, strict=True):
            wheel = _open_wheel(target_)
            wheels.append(wheel)
            count = wheel.position_count
            if count != len(ods):
                raise ValidationError(
                    OPTION_FIELD,
                    f"wheel {len(wheels)} ({wheel.resource}) has {count} positions but "
                    f"{len(ods)} ODs are given",
                )
            wheel.position_values = range(1, count + 1)
    return FilterWheelAttenuator(wheels, densities)


DRIVER = DriverSpec(
    name="thorlabs.fw102c",
    role="attenuator",
    description="Thorlabs FW102C/FW212C ND filter wheel(s); a list of resources stacks wheels",
    connect=connect,
    simulator=simulator,
    options=(
        Option(
            "optical_densities",
            "list",
            DEFAULT_DENSITIES,
            "OD at each position (1, 2, ...); a list of such lists for wheels in series",
        ),
    ),
    manual=MANUAL,
)
