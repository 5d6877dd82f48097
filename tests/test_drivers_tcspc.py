"""TCSPC drivers (PicoQuant snAPI, Swabian Time Tagger) against their simulated libraries.

The simulators keep the vendors' names, signatures and units (checked against the real packages
when they are installed); the roles read the bench's film through them: photons follow the
fluence, the shutter leaves dark counts, chunks join without gaps, failures are DeviceErrors.
"""

from __future__ import annotations

import inspect
import math
import sys
import types

import numpy as np
import pytest
from driver_faults import open_simulated, raises_on_fault

from qslab.analysis import fluence as fl
from qslab.errors import DeviceError, ValidationError
from qslab.instruments.picoquant import snapi
from qslab.instruments.roles import TCSPC
from qslab.instruments.swabian import timetagger
from qslab.sim.bench import VirtualBench
from qslab.sim.devices import tcspc as sim

TABLE = "station.tcspc"
RATE_HZ = 1e6
PERIOD_PS = 1_000_000
DARK_CPS = 500.0
EFFICIENCY = 0.1


@pytest.fixture
def bench():
    bench = VirtualBench(realtime=False, seed=17)
    bench.laser.emission = bench.laser.shutter_open = True
    bench.laser.repetition_rate_hz = RATE_HZ
    return bench


def open_counter(driver, bench, **given):
    given = {"sim_dark_cps": DARK_CPS, "sim_efficiency": EFFICIENCY, **given}
    sim_lib, counter = open_simulated(driver, TABLE, bench, **given)
    counter.configure((1, 2), {})
    return sim_lib, counter


def acquire(counter, seconds: float):
    """Every chunk of one acquisition, read until the counter says it has ended."""
    counter.start(seconds)
    chunks = []
    while (chunk := counter.read_chunk()) is not None:
        chunks.append(chunk)
    return chunks


def joined(chunks, name: str) -> np.ndarray:
    return np.concatenate([getattr(c, name) for c in chunks])


def n_mean(bench) -> float:
    """<N> at the beam centre for the bench's mean pulse energy, computed here from PHYSICS.md."""
    energy = bench.laser.pulse_energy_j * bench.transmission
    fluence = 2 * energy / (math.pi * bench.w0_cm**2) * 1e6
    photons_cm2 = fluence * 1e-6 / fl.photon_energy_j(bench.laser.wavelength_nm)
    return bench.film.cross_section_cm2 * photons_cm2


def detector_cps(bench) -> float:
    """Expected counts/s on each detector: half the detected photons plus the dark counts."""
    n, film = n_mean(bench), bench.film
    photons = film.qy_x * (1 - math.exp(-n)) + film.qy_xx * (1 - math.exp(-n) * (1 + n))
    return RATE_HZ * EFFICIENCY * photons / 2 + DARK_CPS


DRIVERS = [snapi.DRIVER, timetagger.DRIVER]
ids = ["snapi", "timetagger"]


# -- the role on the bench -----------------------------------------------------------------------
@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_count_rates_follow_the_fluence(driver, bench):
    _, counter = open_counter(driver, bench)
    assert isinstance(counter, TCSPC) and counter.mode == "T3"
    seconds, measured, expected = 1.0, [], []
    for transmission in (1e-3, 4e-3):  # <N> ~ 0.08 and 0.33 at the beam centre
        bench.set_transmission("nd", transmission)
        channels = joined(acquire(counter, seconds), "channel")
        expected.append(detector_cps(bench))
        for detector in (1, 2):
            counts = np.count_nonzero(channels == detector)
            assert abs(counts - expected[-1] * seconds) < 4 * math.sqrt(counts), (detector, counts)
        measured.append(np.count_nonzero(channels > 0))
        rates = counter.count_rates()
        assert rates[-1] == pytest.approx(RATE_HZ)
        assert rates[1] == pytest.approx(expected[-1], rel=0.2)
    assert 3 < measured[1] / measured[0] < 4  # fourfold fluence, a little less light than 4x


