"""Threshold methods recover the threshold that synthetic light-in/light-out curves were built with.

Curves are built here from models.py (the bench's truth), never with the fitting code: Poisson
spontaneous emission a P(n>=1) + c P(n>=2) at <N> = F / F_sat plus stimulated emission
b S(F / F_th; beta), spot-averaged over a Gaussian beam or, for the methods whose textbook
assumption is a flat-top spot, taken at one fluence.
"""

import json
import math

import numpy as np
import pytest

from qslab.analysis.models import (
    gaussian_spot_average,
    p_at_least_one,
    p_at_least_two,
    stimulated_fraction,
)
from qslab.analysis.threshold import (
    all_thresholds,
    ase_curve,
    threshold_linear,
    threshold_linewidth,
    threshold_loglog,
    threshold_rate_equation,
)

F_TH = 5.3
BETA = 0.02
FLUENCES = np.geomspace(0.5, 60.0, 25)
SEEDS = range(5)


F_SAT = F_TH / 1.4


def gaussian_spot_curve(fluence, a=4.0, c=2.0, f_sat=F_SAT, b=30.0, f_th=F_TH, beta=BETA):
    n = fluence / f_sat
    spontaneous = a * gaussian_spot_average(p_at_least_one, n)
    spontaneous += c * gaussian_spot_average(p_at_least_two, n)
    stimulated = gaussian_spot_average(lambda p: stimulated_fraction(p, beta), fluence / f_th)
    return spontaneous + b * stimulated


def flat_top_curve(fluence, b=1000.0, f_th=F_TH, beta=BETA):
    return fluence + b * stimulated_fraction(fluence / f_th, beta)


def noisy(curve, seed, relative=0.01):
    return curve * (1 + relative * np.random.default_rng(seed).standard_normal(curve.size))


def linewidth_curve(fluence, pl=30.0, ase=6.0, midpoint=6.0, width_dex=0.1):
    """A tanh step in log fluence: a different sigmoid from the one the method fits."""
    step = 0.5 * (1 - np.tanh(np.log10(fluence / midpoint) / width_dex))
    return ase + (pl - ase) * step


