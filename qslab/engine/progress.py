"""A command-line progress bar fed by progress documents."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from qslab.engine.documents import Document


class ProgressBar:
    """Redraws one line on a terminal; on a pipe or log file prints at most every 10 %."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._t0 = time.monotonic()
        self._last_decile = -1

    def __call__(self, name: str, doc: Document) -> None:
        if name == "start":  # one bar may serve the runs of a recipe in turn
            self._t0 = time.monotonic()
            self._last_decile = -1
        elif name == "progress":
            self._draw(doc["done"], doc["total"], doc.get("message", ""))
        elif name == "pause":
            self.stream.write(f"\npaused: {doc.get('reason', '')}\n")
            self.stream.flush()
        elif name == "stop" and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, done: int, total: int, message: str) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.monotonic() - self._t0
        eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done}/{total} {message}  {elapsed:5.1f} s, {eta:5.1f} s left"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self.stream.flush()
        elif int(fraction * 10) > self._last_decile:
            self._last_decile = int(fraction * 10)
            self.stream.write(line + "\n")
            self.stream.flush()
