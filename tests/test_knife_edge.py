"""Spot size by knife edge: the bench's true spot recovered, and runs that use it get the
fluence right where the declared spot would have put it 54 % off."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_station
from scipy.special import erfc

from qslab.analysis.knife_edge import WIDTH_10_90_PER_RADIUS, fit_knife_edge
from qslab.api import run_procedure
from qslab.errors import ValidationError
from qslab.station import load_station, open_station

TRUE_UM, DECLARED_UM = 62.0, 50.0
STAGE = '[stage]\ndriver = "newport.esp301"\nresource = "sim"\n'
BLADE = f"true_spot_size_um = {TRUE_UM}\nknife_edge_mm = [0.0, 0.0]\n"
ASE = {"points": 24, "fluence_start": 1.0, "fluence_stop": 60.0, "averages": 1}


def blade_station(tmp_path, blade: str = BLADE):
    return write_station(tmp_path / "blade.toml", blade + STAGE)


def scan(tmp_path, seed: int, **params):
    return run_procedure(
        "knife_edge", station=blade_station(tmp_path), out=tmp_path / "runs", seed=seed, **params
    )


@pytest.fixture(scope="module")
def spot_file(tmp_path_factory):
    return scan(tmp_path_factory.mktemp("knife"), seed=1).path


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_the_scan_recovers_the_true_spot_not_the_declared_one(tmp_path, seed):
    result = scan(tmp_path, seed)
    assert result.outcome.status == "completed"
    analysis = result.outcome.analysis
    radius = analysis["spot_radius_1e2_um"]
    assert result.station.bench.true_spot_radius_um() == pytest.approx(TRUE_UM)
    assert radius["value"] == pytest.approx(TRUE_UM, rel=0.05)
    assert abs(radius["value"] - TRUE_UM) < 3 * radius["error"] + 1e-9
    assert analysis["spot_size_um"]["value"] == radius["value"]  # 1/e2_radius station
    assert analysis["edge_centre_mm"]["value"] == pytest.approx(0.0, abs=0.003)
    width = analysis["width_10_90_um"]  # the cross-check agrees within its own error
    assert abs(width["value"] - WIDTH_10_90_PER_RADIUS * TRUE_UM) < 3 * width["error"]


def test_a_y_blade_and_a_diameter_station(tmp_path):
    station = write_station(
        tmp_path / "y.toml",
        'true_spot_size_um = 124.0\nknife_edge_mm = [1.0, 2.0]\nknife_edge_axis = "y"\n'
        + STAGE
        + '[beam]\nspot_size_um = 100.0\nspot_definition = "1/e2_diameter"\n',
    )
    result = run_procedure(
        "knife_edge",
        station=station,
        out=tmp_path,
        seed=5,
        axis="y",
        edge_start_mm=1.8,
        edge_stop_mm=2.2,
    )
    analysis = result.outcome.analysis
    assert analysis["spot_radius_1e2_um"]["value"] == pytest.approx(TRUE_UM, rel=0.05)
    assert analysis["spot_size_um"]["value"] == pytest.approx(124.0, rel=0.05)
    assert analysis["edge_centre_mm"]["value"] == pytest.approx(2.0, abs=0.003)


def test_a_range_that_misses_the_edge_says_to_widen_it(tmp_path):
    result = scan(tmp_path, seed=1, edge_start_mm=-0.5, edge_stop_mm=-0.3)
    assert result.outcome.status == "failed"
    assert "does not cover the edge" in result.outcome.reason
    assert "widen edge_start_mm..edge_stop_mm" in result.outcome.reason


def test_a_range_outside_the_travel_is_refused_before_anything_moves(tmp_path):
    station = open_station(blade_station(tmp_path))
    with pytest.raises(ValidationError) as info:
        run_procedure("knife_edge", station=station, out=tmp_path, edge_stop_mm=13.0)
    assert info.value.field == "parameters.edge_stop_mm"
    assert "travel" in info.value.message
    assert station.bench.sample_position_mm == (0.0, 0.0)
    assert not list(tmp_path.glob("*.h5"))


def test_a_station_needs_a_stage_for_it(tmp_path):
    with pytest.raises(ValidationError) as info:
        run_procedure("knife_edge", station=write_station(tmp_path / "s.toml"), out=tmp_path)
    assert info.value.field == "station.stage"


def test_runs_on_the_measured_spot_get_the_true_fluence(tmp_path, spot_file):
    measured = write_station(
        tmp_path / "measured.toml",
        f'true_spot_size_um = {TRUE_UM}\n[beam]\nspot_run = "{spot_file}"\n',
    )
    declared = write_station(tmp_path / "declared.toml", f"true_spot_size_um = {TRUE_UM}\n")
    config = load_station(measured)
    assert config.beam["spot_size_um"] == pytest.approx(TRUE_UM, rel=0.05)
    assert config.beam["spot_run"] == str(spot_file)
    good = run_procedure("ase", station=measured, out=tmp_path, seed=3, **ASE)
    bad = run_procedure("ase", station=declared, out=tmp_path, seed=3, **ASE)
    truth = good.station.bench.true_ase_threshold()
    assert good.outcome.analysis["ase_threshold"]["value"] == pytest.approx(truth, rel=0.10)
    assert bad.outcome.analysis["ase_threshold"]["value"] > 1.3 * truth  # (62/50)^2 = 1.54
    beam = good.station.describe()["beam"]["settings"]
    assert beam["spot_run_uid"] and beam["spot_size_err_um"] > 0


def test_a_spot_run_that_is_not_a_knife_edge_run_is_refused(tmp_path):
    other = run_procedure(
        "calibrate", station=write_station(tmp_path / "c.toml"), out=tmp_path, points=4, seed=1
    )
    station = write_station(tmp_path / "bad.toml", f'[beam]\nspot_run = "{other.path}"\n')
    with pytest.raises(ValidationError, match="not a completed knife_edge run") as info:
        load_station(station)
    assert info.value.field == "station.beam.spot_run"


# -- the fit alone ----------------------------------------------------------------------------
def synthetic(x, radius_mm, centre_mm=0.01, full=10.0, background=0.3, seed=0):
    rng = np.random.default_rng(seed)
    energy = background + 0.5 * full * erfc(np.sqrt(2) * (x - centre_mm) / radius_mm)
    error = 0.02 * energy / np.sqrt(20) + 0.01
    return energy + rng.normal(0.0, error), error


@pytest.mark.parametrize("direction", [1, -1])
def test_the_fit_recovers_radius_centre_and_background_either_way(direction):
    x = np.linspace(-0.2, 0.2, 31)
    energy, error = synthetic(x, direction * 0.062)
    fit = fit_knife_edge(x, energy, error)
    assert fit.radius_um == pytest.approx(62.0, abs=3 * fit.radius_err_um)
    assert fit.centre_mm == pytest.approx(0.01, abs=3 * fit.centre_err_mm)
    assert fit.background == pytest.approx(0.3, abs=0.05)
    assert 0.3 < fit.reduced_chi2 < 2.0
    assert abs(fit.width_10_90_um - WIDTH_10_90_PER_RADIUS * 62.0) < 3 * fit.width_10_90_err_um


def test_the_10_90_width_of_a_noise_free_gaussian_edge_is_exact_at_coarse_steps():
    x = np.linspace(-0.2, 0.2, 21)  # steps of a third of the radius
    energy = 100.0 * 0.5 * erfc(np.sqrt(2) * (x - 0.003) / 0.062)
    fit = fit_knife_edge(x, energy, np.full_like(x, 0.01))
    assert fit.width_10_90_um == pytest.approx(WIDTH_10_90_PER_RADIUS * 62.0, rel=1e-3)


@pytest.mark.parametrize(
    ("start", "stop", "words"),
    [(-0.5, -0.3, "hardly changes"), (-0.2, 0.0, "covers transmissions"), (0.3, 0.5, "hardly")],
)
def test_the_fit_refuses_a_scan_that_misses_part_of_the_edge(start, stop, words):
    x = np.linspace(start, stop, 20)
    energy, error = synthetic(x, 0.062, centre_mm=0.0)
    with pytest.raises(ValueError, match=words) as info:
        fit_knife_edge(x, energy, error)
    assert "widen edge_start_mm..edge_stop_mm" in str(info.value)
