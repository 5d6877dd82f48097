"""Photon-pair correlation for Hanbury-Brown-Twiss g2: delay histograms and pulse-index pairs.

Two views of the same pairs (PHYSICS.md section 3):

* :func:`cross_histogram` bins every delay ``t_b - t_a`` within a window. Bins are half-open,
  ``[e_i, e_i+1)``, with edges at integer multiples of ``bin_ps`` (:func:`histogram_edges`), the
  convention of pycorrelate's ``pcorrelate`` and of ``numpy.histogram`` (except its last bin).
* :func:`pulse_pair_counts` counts pairs by ``k = pulse_b - pulse_a`` for ``|k| <= K``. A photon
  belongs to pulse ``sync + s``, ``s`` in {-1, 0, 1} chosen so that its delay after that pulse's
  sync, ``microtime - s T``, lies in ``[phase_offset, phase_offset + T)``. A negative phase offset
  keeps photons that jitter a little ahead of their pulse (and so carry the previous sync) with
  their own pulse. This counting needs no peak window and is unbiased while decays end within
  one period (use T >= ~10 tau_X).

A time gate drops every photon whose delay after its own pulse's sync is below ``gate_ps`` (0:
no gate). It is a delay from the sync tag, so set the sync delay to put the laser pulse at
microtime 0 (or shift ``gate_ps`` by where the pulse is). Gated results carry their gate.

:class:`StreamingCorrelator` does both on a stream of :class:`~qslab.tcspc.tags.TagChunk`,
carrying the photons of the last window across chunk borders, so any split of a stream gives
the same counts as the whole stream and memory stays O(window). Times are int64 ps; the kernels
run on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from qslab.tcspc.tags import TagChunk

DEFAULT_EARLY_PS = 1000  # photons up to 1 ns ahead of their pulse (detector jitter) stay with it


@dataclass(frozen=True)
class Correlation:
    """Counts of A-B photon pairs, by delay and by pulse index, with how they were made."""

    edges_ps: np.ndarray
    histogram: np.ndarray
    lags: np.ndarray
    pulse_pairs: np.ndarray
    period_ps: int
    gate_ps: int
    phase_offset_ps: int
    photons: tuple[int, int]
    duration_ps: int

    @property
    def gated(self) -> bool:
        return self.gate_ps > 0


def histogram_edges(bin_ps: int, window_ps: int) -> np.ndarray:
    """Edges ``-n bin .. n bin`` with ``n = ceil(window / bin)``: the window, in whole bins."""
    if bin_ps <= 0 or window_ps <= 0:
        raise ValueError("bin_ps and window_ps must be positive")
    n = -(-window_ps // bin_ps)
    return np.arange(-n, n + 1, dtype=np.int64) * bin_ps


def cross_histogram(
    t_a_ps: np.ndarray, t_b_ps: np.ndarray, bin_ps: int, window_ps: int
) -> np.ndarray:
    """Counts of ``t_b - t_a`` in the bins of :func:`histogram_edges`; both arrays sorted."""
    edges = histogram_edges(bin_ps, window_ps)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    _pairs_into(counts, _int64(t_a_ps), _int64(t_b_ps), -int(edges[0]), bin_ps)
    return counts


def pulse_indices(
    sync: np.ndarray,
    microtime_ps: np.ndarray,
    period_ps: int,
    phase_offset_ps: int = -DEFAULT_EARLY_PS,
    gate_ps: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pulse, kept)``: each photon's laser pulse and whether it passes the gate."""
    _check_phase(period_ps, phase_offset_ps, gate_ps)
    return _pulse_indices(_int64(sync), _int64(microtime_ps), period_ps, phase_offset_ps, gate_ps)


def pulse_pair_counts(pulse_a: np.ndarray, pulse_b: np.ndarray, periods: int) -> np.ndarray:
    """Pairs by ``k = pulse_b - pulse_a``, k = -periods..periods; both arrays non-decreasing."""
    counts = np.zeros(2 * periods + 1, dtype=np.int64)
    _pairs_into(counts, _int64(pulse_a), _int64(pulse_b), periods, 1)
    return counts


