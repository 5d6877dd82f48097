"""Coherent Chameleon: RS-232 strings from the manual, shutter and emission on the bench, faults."""

from __future__ import annotations

import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.coherent.chameleon import DRIVER, Chameleon
from qslab.instruments.roles import PulsedLaser
from qslab.sim.bench import VirtualBench


# -- (a) the manual's command strings: one answer line per command -------------------------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("laser_state", "?L", "1", 1),
        ("shutter_open", "?S", "0", False),
        ("tuning_nm", "?VW", "800", 800.0),
        ("tuning_status", "?TS", "0", 0),
        ("tuning_min_nm", "?TMIN", "680", 680.0),
        ("tuning_max_nm", "?TMAX", "1080", 1080.0),
        ("keyswitch_on", "?K", "1", True),
        ("faults", "?F", "0", ()),
        ("faults", "?F", "2&43", (2, 43)),
        ("modelock", "?MDLK", "1", 1),
        ("power_mw", "?UF", "3500", 3500.0),
        ("serial_number", "?SN", "CHU-1234", "CHU-1234"),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(Chameleon, [(command, reply)]) as laser:
        assert getattr(laser, prop) == value


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [
        ("laser_on", True, "L=1"),
        ("laser_on", False, "L=0"),
        ("shutter_open", True, "S=1"),
        ("shutter_open", False, "S=0"),
        ("tuning_nm", 780.2, "VW=780"),
    ],
)
def test_settings_answer_an_empty_line(prop, value, command):
    with expected_protocol(Chameleon, [(command, "")]) as laser:
        setattr(laser, prop, value)


def test_quiet_copes_with_echo_and_prompt_of_a_freshly_powered_laser():
    pairs = [("ECHO=0", "ECHO=0"), ("PROMPT=0", "CHAMELEON> "), ("?S", "1")]
    with expected_protocol(Chameleon, pairs) as laser:
        laser.quiet()
        assert laser.shutter_open is True


def test_an_echoed_answer_is_still_read():
    with expected_protocol(Chameleon, [("?VW", "?VW 800")]) as laser:
        assert laser.tuning_nm == 800.0


def test_error_answer_is_a_device_error_and_the_next_command_works():
    pairs = [("?XYZ", "Error: command not recognised"), ("?L", "0")]
    with expected_protocol(Chameleon, pairs, resource="ASRL1::INSTR") as laser:
        with pytest.raises(DeviceError, match="not recognised") as info:
            laser.ask("?XYZ")
        assert (info.value.instrument, info.value.resource) == (
            "Coherent Chameleon",
            "ASRL1::INSTR",
        )
        assert laser.laser_state == 0


def test_a_setting_answered_with_a_value_is_a_device_error():
    with (
        expected_protocol(Chameleon, [("S=1", "1")]) as laser,
        pytest.raises(DeviceError, match="unexpected answer"),
    ):
        laser.shutter_open = True


# -- (b) against the simulated laser on a bench --------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=5)


def open_laser(bench, **given):
    return open_simulated(DRIVER, "station.laser", bench, **given)


def test_connecting_silences_echo_and_prompt(bench):
    sim, laser = open_laser(bench)
    assert isinstance(laser, PulsedLaser)
    assert sim.received[:2] == ["ECHO=0", "PROMPT=0"]
    assert not sim.echo and not sim.prompt
    assert laser.identity() == "Coherent Chameleon s/n CHU-SIM-0001"


def test_shutter_and_emission_reach_the_bench(bench):
    _, laser = open_laser(bench)
    laser.set_emission(True)
    assert bench.laser.emission and laser.emission_on
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open
    assert bench.light_on_sample
    laser.close_shutter()
    assert not bench.laser.shutter_open and not laser.shutter_open
    laser.set_emission(False)
    assert not bench.laser.emission


def test_the_pulse_train_at_the_sample_is_after_picker_and_doubler(bench):
    _, laser = open_laser(bench, tuning_nm=780.0, pulse_picker_divider=40000)
    assert laser.wavelength_nm == 390.0 == bench.laser.wavelength_nm
    assert laser.repetition_rate_hz == 2000.0 == bench.laser.repetition_rate_hz
    assert laser.pulse_width_s == 140e-15 == bench.laser.pulse_width_s
    assert laser.settings()["tuning_nm"] == 780.0


def test_tuning_on_connect_waits_for_the_laser(bench):
    options = DRIVER.check_options("station.laser", {"tuning_nm": 920.0})
    sim = DRIVER.simulator(bench, DRIVER.check_options("station.laser", {}))
    laser = DRIVER.connect(sim, options)
    assert "VW=920" in sim.received and "?TS" in sim.received
    assert laser.wavelength_nm == 460.0 == bench.laser.wavelength_nm


def test_tuning_outside_the_range_names_the_option(bench):
    with pytest.raises(ValidationError) as info:
        open_laser(bench, tuning_nm=1200.0)
    assert info.value.field == "station.laser.tuning_nm"


def test_safe_closes_the_shutter_and_keeps_the_oscillator_running(bench):
    sim, laser = open_laser(bench)
    laser.set_emission(True)
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and bench.laser.emission
    assert sim.received[-1] == "S=0"
    laser.safe()


def test_safe_can_also_put_the_laser_in_standby(bench):
    _, laser = open_laser(bench, emission_off_on_safe=True)
    laser.set_emission(True)
    laser.safe()
    assert not bench.laser.shutter_open and not bench.laser.emission


def test_emission_needs_the_key_switch(bench):
    sim, laser = open_laser(bench)
    sim.keyswitch = False
    with pytest.raises(DeviceError, match="key switch"):
        laser.set_emission(True)
    assert not bench.laser.emission


def test_emission_refused_with_active_faults_names_them(bench):
    sim, laser = open_laser(bench)
    sim.faults = [2]
    with pytest.raises(DeviceError, match="External interlock"):
        laser.set_emission(True)
    assert not bench.laser.emission


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="refused", garbage="garbled", timeout="no answer")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, laser = open_laser(bench)
    with raises_on_fault(sim, fault, words, "Coherent Chameleon", "sim:chameleon"):
        laser.open_shutter()
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open


def test_lost_link_is_a_device_error(bench):
    sim, laser = open_laser(bench)
    with raises_on_lost_link(sim):
        laser.safe()
