"""Reading a run file back: metadata and analysis at once, data columns only when asked.

``read_run`` is what ``qslab inspect``, the GUI's file browser and users' notebooks call, so a
file that is not a qslab run, truncated or corrupt is one :class:`QslabError` line naming the file,
never an h5py traceback. Per-point data can be large (a spectrum per point), so
:class:`RunRecord` holds only each column's schema and reads the values on demand, trimmed to the
completed points recorded in ``/entry@points``.

A run killed outright (SIGKILL, power loss) never writes its stop document, so its file still
says ``running``. The writer records who writes (``/entry@writer_host``, ``writer_pid``); a reader
on that host that finds the process gone (or the pid reused by a younger process) reports the run
as ``interrupted``. Only the report changes: reading never modifies the file, and a run written
on another host stays ``running`` with a note, since its process cannot be checked from here.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from qslab.errors import QslabError

# Errors h5py raises for damaged files and objects; caught only around file access.
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError)
"""What h5py raises on a damaged file; AttributeError when damage turns a dataset into another
kind of object (a named datatype has no shape)."""


@dataclass(frozen=True)
class Column:
    """One data key or constant of a run; ``read()`` loads its values from the file."""

    path: Path
    name: str
    units: str
    description: str
    shape: tuple[int, ...]
    per_point: bool

    def read(self) -> np.ndarray:
        """The values: one row per completed point, or the constant array itself."""
        with _open(self.path) as file:
            try:
                dataset = file["entry/data"][self.name]
                if h5py.check_string_dtype(dataset.dtype):
                    dataset = dataset.asstr()
                return dataset[: self.shape[0]] if self.per_point else dataset[()]
            except H5_ERRORS as exc:
                raise QslabError(
                    f"{self.path}: cannot read data {self.name!r}: {_reason(exc)}"
                ) from None


@dataclass
class RunRecord:
    """Everything a run file says about its run, as plain Python values."""

    path: Path
    procedure: str
    status: str
    error: str
    uid: str
    start_time: str
    end_time: str
    qslab_version: str
    points: int
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    station: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Column] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    station_source: str = ""
    seed: int | None = None
    pauses: list[dict[str, Any]] = field(default_factory=list)
    """Each pause and resume of the run: event, time, after_point, reason."""
    resumes: list[dict[str, Any]] = field(default_factory=list)
    """Each ``qslab resume`` session: time, points_before, previous_status, previous_error."""

    def rows(self) -> list[dict[str, Any]]:
        """Every completed point as {data key: value}, in file order (what resume starts from)."""
        columns = {name: c.read() for name, c in self.data.items() if c.per_point}
        return [
            {name: _row_value(values[i]) for name, values in columns.items()}
            for i in range(self.points)
        ]

    def summary_json(self) -> dict[str, Any]:
        """One JSON-ready object (NaN and infinities as null) for ``qslab inspect --json``."""
        return jsonable(
            {
                "file": str(self.path),
                "procedure": self.procedure,
                "status": self.status,
                "error": self.error,
                "note": self.note,
                "uid": self.uid,
                "start_time": self.start_time,
                "end_time": self.end_time,
                "qslab_version": self.qslab_version,
                "points": self.points,
                "parameters": self.parameters,
                "sample": self.sample,
                "station": self.station,
                "calibration": self.calibration,
                "environment": self.environment,
                "analysis": self.analysis,
                "data": {
                    name: {"units": c.units, "shape": list(c.shape), "description": c.description}
                    for name, c in self.data.items()
                },
                "plot": self.plot,
                "pauses": self.pauses,
                "resumes": self.resumes,
            }
        )


def read_run(path: str | Path) -> RunRecord:
    """Read a run's metadata and analysis; raise QslabError if it is not a readable qslab run."""
    path = Path(path)
    with _open(path) as file:
        try:
            entry = file.get("entry")
            is_run = isinstance(entry, h5py.Group) and "procedure" in entry.attrs
            record = _record(path, entry) if is_run else None
        except H5_ERRORS as exc:
            raise QslabError(f"{path}: damaged qslab run file: {_reason(exc)}") from None
    if record is None:
        raise QslabError(f"{path}: not a qslab run file (no /entry with a procedure)")
    return record


