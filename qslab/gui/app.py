"""The main window and ``qslab gui``: panels around the live plots, the run browser beside them.

The window is the only place that knows every panel. It runs the queue's jobs one at a time in
a :class:`~qslab.gui.worker.RunThread` through :func:`qslab.api.run_procedure`, exactly as the
command line does, and fans the run's documents out (throttled) to the plots, the log, the queue's
time estimate and the status bar.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QEventLoop, Qt, QTimer
from PyQt5.QtGui import QCloseEvent, QKeySequence
from PyQt5.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QShortcut,
    QTabWidget,
    QToolBar,
    QWidget,
)

from qslab.api import RunResult
from qslab.errors import QslabError
from qslab.gui import livefit
from qslab.gui.browser import RunBrowser
from qslab.gui.log_panel import LogPanel
from qslab.gui.plots import RunPlots
from qslab.gui.plots.common import RunView
from qslab.gui.procedure_form import ProcedurePanel
from qslab.gui.queue import RunQueue
from qslab.gui.settings import Settings
from qslab.gui.station_panel import StationPanel
from qslab.gui.worker import Batch, DocumentRelay, Job, RefreshThrottle, RunThread
from qslab.recipe import load_recipe
from qslab.storage.reader import format_result

log = logging.getLogger(__name__)

HEADLINE_RESULTS = ("ase_threshold", "xx_x_splitting", "qy_xx_ratio", "g2_zero_lowest_n")
GOES_ON = ("completed", "stopped")
"""Statuses after which the queue starts its next run."""
SCREENSHOT_RUNS: dict[str, dict[str, Any]] = {
    "ase": {"points": 30, "averages": 1},
    "g2": {"fluences": [0.1, 0.2, 0.4, 0.8], "acquisition_s": 2.0},
    "lasing": {},
}
SCREENSHOT_SIZE = (1680, 1050)
SCREENSHOT_TIMEOUT_S = 180


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, station: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("qslab")
        self.settings = settings
        self.station_panel = StationPanel()
        self.procedure_panel = ProcedurePanel()
        self.queue = RunQueue()
        self.log_panel = LogPanel()
        self.plots = RunPlots()
        self.browser = RunBrowser()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Live")
        self.tabs.addTab(self.browser, "Run browser")
        self.setCentralWidget(self.tabs)
        station_dock = self._dock("Station", self.station_panel, Qt.LeftDockWidgetArea)
        procedure_dock = self._dock("Procedure", self.procedure_panel, Qt.LeftDockWidgetArea)
        queue = self._dock("Queue", self.queue, Qt.BottomDockWidgetArea)
        log_dock = self._dock("Log", self.log_panel, Qt.BottomDockWidgetArea)
        self.splitDockWidget(queue, log_dock, Qt.Horizontal)
        self.resizeDocks([queue, log_dock], [620, 1000], Qt.Horizontal)
        self.resizeDocks([queue], [230], Qt.Vertical)
        self.resizeDocks([station_dock], [440], Qt.Horizontal)
        self.resizeDocks([station_dock, procedure_dock], [300, 560], Qt.Vertical)
        safety = QToolBar("Safety")
        safety.setObjectName("toolbar-safety")
        safety.setMovable(False)
        safety.addWidget(self.station_panel.safety_bar())
        self.addToolBar(Qt.TopToolBarArea, safety)
        self.run_state = QLabel("idle")
        self.statusBar().addPermanentWidget(self.run_state)

        self.relay = DocumentRelay()
        self.throttle = RefreshThrottle(self.relay, self.on_documents)
        self.thread: RunThread | None = None
        self._reconnect_after_run = False
        self._closing = False
        self.log_panel.attach(logging.getLogger("qslab"))

        self.station_panel.message.connect(self.note)
        self.station_panel.station_changed.connect(self.procedure_panel.set_station)
        self.station_panel.make_safe_requested.connect(self.make_safe)
        self.procedure_panel.job_requested.connect(self.add_job)
        self.queue.start_requested.connect(self.start_queue)
        self.queue.pause_requested.connect(self.set_paused)
        self.queue.abort_requested.connect(lambda: self.abort("aborted from the GUI"))
        self.queue.recipe_requested.connect(self.add_recipe)
        QShortcut(QKeySequence(Qt.Key_Escape), self, self.make_safe, context=Qt.ApplicationShortcut)
        self._restore(station)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    # -- settings ------------------------------------------------------------------------------
    def _restore(self, station: str | None) -> None:
        geometry = self.settings.layout("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*SCREENSHOT_SIZE)
        state = self.settings.layout("window/state")
        if state is not None:
            self.restoreState(state)
        self.procedure_panel.restore(self.settings.record("procedure"))
        self.station_panel.load(station or self.settings.text("station") or "sim")

    def save_settings(self) -> None:
        self.settings.set_layout("window/geometry", self.saveGeometry())
        self.settings.set_layout("window/state", self.saveState())
        self.settings.set_record("procedure", self.procedure_panel.state())
        if self.station_panel.spec:
            self.settings.set_text("station", self.station_panel.spec)
        self.settings.sync()

    # -- queue and runs ------------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.log_panel.note(text)
        self.statusBar().showMessage(text, 8000)

    def add_job(self, job: Job, start: bool = False) -> None:
        self.queue.add(job)
        self.note(f"queued: {job.describe()}")
        if start:
            self.start_queue()

    def add_recipe(self, path: str) -> int:
        """Queue every run of a recipe (validated whole first) on the recipe's station."""
        try:
            recipe = load_recipe(Path(path))
        except QslabError as exc:
            self.note(f"recipe {path}: {exc}")
            return 0
        if recipe.station != self.station_panel.spec:
            if self.thread is not None:
                self.note(f"recipe {path} runs on {recipe.station}: add it when the run ends")
                return 0
            self.station_panel.load(recipe.station, seed=recipe.seed)
        for run in recipe.runs:
            self.queue.add(
                Job(run.procedure, dict(run.parameters), recipe.out, run.sample, recipe.on_failure)
            )
        self.note(f"recipe {Path(path).name}: {len(recipe.runs)} runs queued")
        return len(recipe.runs)

    def start_queue(self) -> bool:
        """Start the next queued run unless one is running; False when nothing started."""
        station = self.station_panel.station
        job = self.queue.next_job()
        if self.thread is not None or job is None:
            return False
        if station is None:
            self.note("no valid station: choose one in the Station panel")
            return False
        self._reconnect_after_run = self.station_panel.connected
        self.station_panel.set_running(True)
        self.queue.set_status(job, "running")
        self.queue.set_running(True)
        self.tabs.setCurrentWidget(self.plots)
        self.thread = RunThread(job, station, self.relay)
        self.thread.run_finished.connect(self._run_finished)
        self.thread.start()
        self.run_state.setText(f"running {job.procedure}")
        return True

    def _run_finished(self, result: RunResult | str) -> None:
        self.throttle.flush()
        thread, self.thread = self.thread, None
        if thread is None:
            return
        thread.wait()
        job = thread.job
        if isinstance(result, str):
            status, reason = "failed", result
        else:
            status, reason = result.outcome.status, result.outcome.reason
            job.path = result.path
        self.queue.set_status(job, status, reason)
        self.queue.set_running(False)
        self.station_panel.set_running(False)
        if self._reconnect_after_run:
            self.station_panel.connect_station()
        where = f" -> {job.path}" if job.path else ""
        self.note(f"{job.procedure} {status}{': ' + reason if reason else ''}{where}")
        self.run_state.setText(f"last run {status}")
        goes_on = status in GOES_ON or (status == "failed" and job.on_failure == "continue")
        if goes_on and not self._closing:
            self.start_queue()

    def abort(self, reason: str) -> None:
        if self.thread is not None:
            self.thread.abort(reason)
            self.note(f"abort requested: {reason}")

    def set_paused(self, paused: bool) -> None:
        if self.thread is None:
            return
        if paused:
            self.thread.pause("paused from the GUI")
            self.run_state.setText("pausing at the next point…")
        else:
            self.thread.resume()

    def make_safe(self) -> None:
        """Esc or the button: during a run, block the beam at once and abort (the engine
        makes the rest of the station safe as the run ends); idle, make the station safe."""
        if self.thread is not None:
            reason = "made safe from the GUI (make-safe button or Esc)"
            failures = self.thread.make_safe_now(reason)
            self.note(f"abort requested: {reason}")
            if failures:
                self.note("make safe INCOMPLETE: " + "; ".join(failures))
            return
        failures = self.station_panel.make_safe_now()
        if self.station_panel.station is None:
            self.note("no station loaded: nothing to make safe")
        elif failures:
            self.note("make safe INCOMPLETE: " + "; ".join(failures))
        else:
            self.note("station made safe: shutter closed, attenuation maximum, emission off")

    # -- documents -----------------------------------------------------------------------------
    def on_documents(self, batch: Batch) -> None:
        """A throttled batch of the running job's documents."""
        try:
            self.plots.feed(batch)
        except Exception:  # a plotting bug must not stop the run's bookkeeping
            log.exception("the live plots failed on a batch of %d documents", len(batch))
        job = self.thread.job if self.thread is not None else None
        for name, doc, _ in batch:
            if name == "start":
                self.note(f"run {doc['uid'][:8]} started: {doc['procedure']}")
            elif name == "progress" and job is not None:
                self.queue.progress(job, doc["done"], doc["total"])
                self.run_state.setText(
                    f"{job.procedure}: {doc['done']}/{doc['total']} {doc.get('message', '')}"
                )
            elif name == "pause":
                self.note(f"paused, station safe: {doc.get('reason', '')}")
                self.run_state.setText("paused (station safe)")
                if job is not None:
                    self.queue.set_status(job, "paused")
            elif name == "resume":
                self.note("resumed")
                if job is not None:
                    self.queue.set_status(job, "running")
            elif name == "event" and doc["data"].get("retake"):
                self.note(f"point {doc['data'].get('point', '?')} retaken after a pause")
            elif name == "analysis":
                for key in HEADLINE_RESULTS:
                    if key in doc["results"]:
                        self.note(f"{key}: {format_result(doc['results'][key])}")

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._closing = True
        if self.thread is not None:
            self.thread.abort("the application was closed")
            self.thread.wait()
            self._run_finished(self.thread.result)
        self.station_panel.disconnect_station()
        if self.station_panel.station is not None:
            self.station_panel.station.shutdown()
        self.save_settings()
        self.log_panel.detach(logging.getLogger("qslab"))
        livefit.shutdown()
        for view in self.findChildren(RunView):
            view.close()  # pyqtgraph's own teardown: its scene emptied while every item lives
        super().closeEvent(event)


