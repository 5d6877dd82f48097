"""The lasing scan end to end on the three cavity presets (issue 5, "Done when"): the bench's
threshold and beta recovered, the review's numbers reproduced, the scan spares the sample, the
dose limit stops it, and a device series follows the period."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from qslab import cli
from qslab.api import run_procedure
from qslab.errors import ValidationError
from qslab.storage.reader import read_run

PRESETS = ("sim-pc", "sim-pcsel", "sim-vcsel")
SEEDS = (1, 2)
FAST = {"bootstrap": 10}
REVIEW = {"sim-pc": 4.0, "sim-pcsel": 66.9, "sim-vcsel": 1.1}  # PHYSICS.md section 2


def fast(tmp_path, preset: str, extra: str = ""):
    path = tmp_path / f"{preset}.toml"
    path.write_text(f'base = "{preset}"\n[bench]\nrealtime = false\n{extra}')
    return path


def scan(tmp_path, preset: str, seed: int, extra: str = "", **params):
    return run_procedure(
        "lasing",
        station=fast(tmp_path, preset, extra),
        out=tmp_path,
        seed=seed,
        **{**FAST, **params},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One scan per preset and seed, with default scan parameters."""
    out = {}
    for preset in PRESETS:
        for seed in SEEDS:
            out[preset, seed] = scan(tmp_path_factory.mktemp(preset), preset, seed)
    return out


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("seed", SEEDS)
def test_threshold_and_beta_recover_the_bench(runs, preset, seed):
    result = runs[preset, seed]
    assert result.outcome.status == "completed"
    analysis = result.outcome.analysis
    truth = result.station.bench.lasing_truth()
    assert analysis["lasing_threshold"]["units"] == truth.units
    assert analysis["lasing_threshold"]["value"] == pytest.approx(truth.threshold, rel=0.10)
    assert 0.5 < analysis["beta"]["value"] / truth.beta < 2.0
    assert analysis["linewidth_narrowing"]["value"] > 1.5  # the line narrows above threshold
    assert analysis["lasing_wavelength"]["value"] == pytest.approx(truth.wavelength_nm, abs=0.2)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_reproduce_the_review(runs, preset):
    """4 uJ/cm^2, 66.9 kW/cm^2, 1.1 mJ/cm^2 and the vertical cavity's 0.3-nm line."""
    analysis = runs[preset, SEEDS[0]].outcome.analysis
    assert analysis["lasing_threshold"]["value"] == pytest.approx(REVIEW[preset], rel=0.15)
    assert analysis["lasing_threshold_N"]["value"] > 1.0  # <N> always given too
    if preset == "sim-vcsel":
        assert analysis["linewidth_nm"]["value"] == pytest.approx(0.3, rel=0.15)
        assert analysis["n_modes"]["value"] >= 2  # multimode above threshold


@pytest.mark.parametrize("preset", PRESETS)
def test_ns_runs_fit_the_pulse_integrated_model_and_recover_the_physical_threshold(runs, preset):
    result = runs[preset, SEEDS[0]]
    threshold = result.outcome.analysis["lasing_threshold"]
    truth = result.station.bench.lasing_truth()
    pulsed = truth.regime == "ns"
    assert threshold["method"] == ("rate_equation_pulsed" if pulsed else "rate_equation")
    if pulsed:  # the physical threshold, not a steady-state equivalent about 9 % above it
        assert threshold["value"] == pytest.approx(truth.threshold, rel=0.03)


