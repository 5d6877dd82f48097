"""The run queue: runs and whole recipes waiting their turn, their order, and the controls of
the run in progress (start, pause / resume at point boundaries, abort) with the time left.

The queue only holds jobs and shows them; the main window starts each run and reports back
through :meth:`RunQueue.set_status` and :meth:`RunQueue.progress`. Time left is learned: the
seconds per point of the run in progress (and of the last run of each procedure) times the
points still planned.
"""

from __future__ import annotations

import time

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from qslab.gui.worker import Job
from qslab.procedures import PROCEDURES
from qslab.procedures.parameters import resolve

STATUS_MARKS = {
    "queued": "·",
    "running": "▶",
    "paused": "Ⅱ",
    "completed": "✓",
    "stopped": "✓",
    "aborted": "■",
    "failed": "✗",
}


def planned_points(job: Job) -> int:
    """Points the job's plan holds: its explicit fluence list, else ``points``, else 1."""
    values = resolve(PROCEDURES[job.procedure].parameters, job.parameters)
    fluences = values.get("fluences")
    return len(fluences) if fluences else int(values.get("points", 1))


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class RunQueue(QWidget):
    start_requested = pyqtSignal()
    pause_requested = pyqtSignal(bool)
    """True to pause the run in progress, False to resume it."""
    abort_requested = pyqtSignal()
    recipe_requested = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self.list = QListWidget()
        self.list.setToolTip("runs in the order they will be taken")
        self.buttons = {
            name: QPushButton(text)
            for name, text in (
                ("start", "Start"),
                ("pause", "Pause"),
                ("abort", "Abort"),
                ("up", "Up"),
                ("down", "Down"),
                ("remove", "Remove"),
                ("recipe", "Add recipe…"),
                ("clear", "Clear done"),
            )
        }
        self.buttons["start"].clicked.connect(self.start_requested)
        self.buttons["pause"].setCheckable(True)
        self.buttons["pause"].toggled.connect(self._pause_toggled)
        self.buttons["abort"].clicked.connect(self.abort_requested)
        self.buttons["up"].clicked.connect(lambda: self._move(-1))
        self.buttons["down"].clicked.connect(lambda: self._move(1))
        self.buttons["remove"].clicked.connect(self._remove)
        self.buttons["recipe"].clicked.connect(self._browse_recipe)
        self.buttons["clear"].clicked.connect(self._clear_done)
        self.buttons["pause"].setToolTip("pause at the next point boundary; the station is safe")
        self.buttons["abort"].setToolTip("stop the run in progress (file status 'aborted')")
        grid = QGridLayout()
        for i, name in enumerate(self.buttons):
            grid.addWidget(self.buttons[name], i // 4, i % 4)
        self.time_left = QLabel("idle")
        self.time_left.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)
        layout.addWidget(self.time_left)
        self.seconds_per_point: dict[str, float] = {}
        self._run_started = 0.0
        self._current_left: float | None = None
        self.set_running(False)

    # -- contents ------------------------------------------------------------------------------
    def add(self, job: Job) -> None:
        self.jobs.append(job)
        self.list.addItem(QListWidgetItem())
        self._label(len(self.jobs) - 1)
        self._show_time()

    def next_job(self) -> Job | None:
        return next((job for job in self.jobs if job.status == "queued"), None)

    def set_status(self, job: Job, status: str, reason: str = "") -> None:
        starting = job.status == "queued" and status == "running"
        job.status, job.reason = status, reason
        self._label(self.jobs.index(job))
        if starting:
            self._run_started = time.monotonic()
            self._current_left = None
        self._show_time()

    def _label(self, row: int) -> None:
        job = self.jobs[row]
        item = self.list.item(row)
        text = f"{STATUS_MARKS.get(job.status, '?')} {job.describe()}"
        item.setText(text + (f"  [{job.status}]" if job.status != "queued" else ""))
        tip = [f"status: {job.status}", *([job.reason] if job.reason else [])]
        tip += [f"file: {job.path}"] if job.path else []
        item.setToolTip("\n".join(tip))

    def _move(self, step: int) -> None:
        row = self.list.currentRow()
        other = row + step
        if row < 0 or not 0 <= other < len(self.jobs):
            return
        if "queued" not in (self.jobs[row].status, self.jobs[other].status):
            return
        self.jobs[row], self.jobs[other] = self.jobs[other], self.jobs[row]
        self._label(row)
        self._label(other)
        self.list.setCurrentRow(other)

    def _remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0 and self.jobs[row].status not in ("running", "paused"):
            del self.jobs[row]
            self.list.takeItem(row)
            self._show_time()

    def _clear_done(self) -> None:
        for row in reversed(range(len(self.jobs))):
            if self.jobs[row].status not in ("queued", "running", "paused"):
                del self.jobs[row]
                self.list.takeItem(row)

    def _browse_recipe(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a recipe", "", "Recipes (*.toml)")
        if path:
            self.recipe_requested.emit(path)

    # -- the run in progress -------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.buttons["start"].setEnabled(not running)
        self.buttons["pause"].setEnabled(running)
        self.buttons["abort"].setEnabled(running)
        if not running:
            self.buttons["pause"].blockSignals(True)
            self.buttons["pause"].setChecked(False)
            self.buttons["pause"].setText("Pause")
            self.buttons["pause"].blockSignals(False)
            self._current_left = None
            self._show_time()

    def _pause_toggled(self, paused: bool) -> None:
        self.buttons["pause"].setText("Resume" if paused else "Pause")
        self.pause_requested.emit(paused)

    def progress(self, job: Job, done: int, total: int) -> None:
        """A progress document of the running job: learn its pace, update the time left."""
        elapsed = time.monotonic() - self._run_started
        if done > 0 and total > 0:
            self.seconds_per_point[job.procedure] = elapsed / done
            self._current_left = elapsed / done * (total - done)
        self._show_time()

    def _show_time(self) -> None:
        waiting = [job for job in self.jobs if job.status == "queued"]
        running = any(job.status in ("running", "paused") for job in self.jobs)
        if not running and not waiting:
            self.time_left.setText("idle")
            return
        parts = []
        if running:
            current = self._current_left
            parts.append(
                f"this run: {format_seconds(current)} left"
                if current is not None
                else "this run: time left known after its first point"
            )
        if waiting:
            known = [j for j in waiting if j.procedure in self.seconds_per_point]
            estimate = sum(planned_points(j) * self.seconds_per_point[j.procedure] for j in known)
            text = f"{len(waiting)} queued"
            if known:
                text += f", about {format_seconds(estimate)}"
                text += "" if len(known) == len(waiting) else " + runs of unknown pace"
            parts.append(text)
        self.time_left.setText("; ".join(parts))
