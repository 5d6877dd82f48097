"""Coherent lasers: the Chameleon Ultra / Vision Ti:sapphire oscillators."""
