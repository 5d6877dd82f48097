"""The command line as a user meets it: exit codes, one-line errors, inspect --json."""

from __future__ import annotations

import json

import pytest

from qslab import cli
from qslab.station import Station


@pytest.fixture
def connections(monkeypatch):
    """Every station built during the test, to check what its simulators received."""
    built = []
    original = Station.__post_init__

    def record(self):
        original(self)
        built.append(self)

    monkeypatch.setattr(Station, "__post_init__", record)
    return built


def test_run_prints_threshold_and_inspect_json_has_the_analysis(fast_station, tmp_path, capsys):
    code = cli.main(
        [
            "run",
            "ase",
            "--station",
            str(fast_station),
            "--out",
            str(tmp_path),
            "--seed",
            "4",
            "--set",
            "points=20",
            "--set",
            "fluence_stop=60",
            "--set",
            "averages=1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ase_threshold" in out and "uJ/cm^2" in out
    (path,) = tmp_path.glob("*.h5")
    assert cli.main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("procedure", "status", "points", "parameters", "analysis"):
        assert key in summary
    assert summary["procedure"] == "ase" and summary["status"] == "completed"
    assert summary["points"] == 20
    for name, units in (("ase_threshold", "uJ/cm^2"), ("xx_x_splitting", "meV")):
        entry = summary["analysis"][name]
        assert set(entry) >= {"value", "error", "units"} and entry["units"] == units
    assert cli.main(["inspect", str(path)]) == 0
    assert "ase_threshold" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--set", "fluence_start=-1"], "parameters.fluence_start"),
        (["--set", "fluences=1,2,500"], "parameters.fluences"),
        (["--set", "fluence_stop=151"], "parameters.fluence_stop"),
        (["--set", "colour=blue"], "parameters.colour"),
        (["--set", "points=many"], "parameters.points"),
        (["--set", "points"], "--set"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_touches_nothing(
    fast_station, tmp_path, capsys, connections, args, field
):
    code = cli.main(["run", "ase", "--station", str(fast_station), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and field in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.h5"))
    for station in connections:
        assert not station.devices
        assert all(
            not sim.received for sim in station.simulators.values() if hasattr(sim, "received")
        )


def test_malformed_station_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[laser]\ndriver = \n")
    code = cli.main(["run", "ase", "--station", str(bad), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "bad.toml" in err and err.count("\n") == 1


def test_unknown_procedure_and_listing_commands(capsys):
    assert cli.main(["run", "nonsense"]) == 2
    assert "unknown procedure" in capsys.readouterr().err
    assert cli.main(["procedures", "ase"]) == 0
    assert "fluence_stop [uJ/cm^2]" in capsys.readouterr().out
    assert cli.main(["stations"]) == 0
    assert "sim" in capsys.readouterr().out
    assert cli.main(["drivers"]) == 0
    listing = capsys.readouterr().out
    for name in (
        "thorlabs.fw102c",
        "thorlabs.pm100",
        "coherent.chameleon",
        "oceaninsight.seabreeze",
    ):
        assert name in listing


def test_inspect_of_a_non_run_file_is_one_clear_error(tmp_path, capsys):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert cli.main(["inspect", str(junk)]) == 1
    err = capsys.readouterr().err
    assert "junk.h5" in err and err.count("\n") == 1


def test_check_opens_every_role_and_leaves_it_safe(capsys):
    assert cli.main(["check", "--station", "sim"]) == 0
    out = capsys.readouterr().out
    for role in ("laser", "attenuator", "energy_meter", "spectrometer"):
        assert f"{role}" in out
    assert "FAILED" not in out and "Coherent Chameleon" in out


def test_check_names_the_role_that_cannot_be_reached(tmp_path, capsys):
    station = tmp_path / "broken.toml"
    station.write_text(
        'base = "sim"\n[energy_meter]\ndriver = "thorlabs.pm100"\n'
        'resource = "ASRL/dev/ttyQSLAB404::INSTR"\n'
    )
    assert cli.main(["check", "--station", str(station)]) == 1
    out = capsys.readouterr().out
    assert "energy_meter  FAILED" in out and "ttyQSLAB404" in out
    assert "spectrometer  ok" in out
