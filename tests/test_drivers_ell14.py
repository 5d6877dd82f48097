"""Thorlabs ELL14 waveplate attenuator: Elliptec packets, Malus' law on the bench, faults."""

from __future__ import annotations

import time

import numpy as np
import pytest
from driver_faults import (
    fault_words,
    open_simulated,
    raises_naming,
    raises_on_fault,
    raises_on_lost_link,
)
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.roles import Attenuator
from qslab.instruments.thorlabs import ell14
from qslab.instruments.thorlabs.ell14 import DRIVER, Elliptec, ModuleInfo
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.ell14 import PULSES_PER_TURN, SPEED_DEG_S

REAL_INFO = "0IN0E1140051420211501016800023000"
"""A real ELL14's answer to ``0in``, as quoted in public scripts."""
TABLE = "station.attenuator"


@pytest.fixture(autouse=True)
def back_to_back_moves(monkeypatch):
    """The simulated mount does not need the real one's pause between moves."""
    monkeypatch.setattr(ell14, "MOVE_SPACING_S", 0.0)


# -- (a) the protocol manual's packets -------------------------------------------------------
def test_information_reply_of_a_real_ell14():
    with expected_protocol(Elliptec, [("0in", REAL_INFO)]) as mount:
        assert mount.info == ModuleInfo(14, "11400514", 2021, "15", "01", 360, 143360)


@pytest.mark.parametrize(("reply", "counts"), [("0PO00008C00", 35840), ("0POFFFFFC00", -1024)])
def test_position_is_signed_32_bit_hex(reply, counts):
    with expected_protocol(Elliptec, [("0gp", reply)]) as mount:
        assert mount.position == counts


def test_move_absolute_and_home_answer_the_position_reached():
    pairs = [("0ma00008C00", "0PO00008C00"), ("0ho0", "0PO00000000")]
    with expected_protocol(Elliptec, pairs) as mount:
        assert mount.move_to(35840) == 35840
        assert mount.home() == 0


def test_moves_are_spaced(monkeypatch):
    monkeypatch.setattr(ell14, "MOVE_SPACING_S", 0.05)
    pairs = [("0ho0", "0PO00000000"), ("0gp", "0PO00000000"), ("0ma00000028", "0PO00000028")]
    with expected_protocol(Elliptec, pairs) as mount:
        mount.home()
        start = time.monotonic()
        assert mount.position == 0  # other commands need no pause
        assert mount.move_to(40) == 40
        assert time.monotonic() - start >= 0.05


def test_other_address_on_the_bus():
    with expected_protocol(Elliptec, [("Agp", "APO00000010")], address="A") as mount:
        assert mount.position == 16


def test_status_reply_is_a_device_error_and_the_next_command_works():
    pairs = [("0ma00008C00", "0GS02"), ("0gp", "0PO00000000")]
    with expected_protocol(Elliptec, pairs, resource="ASRL5::INSTR") as mount:
        with raises_naming("mechanical time-out", "Thorlabs ELL14", "ASRL5::INSTR"):
            mount.move_to(35840)
        assert mount.position == 0


@pytest.mark.parametrize("reply", ["1PO00000000", "0PO0000", "0PO0000000g", "0IN00000000"])
def test_replies_that_do_not_fit_are_garbled(reply):
    with (
        expected_protocol(Elliptec, [("0gp", reply)]) as mount,
        pytest.raises(DeviceError, match="garbled"),
    ):
        assert mount.position


# -- (b) against the simulated mount on a bench ----------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=6)


def malus(angle_deg, zero=0.0, ratio=1000.0, t_max=0.95):
    phase = 2 * np.radians(angle_deg - zero)
    return t_max * (np.cos(phase) ** 2 + np.sin(phase) ** 2 / ratio)


def test_connect_homes_and_the_bench_follows_malus_law(bench):
    sim, attenuator = open_simulated(DRIVER, TABLE, bench, zero_angle_deg=10.0)
    assert isinstance(attenuator, Attenuator)
    assert sim.received[:2] == ["0in", "0ho0"] and sim.angle_deg == 0.0
    assert attenuator.identity() == "Thorlabs ELL14 s/n 11400001 (2024, firmware 15)"
    for target in (0.9, 0.3, 1e-2, 2e-3):
        reached = attenuator.set_transmission(target)
        assert reached == pytest.approx(target, rel=1e-3)
        assert bench.transmission == pytest.approx(reached, rel=1e-6)
        assert bench.transmission == pytest.approx(malus(sim.angle_deg, zero=10.0), rel=1e-9)
        assert attenuator.transmission == pytest.approx(reached)


