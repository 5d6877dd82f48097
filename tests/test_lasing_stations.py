"""The three lasing presets reproduce the review's numbers and validate like every station."""

from __future__ import annotations

import pytest

from qslab.errors import ValidationError
from qslab.station import load_station, open_station

REVIEW = {
    # station: (threshold, units, regime, line nm)
    "sim-pc": (4.0, "uJ/cm^2", "fs", 640.0),
    "sim-pcsel": (66.9, "kW/cm^2", "ns", 660.0),
    "sim-vcsel": (1.1, "mJ/cm^2", "two_photon", 688.8),
}


@pytest.mark.parametrize("name", sorted(REVIEW))
def test_preset_truth_is_the_review_number(name):
    threshold, units, regime, line = REVIEW[name]
    bench = open_station(name, seed=1).bench
    value, got_units = bench.true_lasing_threshold()
    assert got_units == units
    assert value == pytest.approx(threshold, rel=0.02)
    truth = bench.lasing_truth()
    assert truth.regime == regime
    assert truth.wavelength_nm == pytest.approx(line, abs=0.5)
    assert 0 < bench.cavity.beta < 1
    assert truth.peak_N > 1.0


def test_vcsel_preset_line_is_0p3_nm_wide_and_resolved():
    bench = open_station("sim-vcsel").bench
    assert bench.lasing_truth().linewidth_nm == pytest.approx(0.3)
    assert bench.detector.resolution_nm <= 0.1


@pytest.mark.parametrize("name", sorted(REVIEW))
def test_preset_checks_clean(name):
    station = open_station(name, seed=1)
    station.bench.realtime = False  # no waiting for the grating turret
    assert [c.error for c in station.check()] == [""] * len(station.config.roles)


@pytest.mark.parametrize("name", sorted(REVIEW))
def test_preset_records_its_truth(name):
    settings = open_station(name).describe()["bench"]["settings"]
    assert settings["true_lasing_threshold"]["units"] == REVIEW[name][1]
    assert settings["true_beta"]["value"] > 0


@pytest.mark.parametrize("name", ["sim", "sim-alt", "sim-g2"])
def test_bare_film_stations_have_no_cavity(name):
    station = open_station(name, seed=1)
    assert station.bench.cavity is None
    assert station.bench.detector.resolution_nm == 0.0
    assert "true_lasing_threshold" not in station.describe()["bench"]["settings"]


def test_period_key_tunes_the_photonic_crystal_line(tmp_path):
    path = tmp_path / "pc.toml"
    path.write_text(
        'base = "sim-pc"\n[bench]\ncavity = "nanopillar_pc"\ncavity_period_nm = 335.0\n'
    )
    bench = open_station(path).bench
    assert bench.lasing_truth().wavelength_nm == pytest.approx(1.753 * 335.0)


@pytest.mark.parametrize(
    "bench_table, field",
    [
        ('cavity = "pcsel"\ncavity_length_um = 3.0', "station.bench.cavity_length_um"),
        ("cavity_period_nm = 350.0", "station.bench.cavity_period_nm"),
        ('cavity = "ring"', "station.bench.cavity"),
        ('cavity = "pcsel"\ncavity_beta = 2.0', "station.bench.cavity_beta"),
        ('cavity = "pcsel"\ncavity_grating_order = 1.5', "station.bench.cavity_grating_order"),
        ("resolution_nm = -0.1", "station.bench.resolution_nm"),
        ("colour = 1", "station.bench.colour"),
        ('cavity = "pcsel"\ncavity_period_nm = 1.0', "station.bench.cavity_period_nm"),
        ('cavity = "vertical"\ncavity_length_um = 0.01', "station.bench.cavity_length_um"),
    ],
)
def test_bad_bench_keys_name_the_field(tmp_path, bench_table, field):
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "sim"\n[bench]\n{bench_table}\n')
    with pytest.raises(ValidationError) as info:
        load_station(path)
    assert field in str(info.value)
