"""Ctrl-C and SIGTERM at any moment: exit 130, status aborted, every completed point kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from qslab.storage.reader import read_run


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_aborts_cleanly(tmp_path, sig):
    station = tmp_path / "realtime.toml"
    station.write_text('base = "sim"\n')  # real-time bench: the run takes seconds
    cmd = [
        sys.executable,
        "-m",
        "qslab.cli",
        "run",
        "ase",
        "--station",
        str(station),
        "--out",
        str(tmp_path),
        "--seed",
        "1",
        "--set",
        "points=40",
        "--set",
        "exposure_s=0.05",
        "--set",
        "averages=1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # the progress bar prints every 10 % when not on a terminal
        if line.startswith("[") and int(line.split("]")[1].split("/")[0]) >= 4:
            break
        assert time.monotonic() < deadline, "run did not progress"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (path,) = tmp_path.glob("*.h5")
    record = read_run(path)
    assert record.status == "aborted"
    assert 4 <= record.points < 40
    assert "Ctrl-C" in record.error or "SIGTERM" in record.error
    assert "safe state incomplete" not in record.error
    assert "Traceback" not in err
