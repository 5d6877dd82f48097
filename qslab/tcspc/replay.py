"""The TCSPC role played from a recording: a PTU or Photon-HDF5 file streams as if live.

Real measurements then drive every procedure and analysis without hardware, and a procedure
cannot tell the replay from a counter: channels are selected and cable delays added as the
counter would, and with ``realtime`` the photons arrive on the file's own clock. A read in real
time waits until ``poll_s`` after the previous one, like a program polling a counter's FIFO, and
returns the photons recorded up to that moment (possibly none); a backlog larger than
``chunk_records`` is handed over at once, chunk after chunk. Without ``realtime`` the file
streams as fast as it decodes.

Station use: ``driver = "tcspc.replay"`` with ``resource`` the path of the file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qslab.errors import QslabError, ValidationError
from qslab.instruments.registry import DriverSpec, Option
from qslab.tcspc.tags import TagChunk

PTU_MAGIC = b"PQTTTR"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ARRAYS = ("channel", "time_ps", "sync", "microtime_ps")


class TagFile(Protocol):
    """What the replay needs of a file reader (:mod:`qslab.tcspc.ptu`, ``photon_hdf5``)."""

    path: Path
    mode: str
    resolution_ps: int
    sync_period_ps: int
    instrument: str

    def chunks(self, chunk_records: int) -> Iterator[TagChunk]:
        """Non-empty chunks of photons in time order."""

    def counts(self) -> dict[int, int]: ...

    def duration_s(self) -> float: ...

    def close(self) -> None: ...


def open_tag_file(path: str | Path) -> TagFile:
    """A reader for a PTU or Photon-HDF5 file, told apart by their first bytes."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(len(HDF5_MAGIC))
    except OSError as exc:
        raise QslabError(f"{path}: cannot be read ({exc.strerror})") from None
    if head.startswith(PTU_MAGIC):
        from qslab.tcspc.ptu import PtuReader

        return PtuReader(path)
    if head == HDF5_MAGIC:
        from qslab.tcspc.photon_hdf5 import PhotonHDF5Reader

        return PhotonHDF5Reader(path)
    raise QslabError(f"{path}: neither a PicoQuant PTU nor a Photon-HDF5 file")


def _select(chunk: TagChunk, which: Any) -> TagChunk:
    """The photons ``which`` (a slice, mask or index array) of a chunk, in that order."""
    arrays = {a: getattr(chunk, a) for a in ARRAYS if getattr(chunk, a) is not None}
    return dataclasses.replace(chunk, **{a: v[which] for a, v in arrays.items()})


def _join(first: TagChunk, second: TagChunk) -> TagChunk:
    arrays = {a: getattr(first, a) for a in ARRAYS if getattr(first, a) is not None}
    return dataclasses.replace(
        first, **{a: np.concatenate((v, getattr(second, a))) for a, v in arrays.items()}
    )


def _delayed(chunk: TagChunk, delays_ps: dict[int, int]) -> TagChunk:
    """Each channel's photons later by its delay; T3 photons move to the pulse they now follow.
    Photons moved before the start of the acquisition are dropped. Order is not restored."""
    shift = np.zeros(256, np.int64)
    for channel, delay in delays_ps.items():
        shift[channel] = delay
    time_ps = chunk.time_ps + shift[chunk.channel]
    out = dataclasses.replace(chunk, time_ps=time_ps)
    if chunk.sync is not None:
        period = chunk.sync_period_ps
        moved = chunk.microtime_ps + shift[chunk.channel]
        out = dataclasses.replace(
            out, sync=chunk.sync + moved // period, microtime_ps=moved % period
        )
    return _select(out, time_ps >= 0)


