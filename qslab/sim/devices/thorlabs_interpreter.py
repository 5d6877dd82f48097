"""The simulated command interpreter of Thorlabs' serial controllers (FW102C/FW212C filter
wheels, SC10 shutter controller).

Framing (FW102C and SC10 manuals; as handled by Odemis' ``tlfw.py``, Caltech's hispec
``fw102c.py``, InstrumentKit's ``SC10`` and Micro-Manager's ``SC10`` adapter): commands end
with CR. The controller echoes each command and its CR, sends a query's value on its own
CR-ended line, and ends every exchange with the prompt ``"> "`` (no terminator) once the command
has completed. A refused command gets ``Command error CMD_NOT_DEFINED`` (unknown command) or
``Command error CMD_ARG_INVALID`` (bad argument) in place of the value.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection

from qslab.sim.devices import FaultyTextDevice, Refused, int_setting

NOT_DEFINED = "CMD_NOT_DEFINED"
ARG_INVALID = "CMD_ARG_INVALID"


class ThorlabsInterpreterSimulator(FaultyTextDevice):
    """A controller with this interpreter. Subclasses keep their ``name=n`` settings in
    ``state`` (``name?`` reads one back) and implement :meth:`_execute` for the rest."""

    input_terminator = b"\r"
    reply_terminator = b"\r"
    state: dict[str, int]

    def answer(self, command: str) -> bytes:
        try:
            value = self._run(command)
        except Refused as refusal:
            value = f"Command error {refusal.reason}"
        line = "" if value is None else value + "\r"
        return f"{command}\r{line}> ".encode()

    def error_reply(self, command: str) -> bytes:
        return f"{command}\rCommand error {NOT_DEFINED}\r> ".encode()

    def _run(self, command: str) -> str | None:
        if command.endswith("?") and command[:-1] in self.state:
            return str(self.state[command[:-1]])
        return self._execute(command)

    @abstractmethod
    def _execute(self, command: str) -> str | None:
        """Carry out ``command`` (any but a ``state`` query); its value line, if it has one.
        Raise :class:`Refused` with :data:`NOT_DEFINED` or :data:`ARG_INVALID` to refuse it."""

    @staticmethod
    def _setting(command: str, known: Collection[str]) -> tuple[str, int]:
        """A ``name=n`` setting of one of ``known``, as its name and value."""
        return int_setting(command, known, NOT_DEFINED, ARG_INVALID)
