"""Princeton SpectraPro: the manual's commands and framing, moves on the bench, and faults."""

from __future__ import annotations

import pytest
from driver_faults import fault_words, open_simulated, raises_on_fault, raises_on_lost_link
from pymeasure.test import expected_protocol

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.princeton.spectrapro import DRIVER, Grating, SpectraPro
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.spectrapro import GRATING_CHANGE_S, SLEW_NM_PER_S

GRATINGS_LINES = [
    "\x1a1  1200 g/mm BLZ=  500NM ",
    " 2  300 g/mm BLZ=  1.0UM ",
    " 3  150 g/mm BLZ=  500NM ",
    *[f" {n}  Not Installed     " for n in range(4, 10)],
]


# -- (a) the manual's command strings; RS-232 echoes the command, USB does not ---------------
@pytest.mark.parametrize(
    ("prop", "command", "value", "expected"),
    [
        ("wavelength_nm", "?NM", "650.000 nm", 650.0),
        ("grating", "?GRATING", "2", 2),
        ("move_done", "MONO-?DONE", "1", True),
        ("move_done", "MONO-?DONE", "0", False),
        ("model", "MODEL", "SP-2-300i", "SP-2-300i"),
        ("serial_number", "SERIAL", "23001234", "23001234"),
    ],
)
@pytest.mark.parametrize("echo", [True, False], ids=["rs232", "usb"])
def test_queries(prop, command, value, expected, echo):
    reply = f"{command if echo else ''} {value}  ok"
    with expected_protocol(SpectraPro, [(command, reply)]) as mono:
        assert getattr(mono, prop) == expected


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [("goto_nm", 546.07, "546.070 GOTO"), ("grating", 3, "3 GRATING")],
)
@pytest.mark.parametrize("echo", [True, False], ids=["rs232", "usb"])
def test_settings(prop, value, command, echo):
    with expected_protocol(SpectraPro, [(command, f"{command if echo else ''} ok")]) as mono:
        setattr(mono, prop, value)


def test_stop():
    with expected_protocol(SpectraPro, [("MONO-STOP", "MONO-STOP ok")]) as mono:
        mono.stop()


@pytest.mark.parametrize("echo", [True, False], ids=["rs232", "usb"])
def test_grating_listing_is_read_to_its_ok(echo):
    pairs = [("?GRATINGS", "?GRATINGS" if echo else "")]
    pairs += [(None, line) for line in GRATINGS_LINES] + [(None, " ok")]
    with expected_protocol(SpectraPro, pairs) as mono:
        assert mono.gratings() == [
            Grating(1, 1200, "500NM"),
            Grating(2, 300, "1.0UM"),
            Grating(3, 150, "500NM"),
        ]


def test_a_refused_command_is_a_device_error_and_the_next_command_works():
    pairs = [("9 GRATING", "9 GRATING ?"), ("?GRATING", "?GRATING 1  ok")]
    with expected_protocol(SpectraPro, pairs, resource="ASRL5::INSTR") as mono:
        with pytest.raises(DeviceError, match="refused '9 GRATING'") as info:
            mono.grating = 9
        assert (info.value.instrument, info.value.resource) == (
            "Princeton SpectraPro",
            "ASRL5::INSTR",
        )
        assert mono.grating == 1


def test_a_value_where_none_belongs_is_a_device_error():
    with (
        expected_protocol(SpectraPro, [("?NM", "?NM  ok")]) as mono,
        pytest.raises(DeviceError, match="unexpected reply"),
    ):
        _ = mono.wavelength_nm


def test_out_of_range_settings_are_refused_before_sending():
    with expected_protocol(SpectraPro, []) as mono:
        with pytest.raises(ValueError):
            mono.grating = 10
        with pytest.raises(ValueError):
            mono.goto_nm = -1.0


# -- (b) against the simulator on a bench ----------------------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=11)


def open_mono(bench, **given):
    return open_simulated(DRIVER, "station.monochromator", bench, **given)


@pytest.mark.parametrize("echo", [True, False], ids=["rs232", "usb"])
def test_connect_sets_the_grating_and_wavelength_of_the_options(bench, echo):
    sim, mono = open_mono(bench, grating=2, center_wavelength_nm=700.0, echo=echo)
    assert (sim.grating, sim.wavelength_nm) == (2, 700.0)
    assert (mono.grating, mono.center_wavelength_nm) == (2, 700.0)
    assert mono.identity() == "Princeton Instruments SP-2-300i s/n 23001234"
    settings = mono.settings()
    assert settings["grooves_per_mm"] == 300
    assert settings["center_wavelength_nm"] == 700.0
    assert len(settings["installed_gratings"]) == 3


def test_moves_wait_for_the_drive_and_take_bench_time(bench):
    _, mono = open_mono(bench)
    waits = []
    bench.wait = waits.append
    assert mono.set_center_wavelength(550.25) == pytest.approx(550.25)
    mono.set_grating(3)
    mono.set_grating(3)  # already there: no turret move
    assert waits == [pytest.approx(99.75 / SLEW_NM_PER_S), GRATING_CHANGE_S]


def test_a_goto_is_followed_by_done_and_a_read_back(bench):
    sim, mono = open_mono(bench)
    sim.received.clear()
    mono.set_center_wavelength(600.0)
    assert sim.received == ["?GRATING", "600.000 GOTO", "MONO-?DONE", "?NM"]


def test_wavelength_beyond_the_drive_range_is_a_validation_error(bench):
    sim, mono = open_mono(bench)
    with pytest.raises(ValidationError, match="0-1400 nm") as info:
        mono.set_center_wavelength(1500.0)
    assert info.value.field == "station.monochromator.center_wavelength_nm"
    mono.set_grating(3)  # 150 g/mm reaches 8 times further
    assert mono.set_center_wavelength(1500.0) == pytest.approx(1500.0)


def test_an_empty_grating_position_is_a_validation_error(bench):
    with pytest.raises(ValidationError, match="installed: \\[1, 2, 3\\]") as info:
        open_mono(bench, grating=5)
    assert info.value.field == "station.monochromator.grating"


def test_safe_leaves_the_monochromator_where_it_is(bench):
    sim, mono = open_mono(bench)
    sim.received.clear()
    mono.safe()
    assert sim.received == []


def test_a_drive_that_never_stops_is_stopped_and_reported(bench, monkeypatch):
    sim, mono = open_mono(bench)
    monkeypatch.setattr("qslab.instruments.princeton.spectrapro.DONE_TIMEOUT_S", 0.0)
    monkeypatch.setattr(type(sim), "_query", _never_done(type(sim)._query))
    with pytest.raises(DeviceError, match="still moving"):
        mono.set_center_wavelength(600.0)
    assert sim.received[-1] == "MONO-STOP"


def _never_done(query):
    def patched(self, name):
        return " 0 " if name == "MONO-?DONE" else query(self, name)

    return patched


# -- (c) faults ------------------------------------------------------------------------------
@fault_words(error="refused", garbage="garbled", timeout="no complete reply")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, mono = open_mono(bench)
    with raises_on_fault(sim, fault, words, "Princeton SpectraPro", "sim:spectrapro"):
        mono.set_center_wavelength(600.0)
    assert mono.set_center_wavelength(610.0) == pytest.approx(610.0)
    assert sim.wavelength_nm == 610.0


def test_lost_link_is_a_device_error(bench):
    sim, mono = open_mono(bench)
    with raises_on_lost_link(sim):
        _ = mono.center_wavelength_nm
