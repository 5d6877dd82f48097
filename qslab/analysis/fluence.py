"""Every unit conversion between pulse energy, fluence, photon fluence, <N> and intensity.

The one place these formulas live (PHYSICS.md section 3). Fluence is in uJ/cm^2 throughout
qslab; the beam is Gaussian with a 1/e^2 radius ``w0`` and the peak fluence is
F0 = 2E / (pi w0^2). The often-quoted E / (pi w0^2) is the "average" definition, F0 / 2; a
run stores which definition it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 299_792_458.0
ELEMENTARY_CHARGE_C = 1.602176634e-19
GOEPPERT_MAYER_CM4_S = 1e-50

SPOT_DEFINITIONS = ("1/e2_radius", "1/e2_diameter", "fwhm_diameter")
FLUENCE_DEFINITIONS = ("peak", "average")
PULSE_SHAPES = {"gaussian": (0.939, 0.664), "sech2": (0.881, 0.588)}


def photon_energy_j(wavelength_nm: float) -> float:
    """h c / lambda."""
    return PLANCK_J_S * LIGHT_M_S / (wavelength_nm * 1e-9)


def photon_energy_ev(wavelength_nm: float) -> float:
    """Photon energy in eV, the unit line splittings are quoted in."""
    return photon_energy_j(wavelength_nm) / ELEMENTARY_CHARGE_C


def ev_to_nm(energy_ev: float) -> float:
    return PLANCK_J_S * LIGHT_M_S / (energy_ev * ELEMENTARY_CHARGE_C) * 1e9


def splitting_mev(short_nm: float, long_nm: float) -> float:
    """Energy of the shorter-wavelength line above the longer one, meV."""
    return (photon_energy_ev(short_nm) - photon_energy_ev(long_nm)) * 1e3


def w0_cm(spot_size_um: float, definition: str) -> float:
    """Gaussian 1/e^2 radius in cm from a spot size quoted under ``definition``."""
    if definition == "1/e2_radius":
        radius_um = spot_size_um
    elif definition == "1/e2_diameter":
        radius_um = spot_size_um / 2
    elif definition == "fwhm_diameter":
        radius_um = spot_size_um / math.sqrt(2 * math.log(2))
    else:
        raise ValueError(f"unknown spot definition {definition!r}; use one of {SPOT_DEFINITIONS}")
    return radius_um * 1e-4


def spot_size_um(radius_um: float, definition: str) -> float:
    """A 1/e^2 radius (um) as the spot size quoted under ``definition``: :func:`w0_cm`'s
    inverse."""
    return radius_um / (w0_cm(1.0, definition) * 1e4)


def _definition_factor(definition: str) -> float:
    if definition not in FLUENCE_DEFINITIONS:
        raise ValueError(f"unknown fluence definition {definition!r}; use {FLUENCE_DEFINITIONS}")
    return 2.0 if definition == "peak" else 1.0


def fluence_uj_cm2(energy_j, w0: float, definition: str = "peak"):
    """Pulse energy (J) to fluence (uJ/cm^2) for a Gaussian spot of 1/e^2 radius ``w0`` (cm)."""
    return _definition_factor(definition) * np.asarray(energy_j) / (math.pi * w0**2) * 1e6


def energy_j(fluence, w0: float, definition: str = "peak"):
    """Inverse of :func:`fluence_uj_cm2`."""
    return np.asarray(fluence) * 1e-6 * math.pi * w0**2 / _definition_factor(definition)


def photon_fluence_cm2(fluence, wavelength_nm: float):
    """Photons per cm^2 from fluence in uJ/cm^2."""
    return np.asarray(fluence) * 1e-6 / photon_energy_j(wavelength_nm)


def mean_excitation(fluence, wavelength_nm: float, cross_section_cm2: float):
    """One-photon <N> = sigma * j at fluence in uJ/cm^2."""
    return cross_section_cm2 * photon_fluence_cm2(fluence, wavelength_nm)


def fluence_for_excitation(n_mean, wavelength_nm: float, cross_section_cm2: float):
    """Fluence (uJ/cm^2) at which the one-photon <N> equals ``n_mean``."""
    return np.asarray(n_mean) / cross_section_cm2 * photon_energy_j(wavelength_nm) * 1e6


def two_photon_excitation(
    fluence, wavelength_nm: float, sigma2_gm: float, pulse_width_s: float, shape="gaussian"
):
    """Two-photon <N> = (sigma2 / 2) kappa j^2 / tau."""
    kappa = PULSE_SHAPES[shape][1]
    j = photon_fluence_cm2(fluence, wavelength_nm)
    return 0.5 * sigma2_gm * GOEPPERT_MAYER_CM4_S * kappa * j**2 / pulse_width_s


def peak_intensity_kw_cm2(fluence, pulse_width_s: float, shape: str = "gaussian"):
    """I0 = c F / tau with c = 0.939 (Gaussian) or 0.881 (sech^2); F in uJ/cm^2."""
    factor = PULSE_SHAPES[shape][0]
    return factor * np.asarray(fluence) * 1e-6 / pulse_width_s / 1e3


# -- pump regimes --------------------------------------------------------------------------
QUASI_CW_PULSE_S = 1e-9
"""Pulses at least this long are quasi-CW: comparable to the ns exciton lifetimes, so the gain
follows the pulse and the threshold is a peak intensity."""
REGIMES = ("fs", "ns", "two_photon")


@dataclass(frozen=True)
class PumpRegime:
    """How the pump excites the film and in which quantity its lasing threshold is quoted.

    ``per_uj_cm2`` converts the peak fluence at the beam centre (uJ/cm^2, qslab's unit) to the
    pump axis; ``order`` is the number of pump photons per excitation (the light-in/light-out
    curve has slope ``order`` below and above threshold on a fluence axis).
    """

    name: str
    quantity: str
    units: str
    per_uj_cm2: float
    order: int

    def from_peak_fluence(self, fluence_uj_cm2):
        """The pump axis value at a peak fluence in uJ/cm^2."""
        return np.asarray(fluence_uj_cm2, dtype=float) * self.per_uj_cm2

    def to_peak_fluence(self, pump):
        """Inverse of :meth:`from_peak_fluence`: uJ/cm^2 at a pump axis value."""
        return np.asarray(pump, dtype=float) / self.per_uj_cm2


def regime_named(name: str, pulse_width_s: float) -> PumpRegime:
    """The regime ``name`` (one of :data:`REGIMES`) for a pump of this pulse width."""
    if name == "two_photon":
        return PumpRegime("two_photon", "fluence", "mJ/cm^2", 1e-3, 2)
    if name == "ns":
        per = float(peak_intensity_kw_cm2(1.0, pulse_width_s))
        return PumpRegime("ns", "peak_intensity", "kW/cm^2", per, 1)
    if name == "fs":
        return PumpRegime("fs", "fluence", "uJ/cm^2", 1.0, 1)
    raise ValueError(f"unknown pump regime {name!r}; use one of {REGIMES}")


def pump_regime(wavelength_nm: float, pulse_width_s: float, emission_nm: float) -> PumpRegime:
    """The regime a pump sets up in a film emitting at ``emission_nm``: a photon below the
    band edge (longer than the emission) is absorbed in pairs; otherwise a pulse of
    :data:`QUASI_CW_PULSE_S` or longer is quasi-CW, a shorter one femtosecond-like.

    Decided from what the station declares (the laser's wavelength and pulse width, the
    sample's ``x_peak_nm``), so a real station and the simulated bench agree."""
    if wavelength_nm > emission_nm:
        return regime_named("two_photon", pulse_width_s)
    return regime_named("ns" if pulse_width_s >= QUASI_CW_PULSE_S else "fs", pulse_width_s)
