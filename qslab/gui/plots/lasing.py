"""Plots of a lasing-threshold scan, one colour per cavity mode: light in / light out on log-log
axes with the fitted thresholds, the deconvolved linewidth and the mode's drift against pump,
the latest spectrum with its lines marked, and every spectrum against pump.

**Modes.** Each event carries the lines found in its spectrum, brightest first
(``modes_wavelength``, ``modes_intensity``, ``modes_linewidth``; NaN where fewer were found).
The brightest-first order swaps between points as modes overtake one another, so the array
index is no identity: :class:`ModeTracker` gives each line to the mode whose wavelength lies
within :data:`TOLERANCE_RESOLUTIONS` spectrometer resolutions (the run's ``resolution``
constant) and starts a new mode otherwise. A mode is named by its wavelength at its brightest
point, as the analysis names it. Reference points (``reference = true``) re-measure the first
pump to watch the spot: they are left out of every curve and of the image.

**The analysis.** When the run's analysis document arrives (live, or read from the file), each
analysed mode (``mode<k>_wavelength``) is matched to a tracked one by the same rule, and its
rate-equation threshold is drawn as a dashed line in the mode's colour on both pump plots with
the fitted S-curve; ``lasing_threshold`` gets its ±1σ band and, with ``beta``, the title. A mode
the analysis found that was never among the lines stored per point gets its curve from the
analysis's per-point arrays (``mode<k>_intensity``, ``mode<k>_fwhm_nm``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt

from qslab.analysis.lasing import PULSED, PUMP_PROFILES, rate_equation_model
from qslab.engine.documents import Document
from qslab.gui.plots.common import (
    COLORS,
    RunView,
    SpectraImage,
    ThresholdMarker,
    finite,
    number,
    pretty_units,
    symbols,
    value_text,
)

TOLERANCE_RESOLUTIONS = 3.0
"""A line within this many spectrometer resolutions of a mode's wavelength belongs to it."""
TOLERANCE_PIXELS = 3.0
"""The least tolerance, in pixels of the wavelength axis (a run whose resolution is unknown)."""
IMAGE_DECADES = 4.0
"""Depth of the spectra image's log colour scale: a lasing line stands far above the PL."""
FIT_POINTS = 200
MODE_KEY = re.compile(r"^mode(\d+)_wavelength$")
CURVES = {model.method: model.curve for model in PUMP_PROFILES.values()}
"""The rate-equation curve of each threshold method name the analysis stores."""


@dataclass(eq=False)
class Mode:
    """One cavity mode through the scan: the lines given to it, one per point at most."""

    ident: int
    wavelength: float
    """Where the mode was last seen: the next point's line is looked for around it."""
    pump: list[float] = field(default_factory=list)
    intensity: list[float] = field(default_factory=list)
    linewidth: list[float] = field(default_factory=list)
    centres: list[float] = field(default_factory=list)
    from_analysis: bool = False
    color: str = ""

    def __post_init__(self) -> None:
        self.color = self.color or COLORS[self.ident % len(COLORS)]

    @property
    def name_nm(self) -> float:
        """The wavelength at the brightest point (the analysis's ``mode<k>_wavelength``)."""
        intensity = np.asarray(self.intensity, dtype=float)
        if not np.isfinite(intensity).any():
            return self.wavelength
        return self.centres[int(np.nanargmax(intensity))]

    def columns(self) -> tuple[np.ndarray, ...]:
        """Pump, line area, linewidth and centre, by increasing pump (refinement points come
        after the coarse ones that bracket them)."""
        order = np.argsort(np.asarray(self.pump, dtype=float), kind="stable")
        return tuple(
            np.asarray(c, dtype=float)[order]
            for c in (self.pump, self.intensity, self.linewidth, self.centres)
        )


