"""A chunk of time tags, the one shape every TCSPC source hands to the correlators.

Times are integers in picoseconds, absolute from the start of the acquisition, so chunks of
any source (a live counter, a simulator, a PTU or Photon-HDF5 file) line up. In T3 mode every
photon also carries the index of the laser pulse (sync) it followed and its delay after it
(microtime); in T2 mode the sync is itself a channel (``sync_channel``) and pulse indices are
derived from its tags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TagChunk:
    """Photons in time order: ``channel[i]`` detected at ``time_ps[i]``.

    ``sync`` and ``microtime_ps`` are given in T3 mode (None in T2). ``sync_period_ps`` is the
    laser period (0 if unknown), ``resolution_ps`` the counter's time bin.
    """

    channel: np.ndarray
    time_ps: np.ndarray
    sync: np.ndarray | None = None
    microtime_ps: np.ndarray | None = None
    sync_period_ps: int = 0
    resolution_ps: int = 1

    def __post_init__(self) -> None:
        n = self.channel.size
        arrays = (self.time_ps, self.sync, self.microtime_ps)
        if any(a is not None and a.size != n for a in arrays):
            raise ValueError("every array of a TagChunk needs one entry per photon")

    @property
    def mode(self) -> str:
        return "T3" if self.sync is not None else "T2"

    def __len__(self) -> int:
        return int(self.channel.size)
