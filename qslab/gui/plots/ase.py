"""Plots of an ASE series: light in / light out with the threshold fit, the latest spectrum,
every spectrum against fluence, and the linewidth and peak against fluence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg

from qslab.analysis.threshold import ase_curve
from qslab.gui.livefit import LiveFit
from qslab.gui.plots.common import (
    COLORS,
    FLUENCE_LABEL,
    RunView,
    SpectraImage,
    ThresholdMarker,
    finite,
    symbols,
    value_text,
)

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
        self.threshold = ThresholdMarker(self.lilo)
        self.spectrum_plot = self.add_plot(
            0, 1, "Latest spectrum", "wavelength (nm)", "emission (counts/s)"
        )
        self.spectrum_curve = self.spectrum_plot.plot([], [], pen=pg.mkPen(COLORS[0], width=1.5))
        self.image_plot = self.add_plot(
            0, 2, "Spectra vs fluence (log color)", "wavelength (nm)", FLUENCE_LABEL, rowspan=2
        )
        self.spectra = SpectraImage(self.image_plot)
        self.image = self.spectra.image
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
        self.live_fit = LiveFit()
        self.live_fit.fitted.connect(self._show_live_fit)

    def reset(self) -> None:
        self.fit, self.fit_source = {}, ""
        self.spectra.reset()
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
            rows = [row["spectrum"] for row in self.points.rows]
            self.spectra.update(np.asarray(wavelength), rows, fluence)
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
        if not self.threshold.show(value, error):
            self.fit_curve.setData([], [])
            note = fit.get("note", "")
            self.lilo.setTitle("Light in / light out" + (f" (fit: {note[:60]})" if note else ""))
            return
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
