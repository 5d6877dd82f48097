"""Simulated TCSPC counters behind their vendors' Python APIs: PicoQuant's snAPI (HydraHarp,
MultiHarp, PicoHarp 330) and Swabian Instruments' Time Tagger.

Both vendors ship libraries, not text protocols, so each simulator implements the part of the
library that qslab's driver uses, with the library's names, arguments, units and failure modes
(DESIGN.md principle 1), and without importing the vendor's package: the two differ enough in
how a measurement runs that the driver code exercised here is the code a lab runs.

* snAPI 1.2 (``snAPI.Main``, PyPI ``snAPI``; PicoQuant's documentation at picoquant.github.io/snAPI
  and the demos of github.com/PicoQuant/snAPI): ``snAPI()``, ``getDevice``, ``initDevice``,
  ``loadIniConfig``, ``closeDevice``, ``deviceConfig``; ``device.getCountRates`` (sync first,
  then each input, counts per second over a 100-ms gate), ``setSyncDiv``,
  ``setInputChannelEnable``, ``setInputChannelOffset`` (ps), ``setBinning`` (T3 bin width
  ``BaseResolution * 2**binning``); ``unfold.startBlock(acqTime_ms, size)``, ``getBlock``,
  ``isFinished``, ``stopMeasure``. Unfolded records: channel 0 is the sync, input k (0-based)
  is channel k + 1; T2 times are ps from the start of the measurement; T3 times pack the sync
  count and the 15-bit dtime as ``nSync << 15 | dtime`` with the sync records removed, and a
  photon more than 32768 bins after its sync is lost. Calls report failure by returning False
  (snAPI raises nothing of its own); the arrays ``getBlock`` returns are views of buffers that
  the next ``getBlock`` overwrites.
* Time Tagger 2.x (``Swabian.TimeTagger``, PyPI ``Swabian-TimeTagger``; ``TimeTagger`` in
  installs from Swabian's installer): ``createTimeTagger(serial, resolution)``,
  ``freeTimeTagger``; on the tagger ``setTriggerLevel`` (V), ``setInputDelay`` (ps),
  ``getSerial``, ``getModel``; ``TimeTagStream(tagger, n_max_events, channels)`` with
  ``startFor(capture_duration_ps, clear)``, ``start``, ``stop``, ``isRunning``, ``getData``
  (a buffer with ``size``, ``tStart``, ``tGetData``, ``getTimestamps``, ``getChannels``,
  ``getEventTypes``, ``getMissedEvents``); ``Countrate(tagger, channels)`` with ``startFor``,
  ``waitUntilFinished`` and ``getData`` (counts per second). Times are ps since the device
  started; measurements run from their creation; failures raise ``RuntimeError``.

What the inputs see (:class:`CounterInputs`): the laser's sync and two SPADs behind a 50:50
splitter looking at one QS at the beam centre (or a solution, ``sim_particles`` > 0), with
<N> = sigma j at the peak fluence of every pulse the bench delivers (:mod:`qslab.sim.photons`).
A closed shutter leaves the sync and the dark counts; a laser with its emission off gives no
sync either, and a T3 counter then records nothing (every photon falls outside the dtime range).
On a real-time bench the counters collect data on the wall clock; otherwise every read of data
advances the acquisition by ``STEP_S``.

Wiring of the simulated bench: the SPADs on snAPI inputs 0 and 1 (channels 1 and 2) and Time
Tagger inputs 1 and 2, the laser's sync on the Harp's sync input and on Time Tagger input 3.
SPAD pulses are 1.5 V, the sync 1.0 V: a Time Tagger input counts them with its trigger level
between 0 and that amplitude.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import time
import weakref
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from qslab.analysis import fluence as fl
from qslab.errors import ValidationError
from qslab.instruments.registry import Option
from qslab.sim.bench import VirtualBench
from qslab.sim.devices import FaultSwitch
from qslab.sim.photons import (
    DETECTOR_1,
    DETECTOR_2,
    SYNC,
    Detectors,
    Emitter,
    Ensemble,
    HBTSetup,
    PhotonStream,
)
from qslab.tcspc.tags import TagChunk

STEP_S = 0.1
"""Acquisition time one read advances on a bench that does not run in real time."""
MAX_STEP_PULSES = 1 << 20
"""A step holds at most this many laser pulses (memory stays bounded at high repetition rates)."""
MAX_CATCH_UP_S = 1.0
"""On a real-time bench one read generates at most this much; a slow reader catches up later."""

SIM_OPTIONS = (
    Option("sim_efficiency", "float", 0.1, "simulation only: probability to detect a photon"),
    Option("sim_dark_cps", "float", 100.0, "simulation only: dark counts of each SPAD", "1/s"),
    Option("sim_dead_time_ns", "float", 22.0, "simulation only: SPAD dead time", "ns"),
    Option(
        "sim_particles",
        "float",
        0.0,
        "simulation only: mean number of QSs diffusing in the focus (0: one QS, fixed)",
    ),
    Option("sim_diffusion_time_s", "float", 1e-3, "simulation only: time in the focus", "s"),
)
"""Options of every simulated TCSPC driver: the detectors and the sample it looks at."""


SIM_LIMITS = {
    "sim_efficiency": (0.0, 1.0),
    "sim_dark_cps": (0.0, 1e8),
    "sim_dead_time_ns": (0.0, 1e4),
    "sim_particles": (0.0, 1e3),
    "sim_diffusion_time_s": (1e-7, 1e3),
}


def hbt_setup(bench: VirtualBench, options: dict[str, Any]) -> HBTSetup:
    """The emitter of the bench's film and the detectors of a driver's ``sim_*`` options."""
    for name, (low, high) in SIM_LIMITS.items():
        if not low <= options[name] <= high:
            raise ValidationError(
                f"station.tcspc.{name}", f"{options[name]:g} is outside {low:g}..{high:g}"
            )
    detectors = Detectors(
        efficiency=options["sim_efficiency"],
        dark_cps=options["sim_dark_cps"],
        dead_time_ps=round(options["sim_dead_time_ns"] * 1e3),
    )
    particles = options["sim_particles"]
    ensemble = Ensemble(particles, options["sim_diffusion_time_s"]) if particles > 0 else None
    return HBTSetup(Emitter.from_film(bench.film), detectors, ensemble)


class CounterInputs:
    """The signals on a counter's inputs, generated window by window from the bench.

    ``mode`` is that of :class:`PhotonStream` ("T2": sync tags on channel 0); ``delays_ps`` are
    the cable (or programmed) delays by stream channel. ``offset_ps`` is added to every time:
    the counter's clock when the stream began.
    """

    def __init__(
        self,
        bench: VirtualBench,
        setup: HBTSetup,
        mode: str,
        delays_ps: dict[int, int] | None = None,
        offset_ps: int = 0,
    ) -> None:
        self.bench = bench
        self.offset_ps = offset_ps
        self.repetition_rate_hz = bench.laser.repetition_rate_hz
        seed = int(bench.rng.integers(2**63))
        self.stream = PhotonStream(
            setup, self.repetition_rate_hz, np.random.default_rng(seed), mode, delays_ps
        )
        self.started = time.monotonic()
        self.rates: dict[int, float] = {}

    @property
    def elapsed_s(self) -> float:
        """Acquisition time generated so far."""
        return self.stream.pulses * self.stream.period * 1e-12

    @property
    def now_ps(self) -> int:
        """The counter's clock: the end of the time generated so far."""
        return self.offset_ps + self.stream.time_ps

    def complete(self, limit_s: float | None) -> bool:
        """Whether ``limit_s`` of acquisition (None: no limit) has been generated."""
        return limit_s is not None and limit_s - self.elapsed_s < self.stream.period * 1e-12

    def due_s(self, limit_s: float | None = None) -> float:
        """How much acquisition time the next read should generate, up to ``limit_s`` in all."""
        step = min(STEP_S, MAX_STEP_PULSES * self.stream.period * 1e-12)
        if self.bench.realtime:
            step = min(time.monotonic() - self.started - self.elapsed_s, MAX_CATCH_UP_S)
        if limit_s is not None:
            step = min(step, limit_s - self.elapsed_s)
        return step if step >= self.stream.period * 1e-12 else 0.0

    def advance(self, duration_s: float) -> TagChunk:
        """The next ``duration_s`` of tags (stream channels), on the counter's clock; also sets
        ``rates`` (counts per second by stream channel, the sync as :data:`SYNC`)."""
        before = self.elapsed_s
        chunk = self.stream.next_chunk(duration_s, self._excitation)
        counts = np.bincount(chunk.channel, minlength=3)
        span = self.elapsed_s - before
        self.rates = {c: counts[c] / span for c in (DETECTOR_1, DETECTOR_2)}
        emitting = self.bench.laser.emission
        self.rates[SYNC] = self.repetition_rate_hz if emitting else 0.0
        keep = np.ones(len(chunk), bool)
        if not emitting:  # no sync tags; in T3 no photon can be timed against a sync
            keep = chunk.channel != SYNC if chunk.sync is None else ~keep
        return _select(chunk, keep, self.offset_ps)

    def _excitation(self, count: int) -> np.ndarray:
        """<N> of the next ``count`` pulses at the beam centre: sigma j at the peak fluence."""
        bench = self.bench
        energies = bench.pulse_energies(count)
        return fl.mean_excitation(
            bench.peak_fluence(energies) * bench.focus,
            bench.laser.wavelength_nm,
            bench.film.cross_section_cm2,
        )


