"""Quantel (Lumibird) lasers: the Big Sky CFR Q-switched Nd:YAG series."""