def test_transmissions_span_the_polariser_range_on_a_fine_grid(bench):
    _, attenuator = open_simulated(DRIVER, TABLE, bench)
    grid = attenuator.transmissions()
    assert grid[0] == pytest.approx(0.95e-3) and grid[-1] == pytest.approx(0.95)
    assert np.all(np.diff(grid) > 0) and grid.size == 449
    assert attenuator.set_transmission(grid[100]) == pytest.approx(grid[100])


def test_out_of_range_requests_clip_to_the_extremes(bench):
    _, attenuator = open_simulated(DRIVER, TABLE, bench)
    assert attenuator.set_transmission(2.0) == pytest.approx(0.95)
    assert attenuator.set_transmission(0.0) == pytest.approx(0.95e-3)


def test_safe_turns_to_the_nearest_minimum(bench):
    sim, attenuator = open_simulated(DRIVER, TABLE, bench, zero_angle_deg=30.0)
    attenuator.set_transmission(0.95)
    attenuator.safe()
    assert bench.transmission == pytest.approx(0.95e-3)
    assert abs((sim.angle_deg - 30.0) % 90.0 - 45.0) < 0.01
    attenuator.safe()


def test_moves_stay_within_a_quarter_turn_and_take_time(bench):
    waits = []
    bench.wait = waits.append
    sim, attenuator = open_simulated(DRIVER, TABLE, bench)
    assert waits == [pytest.approx(47.0 / SPEED_DEG_S)]  # homing from the power-up angle
    attenuator.set_transmission(0.95e-3)  # 0 -> 45 degrees
    attenuator.set_transmission(0.95)  # 45 -> 0 or 90: either is 45 degrees away
    assert waits[1:] == [pytest.approx(45.0 / SPEED_DEG_S)] * 2
    assert sim.position % (PULSES_PER_TURN // 4) == 0


def test_settings_record_the_angle_and_the_optics(bench):
    _, attenuator = open_simulated(DRIVER, TABLE, bench, extinction_ratio=500.0)
    attenuator.set_transmission(0.95 / 500)
    settings = attenuator.settings()
    assert settings["angle_deg"] == pytest.approx(45.0, abs=0.01)
    assert settings["transmission"] == pytest.approx(0.95 / 500)
    assert settings["extinction_ratio"] == 500.0 and settings["address"] == "0"


@pytest.mark.parametrize(
    ("option", "value"),
    [("address", "10"), ("address", "G"), ("extinction_ratio", 1.0), ("max_transmission", 1.5)],
)
def test_bad_options_name_the_field(bench, option, value):
    with pytest.raises(ValidationError) as info:
        open_simulated(DRIVER, TABLE, bench, **{option: value})
    assert info.value.field == f"{TABLE}.{option}"


def test_a_module_at_another_address_does_not_answer(bench):
    sim = DRIVER.simulator(bench, DRIVER.check_options(TABLE, {"address": "3"}))
    with pytest.raises(DeviceError, match="no reply to '0in'"):
        DRIVER.connect(sim, DRIVER.check_options(TABLE, {}))


# -- (c) faults ------------------------------------------------------------------------------
@fault_words(error="mechanical time-out", garbage="garbled", timeout="no reply")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, attenuator = open_simulated(DRIVER, TABLE, bench)
    with raises_on_fault(sim, fault, words, "Thorlabs ELL14", "sim:ell14"):
        attenuator.set_transmission(0.1)
    assert attenuator.set_transmission(0.1) == pytest.approx(0.1, rel=1e-3)
    assert bench.transmission == pytest.approx(0.1, rel=1e-3)


def test_lost_link_is_a_device_error(bench):
    sim, attenuator = open_simulated(DRIVER, TABLE, bench)
    with raises_on_lost_link(sim):
        attenuator.safe()
    sim.connected = True
    attenuator.safe()
    assert bench.transmission == pytest.approx(0.95e-3)
