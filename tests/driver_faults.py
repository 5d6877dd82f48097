"""Shared steps of the driver tests: open a driver on its simulator, inject a fault, check the
DeviceError it turns into."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from qslab.errors import DeviceError
from qslab.instruments.registry import DriverSpec


def open_simulated(driver: DriverSpec, table: str, bench, **given) -> tuple[Any, Any]:
    """The driver's simulator on ``bench`` and the role connected to it, with the options
    ``given`` as a station file's ``table`` would give them."""
    options = driver.check_options(table, given)
    sim = driver.simulator(bench, options)
    return sim, driver.connect(sim, options)


def fault_words(error: str, garbage: str, timeout: str) -> pytest.MarkDecorator:
    """Parametrize ``fault`` over the simulators' faults, with the ``words`` each error says."""
    return pytest.mark.parametrize(
        ("fault", "words"), [("error", error), ("garbage", garbage), ("timeout", timeout)]
    )


@contextlib.contextmanager
def raises_naming(words: str, instrument: str, resource: str) -> Iterator[None]:
    """The block raises a DeviceError saying ``words`` and naming ``instrument`` at
    ``resource``."""
    with pytest.raises(DeviceError, match=words) as info:
        yield
    assert (info.value.instrument, info.value.resource) == (instrument, resource)


@contextlib.contextmanager
def raises_on_fault(sim, fault: str, words: str, instrument: str, resource: str) -> Iterator[None]:
    """With ``fault`` set on ``sim``, the block raises a DeviceError saying ``words`` and
    naming ``instrument`` at ``resource``."""
    sim.fault = fault
    with raises_naming(words, instrument, resource):
        yield


@contextlib.contextmanager
def raises_on_lost_link(sim, words: str = "connection") -> Iterator[None]:
    """With the link to ``sim`` down, the block raises a DeviceError saying ``words``."""
    sim.connected = False
    with pytest.raises(DeviceError, match=words):
        yield
