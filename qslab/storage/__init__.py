"""Storage: the HDF5 writer (a run subscriber) and the reader for the files it writes."""

from qslab.storage.reader import Column, RunRecord, format_run, read_run
from qslab.storage.writer import HDF5Writer

__all__ = ["Column", "HDF5Writer", "RunRecord", "format_run", "read_run"]
