"""Simulated Thorlabs PM100USB console with a C-series sensor head: SCPI over USBTMC.

Protocol (PM100USB operation manual, chapter "Computer Interface"; PM100D manual, "SCPI
Commands"): commands end with LF, mnemonics in short or long form, any case. Queries answer one
LF-ended line; settings answer nothing. ``*IDN?`` gives ``manufacturer,model,serial,firmware``;
``SYST:SENS:IDN?`` gives ``name,serial,calibration,type,subtype,flags`` with the flag bits of
the manual (1 power sensor, 2 energy sensor, 16 response settable, 32 wavelength settable,
64 tau settable, 256 temperature sensor), unquoted as the PM100USB/PM100D send them and
pymeasure's ``ThorlabsPM100USB`` parses them. A refused command answers nothing and queues a
standard SCPI error (``-113,"Undefined header"``, ``-222,"Data out of range"``...) that
``SYST:ERR?`` returns, then ``0,"No error"``.

Readings come from the bench. A power reading averages ``SENS:AVER:COUN`` samples of about
3 ms each (manual: "one sample takes approximately 3 ms"), i.e. the mean pulse energy of the
pulses in that window times the repetition rate; ``MEAS:ENER?`` returns one pulse. Spectral
response is modelled simply: a photodiode's responsivity grows in proportion to wavelength
(flat quantum efficiency), so a correction wavelength ``set`` instead of the true ``true`` reads
``true/set`` times the power, and nothing outside the head's range; thermal and pyroelectric heads
are flat. The serial numbers and calibration dates are the simulator's own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qslab.sim.bench import MAX_SIMULATED_PULSES, VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused

IDN = "Thorlabs,PM100USB,P2005301,1.7.0"
SAMPLE_S = 3e-3
PHOTODIODE, THERMAL, PYROELECTRIC = 1, 2, 3
POWER_FLAG, ENERGY_FLAG, WAVELENGTH_FLAG = 1, 2, 32
NO_ERROR = (0, "No error")
UNDEFINED_HEADER = (-113, "Undefined header")
DATA_TYPE = (-104, "Data type error")
OUT_OF_RANGE = (-222, "Data out of range")
CONFLICT = (-221, "Settings conflict")


@dataclass(frozen=True)
class SensorHead:
    """What a head's EEPROM tells the console, and the range it corrects for."""

    name: str
    serial: str
    calibrated: str
    type: int
    subtype: int
    flags: int
    min_nm: float
    max_nm: float
    default_nm: float

    @property
    def idn(self) -> str:
        fields = (self.name, self.serial, self.calibrated, self.type, self.subtype, self.flags)
        return ",".join(str(f) for f in fields)


SENSORS = {
    # S120VC: type/subtype/flags as reported by a real head (Thorlabs PM400 users' logs).
    "S120VC": SensorHead("S120VC", "SIM120001", "01-JAN-2024", 1, 18, 289, 200.0, 1100.0, 635.0),
    # S130C: the reply in pymeasure's PM100D test suite.
    "S130C": SensorHead("S130C", "SIM130001", "01-JAN-2024", 1, 3, 33, 400.0, 1100.0, 635.0),
    # ES111C pyroelectric energy head: type and flags follow the manual's definitions.
    "ES111C": SensorHead("ES111C", "SIM111001", "01-JAN-2024", 3, 1, 34, 185.0, 25000.0, 1064.0),
}


def _mnemonics(spec: str) -> list[tuple[str, str, bool]]:
    """``[SENSe]:AVERage[:COUNt]`` -> (short, long, optional) per node."""
    nodes = []
    for token in re.findall(r"\[?:?[*A-Za-z]+\]?", spec):
        name = token.strip("[]:")
        short = "".join(c for c in name if c.isupper() or c == "*")
        nodes.append((short, name.upper(), token.startswith("[")))
    return nodes


def _matches(tokens: list[str], nodes: list[tuple[str, str, bool]]) -> bool:
    if not nodes:
        return not tokens
    (short, long, optional), rest = nodes[0], nodes[1:]
    if tokens and tokens[0] in (short, long) and _matches(tokens[1:], rest):
        return True
    return optional and _matches(tokens, rest)


