"""ASE and lasing thresholds from a light-in/light-out curve (PHYSICS.md section 3).

``x`` is the pump fluence (uJ/cm^2 unless ``units`` says otherwise), ``y`` the integrated
emission (> 0), ``fwhm`` the linewidth in nm. The four methods read different things and disagree
on real data, so each result carries its method name, a 1-sigma error and the fit details; every
method raises ``ValueError`` with the fix (usually "extend the fluence range") when the data cannot
support it, instead of returning a number that means nothing.

The primary method fits the physics of PHYSICS.md section 3 averaged over the Gaussian pump spot:
spontaneous emission from Poisson occupation, ``a P(n>=1) + c P(n>=2)`` at <N> = F / F_sat
(exciton and biexciton emitters, both saturating), plus stimulated emission from the
steady-state rate equation, ``b S(F / F_th; beta)``. Its fitting machinery
(:class:`SCurveModel`, :func:`fit_s_curve`) serves any rate-equation model of an S-curve, such
as a lasing mode's (lasing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import curve_fit, least_squares
from scipy.special import expit

from qslab.analysis.models import (
    gaussian_spot_average,
    p_at_least_one,
    p_at_least_two,
    stimulated_fraction,
)

FLUENCE_UNITS = "uJ/cm^2"
BETA_BOUNDS = (1e-5, 0.5)
NO_KINK_P_VALUE = 0.01
MIN_SIDE_POINTS = 3
SUPERLINEAR_SLOPE = 1.2  # log-log slope above which emission is already stimulated
AMPLITUDE_DECADES = 15.0
MAX_NFEV = 150  # per start; the degenerate fits that wander longer are rejected anyway
MIN_SLOPE_RISE = 0.1  # a log-log slope bump smaller than this is not an ASE kink
_LOG_FLOOR = 1e-4  # dex: below this, residuals are rounding, not noise


class NoThresholdError(ValueError):
    """The curve has no kink: a power law (or spontaneous emission) fits it as well as an
    S-curve, so nothing in the range lases, or the range misses the threshold altogether."""


@dataclass(frozen=True)
class ThresholdResult:
    """A threshold with its 1-sigma error, the method that produced it and that fit's details."""

    value: float
    error: float
    units: str
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Flat dict as stored in a run's ``analysis`` document."""
        head = {"value": self.value, "error": self.error, "units": self.units}
        return {**head, "method": self.method, **self.details}


def spontaneous_curve(fluence, a: float, c: float, f_sat: float) -> np.ndarray:
    """Spot-averaged Poisson emission ``a P(n>=1) + c P(n>=2)`` with <N> = F / f_sat."""
    p = np.asarray(fluence, dtype=float) / f_sat
    return a * gaussian_spot_average(p_at_least_one, p) + c * gaussian_spot_average(
        p_at_least_two, p
    )


def ase_curve(
    fluence, a: float, c: float, f_sat: float, b: float, f_th: float, beta: float
) -> np.ndarray:
    """Spot-averaged emission of the rate-equation method: spontaneous plus stimulated."""
    f = np.asarray(fluence, dtype=float)
    stimulated = gaussian_spot_average(lambda p: stimulated_fraction(p, beta), f / f_th)
    return spontaneous_curve(f, a, c, f_sat) + b * stimulated


def threshold_rate_equation(
    x,
    y,
    y_err=None,
    n_bootstrap: int = 0,
    seed: int | None = 0,
    units: str = FLUENCE_UNITS,
) -> ThresholdResult:
    """Fit the whole S-curve with the Gaussian-spot rate-equation model; F_th is the threshold.

    Fits log10(y) (relative errors) for the logarithms of a, c, F_sat, b, F_th and beta
    from several starts and keeps the lowest cost. The error comes from the Jacobian
    covariance, scaled by the residual variance unless ``y_err`` is given; ``n_bootstrap`` > 0
    replaces it by the scatter of refits to resampled residuals (slower, safer when beta sits
    near a bound).

    A curve without a kink is rejected, not fitted: this raises ``ValueError`` if the S-curve
    does not beat both a single power law and spontaneous emission alone (F-tests, p > 0.01),
    if fewer than 3 points lie on either side of the fitted threshold, or if fewer than 3 lie
    above the fitted curve's steepest point (about 1.5 F_th for a Gaussian spot; without the
    bend above it, F_th and beta are degenerate).
    """
    return fit_s_curve(ASE_MODEL, x, y, y_err, n_bootstrap, seed, units)


