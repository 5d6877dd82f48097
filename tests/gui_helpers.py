"""Helpers of the GUI tests: a main window with its own settings file (never the user's), and
ways to fill a form and wait for a run as a user would."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt5.QtCore import Qt  # noqa: E402

from qslab.gui.app import MainWindow  # noqa: E402
from qslab.gui.settings import Settings  # noqa: E402

RUN_TIMEOUT_MS = 60_000


def open_window(qtbot, settings_file: Path, station: str | None) -> MainWindow:
    window = MainWindow(Settings(settings_file), station)
    qtbot.addWidget(window)
    window.show()
    return window


def fill(window: MainWindow, procedure: str, **texts: str) -> None:
    """Choose a procedure and type into its form."""
    panel = window.procedure_panel
    panel.chooser.setCurrentIndex(panel.chooser.findData(procedure))
    panel.form.set_texts(texts)


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.LeftButton)


def wait_until_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.thread is None, timeout=RUN_TIMEOUT_MS)


def data(item) -> tuple:
    """The (x, y) a pyqtgraph data item was given (getData() returns log10 on log axes)."""
    return item.xData, item.yData


def plotted(item) -> int:
    """Points a pyqtgraph data item holds now."""
    x, _ = data(item)
    return 0 if x is None else len(x)
