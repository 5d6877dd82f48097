"""g2 correlation throughput: qslab's numba correlator against pycorrelate and tttrlib, one run.

    python bench/bench_g2.py [--tags 10000000] [--peer-tags 20000] [--stream-total 1e9]

The input is a pulsed HBT run of one emitter (5 MHz, Poisson excitation <N> = 0.5, XX -> X
cascade with QY_X 0.9 and QY_XX 0.51, 20-ns X decay, 40 % detection, 50:50 split, 50-ps jitter,
1 kcps dark counts per detector): ~0.4 Mcps per detector. A "tag" is one photon time tag of
either detector channel; T3 sync records are not counted (each tag carries its sync index).
Every histogram has the same bins: 100 ps over +-3.5 laser periods (+-700 ns, 14000 bins).

* qslab in memory: :func:`cross_histogram` on the two channels' time arrays (the classic
  two-pointer walk), the arrays the peers get.
* qslab streaming: :class:`StreamingCorrelator` fed the tags as 1M-tag T3 chunks of mixed
  channels, with a 1-ns gate: channel split, pulse numbering, gating, histogram and pulse-index
  pairs, state carried across chunk borders; checked against the in-memory kernel.
* pycorrelate ``pcorrelate`` costs O(bins) per tag (Laurence's algorithm), so it runs on the
  first ``--peer-tags`` tags (its per-tag cost does not depend on the length) and is compared
  bin for bin with qslab on that prefix.
* tttrlib: its Wahl correlator with one cascade is a linear correlator with integer lags, so
  it gets the times floored to 100 ps (lags 1..N each way; B shifted by one unit to include
  lag 0) and is compared bin for bin with qslab's kernel on the same floored times. tttrlib's
  arbitrary-bin (Laurence) correlator is run on the prefix too, to show it disagrees: in
  0.26.2 it subtracts unsigned times, so a B photon ahead of its A photon wraps around.

Numba compile time is measured apart, in a child process with an empty cache; timed runs are
the best of ``--repeat``. A last stage feeds the stream again and again (shifted in time) until
``--stream-total`` tags have passed and reports the correlator's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from pycorrelate import pcorrelate

from qslab.tcspc.correlate import (
    Correlation,
    StreamingCorrelator,
    cross_histogram,
    histogram_edges,
    pulse_indices,
)
from qslab.tcspc.tags import TagChunk

try:
    import tttrlib
except ImportError:  # an optional peer: left out with a note
    tttrlib = None

PERIOD_PS = 200_000
PERIODS = 3
BIN_PS = 100
WINDOW_PS = (2 * PERIODS + 1) * PERIOD_PS // 2
GATE_PS = 1000
CHUNK_TAGS = 1_000_000
MEAN_N, QY_X, QY_XX = 0.5, 0.9, 0.51
TAU_X_PS, TAU_XX_PS = 20_000.0, 5_000.0
EFFICIENCY, JITTER_PS, DARK_CPS = 0.4, 50.0, 1000.0
PULSE_BLOCK = 5_000_000


def emitter_block(rng: np.random.Generator, first_pulse: int) -> tuple[np.ndarray, np.ndarray]:
    """Detected photons (time, channel) of PULSE_BLOCK pulses from ``first_pulse``."""
    n = rng.poisson(MEAN_N, PULSE_BLOCK)
    xx_pulses = np.flatnonzero(n >= 2)
    x_pulses = np.flatnonzero(n)
    t_xx = rng.exponential(TAU_XX_PS, xx_pulses.size)
    t_x = rng.exponential(TAU_X_PS, x_pulses.size)
    t_x[np.isin(x_pulses, xx_pulses, assume_unique=True)] += t_xx
    pulse = np.concatenate([x_pulses, xx_pulses])
    delay = np.concatenate([t_x, t_xx])
    p_seen = EFFICIENCY * np.concatenate([np.full(x_pulses.size, QY_X), np.full(t_xx.size, QY_XX)])
    seen = rng.random(pulse.size) < p_seen
    time = (first_pulse + pulse[seen]) * PERIOD_PS + delay[seen]
    time += rng.normal(0.0, JITTER_PS, time.size)
    span = PULSE_BLOCK * PERIOD_PS
    dark = rng.poisson(DARK_CPS * span * 1e-12, 2)
    time = np.concatenate([time, first_pulse * PERIOD_PS + rng.uniform(0, span, dark.sum())])
    channel = np.concatenate([rng.integers(1, 3, seen.sum()), np.repeat([1, 2], dark)])
    return np.round(time).astype(np.int64), channel.astype(np.uint8)


def hbt_tags(n_tags: int, seed: int) -> TagChunk:
    """At least ``n_tags`` T3 tags of detectors 1 and 2, cut to exactly ``n_tags``."""
    rng = np.random.default_rng(seed)
    times, channels, total, first = [], [], 0, 1
    while total < n_tags:
        time, channel = emitter_block(rng, first)
        times.append(time)
        channels.append(channel)
        total, first = total + time.size, first + PULSE_BLOCK
    time, channel = np.concatenate(times), np.concatenate(channels)
    order = np.argsort(time, kind="stable")[:n_tags]
    time = time[order]
    sync = time // PERIOD_PS
    return TagChunk(channel[order], time, sync, time - sync * PERIOD_PS, PERIOD_PS)


def chunks(tags: TagChunk, shift_ps: int = 0) -> Iterator[TagChunk]:
    """The stream in CHUNK_TAGS pieces, optionally shifted later by ``shift_ps`` (whole periods)."""
    for start in range(0, len(tags), CHUNK_TAGS):
        part = slice(start, start + CHUNK_TAGS)
        yield TagChunk(
            tags.channel[part],
            tags.time_ps[part] + shift_ps,
            tags.sync[part] + shift_ps // PERIOD_PS,
            tags.microtime_ps[part],
            PERIOD_PS,
        )


def stream(pieces: Iterable[TagChunk]) -> Correlation:
    correlator = StreamingCorrelator(1, 2, BIN_PS, PERIODS, PERIOD_PS, gate_ps=GATE_PS)
    for chunk in pieces:
        correlator.feed(chunk)
    return correlator.result()


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def first_calls() -> dict[str, float]:
    """Seconds of the first in-memory and streaming calls on tiny input (compile or cache load)."""
    tiny = hbt_tags(2000, 0)
    a, b = tiny.time_ps[tiny.channel == 1], tiny.time_ps[tiny.channel == 2]
    start = time.perf_counter()
    cross_histogram(a, b, BIN_PS, WINDOW_PS)
    in_memory = time.perf_counter() - start
    start = time.perf_counter()
    stream(chunks(tiny))
    return {"in_memory": in_memory, "streaming": time.perf_counter() - start}


def cold_compile() -> dict[str, float]:
    """:func:`first_calls` in a child process whose numba cache is empty: the compile time."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run(
            [sys.executable, __file__, "--first-calls"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout)


