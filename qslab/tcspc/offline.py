"""g2 of a time-tag file already on disk (``qslab g2 FILE``): PTU or Photon-HDF5.

Pulsed data (T3, or T2 with a laser sync) give g2(0) from pairs counted by laser-pulse index
(PHYSICS.md section 3). A T2 file without a laser sync has no pulses to count by; its answer is
the continuous-wave g2 at zero delay: coincidences around zero delay against those at long
delays, where the light is uncorrelated (1 for a flat cross-correlation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qslab.analysis.g2 import areas_from_pairs, g2_of
from qslab.tcspc.correlate import StreamingCorrelator, cross_histogram, histogram_edges
from qslab.tcspc.replay import open_tag_file

CHUNK_RECORDS = 1 << 20
DEFAULT_PERIODS = 5
DEFAULT_CW_WINDOW_PS = 10_000
DEFAULT_CW_SPAN_PS = 2_000_000


def analyse_tag_file(
    path: str | Path,
    gate_ns: float = 0.0,
    periods: int = DEFAULT_PERIODS,
    channels: tuple[int, int] | None = None,
    cw_window_ps: int = DEFAULT_CW_WINDOW_PS,
    cw_span_ps: int = DEFAULT_CW_SPAN_PS,
) -> dict[str, Any]:
    """A summary in the shape of ``qslab inspect --json``: parameters and ``analysis``."""
    reader = open_tag_file(path)
    try:
        counts = reader.counts()
        duration = reader.duration_s()
        sync = getattr(reader, "sync_channel", None)
        pulsed = reader.mode == "T3" or (sync is not None and reader.sync_period_ps > 0)
        # without a laser on it, a T2 "sync" input is one more detector
        busiest = sorted(counts, key=lambda c: -counts[c])
        detectors = [c for c in busiest if c != sync or not pulsed]
        pair = channels or tuple(sorted(detectors[:2]))
        if len(pair) != 2:
            raise ValueError(f"{path}: needs two detector channels, found {sorted(counts)}")
        rates = {
            str(c): {"value": n / duration, "error": np.sqrt(n) / duration, "units": "1/s"}
            for c, n in sorted(counts.items())
        }
        if pulsed:
            analysis = _pulsed(reader, pair, gate_ns, periods, sync)
        else:
            analysis = _continuous(reader, pair, cw_window_ps, cw_span_ps)
    finally:
        reader.close()
    analysis.update({f"count_rate_{c}": r for c, r in rates.items()})
    return {
        "procedure": "g2 (file)",
        "status": "completed",
        "file": str(path),
        "instrument": reader.instrument,
        "mode": reader.mode,
        "points": int(sum(counts.values())),
        "parameters": {
            "channels": {"value": list(pair), "units": ""},
            "gate": {"value": gate_ns, "units": "ns"},
            "periods": {"value": periods, "units": ""},
            "sync_period": {"value": reader.sync_period_ps, "units": "ps"},
            "duration": {"value": duration, "units": "s"},
        },
        "analysis": analysis,
    }


def _pulsed(reader, pair, gate_ns, periods, sync) -> dict[str, Any]:
    correlator = StreamingCorrelator(
        pair[0],
        pair[1],
        bin_ps=max(reader.resolution_ps, 1),
        periods=periods,
        period_ps=reader.sync_period_ps,
        gate_ps=int(round(gate_ns * 1e3)),
        sync_channel=sync if reader.mode == "T2" else None,
    )
    for chunk in reader.chunks(CHUNK_RECORDS):
        correlator.feed(chunk)
    correlation = correlator.result()
    peaks = areas_from_pairs(correlation.pulse_pairs)
    analysis = {"g2_zero": g2_of(correlation)}
    for lag, area, error in zip(peaks.lags, peaks.areas, peaks.errors, strict=True):
        analysis[f"peak_area_{int(lag):+d}"] = {
            "value": float(area),
            "error": float(error),
            "units": "pairs",
        }
    return analysis


def _continuous(reader, pair, window_ps: int, span_ps: int) -> dict[str, Any]:
    """Delay histogram within +-span in bins of ``window``: the two bins around zero delay over
    the mean of the bins beyond span/2, where the light is uncorrelated (1 for a flat g2)."""
    edges = histogram_edges(window_ps, span_ps)
    histogram = np.zeros(edges.size - 1, dtype=np.int64)
    carry_a = carry_b = np.zeros(0, dtype=np.int64)
    for chunk in reader.chunks(CHUNK_RECORDS):
        t = np.asarray(chunk.time_ps, dtype=np.int64)
        a = np.concatenate([carry_a, t[chunk.channel == pair[0]]])
        b = np.concatenate([carry_b, t[chunk.channel == pair[1]]])
        # pairs among the carried photons were counted with the previous chunk
        histogram += cross_histogram(a, b, window_ps, span_ps)
        histogram -= cross_histogram(carry_a, carry_b, window_ps, span_ps)
        end = int(t[-1]) - span_ps
        carry_a, carry_b = a[a >= end], b[b >= end]
    centres = (edges[:-1] + edges[1:]) / 2
    zero = np.abs(centres) < window_ps
    far = np.abs(centres) > span_ps / 2
    centre, reference = float(histogram[zero].mean()), float(histogram[far].mean())
    value = centre / reference
    error = value * np.sqrt(1 / max(histogram[zero].sum(), 1) + 1 / max(histogram[far].sum(), 1))
    return {
        "g2_zero_cw": {
            "value": value,
            "error": float(error),
            "units": "",
            "method": f"continuous-wave: +-{window_ps / 1e3:g} ns around zero delay over delays "
            f"beyond {span_ps / 2e3:g} ns (no laser sync in this file)",
        }
    }
