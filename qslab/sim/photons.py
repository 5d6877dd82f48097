"""Hanbury-Brown-Twiss time tags of quantum shells under pulsed excitation (PHYSICS.md section 3).

The truth behind every simulated TCSPC counter. Per laser pulse and per emitter in the focus:

* excitation: n ~ Poisson(<N>), with <N> given per pulse (from the pump fluence, so the laser's
  pulse-to-pulse jitter is in it);
* n = 1: the exciton (X) emits with probability QY_X after an exponential delay of mean tau_X;
* n >= 2: the excitons relax to the biexciton (XX), which emits with probability QY_XX after a
  delay of mean tau_XX and then always leaves an X (radiatively or by Auger recombination), which
  emits with QY_X after a further delay of mean tau_X: an XX -> X cascade;
* detection: each photon is detected with probability ``efficiency``, then sent by a beam
  splitter to detector 1 (fraction ``split``) or 2; a Gaussian timing jitter and the detector's
  cable delay are added;
* each detector adds dark counts (Poisson, uniform in time) and loses every event within its
  dead time after a recorded one (non-paralyzable, as an actively quenched SPAD); a recorded
  photon or dark count is followed, with probability ``afterpulse_probability``, by an
  afterpulse one dead time plus an exponential delay later (afterpulses spawn none themselves).

Ensemble ("solution g2", Beyler et al., Nano Lett. 2014): particles diffuse through the focus.
The focus is modelled as a volume that particles enter as a Poisson process and leave after an
exponential residence time of mean ``diffusion_time_s`` (an M/M/infinity queue). The number in
focus is then Poisson with mean ``mean_in_focus`` at every instant and its correlation decays as
exp(-t / tau_D); every particle in focus sees the same <N> (a top-hat focus). This keeps the
occupation statistics of 3-D diffusion through a Gaussian focus (whose correlation decays as
1 / (1 + t / tau_D) instead) and gives the expected g2 in closed form: with M particles on
average, peak areas relative to long delays are 1 + g2_single / M at zero delay and 1 + 1 / M at
short delays, so the zero-to-side ratio is (g2_single + M) / (1 + M) for laser periods much
shorter than tau_D.

Times are integer picoseconds from the start of the acquisition. The laser period is a whole
number of picoseconds (1e12 / f rounded), so that pulse k is at exactly k * period.
:class:`PhotonStream` hands out :class:`~qslab.tcspc.tags.TagChunk` objects window by window;
photons, sync tags and afterpulses that fall after a window are carried into the next, so a
stream cut into chunks has neither gaps nor duplicates, and memory is bounded by the chunk.

:func:`expected_g2_zero` and :func:`expected_count_rates` are the closed-form truth a test or a
procedure compares with: ungated pair counting by pulse index, background from the dark counts,
dead time and afterpulsing neglected (both are small at the rates they are meant for).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from qslab.analysis.models import p_at_least_one, p_at_least_two
from qslab.sim.sample import QSFilm
from qslab.tcspc.tags import TagChunk

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
JITTER_CLIP_SIGMAS = 8.0
"""Jitter is drawn from a Gaussian cut at this many sigmas, so that a window knows how early a
photon of a later pulse can arrive (a cut at 8 sigma removes 1e-15 of the distribution)."""
SYNC, DETECTOR_1, DETECTOR_2 = 0, 1, 2
NEVER = np.iinfo(np.int64).min // 4


@dataclass(frozen=True)
class Emitter:
    """One quantum shell's photophysics: quantum yields and lifetimes of X and XX."""

    qy_x: float
    qy_xx: float
    tau_x_ns: float
    tau_xx_ns: float

    def __post_init__(self) -> None:
        if not (0 <= self.qy_x <= 1 and 0 <= self.qy_xx <= 1):
            raise ValueError("quantum yields must lie in [0, 1]")
        if not (self.tau_x_ns > 0 and self.tau_xx_ns > 0):
            raise ValueError("lifetimes must be positive")

    @classmethod
    def from_film(cls, film: QSFilm) -> Emitter:
        return cls(film.qy_x, film.qy_xx, film.tau_x_ns, film.tau_xx_ns)


