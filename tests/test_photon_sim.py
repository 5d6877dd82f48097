"""The HBT photon simulator against the physics it was given (PHYSICS.md section 3).

Every expectation here is computed in the test from the quantum yields, lifetimes and detector
numbers, and the photons are counted with plain numpy by laser-pulse index.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qslab.sim.photons import (
    Detectors,
    Emitter,
    Ensemble,
    HBTSetup,
    PhotonStream,
    expected_count_rates,
    expected_g2_zero,
)
from qslab.sim.sample import QSFilm

RATE_HZ = 1e6
PERIOD_PS = 1_000_000
EMITTER = Emitter.from_film(QSFilm())
SIDE = (1, 2, 3, 4, 5)
LAGS = (*(-k for k in SIDE), *SIDE)
EARLY_PS = 2000  # photons jittered ahead of their pulse stay with it


def quiet(**given) -> Detectors:
    """Detectors without dark counts or afterpulses."""
    return Detectors(**{"dark_cps": 0.0, "afterpulse_probability": 0.0, **given})


def stream(setup: HBTSetup, seconds: float, n_mean: float, seed: int, mode="T3", chunk_s=0.1):
    """All tags of ``seconds`` of acquisition, chunk by chunk, and the chunks themselves."""
    photons = PhotonStream(setup, RATE_HZ, np.random.default_rng(seed), mode)
    chunks = [photons.next_chunk(chunk_s, n_mean) for _ in range(round(seconds / chunk_s))]
    return (
        chunks,
        np.concatenate([c.time_ps for c in chunks]),
        np.concatenate([c.channel for c in chunks]),
    )


def pulse_pairs(times: np.ndarray, channels: np.ndarray, lags) -> dict[int, int]:
    """Pairs (detector 1 at pulse p, detector 2 at pulse p + k) for each lag k."""
    pulse = (times + EARLY_PS) // PERIOD_PS
    u1, c1 = np.unique(pulse[channels == 1], return_counts=True)
    u2, c2 = np.unique(pulse[channels == 2], return_counts=True)
    out = {}
    for k in (0, *lags):
        _, i1, i2 = np.intersect1d(u1 + k, u2, assume_unique=True, return_indices=True)
        out[k] = int(np.sum(c1[i1] * c2[i2]))
    return out


def g2_with_error(pairs: dict[int, int]) -> tuple[float, float]:
    side = [pairs[k] for k in LAGS]
    g2 = pairs[0] / np.mean(side)
    return g2, g2 * math.sqrt(1 / pairs[0] + 1 / sum(side))


def single_qs_g2(n: float) -> float:
    """PHYSICS.md: 2 p2 QY_XX QY_X / (p1 QY_X + p2 QY_XX)^2."""
    p1, p2 = 1 - math.exp(-n), 1 - math.exp(-n) * (1 + n)
    qx, qxx = EMITTER.qy_x, EMITTER.qy_xx
    return 2 * p2 * qxx * qx / (p1 * qx + p2 * qxx) ** 2


def photons_per_pulse(n: float) -> float:
    return EMITTER.qy_x * (1 - math.exp(-n)) + EMITTER.qy_xx * (1 - math.exp(-n) * (1 + n))


def test_the_low_excitation_limit_is_the_quantum_yield_ratio():
    setup = HBTSetup(EMITTER, quiet())
    assert expected_g2_zero(setup, 1e-9, RATE_HZ) == pytest.approx(0.57, rel=1e-6)
    assert expected_g2_zero(setup, 0.2, RATE_HZ, SIDE) == pytest.approx(single_qs_g2(0.2))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_zero_delay_coincidences_follow_the_biexciton_yield(seed):
    n = 0.2
    _, times, channels = stream(HBTSetup(EMITTER, quiet(efficiency=0.5)), 1.5, n, seed)
    g2, sigma = g2_with_error(pulse_pairs(times, channels, LAGS))
    assert abs(g2 - single_qs_g2(n)) < 3 * sigma, (g2, sigma, single_qs_g2(n))
    assert g2 < 0.7  # antibunched: far below the side peaks


def test_dark_counts_fill_the_zero_peak_as_uncorrelated_background():
    n, dark = 0.2, 30_000.0
    setup = HBTSetup(EMITTER, quiet(efficiency=0.5, dark_cps=dark))
    _, times, channels = stream(setup, 1.5, n, seed=21)
    g2, sigma = g2_with_error(pulse_pairs(times, channels, LAGS))
    signal = RATE_HZ * 0.25 * photons_per_pulse(n)
    rho2 = (signal / (signal + dark)) ** 2
    expected = rho2 * single_qs_g2(n) + 1 - rho2
    assert abs(g2 - expected) < 3 * sigma, (g2, sigma, expected)
    assert expected_g2_zero(setup, n, RATE_HZ, SIDE) == pytest.approx(expected)


def test_a_solution_dilutes_the_single_particle_g2_by_the_particles_in_focus():
    """Beyler et al. 2014: with M particles on average, zero / side = (g2_single + M) / (x + M),
    x = mean of exp(-k T / tau_D) over the side peaks (the same particle still in focus)."""
    n, m, tau_d = 0.2, 2.0, 1e-3
    setup = HBTSetup(EMITTER, quiet(efficiency=0.5, dead_time_ps=0), Ensemble(m, tau_d))
    _, times, channels = stream(setup, 1.0, n, seed=31)
    g2, sigma = g2_with_error(pulse_pairs(times, channels, LAGS))
    x = np.mean([math.exp(-k / RATE_HZ / tau_d) for k in SIDE])
    expected = (single_qs_g2(n) + m) / (x + m)
    # 4 sigma: the Poisson sigma leaves out the (small) spread from the number in focus
    assert abs(g2 - expected) < 4 * sigma, (g2, sigma, expected)
    assert expected_g2_zero(setup, n, RATE_HZ, SIDE) == pytest.approx(expected)
    assert g2 > single_qs_g2(n) + 5 * sigma


@pytest.mark.parametrize(("efficiency", "n"), [(0.1, 0.05), (0.3, 0.05), (0.1, 0.4)])
def test_count_rates_scale_with_detection_efficiency_and_excitation(efficiency, n):
    setup = HBTSetup(EMITTER, Detectors(efficiency=efficiency, dark_cps=50.0))
    seconds = 0.5
    _, _, channels = stream(setup, seconds, n, seed=41)
    expected = RATE_HZ * efficiency * photons_per_pulse(n) / 2 + 50.0
    for detector in (1, 2):
        counts = np.count_nonzero(channels == detector)
        assert abs(counts - expected * seconds) < 4 * math.sqrt(counts), (detector, counts)
    assert expected_count_rates(setup, n, RATE_HZ) == pytest.approx((expected, expected))


def test_dead_time_drops_later_events_on_the_same_detector_only():
    """2 Mcps of dark counts on a 22-ns SPAD: non-paralyzable, R = r / (1 + r tau)."""
    r, tau_ps = 2e6, 22_000
    dead = HBTSetup(EMITTER, quiet(dark_cps=r, dead_time_ps=tau_ps))
    _, times, channels = stream(dead, 0.05, 0.0, seed=51, chunk_s=0.01)
    for detector in (1, 2):
        gaps = np.diff(times[channels == detector])
        assert gaps.min() >= tau_ps
        counts = gaps.size + 1
        expected = r / (1 + r * tau_ps * 1e-12) * 0.05
        assert abs(counts - expected) < 4 * math.sqrt(counts), (counts, expected)
    across = np.diff(times)[np.diff(channels.astype(int)) != 0]
    assert np.count_nonzero(across < tau_ps) > 100  # the other detector is not dead
    free = HBTSetup(EMITTER, quiet(dark_cps=r, dead_time_ps=0))
    _, times, channels = stream(free, 0.05, 0.0, seed=51, chunk_s=0.01)
    assert np.count_nonzero(np.diff(times[channels == 1]) < tau_ps) > 1000


def test_afterpulses_follow_a_count_after_the_dead_time():
    r, p, tau_ap_ps, dead_ps = 20_000.0, 0.1, 100_000.0, 22_000
    detectors = Detectors(
        dark_cps=r, afterpulse_probability=p, afterpulse_tau_ps=tau_ap_ps, dead_time_ps=dead_ps
    )
    seconds = 2.0
    _, times, channels = stream(HBTSetup(EMITTER, detectors), seconds, 0.0, seed=61)
    gaps = np.diff(times[channels == 1])
    counts = gaps.size + 1
    assert abs(counts - r * (1 + p) * seconds) < 4 * math.sqrt(counts)
    assert gaps.min() >= dead_ps
    window = 3 * tau_ap_ps
    soon = np.count_nonzero(gaps < dead_ps + window) / gaps.size
    expected = p * (1 - math.exp(-3)) / (1 + p) + r * (dead_ps + window) * 1e-12
    assert abs(soon - expected) < 4 * math.sqrt(expected / gaps.size), (soon, expected)


def test_microtimes_decay_with_the_exciton_lifetime():
    chunks, times, _ = stream(HBTSetup(EMITTER, quiet(efficiency=0.5)), 1.0, 0.02, seed=71)
    sync = np.concatenate([c.sync for c in chunks])
    micro = np.concatenate([c.microtime_ps for c in chunks])
    assert np.array_equal(times, sync * PERIOD_PS + micro)
    assert micro.min() >= 0 and micro.max() < PERIOD_PS
    start = 30_000  # past the fast XX photons and the jitter
    tail = micro[micro >= start]
    tau_ns = np.mean(tail - start) / 1e3  # maximum-likelihood exponential decay time
    assert tail.size > 3000
    assert tau_ns == pytest.approx(EMITTER.tau_x_ns, rel=0.05)


def test_chunks_join_without_gaps_or_duplicates():
    """Chunks of 20 pulses (shorter than the cascade's delays): the sync tags tick every
    period across every border, tags stay in time order, and no photon is lost or doubled."""
    setup = HBTSetup(EMITTER, Detectors(efficiency=0.5))
    n = 0.2
    seconds = 0.05
    chunks, times, channels = stream(setup, seconds, n, seed=81, mode="T2", chunk_s=20e-6)
    assert all(c.mode == "T2" for c in chunks)
    assert np.all(np.diff(times) >= 0)
    syncs = times[channels == 0]
    assert np.array_equal(syncs, np.arange(syncs.size) * PERIOD_PS)
    photons = np.count_nonzero(channels != 0)
    expected = sum(expected_count_rates(setup, n, RATE_HZ)) * seconds
    assert abs(photons - expected) < 4 * math.sqrt(expected)
