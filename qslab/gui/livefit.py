"""The live threshold fit: the run's own analysis on the points so far, in another process.

A rate-equation fit takes most of a second of CPU; in a thread of the GUI's process it would
hold the interpreter lock against the acquisition. A single worker process (started on first
use, ``spawn`` so that it shares no Qt state) runs it instead, one fit at a time, and the next
fit waits for new points. The result comes back as a Qt signal of the :class:`LiveFit` itself,
which stays alive while a fit is in flight, so a fit that ends after its plot has been closed
finds no dead object to call.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from qslab.analysis.threshold import threshold_rate_equation

MIN_POINTS = 8
"""The rate-equation fit refuses fewer points."""
MIN_SPACING_S = 0.5

_executor: ProcessPoolExecutor | None = None


def fit_threshold(fluence: np.ndarray, emission: np.ndarray) -> dict[str, Any]:
    """``ase_threshold``-shaped result of the rate-equation method, or ``{"note": why not}``."""
    try:
        return threshold_rate_equation(fluence, emission).as_dict()
    except ValueError as exc:
        return {"note": str(exc)}


def _worker_setup(parent: int) -> None:
    """In the worker: yield the CPU to the acquisition (lowest priority), and end when the
    GUI's process does, however it ends (a crash leaves no orphan)."""
    with contextlib.suppress(OSError, AttributeError):  # no os.nice on Windows
        os.nice(19)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _pool() -> ProcessPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_setup,
            initargs=(os.getpid(),),
        )
    return _executor


def shutdown() -> None:
    """Stop the worker process (the application is closing)."""
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=False, cancel_futures=True)
        _executor = None


class LiveFit(QObject):
    """Keeps at most one fit in flight; ``fitted`` carries each result to the GUI thread."""

    fitted = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self._future: Future | None = None
        self._fitted_points = 0
        self._last = float("-inf")
        self.generation = 0

    def reset(self) -> None:
        """Forget the previous run: a fit still in flight for it is ignored when it ends."""
        self.generation += 1
        self._fitted_points = 0

    def request(self, fluence: np.ndarray, emission: np.ndarray) -> None:
        """Fit these points unless a fit is running, nothing is new, or one ran just now."""
        n = len(fluence)
        busy = self._future is not None and not self._future.done()
        recent = time.monotonic() - self._last < MIN_SPACING_S
        if n < MIN_POINTS or n == self._fitted_points or busy or recent:
            return
        self._fitted_points = n
        self._last = time.monotonic()
        generation = self.generation
        self._future = _pool().submit(fit_threshold, np.array(fluence), np.array(emission))
        self._future.add_done_callback(lambda future: self._finish(future, generation))

    def _finish(self, future: Future, generation: int) -> None:
        if generation != self.generation or future.cancelled():
            return
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a broken worker must not break the plots
            result = {"note": f"live fit failed: {exc}"}
        self.fitted.emit(result)
