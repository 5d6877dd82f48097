"""Spot size by knife edge: a razor blade on the sample stage, stepped across the pump.

The blade sits in the sample plane (the sample is out of the beam) with the energy meter behind
it; at each stage position the meter reads the pulse energy that passes the blade, and
qslab/analysis/knife_edge.py fits the erfc edge for the spot's 1/e^2 radius. The attenuator
stays at a low ``transmission`` (the meter needs little light) and no fluence reaches a sample,
so the run books no dose. To use the result, name the file in the station:
``[beam] spot_run = "runs/<file>.h5"``; later runs then take their spot size from it.

A meter that suddenly reads dark may mean the blade has reached the beam or the pump is gone;
the stage then goes back to where the meter read the most light, and if it is dark there too
the point fails as a lost pump (:class:`PumpLost`, which suspenders can pause on).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.knife_edge import (
    SPOT_RADIUS_KEY,
    WIDTH_10_90_PER_RADIUS,
    KnifeEdgeFit,
    fit_knife_edge,
)
from qslab.engine.documents import data_key
from qslab.errors import PumpLost, ValidationError
from qslab.procedures.base import PUMP_LOST_FRACTION, Procedure
from qslab.procedures.parameters import Parameter

AXES = ("x", "y")


class KnifeEdgeScan(Procedure):
    name = "knife_edge"
    title = "Spot size by knife edge"
    roles = ("laser", "attenuator", "energy_meter", "stage")
    parameters = (
        Parameter("edge_start_mm", "float", -0.2, "mm", "first stage position along the axis"),
        Parameter("edge_stop_mm", "float", 0.2, "mm", "last stage position along the axis"),
        Parameter("points", "int", 41, "", "stage positions, evenly spaced", 8, 10000),
        Parameter(
            "axis",
            "str",
            "x",
            "",
            "stage axis the blade clips along (the other stays where the stage stands)",
            choices=AXES,
        ),
        Parameter(
            "transmission",
            "float",
            0.01,
            "",
            "attenuator setting during the scan: the meter behind the blade needs little light",
            1e-9,
            1.0,
        ),
        Parameter("energy_samples", "int", 20, "", "energy meter readings per position", 2, 100000),
    )

    def validate(self) -> None:
        v = self.values
        start, stop = v["edge_start_mm"], v["edge_stop_mm"]
        if not start < stop:
            raise ValidationError(
                "parameters.edge_stop_mm", f"{stop:g} mm must be above edge_start_mm ({start:g})"
            )
        travel = self.station.config.roles["stage"].options.get("travel_mm")
        if travel is None:
            return
        low, high = travel[AXES.index(v["axis"])]
        for field, value in (("edge_start_mm", start), ("edge_stop_mm", stop)):
            if not low <= value <= high:
                raise ValidationError(
                    f"parameters.{field}",
                    f"{value:g} mm is outside the stage's {v['axis']} travel {low:g}..{high:g} mm "
                    "(station.stage.travel_mm)",
                )

    def positions(self) -> np.ndarray:
        v = self.values
        return np.linspace(v["edge_start_mm"], v["edge_stop_mm"], v["points"])

    def run(self, ctx) -> None:
        self.prepare_pump()
        ctx.descriptor(
            data_keys={
                "position_mm": data_key((), "float64", "mm", "stage position along the axis"),
                "pulse_energy": data_key((), "float64", "nJ", "mean energy passing the blade"),
                "pulse_energy_err": data_key((), "float64", "nJ", "standard error of the mean"),
            },
            constants={},
            plot={"signal": "pulse_energy", "axes": ["position_mm"]},
        )
        self._other = self.station["stage"].position_mm  # the axis not scanned stays here
        positions = self.positions()
        for index, place in enumerate(positions):
            ctx.progress(index, positions.size, f"{self.values['axis']} = {place:.4f} mm")
            # no sample in the beam: no fluence on it, no dose booked
            if ctx.point(index, lambda p=place: self._measure(ctx, p), 0.0, 0.0) is None:
                break
        ctx.progress(len(ctx.taken), positions.size, "fitting")
        columns = ("position_mm", "pulse_energy", "pulse_energy_err")
        ctx.results(self._results(fit_knife_edge(*(ctx.column(c) for c in columns))))

    def _results(self, fit: KnifeEdgeFit) -> dict[str, dict[str, Any]]:
        definition = self.station.config.beam["spot_definition"]
        return {
            SPOT_RADIUS_KEY: {
                "value": fit.radius_um,
                "error": fit.radius_err_um,
                "units": "um",
                "method": "erfc fit of the knife-edge scan",
            },
            "spot_size_um": {
                "value": fl.spot_size_um(fit.radius_um, definition),
                "error": fl.spot_size_um(fit.radius_err_um, definition),
                "units": "um",
                "method": definition,
            },
            "edge_centre_mm": {
                "value": fit.centre_mm,
                "error": fit.centre_err_mm,
                "units": "mm",
                "method": f"stage {self.values['axis']} where the edge crosses the beam centre",
            },
            "width_10_90_um": {
                "value": fit.width_10_90_um,
                "error": fit.width_10_90_err_um,
                "units": "um",
                "method": f"read off the data; a Gaussian gives {WIDTH_10_90_PER_RADIUS:.2f} x "
                "the 1/e^2 radius",
            },
            "reduced_chi2": {"value": fit.reduced_chi2, "units": "", "method": "erfc fit"},
        }

    # -- one position ----------------------------------------------------------------------
    def _go(self, ctx, place: float) -> float:
        """The stage to ``place`` along the axis; the position it reports there."""
        x, y = self._other
        target = (place, y) if self.values["axis"] == "x" else (x, place)
        reached = self.station.move_sample(*target)
        if ctx.spots is not None:  # the point columns say where the stage stood
            ctx.spots.track(reached)
        return float(reached[AXES.index(self.values["axis"])])

    def _read(self) -> np.ndarray:
        """Pulse energies (nJ) passing the blade, with the beam open only while reading."""
        station = self.station
        shutter = station.beam_shutter
        shutter.close_shutter()
        station["attenuator"].set_transmission(self.values["transmission"])
        shutter.open_shutter()
        try:
            return station["energy_meter"].read_energies(self.values["energy_samples"]) * 1e9
        finally:
            shutter.close_shutter()

    def _measure(self, ctx, place: float) -> dict[str, float]:
        position = self._go(ctx, place)
        energies = self._read()
        mean = float(np.mean(energies))
        self._check_pump(ctx, mean, position)
        return {
            "position_mm": position,
            "pulse_energy": mean,
            "pulse_energy_err": float(np.std(energies, ddof=1) / np.sqrt(energies.size)),
        }

    def _check_pump(self, ctx, mean: float, position: float) -> None:
        """At the point where the meter first falls dark, look again where it read the most."""
        if not ctx.taken:
            return
        brightest = max(ctx.taken, key=lambda d: d["pulse_energy"])
        dark = PUMP_LOST_FRACTION * brightest["pulse_energy"]
        if mean >= dark or ctx.taken[-1]["pulse_energy"] < dark:
            return
        there = self._go(ctx, brightest["position_mm"])
        again = float(np.mean(self._read()))
        self._go(ctx, position)
        if again < dark:
            raise PumpLost(
                f"the energy meter reads {again:.3g} nJ back at {there:g} mm where it read "
                f"{brightest['pulse_energy']:.3g} nJ: is the laser off or interlocked, or the "
                "beam blocked?"
            )
