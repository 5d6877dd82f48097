"""A station: instrument roles bound to drivers, plus beam, calibration, limits and sample.

Loaded from TOML (DESIGN.md "Station file"); ``sim`` is built in. A user file may start from a
built-in one with ``base = "sim"`` and override whole keys of any table. Everything is checked
before any instrument is touched: :func:`load_station` only reads and validates,
:class:`Station` builds simulators (which send nothing) and :meth:`Station.connect` is the first
step that talks to hardware.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.analysis.calibration import FluenceCalibration, fit_calibration
from qslab.analysis.knife_edge import SPOT_RADIUS_KEY
from qslab.checks import choice, flag, number, only
from qslab.engine.suspenders import SuspenderConfig, suspender_config
from qslab.errors import QslabError, ValidationError
from qslab.instruments.guard import GuardedDevice, SafetyLatch
from qslab.instruments.registry import DriverSpec, driver
from qslab.sim.bench import Detector, KnifeEdge, LaserState, VirtualBench
from qslab.sim.cavity import CAVITIES, Cavity, CavityDesign, OutsideGainBand, design
from qslab.sim.faults import FaultScript, ScriptedFault, scripted_faults
from qslab.sim.sample import QSFilm

if TYPE_CHECKING:
    from qslab.storage.reader import RunRecord

log = logging.getLogger(__name__)

ROLES = (
    "laser",
    "shutter",
    "attenuator",
    "energy_meter",
    "spectrometer",
    "monochromator",
    "tcspc",
    "stage",
)
SAFE_ORDER = ("shutter", "laser", *ROLES[2:])
BEAM_ROLES = SAFE_ORDER[:2]
"""What keeps the pump off the sample: made safe first, and at once on request."""
TABLES = (*ROLES, "beam", "calibration", "limits", "sample", "bench", "suspenders", "faults")
TOP_KEYS = ("name", "description", "base")
SIM = "sim"
SAFE_ATTEMPTS = 2

SAMPLE_TEXT_KEYS = ("name", "batch", "notes", "spot")
SAMPLE_PLACE_KEYS = ("spots", "fresh_spot_step_mm")
"""Where the spots are, for a station with a sample stage (qslab/engine/spots.py)."""
SAMPLE_PHYSICS_KEYS = tuple(k for k in QSFilm.field_names() if k != "name")


def builtin_stations() -> dict[str, str]:
    """Built-in station names and their one-line descriptions."""
    out = {}
    for entry in sorted(resources.files("qslab.stations").iterdir(), key=lambda e: e.name[:-5]):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            out[entry.name[:-5]] = data.get("description", "")
    return out


@dataclass(frozen=True)
class RoleConfig:
    role: str
    spec: DriverSpec
    resource: str | list[str]
    options: dict[str, Any]

    @property
    def simulated(self) -> bool:
        return self.resource == SIM


@dataclass(frozen=True)
class StationConfig:
    name: str
    source: str
    roles: dict[str, RoleConfig]
    beam: dict[str, Any]
    calibration: dict[str, Any]
    limits: dict[str, Any]
    sample: dict[str, Any]
    bench: dict[str, Any]
    description: str = ""
    suspenders: SuspenderConfig = SuspenderConfig()
    faults: tuple[ScriptedFault, ...] = ()

    @property
    def fluence_calibration(self) -> FluenceCalibration | None:
        """The measured attenuator table, when the station names a calibration run."""
        c = self.calibration
        if "measured_transmission" not in c:
            return None
        return FluenceCalibration(
            full_pulse_energy_nj=c["full_pulse_energy_nJ"],
            full_pulse_energy_err_nj=c["full_pulse_energy_err_nJ"]["value"],
            nominal=np.asarray(c["nominal_transmission"]),
            measured=np.asarray(c["measured_transmission"]),
            measured_err=np.asarray(c["measured_transmission_err"]),
            od_scale=c["od_scale"],
            od_scale_err=c["od_scale_err"],
        )

    @property
    def w0_cm(self) -> float:
        return fl.w0_cm(self.beam["spot_size_um"], self.beam["spot_definition"])

    def film(self) -> QSFilm:
        return film_of(self.sample)


def film_of(sample: dict[str, Any]) -> QSFilm:
    """The simulated film a validated [sample] table describes."""
    physics = {k: v for k, v in sample.items() if k in SAMPLE_PHYSICS_KEYS}
    return QSFilm(name=sample.get("name", QSFilm.name), **physics)


# -- loading -------------------------------------------------------------------------------
def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(origin, f"not valid TOML: {exc}") from None


def _file_text(path: Path) -> str:
    """A station file's text: TOML is UTF-8 whatever the locale says."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            str(path), f"not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ValidationError(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _builtin_text(name: str) -> str | None:
    entry = resources.files("qslab.stations").joinpath(f"{name}.toml")
    return entry.read_text() if entry.is_file() else None