def _select(chunk: TagChunk, keep: np.ndarray, offset_ps: int) -> TagChunk:
    def part(a):
        return None if a is None else a[keep]

    return TagChunk(
        chunk.channel[keep],
        chunk.time_ps[keep] + offset_ps,
        part(chunk.sync),
        part(chunk.microtime_ps),
        chunk.sync_period_ps,
        chunk.resolution_ps,
    )


class SimulatedLibrary(FaultSwitch):
    """A vendor's Python module played by a simulator: the bench its counter looks at, the
    HBT setup on its inputs, and the model, serial number and resource it reports."""

    model = serial = resource_name = ""
    connected = True
    """False: the counter's USB cable is out; every call into the library fails."""

    def __init__(self, bench: VirtualBench, setup: HBTSetup, model: str | None = None) -> None:
        self.bench = bench
        self.setup = setup
        if model is not None:
            self.model = model


# =================================================================================================
# PicoQuant snAPI
# =================================================================================================
class MeasMode(Enum):
    """``snAPI.Constants.MeasMode``."""

    Histogram = 0
    T2 = 2
    T3 = 3


class RefSource(Enum):
    """``snAPI.Constants.RefSource`` (the members qslab may meet)."""

    Internal = 0
    External_10MHZ = 1


T3_DTIME_BITS = 15
HARP_MODELS = {
    # model: (base resolution ps, inputs, largest binning code), from PicoQuant's data sheets
    "HydraHarp 400": (1.0, 2, 26),
    "PicoHarp 330": (1.0, 2, 24),
    "MultiHarp 160": (5.0, 4, 24),
}
SYNC_DIVIDERS = (1, 2, 4, 8, 16)
OFFSET_LIMIT_PS = 99999


