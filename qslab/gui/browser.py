"""The run browser: open a qslab HDF5 file, or a folder of them, and see each run in the same
plots as a live run, with its metadata and analysis.

A file is turned back into the documents that made it (:func:`record_documents`), so the plots
have one way in, whether the points arrive from the engine or from the disk.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qslab.errors import QslabError
from qslab.gui.plots import RunPlots
from qslab.gui.worker import Batch
from qslab.storage.reader import RunRecord, format_result, read_run

RUN_SUFFIXES = (".h5", ".hdf5", ".nxs")


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return 0.0


def record_documents(record: RunRecord) -> Batch:
    """The start, descriptor, events, analysis and stop documents of a recorded run."""
    start_time = _timestamp(record.start_time)
    per_point = {name: c for name, c in record.data.items() if c.per_point}
    values = {name: column.read() for name, column in per_point.items()}
    times = values.pop("time", None)
    start = {
        "uid": record.uid,
        "time": start_time,
        "procedure": record.procedure,
        "parameters": record.parameters,
        "station": record.station,
        "sample": record.sample,
    }
    descriptor = {
        "run_uid": record.uid,
        "data_keys": {
            name: {"shape": list(c.shape[1:]), "units": c.units, "description": c.description}
            for name, c in per_point.items()
            if name != "time"
        },
        "constants": {
            name: {"value": c.read(), "units": c.units, "description": c.description}
            for name, c in record.data.items()
            if not c.per_point
        },
        "plot": record.plot,
    }
    batch: Batch = [("start", start, start_time), ("descriptor", descriptor, start_time)]
    for i in range(record.points):
        when = float(times[i]) if times is not None else start_time
        data = {name: column[i] for name, column in values.items()}
        batch.append(
            ("event", {"run_uid": record.uid, "seq_num": i + 1, "time": when, "data": data}, when)
        )
    end = _timestamp(record.end_time) or start_time
    if record.analysis:
        batch.append(("analysis", {"run_uid": record.uid, "results": record.analysis}, end))
    stop = {"run_uid": record.uid, "status": record.status, "reason": record.error}
    batch.append(("stop", {**stop, "num_events": record.points}, end))
    return batch


def run_files(path: Path) -> list[Path]:
    """The run files at ``path`` (a file, or a folder searched recursively), oldest first;
    the Photon-HDF5 side files of g2 runs are not runs."""
    if path.is_file():
        return [path]
    files = [
        p
        for p in path.rglob("*")
        if p.suffix in RUN_SUFFIXES and not p.name.endswith(".photons.h5")
    ]
    return sorted(files)


class RunBrowser(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, RunRecord] = {}
        open_file = QPushButton("Open file…")
        open_folder = QPushButton("Open folder…")
        open_file.clicked.connect(self._browse_file)
        open_folder.clicked.connect(self._browse_folder)
        self.where = QLabel("open a run file or a folder of runs")
        buttons = QHBoxLayout()
        buttons.addWidget(open_file)
        buttons.addWidget(open_folder)
        buttons.addWidget(self.where, 1)
        self.runs = QTreeWidget()
        self.runs.setHeaderLabels(("file", "procedure", "status", "points"))
        self.runs.setRootIsDecorated(False)
        self.runs.currentItemChanged.connect(self._selected)
        self.metadata = QTreeWidget()
        self.metadata.setHeaderLabels(("name", "value"))
        self.metadata.setColumnWidth(0, 200)
        self.plots = RunPlots()
        side = QSplitter(Qt.Vertical)
        side.addWidget(self.runs)
        side.addWidget(self.metadata)
        side.setSizes([200, 400])
        split = QSplitter(Qt.Horizontal)
        split.addWidget(side)
        split.addWidget(self.plots)
        split.setStretchFactor(1, 3)
        split.setSizes([380, 1000])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a run", "", "qslab runs (*.h5 *.hdf5)")
        if path:
            self.open(Path(path))

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of runs")
        if path:
            self.open(Path(path))

    def open(self, path: Path) -> int:
        """List the runs at ``path`` and show the newest; returns how many were readable."""
        self.runs.clear()
        self.records = {}
        problems = []
        for file in run_files(Path(path)):
            try:
                record = read_run(file)
            except QslabError as exc:
                problems.append(str(exc))
                continue
            self.records[str(file)] = record
            item = QTreeWidgetItem((file.name, record.procedure, record.status, str(record.points)))
            item.setData(0, Qt.UserRole, str(file))
            item.setToolTip(0, str(file))
            self.runs.addTopLevelItem(item)
        skipped = f"; {len(problems)} unreadable" if problems else ""
        self.where.setText(f"{path}: {len(self.records)} runs{skipped}")
        self.where.setToolTip("\n".join(problems))
        for col in range(4):
            self.runs.resizeColumnToContents(col)
        if self.records:
            self.runs.setCurrentItem(self.runs.topLevelItem(self.runs.topLevelItemCount() - 1))
        return len(self.records)

    def _selected(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        record = self.records[item.data(0, Qt.UserRole)]
        self.show_record(record)

    def show_record(self, record: RunRecord) -> None:
        try:
            batch = record_documents(record)
        except QslabError as exc:
            self.where.setText(str(exc))
            return
        self.plots.feed(batch)
        self._fill_metadata(record)

    def _fill_metadata(self, record: RunRecord) -> None:
        self.metadata.clear()
        status = record.status + (f": {record.error}" if record.error else "")
        summary = {
            "file": str(record.path),
            "procedure": record.procedure,
            "status": status,
            "started": record.start_time,
            "ended": record.end_time,
            "points": str(record.points),
            **({"note": record.note} if record.note else {}),
        }
        self._add_group("run", summary, expanded=True)
        analysis = {name: format_result(result) for name, result in record.analysis.items()}
        self._add_group("analysis", analysis, expanded=True)
        self._add_group("sample", {k: _shown(v) for k, v in record.sample.items()})
        self._add_group(
            "parameters",
            {
                name: f"{_shown(p.get('value'))} {p.get('units', '')}".rstrip()
                for name, p in record.parameters.items()
            },
            expanded=True,
        )
        self._add_group("station", _station_rows(record.station))

    def _add_group(self, title: str, rows: dict[str, str], expanded: bool = False) -> None:
        group = QTreeWidgetItem((title, ""))
        for name, text in rows.items():
            child = QTreeWidgetItem((name, text))
            child.setToolTip(1, text)
            group.addChild(child)
        self.metadata.addTopLevelItem(group)
        group.setExpanded(expanded)


def _shown(value: Any) -> str:
    """A stored value on one line: long lists shortened, floats to 6 digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        items = [_shown(v) for v in (value if len(value) <= 8 else (value[0], value[-1]))]
        return f"[{', '.join(items)}]" if len(value) <= 8 else f"[{items[0]} … {items[1]}]"
    return str(value)


def _station_rows(station: dict[str, Any]) -> dict[str, str]:
    rows = {}
    for role, entry in station.items():
        if isinstance(entry, dict) and (entry.get("driver") or entry.get("identity")):
            rows[role] = " | ".join(
                str(entry.get(k, "")) for k in ("driver", "resource", "identity") if entry.get(k)
            )
    return rows
