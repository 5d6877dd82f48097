"""Fluence calibration: pulse energy at every attenuator setting, lowest first.

The scan stops before a setting whose predicted fluence (from the last measured point) would
pass the station's limit, so the sample plane never sees more than the limit; the full pulse
energy is then extrapolated. To use the result, name the file in the station:
``[calibration] run = "runs/<file>.h5"``; later runs choose attenuator settings from the
measured transmissions and embed the calibration.
"""

from __future__ import annotations

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.calibration import fit_calibration
from qslab.engine.documents import data_key
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter


class FluenceCalibrationScan(Procedure):
    name = "calibrate"
    title = "Fluence calibration of the attenuator"
    roles = ("laser", "attenuator", "energy_meter")
    parameters = (
        Parameter("energy_samples", "int", 20, "", "energy meter readings per setting", 2, 100000),
        Parameter(
            "points",
            "int",
            0,
            "",
            "settings to measure: 0 = every setting of a discrete attenuator, else this many "
            "log-spaced transmissions",
            0,
            10000,
        ),
        Parameter(
            "sample_in_beam",
            "bool",
            True,
            "",
            "keep below the station's fluence limit (false only with the sample out of the beam)",
        ),
        Parameter(
            "od_tolerance",
            "float",
            0.1,
            "",
            "fractional OD tolerance of the filters, weighting an extrapolated full energy",
            0.0,
            1.0,
        ),
    )

    def settings_to_measure(self, available: np.ndarray) -> list[float]:
        available = np.unique(np.asarray(available, dtype=float))
        n = self.values["points"]
        if n == 0 or n >= available.size:
            return list(available)
        wanted = np.geomspace(available.min(), available.max(), n)
        picks = {float(available[np.argmin(np.abs(np.log(available / w)))]) for w in wanted}
        return sorted(picks)

    def run(self, ctx) -> None:
        st, v = self.station, self.values
        attenuator = st["attenuator"]
        cfg = st.config
        self.prepare_pump()
        ctx.descriptor(
            data_keys={
                "nominal_transmission": data_key((), "float64", "", "attenuator setting"),
                "pulse_energy": data_key((), "float64", "nJ", "mean pulse energy at the sample"),
                "pulse_energy_err": data_key((), "float64", "nJ", "standard error of the mean"),
                "pulse_energy_std": data_key((), "float64", "nJ", "shot-to-shot deviation"),
                "fluence": data_key((), "float64", "uJ/cm^2", "fluence from the mean energy"),
            },
            constants={},
            plot={"signal": "pulse_energy", "axes": ["nominal_transmission"]},
        )
        limit = cfg.limits["max_fluence_uJ_cm2"]
        definition = cfg.beam["fluence_definition"]
        settings = self.settings_to_measure(attenuator.transmissions())
        stopped = ""
        for index, target in enumerate(settings):
            ctx.progress(index, len(settings), f"T = {target:.3g}")
            predicted = float(
                fl.fluence_uj_cm2(
                    cfg.calibration["full_pulse_energy_nJ"] * 1e-9 * target, cfg.w0_cm, definition
                )
            )
            if ctx.taken:
                last = ctx.taken[-1]
                predicted = float(
                    fl.fluence_uj_cm2(
                        last["pulse_energy"] * 1e-9 * target / last["nominal_transmission"],
                        cfg.w0_cm,
                        definition,
                    )
                )
                if v["sample_in_beam"] and predicted > limit:
                    stopped = (
                        f"stopped before T = {target:.3g}: predicted {predicted:.3g} uJ/cm^2 "
                        f"exceeds the station limit {limit:g}"
                    )
                    break
            on_sample = predicted if v["sample_in_beam"] else 0.0
            taken = ctx.point(
                index, lambda t=target: self._measure(t), on_sample, v["energy_samples"]
            )
            if taken is None:
                break
        ctx.progress(len(ctx.taken), len(settings), "fitting")
        nominal, energy, error = (
            ctx.column(name)
            for name in ("nominal_transmission", "pulse_energy", "pulse_energy_err")
        )
        calibration = fit_calibration(nominal, energy, error, v["od_tolerance"])
        full = calibration.full_pulse_energy_nj
        full_err = calibration.full_pulse_energy_err_nj
        method = "measured at T = 1" if np.isclose(nominal, 1.0).any() else "extrapolated"
        full_fluence = float(fl.fluence_uj_cm2(full * 1e-9, cfg.w0_cm, definition))
        results = {
            "full_pulse_energy": {
                "value": full,
                "error": full_err,
                "units": "nJ",
                "method": method,
            },
            "full_fluence": {
                "value": full_fluence,
                "error": full_fluence * full_err / full,
                "units": "uJ/cm^2",
                "method": f"{definition} fluence, {method}",
            },
            "od_scale": {
                "value": calibration.od_scale,
                "error": calibration.od_scale_err,
                "units": "",
                "method": "fit ln E = ln E_full + s ln T_nominal",
            },
        }
        if stopped:
            results["full_pulse_energy"]["note"] = (
                f"{stopped}; for an exact full energy, calibrate with the meter at the sample "
                "plane and the sample out of the beam (--set sample_in_beam=false)"
            )
        ctx.results(results)

    def _measure(self, target: float) -> dict[str, float]:
        st, cfg = self.station, self.station.config
        shutter = st.beam_shutter
        shutter.close_shutter()
        nominal = st["attenuator"].set_transmission(target)
        shutter.open_shutter()
        try:
            energies = self.read_pulse_energies(nominal) * 1e9
        finally:
            shutter.close_shutter()
        mean = float(np.mean(energies))
        definition = cfg.beam["fluence_definition"]
        return {
            "nominal_transmission": float(nominal),
            "pulse_energy": mean,
            "pulse_energy_err": float(np.std(energies, ddof=1) / np.sqrt(energies.size)),
            "pulse_energy_std": float(np.std(energies, ddof=1)),
            "fluence": float(fl.fluence_uj_cm2(mean * 1e-9, cfg.w0_cm, definition)),
        }