def read_run_isolated(path: str | Path) -> RunRecord:
    """:func:`read_run` in a forked child process, for files of unknown health.

    A few damaged files (about 0.15 % of randomly corrupted ones) crash the HDF5 C library
    itself; in a child that ends the child, not qslab, and becomes a clear error. Where there
    is no fork, this is :func:`read_run`.
    """
    if not hasattr(os, "fork"):
        return read_run(path)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_read_into, args=(Path(path), sender), daemon=True)
    child.start()
    sender.close()
    try:
        kind, value = receiver.recv()
    except EOFError:
        child.join()
        raise QslabError(
            f"{path}: damaged qslab run file: the HDF5 library crashed reading it "
            f"(exit code {child.exitcode})"
        ) from None
    finally:
        receiver.close()
    child.join()
    if kind == "error":
        raise QslabError(value)
    return value


def _read_into(path: Path, sender) -> None:
    try:
        sender.send(("record", read_run(path)))
    except QslabError as exc:
        sender.send(("error", str(exc)))
    finally:
        sender.close()


def format_run(record: RunRecord) -> str:
    """A few aligned lines a person can read at a glance (``qslab inspect`` without --json)."""
    status = record.status
    if record.error:
        status += f": {record.error}"
    elif status == "running" and not record.note:
        status += " (still running, or the process died before finishing)"
    lines = [
        f"{record.procedure}  {record.path.name}",
        *_aligned(
            {
                "status": status,
                **({"note": record.note} if record.note else {}),
                "run": record.uid,
                "started": _display_time(record.start_time),
                "ended": _display_time(record.end_time) + _duration(record),
                "points": str(record.points)
                + (f" ({len(record.resumes)} resumed)" if record.resumes else "")
                + (
                    f", {sum(p['event'] == 'pause' for p in record.pauses)} pauses"
                    if record.pauses
                    else ""
                ),
                "sample": ", ".join(f"{k}={_format_value(v)}" for k, v in record.sample.items()),
            }
        ),
    ]
    if record.parameters:
        lines.append("parameters")
        lines += _aligned(
            {
                name: f"{_format_value(p['value'])} {p.get('units', '')}".rstrip()
                for name, p in record.parameters.items()
            }
        )
    if record.analysis:
        lines.append("analysis")
        lines += _aligned({name: format_result(result) for name, result in record.analysis.items()})
    return "\n".join(lines)


class TruncatedFile(QslabError):
    """A file shorter than its HDF5 header says (cut short while written, e.g. a full disk)."""


