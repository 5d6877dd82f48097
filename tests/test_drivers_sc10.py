"""Thorlabs SC10: manual command strings, the toggling enable on the bench, interlock, faults."""

from __future__ import annotations

import pytest
from driver_faults import (
    fault_words,
    open_simulated,
    raises_naming,
    raises_on_fault,
    raises_on_lost_link,
)
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError
from qslab.instruments.roles import Shutter
from qslab.instruments.thorlabs.sc10 import DRIVER, SC10, SC10Shutter
from qslab.sim.bench import VirtualBench

ID = "THORLABS SC10 VERSION 1.07"


def query(command: str, reply: str) -> list[tuple]:
    """One query as the controller frames it: echo, value line, prompt."""
    return [(command, command), (None, reply), (None, "> ")]


def setting(command: str) -> list[tuple]:
    return [(command, command), (None, "> ")]


# -- (a) the manual's command strings --------------------------------------------------------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("id", "id?", ID, ID),
        ("mode", "mode?", "1", 1),
        ("enabled", "ens?", "1", True),
        ("closed", "closed?", "1", True),
        ("interlock_tripped", "interlock?", "0", False),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(SC10, query(command, reply)) as sc10:
        assert getattr(sc10, prop) == value


def test_mode_and_toggle():
    with expected_protocol(SC10, setting("mode=1") + setting("ens")) as sc10:
        sc10.mode = 1
        sc10.toggle_enable()


def test_opening_reads_the_enable_first_and_checks_after():
    pairs = query("ens?", "0") + setting("ens") + query("ens?", "1") + query("closed?", "0")
    with expected_protocol(SC10, pairs) as sc10:
        SC10Shutter(sc10).open_shutter()


def test_closing_a_closed_shutter_sends_no_toggle():
    pairs = query("ens?", "0") + query("ens?", "0") + query("closed?", "1")
    with expected_protocol(SC10, pairs) as sc10:
        SC10Shutter(sc10).close_shutter()


def test_a_shutter_that_stays_closed_names_the_interlock():
    pairs = query("ens?", "0") + setting("ens") + query("ens?", "0") + query("closed?", "1")
    pairs += query("interlock?", "1")
    with (
        expected_protocol(SC10, pairs) as sc10,
        pytest.raises(DeviceError, match="interlock is tripped"),
    ):
        SC10Shutter(sc10).open_shutter()


def test_argument_error_is_a_device_error_and_the_next_command_works():
    pairs = [("mode=7", "mode=7"), (None, "Command error CMD_ARG_INVALID"), (None, "> ")]
    pairs += query("mode?", "1")
    with expected_protocol(SC10, pairs, resource="ASRL4::INSTR") as sc10:
        with raises_naming("CMD_ARG_INVALID", "Thorlabs SC10", "ASRL4::INSTR"):
            sc10.write("mode=7")
        assert sc10.mode == 1


# -- (b) against the simulated controller on a bench -----------------------------------------
@pytest.fixture
def bench():
    bench = VirtualBench(realtime=False, seed=4)
    bench.laser.emission = bench.laser.shutter_open = True
    return bench


def test_the_shutter_blocks_the_bench(bench):
    sim, shutter = open_simulated(DRIVER, "station.shutter", bench)
    assert isinstance(shutter, Shutter)
    assert not bench.light_on_sample and not shutter.shutter_open
    shutter.open_shutter()
    assert bench.light_on_sample and shutter.shutter_open
    shutter.open_shutter()  # already open: no toggle, stays open
    assert bench.light_on_sample and sim.received.count("ens") == 1
    shutter.safe()
    assert not bench.light_on_sample and not shutter.shutter_open
    shutter.safe()
    assert sim.received.count("ens") == 2
    assert shutter.identity() == ID


def test_connect_puts_the_controller_in_manual_mode(bench):
    sim = DRIVER.simulator(bench, {})
    sim.state["mode"] = 2
    shutter = DRIVER.connect(sim, {})
    assert sim.received[:2] == ["mode?", "mode=1"]
    shutter.open_shutter()
    assert bench.light_on_sample
    assert shutter.settings() == {
        "mode": 1,
        "enabled": True,
        "shutter_open": True,
        "interlock_tripped": False,
    }


def test_a_tripped_interlock_refuses_to_open(bench):
    sim, shutter = open_simulated(DRIVER, "station.shutter", bench)
    shutter.open_shutter()
    sim.trip_interlock()
    assert not bench.light_on_sample and not shutter.shutter_open
    with pytest.raises(DeviceError, match="interlock is tripped"):
        shutter.open_shutter()
    assert not bench.light_on_sample
    shutter.safe()  # closed already: safe does not raise
    sim.trip_interlock(False)
    shutter.open_shutter()
    assert bench.light_on_sample


# -- (c) faults ------------------------------------------------------------------------------
@fault_words(error="CMD_NOT_DEFINED", garbage="garbled", timeout="no complete answer")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, shutter = open_simulated(DRIVER, "station.shutter", bench)
    with raises_on_fault(sim, fault, words, "Thorlabs SC10", "sim:sc10"):
        shutter.open_shutter()
    shutter.open_shutter()
    assert bench.light_on_sample and shutter.shutter_open


def test_lost_link_is_a_device_error(bench):
    sim, shutter = open_simulated(DRIVER, "station.shutter", bench)
    with raises_on_lost_link(sim):
        shutter.safe()
    sim.connected = True
    shutter.safe()
    assert not bench.light_on_sample
