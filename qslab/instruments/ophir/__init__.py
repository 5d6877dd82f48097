"""Ophir power and energy meters: Vega, Nova, Nova II and StarBright consoles over RS-232."""