class ModeTracker:
    """Lines of successive points grouped into modes by wavelength (not by array index)."""

    def __init__(self, tolerance_nm: float) -> None:
        self.tolerance = tolerance_nm
        self.modes: list[Mode] = []

    def nearest(self, wavelength: float, exclude: set[int] = frozenset()) -> Mode | None:
        """The mode within the tolerance closest to ``wavelength``."""
        near = [
            (abs(m.wavelength - wavelength), m.ident)
            for m in self.modes
            if m.ident not in exclude and abs(m.wavelength - wavelength) <= self.tolerance
        ]
        return self.modes[min(near)[1]] if near else None

    def add(self, pump: float, wavelengths, intensities, linewidths) -> list[int | None]:
        """One point's lines, brightest first: the mode each joined (None: not a line)."""
        taken: set[int] = set()
        joined: list[int | None] = []
        for wl, area, width in zip(wavelengths, intensities, linewidths, strict=False):
            if not (math.isfinite(wl) and math.isfinite(area)):
                joined.append(None)
                continue
            mode = self.nearest(wl, taken) or self.new_mode(wl)
            mode.wavelength = wl
            mode.pump.append(pump)
            mode.intensity.append(area)
            mode.linewidth.append(width)
            mode.centres.append(wl)
            taken.add(mode.ident)
            joined.append(mode.ident)
        return joined

    def new_mode(self, wavelength: float, **kw: Any) -> Mode:
        self.modes.append(Mode(len(self.modes), wavelength, **kw))
        return self.modes[-1]


@dataclass
class ModeItems:
    """What one mode draws: its curves and, once analysed, its threshold and fit."""

    lilo: pg.PlotDataItem
    linewidth: pg.PlotDataItem
    shift: pg.PlotDataItem
    marker: pg.InfiniteLine
    fit: pg.PlotDataItem | None = None
    thresholds: list[ThresholdMarker] = field(default_factory=list)
    label: str = ""