@dataclass(frozen=True)
class Detectors:
    """Two single-photon detectors behind a beam splitter (defaults: Si SPADs, PHYSICS.md s. 4).

    ``efficiency`` is the probability that an emitted photon is detected at all (collection,
    optics and detector quantum efficiency together); ``split`` the fraction sent to detector 1.
    """

    efficiency: float = 0.1
    split: float = 0.5
    jitter_fwhm_ps: float = 350.0
    dead_time_ps: int = 22_000
    dark_cps: float = 100.0
    afterpulse_probability: float = 0.005
    afterpulse_tau_ps: float = 100_000.0

    def __post_init__(self) -> None:
        if not (0 <= self.efficiency <= 1 and 0 <= self.split <= 1):
            raise ValueError("efficiency and split must lie in [0, 1]")
        if not 0 <= self.afterpulse_probability <= 1:
            raise ValueError("afterpulse_probability must lie in [0, 1]")
        if min(self.jitter_fwhm_ps, self.dead_time_ps, self.dark_cps) < 0:
            raise ValueError("jitter, dead time and dark counts cannot be negative")
        if not self.afterpulse_tau_ps > 0:
            raise ValueError("afterpulse_tau_ps must be positive")

    @property
    def jitter_sigma_ps(self) -> float:
        return self.jitter_fwhm_ps / FWHM_PER_SIGMA


@dataclass(frozen=True)
class Ensemble:
    """Particles diffusing through the focus: Poisson number ``mean_in_focus``, each staying an
    exponential time of mean ``diffusion_time_s`` (see the module docstring)."""

    mean_in_focus: float
    diffusion_time_s: float

    def __post_init__(self) -> None:
        if not (self.mean_in_focus > 0 and self.diffusion_time_s > 0):
            raise ValueError("mean_in_focus and diffusion_time_s must be positive")


@dataclass(frozen=True)
class HBTSetup:
    """What the counter looks at: the emitter(s) and the two detectors."""

    emitter: Emitter
    detectors: Detectors = field(default_factory=Detectors)
    ensemble: Ensemble | None = None


# -- closed-form expectations -----------------------------------------------------------------
def period_ps(repetition_rate_hz: float) -> int:
    """The laser period in whole picoseconds, as every simulated pulse train uses it."""
    if not repetition_rate_hz > 0:
        raise ValueError("the repetition rate must be positive")
    return max(1, round(1e12 / repetition_rate_hz))


def mean_photons(emitter: Emitter, n_mean: float) -> float:
    """Photons one emitter gives per pulse: QY_X P(n >= 1) + QY_XX P(n >= 2)."""
    return float(emitter.qy_x * p_at_least_one(n_mean) + emitter.qy_xx * p_at_least_two(n_mean))


def single_emitter_g2(emitter: Emitter, n_mean: float) -> float:
    """g2(0) = 2 p2 QY_XX QY_X / (p1 QY_X + p2 QY_XX)^2 (Nair et al. 2011); QY_XX / QY_X as
    <N> -> 0."""
    if n_mean < 1e-6:
        return emitter.qy_xx / emitter.qy_x
    pairs = 2.0 * float(p_at_least_two(n_mean)) * emitter.qy_xx * emitter.qy_x
    return pairs / mean_photons(emitter, n_mean) ** 2


def _occupation(setup: HBTSetup, peaks: np.ndarray, period_s: float):
    """E[M], E[M(M-1)], and per side peak the same-particle and distinct-particle pair counts."""
    ens = setup.ensemble
    if ens is None:
        return 1.0, 0.0, np.ones(peaks.size), np.zeros(peaks.size)
    m = ens.mean_in_focus
    same = m * np.exp(-np.abs(peaks) * period_s / ens.diffusion_time_s)
    return m, m**2, same, np.full(peaks.size, m**2)


def expected_count_rates(
    setup: HBTSetup, n_mean: float, repetition_rate_hz: float
) -> tuple[float, float]:
    """Counts per second on detectors 1 and 2 (signal plus dark; dead time neglected)."""
    d = setup.detectors
    in_focus = 1.0 if setup.ensemble is None else setup.ensemble.mean_in_focus
    photons = repetition_rate_hz * in_focus * d.efficiency * mean_photons(setup.emitter, n_mean)
    return photons * d.split + d.dark_cps, photons * (1 - d.split) + d.dark_cps