def wait_for(condition, timeout_s: float) -> bool:
    """Run the event loop until ``condition()`` or the timeout; True if it came true."""
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    while not condition():
        if time.monotonic() > deadline:
            return False
        QTimer.singleShot(20, loop.quit)
        loop.exec_()
    return True


def _typed(value: Any) -> str:
    """A parameter value as a user types it into the form."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def screenshot_procedure(station) -> str:
    """What a screenshot runs on this station: lasing when its bench has a cavity, g2 when it
    has a TCSPC counter, else an ASE series."""
    bench = station.bench
    if bench is not None and getattr(bench, "cavity", None) is not None:
        return "lasing"
    return "g2" if "tcspc" in station.config.roles else "ase"


def take_screenshot(station: str | None, path: Path) -> int:
    """Run a short simulated scan (:func:`screenshot_procedure`) out of real time, save the main
    window as PNG; 0 when the run completed and the file was written."""
    target = Path(path).resolve()
    if station and Path(station).is_file():
        station = str(Path(station).resolve())
    with tempfile.TemporaryDirectory(prefix="qslab-gui-") as folder, contextlib.chdir(folder):
        # run from the temporary folder: the picture shows "runs/...", not this machine's paths
        window = MainWindow(Settings(Path(folder) / "settings.ini"), station or "sim")
        panel = window.station_panel
        bench = panel.station.bench if panel.station is not None else None
        simulated = bench is not None and all(
            rc.simulated for rc in panel.station.config.roles.values()
        )
        if not simulated:
            window.note(f"station {station} is not fully simulated: the screenshot uses sim")
            panel.load("sim")
            bench = panel.station.bench
        bench.realtime = False  # a short scan: the simulated instruments do not wait
        procedure = screenshot_procedure(panel.station)
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        form = window.procedure_panel
        form.chooser.setCurrentIndex(form.chooser.findData(procedure))
        form.form.set_texts({k: _typed(v) for k, v in SCREENSHOT_RUNS[procedure].items()})
        form.out.setText("runs")
        form.run_button.click()
        finished = wait_for(lambda: window.thread is None, SCREENSHOT_TIMEOUT_S)
        status = window.queue.jobs[-1].status
        wait_for(lambda: False, 0.5)  # the last fit and repaint
        target.parent.mkdir(parents=True, exist_ok=True)
        saved = window.grab().save(str(target), "PNG")
        window.close()
    ok = finished and saved and status in GOES_ON
    print(f"{path}: {procedure} run {status}" + ("" if saved else ", NOT saved"))
    return 0 if ok else 1


def main(station: str | None = None, screenshot: Path | None = None) -> int:
    """``qslab gui``: the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("qslab")
    if screenshot is not None:
        return take_screenshot(station, Path(screenshot))
    window = MainWindow(Settings(), station)
    window.show()
    return app.exec_()
