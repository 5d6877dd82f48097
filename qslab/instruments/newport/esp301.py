"""Newport ESP301 motion controller (also ESP300, ESP302) moving an x-y sample stage, as the
stage role.

Manual: Newport "ESP301 Integrated 3-Axis Motion Controller/Driver User's Manual" (EDH0235En1030)
and the ESP300 user's manual, section 3 "Remote Mode", which the ESP301 and ESP302 keep. From the
ESP300 manual's pages: a command is the axis number, a two-letter mnemonic and its parameter
(``1PA12.5``), ended by CR; replies always end with CR LF (section 3.4); the controller echoes
nothing and answers only queries; ``TB?`` reads the oldest entry of a ten-deep error FIFO as
``code, timestamp, message`` (``"0, 451322, NO ERROR DETECTED"``), axis errors coded
100 x axis + error; ``3TP?`` answers ``5.32``; ``MD?`` is 0 while the axis moves. Used here:
``VE?``, ``TB?``, and per axis ``TP?``, ``MD?``, ``MO``/``MO?``, ``ST``, ``PA``, ``VA``/``VA?``,
``SL?``/``SR?`` and ``SN?`` (2: millimetre). The command forms and the error texts were checked
against pymeasure's ``esp300`` (whose ``Axis`` is not reused: it reads ``MO?`` as a truthy
string and knows no error buffer), InstrumentKit's ``NewportESP301`` (``TB?`` after every
command), Odemis' ESP driver and EPICS' ``drvESP300`` (``VE?``, ``TE?``, CR LF replies).

Since a refused command is not answered, the driver reads the error buffer (``TB?``) after
every command, empties it on connect (errors from before the session are kept in settings()),
and, when a query goes unanswered, reports what the buffer says. A move is the two ``PA``
commands, ``MD?`` polled on both axes until both have stopped (past a timeout from the distance
and the velocities: both axes are stopped, a DeviceError), ``TB?`` for errors during the motion
and ``TP?`` read back against the target. The driver's own ``travel_mm`` limits are checked
before anything is sent; the controller's ``SL``/``SR`` limits apply as well (``travel_mm()``
reports the overlap).

Link: 19200 baud 8N1 with RTS/CTS on RS-232 (ESP300 manual; rust-daq's hardware notes found the
ESP300 silent without RTS/CTS). Not confirmed: the ESP301's USB port, a virtual COM port that
public scripts open at 921600 baud (set ``baud_rate`` on the VISA resource); the exact ``VE?``
text of an ESP301; whether ``TB?`` returns the oldest or the newest of several errors (all are
read, so the report holds every one); how a ``PA`` beyond ``SL``/``SR`` is refused (the
simulator files a software-limit error and does not move).
"""

from __future__ import annotations

from typing import Any

from pymeasure.instruments import Channel, Instrument
from pyvisa.constants import ControlFlow

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.pulsed import wait_until
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import ON_OFF, ExchangeLink, closing_on_error, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.esp301 import ESP301Simulator

MANUAL = (
    "Newport ESP301 user's manual (EDH0235En1030) and ESP300 user's manual, section 3 "
    "'Remote Mode': VE?, TB?, xxPA, xxTP?, xxMD?, xxMO, xxST, xxVA, xxSL?, xxSR?, xxSN?"
)
CONNECTION = {
    "baud_rate": 19200,
    "flow_control": ControlFlow.rts_cts,
    "write_termination": "\r",
    "read_termination": "\r\n",
    "timeout": 2000,
}
TABLE = "station.stage"
AXES = range(1, 4)
MILLIMETRE = 2
"""The ``SN?`` code of millimetre units."""
ERROR_BUFFER = 10
POSITION_TOLERANCE_MM = 0.01
"""How far from its target a stage may stop: a tenth of a 100 um pump spot."""
MOVE_MARGIN_S = 5.0
"""Added to twice the travel time before a move counts as stuck (acceleration, settling)."""
POLL_S = 0.05


def _flag(command: str, docs: str) -> property:
    """An axis query the controller answers with 0 or 1, read as False or True."""
    return Channel.measurement(command, docs, values=ON_OFF, map_values=True, cast=int)


class Axis(Channel):
    """One axis of the controller: its commands start with its number (``1PA2.5``) and go
    through the controller's exchanges, error checks included."""

    position_mm = Channel.measurement("{ch}TP?", """Get the actual position, mm.""")

    target_mm = Channel.setting(
        "{ch}PA%.4f", """Set a target, mm (to 0.1 um), and start the move there."""
    )

    motion_done = _flag("{ch}MD?", """Get whether the axis has stopped moving.""")

    motor_on = _flag("{ch}MO?", """Get whether the motor is powered.""")

    units = Channel.measurement("{ch}SN?", """Get the position units (2: millimetre).""", cast=int)

    left_limit_mm = Channel.measurement("{ch}SL?", """Get the negative software limit, mm.""")

    right_limit_mm = Channel.measurement("{ch}SR?", """Get the positive software limit, mm.""")

    velocity_mm_s = Channel.control(
        "{ch}VA?", "{ch}VA%g", """Control the velocity of the axis' moves, mm/s."""
    )

    def turn_motor_on(self) -> None:
        self.write("{ch}MO")

    def stop(self) -> None:
        """Decelerate to a stop; nothing happens to an axis at rest."""
        self.write("{ch}ST")

    def values(self, command: str, **kwargs) -> list:
        """A query through the controller's own :meth:`values`, with its strict parsing."""
        return self.parent.values(self.insert_id(command), **kwargs)


