"""What every procedure's plots share: the run's documents gathered into columns, a redraw on
demand, and small helpers for pyqtgraph plots.

A view never plots from inside a document handler: :meth:`RunView.feed` only records, and the
window calls :meth:`RunView.redraw` once per batch (worker.RefreshThrottle). A run read back from
a file (browser.record_documents) goes through the same two calls.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyqtgraph as pg

from qslab.engine.documents import Document
from qslab.storage.reader import format_result

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
FLUENCE_LABEL = "fluence (µJ/cm²)"
LOG_LABELLED = (1, 2, 5)
"""Mantissas labelled on a log axis; pyqtgraph labels every minor tick (2..9) of a short
range, and the labels overlap."""


class PointTable:
    """Per-point values of a run, by data key, in the order the points came."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.times: list[float] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, data: dict[str, Any], when: float) -> None:
        self.rows.append(data)
        self.times.append(when)

    def keys(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def column(self, name: str) -> np.ndarray:
        """A scalar column as float (NaN where a point lacks it)."""
        return np.array([_number(row.get(name)) for row in self.rows], dtype=float)

    def latest(self, name: str) -> Any:
        return self.rows[-1].get(name) if self.rows else None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class Axis(pg.AxisItem):
    """An axis whose log mode labels only 1, 2 and 5 times a power of ten, in plain numbers."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        labels = []
        for value in values:
            number = 10.0**value
            mantissa = round(number / 10.0 ** np.floor(value + 1e-9))
            labels.append(f"{number:.3g}" if mantissa in LOG_LABELLED else "")
        return labels


class RunView(pg.GraphicsLayoutWidget):
    """The plots of one kind of run. Subclasses build their plots and implement :meth:`draw`."""

    procedures: ClassVar[tuple[str, ...]] = ()
    """Procedures this view is made for; the generic view takes any other."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.ci.setContentsMargins(4, 4, 4, 4)
        self.start: Document = {}
        self.descriptor: Document = {}
        self.stop: Document = {}
        self.analysis: dict[str, dict[str, Any]] = {}
        self.points = PointTable()
        self.dirty = False

    # -- documents -----------------------------------------------------------------------------
    def feed(self, name: str, doc: Document, received: float) -> None:
        """Record one document; nothing is drawn until :meth:`redraw`."""
        if name == "start":
            self.start, self.descriptor, self.stop, self.analysis = doc, {}, {}, {}
            self.points = PointTable()
            self.reset()
        elif name == "descriptor":
            self.descriptor = doc
        elif name == "event":
            self.points.append(doc["data"], doc.get("time", received))
        elif name == "progress":
            self.on_progress(doc, received)
        elif name == "analysis":
            self.analysis.update(doc["results"])
        elif name == "stop":
            self.stop = doc
        else:
            return
        self.dirty = True

    def reset(self) -> None:
        """A new run starts: forget what belongs to the previous one."""

    def on_progress(self, doc: Document, received: float) -> None:
        """Progress documents matter to views with live data between points (g2)."""

    def redraw(self) -> None:
        if self.dirty:
            self.dirty = False
            self.draw()

    def draw(self) -> None:
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    def constant(self, name: str) -> Any:
        entry = self.descriptor.get("constants", {}).get(name)
        return None if entry is None else entry["value"]

    def elapsed(self, when: float) -> float:
        return when - self.start.get("time", when)

    def add_plot(
        self,
        row: int,
        col: int,
        title: str,
        x: str,
        y: str,
        log_x: bool = False,
        log_y: bool = False,
        **span: int,
    ) -> pg.PlotItem:
        axes = {side: Axis(side) for side in ("bottom", "left")}
        plot = self.addPlot(row=row, col=col, title=title, axisItems=axes, **span)
        plot.setLabel("bottom", x)
        plot.setLabel("left", y)
        plot.setLogMode(x=log_x, y=log_y)
        for axis in axes.values():
            axis.enableAutoSIPrefix(False)  # the labels carry the units already
        plot.showGrid(x=True, y=True, alpha=0.2)
        return plot


def symbols(plot: pg.PlotItem, color: str = COLORS[0], size: int = 7, **kw) -> pg.PlotDataItem:
    """A data item drawn as markers joined by a thin line."""
    return plot.plot(
        [],
        [],
        pen=pg.mkPen(color, width=1),
        symbol="o",
        symbolSize=size,
        symbolBrush=color,
        symbolPen=None,
        **kw,
    )


def finite(*columns: np.ndarray, positive: bool = False) -> list[np.ndarray]:
    """The rows where every column is finite (and > 0 for log axes)."""
    keep = np.logical_and.reduce([np.isfinite(c) for c in columns])
    if positive:
        keep &= np.logical_and.reduce([c > 0 for c in columns])
    return [c[keep] for c in columns]


def value_text(result: dict[str, Any]) -> str:
    """``5.31 ± 0.12 uJ/cm^2`` at the precision of the error, as ``qslab inspect`` prints it."""
    return format_result({**result, "method": ""})
