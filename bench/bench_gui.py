"""Points per second of one simulated ASE run, headless against the GUI open and plotting.

The same run (the built-in ``sim`` station out of real time, so the acquisition is as fast as
the drivers, the bench physics and the HDF5 writer allow and any time the GUI takes shows) is
taken alternately through :func:`qslab.api.run_procedure` with no subscriber and through the
main window's queue, with every live plot and the live threshold fit running. Both rates come
from the run files themselves: the Unix time recorded with each point, first to last, so the
final analysis (the same in both) is not counted.

    python bench/bench_gui.py [--points 600] [--repeat 3]

Qt runs offscreen unless QT_QPA_PLATFORM says otherwise; offscreen still paints every frame.
The target (issue 7) is a GUI rate within 10 % of the headless one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt5.QtWidgets import QApplication  # noqa: E402

from qslab.api import run_procedure  # noqa: E402
from qslab.gui import livefit  # noqa: E402
from qslab.gui.app import MainWindow, wait_for  # noqa: E402
from qslab.gui.settings import Settings  # noqa: E402
from qslab.gui.worker import Job  # noqa: E402
from qslab.storage.reader import read_run  # noqa: E402

SEED = 5


def points_per_second(path: Path) -> float:
    record = read_run(path)
    times = record.data["time"].read()
    return (len(times) - 1) / float(times[-1] - times[0])


def headless(station: Path, out: Path, parameters: dict) -> float:
    result = run_procedure("ase", station=station, out=out, seed=SEED, **parameters)
    return points_per_second(result.path)


def with_gui(window: MainWindow, station: Path, out: Path, parameters: dict) -> float:
    window.station_panel.load(str(station), seed=SEED)  # the same bench as the headless run
    window.add_job(Job("ase", dict(parameters), out), start=True)
    if not wait_for(lambda: window.thread is None, 600):
        raise RuntimeError("the GUI run did not finish in 10 minutes")
    job = window.queue.jobs[-1]
    if job.status != "completed":
        raise RuntimeError(f"the GUI run ended {job.status}: {job.reason}")
    return points_per_second(job.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=600, help="points per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind, alternated")
    args = parser.parse_args()
    parameters = {"points": args.points, "averages": 1, "fluence_start": 1.0, "fluence_stop": 60.0}
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="qslab-bench-gui-") as folder:
        root = Path(folder)
        station = root / "fast.toml"
        station.write_text('base = "sim"\n[bench]\nrealtime = false\n')
        window = MainWindow(Settings(root / "settings.ini"), str(station))
        window.show()
        app.processEvents()
        warm = {**parameters, "points": 20}
        headless(station, root / "warm", warm)
        with_gui(window, station, root / "warm", warm)
        rates: dict[str, list[float]] = {"headless": [], "gui": []}
        refreshes = window.throttle.refreshes
        for _ in range(args.repeat):
            rates["headless"].append(headless(station, root / "headless", parameters))
            rates["gui"].append(with_gui(window, station, root / "gui", parameters))
        refreshes = (window.throttle.refreshes - refreshes) / args.repeat
        window.close()
        livefit.shutdown()
    median = {kind: statistics.median(values) for kind, values in rates.items()}
    ratio = median["gui"] / median["headless"]
    paired = statistics.median(g / h for g, h in zip(rates["gui"], rates["headless"], strict=True))
    print(f"simulated ASE run, {args.points} points, {args.repeat} runs of each, alternated")
    for kind, values in rates.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {kind:9s} {median[kind]:8.1f} points/s  (median of {shown})")
    print(f"  GUI plot refreshes per run: {refreshes:.0f}")
    print(f"  ratio GUI / headless: {ratio:.3f}  ({(ratio - 1) * 100:+.1f} %; target >= -10 %)")
    print(f"  median ratio of the alternated pairs: {paired:.3f}")


if __name__ == "__main__":
    main()
