"""The Python entry point: run a procedure on a station and get the file and the outcome.

The command line is a thin shell over :func:`run_procedure`; scripts and notebooks call it
directly::

    from qslab.api import run_procedure
    result = run_procedure("ase", station="sim", out="runs", seed=1, fluence_stop=60)
    print(result.path, result.outcome.analysis["ase_threshold"])

A run that did not finish is completed with :func:`resume_run`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qslab.engine.documents import Subscriber
from qslab.engine.dose import LEDGER_NAME, DoseLedger, spot_key
from qslab.engine.runner import RunEngine, RunOutcome
from qslab.errors import ValidationError
from qslab.procedures import procedure_class
from qslab.procedures.base import Procedure
from qslab.station import SAMPLE_TEXT_KEYS, Station, open_station
from qslab.storage.reader import RunRecord, TruncatedFile, read_run
from qslab.storage.repair import extend_to_recorded_end
from qslab.storage.writer import HDF5Writer

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    outcome: RunOutcome
    path: Path | None
    station: Station


def run_procedure(
    name: str,
    station: str | Path | Station = "sim",
    out: str | Path = "runs",
    seed: int | None = None,
    subscribers: Iterable[Subscriber | Callable[[RunEngine], Subscriber]] = (),
    sample: dict[str, str] | None = None,
    **parameters: Any,
) -> RunResult:
    """Validate everything, then run; raises :class:`~qslab.errors.ValidationError` before
    any instrument is touched if a parameter or the station is wrong.

    ``subscribers`` are called with every document; a callable marked ``wants_engine = True``
    is first called with the engine (for example to abort or pause the run from a plot or a
    test). ``sample`` relabels this run's sample (``name``, ``batch``, ``notes``, ``spot``).
    """
    cls = procedure_class(name)
    owned = not isinstance(station, Station)
    if owned:
        station = open_station(station, seed=seed)
    labels = station.config.sample
    kept = {k: labels[k] for k in sample or {} if k in labels}
    labels.update({k: str(v) for k, v in (sample or {}).items()})
    try:
        return _execute(cls, station, owned, parameters, HDF5Writer(Path(out)), subscribers)
    finally:  # a station used for several runs keeps its own labels (its spot, say)
        labels.update(kept)


def resume_run(
    path: str | Path,
    subscribers: Iterable[Subscriber | Callable[[RunEngine], Subscriber]] = (),
) -> RunResult:
    """Finish a run that did not complete (killed, failed, aborted): same procedure, station,
    sample and parameters; the points already in the file are kept and only the missing ones
    are taken, into the same file."""
    path = Path(path)
    record = _read_repairing(path)
    if record.status in ("completed", "stopped", "running"):
        why = {
            "completed": "it is complete",
            "stopped": f"it ended on purpose ({record.error})",
            "running": "its writer is still running (or cannot be checked from here)",
        }[record.status]
        raise ValidationError(str(path), f"nothing to resume: {why}")
    if not record.station_source or "point" not in record.data:
        raise ValidationError(
            str(path), "cannot be resumed: written before qslab recorded how to (no point index)"
        )
    cls = procedure_class(record.procedure)
    station = open_station(record.station_source, seed=record.seed)
    station.config.sample.update({k: str(record.sample.get(k, "")) for k in SAMPLE_TEXT_KEYS})
    defaults = {p.name: p.default for p in cls.parameters}
    parameters = {  # as given then: a default stays a default (an empty list is not a value)
        name: p["value"]
        for name, p in record.parameters.items()
        if p["value"] is not None and p["value"] != defaults.get(name)
    }
    return _execute(
        cls,
        station,
        True,
        parameters,
        HDF5Writer.resume(path, record.status, record.error),
        subscribers,
        record.rows(),
    )


def _read_repairing(path: Path) -> RunRecord:
    """The run in ``path``; a file cut short (its disk filled) is first extended to the length
    its header records, which makes every point written before readable. Only a file HDF5
    calls truncated is touched: any other file is left as it is."""
    try:
        return read_run(path)
    except TruncatedFile:
        if not extend_to_recorded_end(path):
            raise
    log.warning("%s was cut short (a full disk?): extended to the length its header records", path)
    return read_run(path)


def _execute(
    cls: type[Procedure],
    station: Station,
    owned: bool,
    parameters: dict[str, Any],
    writer: HDF5Writer,
    subscribers: Iterable[Subscriber | Callable[[RunEngine], Subscriber]],
    completed: list[dict[str, Any]] = (),
) -> RunResult:
    try:
        procedure = cls(station, parameters)
    except Exception:
        if owned:
            station.shutdown()
        raise
    engine = RunEngine()
    engine.completed = list(completed)
    engine.subscribe(writer, critical=True)
    engine.side_file = lambda suffix: _free_path(writer.path, suffix)
    limits = station.config.limits
    engine.dose_ledger = DoseLedger(
        writer.directory / LEDGER_NAME,
        spot_key(station.config.sample),
        limits.get("max_dose_J_cm2"),
    )
    for sub in subscribers:
        engine.subscribe(sub(engine) if getattr(sub, "wants_engine", False) else sub)
    try:
        outcome = engine.run(procedure, station)
    finally:
        writer.close()
        if owned:
            station.shutdown()
    return RunResult(outcome, writer.path, station)


def _free_path(run_file: Path, suffix: str) -> Path:
    """``<run>.photons.h5`` beside the run, or ``<run>-2.photons.h5`` ... when a resumed run
    already has one."""
    candidate = run_file.with_name(run_file.stem + suffix)
    number = 2
    while candidate.exists():
        candidate = run_file.with_name(f"{run_file.stem}-{number}{suffix}")
        number += 1
    return candidate
