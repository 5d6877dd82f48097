"""Thorlabs FW102C filter wheels: manual command strings, the bench's transmission, and faults."""

from __future__ import annotations

import numpy as np
import pytest
from driver_faults import fault_words, raises_naming, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.roles import Attenuator
from qslab.instruments.thorlabs.fw102c import DRIVER, FW102C
from qslab.sim.bench import VirtualBench

IDN = "THORLABS FW102C/FW212C Filter Wheel version 1.04"
STACK = {"optical_densities": [[0.0, 0.1, 0.2, 0.3, 0.4, 0.5], [0.0, 0.6, 1.2, 1.8, 2.4, 3.0]]}


# -- (a) the manual's command strings: echo, value line, "> " prompt -----------------------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("id", "*idn?", IDN, IDN),
        ("position", "pos?", "3", 3),
        ("position_count", "pcount?", "6", 6),
        ("high_speed", "speed?", "1", True),
        ("sensors_active", "sensors?", "0", False),
        ("trigger_output", "trig?", "0", False),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(FW102C, [(command, command), (None, reply), (None, "> ")]) as wheel:
        assert getattr(wheel, prop) == value


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [
        ("position", 5, "pos=5"),
        ("position_count", 12, "pcount=12"),
        ("high_speed", False, "speed=0"),
        ("sensors_active", True, "sensors=1"),
        ("trigger_output", True, "trig=1"),
    ],
)
def test_settings(prop, value, command):
    with expected_protocol(FW102C, [(command, command), (None, "> ")]) as wheel:
        setattr(wheel, prop, value)


def test_save():
    with expected_protocol(FW102C, [("save", "save"), (None, "> ")]) as wheel:
        wheel.save()


def test_argument_error_is_a_device_error_and_the_next_command_works():
    pairs = [
        ("pos=7", "pos=7"),
        (None, "Command error CMD_ARG_INVALID"),
        (None, "> "),
        ("pos?", "pos?"),
        (None, "2"),
        (None, "> "),
    ]
    with expected_protocol(FW102C, pairs, resource="ASRL3::INSTR") as wheel:
        with raises_naming("CMD_ARG_INVALID", "Thorlabs FW102C", "ASRL3::INSTR"):
            wheel.position = 7
        assert wheel.position == 2


def test_unknown_query_is_a_device_error():
    pairs = [("foo?", "foo?"), (None, "Command error CMD_NOT_DEFINED"), (None, "> ")]
    with (
        expected_protocol(FW102C, pairs) as wheel,
        pytest.raises(DeviceError, match="CMD_NOT_DEFINED"),
    ):
        wheel.ask("foo?")


def test_position_outside_the_wheel_is_refused_before_sending():
    with expected_protocol(FW102C, []) as wheel:
        wheel.position_values = range(1, 7)
        with pytest.raises(ValueError):
            wheel.position = 7


# -- (b) against the simulated wheel on a bench --------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=3)


def open_stack(bench, options=STACK):
    sims = DRIVER.simulator(bench, options)
    return sims, DRIVER.connect(sims, options)


def test_the_wheel_transmission_reaches_the_bench(bench):
    sims, attenuator = open_stack(bench)
    assert isinstance(attenuator, Attenuator)
    reached = attenuator.set_transmission(10**-1.3)
    assert reached == pytest.approx(10**-1.3)
    assert bench.transmission == pytest.approx(10**-1.3)
    assert attenuator.transmission == pytest.approx(10**-1.3)
    assert attenuator.settings()["positions"] == [2, 3]


def test_a_stack_gives_every_od_from_0_to_3_5_in_0_1_steps(bench):
    _, attenuator = open_stack(bench)
    ods = -np.log10(attenuator.transmissions())
    assert np.allclose(np.sort(ods), np.arange(36) * 0.1)


