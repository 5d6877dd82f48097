"""PicoQuant HydraHarp, MultiHarp and PicoHarp 330 through PicoQuant's snAPI, as the TCSPC role.

Manual: snAPI documentation (picoquant.github.io/snAPI, module ``snAPI.Main``) and the demos of
github.com/PicoQuant/snAPI (``UFBlockReadPerSecond.py``, ``Demo_RecordViewer_UF.py``), for
snAPI 1.2: the device opens with ``getDevice`` and ``initDevice(MeasMode.T2 | T3)``; a device
INI file (``loadIniConfig``) holds trigger levels; ``device.getCountRates()`` gives the sync
rate and then each input's, per second over a 100-ms gate; ``unfold.startBlock(acqTime_ms,
size)`` streams and each ``unfold.getBlock()`` returns the records collected since the last one
as (times, channels), views of buffers the next call overwrites (so they are copied at once).
Unfolded channel 0 is the sync and input k (0-based) is channel k + 1, so the TCSPC role's
channels are the Harp's channel numbers 1, 2, ...; T2 times are ps from the start; T3 times
are ``nSync << 15 | dtime`` with dtime in units of ``deviceConfig["Resolution"]``
(``BaseResolution * 2**binning``) and only 15 bits wide. Every call reports failure by
returning False; snAPI raises nothing of its own, but ctypes raises ``OSError`` when the
library faults.

Choices made here: in T3 the binning is set so that the 15-bit dtime covers one sync period
(photons later than that would be lost) and the sync period is measured from the sync rate at
start (times the sync divider); a T3 chunk's ``time_ps`` is ``sync * sync_period_ps +
microtime_ps`` with the period rounded to whole ps, so that every source of chunks obeys the
same identity. Acquisition needs the sync in T3: with none (laser off) ``start`` says so.
snAPI is optional and imported only to open real hardware: ``pip install snAPI`` (published on
PyPI by PicoQuant; the Harp's USB driver comes with PicoQuant's software).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from typing import Any

import numpy as np

from qslab.errors import ValidationError
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import DeviceLink
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.tcspc import SIM_OPTIONS, SimulatedSnAPILibrary, hbt_setup
from qslab.tcspc.tags import TagChunk

MANUAL = (
    "PicoQuant snAPI documentation (snAPI.Main: snAPI, Device, Unfold) and the demos of "
    "github.com/PicoQuant/snAPI"
)
NAME = "PicoQuant TCSPC"
TABLE = "station.tcspc"
DTIME_BITS = 15
MARKER = 0x80
POLL_S = 0.01
"""Pause after an empty block while the measurement runs, so a reading loop does not spin."""
SYNC_KEY = {"T2": 0, "T3": -1}
"""The sync's channel in :meth:`SnapiTCSPC.count_rates`: a tag channel in T2, -1 in T3."""