def test_ase_curve_is_the_models_py_truth():
    assert np.allclose(
        ase_curve(FLUENCES, 4.0, 2.0, F_SAT, 30.0, F_TH, BETA), gaussian_spot_curve(FLUENCES)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_rate_equation_recovers_threshold_and_beta(seed):
    result = threshold_rate_equation(FLUENCES, noisy(gaussian_spot_curve(FLUENCES), seed))
    assert result.value == pytest.approx(F_TH, rel=0.10)
    assert abs(result.value - F_TH) < 4 * result.error
    assert result.error < 0.1 * F_TH  # a real measurement, not a shrug
    assert BETA / 2 < result.details["beta"] < 2 * BETA
    assert result.details["steepest_fluence"] > F_TH  # a Gaussian spot is steepest above F_th
    assert result.method == "rate_equation" and result.units == "uJ/cm^2"


def test_rate_equation_with_repeats_and_given_errors():
    fluences = np.repeat(np.geomspace(0.5, 40.0, 12), 3)
    signal = noisy(gaussian_spot_curve(fluences), seed=11, relative=0.03)
    result = threshold_rate_equation(fluences, signal, y_err=0.03 * signal)
    assert result.value == pytest.approx(F_TH, rel=0.10)
    assert abs(result.value - F_TH) < 4 * result.error


def test_rate_equation_bootstrap_error_agrees_with_covariance():
    signal = noisy(gaussian_spot_curve(FLUENCES), seed=0)
    result = threshold_rate_equation(FLUENCES, signal, n_bootstrap=30, seed=1)
    assert 0.5 < result.error / result.details["error_covariance"] < 2.0


@pytest.mark.parametrize("seed", SEEDS)
def test_pure_power_law_has_no_threshold(seed):
    """Decision: a curve without a kink raises ValueError in every method (no number at all)."""
    signal = noisy(3.0 * FLUENCES**0.9, seed)
    with pytest.raises(ValueError, match="extend the fluence range upward"):
        threshold_rate_equation(FLUENCES, signal)
    for method in (threshold_linear, threshold_loglog):
        with pytest.raises(ValueError):
            method(FLUENCES, signal)


def test_range_ending_below_threshold_asks_for_higher_fluence():
    fluences = np.geomspace(0.5, 4.0, 25)
    for seed in SEEDS:
        with pytest.raises(ValueError, match="upward"):
            threshold_rate_equation(fluences, noisy(gaussian_spot_curve(fluences), seed))


def test_range_starting_above_threshold_asks_for_lower_fluence():
    fluences = np.geomspace(6.0, 40.0, 25)
    with pytest.raises(ValueError, match="downward"):
        threshold_rate_equation(fluences, noisy(gaussian_spot_curve(fluences), seed=0))


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_method_reads_high_on_a_gaussian_spot(seed):
    signal = noisy(gaussian_spot_curve(FLUENCES), seed)
    result = threshold_linear(FLUENCES, signal)
    assert result.value > F_TH
    assert result.details["x_intercept_above"] > F_TH
    assert result.value > threshold_rate_equation(FLUENCES, signal).value


def test_linear_method_is_right_for_a_flat_top_spot():
    """Above threshold a flat-top spot gives stimulated emission ~ p - 1: crosses zero at F_th."""
    result = threshold_linear(FLUENCES, noisy(flat_top_curve(FLUENCES), seed=0))
    assert result.details["x_intercept_above"] == pytest.approx(F_TH, rel=0.15)
    assert result.value == pytest.approx(F_TH, rel=0.15)


def test_loglog_kink_sits_at_threshold_for_a_flat_top_spot():
    for seed in SEEDS:
        result = threshold_loglog(FLUENCES, noisy(flat_top_curve(FLUENCES), seed))
        assert result.value == pytest.approx(F_TH, rel=0.10)
        assert abs(result.value - F_TH) < 4 * result.error


def test_loglog_kink_reads_high_on_a_gaussian_spot():
    for seed in SEEDS:
        result = threshold_loglog(FLUENCES, noisy(gaussian_spot_curve(FLUENCES), seed))
        assert F_TH < result.value < 2.5 * F_TH
        assert result.details["max_slope"] > 1.5


@pytest.mark.parametrize("seed", SEEDS)
def test_linewidth_midpoint_recovered(seed):
    widths = linewidth_curve(FLUENCES) + np.random.default_rng(seed).normal(0, 0.3, FLUENCES.size)
    result = threshold_linewidth(FLUENCES, widths)
    assert result.value == pytest.approx(6.0, rel=0.05)
    assert abs(result.value - 6.0) < 4 * result.error
    assert result.details["fwhm_pl_nm"] == pytest.approx(30.0, abs=0.5)
    assert result.details["fwhm_ase_nm"] == pytest.approx(6.0, abs=0.5)


def test_linewidth_ignores_points_without_a_line():
    widths = linewidth_curve(FLUENCES)
    widths[[2, 15]] = np.nan
    assert threshold_linewidth(FLUENCES, widths).value == pytest.approx(6.0, rel=0.02)


def test_linewidth_without_narrowing_raises():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="does not narrow"):
        threshold_linewidth(FLUENCES, 30.0 + rng.normal(0, 0.3, FLUENCES.size))
    late = linewidth_curve(FLUENCES, midpoint=60.0, width_dex=0.2)
    with pytest.raises(ValueError, match="upward"):
        threshold_linewidth(FLUENCES, late + rng.normal(0, 0.3, FLUENCES.size))


def test_all_thresholds_runs_every_method_and_they_disagree_as_expected():
    signal = noisy(gaussian_spot_curve(FLUENCES), seed=3)
    widths = linewidth_curve(FLUENCES)
    results, failures = all_thresholds(FLUENCES, signal, fwhm=widths)
    assert failures == {}
    assert set(results) == {"rate_equation", "linear", "loglog", "linewidth"}
    errors = {name: abs(r.value - F_TH) for name, r in results.items() if name != "linewidth"}
    assert min(errors, key=errors.get) == "rate_equation"
    stored = json.loads(json.dumps(results["rate_equation"].as_dict()))
    assert stored["value"] == pytest.approx(results["rate_equation"].value)
    assert {"value", "error", "units", "method", "beta"} <= set(stored)


def test_all_thresholds_reports_why_methods_could_not_run():
    results, failures = all_thresholds(FLUENCES, noisy(3.0 * FLUENCES**0.9, seed=0))
    assert results == {}
    assert set(failures) == {"rate_equation", "linear", "loglog", "linewidth"}
    assert all(isinstance(message, str) and message for message in failures.values())


@pytest.mark.parametrize(
    "signal, message",
    [
        (np.where(FLUENCES < 1, -1.0, 1.0) * gaussian_spot_curve(FLUENCES), "> 0"),
        (gaussian_spot_curve(FLUENCES)[:-1], "same length"),
        (gaussian_spot_curve(FLUENCES)[:5], "same length"),
    ],
)
def test_bad_input_is_explained(signal, message):
    with pytest.raises(ValueError, match=message):
        threshold_rate_equation(FLUENCES, signal)


def test_too_few_points_is_explained():
    with pytest.raises(ValueError, match="at least 8"):
        threshold_rate_equation(FLUENCES[:5], gaussian_spot_curve(FLUENCES[:5]))
    assert math.isfinite(threshold_linear(FLUENCES, gaussian_spot_curve(FLUENCES)).error)
