"""A device series: lasing threshold and wavelength against the cavity period, over runs.

A lab measures a chip of cavities that differ in one design parameter (the photonic-crystal
period) one device at a time, each a lasing scan of its own (a recipe loop over
``cavity_period_nm``: the run records the period; a stage or the operator moves to the device,
or on a simulated bench the parameter selects the cavity). Each run stays a complete, resumable
file of its own; this module gathers their analyses into one summary file::

    qslab series runs/*_lasing_*.h5 --out series.h5

The summary is NeXus like a run's file: ``/entry/data`` is an NXdata whose default plot is the
threshold (with its errors) against the period, so h5web and silx open on it;
``/entry/wavelength`` plots the lasing wavelength against the period; every column of the table
(period, threshold and error, wavelength, beta, linewidth, <N> at threshold, source file) is a
dataset with its units in ``/entry/data``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from qslab import __version__
from qslab.errors import QslabError, ValidationError
from qslab.storage.reader import read_run

PERIOD = "cavity_period_nm"
COLUMNS = {
    # column: (analysis key or None, what it is)
    "lasing_threshold": ("lasing_threshold", "rate-equation threshold"),
    "lasing_wavelength": ("lasing_wavelength", "wavelength of the main mode"),
    "beta": ("beta", "spontaneous-emission factor"),
    "linewidth": ("linewidth_nm", "narrowest deconvolved FWHM above threshold"),
    "lasing_threshold_N": ("lasing_threshold_N", "<N> per QS at the beam centre at threshold"),
}


@dataclass(frozen=True)
class Device:
    """One run of the series: its period and the analysis entries of :data:`COLUMNS`."""

    path: Path
    period_nm: float
    status: str
    results: dict[str, dict[str, Any]]


def read_device(path: str | Path) -> Device:
    """The period and lasing results of one lasing run file."""
    record = read_run(path)
    if record.procedure != "lasing":
        raise ValidationError(str(path), f"a {record.procedure!r} run, not a lasing run")
    period = float(record.parameters.get(PERIOD, {}).get("value") or math.nan)
    if not period > 0:
        raise ValidationError(
            str(path), f"records no {PERIOD}: run each device with --set {PERIOD}=..."
        )
    nan = {"value": math.nan, "error": math.nan, "units": ""}
    results = {column: record.analysis.get(key, nan) for column, (key, _) in COLUMNS.items()}
    return Device(Path(path), period, record.status, results)


def device_series(paths: list[str | Path]) -> list[Device]:
    """The devices of ``paths`` by increasing period; all must quote one pump unit."""
    if not paths:
        raise ValidationError("FILES", "give the lasing run files of the series")
    devices = sorted((read_device(p) for p in paths), key=lambda d: d.period_nm)
    units = {d.results["lasing_threshold"]["units"] for d in devices} - {""}
    if len(units) > 1:
        raise ValidationError(
            "FILES", f"the runs quote thresholds in {', '.join(sorted(units))}: one regime only"
        )
    return devices


def table(devices: list[Device]) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """{column: (values, errors, units)} with the period first."""
    periods = np.array([d.period_nm for d in devices])
    out = {"cavity_period": (periods, np.zeros_like(periods), "nm")}
    for column in COLUMNS:
        entries = [d.results[column] for d in devices]
        units = next((e["units"] for e in entries if e["units"]), "")
        out[column] = (
            np.array([_number(e["value"]) for e in entries]),
            np.array([_number(e.get("error")) for e in entries]),
            units,
        )
    return out


def write_summary(devices: list[Device], out: str | Path) -> Path:
    """The summary HDF5 file (module docstring); an existing file is not overwritten."""
    out = Path(out)
    columns = table(devices)
    try:
        f = h5py.File(out, "w-")
    except OSError as exc:
        raise QslabError(f"cannot write {out}: {exc}") from None
    with f:
        f.attrs.update(NX_class="NXroot", default="entry", creator=f"qslab {__version__}")
        entry = f.create_group("entry")
        entry.attrs.update(
            NX_class="NXentry",
            default="data",
            procedure="series",
            created=datetime.now(UTC).isoformat(),
        )
        data = _nxdata(entry, "data", "lasing_threshold")
        for name, (values, errors, units) in columns.items():
            _column(data, name, values, units, COLUMNS.get(name, (None, "device period"))[1])
            if name != "cavity_period":
                _column(data, f"{name}_errors", errors, units, "1-sigma error")
        text = h5py.string_dtype()
        data.create_dataset("file", data=[str(d.path) for d in devices], dtype=text)
        data.create_dataset("status", data=[d.status for d in devices], dtype=text)
        wavelength = _nxdata(entry, "wavelength", "lasing_wavelength")
        for name in ("cavity_period", "lasing_wavelength", "lasing_wavelength_errors"):
            wavelength[name] = h5py.SoftLink(f"/entry/data/{name}")
    return out


def format_table(devices: list[Device]) -> str:
    """The table as aligned text, one device a line."""
    columns = table(devices)
    units = columns["lasing_threshold"][2]
    lines = [
        f"{'period nm':>10s} {'threshold ' + units:>24s} {'wavelength nm':>18s} "
        f"{'beta':>18s} {'linewidth nm':>16s}  file"
    ]
    for i, device in enumerate(devices):
        cells = [_cell(columns[c], i) for c in ("lasing_threshold", "lasing_wavelength")]
        cells += [_cell(columns[c], i) for c in ("beta", "linewidth")]
        lines.append(
            f"{device.period_nm:10.1f} {cells[0]:>24s} {cells[1]:>18s} {cells[2]:>18s} "
            f"{cells[3]:>16s}  {device.path.name}"
        )
    return "\n".join(lines)


def _cell(column: tuple[np.ndarray, np.ndarray, str], i: int) -> str:
    value, error = column[0][i], column[1][i]
    if not np.isfinite(value):
        return "-"
    return f"{value:.4g} +- {error:.2g}" if np.isfinite(error) else f"{value:.4g}"


def _nxdata(entry: h5py.Group, name: str, signal: str) -> h5py.Group:
    group = entry.create_group(name)
    group.attrs.update(
        NX_class="NXdata",
        signal=signal,
        axes=np.array(["cavity_period"], dtype=h5py.string_dtype()),
        cavity_period_indices=0,
    )
    return group


def _column(group: h5py.Group, name: str, values, units: str, doc: str) -> None:
    dataset = group.create_dataset(name, data=values)
    dataset.attrs.update(units=units, long_name=f"{name} ({units})" if units else name)
    dataset.attrs["description"] = doc


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
