"""The ``qslab`` command.

Exit codes: 0 the run completed; 1 the run failed (the file says why); 2 invalid input
(one line on stderr, nothing moved); 130 the run was aborted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from qslab import __version__
from qslab.errors import QslabError, ValidationError

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_ABORTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 like every other invalid input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValidationError("usage", message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qslab", description="Optical measurements for quantum-shell lasers.")
    parser.add_argument("--version", action="version", version=f"qslab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log instrument traffic")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a procedure, or every run of a recipe file")
    run.add_argument("procedure", help="procedure name (see `qslab procedures`) or RECIPE.toml")
    run.add_argument("--station", default="sim", help="built-in station name or TOML file")
    run.add_argument("--out", default="runs", type=Path, help="folder for the run's HDF5 file")
    run.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a procedure parameter (repeatable)",
    )
    run.add_argument("--seed", type=int, default=None, help="seed of the simulated bench")

    resume = sub.add_parser(
        "resume", help="finish an unfinished run file, or a recipe from the run it was in"
    )
    resume.add_argument("file", type=Path, help="a run's .h5 file or a RECIPE.toml")

    inspect = sub.add_parser("inspect", help="show a run file's metadata and analysis")
    inspect.add_argument("file", type=Path)
    inspect.add_argument("--json", action="store_true", help="one JSON object on stdout")

    check = sub.add_parser("check", help="open each instrument, show it, leave it safe")
    check.add_argument("--station", default="sim", help="built-in station name or TOML file")

    g2 = sub.add_parser("g2", help="g2(0) of a PTU or Photon-HDF5 time-tag file")
    g2.add_argument("file", type=Path)
    g2.add_argument("--gate", type=float, default=0.0, metavar="NS", help="time gate, ns")
    g2.add_argument("--json", action="store_true", help="one JSON object on stdout")

    series = sub.add_parser(
        "series", help="lasing threshold and wavelength against cavity period, over runs"
    )
    series.add_argument("files", nargs="+", type=Path, help="lasing run files, one per device")
    series.add_argument("--out", type=Path, default=None, help="write a summary HDF5 file")

    sub.add_parser("stations", help="list built-in stations")
    procedures = sub.add_parser("procedures", help="list procedures and their parameters")
    procedures.add_argument("name", nargs="?", help="show one procedure's parameters")
    sub.add_parser("drivers", help="list instrument drivers")

    gui = sub.add_parser("gui", help="the desktop application")
    gui.add_argument("--station", default=None, help="built-in station name or TOML file")
    gui.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PATH",
        help="run a short simulated scan, save the main window as PNG, and exit",
    )
    return parser


def console() -> None:
    """The ``qslab`` command: :func:`main`, then exit. A run file whose disk filled cannot be
    released by the HDF5 library without crashing it (qslab/storage/space.py), so
    then the process ends at once, its output flushed and its exit code kept."""
    code = main()
    space = sys.modules.get("qslab.storage.space")  # not imported: no file was written
    if space is not None and space.UNRELEASED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        # ptufile reports harmless header quirks of real PicoQuant files as errors
        logging.getLogger("ptufile").setLevel(logging.CRITICAL)
        return COMMANDS[args.command](args)
    except ValidationError as exc:
        print(f"qslab: invalid input: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except QslabError as exc:
        print(f"qslab: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader of our output (head, less) went away: nothing to say
        sys.stderr.close()
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from qslab.api import run_procedure
    from qslab.engine.progress import ProgressBar
    from qslab.procedures.parameters import parse_assignments

    if args.procedure.endswith(".toml"):
        return _run_recipe(args)

    result = run_procedure(
        args.procedure,
        station=args.station,
        out=args.out,
        seed=args.seed,
        subscribers=[ProgressBar()],
        **parse_assignments(args.assignments),
    )
    print(_summary(result.outcome, result.path, result.station))
    return _exit_code(result.outcome.status)


def _exit_code(status: str) -> int:
    """A run that stopped early on purpose (a dose limit) did its job: exit 0."""
    if status in ("completed", "stopped"):
        return EXIT_OK
    return EXIT_ABORTED if status == "aborted" else EXIT_FAILED


def _resume(args: argparse.Namespace) -> int:
    from qslab.api import resume_run
    from qslab.engine.progress import ProgressBar

    if args.file.suffix == ".toml":
        return _recipe(args.file, resume=True)
    result = resume_run(args.file, subscribers=[ProgressBar()])
    print(_summary(result.outcome, result.path, result.station))
    return _exit_code(result.outcome.status)


def _run_recipe(args: argparse.Namespace) -> int:
    if args.assignments or args.station != "sim":
        raise ValidationError("usage", "a recipe names its own station and parameters")
    return _recipe(Path(args.procedure), resume=False)


def _recipe(path: Path, resume: bool) -> int:
    from qslab.engine.progress import ProgressBar
    from qslab.recipe import load_recipe, run_recipe

    recipe = load_recipe(path)
    total = len(recipe.runs)
    print(f"recipe: {total} runs on station {recipe.station}, all checked")

    def announce(index, run):
        label = ", ".join(f"{k}={v}" for k, v in run.sample.items())
        print(f"[{index + 1}/{total}] {run.procedure} {label}".rstrip(), flush=True)

    results = run_recipe(recipe, subscribers=[ProgressBar()], announce=announce, resume=resume)
    for result in results:
        print(_summary(result.outcome, result.path, result.station))
    codes = {_exit_code(r.outcome.status) for r in results}
    if recipe.journal_path.exists() and not _journal_finished(recipe):
        codes.add(EXIT_FAILED)
    return EXIT_ABORTED if EXIT_ABORTED in codes else max(codes, default=EXIT_OK)


def _journal_finished(recipe) -> bool:
    runs = json.loads(recipe.journal_path.read_text())["runs"]
    done = ("completed", "stopped")
    return all(runs.get(str(i), {}).get("status") in done for i in range(len(recipe.runs)))


def _summary(outcome, path, station) -> str:
    import numpy as np

    from qslab.storage.reader import format_result

    lines = [f"run {outcome.status}: {outcome.num_events} points -> {path or '(no file)'}"]
    if outcome.reason:
        lines.append(f"  reason: {outcome.reason}")
    for name, result in outcome.analysis.items():
        if np.ndim(result.get("value")) == 0 and _worth_a_line(name, outcome.analysis):
            lines.append(f"  {name:30s} {format_result(result)}")
    if station.bench is not None and "ase_threshold" in outcome.analysis:
        truth = station.bench.true_ase_threshold()
        lines.append(f"  (simulated bench: true ASE threshold {truth:.3g} uJ/cm^2)")
    if (
        station.bench is not None
        and station.bench.cavity
        and "lasing_threshold" in outcome.analysis
    ):
        value, units = station.bench.true_lasing_threshold()
        lines.append(f"  (simulated bench: true lasing threshold {value:.3g} {units})")
    if station.bench is not None and "spot_radius_1e2_um" in outcome.analysis:
        radius = station.bench.true_spot_radius_um()
        lines.append(f"  (simulated bench: true spot 1/e^2 radius {radius:.3g} um)")
    return "\n".join(lines)


def _worth_a_line(name: str, analysis: dict) -> bool:
    """The terminal gets the main mode's results once (as lasing_*) and, for other modes,
    threshold and wavelength; the file and --json keep every entry."""
    mode = re.match(r"mode(\d+)_(.+)", name)
    if mode is None or "lasing_threshold" not in analysis:
        return True
    return mode.group(1) != "1" and mode.group(2) in ("threshold", "wavelength")


def _inspect(args: argparse.Namespace) -> int:
    from qslab.storage.reader import format_run, read_run_isolated

    record = read_run_isolated(args.file)
    if args.json:
        print(json.dumps(record.summary_json(), indent=2))
    else:
        print(format_run(record))
    return EXIT_OK


def _g2(args: argparse.Namespace) -> int:
    from qslab.storage.reader import format_result, jsonable
    from qslab.tcspc.offline import analyse_tag_file

    if args.gate < 0:
        raise ValidationError("--gate", f"must be >= 0 ns, got {args.gate}")
    try:
        summary = analyse_tag_file(args.file, gate_ns=args.gate)
    except ValueError as exc:
        raise QslabError(str(exc)) from None
    if args.json:
        print(json.dumps(jsonable(summary), indent=2))
        return EXIT_OK
    print(
        f"{summary['file']}: {summary['instrument']}, {summary['mode']}, "
        f"{summary['points']} photons in {summary['parameters']['duration']['value']:.3g} s"
    )
    for name, result in summary["analysis"].items():
        print(f"  {name:24s} {format_result(result)}")
    return EXIT_OK


def _series(args: argparse.Namespace) -> int:
    from qslab.series import device_series, format_table, write_summary

    devices = device_series(args.files)
    print(format_table(devices))
    if args.out is not None:
        print(f"summary -> {write_summary(devices, args.out)}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from qslab.station import open_station

    failed = 0
    for result in open_station(args.station).check():
        state = "FAILED" if result.error else "ok"
        print(f"{result.role:13s} {state:6s} {result.driver} at {result.resource}")
        if result.error:
            failed += 1
            print(f"    error: {result.error}")
            continue
        print(f"    identity: {result.identity}")
        for name, value in result.settings.items():
            print(f"    {name}: {value}")
    return EXIT_FAILED if failed else EXIT_OK


def _stations(args: argparse.Namespace) -> int:
    from qslab.station import builtin_stations

    for name, description in builtin_stations().items():
        print(f"{name:12s} {description}")
    return EXIT_OK


def _procedures(args: argparse.Namespace) -> int:
    from qslab.procedures import PROCEDURES, procedure_class

    chosen = [procedure_class(args.name)] if args.name else list(PROCEDURES.values())
    for cls in chosen:
        print(f"{cls.name:12s} {cls.title} (roles: {', '.join(cls.roles)})")
        if args.name:
            for p in cls.parameters:
                print(f"    {p.describe()}")
    return EXIT_OK


def _drivers(args: argparse.Namespace) -> int:
    from qslab.instruments.registry import drivers

    for spec in drivers().values():
        extra = f'  [needs: pip install "qslab[{spec.requires}]"]' if spec.requires else ""
        print(f"{spec.name:26s} {spec.role:13s} {spec.description}{extra}")
    return EXIT_OK


def _gui(args: argparse.Namespace) -> int:
    from qslab.gui.app import main as gui_main

    return gui_main(station=args.station, screenshot=args.screenshot)


COMMANDS = {
    "run": _run,
    "resume": _resume,
    "inspect": _inspect,
    "check": _check,
    "g2": _g2,
    "series": _series,
    "stations": _stations,
    "procedures": _procedures,
    "drivers": _drivers,
    "gui": _gui,
}


if __name__ == "__main__":
    sys.exit(main())
