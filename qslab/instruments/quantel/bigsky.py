"""Quantel (Lumibird) Big Sky CFR flashlamp-pumped Q-switched Nd:YAG lasers, with a harmonic
generator, as the pulsed-laser role.

Manual: Quantel "Big Sky Laser CFR series" user manual, serial command reference, and the
Quantel "Ultra / Big Sky Laser Series" user manual (version M), section 2.0 "Serial Command
Reference" (CR LF line ends; lamp commands answering with the laser's state string; the 8 s
Q-switch hold-off after the lamp starts). The CFR command forms used here (``>`` prefix,
``>SN``, ``>F``/``>Fnnnn`` in hundredths of a hertz, ``>QSF``, ``>R``/``>R1``/``>R0``,
``>WOR``, ``>A``, ``>S``, ``>PQ``, ``>SQ``), the 15-character answers and a setting's answer
in the query's format were checked against the public driver of the DeMille group
(``big_sky_yag``), which also limits the lamp rate to 1-99.99 Hz.

Not confirmed: the letters in the ``>WOR`` answer (only the numbers at its odd places are
read), the answers to ``>A``/``>S``/``>PQ``/``>SQ`` (the driver checks their effect with
``>WOR`` instead) and the answer to a refused command (an answer that does not parse as what
was asked is a device error). The Q-switch is assumed to run in its automatic mode, firing on
every ``>QSF``-th lamp shot, so the pulses at the sample come at the lamp rate divided by that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from pymeasure.instruments import Instrument

from qslab.errors import ValidationError
from qslab.instruments import pulsed
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ON_OFF, ExchangeLink, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.bigsky import BigSkySimulator

MANUAL = (
    "Quantel Big Sky Laser CFR series user manual, serial commands; Quantel Ultra/Big Sky "
    "Laser Series user manual, sec. 2.0 'Serial Command Reference'"
)
CONNECTION = {
    "baud_rate": 9600,
    "write_termination": "\r\n",
    "read_termination": "\r\n",
    "timeout": 3000,
}
FUNDAMENTAL_NM = 1064.0
LAMP_HZ_RANGE = (1.0, 99.99)
QSWITCH_HOLDOFF_S = 8.0
START_TIMEOUT_S = QSWITCH_HOLDOFF_S + 4.0
POLL_S = 0.5
RUNNING = 2
SHUTTER_STATES = {"shutter open": "1", "shutter closed": "0"}
STATUS = re.compile(r"\S+ (\d) \S+ (\d) \S+ (\d) \S+ (\d)")


class Status(NamedTuple):
    """The ``>WOR`` answer: the lamp and Q-switch run at 2 (+4 when externally triggered)."""

    interlock: int
    lamp: int
    simmer: int
    qswitch: int

    @property
    def lamp_firing(self) -> bool:
        return self.lamp % 4 == RUNNING

    @property
    def qswitch_running(self) -> bool:
        return self.qswitch % 4 == RUNNING


def _number(pattern: str) -> Callable[[str], str]:
    """A reply processor keeping the number in a fixed-format answer (the whole answer when it
    does not have that format, which then fails to parse)."""
    regex = re.compile(pattern)
    return lambda reply: match[1] if (match := regex.fullmatch(reply.strip())) else reply


lamp_rate = _number(r"freq\.\s*([\d.]+) Hz")
"""The rate in ``freq.  10.00 Hz``."""


class BigSky(ExchangeLink, Instrument):
    """A Big Sky CFR power supply on RS-232: every command answers one line. Garbage or silence
    raises :class:`DeviceError`; so does an answer that is not what the command asks for."""

    reply_word = "answer"

    def __init__(self, adapter, name: str = "Quantel Big Sky", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    serial_number = Instrument.measurement(
        ">SN",
        """Get the serial number.""",
        preprocess_reply=lambda reply: reply.removeprefix("s/number").strip(),
        cast=str,
        maxsplit=0,
    )

    flashlamp_hz = Instrument.measurement(
        ">F", """Get the flashlamp rate, Hz.""", preprocess_reply=lamp_rate
    )

    qswitch_divider = Instrument.measurement(
        ">QSF",
        """Get the Q-switch divider: it fires on every n-th lamp shot.""",
        preprocess_reply=_number(r"cycle rate F/\s*(\d+)"),
        cast=int,
    )

    shutter_open = Instrument.measurement(
        ">R",
        """Get the shutter state (True open).""",
        preprocess_reply=lambda reply: SHUTTER_STATES.get(reply.strip(), reply),
        values=ON_OFF,
        map_values=True,
        cast=int,
    )

    def status(self) -> Status:
        """The interlock, lamp, simmer and Q-switch states (``>WOR``)."""
        reply = self.ask(">WOR")
        match = STATUS.fullmatch(reply)
        if match is None:
            raise self.unreadable(">WOR", reply)
        return Status(*(int(group) for group in match.groups()))

    def set_shutter(self, to_open: bool) -> None:
        """Open or close the shutter; the answer must report the new state."""
        command = f">R{int(to_open)}"
        reply = self.ask(command)
        if SHUTTER_STATES.get(reply) != str(int(to_open)):
            raise self.error(f"refused {command!r}: {reply!r}")

    def set_flashlamp_hz(self, hz: float) -> None:
        """Set the lamp rate (1.00-99.99 Hz); the answer must report the new rate."""
        centihertz = round(hz * 100)
        command = f">F{centihertz}"
        reply = self.ask(command)
        if lamp_rate(reply) != f"{centihertz / 100:.2f}":
            raise self.error(f"refused {command!r}: {reply!r}")

    def fire(self) -> str:
        """Start the flashlamp on its internal clock; returns the laser's answer."""
        return self.ask(">A")

    def standby(self) -> str:
        """Stop the flashlamp (and with it the Q-switch)."""
        return self.ask(">S")

    def start_qswitch(self) -> str:
        return self.ask(">PQ")

    def stop_qswitch(self) -> str:
        return self.ask(">SQ")

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        with self._exchange_errors(f"garbled answer to {command!r}", f"no answer to {command!r}"):
            self._send(command)
            line = self.read().strip()
        if not line:
            raise self.error(f"empty answer to {command!r}")
        return line


