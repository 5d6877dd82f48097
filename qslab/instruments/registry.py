"""Driver registry: a name such as ``thorlabs.fw102c`` maps to its role, options, real
connection and simulator.

Third-party packages add drivers through the ``qslab.drivers`` entry point group; each entry
point names a :class:`DriverSpec` object.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from qslab.errors import ValidationError

ENTRY_POINT_GROUP = "qslab.drivers"

OPTION_TYPES = {
    "float": (int, float),
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
}


@dataclass(frozen=True)
class Option:
    """One driver option a station file may set in the role's table."""

    name: str
    kind: str
    default: Any
    doc: str
    units: str = ""

    def check(self, field_name: str, value: Any) -> Any:
        allowed = OPTION_TYPES[self.kind]
        if isinstance(value, bool) and bool not in allowed:
            raise ValidationError(field_name, f"expected {self.kind}, got {value!r}")
        if not isinstance(value, allowed):
            raise ValidationError(
                field_name, f"expected {self.kind}, got {type(value).__name__} {value!r}"
            )
        return float(value) if self.kind == "float" else value


RESOLUTION_NM = Option(
    "resolution_nm",
    "float",
    0.0,
    "instrument line width (FWHM, e.g. of a lamp line) for deconvolving lasing linewidths; "
    "0: unknown",
    "nm",
)
"""The option every spectrometer driver takes: its resolution is the station's to say."""


@dataclass(frozen=True)
class DriverSpec:
    """How to reach one instrument model.

    ``connect(target, options)`` opens the real driver: ``target`` is a VISA resource string
    (or list of them) for hardware, or the simulator object made by
    ``simulator(bench, options)``; the same driver code runs in both cases.
    """

    name: str
    role: str
    description: str
    connect: Callable[[Any, dict[str, Any]], Any]
    simulator: Callable[[Any, dict[str, Any]], Any]
    options: tuple[Option, ...] = ()
    requires: str | None = None
    manual: str = ""
    resource_is_file: bool = False
    """The resource names a file (relative paths are taken from the station file's folder)."""
    nominal_wavelength_nm: Callable[[dict[str, Any]], float] | None = None
    """Lasers: the wavelength at the sample that the options promise, so that a procedure can
    check its pump against the station's limits before anything is connected."""
    check: Callable[[dict[str, Any]], object] | None = None
    """Checks between options (raising ValidationError naming the option), run when the station
    is loaded, so that a real instrument's bad options fail before anything is opened; what it
    returns is not used (a driver may reuse its own option parser here)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def check_options(self, table: str, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and every given option type-checked; unknown names refused."""
        known = {o.name: o for o in self.options}
        for key in given:
            if key not in known:
                names = ", ".join(sorted(known)) or "none"
                raise ValidationError(
                    f"{table}.{key}", f"unknown option for driver {self.name} (known: {names})"
                )
        options = {
            name: opt.check(f"{table}.{name}", given[name]) if name in given else opt.default
            for name, opt in known.items()
        }
        if self.check is not None:
            self.check(options)
        return options


BUILTIN_MODULES = (
    "qslab.instruments.thorlabs.fw102c",
    "qslab.instruments.thorlabs.pm100",
    "qslab.instruments.coherent.chameleon",
    "qslab.instruments.oceaninsight.seabreeze",
    "qslab.instruments.spectraphysics.maitai",
    "qslab.instruments.quantel.bigsky",
    "qslab.instruments.lightconversion.pharos",
    "qslab.instruments.thorlabs.sc10",
    "qslab.instruments.thorlabs.ell14",
    "qslab.instruments.ophir.vega",
    "qslab.instruments.andor.shamrock",
    "qslab.instruments.princeton.spectrapro",
    "qslab.instruments.picoquant.snapi",
    "qslab.instruments.swabian.timetagger",
    "qslab.instruments.newport.esp301",
    "qslab.tcspc.replay",
)

_registry: dict[str, DriverSpec] | None = None


def drivers() -> dict[str, DriverSpec]:
    """Every known driver, built-in ones first, then those of installed plug-ins."""
    global _registry
    if _registry is None:
        found: dict[str, DriverSpec] = {}
        for module in BUILTIN_MODULES:
            spec = importlib.import_module(module).DRIVER
            found[spec.name] = spec
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            spec = ep.load()
            found.setdefault(spec.name, spec)
        _registry = found
    return _registry


def driver(name: str, field_name: str = "driver") -> DriverSpec:
    known = drivers()
    if name not in known:
        raise ValidationError(
            field_name, f"unknown driver {name!r}; known drivers: {', '.join(sorted(known))}"
        )
    return known[name]
