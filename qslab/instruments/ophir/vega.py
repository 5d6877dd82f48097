"""Ophir Vega, Nova, Nova II and StarBright power/energy meters over RS-232, as the energy-meter
role.

Manual: Ophir "Guide to Programmers" (the RS-232 appendix of the Nova, Nova II and Vega user
manuals, one instruction set for all of them; StarBright documents the same commands). 9600 baud
8N1 by default, commands ``$`` + two letters (+ argument) ended by CR LF, every command answered
by one CR LF-ended line starting ``*`` (success) or ``?`` (refused). Used here: ``$II``, ``$HI``,
``$FE``/``$FP`` (energy or power mode), ``$AW``, ``$WL<nm>``, ``$WI<n>``, ``$EF``, ``$SE``,
``$SP``. Reply formats were checked against pylablib's ``Ophir.VegaPowerMeter`` and the pairs
pymeasure's (unreleased) ``ophir`` package quotes from the manual (``$HI`` ->
``* PY 22323 PE10-C 80000003``, ``$SE`` -> ``*1.300E-5``); that package is not in any pymeasure
release, so it cannot be reused here.

Pyroelectric (``PY``) and nanojoule (``NJ``) heads are put in energy mode and read pulse by
pulse: ``$EF`` says whether a new pulse has arrived since the last ``$SE``, so every energy
returned is a new pulse, never the previous one read again, and the pulse latched before the
call (perhaps at the previous attenuator setting) is dropped first. At 9600 baud a reading takes
some 10 ms, so at kHz rates these are pulses sampled from the train, not consecutive ones. Other
heads (thermopile, photodiode) are put in power mode; their pulse energy is the power divided by
the repetition rate given to :meth:`OphirMeter.configure` (the role logic every energy meter
shares, in :mod:`qslab.instruments.meters`).

Not confirmed: the format of the wavelength names of discrete heads (the driver reads a number,
in um below 30 and nm above, with an optional ``u``/``um``/``nm``) and the exact text after
``?``. The measurement range is left as set on the meter; ``OVER`` is a :class:`DeviceError`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument

from qslab.errors import ValidationError
from qslab.instruments.meters import PulseEnergyMeter
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ON_OFF, ExchangeLink, closing_on_error, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.ophir import HEAD_NAMES, OphirSimulator, heads

MANUAL = "Ophir Nova/Nova II/Vega user manuals, appendix 'Guide to Programmers' (RS-232 commands)"
CONNECTION = {
    "baud_rate": 9600,
    "write_termination": "\r\n",
    "read_termination": "\r\n",
    "timeout": 3000,
}
ENERGY_HEADS = ("PY", "NJ")
"""Head types read pulse by pulse: pyroelectric, and photodiode energy ("nanojoule") heads."""
POWER_BIT, ENERGY_BIT = 1, 2
NEW_PULSE_TIMEOUT_S = 2.0
"""How long to wait for a pulse (at least; three pulse periods at slow rates)."""
PRESET = re.compile(r"[<>]?(\d*\.?\d+)\s*(U|UM|NM)?")


def _words(command: str, docs: str) -> property:
    """A query whose reply is a list of words (always a list, even of one)."""
    return Instrument.measurement(command, docs, cast=str, maxsplit=0, get_process=str.split)


class Ophir(ExchangeLink, Instrument):
    """An Ophir console's RS-232 interface: ``*`` replies give their data, ``?`` replies,
    garbage and silence raise :class:`DeviceError`."""

    def __init__(self, adapter, name: str = "Ophir meter", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    instrument_info = _words("$II", """Get the instrument type, serial number and name.""")

    head_info = _words(
        "$HI", """Get the head type, serial number, name and capability bits (hex)."""
    )

    wavelength_table = _words(
        "$AW",
        """Get the wavelength table: CONTINUOUS min max index presets..., or DISCRETE index
        names... (index from 1).""",
    )

    new_energy = Instrument.measurement(
        "$EF",
        """Get whether a new energy reading has arrived since the last $SE.""",
        values=ON_OFF,
        map_values=True,
        cast=int,
    )

    def force_mode(self, energy: bool) -> None:
        """Energy mode (``$FE``) or power mode (``$FP``)."""
        self.write("$FE" if energy else "$FP")

    def set_wavelength_nm(self, nm: int) -> None:
        """Set the selected preset of a continuous head to ``nm`` (``$WL``)."""
        self.write(f"$WL{nm}")

    def select_wavelength(self, index: int) -> None:
        """Select preset ``index`` (from 1) of the wavelength table (``$WI``)."""
        self.write(f"$WI{index}")

    def reading(self, command: str) -> float:
        """A measurement in SI units; ``OVER`` (over range) is a device error."""
        value = self.ask(command)
        if value.upper() == "OVER":
            raise self.error(f"{command} is over range: attenuate or choose a higher range")
        try:
            return float(value)
        except ValueError:
            raise self.unreadable(command, value) from None

    def _exchange(self, command: str, query: bool) -> str:
        with self._exchange_errors(f"garbled reply to {command!r}", f"no reply to {command!r}"):
            self._send(command)
            line = self.read().strip()
        if line.startswith("?"):
            raise self.error(f"refused {command!r}: {line[1:].strip()}")
        if not line.startswith("*"):
            self._discard_input()
            raise self.error(f"garbled reply to {command!r}: {line!r}")
        return line[1:].strip()


@dataclass(frozen=True)
class Head:
    """The ``$HI`` reply."""

    kind: str
    serial: str
    name: str
    capabilities: int

    @property
    def reads_pulses(self) -> bool:
        return self.kind in ENERGY_HEADS


def _preset_nm(name: str) -> float | None:
    """A discrete wavelength name as nm (``1064``, ``1.06u``, ``<.8u``), None if it is not one."""
    match = PRESET.fullmatch(name.upper())
    if match is None:
        return None
    value, unit = float(match[1]), match[2]
    in_um = unit in ("U", "UM") or (unit is None and value < 30)
    return value * 1000 if in_um else value


class OphirMeter(PulseEnergyMeter):
    """The EnergyMeter role: single pulses from an energy head, or power over repetition rate."""

    meter: Ophir
    needs_rate = "a power head needs the pulse repetition rate: configure() it"

    def __init__(self, meter: Ophir, head: Head) -> None:
        super().__init__(meter, head.name, head.reads_pulses)
        self.head = head

    def set_wavelength(self, wavelength_nm: float) -> None:
        """A continuous head is set to the wavelength (refused outside its range); a discrete one
        gets its preset nearest to it. Either is read back."""
        table = self.meter.wavelength_table
        kind = table[0] if table else ""
        if kind == "CONTINUOUS":
            (low, high), nm = self._range(table), round(wavelength_nm)
            self._check_range(wavelength_nm, low, high, sent=nm)
            self.meter.set_wavelength_nm(nm)
            wanted = str(nm)
        elif kind == "DISCRETE":
            presets = {i: _preset_nm(name) for i, name in enumerate(table[2:], start=1)}
            known = {i: nm for i, nm in presets.items() if nm is not None}
            if not known:
                raise self.meter.error(f"no wavelength preset reads as a number: {table[2:]}")
            index = min(known, key=lambda i: abs(known[i] - wavelength_nm))
            self.meter.select_wavelength(index)
            wanted = table[1 + index]
        else:
            raise self.meter.unreadable("$AW", table)
        reached = self.wavelength
        if reached != wanted:
            raise self.meter.error(f"asked for wavelength {wanted}, meter reports {reached}")

    def _range(self, table: list[str]) -> tuple[float, float]:
        try:
            return float(table[1]), float(table[2])
        except (ValueError, IndexError):
            raise self.meter.unreadable("$AW", table) from None

    @property
    def wavelength(self) -> str:
        """The selected wavelength preset as the meter names it."""
        table = self.meter.wavelength_table
        first = 3 if table[:1] == ["CONTINUOUS"] else 1
        try:
            return table[first + int(table[first])]
        except (ValueError, IndexError):
            raise self.meter.unreadable("$AW", table) from None

    def _pulse_energies(self, count: int) -> np.ndarray:
        """``count`` new pulses, never one read before."""
        self.meter.reading("$SE")  # clears the new-pulse flag: drop what came before
        return np.array([self._next_pulse() for _ in range(count)])

    def _power_w(self) -> float:
        return self.meter.reading("$SP")

    def _next_pulse(self) -> float:
        rate = self.repetition_rate_hz
        wait_s = max(NEW_PULSE_TIMEOUT_S, 3.0 / rate) if rate else NEW_PULSE_TIMEOUT_S
        deadline = time.monotonic() + wait_s
        while not self.meter.new_energy:
            if time.monotonic() > deadline:
                raise self.meter.error(
                    f"no new pulse within {wait_s:g} s: is the beam blocked, or below the "
                    f"{self.head.name} threshold?"
                )
        return self.meter.reading("$SE")

    def identity(self) -> str:
        kind, serial, *_ = self.meter.instrument_info
        head = self.head
        return f"Ophir {kind} s/n {serial}; head {head.name} ({head.kind}) s/n {head.serial}"

    def _settings(self) -> dict[str, Any]:
        return {
            "head": self.head.name,
            "head_type": self.head.kind,
            "mode": self._mode,
            "wavelength": self.wavelength,
        }


def _head(meter: Ophir) -> Head:
    fields = meter.head_info
    try:
        kind, serial, name, capabilities = fields
        return Head(kind, serial, name, int(capabilities, 16))
    except ValueError:
        raise meter.unreadable("$HI", fields) from None


def simulator(bench: VirtualBench, options: dict[str, Any]) -> OphirSimulator:
    name = options["head"]
    if name not in HEAD_NAMES:
        raise ValidationError(
            "station.energy_meter.head",
            f"no simulated head {name!r}; known: {', '.join(HEAD_NAMES)}",
        )
    return OphirSimulator(bench, heads()[name])


def connect(target: Any, options: dict[str, Any]) -> OphirMeter:
    """Open the console, identify it and its head, and put it in energy or power mode."""
    adapter, resource = open_link(target, CONNECTION)
    meter = Ophir(adapter, resource=resource)
    with closing_on_error(meter):
        info = meter.instrument_info
        if len(info) < 2:
            raise meter.unreadable("$II", info)
        meter.name = f"Ophir {info[0]}"
        head = _head(meter)
        energy = head.reads_pulses
        if not head.capabilities & (ENERGY_BIT if energy else POWER_BIT):
            raise meter.error(
                f"head {head.name} ({head.kind}) cannot measure {'energy' if energy else 'power'}"
            )
        meter.force_mode(energy)
    return OphirMeter(meter, head)


DRIVER = DriverSpec(
    name="ophir.vega",
    role="energy_meter",
    description="Ophir Vega/Nova/Nova II/StarBright: pyroelectric, thermal or photodiode head",
    connect=connect,
    simulator=simulator,
    options=(
        Option(
            "head",
            "str",
            "PE10-C",
            "simulation only: the head the simulated console reports (PE10-C, PD300)",
        ),
    ),
    manual=MANUAL,
)
