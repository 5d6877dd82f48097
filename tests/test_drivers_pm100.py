"""Thorlabs PM100 meters: SCPI strings from the manual, pulse energies from the bench, faults."""

from __future__ import annotations

import numpy as np
import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.roles import EnergyMeter
from qslab.instruments.thorlabs.pm100 import DRIVER, PM100, PM100Meter
from qslab.sim.bench import VirtualBench

S120VC = ("SYST:SENSOR:IDN?", "S120VC,11090541,23-JUN-2011,1,18,289")
ES111C = ("SYST:SENSOR:IDN?", "ES111C,13120002,14-MAR-2014,3,1,34")
NO_ERROR = ("SYST:ERR?", '0,"No error"')


# -- (a) the manual's command strings ------------------------------------------------------
def test_sensor_identification_and_flags():
    with expected_protocol(PM100, [S120VC, ("*IDN?", "Thorlabs,PM100USB,P2005301,1.7.0")]) as pm:
        assert pm.sensor_name == "S120VC"
        assert pm.is_power_sensor and not pm.is_energy_sensor and pm.wavelength_settable
        assert pm.id == "Thorlabs,PM100USB,P2005301,1.7.0"


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [
        ("averaging", 10, "SENS:AVER:COUN 10"),
        ("power_unit", "W", "SENS:POW:UNIT W"),
        ("wavelength", 400, "SENS:CORR:WAV 400"),
    ],
)
def test_settings_are_checked_against_the_error_queue(prop, value, command):
    with expected_protocol(PM100, [S120VC, (command, None), NO_ERROR]) as pm:
        setattr(pm, prop, value)


@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("averaging", "SENS:AVER:COUN?", "10", 10),
        ("power_unit", "SENS:POW:UNIT?", "W", "W"),
        ("wavelength", "SENS:CORR:WAV?", "4.000000E+02", 400.0),
        ("wavelength_min", "SENS:CORR:WAV? MIN", "2.000000E+02", 200.0),
        ("wavelength_max", "SENS:CORR:WAV? MAX", "1.100000E+03", 1100.0),
        ("power", "MEAS:POW?", "1.200000E-05", 1.2e-5),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(PM100, [S120VC, (command, reply)]) as pm:
        assert getattr(pm, prop) == value


def test_energy_head_reads_single_pulses():
    with expected_protocol(PM100, [ES111C, ("MEAS:ENER?", "1.180000E-08")]) as pm:
        assert pm.is_energy_sensor
        assert PM100Meter(pm).read_energies(1) == pytest.approx([1.18e-8])