def read_station_tables(spec: str | Path, _seen: tuple[str, ...] = ()) -> tuple[dict, str]:
    """Raw tables of a built-in station (by name) or a TOML file, with its ``base`` (a built-in
    station, itself possibly based on another) merged underneath."""
    text = _builtin_text(str(spec)) if not str(spec).endswith(".toml") else None
    if text is not None:
        data, source, where = _read_toml(text, f"station {spec}"), f"builtin:{spec}", str(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            known = ", ".join(builtin_stations())
            raise ValidationError(
                "--station", f"{spec!r} is neither a built-in station ({known}) nor a readable file"
            )
        data, source, where = _read_toml(_file_text(path), str(path)), str(path), path.name
    base = data.pop("base", None)
    if base is None:
        return data, source
    if not isinstance(base, str) or _builtin_text(base) is None or base in _seen:
        raise ValidationError(f"{where}: base", f"{base!r} is not a built-in station")
    merged, _ = read_station_tables(base, (*_seen, str(spec)))
    for key, value in data.items():
        inherited = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(inherited, dict)
            and _same_driver(value, inherited)
        ):
            merged[key] = {**inherited, **value}
        else:
            merged[key] = value
    return merged, source


def _same_driver(table: dict[str, Any], inherited: dict[str, Any]) -> bool:
    """A role table naming another driver replaces the inherited one: the base's options
    belong to the base's driver."""
    return table.get("driver", inherited.get("driver")) == inherited.get("driver")


def load_station(spec: str | Path = SIM, seed: int | None = None) -> StationConfig:
    """Read and completely validate a station; nothing is opened."""
    data, source = read_station_tables(spec)
    for key, value in data.items():
        if key in TOP_KEYS:
            continue
        if key not in TABLES:
            raise ValidationError(
                f"station.{key}", f"unknown table; a station has {', '.join(TABLES)}"
            )
        if not isinstance(value, dict) and key != "faults":
            raise ValidationError(f"station.{key}", "must be a table ([name] section)")
    folder = Path(source).parent
    roles = {role: _role(role, data[role], folder) for role in ROLES if role in data}
    bench = _bench(data.get("bench", {}))
    if seed is not None:
        bench["seed"] = seed
    sample = _sample(data.get("sample", {}))
    if "stage" in roles:
        _check_spots_in_travel(sample["spots"], roles["stage"].options.get("travel_mm"))
        _check_named(sample["spots"], sample["spot"], "station.sample.spot")
    if bench["cavity"] is not None:
        _check_cavity_lases(bench["cavity"], sample)
    return StationConfig(
        name=str(data.get("name", Path(str(spec)).stem)),
        description=str(data.get("description", "")),
        source=source,
        roles=roles,
        beam=_beam(data.get("beam", {}), folder),
        calibration=_calibration(data.get("calibration", {}), folder),
        limits=_limits(data.get("limits", {})),
        sample=sample,
        bench=bench,
        suspenders=suspender_config(data.get("suspenders", {})),
        faults=scripted_faults(data.get("faults", []), roles),
    )


