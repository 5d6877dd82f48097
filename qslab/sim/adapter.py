"""Connects a real pymeasure driver to a simulated instrument through a byte stream.

The driver writes exactly what it would write to a serial port or USBTMC link (command plus
the write terminator); the simulated device parses those bytes and answers with the bytes the
real instrument would send (echo, reply, terminators, prompts). The adapter adds nothing and
strips only the read terminator, as pyvisa does, so a driver that works here handles the real
instrument's framing too (DESIGN.md principle 1).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from pymeasure.adapters import Adapter
from pyvisa import constants
from pyvisa.errors import VisaIOError


class TextDevice(ABC):
    """A simulated instrument that reads commands ended by ``input_terminator``.

    Subclasses implement :meth:`respond`, returning the complete bytes the instrument sends
    back for one command (``b""`` when it sends nothing). ``received`` keeps every command in
    order so that tests can assert what reached the instrument, or that nothing did.
    """

    input_terminator: bytes = b"\n"
    encoding: str = "ascii"

    def __init__(self) -> None:
        self.received: list[str] = []
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._lock = threading.Lock()
        self.connected = True

    def feed(self, data: bytes) -> None:
        with self._lock:
            self._inbox += data
            while (end := self._inbox.find(self.input_terminator)) >= 0:
                line = bytes(self._inbox[:end]).decode(self.encoding, errors="replace")
                del self._inbox[: end + len(self.input_terminator)]
                self.received.append(line)
                self._outbox += self.respond(line)

    def take(self, count: int = -1) -> bytes:
        """Bytes waiting in the instrument's output buffer (all of them when ``count`` < 0)."""
        with self._lock:
            n = len(self._outbox) if count < 0 else min(count, len(self._outbox))
            data = bytes(self._outbox[:n])
            del self._outbox[:n]
            return data

    def peek(self) -> bytes:
        with self._lock:
            return bytes(self._outbox)

    def clear_output(self) -> None:
        with self._lock:
            self._outbox.clear()

    @abstractmethod
    def respond(self, command: str) -> bytes:
        """The instrument's complete answer to one command."""


def _timeout() -> VisaIOError:
    return VisaIOError(constants.StatusCode.error_timeout)


class SimAdapter(Adapter):
    """A pymeasure adapter whose other end is a :class:`TextDevice` instead of a port.

    It takes the same connection keywords as pymeasure's VISAAdapter; the terminators and the
    encoding are honoured, serial settings (baud rate, parity) are accepted and ignored. A read
    with no complete message waiting raises pyvisa's timeout error, as on a real link.
    """

    def __init__(
        self,
        device: TextDevice,
        write_termination: str = "\n",
        read_termination: str = "\n",
        encoding: str = "ascii",
        **_serial_settings,
    ) -> None:
        super().__init__()
        self.device = device
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.encoding = encoding

    def _check_link(self) -> None:
        if not self.device.connected:
            raise VisaIOError(constants.StatusCode.error_connection_lost)

    def _write(self, command: str, **kwargs) -> None:
        self._write_bytes((command + self.write_termination).encode(self.encoding))

    def _write_bytes(self, content: bytes, **kwargs) -> None:
        self._check_link()
        self.device.feed(content)

    def _read(self, **kwargs) -> str:
        self._check_link()
        waiting = self.device.peek()
        term = self.read_termination.encode(self.encoding)
        if not term:
            return self.device.take().decode(self.encoding)
        end = waiting.find(term)
        if end < 0:
            raise _timeout()
        message = self.device.take(end + len(term))[:end]
        return message.decode(self.encoding)

    def _read_bytes(self, count: int, break_on_termchar: bool = False, **kwargs) -> bytes:
        self._check_link()
        waiting = self.device.peek()
        if break_on_termchar and self.read_termination:
            end = waiting.find(self.read_termination.encode(self.encoding))
            if end >= 0 and (count < 0 or end < count):
                return self.device.take(end + len(self.read_termination))
        if count < 0:
            return self.device.take()
        if len(waiting) < count:
            raise _timeout()
        return self.device.take(count)

    def flush_read_buffer(self) -> None:
        self.device.clear_output()

    def close(self) -> None:
        """Nothing to release: the simulated device lives with its bench."""