class ReplayTCSPC:
    """A :class:`qslab.instruments.roles.TCSPC` reading its photons from a :class:`TagFile`.

    ``clock`` and ``sleep`` are the time source and the wait; tests pass a fake pair.
    """

    def __init__(
        self,
        source: TagFile,
        *,
        chunk_records: int = 1 << 16,
        realtime: bool = False,
        poll_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_records < 1 or poll_s <= 0:
            raise ValueError("chunk_records and poll_s must be positive")
        self.source = source
        self.chunk_records = chunk_records
        self.realtime = realtime
        self.poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._channels = tuple(sorted(source.counts()))
        self._delays: dict[int, int] = {}
        self._stream: Iterator[TagChunk] | None = None

    # -- Device --------------------------------------------------------------------------
    def identity(self) -> str:
        return f"replay of {self.source.path.name}: {self.source.instrument}"

    def settings(self) -> dict[str, Any]:
        return {
            "file": str(self.source.path),
            "mode": self.mode,
            "resolution_ps": self.resolution_ps,
            "sync_period_ps": self.sync_period_ps,
            "channels": list(self._channels),
            "delays_ps": [self._delays.get(c, 0) for c in self._channels],
            "realtime": self.realtime,
            "chunk_records": self.chunk_records,
        }

    def safe(self) -> None:
        self.stop()

    def close(self) -> None:
        self.stop()
        self.source.close()

    # -- TCSPC ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.source.mode

    @property
    def resolution_ps(self) -> int:
        return self.source.resolution_ps

    @property
    def sync_period_ps(self) -> int:
        return self.source.sync_period_ps

    def configure(self, channels: tuple[int, ...], delays_ps: dict[int, int]) -> None:
        if any(not 0 <= c < 256 for c in channels):
            raise ValueError(f"channels are numbered 0 to 255, got {channels}")
        if set(delays_ps) - set(channels):
            raise ValueError(f"delays given for channels {sorted(delays_ps)} not all in {channels}")
        self._channels = tuple(sorted(channels))
        self._delays = {c: int(d) for c, d in delays_ps.items() if d}

    def count_rates(self) -> dict[int, float]:
        """The file's mean rate on each selected channel, and the sync (channel -1) in T3."""
        duration = self.source.duration_s()
        counts = self.source.counts()
        rates = {c: counts.get(c, 0) / duration if duration else 0.0 for c in self._channels}
        if self.mode == "T3":
            rates[-1] = 1e12 / self.sync_period_ps
        return rates

    def start(self, duration_s: float | None = None) -> None:
        """Replay from the beginning of the file, up to ``duration_s`` of its clock."""
        end_ps = None if duration_s is None else round(duration_s * 1e12)
        self._stream = self._chunks(end_ps, started=self._clock())

    def read_chunk(self) -> TagChunk | None:
        if self._stream is None:
            return None
        chunk = next(self._stream, None)
        if chunk is None:
            self._stream = None
        return chunk

    def stop(self) -> None:
        self._stream = None

    # -- the stream ----------------------------------------------------------------------
    def _chunks(self, end_ps: int | None, started: float) -> Iterator[TagChunk]:
        """Chunks of selected, delayed photons; paced by the clock when ``realtime``."""
        photons = self._photons()
        pending = next(photons, None)
        if pending is None:
            return
        last_read = started
        backlog = False
        while True:
            bound = np.iinfo(np.int64).max if end_ps is None else end_ps
            if self.realtime:
                wait = last_read + self.poll_s - self._clock()
                if wait > 0 and not backlog:
                    self._sleep(wait)
                last_read = self._clock()
                bound = min(bound, round((last_read - started) * 1e12))
            while len(pending) < self.chunk_records and (
                not len(pending) or pending.time_ps[-1] < bound
            ):
                more = next(photons, None)
                if more is None:
                    break
                pending = _join(pending, more)
            due = min(int(np.searchsorted(pending.time_ps, bound)), self.chunk_records)
            backlog = due == self.chunk_records
            if not due and (not len(pending) or bound == end_ps):
                return
            yield _select(pending, slice(None, due))
            pending = _select(pending, slice(due, None))

    def _photons(self) -> Iterator[TagChunk]:
        """The file's chunks reduced to the selected channels, delays applied, in time order.

        Delays reorder photons, so each chunk's photons are released only up to the earliest
        time a later photon can still take (the chunk's last raw time plus the smallest delay);
        the rest waits for the next chunk."""
        selected = np.zeros(256, bool)
        selected[list(self._channels)] = True
        floor = min((self._delays.get(c, 0) for c in self._channels), default=0)
        held: TagChunk | None = None
        for chunk in self.source.chunks(self.chunk_records):
            kept = _select(chunk, selected[chunk.channel])
            if not self._delays:
                yield kept
                continue
            moved = _delayed(kept, self._delays)
            held = moved if held is None else _join(held, moved)
            held = _select(held, np.argsort(held.time_ps, kind="stable"))
            ready = int(np.searchsorted(held.time_ps, chunk.time_ps[-1] + floor))
            yield _select(held, slice(None, ready))
            held = _select(held, slice(ready, None))
        if held is not None:
            yield held


# -- driver registry -----------------------------------------------------------------------
OPTIONS = (
    Option("realtime", "bool", False, "deliver photons on the file's clock instead of at once"),
    Option("chunk_records", "int", 1 << 16, "most photons per chunk (and records per file read)"),
    Option("poll_s", "float", 0.1, "real time only: interval between reads of the stream", "s"),
)


def connect(target: Any, options: dict[str, Any]) -> ReplayTCSPC:
    """Open the file named by the station's ``resource``."""
    given = {o.name: options.get(o.name, o.default) for o in OPTIONS}
    return ReplayTCSPC(open_tag_file(str(target)), **given)


def simulator(bench: Any, options: dict[str, Any]) -> Any:
    """A replay has nothing to simulate: its instrument is the recording."""
    raise ValidationError(
        "station.tcspc.resource",
        'tcspc.replay plays a recorded file: give the path of a PTU or Photon-HDF5 file, not "sim"',
    )


DRIVER = DriverSpec(
    name="tcspc.replay",
    role="tcspc",
    description="Replays a PicoQuant PTU or Photon-HDF5 time-tag file as a live TCSPC counter",
    connect=connect,
    simulator=simulator,
    options=OPTIONS,
    resource_is_file=True,
    manual="PicoQuant PTU format (ptufile); Photon-HDF5 specification (photon-hdf5.github.io)",
)