def _role(role: str, table: dict[str, Any], folder: Path) -> RoleConfig:
    where = f"station.{role}"
    if "driver" not in table:
        raise ValidationError(f"{where}.driver", "missing; name a driver (see `qslab drivers`)")
    spec = driver(str(table["driver"]), f"{where}.driver")
    if spec.role != role:
        raise ValidationError(
            f"{where}.driver", f"{spec.name} is a {spec.role} driver, not a {role} driver"
        )
    resource = table.get("resource")
    valid = isinstance(resource, str) and resource.strip()
    valid = valid or (
        isinstance(resource, list)
        and resource
        and all(isinstance(r, str) and r.strip() for r in resource)
    )
    if not valid:
        raise ValidationError(f"{where}.resource", 'missing; give a VISA resource string or "sim"')
    if spec.resource_is_file and resource != SIM and not Path(resource).is_absolute():
        resource = str(folder / resource)
    options = {k: v for k, v in table.items() if k not in ("driver", "resource")}
    return RoleConfig(role, spec, resource, spec.check_options(where, options))


def _beam(table: dict, folder: Path) -> dict[str, Any]:
    """The declared spot, or the one a knife-edge run measured, named with ``spot_run``.

    A run wins over a declared ``spot_size_um`` (a station based on ``sim`` declares one); its
    radius is expressed in this station's ``spot_definition``, and its path and uid are kept
    so that every later run's file says where its spot size came from.
    """
    where = "station.beam"
    only(table, ("spot_size_um", "spot_definition", "fluence_definition", "spot_run"), where)
    out: dict[str, Any] = {
        "spot_definition": choice(
            table, "spot_definition", where, fl.SPOT_DEFINITIONS, "1/e2_radius"
        ),
        "fluence_definition": choice(
            table, "fluence_definition", where, fl.FLUENCE_DEFINITIONS, "peak"
        ),
    }
    if "spot_run" not in table:
        return {"spot_size_um": number(table, "spot_size_um", where, None), **out}
    radius, path, uid = _spot_run(table["spot_run"], folder, f"{where}.spot_run")
    definition = out["spot_definition"]
    return {
        "spot_size_um": fl.spot_size_um(radius["value"], definition),
        **out,
        "spot_size_err_um": fl.spot_size_um(radius["error"], definition),
        "spot_run": str(path),
        "spot_run_uid": uid,
    }


def _calibration(table: dict, folder: Path) -> dict[str, Any]:
    """Declared values, or those measured by a calibration run named with ``run``.

    A run wins over a declared ``full_pulse_energy_nJ`` (a station based on ``sim`` declares
    one), and brings the measured transmission of every attenuator setting with it.
    """
    where = "station.calibration"
    only(table, ("sample_per_meter", "full_pulse_energy_nJ", "run"), where)
    out: dict[str, Any] = {"sample_per_meter": number(table, "sample_per_meter", where, 1.0)}
    if "run" not in table:
        out["full_pulse_energy_nJ"] = number(table, "full_pulse_energy_nJ", where, None)
        return out
    calibration, path, uid = _calibration_run(table["run"], folder, f"{where}.run")
    out.update(calibration.record())
    out["full_pulse_energy_nJ"] = calibration.full_pulse_energy_nj
    out["run"] = str(path)
    out["run_uid"] = uid
    return out


def _completed_run(name: Any, folder: Path, where: str, procedure: str) -> RunRecord:
    """The record of the completed ``procedure`` run a station file names at ``where``."""
    from qslab.storage.reader import read_run  # the station module must not need h5py to load

    if not isinstance(name, str) or not name:
        raise ValidationError(where, f"give the path of a {procedure} run file")
    path = Path(name) if Path(name).is_absolute() else folder / name
    try:
        record = read_run(path)
    except QslabError as exc:
        raise ValidationError(where, str(exc)) from None
    if record.procedure != procedure or record.status != "completed":
        raise ValidationError(
            where,
            f"{path} is a {record.status} {record.procedure!r} run, "
            f"not a completed {procedure} run",
        )
    return record