def expected_g2_zero(
    setup: HBTSetup,
    n_mean: float,
    repetition_rate_hz: float,
    side_peaks: Sequence[int] = (1,),
) -> float:
    """Ungated g2(0): pairs (1 at pulse p, 2 at pulse p) over the mean of pairs (1 at p, 2 at
    p + k) for the ``side_peaks`` k, dark counts included as background.

    Per pulse, with s_i the probability that one emitter's photon reaches detector i, c the
    probability of one photon on each detector from one emitter, and a_d the dark counts per
    period: zero = E[M] c + E[M(M-1)] s1 s2 + B and side_k = s1 s2 (same_k + distinct_k) + B,
    B = E[M] (s1 + s2) a_d + a_d^2. A single emitter has E[M] = same_k = 1, E[M(M-1)] =
    distinct_k = 0, which gives the PHYSICS.md formula corrected for background as
    g2_m = rho1 rho2 g2 + 1 - rho1 rho2, rho_i = S_i / (S_i + B_i).
    """
    e, d = setup.emitter, setup.detectors
    period_s = 1.0 / repetition_rate_hz
    s1 = d.efficiency * d.split * mean_photons(e, n_mean)
    s2 = d.efficiency * (1.0 - d.split) * mean_photons(e, n_mean)
    pair = d.efficiency**2 * 2 * d.split * (1 - d.split) * float(p_at_least_two(n_mean))
    pair *= e.qy_xx * e.qy_x
    peaks = np.asarray(side_peaks, dtype=float)
    mean_m, pairs_m, same, distinct = _occupation(setup, peaks, period_s)
    dark = d.dark_cps * period_s
    background = mean_m * (s1 + s2) * dark + dark**2
    zero = mean_m * pair + pairs_m * s1 * s2 + background
    side = np.mean(s1 * s2 * (same + distinct)) + background
    return float(zero / side)


# -- detector: dead time and afterpulses ---------------------------------------------------------
@numba.njit(cache=True)
def _record(times, draws, delays, pending, last, end, dead_time, afterpulse_probability):
    """Events one detector records, in time order: candidates ``times`` (sorted, all before
    ``end``) merged with ``pending`` afterpulses; an event within ``dead_time`` of the last
    recorded one is lost; a recorded candidate i spawns an afterpulse at ``times[i] +
    delays[i]`` when ``draws[i] < afterpulse_probability``. Returns the recorded times, the
    afterpulses still pending at ``end`` (sorted) and the last recorded time."""
    heap = [np.int64(x) for x in pending]
    heapq.heapify(heap)
    out = np.empty(2 * times.size + pending.size, np.int64)
    n_out = 0
    i = 0
    while True:
        from_heap = len(heap) > 0 and heap[0] < end and (i >= times.size or heap[0] < times[i])
        if from_heap:
            t = heapq.heappop(heap)
            spawn = False
        elif i < times.size:
            t = times[i]
            spawn = draws[i] < afterpulse_probability
            i += 1
        else:
            break
        if t - last >= dead_time:
            out[n_out] = t
            n_out += 1
            last = t
            if spawn:
                heapq.heappush(heap, t + delays[i - 1])
    rest = np.empty(len(heap), np.int64)
    for k in range(rest.size):
        rest[k] = heapq.heappop(heap)
    return out[:n_out], rest, last


@dataclass
class _DetectorState:
    last: int = NEVER
    afterpulses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


# -- the stream ----------------------------------------------------------------------------------
Excitation = float | Callable[[int], np.ndarray]
"""<N> of every pulse: one number, or a function giving the values for ``count`` pulses."""


