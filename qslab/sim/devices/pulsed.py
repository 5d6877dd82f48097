"""What the simulated pulsed lasers share: the optics between the laser and the sample.

A simulated laser is given the station's optics options, as its driver is: a harmonic generator
divides the laser's wavelength by ``harmonic``, the pulse width at the sample is
``pulse_width_s`` and, after an 80 MHz oscillator, a pulse picker passes one pulse in
``pulse_picker_divider``. :class:`Optics` puts what leaves them on the bench.
"""

from __future__ import annotations

from qslab.sim.bench import VirtualBench

OSCILLATOR_HZ = 80e6
"""The pulse rate of a Ti:sapphire oscillator, before its pulse picker."""


class Optics:
    """The harmonic generator after a simulated laser, and the bench the beam reaches."""

    def __init__(self, bench: VirtualBench, harmonic: int, pulse_width_s: float) -> None:
        self.bench = bench
        self.harmonic = harmonic
        self.pulse_width_s = pulse_width_s

    def show(
        self, emission: bool, shutter_open: bool, laser_nm: float, repetition_rate_hz: float
    ) -> None:
        """Tell the bench what leaves the optics now, given the laser's emission, shutter,
        wavelength and pulse rate."""
        with self.bench.lock:
            laser = self.bench.laser
            laser.emission = emission
            laser.shutter_open = shutter_open
            laser.wavelength_nm = laser_nm / self.harmonic
            laser.repetition_rate_hz = repetition_rate_hz
            laser.pulse_width_s = self.pulse_width_s


class PickedOptics(Optics):
    """After an 80 MHz oscillator: a pulse picker passing one pulse in ``pulse_picker_divider``,
    then the harmonic generator."""

    def __init__(
        self, bench: VirtualBench, harmonic: int, pulse_picker_divider: int, pulse_width_s: float
    ) -> None:
        super().__init__(bench, harmonic, pulse_width_s)
        self.repetition_rate_hz = OSCILLATOR_HZ / pulse_picker_divider

    def show_oscillator(self, emission: bool, shutter_open: bool, laser_nm: float) -> None:
        """:meth:`show` the oscillator's pulses, thinned by the picker."""
        self.show(emission, shutter_open, laser_nm, self.repetition_rate_hz)
