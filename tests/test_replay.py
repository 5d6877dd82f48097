"""File replay as a TCSPC counter: every photon once and in order, pacing by the file's clock
(checked on the computed waits with a fake clock, never on wall time), channels and delays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_tttr_files import tttr_file

from qslab.errors import QslabError, ValidationError
from qslab.instruments.roles import TCSPC
from qslab.tcspc.photon_hdf5 import PhotonHDF5Writer
from qslab.tcspc.ptu import PtuReader
from qslab.tcspc.replay import DRIVER, ReplayTCSPC, open_tag_file
from qslab.tcspc.tags import TagChunk

T3_FILE = "hydraharp_v20_t3.ptu"


class FakeClock:
    """Time that passes only when the replay sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def reference() -> TagChunk:
    with PtuReader(tttr_file(T3_FILE)) as reader:
        (chunk,) = reader.chunks(reader.n_records)
    return chunk


def replay(clock: FakeClock | None = None, path: Path | None = None, **options) -> ReplayTCSPC:
    source = open_tag_file(path or tttr_file(T3_FILE))
    if clock is None:
        return ReplayTCSPC(source, **options)
    return ReplayTCSPC(source, realtime=True, clock=clock, sleep=clock.sleep, **options)


def drain(device: ReplayTCSPC, between=lambda: None) -> list[TagChunk]:
    chunks = []
    while (chunk := device.read_chunk()) is not None:
        chunks.append(chunk)
        between()
    assert device.read_chunk() is None  # the end stays the end
    return chunks


def joined(chunks: list[TagChunk], name: str) -> np.ndarray:
    return np.concatenate([getattr(c, name) for c in chunks])


@pytest.fixture(scope="module")
def photon_hdf5_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "copy.h5"
    with PtuReader(tttr_file(T3_FILE)) as reader:
        writer = PhotonHDF5Writer(
            path,
            mode=reader.mode,
            resolution_ps=reader.resolution_ps,
            sync_period_ps=reader.sync_period_ps,
            description="replay test",
            instrument=reader.instrument,
        )
        with writer:
            for chunk in reader.chunks():
                writer.append(chunk)
    return path


@pytest.mark.parametrize("chunk_records", [1000, 50_000])
@pytest.mark.parametrize("kind", ["ptu", "photon-hdf5"])
def test_every_photon_once_in_order(
    reference: TagChunk, photon_hdf5_copy: Path, kind: str, chunk_records: int
) -> None:
    path = photon_hdf5_copy if kind == "photon-hdf5" else None
    device = replay(path=path, chunk_records=chunk_records)
    device.start()
    chunks = drain(device)
    assert all(0 < len(c) <= chunk_records for c in chunks)
    for name in ("channel", "time_ps", "sync", "microtime_ps"):
        np.testing.assert_array_equal(joined(chunks, name), getattr(reference, name))
    device.close()


def test_realtime_reads_wait_for_the_file_clock(reference: TagChunk) -> None:
    """An instant consumer is handed, every poll_s, the photons of the last poll_s of file time."""
    clock = FakeClock()
    device = replay(clock, poll_s=0.5, chunk_records=100_000)
    device.start()
    chunks = drain(device)
    assert clock.waits == pytest.approx([0.5] * len(clock.waits))
    for k, chunk in enumerate(chunks):
        assert np.all((chunk.time_ps >= k * 5e11) & (chunk.time_ps < (k + 1) * 5e11))
    last_photon_s = reference.time_ps[-1] * 1e-12
    assert sum(clock.waits) == pytest.approx(last_photon_s, abs=1.0)
    np.testing.assert_array_equal(joined(chunks, "time_ps"), reference.time_ps)


def test_a_slow_consumer_gets_the_backlog_at_once(reference: TagChunk) -> None:
    """Reading 2 s late: no wait, and everything recorded by then, chunk_records at a time."""
    clock = FakeClock()
    device = replay(clock, poll_s=0.1, chunk_records=4000)
    device.start()
    clock.now += 2.0
    chunks = [device.read_chunk()]
    while len(chunks[-1]) == 4000:
        chunks.append(device.read_chunk())
    assert clock.waits == []
    times = joined(chunks, "time_ps")
    np.testing.assert_array_equal(times, reference.time_ps[reference.time_ps < 2e12])


def test_duration_ends_the_replay_on_the_file_clock(reference: TagChunk) -> None:
    device = replay(chunk_records=5000)
    device.start(duration_s=2.5)
    times = joined(drain(device), "time_ps")
    np.testing.assert_array_equal(times, reference.time_ps[reference.time_ps < 2.5e12])


@pytest.mark.parametrize("delays", [{1: 150_000}, {0: -450_000, 1: 70_000}])
def test_channel_delays_act_as_cable_delays(reference: TagChunk, delays: dict[int, int]) -> None:
    device = replay(chunk_records=997)
    device.configure((0, 1), delays)
    device.start()
    chunks = drain(device)
    time_ps, sync, micro = (joined(chunks, n) for n in ("time_ps", "sync", "microtime_ps"))
    period = reference.sync_period_ps
    assert np.all(np.diff(time_ps) >= 0)
    np.testing.assert_array_equal(time_ps, sync * period + micro)
    assert micro.min() >= 0 and micro.max() < period
    channel = joined(chunks, "channel")
    for c in (0, 1):
        moved = reference.time_ps[reference.channel == c] + delays.get(c, 0)
        np.testing.assert_array_equal(time_ps[channel == c], moved[moved >= 0])


def test_selected_channels_and_count_rates(reference: TagChunk) -> None:
    device = replay(chunk_records=20_000)
    counts = np.bincount(reference.channel)
    rates = device.count_rates()
    assert rates[0] == pytest.approx(counts[0] / 10.0, rel=1e-4)
    assert rates[1] == pytest.approx(counts[1] / 10.0, rel=1e-4)
    assert rates[-1] == pytest.approx(4_999_960, rel=1e-5)  # the header's sync rate
    device.configure((1,), {})
    assert set(device.count_rates()) == {1, -1}
    device.start()
    chunks = drain(device)
    np.testing.assert_array_equal(
        joined(chunks, "time_ps"), reference.time_ps[reference.channel == 1]
    )


def test_safe_stops_the_stream() -> None:
    device = replay()
    device.start()
    assert device.read_chunk() is not None
    device.safe()
    assert device.read_chunk() is None


def test_driver_spec_opens_the_station_resource() -> None:
    path = tttr_file(T3_FILE)
    options = DRIVER.check_options("station.tcspc", {"chunk_records": 2048})
    device = DRIVER.connect(str(path), options)
    assert isinstance(device, TCSPC)
    assert device.identity() == "replay of hydraharp_v20_t3.ptu: HydraHarp v2.0 SN 1008994"
    assert (device.mode, device.resolution_ps, device.sync_period_ps) == ("T3", 64, 200_002)
    assert device.settings()["chunk_records"] == 2048
    device.close()
    with pytest.raises(ValidationError, match="station.tcspc.resource"):
        DRIVER.simulator(None, options)
    with pytest.raises(QslabError, match="missing.ptu"):
        DRIVER.connect(str(path.with_name("missing.ptu")), options)
