"""What the drivers have in common, apart from their instruments' protocols.

Every driver names its instrument and link in the :class:`DeviceError` it raises
(:class:`DeviceLink`). The text-protocol drivers (pymeasure instruments on a serial or USBTMC
link) also share how a broken exchange is reported and cleaned up (:class:`TextLink`); those
whose write and ask are each one whole exchange with the instrument share that framing and
strict number parsing (:class:`ExchangeLink`). :func:`open_link` puts a driver on a VISA
resource string or on a simulator, :func:`closing_on_error` closes it again if its setup on
connect fails, and :func:`switch` declares a 0/1 setting as a True/False property. Each
driver's own module cites its manual for the protocol itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set
from pyvisa.errors import Error as VisaError

from qslab.errors import DeviceError, QslabError
from qslab.sim.adapter import SimAdapter

LINK_ERRORS = (VisaError, OSError)
"""What a timeout or a lost link raises: pyvisa's errors, or the OS's through pyserial."""
ON_OFF = {False: 0, True: 1}
"""A switch as the text protocols write it."""


def switch(get_command: str, set_command: str, docs: str) -> property:
    """A pymeasure control for a switch the instrument reads and writes as 0 or 1, given as
    False or True; any other value is refused before sending."""
    return Instrument.control(
        get_command,
        set_command,
        docs,
        validator=strict_discrete_set,
        values=ON_OFF,
        map_values=True,
        cast=int,
    )


@contextlib.contextmanager
def closing_on_error(opened: Any) -> Iterator[None]:
    """Close the link of ``opened`` (a driver, or a list of drivers the block may still add to)
    if the block raises, then re-raise: a connect whose setup fails leaves no link open."""
    try:
        yield
    except Exception:
        for instrument in opened if isinstance(opened, list) else [opened]:
            instrument.adapter.close()
        raise


def open_link(target: Any, connection: dict[str, Any]) -> tuple[Any, str]:
    """The adapter to give a pymeasure driver, and the resource its errors name: a VISA
    resource string as it is (pymeasure opens it), or a simulator behind a :class:`SimAdapter`
    with the instrument's ``connection`` settings, named by its ``resource_name``."""
    if isinstance(target, str):
        return target, target
    return SimAdapter(target, **connection), target.resource_name


class DeviceLink:
    """A driver object for the instrument ``name`` at ``resource``; its errors say both."""

    name: str
    resource: str

    def error(self, message: str) -> DeviceError:
        return DeviceError(self.name, self.resource, message)

    @contextlib.contextmanager
    def calling(self, doing: str, describe: Callable[[Exception], str] = str) -> Iterator[None]:
        """A call into a vendor library: whatever it raises (ctypes, USB, the library's own
        errors) becomes one DeviceError saying what was being done; qslab's errors pass."""
        try:
            yield
        except QslabError:
            raise
        except Exception as exc:  # noqa: BLE001 - any library error is reported, none leaks
            raise self.error(f"{doing} failed: {describe(exc)}") from exc


class TextLink(DeviceLink):
    """Mixin for a pymeasure instrument on a text link (put it before ``Instrument``).

    ``resource`` names the link in errors: as given, else the adapter's VISA resource string.
    :meth:`_exchange_errors` turns what breaks an exchange into a :class:`DeviceError` and
    drops what is left of it, so the next exchange starts clean.
    """

    adapter: Any
    reply_word = "reply"
    """What error messages call the instrument's answer to a command."""

    def __init__(self, adapter, name: str, resource: str = "", **kwargs) -> None:
        self.resource = resource or (adapter if isinstance(adapter, str) else "unknown")
        super().__init__(adapter, name, **kwargs)

    def _discard_input(self) -> None:
        """Drop whatever is left of a broken exchange so the next one starts clean."""
        with contextlib.suppress(*LINK_ERRORS):
            self.adapter.flush_read_buffer()

    def _reason(self, exc: Exception) -> str:
        """Why an exchange went unanswered, as the end of the message: the link's error."""
        return f" ({exc})"

    @contextlib.contextmanager
    def _exchange_errors(
        self, garbled: str, unanswered: str, garbage: tuple[type[Exception], ...] = ()
    ) -> Iterator[None]:
        """Bytes that do not decode (or any of ``garbage``) become ``"{garbled}: why"``, a
        timeout or lost link ``"{unanswered} (why)"``; both drop the rest of the exchange."""
        try:
            yield
        except (UnicodeDecodeError, *garbage) as exc:
            self._discard_input()
            raise self.error(f"{garbled}: {exc}") from None
        except LINK_ERRORS as exc:
            self._discard_input()
            raise self.error(f"{unanswered}{self._reason(exc)}") from exc

    def unreadable(self, command: str, value: Any) -> DeviceError:
        """The error for an answer to ``command`` that does not parse as what was asked."""
        return self.error(f"unreadable {self.reply_word} to {command!r}: {value!r}")


class ExchangeLink(TextLink):
    """A :class:`TextLink` whose :meth:`write` and :meth:`ask` are each one whole exchange,
    implemented by the driver's :meth:`_exchange` on top of :meth:`_send`; what a setting gets
    back (a line, or nothing as on the Mai Tai) is the driver's to read. A number that does not
    parse is a device error.
    """

    def write(self, command: str, **kwargs) -> None:
        self._exchange(command, query=False)

    def ask(self, command: str, query_delay: float | None = None) -> str:
        return self._exchange(command, query=True)

    def _send(self, command: str) -> None:
        """Send ``command`` alone (pymeasure's write), without reading any answer."""
        super().write(command)

    def _exchange(self, command: str, query: bool) -> str:
        """Send ``command`` and read the instrument's whole answer; a query's value back."""
        raise NotImplementedError

    def values(self, command: str, separator=",", cast=float, preprocess_reply=None, **kwargs):
        """As pymeasure's, but a number that does not parse is a device error, not a string."""
        result = super().values(command, separator, cast, preprocess_reply, **kwargs)
        if cast is not str and any(isinstance(v, str) for v in result):
            raise self.unreadable(command, result)
        return result