class ESP301(ExchangeLink, Instrument):
    """The controller's serial interface: a query answers one line, a command nothing, and
    every command is followed by a read of the error buffer; an error there, garbage or
    silence raise :class:`DeviceError`."""

    def __init__(self, adapter, name: str = "Newport ESP301", resource: str = "", **kwargs):
        self._explaining = False
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    version = Instrument.measurement(
        "VE?", """Get the controller model and firmware version.""", cast=str, maxsplit=0
    )

    def axis(self, number: int) -> Axis:
        return Axis(self, number)

    def read_errors(self) -> list[str]:
        """Every error in the buffer, oldest first, as ``error code: MESSAGE``; reading
        empties the buffer."""
        found = []
        for _ in range(ERROR_BUFFER):
            code, message = self._error_entry()
            if code == 0:
                break
            found.append(f"error {code}: {message}")
        return found

    def raise_errors(self, after: str) -> None:
        """A DeviceError naming every error in the buffer, if there is any, ``after`` what."""
        if errors := self.read_errors():
            raise self.error(f"{after}: {'; '.join(errors)}")

    def _error_entry(self) -> tuple[int, str]:
        reply = self.ask("TB?")
        code, _, rest = reply.partition(",")
        message = rest.partition(",")[2].strip()
        if not code.strip().isdigit() or not message:
            self._discard_input()
            raise self.unreadable("TB?", reply)
        return int(code), message

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        with self._exchange_errors(f"garbled reply to {command!r}", f"no reply to {command!r}"):
            self._send(command)
            reply = self.read().strip() if query else ""
        if not query:
            self.raise_errors(f"refused {command!r}")
        return reply

    def _reason(self, exc: Exception) -> str:
        """A refused query is filed in the error buffer, not answered: say what it holds (and
        empty it), else the link's error."""
        if self._explaining:
            return super()._reason(exc)
        self._explaining = True
        try:
            errors = self.read_errors()
        except DeviceError:
            errors = []
        finally:
            self._explaining = False
        return f": {'; '.join(errors)}" if errors else super()._reason(exc)