class PM100Simulator(FaultyTextDevice):
    """A PM100USB with one sensor head, reading the pulses that reach it on the bench."""

    input_terminator = b"\n"
    reply_terminator = b"\n"

    def __init__(self, bench: VirtualBench, sensor: SensorHead) -> None:
        super().__init__("sim:pm100")
        self.bench = bench
        self.sensor = sensor
        self.errors: list[tuple[int, str]] = []
        query = self._require_query
        table: list[tuple[str, Callable[[bool, str], str | None]]] = [
            ("*IDN", lambda q, a: query(q) or IDN),
            ("*RST", lambda q, a: self._reset()),
            ("*CLS", lambda q, a: self.errors.clear()),
            ("*OPC", lambda q, a: "1" if q else None),
            ("SYSTem:ERRor[:NEXT]", lambda q, a: query(q) or self._next_error()),
            ("SYSTem:SENSor:IDN", lambda q, a: query(q) or sensor.idn),
            ("[SENSe]:CORRection:WAVelength", self._wavelength),
            ("[SENSe]:AVERage[:COUNt]", self._averaging),
            ("[SENSe]:POWer[:DC]:UNIT", self._unit),
            ("MEASure[:SCALar]:POWer", lambda q, a: query(q) or self._power()),
            ("MEASure[:SCALar]:ENERgy", lambda q, a: query(q) or self._energy()),
        ]
        self.commands = [(_mnemonics(spec), handler) for spec, handler in table]
        self._reset()

    def _reset(self) -> None:
        self.wavelength_nm = self.sensor.default_nm
        self.averaging = 1
        self.unit = "W"

    # -- parsing ---------------------------------------------------------------------------
    def answer(self, command: str) -> bytes:
        header, _, argument = command.strip().partition(" ")
        query = header.endswith("?")
        tokens = [re.sub(r"\d+$", "", t).upper() for t in header.rstrip("?").lstrip(":").split(":")]
        try:
            for nodes, handler in self.commands:
                if _matches(tokens, nodes):
                    reply = handler(query, argument.strip())
                    break
            else:
                self._refuse(UNDEFINED_HEADER)
        except Refused as refusal:
            self.errors.append(refusal.reason)
            return b""
        return b"" if reply is None else reply.encode() + b"\n"

    def error_reply(self, command: str) -> bytes:
        self.errors.append(UNDEFINED_HEADER)
        return b""

    @staticmethod
    def _refuse(error: tuple[int, str]) -> None:
        raise Refused(error)

    def _require_query(self, query: bool) -> None:
        """A query-only header sent as a setting is not defined."""
        if not query:
            self._refuse(UNDEFINED_HEADER)

    def _number(self, argument: str, low: float, high: float) -> float:
        keyword = argument.upper()
        if keyword in ("MIN", "MINIMUM"):
            return low
        if keyword in ("MAX", "MAXIMUM"):
            return high
        try:
            value = float(argument)
        except ValueError:
            self._refuse(DATA_TYPE)
        if not low <= value <= high:
            self._refuse(OUT_OF_RANGE)
        return value

    # -- commands --------------------------------------------------------------------------
    def _next_error(self) -> str:
        code, message = self.errors.pop(0) if self.errors else NO_ERROR
        return f'{code},"{message}"'

    def _wavelength(self, query: bool, argument: str) -> str | None:
        low, high = self.sensor.min_nm, self.sensor.max_nm
        if query:
            return f"{self._number(argument, low, high) if argument else self.wavelength_nm:.6E}"
        if not self.sensor.flags & WAVELENGTH_FLAG:
            self._refuse(CONFLICT)
        self.wavelength_nm = self._number(argument, low, high)
        return None

    def _averaging(self, query: bool, argument: str) -> str | None:
        if query:
            return str(self.averaging)
        self.averaging = int(self._number(argument, 1, 1_000_000))
        return None

    def _unit(self, query: bool, argument: str) -> str | None:
        if query:
            return self.unit
        if argument.upper() not in ("W", "DBM"):
            self._refuse(DATA_TYPE)
        self.unit = argument.upper()
        return None

    # -- physics ---------------------------------------------------------------------------
    def _response(self) -> float:
        true_nm = self.bench.laser.wavelength_nm
        if not self.sensor.min_nm <= true_nm <= self.sensor.max_nm:
            return 0.0
        return true_nm / self.wavelength_nm if self.sensor.type == PHOTODIODE else 1.0

    def _power(self) -> str:
        if not self.sensor.flags & POWER_FLAG:
            self._refuse(CONFLICT)
        rate = self.bench.laser.repetition_rate_hz
        window = self.averaging * SAMPLE_S
        pulses = int(min(max(round(rate * window), 1), MAX_SIMULATED_PULSES))
        watts = float(np.mean(self.bench.meter_energies(pulses))) * rate * self._response()
        self.bench.wait(window)
        if self.unit == "DBM":
            return f"{10 * math.log10(max(watts, 1e-15) / 1e-3):.6E}"
        return f"{watts:.6E}"

    def _energy(self) -> str:
        if not self.sensor.flags & ENERGY_FLAG:
            self._refuse(CONFLICT)
        joules = float(self.bench.meter_energies(1)[0]) * self._response()
        self.bench.wait(1.0 / self.bench.laser.repetition_rate_hz)
        return f"{joules:.6E}"