class BigSkyLaser(pulsed.PulsedLaserRole):
    """The PulsedLaser role: the Q-switched pulses at the sample, after the harmonic generator.
    The safe state stops lamp and Q-switch only if asked: the rod then needs minutes to settle
    thermally before the pulse energy is stable again."""

    laser: BigSky
    laser_nm = FUNDAMENTAL_NM

    @property
    def repetition_rate_hz(self) -> float:
        """Q-switched pulses: one every ``qswitch_divider`` lamp shots."""
        return self.laser.flashlamp_hz / self.laser.qswitch_divider

    @property
    def shutter_open(self) -> bool:
        return self.laser.shutter_open

    def open_shutter(self) -> None:
        self.laser.set_shutter(True)

    def close_shutter(self) -> None:
        self.laser.set_shutter(False)

    @property
    def emission_on(self) -> bool:
        status = self.laser.status()
        return status.lamp_firing and status.qswitch_running

    def set_emission(self, on: bool) -> None:
        """On starts the lamp, then the Q-switch once its hold-off has passed (up to 12 s)."""
        if not on:
            self.laser.stop_qswitch()
            self.laser.standby()
            if self.emission_on:
                raise self.laser.error("still firing after '>SQ' and '>S'")
            return
        status = self.laser.status()
        if status.interlock:
            raise self.laser.error(f"interlock open (state {status.interlock}); lamp cannot fire")
        if not status.lamp_firing:
            answer = self.laser.fire()
            if not self.laser.status().lamp_firing:
                raise self.laser.error(f"flashlamp did not start; '>A' answered {answer!r}")
        elif status.qswitch_running:
            return
        answers: list[str] = []

        def qswitch_started() -> bool:
            answers.append(self.laser.start_qswitch())
            return self.laser.status().qswitch_running

        pulsed.wait_until(
            qswitch_started,
            START_TIMEOUT_S,
            POLL_S,
            lambda: self.laser.error(f"Q-switch did not start; '>PQ' answered {answers[-1]!r}"),
        )

    def identity(self) -> str:
        return f"Quantel Big Sky s/n {self.laser.serial_number}"

    def _laser_settings(self) -> dict[str, Any]:
        return {
            "flashlamp_hz": self.laser.flashlamp_hz,
            "qswitch_divider": self.laser.qswitch_divider,
        }

    def close(self) -> None:
        self.laser.adapter.close()


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    pulsed.check_optics(options, FUNDAMENTAL_NM)
    hz = options["flashlamp_hz"]
    if hz and not LAMP_HZ_RANGE[0] <= hz <= LAMP_HZ_RANGE[1]:
        raise ValidationError(
            "station.laser.flashlamp_hz", f"{hz:g} Hz is outside 1-99.99 Hz (0 keeps the laser's)"
        )
    return options


def simulator(bench: VirtualBench, options: dict[str, Any]) -> BigSkySimulator:
    o = _checked(options)
    return BigSkySimulator(bench, o["harmonic"], o["pulse_width_s"])


def connect(target: Any, options: dict[str, Any]) -> BigSkyLaser:
    """Open the laser and set its lamp rate when ``flashlamp_hz`` asks for one."""
    options = _checked(options)
    adapter, resource = open_link(target, CONNECTION)
    laser = BigSky(adapter, resource=resource)
    try:
        if options["flashlamp_hz"]:
            laser.set_flashlamp_hz(options["flashlamp_hz"])
        laser.status()
    except Exception:
        laser.adapter.close()
        raise
    return BigSkyLaser(laser, options)


DRIVER = DriverSpec(
    name="quantel.bigsky",
    role="laser",
    description="Quantel Big Sky CFR Q-switched Nd:YAG with a harmonic generator",
    connect=connect,
    simulator=simulator,
    nominal_wavelength_nm=pulsed.nominal_wavelength(FUNDAMENTAL_NM),
    options=(
        pulsed.harmonic_option(2, "harmonic at the sample: 1 1064, 2 532, 3 355, 4 266 nm"),
        Option(
            "flashlamp_hz",
            "float",
            0.0,
            "lamp rate set on connect (0: keep the laser's); pulse rate = lamp rate / QS divider",
            "Hz",
        ),
        pulsed.pulse_width_option(7e-9),
        pulsed.emission_off_on_safe_option(
            "stops lamp and Q-switch (pulse energy takes minutes to settle)"
        ),
    ),
    manual=MANUAL,
    check=_checked,
)
