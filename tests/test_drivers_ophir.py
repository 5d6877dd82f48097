"""Ophir Vega: RS-232 strings from the manual, new pulses from the bench, power heads, faults."""

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

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.ophir import vega
from qslab.instruments.ophir.vega import DRIVER, Head, Ophir, OphirMeter
from qslab.instruments.roles import EnergyMeter
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.ophir import reading

TABLE = "station.energy_meter"
PYRO = Head("PY", "22323", "PE10-C", 0x80000003)


# -- (a) the manual's command strings --------------------------------------------------------
@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("instrument_info", "$II", "* USBD 113217 SH2USB", ["USBD", "113217", "SH2USB"]),
        ("head_info", "$HI", "* PY 22323 PE10-C 80000003", ["PY", "22323", "PE10-C", "80000003"]),
        ("new_energy", "$EF", "*1", True),
        ("new_energy", "$EF", "*0", False),
        ("wavelength_table", "$AW", "*DISCRETE 2 355 532", ["DISCRETE", "2", "355", "532"]),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(Ophir, [(command, reply)]) as meter:
        assert getattr(meter, prop) == value


@pytest.mark.parametrize(
    ("command", "reply", "value"), [("$SE", "*1.300E-5", 1.3e-5), ("$SP", "* 2.500E-3", 2.5e-3)]
)
def test_readings(command, reply, value):
    with expected_protocol(Ophir, [(command, reply)]) as meter:
        assert meter.reading(command) == value


def test_settings_answer_a_bare_star():
    pairs = [("$FE", "*"), ("$FP", "*"), ("$WL400", "*"), ("$WI3", "*")]
    with expected_protocol(Ophir, pairs) as meter:
        meter.force_mode(energy=True)
        meter.force_mode(energy=False)
        meter.set_wavelength_nm(400)
        meter.select_wavelength(3)


def test_over_range_is_a_device_error():
    with (
        expected_protocol(Ophir, [("$SE", "*OVER")]) as meter,
        pytest.raises(DeviceError, match="over range"),
    ):
        meter.reading("$SE")


def test_question_mark_reply_is_a_device_error_and_the_next_command_works():
    pairs = [("$WL5000", "?WAVELENGTH OUT OF RANGE"), ("$EF", "*0")]
    with expected_protocol(Ophir, pairs, resource="ASRL6::INSTR") as meter:
        with raises_naming("OUT OF RANGE", "Ophir meter", "ASRL6::INSTR"):
            meter.set_wavelength_nm(5000)
        assert meter.new_energy is False


def test_a_reply_without_star_or_question_mark_is_garbled():
    with (
        expected_protocol(Ophir, [("$EF", "1")]) as meter,
        pytest.raises(DeviceError, match="garbled"),
    ):
        assert meter.new_energy


def test_energy_reading_waits_for_a_new_pulse_each_time():
    pairs = [("$SE", "*9.000E-6"), ("$EF", "*0"), ("$EF", "*1"), ("$SE", "*1.000E-5")]
    pairs += [("$EF", "*1"), ("$SE", "*1.100E-5")]
    with expected_protocol(Ophir, pairs) as meter:
        energies = OphirMeter(meter, PYRO).read_energies(2)
    assert energies == pytest.approx([1.0e-5, 1.1e-5])


def test_a_discrete_head_gets_its_nearest_preset():
    table = "*DISCRETE 4 193 248 355 532 1064"
    pairs = [("$AW", table), ("$WI3", "*"), ("$AW", table.replace(" 4 ", " 3 "))]
    with expected_protocol(Ophir, pairs) as meter:
        OphirMeter(meter, PYRO).set_wavelength(400)


def test_a_continuous_head_is_set_and_read_back():
    before, after = "*CONTINUOUS 350 1100 1 633 905", "*CONTINUOUS 350 1100 1 400 905"
    pairs = [("$AW", before), ("$WL400", "*"), ("$AW", after)]
    with expected_protocol(Ophir, pairs) as meter:
        OphirMeter(meter, Head("SI", "1", "PD300", 1)).set_wavelength(400.2)


