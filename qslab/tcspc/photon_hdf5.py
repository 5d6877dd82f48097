"""Raw time tags as Photon-HDF5 (https://photon-hdf5.github.io), the open format other
photon-counting tools read: a streaming writer and a chunked reader.

The writer appends each chunk to resizable datasets in the Photon-HDF5 layout as it arrives, so
an acquisition of any length never sits in memory, and writes the units at once, so a file whose
run died still reads. On :meth:`PhotonHDF5Writer.close` phconvert adds the metadata (setup,
identity, provenance, field descriptions) around the arrays already on disk and validates the
file against the Photon-HDF5 specification.

Layout: ``timestamps`` are laser-period indices (T3, unit = the sync period) or counter ticks
(T2, unit = the resolution); ``nanotimes`` are TCSPC bins of ``resolution_ps`` after the pulse.
Tags finer than the resolution are floored to it, as the counter itself would have stored them.
T3 tags are rebuilt as ``time_ps = sync * sync_period_ps + microtime_ps``; the T2 sync, when
present, is channel 0 (see :mod:`qslab.tcspc.ptu`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from qslab.errors import QslabError
from qslab.storage.space import require_space, unwritable
from qslab.tcspc.tags import TagChunk

DEFAULT_CHUNK_RECORDS = 1 << 20
STORAGE_CHUNK = 1 << 16
"""Photons per HDF5 storage chunk: 0.5 MB of timestamps, a few ms of a fast stream."""

COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
INSTRUMENT_FIELD = "user/qslab/instrument"


def tags_from_photon_data(
    detectors: np.ndarray,
    timestamps: np.ndarray,
    nanotimes: np.ndarray | None,
    sync_period_ps: int,
    resolution_ps: int,
) -> TagChunk:
    """Photons in the counter's own units (as Photon-HDF5 and PTU records hold them) as a
    TagChunk: T3 (``nanotimes`` given) timestamps count laser periods and nanotimes count TCSPC
    bins; T2 timestamps count bins of ``resolution_ps``."""
    ticks = timestamps.astype(np.int64)
    channel = detectors.astype(np.uint8)
    if nanotimes is None:
        return TagChunk(
            channel=channel,
            time_ps=ticks * resolution_ps,
            sync_period_ps=sync_period_ps,
            resolution_ps=resolution_ps,
        )
    microtime = nanotimes.astype(np.int64) * resolution_ps
    return TagChunk(
        channel=channel,
        time_ps=ticks * sync_period_ps + microtime,
        sync=ticks,
        microtime_ps=microtime,
        sync_period_ps=sync_period_ps,
        resolution_ps=resolution_ps,
    )


class PhotonHDF5Writer:
    """Streams TagChunks of one acquisition into a Photon-HDF5 file.

    ``mode``, ``resolution_ps`` and ``sync_period_ps`` are the counter's (every chunk must
    match); the wavelengths (nm) and ``sample_name`` come from the run; ``provenance`` names the
    original file of a conversion (Photon-HDF5 fields ``filename``, ``software``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mode: str,
        resolution_ps: int,
        sync_period_ps: int,
        description: str,
        instrument: str = "",
        excitation_wavelength_nm: float | None = None,
        detection_wavelength_nm: float | None = None,
        sample_name: str = "",
        provenance: dict[str, str] | None = None,
    ) -> None:
        if mode not in ("T2", "T3"):
            raise ValueError(f"mode must be 'T2' or 'T3', got {mode!r}")
        if resolution_ps < 1 or sync_period_ps < 0 or (mode == "T3" and sync_period_ps < 1):
            raise ValueError("need resolution_ps >= 1, and a sync period in T3 mode")
        self.path = Path(path)
        self.mode = mode
        self.resolution_ps = int(resolution_ps)
        self.sync_period_ps = int(sync_period_ps)
        self._about = {
            "description": description,
            "instrument": instrument,
            "excitation_wavelengths": excitation_wavelength_nm,
            "detection_wavelengths": detection_wavelength_nm,
            "sample_name": sample_name,
            "provenance": provenance,
        }
        self._counts = np.zeros(256, np.int64)
        self._last_timestamp = 0
        self._h5 = h5py.File(self.path, "w")
        data = self._h5.create_group("photon_data")
        self._arrays = {
            "timestamps": self._dataset(data, "timestamps", np.int64),
            "detectors": self._dataset(data, "detectors", np.uint8),
        }
        data["timestamps_specs/timestamps_unit"] = self._timestamps_unit_s
        if mode == "T3":
            self.tcspc_num_bins = -(-self.sync_period_ps // self.resolution_ps)
            dtype = np.uint16 if self.tcspc_num_bins <= 1 << 16 else np.uint32
            self._arrays["nanotimes"] = self._dataset(data, "nanotimes", dtype)
            data["nanotimes_specs/tcspc_unit"] = self.resolution_ps * 1e-12
        self._closed = False

    @staticmethod
    def _dataset(group: h5py.Group, name: str, dtype: type) -> h5py.Dataset:
        return group.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(STORAGE_CHUNK,), **COMPRESSION
        )

    @property
    def _timestamps_unit_s(self) -> float:
        return (self.sync_period_ps if self.mode == "T3" else self.resolution_ps) * 1e-12

    def __enter__(self) -> PhotonHDF5Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def photons(self) -> int:
        return int(self._arrays["timestamps"].shape[0])

    def append(self, chunk: TagChunk) -> None:
        """Add one chunk at the end of the file and flush it to disk."""
        if (chunk.mode, chunk.resolution_ps, chunk.sync_period_ps) != (
            self.mode,
            self.resolution_ps,
            self.sync_period_ps,
        ):
            raise ValueError(
                f"chunk is {chunk.mode} at {chunk.resolution_ps} ps, period "
                f"{chunk.sync_period_ps} ps; the file is {self.mode} at {self.resolution_ps} ps, "
                f"period {self.sync_period_ps} ps"
            )
        if not len(chunk):
            return
        if self.mode == "T3":
            values = {
                "timestamps": chunk.sync,
                "nanotimes": chunk.microtime_ps // self.resolution_ps,
            }
            if values["nanotimes"].max() > np.iinfo(self._arrays["nanotimes"].dtype).max:
                raise ValueError("a microtime exceeds the TCSPC range of the file")
        else:
            values = {"timestamps": chunk.time_ps // self.resolution_ps}
        values["detectors"] = chunk.channel
        require_space(self.path.parent, "the photons so far are in " + self.path.name)
        start = self.photons
        try:
            for name, dataset in self._arrays.items():
                dataset.resize((start + len(chunk),))
                dataset[start:] = values[name]
            self._h5.flush()
        except (OSError, RuntimeError) as exc:  # the disk filled after all
            self._closed = True
            raise unwritable(self.path, exc, self._h5, self._arrays) from None
        self._counts += np.bincount(chunk.channel, minlength=256)
        self._last_timestamp = int(values["timestamps"][-1])

    def close(self, duration_s: float | None = None, validate: bool = True) -> None:
        """Write the metadata with phconvert and, unless ``validate`` is False, check the file
        against the Photon-HDF5 specification. The check reads the whole detectors array (one
        byte per photon). ``duration_s`` defaults to the time of the last photon."""
        if self._closed:
            return
        self._closed = True
        try:
            self._h5.close()
        except (OSError, RuntimeError) as exc:
            raise unwritable(self.path, exc, self._h5, self._arrays) from None
        import phconvert  # imported on use: it takes seconds to import
        import tables

        if duration_s is None:
            duration_s = self._last_timestamp * self._timestamps_unit_s
        try:
            with tables.open_file(str(self.path), "a") as h5:
                data = self._metadata(duration_s)
                for name in self._arrays:
                    data["photon_data"][name] = h5.get_node("/photon_data", name)
                with contextlib.redirect_stdout(io.StringIO()):  # phconvert prints progress
                    phconvert.hdf5.save_photon_hdf5(
                        data,
                        h5file=h5,
                        close=False,
                        validate=validate,
                        warnings=False,
                        skip_measurement_specs=True,
                    )
        except phconvert.hdf5.Invalid_PhotonHDF5 as exc:
            raise QslabError(f"{self.path}: not valid Photon-HDF5: {exc}") from exc

    def _metadata(self, duration_s: float) -> dict[str, Any]:
        about = self._about
        ids = np.flatnonzero(self._counts).astype(np.uint8)
        setup: dict[str, Any] = {
            "num_pixels": len(ids),
            "num_spots": 1,
            "num_spectral_ch": 1,
            "num_polarization_ch": 1,
            "num_split_ch": max(len(ids), 1),
            "modulated_excitation": False,
            "excitation_alternated": [False],
            "lifetime": self.mode == "T3",
            "detectors": {"id": ids, "id_hardware": ids, "counts": self._counts[ids]},
        }
        for field in ("excitation_wavelengths", "detection_wavelengths"):
            if about[field] is not None:  # one laser, one spectral band; Photon-HDF5 wants metres
                setup[field] = [about[field] * 1e-9]
        photon_data: dict[str, Any] = {
            "timestamps_specs": {"timestamps_unit": self._timestamps_unit_s},
        }
        if self.mode == "T3":
            unit = self.resolution_ps * 1e-12
            photon_data["nanotimes_specs"] = {
                "tcspc_unit": unit,
                "tcspc_num_bins": self.tcspc_num_bins,
                "tcspc_range": self.tcspc_num_bins * unit,
            }
        if self.sync_period_ps:  # a pulsed laser of known rate: HBT detectors behind a splitter
            rate = 1e12 / self.sync_period_ps
            setup["excitation_cw"] = [False]
            setup["laser_repetition_rates"] = [rate]
            split = {f"split_ch{i + 1}": [d] for i, d in enumerate(ids)} if len(ids) > 1 else {}
            photon_data["measurement_specs"] = {
                "measurement_type": "generic",
                "laser_repetition_rate": rate,
                "detectors_specs": {k: np.array(v, np.uint8) for k, v in split.items()},
            }
        data: dict[str, Any] = {
            "description": about["description"],
            "acquisition_duration": float(duration_s),
            "photon_data": photon_data,
            "setup": setup,
            "identity": {},
            "user": {"qslab": {"instrument": about["instrument"]}},
        }
        if about["sample_name"]:
            data["sample"] = {"sample_name": about["sample_name"]}
        if about["provenance"]:
            data["provenance"] = dict(about["provenance"])
        return data


class PhotonHDF5Reader:
    """A single-spot Photon-HDF5 file read as TagChunks, a range of photons at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise QslabError(f"{self.path}: not a readable Photon-HDF5 file ({exc})") from None
        try:
            self._read_header()
        except (KeyError, ValueError, TypeError, OSError) as exc:
            self._h5.close()
            raise QslabError(f"{self.path}: not a readable Photon-HDF5 file ({exc})") from None

    def _read_header(self) -> None:
        h5 = self._h5
        data = h5["photon_data"]
        self._timestamps = data["timestamps"]
        self._detectors = data["detectors"]
        self._nanotimes = data.get("nanotimes")
        if self._detectors.shape != self._timestamps.shape:
            raise ValueError("detectors and timestamps differ in length")
        unit_s = float(data["timestamps_specs/timestamps_unit"][()])
        rate_field = "measurement_specs/laser_repetition_rate"
        rate = float(data[rate_field][()]) if rate_field in data else 0.0
        self.mode = "T3" if self._nanotimes is not None else "T2"
        if self._nanotimes is not None:
            if rate and abs(unit_s * rate - 1) > 1e-3:
                raise ValueError("T3 timestamps are not counted in laser periods")
            self.sync_period_ps = round(unit_s * 1e12)
            self.resolution_ps = round(float(data["nanotimes_specs/tcspc_unit"][()]) * 1e12)
        else:
            self.sync_period_ps = round(1e12 / rate) if rate else 0
            self.resolution_ps = round(unit_s * 1e12)
        self._unit_s = unit_s
        for field in (INSTRUMENT_FIELD, "provenance/software"):
            if field in h5:
                self.instrument = h5[field][()].decode()
                break
        else:
            self.instrument = "unknown instrument"

    def __enter__(self) -> PhotonHDF5Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    @property
    def photons(self) -> int:
        return int(self._timestamps.shape[0])

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Photons in file order, at most ``chunk_records`` at a time."""
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be positive, got {chunk_records}")
        for start in range(0, self.photons, chunk_records):
            try:
                yield self._chunk(slice(start, start + chunk_records))
            except OSError as exc:
                raise QslabError(f"{self.path}: unreadable photon data ({exc})") from None

    def _chunk(self, where: slice) -> TagChunk:
        nanotimes = None if self._nanotimes is None else self._nanotimes[where]
        return tags_from_photon_data(
            self._detectors[where],
            self._timestamps[where],
            nanotimes,
            self.sync_period_ps,
            self.resolution_ps,
        )

    def counts(self) -> dict[int, int]:
        """Photons per channel: the file's own detector counts, else one pass over the data."""
        detectors = self._h5.get("setup/detectors")
        if detectors is not None and "counts" in detectors:
            ids, counts = detectors["id"][()].tolist(), detectors["counts"][()].tolist()
            return dict(zip(ids, counts, strict=True))
        counts = np.zeros(256, np.int64)
        for chunk in self.chunks():
            counts += np.bincount(chunk.channel, minlength=256)
        return {int(c): int(counts[c]) for c in np.flatnonzero(counts)}

    def duration_s(self) -> float:
        """The file's acquisition duration, else the time of its last photon."""
        if "acquisition_duration" in self._h5:
            return float(self._h5["acquisition_duration"][()])
        return int(self._timestamps[-1]) * self._unit_s if self.photons else 0.0


def read_photon_hdf5(
    path: str | Path, chunk_records: int = DEFAULT_CHUNK_RECORDS
) -> Iterator[TagChunk]:
    """The photons of a Photon-HDF5 file as TagChunks of at most ``chunk_records``."""
    with PhotonHDF5Reader(path) as reader:
        yield from reader.chunks(chunk_records)
