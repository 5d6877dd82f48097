"""Simulated Quantel (Lumibird) Big Sky CFR flashlamp-pumped, Q-switched Nd:YAG laser, with a
harmonic generator selecting 1064, 532 or 355 nm.

Protocol (Big Sky Laser CFR series serial commands, as implemented by the public driver of the
DeMille group, ``big_sky_yag``, and the Quantel "Ultra / Big Sky Laser Series" user manual,
"Serial Command Reference"): 9600 baud 8N1; a command is ``>`` (any laser on the line) or
``$<serial number>`` followed by the command letters and ends with CR LF. Every command answers
one 15-character line ended by CR LF, a setting with the new state in the query's format:

===========  ===================================  ========================================
command      answer                               meaning
===========  ===================================  ========================================
``>SN``      ``s/number    184``                  serial number
``>F``       ``freq.  10.00 Hz``                  flashlamp rate; ``>F1000`` sets 10.00 Hz
``>QSF``     ``cycle rate F/ 1``                  Q-switch fires on every n-th lamp shot
``>R``       ``shutter open`` / ``shutter closed``  ``>R1`` opens, ``>R0`` closes
``>WOR``     ``I 0 L 2 S 1 Q 2``                  interlock, lamp, simmer, Q-switch state
``>A``       ``fire auto``                        lamp firing on its internal clock
``>S``       ``standby``                          lamp (and Q-switch) stopped
``>PQ``      ``QS at run``                        Q-switch started
``>SQ``      ``QS at stop``                       Q-switch stopped
===========  ===================================  ========================================

In ``>WOR`` the lamp and Q-switch states are 0 stopped, 1 single shot, 2 running (+4 when
externally triggered) and the interlock is 0 when closed (big_sky_yag reads the four numbers
at the odd places); the Q-switch will not start in the 8 s after the lamp starts (Ultra manual,
Q-switch interlock byte). Not confirmed: the letters in the ``>WOR`` answer, the answers to
``>A``/``>S`` (the Ultra manual's state strings) and to ``>PQ``/``>SQ``, and the answer to a
refused command (the simulator sends ``cmd error``). A line with neither prefix is ignored.

Physics: pulses reach the bench while the lamp fires and the Q-switch runs, at the lamp rate
divided by the Q-switch divider, at 1064 nm divided by the harmonic.
"""

from __future__ import annotations

import time

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused
from qslab.sim.devices.pulsed import Optics

FUNDAMENTAL_NM = 1064.0
SERIAL = 184
REPLY_WIDTH = 15
QSWITCH_HOLDOFF_S = 8.0
STOPPED, RUNNING = 0, 2
"""Lamp and Q-switch states in the ``>WOR`` answer."""
LAMP_HZ_RANGE = (100, 9999)
"""``>F`` takes hundredths of a hertz: 1.00 to 99.99 Hz."""


class BigSkySimulator(FaultyTextDevice):
    """The laser head and power supply as seen over RS-232, plus the harmonic generator."""

    input_terminator = b"\r\n"
    reply_terminator = b"\r\n"

    def __init__(
        self,
        bench: VirtualBench,
        harmonic: int = 2,
        pulse_width_s: float = 7e-9,
        flashlamp_hz: float = 10.0,
        qswitch_divider: int = 1,
    ) -> None:
        super().__init__("sim:bigsky")
        self.bench = bench
        self.optics = Optics(bench, harmonic, pulse_width_s)
        self.flashlamp_centihz = round(flashlamp_hz * 100)
        self.qswitch_divider = qswitch_divider
        self.interlock = 0
        self.lamp = self.qswitch = STOPPED
        self.simmer = 0
        self.shutter = False
        self._lamp_started = time.monotonic()
        self._report()

    def answer(self, command: str) -> bytes:
        prefix = next((p for p in (">", f"${SERIAL}") if command.startswith(p)), None)
        if prefix is None:
            return b""
        try:
            reply = self._execute(command[len(prefix) :].upper())
        except Refused as refusal:
            reply = refusal.reason
        self._report()
        return self._line(reply)

    def error_reply(self, command: str) -> bytes:
        return self._line("cmd error")

    @staticmethod
    def _line(text: str) -> bytes:
        return text.ljust(REPLY_WIDTH).encode() + b"\r\n"

    def _execute(self, command: str) -> str:
        name = command.rstrip("0123456789")
        argument = command[len(name) :]
        actions = {"A": self._fire, "S": self._standby, "PQ": self._start_qswitch}
        actions.update(SQ=self._stop_qswitch)
        if name in actions and not argument:
            return actions[name]()
        settings = {"F": self._set_lamp_rate, "QSF": self._set_divider, "R": self._set_shutter}
        if name in settings and argument:
            settings[name](int(argument))
        queries = {
            "SN": lambda: f"s/number{SERIAL:>7}",
            "F": lambda: f"freq.  {self.flashlamp_centihz / 100:5.2f} Hz",
            "QSF": lambda: f"cycle rate F/{self.qswitch_divider:2d}",
            "R": lambda: f"shutter {'open' if self.shutter else 'closed'}",
            "WOR": lambda: f"I {self.interlock} L {self.lamp} S {self.simmer} Q {self.qswitch}",
        }
        if name not in queries or (argument and name not in settings):
            raise Refused("cmd error")
        return queries[name]()

    # -- flashlamp and Q-switch ------------------------------------------------------------
    def _fire(self) -> str:
        if self.interlock:
            return "interlock"
        if self.lamp != RUNNING:
            self.lamp, self.simmer, self._lamp_started = RUNNING, 1, time.monotonic()
        return "fire auto"

    def _standby(self) -> str:
        self.lamp = self.qswitch = STOPPED
        self.simmer = 0
        return "standby"

    def _start_qswitch(self) -> str:
        held_off = self.bench.realtime and time.monotonic() - self._lamp_started < QSWITCH_HOLDOFF_S
        if self.lamp == RUNNING and not held_off:
            self.qswitch = RUNNING
        return "QS at run" if self.qswitch == RUNNING else "QS at stop"

    def _stop_qswitch(self) -> str:
        self.qswitch = STOPPED
        return "QS at stop"

    # -- settings --------------------------------------------------------------------------
    def _set_lamp_rate(self, centihertz: int) -> None:
        if not LAMP_HZ_RANGE[0] <= centihertz <= LAMP_HZ_RANGE[1]:
            raise Refused("cmd error")
        self.flashlamp_centihz = centihertz

    def _set_divider(self, divider: int) -> None:
        if not 1 <= divider <= 99:
            raise Refused("cmd error")
        self.qswitch_divider = divider

    def _set_shutter(self, value: int) -> None:
        if value not in (0, 1):
            raise Refused("cmd error")
        self.shutter = bool(value)

    def _report(self) -> None:
        firing = self.lamp == RUNNING and self.qswitch == RUNNING
        rate_hz = self.flashlamp_centihz / 100 / self.qswitch_divider
        self.optics.show(firing, self.shutter, FUNDAMENTAL_NM, rate_hz)
