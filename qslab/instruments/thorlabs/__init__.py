"""Thorlabs instruments: FW102C/FW212C filter wheels and PM100 power/energy meters."""
