"""The simulated quantum-shell film: how many photons of which colour one pump pulse gives.

Physics of PHYSICS.md sections 2-3. A Gaussian pump spot of peak <N> = N0 excites the film;
the emission is integrated over the spot (the substitution u = 2 r^2 / w0^2 of
``models.gaussian_spot_average``):

* exciton (X) line: QY_X * P(n >= 1), a Gaussian band at ``x_peak_nm``;
* biexciton (XX) spontaneous line: QY_XX * P(n >= 2), blue-shifted by ``xx_x_splitting_meV``;
* XX amplified spontaneous emission: the steady-state rate-equation S-curve
  ``ase_yield * stimulated_fraction(N / gain_threshold_N, ase_beta)`` with local threshold
  <N> = gain_threshold_N. Above threshold the net gain clamps, so the ASE line keeps the width
  that the stripe formula PL (e^{gL} - 1) / (gL) gives at the clamped gain: a Gaussian of
  ``ase_fwhm_nm`` at the XX line. The total spectrum narrows because ASE takes over.

The true ASE threshold (peak fluence at which the beam centre reaches the gain threshold) is
``threshold_fluence``; fits of a simulated run are judged against it.

A spectrometer of finite resolution sees each Gaussian band broadened by its Gaussian
instrument function: the FWHMs add in quadrature (``resolution_nm`` of :class:`EmissionModel`).
The film's gain spectrum (:meth:`QSFilm.relative_gain`), which sets where a cavity mode can
lase, is a Gaussian in photon energy of FWHM ``gain_bandwidth_meV`` at ``gain_peak_nm``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.models import (
    gaussian_spot_average,
    p_at_least_one,
    p_at_least_two,
    stimulated_fraction,
)

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class QSFilm:
    """Sample parameters; defaults are the 7.2-nm-core CdS/CdSe/CdS(ZnS) film of the review.

    ``tau_x_ns`` and ``tau_xx_ns`` follow from the review's 22-ns XX Auger lifetime, QY_XX = 0.57
    QY_X and k_r,XX = 4 k_r,X: tau_XX = 22 ns (1 - QY_XX) = 10.7 ns, tau_X = QY_X 4 tau_XX / QY_XX.
    """

    name: str = "QS film, 7.2-nm CdS core, CdS/CdSe/CdS(ZnS)"
    x_peak_nm: float = 670.0
    xx_x_splitting_meV: float = 63.0
    pl_fwhm_nm: float = 30.0
    ase_fwhm_nm: float = 6.0
    cross_section_cm2: float = 1.3e-13
    gain_threshold_N: float = 1.4
    qy_x: float = 0.90
    qy_xx_ratio: float = 0.57
    tau_x_ns: float = 75.0
    tau_xx_ns: float = 10.7
    ase_beta: float = 0.02
    ase_yield: float = 1.5
    gain_peak_nm: float = 650.0
    gain_bandwidth_meV: float = 300.0
    two_photon_cross_section_gm: float = 3.0e6

    @property
    def xx_peak_nm(self) -> float:
        return fl.ev_to_nm(fl.photon_energy_ev(self.x_peak_nm) + self.xx_x_splitting_meV / 1e3)

    @property
    def qy_xx(self) -> float:
        return self.qy_x * self.qy_xx_ratio

    def threshold_fluence(self, pump_wavelength_nm: float) -> float:
        """Peak fluence (uJ/cm^2) that brings the beam centre to the gain threshold."""
        return float(
            fl.fluence_for_excitation(
                self.gain_threshold_N, pump_wavelength_nm, self.cross_section_cm2
            )
        )

    @property
    def _gain_sigma_ev(self) -> float:
        return self.gain_bandwidth_meV / 1e3 / FWHM_PER_SIGMA

    def relative_gain(self, wavelength_nm: float) -> float:
        """Gain at ``wavelength_nm`` relative to the peak of the gain spectrum (review: ~300 meV
        wide, 550-680 nm at high density, peaking at the XX ASE line)."""
        detuning_ev = fl.photon_energy_ev(wavelength_nm) - fl.photon_energy_ev(self.gain_peak_nm)
        z = abs(detuning_ev / self._gain_sigma_ev)
        return math.exp(-0.5 * z * z) if z < 40 else 0.0  # far outside: none (and no overflow)

    def gain_band_nm(self, min_relative_gain: float) -> tuple[float, float]:
        """Wavelengths between which the gain is at least ``min_relative_gain`` of its peak."""
        reach_ev = self._gain_sigma_ev * math.sqrt(-2 * math.log(min_relative_gain))
        peak_ev = fl.photon_energy_ev(self.gain_peak_nm)
        return fl.ev_to_nm(peak_ev + reach_ev), fl.ev_to_nm(max(peak_ev - reach_ev, 1e-3))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _gaussian(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / (fwhm / FWHM_PER_SIGMA)) ** 2)


@dataclass
class EmissionModel:
    """Tabulated spot-integrated yields versus peak <N>, and line shapes on one axis.

    Yields are photons per QS in the 1/e^2 spot area per pulse; a spectrum for any set of pulses
    is then a weighted sum of three line shapes, cheap enough for thousands of pulses a second.
    """

    film: QSFilm
    wavelengths_nm: np.ndarray
    resolution_nm: float = 0.0

    def __post_init__(self) -> None:
        f = self.film
        self.n_grid = np.logspace(-5, 3, 801)
        self.x_yield = f.qy_x * gaussian_spot_average(p_at_least_one, self.n_grid)
        self.xx_yield = f.qy_xx * gaussian_spot_average(p_at_least_two, self.n_grid)
        self.ase_yield = f.ase_yield * gaussian_spot_average(
            lambda n: stimulated_fraction(n / f.gain_threshold_N, f.ase_beta), self.n_grid
        )
        wl = np.asarray(self.wavelengths_nm, dtype=float)
        step = np.gradient(wl)
        pl_fwhm, ase_fwhm = (
            math.hypot(w, self.resolution_nm) for w in (f.pl_fwhm_nm, f.ase_fwhm_nm)
        )
        self.shapes = np.vstack(
            [
                _normalised(_gaussian(wl, f.x_peak_nm, pl_fwhm), step),
                _normalised(_gaussian(wl, f.xx_peak_nm, pl_fwhm), step),
                _normalised(_gaussian(wl, f.xx_peak_nm, ase_fwhm), step),
            ]
        )

    def yields(self, n_peak: np.ndarray) -> np.ndarray:
        """(3,) total X, XX and ASE photons summed over the given pulses."""
        n = np.clip(np.asarray(n_peak, dtype=float), 0.0, self.n_grid[-1])
        lo = self.n_grid[0]
        scale = np.where(n < lo, n / lo, 1.0)  # all three yields are linear or faster near 0
        n = np.maximum(n, lo)
        return np.array(
            [
                np.sum(scale * np.interp(n, self.n_grid, self.x_yield)),
                np.sum(scale * np.interp(n, self.n_grid, self.xx_yield)),
                np.sum(scale * np.interp(n, self.n_grid, self.ase_yield)),
            ]
        )

    def photons_per_nm(self, n_peak: np.ndarray) -> np.ndarray:
        """Spectral photon density (per nm, per QS in the spot) summed over the pulses."""
        return self.yields(n_peak) @ self.shapes


def _normalised(shape: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Scale a line shape to unit area in photons (per nm on this axis)."""
    return shape / np.sum(shape * step)