@dataclass(frozen=True)
class SCurveModel:
    """A rate-equation light-in/light-out model, fitted in log10 of every parameter.

    ``kinds`` sets each parameter's bounds: "amplitude" (within 15 decades of the signal),
    "saturation" (2 decades beyond the pump range), "threshold" (half a decade beyond it, so
    that a fit there is caught and explained) and "beta" (:data:`BETA_BOUNDS`); exactly one
    parameter is the threshold and one is beta. ``start(levels, level_y, threshold, beta)``
    completes a start vector (linear units) from the distinct pump levels and their mean
    signal. ``extra_nulls(x, log_y, sigma, fit)`` returns (weighted residuals, parameter count)
    of the model-specific curves without a kink that the S-curve must beat besides a power law.
    """

    method: str
    curve: Callable[..., np.ndarray]
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    start: Callable[[np.ndarray, np.ndarray, float, float], list[float]]
    extra_nulls: Callable[..., list[tuple[np.ndarray, int]]] = lambda *_: []

    @property
    def threshold_index(self) -> int:
        return self.kinds.index("threshold")

    @property
    def beta_index(self) -> int:
        return self.kinds.index("beta")


def fit_s_curve(
    model: SCurveModel,
    x,
    y,
    y_err=None,
    n_bootstrap: int = 0,
    seed: int | None = 0,
    units: str = FLUENCE_UNITS,
    x_rel_err: float = 0.0,
) -> ThresholdResult:
    """Fit ``model`` to the whole S-curve (see :func:`threshold_rate_equation`).

    ``details`` holds every other parameter and its error under its name, the fitted curve's
    steepest pump, the no-kink p-value and the reduced chi2. With ``n_bootstrap`` > 0 the
    threshold and beta errors are the scatter of refits to resampled residuals (normalised by
    ``y_err`` when given), and the covariance errors are kept as ``error_covariance`` and
    ``beta_err_covariance``.

    ``x_rel_err`` > 0 (with ``y_err``) is the relative error of each pump reading: it moves a
    point along x, so it adds ``x_rel_err`` times the curve's local log-log slope to the
    point's relative error in y (effective variance), the fit being repeated with those
    weights. Near threshold the slope is 4-8, and without this term the steepest points,
    which fix F_th, would weigh far more than their scatter allows.
    """
    x, y, y_err = _curve(x, y, y_err, min_points=8)
    log_y = np.log10(y)
    sigma = None if y_err is None else y_err / (y * np.log(10))
    fit = _best_s_curve_fit(model, x, log_y, sigma)
    if sigma is not None and x_rel_err > 0:
        sigma, fit = _with_pump_error(model, x, log_y, sigma, fit, x_rel_err)
    params = _physical(fit.x)
    p_value = _no_kink_p_value(model, x, log_y, sigma, fit)
    _require_kink(p_value, x, log_y)
    threshold = params[model.threshold_index]
    _require_both_sides(x, threshold, units)
    steepest = _steepest(model, x, params)
    _require_turnover(x, steepest, units)
    # the fit vector holds log10 of every parameter: propagate to linear units
    scale = np.log(10) * np.array(params)
    errors = [float(e) for e in scale * _covariance_errors(fit, x.size, y_err is not None)]
    details: dict[str, Any] = {}
    for i, name in enumerate(model.names):
        if i != model.threshold_index:
            details[name], details[f"{name}_err"] = params[i], errors[i]
    details["steepest_fluence"] = steepest
    details["p_value_no_kink"] = p_value
    details["reduced_chi2"] = float(2 * fit.cost / (x.size - fit.x.size))
    error = errors[model.threshold_index]
    if n_bootstrap > 0:
        refits = _bootstrap_refits(model, x, log_y, sigma, fit, n_bootstrap, seed)
        details["error_covariance"] = error
        details["beta_err_covariance"] = details["beta_err"]
        error = float(np.std(refits[:, model.threshold_index], ddof=1))
        details["beta_err"] = float(np.std(refits[:, model.beta_index], ddof=1))
    return ThresholdResult(threshold, error, units, model.method, details)


