"""Simulated Spectra-Physics Mai Tai (and InSight) Ti:sapphire laser with the optics after it.

Protocol (Mai Tai user's manual, "Operation: serial commands"; checked against the public
drivers of BaselLaserMouse LaserControl, StPeres-Cerebellum MaiTaiControl, nplab, davy-jones
(InSight DeepSee) and rust-daq's hardware notes): 8N1 with XON/XOFF, 9600 baud on a Mai Tai
(115200 on an InSight), a command ends with LF (a CR before it is ignored). Keywords follow SCPI:
not case sensitive, short or long form (``SHUT``/``SHUTTER``, ``READ:WAV?``/
``READ:WAVELENGTH?``). Settings (``ON``, ``OFF``, ``SHUTTER n``, ``WAVELENGTH n``,
``TIMER:WATCHDOG n``) send nothing back; every query answers one LF-ended line with its unit
glued on: ``820nm``, ``3.000W``, ``100.00%``; ``SHUTTER?`` answers ``0``/``1``, ``*STB?`` the
status byte (bit 0 emission possible, bit 1 modelocked), ``*IDN?`` four comma-separated fields.

Behaviour modelled: ``ON`` needs the system warmed up (``READ:PCTWARMEDUP?`` at 100 %), the
laser modelocks a few seconds after turning on, the shutter takes a moment to move (the Basel
driver waits 0.75 s), the wavelength is reached at a finite tuning speed (``READ:WAVELENGTH?``
is where the laser is, ``WAVELENGTH?`` where it is going), and a watchdog set with
``TIMER:WATCHDOG n`` turns the laser off after n silent seconds (0 disables it). Not confirmed:
how the laser answers a command it refuses; the simulator sends a line starting with "Error" (what
the MaiTaiControl driver checks for). Tuning speed, modelock delay and output power are
representative, not from the manual.

The simulator is given the station's optics options: a pulse picker divides the 80 MHz train
and a harmonic generator divides the wavelength before the beam reaches the bench.
"""

from __future__ import annotations

import math
import time

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused
from qslab.sim.devices.pulsed import PickedOptics

IDN = "Spectra Physics,MaiTai,SIM-0001/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057"
TUNING_RANGE_NM = (690, 1040)
TUNING_NM_PER_S = 50.0
MODELOCK_DELAY_S = 3.0
SHUTTER_DELAY_S = 0.5
OUTPUT_W = 2.5
EMISSION, MODELOCKED = 1, 2
"""Bits of the status byte ``*STB?``."""


def keyword(pattern: str, word: str) -> bool:
    """Whether ``word`` names the SCPI keyword ``pattern`` (its capitals are the short form):
    ``keyword("READ:WAVelength?", "read:wav?")`` is True."""
    nodes, words = pattern.split(":"), word.upper().split(":")
    if len(nodes) != len(words):
        return False
    for node, given in zip(nodes, words, strict=True):
        short = "".join(c for c in node if not c.islower())
        if not (given.startswith(short.rstrip("?")) and node.upper().startswith(given.rstrip("?"))):
            return False
        if node.endswith("?") != given.endswith("?"):
            return False
    return True


