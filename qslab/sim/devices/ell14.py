"""Simulated Thorlabs ELL14 Elliptec rotation mount turning a half-wave plate before a polariser.

Protocol (Thorlabs "ELLx modules protocol manual"; checked against pylablib's
``Thorlabs.elliptec``, the ``elliptec`` package on PyPI and rwpeterson's ``elliptec``): ASCII at
9600 baud 8N1. A command is the module's address (one hex digit, ``0`` by default), two
lower-case letters and a fixed-length argument, with no terminator: the module knows where a
packet ends from its length. A module answers only its own address, with the address, two
upper-case letters, data and CR LF:

* ``in`` -> ``IN`` + model (2 hex), serial (8), year (4), firmware (2), hardware (2), travel
  (4 hex) and pulses per travel (8 hex). A real ELL14 answers ``0IN0E1140051420211501016800023000``:
  model 0x0E = 14, travel 0x168 = 360 degrees, 0x23000 = 143360 pulses per turn.
* ``gp`` -> ``PO`` + position (8 hex digits, 32-bit two's complement, upper case).
* ``ma`` + 8 hex digits (move absolute), ``ho`` + direction (0 clockwise, 1 counter-clockwise):
  ``PO`` + the position reached once the move has ended.
* ``gs`` -> ``GS`` + status (2 hex). A refused or failed command is answered ``GS`` with its
  code: 1 communication time-out, 2 mechanical time-out, 3 command error or not supported,
  4 value out of range, 5 module isolated, 6 module out of isolation, 7 initialising error,
  8 thermal error, 9 busy, 10 sensor error, 11 motor error, 12 out of range, 13 over current.

Optics: the mount turns a half-wave plate; its fast axis at ``theta`` turns linear polarisation
by ``2 (theta - theta0)`` relative to a polariser that passes ``t_max`` at ``theta0`` and leaks
``1/extinction_ratio`` of that crossed, so T = t_max [cos^2 2(theta - theta0) +
sin^2 2(theta - theta0) / ER] (Malus' law with a finite extinction ratio). The bench is told T
once a move ends.

The simulator's own choices: the serial number and year; the speed (430 deg/s, the ELL14's
specified maximum); moves go straight from the old to the new position count, with no
wrapping; the module powers up at an arbitrary angle with its counter at 0, and homing turns
the plate the shorter way to its index at the bench's angle 0, where the counter restarts.
"""

from __future__ import annotations

import math

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice

PULSES_PER_TURN = 0x23000
SPEED_DEG_S = 430.0
POWER_UP_ANGLE_DEG = 47.0
INFO = f"0E11400001202415010168{PULSES_PER_TURN:08X}"
ARGUMENT_LENGTH = {"ma": 8, "mr": 8, "ho": 1, "so": 8, "sj": 8, "ca": 1, "sv": 2}
"""Characters after the two command letters; commands not listed take none."""
COMMAND_ERROR, OUT_OF_RANGE, MECHANICAL_TIMEOUT = 3, 4, 2
FRAMING = b"\n"
"""Marks the end of a packet for the text-device machinery; it never appears on the wire."""


def waveplate_transmission(
    angle_deg: float, zero_angle_deg: float, extinction_ratio: float, max_transmission: float
) -> float:
    """Malus' law for a half-wave plate at ``angle_deg`` before a polariser of finite
    extinction ratio, whose maximum ``max_transmission`` is at ``zero_angle_deg``."""
    phase = 2.0 * math.radians(angle_deg - zero_angle_deg)
    return max_transmission * (math.cos(phase) ** 2 + math.sin(phase) ** 2 / extinction_ratio)


def signed32(hex_digits: str) -> int:
    """Eight hex digits as the 32-bit two's-complement number they encode."""
    value = int(hex_digits, 16)
    return value - (1 << 32) if value & (1 << 31) else value


class ELL14Simulator(FaultyTextDevice):
    """One ELL14 at ``address`` with the waveplate and polariser after it."""

    input_terminator = FRAMING
    reply_terminator = b"\r\n"

    def __init__(
        self,
        bench: VirtualBench,
        address: str = "0",
        zero_angle_deg: float = 0.0,
        extinction_ratio: float = 1000.0,
        max_transmission: float = 0.95,
    ) -> None:
        super().__init__("sim:ell14")
        self.bench = bench
        self.address = address.upper()
        self.optics = (zero_angle_deg, extinction_ratio, max_transmission)
        self.angle_deg = POWER_UP_ANGLE_DEG
        self.datum_deg = POWER_UP_ANGLE_DEG
        self._pending = b""
        self._report()

    @property
    def position(self) -> int:
        return round((self.angle_deg - self.datum_deg) * PULSES_PER_TURN / 360.0)

    # -- framing ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Split the unterminated stream into packets by command length."""
        self._pending += data
        while len(self._pending) >= 3:
            command = self._pending[1:3].decode(self.encoding, errors="replace")
            end = 3 + ARGUMENT_LENGTH.get(command, 0)
            if len(self._pending) < end:
                return
            packet, self._pending = self._pending[:end], self._pending[end:]
            super().feed(packet + FRAMING)

    def respond(self, command: str) -> bytes:
        """A packet for another module on the bus gets no answer, not even a fault."""
        if command[:1].upper() != self.address:
            return b""
        return super().respond(command)

    def answer(self, command: str) -> bytes:
        name, argument = command[1:3], command[3:]
        if name == "in":
            return self._reply("IN", INFO)
        if name == "gs":
            return self._status(0)
        if name == "gp":
            return self._position()
        if name == "ma":
            try:
                target = signed32(argument)
            except ValueError:
                return self._status(OUT_OF_RANGE)
            self._move_to(self.datum_deg + target * 360.0 / PULSES_PER_TURN)
            return self._position()
        if name == "ho" and argument in ("0", "1"):
            turn = (self.angle_deg + 180.0) % 360.0 - 180.0
            self._move_to(self.angle_deg - turn)
            self.angle_deg = self.datum_deg = 0.0
            return self._position()
        return self._status(COMMAND_ERROR)

    def error_reply(self, command: str) -> bytes:
        return self._status(MECHANICAL_TIMEOUT)

    def _reply(self, code: str, data: str) -> bytes:
        return f"{self.address}{code}{data}\r\n".encode()

    def _status(self, code: int) -> bytes:
        return self._reply("GS", f"{code:02X}")

    def _position(self) -> bytes:
        return self._reply("PO", f"{self.position & 0xFFFFFFFF:08X}")

    # -- physics ---------------------------------------------------------------------------
    def _move_to(self, angle_deg: float) -> None:
        self.bench.wait(abs(angle_deg - self.angle_deg) / SPEED_DEG_S)
        self.angle_deg = angle_deg
        self._report()

    def _report(self) -> None:
        self.bench.set_transmission("ell14", waveplate_transmission(self.angle_deg, *self.optics))
