"""Spectra-Physics Mai Tai (and InSight) femtosecond Ti:sapphire lasers, with a pulse picker and a
harmonic generator after them, as the pulsed-laser role.

Manual: Spectra-Physics "Mai Tai User's Manual" (284A), chapter "Operation", section on the
serial commands, and the InSight DeepSee user's manual (status byte, appendix B). The command
forms used here (``ON``, ``OFF``, ``SHUTTER n``/``SHUTTER?``, ``WAVELENGTH n``/``WAVELENGTH?``,
``WAVELENGTH:MIN?``/``MAX?``, ``READ:WAVELENGTH?``, ``READ:POWER?``, ``READ:PCTWARMEDUP?``,
``TIMER:WATCHDOG n``, ``*STB?``, ``*IDN?``), the LF line ends, the silence after a setting and
the units glued to the answers (``820nm``, ``3.000W``, ``100.00%``) were checked against the
public drivers of BaselLaserMouse LaserControl, StPeres-Cerebellum MaiTaiControl, nplab,
davy-jones (InSight) and the hardware notes of rust-daq (8N1, XON/XOFF, ``*IDN?`` format).

Status byte: bit 0 emission possible and bit 1 modelocked (Mai Tai; on an InSight bit 1 is
"pulsing"), as read by the Basel and MaiTaiControl drivers. ``ON`` is only worth sending once
the system is warmed up (both drivers check ``READ:PCTWARMEDUP?`` for 100 %), and the software
watchdog is disabled on connect (``TIMER:WATCHDOG 0``), or the laser turns itself off when the
computer is silent. The shutter takes up to about a second to report its new state. Not
confirmed: the answer to a refused command; like MaiTaiControl, any answer starting with
"Error" is taken as a refusal. A setting answers nothing, so a refusal of one arrives in front
of the next query's answer and is reported against the setting.

The role reports the pulse train at the sample, not what the laser emits: the station gives the
pulse picker and harmonic generator after the laser (:mod:`qslab.instruments.pulsed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymeasure.instruments import Instrument
from pyvisa.constants import ControlFlow

from qslab.instruments import pulsed
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ExchangeLink, open_link, switch
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.maitai import EMISSION, MODELOCKED, MaiTaiSimulator

MANUAL = (
    "Spectra-Physics Mai Tai User's Manual (284A), 'Operation': serial commands; "
    "InSight DeepSee User's Manual, status byte"
)
CONNECTION = {
    "baud_rate": 9600,
    "flow_control": ControlFlow.xon_xoff,
    "write_termination": "\n",
    "read_termination": "\n",
    "timeout": 5000,
}
"""8N1 with XON/XOFF (the manual forbids RTS/CTS). Some units take 2-3 s to answer."""
SHUTTER_TIMEOUT_S = 3.0
TURN_ON_TIMEOUT_S = 120.0
TUNING_TIMEOUT_S = 60.0
POLL_S = 0.2
TUNING_TOLERANCE_NM = 1.0


def _unit(suffix: str) -> Callable[[str], str]:
    """A reply processor dropping the unit the laser glues to a number (``820nm`` -> ``820``)."""
    return lambda reply: reply.strip().removesuffix(suffix)


class MaiTai(ExchangeLink, Instrument):
    """The Mai Tai's RS-232 interface: a query answers one line, a setting nothing.

    An "Error" answer, garbage or silence raises :class:`DeviceError`; one read in front of a
    query's answer also names the setting sent before it, which it is most likely about.
    """

    reply_word = "answer"

    def __init__(
        self, adapter, name: str = "Spectra-Physics Mai Tai", resource: str = "", **kwargs
    ):
        self._unanswered = ""
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    id = Instrument.measurement(
        "*IDN?",
        """Get the identification: maker, model, serial numbers, firmware.""",
        cast=str,
        maxsplit=0,
    )

    status_byte = Instrument.measurement(
        "*STB?", """Get the status byte: bit 0 emission possible, bit 1 modelocked.""", cast=int
    )

    shutter_open = switch("SHUTTER?", "SHUTTER %d", """Control the shutter (True open).""")

    target_nm = Instrument.control(
        "WAVELENGTH?",
        "WAVELENGTH %d",
        """Control the wavelength the laser tunes to, nm (whole nanometres).""",
        preprocess_reply=_unit("nm"),
        set_process=round,
    )

    wavelength_nm = Instrument.measurement(
        "READ:WAVELENGTH?",
        """Get the wavelength the laser is at now, nm; it lags target_nm while tuning.""",
        preprocess_reply=_unit("nm"),
    )

    wavelength_min_nm = Instrument.measurement(
        "WAVELENGTH:MIN?",
        """Get the shortest wavelength it tunes to, nm.""",
        preprocess_reply=_unit("nm"),
    )

    wavelength_max_nm = Instrument.measurement(
        "WAVELENGTH:MAX?",
        """Get the longest wavelength it tunes to, nm.""",
        preprocess_reply=_unit("nm"),
    )

    power_w = Instrument.measurement(
        "READ:POWER?", """Get the output power, W.""", preprocess_reply=_unit("W")
    )

    warmed_up_percent = Instrument.measurement(
        "READ:PCTWARMEDUP?",
        """Get how far the system has warmed up, %; ON is accepted at 100.""",
        preprocess_reply=_unit("%"),
    )

    watchdog_s = Instrument.control(
        "TIMER:WATCHDOG?",
        "TIMER:WATCHDOG %d",
        """Control the watchdog: the laser turns off after this many seconds without a
        command; 0 disables it.""",
        cast=int,
    )

    def turn_on(self) -> None:
        """Switch the pump diodes on (the laser then modelocks by itself)."""
        self.write("ON")

    def turn_off(self) -> None:
        self.write("OFF")

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        after = f" (sent after {self._unanswered!r})" if query and self._unanswered else ""
        garbled, unanswered = f"garbled answer to {command!r}{after}", f"no answer to {command!r}"
        with self._exchange_errors(garbled, unanswered + after):
            self._send(command)
            self._unanswered = "" if query else command
            if not query:
                return ""
            line = self.read().strip()
        if line.lower().startswith("error"):
            self._discard_input()
            raise self.error(f"error answer to {command!r}{after}: {line}")
        if not line:
            raise self.error(f"empty answer to {command!r}{after}")
        return line


class MaiTaiLaser(pulsed.PickedOscillatorRole):
    """The PulsedLaser role: the pulse train at the sample, after the picker and the harmonic
    generator. The safe state closes the shutter before switching the pump diodes off (only if
    asked: the laser then has to modelock again), as older Mai Tais do not."""

    laser: MaiTai
    poll_s = POLL_S

    @property
    def laser_nm(self) -> float:
        """The laser's wavelength now (it lags while tuning)."""
        return self.laser.wavelength_nm

    @property
    def shutter_open(self) -> bool:
        return self.laser.shutter_open

    def open_shutter(self) -> None:
        self._move_shutter(True)

    def close_shutter(self) -> None:
        self._move_shutter(False)

    def _move_shutter(self, to_open: bool) -> None:
        """Command the shutter, then wait until the laser reports it there."""
        self.laser.shutter_open = to_open
        self._wait_for(
            lambda: self.laser.shutter_open == to_open,
            SHUTTER_TIMEOUT_S,
            f"the shutter to {'open' if to_open else 'close'}",
        )

    @property
    def emission_on(self) -> bool:
        return bool(self.laser.status_byte & EMISSION)

    def set_emission(self, on: bool) -> None:
        """On needs a warmed-up system and returns once the laser is modelocked."""
        if not on:
            self.laser.turn_off()
            self._wait_for(lambda: not self.emission_on, TURN_ON_TIMEOUT_S, "emission to stop")
            return
        warmed = self.laser.warmed_up_percent
        if warmed < 100:
            raise self.laser.error(f"still warming up ({warmed:g} %); ON is accepted at 100 %")
        self.laser.turn_on()
        pulsing = EMISSION | MODELOCKED
        self._wait_for(
            lambda: self.laser.status_byte & pulsing == pulsing, TURN_ON_TIMEOUT_S, "modelock"
        )

    def _ready(self) -> None:
        """The watchdog off, or the laser turns itself off while the computer is silent."""
        self.laser.watchdog_s = 0

    def tune(self, tuning_nm: float) -> None:
        """Tune the laser and wait until it reports the new wavelength."""
        pulsed.check_tuning(tuning_nm, self.laser.wavelength_min_nm, self.laser.wavelength_max_nm)
        self.laser.target_nm = tuning_nm
        self._wait_for(
            lambda: abs(self.laser.wavelength_nm - round(tuning_nm)) <= TUNING_TOLERANCE_NM,
            TUNING_TIMEOUT_S,
            f"the laser to reach {tuning_nm:g} nm",
        )

    def identity(self) -> str:
        return self.laser.id

    def _laser_settings(self) -> dict[str, Any]:
        return {"oscillator_nm": self.laser.wavelength_nm}

    def _readings(self) -> dict[str, Any]:
        return {"output_power_w": self.laser.power_w}

    def close(self) -> None:
        self.laser.adapter.close()


