"""Thorlabs PM100USB / PM100D power and energy meters as the energy-meter role.

Manuals: Thorlabs "PM100USB Operation Manual", chapter 7 "Computer Interface" (SCPI over USBTMC,
LF-terminated; ``SENSe:CORRection:WAVelength``, ``SENSe:AVERage:COUNt``, ``SENSe:POWer:UNIT``,
``MEASure:POWer?``/``MEASure:ENERgy?``, ``SYSTem:ERRor?``) and "PM100D Operation Manual",
section 6.4 "SCPI Commands" (``*IDN?`` format ``THORLABS,model,serial,firmware``;
``SYSTem:SENSor:IDN?`` fields and flag bits).

pymeasure's ``ThorlabsPM100USB`` already identifies the head and reads power and energy; this
subclass adds the averaging count and the power unit, refuses to clamp the wavelength silently,
and turns every error reply, garbled reply and timeout into a :class:`DeviceError`.

A power head (photodiode such as the S120VC) cannot see single pulses: its pulse energy is the
average power over the averaging window divided by the repetition rate, which
:meth:`PM100Meter.configure` must be given (the role logic every energy meter shares, in
:mod:`qslab.instruments.meters`). An energy head (pyroelectric such as the ES111C) reads every
pulse.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.thorlabs import ThorlabsPM100USB
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.meters import PulseEnergyMeter
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import LINK_ERRORS, TextLink, closing_on_error, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.pm100 import SENSORS, PM100Simulator

MANUAL = (
    "Thorlabs PM100USB Operation Manual, ch. 7 'Computer Interface'; "
    "PM100D Operation Manual, sec. 6.4 'SCPI Commands'"
)
CONNECTION = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}
ERROR_ENTRY = re.compile(r'([+-]?\d+)\s*,\s*"?([^"]*)"?')
MAX_QUEUED_ERRORS = 30
WAVELENGTH_TOLERANCE_NM = 0.5


class PM100(TextLink, ThorlabsPM100USB):
    """A PM100USB/PM100D console with whatever head is plugged in (identified on connect)."""

    def __init__(self, adapter, name: str = "Thorlabs PM100", resource: str = "", **kwargs):
        self._last_sent = ""
        with warnings.catch_warnings():
            # pymeasure flags SCPI support of this model as unknown; the manual documents SCPI.
            warnings.simplefilter("ignore", FutureWarning)
            super().__init__(adapter, name, resource, **{**CONNECTION, **kwargs})

    wavelength = Instrument.control(
        "SENS:CORR:WAV?",
        "SENS:CORR:WAV %g",
        """Control the correction wavelength in nm. Unlike pymeasure's, the value is sent as
        given: outside the head's range the meter refuses it and a DeviceError says so.""",
        check_set_errors=True,
    )

    averaging = Instrument.control(
        "SENS:AVER:COUN?",
        "SENS:AVER:COUN %d",
        """Control how many samples (about 3 ms each) one reading averages.""",
        validator=strict_range,
        values=(1, 1_000_000),
        cast=int,
        check_set_errors=True,
    )

    power_unit = Instrument.control(
        "SENS:POW:UNIT?",
        "SENS:POW:UNIT %s",
        """Control the unit of power readings: "W" or "DBM".""",
        validator=strict_discrete_set,
        values=("W", "DBM"),
        cast=str,
        check_set_errors=True,
    )

    # -- error handling --------------------------------------------------------------------
    def write(self, command: str, **kwargs) -> None:
        if not command.startswith("SYST:ERR"):
            self._last_sent = command
        try:
            super().write(command, **kwargs)
        except LINK_ERRORS as exc:
            raise self.error(f"cannot send {command!r} ({exc})") from exc

    def ask(self, command: str, query_delay: float | None = None) -> str:
        self.write(command)
        with self._exchange_errors(f"garbled reply to {command!r}", f"no reply to {command!r}"):
            return self.read()

    def _reason(self, exc: Exception) -> str:
        """Why a query went unanswered: the error queue if it can be read, else the timeout."""
        try:
            errors = self.check_errors()
        except DeviceError:
            errors = []
        return f": {_describe(errors)}" if errors else super()._reason(exc)

    def check_errors(self) -> list[tuple[int, str]]:
        """Empty the SCPI error queue; return its entries as (code, message)."""
        errors = []
        for _ in range(MAX_QUEUED_ERRORS):
            reply = self.ask("SYST:ERR?").strip()
            entry = ERROR_ENTRY.fullmatch(reply)
            if entry is None:
                self._discard_input()
                raise self.error(f"unreadable error queue entry {reply!r}")
            if int(entry[1]) == 0:
                break
            errors.append((int(entry[1]), entry[2]))
        return errors

    def check_set_errors(self) -> list[tuple[int, str]]:
        errors = self.check_errors()
        if errors:
            raise self.error(f"refused {self._last_sent!r}: {_describe(errors)}")
        return errors


