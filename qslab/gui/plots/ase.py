"""Plots of an ASE series: light in / light out with the threshold fit, the latest spectrum,
every spectrum against fluence, and the linewidth and peak against fluence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF, Qt

from qslab.analysis.threshold import ase_curve
from qslab.gui.livefit import LiveFit
from qslab.gui.plots.common import COLORS, FLUENCE_LABEL, RunView, finite, symbols, value_text

IMAGE_COLUMNS = 512
"""Wavelength bins of the spectra image: a screen shows no more, and it keeps refreshes cheap."""
IMAGE_TICKS = 6
FIT_PARAMETERS = ("a", "c", "f_sat", "b", "value", "beta")


class ASEView(RunView):
    procedures = ("ase",)

    def __init__(self) -> None:
        super().__init__()
        self.lilo = self.add_plot(
            0,
            0,
            "Light in / light out",
            FLUENCE_LABEL,
            "integrated emission (counts/s)",
            log_x=True,
            log_y=True,
        )
        self.lilo_points = symbols(self.lilo)
        self.fit_curve = self.lilo.plot([], [], pen=pg.mkPen(COLORS[1], width=2))
        self.band = pg.LinearRegionItem(
            movable=False, brush=pg.mkBrush(214, 39, 40, 45), pen=pg.mkPen(None)
        )
        self.threshold_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(COLORS[1], width=1, style=Qt.DashLine)
        )
        for item in (self.band, self.threshold_line):
            item.setVisible(False)
            self.lilo.addItem(item)
        self.spectrum_plot = self.add_plot(
            0, 1, "Latest spectrum", "wavelength (nm)", "emission (counts/s)"
        )
        self.spectrum_curve = self.spectrum_plot.plot([], [], pen=pg.mkPen(COLORS[0], width=1.5))
        self.image_plot = self.add_plot(
            0, 2, "Spectra vs fluence (log color)", "wavelength (nm)", FLUENCE_LABEL, rowspan=2
        )
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.image_plot.addItem(self.image)
        self.fwhm_plot = self.add_plot(1, 0, "Linewidth", FLUENCE_LABEL, "FWHM (nm)", log_x=True)
        self.fwhm_points = symbols(self.fwhm_plot, COLORS[2])
        self.peak_plot = self.add_plot(
            1, 1, "Peak position", FLUENCE_LABEL, "peak wavelength (nm)", log_x=True
        )
        self.peak_points = symbols(self.peak_plot, COLORS[3])
        for col, stretch in enumerate((4, 3, 3)):
            self.ci.layout.setColumnStretchFactor(col, stretch)
        self.fit: dict[str, Any] = {}
        self.fit_source = ""
        self._image_rows: list[np.ndarray] = []
        self.live_fit = LiveFit()
        self.live_fit.fitted.connect(self._show_live_fit)

    def reset(self) -> None:
        self.fit, self.fit_source = {}, ""
        self._image_rows = []
        self.live_fit.reset()

    def draw(self) -> None:
        fluence = self.points.column("fluence")
        emission = self.points.column("integrated_emission")
        x, y = finite(fluence, emission, positive=True)
        self.lilo_points.setData(x, y)
        self.fwhm_points.setData(*finite(fluence, self.points.column("fwhm"), positive=True))
        self.peak_points.setData(
            *finite(fluence, self.points.column("peak_wavelength"), positive=True)
        )
        wavelength = self.constant("wavelength")
        spectrum = self.points.latest("spectrum")
        if wavelength is not None and spectrum is not None:
            self.spectrum_curve.setData(np.asarray(wavelength), np.asarray(spectrum))
            self._draw_image(np.asarray(wavelength), fluence)
        final = self.analysis.get("ase_threshold")
        if final is not None:
            self.fit, self.fit_source = final, "final"
        elif not self.stop:
            self.live_fit.request(x, y)
        self._draw_fit()

    def _show_live_fit(self, result: dict[str, Any]) -> None:
        if self.fit_source == "final":
            return
        self.fit, self.fit_source = result, "live fit"
        self._draw_fit()

    def _draw_fit(self) -> None:
        fit = self.fit
        value, error = fit.get("value"), fit.get("error")
        shown = isinstance(value, float) and math.isfinite(value) and value > 0
        self.band.setVisible(shown)
        self.threshold_line.setVisible(shown)
        if not shown:
            self.fit_curve.setData([], [])
            note = fit.get("note", "")
            self.lilo.setTitle("Light in / light out" + (f" (fit: {note[:60]})" if note else ""))
            return
        self.threshold_line.setPos(math.log10(value))
        if isinstance(error, float) and math.isfinite(error) and 0 < error < value:
            self.band.setRegion((math.log10(value - error), math.log10(value + error)))
        method = fit.get("method", "")
        self.lilo.setTitle(
            f"Light in / light out: F<sub>th</sub> = {value_text(fit)} "
            f"({method}, {self.fit_source})"
        )
        fluence = self.points.column("fluence")
        if all(k in fit for k in FIT_PARAMETERS) and np.isfinite(fluence).any():
            grid = np.geomspace(np.nanmin(fluence), np.nanmax(fluence), 200)
            self.fit_curve.setData(grid, ase_curve(grid, *(fit[k] for k in FIT_PARAMETERS)))
        else:
            self.fit_curve.setData([], [])

    def _draw_image(self, wavelength: np.ndarray, fluence: np.ndarray) -> None:
        """New spectra binned to IMAGE_COLUMNS and appended; rows in the order taken."""
        factor = max(1, math.ceil(wavelength.size / IMAGE_COLUMNS))
        usable = wavelength.size // factor * factor
        for row in self.points.rows[len(self._image_rows) :]:
            spectrum = np.asarray(row["spectrum"], dtype=float)[:usable]
            self._image_rows.append(spectrum.reshape(-1, factor).mean(axis=1))
        rows = np.array(self._image_rows)
        top = np.nanmax(rows) if np.isfinite(rows).any() else 1.0
        shown = np.log10(np.clip(np.nan_to_num(rows), max(top, 1e-12) * 1e-3, None))
        self.image.setImage(shown.T, autoLevels=True)
        self.image.setRect(
            QRectF(wavelength[0], 0, wavelength[usable - 1] - wavelength[0], len(rows))
        )
        step = max(1, len(rows) // IMAGE_TICKS)
        ticks = [(i + 0.5, f"{fluence[i]:.3g}") for i in range(0, len(rows), step)]
        self.image_plot.getAxis("left").setTicks([ticks, []])
