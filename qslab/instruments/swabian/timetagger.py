"""Swabian Instruments Time Tagger (20, Ultra, X) through its Python library, as the TCSPC role.

Manual: Time Tagger user manual, "The TimeTagger Library" and "Time-tag streaming"
(swabianinstruments.com/static/documentation/TimeTagger), and the examples shipped with it
(``B_time_tag_stream.py``, ``B_start_stop_clear_startfor_countrate.py``): times are ps and
count from the device's start-up; inputs are numbered from 1 (rising edges); trigger levels
are in V (``setTriggerLevel``), delays in ps (``setInputDelay``); every measurement runs from
its creation; ``TimeTagStream(tagger, n_max_events, channels)`` buffers the raw tags until
``getData()`` hands them over as a buffer (``tStart``, ``getTimestamps``, ``getChannels``,
``getEventTypes``: TimeTag 0, Error 1, OverflowBegin 2, OverflowEnd 3, MissedEvents 4;
``getMissedEvents``), ``startFor(duration_ps)`` runs it for a set time and ``isRunning`` tells
when that is over; ``Countrate(tagger, channels)`` gives counts per second; the library raises
``RuntimeError`` for a missing or failing device.

The Time Tagger has no T3 mode of its own: with the laser's sync on ``sync_channel`` this driver
numbers the sync tags and gives each photon the index of the last sync before it and its delay
after it (T3 chunks, the sync tags dropped; photons before the first sync have no pulse and are
dropped); with ``sync_channel = 0`` it hands over T2 chunks of the detector channels. Chunk times
are ps from the start of the acquisition: the first buffer's ``tStart`` in T2, the first sync
tag (pulse 0) in T3. Overflow markers (the
USB link could not keep up) are dropped and the events they report missing are counted in
:meth:`TimeTaggerTCSPC.settings`; an error tag is a DeviceError.

The library is optional and imported only to open real hardware: ``pip install
Swabian-TimeTagger`` (``Swabian.TimeTagger``, published by Swabian Instruments), or Swabian's
Time Tagger software installer, which also installs the USB driver (module ``TimeTagger``).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from typing import Any

import numpy as np

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import DeviceLink
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.tcspc import SIM_OPTIONS, SimulatedTimeTaggerLibrary, hbt_setup
from qslab.tcspc.correlate import SyncIndexer
from qslab.tcspc.tags import TagChunk

MANUAL = (
    "Swabian Instruments Time Tagger user manual: The TimeTagger Library, Time-tag streaming "
    "(TimeTagStream, TimeTagStreamBuffer), Countrate; examples shipped with the software"
)
NAME = "Swabian Time Tagger"
TABLE = "station.tcspc"
MODULES = ("Swabian.TimeTagger", "TimeTagger")
TIME_TAG, ERROR_TAG = 0, 1
RATE_GATE_PS = 100_000_000_000
"""Count rates are measured over 0.1 s."""
POLL_S = 0.01
"""Pause after an empty buffer while the stream runs, so a reading loop does not spin."""


class TimeTaggerTCSPC(DeviceLink):
    """The TCSPC role on a ``TimeTagger`` object (or its simulator); every failure a
    DeviceError. ``library`` is ``Swabian.TimeTagger`` or the simulator standing in for it."""

    def __init__(self, library: Any, tagger: Any, resource: str, options: dict[str, Any]):
        self.library = library
        self.tagger = tagger
        self.resource = resource
        self.name = NAME
        self._options = options
        self._sync = options["sync_channel"]
        with self.calling("reading the model"):
            self.model, self.serial = str(tagger.getModel()), str(tagger.getSerial())
        self.name = f"Swabian {self.model}"
        self._channels: tuple[int, ...] = (1, 2)
        self._delays: dict[int, int] = {}
        self._period = 0
        self._stream: Any = None
        self._origin: int | None = None
        self._indexer: SyncIndexer | None = None
        self.missed_events = 0
        if self._sync:
            with self.calling("setting the sync trigger level"):
                tagger.setTriggerLevel(self._sync, options["sync_trigger_level_v"])

    # -- TCSPC -----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "T3" if self._sync else "T2"

    @property
    def resolution_ps(self) -> int:
        return 1

    @property
    def sync_period_ps(self) -> int:
        return self._period

    def configure(self, channels: tuple[int, ...], delays_ps: dict[int, int]) -> None:
        """Detector ``channels`` at the detector trigger level, and a delay for any channel
        (the sync's included)."""
        if not channels or self._sync in channels or any(c < 1 for c in channels):
            raise ValidationError(
                f"{TABLE}.channels",
                f"detector channels are inputs 1, 2, ... other than the sync ({self._sync}); "
                f"got {channels}",
            )
        level = self._options["trigger_level_v"]
        with self.calling("setting the inputs"):
            for channel in channels:
                self.tagger.setTriggerLevel(channel, level)
            for channel in {*channels, *delays_ps}:
                self.tagger.setInputDelay(channel, int(delays_ps.get(channel, 0)))
        self._channels = tuple(sorted(channels))
        self._delays = {c: int(d) for c, d in delays_ps.items()}

    def count_rates(self) -> dict[int, float]:
        channels = [*self._channels, *([self._sync] if self._sync else [])]
        with self.calling("measuring count rates"):
            meter = self.library.Countrate(self.tagger, channels)
            meter.startFor(RATE_GATE_PS)
            meter.waitUntilFinished()
            rates = [float(r) for r in meter.getData()]
        out = dict(zip(self._channels, rates, strict=False))
        if self._sync:
            out[-1] = rates[-1]
        return out

    def start(self, duration_s: float | None = None) -> None:
        """Stream for ``duration_s`` (None: until :meth:`stop`)."""
        if self._sync:
            sync_rate = self.count_rates()[-1]
            if not sync_rate:
                raise self.error(f"no sync signal on input {self._sync} (0 counts/s)")
            self._period = round(1e12 / sync_rate)
            self._indexer = SyncIndexer(self._sync)
        channels = [*self._channels, *([self._sync] if self._sync else [])]
        with self.calling("starting the stream"):
            stream = self.library.TimeTagStream(
                self.tagger, self._options["buffer_events"], channels
            )
            if duration_s is not None:
                stream.startFor(round(duration_s * 1e12))
        self._stream = stream
        self._origin = None
        self.missed_events = 0

    def read_chunk(self) -> TagChunk | None:
        if self._stream is None:
            return None
        with self.calling("reading the stream"):
            running = self._stream.isRunning()
            buffer = self._stream.getData()
            times = np.asarray(buffer.getTimestamps(), dtype=np.int64)
            channels = np.asarray(buffer.getChannels())
            types = np.asarray(buffer.getEventTypes())
            missed = np.asarray(buffer.getMissedEvents())
        if not times.size:
            if not running:
                self._stream = None
                return None
            time.sleep(POLL_S)
        if np.any(types == ERROR_TAG):
            raise self.error("the stream holds an error tag (the Time Tagger lost its timing)")
        self.missed_events += int(missed[types != TIME_TAG].sum())
        tags = types == TIME_TAG
        times, channels = times[tags], channels[tags].astype(np.uint8)
        if self._origin is None:
            self._origin = self._time_origin(times, channels, int(buffer.tStart))
        chunk = TagChunk(channels, times - (self._origin or 0), sync_period_ps=self._period)
        return chunk if self._indexer is None else self._indexer.convert(chunk)

    def _time_origin(self, times: np.ndarray, channels: np.ndarray, start: int) -> int | None:
        """Time zero: the start of the stream in T2; in T3 the first sync tag (pulse 0), so that
        ``time_ps = sync * sync_period_ps + microtime_ps`` as for every source; None while no
        sync has come (the photons before it have no pulse and are dropped)."""
        if not self._sync:
            return start
        syncs = times[channels == self._sync]
        return int(syncs[0]) if syncs.size else None

    def stop(self) -> None:
        """Stop the stream; what it collected can still be read."""
        if self._stream is not None:
            with self.calling("stopping the stream"):
                self._stream.stop()

    # -- every role ------------------------------------------------------------------------------
    def identity(self) -> str:
        return f"{self.name} s/n {self.serial}"

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "serial": self.serial,
            "mode": self.mode,
            "sync_channel": self._sync,
            "sync_period_ps": self._period,
            "channels": list(self._channels),
            "delays_ps": [self._delays.get(c, 0) for c in self._channels],
            "trigger_level_v": self._options["trigger_level_v"],
            "sync_trigger_level_v": self._options["sync_trigger_level_v"],
            "missed_events": self.missed_events,
        }

    def safe(self) -> None:
        """Only stops the acquisition: a time tagger drives nothing."""
        self.stop()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._stream = None
            with self.calling("freeing the Time Tagger"):
                self.library.freeTimeTagger(self.tagger)


