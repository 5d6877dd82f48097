"""Lasing-threshold scan of a cavity: a coarse pump scan refined where the light-in/light-out
curve bends, stopped a few points above threshold to spare the sample (issue 5).

**Pump regime and units.** The regime (:func:`qslab.analysis.fluence.pump_regime`) follows from
what the station declares, never from a simulator: the laser's wavelength and pulse width and
the sample's emission peak (``[sample] x_peak_nm``). Femtosecond one-photon pumping is quoted
in peak fluence (uJ/cm^2), ns quasi-CW pumping in peak intensity (kW/cm^2, from the laser's
pulse width), two-photon pumping in peak fluence (mJ/cm^2); ``regime`` forces one. Every pump
parameter and result is in the regime's units, and <N> (excitations per QS at the beam centre:
sigma j, or (sigma2 / 2) kappa j^2 / tau for two photons) is stored beside it.

**The scan.** Coarse points are log-spaced in the excitation (pump**order) from
``pump_start``, on the attenuator's own levels. After each point the brightest narrow line is
followed through the spectra taken so far and fitted with the rate-equation model of the
analysis: as soon as the fit finds the bend (a kink that beats a power law, points on both
sides), ``refine_points`` points are added across a coarse step either side of it, and the
scan ends once ``points_above`` coarse points lie above the running threshold, or at
``pump_stop``, which never exceeds the station's fluence limit. ``ctx.point`` books every
point's dose and ends the scan before the spot's dose limit would be passed.

**Per point**: the pumped spectrum (dark-subtracted, saturation handled:
:mod:`qslab.procedures.spectra`), the pump in the regime's units, the fluence, the peak
intensity (ns), <N>, the pulse energy, and the lines found in that spectrum (area, centre,
deconvolved Lorentzian width), brightest first. The final analysis is
:func:`qslab.analysis.lasing.analyse_lasing` over every point.

**Devices.** ``cavity_period_nm`` names the device in the beam (a photonic-crystal period):
it is recorded with the run, and on a simulated bench it selects that cavity; a recipe loop
over it is a device series (``qslab series``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.lasing import (
    INTENSITY_FLOOR,
    PROFILE_NAMES,
    PULSED,
    analyse_lasing,
    measure_modes,
    rate_equation_model,
    spectrum_lines,
)
from qslab.analysis.threshold import fit_s_curve
from qslab.engine.documents import data_key
from qslab.errors import ValidationError
from qslab.procedures.parameters import Parameter
from qslab.procedures.spectra import SpectralSeries, spectrum_parameters
from qslab.sim.cavity import OutsideGainBand

log = logging.getLogger(__name__)

MAX_LINES = 3
"""Lines stored per point, brightest first (NaN where fewer were found)."""
AUTO_SPAN_DECADES = 2.5
"""Decades of excitation below ``pump_stop`` where an automatic ``pump_start`` lies: far
enough to see the spontaneous branch of a cavity whose threshold is near the top of the range."""
MIN_FIT_POINTS = 8
"""Points the running rate-equation fit needs (that of the analysis)."""
DISTINCT_RATIO = 1.02
"""Pumps closer than this ratio count as one level when refining."""


class LasingScan(SpectralSeries):
    name = "lasing"
    title = "Lasing threshold scan of a cavity"
    parameters = (
        Parameter(
            "regime",
            "str",
            "auto",
            "",
            "pump regime and its units; auto: from the laser and the sample's emission",
            choices=("auto", *fl.REGIMES),
        ),
        Parameter(
            "pump_start",
            "float",
            0.0,
            "regime",
            "first coarse pump, in the regime's units (uJ/cm^2, kW/cm^2 or mJ/cm^2); "
            f"0: {AUTO_SPAN_DECADES:g} decades of excitation below pump_stop",
            0.0,
        ),
        Parameter(
            "pump_stop",
            "float",
            0.0,
            "regime",
            "highest pump the scan may reach; 0: the station's fluence limit or full "
            "transmission, whichever is lower",
            0.0,
        ),
        Parameter(
            "points_per_decade",
            "float",
            6.0,
            "",
            "coarse points per decade of excitation (pump**order)",
            1.0,
            100.0,
        ),
        Parameter(
            "refine_points", "int", 4, "", "points added around the bend of the curve", 0, 50
        ),
        Parameter(
            "points_above",
            "int",
            4,
            "",
            "coarse points taken above the running threshold before the scan stops",
            1,
            100,
        ),
        Parameter(
            "pump_profile",
            "str",
            "auto",
            "",
            "rate-equation model: one pump level per mode (flat), summed over a Gaussian spot, "
            "or integrated through the pulse (pulsed: ns, needs the sample's tau_xx_ns); "
            "auto: pulsed in the ns regime, flat otherwise",
            choices=("auto", *PROFILE_NAMES),
        ),
        Parameter(
            "resolution_nm",
            "float",
            -1.0,
            "nm",
            "spectrometer instrument FWHM, deconvolved from line widths; negative: the "
            "station's (spectrometer option resolution_nm, or [bench] resolution_nm when "
            "simulated)",
            -1.0,
            100.0,
        ),
        Parameter(
            "cavity_period_nm",
            "float",
            0.0,
            "nm",
            "period of the device in the beam, recorded with the run (selects the cavity on a "
            "simulated bench); 0: the station's",
            0.0,
            10000.0,
        ),
        Parameter("bootstrap", "int", 100, "", "bootstrap resamples of the final analysis", 2),
        *spectrum_parameters(exposure_s=0.5, averages=1),
    )

    # -- checks before anything moves ----------------------------------------------------------
    def validate(self) -> None:
        super().validate()
        v = self.values
        if v["pump_start"] and v["pump_stop"] and v["pump_stop"] <= v["pump_start"]:
            raise ValidationError(
                "parameters.pump_stop",
                f"{v['pump_stop']:g} must be above pump_start ({v['pump_start']:g})",
            )
        if v["cavity_period_nm"]:
            self._place_device(v["cavity_period_nm"])
        declared = self.declared_regime()
        if declared is not None:  # the pump range in its units, against the station's limits
            self._regime = declared
            self._pump_range()

    def _place_device(self, period_nm: float) -> None:
        """A simulated bench gets the cavity of this period; a real station only records it
        (the operator or a stage put that device in the beam)."""
        bench = self.station.bench
        if bench is None or bench.cavity is None:
            return
        design = bench.cavity.design
        if not hasattr(design, "period_nm"):
            raise ValidationError(
                "parameters.cavity_period_nm",
                f"the simulated {design.kind} cavity has no period; leave it at 0",
            )
        placed = dataclasses.replace(design, period_nm=float(period_nm))
        try:
            bench.cavity = type(bench.cavity)(placed, bench.film)
        except OutsideGainBand as exc:
            raise ValidationError(
                "parameters.cavity_period_nm", f"{period_nm:g} nm {exc}"
            ) from None
        bench.cavity_design = placed

    def excitation_order(self) -> int:
        return self._regime.order

    def resolution_nm(self) -> float:
        """The spectrometer's instrument FWHM: the parameter, else the station's."""
        if self.values["resolution_nm"] >= 0:
            return self.values["resolution_nm"]
        cfg = self.station.config
        role = cfg.roles["spectrometer"]
        if role.options.get("resolution_nm", 0.0) > 0:
            return float(role.options["resolution_nm"])
        if role.simulated:
            return float(cfg.bench["resolution_nm"])
        log.warning("no spectrometer resolution known: line widths are not deconvolved")
        return 0.0

    def pump_profile(self) -> tuple[str, float | None]:
        """(profile, pulse FWHM over the gain lifetime) of the rate-equation model: ``auto``
        integrates the rate equations through the pulse in the ns regime, where the gain
        lifetime (the sample's ``tau_xx_ns``) is comparable to the pulse."""
        profile = self.values["pump_profile"]
        if profile == "auto":
            profile = PULSED if self._regime.name == "ns" else "flat"
        if profile != PULSED:
            return profile, None
        tau_ns = self.station.config.sample.get("tau_xx_ns")
        if not (isinstance(tau_ns, int | float) and tau_ns > 0):
            raise ValidationError(
                "station.sample.tau_xx_ns",
                "the pulsed rate-equation model needs the gain (XX) lifetime in ns; give it "
                "or set pump_profile to flat",
            )
        return profile, self._pulse_s / (tau_ns * 1e-9)

    def regime(self) -> fl.PumpRegime:
        """The pump regime of the connected laser on this station's sample."""
        laser = self.station["laser"]
        return self._regime_for(laser.wavelength_nm, laser.pulse_width_s)

    def declared_regime(self) -> fl.PumpRegime | None:
        """The regime the station file promises (the laser driver's options), for checks
        before anything is connected; None when the driver cannot tell without the laser."""
        laser = self.station.config.roles["laser"]
        wavelength = laser.spec.nominal_wavelength_nm
        if wavelength is None or "pulse_width_s" not in laser.options:
            return None
        return self._regime_for(wavelength(laser.options), laser.options["pulse_width_s"])

    def _regime_for(self, wavelength_nm: float, pulse_width_s: float) -> fl.PumpRegime:
        chosen = self.values["regime"]
        if chosen != "auto":
            return fl.regime_named(chosen, pulse_width_s)
        emission = self.station.config.sample["x_peak_nm"]
        return fl.pump_regime(wavelength_nm, pulse_width_s, emission)

    def _pump_range(self) -> tuple[float, float]:
        """(start, stop) in the regime's units, checked against what the station may do."""
        v, regime = self.values, self._regime
        ceiling = min(self.station.config.limits["max_fluence_uJ_cm2"], self.full_fluence())
        stop = v["pump_stop"] or float(regime.from_peak_fluence(ceiling))
        start = v["pump_start"] or stop * 10 ** (-AUTO_SPAN_DECADES / regime.order)
        if stop <= start:
            raise ValidationError(
                "parameters.pump_start",
                f"{start:g} {regime.units} must be below pump_stop ({stop:g} {regime.units})",
            )
        field = "parameters.pump_stop" if v["pump_stop"] else "parameters.pump_start"
        self.check_fluences(field, [float(regime.to_peak_fluence(stop))])
        return start, stop

    def pump_levels(self, stop: float) -> np.ndarray:
        """Pumps the attenuator can set (nominal transmissions), up to ``stop``: targets are
        snapped to them, so that no two points of a scan ask for the same setting."""
        transmissions = np.asarray(self.station["attenuator"].transmissions(), dtype=float)
        levels = np.unique(self._regime.from_peak_fluence(self.full_fluence() * transmissions))
        below = levels[levels <= stop * DISTINCT_RATIO]
        return below if below.size else levels[:1]

    def snapped(self, pumps, levels: np.ndarray) -> list[float]:
        """Each pump moved to the nearest level in log, duplicates dropped, order kept."""
        out: list[float] = []
        for pump in pumps:
            level = float(levels[np.argmin(np.abs(np.log(levels / pump)))])
            if level not in out:
                out.append(level)
        return out

    def coarse_pumps(self, start: float, stop: float) -> list[float]:
        """Log-spaced in the excitation from ``start`` up to ``stop``, on the attenuator's
        levels."""
        order, per_decade = self._regime.order, self.values["points_per_decade"]
        steps = math.floor(order * math.log10(stop / start) * per_decade + 1e-9)
        pumps = start * 10 ** (np.arange(steps + 1) / per_decade / order)
        levels = self.pump_levels(stop)
        return sorted(self.snapped([*pumps, stop], levels))

    # -- acquisition ---------------------------------------------------------------------------
    def run(self, ctx) -> None:
        st, v = self.station, self.values
        laser = st["laser"]
        self._regime = regime = self.regime()
        self._pump_nm, self._pulse_s = laser.wavelength_nm, laser.pulse_width_s
        self._profile = self.pump_profile()
        self._resolution = self.resolution_nm()
        start, stop = self._pump_range()  # checked before the pump is prepared
        wavelengths = self.start_spectra(ctx)
        self._levels = self.pump_levels(stop)
        coarse = self.coarse_pumps(start, stop)
        ctx.descriptor(
            data_keys=self._data_keys(wavelengths.size),
            constants=self._constants(wavelengths),
            plot={"signal": "mode_intensity", "axes": ["pump"]},
        )
        index = self._scan(ctx, coarse)
        ctx.progress(index, index, "analysing")
        if len(ctx.taken) < 2:
            return
        results = analyse_lasing(
            ctx.column("pump"),
            regime.units,
            wavelengths,
            ctx.column("spectrum"),
            self._resolution,
            pump_profile=self._profile[0],
            intensity_units="counts/s",
            n_bootstrap=v["bootstrap"],
            order=regime.order,
            pulse_per_lifetime=self._profile[1],
        )
        ctx.results({**results, **self._threshold_in_other_units(results["lasing_threshold"])})

    def _scan(self, ctx, coarse: list[float]) -> int:
        """Coarse points upward; once a rate-equation fit finds the threshold, points around
        it, then coarse points until ``points_above`` lie above it. Returns the points taken."""
        v = self.values
        refined = not v["refine_points"]
        index = 0

        def take(pump: float, label: str) -> bool:
            nonlocal index
            first = float(self._regime.to_peak_fluence(coarse[0]))
            if not self.check_reference(ctx, first, index):
                return False
            fluence = float(self._regime.to_peak_fluence(pump))
            ctx.progress(index, len(coarse), f"{label} {pump:.3g} {self._regime.units}")
            data = ctx.point(index, lambda: self._measure(pump), fluence, self.pulses_per_point())
            index += 1
            return data is not None

        for k, pump in enumerate(coarse):
            if not take(pump, "coarse"):
                return index
            threshold = self._running_threshold(ctx)
            if threshold is None:
                continue
            self._report_threshold(ctx, index, len(coarse), threshold)
            if not refined:
                refined = True
                for extra in self._refinement(ctx, threshold):
                    if not take(extra, "refine"):
                        return index
                threshold = self._running_threshold(ctx) or threshold
                self._report_threshold(ctx, index, len(coarse), threshold)
            above = sum(p > threshold for p in coarse[: k + 1])
            if above >= v["points_above"]:
                log.info("%d coarse points above the threshold estimate: scan ends", above)
                break
        return index

    def _report_threshold(self, ctx, done: int, total: int, threshold: float) -> None:
        """The running threshold, for live plots (a progress document: never stored)."""
        units = self._regime.units
        ctx.progress(
            done,
            total,
            f"running threshold {threshold:.3g} {units}",
            running_threshold={"value": threshold, "units": units},
        )

    def _refinement(self, ctx, threshold: float) -> list[float]:
        """``refine_points`` pumps across one coarse step either side of the threshold, on
        levels not taken yet."""
        step = 10 ** (1 / self.values["points_per_decade"] / self._regime.order)
        n = self.values["refine_points"]
        candidates = np.geomspace(threshold / step, threshold * step, n)
        taken = set(ctx.column("pump_target").tolist())
        return [p for p in self.snapped(candidates, self._levels) if p not in taken]

    def _running_threshold(self, ctx) -> float | None:
        """The threshold a rate-equation fit finds for the brightest line at the highest pump,
        followed through every spectrum so far; None until the curve has bent clearly enough
        for the fit (the analysis's own conditions: a kink, points on both sides)."""
        lines = [d for d in ctx.taken if np.isfinite(d["modes_wavelength"][0])]
        if len(ctx.taken) < MIN_FIT_POINTS or not lines:
            return None
        top = max(lines, key=lambda d: d["pump"])
        pump = ctx.column("pump")
        (line,) = measure_modes(
            self._wavelengths,
            ctx.column("spectrum"),
            [top["modes_wavelength"][0]],
            self._resolution,
        )
        good = np.isfinite(line.intensity) & (line.intensity > 0)
        if good.sum() < MIN_FIT_POINTS:
            return None
        y = line.intensity[good]
        err = np.hypot(line.intensity_err[good], INTENSITY_FLOOR * y)
        order = self._regime.order
        model = rate_equation_model(*self._profile)
        try:
            fit = fit_s_curve(model, pump[good] ** order, y, err, 0)
        except ValueError:
            return None
        return fit.value ** (1 / order)

    def _measure(self, pump: float) -> dict[str, Any]:
        """One point: the pumped spectrum, the pump in every unit, the lines found."""
        regime = self._regime
        point = self.pumped_point(float(regime.to_peak_fluence(pump)))
        fluence = point["fluence"]
        lines = spectrum_lines(self._wavelengths, point["spectrum"], self._resolution)
        found = {
            "intensity": [line.intensity[0] for line in lines[:MAX_LINES]],
            "wavelength": [line.wavelength_nm[0] for line in lines[:MAX_LINES]],
            "linewidth": [line.fwhm_nm[0] for line in lines[:MAX_LINES]],
        }
        padded = {
            k: np.pad(np.asarray(v, float), (0, MAX_LINES - len(v)), constant_values=np.nan)
            for k, v in found.items()
        }
        data = {
            **point,
            "pump": float(regime.from_peak_fluence(fluence)),
            "pump_target": float(pump),
            "mean_excitation": float(self._excitation(fluence)),
            "modes_found": len(lines),
            "mode_intensity": float(padded["intensity"][0]) if lines else 0.0,
            **{f"modes_{k}": v for k, v in padded.items()},
        }
        if regime.name == "ns":
            data["peak_intensity"] = data["pump"]
        return data

    def _excitation(self, fluence_uj_cm2):
        """<N> per QS at the beam centre at this peak fluence."""
        sample = self.station.config.sample
        if self._regime.order == 2:
            return fl.two_photon_excitation(
                fluence_uj_cm2, self._pump_nm, sample["two_photon_cross_section_gm"], self._pulse_s
            )
        return fl.mean_excitation(fluence_uj_cm2, self._pump_nm, sample["cross_section_cm2"])

    def _threshold_in_other_units(self, threshold: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The threshold as peak fluence and as <N>: comparable across regimes and samples."""
        value, error = threshold["value"], threshold["error"]
        fluence = float(self._regime.to_peak_fluence(value))
        relative = error / value if value else math.nan
        n = float(self._excitation(fluence))
        method = threshold["method"]
        return {
            "lasing_threshold_fluence": {
                "value": fluence,
                "error": fluence * relative,
                "units": "uJ/cm^2",
                "method": method,
            },
            "lasing_threshold_N": {
                "value": n,
                "error": n * relative * self._regime.order,
                "units": "",
                "method": f"{method}, <N> at the beam centre",
            },
        }

    def _constants(self, wavelengths: np.ndarray) -> dict[str, dict[str, Any]]:
        regime = self._regime
        return {
            "wavelength": {"value": wavelengths, "units": "nm", "description": "pixel axis"},
            "pump_wavelength": {"value": self._pump_nm, "units": "nm", "description": "at sample"},
            "pump_pulse_width": {"value": self._pulse_s, "units": "s", "description": "FWHM"},
            "pump_regime": {
                "value": regime.name,
                "units": "",
                "description": f"pump axis: {regime.quantity} in {regime.units}",
            },
            "resolution": {
                "value": self._resolution,
                "units": "nm",
                "description": "spectrometer instrument FWHM deconvolved from line widths",
            },
        }

    def _data_keys(self, npix: int) -> dict[str, dict[str, Any]]:
        units = self._regime.units
        scalar = {
            "pump": ("float64", units, f"pump {self._regime.quantity} measured at this point"),
            "pump_target": ("float64", units, "pump asked for"),
            "mean_excitation": ("float64", "", "<N>, excitations per QS at the beam centre"),
            "modes_found": ("int64", "", "narrow lines found in this spectrum"),
            "mode_intensity": ("float64", "counts/s*nm", "area of the brightest narrow line"),
        }
        if self._regime.name == "ns":
            scalar["peak_intensity"] = ("float64", "kW/cm^2", "peak intensity at beam centre")
        keys = self.point_keys(npix)
        keys.update({name: data_key((), *spec) for name, spec in scalar.items()})
        lines = {
            "modes_intensity": ("counts/s*nm", "line areas, brightest first (NaN: none)"),
            "modes_wavelength": ("nm", "line centres, brightest first"),
            "modes_linewidth": ("nm", "Lorentzian FWHM, instrument deconvolved"),
        }
        for name, (unit, doc) in lines.items():
            keys[name] = data_key((MAX_LINES,), "float64", unit, doc)
        return keys

    def parameter_record(self) -> dict[str, dict[str, Any]]:
        """Pump parameters carry the units of the regime the run uses: the laser is connected
        when the engine records the parameters."""
        record = super().parameter_record()
        if "laser" in self.station.devices:
            units = self.regime().units
            for name in ("pump_start", "pump_stop"):
                record[name]["units"] = units
        return record
