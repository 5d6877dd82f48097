"""Shared fixtures: a fast copy of the built-in simulated station."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The suite is a gate: by default hypothesis draws the same examples on every machine, so a
# pass or a failure is reproducible. QSLAB_HYPOTHESIS=explore draws fresh ones, ten times as
# many, to hunt for new failures (run it before a release; add what it finds as @example).
settings.register_profile("gate", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("QSLAB_HYPOTHESIS", "gate"))
EXPLORE = 10 if os.environ.get("QSLAB_HYPOTHESIS") == "explore" else 1


def write_station(path: Path, extra: str = "") -> Path:
    """A station file that starts from ``sim`` with the bench out of real time."""
    path.write_text('base = "sim"\n[bench]\nrealtime = false\n' + extra)
    return path


def watch_moves(bench) -> list[bool]:
    """Whether the pump was on the film at each move of the sample on this bench."""
    in_light, move = [], bench.move_sample

    def watched(x_mm: float, y_mm: float) -> None:
        in_light.append(bench.light_on_sample)
        move(x_mm, y_mm)

    bench.move_sample = watched
    return in_light


@pytest.fixture
def fast_station(tmp_path: Path) -> Path:
    return write_station(tmp_path / "fast.toml")
