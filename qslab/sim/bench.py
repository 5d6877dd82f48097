"""One physical world per simulated station (DESIGN.md principle 2).

The bench holds the state every simulated device reads or changes: the laser's emission and
shutter, the transmission of each attenuating element, the beam on the sample, the film, and
the spectrometer's detector. Devices never invent numbers: a spectrometer asks the bench for
the light that reached it during its exposure, an energy meter for the pulses that crossed it.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from qslab.analysis import fluence as fl
from qslab.sim.sample import EmissionModel, QSFilm

MAX_SIMULATED_PULSES = 4096


@dataclass
class LaserState:
    """What the pump delivers at the sample plane before attenuation."""

    emission: bool = False
    shutter_open: bool = False
    wavelength_nm: float = 400.0
    repetition_rate_hz: float = 1000.0
    pulse_width_s: float = 100e-15
    pulse_energy_j: float = 12e-9
    energy_jitter: float = 0.02


@dataclass
class Detector:
    """A 16-bit CCD spectrometer's detector: counts = photons x gain, plus dark and noise."""

    counts_per_photon: float = 1.0e-4
    baseline_counts: float = 1500.0
    dark_counts_per_s: float = 300.0
    read_noise_counts: float = 8.0
    max_counts: float = 65535.0


@dataclass
class VirtualBench:
    """Shared physical state of a simulated station; ``seed`` makes every run repeatable."""

    film: QSFilm = field(default_factory=QSFilm)
    w0_cm: float = 50e-4
    sample_per_meter: float = 1.0
    qs_per_cm2: float = 1.0e12
    laser: LaserState = field(default_factory=LaserState)
    detector: Detector = field(default_factory=Detector)
    seed: int | None = None
    realtime: bool = True
    nd_od_error: float = 0.0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.lock = threading.RLock()
        self._transmissions: dict[str, float] = {}
        self._blocked: dict[str, bool] = {}
        self._models: dict[bytes, EmissionModel] = {}

    # -- beam path -------------------------------------------------------------------------
    def set_transmission(self, element: str, transmission: float) -> None:
        """Record the transmission of one attenuating element in the pump path."""
        with self.lock:
            self._transmissions[element] = float(transmission)

    def filter_transmission(self, element: str, position: int, nominal_od: float) -> float:
        """True transmission of a neutral-density filter sold as ``nominal_od``.

        Absorptive ND glass is specified at one wavelength and reads denser or lighter at the
        pump's; with ``nd_od_error`` > 0 each filter's true OD is nominal * (1 + error * z), z a
        standard normal fixed per filter (by its place, not by the run's seed: the glass does
        not change between runs), so that a fluence calibration has something real to find.
        """
        key = [zlib.crc32(element.encode()), position]
        z = np.random.default_rng(key).standard_normal()
        return 10.0 ** -(nominal_od * (1.0 + self.nd_od_error * z))

    @property
    def transmission(self) -> float:
        return math.prod(self._transmissions.values())

    def set_blocked(self, element: str, blocked: bool) -> None:
        """Record whether a beam block in the pump path (an external shutter) is closed."""
        with self.lock:
            self._blocked[element] = bool(blocked)

    @property
    def light_on_sample(self) -> bool:
        laser = self.laser
        return laser.emission and laser.shutter_open and not any(self._blocked.values())

    def pulse_energies(self, count: int) -> np.ndarray:
        """Energies (J) at the sample of ``count`` successive pulses; zero with the beam blocked."""
        with self.lock:
            if not self.light_on_sample:
                return np.zeros(count)
            mean = self.laser.pulse_energy_j * self.transmission
            jitter = self.rng.normal(1.0, self.laser.energy_jitter, count)
            return mean * np.clip(jitter, 0.0, None)

    def meter_energies(self, count: int) -> np.ndarray:
        """Energies (J) of ``count`` pulses at the energy meter's pick-off."""
        return self.pulse_energies(count) / self.sample_per_meter

    def peak_fluence(self, energy_j) -> np.ndarray:
        """Peak fluence (uJ/cm^2) on the sample for pulse energies at the sample."""
        return fl.fluence_uj_cm2(energy_j, self.w0_cm, "peak")

    def true_ase_threshold(self) -> float:
        """The ASE threshold this bench was given, as peak fluence in uJ/cm^2."""
        return self.film.threshold_fluence(self.laser.wavelength_nm)

    # -- detection -------------------------------------------------------------------------
    def _model(self, wavelengths_nm: np.ndarray) -> EmissionModel:
        key = np.asarray(wavelengths_nm, dtype=float).tobytes()
        if key not in self._models:
            self._models[key] = EmissionModel(self.film, np.asarray(wavelengths_nm, dtype=float))
        return self._models[key]

    def spectrum_counts(
        self,
        wavelengths_nm: np.ndarray,
        exposure_s: float,
        detector: Detector | None = None,
        blocked: bool = False,
    ) -> np.ndarray:
        """Raw counts per pixel for one exposure: the film's emission from every pulse that
        arrived during it, then shot, dark and read noise, clipped at the ADC's full scale.

        ``detector`` replaces the bench's own (a cooled CCD on another port); ``blocked`` keeps
        the light out (a camera's own shutter closed) while dark current still accrues.
        """
        model = self._model(wavelengths_nm)
        d = detector or self.detector
        pulses = self.laser.repetition_rate_hz * exposure_s
        simulated = int(min(max(round(pulses), 1), MAX_SIMULATED_PULSES))
        with self.lock:
            energies = np.zeros(simulated) if blocked else self.pulse_energies(simulated)
            n_peak = fl.mean_excitation(
                self.peak_fluence(energies), self.laser.wavelength_nm, self.film.cross_section_cm2
            )
            step = np.abs(np.gradient(np.asarray(wavelengths_nm, dtype=float)))
            qs_in_spot = self.qs_per_cm2 * math.pi * self.w0_cm**2 / 2
            photons = model.photons_per_nm(n_peak) * step * qs_in_spot * pulses / simulated
            signal = photons * d.counts_per_photon + d.dark_counts_per_s * exposure_s
            noisy = self.rng.poisson(np.maximum(signal, 0.0)).astype(float)
            noisy += d.baseline_counts + self.rng.normal(0.0, d.read_noise_counts, signal.shape)
        self.wait(exposure_s)
        return np.clip(np.round(noisy), 0.0, d.max_counts)

    def wait(self, seconds: float) -> None:
        """Let instrument time pass: real sleeping only on a real-time bench."""
        if self.realtime and seconds > 0:
            time.sleep(seconds)
