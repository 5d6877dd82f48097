"""PicoQuant TCSPC electronics (HydraHarp, MultiHarp, PicoHarp 330) through snAPI."""