def _describe(errors: list[tuple[int, str]]) -> str:
    return "; ".join(f"{code},{message!r}" for code, message in errors)


def _text(value: Any) -> str:
    """pymeasure reads numeric-looking ID fields as floats: 11090541.0 -> "11090541"."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class PM100Meter(PulseEnergyMeter):
    """The EnergyMeter role: pulse energies from an energy head, or from a power head and the
    repetition rate given to :meth:`configure`."""

    meter: PM100

    def __init__(self, meter: PM100) -> None:
        super().__init__(meter, str(meter.sensor_name), bool(meter.is_energy_sensor))

    def set_wavelength(self, wavelength_nm: float) -> None:
        """Set the correction wavelength, refusing one outside the head's range (a head with no
        wavelength correction, e.g. a flat thermal one, needs none)."""
        if not self.meter.wavelength_settable:
            return
        low, high = self._number("SENS:CORR:WAV? MIN"), self._number("SENS:CORR:WAV? MAX")
        self._check_range(wavelength_nm, low, high)
        self.meter.wavelength = wavelength_nm
        reached = self._number("SENS:CORR:WAV?")
        if abs(reached - wavelength_nm) > WAVELENGTH_TOLERANCE_NM:
            raise self.meter.error(f"asked for {wavelength_nm:g} nm, meter reports {reached:g} nm")

    def _pulse_energies(self, count: int) -> np.ndarray:
        return np.array([self._number("MEAS:ENER?") for _ in range(count)])

    def _power_w(self) -> float:
        """One power reading, averaged over the console's averaging window."""
        return self._number("MEAS:POW?")

    def _number(self, command: str) -> float:
        value = self.meter.values(command)
        if len(value) != 1 or not isinstance(value[0], float):
            raise self.meter.unreadable(command, value)
        return value[0]

    def identity(self) -> str:
        m = self.meter
        return f"{m.id}; sensor {m.sensor_name} s/n {_text(m.sensor_sn)}"

    def _settings(self) -> dict[str, Any]:
        return {
            "sensor": self.head_name,
            "mode": self._mode,
            "wavelength_nm": self._number("SENS:CORR:WAV?"),
            "averaging": int(self._number("SENS:AVER:COUN?")),
        }


def _averaging(options: dict[str, Any]) -> int:
    if options["averaging"] < 1:
        raise ValidationError(
            "station.energy_meter.averaging", f"must be at least 1, got {options['averaging']}"
        )
    return options["averaging"]


def simulator(bench: VirtualBench, options: dict[str, Any]) -> PM100Simulator:
    _averaging(options)
    if options["sensor"] not in SENSORS:
        raise ValidationError(
            "station.energy_meter.sensor",
            f"no simulated head {options['sensor']!r}; known: {', '.join(SENSORS)}",
        )
    return PM100Simulator(bench, SENSORS[options["sensor"]])


def connect(target: Any, options: dict[str, Any]) -> PM100Meter:
    """Open the console, make power readings come in watts and set the averaging."""
    averaging = _averaging(options)
    adapter, resource = open_link(target, CONNECTION)
    try:
        meter = PM100(adapter, resource=resource)
    except OSError as exc:  # pymeasure's "No sensor connected."
        raise DeviceError("Thorlabs PM100", resource, str(exc)) from exc
    with closing_on_error(meter):
        if meter.is_power_sensor:
            meter.power_unit = "W"
        meter.averaging = averaging
    return PM100Meter(meter)


DRIVER = DriverSpec(
    name="thorlabs.pm100",
    role="energy_meter",
    description="Thorlabs PM100USB/PM100D with a photodiode, thermal or pyroelectric head",
    connect=connect,
    simulator=simulator,
    options=(
        Option(
            "sensor",
            "str",
            "S120VC",
            "simulation only: the head the simulated console reports (S120VC, S130C, ES111C)",
        ),
        Option(
            "averaging",
            "int",
            1,
            "samples (about 3 ms each) per power reading; energy heads read single pulses",
        ),
    ),
    manual=MANUAL,
)
