"""Newport instruments: ESP301 / ESP300 / ESP302 motion controllers."""
