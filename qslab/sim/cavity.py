"""Simulated laser cavities around the quantum-shell film, and the pump regimes that drive them.

Every cavity is a single-mode laser per mode, described by the rate equations with
spontaneous-emission factor beta (PHYSICS.md section 3). One mode has one photon number, so it
does not see the Gaussian pump spot point by point as the film's ASE does: its pump is the
excitation averaged over the mode's intensity profile (a Gaussian of 1/e^2 radius
``mode_radius_um``). For a one-photon pump of 1/e^2 radius w0 that average is
<N>_mode = <N>_peak w0^2 / (w0^2 + w_m^2), for a two-photon pump (<N> ~ F^2, half the width)
<N>_peak w0^2 / (w0^2 + 2 w_m^2). Mode i lases when <N>_mode reaches
``threshold_N * relative_threshold_i / gain_i``, gain_i the film's relative gain at the mode's
wavelength (:meth:`QSFilm.relative_gain`).

Pump regimes (:func:`pump_regime`), chosen by what the laser delivers:

* ``fs``: one-photon, pulse much shorter than any lifetime. The pulse injects <N> at once; the
  output per pulse is the steady-state form ``stimulated_fraction(p, beta)`` with
  p = <N>_mode / <N>_threshold. Pump axis: peak fluence, uJ/cm^2.
* ``ns`` (quasi-CW): pulse of ``fluence.QUASI_CW_PULSE_S`` or longer, comparable to the gain
  lifetime (the film's ``tau_xx_ns``). The rate equations are integrated through the pulse
  (:func:`qslab.analysis.models.pulsed_output`); the mode lases where its carriers reach
  threshold at their peak as beta -> 0 (:func:`qslab.analysis.models.pulse_onset`). Pump
  axis: peak intensity at the beam centre, kW/cm^2.
* ``two_photon``: a pump photon below the film's band edge (longer than ``x_peak_nm``) is
  absorbed in pairs, <N> = (sigma2 / 2) kappa j^2 / tau. The output is
  ``stimulated_fraction(p, beta)`` with p ~ F^2. Pump axis: peak fluence, mJ/cm^2.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from scipy.special import voigt_profile

from qslab.analysis import fluence as fl
from qslab.analysis.fluence import PumpRegime
from qslab.analysis.models import (
    GAUSSIAN_PULSE_AREA,
    pulse_onset,
    pulsed_output,
    stimulated_fraction,
)
from qslab.sim.sample import FWHM_PER_SIGMA, QSFilm

MIN_RELATIVE_GAIN = 0.01
"""A mode where the film's gain is below this fraction of its peak would need over 100 times
the pump of one at the peak: the simulated cavity leaves it out, and a design with no mode
left cannot lase on that film (:class:`OutsideGainBand`)."""
PULSED_TABLE_DECADES = (-5.0, 4.0)
"""Peak pumps, in decades of the pulse's threshold, over which a quasi-CW mode's output is
tabulated once (:meth:`Cavity.outputs`); below it the output is linear in the pump."""
PULSED_TABLE_PER_DECADE = 100


# -- pump regimes --------------------------------------------------------------------------
def pump_regime(wavelength_nm: float, pulse_width_s: float, film: QSFilm) -> PumpRegime:
    """The regime a pump of this wavelength and pulse width sets up in ``film``
    (:func:`qslab.analysis.fluence.pump_regime`, which a procedure uses without a bench)."""
    return fl.pump_regime(wavelength_nm, pulse_width_s, film.x_peak_nm)


# -- cavity designs ------------------------------------------------------------------------
@dataclass(frozen=True)
class CavityDesign:
    """What every cavity has; a subclass says where its modes sit.

    Field names are the station's ``[bench] cavity_<name>`` keys; the defaults are the review's
    numbers where it gives them (PHYSICS.md section 2) and estimates otherwise.
    ``extraction`` is how much better the mode's directional emission is collected than the
    film's isotropic photoluminescence. ``lasing_linewidth_nm`` is the floor the line narrows to
    far above threshold (carrier-induced index noise and chirp within the pulse).
    """

    kind: ClassVar[str] = ""
    beta: float = 0.01
    threshold_N: float = 1.4
    cold_linewidth_nm: float = 1.0
    lasing_linewidth_nm: float = 0.2
    mode_radius_um: float = 30.0
    extraction: float = 10.0

    def lines(self, film: QSFilm) -> list[tuple[float, float]]:
        """(wavelength nm, relative threshold) of each mode, before the film's gain."""
        raise NotImplementedError

    @classmethod
    def parameters(cls) -> dict[str, float]:
        """Every parameter with its default: what a station may set."""
        return {f.name: f.default for f in fields(cls)}