@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_no_light_on_the_sample_leaves_the_dark_counts(driver, bench):
    _, counter = open_counter(driver, bench)
    bench.laser.shutter_open = False
    seconds = 2.0
    channels = joined(acquire(counter, seconds), "channel")
    for detector in (1, 2):
        counts = np.count_nonzero(channels == detector)
        assert abs(counts - DARK_CPS * seconds) < 4 * math.sqrt(DARK_CPS * seconds)
    assert counter.count_rates()[-1] == pytest.approx(RATE_HZ)  # the laser still ticks
    bench.laser.emission = False
    with pytest.raises(DeviceError, match="no sync"):
        counter.start(1.0)


@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_t3_chunks_are_time_ordered_and_join_across_reads(driver, bench):
    """For the Time Tagger the driver numbers the sync tags itself: one lost at a chunk border
    would break ``time = sync * period + microtime`` for every later photon."""
    _, counter = open_counter(driver, bench, sim_efficiency=0.5, sim_dark_cps=0.0)
    bench.set_transmission("nd", 2e-3)
    chunks = acquire(counter, 1.0)
    assert len(chunks) >= 5 and all(c.mode == "T3" for c in chunks)
    times, sync, micro = (joined(chunks, a) for a in ("time_ps", "sync", "microtime_ps"))
    assert counter.sync_period_ps == PERIOD_PS
    assert np.all(np.diff(times) >= 0)
    assert np.array_equal(times, sync * PERIOD_PS + micro)
    assert micro.min() >= 0 and micro.max() < PERIOD_PS
    assert sync.max() > 0.99 * RATE_HZ  # the whole second, to the last pulses
    late = micro[micro > 30_000] - 30_000  # the exciton decay after the sync, tau_X = 75 ns
    assert np.mean(late) / 1e3 == pytest.approx(bench.film.tau_x_ns, rel=0.1)


def test_snapi_t2_streams_the_sync_as_channel_zero_every_period(bench):
    _, counter = open_counter(snapi.DRIVER, bench, mode="T2")
    chunks = acquire(counter, 0.5)
    assert len(chunks) >= 5 and all(c.mode == "T2" for c in chunks)
    times, channels = joined(chunks, "time_ps"), joined(chunks, "channel")
    assert np.all(np.diff(times) >= 0)
    syncs = times[channels == 0]
    assert np.array_equal(syncs, np.arange(syncs.size) * PERIOD_PS)
    assert syncs.size >= 0.499 * RATE_HZ
    assert counter.resolution_ps == 1


def test_snapi_t3_bins_cover_one_sync_period(bench):
    _, counter = open_counter(snapi.DRIVER, bench)
    acquire(counter, 0.1)
    # 15-bit dtime: 32768 bins of 2**5 ps = 1.05 us >= 1 us; 16-ps bins would lose photons
    assert counter.resolution_ps == 32
    assert counter.settings()["resolution_ps"] == 32


@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_a_cable_delay_moves_that_channels_photons_later(driver, bench):
    _, counter = open_counter(driver, bench, sim_efficiency=0.5)
    bench.set_transmission("nd", 2e-3)
    delay = 20_000
    counter.configure((1, 2), {1: delay})
    chunks = acquire(counter, 1.0)
    channels, micro = joined(chunks, "channel"), joined(chunks, "microtime_ps")
    one, two = micro[channels == 1], micro[channels == 2]
    shift = one.mean() - two.mean()
    sigma = math.hypot(one.std() / math.sqrt(one.size), two.std() / math.sqrt(two.size))
    assert abs(shift - delay) < 4 * sigma, (shift, sigma)
    assert counter.settings()["delays_ps"] == [delay, 0]


@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_unknown_channels_are_refused_before_anything_moves(driver, bench):
    _, counter = open_counter(driver, bench)
    with pytest.raises(ValidationError, match="channels"):
        counter.configure((), {})
    with pytest.raises(ValidationError, match="channels"):
        counter.configure((0, 3) if driver is snapi.DRIVER else (1, 3), {})


# -- failures ----------------------------------------------------------------------------------
SNAPI_NAME, TAGGER_NAME = "PicoQuant HydraHarp 400", "Swabian Time Tagger Ultra"


