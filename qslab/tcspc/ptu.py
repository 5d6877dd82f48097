"""PicoQuant PTU files (T2 and T3: PicoHarp, HydraHarp v1/v2, TimeHarp, MultiHarp) as TagChunks.

ptufile parses the header and decodes the records; this module reads the records from disk one
range at a time, so a file of any size streams in bounded memory. ptufile restarts its overflow
(wrap-around) sum at every call, so each range is decoded together with the last record of the
previous one: that record's absolute time is known, and the difference is the overflow time to
add to the whole range. Overflow and marker records are dropped from the chunks.

Conventions (qslab's, the same for every source):

- T3: ``sync`` counts laser periods from the start, ``microtime_ps = dtime * resolution_ps`` and
  ``time_ps = sync * sync_period_ps + microtime_ps`` exactly. The period is the header's global
  resolution rounded to whole ps (TagChunk holds integers); against the file's exact period
  (200001.6 ps for a 4999960-Hz sync) the clock drifts by less than a TCSPC bin over any
  correlation window, and every source of TagChunks obeys the same identity.
- T2: the sync input is channel 0 (PicoHarp's own numbering) and detector input k (0-based) is
  channel k + 1. ptufile decodes the sync records of HydraHarp-style T2 files as channel 0,
  the same number as detector input 0; this module tells them apart by the record's special bit.
- T3 channels are the detector inputs, 0-based; the sync is implied by ``sync``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import ptufile

from qslab.errors import QslabError
from qslab.tcspc.photon_hdf5 import tags_from_photon_data
from qslab.tcspc.tags import TagChunk

log = logging.getLogger(__name__)

DEFAULT_CHUNK_RECORDS = 1 << 20
"""Records read per chunk: 4 MB on disk, about 16 MB once decoded."""

RT = ptufile.PtuRecordType
SYNC_IS_SPECIAL_RECORD = frozenset(
    {RT.HydraHarpT2, RT.HydraHarp2T2, RT.TimeHarp260NT2, RT.TimeHarp260PT2, RT.GenericT2}
)
"""T2 formats that mark a sync event as a special record on channel 0 (PicoHarp T2 does not)."""

T2_SYNC_CHANNEL = 0


class PtuReader:
    """One PTU file: header facts on opening, photons on demand in chunks of records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._ptu = ptufile.PtuFile(self.path)
        except Exception as exc:  # noqa: BLE001 - ptufile's parser fails in many ways on garbage
            raise self._unreadable(exc) from None
        try:
            tags = self._ptu.tags
            self.record_type = self._ptu.record_type
            self.mode = "T3" if self._ptu.is_t3 else "T2"
            self._global_s = self._ptu.global_resolution
            available = (self.path.stat().st_size - self._ptu.record_offset) // 4
        except (KeyError, ValueError, OSError) as exc:  # a tag missing, an unknown record type
            self._ptu.close()
            raise self._unreadable(exc) from None
        self.n_records = min(self._ptu.number_records, available)
        if self.n_records < self._ptu.number_records:
            log.warning(
                "%s ends after %d of the %d records its header announces; reading those",
                self.path,
                self.n_records,
                self._ptu.number_records,
            )
        if self.mode == "T3":
            self.sync_period_ps = round(self._global_s * 1e12)
            self.resolution_ps = round(self._ptu.tcspc_resolution * 1e12)
        else:
            self.sync_period_ps = 0
            self.resolution_ps = round(self._global_s * 1e12)
        self.sync_channel = T2_SYNC_CHANNEL if self.mode == "T2" else None
        self.sync_rate_hz = float(tags.get("TTResult_SyncRate", 0.0))
        parts = (
            tags.get("HW_Type", "PicoQuant"),
            f"v{tags['HW_Version']}" if "HW_Version" in tags else "",
            f"SN {tags['HW_SerialNo']}" if "HW_SerialNo" in tags else "",
        )
        self.instrument = " ".join(p for p in parts if p)
        self.creator = str(tags.get("CreatorSW_Name", ""))
        self._summary: tuple[dict[int, int], float] | None = None

    def _unreadable(self, exc: Exception) -> QslabError:
        return QslabError(f"{self.path}: not a readable PicoQuant PTU file ({exc})")

    def __enter__(self) -> PtuReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._ptu.close()

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Photons in file order, ``chunk_records`` records (photons and others) at a time;
        ranges holding no photon are skipped."""
        for raw, decoded in self._ranges(chunk_records):
            chunk = self._tags(raw, decoded)
            if len(chunk):
                yield chunk

    def counts(self) -> dict[int, int]:
        """Photons per channel over the whole file (one streaming pass, then cached)."""
        return self._scan()[0]

    def duration_s(self) -> float:
        """Time of the last record (photon or overflow): the acquisition time actually run.
        The header's MeasDesc_AcquisitionTime is the time asked for, not always the time run."""
        return self._scan()[1]

    def _scan(self) -> tuple[dict[int, int], float]:
        if self._summary is None:
            counts = np.zeros(256, np.int64)
            last = 0
            for raw, decoded in self._ranges(DEFAULT_CHUNK_RECORDS):
                counts += np.bincount(self._tags(raw, decoded).channel, minlength=256)
                last = int(decoded["time"][-1])
            channels = {int(c): int(counts[c]) for c in np.flatnonzero(counts)}
            self._summary = (channels, last * self._global_s)
        return self._summary

    def _ranges(self, chunk_records: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(raw records, decoded records with absolute times in global units) per range."""
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be positive, got {chunk_records}")
        fh = self._ptu.filehandle
        previous: tuple[np.uint32, int] | None = None  # last raw record, its absolute time
        for start in range(0, self.n_records, chunk_records):
            raw = np.empty(min(chunk_records, self.n_records - start), np.uint32)
            fh.seek(self._ptu.record_offset + 4 * start)
            fh.readinto(raw)
            if previous is None:
                decoded = self._ptu.decode_records(raw)
            else:
                decoded = self._ptu.decode_records(np.concatenate(([previous[0]], raw)))
                decoded["time"] += np.uint64(previous[1] - int(decoded["time"][0]))
                decoded = decoded[1:]
            previous = (raw[-1], int(decoded["time"][-1]))
            yield raw, decoded

    def _tags(self, raw: np.ndarray, decoded: np.ndarray) -> TagChunk:
        photon = decoded["channel"] >= 0
        channel = decoded["channel"][photon].astype(np.uint8)
        if self.record_type in SYNC_IS_SPECIAL_RECORD:
            detector = (raw[photon] >> 31) == 0
            channel[detector] += 1
        nanotimes = decoded["dtime"][photon] if self.mode == "T3" else None
        return tags_from_photon_data(
            channel, decoded["time"][photon], nanotimes, self.sync_period_ps, self.resolution_ps
        )