class MaiTaiSimulator(FaultyTextDevice):
    """The laser as seen over RS-232, plus the pulse picker and harmonic generator after it."""

    input_terminator = b"\n"
    reply_terminator = b"\n"

    def __init__(
        self,
        bench: VirtualBench,
        tuning_nm: float = 800.0,
        harmonic: int = 2,
        pulse_picker_divider: int = 80000,
        pulse_width_s: float = 100e-15,
    ) -> None:
        super().__init__("sim:maitai")
        self.bench = bench
        self.optics = PickedOptics(bench, harmonic, pulse_picker_divider, pulse_width_s)
        self.warmed_up_percent = 100.0
        self.watchdog_s = 0
        self.on = False
        self.target_nm = self._start_nm = float(round(tuning_nm))
        now = time.monotonic()
        self._last_command = self._tuned_from = self._on_since = now
        self._shutter = (False, False, now)
        """The shutter's state before its last command, after it, and when it was told."""
        self._sync()

    def feed(self, data: bytes) -> None:
        """A command ends at LF; a CR that some hosts send before it is ignored."""
        super().feed(data.replace(b"\r", b""))

    def answer(self, command: str) -> bytes:
        self._sync()
        try:
            value = self._execute(command.strip())
        except Refused as refusal:
            value = f"Error: {refusal.reason}"
        return b"" if value is None else (value + "\n").encode()

    def error_reply(self, command: str) -> bytes:
        return b"Error: command not recognised\n"

    # -- state that moves with time --------------------------------------------------------
    def _elapsed(self, since: float, needed: float) -> bool:
        return not self.bench.realtime or time.monotonic() - since >= needed

    @property
    def modelocked(self) -> bool:
        return self.on and self._elapsed(self._on_since, MODELOCK_DELAY_S)

    @property
    def shutter_open(self) -> bool:
        before, after, told_at = self._shutter
        return after if self._elapsed(told_at, SHUTTER_DELAY_S) else before

    @property
    def wavelength_nm(self) -> float:
        """Where the tuning motors are now, moving at a finite speed towards the target."""
        if not self.bench.realtime:
            return self.target_nm
        travelled = (time.monotonic() - self._tuned_from) * TUNING_NM_PER_S
        gap = self.target_nm - self._start_nm
        if travelled >= abs(gap):
            return self.target_nm
        return self._start_nm + math.copysign(travelled, gap)

    def _sync(self) -> None:
        """Apply the watchdog, then tell the bench what leaves the optics now."""
        now = time.monotonic()
        if self.watchdog_s and self.bench.realtime and now - self._last_command > self.watchdog_s:
            self.on = False
        self._last_command = now
        self.optics.show_oscillator(self.modelocked, self.shutter_open, self.wavelength_nm)

    # -- commands --------------------------------------------------------------------------
    def _execute(self, command: str) -> str | None:
        word, _, argument = command.partition(" ")
        if word.endswith("?"):
            return self._query(word)
        settings = {"SHUTter": self._move_shutter, "WAVelength": self._tune}
        settings["TIMer:WATChdog"] = self._watchdog
        for name, apply in settings.items():
            if keyword(name, word):
                apply(self._integer(argument))
                return None
        if keyword("ON", word) or keyword("OFF", word):
            self._switch(word.upper() == "ON")
            return None
        raise Refused("command not recognised")

    def _query(self, word: str) -> str:
        laser = self.bench.laser
        answers = {
            "*IDN?": lambda: IDN,
            "*STB?": lambda: str(EMISSION * self.on + MODELOCKED * self.modelocked),
            "SHUTter?": lambda: str(int(self.shutter_open)),
            "WAVelength?": lambda: f"{self.target_nm:.0f}nm",
            "WAVelength:MIN?": lambda: f"{TUNING_RANGE_NM[0]}nm",
            "WAVelength:MAX?": lambda: f"{TUNING_RANGE_NM[1]}nm",
            "READ:WAVelength?": lambda: f"{self.wavelength_nm:.0f}nm",
            "READ:POWer?": lambda: f"{OUTPUT_W * (laser.emission and self.shutter_open):.3f}W",
            "READ:PCTWarmedup?": lambda: f"{self.warmed_up_percent:.2f}%",
            "TIMer:WATChdog?": lambda: str(self.watchdog_s),
        }
        for name, reply in answers.items():
            if keyword(name, word):
                return reply()
        raise Refused("command not recognised")

    @staticmethod
    def _integer(argument: str) -> int:
        try:
            return int(float(argument))
        except ValueError:
            raise Refused("invalid parameter") from None

    def _switch(self, on: bool) -> None:
        if on and self.warmed_up_percent < 100:
            raise Refused("system not warmed up")
        if on and not self.on:
            self._on_since = time.monotonic()
        self.on = on
        self._sync()

    def _move_shutter(self, value: int) -> None:
        if value not in (0, 1):
            raise Refused("invalid parameter")
        if bool(value) != self._shutter[1]:
            self._shutter = (self.shutter_open, bool(value), time.monotonic())
        self._sync()

    def _tune(self, nm: int) -> None:
        if not TUNING_RANGE_NM[0] <= nm <= TUNING_RANGE_NM[1]:
            raise Refused("wavelength out of range")
        self._start_nm, self._tuned_from = self.wavelength_nm, time.monotonic()
        self.target_nm = float(nm)
        self._sync()

    def _watchdog(self, seconds: int) -> None:
        if seconds < 0:
            raise Refused("invalid parameter")
        self.watchdog_s = seconds