class SimulatedSnAPILibrary(SimulatedLibrary):
    """Stands in for the module ``snAPI.Main``: ``snAPI()`` opens the API on a simulated Harp.

    Faults (one-shot): ``"error"`` makes the next call report failure (False), ``"timeout"``
    makes it raise ``OSError`` as a failed USB transfer through ctypes does, ``"garbage"``
    scrambles the order of the next block of records.
    """

    MeasMode = MeasMode
    RefSource = RefSource
    model, serial, resource_name = "HydraHarp 400", "1045483", "sim:snapi"

    def __init__(self, bench: VirtualBench, setup: HBTSetup, model: str | None = None) -> None:
        super().__init__(bench, setup, model)
        if self.model not in HARP_MODELS:
            known = ", ".join(HARP_MODELS)
            raise ValueError(f"unknown Harp model {self.model!r}; known: {known}")

    def snAPI(self, systemIni: str | None = None) -> SimulatedSnAPI:  # noqa: N802 - snAPI's name
        return SimulatedSnAPI(self)

    def dll(self, succeeded: bool = True) -> bool:
        """One call into the library: False, or OSError, when an error or timeout is set."""
        if not self.connected:
            raise OSError(errno.ENODEV, "USB device not found")
        if self.fault not in ("error", "timeout"):
            return succeeded
        if self.take_fault() == "timeout":
            raise OSError(errno.ETIMEDOUT, "USB transfer timed out")
        return False


