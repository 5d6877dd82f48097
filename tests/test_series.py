"""``qslab series`` gathers lasing runs into a table and a NeXus plot; it refuses what is not
a device series (the end-to-end series is in test_lasing_run.py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from qslab import cli
from qslab.api import run_procedure
from qslab.errors import ValidationError
from qslab.series import device_series, format_table, write_summary


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two lasing runs on two periods, given in the wrong order, and one ASE run."""
    out = tmp_path_factory.mktemp("series")
    station = out / "pc.toml"
    station.write_text('base = "sim-pc"\n[bench]\nrealtime = false\n')
    lasing = [
        run_procedure(
            "lasing", station=station, out=out, seed=1, bootstrap=5, cavity_period_nm=p
        ).path
        for p in (365.0, 356.0)
    ]
    ase = run_procedure("ase", station=station, out=out, seed=1, points=4, averages=1).path
    return lasing, ase


def test_devices_come_sorted_by_period_with_units(files, tmp_path):
    devices = device_series(files[0])
    assert [d.period_nm for d in devices] == [356.0, 365.0]
    text = format_table(devices)
    assert "uJ/cm^2" in text and text.index("356.0") < text.index("365.0")
    path = write_summary(devices, tmp_path / "s.h5")
    with h5py.File(path) as f:
        data = f["entry/data"]
        assert data["cavity_period"].attrs["units"] == "nm"
        assert data["lasing_wavelength"].attrs["units"] == "nm"
        assert np.all(np.diff(data["lasing_wavelength"][()]) > 0)
        assert [s.decode() for s in data["status"][()]] == ["completed", "completed"]


def test_an_existing_summary_is_not_overwritten(files, tmp_path, capsys):
    target = tmp_path / "s.h5"
    target.write_bytes(b"")
    assert cli.main(["series", *map(str, files[0]), "--out", str(target)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_run_of_another_procedure_is_refused(files):
    with pytest.raises(ValidationError, match="not a lasing run"):
        device_series([*files[0], files[1]])