def threshold_linear(x, y, y_err=None, units: str = FLUENCE_UNITS) -> ThresholdResult:
    """Intersection of straight-line fits below and above threshold (the textbook method).

    The split is the one that minimises the total squared residual, with at least 3 points on
    each side. ``details`` also holds the x-intercept of the above-threshold line. With a Gaussian
    pump spot this reads HIGH: the spot-averaged ASE grows as p0 - 1 - ln(p0), which starts as
    (p0 - 1)^2 / 2 and turns linear only well above threshold, so a straight line through the
    upper branch crosses late. It is right for a flat-top spot (ASE ~ p - 1).
    """
    x, y, y_err = _curve(x, y, y_err, min_points=2 * MIN_SIDE_POINTS)
    splits = [i for i in range(MIN_SIDE_POINTS, x.size - MIN_SIDE_POINTS + 1) if x[i] > x[i - 1]]
    if not splits:
        raise ValueError("too few distinct fluences to fit two lines: add points")
    err = np.ones_like(y) if y_err is None else y_err
    absolute = y_err is not None
    fits = [
        (_line_fit(x[:i], y[:i], err[:i], absolute), _line_fit(x[i:], y[i:], err[i:], absolute))
        for i in splits
    ]
    best = int(np.argmin([below.rss + above.rss for below, above in fits]))
    below, above = fits[best]
    if above.slope <= below.slope:
        raise ValueError("no slope increase: the curve shows no threshold in this fluence range")
    value, error = _intersection(below, above)
    if not x[0] <= value <= x[-1]:
        raise ValueError(f"the two lines cross at {value:.3g} {units}, outside the measured range")
    intercept = -above.offset / above.slope
    details = {
        "slope_below": below.slope,
        "slope_above": above.slope,
        "offset_below": below.offset,
        "offset_above": above.offset,
        "x_intercept_above": float(intercept),
        "x_intercept_above_err": _x_intercept_error(above),
        "n_below": splits[best],
        "n_above": x.size - splits[best],
    }
    return ThresholdResult(float(value), float(error), units, "linear", details)


def threshold_loglog(
    x,
    y,
    bandwidth_dex: float | None = None,
    n_bootstrap: int = 200,
    seed: int | None = 0,
    units: str = FLUENCE_UNITS,
) -> ThresholdResult:
    """Fluence of the steepest log-log slope d(log y)/d(log x): the kink of the S-curve.

    The slope comes from a local quadratic fit (Gaussian kernel of ``bandwidth_dex`` decades,
    default 1.25 point spacings), evaluated on a fine grid. The error is the larger of the
    bootstrap scatter of the kink (resampled log residuals) and half the spacing of the points
    around it. This reads HIGH against F_th for a Gaussian spot: the spot-averaged S-curve is
    steepest near 1.5 F_th, and the smoothing moves the peak a little further up its long tail.
    Raises ``ValueError`` if the slope does not peak clearly (3 sigma) inside the range.
    """
    x, y, _ = _curve(x, y, None, min_points=7)
    log_x, log_y = np.log10(x), np.log10(y)
    span = log_x[-1] - log_x[0]
    if bandwidth_dex is None:
        bandwidth_dex = 1.25 * span / (np.unique(log_x).size - 1)
    grid = np.linspace(log_x[0] + bandwidth_dex, log_x[-1] - bandwidth_dex, 400)
    if grid[0] >= grid[-1]:
        raise ValueError("fluence range too short for the log-log slope: extend it")
    smoother = _slope_smoother(log_x, grid, bandwidth_dex)
    slopes = smoother @ log_y
    i_kink = int(np.argmax(slopes))
    _require_interior(i_kink, grid.size)
    rng = np.random.default_rng(seed)
    smooth, residuals = _smooth_and_residuals(log_x, log_y, bandwidth_dex)
    boot = smooth + rng.choice(residuals, size=(n_bootstrap, x.size))
    boot_slopes = boot @ smoother.T
    _require_peak(slopes, boot_slopes, i_kink)
    kink = 10 ** _vertex(grid, slopes, i_kink)
    boot_kinks = 10 ** grid[np.argmax(boot_slopes, axis=1)]
    above = int(np.searchsorted(x, kink))
    half_spacing = 0.5 * (x[min(above, x.size - 1)] - x[max(above - 1, 0)])
    error = float(max(np.std(boot_kinks), half_spacing))
    details = {"max_slope": float(slopes[i_kink]), "bandwidth_dex": float(bandwidth_dex)}
    details["slope_low"], details["slope_high"] = float(slopes[0]), float(slopes[-1])
    return ThresholdResult(float(kink), error, units, "loglog", details)