class PhotonStream:
    """Time tags of an HBT experiment, handed out chunk by chunk (see the module docstring).

    ``mode`` "T3": detector photons with the index of the last sync (laser pulse) before them and
    their delay after it; "T2": detector photons and the sync tags as channel 0. ``delays_ps``
    are cable delays by channel (0: sync, 1 and 2: detectors). ``rng`` makes a stream
    repeatable.
    """

    def __init__(
        self,
        setup: HBTSetup,
        repetition_rate_hz: float,
        rng: np.random.Generator,
        mode: str = "T3",
        delays_ps: Mapping[int, int] | None = None,
    ) -> None:
        if mode not in ("T2", "T3"):
            raise ValueError(f"mode must be 'T2' or 'T3', got {mode!r}")
        self.setup = setup
        self.mode = mode
        self.rng = rng
        self.period = period_ps(repetition_rate_hz)
        delays = {SYNC: 0, DETECTOR_1: 0, DETECTOR_2: 0, **(delays_ps or {})}
        self.delays = np.array([delays[SYNC], delays[DETECTOR_1], delays[DETECTOR_2]], np.int64)
        jitter = JITTER_CLIP_SIGMAS * setup.detectors.jitter_sigma_ps
        self._lag = int(math.ceil(max(0, -int(self.delays.min())) + jitter))
        self._pulse = 0
        self._end = 0
        self._pending_t = np.zeros(0, np.int64)
        self._pending_ch = np.zeros(0, np.uint8)
        self._detectors = {DETECTOR_1: _DetectorState(), DETECTOR_2: _DetectorState()}
        self._particles = self._initial_particles()

    @property
    def pulses(self) -> int:
        """Laser pulses generated so far."""
        return self._pulse

    @property
    def time_ps(self) -> int:
        """End of the time covered by the chunks handed out so far."""
        return self._end

    def next_chunk(self, duration_s: float, excitation: Excitation) -> TagChunk:
        """The tags of the next ``duration_s`` of laser pulses (at least one pulse)."""
        count = max(1, round(duration_s * 1e12 / self.period))
        first = self._pulse
        self._pulse += count
        start, end = self._end, max(self._end, self._pulse * self.period - self._lag)
        self._end = end
        n_mean = np.broadcast_to(
            np.asarray(excitation(count) if callable(excitation) else excitation, dtype=float),
            (count,),
        )
        times, channels = self._new_events(first, count, n_mean)
        times = np.concatenate([self._pending_t, times])
        channels = np.concatenate([self._pending_ch, channels])
        later = times >= end
        self._pending_t, self._pending_ch = times[later], channels[later]
        now = ~later & (times >= 0)
        times, channels = times[now], channels[now]
        parts_t = [times[channels == SYNC]]
        parts_ch = [np.full(parts_t[0].size, SYNC, np.uint8)]
        for channel, state in self._detectors.items():
            recorded = self._detect(times[channels == channel], state, max(start, 0), end)
            parts_t.append(recorded)
            parts_ch.append(np.full(recorded.size, channel, np.uint8))
        times, channels = np.concatenate(parts_t), np.concatenate(parts_ch)
        order = np.lexsort((channels, times))
        return self._chunk(times[order], channels[order])

    # -- emission ----------------------------------------------------------------------------
    def _new_events(self, first: int, count: int, n_mean: np.ndarray):
        """Detected photons (and sync tags in T2) of pulses first .. first + count - 1, before
        dead time."""
        single, many = self._excitations(first, count, n_mean)
        pulse, delay_ps = self._detected_photons(single, many)
        d, rng = self.setup.detectors, self.rng
        channel = np.where(rng.random(pulse.size) < d.split, DETECTOR_1, DETECTOR_2)
        clip = JITTER_CLIP_SIGMAS * d.jitter_sigma_ps
        jitter = np.clip(rng.normal(0.0, d.jitter_sigma_ps, pulse.size), -clip, clip)
        times = pulse * self.period + np.rint(delay_ps + jitter).astype(np.int64)
        times += self.delays[channel]
        channel = channel.astype(np.uint8)
        if self.mode == "T2":
            syncs = np.arange(first, first + count, dtype=np.int64) * self.period + self.delays[0]
            times = np.concatenate([syncs, times])
            channel = np.concatenate([np.full(count, SYNC, np.uint8), channel])
        return times, channel

    def _excitations(self, first: int, count: int, n_mean: np.ndarray):
        """Pulse index of every excited emitter, split into those holding one exciton and
        those holding two or more.

        Per pulse, each of the m emitters in focus is excited (n >= 1) with probability
        p1 = 1 - e^-N, so the excited ones number Binomial(m, p1); each of them holds n >= 2
        with probability p2 / p1, p2 = 1 - e^-N (1 + N). This draws the same Poisson
        occupations as one draw per emitter and pulse, at a cost set by the excited ones."""
        rng = self.rng
        p1 = p_at_least_one(n_mean)
        p2 = p_at_least_two(n_mean)
        excited = rng.binomial(self._in_focus(first, count), p1)
        offset = np.repeat(np.arange(count), excited)
        ratio = np.divide(p2, p1, out=np.zeros(count), where=p1 > 0)
        many = rng.random(offset.size) < ratio[offset]
        pulse = offset.astype(np.int64) + first
        return pulse[~many], pulse[many]

    def _detected_photons(self, single: np.ndarray, many: np.ndarray):
        """Photons of the excited emitters that are emitted and detected (probability QY times
        efficiency, independently for the XX and the X photon of a cascade): (pulse index,
        delay after the pulse in ps)."""
        e, rng = self.setup.emitter, self.rng
        efficiency = self.setup.detectors.efficiency
        x_single = single[rng.random(single.size) < e.qy_x * efficiency]
        t_single = rng.exponential(e.tau_x_ns * 1e3, x_single.size)
        xx = rng.random(many.size) < e.qy_xx * efficiency
        x = rng.random(many.size) < e.qy_x * efficiency
        cascade = xx | x
        many, xx, x = many[cascade], xx[cascade], x[cascade]
        t_xx = rng.exponential(e.tau_xx_ns * 1e3, many.size)
        t_x = t_xx + rng.exponential(e.tau_x_ns * 1e3, many.size)
        pulses = np.concatenate([x_single, many[xx], many[x]])
        return pulses, np.concatenate([t_single, t_xx[xx], t_x[x]])

    # -- ensemble ------------------------------------------------------------------------------
    def _initial_particles(self) -> tuple[np.ndarray, np.ndarray] | None:
        ens = self.setup.ensemble
        if ens is None:
            return None
        count = self.rng.poisson(ens.mean_in_focus)
        stay = self.rng.exponential(ens.diffusion_time_s * 1e12, count)
        return np.full(count, -1.0), stay

    def _in_focus(self, first: int, count: int) -> np.ndarray:
        """Emitters in focus at each pulse: always one for a single QS; for a solution, the
        particles present (arriving and leaving as the module docstring says)."""
        if self._particles is None:
            return np.ones(count, np.int64)
        ens, rng, period = self.setup.ensemble, self.rng, self.period
        t0, t1 = first * period, (first + count) * period
        tau = ens.diffusion_time_s * 1e12
        arrivals = rng.uniform(t0, t1, rng.poisson(ens.mean_in_focus / tau * (t1 - t0)))
        arrive = np.concatenate([self._particles[0], arrivals])
        leave = np.concatenate([self._particles[1], arrivals + rng.exponential(tau, arrivals.size)])
        self._particles = arrive[leave > t1], leave[leave > t1]
        # pulse k (from first) sees a particle when arrive <= (first + k) T < leave
        lo = np.ceil(np.maximum(arrive, t0) / period).astype(np.int64) - first
        hi = np.ceil(np.minimum(leave, t1) / period).astype(np.int64) - first
        present = lo < hi
        steps = np.bincount(lo[present], minlength=count + 1)
        steps -= np.bincount(hi[present], minlength=count + 1)
        return np.cumsum(steps)[:count]

    # -- detection -----------------------------------------------------------------------------
    def _detect(self, photons: np.ndarray, state: _DetectorState, start: int, end: int):
        """What one detector records in [start, end): photons and dark counts, after dead time
        and with afterpulses."""
        d, rng = self.setup.detectors, self.rng
        darks = start + np.floor(
            rng.random(rng.poisson(d.dark_cps * (end - start) * 1e-12)) * (end - start)
        ).astype(np.int64)
        candidates = np.sort(np.concatenate([photons, darks]))
        draws = rng.random(candidates.size)
        afterpulse_delay = rng.exponential(d.afterpulse_tau_ps, candidates.size)
        delays = d.dead_time_ps + np.rint(afterpulse_delay).astype(np.int64)
        recorded, state.afterpulses, state.last = _record(
            candidates,
            draws,
            delays,
            state.afterpulses,
            state.last,
            end,
            d.dead_time_ps,
            d.afterpulse_probability,
        )
        return recorded

    def _chunk(self, times: np.ndarray, channels: np.ndarray) -> TagChunk:
        if self.mode == "T2":
            return TagChunk(channels, times, sync_period_ps=self.period)
        keep = times >= self.delays[0]
        times, channels = times[keep], channels[keep]
        sync = (times - self.delays[0]) // self.period
        microtime = times - self.delays[0] - sync * self.period
        return TagChunk(channels, times, sync, microtime, sync_period_ps=self.period)
