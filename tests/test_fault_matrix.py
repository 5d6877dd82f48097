"""Every procedure against every scripted fault, through the command line.

Faults are scripted in the station file (``[[faults]]``, qslab/sim/faults.py) at the third
point, with no suspenders configured, so each must end the way an unattended run needs: an
instrument fault fails the run with the instrument named (exit 1, the file says why, the two
completed points kept, the beam off the sample); a lost pump fails it the same way rather than
storing points at zero fluence; a drifting pump or a saturating spectrometer leaves a complete
run whose points say what really happened (measured fluence, saturation flag), and so does a
sample drifting out of focus (the emission drops, the pump measured before the sample does not).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import watch_moves

from qslab import cli
from qslab.procedures import PROCEDURES
from qslab.sim.faults import BEAM_FAULTS, DEVICE_FAULTS
from qslab.station import open_station
from qslab.storage.reader import read_run

INSTRUMENT = {
    "laser": "Chameleon",
    "attenuator": "FW102C",
    "energy_meter": "PM100",
    "spectrometer": "FLAME",
    "tcspc": "HydraHarp",
    "stage": "ESP301",
}
STATION = {
    "calibrate": "sim",
    "ase": "sim",
    "g2": "sim-g2",
    "lasing": "sim-pc",
    "knife_edge": "sim",
}
STAGE = '[stage]\ndriver = "newport.esp301"\nresource = "sim"\n'
EXTRA = {"knife_edge": "knife_edge_mm = [0.0, 0.0]\n" + STAGE}
"""[bench] keys, then tables, that a procedure's station adds to its base."""
PARAMETERS = {
    "calibrate": ["points=6", "energy_samples=3"],
    "ase": ["points=6", "averages=1", "energy_samples=3"],
    "g2": ["fluences=0.2,0.4,0.8", "acquisition_s=1", "dark_s=0.1", "energy_samples=3"],
    "lasing": ["exposure_s=0.1", "energy_samples=3", "bootstrap=5"],
    "knife_edge": ["points=12", "energy_samples=3"],
}
CASES = [
    (procedure, role, fault)
    for procedure, cls in PROCEDURES.items()
    if procedure in STATION
    for role in cls.roles
    for fault in DEVICE_FAULTS
] + [(procedure, "bench", fault) for procedure in STATION for fault in BEAM_FAULTS]


@pytest.fixture
def benches(monkeypatch) -> list:
    """The virtual bench of every station the command line opens, each of its sample moves
    noting whether the pump was on the sample then (``bench.moves_in_light``)."""
    from qslab import api

    opened = []

    def open_and_watch(*args, **kwargs):
        station = open_station(*args, **kwargs)
        station.bench.moves_in_light = watch_moves(station.bench)
        opened.append(station.bench)
        return station

    monkeypatch.setattr(api, "open_station", open_and_watch)
    return opened


def _beam_off_the_sample(bench, record) -> None:
    """After the run the pump is off the sample, or the file says the safe state is incomplete
    (an unplugged laser cannot close its own shutter), and no stage move happened in light."""
    assert not bench.light_on_sample or "safe state incomplete" in record.error
    assert not any(bench.moves_in_light)


def _run(tmp_path, procedure: str, role: str, fault: str):
    station = tmp_path / "station.toml"
    role_line = "" if role == "bench" else f'role = "{role}"\n'
    station.write_text(
        f'base = "{STATION[procedure]}"\n[bench]\nrealtime = false\n{EXTRA.get(procedure, "")}'
        f'[[faults]]\n{role_line}fault = "{fault}"\npoint = 3\n'
    )
    args = ["run", procedure, "--station", str(station), "--out", str(tmp_path), "--seed", "5"]
    for assignment in PARAMETERS[procedure]:
        args += ["--set", assignment]
    code = cli.main(args)
    (path,) = (p for p in tmp_path.glob("*.h5") if not p.name.endswith(".photons.h5"))
    return code, read_run(path)


def test_the_matrix_covers_every_procedure_and_fault():
    assert {p for p, _, _ in CASES} == set(PROCEDURES)
    assert {f for _, _, f in CASES} == set(DEVICE_FAULTS + BEAM_FAULTS)


@pytest.mark.parametrize(("procedure", "role", "fault"), CASES)
def test_every_procedure_survives_every_fault(tmp_path, capsys, benches, procedure, role, fault):
    code, record = _run(tmp_path, procedure, role, fault)
    out = capsys.readouterr().out
    _beam_off_the_sample(benches[-1], record)
    if fault in DEVICE_FAULTS or fault == "interlock":
        assert code == 1, out
        assert record.status == "failed"
        assert record.points == 2  # the completed points are kept
        words = "energy meter reads" if fault == "interlock" else INSTRUMENT[role]
        assert words in record.error and words in out
        if fault == "unplugged" and role in ("laser", "attenuator"):
            assert "safe state incomplete" in record.error  # and says what it could not reach
        return
    assert code == 0, out
    assert record.status == "completed"
    points = record.points
    assert points >= 5 if procedure != "g2" else points == 3
    np.testing.assert_array_equal(record.data["point"].read(), np.arange(points))
    # the fluence stored is the one measured, not the one asked for (a knife edge has none)
    if fault == "drift" and procedure != "knife_edge":
        fluence = record.data["fluence"].read()
        target = (
            record.data["fluence_target"].read()
            if "fluence_target" in record.data
            else np.asarray(record.parameters.get("fluences", {"value": fluence})["value"])
        )
        if procedure != "calibrate":
            assert np.all(fluence[2:] < 0.7 * np.asarray(target)[2:])
    if fault == "saturate" and procedure == "ase":
        assert record.data["saturated"].read().tolist() == [False, False] + [True] * (points - 2)


@pytest.mark.parametrize("fault", DEVICE_FAULTS)
def test_a_stage_fault_as_the_run_moves_to_a_fresh_spot(tmp_path, capsys, benches, fault):
    """The stage is used between points, so its fault strikes as the run leaves a bleached
    spot. A glitch hits the stop sent while the beam is blocked, whose second try goes through:
    the run moves on and completes. A stage gone for good fails the run, naming it, with every
    point before the move kept and the beam off the sample."""
    station = tmp_path / "station.toml"
    station.write_text(
        'base = "sim"\n[bench]\nrealtime = false\ndegradation_dose_J_cm2 = 0.05\n'
        '[stage]\ndriver = "newport.esp301"\nresource = "sim"\n'
        f'[[faults]]\nrole = "stage"\nfault = "{fault}"\npoint = 3\npermanent = true\n'
    )
    args = ["run", "ase", "--station", str(station), "--out", str(tmp_path), "--seed", "4"]
    for assignment in ("points=12", "averages=1", "exposure_s=0.2", "fluence_stop=30"):
        args += ["--set", assignment]
    args += ["--set", "reference_every=3", "--set", "reference_on_drift=move"]
    code = cli.main(args)
    out = capsys.readouterr().out
    (path,) = tmp_path.glob("*.h5")
    record = read_run(path)
    _beam_off_the_sample(benches[-1], record)
    assert "fresh spot" in record.pauses[0]["reason"]
    taken = record.data["point"].read()[~record.data["reference"].read()]
    np.testing.assert_array_equal(taken, np.arange(taken.size))
    if fault != "unplugged":
        assert code == 0 and record.status == "completed" and taken.size == 12
        assert len(np.unique(record.data["spot_x_mm"].read())) >= 2
        return
    assert code == 1 and record.status == "failed"
    assert "ESP301" in record.error and "ESP301" in out
    assert taken.size >= 3  # every point before the move is kept
