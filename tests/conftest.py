"""Shared fixtures: a fast copy of the built-in simulated station."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def write_station(path: Path, extra: str = "") -> Path:
    """A station file that starts from ``sim`` with the bench out of real time."""
    path.write_text('base = "sim"\n[bench]\nrealtime = false\n' + extra)
    return path


@pytest.fixture
def fast_station(tmp_path: Path) -> Path:
    return write_station(tmp_path / "fast.toml")
