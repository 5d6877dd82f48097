"""The correlator's counts against independent computations: brute-force numpy pairs and
pycorrelate, bin for bin; pulse numbering with its phase offset and gate; chunk borders."""

from __future__ import annotations

import numpy as np
import pytest

from qslab.tcspc.correlate import (
    StreamingCorrelator,
    cross_histogram,
    histogram_edges,
    phase_offset_for,
    pulse_indices,
    pulse_pair_counts,
)
from qslab.tcspc.tags import TagChunk

PERIOD_PS = 10_000
PERIODS = 2
BIN_PS = 250
PHASE_PS = -400
GATE_PS = 600


def brute_histogram(t_a: np.ndarray, t_b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Every delay t_b - t_a, binned half-open [e_i, e_i+1) by integer arithmetic."""
    delay = np.subtract.outer(t_b, t_a).ravel()
    inside = (delay >= edges[0]) & (delay < edges[-1])
    width = edges[1] - edges[0]
    return np.bincount((delay[inside] - edges[0]) // width, minlength=edges.size - 1)


def brute_lags(p_a: np.ndarray, p_b: np.ndarray, periods: int) -> np.ndarray:
    lag = np.subtract.outer(p_b, p_a).ravel()
    return np.bincount(lag[np.abs(lag) <= periods] + periods, minlength=2 * periods + 1)


def dense_stream(seed: int, photons: int = 6000, pulses: int = 400) -> TagChunk:
    """T3 tags, ~15 per pulse on channels 1-3, on a 50 ps grid (ties, delays on bin edges),
    some jittered ahead of their pulse so that they carry the previous sync."""
    rng = np.random.default_rng(seed)
    pulse = rng.integers(1, pulses, photons)
    delay = rng.exponential(1500, photons) + rng.normal(0, 200, photons)
    time = np.sort(np.round((pulse * PERIOD_PS + delay) / 50).astype(np.int64) * 50)
    sync = time // PERIOD_PS
    return TagChunk(
        channel=rng.integers(1, 4, photons).astype(np.uint8),
        time_ps=time,
        sync=sync,
        microtime_ps=time - sync * PERIOD_PS,
        sync_period_ps=PERIOD_PS,
    )


def independent_counts(stream: TagChunk, edges: np.ndarray, gate_ps: int):
    """Histogram and pulse lags of gated photons of channels 1 and 2, by numpy alone."""
    pulse = stream.sync + np.floor_divide(stream.microtime_ps - PHASE_PS, PERIOD_PS)
    delay = stream.microtime_ps - (pulse - stream.sync) * PERIOD_PS
    kept = delay >= gate_ps if gate_ps else np.ones(len(stream), bool)
    a, b = kept & (stream.channel == 1), kept & (stream.channel == 2)
    t = stream.time_ps
    return brute_histogram(t[a], t[b], edges), brute_lags(pulse[a], pulse[b], PERIODS)


def pieces(stream: TagChunk, cuts: np.ndarray):
    bounds = np.concatenate([[0], np.sort(cuts), [len(stream)]])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        yield TagChunk(
            stream.channel[start:stop],
            stream.time_ps[start:stop],
            None if stream.sync is None else stream.sync[start:stop],
            None if stream.microtime_ps is None else stream.microtime_ps[start:stop],
            PERIOD_PS,
        )


def streaming(chunks, sync_channel: int | None = None, gate_ps: int = GATE_PS):
    correlator = StreamingCorrelator(
        1, 2, BIN_PS, PERIODS, PERIOD_PS, gate_ps, PHASE_PS, sync_channel=sync_channel
    )
    for chunk in chunks:
        correlator.feed(chunk)
    return correlator.result()


def test_cross_histogram_equals_brute_force_and_pycorrelate_bin_for_bin():
    pycorrelate = pytest.importorskip("pycorrelate", reason="pycorrelate is the peer to match")
    # its own code, run without its 5-s numba compile (bench/bench_g2.py runs it compiled)
    pcorrelate_uncompiled = pycorrelate.pcorrelate.py_func
    rng = np.random.default_rng(1)
    t_a = np.sort(rng.integers(0, 40_000, 1500)) * 25  # 25 ps grid: many delays on bin edges
    t_b = np.sort(rng.integers(0, 40_000, 1500)) * 25
    for bin_ps, window_ps in ((100, 5000), (100, 5050), (300, 4000)):
        edges = histogram_edges(bin_ps, window_ps)
        assert edges[-1] >= window_ps and edges[-1] - bin_ps < window_ps
        counts = cross_histogram(t_a, t_b, bin_ps, window_ps)
        assert counts.sum() > 1000
        np.testing.assert_array_equal(counts, brute_histogram(t_a, t_b, edges))
        peer = pcorrelate_uncompiled(t_a.astype(float), t_b.astype(float), edges.astype(float))
        np.testing.assert_array_equal(counts, np.round(peer * bin_ps).astype(np.int64))


def test_pulse_pair_counts_equal_brute_force():
    rng = np.random.default_rng(2)
    p_a, p_b = np.sort(rng.integers(0, 300, 900)), np.sort(rng.integers(0, 300, 900))
    np.testing.assert_array_equal(pulse_pair_counts(p_a, p_b, 3), brute_lags(p_a, p_b, 3))


def test_a_photon_jittered_ahead_of_its_pulse_stays_with_it_and_the_gate_drops_early_ones():
    # sync 4 at microtime T - 20 ps is 20 ps ahead of pulse 5; then photons 500 ps and 3 ns
    # after pulse 5, and one just past the phase boundary, which belongs to pulse 6
    sync = np.array([4, 5, 5, 5])
    micro = np.array([PERIOD_PS - 20, 500, 3000, PERIOD_PS + PHASE_PS])
    pulse, kept = pulse_indices(sync, micro, PERIOD_PS, PHASE_PS)
    np.testing.assert_array_equal(pulse, [5, 5, 5, 6])
    assert kept.all()
    pulse, kept = pulse_indices(sync, micro, PERIOD_PS, PHASE_PS, gate_ps=GATE_PS)
    np.testing.assert_array_equal(kept, [False, False, True, False])


def test_phase_offset_for_sits_ahead_of_the_decay_peak():
    rng = np.random.default_rng(3)
    micro = (30_000 + rng.exponential(3000, 20_000) + rng.normal(0, 50, 20_000)).astype(np.int64)
    assert abs(phase_offset_for(micro, 200_000, early_ps=1000) - 29_000) <= 200
    at_zero = (micro - 30_000) % 200_000  # pulse at microtime 0, early photons wrapped to ~T
    assert abs(phase_offset_for(at_zero, 200_000, early_ps=1000) + 1000) <= 200


@pytest.mark.parametrize("gate_ps", [0, GATE_PS])
def test_any_split_of_a_stream_gives_the_counts_of_the_whole(gate_ps):
    stream = dense_stream(4)
    whole = streaming([stream], gate_ps=gate_ps)
    histogram, lags = independent_counts(stream, whole.edges_ps, gate_ps)
    np.testing.assert_array_equal(whole.histogram, histogram)
    np.testing.assert_array_equal(whole.pulse_pairs, lags)
    assert whole.gate_ps == gate_ps and whole.gated == (gate_ps > 0)
    rng = np.random.default_rng(5)
    for n_cuts in (1, 7, 60, 600):  # includes empty and one-tag chunks
        split = streaming(pieces(stream, rng.integers(0, len(stream) + 1, n_cuts)), None, gate_ps)
        np.testing.assert_array_equal(split.histogram, whole.histogram)
        np.testing.assert_array_equal(split.pulse_pairs, whole.pulse_pairs)
        assert split.photons == whole.photons


def test_t2_tags_numbered_by_their_sync_channel_give_the_t3_counts():
    stream = dense_stream(6)
    syncs = np.arange(0, stream.sync[-1] + 1) * PERIOD_PS
    time = np.concatenate([syncs, stream.time_ps])
    channel = np.concatenate([np.zeros(syncs.size, np.uint8), stream.channel])
    order = np.lexsort((channel, time))  # a sync tag before a photon at the same time
    t2 = TagChunk(channel[order], time[order], sync_period_ps=PERIOD_PS)
    expected = streaming([stream])
    cuts = np.random.default_rng(7).integers(0, len(t2) + 1, 40)
    result = streaming(pieces(t2, cuts), sync_channel=0)
    np.testing.assert_array_equal(result.histogram, expected.histogram)
    np.testing.assert_array_equal(result.pulse_pairs, expected.pulse_pairs)
    with pytest.raises(ValueError, match="sync_channel"):
        streaming([t2])


def test_carried_state_is_the_last_window_not_the_stream():
    stream = dense_stream(8, photons=30_000, pulses=2000)
    correlator = StreamingCorrelator(1, 2, BIN_PS, PERIODS, PERIOD_PS, 0, PHASE_PS)
    detector = (stream.channel == 1) | (stream.channel == 2)
    for chunk in pieces(stream, np.arange(500, len(stream), 500)):
        correlator.feed(chunk)
        t_end = chunk.time_ps[-1]
        recent = detector & (stream.time_ps <= t_end)
        recent &= stream.time_ps >= t_end - (PERIODS + 2) * PERIOD_PS
        assert 0 < correlator.carried_photons <= recent.sum()
