"""Spectra-Physics Mai Tai: RS-232 strings from the manual and public drivers, the pulse train at
the sample on the bench, faults."""

from __future__ import annotations

import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.roles import PulsedLaser
from qslab.instruments.spectraphysics.maitai import DRIVER, MaiTai
from qslab.sim.bench import VirtualBench

IDN = "Spectra Physics,MaiTai,3227/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057"
"""A real Mai Tai's answer to *IDN? (rust-daq's hardware notes)."""


# -- (a) the manual's command strings: queries answer one line, settings nothing -----------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("id", "*IDN?", IDN, IDN),
        ("status_byte", "*STB?", "3", 3),
        ("shutter_open", "SHUTTER?", "1", True),
        ("shutter_open", "SHUTTER?", "0", False),
        ("target_nm", "WAVELENGTH?", "820nm", 820.0),
        ("wavelength_nm", "READ:WAVELENGTH?", "820nm", 820.0),
        ("wavelength_nm", "READ:WAVELENGTH?", "1040", 1040.0),
        ("wavelength_min_nm", "WAVELENGTH:MIN?", "690nm", 690.0),
        ("wavelength_max_nm", "WAVELENGTH:MAX?", "1040nm", 1040.0),
        ("power_w", "READ:POWER?", "3.000W", 3.0),
        ("warmed_up_percent", "READ:PCTWARMEDUP?", "100.00%", 100.0),
        ("watchdog_s", "TIMER:WATCHDOG?", "0", 0),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(MaiTai, [(command, reply)]) as laser:
        assert getattr(laser, prop) == value


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [
        ("shutter_open", True, "SHUTTER 1"),
        ("shutter_open", False, "SHUTTER 0"),
        ("target_nm", 780.4, "WAVELENGTH 780"),
        ("watchdog_s", 0, "TIMER:WATCHDOG 0"),
    ],
)
def test_settings_answer_nothing(prop, value, command):
    with expected_protocol(MaiTai, [(command, None)]) as laser:
        setattr(laser, prop, value)


def test_on_and_off():
    with expected_protocol(MaiTai, [("ON", None), ("OFF", None)]) as laser:
        laser.turn_on()
        laser.turn_off()


def test_an_error_after_a_setting_names_it_and_the_next_query_works():
    pairs = [("SHUTTER 1", None), ("SHUTTER?", "Error: interlock"), ("SHUTTER?", "0")]
    with expected_protocol(MaiTai, pairs, resource="ASRL3::INSTR") as laser:
        laser.shutter_open = True
        with pytest.raises(DeviceError, match="after 'SHUTTER 1'.*interlock") as info:
            assert laser.shutter_open
        assert (info.value.instrument, info.value.resource) == (
            "Spectra-Physics Mai Tai",
            "ASRL3::INSTR",
        )
        assert laser.shutter_open is False


def test_a_number_that_does_not_parse_is_a_device_error():
    with (
        expected_protocol(MaiTai, [("READ:POWER?", "W")]) as laser,
        pytest.raises(DeviceError, match="unreadable answer"),
    ):
        _ = laser.power_w


# -- (b) against the simulated laser on a bench --------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=7)


def open_laser(bench, **given):
    return open_simulated(DRIVER, "station.laser", bench, **given)


def test_connecting_disables_the_watchdog_and_tunes(bench):
    sim, laser = open_laser(bench)
    assert sim.received == [
        "TIMER:WATCHDOG 0",
        "WAVELENGTH:MIN?",
        "WAVELENGTH:MAX?",
        "WAVELENGTH 800",
        "READ:WAVELENGTH?",
    ]
    assert isinstance(laser, PulsedLaser)
    assert laser.identity().startswith("Spectra Physics,MaiTai,")


def test_shutter_and_emission_reach_the_bench(bench):
    sim, laser = open_laser(bench)
    laser.set_emission(True)
    assert sim.received[-3:] == ["READ:PCTWARMEDUP?", "ON", "*STB?"]
    assert bench.laser.emission and laser.emission_on
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open and bench.light_on_sample
    assert laser.settings()["output_power_w"] > 0
    laser.close_shutter()
    assert not bench.laser.shutter_open
    laser.set_emission(False)
    assert not bench.laser.emission and not laser.emission_on


def test_the_pulse_train_at_the_sample_is_after_picker_and_harmonic(bench):
    _, laser = open_laser(bench, tuning_nm=780.0, pulse_picker_divider=40000, harmonic=2)
    assert laser.wavelength_nm == 390.0 == bench.laser.wavelength_nm
    assert laser.repetition_rate_hz == 2000.0 == bench.laser.repetition_rate_hz
    assert laser.pulse_width_s == 100e-15 == bench.laser.pulse_width_s
    assert laser.settings()["oscillator_nm"] == 780.0


def test_tuning_outside_the_range_names_the_option(bench):
    with pytest.raises(ValidationError) as info:
        open_laser(bench, tuning_nm=1200.0)
    assert info.value.field == "station.laser.tuning_nm"


@pytest.mark.parametrize(("name", "value"), [("harmonic", 0), ("pulse_width_s", 0.0)])
def test_optics_options_are_checked(bench, name, value):
    with pytest.raises(ValidationError) as info:
        open_laser(bench, **{name: value})
    assert info.value.field == f"station.laser.{name}"


def test_emission_waits_for_the_warm_up(bench):
    sim, laser = open_laser(bench)
    sim.warmed_up_percent = 62.5
    with pytest.raises(DeviceError, match=r"warming up \(62.5 %\)"):
        laser.set_emission(True)
    assert "ON" not in sim.received and not bench.laser.emission


def test_safe_closes_the_shutter_and_keeps_the_laser_modelocked(bench):
    sim, laser = open_laser(bench)
    laser.set_emission(True)
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and bench.laser.emission
    assert "OFF" not in sim.received
    laser.safe()


def test_safe_can_also_switch_the_laser_off_after_the_shutter(bench):
    sim, laser = open_laser(bench, emission_off_on_safe=True)
    laser.set_emission(True)
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and not bench.laser.emission
    assert sim.received.index("SHUTTER 0") < sim.received.index("OFF")


def test_the_simulator_reads_scpi_short_forms(bench):
    sim, laser = open_laser(bench)
    assert laser.laser.ask("READ:WAV?") == "800nm"
    laser.laser.write("shut 1")
    assert laser.laser.ask("SHUT?") == "1" and bench.laser.shutter_open


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="error answer", garbage="garbled", timeout="no answer")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, laser = open_laser(bench)
    with raises_on_fault(sim, fault, words, "Spectra-Physics Mai Tai", "sim:maitai"):
        _ = laser.shutter_open
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open


def test_a_refused_setting_is_reported_against_it(bench):
    sim, laser = open_laser(bench)
    sim.fault = "error"
    with pytest.raises(DeviceError, match="sent after 'SHUTTER 1'"):
        laser.open_shutter()
    laser.open_shutter()
    assert bench.laser.shutter_open


def test_lost_link_is_a_device_error(bench):
    sim, laser = open_laser(bench)
    with raises_on_lost_link(sim):
        laser.safe()
