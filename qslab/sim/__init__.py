"""The virtual bench and the simulated devices that speak each real driver's protocol."""
