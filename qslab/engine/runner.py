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
import os
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from qslab import __version__
from qslab.engine import documents as docs
from qslab.engine.documents import POINT_KEYS, Document, Subscriber
from qslab.engine.dose import DoseLedger
from qslab.engine.spots import STAGE_KEYS, SpotKeeper
from qslab.engine.suspenders import PointChecks, SuspenderConfig
from qslab.errors import DeviceError, PumpLost, QslabError, RunAborted
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
    """What a running procedure uses to report, to take its points, and to learn that it must
    stop. Procedures take each point of their plan through :meth:`point`, which is where the
    engine pauses, retakes, skips points already in a resumed file, and keeps the dose."""

    def __init__(
        self,
        emit,
        abort_event: threading.Event,
        bench=None,
        side_file=None,
        engine: RunEngine | None = None,
        station: Station | None = None,
        procedure: Procedure | None = None,
    ) -> None:
        self._emit = emit
        self._abort = abort_event
        self._side_file = side_file
        self._engine = engine
        self._station = station
        self._procedure = procedure
        self.run_uid = ""
        self.num_events = 0
        self.analysis: dict[str, dict[str, Any]] = {}
        self.abort_reason = ""
        self.bench = bench
        self.taken: list[dict[str, Any]] = []
        """Data of every point kept so far (plan order), including those of a resumed file."""
        self.stopped_early = ""
        """Why the plan ended before its last point (a sample-protection limit), or ""."""
        self.completed: dict[int, dict[str, Any]] = {}
        self.checks = PointChecks(SuspenderConfig())
        self.dose: DoseLedger | None = None
        self.pauses: list[dict[str, Any]] = []
        self.spots: SpotKeeper | None = None
        """The sample stage's spot, on a station that has one."""
        self._reference_level: float | None = None

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
            {
                "run_uid": self.run_uid,
                "data_keys": {**data_keys, **POINT_KEYS, **(STAGE_KEYS if self.spots else {})},
                "constants": constants,
                "plot": plot,
            },
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

    def point(
        self,
        index: int,
        measure: Callable[[], dict[str, Any]],
        fluence_uj_cm2: float = 0.0,
        pulses: float = 0.0,
    ) -> dict[str, Any] | None:
        """Take point ``index`` of the plan with ``measure`` and store it.

        Returns the point's data, or None when the plan must end here (the spot's dose limit
        would be exceeded: :attr:`stopped_early` says so). ``fluence_uj_cm2`` and ``pulses``
        are the point's planned peak fluence on the sample (0 when the sample is out of the
        beam) and the pulses that will reach it; the dose booked uses the fluence measured
        (``data["fluence"]``) when there is one.
        A point already in a resumed file is returned from there without measuring.
        """
        if index in self.completed:
            data = self.completed[index]
        else:
            data = self._take(index, measure, fluence_uj_cm2, pulses)
            if data is None:
                return None
        self.taken.append(data)
        self.checks.accept(data)
        return data

    def reference(
        self,
        measure: Callable[[], dict[str, Any]],
        fluence_uj_cm2: float,
        pulses: float,
        signal: str,
        tolerance: float,
        on_drift: str = "pause",
    ) -> dict[str, Any] | None:
        """Measure the sample's reference point again and compare ``signal`` (normalised by the
        procedure for the pump it got, so that pump jitter does not count as drift) with its
        first measurement: a spot that degrades (or a collection path that drifts) shows here
        before it spoils the series.

        Stored as a point with ``reference = true`` and ``point = -1`` (not part of the plan or
        of :attr:`taken`). On drift beyond ``tolerance``: ``"pause"`` suspends the run until
        someone resumes it (after moving to a fresh spot, say; the next reference then sets a
        new baseline); ``"stop"`` ends the plan here (status ``stopped``). Returns None when
        the plan must end.
        """
        data = self._take(-1, measure, fluence_uj_cm2, pulses, reference=True)
        if data is None:
            return None
        level = float(data[signal])
        if self._reference_level is None:
            self._reference_level = level
            return data
        drift = level / self._reference_level - 1.0
        if abs(drift) <= tolerance:
            return data
        reason = (
            f"{signal} at the reference point changed by {drift:+.0%} since the run's first "
            f"reference (tolerance {tolerance:g}): the sample spot may be degrading"
        )
        if on_drift == "stop":
            self.stopped_early = f"{reason}; go on on a fresh spot"
            return None
        self._reference_level = None
        if on_drift == "move" and self.spots is not None:
            try:
                place = self.spots.fresh_spot()
            except QslabError as exc:
                self.stopped_early = f"{reason}; {exc}"
                return None
            where = f"moving to a fresh spot at x={place[0]:g}, y={place[1]:g} mm"
            self._suspend(f"{reason}; {where}", 0.0, while_safe=lambda: self.spots.move_to(place))
            # the fresh spot's first reference is its baseline
            return self.reference(measure, fluence_uj_cm2, pulses, signal, tolerance, on_drift)
        self._suspend(reason, None)
        return data

    def _take(
        self,
        index: int,
        measure: Callable[[], dict[str, Any]],
        fluence_uj_cm2: float,
        pulses: float,
        reference: bool = False,
    ) -> dict[str, Any] | None:
        """Measure (pausing, retaking and booking the dose as configured) and store."""
        self.check_abort()
        planned = fluence_uj_cm2 * 1e-6 * pulses
        what = "the reference point" if reference else f"point {index + 1}"
        if self.dose is not None and not self.dose.allows(planned):
            self.stopped_early = (
                f"dose limit: {what} would bring spot {self.dose.spot!r} to "
                f"{self.dose.total + planned:.4g} J/cm^2, above "
                f"station.limits.max_dose_J_cm2 = {self.dose.limit:g}"
            )
            return None
        if self._engine is not None and self._engine.pause_requested:
            self._suspend(self._engine.pause_reason, None)
        config = self.checks.config
        retakes = 0
        if self._station is not None and not reference:
            self._station.before_point(index)
        while True:
            error = None
            try:
                data = measure()
                reason = self.checks.trip(data)
            except (DeviceError, PumpLost) as exc:
                if not config.suspends(exc):
                    raise
                reason, error = _describe(exc), exc
            if not reason:
                break
            if retakes >= config.max_retakes:
                raise QslabError(f"{what} could not be taken: {reason}")
            retakes += 1
            self._suspend(
                reason,
                None if config.on_trip == "pause" else config.wait_s,
                reconnect=isinstance(error, DeviceError),
            )
        self.check_abort()  # a point measured while the beam was being blocked is not kept
        data = {**data, "point": index, "retake": retakes > 0, "reference": reference}
        if self.spots is not None:
            data |= self.spots.point_columns()
        dose = 0.0
        if self.dose is not None:
            on_sample = float(data.get("fluence", fluence_uj_cm2)) if fluence_uj_cm2 > 0 else 0.0
            dose = max(on_sample * 1e-6 * pulses, 0.0)
            data["dose"] = self.dose.total + dose
        self.event(data)
        if self.dose is not None:  # booked once stored: a point the file refused is retaken
            self.dose.add(dose)
        return data

    def column(self, name: str) -> np.ndarray:
        """One quantity over every point kept, for the final analysis."""
        return np.array([d[name] for d in self.taken])

    def _suspend(
        self,
        reason: str,
        hold_s: float | None,
        reconnect: bool = False,
        while_safe: Callable[[], Any] | None = None,
    ) -> None:
        """Safe state, hold ``hold_s`` seconds (None: until resumed), do ``while_safe`` (move
        the sample), (reconnect,) re-arm the pump: the run goes on from here."""
        engine, station = self._engine, self._station
        log.warning("run paused: %s", reason)
        record = {"run_uid": self.run_uid, "time": time.time(), "reason": reason}
        self.pauses.append(record)
        self._emit("pause", record)
        if station is not None:
            station.make_safe()
        if engine is not None:  # a pause asked for meanwhile holds until resumed
            engine.wait_while_paused(None if engine.pause_requested else hold_s)
        self.check_abort()
        if while_safe is not None:
            while_safe()
        if station is not None:
            station.after_pause()
        if reconnect and station is not None:
            station.close()
            station.connect()
        self._emit("resume", {"run_uid": self.run_uid, "time": time.time(), "reason": reason})
        if self._procedure is not None:
            self._procedure.after_pause()

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
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._holding = threading.Event()
        self._stop_when_safe = False
        self._station: Station | None = None
        self.pause_reason = ""
        self.side_file = None
        """Optional ``suffix -> Path`` for files written beside the run's (set by the caller)."""
        self.dose_ledger: DoseLedger | None = None
        """The sample spot's dose ledger (set by the caller that knows the run folder)."""
        self.completed: list[dict[str, Any]] = []
        """Points already in the file being resumed; they are not measured again."""

    def subscribe(self, subscriber: Subscriber, critical: bool = False) -> None:
        self._subscribers.append((subscriber, critical))

    def abort(self, reason: str = "aborted by request") -> None:
        """Ask the running procedure to stop at its next check; safe from any thread."""
        if not self._abort.is_set():
            self._reason = reason
            self._abort.set()

    def make_safe_now(self, reason: str = "made safe by request") -> list[str]:
        """Abort the run and block the beam at once, from any thread, without waiting for the
        procedure's next check (qslab/instruments/guard.py says why that is sound). Returns
        what could not be made safe; the engine makes the rest safe as the run ends."""
        self.abort(reason)
        station = self._station
        return [] if station is None else station.block_beam_now(reason)

    def pause(self, reason: str = "paused by request") -> None:
        """Pause at the next point boundary: the station is made safe until :meth:`resume`."""
        self.pause_reason = reason
        self._resume.clear()
        self._pause.set()

    def resume(self) -> None:
        """End a pause (or cut short a suspender's wait); safe from any thread."""
        self._pause.clear()
        self._resume.set()

    @property
    def pause_requested(self) -> bool:
        return self._pause.is_set()

    def wait_while_paused(self, timeout: float | None) -> None:
        """Block the run until resumed, aborted, or ``timeout`` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._holding.set()
        while not self._abort.is_set() and not self._resume.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._resume.wait(0.05)
        self._holding.clear()
        self._pause.clear()
        self._resume.clear()

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
        """Run to the end in a worker thread. Here, in the main thread, Ctrl-C and SIGTERM
        abort the run; Ctrl-Z (SIGTSTP) pauses it at the next point and, once the station is
        safe, stops the process; ``fg`` (SIGCONT) resumes it."""
        self._abort.clear()
        outcome: list[RunOutcome] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(self._run_worker(procedure, station))
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"qslab-{procedure.name}", daemon=True)
        self._station = station
        previous = self._install_signals()
        try:
            worker.start()
            # wait on an Event, not Thread.join: a join interrupted by Ctrl-C can leave the
            # thread looking finished while it still runs (CPython 3.11)
            while not done.is_set():
                try:
                    done.wait(0.1)
                    self._stop_process_once_safe()
                except KeyboardInterrupt:
                    self.abort("interrupted by the user (Ctrl-C)")
        finally:
            self._restore_signals(previous)
        return outcome[0]

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers = {signal.SIGTERM: lambda *_: self.abort("terminated by a signal (SIGTERM)")}
        if hasattr(signal, "SIGTSTP"):
            handlers[signal.SIGTSTP] = self._terminal_pause
            handlers[signal.SIGCONT] = lambda *_: self._pause.is_set() and self.resume()
        return {number: signal.signal(number, handler) for number, handler in handlers.items()}

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def _terminal_pause(self, *_: Any) -> None:
        self._stop_when_safe = True
        self.pause("paused from the terminal (Ctrl-Z); fg resumes")

    def _stop_process_once_safe(self) -> None:
        """Ctrl-Z: stop the process only once the run holds with the station safe, so that a
        stopped qslab never leaves the beam on the sample."""
        if self._stop_when_safe and self._holding.is_set():
            self._stop_when_safe = False
            print("qslab: paused, station safe; 'fg' resumes the run", file=sys.stderr)
            os.kill(os.getpid(), signal.SIGSTOP)

    def _run_worker(self, procedure: Procedure, station: Station) -> RunOutcome:
        ctx = RunContext(
            self._emit, self._abort, station.bench, self.side_file, self, station, procedure
        )
        ctx.checks = PointChecks(station.config.suspenders)
        ctx.dose = self.dose_ledger
        ctx.completed = {int(d["point"]): d for d in self.completed if not d.get("reference")}
        ctx.num_events = len(self.completed)  # a resumed file's events keep counting on
        status, reason, started = "failed", "", False
        try:
            station.connect()
            if "stage" in station.devices:
                ctx.spots = SpotKeeper(station, ctx.dose)
                ctx.spots.go_to_run_spot(self.completed)
            start = docs.start_document(
                procedure=procedure.name,
                parameters=procedure.parameter_record(),
                station=station.describe(),
                sample={k: station.config.sample[k] for k in SAMPLE_TEXT_KEYS},
                calibration=dict(station.config.calibration),
                environment=environment(),
                qslab_version=__version__,
                station_source=station.config.source.removeprefix("builtin:"),
                seed=station.config.bench.get("seed"),
            )
            ctx.run_uid = start["uid"]
            self._emit("start", start)
            started = True
            procedure.run(ctx)
            ctx.check_abort()
            status = "stopped" if ctx.stopped_early else "completed"
            reason = ctx.stopped_early
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
                status = "failed" if status in ("completed", "stopped") else status
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