@dataclass(frozen=True)
class NanopillarPC(CavityDesign):
    """A photonic crystal of nanopillars under the film: a band-edge mode at the Gamma point of
    a square lattice, lambda = n_eff * period (365 nm puts it on the X line at 640 nm)."""

    kind: ClassVar[str] = "nanopillar_pc"
    period_nm: float = 365.0
    n_eff: float = 1.753
    beta: float = 0.02
    cold_linewidth_nm: float = 1.5
    lasing_linewidth_nm: float = 0.4

    def lines(self, film: QSFilm) -> list[tuple[float, float]]:
        return [(self.n_eff * self.period_nm, 1.0)]


@dataclass(frozen=True)
class PCSEL(CavityDesign):
    """A photonic-crystal surface-emitting laser: a grating of order m feeds back at
    m * lambda = 2 n_eff * period and, for m = 2, couples the mode out at normal incidence."""

    kind: ClassVar[str] = "pcsel"
    period_nm: float = 350.0
    n_eff: float = 1.886
    grating_order: int = 2
    beta: float = 0.005
    cold_linewidth_nm: float = 0.6
    lasing_linewidth_nm: float = 0.15

    def lines(self, film: QSFilm) -> list[tuple[float, float]]:
        return [(2 * self.n_eff * self.period_nm / self.grating_order, 1.0)]


@dataclass(frozen=True)
class VerticalCavity(CavityDesign):
    """The film between two mirrors: longitudinal modes lambda_q = 2 n L / q, spaced by
    lambda^2 / (2 n L). The mode nearest the film's gain peak lases first; its neighbours on
    either side need ``side_mode_threshold`` times more pump, because the first mode clamps the
    gain and only spectral and spatial hole burning in the inhomogeneous QS ensemble let it
    grow again (multimode lasing at high pump)."""

    kind: ClassVar[str] = "vertical"
    length_um: float = 5.74
    index: float = 1.8
    side_mode_threshold: float = 2.5
    beta: float = 0.01
    cold_linewidth_nm: float = 1.2
    lasing_linewidth_nm: float = 0.3
    mode_radius_um: float = 8.0

    def lines(self, film: QSFilm) -> list[tuple[float, float]]:
        round_trip_nm = 2 * self.index * self.length_um * 1e3
        q = max(round(round_trip_nm / film.gain_peak_nm), 2)
        return [
            (round_trip_nm / order, 1.0 if order == q else self.side_mode_threshold)
            for order in (q + 1, q, q - 1)
        ]


CAVITIES: dict[str, type[CavityDesign]] = {c.kind: c for c in (NanopillarPC, PCSEL, VerticalCavity)}


def design(kind: str, **parameters: float) -> CavityDesign:
    """A cavity design by its kind name (``nanopillar_pc``, ``pcsel``, ``vertical``)."""
    return CAVITIES[kind](**parameters)