class LasingView(RunView):
    procedures = ("lasing",)

    def __init__(self) -> None:
        super().__init__()
        self.lilo = self.add_plot(
            0, 0, "Light in / light out", "pump", "line area", log_x=True, log_y=True
        )
        self.legend = self.lilo.addLegend(
            offset=(10, 10), labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 210)
        )  # top left: the S-curves rise from bottom left to top right
        self.spectrum_plot = self.add_plot(
            0, 1, "Latest spectrum", "wavelength (nm)", "emission (counts/s)"
        )
        self.spectrum_curve = self.spectrum_plot.plot([], [], pen=pg.mkPen(COLORS[0], width=1.5))
        self.line_marks = pg.ScatterPlotItem(symbol="t", size=11, pen=pg.mkPen("k", width=0.5))
        self.spectrum_plot.addItem(self.line_marks)
        self.image_plot = self.add_plot(
            0, 2, "Spectra vs pump (log color)", "wavelength (nm)", "pump", rowspan=2
        )
        self.spectra = SpectraImage(self.image_plot, decades=IMAGE_DECADES)
        self.image = self.spectra.image
        self.linewidth_plot = self.add_plot(
            1, 0, "Linewidth (deconvolved)", "pump", "Lorentzian FWHM (nm)", log_x=True
        )
        self.shift_plot = self.add_plot(
            1, 1, "Mode drift", "pump", "wavelength − mode's (nm)", log_x=True
        )
        for col, stretch in enumerate((4, 3, 3)):
            self.ci.layout.setColumnStretchFactor(col, stretch)
        self.main_threshold = ThresholdMarker(self.lilo)
        self.tracker = ModeTracker(0.0)
        self.items: dict[int, ModeItems] = {}
        self.kept: list[int] = []
        """Indices (in :attr:`points`) of the points of the scan: reference points left out."""
        self.joined: dict[int, list[int | None]] = {}
        """The mode each line of a kept point joined, by point index."""
        self.seen = 0
        """Points given to the tracker so far."""
        self.analysed = False
        self.running: float | None = None
        """The scan's running threshold (progress documents), shown until the analysis."""

    # -- documents -----------------------------------------------------------------------------
    def reset(self) -> None:
        for items in self.items.values():
            for plot, item in (
                (self.lilo, items.lilo),
                (self.linewidth_plot, items.linewidth),
                (self.shift_plot, items.shift),
                (self.spectrum_plot, items.marker),
                (self.lilo, items.fit),
            ):
                if item is not None:
                    plot.removeItem(item)
            for marker in items.thresholds:
                marker.remove()
        self.items = {}
        self.tracker = ModeTracker(0.0)
        self.kept, self.joined, self.seen = [], {}, 0
        self.analysed = False
        self.running = None
        self.spectra.reset()
        self.main_threshold.show(None)
        self.line_marks.setData([])
        self.spectrum_curve.setData([], [])

    def tolerance_nm(self) -> float:
        """A few resolutions, and at least a few pixels of the wavelength axis."""
        wavelength = self.constant("wavelength")
        pitch = float(np.median(np.diff(wavelength))) if wavelength is not None else 0.0
        resolution = self.constant("resolution")
        resolution = float(resolution) if resolution is not None else 0.0
        resolution = resolution if math.isfinite(resolution) else 0.0
        return max(TOLERANCE_RESOLUTIONS * resolution, TOLERANCE_PIXELS * abs(pitch))

    def _track(self) -> None:
        """Give the lines of the points not seen yet to modes."""
        if not self.tracker.tolerance:
            self.tracker.tolerance = self.tolerance_nm()
        for index in range(self.seen, len(self.points)):
            row = self.points.rows[index]
            if bool(row.get("reference", False)):
                continue
            self.kept.append(index)
            pump = float(row.get("pump", math.nan))
            lines = (np.ravel(row.get(f"modes_{k}", [])) for k in ("wavelength", "intensity"))
            wavelengths, intensities = (np.asarray(a, dtype=float) for a in lines)
            widths = np.asarray(row.get("modes_linewidth", np.full(wavelengths.size, math.nan)))
            self.joined[index] = self.tracker.add(
                pump, wavelengths, intensities, np.ravel(widths).astype(float)
            )
        self.seen = len(self.points)

    # -- drawing -------------------------------------------------------------------------------
    def draw(self) -> None:
        self._track()
        self._label_axes()
        if self.analysis and not self.analysed:
            self._add_analysis_modes()
        for mode in self.tracker.modes:
            self._draw_mode(mode)
        self._draw_spectra()
        self._draw_analysis()

    def _label_axes(self) -> None:
        keys = self.descriptor.get("data_keys", {})
        units = pretty_units(keys.get("pump", {}).get("units", ""))
        described = self.descriptor.get("constants", {}).get("pump_regime", {})
        found = re.match(r"pump axis: (\S+) in ", described.get("description", ""))
        quantity = f"pump {found.group(1).replace('_', ' ')}" if found else "pump"
        label = f"{quantity} ({units})" if units else quantity
        for plot in (self.lilo, self.linewidth_plot, self.shift_plot):
            plot.setLabel("bottom", label)
        self.image_plot.setLabel("left", label)
        area = pretty_units(keys.get("modes_intensity", {}).get("units", ""))
        self.lilo.setLabel("left", f"line area ({area})" if area else "line area")

    def _items(self, mode: Mode) -> ModeItems:
        if mode.ident not in self.items:
            color = mode.color
            marker = pg.InfiniteLine(
                angle=90, pen=pg.mkPen(color, width=1, style=Qt.DotLine), movable=False
            )
            self.spectrum_plot.addItem(marker)
            self.items[mode.ident] = ModeItems(
                lilo=symbols(self.lilo, color, size=6, name=" "),
                linewidth=symbols(self.linewidth_plot, color, size=6),
                shift=symbols(self.shift_plot, color, size=5),
                marker=marker,
            )
        return self.items[mode.ident]

    def _draw_mode(self, mode: Mode) -> None:
        items = self._items(mode)
        pump, intensity, linewidth, centres = mode.columns()
        items.lilo.setData(*finite(pump, intensity, positive=True))
        items.linewidth.setData(*finite(pump, linewidth, positive=True))
        name = mode.name_nm
        items.shift.setData(*finite(pump, centres - name))
        items.marker.setPos(name)
        label = f"{name:.2f} nm" + ("" if not items.label else f": {items.label}")
        self._rename(items.lilo, label)

    def _rename(self, item: pg.PlotDataItem, text: str) -> None:
        for sample, label in self.legend.items:
            if sample.item is item and label.text != text:
                label.setText(text)

    def _draw_spectra(self) -> None:
        wavelength = self.constant("wavelength")
        if wavelength is None or not self.kept:
            return
        wavelength = np.asarray(wavelength, dtype=float)
        latest = self.points.rows[self.kept[-1]]
        spectrum = np.asarray(latest.get("spectrum", []), dtype=float)
        if spectrum.size != wavelength.size:
            return
        self.spectrum_curve.setData(wavelength, spectrum)
        spots = []
        lines = np.ravel(latest.get("modes_wavelength", [])).astype(float)
        for wl, ident in zip(lines, self.joined.get(self.kept[-1], []), strict=False):
            if ident is None:
                continue
            pixel = int(np.argmin(np.abs(wavelength - wl)))
            color = self.tracker.modes[ident].color
            spots.append({"pos": (wl, spectrum[pixel]), "brush": pg.mkBrush(color)})
        self.line_marks.setData(spots)
        pump = self.points.column("pump")[self.kept]
        units = pretty_units(self.descriptor.get("data_keys", {}).get("pump", {}).get("units", ""))
        self.spectrum_plot.setTitle(f"Latest spectrum: {pump[-1]:.3g} {units}")
        rows = [self.points.rows[i]["spectrum"] for i in self.kept]
        self.spectra.update(wavelength, rows, pump, np.argsort(pump, kind="stable"))

    # -- the analysis --------------------------------------------------------------------------
    def analysed_modes(self) -> list[int]:
        """The k of every ``mode<k>_...`` of the analysis, in its order (the main mode first)."""
        found = (MODE_KEY.match(name) for name in self.analysis)
        return sorted(int(m.group(1)) for m in found if m)

    def mode_of(self, k: int) -> Mode | None:
        wavelength = number(self.analysis.get(f"mode{k}_wavelength", {}).get("value"))
        return self.tracker.nearest(wavelength) if math.isfinite(wavelength) else None

    def _add_analysis_modes(self) -> None:
        """Modes the analysis found that no stored line followed, from its per-point arrays
        (one entry per point of the scan, in the order taken); then every mode coloured in the
        analysis's order, so that its main mode is always the first colour."""
        self.analysed = True
        pump = self.points.column("pump")[self.kept]
        ranked: list[Mode] = []
        for k in self.analysed_modes():
            wavelength = number(self.analysis[f"mode{k}_wavelength"].get("value"))
            known = self.mode_of(k)
            if known is not None and known not in ranked:
                ranked.append(known)
            if not math.isfinite(wavelength) or known is not None:
                continue
            intensity = np.ravel(self.analysis.get(f"mode{k}_intensity", {}).get("value", []))
            fwhm = np.ravel(self.analysis.get(f"mode{k}_fwhm_nm", {}).get("value", []))
            if intensity.size != pump.size:
                continue
            widths = fwhm if fwhm.size == pump.size else np.full(pump.size, math.nan)
            self.tracker.new_mode(
                wavelength,
                pump=list(pump),
                intensity=list(np.asarray(intensity, dtype=float)),
                linewidth=list(np.asarray(widths, dtype=float)),
                centres=[wavelength] * pump.size,
                from_analysis=True,
            )
            ranked.append(self.tracker.modes[-1])
        ranked += [mode for mode in self.tracker.modes if mode not in ranked]
        for rank, mode in enumerate(ranked):
            self._recolor(mode, COLORS[rank % len(COLORS)])

    def _recolor(self, mode: Mode, color: str) -> None:
        mode.color = color
        items = self.items.get(mode.ident)
        if items is None:
            return
        for item in (items.lilo, items.linewidth, items.shift):
            item.setPen(pg.mkPen(color, width=1))
            item.setSymbolBrush(color)
        items.marker.setPen(pg.mkPen(color, width=1, style=Qt.DotLine))

    def on_progress(self, doc: Document, received: float) -> None:
        """The scan's running threshold, until the analysis gives the final one."""
        running = (doc.get("live") or {}).get("running_threshold")
        if running and not self.analysis:
            self.running = number(running.get("value"))
            self.dirty = True

    def _draw_analysis(self) -> None:
        count = len(self.tracker.modes)
        self.lilo.setTitle(f"Light in / light out ({count} mode{'s' * (count != 1)})")
        if not self.analysis:
            if self.main_threshold.show(self.running):
                self.lilo.setTitle(
                    f"Light in / light out: running threshold {self.running:.3g}", size="9pt"
                )
            return
        main = self.analysis.get("lasing_threshold", {})
        pump = self.points.column("pump")[self.kept] if self.kept else np.array([])
        for k in self.analysed_modes():
            mode = self.mode_of(k)
            if mode is not None:
                self._draw_threshold(mode, self.analysis.get(f"mode{k}_threshold", {}), pump)
        self.main_threshold.show(number(main.get("value")), number(main.get("error")))
        self.lilo.setTitle(self._summary(), size="9pt")

    def _draw_threshold(self, mode: Mode, threshold: dict[str, Any], pump: np.ndarray) -> None:
        items = self._items(mode)
        if not items.thresholds:
            items.thresholds = [
                ThresholdMarker(plot, mode.color, band=False)
                for plot in (self.lilo, self.linewidth_plot)
            ]
        value = number(threshold.get("value"))
        shown = [marker.show(value) for marker in items.thresholds]
        items.label = f"P_th {value:.3g}" if all(shown) else ""
        curve = _fitted_curve(threshold)
        needed = ("b", "beta")
        if not (all(shown) and curve and all(k in threshold for k in needed) and pump.size):
            return
        order = _order(threshold)
        grid = np.geomspace(np.nanmin(pump), np.nanmax(pump), FIT_POINTS)
        y = curve(grid**order, threshold["b"], value**order, threshold["beta"])
        if items.fit is None:
            items.fit = self.lilo.plot([], [], pen=pg.mkPen(mode.color, width=1.5))
        items.fit.setData(*finite(grid, np.asarray(y, dtype=float), positive=True))
        self._draw_mode(mode)

    def _summary(self) -> str:
        """The run's threshold and beta, as the title of the light in / light out plot (short:
        a title's width is its plot's least width)."""
        main = self.analysis.get("lasing_threshold", {})
        value = number(main.get("value"))
        if not (math.isfinite(value) and value > 0):
            note = str(main.get("note", ""))
            short = note[:50] + ("…" if len(note) > 50 else "")
            return f"No threshold: {short}" if note else "No threshold"
        text = f"P<sub>th</sub> = {pretty_units(value_text(main))}"
        where = number(self.analysis.get("lasing_wavelength", {}).get("value"))
        if math.isfinite(where):
            text += f" ({where:.1f} nm)"
        beta = self.analysis.get("beta", {})
        if math.isfinite(number(beta.get("value"))):
            text += f", β = {value_text(beta)}"
        return text


def _order(threshold: dict[str, Any]) -> int:
    """Pump photons per excitation: the analysis fits pump**order when its entry names the
    excitation's units, ``(mJ/cm^2)^2``."""
    found = re.search(r"\)\^(\d+)$", str(threshold.get("excitation_units", "")))
    return int(found.group(1)) if found else 1


def _fitted_curve(threshold: dict[str, Any]):
    """The model curve behind a stored threshold: by its method name, or, for the ns model,
    rebuilt from the pulse width (over the gain lifetime) the analysis stored with it."""
    width = threshold.get("pulse_per_lifetime")
    if width is not None and np.isfinite(number(width)) and number(width) > 0:
        return rate_equation_model(PULSED, number(width)).curve
    return CURVES.get(threshold.get("method", ""))
