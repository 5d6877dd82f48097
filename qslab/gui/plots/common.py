"""What every procedure's plots share: the run's documents gathered into columns, a redraw on
demand, and small helpers for pyqtgraph plots.

A view never plots from inside a document handler: :meth:`RunView.feed` only records, and the
window calls :meth:`RunView.redraw` once per batch (worker.RefreshThrottle). A run read back from
a file (browser.record_documents) goes through the same two calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF, Qt

from qslab.engine.documents import Document
from qslab.storage.reader import format_result

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
FLUENCE_LABEL = "fluence (µJ/cm²)"
IMAGE_COLUMNS = 512
"""Wavelength bins of a spectra image: a screen shows no more, and it keeps refreshes cheap."""
IMAGE_TICKS = 6
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
        return np.array([number(row.get(name)) for row in self.rows], dtype=float)

    def latest(self, name: str) -> Any:
        return self.rows[-1].get(name) if self.rows else None


def number(value: Any) -> float:
    """A value as float, NaN when it is none."""
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
            tick = 10.0**value
            mantissa = round(tick / 10.0 ** np.floor(value + 1e-9))
            labels.append(f"{tick:.3g}" if mantissa in LOG_LABELLED else "")
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


def pretty_units(units: str) -> str:
    """``uJ/cm^2`` as ``µJ/cm²``: the stored unit strings, as a label shows them."""
    return units.replace("uJ", "µJ").replace("^2", "²").replace("*", "·")


class ThresholdMarker:
    """A threshold on a log x axis: a dashed vertical line and its ±1σ band."""

    def __init__(self, plot: pg.PlotItem, color: str = COLORS[1], band: bool = True) -> None:
        rgb = pg.mkColor(color)
        self.band = pg.LinearRegionItem(
            movable=False,
            brush=pg.mkBrush(rgb.red(), rgb.green(), rgb.blue(), 45),
            pen=pg.mkPen(None),
        )
        self.line = pg.InfiniteLine(angle=90, pen=pg.mkPen(color, width=1, style=Qt.DashLine))
        self.with_band = band
        for item in (self.band, self.line):
            item.setVisible(False)
            plot.addItem(item)
        self.plot = plot

    def show(self, value: Any, error: Any = None) -> bool:
        """Place at ``value`` (hidden unless finite and > 0); True when shown."""
        shown = isinstance(value, float | int) and math.isfinite(value) and value > 0
        self.line.setVisible(shown)
        self.band.setVisible(False)
        if not shown:
            return False
        self.line.setPos(math.log10(value))
        if self.with_band and isinstance(error, float | int) and 0 < error < value:
            self.band.setRegion((math.log10(value - error), math.log10(value + error)))
            self.band.setVisible(True)
        return True

    def remove(self) -> None:
        for item in (self.band, self.line):
            self.plot.removeItem(item)


class SpectraImage:
    """Every spectrum of a run as one image row (log colour, ``decades`` deep), binned to
    :data:`IMAGE_COLUMNS` wavelength bins; rows are binned once, as they come, and shown in the
    order asked for, labelled on the left axis with the value each row was taken at."""

    def __init__(self, plot: pg.PlotItem, decades: float = 3.0) -> None:
        self.plot = plot
        self.decades = decades
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(self.image)
        self.rows: list[np.ndarray] = []

    def reset(self) -> None:
        self.rows = []

    def update(
        self,
        wavelength: np.ndarray,
        spectra: Sequence[Any],
        labels: np.ndarray,
        order: np.ndarray | None = None,
    ) -> None:
        """``spectra`` holds every row so far (those already binned are skipped); ``order``
        the rows' display order, bottom first (default: as taken)."""
        factor = max(1, math.ceil(wavelength.size / IMAGE_COLUMNS))
        usable = wavelength.size // factor * factor
        for spectrum in spectra[len(self.rows) :]:
            row = np.asarray(spectrum, dtype=float)[:usable]
            self.rows.append(row.reshape(-1, factor).mean(axis=1))
        if not self.rows:
            return
        order = np.arange(len(self.rows)) if order is None else np.asarray(order)
        rows = np.array(self.rows)[order]
        top = np.nanmax(rows) if np.isfinite(rows).any() else 1.0
        floor = max(top, 1e-12) * 10.0**-self.decades
        self.image.setImage(np.log10(np.clip(np.nan_to_num(rows), floor, None)).T, autoLevels=True)
        self.image.setRect(
            QRectF(wavelength[0], 0, wavelength[usable - 1] - wavelength[0], len(rows))
        )
        shown = np.asarray(labels, dtype=float)[order]
        step = max(1, len(rows) // IMAGE_TICKS)
        ticks = [(i + 0.5, f"{shown[i]:.3g}") for i in range(0, len(rows), step)]
        self.plot.getAxis("left").setTicks([ticks, []])
