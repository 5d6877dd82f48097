"""Andor (Oxford Instruments): Shamrock/Kymera spectrographs with iDus/Newton CCDs via pylablib."""
