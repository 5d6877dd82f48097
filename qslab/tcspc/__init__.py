"""Time-correlated single-photon counting: time-tag chunks, sources of them, and their files."""
