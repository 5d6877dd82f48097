"""PTU decoding against ptufile's whole-file decoding and phconvert's independent decoder, on the
real PicoQuant files in shared/data/tttr and on small hand-built HydraHarp T2 files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from qslab.errors import QslabError
from qslab.tcspc.ptu import PtuReader
from qslab.tcspc.tags import TagChunk

TTTR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tttr"
FILES = ("hydraharp_v20_t3.ptu", "hydraharp_v10_t3.ptu", "picoharp_v30_t2.ptu")


def tttr_file(name: str) -> Path:
    """A real PicoQuant file of shared/data/tttr; the test is skipped where it is absent."""
    path = TTTR / name
    if not path.is_file():
        pytest.skip(f"{name} not found: shared/data/tttr beside the repository is absent")
    return path


def whole(reader: PtuReader) -> TagChunk:
    """Every photon of the file in one chunk."""
    (chunk,) = reader.chunks(reader.n_records)
    return chunk


@pytest.fixture(scope="module", params=FILES)
def ptu(request: pytest.FixtureRequest):
    with PtuReader(tttr_file(request.param)) as reader:
        yield reader


def test_photons_equal_phconvert_and_ptufile_decodings(ptu: PtuReader) -> None:
    import ptufile
    from phconvert import pqreader

    timestamps, detectors, nanotimes, meta, _ = pqreader.load_ptu(str(ptu.path))
    tags = whole(ptu)
    np.testing.assert_array_equal(tags.channel, detectors)
    if ptu.mode == "T3":
        np.testing.assert_array_equal(tags.sync, timestamps)
        np.testing.assert_array_equal(
            tags.microtime_ps, nanotimes.astype(np.int64) * ptu.resolution_ps
        )
        assert ptu.resolution_ps == round(meta["nanotimes_unit"] * 1e12)
    else:
        np.testing.assert_array_equal(tags.time_ps, timestamps * ptu.resolution_ps)
    with ptufile.PtuFile(ptu.path) as own:
        decoded = own.decode_records()
    channels = decoded["channel"][decoded["channel"] >= 0]
    expected = dict(enumerate(np.bincount(channels).tolist()))
    assert ptu.counts() == {c: n for c, n in expected.items() if n}
    assert sum(ptu.counts().values()) == len(tags)


def test_times_are_monotonic_and_microtimes_inside_the_period(ptu: PtuReader) -> None:
    tags = whole(ptu)
    assert np.all(np.diff(tags.time_ps) >= 0)
    if ptu.mode == "T3":
        assert tags.microtime_ps.min() >= 0
        assert tags.microtime_ps.max() < ptu.sync_period_ps
        np.testing.assert_array_equal(
            tags.time_ps, tags.sync * ptu.sync_period_ps + tags.microtime_ps
        )
        assert np.all(np.diff(tags.sync) >= 0)


@pytest.mark.parametrize("chunk_records", [37, 1000, 4096, 65537])
def test_chunked_reading_equals_whole_file(ptu: PtuReader, chunk_records: int) -> None:
    reference = whole(ptu)
    chunks = list(ptu.chunks(chunk_records))
    assert all(0 < len(c) <= chunk_records for c in chunks)
    for name in ("channel", "time_ps", "sync", "microtime_ps"):
        if getattr(reference, name) is not None:
            joined = np.concatenate([getattr(c, name) for c in chunks])
            np.testing.assert_array_equal(joined, getattr(reference, name))


@pytest.mark.parametrize(
    ("name", "period_ps", "resolution_ps", "duration_s"),
    [("hydraharp_v20_t3.ptu", 200_002, 64, 10.0), ("hydraharp_v10_t3.ptu", 400_000, 128, 30.0)],
)
def test_t3_header_facts(name: str, period_ps: int, resolution_ps: int, duration_s: float) -> None:
    with PtuReader(tttr_file(name)) as reader:
        assert (reader.mode, reader.sync_period_ps, reader.resolution_ps) == (
            "T3",
            period_ps,
            resolution_ps,
        )
        assert reader.sync_rate_hz == pytest.approx(1e12 / period_ps, rel=1e-5)
        assert reader.duration_s() == pytest.approx(duration_s, rel=1e-4)
        assert sorted(reader.counts()) == [0, 1]
        assert reader.instrument.startswith("HydraHarp")


def test_picoharp_t2_has_the_sync_input_on_channel_0_and_one_detector() -> None:
    with PtuReader(tttr_file("picoharp_v30_t2.ptu")) as reader:
        assert (reader.mode, reader.sync_channel, reader.sync_period_ps) == ("T2", 0, 0)
        assert reader.resolution_ps == 4
        counts = reader.counts()
        assert sorted(counts) == [0, 1]
        duration = reader.duration_s()
        assert 7.0 < duration < 8.0  # the run was stopped by hand long before its 60-s setting
        # channel 0 is the sync input: its mean rate is the rate the header measured on it
        assert counts[0] / duration == pytest.approx(reader.sync_rate_hz, rel=0.02)


# -- hand-built HydraHarp T2 files ---------------------------------------------------------
TY_INT8, TY_FLOAT8, TY_STRING, TY_EMPTY8 = 0x10000008, 0x20000008, 0x4001FFFF, 0xFFFF0008


def write_ptu(path: Path, record_type: int, records: list[int], records_in_header: int) -> Path:
    """A minimal T2 PTU file (PicoQuant's unified tag header) holding ``records``."""

    def tag(ident: str, typ: int, value: object) -> bytes:
        head = struct.pack("<32siI", ident.encode(), -1, typ)
        if typ == TY_STRING:
            text = str(value).encode() + b"\0"
            return head + struct.pack("<q", len(text)) + text
        return head + struct.pack("<d" if typ == TY_FLOAT8 else "<q", value)

    header = b"PQTTTR\0\0" + b"1.0.00\0\0"
    header += tag("HW_Type", TY_STRING, "HydraHarp")
    header += tag("Measurement_Mode", TY_INT8, 2)
    header += tag("Measurement_SubMode", TY_INT8, 0)
    header += tag("TTResultFormat_TTTRRecType", TY_INT8, record_type)
    header += tag("TTResultFormat_BitsPerRecord", TY_INT8, 32)
    header += tag("MeasDesc_GlobalResolution", TY_FLOAT8, 1e-12)
    header += tag("MeasDesc_Resolution", TY_FLOAT8, 1e-12)
    header += tag("TTResult_SyncRate", TY_INT8, 1_000_000)
    header += tag("TTResult_NumberOfRecords", TY_INT8, records_in_header)
    header += tag("Header_End", TY_EMPTY8, 0)
    path.write_bytes(header + np.array(records, np.uint32).tobytes())
    return path


def sync(t: int) -> int:
    return (1 << 31) | t


def photon(channel: int, t: int) -> int:
    return (channel << 25) | t


def overflow(n: int) -> int:
    return (1 << 31) | (0x3F << 25) | n


def marker(m: int, t: int) -> int:
    return (1 << 31) | (m << 25) | t


RECORDS = [
    sync(100),
    photon(0, 150),
    photon(1, 170),
    overflow(1),
    sync(100),
    marker(2, 50),
    photon(0, 5),
    overflow(3),
    photon(1, 7),
]


@pytest.mark.parametrize(
    ("record_type", "wraps"),
    [(0x01010204, (1 << 25, 4 << 25)), (0x00010204, (33_552_000, 2 * 33_552_000))],
    ids=["v2", "v1"],
)
@pytest.mark.parametrize("chunk_records", [1, 2, 4, 9])
def test_hydraharp_t2_sync_overflows_and_markers(
    tmp_path: Path, record_type: int, wraps: tuple[int, int], chunk_records: int
) -> None:
    """Sync records become channel 0 and detector k channel k + 1; v2 overflow records carry
    a count (v1 ones always one wrap); markers and overflows leave no photon."""
    path = write_ptu(tmp_path / "hh_t2.ptu", record_type, RECORDS, len(RECORDS))
    one, two = wraps
    with PtuReader(path) as reader:
        chunks = list(reader.chunks(chunk_records))
        assert reader.counts() == {0: 2, 1: 2, 2: 2}
    assert reader.mode == "T2" and reader.resolution_ps == 1
    np.testing.assert_array_equal(np.concatenate([c.channel for c in chunks]), [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(
        np.concatenate([c.time_ps for c in chunks]),
        [100, 150, 170, one + 100, one + 5, two + 7],
    )


def test_truncated_ptu_reads_its_complete_records(tmp_path: Path) -> None:
    """A file cut short (a run that died) yields the records it holds, the last one whole."""
    cut = len(RECORDS) - 3
    path = write_ptu(tmp_path / "cut.ptu", 0x01010204, RECORDS[:cut], len(RECORDS))
    path.write_bytes(path.read_bytes() + b"\x01\x02")  # half a record at the end
    with PtuReader(path) as reader:
        assert reader.n_records == cut
        np.testing.assert_array_equal(whole(reader).time_ps, [100, 150, 170, (1 << 25) + 100])


@pytest.mark.parametrize("content", [b"", b"PQTTTR\0\0garbage", np.arange(99).tobytes()])
def test_unreadable_file_raises_a_qslab_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.ptu"
    path.write_bytes(content)
    with pytest.raises(QslabError, match="broken.ptu"):
        PtuReader(path)
    with pytest.raises(QslabError, match="absent.ptu"):
        PtuReader(tmp_path / "absent.ptu")
    unknown = write_ptu(tmp_path / "unknown_format.ptu", 0x12345, RECORDS, len(RECORDS))
    with pytest.raises(QslabError, match="unknown_format.ptu"):
        PtuReader(unknown)