def threshold_linewidth(x, fwhm, fwhm_err=None, units: str = FLUENCE_UNITS) -> ThresholdResult:
    """Midpoint of the linewidth collapse: a sigmoid in log fluence from PL to ASE width.

    fwhm(F) = w_ase + (w_pl - w_ase) / (1 + (F / F_mid)**(1 / s)), fitted with curve_fit; NaN
    widths (no line found) are dropped. Raises ``ValueError`` unless the line narrows by more
    than 3 sigma and at least 3 points lie on each plateau (beyond one width s of the midpoint):
    without the ASE plateau, the start of a later collapse fits as an early one.
    """
    x, fwhm, fwhm_err = _curve(x, fwhm, fwhm_err, min_points=6, positive=False)
    log_x = np.log10(x)
    w_pl, w_ase = float(np.median(fwhm[:3])), float(np.median(fwhm[-3:]))
    if w_pl <= w_ase:
        raise ValueError("the line does not narrow with fluence: no ASE threshold in this range")
    half = 0.5 * (w_pl + w_ase)
    mid0 = log_x[int(np.argmax(fwhm < half))]
    spacing = (log_x[-1] - log_x[0]) / (np.unique(log_x).size - 1)
    p0 = [w_pl, w_ase, mid0, spacing]
    lower = [0.0, 0.0, log_x[0] - 1.0, spacing / 4]
    upper = [np.inf, np.inf, log_x[-1] + 1.0, 1.0]
    try:
        popt, pcov = curve_fit(
            _sigmoid,
            log_x,
            fwhm,
            p0=p0,
            sigma=fwhm_err,
            absolute_sigma=fwhm_err is not None,
            bounds=(lower, upper),
        )
    except RuntimeError as exc:
        raise ValueError("linewidth sigmoid did not converge") from exc
    err = np.sqrt(np.diag(pcov))
    if not popt[0] - popt[1] > 3 * np.hypot(err[0], err[1]):
        raise ValueError("linewidth narrowing is not significant: extend the fluence range upward")
    _require_plateaus(log_x, popt[2], popt[3], units)
    value = 10 ** popt[2]
    details = {
        "fwhm_pl_nm": float(popt[0]),
        "fwhm_ase_nm": float(popt[1]),
        "width_dex": float(popt[3]),
        "fwhm_pl_err_nm": float(err[0]),
        "fwhm_ase_err_nm": float(err[1]),
    }
    return ThresholdResult(
        float(value), float(value * np.log(10) * err[2]), units, "linewidth", details
    )


def all_thresholds(
    x, y, fwhm=None, y_err=None, units: str = FLUENCE_UNITS
) -> tuple[dict[str, ThresholdResult], dict[str, str]]:
    """Run every method: ({name: result} for those that ran, {name: why not} for the others)."""
    methods = {
        "rate_equation": lambda: threshold_rate_equation(x, y, y_err, units=units),
        "linear": lambda: threshold_linear(x, y, y_err, units=units),
        "loglog": lambda: threshold_loglog(x, y, units=units),
    }
    failures: dict[str, str] = {}
    if fwhm is None:
        failures["linewidth"] = "no linewidth (FWHM) values given"
    else:
        methods["linewidth"] = lambda: threshold_linewidth(x, fwhm, units=units)
    results, why_not = run_methods(methods)
    return results, {**failures, **why_not}


def run_methods(
    methods: dict[str, Callable[[], ThresholdResult]],
) -> tuple[dict[str, ThresholdResult], dict[str, str]]:
    """Run each method: ({name: result} for those that ran, {name: why not} for the others)."""
    results: dict[str, ThresholdResult] = {}
    failures: dict[str, str] = {}
    for name, run in methods.items():
        try:
            results[name] = run()
        except ValueError as exc:
            failures[name] = str(exc)
    return results, failures


