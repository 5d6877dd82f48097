"""Coherent Chameleon Ultra / Vision oscillator, with a pulse picker and a harmonic generator
after it, as the pulsed-laser role.

Manual: Coherent "Chameleon Ultra Family Operator's Manual", RS-232 interface section (command
and query tables; fault codes p. 5-8). 19200 baud 8N1, CR LF line ends. The command forms used
here (``ECHO=0``, ``PROMPT=0``, ``L=n``, ``S=n``, ``VW=n`` and the queries ``?L ?S ?VW ?TS ?K ?F
?MDLK ?UF ?SN ?TMIN ?TMAX``), the one-line answer to every command, the ``CHAMELEON>`` prompt,
the clamping of out-of-range wavelengths and the "Error" answers were checked against the public
drivers of ScopeFoundry, DAQLab and BakingTray.

What reaches the sample is not what the oscillator emits: an external pulse picker passes one
pulse in ``pulse_picker_divider`` of the 80 MHz train and a harmonic generator divides the
wavelength by ``harmonic``. The role reports the pulse train at the sample.
"""

from __future__ import annotations

from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from qslab.instruments import pulsed
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ON_OFF, ExchangeLink, open_link, switch
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.chameleon import ChameleonSimulator

MANUAL = "Coherent Chameleon Ultra Family Operator's Manual, RS-232 interface (commands, queries)"
CONNECTION = {
    "baud_rate": 19200,
    "write_termination": "\r\n",
    "read_termination": "\r\n",
    "timeout": 3000,
}
PROMPT = "CHAMELEON>"
TUNING_TIMEOUT_S = 60.0
TUNING_POLL_S = 0.2
TUNING_TOLERANCE_NM = 1.0
# fmt: off
FAULT_NAMES = (
    "Laser head interlock", "External interlock", "PS cover interlock", "LBO temperature",
    "LBO not locked at set temperature", "Vanadate temperature", "Etalon temperature",
    "Diode 1 temperature", "Diode 2 temperature", "Baseplate temperature",
    "Heatsink 1 temperature", "Heatsink 2 temperature", "", "", "", "Diode 1 over-current",
    "Diode 2 over-current", "Over-current", "Diode 1 under-voltage", "Diode 2 under-voltage",
    "Diode 1 over-voltage", "Diode 2 over-voltage", "", "", "Diode 1 EEPROM", "Diode 2 EEPROM",
    "Laser head EEPROM", "PS EEPROM", "PS-head mismatch", "LBO battery",
    "Shutter state mismatch", "CPU PROM checksum", "Head PROM checksum",
    "Diode 1 PROM checksum", "Diode 2 PROM checksum", "CPU PROM range", "Head PROM range",
    "Diode 1 PROM range", "Diode 2 PROM range", "Head-diode mismatch", "", "",
    "Lost modelock", "", "", "", "Ti-Sapph temperature", "", "PZT X", "Cavity humidity",
    "Tuning stepper motor homing", "Lasing", "Laser failed to begin modelocking",
    "Headboard comms", "System lasing", "PS-head EEPROM mismatch",
    "Modelock slit stepper motor homing", "Chameleon-Verdi EEPROM",
    "Chameleon precompensator homing", "Chameleon curve EEPROM",
)
# fmt: on
FAULTS = {code: name for code, name in enumerate(FAULT_NAMES, start=1) if name}
"""Fault codes of ``?F`` (operator's manual p. 5-8, as transcribed in BakingTray)."""


def _payload(command: str, line: str) -> str:
    """The answer without a prompt left from the previous exchange or an echo of ``command``."""
    text = line.strip()
    if text.upper().startswith(PROMPT):
        text = text[len(PROMPT) :].strip()
    if text.upper().startswith(command.upper()):
        text = text[len(command) :].strip()
    return text


