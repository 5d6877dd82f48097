"""An instrument failing mid-scan: the run fails with its name, keeps its points, ends safe."""

from __future__ import annotations

import pytest

from qslab.api import run_procedure
from qslab.station import open_station
from qslab.storage.reader import read_run


class FaultAt:
    """Subscriber that arms ``fault`` on a role's simulator once ``n`` points are in."""

    def __init__(self, station, role: str, fault: str, n: int = 3):
        sims = station.simulators[role]
        self.sim = sims[0] if isinstance(sims, list) else sims
        self.fault, self.n = fault, n

    def __call__(self, name, doc):
        if name == "event" and doc["seq_num"] == self.n:
            if self.fault == "unplugged":
                self.sim.connected = False
            else:
                self.sim.fault = self.fault


@pytest.mark.parametrize("fault", ["timeout", "garbage", "error", "unplugged"])
@pytest.mark.parametrize(
    ("role", "instrument"),
    [("attenuator", "FW102C"), ("energy_meter", "PM100"), ("laser", "Chameleon")],
)
def test_fault_fails_the_run_with_the_instrument_named_and_the_beam_blocked(
    fast_station, tmp_path, role, instrument, fault
):
    station = open_station(fast_station, seed=1)
    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path,
        points=8,
        averages=1,
        subscribers=[FaultAt(station, role, fault)],
    )
    assert result.outcome.status == "failed"
    record = read_run(result.path)
    assert record.status == "failed" and instrument in record.error
    assert record.points == 3
    assert not station.bench.light_on_sample
    bench = station.bench
    unreachable = fault == "unplugged" and role in ("laser", "attenuator")
    assert ("safe state incomplete" in record.error) == unreachable
    # whatever can still be reached is made safe
    if role != "laser" or not unreachable:
        assert bench.laser.shutter_open is False
    if role != "attenuator" or not unreachable:
        assert bench.transmission == pytest.approx(10**-3.5)


def run_alt_with_fault(tmp_path, role: str, fault: str):
    """A 6-point ASE series on sim-alt with ``fault`` armed on ``role`` after point 2."""
    path = tmp_path / "alt.toml"
    path.write_text('base = "sim-alt"\n[bench]\nrealtime = false\n')
    station = open_station(path, seed=2)
    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path,
        points=6,
        averages=1,
        subscribers=[FaultAt(station, role, fault, n=2)],
    )
    return station, read_run(result.path)


@pytest.mark.parametrize("fault", ["timeout", "garbage", "error", "unplugged"])
@pytest.mark.parametrize(
    ("role", "instrument"),
    [
        ("shutter", "SC10"),
        ("attenuator", "ELL14"),
        ("energy_meter", "Ophir"),
    ],
)
def test_fault_on_the_other_drivers_ends_as_safely(tmp_path, role, instrument, fault):
    station, record = run_alt_with_fault(tmp_path, role, fault)
    assert record.status == "failed" and instrument in record.error
    assert record.points == 2
    assert not station.bench.light_on_sample
    unreachable = fault == "unplugged" and role != "energy_meter"
    assert ("safe state incomplete" in record.error) == unreachable


@pytest.mark.parametrize("fault", ["timeout", "garbage", "error"])
def test_a_glitch_while_making_safe_is_retried(fast_station, tmp_path, fault):
    """The laser's shutter answers garbage once as the run ends: the second try closes it."""
    station = open_station(fast_station, seed=1)

    def glitch_at_stop(name, doc):
        if name == "analysis":
            station.simulators["laser"].fault = fault

    result = run_procedure(
        "ase", station=station, out=tmp_path, points=8, averages=1, subscribers=[glitch_at_stop]
    )
    assert result.outcome.status == "completed", result.outcome.reason
    assert station.bench.laser.shutter_open is False


def test_a_laser_gone_at_the_end_is_reported_unsafe(tmp_path):
    """With a separate shutter the laser is idle during the scan; if it is gone when the run
    ends, the shutter still blocks the beam and the file says the laser was not made safe."""
    station, record = run_alt_with_fault(tmp_path, "laser", "unplugged")
    assert record.status == "failed" and record.points == 6
    assert "safe state incomplete" in record.error and "Mai Tai" in record.error
    assert not station.bench.light_on_sample
