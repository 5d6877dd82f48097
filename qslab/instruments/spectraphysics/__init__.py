"""Spectra-Physics lasers: the Mai Tai and InSight Ti:sapphire systems."""
