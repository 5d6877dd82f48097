"""The documents of one run. Every consumer (file writer, plots, progress bar) reads only these.

Modelled on bluesky's event model, trimmed to what a measurement needs. Documents are plain
dicts so that any subscriber, in any thread, can read them without importing qslab types:

``start``       uid, time, procedure, qslab_version, station_source, seed,
                parameters {name: {value, units}},
                station {role: {driver, resource, identity, settings}}, sample {..},
                calibration {..}, environment {..}
``descriptor``  run_uid, data_keys {name: {shape, dtype, units, description}},
                constants {name: {value, units, description}} (arrays shared by every point,
                e.g. the wavelength axis), plot {signal, axes}
``event``       run_uid, seq_num (1, 2, ...), time, data {name: value}
``progress``    run_uid, done, total, message, optional live {..} for live plots (not stored)
``analysis``    run_uid, results {name: {value, error, units, method, ...}}
``pause``       run_uid, time, reason: the run is suspended, the station safe
``resume``      run_uid, time, reason (that of the pause it ends)
``stop``        run_uid, time, status (completed|stopped|aborted|failed), reason, num_events

``stopped`` is a run that ended early on purpose (a sample-protection limit): its points and
analysis are valid. Every point taken through ``RunContext.point`` carries ``point`` (its index
in the plan), ``retake`` (taken again after a pause), ``reference`` (a re-measured reference
point, ``point = -1``) and ``dose`` (the spot's cumulative dose).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

Document = dict[str, Any]
Subscriber = Callable[[str, Document], None]

DOCUMENT_NAMES = ("start", "descriptor", "event", "progress", "analysis", "pause", "resume", "stop")
RUN_STATUSES = ("running", "completed", "stopped", "aborted", "failed")


def new_uid() -> str:
    return uuid.uuid4().hex


def start_document(
    procedure: str,
    parameters: dict[str, dict[str, Any]],
    station: dict[str, dict[str, Any]],
    sample: dict[str, Any],
    calibration: dict[str, Any],
    environment: dict[str, Any],
    qslab_version: str,
    station_source: str = "",
    seed: int | None = None,
) -> Document:
    """``station_source`` (a built-in name or a station file) and the bench's ``seed`` are what
    ``qslab resume`` needs to open the same station again."""
    return {
        "station_source": station_source,
        "seed": -1 if seed is None else seed,
        "uid": new_uid(),
        "time": time.time(),
        "procedure": procedure,
        "qslab_version": qslab_version,
        "parameters": parameters,
        "station": station,
        "sample": sample,
        "calibration": calibration,
        "environment": environment,
    }


def data_key(shape: tuple[int, ...], dtype: str, units: str, description: str) -> dict[str, Any]:
    """Schema of one per-point quantity; ``shape`` is per point (``()`` for a scalar)."""
    return {"shape": list(shape), "dtype": dtype, "units": units, "description": description}


POINT_KEYS = {
    "point": data_key((), "int64", "", "index of the point in the procedure's plan"),
    "retake": data_key((), "bool", "", "taken again after the run was paused"),
    "reference": data_key(
        (), "bool", "", "a re-measurement of the reference point, not a point of the plan"
    ),
    "dose": data_key((), "float64", "J/cm^2", "cumulative peak dose on this sample spot"),
}
"""Added by the engine to every run's schema."""