@pytest.mark.parametrize(
    ("fault", "words", "during"),
    [("error", r"failed \(snAPI returned False", "start"), ("timeout", "timed out", "read"),
     ("garbage", "out of time order", "read")],
)  # fmt: skip
def test_snapi_failures_are_device_errors_naming_the_harp(bench, fault, words, during):
    """snAPI reports failure by returning False; ctypes raises OSError when the library fails."""
    sim_lib, counter = open_counter(snapi.DRIVER, bench)
    if during == "read":
        counter.start(1.0)
    with raises_on_fault(sim_lib, fault, words, SNAPI_NAME, "sim:snapi"):
        counter.read_chunk() if during == "read" else counter.start(1.0)


@pytest.mark.parametrize(
    ("fault", "words"),
    [("error", "disconnected"), ("timeout", "Timeout"), ("garbage", "error tag")],
)
def test_time_tagger_failures_are_device_errors_naming_the_tagger(bench, fault, words):
    """The library raises RuntimeError; an error tag in the stream means lost timing."""
    sim_lib, counter = open_counter(timetagger.DRIVER, bench)
    counter.start(1.0)
    with raises_on_fault(sim_lib, fault, words, TAGGER_NAME, "sim:timetagger"):
        counter.read_chunk()


def test_a_busy_time_tagger_cannot_be_opened_twice(bench):
    options = timetagger.DRIVER.check_options(TABLE, {})
    sim_lib = timetagger.DRIVER.simulator(bench, options)
    first = timetagger.DRIVER.connect(sim_lib, options)
    with pytest.raises(DeviceError, match="already in use"):
        timetagger.DRIVER.connect(sim_lib, options)
    first.close()
    timetagger.DRIVER.connect(sim_lib, options).close()


@pytest.mark.parametrize("driver", DRIVERS, ids=ids)
def test_impossible_simulation_options_name_their_field(driver, bench):
    options = driver.check_options(TABLE, {"sim_efficiency": 1.5})
    with pytest.raises(ValidationError) as info:
        driver.simulator(bench, options)
    assert info.value.field == "station.tcspc.sim_efficiency"


def test_a_missing_snapi_ini_file_names_its_field(bench, tmp_path):
    options = snapi.DRIVER.check_options(TABLE, {"ini_file": str(tmp_path / "none.ini")})
    with pytest.raises(ValidationError) as info:
        snapi.DRIVER.connect(snapi.DRIVER.simulator(bench, options), options)
    assert info.value.field == "station.tcspc.ini_file"


def test_snapi_ini_file_offsets_and_divider_reach_the_harp(bench, tmp_path):
    ini = tmp_path / "harp.ini"
    ini.write_text("[Device]\nSyncDiv = 2\n[Channel_0]\nChanOffs = 15000\n")
    _, counter = open_simulated(
        snapi.DRIVER, TABLE, bench, ini_file=str(ini), sync_divider=2, sim_dark_cps=0.0
    )
    config = counter.sn.deviceConfig
    assert config["SyncDiv"] == 2 and config["ChansCfg"][0]["ChanOffs"] == 15000
    sync = joined(acquire(counter, 0.1), "sync")
    assert counter.sync_period_ps == 2 * PERIOD_PS  # T3 counts divided syncs
    assert 0.99 * RATE_HZ * 0.1 / 2 < sync.max() < RATE_HZ * 0.1 / 2


# -- the vendor libraries --------------------------------------------------------------------------
MISSING = {
    "snapi": (snapi.DRIVER, ("snAPI", "snAPI.Main"), "pip install snAPI"),
    "timetagger": (
        timetagger.DRIVER,
        ("Swabian", "Swabian.TimeTagger", "TimeTagger"),
        "pip install Swabian-TimeTagger",
    ),
}


@pytest.mark.parametrize("name", MISSING)
def test_a_missing_vendor_library_is_one_validation_error(name, monkeypatch):
    driver, modules, words = MISSING[name]
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ValidationError, match=words) as info:
        driver.connect("usb", driver.check_options(TABLE, {}))
    assert info.value.field == "station.tcspc.driver"
    assert "installer" in str(info.value) or "PicoQuant" in str(info.value)


