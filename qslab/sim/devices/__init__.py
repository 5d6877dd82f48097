"""Simulated instruments, each speaking its real counterpart's protocol or library API.

Every simulated device has the same fault switch, so that tests (and anyone checking how a
procedure copes with a misbehaving instrument) can make it fail the way hardware does: set
``fault`` to ``"timeout"`` (no answer at all), ``"garbage"`` (line noise instead of the answer)
or ``"error"`` (the instrument's own error reply). A fault hits the next command only, like a
glitch; a link that stays down is ``connected = False`` on a text device.

The text devices also share how a command is refused (:class:`Refused`, carrying the
instrument's reason) and how a ``NAME=n`` setting is read (:func:`int_setting`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Collection

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


class Refused(Exception):
    """A simulated instrument refuses a command; ``reason`` is what it reports (its error text,
    code or SCPI error entry)."""

    def __init__(self, reason) -> None:
        super().__init__(reason)
        self.reason = reason


def int_setting(
    command: str,
    known: Collection[str],
    unknown: str,
    invalid: str,
    name_of: Callable[[str], str] = str,
) -> tuple[str, int]:
    """A ``NAME=n`` setting as its name (through ``name_of``) and whole-number value. A command
    without ``=`` or with a name not in ``known`` is refused with ``unknown``, a value that is not
    a whole number with ``invalid``."""
    name, equals, argument = command.partition("=")
    name = name_of(name)
    if not equals or name not in known:
        raise Refused(unknown)
    try:
        return name, int(argument)
    except ValueError:
        raise Refused(invalid) from None
