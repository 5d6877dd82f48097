"""A guard around each connected device, so that "make safe" can act at once from any thread.

The run's procedure talks to the devices from the engine's worker thread. A make-safe request
(the GUI's button, Esc) must not wait for the procedure's next check: it closes the shutter now,
from its own thread. Two things make that sound:

* every call and attribute access on a device holds that device's lock, so two threads never
  interleave commands on one link (a shutter command never lands inside a spectrometer
  read, and a spectrometer's long exposure does not hold up the shutter);
* once the station is latched safe, the calls that would put light back on the sample
  (``open_shutter``, ``set_emission(True)``) raise :class:`RunAborted` instead of reaching the
  instrument, so a procedure that was between two steps cannot reopen the beam before it
  notices the abort. The latch is released when the station is connected again.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from qslab.errors import RunAborted

ARMING = ("open_shutter", "set_emission")


class SafetyLatch:
    """Shared by every guarded device of one station."""

    def __init__(self) -> None:
        self.reason = ""

    @property
    def engaged(self) -> bool:
        return bool(self.reason)


class GuardedDevice:
    """Forwards to ``device`` under its lock; refuses arming calls while the latch is set."""

    __slots__ = ("_device", "_lock", "_latch")

    def __init__(self, device: Any, latch: SafetyLatch) -> None:
        object.__setattr__(self, "_device", device)
        object.__setattr__(self, "_lock", threading.RLock())
        object.__setattr__(self, "_latch", latch)

    @property
    def unguarded(self) -> Any:
        """The driver itself (for tests and introspection)."""
        return self._device

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            attribute = getattr(self._device, name)  # a property may talk to the device
        if not callable(attribute):
            return attribute
        return self._guarded(name, attribute)

    def __setattr__(self, name: str, value: Any) -> None:
        with self._lock:
            setattr(self._device, name, value)

    def _guarded(self, name: str, method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name in ARMING and self._latch.engaged and _arms(name, args, kwargs):
                raise RunAborted(self._latch.reason)
            with self._lock:
                return method(*args, **kwargs)

        return call


def _arms(name: str, args: tuple, kwargs: dict) -> bool:
    """``open_shutter()``, or ``set_emission`` asked to turn the laser on."""
    return name != "set_emission" or bool(args[0] if args else kwargs.get("on", True))
