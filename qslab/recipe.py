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
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qslab.api import RunResult, run_procedure
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
    try:
        for run in runs:
            try:
                procedure_class(run.procedure)(built, run.parameters)
            except ValidationError as exc:
                raise ValidationError(f"{run.where}.{exc.field}", exc.message) from None
    finally:
        built.shutdown()
    out = Path(data.get("out", "runs"))
    return Recipe(station, out if out.is_absolute() else folder / out, seed, on_failure, runs)


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
) -> list[RunResult]:
    """Run in order; stop after an aborted run, and after a failed one unless told to go on."""
    results = []
    for index, run in enumerate(recipe.runs):
        if announce:
            announce(index, run)
        result = run_procedure(
            run.procedure,
            station=recipe.station,
            out=recipe.out,
            seed=None if recipe.seed is None else recipe.seed + index,
            subscribers=subscribers,
            sample=run.sample,
            **run.parameters,
        )
        results.append(result)
        status = result.outcome.status
        if status == "aborted" or (status == "failed" and recipe.on_failure == "stop"):
            break
    return results
