"""Plots of a g2 acquisition: the delay histogram with its peak windows, the running g2(0)
with its error against time, the count rate of each channel, and g2(0) against <N>.

Between points the data come from the progress documents' ``live`` dict (never stored); a
run read from a file has only its points, so the histogram then shows the pulse-pair counts of
each window, summed over the points, and the time axes use the points' timestamps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg

from qslab.engine.documents import Document
from qslab.gui.plots.common import COLORS, RunView, finite, symbols

HISTOGRAM_BINS = 2000
"""Bins shown of the delay histogram: the correlator's own (100 ps over 11 periods of 1 us
is 110 000) are summed in groups, so that each peak's decay shows at a glance."""
LIVE_TRACE_POINTS = 5000
"""Running values kept for the time plots; older ones are thinned, not dropped."""


class G2View(RunView):
    procedures = ("g2",)

    def __init__(self) -> None:
        super().__init__()
        self.histogram_plot = self.add_plot(
            0, 0, "Delay histogram", "delay (laser periods)", "photon pairs", colspan=3
        )
        self.histogram_plot.setDownsampling(auto=True, mode="peak")
        self.histogram_plot.setClipToView(True)
        self.histogram_curve = self.histogram_plot.plot([], [], pen=pg.mkPen(COLORS[0], width=1))
        self.window_bars = pg.BarGraphItem(x=[], height=[], width=0.9, brush=(31, 119, 180, 90))
        self.histogram_plot.addItem(self.window_bars)
        self.windows: list[pg.LinearRegionItem] = []
        self.g2_plot = self.add_plot(1, 0, "Running g2(0)", "time (s)", "g2(0)")
        self.g2_errors = pg.ErrorBarItem(pen=pg.mkPen(COLORS[0], width=1), beam=0)
        self.g2_plot.addItem(self.g2_errors)
        self.g2_running = symbols(self.g2_plot, COLORS[0], size=4)
        self.g2_points = self.g2_plot.plot(
            [], [], pen=None, symbol="s", symbolSize=10, symbolBrush=COLORS[1]
        )
        self.rate_plot = self.add_plot(1, 1, "Count rates", "time (s)", "counts/s")
        self.rate_plot.addLegend(offset=(10, 10))
        self.rate_curves: dict[str, pg.PlotDataItem] = {}
        self.n_plot = self.add_plot(
            1, 2, "g2(0) vs &lt;N&gt;", "&lt;N&gt;", "g2(0), background-corrected"
        )
        self.n_errors = pg.ErrorBarItem(pen=pg.mkPen(COLORS[1], width=1), beam=0)
        self.n_plot.addItem(self.n_errors)
        self.n_points = symbols(self.n_plot, COLORS[1], size=9)
        self.reset()

    def reset(self) -> None:
        for curve in self.rate_curves.values():
            self.rate_plot.removeItem(curve)
        self.rate_curves = {}
        self.live: dict[str, Any] = {}
        self.trace: dict[str, list[float]] = {"t": [], "g2": [], "err": []}
        self.rates: dict[str, list[tuple[float, float]]] = {}

    def on_progress(self, doc: Document, received: float) -> None:
        live = doc.get("live")
        if not live:
            return
        self.live = live
        t = self.elapsed(received)
        g2 = live.get("g2_zero") or {}
        if np.isfinite(g2.get("value", np.nan)):
            self.trace["t"].append(t)
            self.trace["g2"].append(g2["value"])
            self.trace["err"].append(g2.get("error", np.nan))
        detectors = self.start.get("parameters", {}).get("channels", {}).get("value")
        for channel, rate in (live.get("count_rates") or {}).items():
            if detectors is None or channel in detectors:  # not the sync input
                self.rates.setdefault(f"channel {channel}", []).append((t, float(rate)))
        if len(self.trace["t"]) > LIVE_TRACE_POINTS:
            self.trace = {k: v[::2] for k, v in self.trace.items()}
            self.rates = {k: v[::2] for k, v in self.rates.items()}

    def draw(self) -> None:
        self._draw_histogram()
        point_t = np.array([self.elapsed(t) for t in self.points.times])
        g2 = self.points.column("g2_zero")
        err = self.points.column("g2_zero_error")
        if self.trace["t"]:
            t, value, error = (np.array(self.trace[k]) for k in ("t", "g2", "err"))
            self.g2_running.setData(t, value)
            self.g2_errors.setData(x=t, y=value, height=2 * np.nan_to_num(error))
        else:
            t, value, error = finite(point_t, g2, err)
            self.g2_running.setData(t, value)
            self.g2_errors.setData(x=t, y=value, height=2 * error)
        self.g2_points.setData(*finite(point_t, g2))
        self._draw_rates(point_t)
        n, corrected, corrected_err = finite(
            self.points.column("mean_excitation"),
            self.points.column("g2_zero_corrected"),
            self.points.column("g2_zero_corrected_error"),
        )
        self.n_points.setData(n, corrected)
        self.n_errors.setData(x=n, y=corrected, height=2 * corrected_err)

    def _draw_histogram(self) -> None:
        histogram, edges = self.live.get("histogram"), self.live.get("edges_ps")
        pairs = self.live.get("pulse_pairs")
        if pairs is None and len(self.points):
            pairs = np.sum([np.asarray(r["pulse_pairs"]) for r in self.points.rows], axis=0)
        if pairs is None:
            return
        pairs = np.asarray(pairs)
        periods = (pairs.size - 1) // 2
        lags = np.arange(-periods, periods + 1)
        self._place_windows(periods)
        if histogram is not None and edges is not None:
            edges = np.asarray(edges, dtype=float)
            period_ps = (edges[-1] - edges[0]) / (2 * periods + 1)
            centres, counts = _rebinned(edges / period_ps, np.asarray(histogram))
            self.histogram_curve.setData(centres, counts)
            self.window_bars.setOpts(x=[], height=[])
            self.histogram_plot.setTitle(
                f"Delay histogram (period {period_ps / 1e3:.4g} ns; "
                f"windows: pulse pairs k = -{periods}..{periods})"
            )
        else:
            self.histogram_curve.setData([], [])
            self.window_bars.setOpts(x=lags, height=pairs)
            self.histogram_plot.setTitle("Photon pairs per pulse window k (all points)")
            self.histogram_plot.setLabel("left", "photon pairs")

    def _place_windows(self, periods: int) -> None:
        """One shaded window per pulse offset k; the k = 0 window (g2(0)'s numerator) in red."""
        if len(self.windows) == 2 * periods + 1:
            return
        for item in self.windows:
            self.histogram_plot.removeItem(item)
        self.windows = []
        for k in range(-periods, periods + 1):
            color = (214, 39, 40, 50) if k == 0 else (127, 127, 127, 25 if k % 2 else 45)
            window = pg.LinearRegionItem(
                (k - 0.5, k + 0.5), movable=False, brush=pg.mkBrush(color), pen=pg.mkPen(None)
            )
            window.setZValue(-10)
            self.histogram_plot.addItem(window)
            self.windows.append(window)

    def _draw_rates(self, point_t: np.ndarray) -> None:
        rates = {k: np.array(v).T for k, v in self.rates.items()}
        if not rates and len(self.points):
            seconds = self.points.column("acquisition")
            rates = {
                name: np.array(finite(point_t, self.points.column(key) / seconds))
                for name, key in (("channel A", "photons_a"), ("channel B", "photons_b"))
            }
        for i, (name, (t, rate)) in enumerate(sorted(rates.items())):
            if name not in self.rate_curves:
                self.rate_curves[name] = symbols(self.rate_plot, COLORS[i % 6], size=4, name=name)
            self.rate_curves[name].setData(t, rate)


def _rebinned(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and counts with bins summed in groups to at most HISTOGRAM_BINS."""
    group = max(1, -(-counts.size // HISTOGRAM_BINS))
    usable = counts.size // group * group
    summed = counts[:usable].reshape(-1, group).sum(axis=1)
    starts = edges[:usable:group]
    return starts + 0.5 * (edges[group] - edges[0]), summed
