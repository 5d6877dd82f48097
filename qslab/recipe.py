"""Recipes: several runs from one TOML file, validated whole before anything moves.

::

    station = "sim"          # built-in name or a station file (relative to the recipe)
    out = "runs"             # optional
    on_failure = "stop"      # or "continue" with the next run when one fails

    [[run]]
    procedure = "calibrate"
    sample_in_beam = false

    [[run]]
    procedure = "ase"
    fluence_stop = 60
    [run.loop]               # one run per value; sample/spot relabel the run,
    spot = ["A", "B", "C"]   # other names are procedure parameters

Every run of the expanded recipe is built and its parameters checked against the station
before the first one starts; a mistake is one message naming ``run[i].<field>``. Runs go in
order, one HDF5 file each; Ctrl-C stops the recipe after the run it interrupts.

A journal beside the runs (``<out>/<recipe>.journal.json``) records each run's uid and status
as it starts and ends, so that ``qslab resume RECIPE.toml`` after a crash skips the runs that
finished, completes the one that was interrupted in its own file, and goes on from there.
"""

from __future__ import annotations

import itertools
import json
import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qslab.api import RunResult, resume_run, run_procedure
from qslab.errors import ValidationError
from qslab.procedures import procedure_class
from qslab.station import open_station

TOP_KEYS = ("station", "out", "seed", "on_failure", "run")
LABELS = ("sample", "spot")


@dataclass(frozen=True)
class PlannedRun:
    procedure: str
    parameters: dict[str, Any]
    sample: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True)
class Recipe:
    station: str
    out: Path
    seed: int | None
    on_failure: str
    runs: tuple[PlannedRun, ...]
    path: Path = Path("recipe.toml")

    @property
    def journal_path(self) -> Path:
        return self.out / f"{self.path.stem}.journal.json"


def load_recipe(path: Path) -> Recipe:
    """Read, expand and check a recipe, building every run on its station; nothing moves."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(str(path), f"not a readable TOML recipe: {exc}") from None
    for key in data:
        if key not in TOP_KEYS:
            raise ValidationError(
                f"recipe.{key}", f"unknown key; a recipe has {', '.join(TOP_KEYS)}"
            )
    folder = Path(path).parent
    station = data.get("station", "sim")
    if not isinstance(station, str):
        raise ValidationError("recipe.station", "give a built-in station name or a file")
    if station.endswith(".toml") and not Path(station).is_absolute():
        station = str(folder / station)
    on_failure = data.get("on_failure", "stop")
    if on_failure not in ("stop", "continue"):
        raise ValidationError("recipe.on_failure", f"'stop' or 'continue', not {on_failure!r}")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationError("recipe.seed", f"an integer, not {seed!r}")
    tables = data.get("run")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ValidationError("recipe.run", "add one or more [[run]] tables")
    runs = tuple(itertools.chain.from_iterable(_expand(i, t) for i, t in enumerate(tables)))
    built = open_station(station, seed=seed)
    labels = {k: built.config.sample[k] for k in ("name", "spot")}
    try:
        for run in runs:
            built.config.sample.update(labels | run.sample)
            try:
                procedure_class(run.procedure)(built, run.parameters)
            except ValidationError as exc:
                raise ValidationError(f"{run.where}.{exc.field}", exc.message) from None
    finally:
        built.shutdown()
    out = Path(data.get("out", "runs"))
    out = out if out.is_absolute() else folder / out
    return Recipe(station, out, seed, on_failure, runs, Path(path))


def _expand(index: int, table: dict[str, Any]) -> list[PlannedRun]:
    where = f"run[{index}]"
    table = dict(table)
    name = table.pop("procedure", None)
    if not isinstance(name, str):
        raise ValidationError(f"{where}.procedure", "name the procedure (see `qslab procedures`)")
    try:
        procedure_class(name)
    except ValidationError as exc:
        raise ValidationError(f"{where}.procedure", exc.message) from None
    loop = table.pop("loop", {})
    if not isinstance(loop, dict) or not all(isinstance(v, list) and v for v in loop.values()):
        raise ValidationError(f"{where}.loop", "give each loop variable a non-empty list")
    names = list(loop)
    planned = []
    for values in itertools.product(*(loop[n] for n in names)) if names else [()]:
        chosen = dict(zip(names, values, strict=True))
        sample = {k: str(chosen.pop(k)) for k in LABELS if k in chosen}
        if "sample" in sample:
            sample["name"] = sample.pop("sample")
        planned.append(PlannedRun(name, {**table, **chosen}, sample, where))
    return planned


def run_recipe(
    recipe: Recipe,
    subscribers: Iterable[Any] = (),
    announce: Callable[[int, PlannedRun], None] | None = None,
    resume: bool = False,
) -> list[RunResult]:
    """Run in order; stop after an aborted run, and after a failed one unless told to go on.

    With ``resume``, runs the journal lists as finished are skipped and an unfinished one is
    completed in its own file; the results are those of the runs taken now.
    """
    journal = _Journal(recipe.journal_path, fresh=not resume)
    results = []
    for index, run in enumerate(recipe.runs):
        entry = journal.runs.get(str(index), {})
        if entry.get("status") in ("completed", "stopped"):
            continue
        if announce:
            announce(index, run)
        previous = _run_file(recipe.out, entry.get("uid", ""))
        record = journal.recorder(index, entry.get("uid") if previous else None)
        if previous is not None:
            result = resume_run(previous, subscribers=[*subscribers, record])
        else:
            result = run_procedure(
                run.procedure,
                station=recipe.station,
                out=recipe.out,
                seed=None if recipe.seed is None else recipe.seed + index,
                subscribers=[*subscribers, record],
                sample=run.sample,
                **run.parameters,
            )
        results.append(result)
        status = result.outcome.status
        if status == "aborted" or (status == "failed" and recipe.on_failure == "stop"):
            break
    return results


def _run_file(out: Path, uid: str) -> Path | None:
    """The file of the run with this uid, if it was started and can be resumed."""
    if not uid:
        return None
    return next(iter(sorted(out.glob(f"*_{uid[:8]}.h5"))), None)


class _Journal:
    """Which run of the recipe is where: {index: {uid, status}}, rewritten atomically."""

    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        self.runs: dict[str, dict[str, str]] = {}
        if not fresh and path.exists():
            try:
                self.runs = json.loads(path.read_text())["runs"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValidationError(str(path), f"unreadable recipe journal: {exc}") from None

    def recorder(self, index: int, uid: str | None) -> Callable[[str, dict], None]:
        """A subscriber noting run ``index``'s start and end; ``uid`` is that of the file
        being resumed (a resumed session's own uid is not the file's)."""

        def record(name: str, doc: dict) -> None:
            if name == "start":
                self.runs[str(index)] = {"uid": uid or doc["uid"], "status": "running"}
                self._save()
            elif name == "stop":
                self.runs[str(index)]["status"] = doc["status"]
                self._save()

        return record

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"runs": self.runs}, indent=1))
        os.replace(tmp, self.path)
