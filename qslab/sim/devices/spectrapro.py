"""Simulated Princeton Instruments (Acton) SpectraPro monochromator, an SP-2300i by default.

Protocol (Acton SP-2150i/SP-2300i/SP-750i manuals, "Operating ... using a computer"; Princeton
IsoPlane SCT 320 manual A.4): ASCII at 9600 baud 8N1; a command ends with CR; parameters come
before the command word (``546.07 GOTO``). The unit answers each command once it has completed
and ends the answer with ``" ok"`` CR LF (hex 20 6F 6B 0D 0A). On RS-232 it echoes every
character it receives; on USB it does not (``echo``). A query's value sits between a leading
space and the ``ok``, so ``?NM`` answers ``" 650.000 nm  ok"`` (``"?NM 650.000 nm  ok"`` with the
echo): the layout the public drivers parse (nplab/ScopeFoundry ``acton_spectrometer``, the
SpectraPro 2500i wrapper, Caltech's SP-2300 notes). ``?GRATINGS`` answers one line per grating
position after a line break, the current one marked with byte 0x1A, as captured in nplab's
``acton_spectrometer``. A command the unit cannot carry out ends with ``"?"`` CR LF instead of
``ok`` (fsc2's ``spectrapro_300i`` driver).

Not confirmed from a manual, and chosen here: the space before ``?`` in a refusal; refusing a
grating position that holds no grating and a wavelength beyond the drive's range (rather than
clamping); the slew rate of ``GOTO``. The range is the SP-2300i's mechanical 0-1400 nm for a
1200 g/mm grating, scaled by 1200 / grooves for the others.

Timing: ``GOTO`` returns ``ok`` once the drive has stopped, after the travel at the slew rate;
a grating change takes about 20 s (the figure a public SP-2150i driver waits for).
"""

from __future__ import annotations

from collections.abc import Sequence

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultyTextDevice, Refused

MODEL = "SP-2-300i"
SERIAL = "23001234"
POSITIONS = 9
"""Grating positions the firmware lists: three turrets of three."""
GRATINGS = ((1200, "500"), (300, "500"), (150, "500"))
"""Grooves per mm and blaze (nm) of the gratings on turret 1."""
RANGE_NM_AT_1200 = 1400.0
SLEW_NM_PER_S = 100.0
GRATING_CHANGE_S = 20.0
ARROW = "\x1a"


def max_wavelength_nm(grooves_per_mm: float) -> float:
    """The drive's mechanical limit for a grating: 0-1400 nm at 1200 g/mm, scaled."""
    return RANGE_NM_AT_1200 * 1200.0 / grooves_per_mm


class SpectraProSimulator(FaultyTextDevice):
    """The monochromator's controller; ``echo`` True behaves as on RS-232, False as on USB."""

    input_terminator = b"\r"
    reply_terminator = b"\r\n"

    def __init__(
        self,
        bench: VirtualBench,
        gratings: Sequence[tuple[int, str]] = GRATINGS,
        echo: bool = True,
    ) -> None:
        super().__init__("sim:spectrapro")
        self.bench = bench
        self.gratings = list(gratings)
        self.echo = echo
        self.grating = 1
        self.wavelength_nm = 0.0

    def answer(self, command: str) -> bytes:
        try:
            body = self._execute(command.split())
        except Refused:
            return self.error_reply(command)
        echoed = command if self.echo else ""
        return f"{echoed}{body} ok\r\n".encode()

    def error_reply(self, command: str) -> bytes:
        return f"{command if self.echo else ''} ?\r\n".encode()

    def _execute(self, words: list[str]) -> str:
        """What the controller prints before ``" ok"``: ``" value "`` for a query, else nothing."""
        if len(words) == 1:
            return self._query(words[0].upper())
        if len(words) == 2:
            self._set(words[1].upper(), words[0])
            return ""
        raise Refused("?")

    def _query(self, name: str) -> str:
        values = {
            "?NM": f"{self.wavelength_nm:.3f} nm",
            "?GRATING": str(self.grating),
            "MONO-?DONE": "1",
            "MODEL": MODEL,
            "SERIAL": SERIAL,
        }
        if name == "?GRATINGS":
            return "\r\n" + "".join(f"{line}\r\n" for line in self._grating_lines())
        if name == "MONO-STOP":
            return ""
        if name not in values:
            raise Refused("?")
        return f" {values[name]} "

    def _grating_lines(self) -> list[str]:
        lines = []
        for number in range(1, POSITIONS + 1):
            mark = ARROW if number == self.grating else " "
            if number <= len(self.gratings):
                grooves, blaze = self.gratings[number - 1]
                lines.append(f"{mark}{number}  {grooves} g/mm BLZ=  {blaze}NM ")
            else:
                lines.append(f"{mark}{number}  Not Installed     ")
        return lines

    def _set(self, name: str, argument: str) -> None:
        try:
            value = float(argument)
        except ValueError:
            raise Refused("?") from None
        if name == "GOTO":
            self._goto(value)
        elif name == "GRATING" and value.is_integer() and 1 <= value <= len(self.gratings):
            if int(value) != self.grating:
                self.bench.wait(GRATING_CHANGE_S)
            self.grating = int(value)
        else:
            raise Refused("?")

    def _goto(self, target_nm: float) -> None:
        grooves = self.gratings[self.grating - 1][0]
        if not 0.0 <= target_nm <= max_wavelength_nm(grooves):
            raise Refused("?")
        self.bench.wait(abs(target_nm - self.wavelength_nm) / SLEW_NM_PER_S)
        self.wavelength_nm = round(target_nm, 3)
