"""Light Conversion lasers: the PHAROS (and CARBIDE) femtosecond Yb amplifiers."""
