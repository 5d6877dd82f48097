"""Thorlabs ELL14 Elliptec rotation mount turning a half-wave plate before a polariser, as the
attenuator role.

Manual: Thorlabs "ELLx modules protocol manual" (Elliptec), commands ``in`` (information),
``gp`` (get position), ``ma`` (move absolute) and ``ho`` (home), replies ``IN``, ``PO`` and
``GS`` (status and error codes). 9600 baud 8N1; a command is the module's address (one hex
digit), two lower-case letters and a fixed-length argument with no terminator; a reply is the
address, two upper-case letters, data and CR LF. Positions are 32-bit counts as eight upper-case
hex digits. Checked against pylablib's ``Thorlabs.elliptec``, the ``elliptec`` package on PyPI
and rwpeterson's ``elliptec``, and against a real ELL14's information reply
``0IN0E1140051420211501016800023000`` quoted in public scripts: 0x23000 = 143360 counts per
turn. The driver reads counts per degree from ``in`` rather than assuming it.

Optics: a half-wave plate at angle ``theta`` turns the polarisation by ``2 (theta - theta0)``;
the polariser passes ``max_transmission`` at ``zero_angle_deg`` and ``1/extinction_ratio`` of that
crossed. :meth:`WaveplateAttenuator.set_transmission` inverts that Malus law within the
quarter-period nearest the current angle, so moves stay short; like a filter wheel, a turning
plate sweeps the transmission, and homing on connect may pass the maximum: keep the beam
blocked while it moves.

Not confirmed: whether ``ma`` to a count beyond one turn is accepted (the driver keeps targets
within 0..1 turn); whether a move can be answered ``GS00`` instead of ``PO`` (treated as a
failed move); pylablib's observation that a move sent too soon after the previous one goes to
0 (the driver spaces moves by ``MOVE_SPACING_S`` all the same).
"""

from __future__ import annotations

import math
import string
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument

from qslab.errors import ValidationError
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ExchangeLink, closing_on_error, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.ell14 import ELL14Simulator, signed32, waveplate_transmission

MANUAL = "Thorlabs ELLx modules protocol manual (Elliptec): in, gp, ma, ho; replies IN, PO, GS"
CONNECTION = {
    "baud_rate": 9600,
    "write_termination": "",
    "read_termination": "\r\n",
    "timeout": 10000,
}
"""No write terminator: the module ends a packet by its length. A full turn takes about 1 s."""
REPLY = {"in": "IN", "gp": "PO", "ma": "PO", "ho": "PO"}
DATA_LENGTH = {"IN": 30, "PO": 8, "GS": 2}
# fmt: off
STATUS = {
    0: "OK", 1: "communication time-out", 2: "mechanical time-out",
    3: "command error or not supported", 4: "value out of range", 5: "module isolated",
    6: "module out of isolation", 7: "initialising error", 8: "thermal error", 9: "busy",
    10: "sensor error", 11: "motor error", 12: "out of range", 13: "over current error",
}
# fmt: on
HEX = set(string.hexdigits.upper())
GRID_COUNTS = 40
"""Spacing of the transmissions() grid in counts (0.1 degree on an ELL14)."""
TABLE = "station.attenuator"
MOVE_SPACING_S = 0.1
"""pylablib waits this long before each move: a move sent too soon after the previous one can
go to 0 instead (so a safe() could land on the maximum)."""


@dataclass(frozen=True)
class ModuleInfo:
    """The ``IN`` reply: what the module says it is."""

    model: int
    serial: str
    year: int
    firmware: str
    hardware: str
    travel: int
    counts: int
    """Counts over ``travel`` (degrees for a rotation mount)."""

    @classmethod
    def parse(cls, data: str) -> ModuleInfo:
        return cls(
            model=int(data[0:2], 16),
            serial=data[2:10],
            year=int(data[10:14]),
            firmware=data[14:16],
            hardware=data[16:18],
            travel=int(data[18:22], 16),
            counts=int(data[22:30], 16),
        )


class Elliptec(ExchangeLink, Instrument):
    """One Elliptec module at ``address`` on a serial bus. Every command is answered by one
    line; a status reply in place of the data, garbage or silence raise :class:`DeviceError`."""

    def __init__(
        self,
        adapter,
        address: str = "0",
        name: str = "Thorlabs ELL14",
        resource: str = "",
        **kwargs,
    ):
        self.address = address
        self._last_move = -math.inf
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    info = Instrument.measurement(
        "in", """Get the module information (ModuleInfo).""", cast=str, get_process=ModuleInfo.parse
    )

    position = Instrument.measurement(
        "gp", """Get the position in counts.""", cast=str, get_process=signed32
    )

    def move_to(self, counts: int) -> int:
        """Move to ``counts`` and return the position reported when the move has ended."""
        return self._move(f"ma{counts & 0xFFFFFFFF:08X}")

    def home(self, clockwise: bool = True) -> int:
        """Turn to the home index; return the position reported there."""
        return self._move(f"ho{0 if clockwise else 1}")

    def _move(self, command: str) -> int:
        """A move at least MOVE_SPACING_S after the previous one ended."""
        time.sleep(max(0.0, self._last_move + MOVE_SPACING_S - time.monotonic()))
        try:
            return signed32(self.ask(command))
        finally:
            self._last_move = time.monotonic()

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        sent = self.address + command
        with self._exchange_errors(f"garbled reply to {sent!r}", f"no reply to {sent!r}"):
            self._send(sent)
            line = self.read()
        address, code, data = line[:1], line[1:3], line[3:]
        expected = REPLY[command[:2]]
        if (
            address != self.address
            or code not in (expected, "GS")
            or len(data) != DATA_LENGTH[code]
            or not set(data) <= HEX
        ):
            self._discard_input()
            raise self.error(f"garbled reply to {sent!r}: {line!r}")
        if code == "GS":
            status = int(data, 16)
            reason = STATUS.get(status, "reserved status")
            raise self.error(f"{sent!r} answered status {data} ({reason}) instead of {expected}")
        return data


