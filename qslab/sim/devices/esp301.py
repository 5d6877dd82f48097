"""Simulated Newport ESP301 (ESP300, ESP302) motion controller with an x-y sample stage.

Protocol (ESP300 user's manual, section 3 "Remote Mode", whose command set the ESP301 and ESP302
keep; checked against pymeasure's ``esp300``, InstrumentKit's ``NewportESP301``, Odemis' ESP
driver and EPICS' ``drvESP300``): ASCII, upper or lower case, blanks ignored; a command is the
axis number, a two-letter mnemonic and its parameter (``1PA12.5``) and ends with CR. The
controller echoes nothing and answers only queries, with one line ended by CR LF. A command it
cannot carry out is not answered either: the controller files the error in a FIFO buffer ten
deep, read (and emptied one entry at a time) with ``TB?`` (``"0, 451322, NO ERROR DETECTED"``:
code, servo ticks of 400 us, message) or ``TE?`` (the code alone). General errors have codes
below 100; an axis' errors are 100 x axis + the axis error code (106: axis 1 positive software
limit).

Commands: ``VE?``; ``TB?``, ``TE?``; per axis ``TP?`` (actual position), ``MD?`` (1 when motion
is done), ``MO``/``MF``/``MO?`` (motor power), ``ST`` (stop), ``PA`` (move absolute), ``VA``/
``VA?`` (velocity), ``SL?``/``SR?`` (software travel limits), ``SN?`` (units; 2 = millimetre).

The simulator's own choices, not from a manual: the ``VE?`` text (the ESP300's form,
``"ESP300 Version 3.08 09/09/02"``); a move takes distance / velocity of bench time and has ended
when ``PA`` returns (``MD?`` then answers 1; the x and y moves of one ``move_to`` run one after
the other, not together); a target beyond a software limit is refused whole with the axis'
``POSITIVE``/``NEGATIVE SOFTWARE LIMIT DETECTED`` error and the axis stays put; a line of several
commands separated by ``;`` is not modelled (it gets ``COMMAND DOES NOT EXIST``). The bench
learns where the film is once both axes have been moved to their new position.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused

VERSION = "ESP301 Version 3.0.2 6/1/11"
AXES = 3
MILLIMETRE = 2
"""The ``SN?`` code of millimetre units."""
TRAVEL_MM = (-12.5, 12.5)
"""The software limits the simulated stages come with (a 25 mm travel, centred)."""
VELOCITY_MM_S = 2.5
MAX_VELOCITY_MM_S = 5.0
ERROR_BUFFER = 10
SERVO_TICK_S = 400e-6
COMMAND = re.compile(r"(\d*)([A-Z]{2})(.*)")
GENERAL_ERRORS = {
    0: "NO ERROR DETECTED",
    6: "COMMAND DOES NOT EXIST",
    7: "PARAMETER OUT OF RANGE",
    9: "AXIS NUMBER OUT OF RANGE",
    37: "AXIS NUMBER MISSING",
    38: "COMMAND PARAMETER MISSING",
}
AXIS_ERRORS = {
    6: "POSITIVE SOFTWARE LIMIT DETECTED",
    7: "NEGATIVE SOFTWARE LIMIT DETECTED",
    10: "MAXIMUM VELOCITY EXCEEDED",
    13: "MOTOR NOT ENABLED",
}
UNKNOWN, OUT_OF_RANGE, AXIS_OUT_OF_RANGE, AXIS_MISSING, PARAMETER_MISSING = 6, 7, 9, 37, 38
POSITIVE_LIMIT, NEGATIVE_LIMIT, TOO_FAST, MOTOR_OFF = 6, 7, 10, 13


@dataclass
class StageAxis:
    """One motorised axis of the stage, in millimetres."""

    position: float = 0.0
    velocity: float = VELOCITY_MM_S
    left: float = TRAVEL_MM[0]
    right: float = TRAVEL_MM[1]
    motor_on: bool = False
    stalled: bool = False
    """Held by an obstruction: a move never ends (``MD?`` stays 0) until ``ST``."""
    moving: bool = False


class ESP301Simulator(FaultyTextDevice):
    """The controller with the sample stage on axes ``x_axis`` and ``y_axis``."""

    input_terminator = b"\r"
    reply_terminator = b"\r\n"

    def __init__(self, bench: VirtualBench, x_axis: int = 1, y_axis: int = 2) -> None:
        super().__init__("sim:esp301")
        self.bench = bench
        self.axes = {number: StageAxis() for number in range(1, AXES + 1)}
        self.stage = (x_axis, y_axis)
        self.errors: deque[int] = deque(maxlen=ERROR_BUFFER)
        self._started = time.monotonic()

    def answer(self, command: str) -> bytes:
        try:
            reply = self._execute("".join(command.split()).upper())
        except Refused as refusal:
            self.errors.append(refusal.reason)
            return b""
        return b"" if reply is None else f"{reply}\r\n".encode()

    def error_reply(self, command: str) -> bytes:
        """A command garbled on the line: not understood, filed, not answered."""
        self.errors.append(UNKNOWN)
        return b""

    # -- commands --------------------------------------------------------------------------
    def _execute(self, command: str) -> str | None:
        general = {"VE?": lambda: VERSION, "TB?": self._error_line, "TE?": self._error_code}
        if command in general:
            return general[command]()
        match = COMMAND.fullmatch(command)
        if match is None:
            raise Refused(UNKNOWN)
        number, mnemonic, parameter = match.groups()
        axis = self._axis(number)
        queries = {
            "TP?": lambda: f"{axis.position:.5f}",
            "MD?": lambda: str(int(not axis.moving)),
            "MO?": lambda: str(int(axis.motor_on)),
            "VA?": lambda: f"{axis.velocity:g}",
            "SL?": lambda: f"{axis.left:g}",
            "SR?": lambda: f"{axis.right:g}",
            "SN?": lambda: str(MILLIMETRE),
        }
        if mnemonic + parameter in queries:
            return queries[mnemonic + parameter]()
        self._command(int(number), axis, mnemonic, parameter)
        return None

    def _axis(self, number: str) -> StageAxis:
        if not number:
            raise Refused(AXIS_MISSING)
        if int(number) not in self.axes:
            raise Refused(AXIS_OUT_OF_RANGE)
        return self.axes[int(number)]

    def _command(self, number: int, axis: StageAxis, mnemonic: str, parameter: str) -> None:
        if mnemonic == "MO" and not parameter:
            axis.motor_on = True
        elif mnemonic == "MF" and not parameter:
            axis.motor_on = axis.moving = False
        elif mnemonic == "ST" and not parameter:
            axis.moving = False
        elif mnemonic == "PA":
            self._move(number, axis, self._number(parameter))
        elif mnemonic == "VA":
            self._set_velocity(number, axis, self._number(parameter))
        else:
            raise Refused(UNKNOWN)

    @staticmethod
    def _number(parameter: str) -> float:
        if not parameter:
            raise Refused(PARAMETER_MISSING)
        try:
            return float(parameter)
        except ValueError:
            raise Refused(OUT_OF_RANGE) from None

    def _set_velocity(self, number: int, axis: StageAxis, velocity: float) -> None:
        if velocity <= 0:
            raise Refused(OUT_OF_RANGE)
        if velocity > MAX_VELOCITY_MM_S:
            raise Refused(100 * number + TOO_FAST)
        axis.velocity = velocity

    # -- motion ----------------------------------------------------------------------------
    def _move(self, number: int, axis: StageAxis, target: float) -> None:
        """Travel to ``target`` at the axis' velocity; a stalled axis starts and never ends."""
        if not axis.motor_on:
            raise Refused(100 * number + MOTOR_OFF)
        if target > axis.right or target < axis.left:
            raise Refused(
                100 * number + (POSITIVE_LIMIT if target > axis.right else NEGATIVE_LIMIT)
            )
        axis.moving = axis.stalled
        if axis.stalled:
            return
        self.bench.wait(abs(target - axis.position) / axis.velocity)
        axis.position = target
        x, y = (self.axes[n].position for n in self.stage)
        self.bench.move_sample(x, y)

    # -- error buffer ----------------------------------------------------------------------
    def _pop_error(self) -> int:
        return self.errors.popleft() if self.errors else 0

    def _error_code(self) -> str:
        return str(self._pop_error())

    def _error_line(self) -> str:
        code = self._pop_error()
        axis, local = divmod(code, 100)
        message = AXIS_ERRORS[local] if axis else GENERAL_ERRORS[code]
        ticks = int((time.monotonic() - self._started) / SERVO_TICK_S)
        return f"{code}, {ticks}, {message}"
