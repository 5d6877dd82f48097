"""Power-dependent amplified spontaneous emission (ASE) series.

For each fluence, lowest first, one pumped spectrum (:mod:`qslab.procedures.spectra`: the
attenuator moves with the beam blocked, the fluence stored is the one measured, saturated
spectra are retaken shorter and marked); the analysis fits the ASE threshold, the XX-X
splitting and the line narrowing over the whole series.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis import spectra as sp
from qslab.analysis.ase import analyse_ase
from qslab.engine.documents import data_key
from qslab.errors import ValidationError
from qslab.procedures.parameters import Parameter
from qslab.procedures.spectra import SPECTRUM_PARAMETERS, SpectralSeries


class ASESeries(SpectralSeries):
    name = "ase"
    title = "Power-dependent ASE series"
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
        *SPECTRUM_PARAMETERS,
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
        super().validate()
        v = self.values
        field = "parameters.fluences" if v["fluences"] else "parameters.fluence_stop"
        if not v["fluences"] and v["fluence_stop"] <= v["fluence_start"]:
            raise ValidationError(
                "parameters.fluence_stop",
                f"{v['fluence_stop']} uJ/cm^2 must be above fluence_start ({v['fluence_start']})",
            )
        self.check_fluences(field, self.fluence_targets())

    # -- acquisition ---------------------------------------------------------------------------
    def run(self, ctx) -> None:
        st = self.station
        wavelengths = self.start_spectra(ctx)
        self._pump_nm = st["laser"].wavelength_nm
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
        for index, target in enumerate(targets):
            if not self.check_reference(ctx, targets[0], index):
                break
            ctx.progress(index, len(targets), f"{target:.3g} uJ/cm^2")
            pulses = self.pulses_per_point()
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

    def _measure(self, target: float) -> dict[str, Any]:
        """One fluence: the pumped spectrum, its <N>, area, peak and width."""
        point = self.pumped_point(target)
        rate, wavelengths = point["spectrum"], self._wavelengths
        cross_section = self.station.config.sample["cross_section_cm2"]
        return {
            **point,
            "mean_excitation": float(
                fl.mean_excitation(point["fluence"], self._pump_nm, cross_section)
            ),
            "integrated_emission": float(np.sum(rate)),
            "peak_wavelength": sp.peak_wavelength(wavelengths, rate),
            "fwhm": sp.fwhm_nm(wavelengths, rate),
        }

    @classmethod
    def _data_keys(cls, npix: int) -> dict[str, dict[str, Any]]:
        scalar = {
            "mean_excitation": ("float64", "", "<N>, excitons per QS at the beam centre"),
            "integrated_emission": ("float64", "counts/s", "background-free sum over pixels"),
            "peak_wavelength": ("float64", "nm", "wavelength of the emission maximum"),
            "fwhm": ("float64", "nm", "full width at half maximum of the dominant line"),
        }
        keys = cls.point_keys(npix)
        keys.update({name: data_key((), *spec) for name, spec in scalar.items()})
        return keys
