"""What the pulsed-laser drivers share, apart from their lasers' protocols.

A pulsed laser's beam reaches the sample through optics the laser knows nothing of: a harmonic
generator dividing its wavelength by ``harmonic`` and, after an 80 MHz oscillator, a pulse
picker passing one pulse in ``pulse_picker_divider``. The pulse width at the sample
(``pulse_width_s``) is the station's to say, and ``emission_off_on_safe`` whether the safe state
also switches the laser's emission off. This module declares those options and checks them
(:func:`check_optics`, :func:`check_tuning`), gives the role class the drivers build on
(:class:`PulsedLaserRole`, :class:`PickedOscillatorRole`) and :func:`wait_until`, the polling
loop of a laser that is slow to get where it was sent. Each driver's own module cites its
manual for the protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

from qslab.errors import ValidationError
from qslab.instruments.registry import Option
from qslab.instruments.textlink import DeviceLink

T = TypeVar("T")
OSCILLATOR_HZ = 80e6
"""The pulse rate of a Ti:sapphire oscillator, before its pulse picker."""
HARMONICS = (1, 2, 3, 4)
"""The harmonics generated after a laser of fixed wavelength."""
PULSE_PICKER_DIVIDER = Option(
    "pulse_picker_divider", "int", 80000, "pulse picker keeps 1 pulse in N of 80 MHz"
)


def harmonic_option(
    default: int = 2, doc: str = "harmonic generated after the laser (1: none)"
) -> Option:
    return Option("harmonic", "int", default, doc)


def pulse_width_option(default_s: float) -> Option:
    return Option("pulse_width_s", "float", default_s, "pulse width at the sample", "s")


def emission_off_on_safe_option(effect: str) -> Option:
    """The option, off by default; ``effect`` says what switching this laser off does and
    why that is not wanted every time."""
    return Option("emission_off_on_safe", "bool", False, f"safe state also {effect}")


def check_optics(options: dict[str, Any], fundamental_nm: float | None = None) -> dict[str, Any]:
    """``options`` once the optics options are found right: ``harmonic`` 1 to 4 after a laser
    of fixed wavelength ``fundamental_nm``, at least 1 after a tunable one (``None``);
    ``pulse_picker_divider``, where the driver has that option, at least 1; ``pulse_width_s``
    positive."""
    harmonic = options["harmonic"]
    if fundamental_nm is not None and harmonic not in HARMONICS:
        raise ValidationError(
            "station.laser.harmonic",
            f"must be 1 ({fundamental_nm:g} nm), 2, 3 or 4, got {harmonic}",
        )
    for name in ("harmonic", "pulse_picker_divider"):
        if name in options and options[name] < 1:
            raise ValidationError(
                f"station.laser.{name}", f"must be at least 1, got {options[name]}"
            )
    if not options["pulse_width_s"] > 0:
        raise ValidationError("station.laser.pulse_width_s", "must be positive")
    return options


def nominal_wavelength(fundamental_nm: float | None = None) -> Callable[[dict[str, Any]], float]:
    """The wavelength at the sample from the options: ``tuning_nm`` (a tunable laser) or
    ``fundamental_nm`` (a fixed one), divided by ``harmonic``."""

    def at_sample(options: dict[str, Any]) -> float:
        laser_nm = options["tuning_nm"] if fundamental_nm is None else fundamental_nm
        return laser_nm / options["harmonic"]

    return at_sample


def check_tuning(tuning_nm: float, low: float, high: float) -> None:
    """The ``tuning_nm`` option against the laser's tuning range ``low``-``high``."""
    if not low <= tuning_nm <= high:
        raise ValidationError(
            "station.laser.tuning_nm",
            f"{tuning_nm:g} nm is outside this laser's tuning range {low:g}-{high:g} nm",
        )


