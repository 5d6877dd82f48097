"""Runs the engine off the GUI thread and hands its documents to the GUI in throttled batches.

The engine calls its subscribers synchronously in its own thread, so the subscriber here only
appends to a list under a lock; the GUI thread takes the whole list at once. Refreshes happen at
most ~30 times a second, and further apart when a refresh (with the painting that follows it)
costs more, so that the GUI thread never takes more than a small share of the CPU, and of the
interpreter lock, from the acquisition (issue: "never blocks the acquisition").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, QThread, QTimer, pyqtSignal

from qslab.api import RunResult, run_procedure
from qslab.engine.documents import Document
from qslab.engine.runner import RunEngine
from qslab.station import Station

Batch = list[tuple[str, Document, float]]
"""(document name, document, Unix time it reached the GUI's subscriber)."""

MAX_RATE_HZ = 30.0
CPU_SHARE = 0.05
"""Largest share of one core the GUI thread may spend on refreshing plots during a run."""


class DocumentRelay(QObject):
    """The engine-side subscriber: collects documents and signals the GUI once per batch."""

    ready = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: Batch = []
        self._signalled = False

    def __call__(self, name: str, doc: Document) -> None:
        with self._lock:
            self._pending.append((name, doc, time.time()))
            if self._signalled:
                return
            self._signalled = True
        self.ready.emit()

    def take(self) -> Batch:
        with self._lock:
            batch, self._pending = self._pending, []
            self._signalled = False
        return batch


class RefreshThrottle(QObject):
    """Calls ``refresh(batch)`` on the GUI thread, at most ``MAX_RATE_HZ`` times a second.

    The interval stretches to keep the GUI thread's CPU time (measured from one refresh to the
    next, so painting and event handling count) under ``cpu_share`` of the wall time.
    """

    def __init__(
        self,
        relay: DocumentRelay,
        refresh: Callable[[Batch], None],
        max_rate_hz: float = MAX_RATE_HZ,
        cpu_share: float = CPU_SHARE,
    ) -> None:
        super().__init__()
        self._relay = relay
        self._refresh = refresh
        self._min_interval = 1.0 / max_rate_hz
        self._cpu_share = cpu_share
        self.interval = self._min_interval
        self._last_wall = float("-inf")
        self._last_cpu = time.thread_time()
        self.refreshes = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        relay.ready.connect(self._schedule)

    def _schedule(self) -> None:
        if self._timer.isActive():
            return
        wait = self._last_wall + self.interval - time.monotonic()
        self._timer.start(int(min(max(wait, 0.0), self.interval) * 1000))

    def flush(self) -> None:
        """Hand everything collected so far to the GUI now."""
        self._timer.stop()
        batch = self._relay.take()
        if not batch:
            return
        cpu = time.thread_time()
        self._refresh(batch)
        self.refreshes += 1
        spent = cpu - self._last_cpu
        self._last_cpu = cpu
        self._last_wall = time.monotonic()
        self.interval = min(2.0, max(self._min_interval, spent / self._cpu_share))


@dataclass
class Job:
    """One run as the queue holds it: everything ``run_procedure`` needs but the station."""

    procedure: str
    parameters: dict[str, Any]
    out: Path
    sample: dict[str, str] = field(default_factory=dict)
    on_failure: str = "stop"
    status: str = "queued"
    reason: str = ""
    path: Path | None = None

    def describe(self) -> str:
        """One line for the queue: procedure, sample, and the parameters changed from default."""
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.parameters.items())
        spot = f"spot {self.sample['spot']}" if self.sample.get("spot") else ""
        return "  ".join(filter(None, (self.procedure, self.sample.get("name"), spot, shown)))


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


class RunThread(QThread):
    """Runs one job through :func:`qslab.api.run_procedure` (the command line's path).

    ``abort``, ``pause`` and ``resume`` are safe from the GUI thread at any time: a request made
    before the engine exists is applied when the run's start document is seen.
    """

    run_finished = pyqtSignal(object)
    """The :class:`RunResult`, or the error text when the run could not start."""

    def __init__(self, job: Job, station: Station, relay: DocumentRelay) -> None:
        super().__init__()
        self.job = job
        self.station = station
        self.relay = relay
        self.engine: RunEngine | None = None
        self._lock = threading.Lock()
        self._abort_reason = ""
        self._pause_reason = ""
        self.finished.connect(self._announce)
        self.result: RunResult | str = "the run did not start"
        """The outcome once the thread has finished."""

    def run(self) -> None:
        job = self.job
        try:
            self.result = run_procedure(
                job.procedure,
                station=self.station,
                out=job.out,
                subscribers=[self._attach],
                sample=job.sample or None,
                **job.parameters,
            )
        except Exception as exc:  # noqa: BLE001 - shown to the user, the GUI goes on
            self.result = str(exc) or type(exc).__name__

    def _announce(self) -> None:
        self.run_finished.emit(self.result)

    def _attach(self, engine: RunEngine) -> Callable[[str, Document], None]:
        with self._lock:
            self.engine = engine

        def subscriber(name: str, doc: Document) -> None:
            if name == "start":
                self._apply_requests(engine)
            self.relay(name, doc)

        return subscriber

    _attach.wants_engine = True  # type: ignore[attr-defined]

    def _apply_requests(self, engine: RunEngine) -> None:
        with self._lock:
            abort, pause = self._abort_reason, self._pause_reason
        if abort:
            engine.abort(abort)
        elif pause:
            engine.pause(pause)

    def abort(self, reason: str) -> None:
        with self._lock:
            self._abort_reason = reason
            engine = self.engine
        if engine is not None:
            engine.abort(reason)  # a paused run sees it too: its wait ends on an abort

    def make_safe_now(self, reason: str) -> list[str]:
        """Abort and block the beam at once (not at the procedure's next check); what could
        not be made safe is returned. Before the engine exists this is an abort request."""
        with self._lock:
            self._abort_reason = reason
            engine = self.engine
        return [] if engine is None else engine.make_safe_now(reason)

    def pause(self, reason: str) -> None:
        with self._lock:
            self._pause_reason = reason
            engine = self.engine
        if engine is not None:
            engine.pause(reason)

    def resume(self) -> None:
        with self._lock:
            self._pause_reason = ""
            engine = self.engine
        if engine is not None:
            engine.resume()