def pairs_bootstrap(
    method: Callable[[np.ndarray, np.ndarray], ThresholdResult],
    x,
    y,
    n_bootstrap: int,
    seed: int | None = 0,
) -> list[ThresholdResult]:
    """``method(x, y)`` refitted to the points resampled with replacement; resamples that the
    method rejects (too few points on a side, no narrowing...) are left out.

    Resampling pairs needs no model of the curve or of its noise, which suits the methods
    that have none (two straight lines, the linewidth sigmoid); rows with NaN stay NaN and are
    dropped by the method, as in the full fit.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    refits = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, x.size, x.size)
        try:
            refits.append(method(x[pick], y[pick]))
        except ValueError:
            continue
    return refits


@dataclass(frozen=True)
class _Line:
    """Weighted straight-line fit y = slope x + offset with its parameter covariance."""

    slope: float
    offset: float
    cov: np.ndarray
    rss: float

    def variance_at(self, x: float) -> float:
        """Variance of the line's prediction at ``x``."""
        g = np.array([x, 1.0])
        return float(g @ self.cov @ g)


def _curve(x, y, y_err, min_points: int, positive: bool = True):
    """Validated, finite, fluence-sorted copies of the inputs (rows with NaN are dropped)."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    err = None if y_err is None else np.asarray(y_err, dtype=float).ravel()
    if x.size != y.size or (err is not None and err.size != x.size):
        raise ValueError("fluence, signal and error arrays must have the same length")
    keep = np.isfinite(x) & np.isfinite(y) & (True if err is None else np.isfinite(err))
    if np.any(x[keep] <= 0):
        raise ValueError("fluences must be > 0")
    if positive and np.any(y[keep] <= 0):
        raise ValueError("integrated emission must be > 0 at every point: check the background")
    if err is not None and np.any(err[keep] <= 0):
        raise ValueError("errors must be > 0")
    if keep.sum() < min_points:
        raise ValueError(f"needs at least {min_points} valid points, got {int(keep.sum())}")
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order], None if err is None else err[keep][order]


def _physical(theta: np.ndarray) -> tuple[float, ...]:
    """Model parameters in linear units from the fit vector of their log10."""
    return tuple(float(v) for v in 10 ** np.asarray(theta))


def _s_curve_residuals(theta, model: SCurveModel, x, log_y, sigma):
    return _weighted(np.log10(model.curve(x, *_physical(theta))) - log_y, sigma)


_KIND_MARGIN_DECADES = {"saturation": 2.0, "threshold": 0.5}


def _s_curve_bounds(
    model: SCurveModel, x: np.ndarray, log_y: np.ndarray
) -> tuple[list[float], list[float]]:
    """Bounds of each log10 parameter by its kind (see :class:`SCurveModel`); amplitudes stay
    within 15 decades of the signal, which keeps every trial step finite."""
    log_x = np.log10([x[0], x[-1]])
    by_kind = {
        "amplitude": (log_y.min() - AMPLITUDE_DECADES, log_y.max() + AMPLITUDE_DECADES),
        "beta": tuple(np.log10(BETA_BOUNDS)),
    }
    for kind, margin in _KIND_MARGIN_DECADES.items():
        by_kind[kind] = (log_x[0] - margin, log_x[1] + margin)
    lower, upper = zip(*(by_kind[kind] for kind in model.kinds), strict=True)
    return list(lower), list(upper)


def _fit_from(model: SCurveModel, x, log_y, sigma, theta0):
    bounds = _s_curve_bounds(model, x, log_y)
    theta0 = np.clip(theta0, np.add(bounds[0], 1e-9), np.subtract(bounds[1], 1e-9))
    return least_squares(
        _s_curve_residuals,
        theta0,
        bounds=bounds,
        args=(model, x, log_y, sigma),
        x_scale="jac",
        max_nfev=MAX_NFEV,
    )


def _starts(model: SCurveModel, x: np.ndarray, log_y: np.ndarray) -> list[np.ndarray]:
    """Starts at two thresholds below the steepest measured log-log slope (a Gaussian spot is
    steepest near 1.5 F_th) and two betas; the model completes each from the data."""
    levels, inverse = np.unique(x, return_inverse=True)
    mean_log_y = np.bincount(inverse, log_y) / np.bincount(inverse)
    kink = levels[int(np.argmax(np.gradient(mean_log_y, np.log10(levels))))]
    return [
        np.log10(model.start(levels, 10**mean_log_y, f_th, beta))
        for f_th in kink * np.array([0.5, 0.9])
        for beta in (1e-3, 3e-2)
    ]


def _best_s_curve_fit(model: SCurveModel, x, log_y, sigma):
    fits = [_fit_from(model, x, log_y, sigma, theta0) for theta0 in _starts(model, x, log_y)]
    return min(fits, key=lambda fit: fit.cost)


def _no_kink_p_value(model: SCurveModel, x, log_y, sigma, fit) -> float:
    """The largest p-value of F-tests of the S-curve against a single power law and against
    the model's own curves without a kink."""
    log_x = np.log10(x)
    weights = None if sigma is None else 1 / sigma
    line = np.polyval(np.polyfit(log_x, log_y, 1, w=weights), log_x)
    nulls = [(_weighted(line - log_y, sigma), 2), *model.extra_nulls(x, log_y, sigma, fit)]
    return max(_f_test(residuals, n_params, fit, x.size) for residuals, n_params in nulls)