def _time_tagger_library() -> Any:
    """``Swabian.TimeTagger`` (PyPI package), else ``TimeTagger`` (Swabian's installer)."""
    problems = []
    for module in MODULES:
        try:
            return importlib.import_module(module)
        except (ImportError, OSError) as exc:  # OSError: the package is there, its library not
            problems.append(f"{module}: {exc}")
    raise ValidationError(
        f"{TABLE}.driver",
        "swabian.timetagger needs Swabian Instruments' Time Tagger library: pip install "
        "Swabian-TimeTagger, or Swabian's Time Tagger software installer (which also installs "
        f"the USB driver) [{'; '.join(problems)}]",
    )


def _open(library: Any, resource: str, options: dict[str, Any]) -> TimeTaggerTCSPC:
    """Create the tagger, then set it up; a failed setup frees it again."""
    try:
        tagger = library.createTimeTagger(options["serial"])
    except Exception as exc:  # noqa: BLE001 - RuntimeError: none attached, busy, wrong serial
        who = options["serial"] or "any"
        raise DeviceError(NAME, resource, f"cannot open {who}: {exc}") from exc
    try:
        return TimeTaggerTCSPC(library, tagger, resource, options)
    except Exception:
        with contextlib.suppress(Exception):
            library.freeTimeTagger(tagger)
        raise


