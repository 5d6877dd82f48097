"""Where on the film the pump lands, when a sample stage can move it.

A station with a ``[stage]`` role may name the spots of its sample::

    [sample]
    spot = "A"
    spots = { A = [0.0, 0.0], B = [2.0, 0.0] }   # x, y in mm, stage coordinates
    fresh_spot_step_mm = 0.5

Before the first point the stage goes to the run's spot (a resumed run: to where its last
point was taken). With ``reference_on_drift = "move"`` a spot whose emission has drifted is
left for a fresh one: the next position along +x, then row by row along +y, in steps of
``fresh_spot_step_mm``, within the stage's travel and at least one step from every spot the
dose ledger has booked. Each point records where it was taken (``spot_x_mm``, ``spot_y_mm``),
and the ledger books dose per position, so a night of runs never pumps one patch twice over.
Without a stage, ``spot`` stays a label and the operator moves the sample.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from qslab.engine.dose import DoseLedger
from qslab.errors import QslabError

if TYPE_CHECKING:
    from qslab.station import Station

log = logging.getLogger(__name__)

STAGE_KEYS = {
    "spot_x_mm": {"shape": [], "units": "mm", "description": "stage x where the point was taken"},
    "spot_y_mm": {"shape": [], "units": "mm", "description": "stage y where the point was taken"},
}
"""Point columns of a run on a station with a sample stage."""
FRESH_SPOT_STEP_DIAMETERS = 10
"""Default step to a fresh spot, in pump spot diameters: far outside the bleached patch."""


def ledger_key(sample_name: str, label: str, x_mm: float, y_mm: float) -> str:
    """A dose-ledger spot that a stage can find again: sample, label and position."""
    return f"{sample_name}|{label}@{x_mm:.4f},{y_mm:.4f}"


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
        self.sample_name = sample["name"]
        self.label = sample["spot"]
        self.step_mm = sample["fresh_spot_step_mm"] or (
            FRESH_SPOT_STEP_DIAMETERS * 2 * station.config.w0_cm * 10
        )
        self.position: tuple[float, float] = (math.nan, math.nan)

    @property
    def stage(self) -> Any:
        return self.station["stage"]

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
            target = tuple(self.stage.position_mm)
        return self._arrive(*target)

    def _arrive(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        self.position = tuple(float(v) for v in self.stage.move_to(x_mm, y_mm))
        if self.ledger is not None:
            self.ledger.spot = ledger_key(self.sample_name, self.label, *self.position)
        return self.position

    def move_to(self, place: tuple[float, float]) -> tuple[float, float]:
        """To ``place`` (a :meth:`fresh_spot`); the ledger books dose there from now on."""
        log.warning("moving the sample to x=%.4f y=%.4f mm", *place)
        return self._arrive(*place)

    def track(self, place: tuple[float, float]) -> None:
        """The stage moved for the procedure's own purpose (a knife edge stepped across the
        beam, no sample in it): the point columns follow, the dose ledger is not involved."""
        self.position = (float(place[0]), float(place[1]))

    def fresh_spot(self) -> tuple[float, float]:
        """The nearest unused position ahead (module docstring); :class:`QslabError` when the
        travel holds none."""
        (x_min, x_max), (y_min, y_max) = self.stage.travel_mm()
        x0, y0 = self.position
        used = self._used_positions() + [self.position]
        step = self.step_mm
        columns = int((x_max - x_min) / step) + 1
        rows = int((y_max - y0) / step) + 1
        for row in range(rows):
            y = y0 + row * step
            first = x0 + step if row == 0 else x_min
            for column in range(columns):
                x = first + column * step
                if x > x_max + 1e-9:
                    break
                if all(math.hypot(x - ux, y - uy) >= step * 0.999 for ux, uy in used):
                    return (round(x, 4), round(y, 4))
        raise QslabError(
            f"no fresh spot left within the stage's travel ({x_min:g}..{x_max:g} mm, "
            f"{y_min:g}..{y_max:g} mm) at steps of {step:g} mm "
            "(station.sample.fresh_spot_step_mm): mount a new sample or widen the travel"
        )

    def _used_positions(self) -> list[tuple[float, float]]:
        if self.ledger is None:
            return []
        used = []
        for key, dose in self.ledger.doses.items():
            spot = _position(key)
            if dose > 0 and spot is not None and spot[0] == self.sample_name:
                used.append(spot[1:])
        return used

    def point_columns(self) -> dict[str, float]:
        x, y = self.position
        return {"spot_x_mm": x, "spot_y_mm": y}