def _calibration_run(name: Any, folder: Path, where: str) -> tuple[FluenceCalibration, Path, str]:
    record = _completed_run(name, folder, where, "calibrate")
    columns = ("nominal_transmission", "pulse_energy", "pulse_energy_err")
    tolerance = record.parameters.get("od_tolerance", {}).get("value", 0.05)
    calibration = fit_calibration(*(record.data[c].read() for c in columns), tolerance)
    return calibration, record.path, record.uid


def _spot_run(name: Any, folder: Path, where: str) -> tuple[dict[str, Any], Path, str]:
    """The 1/e^2 radius (value, error in um) a completed knife_edge run measured."""
    record = _completed_run(name, folder, where, "knife_edge")
    radius = record.analysis.get(SPOT_RADIUS_KEY, {})
    value, error = radius.get("value"), radius.get("error")
    if not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in (value, error)):
        raise ValidationError(where, f"{record.path} has no {SPOT_RADIUS_KEY} in its analysis")
    return {"value": float(value), "error": float(error)}, record.path, record.uid


def _limits(table: dict) -> dict[str, Any]:
    where = "station.limits"
    only(table, ("max_fluence_uJ_cm2", "max_dose_J_cm2"), where)
    out = {"max_fluence_uJ_cm2": number(table, "max_fluence_uJ_cm2", where, None)}
    if "max_dose_J_cm2" in table:
        out["max_dose_J_cm2"] = number(table, "max_dose_J_cm2", where, None)
    return out


def _sample(table: dict) -> dict[str, Any]:
    where = "station.sample"
    only(table, SAMPLE_TEXT_KEYS + SAMPLE_PLACE_KEYS + SAMPLE_PHYSICS_KEYS, where)
    out: dict[str, Any] = {k: str(table.get(k, "")) for k in SAMPLE_TEXT_KEYS}
    out["spots"] = _spots(table.get("spots", {}), f"{where}.spots")
    out["fresh_spot_step_mm"] = number(
        table, "fresh_spot_step_mm", where, 0.0, positive=False, minimum=0
    )
    defaults = QSFilm()
    for key in SAMPLE_PHYSICS_KEYS:
        out[key] = number(table, key, where, getattr(defaults, key))
    for key in ("qy_x", "qy_xx_ratio"):
        if out[key] > 1.0:
            raise ValidationError(f"{where}.{key}", f"a quantum yield ratio <= 1, got {out[key]}")
    return out


def _spots(table: Any, where: str) -> dict[str, tuple[float, float]]:
    """Named spots of the sample, label -> (x, y) in mm of the sample stage."""
    if not isinstance(table, dict):
        raise ValidationError(where, "a table of label = [x_mm, y_mm], e.g. { A = [0.0, 0.0] }")
    return {str(label): _xy_mm(place, f"{where}.{label}") for label, place in table.items()}


def _xy_mm(place: Any, where: str) -> tuple[float, float]:
    """A stage position written as [x_mm, y_mm]."""
    numbers = isinstance(place, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in place
    )
    if not numbers or len(place) != 2:
        raise ValidationError(where, f"[x_mm, y_mm], got {place!r}")
    return float(place[0]), float(place[1])


BENCH_KEYS = (
    "realtime",
    "pulse_energy_nJ",
    "energy_jitter",
    "seed",
    "nd_od_error",
    "resolution_nm",
    "cavity",
    "degradation_dose_J_cm2",
    "true_spot_size_um",
    "knife_edge_mm",
    "knife_edge_axis",
)
CAVITY_PREFIX = "cavity_"


