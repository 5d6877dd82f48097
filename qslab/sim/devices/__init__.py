"""Simulated instruments, each speaking its real counterpart's protocol or library API.

Every simulated device has the same fault switch, so that tests (and anyone checking how a
procedure copes with a misbehaving instrument) can make it fail the way hardware does: set
``fault`` to ``"timeout"`` (no answer at all), ``"garbage"`` (line noise instead of the answer)
or ``"error"`` (the instrument's own error reply). A fault hits the next command only, like a
glitch; a link that stays down is ``connected = False`` on a text device.
"""

from __future__ import annotations

from abc import abstractmethod

from qslab.sim.adapter import TextDevice

FAULTS = ("timeout", "garbage", "error")
LINE_NOISE = b"\x8f\x00#\xfe?\x15"
"""What a baud-rate mismatch or a half-unplugged cable delivers: bytes that are not ASCII."""


class FaultSwitch:
    """A one-shot fault that the device consumes on its next command."""

    _fault: str | None = None

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS:
            raise ValueError(f"fault must be None or one of {', '.join(FAULTS)}, got {value!r}")
        self._fault = value

    def take_fault(self) -> str | None:
        fault, self._fault = self._fault, None
        return fault


class FaultyTextDevice(FaultSwitch, TextDevice):
    """A text instrument whose answers can be replaced by a fault.

    Subclasses implement :meth:`answer` (the normal reply) and :meth:`error_reply` (what the
    instrument sends when it refuses a command) and set ``reply_terminator``, so that injected
    line noise still arrives as one complete (unreadable) message.
    """

    reply_terminator: bytes = b"\n"

    def __init__(self, resource_name: str) -> None:
        super().__init__()
        self.resource_name = resource_name

    def respond(self, command: str) -> bytes:
        fault = self.take_fault()
        if fault == "timeout":
            return b""
        if fault == "garbage":
            return LINE_NOISE + self.reply_terminator
        if fault == "error":
            return self.error_reply(command)
        return self.answer(command)

    @abstractmethod
    def answer(self, command: str) -> bytes:
        """The instrument's complete, normal answer to one command."""

    @abstractmethod
    def error_reply(self, command: str) -> bytes:
        """The instrument's complete answer when it refuses ``command``."""
