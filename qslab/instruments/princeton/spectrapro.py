"""Princeton Instruments (Acton) SpectraPro monochromators (SP-2150i, SP-2300i, SP-2500i,
SP-2750i) as the monochromator role.

Manual: Acton Research "SpectraPro SP-2150i / SP-2300i / SP-2500i" operating instructions,
section "Operating the monochromator using a computer" (command set ``GOTO``, ``NM``, ``>NM``,
``?NM``, ``MONO-?DONE``, ``MONO-STOP``, ``GRATING``, ``?GRATING``, ``?GRATINGS``, ``TURRET``,
``MODEL``, ``SERIAL``); the same command set and framing are printed in the Acton SP-750i manual
(section IV-C) and the Princeton IsoPlane SCT 320 manual (appendix A.4). Framing from those
manuals: 9600 baud 8N1, CR-terminated commands, parameters before the command word, and every
command answered once completed with ``" ok"`` CR LF; the unit echoes commands on RS-232 but not
on USB, so the driver removes a leading echo when there is one. Checked against public drivers:
nplab / ScopeFoundry ``acton_spectrometer`` (echo, the ``?GRATINGS`` listing with byte 0x1A
marking the current grating), the SpectraPro 2500i wrapper and ActonPy (USB replies such as
``" 650.000 nm  ok"``), and fsc2's ``spectrapro_300i`` (a refused command ends with ``"?"`` CR LF
instead of ``ok``).

Not confirmed: whether the unit refuses, rather than clamps, a wavelength beyond its drive's
range (the role refuses it before sending, from the SP-2300i's 0-1400 nm mechanical range at
1200 g/mm, scaled by 1200 / grooves) and the exact spacing of replies, which the parsing here
does not depend on.

``GOTO`` moves at the drive's maximum speed and its ``ok`` comes when the move has completed;
the role then also polls ``MONO-?DONE`` until the drive reports it has stopped, as public
drivers do after ``GOTO``, and reads the wavelength back with ``?NM``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from qslab.errors import ValidationError
from qslab.instruments.registry import RESOLUTION_NM, DriverSpec, Option
from qslab.instruments.textlink import ExchangeLink, open_link
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.spectrapro import SpectraProSimulator

MANUAL = (
    "Acton SpectraPro SP-2150i/2300i/2500i operating instructions, 'Operating the monochromator "
    "using a computer' (GOTO, ?NM, MONO-?DONE, MONO-STOP, GRATING, ?GRATING, ?GRATINGS)"
)
CONNECTION = {
    "baud_rate": 9600,
    "write_termination": "\r",
    "read_termination": "\r\n",
    "timeout": 60000,
}
"""9600 baud 8N1, also on USB (a virtual COM port). ``ok`` comes only once a command has
completed; a grating change takes up to about 20 s and a long slew longer."""
TABLE = "station.monochromator"
RANGE_NM_AT_1200 = 1400.0
WAVELENGTH_TOLERANCE_NM = 0.05
DONE_TIMEOUT_S = 60.0
DONE_POLL_S = 0.1
MAX_REPLY_LINES = 16
GRATING_LINE = re.compile(r"(\d+)\s+(\d+)\s*g/mm\s+BLZ=\s*(\S+)", re.IGNORECASE)


class _Garbled(Exception):
    """The reply does not follow the monochromator's framing."""


@dataclass(frozen=True)
class Grating:
    """One installed grating as ``?GRATINGS`` lists it."""

    position: int
    grooves_per_mm: int
    blaze: str

    @property
    def max_wavelength_nm(self) -> float:
        """The drive's mechanical limit with this grating (1400 nm at 1200 g/mm, scaled)."""
        return RANGE_NM_AT_1200 * 1200.0 / self.grooves_per_mm


class SpectraPro(ExchangeLink, Instrument):
    """The SpectraPro's RS-232/USB interface. Every command is a whole exchange ending in ``ok``;
    a ``?`` ending, garbage or silence raises :class:`DeviceError`."""

    def __init__(self, adapter, name: str = "Princeton SpectraPro", resource: str = "", **kwargs):
        super().__init__(adapter, name, resource, includeSCPI=False, **{**CONNECTION, **kwargs})

    model = Instrument.measurement(
        "MODEL", """Get the model, e.g. SP-2-300i.""", cast=str, maxsplit=0
    )

    serial_number = Instrument.measurement(
        "SERIAL", """Get the serial number.""", cast=str, maxsplit=0
    )

    wavelength_nm = Instrument.measurement(
        "?NM",
        """Get the wavelength the grating is set to, nm.""",
        preprocess_reply=lambda reply: reply.lower().removesuffix("nm"),
    )

    goto_nm = Instrument.setting(
        "%.3f GOTO",
        """Set the destination wavelength in nm (up to 3 decimals), reached at the drive's
        maximum speed; returns when the unit answers ``ok``.""",
        validator=strict_range,
        values=(0.0, 1.0e4),
    )

    grating = Instrument.control(
        "?GRATING",
        "%d GRATING",
        """Control the grating position (1-9: three per turret); a change takes up to ~20 s.""",
        validator=strict_discrete_set,
        values=range(1, 10),
        cast=int,
    )

    move_done = Instrument.measurement(
        "MONO-?DONE",
        """Get whether the wavelength drive has reached its destination.""",
        values={True: 1, False: 0},
        map_values=True,
        cast=int,
    )

    def stop(self) -> None:
        """Stop the wavelength drive where it is."""
        self.write("MONO-STOP")

    def gratings(self) -> list[Grating]:
        """The installed gratings from ``?GRATINGS``; positions "Not Installed" are left out."""
        listing = self.ask("?GRATINGS")
        found = []
        for line in listing.splitlines():
            match = GRATING_LINE.search(line.replace("\x1a", " "))
            if match:
                found.append(Grating(int(match[1]), int(match[2]), match[3]))
            elif line.strip() and "not installed" not in line.lower():
                raise self.unreadable("?GRATINGS", line)
        return found

    # -- framing ---------------------------------------------------------------------------
    def _exchange(self, command: str, query: bool) -> str:
        with self._exchange_errors(
            f"garbled reply to {command!r}", f"no complete reply to {command!r}", (_Garbled,)
        ):
            self._send(command)
            lines = [self.read()]
            while not lines[-1].rstrip().endswith(("ok", "?")):
                if len(lines) == MAX_REPLY_LINES:
                    raise _Garbled(f"no 'ok' after {MAX_REPLY_LINES} lines")
                lines.append(self.read())
        text = "\n".join(lines).rstrip()
        if text.endswith("?"):
            raise self.error(f"refused {command!r}: {text!r}")
        payload = text.removesuffix("ok").removeprefix(command).strip("\n ")
        if query != bool(payload):
            self._discard_input()
            raise self.error(f"unexpected reply to {command!r}: {text!r}")
        return payload


