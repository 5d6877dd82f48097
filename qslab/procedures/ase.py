"""Power-dependent amplified spontaneous emission (ASE) series.

For each fluence, lowest first: move the attenuator with the shutter closed (a wheel passes
through lower densities on its way), open the shutter, read the pulse energies and the
spectra, close the shutter. The fluence of a point is the one measured then, not the one
asked for. A spectrum that reaches the saturation level is retaken at a shorter exposure (with
a dark background at that exposure) and marked; the shorter exposure is kept for the brighter
points that follow.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis import spectra as sp
from qslab.analysis.ase import analyse_ase
from qslab.engine.documents import data_key
from qslab.errors import QslabError, ValidationError
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter

log = logging.getLogger(__name__)

MAX_RETAKES = 8


class ASESeries(Procedure):
    name = "ase"
    title = "Power-dependent ASE series"
    roles = ("laser", "attenuator", "energy_meter", "spectrometer")
    parameters = (
        Parameter("fluence_start", "float", 1.0, "uJ/cm^2", "first fluence", 1e-6),
        Parameter("fluence_stop", "float", 60.0, "uJ/cm^2", "last fluence", 1e-6),
        Parameter("points", "int", 30, "", "number of fluences", 2, 10000),
        Parameter("spacing", "str", "log", "", "fluence spacing", choices=("log", "linear")),
        Parameter(
            "fluences",
            "floats",
            [],
            "uJ/cm^2",
            "explicit fluences; when given, replaces start/stop/points/spacing",
        ),
        Parameter("exposure_s", "float", 0.1, "s", "spectrometer exposure per spectrum", 1e-5, 600),
        Parameter("averages", "int", 2, "", "spectra averaged per point", 1, 10000),
        Parameter("energy_samples", "int", 10, "", "energy meter readings per point", 1, 100000),
        Parameter(
            "background", "bool", True, "", "subtract a dark spectrum taken with the shutter closed"
        ),
        Parameter(
            "saturation_level",
            "float",
            0.9,
            "",
            "fraction of full scale at which a spectrum is retaken shorter",
            0.05,
            1.0,
        ),
    )

    def fluence_targets(self) -> list[float]:
        v = self.values
        if v["fluences"]:
            return sorted(v["fluences"])
        start, stop, n = v["fluence_start"], v["fluence_stop"], v["points"]
        if v["spacing"] == "log":
            return list(np.geomspace(start, stop, n))
        return list(np.linspace(start, stop, n))

    def validate(self) -> None:
        cfg = self.station.config
        v = self.values
        field = "parameters.fluences" if v["fluences"] else "parameters.fluence_stop"
        if not v["fluences"] and v["fluence_stop"] <= v["fluence_start"]:
            raise ValidationError(
                "parameters.fluence_stop",
                f"{v['fluence_stop']} uJ/cm^2 must be above fluence_start ({v['fluence_start']})",
            )
        targets = self.fluence_targets()
        if min(targets) <= 0:
            raise ValidationError(field, f"fluences must be positive, got {min(targets)} uJ/cm^2")
        limit = cfg.limits["max_fluence_uJ_cm2"]
        if max(targets) > limit:
            raise ValidationError(
                field,
                f"{max(targets):g} uJ/cm^2 exceeds the station limit of {limit:g} uJ/cm^2 "
                "(station.limits.max_fluence_uJ_cm2); lower the fluence or raise the limit",
            )
        full = self.full_fluence()
        if max(targets) > full:
            raise ValidationError(
                field,
                f"{max(targets):g} uJ/cm^2 is more than the station delivers at full "
                f"transmission ({full:.3g} uJ/cm^2, from station.calibration.full_pulse_energy_nJ)",
            )

    def full_fluence(self) -> float:
        cfg = self.station.config
        energy = cfg.calibration["full_pulse_energy_nJ"] * 1e-9
        return float(fl.fluence_uj_cm2(energy, cfg.w0_cm, cfg.beam["fluence_definition"]))

    # -- acquisition ---------------------------------------------------------------------------
    def run(self, ctx) -> None:
        st, v = self.station, self.values
        spectrometer = st["spectrometer"]
        self._ctx = ctx
        self._dark: dict[float, np.ndarray] = {}

        self.prepare_pump()
        self._pump_nm = st["laser"].wavelength_nm
        wavelengths = np.asarray(spectrometer.wavelengths_nm, dtype=float)
        self._wavelengths = wavelengths
        lo, hi = spectrometer.exposure_limits_s
        self._min_exposure = lo
        self._exposure = v["exposure_s"]
        if not lo <= self._exposure <= hi:
            raise ValidationError(
                "parameters.exposure_s",
                f"{self._exposure} s is outside this spectrometer's range {lo:g}..{hi:g} s",
            )
        ctx.descriptor(
            data_keys=self._data_keys(wavelengths.size),
            constants={
                "wavelength": {"value": wavelengths, "units": "nm", "description": "pixel axis"},
                "pump_wavelength": {
                    "value": self._pump_nm,
                    "units": "nm",
                    "description": "at sample",
                },
            },
            plot={"signal": "integrated_emission", "axes": ["fluence"]},
        )
        targets = self.fluence_targets()
        rate = st["laser"].repetition_rate_hz
        for index, target in enumerate(targets):
            ctx.progress(index, len(targets), f"{target:.3g} uJ/cm^2")
            pulses = v["energy_samples"] + rate * self._exposure * v["averages"]
            if ctx.point(index, lambda t=target: self._measure(t), target, pulses) is None:
                break
        ctx.progress(len(ctx.taken), len(targets), "analysing")
        if not ctx.taken:
            return
        ctx.results(
            analyse_ase(
                ctx.column("fluence"),
                ctx.column("integrated_emission"),
                ctx.column("fwhm"),
                wavelengths,
                ctx.column("spectrum"),
            )
        )

    def after_pause(self) -> None:
        """A pause may have cleared what made the spectra saturate: start again from the
        exposure asked for."""
        super().after_pause()
        self._exposure = self.values["exposure_s"]

    def _measure(self, target: float) -> dict[str, Any]:
        """One fluence: attenuator with the beam blocked, then energies and spectra."""
        st, v, cfg = self.station, self.values, self.station.config
        shutter = st.beam_shutter
        calibration = cfg.fluence_calibration
        limit = cfg.limits["max_fluence_uJ_cm2"]
        shutter.close_shutter()
        wanted = target / self.full_fluence()
        transmission = st["attenuator"].set_transmission(
            calibration.setting_for(wanted) if calibration else wanted
        )
        shutter.open_shutter()
        try:
            energies = self.read_pulse_energies(transmission)
            fluences = fl.fluence_uj_cm2(energies, cfg.w0_cm, cfg.beam["fluence_definition"])
            if float(np.mean(fluences)) > limit:
                raise QslabError(
                    f"measured fluence {np.mean(fluences):.3g} uJ/cm^2 exceeds the station "
                    f"limit {limit:g}: check station.calibration.full_pulse_energy_nJ"
                )
            raw, self._exposure, retaken, saturated = self._spectrum(self._exposure)
        finally:
            shutter.close_shutter()
        exposure, wavelengths = self._exposure, self._wavelengths
        counts = raw - self._dark.get(exposure, 0.0) if v["background"] else raw
        rate = counts / exposure
        fluence = float(np.mean(fluences))
        return {
            "fluence": fluence,
            "fluence_target": float(target),
            "fluence_std": float(np.std(fluences)),
            "pulse_energy": float(np.mean(energies)) * 1e9,
            "pulse_energy_std": float(np.std(energies)) * 1e9,
            "mean_excitation": float(
                fl.mean_excitation(fluence, self._pump_nm, cfg.sample["cross_section_cm2"])
            ),
            "transmission": float(transmission),
            "exposure": exposure,
            "retaken": retaken,
            "saturated": saturated,
            "peak_counts": float(np.max(raw)),
            "integrated_emission": float(np.sum(rate)),
            "peak_wavelength": sp.peak_wavelength(wavelengths, rate),
            "fwhm": sp.fwhm_nm(wavelengths, rate),
            "spectrum": rate,
        }

    def _spectrum(self, exposure: float) -> tuple[np.ndarray, float, bool, bool]:
        """Averaged raw spectrum, retaken shorter while it saturates; dark frames as needed."""
        spectrometer, v = self.station["spectrometer"], self.values
        full_scale = spectrometer.max_counts
        retaken = False
        for _ in range(MAX_RETAKES + 1):
            self._ensure_dark(exposure)
            raw = self._average(exposure)
            peak = float(np.max(raw))
            if peak < v["saturation_level"] * full_scale or exposure <= self._min_exposure:
                return raw, exposure, retaken, peak >= v["saturation_level"] * full_scale
            dark = float(np.median(self._dark.get(exposure, np.zeros(1))))
            shrink = 0.5 * (v["saturation_level"] * full_scale - dark) / max(peak - dark, 1.0)
            exposure = max(self._min_exposure, exposure * min(shrink, 0.5))
            retaken = True
            log.info("spectrum saturated; retaking at %.3g s", exposure)
        return raw, exposure, retaken, True

    def _average(self, exposure: float) -> np.ndarray:
        spectrometer = self.station["spectrometer"]
        spectrometer.set_exposure(exposure)
        total = None
        for _ in range(self.values["averages"]):
            self._ctx.check_abort()
            frame = spectrometer.acquire()
            total = frame if total is None else total + frame
        return total / self.values["averages"]

    def _ensure_dark(self, exposure: float) -> None:
        if not self.values["background"] or exposure in self._dark:
            return
        shutter = self.station.beam_shutter
        was_open = shutter.shutter_open
        shutter.close_shutter()
        self._dark[exposure] = self._average(exposure)
        if was_open:
            shutter.open_shutter()

    @staticmethod
    def _data_keys(npix: int) -> dict[str, dict[str, Any]]:
        scalar = {
            "fluence": ("float64", "uJ/cm^2", "pump fluence measured at this point"),
            "fluence_target": ("float64", "uJ/cm^2", "fluence asked for"),
            "fluence_std": ("float64", "uJ/cm^2", "shot-to-shot standard deviation"),
            "pulse_energy": ("float64", "nJ", "mean pulse energy at the sample"),
            "pulse_energy_std": ("float64", "nJ", "shot-to-shot standard deviation"),
            "mean_excitation": ("float64", "", "<N>, excitons per QS at the beam centre"),
            "transmission": ("float64", "", "nominal attenuator transmission"),
            "exposure": ("float64", "s", "spectrometer exposure per spectrum"),
            "retaken": ("bool", "", "retaken at a shorter exposure after saturating"),
            "saturated": ("bool", "", "still saturated at the shortest exposure"),
            "peak_counts": ("float64", "counts", "highest raw pixel value"),
            "integrated_emission": ("float64", "counts/s", "background-free sum over pixels"),
            "peak_wavelength": ("float64", "nm", "wavelength of the emission maximum"),
            "fwhm": ("float64", "nm", "full width at half maximum of the dominant line"),
        }
        keys = {name: data_key((), *spec) for name, spec in scalar.items()}
        keys["spectrum"] = data_key(
            (npix,), "float64", "counts/s", "background-subtracted spectrum per pixel"
        )
        return keys
