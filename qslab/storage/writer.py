"""The HDF5 writer: one run's documents become one NeXus-style file, written as the run happens.

Layout::

    /                    NX_class=NXroot, default="entry", file_name, creator
    /entry               NXentry; procedure, status, error, start_time, end_time, qslab_version,
                         uid, points, writer_host, writer_pid, default="data"
      parameters/<name>  one dataset per parameter, attr ``units`` ("" when dimensionless)
      station/<role>/    driver, resource, identity, settings/<name>
      sample/ calibration/ environment/
      data/              NXdata; one row per point along axis 0, constants (wavelength) once
      analysis/<name>    value, attrs units, error, method and any extras

Principle 4 (the file is the truth) drives the design: every event is appended and the file
flushed before the writer returns, so a process that dies keeps every completed point, and
``/entry@points`` always says how many rows are complete. A flush hands the data to the operating
system (it survives a crash of qslab, not a power cut; an fsync per point would cost ~100x).

Appending is the hot path (thousands of points per second with a spectrum each): every per-point
dataset keeps its precomputed memory type and dataspaces and is written with the low-level
``h5py`` API, and ``points`` is rewritten in place instead of being recreated.

Values that HDF5 cannot hold directly are stored faithfully rather than dropped: ``None`` becomes
an empty dataspace, and ragged or nested lists (a TOML array of tables) a JSON string marked with
``encoding="json"``. The file is opened without HDF5 file locking so that ``qslab inspect`` and
viewers can read a run in progress; the writer itself refuses to overwrite an existing file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5s, h5t

from qslab import __version__
from qslab.engine.documents import Document
from qslab.errors import QslabError
from qslab.storage.space import require_space, unwritable

log = logging.getLogger(__name__)

FINAL_STATUSES = ("completed", "stopped", "aborted", "failed")
CHUNK_BYTES = 64 * 1024
# Every flush rewrites each dataset's partly filled chunk, so scalar columns get small chunks.
MAX_CHUNK_ROWS = 1024
QUANTITY_KEYS = frozenset({"value", "units", "description"})
DTYPE_ALIASES = {
    "number": "float64",
    "float": "float64",
    "array": "float64",
    "integer": "int64",
    "int": "int64",
    "boolean": "bool",
}
STRING_DTYPES = ("str", "string")


class HDF5Writer:
    """Subscriber that writes the documents of one run to one HDF5 file, flushing every point."""

    def __init__(self, directory: Path, filename: str | None = None) -> None:
        self.directory = Path(directory)
        self.filename = filename
        self.resuming: tuple[str, str] | None = None
        self.path: Path | None = None
        self._file: h5py.File | None = None
        self._entry: h5py.Group | None = None
        self._uid = ""
        self._columns: list[_Column] = []
        self._names: frozenset[str] = frozenset()
        self._ignored: set[str] = set()
        self._points = 0
        self._points_attr: h5a.AttrID | None = None
        self._points_value = np.zeros((), dtype=np.int64)
        self._closed = False
        self._handlers = {
            "start": self._start,
            "descriptor": self._descriptor,
            "event": self._event,
            "analysis": self._analysis,
            "pause": lambda doc: self._log_pause("pause", doc),
            "resume": lambda doc: self._log_pause("resume", doc),
            "stop": self._stop,
        }

    @classmethod
    def resume(cls, path: Path, status: str, error: str) -> HDF5Writer:
        """A writer that continues an unfinished run's file: its points stay, new ones follow.
        ``status`` and ``error`` are the run's as read (``interrupted`` for a killed writer)."""
        writer = cls(Path(path).parent, Path(path).name)
        writer.resuming = (status, error)
        return writer

    def __call__(self, name: str, doc: Document) -> None:
        handler = self._handlers.get(name)
        if handler is None:  # progress: transient by design, never stored
            return
        if self._closed:
            log.warning("%s: ignoring a %s document after the file was closed", self.path, name)
            return
        if name != "start":
            self._check_run(name, doc)
        try:
            handler(doc)
        except QslabError:
            raise
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise QslabError(f"{self.path}: cannot store the {name} document: {exc}") from exc

    def close(self) -> None:
        """Close the file; a run closed before its stop document is recorded as failed."""
        if self._closed:
            return
        self._closed = True
        if self._file is None:
            return
        try:
            if self._entry.attrs["status"] == "running":
                self._entry.attrs["status"] = "failed"
                self._entry.attrs["error"] = "the run ended without a stop document"
                self._entry.attrs["end_time"] = _iso_time(time.time())
        finally:
            try:
                self._file.close()
            except (OSError, RuntimeError) as exc:  # a full disk: the file could not grow
                objects = (self._file, self._entry, self._columns, self._points_attr)
                raise unwritable(self.path, exc, *objects) from None
            finally:
                self._file = self._entry = self._points_attr = None
                self._columns = []

    def __enter__(self) -> HDF5Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_run(self, name: str, doc: Document) -> None:
        if self._file is None:
            raise QslabError(f"HDF5Writer got a {name} document before the start document")
        if doc.get("run_uid", self._uid) != self._uid:
            raise QslabError(
                f"{self.path}: {name} document belongs to run {doc['run_uid']}, "
                f"not {self._uid}; one writer stores one run"
            )

    def _start(self, doc: Document) -> None:
        if self._file is not None:
            raise QslabError(f"{self.path}: a second start document; one writer stores one run")
        self._uid = doc["uid"]
        if self.resuming:
            self._reopen(doc)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / (self.filename or _default_filename(doc))
        try:
            self._file = h5py.File(self.path, "w-", locking=False)
        except FileExistsError:
            raise QslabError(
                f"{self.path}: already exists; a run never overwrites a file"
            ) from None
        root = self._file
        start_time = _iso_time(doc["time"])
        root.attrs.update(
            NX_class="NXroot",
            default="entry",
            file_name=self.path.name,
            file_time=start_time,
            creator=f"qslab {__version__}",
        )
        entry = self._entry = root.create_group("entry", track_order=True)
        entry.attrs.update(
            NX_class="NXentry",
            procedure=doc["procedure"],
            uid=self._uid,
            status="running",
            error="",
            start_time=start_time,
            end_time="",
            qslab_version=doc.get("qslab_version", __version__),
            points=np.int64(0),
            # Who is writing: a reader that finds "running" checks whether this process still
            # lives, to report a run killed outright (SIGKILL, power loss) as interrupted.
            writer_host=socket.gethostname(),
            writer_pid=np.int64(os.getpid()),
        )
        self._points_attr = h5a.open(entry.id, b"points")

        parameters = _group(entry, "parameters")
        for name, spec in doc.get("parameters", {}).items():
            quantity = spec if _is_quantity(spec) else {"value": spec}
            _write_quantity(parameters, name, {**quantity, "units": quantity.get("units") or ""})
        station = _group(entry, "station", "NXinstrument")
        for role, spec in doc.get("station", {}).items():
            _write_tree(
                _group(station, role), {"driver": "", "resource": "", "identity": "", **spec}
            )
        _write_tree(_group(entry, "sample", "NXsample"), doc.get("sample", {}))
        _write_tree(_group(entry, "calibration"), doc.get("calibration", {}))
        _write_tree(_group(entry, "environment"), doc.get("environment", {}))
        station.attrs.update(source=doc.get("station_source", ""), seed=doc.get("seed", -1))
        self._file.flush()

    def _reopen(self, doc: Document) -> None:
        """Continue the file: status back to running, this process as its writer, and a note
        of the session in ``/entry/resumes``; parameters and metadata stay those of the run."""
        self.path = self.directory / self.filename
        try:
            self._file = h5py.File(self.path, "r+", locking=False)
        except OSError as exc:
            raise QslabError(f"{self.path}: cannot be reopened to resume: {exc}") from None
        entry = self._entry = self._file["entry"]
        self._points = int(entry.attrs.get("points", 0))
        resumes = json.loads(entry.attrs.get("resumes", "[]"))
        resumes.append(
            {
                "time": _iso_time(doc["time"]),
                "points_before": self._points,
                "previous_status": self.resuming[0],
                "previous_error": self.resuming[1],
                "session_uid": self._uid,
            }
        )
        entry.attrs.update(
            status="running",
            error="",
            end_time="",
            resumes=json.dumps(resumes),
            writer_host=socket.gethostname(),
            writer_pid=np.int64(os.getpid()),
        )
        self._points_attr = h5a.open(entry.id, b"points")
        self._file.flush()

    def _descriptor(self, doc: Document) -> None:
        if self._columns:
            raise QslabError(f"{self.path}: a second descriptor; a run has one schema")
        if self.resuming:
            self._reuse_columns(doc)
            return
        data = _group(self._entry, "data", "NXdata")
        self._entry.attrs["default"] = "data"  # only once the group exists, for NeXus viewers
        keys = {
            "time": {"shape": [], "dtype": "float64", "units": "s", "description": "Unix time"},
            **doc["data_keys"],
        }
        shapes = {}
        for name, key in keys.items():
            try:
                column = _Column.create(data, name, key)
            except (TypeError, ValueError) as exc:
                raise QslabError(f"{self.path}: data key {name!r}: {exc}") from None
            self._columns.append(column)
            shapes[name] = (None, *column.row_shape)
        for name, constant in doc.get("constants", {}).items():
            dataset = _write_value(data, name, constant["value"])
            _label(dataset, name, constant.get("units") or "", constant.get("description") or "")
            shapes[name] = dataset.shape
        self._names = frozenset(keys)
        _plot_attrs(data, doc.get("plot") or {}, shapes, next(iter(doc["data_keys"]), "time"))
        self._file.flush()

    def _reuse_columns(self, doc: Document) -> None:
        data = self._entry["data"]
        keys = ["time", *doc["data_keys"]]
        missing = [name for name in keys if name not in data]
        if missing:
            raise QslabError(
                f"{self.path}: cannot resume: the procedure now stores {missing}, which the "
                "file lacks (it was written by another qslab version)"
            )
        self._columns = [_Column(data[name]) for name in keys]
        self._names = frozenset(keys)

    def _log_pause(self, kind: str, doc: Document) -> None:
        """Pauses and resumes go to ``/entry/pauses``, one JSON line each, as they happen."""
        entry = self._entry
        log_text = str(entry.attrs.get("pauses", ""))
        line = json.dumps(
            {
                "event": kind,
                "time": _iso_time(doc.get("time", time.time())),
                "after_point": self._points,
                "reason": doc.get("reason", ""),
            }
        )
        entry.attrs["pauses"] = f"{log_text}{line}\n"
        self._file.flush()

    def _event(self, doc: Document) -> None:
        if not self._columns:
            raise QslabError(f"{self.path}: an event before the descriptor")
        self._require_space()
        data = {"time": doc.get("time"), **doc["data"]}
        arrays = []
        for column in self._columns:
            value = data.get(column.name)
            try:
                arrays.append(None if value is None else column.convert(value))
            except (TypeError, ValueError) as exc:
                raise QslabError(
                    f"{self.path}: event {doc.get('seq_num')}: {column.name}: {exc}"
                ) from None
        unknown = data.keys() - self._names - self._ignored
        if unknown:
            log.warning(
                "%s: data keys not in the descriptor are not stored: %s", self.path, unknown
            )
            self._ignored |= unknown
        row = self._points
        for column, array in zip(self._columns, arrays, strict=True):
            column.append(row, array)
        # Rows first, then the count: a flush writes dirty objects in no set order, so one flush
        # for both let a SIGKILL inside it leave ``points`` counting a row some column lacked.
        self._file.flush()
        self._points = row + 1
        self._points_value[()] = self._points
        self._points_attr.write(self._points_value)
        self._file.flush()

    def _require_space(self) -> None:
        require_space(
            self.directory,
            f"every point so far is in {self.path.name}; free some space, then "
            f"`qslab resume {self.path}`",
        )

    def _analysis(self, doc: Document) -> None:
        entry = self._entry
        group = entry["analysis"] if "analysis" in entry else _group(entry, "analysis")
        for name, result in doc["results"].items():
            if name in group:
                del group[name]
            result = result if isinstance(result, dict) else {"value": result}
            dataset = _write_value(group, name, result.get("value"))
            dataset.attrs.update(
                units=result.get("units") or "",
                error=_storable(result.get("error"))[0],
                method=result.get("method") or "",
            )
            for key, extra in result.items():
                if key not in ("value", "units", "error", "method"):
                    dataset.attrs[key] = _storable(extra)[0]
        self._file.flush()

    def _stop(self, doc: Document) -> None:
        status, reason = doc.get("status"), doc.get("reason") or ""
        if status not in FINAL_STATUSES:
            status, reason = "failed", f"stop document with status {status!r}. {reason}".strip()
        if doc.get("num_events", self._points) != self._points:
            log.warning(
                "%s: the run reports %s events but %d were stored",
                self.path,
                doc["num_events"],
                self._points,
            )
        self._entry.attrs.update(
            status=status,
            error=reason,
            end_time=_iso_time(doc.get("time", time.time())),
        )
        self._file.flush()
        self.close()


