"""The HDF5 writer and reader: layout, units, a file that is true after every point, bad files."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from qslab.engine.documents import data_key, start_document
from qslab.errors import QslabError
from qslab.storage import HDF5Writer, format_run, read_run

PIXELS = 16
WAVELENGTH = np.linspace(600.0, 650.0, PIXELS)

PARAMETERS = {
    "fluences": {"value": [1.0, 2.0, 4.0], "units": "uJ/cm^2"},
    "repeats": {"value": 3, "units": ""},
    "shutter_mode": {"value": "per_point", "units": ""},
}
STATION = {
    "spectrometer": {
        "driver": "oceaninsight.usb4000",
        "resource": "sim",
        "identity": "USB4000 S/N 12345",
        "settings": {"integration_time": {"value": 100.0, "units": "ms"}, "averages": 4},
    },
    "attenuator": {
        "driver": "thorlabs.fw102c",
        "resource": "ASRL/dev/ttyUSB0::INSTR",
        "identity": "FW102C",
        "settings": {"positions": [1, 2, 3], "mode": "od"},
    },
}
SAMPLE = {"name": "QS-CdS/CdSe-7", "batch": "B12", "thickness": {"value": 210.0, "units": "nm"}}
CALIBRATION = {
    "spot": {"size": {"value": 150.0, "units": "um"}, "definition": "1/e2_radius"},
    "filters": [{"position": 1, "od": 0.0}, {"position": 2, "od": 0.5}],
}
ENVIRONMENT = {"python": "3.11.7", "packages": {"numpy": "2.0.0", "h5py": "3.11.0"}, "host": "lab1"}
RESULTS = {
    "ase_threshold": {
        "value": 5.31,
        "error": 0.12,
        "units": "uJ/cm^2",
        "method": "rate_equation",
        "r_squared": 0.993,
    },
    "g2_zero": {"value": float("nan"), "error": None, "units": "", "method": "coincidence"},
}


def start() -> dict:
    return start_document(
        "ase_power_series", PARAMETERS, STATION, SAMPLE, CALIBRATION, ENVIRONMENT, "0.1.0"
    )


def descriptor(uid: str) -> dict:
    return {
        "run_uid": uid,
        "data_keys": {
            "fluence": data_key((), "float64", "uJ/cm^2", "pump fluence"),
            "spectrum": data_key((PIXELS,), "float64", "counts", "emission spectrum"),
            "shots": data_key((), "int64", "", "pulses averaged"),
            "state": data_key((), "str", "", "attenuator state"),
        },
        "constants": {
            "wavelength": {"value": WAVELENGTH, "units": "nm", "description": "wavelength"}
        },
        "plot": {"signal": "spectrum", "axes": ["fluence", "wavelength"]},
    }


def point(k: int) -> dict:
    return {
        "fluence": 1.0 + k,
        "spectrum": np.arange(PIXELS, dtype=float) * (k + 1),
        "shots": 10 * (k + 1),
        "state": f"pos{k + 1}",
    }


def event(uid: str, k: int, data: dict | None = None) -> dict:
    return {"run_uid": uid, "seq_num": k + 1, "time": time.time(), "data": data or point(k)}


def stop(uid: str, points: int, status: str = "completed", reason: str = "") -> dict:
    return {
        "run_uid": uid,
        "time": time.time(),
        "status": status,
        "reason": reason,
        "num_events": points,
    }


def write_run(directory: Path, points: int = 3, **stop_fields: str) -> Path:
    writer = HDF5Writer(directory)
    doc = start()
    uid = doc["uid"]
    writer("start", doc)
    writer("descriptor", descriptor(uid))
    for k in range(points):
        writer("progress", {"run_uid": uid, "done": k, "total": points, "message": ""})
        writer("event", event(uid, k))
    writer("analysis", {"run_uid": uid, "results": RESULTS})
    writer("stop", stop(uid, points, **stop_fields))
    return writer.path


def snapshot(path: Path, tmp_path: Path) -> Path:
    """A byte copy of the file as it is on disk now, read independently of the writer."""
    copy = tmp_path / f"snapshot-{time.monotonic_ns()}.h5"
    shutil.copyfile(path, copy)
    return copy


def test_round_trip_of_every_group(tmp_path):
    record = read_run(write_run(tmp_path))

    assert (record.procedure, record.status, record.error, record.points) == (
        "ase_power_series",
        "completed",
        "",
        3,
    )
    assert record.qslab_version == "0.1.0"
    assert record.start_time and record.end_time and record.start_time <= record.end_time
    assert record.parameters == PARAMETERS
    assert record.station == STATION
    assert record.sample == SAMPLE
    assert record.calibration == CALIBRATION
    assert record.environment == ENVIRONMENT
    threshold = record.analysis["ase_threshold"]
    assert threshold == RESULTS["ase_threshold"]
    assert math.isnan(record.analysis["g2_zero"]["value"])
    assert record.analysis["g2_zero"]["error"] is None

    data = record.data
    np.testing.assert_array_equal(data["fluence"].read(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(data["spectrum"].read(), [point(k)["spectrum"] for k in range(3)])
    np.testing.assert_array_equal(data["shots"].read(), [10, 20, 30])
    assert list(data["state"].read()) == ["pos1", "pos2", "pos3"]
    np.testing.assert_array_equal(data["wavelength"].read(), WAVELENGTH)
    assert data["wavelength"].units == "nm" and not data["wavelength"].per_point
    assert data["time"].units == "s" and np.all(np.diff(data["time"].read()) >= 0)
    assert record.plot == {"signal": "spectrum", "axes": ["fluence", "wavelength"]}


def test_root_and_entry_attributes(tmp_path):
    path = write_run(tmp_path)
    with h5py.File(path, "r") as file:
        assert file.attrs["NX_class"] == "NXroot"
        assert file.attrs["default"] == "entry"
        assert file.attrs["file_name"] == path.name
        assert file.attrs["creator"].startswith("qslab ")
        entry = file["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry.attrs["default"] == "data"
        for name in ("start_time", "end_time"):
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", entry.attrs[name]
            )


def test_units_on_every_data_and_parameter_dataset(tmp_path):
    with h5py.File(write_run(tmp_path), "r") as file:
        for group in ("entry/data", "entry/parameters", "entry/analysis"):
            for name, dataset in file[group].items():
                assert "units" in dataset.attrs, f"{group}/{name} has no units"
        assert file["entry/parameters/repeats"].attrs["units"] == ""
        assert file["entry/data/spectrum"].attrs["long_name"] == "emission spectrum (counts)"


def test_nxdata_default_plot_attributes_are_valid(tmp_path):
    with h5py.File(write_run(tmp_path), "r") as file:
        entry = file[file.attrs["default"]]
        data = entry[entry.attrs["default"]]
        assert data.attrs["NX_class"] == "NXdata"
        signal = data[data.attrs["signal"]]
        axes = list(data.attrs["axes"])
        assert len(axes) == signal.ndim
        for dim, axis in enumerate(axes):
            if axis == ".":
                continue
            assert data.attrs[f"{axis}_indices"] == dim
            assert data[axis].shape == (signal.shape[dim],)


def test_file_on_disk_holds_every_completed_point_while_writing(tmp_path):
    writer = HDF5Writer(tmp_path / "runs")
    doc = start()
    uid = doc["uid"]
    writer("start", doc)
    assert read_run(snapshot(writer.path, tmp_path)).status == "running"
    writer("descriptor", descriptor(uid))
    for k in range(3):
        writer("event", event(uid, k))
        record = read_run(snapshot(writer.path, tmp_path))
        assert (record.status, record.points) == ("running", k + 1)
        np.testing.assert_array_equal(record.data["fluence"].read(), np.arange(k + 1) + 1.0)
        assert record.data["spectrum"].read().shape == (k + 1, PIXELS)
    writer("stop", stop(uid, 3, "aborted", "user pressed Stop"))
    record = read_run(writer.path)
    assert (record.status, record.error, record.points) == ("aborted", "user pressed Stop", 3)


def test_missing_and_bad_values_keep_rows_aligned(tmp_path):
    writer = HDF5Writer(tmp_path)
    doc = start()
    uid = doc["uid"]
    writer("start", doc)
    writer("descriptor", descriptor(uid))
    writer("event", event(uid, 0))
    writer("event", event(uid, 1, {"fluence": 2.0, "spectrum": None}))  # shots, state missing
    with pytest.raises(QslabError, match="spectrum"):
        writer("event", event(uid, 2, {**point(2), "spectrum": np.zeros(PIXELS + 1)}))
    writer("event", event(uid, 2))
    writer("stop", stop(uid, 3))

    data = read_run(writer.path).data
    assert {column.shape[0] for column in data.values() if column.per_point} == {3}
    spectrum = data["spectrum"].read()
    assert np.isnan(spectrum[1]).all() and spectrum[2, 1] == 3.0
    assert data["shots"].read()[1] == np.iinfo(np.int64).min
    assert list(data["state"].read()) == ["pos1", "", "pos3"]


def test_close_without_stop_fails_the_run_and_is_idempotent(tmp_path):
    writer = HDF5Writer(tmp_path)
    doc = start()
    writer("start", doc)
    writer("descriptor", descriptor(doc["uid"]))
    writer("event", event(doc["uid"], 0))
    writer.close()
    writer.close()
    writer("stop", stop(doc["uid"], 1))  # too late: ignored, the file is closed
    record = read_run(writer.path)
    assert (record.status, record.points) == ("failed", 1)
    assert "stop document" in record.error


def test_default_file_name_and_no_overwrite(tmp_path):
    directory = tmp_path / "new" / "runs"
    writer = HDF5Writer(directory)
    doc = start()
    writer("start", doc)
    writer.close()
    assert writer.path.parent == directory
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}_ase_power_series_{doc['uid'][:8]}\.h5", writer.path.name)
    with pytest.raises(QslabError, match="already exists"):
        HDF5Writer(directory, filename=writer.path.name)("start", start())


def test_garbage_truncated_and_foreign_files_raise_one_line_errors(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not an HDF5 file" * 100)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(write_run(tmp_path / "ok").read_bytes()[:3000])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file["x"] = np.arange(3)
    for path in (garbage, truncated, foreign, tmp_path / "missing.h5"):
        with pytest.raises(QslabError) as caught:
            read_run(path)
        message = str(caught.value)
        assert path.name in message and "\n" not in message
    assert "truncated" in str(pytest.raises(QslabError, read_run, truncated).value)


def test_summary_json_and_text_summary(tmp_path):
    record = read_run(write_run(tmp_path, status="aborted", reason="user pressed Stop"))
    summary = json.loads(json.dumps(record.summary_json(), allow_nan=False))
    for key in ("procedure", "status", "error", "points", "parameters", "analysis"):
        assert key in summary
    for key in ("uid", "start_time", "end_time", "sample", "file"):
        assert key in summary
    assert summary["analysis"]["ase_threshold"]["value"] == 5.31
    assert summary["analysis"]["g2_zero"]["value"] is None
    assert summary["parameters"]["fluences"] == PARAMETERS["fluences"]

    text = format_run(record)
    assert "aborted: user pressed Stop" in text
    assert "ase_threshold  5.31 ± 0.12 uJ/cm^2  (rate_equation)" in text
    assert "[1, 2, 4] uJ/cm^2" in text


def test_numbers_json_has_no_type_for_still_give_a_summary(tmp_path):
    """A damaged or foreign-written file may hold long doubles or complex numbers."""
    path = write_run(tmp_path)
    with h5py.File(path, "a") as file:
        result = file["entry/analysis/ase_threshold"]
        result.attrs["error"] = np.longdouble(0.25)
        result.attrs["extra"] = np.array([np.longdouble(1.5), np.longdouble(2.5)])
        result.attrs["phase"] = np.complex128(1 + 2j)
    summary = json.loads(json.dumps(read_run(path).summary_json(), allow_nan=False))
    threshold = summary["analysis"]["ase_threshold"]
    assert threshold["error"] == 0.25 and threshold["extra"] == [1.5, 2.5]
    assert threshold["phase"] == "(1+2j)"


def test_writer_records_who_writes(tmp_path):
    with h5py.File(write_run(tmp_path), "r") as file:
        assert file["entry"].attrs["writer_host"] == socket.gethostname()
        assert file["entry"].attrs["writer_pid"] == os.getpid()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def as_if_killed(path: Path, **attrs: object) -> Path:
    """The file as a SIGKILL leaves it: still ``running``, no end time, written by ``attrs``."""
    with h5py.File(path, "r+") as file:
        file["entry"].attrs.update(status="running", error="", end_time="", **attrs)
    return path


def test_running_file_whose_writer_is_gone_reads_as_interrupted(tmp_path):
    path = as_if_killed(write_run(tmp_path), writer_pid=np.int64(dead_pid()))
    record = read_run(path)
    assert (record.status, record.points) == ("interrupted", 3)
    assert "ended without finishing" in record.error and "3 completed points" in record.error
    assert record.summary_json()["status"] == "interrupted"
    assert re.search(r"status +interrupted: the writing process", format_run(record))
    np.testing.assert_array_equal(record.data["fluence"].read(), [1.0, 2.0, 3.0])
    with h5py.File(path, "r") as file:  # reading reports, never repairs
        assert file["entry"].attrs["status"] == "running"


def test_running_file_whose_writer_lives_or_is_elsewhere_stays_running(tmp_path):
    path = as_if_killed(write_run(tmp_path))  # written by this very process
    record = read_run(path)
    assert (record.status, record.error, record.note) == ("running", "", "")
    assert "still running, or the process died" in format_run(record)

    as_if_killed(path, writer_host="other-host.invalid", writer_pid=np.int64(dead_pid()))
    record = read_run(path)
    assert record.status == "running"
    assert "other-host.invalid" in record.note and "cannot check" in record.note
    assert record.summary_json()["note"] == record.note
    assert re.search(rf"note +{re.escape(record.note)}", format_run(record))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_pid_reused_by_a_younger_process_reads_as_interrupted(tmp_path):
    path = as_if_killed(write_run(tmp_path), start_time="2001-01-01T00:00:00.000+00:00")
    assert read_run(path).status == "interrupted"  # this process started long after 2001


def test_count_ahead_of_the_rows_is_trimmed_to_complete_rows(tmp_path):
    path = write_run(tmp_path)
    with h5py.File(path, "r+") as file:
        file["entry"].attrs["points"] = np.int64(4)
        file["entry/data/fluence"].resize((4,))  # one column got a row the others lack
    record = read_run(path)
    assert record.points == 3
    assert {c.shape[0] for c in record.data.values() if c.per_point} == {3}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="isolation needs fork")
def test_a_file_that_crashes_the_hdf5_library_is_a_clear_error_from_inspect(
    tmp_path, monkeypatch, capsys
):
    """Some damaged files crash libhdf5 itself (tests/test_hostile_input.py counts them);
    ``qslab inspect`` reads in a child process, so such a crash is one line, not a dead
    command. The crash is stood in for by a reader that kills itself with SIGSEGV."""
    import faulthandler
    import signal

    from qslab import cli
    from qslab.storage import reader

    path = tmp_path / "run.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))

    def crash(path):
        faulthandler.disable()  # pytest's dump of the child's stack is not what is tested
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(reader, "read_run", crash)
    assert cli.main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert "the HDF5 library crashed reading it" in err and len(err.splitlines()) == 1
