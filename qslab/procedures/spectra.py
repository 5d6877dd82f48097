"""What the spectral series (ASE, lasing thresholds) share: one pumped spectrum per point.

A point sets the attenuator with the beam blocked (a wheel passes through lower densities on
its way), opens the beam, reads the pulse energies and the spectra, and blocks the beam again.
The fluence of a point is the one measured then, not the one asked for. A spectrum that
reaches the saturation level is retaken at a shorter exposure (with a dark background at that
exposure) and marked; the shorter exposure is kept for the brighter points that follow, until
a pause (which may have cleared the cause) returns to the exposure asked for.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.engine.documents import data_key
from qslab.errors import QslabError, ValidationError
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter

log = logging.getLogger(__name__)

MAX_RETAKES = 8

SPECTRUM_PARAMETERS = (
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
    Parameter(
        "reference_every",
        "int",
        0,
        "",
        "re-measure the first point's fluence before the scan and every this many points, "
        "to catch a degrading spot (0: never)",
        0,
        100000,
    ),
    Parameter(
        "reference_tolerance",
        "float",
        0.15,
        "",
        "largest change of the reference point's emission per unit fluence",
        0.0,
    ),
    Parameter(
        "reference_on_drift",
        "str",
        "stop",
        "",
        "when the reference has drifted: stop (the run ends 'stopped'; a recipe goes on to "
        "its next spot), pause (until someone resumes it, e.g. on a fresh spot) or move (the "
        "sample stage takes the run to a fresh spot and it goes on)",
        choices=("pause", "stop", "move"),
    ),
)


def spectrum_parameters(**defaults: Any) -> tuple[Parameter, ...]:
    """:data:`SPECTRUM_PARAMETERS` with other defaults (a dim cavity wants longer exposures)."""
    return tuple(
        dataclasses.replace(p, default=defaults.get(p.name, p.default)) for p in SPECTRUM_PARAMETERS
    )


class SpectralSeries(Procedure):
    """A procedure taking one pumped spectrum per point; subclasses choose the points and the
    analysis, and add their own quantities to :meth:`pumped_point`'s record."""

    roles = ("laser", "attenuator", "energy_meter", "spectrometer")

    def validate(self) -> None:
        if self.values["reference_on_drift"] == "move" and "stage" not in self.station.config.roles:
            raise ValidationError(
                "parameters.reference_on_drift",
                "'move' needs a sample stage: add a [stage] table to the station file, "
                "or choose stop or pause",
            )

    def full_fluence(self) -> float:
        """Peak fluence (uJ/cm^2) at full transmission, from the station's calibration."""
        cfg = self.station.config
        energy = cfg.calibration["full_pulse_energy_nJ"] * 1e-9
        return float(fl.fluence_uj_cm2(energy, cfg.w0_cm, cfg.beam["fluence_definition"]))

    def check_fluences(self, field: str, targets: list[float]) -> None:
        """Positive, within the station's limit and within what it delivers; else name ``field``."""
        limit = self.station.config.limits["max_fluence_uJ_cm2"]
        if min(targets) <= 0:
            raise ValidationError(field, f"fluences must be positive, got {min(targets)} uJ/cm^2")
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

    # -- acquisition ---------------------------------------------------------------------------
    def start_spectra(self, ctx) -> np.ndarray:
        """Pump prepared, exposure checked against the spectrometer; the wavelength axis."""
        spectrometer = self.station["spectrometer"]
        self._ctx = ctx
        self._dark: dict[float, np.ndarray] = {}
        self._reference_at: int | None = None
        self.prepare_pump()
        self._wavelengths = np.asarray(spectrometer.wavelengths_nm, dtype=float)
        lo, hi = spectrometer.exposure_limits_s
        self._min_exposure = lo
        self._exposure = self.values["exposure_s"]
        if not lo <= self._exposure <= hi:
            raise ValidationError(
                "parameters.exposure_s",
                f"{self._exposure} s is outside this spectrometer's range {lo:g}..{hi:g} s",
            )
        return self._wavelengths

    def check_reference(self, ctx, fluence: float, upcoming: int) -> bool:
        """Before the scan and every ``reference_every`` points, the point at ``fluence`` (the
        first of the plan) again, compared with the run's first reference by the engine (in a
        resumed run, with the first one taken after resuming). ``upcoming`` is the index of
        the next point; none is measured while a resumed file's points are replayed. False
        when the plan must end here (drift with ``reference_on_drift = "stop"``, or the dose
        limit)."""
        v = self.values
        every, kept = v["reference_every"], len(ctx.taken)
        due = every and not kept % every and self._reference_at != kept
        if not due or upcoming in ctx.completed:
            return True
        self._reference_at = kept
        ctx.progress(kept, kept, f"reference point, {fluence:.3g} uJ/cm^2")
        taken = ctx.reference(
            lambda: self._reference_record(fluence),
            fluence,
            self.pulses_per_point(),
            signal="reference_level",
            tolerance=v["reference_tolerance"],
            on_drift=v["reference_on_drift"],
        )
        return taken is not None

    def _reference_record(self, fluence: float) -> dict[str, Any]:
        """The pumped point at ``fluence`` with its emission per (fluence measured)^order, so
        that the pump's own jitter is not taken for a change of the sample. Always at the
        exposure asked for: the shorter one that bright points may have needed would leave a
        faint reference in the noise."""
        kept, self._exposure = self._exposure, self.values["exposure_s"]
        try:
            point = self.pumped_point(fluence)
        finally:
            self._exposure = kept
        level = float(np.sum(point["spectrum"])) / point["fluence"] ** self.excitation_order()
        return {**point, "reference_level": level}

    def excitation_order(self) -> int:
        """Photons absorbed per excitation: 1 here; a two-photon pump makes it 2."""
        return 1

    def pulses_per_point(self) -> float:
        """Pulses that reach the sample during one point, for the dose."""
        v = self.values
        rate = self.station["laser"].repetition_rate_hz
        return v["energy_samples"] + rate * self._exposure * v["averages"]

    def after_pause(self) -> None:
        """A pause may have cleared what made the spectra saturate: start again from the
        exposure asked for."""
        super().after_pause()
        self._exposure = self.values["exposure_s"]

    def pumped_point(self, target: float) -> dict[str, Any]:
        """One fluence: attenuator with the beam blocked, then energies and spectra. The
        record's ``spectrum`` is background-free counts per second."""
        st, cfg = self.station, self.station.config
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
        exposure = self._exposure
        counts = raw - self._dark.get(exposure, 0.0) if self.values["background"] else raw
        return {
            "fluence": float(np.mean(fluences)),
            "fluence_target": float(target),
            "fluence_std": float(np.std(fluences)),
            "pulse_energy": float(np.mean(energies)) * 1e9,
            "pulse_energy_std": float(np.std(energies)) * 1e9,
            "transmission": float(transmission),
            "exposure": exposure,
            "retaken": retaken,
            "saturated": saturated,
            "peak_counts": float(np.max(raw)),
            "spectrum": counts / exposure,
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
    def point_keys(npix: int) -> dict[str, dict[str, Any]]:
        """Data keys of :meth:`pumped_point`'s record."""
        scalar = {
            "fluence": ("float64", "uJ/cm^2", "pump fluence measured at this point"),
            "fluence_target": ("float64", "uJ/cm^2", "fluence asked for"),
            "fluence_std": ("float64", "uJ/cm^2", "shot-to-shot standard deviation"),
            "pulse_energy": ("float64", "nJ", "mean pulse energy at the sample"),
            "pulse_energy_std": ("float64", "nJ", "shot-to-shot standard deviation"),
            "transmission": ("float64", "", "nominal attenuator transmission"),
            "exposure": ("float64", "s", "spectrometer exposure per spectrum"),
            "retaken": ("bool", "", "retaken at a shorter exposure after saturating"),
            "saturated": ("bool", "", "still saturated at the shortest exposure"),
            "peak_counts": ("float64", "counts", "highest raw pixel value"),
            "reference_level": (
                "float64",
                "",
                "reference points only: summed emission (counts/s) per (uJ/cm^2)^order",
            ),
        }
        keys = {name: data_key((), *spec) for name, spec in scalar.items()}
        keys["spectrum"] = data_key(
            (npix,), "float64", "counts/s", "background-subtracted spectrum per pixel"
        )
        return keys
