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