def _ase_start(levels: np.ndarray, level_y: np.ndarray, f_th: float, beta: float) -> list[float]:
    """F_sat at the review's gain threshold (<N> = 1.4 at F_th), the exciton term set by the
    faintest points (where P(n>=1) is still linear in fluence), b by the excess at the top."""
    f_sat = f_th / 1.4
    a = float(np.median(level_y[:3] / spontaneous_curve(levels[:3], 1, 0, f_sat)))
    top_y = level_y[-1]
    excess = max(top_y - spontaneous_curve(levels[-1], a, 0.5 * a, f_sat)[0], 0.5 * top_y)
    top = ase_curve(levels[-1], 0.0, 0.0, f_sat, 1.0, f_th, beta)[0]
    return [a, 0.5 * a, f_sat, excess / top, f_th, beta]


def _spontaneous_null(x, log_y, sigma, fit) -> list[tuple[np.ndarray, int]]:
    """Spontaneous emission alone: Poisson saturation bends a curve too, but never upward."""
    spont = least_squares(
        lambda t: _weighted(np.log10(spontaneous_curve(x, *10**t)) - log_y, sigma),
        fit.x[:3],
        bounds=[b[:3] for b in _s_curve_bounds(ASE_MODEL, x, log_y)],
        x_scale="jac",
        max_nfev=MAX_NFEV,
    )
    return [(spont.fun, 3)]


ASE_MODEL = SCurveModel(
    method="rate_equation",
    curve=ase_curve,
    names=("a", "c", "f_sat", "b", "f_th", "beta"),
    kinds=("amplitude", "amplitude", "saturation", "amplitude", "threshold", "beta"),
    start=_ase_start,
    extra_nulls=_spontaneous_null,
)


def _weighted(residuals: np.ndarray, sigma) -> np.ndarray:
    return residuals if sigma is None else residuals / sigma


def _f_test(null_residuals: np.ndarray, null_params: int, fit, n_points: int) -> float:
    floor = n_points * _LOG_FLOOR**2
    rss_null = max(float(null_residuals @ null_residuals), floor)
    rss_curve = max(2 * fit.cost, floor)
    dof = n_points - fit.x.size
    extra = fit.x.size - null_params
    f_stat = (rss_null - rss_curve) / extra / (rss_curve / dof)
    return float(stats.f.sf(f_stat, extra, dof))


def _require_kink(p_value: float, x: np.ndarray, log_y: np.ndarray) -> None:
    """A curve that is already super-linear at its faintest points started above threshold."""
    if p_value > NO_KINK_P_VALUE:
        low_slope = np.polyfit(np.log10(x[: MIN_SIDE_POINTS + 1]), log_y[: MIN_SIDE_POINTS + 1], 1)[
            0
        ]
        where = "downward" if low_slope > SUPERLINEAR_SLOPE else "upward"
        raise NoThresholdError(
            f"no threshold: a power law or spontaneous emission alone fits as well as the "
            f"S-curve (F-test p = {p_value:.2g}); extend the fluence range {where}"
        )