def _bench(table: dict) -> dict[str, Any]:
    where = "station.bench"
    kind = table.get("cavity")
    if kind is not None and (not isinstance(kind, str) or kind not in CAVITIES):
        raise ValidationError(f"{where}.cavity", f"{kind!r} is not one of {', '.join(CAVITIES)}")
    cavity_keys = tuple(CAVITY_PREFIX + k for k in CAVITIES[kind].parameters()) if kind else ()
    for key in table:
        if key.startswith(CAVITY_PREFIX) and key not in cavity_keys:
            known = ", ".join(cavity_keys) if kind else 'none without a "cavity" key'
            raise ValidationError(f"{where}.{key}", f"unknown key; cavity keys: {known}")
    only(table, BENCH_KEYS + cavity_keys, where)
    realtime = flag(table, "realtime", where, True)
    seed = table.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationError(f"{where}.seed", f"expected an integer, got {seed!r}")
    resolution = number(table, "resolution_nm", where, 0.0, positive=False, minimum=0)
    return {
        "realtime": realtime,
        "pulse_energy_nJ": number(table, "pulse_energy_nJ", where, 12.0),
        "energy_jitter": number(table, "energy_jitter", where, 0.02, positive=False),
        "nd_od_error": number(table, "nd_od_error", where, 0.0, positive=False),
        "resolution_nm": resolution,
        "degradation_dose_J_cm2": number(table, "degradation_dose_J_cm2", where, math.inf),
        "seed": seed,
        "cavity": _cavity(table, kind, where) if kind else None,
        "true_spot_size_um": (
            number(table, "true_spot_size_um", where, None)
            if "true_spot_size_um" in table
            else None
        ),
        "knife_edge": _knife_edge(table, where),
    }


def _knife_edge(table: dict, where: str) -> KnifeEdge | None:
    """A blade on the sample stage: ``knife_edge_mm`` (where its edge crosses the beam centre,
    stage coordinates) and ``knife_edge_axis`` (the direction it clips along)."""
    if "knife_edge_mm" not in table:
        if "knife_edge_axis" in table:
            raise ValidationError(
                f"{where}.knife_edge_axis", "only with knife_edge_mm (where the blade's edge is)"
            )
        return None
    axis = choice(table, "knife_edge_axis", where, ("x", "y"), "x")
    return KnifeEdge(_xy_mm(table["knife_edge_mm"], f"{where}.knife_edge_mm"), axis)


def _cavity(table: dict, kind: str, where: str) -> CavityDesign:
    """The ``cavity_<parameter>`` keys of a [bench] table as a cavity design of ``kind``."""
    parameters = {}
    for name, default in CAVITIES[kind].parameters().items():
        key = CAVITY_PREFIX + name
        value = number(table, key, where, default)
        if isinstance(default, int) and value != int(value):
            raise ValidationError(f"{where}.{key}", f"expected a whole number, got {value!r}")
        parameters[name] = type(default)(value)
    if parameters["beta"] > 1.0:
        raise ValidationError(f"{where}.{CAVITY_PREFIX}beta", "a fraction <= 1")
    return design(kind, **parameters)


def _check_named(spots: dict[str, tuple[float, float]], label: str, where: str) -> None:
    """A spot label, when the sample names its spots, must be one of them."""
    if spots and label and label not in spots:
        raise ValidationError(
            where, f"{label!r} is not a named spot; station.sample.spots has {', '.join(spots)}"
        )


def _check_spots_in_travel(spots: dict[str, tuple[float, float]], travel: Any) -> None:
    """Every named spot within the stage's travel (when its driver states one)."""
    if travel is None:
        return
    (x_min, x_max), (y_min, y_max) = travel
    for label, (x, y) in spots.items():
        if not (x_min <= x <= x_max and y_min <= y <= y_max):
            raise ValidationError(
                f"station.sample.spots.{label}",
                f"({x:g}, {y:g}) mm is outside the stage's travel, station.stage.travel_mm = "
                f"{[[x_min, x_max], [y_min, y_max]]}",
            )


def _check_cavity_lases(cavity: CavityDesign, sample: dict[str, Any]) -> None:
    """The simulated cavity must have a mode where the sample's film has gain."""
    try:
        Cavity(cavity, film_of(sample))
    except OutsideGainBand as exc:
        key = "period_nm" if hasattr(cavity, "period_nm") else "length_um"
        raise ValidationError(f"station.bench.{CAVITY_PREFIX}{key}", str(exc)) from None


# -- the live station ----------------------------------------------------------------------
@dataclass(frozen=True)
class RoleCheck:
    """What ``qslab check`` found for one role; ``error`` is empty when the role is fine."""

    role: str
    driver: str
    resource: str
    identity: str
    settings: dict[str, Any]
    error: str


