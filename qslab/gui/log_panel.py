"""The log panel: qslab's log records and the runs' own milestones, newest at the bottom.

Log records can come from any thread (the engine's, a driver's); the handler only emits a Qt
signal, which Qt queues to the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
import time

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtGui import QFontDatabase
from PyQt5.QtWidgets import QPlainTextEdit

MAX_LINES = 5000


class _Bridge(QObject):
    line = pyqtSignal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records to the GUI thread."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # the panel is gone (application closing)
            self.bridge.line.emit(self.format(record))


class LogPanel(QPlainTextEdit):
    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.handler = QtLogHandler()
        self.handler.bridge.line.connect(self.appendPlainText)
        self._saved = (logging.NOTSET, True)

    def note(self, text: str) -> None:
        """A line from the application itself (run started, aborted, file written...)."""
        self.appendPlainText(f"{time.strftime('%H:%M:%S')} {text}")

    def attach(self, logger: logging.Logger) -> None:
        """Show ``logger``'s records from INFO up here instead of on the terminal."""
        self._saved = (logger.level, logger.propagate)
        logger.addHandler(self.handler)
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        logger.propagate = False

    def detach(self, logger: logging.Logger) -> None:
        logger.removeHandler(self.handler)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]
