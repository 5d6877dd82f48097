"""Where on the film the pump lands, when a sample stage can move it.

A station with a ``[stage]`` role may name the spots of its sample::

    [sample]
    spot = "A"
    spots = { A = [0.0, 0.0], B = [2.0, 0.0] }   # x, y in mm, stage coordinates
    fresh_spot_step_mm = 0.5

Before the first point the stage goes to the run's spot (a resumed run: to where its last
point was taken). With ``reference_on_drift = "move"`` a spot whose emission has drifted is
left for a fresh one: the next grid position along +x, then the rows above and below, in steps
of ``fresh_spot_step_mm``, within the stage's travel and at least one step from every spot the
dose ledger has booked (and from every named spot). Each point records where it was taken
(``spot_x_mm``, ``spot_y_mm``), and the ledger books dose per position, whatever the run's label,
so a night of runs never pumps one patch twice over. Every move blocks the beam first: the pump
is never dragged across the film.
Without a stage, ``spot`` stays a label and the operator moves the sample.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qslab.engine.dose import DoseLedger
from qslab.errors import QslabError, ValidationError

if TYPE_CHECKING:
    from qslab.station import Station

STAGE_KEYS = {
    "spot_x_mm": {"shape": [], "units": "mm", "description": "stage x where the point was taken"},
    "spot_y_mm": {"shape": [], "units": "mm", "description": "stage y where the point was taken"},
}
"""Point columns of a run on a station with a sample stage."""
FRESH_SPOT_STEP_DIAMETERS = 10
"""Default step to a fresh spot, in pump spot diameters: far outside the bleached patch."""


def ledger_key(sample_name: str, x_mm: float, y_mm: float) -> str:
    """A dose-ledger spot a stage can find again: the sample and the position (whatever label
    a run gave it, one patch of film is one dose)."""
    return f"{sample_name}|@{x_mm:.4f},{y_mm:.4f}"


def _position(key: str) -> tuple[str, float, float] | None:
    """(sample, x, y) of a ledger key written by :func:`ledger_key`, else None."""
    sample, _, rest = key.partition("|")
    _, at, place = rest.rpartition("@")
    try:
        x, y = (float(v) for v in place.split(","))
    except ValueError:
        return None
    return (sample, x, y) if at else None


class SpotKeeper:
    """The run's spot on a station with a sample stage: goes there, knows where it is, and
    finds a fresh one."""

    def __init__(self, station: Station, ledger: DoseLedger | None) -> None:
        self.station = station
        self.ledger = ledger
        sample = station.config.sample
        self.sample_name: str = sample["name"]
        self.label: str = sample["spot"]
        self.position: tuple[float, float] = (math.nan, math.nan)

    def step_mm(self) -> float:
        """Distance to a fresh spot: the station's, else ten pump spot diameters."""
        config = self.station.config
        if config.sample["fresh_spot_step_mm"]:
            return config.sample["fresh_spot_step_mm"]
        if config.beam.get("spot_size_um") is None:
            raise ValidationError(
                "station.sample.fresh_spot_step_mm",
                "no spot size is declared to step from: give the step to a fresh spot",
            )
        return FRESH_SPOT_STEP_DIAMETERS * 2 * config.w0_cm * 10

    def go_to_run_spot(self, completed: list[dict[str, Any]]) -> tuple[float, float]:
        """To the run's spot before its first point; a resumed run goes back to where its
        last point was taken (it may have moved on from its first spot)."""
        last = next((row for row in reversed(completed) if "spot_x_mm" in row), None)
        named = self.station.config.sample["spots"].get(self.label)
        if last is not None and math.isfinite(last["spot_x_mm"]):
            target = (float(last["spot_x_mm"]), float(last["spot_y_mm"]))
        elif named is not None:
            target = named
        else:  # no named spot: the run is taken where the stage stands
            target = tuple(self.station["stage"].position_mm)
        return self.move_to(target)

    def move_to(self, place: tuple[float, float]) -> tuple[float, float]:
        """The beam blocked, then the sample to ``place``; the ledger books dose there."""
        self.track(self.station.move_sample(*place))
        if self.ledger is not None:
            self.ledger.spot = ledger_key(self.sample_name, *self.position)
        return self.position

    def track(self, place: tuple[float, float]) -> None:
        """Where the stage now stands, for the point columns (a procedure that moves it for its
        own purpose, a knife edge stepped across the beam, says so here)."""
        self.position = (float(place[0]), float(place[1]))

    def fresh_spot(self) -> tuple[float, float]:
        """The nearest unused grid position: along +x on this row, then the rows above, then
        those below, then this row behind; at least a step from the current position, every
        named spot and every position the ledger has booked for this sample.
        :class:`QslabError` when the travel holds none."""
        (x_min, x_max), (y_min, y_max) = self.station["stage"].travel_mm()
        x0, y0 = self.position
        step = self.step_mm()
        used = [self.position, *self._used_positions()]
        used += list(self.station.config.sample["spots"].values())
        for x, y in _grid(x0, y0, step, (x_min, x_max), (y_min, y_max)):
            if all(math.hypot(x - ux, y - uy) >= step * 0.999 for ux, uy in used):
                return (round(x, 4), round(y, 4))
        raise QslabError(
            f"no fresh spot left within the stage's travel ({x_min:g}..{x_max:g} mm, "
            f"{y_min:g}..{y_max:g} mm) at steps of {step:g} mm "
            "(station.sample.fresh_spot_step_mm): mount a new sample or widen the travel"
        )

    def _used_positions(self) -> list[tuple[float, float]]:
        used = []
        for key, dose in self.ledger.doses.items() if self.ledger else ():
            spot = _position(key)
            if dose > 0 and spot is not None and spot[0] == self.sample_name:
                used.append(spot[1:])
        return used

    def point_columns(self) -> dict[str, float]:
        """Where the point is taken, for the run's file."""
        x, y = self.position
        return {"spot_x_mm": x, "spot_y_mm": y}


def _grid(x0: float, y0: float, step: float, xs: tuple[float, float], ys: tuple[float, float]):
    """Grid positions through (x0, y0) within the travel, in :meth:`SpotKeeper.fresh_spot`'s
    order of preference."""
    columns = range(
        math.ceil((xs[0] - x0) / step - 1e-9), math.floor((xs[1] - x0) / step + 1e-9) + 1
    )
    rows = range(math.ceil((ys[0] - y0) / step - 1e-9), math.floor((ys[1] - y0) / step + 1e-9) + 1)
    ahead = [(x0 + i * step, y0) for i in columns if i > 0]
    behind = [(x0 + i * step, y0) for i in columns if i < 0]
    others = sorted((k for k in rows if k != 0), key=lambda k: (k < 0, abs(k)))
    return [*ahead, *((x0 + i * step, y0 + k * step) for k in others for i in columns), *behind]