def pycorrelate_histogram(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    g = pcorrelate(a.astype(float), b.astype(float), edges.astype(float))
    return np.round(g * np.diff(edges)).astype(np.int64)


def tttrlib_linear(a: np.ndarray, b: np.ndarray, bins: int) -> np.ndarray:
    """Counts of b - a = -bins..bins-1 from tttrlib's Wahl correlator with one cascade.

    ``a`` and ``b`` are uint64 integer times; B -> A gives lags -1..-bins, A -> (B + 1) gives
    0..bins-1 (the correlator leaves lag 0 out).
    """
    halves = []
    for first, second in ((b, a), (a, b + np.uint64(1))):
        correlator = tttrlib.Correlator(method="wahl", n_bins=bins, n_casc=1)
        correlator.set_events(first, np.ones(first.size), second, np.ones(second.size))
        correlator.run()
        halves.append(np.round(correlator.get_corr()[1 : bins + 1]).astype(np.int64))
    return np.concatenate([halves[0][::-1], halves[1]])


def tttrlib_laurence(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """tttrlib's arbitrary-bin correlator, A -> B and B -> A (edges + 1: half-open as ours)."""
    positive = edges[edges >= 0].astype(np.uint64)
    halves = []
    for first, second, axis in ((b, a, positive + np.uint64(1)), (a, b, positive)):
        correlator = tttrlib.Correlator(method="laurence", n_bins=axis.size - 1, n_casc=1)
        correlator.set_events(
            first.astype(np.uint64),
            np.ones(first.size),
            second.astype(np.uint64),
            np.ones(second.size),
        )
        correlator.curve.set_x_axis(axis)
        correlator.run()
        halves.append(np.round(correlator.get_corr()[: axis.size - 1]).astype(np.int64))
    return np.concatenate([halves[0][::-1], halves[1]])


def memory_check(tags: TagChunk, total: float) -> tuple[int, float, int]:
    """Tags passed, seconds, and bytes of correlator state after streaming ``total`` tags."""
    correlator = StreamingCorrelator(1, 2, BIN_PS, PERIODS, PERIOD_PS, gate_ps=GATE_PS)
    span = (int(tags.time_ps[-1]) // PERIOD_PS + 1) * PERIOD_PS
    passed, loops, start = 0, 0, time.perf_counter()
    while passed < total:
        for chunk in chunks(tags, loops * span):
            correlator.feed(chunk)
        passed, loops = passed + len(tags), loops + 1
    return passed, time.perf_counter() - start, correlator.nbytes


def line(name: str, tags: int, seconds: float, ratio: float | None, note: str) -> None:
    rate = f"{tags / seconds / 1e6:10.3f} M tags/s"
    shown = f"{ratio:10.1f}x" if ratio else " " * 11
    print(f"  {name:<44} {tags:>11,d} {rate} {shown}  {note}")


def agreement(peer: np.ndarray, ours: np.ndarray) -> str:
    wrong = np.count_nonzero(peer != ours)
    return "equal bin for bin" if wrong == 0 else f"{wrong} of {ours.size} bins DIFFER"


def qslab_lines(tags: TagChunk, repeat: int) -> float:
    """The in-memory and streaming lines; returns the in-memory rate (tags/s)."""
    t_a, t_b = tags.time_ps[tags.channel == 1], tags.time_ps[tags.channel == 2]
    in_memory = best_seconds(lambda: cross_histogram(t_a, t_b, BIN_PS, WINDOW_PS), repeat)
    line("qslab in memory (cross_histogram)", len(tags), in_memory, None, "target >= 150")
    pieces = list(chunks(tags))
    streamed = best_seconds(lambda: stream(pieces), repeat)
    kept = pulse_indices(tags.sync, tags.microtime_ps, PERIOD_PS, gate_ps=GATE_PS)[1]
    gated = cross_histogram(
        tags.time_ps[kept & (tags.channel == 1)],
        tags.time_ps[kept & (tags.channel == 2)],
        BIN_PS,
        WINDOW_PS,
    )
    note = f"target >= 80; gated histogram {agreement(stream(pieces).histogram, gated)}"
    line("qslab streaming, 1M-tag chunks, 1-ns gate", len(tags), streamed, None, note)
    return len(tags) / in_memory


def peer_lines(tags: TagChunk, peer_tags: int, reference: float) -> None:
    t_a, t_b = tags.time_ps[tags.channel == 1], tags.time_ps[tags.channel == 2]
    first = tags.channel[:peer_tags]
    p_a, p_b = tags.time_ps[:peer_tags][first == 1], tags.time_ps[:peer_tags][first == 2]
    edges = histogram_edges(BIN_PS, WINDOW_PS)
    ours = cross_histogram(p_a, p_b, BIN_PS, WINDOW_PS)
    pycorrelate_histogram(p_a[:10], p_b[:10], edges)  # its numba compile, outside the timing
    seconds = best_seconds(lambda: pycorrelate_histogram(p_a, p_b, edges), 1)
    rate = peer_tags / seconds
    note = agreement(pycorrelate_histogram(p_a, p_b, edges), ours) + f" (first {peer_tags} tags)"
    line("pycorrelate 0.3 pcorrelate", peer_tags, seconds, reference / rate, note)
    if tttrlib is None:
        print("  tttrlib: not installed (pip install tttrlib), left out")
        return
    f_a, f_b = (t_a // BIN_PS).astype(np.uint64), (t_b // BIN_PS).astype(np.uint64)
    bins = WINDOW_PS // BIN_PS
    ours_seconds = best_seconds(lambda: cross_histogram(f_a, f_b, 1, bins), 3)
    seconds = best_seconds(lambda: tttrlib_linear(f_a, f_b, bins), 1)
    note = agreement(tttrlib_linear(f_a, f_b, bins), cross_histogram(f_a, f_b, 1, bins))
    name = f"tttrlib {tttrlib.__version__} wahl, 1 cascade, floored"
    line(name, len(tags), seconds, seconds / ours_seconds, note + " with qslab on the same")
    seconds = best_seconds(lambda: tttrlib_laurence(p_a, p_b, edges), 1)
    note = agreement(tttrlib_laurence(p_a, p_b, edges), ours) + " (unsigned wrap, see doc)"
    line(f"tttrlib {tttrlib.__version__} laurence", peer_tags, seconds, None, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000_000)
    parser.add_argument("--peer-tags", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stream-total", type=float, default=1e9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-calls", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_calls:
        print(json.dumps(first_calls()))
        return

    tags = hbt_tags(args.tags, args.seed)
    duration_s = (tags.time_ps[-1] - tags.time_ps[0]) * 1e-12
    print(
        f"input: {len(tags):,d} tags of 2 detectors over {duration_s:.1f} s "
        f"({len(tags) / duration_s / 1e6:.2f} Mcps); {BIN_PS}-ps bins over "
        f"+-{WINDOW_PS // 1000} ns ({2 * WINDOW_PS // BIN_PS} bins); one core"
    )
    cold, warm = cold_compile(), first_calls()
    print(
        f"numba first call (excluded below): compile {cold['in_memory']:.2f} s in memory, "
        f"{cold['streaming']:.2f} s streaming; from the cache "
        f"{warm['in_memory'] * 1e3:.0f} + {warm['streaming'] * 1e3:.0f} ms"
    )
    print(f"\n  {'correlator':<44} {'tags':>11} {'throughput':>19} {'qslab/peer':>11}")
    reference = qslab_lines(tags, args.repeat)
    peer_lines(tags, args.peer_tags, reference)
    if args.stream_total > 0:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        passed, seconds, state = memory_check(tags, args.stream_total)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"\nmemory: {passed:,d} tags streamed in {seconds:.1f} s; correlator state "
            f"{state / 1e6:.1f} MB (work buffers of one chunk); process peak RSS "
            f"{before / 1e3:.0f} MB before, {after / 1e3:.0f} MB after"
        )


if __name__ == "__main__":
    main()
