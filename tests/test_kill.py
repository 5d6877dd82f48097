"""SIGKILL at any moment: the file still opens, says interrupted and holds every completed point.

A killed process runs no handler, so nothing but the per-point flush protects the file; the reader
tells "interrupted" from "running" by finding the writer's process gone.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from qslab.cli import main
from qslab.storage.reader import read_run

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

# Kill at the first progress line (one per 4 points) reporting at least this many points, after a
# delay that moves the kill across a point's exposure and write: each run dies at another moment.
KILLS = [(4, 0.0), (7, 0.13), (10, 0.27)]

# A writer as fast as it goes (no instruments): a kill lands inside a write far more often than
# in a real-time run, where a point is mostly exposure time.
FAST_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from qslab.engine.documents import data_key, start_document
    from qslab.storage import HDF5Writer

    writer = HDF5Writer(sys.argv[1], filename="fast.h5")
    start = start_document("fast", {}, {}, {}, {}, {}, "0")
    uid = start["uid"]
    writer("start", start)
    keys = {
        "fluence": data_key((), "float64", "uJ/cm^2", "pump fluence"),
        "fluence_target": data_key((), "float64", "uJ/cm^2", "fluence asked for"),
        "spectrum": data_key((2048,), "float64", "counts/s", "spectrum"),
    }
    writer("descriptor", {"run_uid": uid, "data_keys": keys})
    spectrum = np.random.default_rng(0).random(2048)
    for k in range(10**9):
        data = {"fluence": 1.0 + k, "fluence_target": 1.0 + k, "spectrum": spectrum}
        writer("event", {"run_uid": uid, "seq_num": k + 1, "time": time.time(), "data": data})
        if k == 20:
            print("ready", flush=True)
    """
)


def _environment() -> dict[str, str]:
    """The child imports this checkout's qslab, wherever pytest was started."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _check_interrupted(path: Path, capsys: pytest.CaptureFixture[str], at_least: int) -> int:
    """``qslab inspect --json`` and the reader agree: interrupted, every row complete."""
    capsys.readouterr()
    assert main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "interrupted", summary
    assert "interrupted" in main_text(path, capsys)
    record = read_run(path)
    assert record.status == "interrupted" and record.points == summary["points"]
    assert record.points >= at_least
    fluence = record.data["fluence"].read()  # measured: shot noise, finite but not monotonic
    target = record.data["fluence_target"].read()
    assert fluence.shape == target.shape == (record.points,)
    assert all(math.isfinite(f) for f in fluence), fluence
    assert np.all(np.diff(target) > 0), target
    for column in record.data.values():
        if column.per_point:
            assert column.read().shape[0] == record.points
    return record.points


def main_text(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["inspect", str(path)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("after", "delay"), KILLS)
def test_sigkill_mid_run_leaves_an_interrupted_file(tmp_path, capsys, after, delay):
    station = tmp_path / "realtime.toml"
    station.write_text('base = "sim"\n')  # real-time bench: the run takes seconds
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "qslab.cli", "run", "ase", "--station", str(station)]
    cmd += ["--out", str(out), "--seed", "1", "--set", "points=40"]
    cmd += ["--set", "exposure_s=0.05", "--set", "averages=1"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment()
    )
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # the progress bar prints every 10 % when not on a terminal
        if line.startswith("[") and int(line.split("]")[1].split("/")[0]) >= after:
            break
        assert time.monotonic() < deadline, "run did not progress"
    else:
        pytest.fail(f"run ended before {after} points: {proc.communicate()}")
    time.sleep(delay)
    _kill(proc)
    (path,) = out.glob("*.h5")
    points = _check_interrupted(path, capsys, at_least=after)
    assert points < 40
    assert read_run(path).status == "interrupted"  # reading did not change the file
    with h5py.File(path, "r", locking=False) as file:
        assert file["entry"].attrs["status"] == "running"


def test_sigkill_during_fast_writes_never_damages_the_file(tmp_path, capsys):
    rng = np.random.default_rng()
    for attempt in range(8):
        out = tmp_path / str(attempt)
        proc = subprocess.Popen(
            [sys.executable, "-c", FAST_WRITER, str(out)],
            stdout=subprocess.PIPE,
            text=True,
            env=_environment(),
        )
        assert proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        _kill(proc)
        _check_interrupted(out / "fast.h5", capsys, at_least=21)