def test_refused_wavelength_is_a_device_error_not_a_silent_clamp():
    pairs = [
        S120VC,
        ("SENS:CORR:WAV 5000", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        NO_ERROR,
    ]
    with expected_protocol(PM100, pairs, resource="USB0::0x1313::0x8072::P2005301::INSTR") as pm:
        with pytest.raises(DeviceError, match="Data out of range") as info:
            pm.wavelength = 5000
        assert info.value.resource == "USB0::0x1313::0x8072::P2005301::INSTR"


def test_role_configures_then_turns_power_into_pulse_energy():
    pairs = [
        S120VC,
        ("SENS:CORR:WAV? MIN", "2.000000E+02"),
        ("SENS:CORR:WAV? MAX", "1.100000E+03"),
        ("SENS:CORR:WAV 400", None),
        NO_ERROR,
        ("SENS:CORR:WAV?", "4.000000E+02"),
        ("MEAS:POW?", "1.200000E-05"),
        ("MEAS:POW?", "1.100000E-05"),
    ]
    with expected_protocol(PM100, pairs) as pm:
        meter = PM100Meter(pm)
        meter.configure(400.0, 1000.0)
        assert meter.read_energies(2) == pytest.approx([1.2e-8, 1.1e-8])


def test_wavelength_outside_the_head_is_refused_before_sending():
    pairs = [S120VC, ("SENS:CORR:WAV? MIN", "2.000000E+02"), ("SENS:CORR:WAV? MAX", "1.1E+03")]
    with (
        expected_protocol(PM100, pairs) as pm,
        pytest.raises(DeviceError, match="outside the S120VC range 200-1100 nm"),
    ):
        PM100Meter(pm).set_wavelength(150.0)


# -- (b) against the simulated meter on a bench --------------------------------------------
@pytest.fixture
def bench():
    bench = VirtualBench(realtime=False, seed=4)
    bench.laser.emission = True
    return bench


def open_meter(bench, **given):
    return open_simulated(DRIVER, "station.energy_meter", bench, **given)


def test_power_head_reads_the_bench_pulse_energy(bench):
    sim, meter = open_meter(bench)
    assert isinstance(meter, EnergyMeter)
    assert sim.received[:3] == ["SYST:SENSOR:IDN?", "SENS:POW:UNIT W", "SYST:ERR?"]
    meter.configure(bench.laser.wavelength_nm, bench.laser.repetition_rate_hz)
    bench.laser.shutter_open = True
    energies = meter.read_energies(40)
    assert np.mean(energies) == pytest.approx(bench.laser.pulse_energy_j, rel=0.01)
    bench.laser.shutter_open = False
    assert np.all(meter.read_energies(5) == 0.0)


def test_energy_head_sees_every_pulse_and_its_jitter(bench):
    _, meter = open_meter(bench, sensor="ES111C")
    meter.configure(bench.laser.wavelength_nm, bench.laser.repetition_rate_hz)
    bench.laser.shutter_open = True
    energies = meter.read_energies(400)
    assert np.mean(energies) == pytest.approx(12e-9, rel=0.01)
    assert np.std(energies) / np.mean(energies) == pytest.approx(0.02, rel=0.2)


def test_attenuation_on_the_bench_reaches_the_meter(bench):
    _, meter = open_meter(bench, averaging=10)
    meter.configure(400.0, 1000.0)
    bench.laser.shutter_open = True
    bench.set_transmission("filter", 0.01)
    assert np.mean(meter.read_energies(5)) == pytest.approx(0.12e-9, rel=0.02)


def test_power_head_needs_the_repetition_rate(bench):
    _, meter = open_meter(bench)
    with pytest.raises(DeviceError, match="configure"):
        meter.read_energies(1)


def test_a_photodiode_set_to_the_wrong_wavelength_reads_wrong_and_says_where_it_is(bench):
    _, meter = open_meter(bench)
    bench.laser.shutter_open = True
    meter.configure(800.0, 1000.0)  # the pump is at 400 nm on the sample
    assert np.mean(meter.read_energies(20)) == pytest.approx(6e-9, rel=0.02)
    assert meter.settings()["wavelength_nm"] == 800.0
    with pytest.raises(DeviceError, match="outside"):
        meter.configure(150.0, 1000.0)
    assert meter.settings()["wavelength_nm"] == 800.0


def test_identity_and_settings(bench):
    _, meter = open_meter(bench, averaging=5)
    assert meter.identity() == "Thorlabs,PM100USB,P2005301,1.7.0; sensor S120VC s/n SIM120001"
    meter.configure(400.0, 1000.0)
    settings = meter.settings()
    assert settings["averaging"] == 5 and settings["mode"] == "power"
    assert settings["repetition_rate_hz"] == 1000.0


@pytest.mark.parametrize(
    ("given", "field"),
    [({"sensor": "S999"}, "sensor"), ({"averaging": 0}, "averaging")],
)
def test_bad_options_name_their_field(bench, given, field):
    options = DRIVER.check_options("station.energy_meter", given)
    with pytest.raises(ValidationError) as info:
        DRIVER.simulator(bench, options)
    assert info.value.field == f"station.energy_meter.{field}"


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="Undefined header", garbage="garbled", timeout="no reply")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, meter = open_meter(bench)
    meter.configure(400.0, 1000.0)
    bench.laser.shutter_open = True
    with raises_on_fault(sim, fault, words, "Thorlabs PM100", "sim:pm100"):
        meter.read_energies(3)
    assert np.mean(meter.read_energies(3)) == pytest.approx(12e-9, rel=0.05)
    assert not sim.errors


def test_lost_link_is_a_device_error(bench):
    sim, meter = open_meter(bench)
    with raises_on_lost_link(sim):
        meter.settings()
