"""Framework overhead per point: qslab's engine + HDF5 writer against pymeasure's Worker + CSV.

Both sides run a procedure whose "instrument" answers instantly, in the same process and the
same run, so the ratio is what the machine's noise leaves of the frameworks themselves:

* qslab: RunEngine + HDF5Writer, every point a full 2048-pixel float64 spectrum plus 15 scalars,
  flushed to disk when taken (the file holds every completed point);
* pymeasure: Procedure + Worker + Results, the same 15 scalars per point to CSV (pymeasure's data
  path stores scalars only, so it carries 1/130 of the data).

A third line runs qslab's real ASE procedure on the simulated station out of real time: the
real drivers speaking their protocols to the simulators, the bench physics and the per-point
spectral analysis, for the full cost of a point.

    python bench/bench_engine.py [--points 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from qslab.engine.documents import data_key
from qslab.engine.runner import RunEngine
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter
from qslab.station import Station
from qslab.storage.writer import HDF5Writer

PIXELS = 2048
SCALARS = tuple(f"scalar_{i:02d}" for i in range(15))


class InstantSeries(Procedure):
    name = "instant"
    title = "zero-latency series"
    roles = ()
    parameters = (
        Parameter("points", "int", 1000, "", "points", 1),
        Parameter("spectrum", "bool", True, "", "store a spectrum with every point"),
    )

    def run(self, ctx):
        keys = {k: data_key((), "float64", "", k) for k in SCALARS}
        if self.values["spectrum"]:
            keys["spectrum"] = data_key((PIXELS,), "float64", "counts/s", "spectrum")
        wavelength = {"value": np.linspace(550, 780, PIXELS), "units": "nm", "description": ""}
        ctx.descriptor(keys, {"wavelength": wavelength}, {"signal": "scalar_00", "axes": []})
        bank = np.random.default_rng(0).random((16, PIXELS))
        for i in range(self.values["points"]):
            ctx.check_abort()
            point = {k: float(i) for k in SCALARS}
            if self.values["spectrum"]:
                point["spectrum"] = bank[i % 16]
            ctx.event(point)


def time_qslab(points: int, folder: Path, spectrum: bool = True) -> float:
    station = Station.empty("bench")
    engine = RunEngine()
    writer = HDF5Writer(folder)
    engine.subscribe(writer, critical=True)
    t0 = time.perf_counter()
    outcome = engine.run(InstantSeries(station, {"points": points, "spectrum": spectrum}), station)
    writer.close()
    elapsed = time.perf_counter() - t0
    assert outcome.status == "completed" and outcome.num_events == points
    return points / elapsed


def time_pymeasure(points: int, folder: Path) -> float:
    from pymeasure.experiment import Procedure as PmProcedure
    from pymeasure.experiment import Results, Worker
    from pymeasure.experiment.parameters import IntegerParameter

    class PmInstant(PmProcedure):
        count = IntegerParameter("points", default=points)
        DATA_COLUMNS = list(SCALARS)

        def execute(self):
            for i in range(self.count):
                if self.should_stop():
                    break
                self.emit("results", {k: float(i) for k in SCALARS})

    procedure = PmInstant()
    procedure.count = points
    results = Results(procedure, str(folder / f"pymeasure_{time.monotonic_ns()}.csv"))
    worker = Worker(results)
    t0 = time.perf_counter()
    worker.start()
    worker.join()
    elapsed = time.perf_counter() - t0
    with open(results.data_filename) as csv:
        rows = sum(1 for line in csv if line[:1].isdigit())
    assert rows == points, f"pymeasure wrote {rows} of {points} rows"
    return points / elapsed


def time_ase(points: int, folder: Path) -> float:
    from qslab.api import run_procedure

    station = folder / "fast.toml"
    station.write_text('base = "sim"\n[bench]\nrealtime = false\n')
    t0 = time.perf_counter()
    result = run_procedure(
        "ase",
        station=station,
        out=folder,
        seed=1,
        points=points,
        averages=1,
        energy_samples=1,
        fluence_start=1.0,
        fluence_stop=60.0,
    )
    elapsed = time.perf_counter() - t0
    assert result.outcome.status == "completed"
    return points / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        best = {"qslab": 0.0, "qslab_scalars": 0.0, "pymeasure": 0.0}
        for _ in range(args.repeat):  # interleaved, so drifts of the machine hit all alike
            best["qslab"] = max(best["qslab"], time_qslab(args.points, folder))
            best["qslab_scalars"] = max(
                best["qslab_scalars"], time_qslab(args.points, folder, spectrum=False)
            )
            best["pymeasure"] = max(best["pymeasure"], time_pymeasure(args.points, folder))
        ase = time_ase(min(args.points, 400), folder)
    print(f"points per run: {args.points}, best of {args.repeat}")
    print(
        f"qslab engine + HDF5 (2048-px spectrum + 15 scalars, flush per point): "
        f"{best['qslab']:8.0f} points/s"
    )
    print(
        f"qslab engine + HDF5 (15 scalars only, flush per point):             "
        f"{best['qslab_scalars']:8.0f} points/s"
    )
    print(
        f"pymeasure Worker + CSV (15 scalars):                                "
        f"{best['pymeasure']:8.0f} points/s"
    )
    print(f"ratio qslab / pymeasure, same scalars: {best['qslab_scalars'] / best['pymeasure']:.2f}")
    print(f"ratio qslab with spectra / pymeasure scalars: {best['qslab'] / best['pymeasure']:.2f}")
    print(
        f"data stored per second: qslab {best['qslab'] * (PIXELS + 16) * 8 / 1e6:.1f} MB/s, "
        f"pymeasure {best['pymeasure'] * 16 * 8 / 1e6:.1f} MB/s (as float64)"
    )
    print(
        f"qslab full ASE point on the simulated station (drivers + physics + analysis): "
        f"{ase:6.0f} points/s"
    )


if __name__ == "__main__":
    main()