def _open(path: Path) -> h5py.File:
    # No file locking: a run being written (the writer does not lock either) stays readable.
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as exc:
        kind = TruncatedFile if "truncated file" in str(exc) else QslabError
        raise kind(f"{path}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """h5py's message without its C-library wrapping, on one line."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or str(exc)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "signature not found" in message:
        return "not an HDF5 file"
    if "truncated file" in message:
        return (
            "truncated file (shorter than its header says; if its disk filled while the run "
            "was written, `qslab resume` repairs it)"
        )
    return message.removeprefix("Unable to synchronously open file ").strip("()")


def _record(path: Path, entry: h5py.Group) -> RunRecord:
    attrs = {key: _plain(value) for key, value in entry.attrs.items()}
    data = entry.get("data")
    columns = {} if data is None else _columns(path, data, int(attrs.get("points", 0)))
    # A complete row is in every column; the writer flushes rows before the count, so this only
    # trims a file damaged some other way.
    points = min(
        [int(attrs.get("points", 0))] + [c.shape[0] for c in columns.values() if c.per_point]
    )
    status, error, note = attrs.get("status", ""), attrs.get("error", ""), ""
    if status == "running":
        status, error, note = _writer_state(attrs, points)
    return RunRecord(
        path=path,
        procedure=attrs["procedure"],
        status=status,
        error=error,
        note=note,
        uid=attrs.get("uid", ""),
        start_time=attrs.get("start_time", ""),
        end_time=attrs.get("end_time", ""),
        qslab_version=attrs.get("qslab_version", ""),
        points=points,
        parameters={
            name: _quantity(dataset, always_units=True)
            for name, dataset in _items(entry.get("parameters"))
        },
        station=_tree(entry.get("station")),
        sample=_tree(entry.get("sample")),
        calibration=_tree(entry.get("calibration")),
        environment=_tree(entry.get("environment")),
        analysis={name: _result(dataset) for name, dataset in _items(entry.get("analysis"))},
        data={name: _trimmed(c, points) for name, c in columns.items()},
        plot={} if data is None else _plot(data),
        station_source=_station_attr(entry, "source", ""),
        seed=_seed(entry),
        pauses=[json.loads(line) for line in str(attrs.get("pauses", "")).splitlines() if line],
        resumes=json.loads(attrs.get("resumes", "[]")),
    )


def _row_value(value: Any) -> Any:
    """One point's value: arrays stay numpy arrays, scalars become Python ones."""
    return value if isinstance(value, np.ndarray) else _plain(value)


def _station_attr(entry: h5py.Group, name: str, default: Any) -> Any:
    station = entry.get("station")
    return _plain(station.attrs.get(name, default)) if isinstance(station, h5py.Group) else default


def _seed(entry: h5py.Group) -> int | None:
    seed = _station_attr(entry, "seed", -1)
    return None if not isinstance(seed, int) or seed < 0 else seed


def _writer_state(attrs: dict[str, Any], points: int) -> tuple[str, str, str]:
    """(status, error, note) of a file that says ``running``, from whether its writer lives."""
    host, pid = attrs.get("writer_host"), attrs.get("writer_pid")
    if not isinstance(host, str) or not isinstance(pid, int):  # written before writer_pid
        return "running", "", ""
    if host != socket.gethostname():
        return "running", "", f"written by process {pid} on {host}; cannot check it from here"
    if _writer_alive(pid, attrs.get("start_time", "")) is not False:
        return "running", "", ""
    error = (
        f"the writing process ({pid} on {host}) ended without finishing the run "
        f"(killed, crashed or power lost); {points} completed points kept"
    )
    return "interrupted", error, ""


def _writer_alive(pid: int, start_time: str) -> bool | None:
    """Whether process ``pid`` is still the run's writer; None when it cannot be told."""
    if pid <= 0:
        return None
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    except OSError:
        return None
    # A killed process not yet reaped (zombie) still answers; and the pid may have been reused
    # (after a reboot, say): a process younger than the run is not its writer. Linux only;
    # elsewhere a live pid counts as the writer.
    state, started = _proc_stat(pid)
    if state == "Z":
        return False
    try:
        run_start = datetime.fromisoformat(start_time).timestamp()
    except (TypeError, ValueError):
        return True
    return started is None or started <= run_start + 2.0  # /proc/stat btime has 1 s steps


def _proc_stat(pid: int) -> tuple[str, float | None]:
    """A process's state letter and Unix start time from Linux's /proc; ("", None) elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # fields 3 and 22
    except (OSError, ValueError, IndexError, StopIteration):
        return "", None


def _windows_process_alive(pid: int) -> bool | None:
    try:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False if ctypes.get_last_error() == 87 else None  # 87: no such process
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return None
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except (AttributeError, OSError):
        return None


def _columns(path: Path, data: h5py.Group, points: int) -> dict[str, Column]:
    columns = {}
    for name, dataset in _items(data):
        per_point = bool(dataset.maxshape) and dataset.maxshape[0] is None
        shape = (min(points, dataset.shape[0]), *dataset.shape[1:]) if per_point else dataset.shape
        columns[name] = Column(
            path=path,
            name=name,
            units=_plain(dataset.attrs.get("units", "")),
            description=_plain(dataset.attrs.get("description", "")),
            shape=shape,
            per_point=per_point,
        )
    return columns


def _trimmed(column: Column, points: int) -> Column:
    if not column.per_point or column.shape[0] == points:
        return column
    return replace(column, shape=(points, *column.shape[1:]))


def _plot(data: h5py.Group) -> dict[str, Any]:
    axes = [name for name in _plain(data.attrs.get("axes", [])) if name != "."]
    return {"signal": _plain(data.attrs.get("signal", "")), "axes": axes}


def _tree(group: h5py.Group | None) -> dict[str, Any]:
    """Groups back to nested dicts; datasets with units back to {value, units}."""
    out: dict[str, Any] = {}
    for name, item in _items(group):
        if isinstance(item, h5py.Group):
            out[name] = _tree(item)
        elif "units" in item.attrs or "description" in item.attrs:
            out[name] = _quantity(item)
        else:
            out[name] = _dataset_value(item)
    return out


def _items(group: h5py.Group | None) -> list[tuple[str, Any]]:
    """A group's members; h5py yields None for a link it cannot follow, which means damage."""
    if group is None:
        return []
    items = list(group.items())
    for name, item in items:
        if item is None:
            raise KeyError(f"cannot open {group.name}/{name}")
    return items


def _quantity(dataset: h5py.Dataset, always_units: bool = False) -> dict[str, Any]:
    quantity = {"value": _dataset_value(dataset)}
    if always_units:
        quantity["units"] = ""
    for key in ("units", "description"):
        if key in dataset.attrs:
            quantity[key] = _plain(dataset.attrs[key])
    return quantity


def _result(dataset: h5py.Dataset) -> dict[str, Any]:
    result = {"value": _dataset_value(dataset), "error": None, "units": "", "method": ""}
    result.update((key, _plain(value)) for key, value in dataset.attrs.items())
    return result


def _dataset_value(dataset: h5py.Dataset) -> Any:
    is_text = h5py.check_string_dtype(dataset.dtype)
    value = _plain(dataset.asstr()[()] if is_text else dataset[()])
    if dataset.attrs.get("encoding") == "json":
        return json.loads(value)
    return value


def _plain(value: Any) -> Any:
    """numpy/h5py values as Python ones: Empty -> None, arrays -> lists, bytes -> str."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        item = value.item()  # long doubles stay numpy scalars: Python has no such float
        return float(item) if isinstance(item, np.floating) else item
    return value


JSON_SCALARS = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: NaN and infinities as null, and anything JSON has no type
    for (a complex number in a damaged file, say) as its text."""
    value = _plain(value)  # numpy scalars and arrays as Python numbers and lists
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, JSON_SCALARS) else str(value)