# -- a cavity on the bench -----------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    """One cavity mode: where it is, how wide when cold, and the mode-averaged <N> at which it
    lases."""

    wavelength_nm: float
    cold_linewidth_nm: float
    threshold_N: float


class OutsideGainBand(ValueError):
    """No mode of this cavity falls where the film has gain; the message says which geometry
    would put one there."""


def _outside_gain_band(design: CavityDesign, film: QSFilm) -> OutsideGainBand:
    low, high = film.gain_band_nm(MIN_RELATIVE_GAIN)
    wavelength = design.lines(film)[0][0]
    message = (
        f"puts its mode at {wavelength:.4g} nm, outside the film's gain band "
        f"({low:.0f}-{high:.0f} nm)"
    )
    period = getattr(design, "period_nm", None)
    if period:  # the line scales with the period
        scale = period / wavelength
        message += f"; a period between {low * scale:.0f} and {high * scale:.0f} nm lases"
    return OutsideGainBand(message)


class Cavity:
    """A cavity design on a given film: its modes, their S-curves, line widths and spectrum."""

    def __init__(self, design: CavityDesign, film: QSFilm) -> None:
        self.design = design
        self.film = film
        self.modes = [
            Mode(wl, design.cold_linewidth_nm, design.threshold_N * rel / gain)
            for wl, rel in design.lines(film)
            if (gain := film.relative_gain(wl)) >= MIN_RELATIVE_GAIN
        ]
        if not self.modes:
            raise _outside_gain_band(design, film)
        self._pulsed: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def beta(self) -> float:
        return self.design.beta

    @property
    def first_mode(self) -> Mode:
        """The mode that lases first: the one whose threshold is lowest."""
        return min(self.modes, key=lambda m: m.threshold_N)

    def overlap(self, w0_cm: float, order: int) -> float:
        """Mode-averaged <N> over the <N> at the beam centre (module docstring)."""
        wm = self.design.mode_radius_um * 1e-4
        return w0_cm**2 / (w0_cm**2 + order * wm**2)

    def _pulsed_table(self, width_per_lifetime: float) -> tuple[np.ndarray, np.ndarray]:
        """Pulse-integrated output on a log grid of peak pump (in CW thresholds), for one
        ratio of pulse FWHM to gain lifetime (computed once)."""
        key = round(width_per_lifetime, 12)
        if key not in self._pulsed:
            low, high = PULSED_TABLE_DECADES
            count = round((high - low) * PULSED_TABLE_PER_DECADE) + 1
            grid = pulse_onset(width_per_lifetime) * np.logspace(low, high, count)
            self._pulsed[key] = (grid, pulsed_output(grid, self.beta, width_per_lifetime))
        return self._pulsed[key]

    def threshold_pump(self, regime: PumpRegime, width_per_lifetime: float) -> float:
        """Mode-averaged pump, in units of a mode's ``threshold_N``, at which it lases: 1 in the
        fs and two-photon regimes; for a quasi-CW pulse the total excitation of the pulse whose
        peak pump brings the carriers, at their maximum, just to threshold when beta -> 0
        (:func:`qslab.analysis.models.pulse_onset`)."""
        if regime.name != "ns":
            return 1.0
        return pulse_onset(width_per_lifetime) * GAUSSIAN_PULSE_AREA * width_per_lifetime

    def outputs(
        self, mode_n: np.ndarray, regime: PumpRegime, width_per_lifetime: float
    ) -> np.ndarray:
        """(modes, pulses) stimulated fraction of each mode (photons out per threshold carrier)
        for pulses bringing ``mode_n`` mode-averaged excitations per QS; a quasi-CW pulse has a
        FWHM of ``width_per_lifetime`` gain lifetimes."""
        mode_n = np.asarray(mode_n, dtype=float)
        p = np.array([mode_n / m.threshold_N for m in self.modes])
        if regime.name != "ns":
            return stimulated_fraction(p, self.beta)
        grid, output = self._pulsed_table(width_per_lifetime)
        p_peak = p / (GAUSSIAN_PULSE_AREA * width_per_lifetime)
        scale = np.where(p_peak < grid[0], p_peak / grid[0], 1.0)  # linear below the table
        p_peak = np.maximum(p_peak, grid[0])
        return scale * np.exp(np.interp(np.log(p_peak), np.log(grid), np.log(output)))

    def linewidths(self, fraction: np.ndarray) -> np.ndarray:
        """FWHM (nm) of each mode (first axis) at stimulated fraction ``beta * n``.

        The cold width narrows as cold / (1 + n), Schawlow-Townes-like (gain makes up the loss:
        1 - G/kappa = 1 / (1 + n)), never below ``lasing_linewidth_nm``. With this law the width
        halves at half the threshold, where n = 1, and collapses to the floor just above it."""
        n = np.asarray(fraction, dtype=float) / self.beta
        cold = np.array([m.cold_linewidth_nm for m in self.modes])
        cold = cold.reshape((-1,) + (1,) * (n.ndim - 1))  # one row per mode
        floor = self.design.lasing_linewidth_nm
        return floor + np.maximum(cold - floor, 0.0) / (1.0 + n)

    def photons_per_nm(
        self,
        wavelengths_nm: np.ndarray,
        fractions: np.ndarray,
        qs_in_mode: float,
        resolution_nm: float,
    ) -> np.ndarray:
        """Collected spectral photon density of all modes, summed over the pulses.

        Each mode is a Lorentzian of its width at the output-weighted mean photon number of the
        pulses, seen through a Gaussian instrument function of FWHM ``resolution_nm``: a Voigt
        line of unit area per nm. Photons per pulse: extraction * threshold_N * QS in the mode
        * stimulated fraction.
        """
        wl = np.asarray(wavelengths_nm, dtype=float)
        totals = fractions.sum(axis=1)
        mean = np.divide(
            (fractions**2).sum(axis=1), totals, out=np.zeros_like(totals), where=totals > 0
        )
        widths = self.linewidths(mean)
        sigma = resolution_nm / FWHM_PER_SIGMA
        out = np.zeros_like(wl)
        for mode, total, width in zip(self.modes, totals, widths, strict=True):
            photons = self.design.extraction * mode.threshold_N * qs_in_mode * total
            out += photons * voigt_profile(wl - mode.wavelength_nm, sigma, width / 2)
        return out
