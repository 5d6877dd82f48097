"""Ocean Insight (Ocean Optics) spectrometers through python-seabreeze."""
