"""Simulated Thorlabs SC10 shutter controller driving an SH05/SH1 beam shutter.

Protocol (SC10 manual, "Keywords (Commands and Queries)"; framing as handled by InstrumentKit's
``SC10`` and Micro-Manager's ``SC10`` adapter): lower-case ASCII at 9600 baud, commands end with
CR. The controller echoes each command and its CR, sends a query's value on its own CR-ended
line, and ends every exchange with the prompt ``"> "``; a bad keyword or argument gets
``Command error CMD_NOT_DEFINED`` / ``CMD_ARG_INVALID`` in place of the value. This is the
command interpreter of Thorlabs' FW102C filter wheel, so both simulators share its framing
(:mod:`qslab.sim.devices.thorlabs_interpreter`).

Commands: ``id?``; ``ens`` toggles the enable, ``ens?`` reads it (1 enabled); ``mode=n`` (1
manual, 2 auto, 3 single, 4 repeat, 5 external gate) and ``mode?``; ``rep=n`` (1-99),
``trig=n``, ``xto=n`` (0/1), ``open=n``/``shut=n`` (ms, at most 6 digits), ``baud=n`` (0 9600,
1 115200) and their queries; ``closed?`` (1 closed); ``interlock?`` (1 tripped); ``save``,
``savp``, ``resp``. In manual mode the shutter is open exactly while the output is enabled.

Not from the manual, the simulator's choices: the ``id?`` text; only manual mode is modelled
(the timed modes leave the shutter closed); a tripped interlock disables the output, closing the
shutter, and ``ens`` then leaves it disabled (still answered with echo and prompt, as the
firmware gives no error for it).
"""

from __future__ import annotations

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import Refused
from qslab.sim.devices.thorlabs_interpreter import ARG_INVALID, ThorlabsInterpreterSimulator

ID = "THORLABS SC10 VERSION 1.07"
ELEMENT = "sc10"
MANUAL_MODE = 1
RANGES = {
    "mode": range(1, 6),
    "rep": range(1, 100),
    "trig": range(2),
    "xto": range(2),
    "open": range(1_000_000),
    "shut": range(1_000_000),
    "baud": range(2),
}
"""The settings ``name=n`` and the values the manual allows."""
STORE = ("save", "savp", "resp")


class SC10Simulator(ThorlabsInterpreterSimulator):
    """The controller and its shutter; the bench's beam is blocked unless the shutter is open."""

    def __init__(self, bench: VirtualBench) -> None:
        super().__init__("sim:sc10")
        self.bench = bench
        self.state = {"mode": MANUAL_MODE, "rep": 1, "trig": 0, "xto": 0}
        self.state.update(open=100, shut=100, baud=0)
        self.enabled = False
        self.interlock_tripped = False
        self._report()

    @property
    def shutter_open(self) -> bool:
        return self.enabled and self.state["mode"] == MANUAL_MODE

    def trip_interlock(self, tripped: bool = True) -> None:
        """Open (True) or restore the interlock circuit; tripping it disables the output."""
        self.interlock_tripped = tripped
        if tripped:
            self.enabled = False
        self._report()

    def _execute(self, command: str) -> str | None:
        queries = {
            "id?": ID,
            "ens?": str(int(self.enabled)),
            "closed?": str(int(not self.shutter_open)),
            "interlock?": str(int(self.interlock_tripped)),
        }
        if command in queries:
            return queries[command]
        if command == "ens":
            self.enabled = not self.enabled and not self.interlock_tripped
        elif command not in STORE:
            name, value = self._setting(command, RANGES)
            if value not in RANGES[name]:
                raise Refused(ARG_INVALID)
            self.state[name] = value
        self._report()
        return None

    def _report(self) -> None:
        self.bench.set_blocked(ELEMENT, not self.shutter_open)