def wait_until(
    done: Callable[[], bool], timeout_s: float, poll_s: float, error: Callable[[], Exception]
) -> None:
    """Ask ``done()`` every ``poll_s`` until it is true; once ``timeout_s`` has passed without,
    raise ``error()``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise error()
        time.sleep(poll_s)


class PulsedLaserRole:
    """The PulsedLaser role of ``laser`` with a harmonic generator after it: the pulse train at
    the sample.

    A driver's subclass gives the shutter and emission members, ``laser_nm`` (the wavelength
    leaving the laser), ``repetition_rate_hz``, :meth:`identity`, :meth:`close` and
    :meth:`_laser_settings`; this class gives the wavelength at the sample, the standard
    :meth:`safe` and :meth:`settings`.
    """

    poll_s = 0.5
    """How often :meth:`_wait_for` asks the laser whether it is there yet, s."""

    laser_nm: float
    repetition_rate_hz: float

    def __init__(self, laser: DeviceLink, options: dict[str, Any]) -> None:
        self.laser = laser
        self.harmonic = options["harmonic"]
        self.pulse_width_s = options["pulse_width_s"]
        self.emission_off_on_safe = options["emission_off_on_safe"]

    @property
    def wavelength_nm(self) -> float:
        return self.laser_nm / self.harmonic

    def safe(self) -> None:
        """Shutter closed; emission off too only if ``emission_off_on_safe`` asks, since a
        pulsed laser is slow to come back."""
        self.close_shutter()
        if self.emission_off_on_safe:
            self._emission_off()

    def _emission_off(self) -> None:
        self.set_emission(False)

    def settings(self) -> dict[str, Any]:
        """The laser's own settings, the optics options, the pulse train at the sample, what
        the laser reads of its output, emission and shutter."""
        return {
            **self._laser_settings(),
            **self._optics_settings(),
            "wavelength_nm": self.wavelength_nm,
            "repetition_rate_hz": self.repetition_rate_hz,
            "pulse_width_s": self.pulse_width_s,
            **self._readings(),
            "emission_on": self.emission_on,
            "shutter_open": self.shutter_open,
        }

    def _laser_settings(self) -> dict[str, Any]:
        """What the laser itself is set to, first in :meth:`settings`."""
        raise NotImplementedError

    def _optics_settings(self) -> dict[str, Any]:
        return {"harmonic": self.harmonic}

    def _readings(self) -> dict[str, Any]:
        """What the laser measures of its output, for :meth:`settings` (nothing here)."""
        return {}

    def _wait_for(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        """:func:`wait_until` ``done()``, asked every ``poll_s``; after ``timeout_s`` it is the
        laser's error "gave up waiting ... for ``what``"."""
        wait_until(
            done,
            timeout_s,
            self.poll_s,
            lambda: self.laser.error(f"gave up waiting {timeout_s:g} s for {what}"),
        )


class PickedOscillatorRole(PulsedLaserRole):
    """The role of a tunable 80 MHz oscillator with a pulse picker after it, passing one pulse
    in ``pulse_picker_divider``, then the harmonic generator. A driver's subclass also gives
    :meth:`tune` and :meth:`_ready`."""

    def __init__(self, laser: DeviceLink, options: dict[str, Any]) -> None:
        super().__init__(laser, options)
        self.pulse_picker_divider = options["pulse_picker_divider"]
        self.repetition_rate_hz = OSCILLATOR_HZ / self.pulse_picker_divider

    @classmethod
    def opened(cls, laser: Any, options: dict[str, Any]) -> Self:
        """The role on ``laser``, a pymeasure instrument just opened, once it is ready
        (:meth:`_ready`) and tuned to the ``tuning_nm`` option; its link is closed again if
        either fails."""
        role = cls(laser, options)
        try:
            role._ready()
            role.tune(options["tuning_nm"])
        except Exception:
            laser.adapter.close()
            raise
        return role

    def _ready(self) -> None:
        """What the laser needs on connect, before it is tuned."""

    def tune(self, tuning_nm: float) -> None:
        """Tune the oscillator and wait until it is there."""
        raise NotImplementedError

    def _optics_settings(self) -> dict[str, Any]:
        return {**super()._optics_settings(), "pulse_picker_divider": self.pulse_picker_divider}


def oscillator_simulator(simulator: Callable[..., T], bench: Any, options: dict[str, Any]) -> T:
    """A tunable oscillator's ``simulator(bench, tuning_nm, harmonic, pulse_picker_divider,
    pulse_width_s)`` for a driver's ``options``, once checked."""
    o = check_optics(options)
    return simulator(
        bench, o["tuning_nm"], o["harmonic"], o["pulse_picker_divider"], o["pulse_width_s"]
    )