@dataclass
class Station:
    """A validated station with its simulators built; devices open on :meth:`connect`."""

    config: StationConfig
    bench: VirtualBench | None = None
    simulators: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, Any] = field(default_factory=dict)
    fault_script: FaultScript | None = None
    latch: SafetyLatch = field(default_factory=SafetyLatch)

    def __post_init__(self) -> None:
        cfg = self.config
        if any(rc.simulated for rc in cfg.roles.values()):
            b = cfg.bench
            true_spot = b["true_spot_size_um"]
            self.bench = VirtualBench(
                film=cfg.film(),
                w0_cm=fl.w0_cm(true_spot, cfg.beam["spot_definition"]) if true_spot else cfg.w0_cm,
                sample_per_meter=cfg.calibration["sample_per_meter"],
                laser=LaserState(
                    pulse_energy_j=b["pulse_energy_nJ"] * 1e-9, energy_jitter=b["energy_jitter"]
                ),
                detector=Detector(resolution_nm=b["resolution_nm"]),
                seed=b["seed"],
                realtime=b["realtime"],
                nd_od_error=b["nd_od_error"],
                cavity_design=b["cavity"],
                degradation_dose_J_cm2=b["degradation_dose_J_cm2"],
                knife_edge=b["knife_edge"],
            )
            for role, rc in cfg.roles.items():
                if rc.simulated:
                    self.simulators[role] = rc.spec.simulator(self.bench, rc.options)
            if cfg.faults:
                self.fault_script = FaultScript(cfg.faults, self.bench, self.simulators)

    def before_point(self, index: int) -> None:
        """Hook run before each point is measured: scripted faults are armed here."""
        if self.fault_script is not None:
            self.fault_script.before_point(index)

    def after_pause(self) -> None:
        """Hook run when a paused run goes on: scripted transient faults are cleared."""
        if self.fault_script is not None:
            self.fault_script.after_pause()

    @classmethod
    def empty(cls, name: str = "empty") -> Station:
        """A station with no instruments, for procedures that need none (engine benchmarks,
        tests of the engine itself)."""
        sample = _sample({"name": name})
        return cls(StationConfig(name, "", {}, {}, {}, {}, sample, {}))

    def require(self, roles: tuple[str, ...], procedure: str) -> None:
        missing = [r for r in roles if r not in self.config.roles]
        if missing:
            raise ValidationError(
                f"station.{missing[0]}",
                f"procedure {procedure} needs a [{missing[0]}] table in the station file",
            )

    def move_sample(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Block the beam, then move the sample stage, so that the pump is never dragged across
        the film; the position reached. A beam that cannot be shown blocked stops the move."""
        shutter = self.beam_shutter
        shutter.close_shutter()
        if shutter.shutter_open:
            raise QslabError("the beam shutter reads open after closing: the sample was not moved")
        x, y = self["stage"].move_to(x_mm, y_mm)
        return float(x), float(y)

    def check_spot(self, label: str | None = None) -> None:
        """With named spots and a stage, the run's spot (or ``label``) must be one of them (a
        typo would otherwise pump wherever the stage happens to stand)."""
        if "stage" in self.config.roles:
            sample = self.config.sample
            _check_named(sample["spots"], sample["spot"] if label is None else label, "sample.spot")

    def connect(self) -> None:
        """Open every role's driver, each behind a :class:`GuardedDevice` (one lock per device
        and the station's safety latch, released here). On failure, whatever opened is made
        safe and closed."""
        self.latch = SafetyLatch()
        try:
            for role in self.config.roles:
                self.devices[role] = GuardedDevice(self._open(role), self.latch)
        except Exception:
            self.make_safe()
            self.close()
            raise

    def _open(self, role: str) -> Any:
        rc = self.config.roles[role]
        return rc.spec.connect(self.simulators.get(role, rc.resource), rc.options)

    def check(self) -> list[RoleCheck]:
        """Open each role on its own, read its identity and settings, make it safe, close it.

        One role failing does not keep the others from being checked; nothing else moves.
        """
        results = []
        for role, rc in self.config.roles.items():
            identity, settings, error = "", {}, ""
            device = None
            try:
                device = self._open(role)
                identity = device.identity()
                settings = device.settings()
                device.safe()
            except Exception as exc:  # noqa: BLE001 - reported per role, never raised
                error = str(exc) or type(exc).__name__
            finally:
                if device is not None:
                    try:
                        device.close()
                    except Exception as exc:  # noqa: BLE001
                        error = error or f"close: {exc}"
            resource = rc.resource if isinstance(rc.resource, str) else ", ".join(rc.resource)
            results.append(RoleCheck(role, rc.spec.name, resource, identity, settings, error))
        return results

    def __getitem__(self, role: str) -> Any:
        return self.devices[role]

    @property
    def beam_shutter(self) -> Any:
        """What blocks the pump: the station's shutter if it has one, else the laser's own."""
        return self.devices.get("shutter") or self.devices["laser"]

    def block_beam_now(self, reason: str) -> list[str]:
        """From any thread, during a run: latch the station safe (nothing reopens the beam
        until it is connected again) and put the beam blocks in their safe state now; the rest
        follows when the run ends. Returns the failures."""
        self.latch.reason = reason
        return self.make_safe(BEAM_ROLES)

    def make_safe(self, roles: tuple[str, ...] = SAFE_ORDER) -> list[str]:
        """Every opened role to its safe state, beam blocks first. Returns the failures, never
        raises: one device failing must not stop the others from being made safe. Each device
        gets a second try, so that one garbled reply does not leave a shutter open."""
        failures = []
        for role in roles:
            device = self.devices.get(role)
            if device is None:
                continue
            for attempt in range(SAFE_ATTEMPTS):
                try:
                    device.safe()
                    break
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    log.warning("making %s safe, attempt %d: %s", role, attempt + 1, exc)
                    if attempt == SAFE_ATTEMPTS - 1:
                        log.error("could not make %s safe: %s", role, exc)
                        failures.append(f"{role}: {exc}")
        return failures

    def close(self) -> None:
        for role, device in list(self.devices.items()):
            try:
                device.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing %s: %s", role, exc)
        self.devices.clear()

    def shutdown(self) -> None:
        """Close the drivers and stop the simulators that run something of their own (the
        HTTP server of a simulated REST laser); the station cannot be connected again."""
        self.close()
        for role, simulators in self.simulators.items():
            for simulator in simulators if isinstance(simulators, list) else [simulators]:
                stop = getattr(simulator, "close", None)
                if callable(stop):
                    try:
                        stop()
                    except Exception as exc:  # noqa: BLE001
                        log.warning("stopping the %s simulator: %s", role, exc)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per role: driver, resource, identity and settings, for the run's start document."""
        out: dict[str, dict[str, Any]] = {}
        for role, rc in self.config.roles.items():
            device = self.devices.get(role)
            out[role] = {
                "driver": rc.spec.name,
                "resource": rc.resource if isinstance(rc.resource, str) else ", ".join(rc.resource),
                "identity": device.identity() if device else "",
                "settings": {**rc.options, **(device.settings() if device else {})},
            }
        out["beam"] = {"driver": "", "resource": "", "identity": "", "settings": self.config.beam}
        if self.bench is not None:
            out["bench"] = {
                "driver": "qslab.sim",
                "resource": SIM,
                "identity": "qslab virtual bench",
                "settings": {
                    "true_ase_threshold": {
                        "value": self.bench.true_ase_threshold(),
                        "units": "uJ/cm^2",
                    },
                    "seed": -1 if self.config.bench["seed"] is None else self.config.bench["seed"],
                    "realtime": self.config.bench["realtime"],
                    "pulse_energy_nJ": self.config.bench["pulse_energy_nJ"],
                    "energy_jitter": self.config.bench["energy_jitter"],
                    **self.bench.truth_record(),
                },
            }
        return out


def open_station(spec: str | Path = SIM, seed: int | None = None) -> Station:
    """Validate and build (not connect) a station."""
    return Station(load_station(spec, seed))