class ESP301Stage:
    """The SampleStage role: the sample on two axes of the controller, in millimetres."""

    def __init__(self, controller: ESP301, options: dict[str, Any], stale: list[str]) -> None:
        self.controller = controller
        self.version = controller.version
        self.numbers = (options["x_axis"], options["y_axis"])
        self.axes = tuple(controller.axis(n) for n in self.numbers)
        self.limits = options["travel_mm"]
        self.velocities = tuple(axis.velocity_mm_s for axis in self.axes)
        if not all(v > 0 for v in self.velocities):
            raise controller.error(f"axis velocities {self.velocities} mm/s: the stage cannot move")
        self.travel = tuple(
            (max(low, axis.left_limit_mm), min(high, axis.right_limit_mm))
            for axis, (low, high) in zip(self.axes, self.limits, strict=True)
        )
        self.stale_errors = stale

    @property
    def position_mm(self) -> tuple[float, float]:
        x, y = (axis.position_mm for axis in self.axes)
        return x, y

    def travel_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The ``travel_mm`` option within the controller's own software limits."""
        x, y = self.travel
        return x, y

    def move_to(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Start both axes, wait until both have stopped, check the controller's errors and
        that the stage is where it was sent; the position it reports."""
        target = (float(x_mm), float(y_mm))
        self._check_travel(target)
        timeout_s = self._timeout_s(target)
        for axis, value in zip(self.axes, target, strict=True):
            axis.target_mm = value
        wait_until(self._stopped, timeout_s, POLL_S, lambda: self._stuck(timeout_s))
        self.controller.raise_errors(f"moving to ({x_mm:g}, {y_mm:g}) mm")
        return self._reached(target)

    def _timeout_s(self, target: tuple[float, float]) -> float:
        """How long a move from here to ``target`` may take: twice the travel, plus margin."""
        start = self.position_mm
        steps = zip(target, start, self.velocities, strict=True)
        return MOVE_MARGIN_S + 2 * max(abs(t - s) / v for t, s, v in steps)

    def _reached(self, target: tuple[float, float]) -> tuple[float, float]:
        """The position read back, which must be within tolerance of ``target``."""
        reached = self.position_mm
        if any(abs(r - t) > POSITION_TOLERANCE_MM for r, t in zip(reached, target, strict=True)):
            raise self.controller.error(
                f"sent to ({target[0]:g}, {target[1]:g}) mm, the stage reports "
                f"({reached[0]:g}, {reached[1]:g}) mm"
            )
        return reached

    def _check_travel(self, target: tuple[float, float]) -> None:
        for name, value, (low, high) in zip("xy", target, self.limits, strict=True):
            if not low <= value <= high:
                raise ValidationError(
                    f"{TABLE}.travel_mm",
                    f"{name} = {value:g} mm is outside the stage's travel {low:g}..{high:g} mm",
                )

    def _stopped(self) -> bool:
        return all(axis.motion_done for axis in self.axes)

    def _stuck(self, timeout_s: float) -> DeviceError:
        """Stop both axes; the error for a move that did not end in ``timeout_s``."""
        self.safe()
        return self.controller.error(f"the stage was still moving after {timeout_s:g} s: stopped")

    def identity(self) -> str:
        return self.version

    def settings(self) -> dict[str, Any]:
        x, y = self.position_mm
        return {
            "x_axis": self.numbers[0],
            "y_axis": self.numbers[1],
            "x_mm": x,
            "y_mm": y,
            "travel_mm": [list(limits) for limits in self.travel],
            "velocity_mm_s": list(self.velocities),
            "errors_on_connect": self.stale_errors,
        }

    def safe(self) -> None:
        """Both axes stopped (``ST``); an axis at rest stays where it is."""
        for axis in self.axes:
            axis.stop()

    def close(self) -> None:
        self.controller.adapter.close()


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """The options with ``travel_mm`` as ((x_min, x_max), (y_min, y_max)), once found right."""
    for name in ("x_axis", "y_axis"):
        if options[name] not in AXES:
            raise ValidationError(f"{TABLE}.{name}", f"an axis 1-3, got {options[name]}")
    if options["x_axis"] == options["y_axis"]:
        raise ValidationError(f"{TABLE}.y_axis", "must differ from x_axis")
    if options["velocity_mm_s"] < 0:
        raise ValidationError(f"{TABLE}.velocity_mm_s", "must be positive (0: keep)")
    return {**options, "travel_mm": _travel(options["travel_mm"])}


def _travel(given: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    number = (int, float)
    if (
        len(given) != 2
        or not all(isinstance(pair, list) and len(pair) == 2 for pair in given)
        or not all(isinstance(v, number) and not isinstance(v, bool) for p in given for v in p)
        or not all(low < high for low, high in given)
    ):
        raise ValidationError(
            f"{TABLE}.travel_mm", f"[[x_min, x_max], [y_min, y_max]] in mm, got {given!r}"
        )
    (x_min, x_max), (y_min, y_max) = given
    return (float(x_min), float(x_max)), (float(y_min), float(y_max))


def _prepare(axis: Axis, velocity_mm_s: float) -> None:
    """Check the axis counts in millimetres, power its motor, set its velocity if asked."""
    if (units := axis.units) != MILLIMETRE:
        raise axis.parent.error(f"axis {axis.id} is set to units {units}, not millimetres (2)")
    if not axis.motor_on:
        axis.turn_motor_on()
    if velocity_mm_s:
        axis.velocity_mm_s = velocity_mm_s


def simulator(bench: VirtualBench, options: dict[str, Any]) -> ESP301Simulator:
    o = _checked(options)
    return ESP301Simulator(bench, o["x_axis"], o["y_axis"])


def connect(target: Any, options: dict[str, Any]) -> ESP301Stage:
    """Open the controller, empty its error buffer, and ready both axes (the stage stays put)."""
    options = _checked(options)
    adapter, resource = open_link(target, CONNECTION)
    controller = ESP301(adapter, resource=resource)
    with closing_on_error(controller):
        stale = controller.read_errors()
        for number in (options["x_axis"], options["y_axis"]):
            _prepare(controller.axis(number), options["velocity_mm_s"])
        return ESP301Stage(controller, options, stale)


DRIVER = DriverSpec(
    name="newport.esp301",
    role="stage",
    description="Newport ESP301 / ESP300 / ESP302 motion controller: x-y sample stage",
    connect=connect,
    simulator=simulator,
    options=(
        Option("x_axis", "int", 1, "controller axis moving the sample along x (1-3)"),
        Option("y_axis", "int", 2, "controller axis moving the sample along y (1-3)"),
        Option(
            "travel_mm",
            "list",
            [[-12.5, 12.5], [-12.5, 12.5]],
            "[[x_min, x_max], [y_min, y_max]]: where the driver lets the stage go",
            "mm",
        ),
        Option("velocity_mm_s", "float", 0.0, "velocity set on connect (0: keep)", "mm/s"),
    ),
    manual=MANUAL,
    check=_checked,
)
