"""The ASE series end to end on the simulated bench: physics recovered, data kept, laser safe."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_station

from qslab.api import run_procedure
from qslab.storage.reader import read_run

FAST = {"points": 24, "fluence_start": 1.0, "fluence_stop": 60.0, "averages": 1}


def run(station_file, out, seed, subscribers=(), **params):
    return run_procedure(
        "ase",
        station=station_file,
        out=out,
        seed=seed,
        subscribers=subscribers,
        **{**FAST, **params},
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fitted_threshold_within_ten_percent_of_the_bench_truth(fast_station, tmp_path, seed):
    result = run(fast_station, tmp_path, seed)
    assert result.outcome.status == "completed"
    truth = result.station.bench.true_ase_threshold()
    fitted = result.outcome.analysis["ase_threshold"]
    assert fitted["method"] == "rate_equation"
    assert abs(fitted["value"] - truth) < 0.10 * truth
    assert 0 < fitted["error"] < 0.2 * truth


def test_default_sample_reproduces_the_review(fast_station, tmp_path):
    """5.3 uJ/cm^2 ASE threshold and 63 meV XX-X splitting (PHYSICS.md section 2)."""
    result = run(fast_station, tmp_path, seed=7)
    analysis = result.outcome.analysis
    assert analysis["ase_threshold"]["value"] == pytest.approx(5.3, rel=0.10)
    assert analysis["xx_x_splitting"]["value"] == pytest.approx(63.0, abs=2.0)
    assert analysis["x_peak"]["value"] == pytest.approx(670.0, abs=0.5)
    assert analysis["ase_linewidth"]["value"] < 10.0


def test_halving_the_cross_section_doubles_the_threshold(tmp_path):
    default = write_station(tmp_path / "a.toml")
    halved = write_station(tmp_path / "b.toml", "[sample]\ncross_section_cm2 = 0.65e-13\n")
    t1 = run(default, tmp_path, seed=3).outcome.analysis["ase_threshold"]["value"]
    t2 = run(halved, tmp_path, seed=3, fluence_start=2.0, fluence_stop=120.0)
    ratio = t2.outcome.analysis["ase_threshold"]["value"] / t1
    assert ratio == pytest.approx(2.0, rel=0.10)


def test_file_holds_every_point_with_units_and_the_analysis(fast_station, tmp_path):
    result = run(fast_station, tmp_path, seed=11)
    record = read_run(result.path)
    assert record.status == "completed"
    assert record.points == FAST["points"]
    summary = record.summary_json()
    assert summary["analysis"]["ase_threshold"]["units"] == "uJ/cm^2"
    assert summary["analysis"]["xx_x_splitting"]["units"] == "meV"
    assert summary["parameters"]["fluence_stop"]["value"] == 60.0


def test_measured_fluence_follows_the_targets(fast_station, tmp_path):
    result = run(fast_station, tmp_path, seed=5)
    record = read_run(result.path)
    target = record.data["fluence_target"].read()
    measured = record.data["fluence"].read()
    # two stacked ND wheels set the transmission in 0.1-OD steps: within a factor 10**0.05
    assert np.all(np.abs(np.log10(measured / target)) < 0.07)
    assert np.all(np.diff(target) > 0)


def test_saturated_spectra_are_retaken_shorter_and_marked(fast_station, tmp_path):
    result = run(fast_station, tmp_path, seed=2, exposure_s=0.5, fluence_stop=100.0, points=12)
    data = read_run(result.path).data
    retaken = data["retaken"].read().astype(bool)
    assert retaken.any(), "the brightest points should have saturated at 0.5 s"
    assert not data["saturated"].read().astype(bool).any()
    assert np.all(data["peak_counts"].read() < 0.9 * 65535)
    assert data["exposure"].read()[retaken].max() < 0.5


class AbortAfter:
    """A subscriber that aborts the run once ``n`` points are in."""

    wants_engine = True

    def __init__(self, n: int):
        self.n = n

    def __call__(self, engine):
        def subscriber(name, doc):
            if name == "event" and doc["seq_num"] == self.n:
                engine.abort("test abort")

        return subscriber


def assert_station_safe(station):
    bench = station.bench
    assert bench.laser.shutter_open is False
    laser_sim = station.simulators["laser"]
    assert laser_sim.received[-1].strip().upper() in {"S=0", "SHUTTER=0"}
    # attenuator at its highest density: the least light the wheels can pass
    assert bench.transmission == pytest.approx(10 ** -(0.5 + 3.0))


def test_abort_keeps_completed_points_and_closes_the_shutter(fast_station, tmp_path):
    result = run(fast_station, tmp_path, seed=1, subscribers=[AbortAfter(5)])
    assert result.outcome.status == "aborted"
    record = read_run(result.path)
    assert record.status == "aborted"
    assert record.points == 5
    assert "test abort" in record.error
    assert_station_safe(result.station)


def test_device_fault_mid_scan_fails_the_run_safely(fast_station, tmp_path):
    from qslab.station import open_station

    station = open_station(fast_station, seed=1)
    spectrometer_sim = station.simulators["spectrometer"]
    original = spectrometer_sim.intensities
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 8:
            raise OSError("USB device disconnected")
        return original(*args, **kwargs)

    spectrometer_sim.intensities = failing
    result = run(station, tmp_path, seed=None)
    assert result.outcome.status == "failed"
    record = read_run(result.path)
    assert record.status == "failed"
    assert "disconnected" in record.error
    assert 1 <= record.points < FAST["points"]
    assert_station_safe(station)


def test_too_short_a_scan_says_what_it_could_not_determine(fast_station, tmp_path):
    result = run(fast_station, tmp_path, seed=3, points=3)
    assert result.outcome.status == "completed"
    summary = read_run(result.path).summary_json()["analysis"]
    assert summary["ase_threshold_rate_equation"]["value"] is None
    assert "points" in summary["ase_threshold_rate_equation"]["note"]
    assert "ase_threshold" not in summary
    # the exciton line comes from a spontaneous spectrum, never from the narrow ASE line
    assert summary["x_peak"]["value"] == pytest.approx(670.0, abs=1.0)


def test_a_station_of_other_drivers_finds_the_same_threshold(tmp_path):
    """sim-alt: Mai Tai, SC10, ELL14 wave plate, Ophir, Andor; the same film and beam."""
    alt = write_station(tmp_path / "alt.toml").read_text().replace('"sim"', '"sim-alt"', 1)
    (tmp_path / "alt.toml").write_text(alt)
    results = [
        run(station, tmp_path, seed=6).outcome.analysis["ase_threshold"]
        for station in (write_station(tmp_path / "sim.toml"), tmp_path / "alt.toml")
    ]
    difference = abs(results[0]["value"] - results[1]["value"])
    assert difference < 3 * np.hypot(results[0]["error"], results[1]["error"])
