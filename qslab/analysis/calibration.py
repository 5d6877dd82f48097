"""Fluence calibration: the pulse energy the pump delivers and what each attenuator setting
really transmits at the pump wavelength.

Neutral-density glass is specified at one wavelength; at 400 nm an "OD 1" filter may be OD 1.1.
A calibration run measures the pulse energy at every attenuator setting; this module turns
that into the full (unattenuated) pulse energy, the measured transmission of each setting, and
a one-number summary ``od_scale`` (true OD = od_scale x nominal OD, fitted with its error).
Later runs choose their attenuator settings from the measured transmissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FluenceCalibration:
    full_pulse_energy_nj: float
    full_pulse_energy_err_nj: float
    nominal: np.ndarray
    measured: np.ndarray
    measured_err: np.ndarray
    od_scale: float
    od_scale_err: float

    def setting_for(self, transmission: float) -> float:
        """The nominal transmission to ask the attenuator for, to really get ``transmission``.

        Inside the calibrated range: the measured setting nearest in log; outside it, the
        nominal value that the fitted OD scale maps onto the target.
        """
        lo, hi = self.measured.min(), self.measured.max()
        if lo <= transmission <= hi:
            index = int(np.argmin(np.abs(np.log(self.measured / transmission))))
            return float(self.nominal[index])
        return float(transmission ** (1.0 / self.od_scale))

    def record(self) -> dict[str, Any]:
        """What a run stores under /entry/calibration."""
        return {
            "full_pulse_energy_nJ": {"value": self.full_pulse_energy_nj, "units": "nJ"},
            "full_pulse_energy_err_nJ": {"value": self.full_pulse_energy_err_nj, "units": "nJ"},
            "nominal_transmission": self.nominal.tolist(),
            "measured_transmission": self.measured.tolist(),
            "measured_transmission_err": self.measured_err.tolist(),
            "od_scale": self.od_scale,
            "od_scale_err": self.od_scale_err,
        }


EXTRAPOLATION_OD_SPAN = 0.3
"""An extrapolated full energy uses the settings within this OD of the lightest one measured."""


def fit_calibration(
    nominal, energy_nj, energy_err_nj, od_tolerance: float = 0.1
) -> FluenceCalibration:
    """Full pulse energy, per-setting transmissions and the OD scale from one calibration scan.

    ln E = ln E_full + s ln T_nominal is fitted by weighted least squares: s is the OD scale.
    Where the open setting (T_nominal = 1) was measured, E_full is that measurement. Where a
    fluence limit kept the scan below it, the lightest settings estimate E_full = E / T_nominal,
    each trusted less the denser its filter (a fractional OD ``od_tolerance``, part of the
    error): only measuring at T = 1 removes that uncertainty.
    """
    t = np.asarray(nominal, dtype=float)
    e = np.asarray(energy_nj, dtype=float)
    err = np.asarray(energy_err_nj, dtype=float)
    keep = (t > 0) & (e > 0) & np.isfinite(e)
    if np.count_nonzero(keep) < 2 or np.ptp(np.log(t[keep])) <= 0:
        raise ValueError(
            "a calibration needs pulse energies at two or more attenuator settings with light; "
            "check that the laser emits and the shutter opens"
        )
    t, e, err = t[keep], e[keep], np.maximum(err[keep], 1e-3 * e[keep])
    rel = err / e
    design = np.column_stack([np.ones_like(t), np.log(t)]) / rel[:, None]
    coef, *_ = np.linalg.lstsq(design, np.log(e) / rel, rcond=None)
    residual = design @ coef - np.log(e) / rel
    dof = max(t.size - 2, 1)
    cov = np.linalg.inv(design.T @ design) * max(float(residual @ residual) / dof, 1.0)
    open_setting = np.isclose(t, 1.0)
    if open_setting.any():
        weights = 1 / rel[open_setting] ** 2
        full = float(np.exp(np.sum(weights * np.log(e[open_setting])) / np.sum(weights)))
        full_err = full / float(np.sqrt(np.sum(weights)))
    else:
        od = -np.log10(t)
        light = od <= od.min() + EXTRAPOLATION_OD_SPAN
        spread = np.hypot(rel[light], np.log(10) * od[light] * od_tolerance)
        weights = 1 / spread**2
        log_full = np.sum(weights * (np.log(e[light]) - np.log(t[light]))) / np.sum(weights)
        full = float(np.exp(log_full))
        # the filters' OD errors are not independent draws that average away: keep the
        # lightest filter's tolerance as a floor
        floor = np.log(10) * od[light].min() * od_tolerance
        full_err = full * float(np.hypot(1 / np.sqrt(np.sum(weights)), floor))
    measured = e / full
    measured_err = measured * np.hypot(rel, full_err / full)
    order = np.argsort(t)
    return FluenceCalibration(
        full_pulse_energy_nj=full,
        full_pulse_energy_err_nj=full_err,
        nominal=t[order],
        measured=measured[order],
        measured_err=measured_err[order],
        od_scale=float(coef[1]),
        od_scale_err=float(np.sqrt(cov[1, 1])),
    )
