"""The fallback view of any procedure without its own: every scalar event key named like
``mode*_intensity`` (``mode1_intensity``, ``mode_2_power``, ...) becomes one curve against the
run's first plot axis; a run without such keys shows its descriptor's ``plot`` signal against its
axis, which covers the calibration scan too.
"""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg

from qslab.gui.plots.common import COLORS, RunView, finite, symbols

MODE_KEY = re.compile(r"^mode.*_(intensity|power|counts|emission)$", re.IGNORECASE)


class GenericView(RunView):
    def __init__(self) -> None:
        super().__init__()
        self.plot = self.add_plot(0, 0, "Per-mode emission", "", "")
        self.plot.addLegend(offset=(10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}

    def reset(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}

    def curve_keys(self) -> list[str]:
        """The mode keys of this run's scalar data, or else its plot signal."""
        keys = self.descriptor.get("data_keys", {})
        scalars = [name for name, key in keys.items() if not key.get("shape")]
        modes = sorted(name for name in scalars if MODE_KEY.match(name))
        signal = self.descriptor.get("plot", {}).get("signal")
        return modes or ([signal] if signal in scalars else [])

    def draw(self) -> None:
        keys = self.descriptor.get("data_keys", {})
        axes = self.descriptor.get("plot", {}).get("axes") or ["fluence"]
        x_name = axes[0] if axes[0] in keys else "fluence"
        x = self.points.column(x_name)
        columns = {name: self.points.column(name) for name in self.curve_keys()}
        positive = all(np.all(c[np.isfinite(c)] > 0) for c in (x, *columns.values()) if c.size)
        self.plot.setLogMode(x=positive, y=positive)
        self.plot.setLabel("bottom", _label(x_name, keys))
        self.plot.setLabel("left", _label(next(iter(columns), ""), keys) if columns else "")
        self.plot.setTitle("Per-mode emission" if len(columns) > 1 else "Signal")
        for i, (name, y) in enumerate(columns.items()):
            if name not in self.curves:
                self.curves[name] = symbols(self.plot, COLORS[i % len(COLORS)], name=name)
            self.curves[name].setData(*finite(x, y, positive=positive))


def _label(name: str, keys: dict) -> str:
    units = keys.get(name, {}).get("units", "")
    return f"{name} ({units})" if units else name