class Chameleon(ExchangeLink, Instrument):
    """The Chameleon's RS-232 interface. Every command answers one line; an answer containing
    "Error", garbage or silence raises :class:`DeviceError`. Call :meth:`quiet` first."""

    reply_word = "answer"

    def __init__(self, adapter, name: str = "Coherent Chameleon", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    laser_state = Instrument.measurement(
        "?L", """Get the laser state: 0 standby, 1 on, 2 fault.""", cast=int
    )

    laser_on = Instrument.setting(
        "L=%d",
        """Set the laser on (True; also clears latched faults, needs the key switch on) or to
        standby (False).""",
        validator=strict_discrete_set,
        values=ON_OFF,
        map_values=True,
    )

    shutter_open = switch("?S", "S=%d", """Control the output shutter (True open).""")

    tuning_nm = Instrument.control(
        "?VW",
        "VW=%d",
        """Control the oscillator wavelength in nm; the laser clamps a value outside
        tuning_min_nm..tuning_max_nm to the nearer limit.""",
        set_process=round,
    )

    tuning_status = Instrument.measurement(
        "?TS",
        """Get the tuning status: 0 ready, 1 tuning, 2 searching for modelock, 3 recovery.""",
        cast=int,
    )

    tuning_min_nm = Instrument.measurement("?TMIN", """Get the shortest tuning wavelength, nm.""")

    tuning_max_nm = Instrument.measurement("?TMAX", """Get the longest tuning wavelength, nm.""")

    keyswitch_on = Instrument.measurement(
        "?K",
        """Get the key switch: True at ON, False at STANDBY.""",
        values=ON_OFF,
        map_values=True,
        cast=int,
    )

    faults = Instrument.measurement(
        "?F",
        """Get the codes of the active faults (empty when there is none).""",
        preprocess_reply=lambda reply: reply.replace("&", ","),
        cast=int,
        get_process=lambda code: (code,) if code else (),
        get_process_list=tuple,
    )

    modelock = Instrument.measurement(
        "?MDLK", """Get the modelock state: 0 off, 1 modelocked, 2 CW.""", cast=int
    )

    power_mw = Instrument.measurement("?UF", """Get the output power in mW.""")

    serial_number = Instrument.measurement(
        "?SN", """Get the serial number.""", cast=str, maxsplit=0
    )

    def quiet(self) -> None:
        """Echo and prompt off (both on after power-up), so each answer is one bare line."""
        self.write("ECHO=0")
        self.write("PROMPT=0")

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        with self._exchange_errors(f"garbled answer to {command!r}", f"no answer to {command!r}"):
            self._send(command)
            line = self.read()
        payload = _payload(command, line)
        if "error" in payload.lower():
            raise self.error(f"refused {command!r}: {payload}")
        if query != bool(payload):
            self._discard_input()
            raise self.error(f"unexpected answer to {command!r}: {line!r}")
        return payload


class ChameleonLaser(pulsed.PickedOscillatorRole):
    """The PulsedLaser role: the pulse train at the sample, after the picker and the doubler."""

    laser: Chameleon

    @property
    def laser_nm(self) -> float:
        return self.laser.tuning_nm

    @property
    def shutter_open(self) -> bool:
        return self.laser.shutter_open

    def open_shutter(self) -> None:
        self.laser.shutter_open = True

    def close_shutter(self) -> None:
        self.laser.shutter_open = False

    @property
    def emission_on(self) -> bool:
        return self.laser.laser_state == 1

    def set_emission(self, on: bool) -> None:
        """On needs the key switch at ON and no active fault; each refusal says which."""
        if on:
            if not self.laser.keyswitch_on:
                raise self.laser.error("the key switch is at STANDBY; turn it to ON for emission")
            if faults := self.laser.faults:
                names = ", ".join(f"{code} ({FAULTS.get(code, 'unknown')})" for code in faults)
                raise self.laser.error(f"cannot turn on with active faults: {names}")
        self.laser.laser_on = on
        state = self.laser.laser_state
        if (state == 1) != on:
            raise self.laser.error(f"asked for emission {'on' if on else 'off'}, state is {state}")

    def _emission_off(self) -> None:
        """Standby (``L=0``), without reading the state back as :meth:`set_emission` does; the
        safe state asks for it only when told to, since the oscillator is slow to restart."""
        self.laser.laser_on = False

    def _ready(self) -> None:
        self.laser.quiet()

    def tune(self, tuning_nm: float) -> None:
        """Tune the oscillator and wait until it reports ready at the new wavelength."""
        pulsed.check_tuning(tuning_nm, self.laser.tuning_min_nm, self.laser.tuning_max_nm)
        if abs(self.laser.tuning_nm - tuning_nm) < TUNING_TOLERANCE_NM:
            return
        self.laser.tuning_nm = tuning_nm
        pulsed.wait_until(
            lambda: self.laser.tuning_status == 0,
            TUNING_TIMEOUT_S,
            TUNING_POLL_S,
            lambda: self.laser.error(f"still tuning after {TUNING_TIMEOUT_S:g} s"),
        )
        reached = self.laser.tuning_nm
        if abs(reached - tuning_nm) > TUNING_TOLERANCE_NM:
            raise self.laser.error(f"asked for {tuning_nm:g} nm, laser reports {reached:g} nm")

    def identity(self) -> str:
        return f"Coherent Chameleon s/n {self.laser.serial_number}"

    def _laser_settings(self) -> dict[str, Any]:
        return {"tuning_nm": self.laser.tuning_nm}

    def close(self) -> None:
        self.laser.adapter.close()


def simulator(bench: VirtualBench, options: dict[str, Any]) -> ChameleonSimulator:
    return pulsed.oscillator_simulator(ChameleonSimulator, bench, options)


def connect(target: Any, options: dict[str, Any]) -> ChameleonLaser:
    """Open the laser, silence echo and prompt, and tune to ``tuning_nm``."""
    options = pulsed.check_optics(options)
    adapter, resource = open_link(target, CONNECTION)
    return ChameleonLaser.opened(Chameleon(adapter, resource=resource), options)


DRIVER = DriverSpec(
    name="coherent.chameleon",
    role="laser",
    description="Coherent Chameleon Ultra/Vision with a pulse picker and harmonic generator",
    connect=connect,
    simulator=simulator,
    nominal_wavelength_nm=pulsed.nominal_wavelength(),
    options=(
        Option("tuning_nm", "float", 800.0, "oscillator wavelength set on connect", "nm"),
        pulsed.harmonic_option(),
        pulsed.PULSE_PICKER_DIVIDER,
        pulsed.pulse_width_option(140e-15),
        pulsed.emission_off_on_safe_option("puts the laser in standby (slow to restart)"),
    ),
    manual=MANUAL,
)
