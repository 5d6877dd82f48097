"""Resume: a run (or a recipe) that did not finish is completed where it stopped, in its own file.

The promise: after ``qslab resume`` the file holds the same set of points an uninterrupted run
would have, each once, in plan order, and says that it was resumed and from what.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_kill import _environment, _kill
from test_recipe import RECIPE as RECIPE_OF_THREE_PROCEDURES

from qslab import cli
from qslab.api import run_procedure
from qslab.storage.reader import read_run

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

POINTS = 240
FAST = 'base = "sim"\n[bench]\nrealtime = false\n'
PARAMS = ["points=240", "averages=1", "energy_samples=3"]


def _start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qslab.cli", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )


def _kill_after_progress(proc: subprocess.Popen, at_least: int, wait_for: str = "") -> None:
    """SIGKILL once the progress bar has passed ``at_least`` points (after the line
    ``wait_for`` on stdout, for a recipe's later run)."""
    if wait_for:
        for line in proc.stdout:
            if wait_for in line:
                break
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        is_ase = "uJ/cm^2" in line  # not a progress line of an earlier run
        if is_ase and int(line.split("]")[1].split("/")[0]) >= at_least:
            break
        assert time.monotonic() < deadline, "run did not progress"
    else:
        pytest.fail(f"run ended before {at_least} points: {proc.communicate()}")
    _kill(proc)


def _settings(*params: str) -> list[str]:
    return [arg for p in params for arg in ("--set", p)]


def test_a_killed_run_resumed_has_the_points_of_an_uninterrupted_one(tmp_path, capsys):
    station = tmp_path / "fast.toml"
    station.write_text(FAST)
    out = tmp_path / "runs"
    cmd = ["run", "ase", "--station", str(station), "--out", str(out), "--seed", "3"]
    _kill_after_progress(_start(cmd + _settings(*PARAMS)), at_least=POINTS // 10)
    (path,) = out.glob("*.h5")
    before = read_run(path)
    assert before.status == "interrupted" and 0 < before.points < POINTS
    kept = before.data["fluence"].read()

    assert cli.main(["resume", str(path)]) == 0
    assert "run completed" in capsys.readouterr().out
    after = read_run(path)
    assert after.status == "completed" and after.points == POINTS
    np.testing.assert_array_equal(after.data["point"].read(), np.arange(POINTS))
    np.testing.assert_array_equal(after.data["fluence"].read()[: before.points], kept)
    assert not after.data["retake"].read().any()
    (session,) = after.resumes
    assert session["previous_status"] == "interrupted"
    assert session["points_before"] == before.points
    assert after.uid == before.uid and "ase_threshold" in after.analysis

    reference = run_procedure(
        "ase",
        station=station,
        out=tmp_path / "reference",
        seed=3,
        points=POINTS,
        averages=1,
        energy_samples=3,
    )
    uninterrupted = read_run(reference.path)
    np.testing.assert_allclose(
        after.data["fluence_target"].read(), uninterrupted.data["fluence_target"].read()
    )
    threshold = after.analysis["ase_threshold"]["value"]
    assert threshold == pytest.approx(uninterrupted.analysis["ase_threshold"]["value"], rel=0.1)


def test_a_run_failed_by_an_instrument_is_finished_once_the_station_is_fixed(tmp_path, capsys):
    station = tmp_path / "fast.toml"
    station.write_text(FAST + '[[faults]]\nrole = "energy_meter"\nfault = "unplugged"\npoint = 4\n')
    failed = run_procedure("ase", station=station, out=tmp_path, seed=1, points=8, averages=1)
    assert failed.outcome.status == "failed" and "PM100" in failed.outcome.reason
    assert read_run(failed.path).points == 3

    station.write_text(FAST)  # the cable is back
    assert cli.main(["resume", str(failed.path)]) == 0
    record = read_run(failed.path)
    assert record.status == "completed" and record.points == 8
    assert record.resumes[0]["previous_status"] == "failed"
    assert "PM100" in record.resumes[0]["previous_error"]
    np.testing.assert_array_equal(record.data["point"].read(), np.arange(8))


def test_a_complete_run_is_not_resumed(tmp_path, fast_station, capsys):
    done = run_procedure("ase", station=fast_station, out=tmp_path, points=4, averages=1)
    assert cli.main(["resume", str(done.path)]) == 2
    assert "nothing to resume: it is complete" in capsys.readouterr().err
    assert read_run(done.path).points == 4


# the recipe of test_recipe.py, with ASE series long enough to be killed in the middle
RECIPE = RECIPE_OF_THREE_PROCEDURES.replace("points = 16", "points = 240\nenergy_samples = 3")


def test_a_killed_recipe_resumes_at_the_run_it_was_in(tmp_path, capsys):
    (tmp_path / "station.toml").write_text('base = "sim-g2"\n[bench]\nrealtime = false\n')
    recipe = tmp_path / "night.toml"
    recipe.write_text(RECIPE)
    _kill_after_progress(_start(["run", str(recipe)]), at_least=POINTS // 10, wait_for="[2/5]")
    runs = tmp_path / "runs"
    first = {p.name for p in runs.glob("*.h5")}
    journal = json.loads((runs / "night.journal.json").read_text())["runs"]
    assert journal["0"]["status"] == "completed" and journal["1"]["status"] == "running"

    assert cli.main(["resume", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "[1/5]" not in out and "[2/5] ase spot=A" in out and "[5/5] g2" in out
    files = sorted(p for p in runs.glob("*.h5") if not p.name.endswith(".photons.h5"))
    records = sorted((read_run(p) for p in files), key=lambda r: r.start_time)
    assert [r.procedure for r in records] == ["calibrate", "ase", "ase", "ase", "g2"]
    assert all(r.status == "completed" for r in records)
    ase = records[1]
    assert ase.path.name in first and ase.points == POINTS and len(ase.resumes) == 1
    assert [r.sample["spot"] for r in records[1:4]] == ["A", "B", "C"]
    journal = json.loads((runs / "night.journal.json").read_text())["runs"]
    assert [journal[str(i)]["status"] for i in range(5)] == ["completed"] * 5
    assert cli.main(["resume", str(recipe)]) == 0  # nothing left: nothing runs
    assert "[" not in capsys.readouterr().out.split("all checked")[1]


def test_resume_names_a_file_that_is_not_a_run(tmp_path, capsys):
    path = tmp_path / "notes.h5"
    path.write_bytes(b"not hdf5")
    assert cli.main(["resume", str(path)]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err
    assert Path(path).read_bytes() == b"not hdf5"


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process state from /proc")
def test_ctrl_z_pauses_with_the_station_safe_and_fg_resumes(tmp_path):
    station = tmp_path / "fast.toml"
    station.write_text(FAST)
    out = tmp_path / "runs"
    cmd = ["run", "ase", "--station", str(station), "--out", str(out), "--seed", "3"]
    proc = _start(cmd + _settings(*PARAMS))
    for line in proc.stderr:
        if "uJ/cm^2" in line and int(line.split("]")[1].split("/")[0]) >= POINTS // 10:
            break
    proc.send_signal(signal.SIGTSTP)
    for line in proc.stderr:
        if "'fg' resumes the run" in line:
            break
    deadline = time.monotonic() + 30
    while Path(f"/proc/{proc.pid}/stat").read_text().split(")")[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the process did not stop"
        time.sleep(0.05)
    (path,) = out.glob("*.h5")
    paused = read_run(path)
    assert paused.status == "running" and [p["event"] for p in paused.pauses] == ["pause"]
    assert 0 < paused.points < POINTS
    proc.send_signal(signal.SIGCONT)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout
    record = read_run(path)
    assert record.status == "completed" and record.points == POINTS
    assert [p["event"] for p in record.pauses] == ["pause", "resume"]
    assert "Ctrl-Z" in record.pauses[0]["reason"]


def test_a_g2_run_resumes_with_the_new_time_tags_beside_the_first(tmp_path, capsys):
    station = tmp_path / "g2.toml"
    fast_g2 = 'base = "sim-g2"\n[bench]\nrealtime = false\n'
    station.write_text(fast_g2 + '[[faults]]\nrole = "tcspc"\nfault = "timeout"\npoint = 3\n')
    cmd = ["run", "g2", "--station", str(station), "--out", str(tmp_path), "--seed", "2"]
    assert cli.main(cmd + _settings("fluences=0.2,0.4,0.8", "acquisition_s=1")) == 1
    (path,) = tmp_path.glob("*_g2_*[0-9a-f].h5")
    station.write_text(fast_g2)
    assert cli.main(["resume", str(path)]) == 0
    record = read_run(path)
    assert record.status == "completed" and record.points == 3
    assert "qy_xx_ratio" in record.analysis
    side = sorted(p.name for p in tmp_path.glob("*.photons.h5"))
    assert side == [f"{path.stem}-2.photons.h5", f"{path.stem}.photons.h5"]
