"""Disk space for the files a run writes, and what to do when it runs out anyway.

A file whose disk fills mid-write is cut short: HDF5 has already claimed space it could not
write, the file cannot be opened until ``qslab resume`` repairs it (qslab/storage/repair.py),
and the library cannot release it: its objects try to write again when freed, and crash the
process. So writers stop a run while :data:`MIN_FREE_BYTES` are still free, and a file that
fails anyway is kept (:data:`UNRELEASED`) until the ``qslab`` command ends the process without
the interpreter's teardown (:func:`qslab.cli.console`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from qslab.errors import QslabError

MIN_FREE_BYTES = 64 * 2**20
"""Below this much free space a run stops, with room left for its stop record and a clean
close."""

UNRELEASED: list[Any] = []
"""The HDF5 objects of files whose disk filled under them, never released (see above)."""


def require_space(folder: Path, kept: str) -> None:
    """Raise :class:`QslabError` when ``folder`` has less than :data:`MIN_FREE_BYTES` free;
    ``kept`` says where the run's data so far are and how to go on."""
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise QslabError(
            f"{folder}: only {free / 2**20:.0f} MiB free (qslab keeps "
            f"{MIN_FREE_BYTES / 2**20:.0f} MiB for the run's files): the run stopped before the "
            f"disk filled; {kept}"
        )


def unwritable(path: Path, exc: BaseException, *objects: Any) -> QslabError:
    """The error for a file that could not be written to the end; its ``objects`` are kept."""
    UNRELEASED.append(objects)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return QslabError(
        f"{path}: could not be written to the end (is the disk full?): {first}; once there is "
        "space, `qslab resume` the run's file"
    )