class SnapiTCSPC(DeviceLink):
    """The TCSPC role on a snAPI object (or its simulator); every failure a DeviceError.

    ``library`` is ``snAPI.Main`` or the simulator standing in for it.
    """

    def __init__(self, library: Any, resource: str, options: dict[str, Any]) -> None:
        self.library = library
        self.resource = resource
        self.name = NAME
        self._mode = options["mode"]
        self._options = options
        self._channels: tuple[int, ...] = ()
        self._delays: dict[int, int] = {}
        self._period = 0.0
        self._started = False
        self._last = -1
        with self.calling("opening snAPI"):
            self.sn = library.snAPI()
        try:
            self._open(options)
        except Exception:
            with contextlib.suppress(Exception):
                self.sn.closeDevice()
            raise

    def _open(self, options: dict[str, Any]) -> None:
        """Acquire and initialise the Harp, load the INI file, set the sync divider."""
        serial = options["serial"]
        self._do("getDevice", *([serial] if serial else []), on=self.sn)
        self._do("initDevice", getattr(self.library.MeasMode, self._mode), on=self.sn)
        config = self.sn.deviceConfig
        self.model, self.serial = str(config["Model"]), str(config["ID"])
        self.name = f"PicoQuant {self.model}"
        if options["ini_file"]:
            with self.calling("loading the INI file"):
                loaded = self.sn.loadIniConfig(options["ini_file"])
            if not loaded:
                raise ValidationError(
                    f"{TABLE}.ini_file", f"snAPI could not load {options['ini_file']!r}"
                )
        self._do("setSyncDiv", options["sync_divider"])
        self._channels = tuple(range(1, self._inputs + 1))

    # -- calls into the library ------------------------------------------------------------------
    def _do(self, call: str, *args: Any, on: Any = None) -> None:
        """Call ``call`` on ``on`` (default: the device object). snAPI's way of failing is to
        return False (the reason goes to its log)."""
        with self.calling(call):
            result = getattr(self.sn.device if on is None else on, call)(*args)
        if result is False:
            raise self.error(f"{call} failed (snAPI returned False; its log says why)")

    @property
    def _inputs(self) -> int:
        return int(self.sn.deviceConfig["NumChans"])

    # -- TCSPC -----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def resolution_ps(self) -> int:
        key = "Resolution" if self._mode == "T3" else "BaseResolution"
        return max(1, round(self.sn.deviceConfig[key]))

    @property
    def sync_period_ps(self) -> int:
        return round(self._period)

    def configure(self, channels: tuple[int, ...], delays_ps: dict[int, int]) -> None:
        """Enable exactly ``channels`` (the Harp's 1..NumChans) with their cable delays."""
        known = range(1, self._inputs + 1)
        if not channels or any(c not in known for c in [*channels, *delays_ps]):
            raise ValidationError(
                f"{TABLE}.channels",
                f"the {self.model} has channels 1-{self._inputs}; got {channels}, delays for "
                f"{sorted(delays_ps)}",
            )
        for channel in known:
            self._do("setInputChannelEnable", channel - 1, int(channel in channels))
            self._do("setInputChannelOffset", channel - 1, int(delays_ps.get(channel, 0)))
        self._channels = tuple(sorted(channels))
        self._delays = {c: int(d) for c, d in delays_ps.items()}

    def count_rates(self) -> dict[int, float]:
        with self.calling("getCountRates"):
            rates = np.asarray(self.sn.device.getCountRates(), dtype=float)
        out = {SYNC_KEY[self._mode]: float(rates[0])}
        out.update({c: float(rates[c]) for c in self._channels})
        return out

    def start(self, duration_s: float | None = None) -> None:
        """Stream for ``duration_s`` (None: until :meth:`stop`)."""
        sync_rate = self.count_rates()[SYNC_KEY[self._mode]]
        self._period = self._options["sync_divider"] * 1e12 / sync_rate if sync_rate else 0.0
        if self._mode == "T3":
            if not self._period:
                raise self.error("no sync signal (0 counts/s on the sync input): T3 needs one")
            self._set_binning()
        acq_ms = 0 if duration_s is None else max(1, round(duration_s * 1e3))
        self._do("startBlock", acq_ms, self._options["buffer_records"], False, on=self.sn.unfold)
        self._started = True
        self._last = -1

    def _set_binning(self) -> None:
        """The finest T3 bin whose 15-bit dtime range still covers one sync period."""
        base = self.sn.deviceConfig["BaseResolution"]
        binning = max(0, math.ceil(math.log2(self._period / (base * 2**DTIME_BITS))))
        self._do("setBinning", binning)
        with self.calling("getDeviceConfig"):
            self.sn.getDeviceConfig()

    def read_chunk(self) -> TagChunk | None:
        if not self._started:
            return None
        unfold = self.sn.unfold
        with self.calling("reading a block"):
            finished = unfold.isFinished()
            times, channels = unfold.getBlock()
            times = np.array(times, dtype=np.int64)  # copies: snAPI reuses its buffers
            channels = np.array(channels, dtype=np.uint8)
        if not times.size:
            if finished:
                self._started = False
                return None
            time.sleep(POLL_S)
        elif np.any(np.diff(times) < 0) or times[0] < self._last:
            raise self.error("records out of time order (corrupt block)")
        else:
            self._last = int(times[-1])
        keep = channels & MARKER == 0
        return self._chunk(times[keep], channels[keep])

    def _chunk(self, times: np.ndarray, channels: np.ndarray) -> TagChunk:
        if self._mode == "T2":
            return TagChunk(channels, times, sync_period_ps=self.sync_period_ps)
        resolution = self.resolution_ps
        sync = times >> DTIME_BITS
        microtime = (times & (2**DTIME_BITS - 1)) * resolution
        period = self.sync_period_ps
        return TagChunk(channels, sync * period + microtime, sync, microtime, period, resolution)

    def stop(self) -> None:
        """Stop the measurement; what it collected can still be read."""
        if self._started:
            with self.calling("stopMeasure"):
                self.sn.unfold.stopMeasure()

    # -- every role ------------------------------------------------------------------------------
    def identity(self) -> str:
        return f"{self.name} s/n {self.serial}"

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "serial": self.serial,
            "mode": self._mode,
            "base_resolution_ps": float(self.sn.deviceConfig["BaseResolution"]),
            "resolution_ps": self.resolution_ps,
            "sync_divider": self._options["sync_divider"],
            "sync_period_ps": self.sync_period_ps,
            "channels": list(self._channels),
            "delays_ps": [self._delays.get(c, 0) for c in self._channels],
            "ini_file": self._options["ini_file"],
        }

    def safe(self) -> None:
        """Only stops the acquisition: a counter drives nothing."""
        self.stop()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            with self.calling("closeDevice"):
                self.sn.closeDevice()


