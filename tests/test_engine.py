"""The run engine on a stand-in station: document order, statuses, safe state on every exit."""

from __future__ import annotations

import pytest

from qslab.engine.documents import data_key
from qslab.engine.runner import RunEngine
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter
from qslab.station import Station


class FakeStation(Station):
    """An empty station that counts how often it is made safe."""

    def __init__(self):
        super().__init__(Station.empty().config)
        self.safe_calls = 0
        self.closed = False

    def make_safe(self):
        self.safe_calls += 1
        return []

    def close(self):
        self.closed = True


class Counting(Procedure):
    name = "counting"
    title = "count to n"
    roles = ()
    parameters = (
        Parameter("n", "int", 3, "", "points", 0),
        Parameter("fail_at", "int", -1, "", "raise at this point"),
    )

    def run(self, ctx):
        ctx.descriptor({"x": data_key((), "float64", "", "x")}, {}, {"signal": "x", "axes": []})
        for i in range(self.values["n"]):
            ctx.check_abort()
            if i == self.values["fail_at"]:
                raise RuntimeError("instrument on fire")
            ctx.event({"x": float(i)})
        ctx.results({"total": {"value": 1.0, "error": 0.0, "units": ""}})


def record(engine, critical=False):
    seen = []
    engine.subscribe(lambda name, doc: seen.append((name, doc)), critical=critical)
    return seen


def test_documents_arrive_in_order_and_the_station_ends_safe():
    engine, station = RunEngine(), FakeStation()
    seen = record(engine)
    outcome = engine.run(Counting(station, {"n": 3}), station)
    names = [n for n, _ in seen if n != "progress"]
    assert names == ["start", "descriptor", "event", "event", "event", "analysis", "stop"]
    assert outcome.status == "completed" and outcome.num_events == 3
    assert seen[-1][1]["status"] == "completed"
    assert station.safe_calls == 1 and station.closed


def test_exception_fails_the_run_with_its_message_and_keeps_points():
    engine, station = RunEngine(), FakeStation()
    seen = record(engine)
    outcome = engine.run(Counting(station, {"n": 5, "fail_at": 2}), station)
    assert outcome.status == "failed"
    assert "instrument on fire" in outcome.reason
    assert sum(1 for n, _ in seen if n == "event") == 2
    assert seen[-1][0] == "stop" and seen[-1][1]["status"] == "failed"
    assert station.safe_calls == 1


def test_abort_from_a_subscriber_stops_at_the_next_point():
    engine, station = RunEngine(), FakeStation()

    def stopper(name, doc):
        if name == "event" and doc["seq_num"] == 2:
            engine.abort("enough")

    engine.subscribe(stopper)
    outcome = engine.run(Counting(station, {"n": 10}), station)
    assert (outcome.status, outcome.reason, outcome.num_events) == ("aborted", "enough", 2)
    assert station.safe_calls == 1


def test_a_failing_critical_subscriber_fails_the_run():
    engine, station = RunEngine(), FakeStation()

    def full_disk(name, doc):
        if name == "event":
            raise OSError("No space left on device")

    engine.subscribe(full_disk, critical=True)
    outcome = engine.run(Counting(station, {"n": 3}), station)
    assert outcome.status == "failed" and "No space left" in outcome.reason
    assert station.safe_calls == 1


def test_a_failing_plot_is_dropped_and_the_run_goes_on():
    engine, station = RunEngine(), FakeStation()
    calls = []

    def broken_plot(name, doc):
        calls.append(name)
        raise ValueError("plot broke")

    engine.subscribe(broken_plot)
    outcome = engine.run(Counting(station, {"n": 3}), station)
    assert outcome.status == "completed"
    assert calls == ["start"]


def test_incomplete_safe_state_is_a_failure_even_after_all_points():
    engine, station = RunEngine(), FakeStation()
    station.make_safe = lambda: ["laser: no answer"]
    outcome = engine.run(Counting(station, {"n": 2}), station)
    assert outcome.status == "failed"
    assert "safe state incomplete" in outcome.reason


def test_unknown_parameter_is_refused_before_anything_runs():
    from qslab.errors import ValidationError

    with pytest.raises(ValidationError, match="parameters.colour"):
        Counting(FakeStation(), {"colour": "red"})