def _require_both_sides(x: np.ndarray, f_th: float, units: str) -> None:
    if np.count_nonzero(x > f_th) < MIN_SIDE_POINTS:
        raise ValueError(
            f"fewer than {MIN_SIDE_POINTS} points above the fitted threshold {f_th:.3g} {units}: "
            "extend the fluence range upward"
        )
    if np.count_nonzero(x < f_th) < MIN_SIDE_POINTS:
        raise ValueError(
            f"fewer than {MIN_SIDE_POINTS} points below the fitted threshold {f_th:.3g} {units}: "
            "extend the fluence range downward"
        )


def _steepest(model: SCurveModel, x: np.ndarray, params: tuple[float, ...]) -> float:
    """Fluence of the fitted curve's steepest log-log slope (searched up to 3x the range)."""
    grid = np.geomspace(x[0], 3 * x[-1], 600)
    log_model = np.log(model.curve(grid, *params))
    return float(grid[np.argmax(np.gradient(log_model, np.log(grid)))])


def _require_turnover(x: np.ndarray, steepest: float, units: str) -> None:
    """F_th is only pinned down once the curve is seen to bend back above its steepest rise;
    below that, a lower threshold with a different beta fits the rising part equally well."""
    if np.count_nonzero(x > steepest) < MIN_SIDE_POINTS:
        raise ValueError(
            f"the curve is still steepening at the top of the range (fitted steepest point "
            f"{steepest:.3g} {units}): extend the fluence range upward"
        )


def _covariance_errors(fit, n_points: int, absolute: bool) -> np.ndarray:
    """1-sigma errors of the fit vector; NaN for parameters pinned at a bound."""
    free = fit.active_mask == 0
    jac = fit.jac[:, free]
    cov = np.linalg.pinv(jac.T @ jac)
    if not absolute:
        cov *= 2 * fit.cost / max(n_points - int(free.sum()), 1)
    errors = np.full(fit.x.size, np.nan)
    errors[free] = np.sqrt(np.diag(cov))
    return errors


def _with_pump_error(model: SCurveModel, x, log_y, sigma, fit, x_rel_err: float):
    """(sigma, fit) with each point's log10 error widened by the pump error times the local
    log-log slope of the fitted curve, refitted twice: the slopes come from the fit they
    weight, and the second pass settles them."""
    base = sigma
    for _ in range(2):
        slope = _log_slope(model, x, _physical(fit.x))
        sigma = np.hypot(base, slope * x_rel_err / np.log(10))
        fit = _best_s_curve_fit(model, x, log_y, sigma)
    return sigma, fit