def test_hardware_path_opens_snapi_by_serial(bench, monkeypatch):
    sim_lib = snapi.DRIVER.simulator(bench, snapi.DRIVER.check_options(TABLE, {}))
    fake = types.ModuleType("snAPI.Main")
    fake.snAPI, fake.MeasMode = sim_lib.snAPI, sim.MeasMode
    monkeypatch.setitem(sys.modules, "snAPI.Main", fake)
    counter = snapi.DRIVER.connect("usb", snapi.DRIVER.check_options(TABLE, {"serial": "1045483"}))
    assert counter.identity() == "PicoQuant HydraHarp 400 s/n 1045483"
    assert counter.resource == "usb"
    with pytest.raises(DeviceError, match="getDevice failed"):
        snapi.DRIVER.connect("usb", snapi.DRIVER.check_options(TABLE, {"serial": "999"}))


def test_hardware_path_opens_the_time_tagger_by_serial(bench, monkeypatch):
    sim_lib = timetagger.DRIVER.simulator(bench, timetagger.DRIVER.check_options(TABLE, {}))
    monkeypatch.setitem(sys.modules, "Swabian.TimeTagger", sim_lib)
    options = timetagger.DRIVER.check_options(TABLE, {"serial": "1910000ABC"})
    counter = timetagger.DRIVER.connect("usb", options)
    assert counter.identity() == "Swabian Time Tagger Ultra s/n 1910000ABC"
    assert counter.resource == "usb"


def _parameters(function):
    """Names, kinds and defaults (enum members by name) of a function's parameters."""
    return [
        (p.name, p.kind, str(p.default))
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


SNAPI_USED = {
    "snAPI": ("getDevice", "initDevice", "loadIniConfig", "getDeviceConfig", "closeDevice"),
    "Device": ("getCountRates", "setSyncDiv", "setBinning", "setInputChannelOffset",
               "setInputChannelEnable"),
    "Unfold": ("startBlock", "getBlock", "getData", "numRead", "isFinished", "stopMeasure"),
}  # fmt: skip
SNAPI_SIMULATED = {"snAPI": sim.SimulatedSnAPI, "Device": sim._HarpDevice, "Unfold": sim._Unfold}


def test_snapi_simulator_has_snapis_names_signatures_and_constants(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # snAPI.Main replaces it on import
    real = pytest.importorskip("snAPI.Main")
    for cls, names in SNAPI_USED.items():
        for name in names:
            ours, theirs = getattr(SNAPI_SIMULATED[cls], name), getattr(getattr(real, cls), name)
            assert _parameters(ours) == _parameters(theirs), (cls, name)
    for enum in ("MeasMode", "RefSource"):
        theirs = {m.name: m.value for m in getattr(real, enum)}
        assert all(theirs[m.name] == m.value for m in getattr(sim, enum)), enum


TAGGER_USED = {
    "TimeTagger": ("setTriggerLevel", "setInputDelay", "getSerial", "getModel"),
    "TimeTagStream": ("__init__", "startFor", "start", "stop", "isRunning", "getData"),
    "Countrate": ("__init__", "startFor", "getData", "waitUntilFinished"),
}


def test_time_tagger_simulator_has_swabians_names_signatures_and_constants():
    real = pytest.importorskip("Swabian.TimeTagger")
    ours = {
        "TimeTagger": sim.SimulatedTimeTagger,
        "TimeTagStream": sim.SimulatedTimeTaggerLibrary.TimeTagStream,
        "Countrate": sim.SimulatedTimeTaggerLibrary.Countrate,
    }
    for cls, names in TAGGER_USED.items():
        for name in names:
            mine, theirs = getattr(ours[cls], name), getattr(getattr(real, cls), name)
            assert [p[0] for p in _parameters(mine)] == [p[0] for p in _parameters(theirs)], name
    assert _parameters(sim.SimulatedTimeTaggerLibrary.freeTimeTagger) == [
        ("tagger", inspect.Parameter.POSITIONAL_OR_KEYWORD, str(inspect.Parameter.empty))
    ]
    ours_buffer = sim._TimeTagStreamBuffer(np.zeros(0), np.zeros(0), np.zeros(0), 0, 0)
    for name in ("size", "tStart", "getTimestamps", "getChannels", "getEventTypes"):
        assert hasattr(real.TimeTagStreamBuffer, name) and hasattr(ours_buffer, name), name
    assert {m.name: m.value for m in real.TagType} == {m.name: m.value for m in sim.TagType}
