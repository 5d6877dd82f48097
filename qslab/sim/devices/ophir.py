"""Simulated Ophir Vega (Nova, Nova II, StarBright: the same RS-232 command set) with one head.

Protocol (Ophir "Guide to Programmers", the RS-232 appendix of the Nova/Nova II/Vega manuals;
checked against pylablib's ``Ophir`` and pymeasure's ``ophir_base`` and their test pairs quoted
from the manual): commands are ``$`` and two letters, with an argument for some, ended by CR LF.
Every command is answered by one CR LF-ended line: ``*`` and the data on success, ``?`` and a
message on failure. Used here: ``$II`` (instrument type, serial number, name), ``$HI`` (head
type, serial, name, capability bits in hex: bit 0 power, bit 1 energy, bit 31 frequency; the
manual's example ``* PY 22323 PE10-C 80000003``), ``$FE``/``$FP`` (force energy or power mode),
``$AW`` (the wavelength table: ``CONTINUOUS min max index presets...`` with ``NONE`` for empty
presets, or ``DISCRETE index names...``, the index counting from 1), ``$WL<nm>`` (set the
selected preset of a continuous head), ``$WI<n>`` (select preset n), ``$EF`` (1 when a new
energy reading has arrived), ``$SE`` (the latest energy, J), ``$SP`` (the current power, W).
Readings are formatted like ``1.300E-5``; an over-range one reads ``OVER``.

Physics from the bench: a pyroelectric head latches the energy of the last pulse that reached
it; ``$EF`` reports whether one has arrived since the last ``$SE`` (the simulator lets one pulse
period pass per poll, so at a kHz rate a pulse is always waiting, as over a 9600-baud link), and
``$SE`` returns the latched energy and clears the flag. A photodiode head in power mode reads the
mean pulse energy over ``POWER_WINDOW_S`` times the repetition rate. Both heads are flat in
wavelength and have no range limits here.

The simulator's own: the serial numbers, the heads' wavelength tables, the wording after ``?``
(the manual only says an error reply starts with ``?``), and the power averaging window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qslab.sim.bench import MAX_SIMULATED_PULSES, VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused

INSTRUMENT = "VEGA 700123 VEGA"
POWER_BIT, ENERGY_BIT = 1, 2
POWER_WINDOW_S = 0.1


@dataclass
class OphirHead:
    """A head as its EEPROM describes it, and its wavelength table."""

    kind: str
    serial: str
    name: str
    capabilities: int
    wavelengths: list[str]
    """Continuous heads: [min, max, preset, ...]; discrete heads: the preset names."""
    continuous: bool
    selected: int = 1
    energy_mode: bool = field(init=False)

    def __post_init__(self) -> None:
        self.energy_mode = self.kind == "PY"

    @property
    def info(self) -> str:
        return f"{self.kind} {self.serial} {self.name} {self.capabilities:08X}"

    @property
    def presets(self) -> list[str]:
        return self.wavelengths[2:] if self.continuous else self.wavelengths


def heads() -> dict[str, OphirHead]:
    """Fresh heads by name: each simulator gets its own wavelength table to change."""
    return {
        "PE10-C": OphirHead(
            "PY", "701234", "PE10-C", 0x80000003, ["193", "248", "355", "532", "1064"], False, 4
        ),
        "PD300": OphirHead(
            "SI", "702345", "PD300", 0x00000001, ["350", "1100", "633", "905", "1064", "NONE"], True
        ),
    }


HEAD_NAMES = tuple(heads())


def reading(value: float) -> str:
    """A number as Ophir meters send it: four significant digits, exponent without padding."""
    mantissa, exponent = f"{value:.3E}".split("E")
    return f"{mantissa}E{int(exponent)}"


class OphirSimulator(FaultyTextDevice):
    """A Vega console with one head, reading the pulses that reach it on the bench."""

    input_terminator = b"\r\n"
    reply_terminator = b"\r\n"

    def __init__(self, bench: VirtualBench, head: OphirHead) -> None:
        super().__init__("sim:ophir")
        self.bench = bench
        self.head = head
        self.latched_j = 0.0
        self.new_pulse = False

    def answer(self, command: str) -> bytes:
        try:
            data = self._execute(command.strip().upper())
        except Refused as refusal:
            return f"?{refusal.reason}\r\n".encode()
        return f"*{data}\r\n".encode()

    def error_reply(self, command: str) -> bytes:
        return f"?COMMAND FAILED {command}\r\n".encode()

    def _execute(self, command: str) -> str:
        name, argument = command[:3], command[3:]
        head = self.head
        if argument and name not in ("$WL", "$WI"):
            raise Refused(f"UNKNOWN COMMAND {command}")
        if name == "$II":
            return " " + INSTRUMENT
        if name == "$HI":
            return " " + head.info
        if name in ("$FE", "$FP"):
            energy = name == "$FE"
            if not head.capabilities & (ENERGY_BIT if energy else POWER_BIT):
                raise Refused(f"MODE NOT SUPPORTED BY {head.name}")
            head.energy_mode = energy
            return ""
        if name == "$AW":
            return " " + self._wavelength_table()
        if name in ("$WL", "$WI"):
            self._set_wavelength(name, argument)
            return ""
        if name in ("$EF", "$SE", "$SP"):
            return self._measure(name)
        raise Refused(f"UNKNOWN COMMAND {command}")

    def _wavelength_table(self) -> str:
        head = self.head
        kind = "CONTINUOUS" if head.continuous else "DISCRETE"
        if head.continuous:
            low, high = head.wavelengths[:2]
            return f"{kind} {low} {high} {head.selected} {' '.join(head.presets)}"
        return f"{kind} {head.selected} {' '.join(head.presets)}"

    def _set_wavelength(self, name: str, argument: str) -> None:
        head = self.head
        try:
            value = int(argument)
        except ValueError:
            raise Refused(f"BAD PARAMETER {argument}") from None
        if name == "$WI":
            if not 1 <= value <= len(head.presets):
                raise Refused(f"BAD PARAMETER {argument}")
            head.selected = value
            return
        if not head.continuous:
            raise Refused("HEAD HAS DISCRETE WAVELENGTHS")
        low, high = (float(w) for w in head.wavelengths[:2])
        if not low <= value <= high:
            raise Refused(f"WAVELENGTH OUT OF RANGE {value}")
        head.wavelengths[1 + head.selected] = str(value)

    # -- physics ---------------------------------------------------------------------------
    def _measure(self, name: str) -> str:
        if self.head.energy_mode != (name != "$SP"):
            raise Refused("NOT IN " + ("POWER" if name == "$SP" else "ENERGY") + " MODE")
        rate = self.bench.laser.repetition_rate_hz
        if name == "$EF":
            if not self.new_pulse and self.bench.light_on_sample:
                self.latched_j = float(self.bench.meter_energies(1)[0])
                self.new_pulse = True
            self.bench.wait(1.0 / rate)
            return str(int(self.new_pulse))
        if name == "$SE":
            self.new_pulse = False
            return reading(self.latched_j)
        pulses = int(min(max(round(rate * POWER_WINDOW_S), 1), MAX_SIMULATED_PULSES))
        watts = float(np.mean(self.bench.meter_energies(pulses))) * rate
        self.bench.wait(POWER_WINDOW_S)
        return reading(watts)