def _log_slope(model: SCurveModel, x: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
    """d ln y / d ln x of the model at ``x`` (central difference over +-0.1 %)."""
    step = 1e-3
    up, down = model.curve(x * (1 + step), *params), model.curve(x * (1 - step), *params)
    return np.log(up / down) / np.log((1 + step) / (1 - step))


def _bootstrap_refits(
    model: SCurveModel, x, log_y, sigma, fit, n_bootstrap: int, seed: int | None
) -> np.ndarray:
    """Parameters (linear units, one row per refit) of refits to the best curve plus resampled
    log residuals; with ``sigma`` the residuals are resampled as multiples of each point's
    error, so a noisy faint point does not lend its scatter to a precise bright one. The
    residuals are inflated by sqrt(n / (n - p)): a fit leaves less scatter than the noise."""
    rng = np.random.default_rng(seed)
    best = np.log10(model.curve(x, *_physical(fit.x)))
    scale = np.ones_like(best) if sigma is None else sigma
    inflate = np.sqrt(x.size / max(x.size - fit.x.size, 1))
    normalised = (log_y - best) / scale * inflate
    refits = [
        _fit_from(model, x, best + rng.choice(normalised, x.size) * scale, sigma, fit.x).x
        for _ in range(n_bootstrap)
    ]
    return 10 ** np.array(refits)


def _line_fit(x: np.ndarray, y: np.ndarray, y_err: np.ndarray, absolute: bool) -> _Line:
    """Weighted fit; without absolute errors the covariance is scaled by the residual scatter."""
    weights = 1 / y_err
    design = np.column_stack([x, np.ones_like(x)]) * weights[:, None]
    coef, *_ = np.linalg.lstsq(design, y * weights, rcond=None)
    resid = design @ coef - y * weights
    rss = float(resid @ resid)
    cov = np.linalg.pinv(design.T @ design)
    if not absolute:
        cov *= rss / (x.size - 2)
    return _Line(float(coef[0]), float(coef[1]), cov, rss)


def _intersection(below: _Line, above: _Line) -> tuple[float, float]:
    """Crossing of two independent lines and its error (prediction variances at the crossing)."""
    gap = above.slope - below.slope
    value = (below.offset - above.offset) / gap
    return value, np.sqrt(below.variance_at(value) + above.variance_at(value)) / gap


def _x_intercept_error(line: _Line) -> float:
    return float(np.sqrt(line.variance_at(-line.offset / line.slope)) / abs(line.slope))


def _local_quadratic(log_x: np.ndarray, at: np.ndarray, bandwidth: float) -> np.ndarray:
    """Linear operators (len(at), 3, n) giving the value, slope and quadratic coefficient of a
    kernel-weighted quadratic fit of the data around each point of ``at``."""
    d = log_x[None, :] - at[:, None]
    w = np.exp(-0.5 * (d / bandwidth) ** 2)
    basis = np.stack([np.ones_like(d), d, d**2], axis=1)
    normal = np.einsum("mkn,mn,mjn->mkj", basis, w, basis)
    return np.linalg.solve(normal, basis * w[:, None, :])


def _slope_smoother(log_x: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    return _local_quadratic(log_x, grid, bandwidth)[:, 1, :]


def _smooth_and_residuals(log_x, log_y, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed log_y at the data and its residuals, inflated for the smoother's degrees of
    freedom so that resampling them keeps the full noise level."""
    hat = _local_quadratic(log_x, log_x, bandwidth)[:, 0, :]
    smooth = hat @ log_y
    inflate = np.sqrt(log_x.size / max(log_x.size - np.trace(hat), 1.0))
    return smooth, (log_y - smooth) * inflate


def _require_interior(i_kink: int, n_grid: int) -> None:
    if i_kink == 0:
        raise ValueError("the log-log slope is steepest at the low end: extend the range downward")
    if i_kink == n_grid - 1:
        raise ValueError("the log-log slope is steepest at the high end: extend the range upward")


def _require_peak(slopes: np.ndarray, boot_slopes: np.ndarray, i_kink: int) -> None:
    """The peak slope must exceed the slope at both ends by 3 bootstrap sigma and by 0.1."""
    for end, fix in ((0, "downward"), (-1, "upward")):
        rise = slopes[i_kink] - slopes[end]
        scatter = np.std(boot_slopes[:, i_kink] - boot_slopes[:, end])
        if not rise > max(3 * scatter, MIN_SLOPE_RISE):
            raise ValueError(
                f"no clear kink: the log-log slope peaks only {rise:.2g} above its value at the "
                f"{'low' if end == 0 else 'high'} end (noise {scatter:.2g}); extend the range {fix}"
            )


def _vertex(grid: np.ndarray, values: np.ndarray, i: int) -> float:
    """Abscissa of the parabola through three neighbouring grid points around a maximum."""
    y0, y1, y2 = values[i - 1 : i + 2]
    denom = y0 - 2 * y1 + y2
    shift = 0.0 if denom == 0 else 0.5 * (y0 - y2) / denom
    return float(grid[i] + shift * (grid[1] - grid[0]))


def _require_plateaus(log_x: np.ndarray, log_mid: float, width_dex: float, units: str) -> None:
    for side, count, fix in (
        ("PL", np.count_nonzero(log_x < log_mid - width_dex), "downward"),
        ("ASE", np.count_nonzero(log_x > log_mid + width_dex), "upward"),
    ):
        if count < MIN_SIDE_POINTS:
            raise ValueError(
                f"fewer than {MIN_SIDE_POINTS} points on the {side} plateau of the linewidth "
                f"collapse (fitted midpoint {10**log_mid:.3g} {units}): extend the range {fix}"
            )


def _sigmoid(log_x, w_pl, w_ase, log_mid, width_dex):
    return w_ase + (w_pl - w_ase) * expit(-(log_x - log_mid) / width_dex * np.log(10))
