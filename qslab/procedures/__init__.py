"""Measurement procedures, by the name used on the command line and in recipes."""

from __future__ import annotations

from qslab.errors import ValidationError
from qslab.procedures.ase import ASESeries
from qslab.procedures.base import Procedure
from qslab.procedures.calibrate import FluenceCalibrationScan
from qslab.procedures.g2 import G2Series
from qslab.procedures.knife_edge import KnifeEdgeScan
from qslab.procedures.lasing import LasingScan

PROCEDURES: dict[str, type[Procedure]] = {
    cls.name: cls
    for cls in (ASESeries, FluenceCalibrationScan, G2Series, KnifeEdgeScan, LasingScan)
}


def procedure_class(name: str) -> type[Procedure]:
    if name not in PROCEDURES:
        raise ValidationError(
            "procedure", f"unknown procedure {name!r}; known: {', '.join(PROCEDURES)}"
        )
    return PROCEDURES[name]
