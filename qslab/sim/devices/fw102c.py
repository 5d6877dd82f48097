"""Simulated Thorlabs FW102C / FW212C filter wheel holding neutral-density filters.

Protocol (FW102C manual, serial command table; framing as handled by Odemis' ``tlfw.py``
and Caltech's hispec ``fw102c.py``): ASCII at 115200 baud, commands end with CR. The wheel
echoes each command and its CR, sends a query's value on its own CR-ended line, and ends every
exchange with the prompt ``"> "`` (no terminator) once the command has completed, which for
``pos=n`` means once the wheel has stopped. A refused command gets ``Command error
CMD_NOT_DEFINED`` (unknown command) or ``Command error CMD_ARG_INVALID`` (bad argument) in
place of the value. This is Thorlabs' command interpreter, simulated for the SC10 shutter
controller too (:mod:`qslab.sim.devices.thorlabs_interpreter`).

Timing: a move takes about 1 s per position at high speed and 2 s at low speed, going the
shorter way round (Odemis' timing model; hispec measured about 3 s for half a turn at high
speed). The bench is told the filter's true transmission (10**-OD, or off nominal where the
bench models real ND glass) when the wheel stops.
"""

from __future__ import annotations

from collections.abc import Sequence

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import Refused
from qslab.sim.devices.thorlabs_interpreter import ARG_INVALID, ThorlabsInterpreterSimulator

IDN = "THORLABS FW102C/FW212C Filter Wheel version 1.04"
SECONDS_PER_STEP = {1: 1.0, 0: 2.0}
SWITCHES = ("speed", "sensors", "trig")
"""Settings that take 0 or 1."""


class FW102CSimulator(ThorlabsInterpreterSimulator):
    """One wheel; ``index`` is its place in a stack, naming its element on the bench."""

    def __init__(self, bench: VirtualBench, optical_densities: Sequence[float], index: int = 0):
        super().__init__(f"sim:fw102c[{index}]")
        self.bench = bench
        self.optical_densities = [float(od) for od in optical_densities]
        self.element = f"fw102c:{index}"
        self.state = {"pos": 1, "pcount": len(self.optical_densities), "speed": 1}
        self.state.update(sensors=0, trig=0)
        self._report()

    def _execute(self, command: str) -> str | None:
        if command == "*idn?":
            return IDN
        if command == "save":
            return None
        name, value = self._setting(command, self.state)
        if name == "pos":
            self._move(value)
        elif (name == "pcount" and value in (6, 12)) or (name in SWITCHES and value in (0, 1)):
            self.state[name] = value
        else:
            raise Refused(ARG_INVALID)
        return None

    def _move(self, target: int) -> None:
        count = self.state["pcount"]
        if not 1 <= target <= count:
            raise Refused(ARG_INVALID)
        steps = abs(target - self.state["pos"])
        self.bench.wait(min(steps, count - steps) * SECONDS_PER_STEP[self.state["speed"]])
        self.state["pos"] = target
        self._report()

    def _report(self) -> None:
        index = (self.state["pos"] - 1) % len(self.optical_densities)
        od = self.optical_densities[index]
        transmission = self.bench.filter_transmission(self.element, index, od)
        self.bench.set_transmission(self.element, transmission)