class WaveplateAttenuator:
    """The Attenuator role: a half-wave plate on an Elliptec rotation mount, then a polariser."""

    def __init__(self, mount: Elliptec, info: ModuleInfo, options: dict[str, Any]) -> None:
        self.mount = mount
        self.info = info
        self.counts_per_turn = round(info.counts * 360 / info.travel)
        self.zero_angle_deg = options["zero_angle_deg"]
        self.extinction_ratio = options["extinction_ratio"]
        self.max_transmission = options["max_transmission"]

    def _transmission_at(self, angle_deg: float) -> float:
        return waveplate_transmission(
            angle_deg, self.zero_angle_deg, self.extinction_ratio, self.max_transmission
        )

    def _angle(self, counts: int) -> float:
        return (counts % self.counts_per_turn) * 360.0 / self.counts_per_turn

    @property
    def angle_deg(self) -> float:
        return self._angle(self.mount.position)

    @property
    def transmission(self) -> float:
        return self._transmission_at(self.angle_deg)

    def transmissions(self) -> np.ndarray:
        """A quarter-period from the maximum to the minimum, every GRID_COUNTS counts."""
        counts = np.arange(0, self.counts_per_turn // 8 + 1, GRID_COUNTS)
        angles = self.zero_angle_deg + counts * 360.0 / self.counts_per_turn
        return np.unique([self._transmission_at(a) for a in angles])

    def set_transmission(self, transmission: float) -> float:
        """Turn to the nearest angle giving ``transmission`` (clipped to what the polariser
        allows) and return the transmission at the position the mount reports."""
        t_max, ratio = self.max_transmission, self.extinction_ratio
        t = min(max(transmission, t_max / ratio), t_max)
        cos2 = (t / t_max - 1.0 / ratio) / (1.0 - 1.0 / ratio)
        phi = math.degrees(math.acos(math.sqrt(min(max(cos2, 0.0), 1.0)))) / 2.0
        here = self.angle_deg
        angles = {
            (self.zero_angle_deg + sign * phi + 90.0 * k) % 360.0
            for sign in (1, -1)
            for k in range(4)
        }
        target = min(angles, key=lambda a: abs(a - here))
        counts = round(target * self.counts_per_turn / 360.0) % self.counts_per_turn
        return self._transmission_at(self._angle(self.mount.move_to(counts)))

    def identity(self) -> str:
        i = self.info
        return f"Thorlabs ELL{i.model} s/n {i.serial} ({i.year}, firmware {i.firmware})"

    def settings(self) -> dict[str, Any]:
        angle = self.angle_deg
        return {
            "address": self.mount.address,
            "angle_deg": angle,
            "transmission": self._transmission_at(angle),
            "zero_angle_deg": self.zero_angle_deg,
            "extinction_ratio": self.extinction_ratio,
            "max_transmission": self.max_transmission,
        }

    def safe(self) -> None:
        """The plate at the nearest transmission minimum (crossed)."""
        self.set_transmission(0.0)

    def close(self) -> None:
        self.mount.adapter.close()


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    address = options["address"].upper()
    if len(address) != 1 or address not in HEX:
        raise ValidationError(f"{TABLE}.address", f"one hex digit 0-F, got {address!r}")
    if not options["extinction_ratio"] > 1:
        raise ValidationError(f"{TABLE}.extinction_ratio", "must be greater than 1")
    if not 0 < options["max_transmission"] <= 1:
        raise ValidationError(f"{TABLE}.max_transmission", "must be in (0, 1]")
    return {**options, "address": address}


def simulator(bench: VirtualBench, options: dict[str, Any]) -> ELL14Simulator:
    o = _checked(options)
    return ELL14Simulator(
        bench, o["address"], o["zero_angle_deg"], o["extinction_ratio"], o["max_transmission"]
    )


def connect(target: Any, options: dict[str, Any]) -> WaveplateAttenuator:
    """Open the module, check it is a rotation mount, and home it (the beam should be blocked)."""
    options = _checked(options)
    adapter, resource = open_link(target, CONNECTION)
    mount = Elliptec(adapter, options["address"], resource=resource)
    with closing_on_error(mount):
        info = mount.info
        if info.travel != 360 or info.counts <= 0:
            raise mount.error(
                f"ELL{info.model} at address {mount.address} travels {info.travel} units in "
                f"{info.counts} counts: not a rotation mount"
            )
        mount.home()
    return WaveplateAttenuator(mount, info, options)


DRIVER = DriverSpec(
    name="thorlabs.ell14",
    role="attenuator",
    description="Thorlabs ELL14 rotation mount: half-wave plate before a polariser",
    connect=connect,
    simulator=simulator,
    options=(
        Option("address", "str", "0", "the module's address on the Elliptec bus (0-F)"),
        Option("zero_angle_deg", "float", 0.0, "mount angle of maximum transmission", "deg"),
        Option("extinction_ratio", "float", 1000.0, "polariser's maximum/minimum transmission"),
        Option("max_transmission", "float", 0.95, "transmission at the maximum"),
    ),
    manual=MANUAL,
    check=_checked,
)
