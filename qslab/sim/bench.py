"""One physical world per simulated station (DESIGN.md principle 2).

The bench holds the state every simulated device reads or changes: the laser's emission and
shutter, the transmission of each attenuating element, the beam on the sample, the film, and
the spectrometer's detector. Devices never invent numbers: a spectrometer asks the bench for
the light that reached it during its exposure, an energy meter for the pulses that crossed it.

A bench may hold a laser cavity around the film (``qslab/sim/cavity.py``); without one it is
the bare film of the ASE experiments. The pump regime (fs, ns quasi-CW, two-photon) follows from
what the laser delivers, and the bench reports the lasing threshold it was given in that
regime's units (:meth:`VirtualBench.lasing_truth`).

The bench's spot (``w0_cm``) is the beam's true size, which a station may set apart from the
one it declares (``[bench] true_spot_size_um``), as a real beam differs from its label; a razor
blade on the sample stage (:class:`KnifeEdge`) lets a knife-edge scan measure it.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.sim.cavity import Cavity, CavityDesign, PumpRegime, pump_regime
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
    """A 16-bit CCD spectrometer's detector: counts = photons x gain, plus dark and noise.

    ``resolution_nm`` is the FWHM of the spectrometer's (Gaussian) instrument function, set by
    its slit and grating; 0 leaves every line as the sample emits it.
    """

    counts_per_photon: float = 1.0e-4
    baseline_counts: float = 1500.0
    dark_counts_per_s: float = 300.0
    read_noise_counts: float = 8.0
    max_counts: float = 65535.0
    resolution_nm: float = 0.0


@dataclass(frozen=True)
class KnifeEdge:
    """A razor blade in the sample plane, on the sample stage, clipping the beam along ``axis``.

    ``edge_mm`` is the stage position (x, y) at which the blade's edge crosses the beam centre;
    moving the stage towards +``axis`` pushes the blade further into the beam, so a Gaussian of
    1/e^2 radius w passes the fraction 0.5 erfc(sqrt(2) (s - s_edge) / w) at stage coordinate s.
    """

    edge_mm: tuple[float, float]
    axis: str = "x"

    def transmission(self, stage_mm: tuple[float, float], w0_cm: float) -> float:
        """Fraction of the pulse energy that passes the blade with the stage at ``stage_mm``."""
        i = "xy".index(self.axis)
        offset_cm = (stage_mm[i] - self.edge_mm[i]) / 10
        return 0.5 * math.erfc(math.sqrt(2) * offset_cm / w0_cm)


@dataclass(frozen=True)
class LasingTruth:
    """The lasing threshold a bench was given, for the mode that lases first.

    ``threshold`` is in the pump regime's ``units`` on its ``quantity`` axis (peak values at the
    beam centre); ``peak_N`` the <N> per QS at the beam centre there, ``mode_N`` the <N>
    averaged over the mode. ``linewidth_nm`` is the mode's width far above threshold, before the
    spectrometer.
    """

    threshold: float
    units: str
    quantity: str
    regime: str
    order: int
    beta: float
    fluence_uj_cm2: float
    peak_N: float
    mode_N: float
    wavelength_nm: float
    linewidth_nm: float


@dataclass
class VirtualBench:
    """Shared physical state of a simulated station; ``seed`` makes every run repeatable."""

    film: QSFilm = field(default_factory=QSFilm)
    w0_cm: float = 50e-4
    """The true 1/e^2 radius of the pump spot: all the bench's physics uses it."""
    sample_per_meter: float = 1.0
    qs_per_cm2: float = 1.0e12
    laser: LaserState = field(default_factory=LaserState)
    detector: Detector = field(default_factory=Detector)
    seed: int | None = None
    realtime: bool = True
    nd_od_error: float = 0.0
    cavity_design: CavityDesign | None = None
    degradation_dose_J_cm2: float = math.inf
    """Photo-bleaching of the film: its emission falls as exp(-dose / this) with the peak dose
    the spot has received (infinite: a film that never degrades)."""
    knife_edge: KnifeEdge | None = None
    """A blade mounted in place of the sample, with the energy meter behind it (None: none)."""

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.sample_position_mm = (0.0, 0.0)
        """Where a sample stage has put the film (x, y); the pump stays put."""
        self._doses: dict[tuple[int, int], float] = {}
        self.focus = 1.0
        """Fraction of the pump fluence that reaches the sample's focus (a drifting stage or
        objective lowers it; the energy meter before the sample does not see it)."""
        self.lock = threading.RLock()
        self._transmissions: dict[str, float] = {}
        self._blocked: dict[str, bool] = {}
        self._models: dict[tuple[bytes, float], EmissionModel] = {}
        self.cavity = Cavity(self.cavity_design, self.film) if self.cavity_design else None

    # -- the film under the beam -----------------------------------------------------------
    def move_sample(self, x_mm: float, y_mm: float) -> None:
        """A sample stage moved the film: the pump now lands on the spot at (x, y)."""
        with self.lock:
            self.sample_position_mm = (float(x_mm), float(y_mm))

    def _spot(self) -> tuple[int, int]:
        """The film patch under the beam: positions one spot diameter apart are fresh film."""
        cell_mm = 2 * self.w0_cm * 10
        x, y = self.sample_position_mm
        return round(x / cell_mm), round(y / cell_mm)

    @property
    def spot_dose_J_cm2(self) -> float:
        """Peak pump dose the film under the beam has received (its photo-bleaching)."""
        return self._doses.get(self._spot(), 0.0)

    @spot_dose_J_cm2.setter
    def spot_dose_J_cm2(self, dose: float) -> None:
        self._doses[self._spot()] = float(dose)

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
        """Energies (J) of ``count`` pulses at the energy meter's pick-off; with a knife edge
        mounted, what passes the blade at the stage's position."""
        energies = self.pulse_energies(count) / self.sample_per_meter
        if self.knife_edge is None:
            return energies
        return energies * self.knife_edge.transmission(self.sample_position_mm, self.w0_cm)

    def peak_fluence(self, energy_j) -> np.ndarray:
        """Peak fluence (uJ/cm^2) on the sample for pulse energies at the sample."""
        return fl.fluence_uj_cm2(energy_j, self.w0_cm, "peak")

    def true_ase_threshold(self) -> float:
        """The ASE threshold this bench was given, as peak fluence in uJ/cm^2: where the beam
        centre reaches the film's gain threshold, by one- or two-photon absorption."""
        if self.pump_regime().order == 2:
            return self.fluence_for_peak_excitation(self.film.gain_threshold_N)
        return self.film.threshold_fluence(self.laser.wavelength_nm)

    # -- pump regime and lasing ------------------------------------------------------------
    def pump_regime(self) -> PumpRegime:
        """fs, ns (quasi-CW) or two-photon, from the pump now reaching the sample."""
        return pump_regime(self.laser.wavelength_nm, self.laser.pulse_width_s, self.film)

    def peak_excitation(self, fluence_uj_cm2) -> np.ndarray:
        """<N> per QS at the beam centre for peak fluences in uJ/cm^2: sigma j for one-photon
        absorption, (sigma2 / 2) kappa j^2 / tau for two-photon (Gaussian pulse). For a ns
        pulse this is every excitation the pulse brings, not the number present at one time."""
        laser, film = self.laser, self.film
        if self.pump_regime().order == 2:
            return fl.two_photon_excitation(
                fluence_uj_cm2,
                laser.wavelength_nm,
                film.two_photon_cross_section_gm,
                laser.pulse_width_s,
            )
        return fl.mean_excitation(fluence_uj_cm2, laser.wavelength_nm, film.cross_section_cm2)

    def fluence_for_peak_excitation(self, n_peak: float) -> float:
        """Inverse of :meth:`peak_excitation`: peak fluence (uJ/cm^2) giving ``n_peak``."""
        order = self.pump_regime().order
        return float((n_peak / self.peak_excitation(1.0)) ** (1.0 / order))

    def pulse_per_lifetime(self) -> float:
        """The pump pulse's FWHM over the gain lifetime (the film's XX lifetime): what the ns
        rate equations depend on."""
        return self.laser.pulse_width_s / (self.film.tau_xx_ns * 1e-9)

    def lasing_truth(self) -> LasingTruth:
        """The threshold of the first lasing mode: where its mode-averaged excitation reaches
        the gain threshold (fs, two-photon), or for a quasi-CW pulse the peak pump at which its
        carriers, at their maximum, just reach threshold when beta -> 0 (docs/virtual-bench.md,
        "The lasing truth")."""
        cavity = self._require_cavity()
        regime = self.pump_regime()
        mode = cavity.first_mode
        mode_n = mode.threshold_N * cavity.threshold_pump(regime, self.pulse_per_lifetime())
        peak_n = mode_n / cavity.overlap(self.w0_cm, regime.order)
        fluence = self.fluence_for_peak_excitation(peak_n)
        return LasingTruth(
            threshold=float(regime.from_peak_fluence(fluence)),
            units=regime.units,
            quantity=regime.quantity,
            regime=regime.name,
            order=regime.order,
            beta=cavity.beta,
            fluence_uj_cm2=fluence,
            peak_N=peak_n,
            mode_N=mode_n,
            wavelength_nm=mode.wavelength_nm,
            linewidth_nm=cavity.design.lasing_linewidth_nm,
        )

    def true_lasing_threshold(self) -> tuple[float, str]:
        """(value, units) of the lasing threshold this bench was given, in its regime's units."""
        truth = self.lasing_truth()
        return truth.threshold, truth.units

    def true_spot_radius_um(self) -> float:
        """The 1/e^2 radius of the spot this bench was given, um: what a knife edge measures."""
        return self.w0_cm * 1e4

    def truth_record(self) -> dict[str, dict[str, Any]]:
        """The lasing truth (with a cavity) and the true spot (with a knife edge) as settings
        with units, for a run's record; empty for a bare film (which records only its ASE
        threshold)."""
        out = {}
        if self.knife_edge is not None:
            out["true_spot_radius_1e2"] = {"value": self.true_spot_radius_um(), "units": "um"}
            out["knife_edge"] = {"value": list(self.knife_edge.edge_mm), "units": "mm"}
        if self.cavity is None:
            return out
        t = self.lasing_truth()
        return {
            **out,
            "true_lasing_threshold": {"value": t.threshold, "units": t.units},
            "true_lasing_threshold_N": {"value": t.peak_N, "units": ""},
            "true_beta": {"value": t.beta, "units": ""},
            "true_lasing_wavelength": {"value": t.wavelength_nm, "units": "nm"},
            "true_lasing_linewidth": {"value": t.linewidth_nm, "units": "nm"},
            "pump_regime": {"value": t.regime, "units": ""},
            "spectrometer_resolution": {"value": self.detector.resolution_nm, "units": "nm"},
        }

    def _require_cavity(self) -> Cavity:
        if self.cavity is None:
            raise ValueError("this bench has no cavity; give the station a [bench] cavity")
        return self.cavity

    # -- detection -------------------------------------------------------------------------
    def _model(self, wavelengths_nm: np.ndarray, resolution_nm: float) -> EmissionModel:
        key = (np.asarray(wavelengths_nm, dtype=float).tobytes(), resolution_nm)
        if key not in self._models:
            axis = np.asarray(wavelengths_nm, dtype=float)
            self._models[key] = EmissionModel(self.film, axis, resolution_nm)
        return self._models[key]

    def mode_outputs(self, fluence_uj_cm2) -> np.ndarray:
        """(modes, pulses) stimulated fraction beta * n of each cavity mode for pulses of these
        peak fluences (uJ/cm^2), without noise: the light-in/light-out curve the bench obeys."""
        cavity = self._require_cavity()
        regime = self.pump_regime()
        mode_n = self.peak_excitation(fluence_uj_cm2) * cavity.overlap(self.w0_cm, regime.order)
        return cavity.outputs(mode_n, regime, self.pulse_per_lifetime())

    def _cavity_photons_per_nm(
        self, wavelengths_nm: np.ndarray, fluence_uj_cm2: np.ndarray, d: Detector
    ) -> np.ndarray:
        """Collected photons per nm of every cavity mode, summed over the pulses."""
        cavity = self._require_cavity()
        fractions = self.mode_outputs(fluence_uj_cm2)
        qs_in_mode = self.qs_per_cm2 * math.pi * (cavity.design.mode_radius_um * 1e-4) ** 2 / 2
        return cavity.photons_per_nm(wavelengths_nm, fractions, qs_in_mode, d.resolution_nm)

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
        d = detector or self.detector
        model = self._model(wavelengths_nm, d.resolution_nm)
        pulses = self.laser.repetition_rate_hz * exposure_s
        simulated = int(min(max(round(pulses), 1), MAX_SIMULATED_PULSES))
        with self.lock:
            energies = np.zeros(simulated) if blocked else self.pulse_energies(simulated)
            fluence = self.peak_fluence(energies) * self.focus
            n_peak = self.peak_excitation(fluence)
            step = np.abs(np.gradient(np.asarray(wavelengths_nm, dtype=float)))
            qs_in_spot = self.qs_per_cm2 * math.pi * self.w0_cm**2 / 2
            photons = model.photons_per_nm(n_peak) * step * qs_in_spot * pulses / simulated
            # the spot average of a profile <N> e^(-order u) is 1/order of the one-photon one
            photons /= self.pump_regime().order
            if self.cavity is not None:
                cavity = self._cavity_photons_per_nm(wavelengths_nm, fluence, d)
                photons += cavity * step * pulses / simulated
            photons *= math.exp(-self.spot_dose_J_cm2 / self.degradation_dose_J_cm2)
            self.spot_dose_J_cm2 += float(np.mean(fluence)) * 1e-6 * pulses
            signal = photons * d.counts_per_photon + d.dark_counts_per_s * exposure_s
            noisy = self.rng.poisson(np.maximum(signal, 0.0)).astype(float)
            noisy += d.baseline_counts + self.rng.normal(0.0, d.read_noise_counts, signal.shape)
        self.wait(exposure_s)
        return np.clip(np.round(noisy), 0.0, d.max_counts)

    def wait(self, seconds: float) -> None:
        """Let instrument time pass: real sleeping only on a real-time bench."""
        if self.realtime and seconds > 0:
            time.sleep(seconds)