class _Column:
    """One per-point data key, with what an append needs precomputed (the writer's hot path)."""

    __slots__ = ("name", "row_shape", "dtype", "_dsid", "_mtype", "_mspace", "_fspace", "_maxshape")

    @classmethod
    def create(cls, group: h5py.Group, name: str, key: dict[str, Any]) -> _Column:
        row_shape = tuple(int(n) for n in key.get("shape", ()))
        dtype = _numpy_dtype(key.get("dtype", "float64"))
        row_bytes = dtype.itemsize * math.prod(row_shape)
        chunk_rows = max(1, min(MAX_CHUNK_ROWS, CHUNK_BYTES // max(row_bytes, 1)))
        dataset = group.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            chunks=(chunk_rows, *row_shape),
            dtype=dtype,
            fillvalue=_fill_value(dtype),
        )
        _label(dataset, name, key.get("units") or "", key.get("description") or "")
        return cls(dataset)

    def __init__(self, dataset: h5py.Dataset) -> None:
        """A column over an existing per-point dataset (a new one, or a resumed file's)."""
        self.name = dataset.name.rsplit("/", 1)[-1]
        self.row_shape = tuple(dataset.shape[1:])
        self.dtype = dataset.dtype
        self._dsid = dataset.id
        self._mtype = h5t.py_create(self.dtype)
        self._mspace = h5s.create_simple((1, *self.row_shape))
        self._maxshape = (h5s.UNLIMITED, *self.row_shape)
        self._fspace = h5s.create_simple((0, *self.row_shape), self._maxshape)

    def convert(self, value: Any) -> np.ndarray:
        """The value as this column's row, or ValueError/TypeError before anything is written."""
        if self.dtype.kind == "O":
            array = np.asarray(value, dtype=str).astype(self.dtype)
        else:
            array = np.asarray(value, dtype=self.dtype, order="C")
        if array.shape != self.row_shape:
            raise ValueError(f"shape {array.shape} but the descriptor says {self.row_shape}")
        return array

    def append(self, row: int, array: np.ndarray | None) -> None:
        """Grow by one row; a missing value (None) leaves the dataset's fill value there."""
        extent = (row + 1, *self.row_shape)
        self._dsid.set_extent(extent)
        if array is None:
            return
        self._fspace.set_extent_simple(extent, self._maxshape)
        self._fspace.select_hyperslab((row, *(0 for _ in self.row_shape)), (1, *self.row_shape))
        self._dsid.write(self._mspace, self._fspace, array, mtype=self._mtype)


def _default_filename(start: Document) -> str:
    """``{YYYYmmdd-HHMMSS}_{procedure}_{uid[:8]}.h5``, local time, safe on every filesystem."""
    stamp = datetime.fromtimestamp(start["time"]).strftime("%Y%m%d-%H%M%S")
    procedure = re.sub(r"[^A-Za-z0-9_.-]+", "_", start["procedure"])
    return f"{stamp}_{procedure}_{start['uid'][:8]}.h5"


def _iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")


def _numpy_dtype(name: str) -> np.dtype:
    name = DTYPE_ALIASES.get(name, name)
    if name in STRING_DTYPES:
        return h5py.string_dtype()
    return np.dtype(name)


def _fill_value(dtype: np.dtype) -> Any:
    """What a missing value reads as: NaN, the most negative integer, else HDF5's 0/False/""."""
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return np.iinfo(dtype).min
    return None


def _group(parent: h5py.Group, name: str, nx_class: str = "NXcollection") -> h5py.Group:
    group = parent.create_group(name, track_order=True)
    group.attrs["NX_class"] = nx_class
    return group


def _label(dataset: h5py.Dataset, name: str, units: str, description: str) -> None:
    """``units`` and ``long_name`` are what h5web and silx put on a plot's axes."""
    long_name = description or name
    dataset.attrs.update(
        units=units,
        description=description,
        long_name=f"{long_name} ({units})" if units else long_name,
    )


def _is_quantity(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and value.keys() <= QUANTITY_KEYS


def _write_tree(group: h5py.Group, mapping: dict[str, Any]) -> None:
    """Nested dicts become groups; leaves and {value, units} quantities become datasets."""
    for name, value in mapping.items():
        if isinstance(value, dict) and not _is_quantity(value):
            _write_tree(_group(group, name), value)
        else:
            _write_quantity(group, name, value if _is_quantity(value) else {"value": value})


def _write_quantity(group: h5py.Group, name: str, quantity: dict[str, Any]) -> h5py.Dataset:
    dataset = _write_value(group, name, quantity["value"])
    for key in ("units", "description"):
        if key in quantity:
            dataset.attrs[key] = quantity[key]
    return dataset


def _write_value(group: h5py.Group, name: str, value: Any) -> h5py.Dataset:
    data, as_json = _storable(value)
    dataset = group.create_dataset(name, data=data)
    if as_json:
        dataset.attrs["encoding"] = "json"
    return dataset


def _storable(value: Any) -> tuple[Any, bool]:
    """(what h5py stores faithfully, whether it had to be JSON-encoded)."""
    if value is None:
        return h5py.Empty("f8"), False
    if isinstance(value, str):
        return value, False
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        array = np.empty(0, dtype=object)
    if array.dtype.kind == "U":
        return array.astype(h5py.string_dtype()), False
    if array.dtype.kind == "O":
        return json.dumps(value, default=str), True
    return array, False


def _plot_attrs(
    data: h5py.Group, plot: dict[str, Any], shapes: dict[str, tuple], fallback: str
) -> None:
    """NXdata ``signal``/``axes``/``<axis>_indices`` so viewers open on the procedure's plot.

    Each axis is placed by its shape: a per-point scalar spans the point dimension, a constant
    1-D array (the wavelength axis) the signal dimension of the same length. A second axis for
    a dimension already taken gets only its ``_indices`` (a NeXus alternative axis).
    """
    signal = plot.get("signal") or fallback
    signal_shape = shapes.get(signal, ())
    if not signal_shape or signal_shape[0] is not None:
        raise ValueError(f"plot signal {signal!r} is not a per-point data key")
    axes = plot.get("axes") or []
    names = ["."] * len(signal_shape)
    for axis in [axes] if isinstance(axes, str) else axes:
        shape = shapes.get(axis)
        if shape is None:
            raise ValueError(f"plot axis {axis!r} is not a data key or constant")
        fits = (
            [0]
            if shape == (None,)
            else [i for i in range(1, len(signal_shape)) if shape == (signal_shape[i],)]
        )
        if not fits:
            raise ValueError(
                f"plot axis {axis!r} of shape {shape} fits no dimension of signal {signal!r}"
            )
        dim = next((i for i in fits if names[i] == "."), fits[0])
        if names[dim] == ".":
            names[dim] = axis
        data.attrs[f"{axis}_indices"] = np.int64(dim)
    data.attrs.update(signal=signal, axes=np.array(names, dtype=h5py.string_dtype()))