def test_nearest_setting_in_log_space(bench):
    _, attenuator = open_stack(bench)
    assert attenuator.set_transmission(10**-0.04) == pytest.approx(1.0)
    assert attenuator.set_transmission(10**-0.06) == pytest.approx(10**-0.1)
    assert attenuator.set_transmission(0.0) == pytest.approx(10**-3.5)
    assert attenuator.set_transmission(5.0) == pytest.approx(1.0)


def test_safe_puts_every_wheel_at_its_densest_filter(bench):
    _, attenuator = open_stack(bench)
    attenuator.set_transmission(1.0)
    attenuator.safe()
    assert bench.transmission == pytest.approx(10**-3.5)
    attenuator.safe()  # already safe: no error


def test_the_darkening_wheel_moves_first(bench):
    _, attenuator = open_stack(bench)
    attenuator.set_transmission(10**-0.5)  # fine wheel at OD 0.5, coarse at 0
    seen = []
    record = bench.set_transmission

    def spy(element, transmission):
        record(element, transmission)
        seen.append((element, bench.transmission))

    bench.set_transmission = spy
    attenuator.set_transmission(10**-0.6)  # fine to OD 0, coarse to OD 0.6
    assert [element for element, _ in seen] == ["fw102c:1", "fw102c:0"]
    assert max(total for _, total in seen) < 10**-0.5  # never brighter than before or after


def test_moves_take_time_in_proportion_to_distance(bench):
    waits = []
    bench.wait = waits.append
    sims, attenuator = open_stack(bench, {"optical_densities": [0, 0.3, 0.6, 1.0, 2.0, 3.0]})
    attenuator.set_transmission(10**-0.6)  # 1 -> 3: two positions
    attenuator.set_transmission(10**-3.0)  # 3 -> 6: three positions
    attenuator.set_transmission(1.0)  # 6 -> 1: one position, the short way round
    assert waits == [2.0, 3.0, 1.0]


def test_default_option_is_one_six_position_wheel(bench):
    options = DRIVER.check_options("station.attenuator", {})
    sims, attenuator = open_stack(bench, options)
    assert len(sims) == 1
    assert attenuator.identity() == IDN
    assert attenuator.set_transmission(1e-3) == pytest.approx(1e-3)
    assert bench.transmission == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "densities", [[0.1, 0.2], [[0.0] * 6, [0.0] * 5], [0, 0.3, -0.6, 1, 2, 3], "strong"]
)
def test_bad_optical_densities_name_the_option(bench, densities):
    with pytest.raises(ValidationError, match="optical_densities"):
        DRIVER.simulator(bench, {"optical_densities": densities})


def test_one_resource_per_wheel(bench):
    sims = DRIVER.simulator(bench, STACK)
    with pytest.raises(ValidationError, match="resource"):
        DRIVER.connect(sims[0], STACK)


def test_densities_must_match_the_wheel_type(bench):
    sims = DRIVER.simulator(bench, {"optical_densities": [0.0] * 6})
    sims[0].state["pcount"] = 12  # an FW212C
    with pytest.raises(ValidationError, match="12 positions"):
        DRIVER.connect(sims, {"optical_densities": [0.0] * 6})


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="CMD_NOT_DEFINED", garbage="garbled", timeout="no complete answer")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sims, attenuator = open_stack(bench)
    attenuator.set_transmission(10**-2.0)
    with raises_on_fault(sims[1], fault, words, "Thorlabs FW102C", "sim:fw102c[1]"):
        attenuator.set_transmission(10**-0.3)
    assert attenuator.set_transmission(10**-0.3) == pytest.approx(10**-0.3)
    assert bench.transmission == pytest.approx(10**-0.3)


def test_lost_link_is_a_device_error(bench):
    sims, attenuator = open_stack(bench)
    with raises_on_lost_link(sims[0], "sim:fw102c\\[0\\]"):
        attenuator.safe()
    sims[0].connected = True
    attenuator.safe()
    assert bench.transmission == pytest.approx(10**-3.5)
