"""Swabian Instruments Time Tagger (20, Ultra, X) through its Python library."""
