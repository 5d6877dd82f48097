"""Quantel Big Sky CFR: RS-232 strings from the manual and the public driver, Q-switched pulses at
the sample on the bench, faults."""

from __future__ import annotations

import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.quantel.bigsky import DRIVER, BigSky, Status
from qslab.instruments.roles import PulsedLaser
from qslab.sim.bench import VirtualBench


# -- (a) the manual's command strings: every command answers one 15-character line ---------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("serial_number", ">SN", "s/number    184", "184"),
        ("flashlamp_hz", ">F", "freq.  10.00 Hz", 10.0),
        ("flashlamp_hz", ">F", "freq.   5.50 Hz", 5.5),
        ("qswitch_divider", ">QSF", "cycle rate F/ 2", 2),
        ("shutter_open", ">R", "shutter open", True),
        ("shutter_open", ">R", "shutter closed", False),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(BigSky, [(command, reply)]) as laser:
        assert getattr(laser, prop) == value


def test_status_reads_the_numbers_of_the_wor_answer():
    with expected_protocol(BigSky, [(">WOR", "I 0 L 2 S 1 Q 2")]) as laser:
        status = laser.status()
    assert status == Status(interlock=0, lamp=2, simmer=1, qswitch=2)
    assert status.lamp_firing and status.qswitch_running


@pytest.mark.parametrize(
    ("call", "command", "reply"),
    [
        (lambda laser: laser.set_shutter(True), ">R1", "shutter open"),
        (lambda laser: laser.set_shutter(False), ">R0", "shutter closed"),
        (lambda laser: laser.set_flashlamp_hz(20.0), ">F2000", "freq.  20.00 Hz"),
        (lambda laser: laser.set_flashlamp_hz(7.25), ">F725", "freq.   7.25 Hz"),
    ],
)
def test_settings_answer_the_new_state(call, command, reply):
    with expected_protocol(BigSky, [(command, reply)]) as laser:
        call(laser)


@pytest.mark.parametrize(
    ("method", "command", "reply"),
    [("fire", ">A", "fire auto"), ("standby", ">S", "standby")]
    + [("start_qswitch", ">PQ", "QS at run"), ("stop_qswitch", ">SQ", "QS at stop")],
)
def test_lamp_and_qswitch_commands_return_the_answer(method, command, reply):
    with expected_protocol(BigSky, [(command, reply)]) as laser:
        assert getattr(laser, method)() == reply


def test_a_setting_answered_with_the_old_state_is_refused():
    pairs = [(">R1", "shutter closed"), (">R", "shutter closed")]
    with expected_protocol(BigSky, pairs, resource="ASRL5::INSTR") as laser:
        with pytest.raises(DeviceError, match="refused '>R1'") as info:
            laser.set_shutter(True)
        assert (info.value.instrument, info.value.resource) == ("Quantel Big Sky", "ASRL5::INSTR")
        assert laser.shutter_open is False


@pytest.mark.parametrize(("command", "reply"), [(">F", "cmd error"), (">WOR", "standby")])
def test_an_answer_in_the_wrong_format_is_unreadable(command, reply):
    with (
        expected_protocol(BigSky, [(command, reply)]) as laser,
        pytest.raises(DeviceError, match="unreadable answer"),
    ):
        laser.status() if command == ">WOR" else laser.flashlamp_hz


# -- (b) against the simulated laser on a bench --------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=11)


def open_laser(bench, **given):
    return open_simulated(DRIVER, "station.laser", bench, **given)


def test_connecting_sets_the_lamp_rate_when_asked(bench):
    sim, laser = open_laser(bench, flashlamp_hz=20.0)
    assert sim.received == [">F2000", ">WOR"]
    assert isinstance(laser, PulsedLaser)
    assert laser.identity() == "Quantel Big Sky s/n 184"
    sim, _ = open_laser(bench)
    assert sim.received == [">WOR"]


def test_emission_starts_lamp_then_qswitch_and_reaches_the_bench(bench):
    sim, laser = open_laser(bench)
    laser.set_emission(True)
    assert sim.received[1:] == [">WOR", ">A", ">WOR", ">PQ", ">WOR"]
    assert bench.laser.emission and laser.emission_on
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open and bench.light_on_sample
    laser.close_shutter()
    assert not bench.laser.shutter_open
    laser.set_emission(False)
    assert sim.received[-3:] == [">SQ", ">S", ">WOR"]
    assert not bench.laser.emission


@pytest.mark.parametrize(("harmonic", "nm"), [(1, 1064.0), (2, 532.0), (3, 1064.0 / 3)])
def test_the_pump_at_the_sample_is_after_the_harmonic_generator(bench, harmonic, nm):
    sim, laser = open_laser(bench, harmonic=harmonic, flashlamp_hz=20.0)
    assert laser.wavelength_nm == nm == bench.laser.wavelength_nm
    assert laser.repetition_rate_hz == 20.0 == bench.laser.repetition_rate_hz
    assert laser.pulse_width_s == 7e-9 == bench.laser.pulse_width_s
    sim.qswitch_divider = 4
    assert laser.repetition_rate_hz == 5.0 == bench.laser.repetition_rate_hz


@pytest.mark.parametrize(
    ("name", "value"), [("harmonic", 5), ("flashlamp_hz", 120.0), ("pulse_width_s", -1.0)]
)
def test_options_are_checked_before_anything_is_sent(bench, name, value):
    with pytest.raises(ValidationError) as info:
        open_laser(bench, **{name: value})
    assert info.value.field == f"station.laser.{name}"


def test_an_open_interlock_stops_emission_and_says_so(bench):
    sim, laser = open_laser(bench)
    sim.interlock = 1
    with pytest.raises(DeviceError, match="interlock open"):
        laser.set_emission(True)
    assert ">A" not in sim.received and not bench.laser.emission


def test_the_qswitch_waits_eight_seconds_after_the_lamp_starts():
    bench = VirtualBench(realtime=True, seed=11)
    _, laser = open_laser(bench)
    laser.laser.fire()
    assert laser.laser.start_qswitch() == "QS at stop"
    status = laser.laser.status()
    assert status.lamp_firing and not status.qswitch_running and not bench.laser.emission


def test_safe_closes_the_shutter_and_keeps_the_laser_firing(bench):
    sim, laser = open_laser(bench)
    laser.set_emission(True)
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and bench.laser.emission
    assert ">S" not in sim.received


def test_safe_can_also_stop_the_laser(bench):
    _, laser = open_laser(bench, emission_off_on_safe=True)
    laser.set_emission(True)
    laser.safe()
    assert not bench.laser.shutter_open and not bench.laser.emission


def test_a_line_without_prefix_is_ignored(bench):
    sim, _ = open_laser(bench)
    sim.feed(b"R1\r\n")
    assert sim.take() == b"" and not bench.laser.shutter_open


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="refused", garbage="garbled", timeout="no answer")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, laser = open_laser(bench)
    with raises_on_fault(sim, fault, words, "Quantel Big Sky", "sim:bigsky"):
        laser.open_shutter()
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open


def test_lost_link_is_a_device_error(bench):
    sim, laser = open_laser(bench)
    with raises_on_lost_link(sim):
        laser.safe()
