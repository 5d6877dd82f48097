"""g2(0) and QY_XX/QY_X recovered from synthetic pulsed HBT data whose answer is known.

The photons are drawn here with numpy, independently of the correlator: Poisson excitation of
one emitter per laser pulse, the XX -> X cascade (n >= 2 relaxes to XX), exponential lifetimes,
detection efficiency, a 50:50 split, Gaussian jitter and uniform dark counts. For this model
the pair counts have closed forms (PHYSICS.md section 3), ungated and gated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from qslab.analysis import g2
from qslab.tcspc.correlate import DEFAULT_EARLY_PS, StreamingCorrelator
from qslab.tcspc.tags import TagChunk

PERIOD_PS = 100_000  # 10 MHz, 20 tau_X: no pair leaks into the next one-period window
TAU_X_NS, TAU_XX_NS = 5.0, 2.0
QY_X, RATIO = 0.9, 0.57
QY_XX = QY_X * RATIO
EFFICIENCY = 0.5
JITTER_PS = 30.0
DARK_CPS = 50_000.0
MEAN_N = 0.2
PULSES = 2_000_000
GATE_PS = 2000
SEEDS = range(5)


def hbt_stream(seed: int, mean_n: float, pulses: int, dark_cps: float) -> TagChunk:
    """T3 tags of detectors 1 and 2 for ``pulses`` laser pulses (the first at sync 1)."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(mean_n, pulses)
    excited = np.flatnonzero(n)
    biexciton = n[excited] >= 2
    t_xx = rng.exponential(TAU_XX_NS * 1e3, excited.size)
    t_x = rng.exponential(TAU_X_NS * 1e3, excited.size) + np.where(biexciton, t_xx, 0.0)
    emits_x = rng.random(excited.size) < QY_X
    emits_xx = biexciton & (rng.random(excited.size) < QY_XX)
    pulse = np.concatenate([excited[emits_x], excited[emits_xx]]) + 1
    delay = np.concatenate([t_x[emits_x], t_xx[emits_xx]])
    seen = rng.random(pulse.size) < EFFICIENCY
    time = pulse[seen] * PERIOD_PS + delay[seen] + rng.normal(0.0, JITTER_PS, seen.sum())
    channel = rng.integers(1, 3, time.size)
    duration_ps = (pulses + 2) * PERIOD_PS
    dark = rng.poisson(dark_cps * duration_ps * 1e-12, 2)
    time = np.concatenate([time, rng.uniform(0, duration_ps, dark.sum())])
    channel = np.concatenate([channel, np.repeat([1, 2], dark)])
    order = np.argsort(time, kind="stable")
    time = np.round(time[order]).astype(np.int64)
    sync = time // PERIOD_PS
    return TagChunk(
        channel=channel[order].astype(np.uint8),
        time_ps=time,
        sync=sync,
        microtime_ps=time - sync * PERIOD_PS,
        sync_period_ps=PERIOD_PS,
    )


def survival(gate_ps: float, tau_ns: float) -> float:
    """P(exponential delay + Gaussian jitter >= gate): the ex-Gaussian survival function."""
    tau, s = tau_ns * 1e3, JITTER_PS
    if gate_ps <= 0:
        return 1.0
    tail = math.exp(-gate_ps / tau + s**2 / (2 * tau**2)) * ndtr((gate_ps - s**2 / tau) / s)
    return float(1 - ndtr(gate_ps / s) + tail)


def expected_g2(mean_n: float, dark_cps: float, gate_ps: int = 0) -> float:
    """The model's g2(0) by pulse index, background and gate included.

    Per pulse window and detector: signal s and dark counts d; the centre peak holds the
    cascade pairs plus 2 s d + d^2, a side peak (s + d)^2. Gated, each photon survives with its
    ex-Gaussian probability; the X photon after an XX (hypo-exponential delay) survives with
    the tau-weighted difference of the two; a cascade pair survives with its earlier, XX
    photon (the X photon follows by tau_X >> jitter).
    """
    p1 = 1 - math.exp(-mean_n)
    p2 = p1 - mean_n * math.exp(-mean_n)
    s_x, s_xx = survival(gate_ps, TAU_X_NS), survival(gate_ps, TAU_XX_NS)
    s_cascade = (TAU_X_NS * s_x - TAU_XX_NS * s_xx) / (TAU_X_NS - TAU_XX_NS)
    half = EFFICIENCY / 2
    signal = half * (QY_X * ((p1 - p2) * s_x + p2 * s_cascade) + QY_XX * p2 * s_xx)
    window_ps = PERIOD_PS - (gate_ps + DEFAULT_EARLY_PS if gate_ps else 0)
    dark = dark_cps * window_ps * 1e-12
    centre = 2 * half**2 * p2 * QY_XX * QY_X * s_xx + 2 * signal * dark + dark**2
    return centre / (signal + dark) ** 2


