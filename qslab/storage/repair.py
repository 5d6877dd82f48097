"""Repair of a run file cut short while it was being written (its disk filled).

HDF5 records in its superblock where the file ends. When the disk fills, the library has
already moved that end for space it then could not write, and it refuses to open a file
shorter than its superblock says. Every point flushed before that moment is intact in the
file; only the space the failed write claimed is missing. Extending the file to its recorded
end (with zeros: a sparse hole, no disk space taken) makes it readable again, with every
point that was completed. ``qslab resume`` does this before it completes the run.
"""

from __future__ import annotations

import os
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
"""Where a superblock may start (after a user block of 512 * 2^n bytes)."""


def recorded_end(path: Path) -> int | None:
    """The file size the superblock records (its end-of-file address, which counts from the
    start of the file, user block included), or None when no superblock of a known version
    is found."""
    with open(path, "rb") as file:
        for offset in SUPERBLOCK_OFFSETS:
            file.seek(offset)
            head = file.read(128)
            if head[:8] == SIGNATURE:
                return _end_in_superblock(head)
    return None


def _end_in_superblock(head: bytes) -> int | None:
    version = head[8]
    if version in (0, 1):
        size = head[13]
        first = 24 if version == 0 else 28  # version 1 adds the indexed-storage K and 2 bytes
    elif version in (2, 3):
        size = head[9]
        first = 12
    else:
        return None
    if size not in (2, 4, 8) or len(head) < first + 3 * size:  # base, next, end of file
        return None
    return int.from_bytes(head[first + 2 * size : first + 3 * size], "little")


def extend_to_recorded_end(path: Path) -> int:
    """Extend a file cut short to the size its superblock records; the bytes added (0 when
    the file is whole or not HDF5)."""
    end = recorded_end(path)
    size = Path(path).stat().st_size
    if end is None or end <= size:
        return 0
    os.truncate(path, end)
    return end - size
