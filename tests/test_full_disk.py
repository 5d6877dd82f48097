"""A disk that fills during a run: the run ends with one clear line, the beam safe, every
completed point kept, and ``qslab resume`` completes it once there is space again.

Two ways to fill it: the writer's own free-space guard (stops the run before the disk is full,
the file intact), and a file-size limit (RLIMIT_FSIZE) that makes a write fail mid-file the way
a full disk does, which HDF5 survives only with a repair.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import write_station

from qslab.api import resume_run, run_procedure
from qslab.errors import QslabError
from qslab.storage import space
from qslab.storage.reader import read_run
from qslab.storage.repair import extend_to_recorded_end, recorded_end

POINTS = 60
Usage = namedtuple("Usage", "total used free")


def test_the_free_space_guard_stops_the_run_before_the_disk_fills(tmp_path, monkeypatch):
    station = write_station(tmp_path / "fast.toml")
    writes = []

    def usage(folder):  # plenty of room for 25 points, then the disk is nearly full
        writes.append(folder)
        free = 10 * 2**30 if len(writes) <= 25 else space.MIN_FREE_BYTES - 1
        return Usage(2 * free, free, free)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    result = run_procedure("ase", station=station, out=tmp_path, points=POINTS, averages=1)
    record = read_run(result.path)
    assert result.outcome.status == "failed" and record.status == "failed"
    assert "stopped before the disk filled" in record.error and "qslab resume" in record.error
    assert record.points == 25  # every point before the guard tripped, in a file that opens
    assert not result.station.bench.light_on_sample

    monkeypatch.undo()  # space freed
    resumed = read_run(resume_run(result.path).path)
    assert resumed.status == "completed"
    np.testing.assert_array_equal(resumed.data["point"].read(), np.arange(POINTS))


def _limited(limit_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_write_that_fails_mid_file_is_one_line_and_resume_repairs_it(tmp_path):
    station = write_station(tmp_path / "fast.toml")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from qslab.cli import console; console()"]
    command += ["run", "ase", "--station", str(station), "--out", str(tmp_path / "runs")]
    command += ["--set", f"points={POINTS}", "--set", "averages=1", "--seed", "3"]
    child = subprocess.run(
        command,
        preexec_fn=_limited(600_000),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == 1, child.stderr  # not a crash of the HDF5 library
    assert "Traceback" not in child.stderr and "Exception ignored" not in child.stderr
    assert "qslab resume" in child.stderr.splitlines()[-1]
    (path,) = (tmp_path / "runs").glob("*.h5")
    assert path.stat().st_size < recorded_end(path)  # cut short: unreadable as it is
    with pytest.raises(QslabError, match="qslab resume"):
        read_run(path)

    result = resume_run(path)  # repairs, then takes only the missing points
    record = read_run(result.path)
    assert record.status == "completed"
    np.testing.assert_array_equal(record.data["point"].read(), np.arange(POINTS))
    kept = record.resumes[0]["points_before"]
    assert 10 <= kept < POINTS  # the points written before the failure were kept
    assert record.resumes[0]["previous_status"] == "failed"


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_photon_file_that_cannot_grow_fails_the_run_in_one_line(tmp_path):
    """g2 writes its raw photons beside the run (Photon-HDF5): the bigger file fills first."""
    station = tmp_path / "g2.toml"
    station.write_text('base = "sim-g2"\n[bench]\nrealtime = false\n')
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from qslab.cli import console; console()", "run", "g2"]
    command += ["--station", str(station), "--out", str(tmp_path / "runs"), "--seed", "2"]
    command += ["--set", "acquisition_s=2", "--set", "fluences=0.2,0.4,0.8"]
    child = subprocess.run(
        command, preexec_fn=_limited(400_000), capture_output=True, text=True, env=env, timeout=120
    )
    assert child.returncode == 1, child.stderr
    assert "Traceback" not in child.stderr and "Exception ignored" not in child.stderr
    (path,) = (tmp_path / "runs").glob("*_g2_????????.h5")
    record = read_run(path)
    assert record.status == "failed" and "photons.h5: could not be written" in record.error
    assert record.points >= 1  # the fluences measured before it are in the run's file
    assert read_run(resume_run(path).path).status == "completed"


@pytest.mark.parametrize("libver", ["earliest", "latest"])
@pytest.mark.parametrize("userblock", [0, 512, 4096])
def test_the_recorded_end_of_a_whole_file_is_its_size(tmp_path, libver, userblock):
    path = tmp_path / "whole.h5"
    with h5py.File(path, "w", libver=libver, userblock_size=userblock) as file:
        file["x"] = np.arange(1000.0)
    assert recorded_end(path) == path.stat().st_size
    assert extend_to_recorded_end(path) == 0


def test_resume_leaves_a_file_that_is_not_cut_short_as_it_is(tmp_path):
    path = tmp_path / "other.mat"  # someone else's HDF5 file (MATLAB v7.3 has a user block)
    with h5py.File(path, "w", userblock_size=512) as file:
        file["x"] = np.arange(10.0)
    before = path.read_bytes()
    with pytest.raises(QslabError):
        resume_run(path)
    assert path.read_bytes() == before
    not_hdf5 = tmp_path / "text.h5"
    not_hdf5.write_text("not a run")
    assert recorded_end(not_hdf5) is None and extend_to_recorded_end(not_hdf5) == 0
