"""Newport ESP301: the manual's command strings, moves on the bench, the error buffer, faults."""

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
from qslab.instruments.newport import esp301
from qslab.instruments.newport.esp301 import DRIVER, ESP301, ESP301Stage
from qslab.instruments.roles import SampleStage
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.esp301 import VERSION

NO_ERROR = ("TB?", "0, 451322, NO ERROR DETECTED")
TABLE = "station.stage"
NAMED = ("Newport ESP301", "ASRL1::INSTR")
ROLE_SETUP = [("VE?", VERSION), ("1VA?", "2.5"), ("2VA?", "2.5")]
ROLE_SETUP += [
    (f"{n}S{side}?", limit) for n in (1, 2) for side, limit in (("L", "-12.5"), ("R", "12.5"))
]
"""What the role reads when it is made: version, velocities, software limits."""


def command(sent: str, *errors: str) -> list[tuple]:
    """A command (answered with nothing), then the error buffer read until empty."""
    return [(sent, None)] + [("TB?", e) for e in errors] + [NO_ERROR]


# -- (a) the manual's command strings --------------------------------------------------------
@pytest.mark.parametrize(
    ("attribute", "sent", "reply", "value"),
    [
        ("position_mm", "1TP?", "5.32", 5.32),
        ("motion_done", "1MD?", "0", False),
        ("motor_on", "1MO?", "1", True),
        ("units", "1SN?", "2", 2),
        ("left_limit_mm", "1SL?", "-12.5", -12.5),
        ("right_limit_mm", "1SR?", "12.5", 12.5),
        ("velocity_mm_s", "1VA?", "2.5", 2.5),
    ],
)
def test_axis_queries(attribute, sent, reply, value):
    with expected_protocol(ESP301, [(sent, reply)]) as esp:
        assert getattr(esp.axis(1), attribute) == value


def test_version():
    with expected_protocol(ESP301, [("VE?", VERSION)]) as esp:
        assert esp.version == VERSION


def test_every_command_is_followed_by_the_error_buffer():
    pairs = command("2PA-1.2500") + command("2MO") + command("2ST") + command("2VA1")
    with expected_protocol(ESP301, pairs) as esp:
        axis = esp.axis(2)
        axis.target_mm = -1.25
        axis.turn_motor_on()
        axis.stop()
        axis.velocity_mm_s = 1.0


def test_a_refusal_names_every_error_in_the_buffer():
    pairs = command("1PA20.0000", "106, 451339, POSITIVE SOFTWARE LIMIT DETECTED", "6, 1, X")
    with (
        expected_protocol(ESP301, pairs, resource="ASRL1::INSTR") as esp,
        raises_naming("error 106: POSITIVE SOFTWARE LIMIT DETECTED; error 6: X", *NAMED),
    ):
        esp.axis(1).target_mm = 20


def test_an_unreadable_error_buffer_is_a_device_error():
    pairs = [("1ST", None), ("TB?", "NO ERROR")]
    with (
        expected_protocol(ESP301, pairs) as esp,
        pytest.raises(DeviceError, match="unreadable reply to 'TB\\?'"),
    ):
        esp.axis(1).stop()


def move_pairs(done: list[str]) -> list[tuple]:
    """The role made, then move_to(1, 2) from (0, 0): ``done`` are the answers of 1MD?."""
    pairs = ROLE_SETUP + [("1TP?", "0.00000"), ("2TP?", "0.00000")]
    pairs += command("1PA1.0000") + command("2PA2.0000")
    pairs += [("1MD?", d) for d in done] + [("2MD?", "1")]
    return pairs + [NO_ERROR]


def test_a_move_polls_motion_done_then_reads_the_position_back(monkeypatch):
    monkeypatch.setattr(esp301, "POLL_S", 0.0)
    pairs = move_pairs(["0", "0", "1"]) + [("1TP?", "1.00000"), ("2TP?", "2.00000")]
    with expected_protocol(ESP301, pairs) as esp:
        assert stage_on(esp).move_to(1, 2) == (1.0, 2.0)


def test_a_stage_that_stops_short_is_a_device_error():
    pairs = move_pairs(["1"]) + [("1TP?", "0.50000"), ("2TP?", "2.00000")]
    with (
        expected_protocol(ESP301, pairs) as esp,
        pytest.raises(DeviceError, match=r"sent to \(1, 2\) mm, the stage reports \(0.5, 2\)"),
    ):
        stage_on(esp).move_to(1, 2)


def test_an_axis_not_in_millimetres_is_refused_on_connect():
    with (
        expected_protocol(ESP301, [("1SN?", "3")]) as esp,
        pytest.raises(DeviceError, match="units 3, not millimetres"),
    ):
        esp301._prepare(esp.axis(1), 0.0)


def stage_on(esp: ESP301) -> ESP301Stage:
    options = DRIVER.check_options(TABLE, {})
    return ESP301Stage(esp, esp301._checked(options), [])


# -- (b) against the simulated controller on a bench -----------------------------------------
@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=4)


