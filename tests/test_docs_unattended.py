"""docs/unattended.md works as written: its recipe, its scripts and its station snippets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from qslab import cli
from qslab.station import load_station
from qslab.storage.reader import read_run

DOC = (Path(__file__).parents[1] / "docs" / "unattended.md").read_text()
FAST = "[bench]\nrealtime = false\n"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.S)


def test_the_recipe_runs(tmp_path, monkeypatch, capsys):
    (recipe,) = [b for b in blocks("toml") if b.startswith("# night.toml")]
    (tmp_path / "station.toml").write_text(f'base = "sim-g2"\n{FAST}')
    path = tmp_path / "night.toml"
    path.write_text(recipe.replace('station = "sim-g2"', 'station = "station.toml"'))
    assert cli.main(["run", str(path)]) == 0
    files = [p for p in (tmp_path / "runs").glob("*.h5") if ".photons" not in p.name]
    assert sorted(read_run(p).procedure for p in files) == ["ase"] * 3 + ["calibrate", "g2"]


def test_the_scripts_run(tmp_path, monkeypatch):
    (tmp_path / "fast.toml").write_text(f'base = "sim"\n{FAST}')
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(blocks("python")):
        code = block.replace('station="sim"', 'station="fast.toml"')
        namespace: dict = {}
        exec(compile(code, f"unattended.md block {number}", "exec"), namespace)  # noqa: S102
        assert namespace["result"].outcome.status == "completed"
    paused = read_run(namespace["result"].path)
    assert [p["event"] for p in paused.pauses] == ["pause", "resume"]


def test_the_station_snippets_load(tmp_path):
    for number, block in enumerate(b for b in blocks("toml") if not b.startswith("# night")):
        text = block if "base" in block else f'base = "sim"\n{block}'
        tomllib.loads(text)
        path = tmp_path / f"station{number}.toml"
        path.write_text(text)
        load_station(path)
