"""A sample stage in the station: runs go to their named spot, record where each point was
taken, and leave a bleached spot for a fresh one without an operator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import watch_moves, write_station

from qslab.api import run_procedure
from qslab.engine.dose import LEDGER_NAME, DoseLedger
from qslab.engine.spots import SpotKeeper, ledger_key
from qslab.errors import QslabError, ValidationError
from qslab.recipe import load_recipe, run_recipe
from qslab.station import load_station, open_station
from qslab.storage.reader import read_run

STAGE = '[stage]\ndriver = "newport.esp301"\nresource = "sim"\n'
SPOTS = '[sample]\nname = "QS-1"\nspot = "A"\nspots = { A = [1.0, 0.0], B = [-2.0, 3.0] }\n'
REFERENCE = {"reference_every": 3, "exposure_s": 0.2, "fluence_stop": 30, "points": 12}
BLEACHING = "degradation_dose_J_cm2 = 0.05\n"


def stage_station(tmp_path, bench: str = "", extra: str = SPOTS):
    return write_station(tmp_path / "stage.toml", bench + STAGE + extra)


def test_a_run_goes_to_its_named_spot_and_records_it_with_every_point(tmp_path):
    station = open_station(stage_station(tmp_path))
    result = run_procedure(
        "ase", station=station, out=tmp_path, sample={"spot": "B"}, points=4, averages=1
    )
    record = read_run(result.path)
    assert record.status == "completed"
    assert station.bench.sample_position_mm == pytest.approx((-2.0, 3.0))
    np.testing.assert_allclose(record.data["spot_x_mm"].read(), -2.0)
    np.testing.assert_allclose(record.data["spot_y_mm"].read(), 3.0)
    assert record.data["spot_x_mm"].units == "mm"
    assert station.config.sample["spot"] == "A"  # the next run on this station starts on A


def test_the_beam_is_blocked_before_the_stage_moves_even_if_left_open(tmp_path):
    station = open_station(stage_station(tmp_path, BLEACHING), seed=4)
    station.bench.laser.emission = station.bench.laser.shutter_open = True  # left open
    in_light = watch_moves(station.bench)
    result = run_procedure(
        "ase", station=station, out=tmp_path, averages=1, reference_on_drift="move", **REFERENCE
    )
    assert read_run(result.path).status == "completed"
    assert len(in_light) >= 2 and not any(in_light)  # to spot A, then to a fresh spot


def test_a_fresh_spot_is_never_a_named_one_and_dose_is_per_place_not_label(tmp_path):
    station = open_station(stage_station(tmp_path, BLEACHING), seed=4)
    station.config.sample["spots"]["B"] = (2.0, 0.0)  # where a 1-mm step from A would land
    result = run_procedure(
        "ase", station=station, out=tmp_path, averages=1, reference_on_drift="move", **REFERENCE
    )
    x = read_run(result.path).data["spot_x_mm"].read()
    assert 1.0 in x and 2.0 not in x and len(np.unique(x)) >= 2
    doses = json.loads((tmp_path / LEDGER_NAME).read_text())
    before = doses["QS-1|@1.0000,0.0000"]
    run_procedure(  # the same place under another label: the same patch, the same dose
        "ase", station=station, out=tmp_path, sample={"spot": "", "name": "QS-1"}, points=4
    )
    # (no spot named: taken where the stage stands, the fresh spot; A is untouched)
    doses = json.loads((tmp_path / LEDGER_NAME).read_text())
    assert doses["QS-1|@1.0000,0.0000"] == before


def test_a_spot_that_is_not_named_is_refused_before_anything_moves(tmp_path):
    with pytest.raises(ValidationError) as info:
        run_procedure("ase", station=stage_station(tmp_path), out=tmp_path, sample={"spot": "C"})
    assert info.value.field == "sample.spot" and "A, B" in info.value.message


def test_move_needs_a_stage(tmp_path):
    with pytest.raises(ValidationError) as info:
        run_procedure("ase", station=write_station(tmp_path / "s.toml"), reference_on_drift="move")
    assert info.value.field == "parameters.reference_on_drift" and "[stage]" in info.value.message


@pytest.mark.parametrize(
    "sample, field",
    [
        ("spots = [1, 2]", "station.sample.spots"),
        ("spots = { A = [1.0] }", "station.sample.spots.A"),
        ('spots = { A = ["x", 2] }', "station.sample.spots.A"),
        ("fresh_spot_step_mm = -1", "station.sample.fresh_spot_step_mm"),
        ("spots = { far = [20.0, 0.0] }", "station.sample.spots.far"),
        ('spot = "C"\nspots = { A = [0.0, 0.0] }', "station.sample.spot"),
    ],
)
def test_bad_spot_tables_name_the_field(tmp_path, sample, field):
    with pytest.raises(ValidationError) as info:
        load_station(stage_station(tmp_path, extra=f"[sample]\n{sample}\n"))
    assert info.value.field == field


def test_a_real_stage_with_bad_axes_is_refused_when_the_station_loads(tmp_path):
    path = tmp_path / "real.toml"
    path.write_text(
        'base = "sim"\n[stage]\ndriver = "newport.esp301"\nresource = "ASRL1::INSTR"\ny_axis = 1\n'
    )
    with pytest.raises(ValidationError) as info:
        load_station(path)  # nothing is opened: a real controller is never reached
    assert info.value.field == "station.stage.y_axis"


def test_a_bleached_spot_is_left_for_a_fresh_one_and_the_series_completes(tmp_path):
    station = open_station(stage_station(tmp_path, BLEACHING), seed=4)
    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path,
        averages=1,
        reference_on_drift="move",
        **REFERENCE,
    )
    record = read_run(result.path)
    assert record.status == "completed", record.error
    reference = record.data["reference"].read()
    np.testing.assert_array_equal(record.data["point"].read()[~reference], np.arange(12))
    x = record.data["spot_x_mm"].read()
    assert x[0] == 1.0 and len(np.unique(x)) >= 2  # started on A, then moved on along +x
    assert np.all(np.diff(x) >= 0) and np.all(record.data["spot_y_mm"].read() == 0.0)
    moves = [p for p in record.pauses if p["event"] == "pause"]
    assert moves and all("moving to a fresh spot" in p["reason"] for p in moves)
    # each spot's first reference is its baseline, and a fresh spot emits like the first did
    level = record.data["reference_level"].read()
    firsts = [np.flatnonzero(reference & (x == spot))[0] for spot in np.unique(x)]
    assert np.ptp(level[firsts]) / np.mean(level[firsts]) < 0.15
    # the ledger booked every spot under its position; none over the bleaching dose by far
    doses = json.loads((tmp_path / LEDGER_NAME).read_text())
    assert len(doses) == len(np.unique(x))
    assert all(key.startswith("QS-1|@") for key in doses)


def test_the_same_bleaching_run_without_move_stops_early(tmp_path):
    station = open_station(stage_station(tmp_path, BLEACHING), seed=4)
    result = run_procedure(
        "ase", station=station, out=tmp_path, averages=1, reference_on_drift="stop", **REFERENCE
    )
    assert read_run(result.path).status == "stopped"


def test_a_recipe_over_spots_pumps_each_where_it_is_named(tmp_path):
    station = stage_station(tmp_path)
    recipe = tmp_path / "spots.toml"
    recipe.write_text(
        f'station = "{station.name}"\nout = "runs"\n'
        '[[run]]\nprocedure = "ase"\npoints = 4\naverages = 1\n'
        '[run.loop]\nspot = ["A", "B"]\n'
    )
    results = run_recipe(load_recipe(recipe))
    xs = [read_run(r.path).data["spot_x_mm"].read()[0] for r in results]
    assert xs == [1.0, -2.0]


def test_a_recipe_with_a_spot_typo_is_refused_whole(tmp_path):
    recipe = tmp_path / "typo.toml"
    recipe.write_text(
        f'station = "{stage_station(tmp_path).name}"\n'
        '[[run]]\nprocedure = "ase"\n[run.loop]\nspot = ["A", "b"]\n'
    )
    with pytest.raises(ValidationError) as info:
        load_recipe(recipe)
    assert info.value.field == "run[0].sample.spot"


class Stage:
    """Only what the fresh-spot search asks of the stage role."""

    def __init__(self, travel=((-1.0, 1.0), (-1.0, 1.0))) -> None:
        self.travel = travel
        self.position_mm = (0.0, 0.0)

    def travel_mm(self):
        return self.travel

    def move_to(self, x, y):
        self.position_mm = (x, y)
        return self.position_mm


def keeper(tmp_path, stage: Stage, doses: dict[str, float] | None = None) -> SpotKeeper:
    sample = '[sample]\nname = "QS-1"\nfresh_spot_step_mm = 0.5\n'
    station = open_station(stage_station(tmp_path, extra=sample))
    station.connect()
    station.devices["stage"] = stage
    path = tmp_path / LEDGER_NAME
    path.write_text(json.dumps(doses or {}))
    spots = SpotKeeper(station, DoseLedger(path, "QS-1|"))
    spots.go_to_run_spot([])
    return spots


def test_a_fresh_spot_skips_every_spot_the_ledger_has_booked(tmp_path):
    used = {ledger_key("QS-1", 0.5, 0.0): 0.01, ledger_key("QS-1", 1.0, 0.0): 0.02}
    used[ledger_key("other sample", -1.0, 0.5)] = 1.0  # another film: not in the way
    spots = keeper(tmp_path, Stage(), used)
    assert spots.fresh_spot() == (-1.0, 0.5)  # x row full ahead: the next row, from x_min


def test_no_fresh_spot_left_is_a_clear_error(tmp_path):
    spots = keeper(tmp_path, Stage(((0.0, 0.4), (0.0, 0.4))))
    with pytest.raises(QslabError, match="no fresh spot left.*fresh_spot_step_mm"):
        spots.fresh_spot()