class SimulatedSnAPI:
    """The ``snAPI`` object: device selection, configuration and the measurement classes."""

    def __init__(self, library: SimulatedSnAPILibrary) -> None:
        self.library = library
        self.deviceConfig: dict[str, Any] = {}  # noqa: N815 - snAPI's name
        self.device = _HarpDevice(self)
        self.unfold = _Unfold(self)
        self._acquired = False

    def getDevice(self, *dev) -> bool:  # noqa: N802
        lib = self.library
        wanted = dev[0] if dev else ""
        found = wanted in ("", lib.serial, 0)
        if not lib.dll(found):
            return False
        self._acquired = True
        base, inputs, _ = HARP_MODELS[lib.model]
        self.deviceConfig = {
            "DeviceType": 0,
            "ID": lib.serial,
            "Model": lib.model,
            "BaseResolution": base,
            "Resolution": base,
            "NumChans": inputs,
            "SyncDiv": 1,
            "Binning": 0,
            "SyncChannelEnable": 1,
            "MeasMode": MeasMode.T2.value,
            "ChansCfg": [{"Index": i, "ChanOffs": 0, "ChanEna": 1} for i in range(inputs)],
        }
        return True

    def initDevice(  # noqa: N802
        self,
        measMode: MeasMode = MeasMode.T2,
        refSrc: RefSource = RefSource.Internal,  # noqa: N803
    ) -> bool:
        if not self.library.dll(self._acquired):
            return False
        self.deviceConfig["MeasMode"] = measMode.value
        return True

    def loadIniConfig(self, path: str) -> bool:  # noqa: N802
        """Applies what the simulation models of a device INI file: ``SyncDiv`` under [Device],
        ``ChanOffs`` and ``ChanEna`` under [All_Channels] or [Channel_N]; trigger settings are
        accepted and have no effect. False for a file that cannot be read."""
        ini = configparser.ConfigParser()
        if not self.library.dll(bool(ini.read(path))):
            return False
        if ini.has_option("Device", "SyncDiv"):
            self.device.setSyncDiv(ini.getint("Device", "SyncDiv"))
        for index in range(self.deviceConfig["NumChans"]):
            for section in ("All_Channels", f"Channel_{index}"):
                if ini.has_option(section, "ChanOffs"):
                    self.device.setInputChannelOffset(index, ini.getint(section, "ChanOffs"))
                if ini.has_option(section, "ChanEna"):
                    self.device.setInputChannelEnable(index, ini.getint(section, "ChanEna"))
        return True

    def getDeviceConfig(self) -> bool:  # noqa: N802
        return self.library.dll(self._acquired)

    def closeDevice(self, allDevices: bool = True) -> None:  # noqa: N802, N803
        self.unfold.stopMeasure()
        self._acquired = False

    # -- what the simulated hardware does with the settings ---------------------------------------
    def inputs(self, mode: str) -> CounterInputs:
        """The inputs as configured now: the offsets of inputs 0 and 1 as the SPADs' delays."""
        offsets = [c["ChanOffs"] for c in self.deviceConfig["ChansCfg"]]
        delays = {DETECTOR_1: offsets[0], DETECTOR_2: offsets[1]}
        return CounterInputs(self.library.bench, self.library.setup, mode, delays)

    def records(self, chunk: TagChunk) -> tuple[np.ndarray, np.ndarray]:
        """Unfolded (times, channels) of a stream chunk, as the Harp reports them."""
        cfg = self.deviceConfig
        enabled = np.array([1] + [c["ChanEna"] for c in cfg["ChansCfg"]], bool)
        channel = chunk.channel.astype(np.uint8)  # stream channels 1, 2 are Harp channels 1, 2
        divider = cfg["SyncDiv"]
        if chunk.sync is None:  # T2
            base = round(cfg["BaseResolution"])
            keep = enabled[channel]
            is_sync = channel == SYNC
            keep[is_sync] &= (chunk.time_ps[is_sync] // chunk.sync_period_ps) % divider == 0
            times = chunk.time_ps[keep] // base * base
            return times.astype(np.uint64), channel[keep]
        n_sync = chunk.sync // divider
        late = (chunk.sync - n_sync * divider) * chunk.sync_period_ps + chunk.microtime_ps
        dtime = late // round(cfg["Resolution"])
        keep = enabled[channel] & (dtime < 1 << T3_DTIME_BITS)
        times = n_sync[keep] << T3_DTIME_BITS | dtime[keep]
        return times.astype(np.uint64), channel[keep]

    def count_rates(self) -> np.ndarray:
        """One 100-ms gate of the rate meters: sync (before the divider), then every input."""
        inputs = self.unfold.inputs
        if inputs is None or self.unfold.isFinished() or not inputs.rates:
            inputs = self.inputs("T3")
            inputs.advance(0.1)
        rates = [inputs.rates[SYNC], inputs.rates[DETECTOR_1], inputs.rates[DETECTOR_2]]
        rates += [0.0] * (self.deviceConfig["NumChans"] - 2)
        return np.rint(rates).astype(np.int64)


class _HarpDevice:
    """``snAPI.Main.Device``: settings of the acquired Harp."""

    def __init__(self, parent: SimulatedSnAPI) -> None:
        self.parent = parent

    def _set(self, valid: bool, update: dict[str, Any] | None = None) -> bool:
        ok = self.parent.library.dll(valid and self.parent._acquired)
        if ok and update:
            self.parent.deviceConfig.update(update)
        return ok

    def _channels(self, channel: int) -> list[dict[str, Any]]:
        """The configuration of input ``channel`` (0-based; -1: all), empty for a bad index."""
        chans = self.parent.deviceConfig.get("ChansCfg", [])
        if channel == -1:
            return chans
        return chans[channel : channel + 1] if channel >= 0 else []

    def getCountRates(self) -> np.ndarray:  # noqa: N802
        """snAPI ignores the library's status here and returns whatever the meters hold."""
        return self.parent.count_rates()

    def setSyncDiv(self, syncDiv: int = 1) -> bool:  # noqa: N802, N803
        return self._set(syncDiv in SYNC_DIVIDERS, {"SyncDiv": syncDiv})

    def setBinning(self, binning: int = 0) -> bool:  # noqa: N802
        cfg = self.parent.deviceConfig
        largest = HARP_MODELS[self.parent.library.model][2]
        resolution = cfg.get("BaseResolution", 0) * 2**binning
        return self._set(0 <= binning <= largest, {"Binning": binning, "Resolution": resolution})

    def setInputChannelOffset(self, channel: int = -1, chanOffs: int = 0) -> bool:  # noqa: N802, N803
        chans = self._channels(channel)
        ok = self._set(bool(chans) and abs(chanOffs) <= OFFSET_LIMIT_PS)
        for c in chans if ok else []:
            c["ChanOffs"] = chanOffs
        return ok

    def setInputChannelEnable(self, channel: int = -1, chanEna: int = 1) -> bool:  # noqa: N802, N803
        chans = self._channels(channel)
        ok = self._set(bool(chans) and chanEna in (0, 1))
        for c in chans if ok else []:
            c["ChanEna"] = chanEna
        return ok


class _Unfold:
    """``snAPI.Main.Unfold``: block-wise streaming of unfolded records."""

    def __init__(self, parent: SimulatedSnAPI) -> None:
        self.parent = parent
        self.inputs: CounterInputs | None = None
        self._limit_s: float | None = None
        self._finished = False
        self._times = np.zeros(0, np.uint64)
        self._channels = np.zeros(0, np.uint8)
        self._read = 0

    def startBlock(self, acqTime: int = 1000, size: int = 134217728, savePTU: bool = False) -> bool:  # noqa: N802, N803, E501
        mode = MeasMode(self.parent.deviceConfig.get("MeasMode", 0))
        if not self.parent.library.dll(mode != MeasMode.Histogram and self.parent._acquired):
            return False
        self.inputs = self.parent.inputs(mode.name)
        self._limit_s = acqTime / 1000 if acqTime > 0 else None
        self._finished = False
        self._times = np.zeros(size, np.uint64)
        self._channels = np.zeros(size, np.uint8)
        self._read = 0
        return True

    def getBlock(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802
        library = self.parent.library
        library.dll()
        self._read = 0
        if self.inputs is None or self._finished:
            return self.getData()
        due = self.inputs.due_s(self._limit_s)
        if due > 0:
            times, channels = self.parent.records(self.inputs.advance(due))
            if library.fault == "garbage":
                library.take_fault()
                times = times[::-1]
            if times.size <= self._times.size:  # otherwise snAPI's "buffer overrun - clearing!"
                self._times[: times.size], self._channels[: times.size] = times, channels
                self._read = times.size
        self._finished = self.inputs.complete(self._limit_s)
        return self.getData()

    def getData(self, numRead: int | None = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802, N803
        n = numRead or self._read
        return self._times[:n], self._channels[:n]

    def numRead(self) -> int:  # noqa: N802
        return self._read

    def isFinished(self) -> bool:  # noqa: N802
        return self._finished

    def stopMeasure(self) -> None:  # noqa: N802
        self._finished = True


# =================================================================================================
# Swabian Instruments Time Tagger
# =================================================================================================
class TagType(Enum):
    """``TimeTagger.TagType``: the event type of each tag of a stream."""

    TimeTag = 0
    Error = 1
    OverflowBegin = 2
    OverflowEnd = 3
    MissedEvents = 4


class Resolution(Enum):
    """``TimeTagger.Resolution``."""

    Standard = 0
    HighResA = 1
    HighResB = 2
    HighResC = 3


TAGGER_INPUTS = 8
"""Time Tagger Ultra: inputs 1 to 8 (rising edges)."""
SYNC_INPUT = 3
INPUT_AMPLITUDE_V = {DETECTOR_1: 1.5, DETECTOR_2: 1.5, SYNC_INPUT: 1.0}
DEFAULT_TRIGGER_V = 0.5
BOOT_PS = 73_412_000_000_000
"""How long the simulated Time Tagger had been running when qslab connected (its tags count
from its start-up)."""


class SimulatedTimeTaggerLibrary(SimulatedLibrary):
    """Stands in for the module ``Swabian.TimeTagger``.

    Faults (one-shot, on the next call to the tagger or a measurement): ``"error"`` and
    ``"timeout"`` raise ``RuntimeError`` as the library does for a lost device and a USB timeout;
    ``"garbage"`` puts an error tag into the next buffer of a stream.
    """

    TagType = TagType
    Resolution = Resolution
    model, serial, resource_name = "Time Tagger Ultra", "1910000ABC", "sim:timetagger"

    def __init__(self, bench: VirtualBench, setup: HBTSetup, model: str | None = None) -> None:
        super().__init__(bench, setup, model)
        self.taggers: list[SimulatedTimeTagger] = []

    def createTimeTagger(  # noqa: N802
        self, serial: str = "", resolution: Resolution = Resolution.Standard
    ) -> SimulatedTimeTagger:
        if serial not in ("", self.serial) or self.taggers:
            raise RuntimeError(
                "No Time Tagger attached or already in use. Got the USB error 'Failed' in "
                "'OpenBySerial'."
            )
        self.call()
        tagger = SimulatedTimeTagger(self)
        self.taggers.append(tagger)
        return tagger

    def freeTimeTagger(self, tagger: SimulatedTimeTagger) -> None:  # noqa: N802
        with contextlib.suppress(ValueError):
            self.taggers.remove(tagger)

    def call(self) -> str | None:
        """One call into the library: raises for an error or timeout fault."""
        if not self.connected:
            raise RuntimeError("The Time Tagger has been disconnected (USB error 'Failed').")
        fault = self.take_fault()
        if fault == "error":
            raise RuntimeError("The Time Tagger has been disconnected (USB error 'Failed').")
        if fault == "timeout":
            raise RuntimeError("Got the USB error 'Timeout' while reading the Time Tagger.")
        return fault

    TimeTagStream: type
    Countrate: type


class SimulatedTimeTagger:
    """A ``TimeTagger`` object: input settings, the device clock, and the tags it delivers to
    every running measurement."""

    def __init__(self, library: SimulatedTimeTaggerLibrary) -> None:
        self.library = library
        self._levels = dict.fromkeys(range(1, TAGGER_INPUTS + 1), DEFAULT_TRIGGER_V)
        self._delays = dict.fromkeys(range(1, TAGGER_INPUTS + 1), 0)
        self.measurements: weakref.WeakSet[_Measurement] = weakref.WeakSet()
        self.inputs = self._new_inputs(BOOT_PS)

    def _new_inputs(self, offset_ps: int) -> CounterInputs:
        delays = {SYNC: self._delays[SYNC_INPUT], DETECTOR_1: self._delays[1]}
        delays[DETECTOR_2] = self._delays[2]
        lib = self.library
        return CounterInputs(lib.bench, lib.setup, "T2", delays, offset_ps)

    def _check(self, channel: int) -> None:
        self.library.call()
        if channel not in self._levels:
            raise ValueError(f"Invalid channel number: {channel}")

    def setTriggerLevel(self, channel: int, voltage: float) -> None:  # noqa: N802
        self._check(channel)
        self._levels[channel] = float(voltage)

    def getTriggerLevel(self, channel: int) -> float:  # noqa: N802
        self._check(channel)
        return self._levels[channel]

    def setInputDelay(self, channel: int, delay: int) -> None:  # noqa: N802
        """Takes effect at once: the simulated inputs restart on the device clock."""
        self._check(channel)
        self._delays[channel] = int(delay)
        self.inputs = self._new_inputs(self.inputs.now_ps)

    def getInputDelay(self, channel: int) -> int:  # noqa: N802
        self._check(channel)
        return self._delays[channel]

    def getSerial(self) -> str:  # noqa: N802
        self.library.call()
        return self.library.serial

    def getModel(self) -> str:  # noqa: N802
        self.library.call()
        return self.library.model

    # -- the device clock ------------------------------------------------------------------------
    @property
    def now_ps(self) -> int:
        return self.inputs.now_ps

    def poll(self) -> None:
        """Generate the tags due now and hand them to the running measurements."""
        if self.library.bench.laser.repetition_rate_hz != self.inputs.repetition_rate_hz:
            self.inputs = self._new_inputs(self.inputs.now_ps)
        due = self.inputs.due_s()
        if due <= 0 or not any(m.running for m in self.measurements):
            return
        chunk = self.inputs.advance(due)
        inputs = (SYNC_INPUT, DETECTOR_1, DETECTOR_2)  # by stream channel
        triggered = np.array([0 < self._levels[c] < INPUT_AMPLITUDE_V[c] for c in inputs])
        wired = np.array(inputs, np.int32)[chunk.channel]
        seen = triggered[chunk.channel]
        for m in list(self.measurements):
            m.receive(chunk.time_ps[seen], wired[seen])


@dataclass(eq=False)
class _Measurement:
    """What every Time Tagger measurement shares: it runs from its creation, ``startFor`` runs it
    for a capture duration, and it collects the tags of its channels while running."""

    tagger: SimulatedTimeTagger
    channels: list[int]
    running: bool = True
    start_ps: int = 0
    stop_ps: int | None = None
    times: list[np.ndarray] = field(default_factory=list)
    chans: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tagger.library.call()
        self.tagger.measurements.add(self)
        self.start_ps = self.tagger.now_ps

    def receive(self, times: np.ndarray, channels: np.ndarray) -> None:
        if not self.running:
            return
        end = np.iinfo(np.int64).max if self.stop_ps is None else self.stop_ps
        keep = np.isin(channels, self.channels) & (times >= self.start_ps) & (times < end)
        self.times.append(times[keep])
        self.chans.append(channels[keep])
        if self.stop_ps is not None and self.tagger.now_ps >= self.stop_ps:
            self.running = False

    def clear(self) -> None:
        self.times, self.chans = [], []
        self.start_ps = self.tagger.now_ps

    def start(self) -> None:
        self.tagger.library.call()
        self.running, self.stop_ps = True, None

    def startFor(self, capture_duration: int, clear: bool = True) -> None:  # noqa: N802
        self.tagger.library.call()
        if clear:
            self.clear()
        self.running = True
        self.stop_ps = self.tagger.now_ps + int(capture_duration)

    def stop(self) -> None:
        self.running = False

    def isRunning(self) -> bool:  # noqa: N802
        return self.running

    def waitUntilFinished(self, timeout: int = -1) -> bool:  # noqa: N802
        """Blocks until a ``startFor`` capture has ended (immediately in simulated time)."""
        while self.running and self.stop_ps is not None:
            if self.tagger.library.bench.realtime:
                time.sleep(min(STEP_S, max(0.0, (self.stop_ps - self.tagger.now_ps) * 1e-12)))
            self.tagger.poll()
        return not self.running

    def _taken(self) -> tuple[np.ndarray, np.ndarray]:
        times = np.concatenate(self.times) if self.times else np.zeros(0, np.int64)
        chans = np.concatenate(self.chans) if self.chans else np.zeros(0, np.int32)
        return times, chans


class _TimeTagStreamBuffer:
    """``TimeTagStreamBuffer``: the tags since the previous ``getData``."""

    def __init__(self, times, channels, types, t_start: int, t_get: int) -> None:
        self.size = int(times.size)
        self.hasOverflows = False  # noqa: N815
        self.tStart = t_start  # noqa: N815
        self.tGetData = t_get  # noqa: N815
        self._times, self._channels, self._types = times, channels, types

    def getTimestamps(self) -> np.ndarray:  # noqa: N802
        return self._times

    def getChannels(self) -> np.ndarray:  # noqa: N802
        return self._channels

    def getEventTypes(self) -> np.ndarray:  # noqa: N802
        return self._types

    def getMissedEvents(self) -> np.ndarray:  # noqa: N802
        return np.zeros(self.size, np.uint16)


class _TimeTagStream(_Measurement):
    """``TimeTagStream(tagger, n_max_events, channels)``: a copy of the raw tag stream; tags
    beyond ``n_max_events`` between two ``getData`` calls are lost."""

    def __init__(self, tagger: SimulatedTimeTagger, n_max_events: int, channels: list[int]):
        super().__init__(tagger, list(channels))
        self.n_max_events = int(n_max_events)

    def getData(self) -> _TimeTagStreamBuffer:  # noqa: N802
        fault = self.tagger.library.call()
        self.tagger.poll()
        times, chans = self._taken()
        times, chans = times[: self.n_max_events], chans[: self.n_max_events]
        types = np.zeros(times.size, np.uint8)
        if fault == "garbage" and times.size:
            types[times.size // 2] = TagType.Error.value
        now = self.tagger.now_ps
        buffer = _TimeTagStreamBuffer(times, chans.astype(np.int32), types, self.start_ps, now)
        self.times, self.chans, self.start_ps = [], [], now
        return buffer


class _Countrate(_Measurement):
    """``Countrate(tagger, channels)``: mean counts per second on each channel since the start."""

    def __init__(self, tagger: SimulatedTimeTagger, channels: list[int]):
        super().__init__(tagger, list(channels))

    def getData(self) -> np.ndarray:  # noqa: N802
        self.tagger.library.call()
        _, chans = self._taken()
        end = self.tagger.now_ps if self.stop_ps is None else self.stop_ps
        span_s = max(end - self.start_ps, 1) * 1e-12
        return np.array([np.count_nonzero(chans == c) / span_s for c in self.channels])


SimulatedTimeTaggerLibrary.TimeTagStream = _TimeTagStream
SimulatedTimeTaggerLibrary.Countrate = _Countrate
