"""Thorlabs SC10 shutter controller (with an SH05 or SH1 shutter) as the shutter role.

Manual: Thorlabs "SC10 Shutter Controller" user manual, "Keywords (Commands and Queries)": RS-232
at 9600 baud 8N1 (``baud=1`` selects 115200), commands in lower case ended by CR. Used here:
``id?``, ``mode=1``/``mode?`` (manual mode), ``ens`` (toggle the enable), ``ens?`` (1 enabled),
``closed?`` (1 closed), ``interlock?`` (1 tripped). The framing (echo, CR-ended value, ``"> "``
prompt) and the error text ``Command error CMD_NOT_DEFINED`` were checked against InstrumentKit's
``SC10`` and Micro-Manager's ``SC10`` adapter; it is Thorlabs' command interpreter, as on the
FW102C filter wheel, and both drivers share it (:mod:`qslab.instruments.thorlabs.interpreter`).

``ens`` toggles rather than sets, so a blind ``ens`` could open a shutter meant to close. The
role reads ``ens?`` first, toggles only when the state differs, and reads ``ens?`` and
``closed?`` back: a shutter that did not follow is a :class:`DeviceError`, naming a tripped
interlock when ``interlock?`` reports one. Micro-Manager's adapter also puts the controller in
manual mode on connect, where the shutter is open exactly while the output is enabled.

Not confirmed from the manual: what ``ens`` does while the interlock is tripped (the simulator
leaves the output disabled; the read-back catches either behaviour).
"""

from __future__ import annotations

from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from qslab.instruments.registry import DriverSpec
from qslab.instruments.textlink import ON_OFF, closing_on_error, open_link
from qslab.instruments.thorlabs.interpreter import ThorlabsInterpreter
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.sc10 import SC10Simulator

MANUAL = "Thorlabs SC10 Shutter Controller user manual, 'Keywords (Commands and Queries)'"
CONNECTION = {
    "baud_rate": 9600,
    "write_termination": "\r",
    "read_termination": "\r",
    "timeout": 2000,
}
MANUAL_MODE = 1


def _flag(command: str, docs: str) -> property:
    """A query the controller answers with 0 or 1, read as False or True."""
    return Instrument.measurement(command, docs, values=ON_OFF, map_values=True, cast=int)


class SC10(ThorlabsInterpreter, Instrument):
    """The SC10's serial interface: every command is one exchange (echo, value, prompt);
    error replies, garbage and timeouts raise :class:`DeviceError`."""

    def __init__(self, adapter, name: str = "Thorlabs SC10", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    id = Instrument.measurement(
        "id?", """Get the model number and firmware revision.""", cast=str, maxsplit=0
    )

    mode = Instrument.control(
        "mode?",
        "mode=%d",
        """Control the operating mode: 1 manual, 2 auto, 3 single, 4 repeat, 5 external gate.""",
        validator=strict_discrete_set,
        values=range(1, 6),
        cast=int,
    )

    enabled = _flag("ens?", """Get whether the output is enabled (in manual mode: open).""")

    closed = _flag("closed?", """Get whether the shutter is closed.""")

    interlock_tripped = _flag("interlock?", """Get whether the interlock is tripped.""")

    def toggle_enable(self) -> None:
        """Toggle the output enable (``ens``): it has no form that sets a given state."""
        self.write("ens")


class SC10Shutter:
    """The Shutter role on an SC10 in manual mode."""

    def __init__(self, controller: SC10) -> None:
        self.controller = controller

    @property
    def shutter_open(self) -> bool:
        return not self.controller.closed

    def open_shutter(self) -> None:
        self._set_open(True)

    def close_shutter(self) -> None:
        self._set_open(False)

    def _set_open(self, want: bool) -> None:
        """Toggle only if the enable differs from ``want``, then check the shutter followed."""
        sc10 = self.controller
        if sc10.enabled != want:
            sc10.toggle_enable()
        enabled, is_open = sc10.enabled, self.shutter_open
        if enabled == want and is_open == want:
            return
        if sc10.interlock_tripped:
            reason = "the interlock is tripped"
        else:
            reason = (
                f"enable is {int(enabled)} and the shutter is {'open' if is_open else 'closed'}"
            )
        raise sc10.error(f"asked to {'open' if want else 'close'} the shutter, but {reason}")

    def identity(self) -> str:
        return self.controller.id

    def settings(self) -> dict[str, Any]:
        sc10 = self.controller
        return {
            "mode": sc10.mode,
            "enabled": sc10.enabled,
            "shutter_open": self.shutter_open,
            "interlock_tripped": sc10.interlock_tripped,
        }

    def safe(self) -> None:
        """Shutter closed (no command is sent if it already is)."""
        self.close_shutter()

    def close(self) -> None:
        self.controller.adapter.close()


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SC10Simulator:
    return SC10Simulator(bench)


def connect(target: Any, options: dict[str, Any]) -> SC10Shutter:
    """Open the controller and put it in manual mode, where ``ens`` opens and closes."""
    adapter, resource = open_link(target, CONNECTION)
    controller = SC10(adapter, resource=resource)
    with closing_on_error(controller):
        if controller.mode != MANUAL_MODE:
            controller.mode = MANUAL_MODE
    return SC10Shutter(controller)


DRIVER = DriverSpec(
    name="thorlabs.sc10",
    role="shutter",
    description="Thorlabs SC10 shutter controller (SH05/SH1 shutter), in manual mode",
    connect=connect,
    simulator=simulator,
    manual=MANUAL,
)