def simulator(bench: VirtualBench, options: dict[str, Any]) -> SimulatedTimeTaggerLibrary:
    return SimulatedTimeTaggerLibrary(bench, hbt_setup(bench, options))


def connect(target: Any, options: dict[str, Any]) -> TimeTaggerTCSPC:
    """The simulator as given, or the Time Tagger with ``serial`` through Swabian's library."""
    if options["sync_channel"] < 0:
        raise ValidationError(f"{TABLE}.sync_channel", "an input 1, 2, ... or 0 for none")
    if isinstance(target, SimulatedTimeTaggerLibrary):
        return _open(target, target.resource_name, options)
    return _open(_time_tagger_library(), target, options)


DRIVER = DriverSpec(
    name="swabian.timetagger",
    role="tcspc",
    description="Swabian Instruments Time Tagger 20 / Ultra / X via its Python library",
    connect=connect,
    simulator=simulator,
    options=(
        Option("serial", "str", "", "which Time Tagger (its serial number); empty: the first"),
        Option("sync_channel", "int", 3, "input with the laser's sync (0: none, T2 tags only)"),
        Option("trigger_level_v", "float", 0.5, "trigger level of the detector inputs", "V"),
        Option("sync_trigger_level_v", "float", 0.5, "trigger level of the sync input", "V"),
        Option("buffer_events", "int", 1 << 22, "tags the stream buffers between two reads"),
        *SIM_OPTIONS,
    ),
    requires="swabian",
    manual=MANUAL,
)
