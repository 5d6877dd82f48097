"""Fluence calibration: it finds what the filters really transmit, and later runs use it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_station

from qslab.api import run_procedure
from qslab.errors import ValidationError
from qslab.station import load_station
from qslab.storage.reader import read_run

REAL_GLASS = "nd_od_error = 0.1\n"  # filters off their nominal OD, as ND glass is at 400 nm


def calibrate(station, out, **params):
    result = run_procedure("calibrate", station=station, out=out, seed=1, **params)
    assert result.outcome.status == "completed"
    return result


def deviation(path) -> np.ndarray:
    data = read_run(path).data
    return np.abs(np.log10(data["fluence"].read() / data["fluence_target"].read()))


def test_calibration_with_sample_out_measures_the_full_energy(tmp_path):
    station = write_station(tmp_path / "s.toml", REAL_GLASS)
    result = calibrate(station, tmp_path, sample_in_beam=False)
    full = result.outcome.analysis["full_pulse_energy"]
    truth = result.station.bench.laser.pulse_energy_j * 1e9
    assert full["method"] == "measured at T = 1"
    assert full["value"] == pytest.approx(truth, rel=0.01)
    assert full["error"] < 0.01 * truth


def test_calibration_with_sample_in_stays_below_the_limit_and_extrapolates(tmp_path):
    station = write_station(tmp_path / "s.toml", REAL_GLASS)
    result = calibrate(station, tmp_path)
    record = read_run(result.path)
    limit = result.station.config.limits["max_fluence_uJ_cm2"]
    assert record.data["fluence"].read().max() <= limit
    full = record.analysis["full_pulse_energy"]
    truth = result.station.bench.laser.pulse_energy_j * 1e9
    assert full["method"] == "extrapolated" and "sample_in_beam=false" in full["note"]
    assert abs(full["value"] - truth) < 2 * full["error"]


def test_ase_run_uses_the_calibration_to_hit_its_fluences(tmp_path):
    glass = write_station(tmp_path / "glass.toml", REAL_GLASS)
    cal = calibrate(glass, tmp_path / "cal", sample_in_beam=False)
    calibrated = write_station(
        tmp_path / "calibrated.toml", REAL_GLASS + f'[calibration]\nrun = "{cal.path}"\n'
    )
    params = {"points": 20, "averages": 1}
    with_cal = run_procedure("ase", station=calibrated, out=tmp_path / "a", seed=2, **params)
    without = run_procedure("ase", station=glass, out=tmp_path / "b", seed=2, **params)
    assert deviation(with_cal.path).mean() < 0.04
    assert deviation(without.path).mean() > 0.08
    embedded = read_run(with_cal.path).calibration
    assert embedded["run_uid"] == read_run(cal.path).uid


def test_station_naming_a_wrong_calibration_run_is_refused(tmp_path):
    ase = run_procedure(
        "ase",
        station=write_station(tmp_path / "f.toml"),
        out=tmp_path,
        seed=1,
        points=8,
        averages=1,
    )
    for name, words in (
        (str(ase.path), "not a completed calibrate run"),
        (str(tmp_path / "missing.h5"), "missing.h5"),
    ):
        station = write_station(tmp_path / "bad.toml", f'[calibration]\nrun = "{name}"\n')
        with pytest.raises(ValidationError, match=words) as info:
            load_station(station)
        assert info.value.field == "station.calibration.run"
