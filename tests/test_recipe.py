"""Recipes: several procedures from one file, checked whole before anything moves."""

from __future__ import annotations

import pytest

from qslab import cli
from qslab.errors import ValidationError
from qslab.recipe import load_recipe
from qslab.storage.reader import read_run

STATION = 'base = "sim-g2"\n[bench]\nrealtime = false\n'
RECIPE = """
station = "station.toml"
out = "runs"
seed = 1

[[run]]
procedure = "calibrate"
sample_in_beam = false

[[run]]
procedure = "ase"
points = 16
averages = 1
[run.loop]
spot = ["A", "B", "C"]

[[run]]
procedure = "g2"
fluences = [0.2, 0.8]
"""


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "station.toml").write_text(STATION)
    path = tmp_path / "night.toml"
    path.write_text(RECIPE)
    return path


def test_a_recipe_of_three_procedures_runs_unattended(recipe, tmp_path, capsys):
    assert cli.main(["run", str(recipe)]) == 0
    files = sorted((tmp_path / "runs").glob("*.h5"))
    runs = [read_run(f) for f in files if not f.name.endswith(".photons.h5")]
    runs.sort(key=lambda r: r.start_time)
    assert [r.procedure for r in runs] == ["calibrate", "ase", "ase", "ase", "g2"]
    assert all(r.status == "completed" for r in runs)
    assert [r.sample.get("spot") for r in runs if r.procedure == "ase"] == ["A", "B", "C"]
    assert "qy_xx_ratio" in runs[-1].analysis
    assert "5 runs" in capsys.readouterr().out


def test_a_mistake_in_a_later_run_stops_the_recipe_before_it_starts(recipe, tmp_path):
    recipe.write_text(RECIPE.replace("fluences = [0.2, 0.8]", "fluences = [0.2, 900]"))
    with pytest.raises(ValidationError) as info:
        load_recipe(recipe)
    assert info.value.field == "run[2].parameters.fluences"
    assert cli.main(["run", str(recipe)]) == 2
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[[run]]\nprocedure = 'ase'\ncolour = 'red'\n", "run[0].parameters.colour"),
        ("[[run]]\nprocedure = 'bake'\n", "run[0].procedure"),
        ("[[run]]\nprocedure = 'ase'\n[run.loop]\nspot = []\n", "run[0].loop"),
        ("stations = 'sim'\n", "recipe.stations"),
        ("on_failure = 'panic'\n[[run]]\nprocedure = 'ase'\n", "recipe.on_failure"),
        ("", "recipe.run"),
    ],
)
def test_each_recipe_mistake_names_its_field(tmp_path, text, field):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_recipe(path)
    assert info.value.field == field