def _snapi_library() -> Any:
    try:
        return importlib.import_module("snAPI.Main")
    except (ImportError, OSError) as exc:  # OSError: the package is there, its library is not
        raise ValidationError(
            f"{TABLE}.driver",
            "picoquant.snapi needs PicoQuant's snAPI library: pip install snAPI (published by "
            f"PicoQuant; the Harp's USB driver comes with PicoQuant's software) [{exc}]",
        ) from None


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SimulatedSnAPILibrary:
    try:
        return SimulatedSnAPILibrary(bench, hbt_setup(bench, options), options["model"])
    except ValueError as exc:
        raise ValidationError(f"{TABLE}.model", str(exc)) from None


def connect(target: Any, options: dict[str, Any]) -> SnapiTCSPC:
    """The simulator as given, or the Harp with ``serial`` through snAPI."""
    if options["mode"] not in SYNC_KEY:
        raise ValidationError(f"{TABLE}.mode", f"use 'T2' or 'T3', not {options['mode']!r}")
    if isinstance(target, SimulatedSnAPILibrary):
        return SnapiTCSPC(target, target.resource_name, options)
    return SnapiTCSPC(_snapi_library(), target, options)


DRIVER = DriverSpec(
    name="picoquant.snapi",
    role="tcspc",
    description="PicoQuant HydraHarp 400, MultiHarp and PicoHarp 330 via PicoQuant's snAPI",
    connect=connect,
    simulator=simulator,
    options=(
        Option("serial", "str", "", "which Harp (its serial number); empty: the first"),
        Option("mode", "str", "T3", "time-tagging mode: T3 (sync + microtime) or T2"),
        Option("ini_file", "str", "", "snAPI device INI file (trigger levels ...); empty: none"),
        Option("sync_divider", "int", 1, "sync divider (1, 2, 4, 8, 16; keep sync < 78 MHz)"),
        Option("buffer_records", "int", 1 << 22, "records snAPI buffers between two reads"),
        Option("model", "str", "HydraHarp 400", "simulation only: the Harp model"),
        *SIM_OPTIONS,
    ),
    requires="picoquant",
    manual=MANUAL,
)