def simulator(bench: VirtualBench, options: dict[str, Any]) -> MaiTaiSimulator:
    return pulsed.oscillator_simulator(MaiTaiSimulator, bench, options)


def connect(target: Any, options: dict[str, Any]) -> MaiTaiLaser:
    """Open the laser, disable its watchdog and tune to ``tuning_nm``."""
    options = pulsed.check_optics(options)
    adapter, resource = open_link(target, CONNECTION)
    laser = MaiTai(adapter, resource=resource, baud_rate=options["baud_rate"])
    return MaiTaiLaser.opened(laser, options)


DRIVER = DriverSpec(
    name="spectraphysics.maitai",
    role="laser",
    description="Spectra-Physics Mai Tai/InSight with a pulse picker and harmonic generator",
    connect=connect,
    simulator=simulator,
    nominal_wavelength_nm=pulsed.nominal_wavelength(),
    options=(
        Option("tuning_nm", "float", 800.0, "laser wavelength set on connect", "nm"),
        pulsed.harmonic_option(),
        pulsed.PULSE_PICKER_DIVIDER,
        pulsed.pulse_width_option(100e-15),
        Option("baud_rate", "int", 9600, "serial rate set on the laser (InSight: 115200)"),
        pulsed.emission_off_on_safe_option("switches the pump diodes off (slow to modelock again)"),
    ),
    manual=MANUAL,
)
