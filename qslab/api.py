"""The Python entry point: run a procedure on a station and get the file and the outcome.

The command line is a thin shell over :func:`run_procedure`; scripts and notebooks call it
directly::

    from qslab.api import run_procedure
    result = run_procedure("ase", station="sim", out="runs", seed=1, fluence_stop=60)
    print(result.path, result.outcome.analysis["ase_threshold"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qslab.engine.documents import Subscriber
from qslab.engine.runner import RunEngine, RunOutcome
from qslab.procedures import procedure_class
from qslab.station import Station, open_station
from qslab.storage.writer import HDF5Writer


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
    is first called with the engine (for example to abort the run from a plot or a test).
    ``sample`` relabels this run's sample (``name``, ``batch``, ``notes``, ``spot``).
    """
    cls = procedure_class(name)
    owned = not isinstance(station, Station)
    if owned:
        station = open_station(station, seed=seed)
    if sample:
        station.config.sample.update({k: str(v) for k, v in sample.items()})
    try:
        procedure = cls(station, parameters)
    except Exception:
        if owned:
            station.shutdown()
        raise
    engine = RunEngine()
    writer = HDF5Writer(Path(out))
    engine.subscribe(writer, critical=True)
    engine.side_file = lambda suffix: writer.path.with_name(writer.path.stem + suffix)
    for sub in subscribers:
        engine.subscribe(sub(engine) if getattr(sub, "wants_engine", False) else sub)
    try:
        outcome = engine.run(procedure, station)
    finally:
        writer.close()
        if owned:
            station.shutdown()
    return RunResult(outcome, writer.path, station)
