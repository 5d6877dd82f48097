"""The command interpreter of Thorlabs' serial controllers: the FW102C/FW212C filter wheels and
the SC10 shutter controller speak it alike.

The controller echoes each command and its CR, sends a query's value on its own CR-ended line,
and ends every exchange with the prompt ``"> "`` (no terminator) once the command has finished.
A refused command gets ``Command error CMD_NOT_DEFINED`` (unknown command) or ``Command error
CMD_ARG_INVALID`` (bad argument) in place of the value, or before the prompt of a setting. The
framing was checked against the public drivers of Odemis (``tlfw.py``), msl-equipment
(``FWxx2C``), Caltech hispec (``fw102c.py``), InstrumentKit's ``SC10`` and Micro-Manager's
``SC10`` adapter; each instrument's module cites its own manual for its commands.
"""

from __future__ import annotations

from qslab.instruments.textlink import ExchangeLink

PROMPT = b"> "
ERROR = "Command error"
"""How a refusal starts, in place of the value or the prompt."""


class _Garbled(Exception):
    """The reply does not follow the interpreter's framing."""


class ThorlabsInterpreter(ExchangeLink):
    """Mixin for a driver of a Thorlabs command-interpreter controller (put it before
    ``Instrument``): every command is a full exchange, :meth:`write` waiting for the echo and
    the prompt (so a setting returns once the command has finished), :meth:`ask` also returning
    the value line. Error replies, garbage and timeouts raise :class:`DeviceError`."""

    def _exchange(self, command: str, query: bool) -> str:
        unanswered = f"no complete answer to {command!r}"
        with self._exchange_errors("garbled reply", unanswered, garbage=(_Garbled,)):
            self._send(command)
            echo = self.read()
            if echo != command:
                raise _Garbled(f"expected the echo of {command!r}, got {echo!r}")
            value = self.read().strip() if query else ""
            if value.startswith(ERROR):
                self._expect_prompt(command)
                raise self.error(f"refused {command!r}: {value}")
            head = self.read_bytes(2)
            if head != PROMPT:
                line = (head.decode("ascii") + self.read()).strip()
                if not line.startswith(ERROR):
                    raise _Garbled(f"expected the prompt after {command!r}, got {line!r}")
                self._expect_prompt(command)
                raise self.error(f"refused {command!r}: {line}")
            return value

    def _expect_prompt(self, command: str) -> None:
        if self.read_bytes(2) != PROMPT:
            raise _Garbled(f"expected the prompt after {command!r}")