class SpectraProMonochromator:
    """The monochromator role: which grating, and the wavelength it passes (or centres)."""

    def __init__(self, mono: SpectraPro) -> None:
        self.mono = mono
        self.model = mono.model
        self.serial_number = mono.serial_number
        self.installed = {g.position: g for g in mono.gratings()}
        if not self.installed:
            raise mono.error("?GRATINGS lists no installed grating")

    @property
    def grating(self) -> int:
        return self.mono.grating

    @property
    def center_wavelength_nm(self) -> float:
        return self.mono.wavelength_nm

    def set_grating(self, grating: int) -> None:
        """Turn to an installed grating; the unit keeps the wavelength setting."""
        if grating not in self.installed:
            raise ValidationError(
                f"{TABLE}.grating",
                f"no grating at position {grating}; installed: {sorted(self.installed)}",
            )
        if self.mono.grating != grating:
            self.mono.grating = grating
            if (now := self.mono.grating) != grating:
                raise self.mono.error(f"asked for grating {grating}, the unit reports {now}")

    def set_center_wavelength(self, wavelength_nm: float) -> float:
        """Go to ``wavelength_nm`` and wait until the drive has stopped; the wavelength reached."""
        limit = self.installed[self.grating].max_wavelength_nm
        if not 0.0 <= wavelength_nm <= limit:
            raise ValidationError(
                f"{TABLE}.center_wavelength_nm",
                f"{wavelength_nm:g} nm is outside 0-{limit:g} nm for grating {self.grating}",
            )
        self.mono.goto_nm = wavelength_nm
        deadline = time.monotonic() + DONE_TIMEOUT_S
        while not self.mono.move_done:
            if time.monotonic() > deadline:
                self.mono.stop()
                raise self.mono.error(f"wavelength drive still moving after {DONE_TIMEOUT_S:g} s")
            time.sleep(DONE_POLL_S)
        reached = self.mono.wavelength_nm
        if abs(reached - wavelength_nm) > WAVELENGTH_TOLERANCE_NM:
            raise self.mono.error(f"asked for {wavelength_nm:g} nm, the unit reports {reached:g}")
        return reached

    def identity(self) -> str:
        return f"Princeton Instruments {self.model} s/n {self.serial_number}"

    def settings(self) -> dict[str, Any]:
        grating = self.installed[self.grating]
        return {
            "model": self.model,
            "serial_number": self.serial_number,
            "grating": grating.position,
            "grooves_per_mm": grating.grooves_per_mm,
            "blaze": grating.blaze,
            "center_wavelength_nm": self.center_wavelength_nm,
            "installed_gratings": [
                f"{g.position}: {g.grooves_per_mm} g/mm, blaze {g.blaze}"
                for g in self.installed.values()
            ],
        }

    def safe(self) -> None:
        """Nothing to do: a monochromator only selects light, and every move here has finished
        before the call that started it returns, so nothing is left moving."""

    def close(self) -> None:
        self.mono.adapter.close()


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SpectraProSimulator:
    return SpectraProSimulator(bench, echo=options["echo"])


def connect(target: Any, options: dict[str, Any]) -> SpectraProMonochromator:
    """Open the monochromator and set the grating and wavelength the options ask for."""
    adapter, resource = open_link(target, CONNECTION)
    mono = SpectraPro(adapter, resource=resource)
    try:
        role = SpectraProMonochromator(mono)
        role.set_grating(options["grating"])
        role.set_center_wavelength(options["center_wavelength_nm"])
    except Exception:
        mono.adapter.close()
        raise
    return role


DRIVER = DriverSpec(
    name="princeton.spectrapro",
    role="monochromator",
    description="Princeton Instruments / Acton SpectraPro monochromator (SP-2150i ... SP-2750i)",
    connect=connect,
    simulator=simulator,
    options=(
        Option("grating", "int", 1, "grating position set on connect (1-9)"),
        RESOLUTION_NM,
        Option("center_wavelength_nm", "float", 650.0, "wavelength set on connect", "nm"),
        Option("echo", "bool", True, "simulation only: echo commands as on RS-232 (False: USB)"),
    ),
    manual=MANUAL,
)
