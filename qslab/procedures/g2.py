"""g2 photon correlation under pulsed excitation, at one or several pump fluences.

At each fluence (lowest first) the beam is set, the pulse energy measured, and the TCSPC
counter streams time tags until g2(0) is known to ``target_error`` or ``acquisition_s`` has
passed. Tags go to a Photon-HDF5 file beside the run's file as they arrive (never all held in
memory) and through the streaming correlator; the running g2(0) is published with the
progress documents. QY_XX/QY_X comes from the extrapolation of g2(0) to <N> -> 0 over the
fluences (PHYSICS.md section 3); a gated run says so in every result.
"""

from __future__ import annotations

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.g2 import (
    auger_lifetime_ns,
    background_corrected,
    extrapolate_to_zero,
    g2_of,
)
from qslab.engine.documents import data_key
from qslab.errors import ValidationError
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter
from qslab.tcspc.correlate import StreamingCorrelator

MIN_BIN_PS = 100


class G2Series(Procedure):
    name = "g2"
    title = "g2 photon correlation (HBT) over pump fluences"
    roles = ("laser", "attenuator", "energy_meter", "tcspc")
    parameters = (
        Parameter("fluences", "floats", [0.2, 0.4, 0.8], "uJ/cm^2", "pump fluences, lowest first"),
        Parameter("acquisition_s", "float", 20.0, "s", "longest acquisition per fluence", 0.01),
        Parameter("target_error", "float", 0.02, "", "stop once g2(0) is known this well", 0.0),
        Parameter("periods", "int", 5, "", "side peaks on each side (K)", 1, 100),
        Parameter("gate_ns", "float", 0.0, "ns", "drop photons earlier than this after the pulse"),
        Parameter("channels", "floats", [1, 2], "", "the two detector channels"),
        Parameter("energy_samples", "int", 10, "", "energy meter readings per fluence", 1),
        Parameter(
            "dark_s",
            "float",
            1.0,
            "s",
            "dark count measurement (shutter closed) for the background correction; 0: none",
            0.0,
        ),
    )

    def validate(self) -> None:
        v = self.values
        channels = v["channels"]
        if len(channels) != 2 or channels[0] == channels[1] or any(c % 1 for c in channels):
            raise ValidationError(
                "parameters.channels",
                f"give two different detector channel numbers, not {channels}",
            )
        if v["gate_ns"] < 0:
            raise ValidationError("parameters.gate_ns", "a time gate is >= 0 ns")
        limit = self.station.config.limits["max_fluence_uJ_cm2"]
        if min(v["fluences"]) <= 0 or max(v["fluences"]) > limit:
            raise ValidationError(
                "parameters.fluences",
                f"fluences must lie in (0, {limit:g}] uJ/cm^2 (station.limits.max_fluence_uJ_cm2)",
            )

    def run(self, ctx) -> None:
        st, v = self.station, self.values
        cfg = st.config
        laser, tcspc = st["laser"], st["tcspc"]
        self.prepare_pump()
        a, b = (int(c) for c in v["channels"])
        tcspc.configure((a, b), {})
        pump_nm = laser.wavelength_nm
        periods = v["periods"]
        full = float(
            fl.fluence_uj_cm2(
                cfg.calibration["full_pulse_energy_nJ"] * 1e-9,
                cfg.w0_cm,
                cfg.beam["fluence_definition"],
            )
        )
        ctx.descriptor(
            data_keys={
                "fluence": data_key((), "float64", "uJ/cm^2", "pump fluence measured"),
                "pulse_energy": data_key((), "float64", "nJ", "mean pulse energy at the sample"),
                "transmission": data_key((), "float64", "", "nominal attenuator transmission"),
                "mean_excitation": data_key((), "float64", "", "<N> per QS at the beam centre"),
                "g2_zero": data_key((), "float64", "", "g2(0) from pulse-index pairs"),
                "g2_zero_error": data_key((), "float64", "", "1-sigma Poisson error"),
                "g2_zero_corrected": data_key((), "float64", "", "g2(0) less the dark counts"),
                "g2_zero_corrected_error": data_key((), "float64", "", "1-sigma error"),
                "rho": data_key((), "float64", "", "signal fraction S/(S+B), both detectors"),
                "acquisition": data_key((), "float64", "s", "time tags taken"),
                "count_rate": data_key((), "float64", "counts/s", "both detectors together"),
                "photons_a": data_key((), "int64", "counts", f"photons on channel {a}"),
                "photons_b": data_key((), "int64", "counts", f"photons on channel {b}"),
                "pulse_pairs": data_key((2 * periods + 1,), "int64", "pairs", "k = -K..K"),
            },
            constants={
                "lag": {"value": np.arange(-periods, periods + 1), "units": "", "description": "k"},
                "gate": {"value": v["gate_ns"], "units": "ns", "description": "time gate"},
            },
            plot={"signal": "g2_zero", "axes": ["mean_excitation"]},
        )
        self._dark = self._dark_rates(tcspc, (a, b))
        self._photon_file = ctx.side_file(".photons.h5")
        self._photon_writer = None
        self._pump_nm = pump_nm
        self._full = full
        fluences = sorted(v["fluences"])
        rate = laser.repetition_rate_hz
        try:
            for index, target in enumerate(fluences):
                measure = lambda i=index, t=target: self._measure(ctx, i, t)  # noqa: E731
                if ctx.point(index, measure, target, rate * v["acquisition_s"]) is None:
                    break
        finally:
            if self._photon_writer is not None:
                self._photon_writer.close()
        usable = [d for d in ctx.taken if np.isfinite(d["g2_zero_corrected"])]
        ctx.results(
            self._analysis(
                [d["mean_excitation"] for d in usable],
                [d["g2_zero_corrected"] for d in usable],
                [d["g2_zero_corrected_error"] for d in usable],
            )
        )

    def _measure(self, ctx, index: int, target: float) -> dict:
        """One fluence: beam set with the shutter closed, pulse energies, then time tags."""
        st, v, cfg = self.station, self.values, self.station.config
        shutter = st.beam_shutter
        channels = tuple(int(c) for c in v["channels"])
        calibration = cfg.fluence_calibration
        shutter.close_shutter()
        wanted = target / self._full
        transmission = st["attenuator"].set_transmission(
            calibration.setting_for(wanted) if calibration else wanted
        )
        shutter.open_shutter()
        try:
            energies = self.read_pulse_energies(transmission)
            fluence = float(
                np.mean(fl.fluence_uj_cm2(energies, cfg.w0_cm, cfg.beam["fluence_definition"]))
            )
            result, seconds = self._acquire(ctx, st["tcspc"], channels, index, fluence)
        finally:
            shutter.close_shutter()
        n = float(fl.mean_excitation(fluence, self._pump_nm, cfg.sample["cross_section_cm2"]))
        g2 = g2_of(result)
        rho = _signal_fraction(result.photons, seconds, self._dark)
        corrected = background_corrected(g2, rho) if np.isfinite(g2["value"]) else g2
        return {
            "fluence": fluence,
            "pulse_energy": float(np.mean(energies)) * 1e9,
            "transmission": float(transmission),
            "mean_excitation": n,
            "g2_zero": g2["value"],
            "g2_zero_error": g2["error"],
            "g2_zero_corrected": corrected["value"],
            "g2_zero_corrected_error": corrected["error"],
            "rho": rho,
            "acquisition": seconds,
            "count_rate": sum(result.photons) / seconds if seconds > 0 else 0.0,
            "photons_a": result.photons[0],
            "photons_b": result.photons[1],
            "pulse_pairs": result.pulse_pairs,
        }

    def _dark_rates(self, tcspc, channels) -> tuple[float, float]:
        """Counts per second on each detector with the beam blocked (dark counts, stray
        light): the background that pulls g2(0) towards 1."""
        if self.values["dark_s"] <= 0:
            return (0.0, 0.0)
        self.station.beam_shutter.close_shutter()
        tcspc.start(self.values["dark_s"])
        counts = np.zeros(2)
        try:
            while (chunk := tcspc.read_chunk()) is not None:
                counts += [np.count_nonzero(chunk.channel == c) for c in channels]
        finally:
            tcspc.stop()
        return tuple(counts / self.values["dark_s"])

    def _writer_for(self, ctx, tcspc):
        """The Photon-HDF5 file beside the run's, opened once the counter knows its period."""
        if self._photon_writer is None and self._photon_file is not None:
            from qslab.tcspc.photon_hdf5 import PhotonHDF5Writer

            self._photon_writer = PhotonHDF5Writer(
                self._photon_file,
                mode=tcspc.mode,
                resolution_ps=tcspc.resolution_ps,
                sync_period_ps=tcspc.sync_period_ps,
                description=f"qslab g2 run {ctx.run_uid}",
                excitation_wavelength_nm=self._pump_nm,
                sample_name=self.station.config.sample.get("name", ""),
            )
        return self._photon_writer

    def _acquire(self, ctx, tcspc, channels, index, fluence):
        v = self.values
        tcspc.start(v["acquisition_s"])
        writer = self._writer_for(ctx, tcspc)
        correlator = StreamingCorrelator(
            channels[0],
            channels[1],
            bin_ps=max(tcspc.resolution_ps, MIN_BIN_PS),
            periods=v["periods"],
            period_ps=tcspc.sync_period_ps,
            gate_ps=int(round(v["gate_ns"] * 1e3)),
        )
        try:
            while (chunk := tcspc.read_chunk()) is not None:
                ctx.check_abort()
                if not len(chunk):
                    continue
                correlator.feed(chunk)
                if writer is not None:
                    writer.append(chunk)
                running = correlator.result()
                g2 = g2_of(running)
                ctx.progress(
                    index,
                    len(v["fluences"]),
                    f"{fluence:.3g} uJ/cm^2: g2(0) = {g2['value']:.3f} +- {g2['error']:.3f}",
                    g2_zero=g2,
                    histogram=running.histogram,
                    edges_ps=running.edges_ps,
                    pulse_pairs=running.pulse_pairs,
                    count_rates=tcspc.count_rates(),
                )
                if np.isfinite(g2["error"]) and g2["error"] <= v["target_error"]:
                    break
        finally:
            tcspc.stop()
        result = correlator.result()
        return result, result.duration_ps * 1e-12

    def _analysis(self, n_values, g2_values, g2_errors) -> dict:
        sample = self.station.config.sample
        gate = self.values["gate_ns"]
        out: dict = {}
        if len(n_values) >= 2:
            ratio = extrapolate_to_zero(n_values, g2_values, g2_errors)
            if self.values["dark_s"] > 0:
                ratio["method"] += "; g2(0) corrected for the measured dark counts"
            if gate > 0:
                ratio["gate_ns"] = gate
                ratio["method"] = (
                    f"{ratio.get('method', '')}, gated at {gate:g} ns (not QY_XX/QY_X)"
                )
            out["qy_xx_ratio"] = ratio
            qy_xx = ratio["value"] * sample["qy_x"]
            if gate == 0 and 0 < qy_xx < 1:
                out["auger_lifetime"] = auger_lifetime_ns(
                    sample["tau_x_ns"],
                    qy_xx,
                    sample["qy_x"],
                    tau_x_error_ns=0.0,
                    qy_xx_error=ratio["error"] * sample["qy_x"],
                    qy_x_error=0.0,
                )
        if g2_values:
            first = int(np.argmin(n_values))
            out["g2_zero_lowest_n"] = {
                "value": g2_values[first],
                "error": g2_errors[first],
                "units": "",
                "method": f"at <N> = {n_values[first]:.3g}",
            }
        return out


def _signal_fraction(photons: tuple[int, int], seconds: float, dark: tuple[float, float]) -> float:
    """rho = sqrt(rho_A rho_B), rho = S / (S + B) on each detector, from its rate and its dark
    rate; 1 when nothing is known of the background."""
    if seconds <= 0:
        return 1.0
    fractions = [
        min(max(1.0 - d / (p / seconds), 1e-3), 1.0) if p else 1.0
        for p, d in zip(photons, dark, strict=True)
    ]
    return float(np.sqrt(fractions[0] * fractions[1]))