@pytest.mark.parametrize(("name", "nm"), [("1064", 1064), ("1.06u", 1060), ("<.8U", 800)])
def test_discrete_preset_names(name, nm):
    assert vega._preset_nm(name) == pytest.approx(nm)


def test_reading_format():
    assert reading(1.3e-5) == "1.300E-5" and reading(2.5) == "2.500E0"


# -- (b) against the simulated console on a bench --------------------------------------------
@pytest.fixture
def bench():
    bench = VirtualBench(realtime=False, seed=8)
    bench.laser.emission = bench.laser.shutter_open = True
    bench.set_transmission("nd", 0.5)
    return bench


def test_pyroelectric_head_reads_new_pulses_from_the_bench(bench):
    sim, meter = open_simulated(DRIVER, TABLE, bench)
    assert isinstance(meter, EnergyMeter)
    assert "$FE" in sim.received and sim.head.energy_mode
    meter.configure(400.0, 1000.0)
    assert meter.settings() == {
        "head": "PE10-C",
        "head_type": "PY",
        "mode": "energy",
        "wavelength": "355",
        "repetition_rate_hz": 1000.0,
    }
    sent = len(sim.received)
    energies = meter.read_energies(200)
    assert energies.mean() == pytest.approx(6e-9, rel=0.01)
    assert energies.std() / energies.mean() == pytest.approx(0.02, rel=0.2)
    # one $SE drops the old pulse, then each new pulse is one $EF (a pulse was waiting) and one $SE
    assert sim.received[sent:] == ["$SE"] + ["$EF", "$SE"] * 200
    assert meter.identity() == "Ophir VEGA s/n 700123; head PE10-C (PY) s/n 701234"


def test_a_blocked_beam_gives_no_new_pulse(bench, monkeypatch):
    monkeypatch.setattr(vega, "NEW_PULSE_TIMEOUT_S", 0.05)
    _, meter = open_simulated(DRIVER, TABLE, bench)
    bench.set_blocked("shutter", True)
    with pytest.raises(DeviceError, match="no new pulse"):
        meter.read_energies(1)


def test_photodiode_head_divides_power_by_the_rate(bench):
    sim, meter = open_simulated(DRIVER, TABLE, bench, head="PD300")
    assert "$FP" in sim.received
    with pytest.raises(DeviceError, match="repetition rate"):
        meter.read_energies(1)
    meter.configure(400.0, 1000.0)
    assert sim.head.wavelengths[2] == "400" and meter.settings()["wavelength"] == "400"
    energies = meter.read_energies(5)
    assert energies == pytest.approx(6e-9, rel=0.01)


def test_wavelength_outside_a_continuous_head_is_refused(bench):
    _, meter = open_simulated(DRIVER, TABLE, bench, head="PD300")
    with pytest.raises(DeviceError, match="outside the PD300 range 350-1100"):
        meter.configure(1550.0, 1000.0)


def test_bad_head_and_rate_name_the_field(bench):
    with pytest.raises(ValidationError, match="head"):
        open_simulated(DRIVER, TABLE, bench, head="3A")
    _, meter = open_simulated(DRIVER, TABLE, bench)
    with pytest.raises(ValidationError, match="repetition_rate_hz"):
        meter.configure(400.0, 0.0)


# -- (c) faults ------------------------------------------------------------------------------
@fault_words(error="refused", garbage="garbled", timeout="no reply")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, meter = open_simulated(DRIVER, TABLE, bench)
    meter.configure(400.0, 1000.0)
    with raises_on_fault(sim, fault, words, "Ophir VEGA", "sim:ophir"):
        meter.read_energies(3)
    assert meter.read_energies(3) == pytest.approx(6e-9, rel=0.1)


def test_lost_link_is_a_device_error(bench):
    sim, meter = open_simulated(DRIVER, TABLE, bench)
    with raises_on_lost_link(sim):
        meter.read_energies(1)
    sim.connected = True
    assert meter.read_energies(1) == pytest.approx(6e-9, rel=0.1)
