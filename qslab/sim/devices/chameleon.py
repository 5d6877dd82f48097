"""Simulated Coherent Chameleon Ultra / Vision Ti:sapphire oscillator with the optics after it.

Protocol (Chameleon Ultra / Vision operator's manual, RS-232 section; checked against the
public drivers of ScopeFoundry (Chameleon Ultra II), DAQLab (VU Amsterdam), BakingTray (Basel)
and a C++ Chameleon Vision driver): 19200 baud 8N1, a command ends with CR (a following LF is
ignored) and every command, setting or query, answers one CR LF-ended line: the value for a
query, nothing for a setting. At power-up the laser echoes each command (the echo sits in front
of the value on that line; ``ECHO=0`` takes effect from the next command) and sends the prompt
``CHAMELEON> `` after every answer (``PROMPT=0``). Commands are not case sensitive and have long
and short forms: ``LASER=n``/``L=n``, ``SHUTTER=n``/``S=n``, ``WAVELENGTH=n``/``VW=n``,
``HEARTBEAT=n``/``HB=n``. Queries used here: ``?L`` (0 standby, 1 on, 2 fault), ``?S``, ``?VW``,
``?TS`` (0 ready, 1 tuning), ``?K`` (key switch), ``?F`` (active faults, ``0`` or codes joined by
``&``), ``?MDLK`` (0 off, 1 modelocked, 2 CW), ``?UF`` (power, mW), ``?SN``, ``?TMIN``/``?TMAX``.

Behaviour modelled from the manual: a wavelength outside the tuning range is clamped to the
nearest limit, not refused; ``LASER=1`` turns the laser on only with the key switch on and no
active fault. Public drivers recognise a refused command by "Error" in its answer; the exact
wording here is the simulator's. Tuning speed (40 nm/s) and output power (3.5 W) are
representative, not from the manual.

The simulator is given the station's optics options: the pulse picker divides the 80 MHz train
and the frequency doubler halves the wavelength before the beam reaches the bench.
"""

from __future__ import annotations

import time

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused, int_setting
from qslab.sim.devices.pulsed import PickedOptics

TUNING_RANGE_NM = (680, 1080)
TUNING_NM_PER_S = 40.0
OUTPUT_MW = 3500
SERIAL = "CHU-SIM-0001"
PROMPT = "CHAMELEON> "
ALIASES = {
    "LASER": "L",
    "SHUTTER": "S",
    "WAVELENGTH": "VW",
    "HEARTBEAT": "HB",
    "HEARTBEATRATE": "HBR",
}
"""Long command names and the short ones the manual gives for them."""


def _short(name: str) -> str:
    """A command name as the laser reads it: spaces around it ignored, long forms shortened."""
    return ALIASES.get(name.strip(), name.strip())


class ChameleonSimulator(FaultyTextDevice):
    """The laser head and power supply as seen over RS-232, plus the optics after it."""

    input_terminator = b"\r"
    reply_terminator = b"\r\n"

    def __init__(
        self,
        bench: VirtualBench,
        tuning_nm: float = 800.0,
        harmonic: int = 2,
        pulse_picker_divider: int = 80000,
        pulse_width_s: float = 140e-15,
    ) -> None:
        super().__init__("sim:chameleon")
        self.bench = bench
        self.optics = PickedOptics(bench, harmonic, pulse_picker_divider, pulse_width_s)
        self.emission = False
        self.shutter = False
        self.echo = True
        self.prompt = True
        self.keyswitch = True
        self.faults: list[int] = []
        self.heartbeat = 0
        self.heartbeat_rate = 10
        self.tuning_nm = round(tuning_nm)
        self._tuned_at = 0.0
        self._report()

    # -- framing ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """A command ends at CR; the LF that most hosts send after it is ignored."""
        super().feed(data.replace(b"\n", b""))

    def answer(self, command: str) -> bytes:
        echo = self.echo
        try:
            value = self._execute(command.strip().upper())
        except Refused as refusal:
            value = f"Error: {refusal.reason}"
        self._report()
        return self._line(command, value, echo)

    def error_reply(self, command: str) -> bytes:
        return self._line(command, "Error: command not recognised", self.echo)

    def _line(self, command: str, value: str, echo: bool) -> bytes:
        text = " ".join(part for part in (command if echo else "", value) if part)
        return (text + "\r\n" + (PROMPT if self.prompt else "")).encode()

    # -- commands --------------------------------------------------------------------------
    def _execute(self, command: str) -> str:
        if command.startswith("?"):
            return self._query(command[1:])
        switches = {"L": self._laser, "S": self._shutter, "ECHO": self._echo}
        switches.update(PROMPT=self._prompt, HB=self._heartbeat)
        known = (*switches, "VW", "HBR")
        name, value = int_setting(command, known, "command not recognised", "invalid value", _short)
        if name == "VW":
            self._tune(value)
        elif name == "HBR" and 1 <= value <= 100:
            self.heartbeat_rate = value
        elif name in switches and value in (0, 1):
            switches[name](bool(value))
        else:
            raise Refused("value out of range")
        return ""

    def _query(self, name: str) -> str:
        on = self.emission
        values = {
            "L": 2 if self.faults else int(on),
            "S": int(self.shutter),
            "VW": self.tuning_nm,
            "TS": int(time.monotonic() < self._tuned_at),
            "K": int(self.keyswitch),
            "F": "&".join(str(code) for code in self.faults) or "0",
            "MDLK": int(on),
            "UF": OUTPUT_MW if on else 0,
            "SN": SERIAL,
            "TMIN": TUNING_RANGE_NM[0],
            "TMAX": TUNING_RANGE_NM[1],
            "HB": self.heartbeat,
            "HBR": self.heartbeat_rate,
        }
        if name not in values:
            raise Refused("command not recognised")
        return str(values[name])

    def _laser(self, on: bool) -> None:
        self.emission = on and self.keyswitch and not self.faults

    def _shutter(self, is_open: bool) -> None:
        self.shutter = is_open

    def _echo(self, on: bool) -> None:
        self.echo = on

    def _prompt(self, on: bool) -> None:
        self.prompt = on

    def _heartbeat(self, on: bool) -> None:
        self.heartbeat = int(on)

    def _tune(self, nm: int) -> None:
        target = min(max(nm, TUNING_RANGE_NM[0]), TUNING_RANGE_NM[1])
        if self.bench.realtime:
            self._tuned_at = time.monotonic() + abs(target - self.tuning_nm) / TUNING_NM_PER_S
        self.tuning_nm = target

    def _report(self) -> None:
        """Tell the bench what leaves the optics now."""
        self.optics.show_oscillator(self.emission, self.shutter, self.tuning_nm)