def _aligned(rows: dict[str, str]) -> list[str]:
    width = max(map(len, rows), default=0)
    return [f"  {name:<{width}}  {text}".rstrip() for name, text in rows.items()]


def _display_time(iso: str) -> str:
    """ISO 8601 without the T and the milliseconds, keeping the UTC offset."""
    return re.sub(r"\.\d+", "", iso.replace("T", " ")) if iso else "-"


def _duration(record: RunRecord) -> str:
    try:
        seconds = (
            datetime.fromisoformat(record.end_time) - datetime.fromisoformat(record.start_time)
        ).total_seconds()
    except ValueError:  # not ended yet
        return ""
    minutes, seconds = divmod(round(seconds), 60)
    return f"  ({minutes} min {seconds} s)" if minutes else f"  ({seconds} s)"


def format_result(result: dict[str, Any]) -> str:
    """One analysis result for people: ``5.31 ± 0.12 uJ/cm^2  (rate_equation)``."""
    value = result.get("value")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"not determined: {result.get('note', 'no value')}"
    text = _format_measurement(value, result.get("error"))
    units = result.get("units") or ""
    method = f"  ({result['method']})" if result.get("method") else ""
    return f"{text} {units}".rstrip() + method


def _format_measurement(value: Any, error: Any) -> str:
    """value ± error to the error's two significant digits (5.31 ± 0.12)."""
    numbers = (int, float)
    if not (
        isinstance(value, numbers)
        and isinstance(error, numbers)
        and math.isfinite(value)
        and math.isfinite(error)
        and error > 0
    ):
        return _format_value(value)
    decimals = max(0, 1 - math.floor(math.log10(error)))
    if decimals > 6:
        return f"{value:.3g} ± {error:.2g}"
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        items = [_format_value(item) for item in value]
        if len(items) > 6:
            return f"[{', '.join(items[:3])}, ..., {items[-1]}] ({len(items)} values)"
        return f"[{', '.join(items)}]"
    if isinstance(value, dict) and "value" in value:
        return f"{_format_value(value['value'])} {value.get('units', '')}".rstrip()
    return str(value)