def correlate(stream: TagChunk, gate_ps: int = 0, chunk: int = 50_000):
    correlator = StreamingCorrelator(1, 2, 500, 3, PERIOD_PS, gate_ps=gate_ps)
    for start in range(0, len(stream), chunk):
        stop = start + chunk
        correlator.feed(
            TagChunk(
                stream.channel[start:stop],
                stream.time_ps[start:stop],
                stream.sync[start:stop],
                stream.microtime_ps[start:stop],
                PERIOD_PS,
            )
        )
    return correlator.result()


@pytest.fixture(scope="module")
def streams() -> dict[int, TagChunk]:
    return {seed: hbt_stream(seed, MEAN_N, PULSES, DARK_CPS) for seed in SEEDS}


@pytest.mark.parametrize("gate_ps", [0, GATE_PS])
def test_g2_zero_within_3_sigma_of_the_model_across_seeds(streams, gate_ps):
    truth = expected_g2(MEAN_N, DARK_CPS, gate_ps)
    for seed, stream in streams.items():
        result = correlate(stream, gate_ps)
        for source in ("pulses", "histogram"):
            measured = g2.g2_of(result, source)
            assert abs(measured["value"] - truth) < 3 * measured["error"], (seed, source)
            assert measured["error"] < 0.05 * truth
            if gate_ps:
                assert measured["gate_ns"] == GATE_PS / 1e3
                assert "gated" in measured["method"]
            else:
                assert "gate_ns" not in measured


def test_the_gate_changes_g2_so_a_gated_value_is_not_the_ungated_one():
    assert expected_g2(MEAN_N, 0.0, GATE_PS) < 0.85 * expected_g2(MEAN_N, 0.0)


def test_background_correction_recovers_the_background_free_value(streams):
    truth = float(g2.g2_at_n(MEAN_N, RATIO))
    for seed, stream in streams.items():
        result = correlate(stream)
        dark = DARK_CPS * result.duration_ps * 1e-12
        rho = math.sqrt(np.prod([1 - dark / count for count in result.photons]))
        measured = g2.g2_of(result)
        corrected = g2.background_corrected(measured, rho)
        assert abs(measured["value"] - truth) > 2 * measured["error"], seed  # background shows
        assert abs(corrected["value"] - truth) < 3 * corrected["error"], seed
        assert corrected["error"] > measured["error"]


def test_extrapolation_to_zero_excitation_recovers_the_yield_ratio():
    n_values = [0.1, 0.2, 0.4, 0.8]
    points = [g2.g2_of(correlate(hbt_stream(7, n, 5_000_000, 0.0))) for n in n_values]
    values = [p["value"] for p in points]
    errors = [p["error"] for p in points]
    result = g2.extrapolate_to_zero(n_values, values, errors)
    assert abs(result["value"] - RATIO) < 3 * result["error"]
    assert result["error"] < 0.05
    assert RATIO - values[-1] > 10 * errors[-1]  # at <N> = 0.8 g2(0) alone reads far too low


@pytest.mark.parametrize("n", [0.01, 0.3, 1.0, 2.0])
def test_the_finite_n_formula_inverts_and_tends_to_the_ratio(n):
    value = float(g2.g2_at_n(n, RATIO))
    assert g2.qy_ratio_at_n(value, 0.01, n)["value"] == pytest.approx(RATIO, rel=1e-9)
    assert float(g2.g2_at_n(1e-6, RATIO)) == pytest.approx(RATIO, rel=1e-5)


def test_auger_lifetime_of_the_default_film_is_the_reviews_22_ns():
    result = g2.auger_lifetime_ns(75.0, QY_XX, QY_X, qy_xx_error=0.02)
    assert result["value"] == pytest.approx(22.0, abs=0.1)
    assert result["units"] == "ns"
    # d tau_A / d QY_XX = tau_A / (QY_XX (1 - QY_XX))
    assert result["error"] == pytest.approx(22.0 * 0.02 / (QY_XX * (1 - QY_XX)), rel=0.01)
