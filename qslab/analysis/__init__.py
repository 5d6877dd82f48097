"""Domain analysis: fluence conversion, spectral peaks and widths, thresholds."""
