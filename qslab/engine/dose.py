"""Cumulative pump dose per sample spot, so that a film is not burnt over a night of runs.

Dose is peak fluence times the pulses that reached the spot (J/cm^2). The ledger lives in the
run folder (``dose-ledger.json``), keyed by sample name and spot, so successive runs on one
spot add up; it is rewritten atomically after every point. Before a point the engine asks
whether the point's planned dose still fits under ``station.limits.max_dose_J_cm2``: the limit
stops a scan *before* it is exceeded.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LEDGER_NAME = "dose-ledger.json"


def spot_key(sample: dict[str, str]) -> str:
    return f"{sample.get('name', '')}|{sample.get('spot', '')}"


class DoseLedger:
    def __init__(self, path: Path | None, spot: str, limit_j_cm2: float | None = None) -> None:
        self.path = path
        self.spot = spot
        self.limit = limit_j_cm2
        self._doses = self._load()

    def _load(self) -> dict[str, float]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return {str(k): float(v) for k, v in data.items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # a damaged ledger must not stop the lab; it is rebuilt from here on
            log.warning("%s unreadable (%s); dose counted from zero", self.path, exc)
            return {}

    @property
    def doses(self) -> dict[str, float]:
        """J/cm^2 per spot key, every spot the folder's runs have pumped."""
        return dict(self._doses)

    @property
    def total(self) -> float:
        """J/cm^2 received by this spot so far, over every run in the folder."""
        return self._doses.get(self.spot, 0.0)

    def allows(self, dose_j_cm2: float) -> bool:
        return self.limit is None or self.total + dose_j_cm2 <= self.limit

    def add(self, dose_j_cm2: float) -> None:
        self._doses[self.spot] = self.total + max(float(dose_j_cm2), 0.0)
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self._doses, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
