"""Photon-HDF5: the streaming writer's files pass phconvert's validator and give back exactly the
tags written (PTU -> Photon-HDF5 -> TagChunks); broken files fail with the file's name."""

from __future__ import annotations

import gc
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_tttr_files import FILES, tttr_file

from qslab.errors import QslabError
from qslab.tcspc.photon_hdf5 import PhotonHDF5Reader, PhotonHDF5Writer, read_photon_hdf5
from qslab.tcspc.ptu import PtuReader
from qslab.tcspc.tags import TagChunk

ARRAYS = ("channel", "time_ps", "sync", "microtime_ps")


def assert_same_tags(chunks: list[TagChunk], reference: list[TagChunk]) -> None:
    for name in ARRAYS:
        if getattr(reference[0], name) is None:
            assert all(getattr(c, name) is None for c in chunks)
            continue
        joined = np.concatenate([getattr(c, name) for c in chunks])
        np.testing.assert_array_equal(joined, np.concatenate([getattr(c, name) for c in reference]))
    assert {(c.sync_period_ps, c.resolution_ps) for c in chunks} == {
        (reference[0].sync_period_ps, reference[0].resolution_ps)
    }


def writer_for(reader: PtuReader, path: Path) -> PhotonHDF5Writer:
    return PhotonHDF5Writer(
        path,
        mode=reader.mode,
        resolution_ps=reader.resolution_ps,
        sync_period_ps=reader.sync_period_ps,
        description=f"HBT time tags converted from {reader.path.name}",
        instrument=reader.instrument,
        excitation_wavelength_nm=405.0,
        detection_wavelength_nm=670.0,
        sample_name="PicoQuant sample data",
        provenance={"filename": str(reader.path), "software": reader.creator},
    )


def assert_valid(path: Path) -> None:
    import phconvert
    import tables

    with tables.open_file(str(path)) as h5:
        # a T2 file of unknown excitation has no measurement_specs: an optional group
        phconvert.hdf5.assert_valid_photon_hdf5(h5, warnings=False, skip_measurement_specs=True)


@pytest.fixture(scope="module", params=FILES)
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A real PTU file streamed into Photon-HDF5 in chunks of 10000 records."""
    path = tmp_path_factory.mktemp("phdf5") / "tags.h5"
    with PtuReader(tttr_file(request.param)) as reader:
        writer = writer_for(reader, path)
        for chunk in reader.chunks(10_000):
            writer.append(chunk)
        writer.close(duration_s=reader.duration_s())
        yield reader, path


def test_streamed_file_is_valid_photon_hdf5(converted: tuple[PtuReader, Path]) -> None:
    reader, path = converted
    assert_valid(path)
    with h5py.File(path) as h5:
        ids, counts = h5["setup/detectors/id"][()], h5["setup/detectors/counts"][()]
        counts = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        assert counts == reader.counts()
        assert h5["acquisition_duration"][()] == pytest.approx(reader.duration_s())
        assert bool(h5["setup/lifetime"][()]) == (reader.mode == "T3")
        assert h5["setup/excitation_wavelengths"][()] == pytest.approx([405e-9])
        assert h5["setup/detection_wavelengths"][()] == pytest.approx([670e-9])
        if reader.mode == "T3":
            rate = h5["photon_data/measurement_specs/laser_repetition_rate"][()]
            assert rate == pytest.approx(1e12 / reader.sync_period_ps)
            unit = h5["photon_data/nanotimes_specs/tcspc_unit"][()]
            assert unit == pytest.approx(reader.resolution_ps * 1e-12)


@pytest.mark.parametrize("chunk_records", [777, 1 << 20])
def test_ptu_to_photon_hdf5_round_trip_is_exact(
    converted: tuple[PtuReader, Path], chunk_records: int
) -> None:
    reader, path = converted
    chunks = list(read_photon_hdf5(path, chunk_records))
    assert all(0 < len(c) <= chunk_records for c in chunks)
    assert_same_tags(chunks, list(reader.chunks()))
    with PhotonHDF5Reader(path) as back:
        assert (back.mode, back.instrument) == (reader.mode, reader.instrument)
        assert back.counts() == reader.counts()
        assert back.duration_s() == pytest.approx(reader.duration_s())


def tags(n: int, start: int, period_ps: int = 12_500, resolution_ps: int = 25) -> TagChunk:
    """``n`` T3 photons on two channels, one per laser period from ``start``."""
    sync = np.arange(start, start + n, dtype=np.int64)
    microtime = (sync * 7919 % (period_ps // resolution_ps)) * resolution_ps
    return TagChunk(
        channel=(sync % 2).astype(np.uint8),
        time_ps=sync * period_ps + microtime,
        sync=sync,
        microtime_ps=microtime,
        sync_period_ps=period_ps,
        resolution_ps=resolution_ps,
    )


def simulated_writer(path: Path) -> PhotonHDF5Writer:
    return PhotonHDF5Writer(
        path, mode="T3", resolution_ps=25, sync_period_ps=12_500, description="simulated HBT"
    )


def test_photons_of_a_run_that_died_are_on_disk(tmp_path: Path) -> None:
    """Each chunk reaches the file when appended: a writer never closed leaves them readable."""
    path = tmp_path / "died.h5"
    writer = simulated_writer(path)
    written = [tags(1000, 0), tags(500, 5000)]
    for chunk in written:
        writer.append(chunk)
    writer._h5.close()  # the process dies: no metadata, no validation
    del writer
    gc.collect()
    with PhotonHDF5Reader(path) as back:
        assert_same_tags(list(back.chunks(300)), written)
        assert back.duration_s() == pytest.approx(5499 * 12.5e-9)


def test_an_empty_acquisition_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.h5"
    with simulated_writer(path):
        pass
    assert_valid(path)
    assert list(read_photon_hdf5(path)) == []


def test_a_chunk_of_another_counter_setting_is_refused(tmp_path: Path) -> None:
    with simulated_writer(tmp_path / "x.h5") as writer, pytest.raises(ValueError, match="25 ps"):
        writer.append(tags(10, 0, resolution_ps=5))


def test_truncated_or_garbage_files_raise_a_qslab_error_naming_them(tmp_path: Path) -> None:
    good = tmp_path / "good.h5"
    with simulated_writer(good) as writer:
        writer.append(tags(200_000, 0))
    data = good.read_bytes()
    broken = {
        "truncated.h5": data[: len(data) // 2],
        "garbage.h5": np.random.default_rng(1).bytes(4096),
        "text.h5": b"timestamps,detectors\n1,0\n",
    }
    for name, content in broken.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(QslabError, match=name):
            list(read_photon_hdf5(tmp_path / name))
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["entry/data"] = np.arange(3)
    with pytest.raises(QslabError, match="other.h5"):
        PhotonHDF5Reader(tmp_path / "other.h5")
