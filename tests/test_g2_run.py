"""``qslab run g2`` on the simulated HBT station: QY_XX/QY_X recovered, tags in Photon-HDF5."""

from __future__ import annotations

import pytest

from qslab.api import run_procedure
from qslab.storage.reader import read_run


@pytest.fixture
def g2_station(tmp_path):
    path = tmp_path / "g2.toml"
    path.write_text('base = "sim-g2"\n[bench]\nrealtime = false\n')
    return path


@pytest.mark.filterwarnings("ignore:Photon-HDF5 WARNING")  # optional author fields
def test_g2_series_recovers_the_biexciton_yield_ratio(g2_station, tmp_path):
    result = run_procedure("g2", station=g2_station, out=tmp_path, seed=3)
    assert result.outcome.status == "completed", result.outcome.reason
    ratio = result.outcome.analysis["qy_xx_ratio"]
    truth = result.station.config.sample["qy_xx_ratio"]
    assert abs(ratio["value"] - truth) < 3 * ratio["error"]
    assert ratio["error"] < 0.05
    record = read_run(result.path)
    assert record.points == 3
    g2 = record.data["g2_zero"].read()
    n = record.data["mean_excitation"].read()
    assert n[0] < n[-1] and g2[-1] < g2[0] + 3 * 0.03  # g2(0) reads low as <N> grows

    from phconvert.hdf5 import assert_valid_photon_hdf5, load_photon_hdf5

    photons = result.path.with_name(result.path.stem + ".photons.h5")
    data = load_photon_hdf5(str(photons))
    assert_valid_photon_hdf5(data)
    total = int(record.data["photons_a"].read().sum() + record.data["photons_b"].read().sum())
    assert data.root.photon_data.timestamps.read().size >= total
    data.close()


def test_the_running_g2_is_published_live(g2_station, tmp_path):
    live = []

    def watch(name, doc):
        if name == "progress" and "live" in doc:
            live.append(doc["live"])

    run_procedure(
        "g2", station=g2_station, out=tmp_path, seed=5, fluences=[0.8], subscribers=[watch]
    )
    assert len(live) >= 2
    assert live[-1]["pulse_pairs"].sum() >= live[0]["pulse_pairs"].sum() > 0
    assert live[-1]["histogram"].size == live[-1]["edges_ps"].size - 1
    assert set(live[-1]["count_rates"]) >= {1, 2}


def test_a_gated_series_is_labelled_as_gated(g2_station, tmp_path):
    result = run_procedure(
        "g2", station=g2_station, out=tmp_path, seed=4, gate_ns=5.0, fluences=[0.4, 0.8]
    )
    ratio = result.outcome.analysis["qy_xx_ratio"]
    assert ratio["gate_ns"] == 5.0 and "not QY_XX/QY_X" in ratio["method"]
    assert "auger_lifetime" not in result.outcome.analysis


def test_g2_parameters_are_checked_before_anything_moves(g2_station, tmp_path):
    from qslab.errors import ValidationError

    with pytest.raises(ValidationError, match="parameters.channels"):
        run_procedure("g2", station=g2_station, out=tmp_path, channels=[1, 1])
    with pytest.raises(ValidationError, match="parameters.fluences"):
        run_procedure("g2", station=g2_station, out=tmp_path, fluences=[0.5, 500])