def test_units_follow_the_regime_in_the_file(runs, capsys):
    result = runs["sim-pcsel", SEEDS[0]]
    assert cli.main(["inspect", str(result.path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parameters"]["pump_start"]["units"] == "kW/cm^2"
    assert summary["analysis"]["lasing_threshold"]["units"] == "kW/cm^2"
    assert summary["analysis"]["lasing_threshold_fluence"]["units"] == "uJ/cm^2"
    assert summary["data"]["peak_intensity"]["units"] == "kW/cm^2"
    assert summary["data"]["modes_linewidth"]["shape"][-1] == 3  # the brightest lines
    assert summary["plot"]["signal"] == "mode_intensity"
    vcsel = read_run(runs["sim-vcsel", SEEDS[0]].path)
    assert vcsel.data["pump"].units == "mJ/cm^2"
    assert "peak_intensity" not in vcsel.data


def test_scan_stops_points_above_threshold_and_below_the_limit(runs, tmp_path):
    result = runs["sim-pc", SEEDS[0]]
    record = read_run(result.path)
    pump = record.data["pump_target"].read()
    threshold = result.outcome.analysis["lasing_threshold"]["value"]
    limit = result.station.config.limits["max_fluence_uJ_cm2"]
    assert record.data["fluence"].read().max() < 0.2 * limit  # stopped long before the limit
    assert 4 <= np.sum(pump > threshold) <= 4 + 2  # points_above coarse (+ refined) points
    fewer = scan(tmp_path, "sim-pc", SEEDS[0], points_above=2, refine_points=0)
    taken = read_run(fewer.path).data["pump"].read()
    assert fewer.outcome.num_events < record.points
    assert taken.max() < pump.max()


def test_refinement_adds_points_around_the_bend(runs):
    result = runs["sim-pcsel", SEEDS[0]]
    pump = read_run(result.path).data["pump_target"].read()
    threshold = result.outcome.analysis["lasing_threshold"]["value"]
    added = pump[pump < np.maximum.accumulate(pump)]  # taken after a higher coarse point
    assert added.size >= 1
    # within a coarse step (1.47) of the threshold, on the attenuator's 0.1-OD levels
    assert np.all(np.abs(np.log(added / threshold)) < np.log(1.8))


def test_the_running_threshold_is_published_for_live_plots(tmp_path):
    live = []

    def collect(name, doc):
        if name == "progress" and "running_threshold" in doc.get("live", {}):
            live.append(doc["live"]["running_threshold"])

    result = scan(tmp_path, "sim-vcsel", SEEDS[0], subscribers=[collect])
    final = result.outcome.analysis["lasing_threshold"]
    assert live and all(r["units"] == final["units"] for r in live)
    assert live[-1]["value"] == pytest.approx(final["value"], rel=0.15)


def test_dose_limit_stops_the_scan_before_it_is_exceeded(tmp_path):
    limit = 0.004
    result = scan(
        tmp_path, "sim-pc", 1, f"[limits]\nmax_fluence_uJ_cm2 = 150.0\nmax_dose_J_cm2 = {limit}\n"
    )
    assert result.outcome.status == "stopped"
    record = read_run(result.path)
    assert record.status == "stopped"
    assert "dose limit" in record.error and "max_dose_J_cm2" in record.error
    assert record.points > 0
    assert record.data["dose"].read().max() <= limit


def test_device_series_follows_the_period(tmp_path, capsys):
    station = fast(tmp_path, "sim-pc")
    recipe = tmp_path / "series.toml"
    recipe.write_text(
        f'station = "{station.name}"\nout = "runs"\nseed = 4\n[[run]]\nprocedure = "lasing"\n'
        "bootstrap = 5\n[run.loop]\ncavity_period_nm = [345.0, 356.0, 365.0]\n"
    )
    assert cli.main(["run", str(recipe)]) == 0
    files = sorted(str(p) for p in (tmp_path / "runs").glob("*_lasing_*.h5"))
    summary = tmp_path / "summary.h5"
    capsys.readouterr()
    assert cli.main(["series", *files, "--out", str(summary)]) == 0
    printed = capsys.readouterr().out
    assert "345.0" in printed and "365.0" in printed
    with h5py.File(summary) as f:
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "data"
        data = f["entry/data"]
        assert data.attrs["signal"] == "lasing_threshold"
        period = data["cavity_period"][()]
        wavelength = data["lasing_wavelength"][()]
        assert data["lasing_threshold"].attrs["units"] == "uJ/cm^2"
        assert np.all(data["lasing_threshold_errors"][()] > 0)
        assert f["entry/wavelength"].attrs["signal"] == "lasing_wavelength"
    np.testing.assert_allclose(period, [345.0, 356.0, 365.0])
    np.testing.assert_allclose(wavelength, 1.753 * period, atol=0.5)  # lambda = n_eff * period


def test_series_refuses_runs_without_a_period(runs, capsys):
    assert cli.main(["series", str(runs["sim-pc", SEEDS[0]].path)]) == 2
    assert "cavity_period_nm" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"regime": "cw"}, "parameters.regime"),
        ({"points_above": 0}, "parameters.points_above"),
        ({"pump_start": 5.0, "pump_stop": 2.0}, "parameters.pump_stop"),
        ({"pump_profile": "tophat"}, "parameters.pump_profile"),
        ({"colour": 1}, "parameters.colour"),
    ],
)
def test_bad_parameters_name_their_field(tmp_path, params, field):
    with pytest.raises(ValidationError) as info:
        run_procedure("lasing", station=fast(tmp_path, "sim-pc"), out=tmp_path, **params)
    assert field in str(info.value)


def test_a_period_for_a_cavity_without_one_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="parameters.cavity_period_nm"):
        run_procedure(
            "lasing", station=fast(tmp_path, "sim-vcsel"), out=tmp_path, cavity_period_nm=350
        )


@pytest.mark.parametrize(
    ("preset", "pump_stop", "units"),
    [("sim-pc", 500.0, "uJ/cm^2"), ("sim-pcsel", 5000.0, "kW/cm^2"), ("sim-vcsel", 50.0, "mJ")],
)
def test_a_pump_above_the_station_limit_is_refused_before_anything_moves(
    tmp_path, capsys, preset, pump_stop, units
):
    """The regime (and so the pump's units) follows from the laser driver's options, so the
    limit is checked with the rest of the input: exit 2, no file, no instrument touched."""
    station = tmp_path / "s.toml"
    station.write_text(f'base = "{preset}"\n[bench]\nrealtime = false\n')
    args = ["run", "lasing", "--station", str(station), "--out", str(tmp_path / "runs")]
    assert cli.main([*args, "--set", f"pump_stop={pump_stop}"]) == 2
    err = capsys.readouterr().err
    assert "parameters.pump_stop" in err and "max_fluence_uJ_cm2" in err
    assert not (tmp_path / "runs").exists()


def test_the_spectrometer_resolution_comes_from_the_station(tmp_path):
    """A real station states its spectrometer's resolution as a driver option; a simulated
    one falls back on its bench's; the parameter overrides both."""
    from qslab.procedures.lasing import LasingScan
    from qslab.station import open_station

    declared = tmp_path / "declared.toml"
    declared.write_text(
        'base = "sim-vcsel"\n[spectrometer]\ndriver = "andor.shamrock"\nresource = "sim"\n'
        "resolution_nm = 0.07\n"
    )
    station = open_station(declared)
    assert LasingScan(station, {}).resolution_nm() == pytest.approx(0.07)
    bench_only = open_station("sim-vcsel")
    assert LasingScan(bench_only, {}).resolution_nm() == bench_only.config.bench["resolution_nm"]
    assert LasingScan(bench_only, {"resolution_nm": 0.2}).resolution_nm() == 0.2
