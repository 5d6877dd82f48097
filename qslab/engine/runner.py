"""The run engine: one procedure, one station, one stream of documents, one safe ending.

The procedure runs in a worker thread and emits documents synchronously to the subscribers,
so that the HDF5 writer has flushed a point before the next one is taken (DESIGN.md
principle 4). The calling thread only waits, which keeps it free to receive Ctrl-C and SIGTERM;
both become a request to abort, honoured at the procedure's next check. Whatever ends the run,
the worker puts the station in its safe state before the stop document is emitted
(principle 5).
"""

from __future__ import annotations

import getpass
import logging
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from qslab import __version__
from qslab.engine import documents as docs
from qslab.engine.documents import Document, Subscriber
from qslab.errors import RunAborted
from qslab.procedures.base import Procedure
from qslab.station import SAMPLE_TEXT_KEYS, Station

log = logging.getLogger(__name__)

REPORTED_PACKAGES = ("numpy", "scipy", "h5py", "pymeasure", "pyvisa", "pyvisa-py", "seabreeze")


def environment() -> dict[str, Any]:
    """Where and with what a run was taken."""
    packages = {}
    for name in REPORTED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": user,
        "packages": packages,
    }


@dataclass
class RunOutcome:
    status: str
    reason: str
    uid: str
    num_events: int
    analysis: dict[str, dict[str, Any]] = field(default_factory=dict)


class RunContext:
    """What a running procedure uses to report and to learn that it must stop."""

    def __init__(self, emit, abort_event: threading.Event, bench=None, side_file=None) -> None:
        self._emit = emit
        self._abort = abort_event
        self._side_file = side_file
        self.run_uid = ""
        self.num_events = 0
        self.analysis: dict[str, dict[str, Any]] = {}
        self.abort_reason = ""
        self.bench = bench

    def side_file(self, suffix: str):
        """A path beside the run's file for data that has a format of its own (raw time tags
        as Photon-HDF5), or None when the run is not being written to a file."""
        return None if self._side_file is None else self._side_file(suffix)

    def check_abort(self) -> None:
        """Raise :class:`RunAborted` if someone asked the run to stop."""
        if self._abort.is_set():
            raise RunAborted(self.abort_reason or "aborted")

    def descriptor(
        self,
        data_keys: dict[str, dict[str, Any]],
        constants: dict[str, dict[str, Any]],
        plot: dict[str, Any],
    ) -> None:
        self._emit(
            "descriptor",
            {"run_uid": self.run_uid, "data_keys": data_keys, "constants": constants, "plot": plot},
        )

    def event(self, data: dict[str, Any]) -> None:
        self.num_events += 1
        self._emit(
            "event",
            {
                "run_uid": self.run_uid,
                "seq_num": self.num_events,
                "time": time.time(),
                "data": data,
            },
        )

    def progress(self, done: int, total: int, message: str = "", **live: Any) -> None:
        """Where the run is; ``live`` carries what a live plot shows between points (the
        running histogram of a g2 acquisition), never stored."""
        doc = {"run_uid": self.run_uid, "done": done, "total": total, "message": message}
        if live:
            doc["live"] = live
        self._emit("progress", doc)

    def results(self, results: dict[str, dict[str, Any]]) -> None:
        self.analysis.update(results)
        self._emit("analysis", {"run_uid": self.run_uid, "results": results})


class RunEngine:
    """Runs procedures on a station and fans their documents out to subscribers.

    A subscriber marked ``critical`` (the file writer) fails the run if it raises: a run whose
    data cannot be stored must stop. Other subscribers (plots, progress bars) are logged and
    dropped from the rest of the run instead.
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, bool]] = []
        self._abort = threading.Event()
        self._reason = ""
        self.side_file = None
        """Optional ``suffix -> Path`` for files written beside the run's (set by the caller)."""

    def subscribe(self, subscriber: Subscriber, critical: bool = False) -> None:
        self._subscribers.append((subscriber, critical))

    def abort(self, reason: str = "aborted by request") -> None:
        """Ask the running procedure to stop at its next check; safe from any thread."""
        if not self._abort.is_set():
            self._reason = reason
            self._abort.set()

    def _emit(self, name: str, doc: Document) -> None:
        for sub, critical in list(self._subscribers):
            try:
                sub(name, doc)
            except Exception:
                if critical:
                    raise
                log.exception("subscriber %r failed on %s; dropped", sub, name)
                self._subscribers.remove((sub, critical))

    def run(self, procedure: Procedure, station: Station) -> RunOutcome:
        """Run to the end in a worker thread; Ctrl-C and SIGTERM here abort the run."""
        self._abort.clear()
        outcome: list[RunOutcome] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(self._run_worker(procedure, station))
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"qslab-{procedure.name}", daemon=True)
        previous = self._install_sigterm()
        try:
            worker.start()
            # wait on an Event, not Thread.join: a join interrupted by Ctrl-C can leave the
            # thread looking finished while it still runs (CPython 3.11)
            while not done.is_set():
                try:
                    done.wait(0.1)
                except KeyboardInterrupt:
                    self.abort("interrupted by the user (Ctrl-C)")
        finally:
            self._restore_sigterm(previous)
        return outcome[0]

    def _install_sigterm(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(
            signal.SIGTERM, lambda *_: self.abort("terminated by a signal (SIGTERM)")
        )

    @staticmethod
    def _restore_sigterm(previous) -> None:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

    def _run_worker(self, procedure: Procedure, station: Station) -> RunOutcome:
        ctx = RunContext(self._emit, self._abort, station.bench, self.side_file)
        status, reason, started = "failed", "", False
        try:
            station.connect()
            start = docs.start_document(
                procedure=procedure.name,
                parameters=procedure.parameter_record(),
                station=station.describe(),
                sample={k: station.config.sample[k] for k in SAMPLE_TEXT_KEYS},
                calibration=dict(station.config.calibration),
                environment=environment(),
                qslab_version=__version__,
            )
            ctx.run_uid = start["uid"]
            self._emit("start", start)
            started = True
            procedure.run(ctx)
            ctx.check_abort()
            status = "completed"
        except RunAborted:
            status, reason = "aborted", self._reason or "aborted"
        except Exception as exc:
            status, reason = "failed", _describe(exc)
            log.debug("run failed:\n%s", traceback.format_exc())
        finally:
            failures = station.make_safe()
            if failures:
                reason = "; ".join(
                    filter(None, [reason, "safe state incomplete: " + "; ".join(failures)])
                )
                status = "failed" if status == "completed" else status
            station.close()
        if started:
            stop = {
                "run_uid": ctx.run_uid,
                "time": time.time(),
                "status": status,
                "reason": reason,
                "num_events": ctx.num_events,
            }
            try:
                self._emit("stop", stop)
            except Exception as exc:
                status = "failed"
                reason = "; ".join(filter(None, [reason, f"could not record the stop: {exc}"]))
        return RunOutcome(status, reason, ctx.run_uid, ctx.num_events, ctx.analysis)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return (
        text
        if isinstance(exc, (OSError, ValueError)) or "qslab" in type(exc).__module__
        else (f"{type(exc).__name__}: {text}")
    )


def jsonable(value: Any) -> Any:
    """Numpy scalars and arrays into plain Python, for documents bound to JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