def phase_offset_for(
    microtime_ps: np.ndarray, period_ps: int, early_ps: int = DEFAULT_EARLY_PS, bin_ps: int = 100
) -> int:
    """A phase offset ``early_ps`` ahead of the decay's peak, for data whose pulse is anywhere.

    The peak of the microtime histogram marks the laser pulse (decays rise within the jitter).
    """
    counts = np.bincount(_int64(microtime_ps) // bin_ps, minlength=1)
    offset = int(np.argmax(counts)) * bin_ps - early_ps
    return offset if offset > -period_ps else offset + period_ps


class SyncIndexer:
    """T2 to T3: the index of the last sync tag and the delay after it, across chunks.

    Photons before the first sync tag have no pulse and are dropped.
    """

    def __init__(self, sync_channel: int) -> None:
        self.sync_channel = sync_channel
        self._state = np.array([-1, 0], dtype=np.int64)  # syncs seen - 1, time of the last one

    def convert(self, chunk: TagChunk) -> TagChunk:
        keep, sync, micro = _index_syncs(
            chunk.channel, _int64(chunk.time_ps), self.sync_channel, self._state
        )
        return TagChunk(
            channel=chunk.channel[keep],
            time_ps=chunk.time_ps[keep],
            sync=sync[keep],
            microtime_ps=micro[keep],
            sync_period_ps=chunk.sync_period_ps,
            resolution_ps=chunk.resolution_ps,
        )


class StreamingCorrelator:
    """Delay histogram over +-(K + 1/2) periods and pulse-index pairs for |k| <= K, fed by chunks.

    T3 chunks are used as they are; T2 chunks need ``sync_channel`` (their pulses come from the
    sync tags). Photons of the last window of each chunk are carried to the next, so the counts
    do not depend on how the stream was cut; the work buffers grow to the largest chunk and are
    reused, so memory is O(chunk + window) whatever the length of the stream.
    """

    def __init__(
        self,
        channel_a: int,
        channel_b: int,
        bin_ps: int,
        periods: int,
        period_ps: int,
        gate_ps: int = 0,
        phase_offset_ps: int = -DEFAULT_EARLY_PS,
        sync_channel: int | None = None,
    ) -> None:
        _check_phase(period_ps, phase_offset_ps, gate_ps)
        if periods < 1:
            raise ValueError("periods (K) must be at least 1")
        self.channels = (channel_a, channel_b)
        self.bin_ps, self.periods, self.period_ps = bin_ps, periods, period_ps
        self.gate_ps, self.phase_offset_ps = gate_ps, phase_offset_ps
        self.edges_ps = histogram_edges(bin_ps, (2 * periods + 1) * period_ps // 2)
        self._half_ps = -int(self.edges_ps[0])
        self._histogram = np.zeros(self.edges_ps.size - 1, dtype=np.int64)
        self._pulse_pairs = np.zeros(2 * periods + 1, dtype=np.int64)
        self._indexer = None if sync_channel is None else SyncIndexer(sync_channel)
        self._buffers = np.zeros((4, 0), dtype=np.int64)  # times, pulses of A; times, pulses of B
        self._carried = (0, 0)
        self._photons = np.zeros(2, dtype=np.int64)
        self._span_ps: tuple[int, int] | None = None

    @property
    def carried_photons(self) -> int:
        """Photons held for pairs with the next chunk: those of the last window only."""
        return sum(self._carried)

    @property
    def nbytes(self) -> int:
        """Memory held: the counts and the work buffers (one chunk plus the carried photons)."""
        return self._histogram.nbytes + self._pulse_pairs.nbytes + self._buffers.nbytes

    def feed(self, chunk: TagChunk) -> None:
        if chunk.mode == "T2":
            if self._indexer is None:
                raise ValueError("a T2 chunk needs sync_channel to number the laser pulses")
            chunk = self._indexer.convert(chunk)
        if len(chunk) == 0:
            return
        if (
            chunk.sync_period_ps
            and abs(chunk.sync_period_ps - self.period_ps) * 100 > self.period_ps
        ):
            raise ValueError(
                f"chunk sync period {chunk.sync_period_ps} ps is not the correlator's "
                f"{self.period_ps} ps: pulses would be numbered wrong"
            )
        self._reserve(len(chunk))
        ca, cb = self._carried
        ma, mb = _gather(
            chunk.channel,
            _int64(chunk.time_ps),
            _int64(chunk.sync),
            _int64(chunk.microtime_ps),
            self.channels[0],
            self.channels[1],
            self.period_ps,
            self.phase_offset_ps,
            self.gate_ps,
            self._buffers,
            ca,
            cb,
        )
        self._photons += (ma - ca, mb - cb)
        ta, pa, tb, pb = self._buffers[0, :ma], self._buffers[1, :ma], *self._buffers[2:, :mb]
        _both_into(
            self._histogram, self._pulse_pairs, ta, pa, tb, pb, ca, cb, self._half_ps, self.bin_ps
        )
        t_end = int(chunk.time_ps[-1])
        # a later photon has time >= t_end and pulse >= first_pulse; keep what it can pair with
        first_pulse = int(chunk.sync[-1]) - (self.phase_offset_ps > 0)
        self._carried = _carry(
            self._buffers, ma, mb, t_end - self._half_ps, first_pulse - self.periods
        )
        first = int(chunk.time_ps[0]) if self._span_ps is None else self._span_ps[0]
        self._span_ps = (first, t_end)

    def result(self) -> Correlation:
        first, last = self._span_ps or (0, 0)
        return Correlation(
            edges_ps=self.edges_ps.copy(),
            histogram=self._histogram.copy(),
            lags=np.arange(-self.periods, self.periods + 1),
            pulse_pairs=self._pulse_pairs.copy(),
            period_ps=self.period_ps,
            gate_ps=self.gate_ps,
            phase_offset_ps=self.phase_offset_ps,
            photons=(int(self._photons[0]), int(self._photons[1])),
            duration_ps=last - first,
        )

    def _reserve(self, n: int) -> None:
        """Room for the carried photons plus a chunk of ``n`` (grown, with room for the carried
        photons of later chunks of the same size, never shrunk)."""
        need = max(self._carried) + n
        if self._buffers.shape[1] < need:
            grown = np.empty((4, need + need // 8), dtype=np.int64)
            ca, cb = self._carried
            grown[:2, :ca] = self._buffers[:2, :ca]
            grown[2:, :cb] = self._buffers[2:, :cb]
            self._buffers = grown


def _check_phase(period_ps: int, phase_offset_ps: int, gate_ps: int) -> None:
    if period_ps <= 0:
        raise ValueError("the laser period must be known (period_ps > 0) to number pulses")
    if not -period_ps < phase_offset_ps < period_ps:
        raise ValueError("phase_offset_ps must lie within one period of the sync")
    if gate_ps < 0:
        raise ValueError("gate_ps must be >= 0 (0: no gate)")


def _int64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


@njit(cache=True, nogil=True, inline="always")
def _bin(delay, inverse, width):
    """``delay // width`` for delay >= 0: a float multiply (a division costs more than the whole
    pair), corrected where rounding put an exact multiple of ``width`` one bin low."""
    k = int(delay * inverse)
    return k + 1 if (k + 1) * width <= delay else k


@njit(cache=True, nogil=True)
def _pairs_into(counts, t_a, t_b, half, width):
    """Add pairs with ``-half <= t_b - t_a < len(counts) * width - half`` to ``counts``.

    The classic two-pointer walk over two sorted arrays.
    """
    span = counts.size * width
    inverse = 1.0 / width
    n_b = t_b.size
    j0 = 0
    for i in range(t_a.size):
        low = t_a[i] - half
        while j0 < n_b and t_b[j0] < low:
            j0 += 1
        j = j0
        while j < n_b:
            delay = t_b[j] - low
            if delay >= span:
                break
            counts[_bin(delay, inverse, width)] += 1
            j += 1


@njit(cache=True, nogil=True)
def _both_into(hist, pulses, t_a, p_a, t_b, p_b, a_new, b_new, half, width):
    """:func:`_pairs_into` on delays and on pulse lags at once: one walk, one set of pointers.

    ``pulses`` has 2K + 1 entries. A B photon stays in the walk while inside either window, so
    neither count depends on the period matching the sync exactly. Pairs of an A photon before
    ``a_new`` with a B photon before ``b_new`` (both carried, already counted) are skipped.
    """
    span = hist.size * width
    inverse = 1.0 / width
    reach = pulses.size - 1
    n_b = t_b.size
    j0 = 0
    for i in range(t_a.size):
        t_low = t_a[i] - half
        p_low = p_a[i] - reach // 2
        while j0 < n_b and t_b[j0] < t_low and p_b[j0] < p_low:
            j0 += 1
        j = j0 if i >= a_new else max(j0, b_new)
        while j < n_b:
            delay = t_b[j] - t_low
            lag = p_b[j] - p_low
            in_time = delay < span
            in_pulses = lag <= reach
            if not (in_time or in_pulses):
                break
            if in_time and delay >= 0:
                hist[_bin(delay, inverse, width)] += 1
            if in_pulses and lag >= 0:
                pulses[lag] += 1
            j += 1


@njit(cache=True, nogil=True, inline="always")
def _assign(sync, micro, period, phase, gate):
    """The photon's pulse (its delay after that pulse's sync in [phase, phase + T)) and whether
    that delay passes the gate, without a branch."""
    x = micro - phase
    shift = np.int64(x >= period) - np.int64(x < 0)
    return sync + shift, (gate <= 0) | (micro - shift * period >= gate)


@njit(cache=True, nogil=True)
def _pulse_indices(sync, micro, period, phase, gate):
    pulse, kept = np.empty(sync.size, np.int64), np.empty(sync.size, np.bool_)
    for i in range(sync.size):
        pulse[i], kept[i] = _assign(sync[i], micro[i], period, phase, gate)
    return pulse, kept


@njit(cache=True, nogil=True)
def _gather(channel, time_ps, sync, micro, ch_a, ch_b, period, phase, gate, out, ca, cb):
    """Times and pulses of gated A and B photons into ``out`` after the carried ones.

    Branch-free: every photon is written to both rows and the end of a row advances only for
    its own channel, so interleaved channels cost no mispredicted branches.
    """
    ma, mb = ca, cb
    for i in range(channel.size):
        pulse, passed = _assign(sync[i], micro[i], period, phase, gate)
        out[0, ma], out[1, ma], out[2, mb], out[3, mb] = time_ps[i], pulse, time_ps[i], pulse
        ma += passed & (channel[i] == ch_a)
        mb += passed & (channel[i] == ch_b)
    return ma, mb


@njit(cache=True, nogil=True)
def _carry(out, ma, mb, t_low, p_low):
    """Move each channel's photons with time >= t_low or pulse >= p_low to the front."""
    kept = np.zeros(2, np.int64)
    for row, m in ((0, ma), (2, mb)):
        start = m
        while start > 0 and (out[row, start - 1] >= t_low or out[row + 1, start - 1] >= p_low):
            start -= 1
        for i in range(m - start):
            out[row, i], out[row + 1, i] = out[row, start + i], out[row + 1, start + i]
        kept[row // 2] = m - start
    return kept[0], kept[1]


@njit(cache=True, nogil=True)
def _index_syncs(channel, time_ps, sync_channel, state):
    """Sync index and microtime of every tag; ``keep`` marks photons after a first sync."""
    n = channel.size
    keep = np.zeros(n, np.bool_)
    sync, micro = np.empty(n, np.int64), np.empty(n, np.int64)
    index, last = state[0], state[1]
    for i in range(n):
        if channel[i] == sync_channel:
            index += 1
            last = time_ps[i]
        else:
            keep[i] = index >= 0
            sync[i], micro[i] = index, time_ps[i] - last
    state[0], state[1] = index, last
    return keep, sync, micro
