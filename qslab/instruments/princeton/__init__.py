"""Princeton Instruments (Acton) instruments: SpectraPro monochromators and spectrographs."""