def test_a_move_takes_the_sample_there(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    assert isinstance(stage, SampleStage)
    assert stage.identity() == VERSION
    assert stage.travel_mm() == ((-12.5, 12.5), (-12.5, 12.5))
    assert stage.move_to(1.5, -2.25) == (1.5, -2.25)
    assert stage.position_mm == (1.5, -2.25)
    assert bench.sample_position_mm == (1.5, -2.25)
    assert sim.axes[1].motor_on and sim.axes[2].motor_on  # powered on connect
    settings = stage.settings()
    assert settings["x_mm"] == 1.5 and settings["velocity_mm_s"] == [2.5, 2.5]


def test_other_axes_and_a_velocity_from_the_options(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench, x_axis=3, y_axis=1, velocity_mm_s=1.0)
    stage.move_to(2.0, 0.5)
    assert (sim.axes[3].position, sim.axes[1].position) == (2.0, 0.5)
    assert bench.sample_position_mm == (2.0, 0.5)
    assert sim.axes[3].velocity == 1.0


def test_a_velocity_beyond_the_controllers_is_its_error(bench):
    with pytest.raises(DeviceError, match="error 110: MAXIMUM VELOCITY EXCEEDED"):
        open_simulated(DRIVER, TABLE, bench, velocity_mm_s=50.0)


def test_beyond_the_travel_option_nothing_is_sent(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench, travel_mm=[[0, 5], [-1, 1]])
    sent = len(sim.received)
    with pytest.raises(ValidationError) as info:
        stage.move_to(6.0, 0.0)
    assert info.value.field == f"{TABLE}.travel_mm" and "x = 6 mm" in info.value.message
    assert len(sim.received) == sent and bench.sample_position_mm == (0.0, 0.0)


def test_the_controllers_own_limit_is_its_error_and_the_next_move_works(bench):
    sim = DRIVER.simulator(bench, DRIVER.check_options(TABLE, {}))
    sim.axes[1].right = 5.0
    stage = DRIVER.connect(sim, DRIVER.check_options(TABLE, {}))
    assert stage.travel_mm() == ((-12.5, 5.0), (-12.5, 12.5))
    with raises_naming(
        "error 106: POSITIVE SOFTWARE LIMIT DETECTED", "Newport ESP301", "sim:esp301"
    ):
        stage.move_to(6.0, 1.0)
    assert sim.axes[1].position == 0.0
    assert stage.move_to(4.0, 1.0) == (4.0, 1.0)


def test_a_motor_switched_off_is_reported(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    sim.axes[2].motor_on = False
    with pytest.raises(DeviceError, match="error 213: MOTOR NOT ENABLED"):
        stage.move_to(0.0, 1.0)


def test_a_stuck_move_is_stopped_and_reported(bench, monkeypatch):
    monkeypatch.setattr(esp301, "MOVE_MARGIN_S", 0.05)
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    sim.axes[2].stalled = True
    with pytest.raises(DeviceError, match="still moving after .* s: stopped"):
        stage.move_to(0.0, 0.1)
    assert not sim.axes[2].moving and sim.received[-4:] == ["1ST", "TB?", "2ST", "TB?"]


def test_safe_stops_both_axes_and_is_quiet_when_idle(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    stage.safe()
    stage.safe()
    assert sim.received.count("1ST") == 2 and sim.received.count("2ST") == 2


def test_errors_from_before_the_session_are_kept_not_blamed(bench):
    sim = DRIVER.simulator(bench, DRIVER.check_options(TABLE, {}))
    sim.errors.append(6)
    stage = DRIVER.connect(sim, DRIVER.check_options(TABLE, {}))
    assert stage.settings()["errors_on_connect"] == ["error 6: COMMAND DOES NOT EXIST"]
    assert stage.move_to(1.0, 1.0) == (1.0, 1.0)


def test_an_unanswered_query_says_what_the_controller_filed(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    with pytest.raises(DeviceError, match="no reply to '4TP\\?': error 9: AXIS NUMBER OUT OF"):
        _ = stage.controller.axis(4).position_mm
    assert not sim.errors


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"x_axis": 4}, "x_axis"),
        ({"y_axis": 1}, "y_axis"),
        ({"travel_mm": [[1, 0], [0, 1]]}, "travel_mm"),
        ({"travel_mm": [[0, 1]]}, "travel_mm"),
        ({"velocity_mm_s": -1.0}, "velocity_mm_s"),
    ],
)
def test_bad_options_name_their_field(bench, given, field):
    with pytest.raises(ValidationError) as info:
        open_simulated(DRIVER, TABLE, bench, **given)
    assert info.value.field == f"{TABLE}.{field}"


# -- (c) faults ------------------------------------------------------------------------------
@fault_words(error="error 6: COMMAND DOES NOT EXIST", garbage="garbled", timeout="no reply")
def test_faults_raise_device_errors_without_desync(bench, fault, words):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    with raises_on_fault(sim, fault, words, "Newport ESP301", "sim:esp301"):
        stage.move_to(1.0, 1.0)
    assert stage.move_to(1.0, 1.0) == (1.0, 1.0)
    assert not sim.errors


def test_lost_link_is_a_device_error(bench):
    sim, stage = open_simulated(DRIVER, TABLE, bench)
    with raises_on_lost_link(sim):
        stage.safe()
    sim.connected = True
    stage.safe()
