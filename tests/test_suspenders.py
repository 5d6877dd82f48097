"""Suspenders, pause on request and the dose limit: a run pauses instead of spoiling its data.

Each test scripts a fault at a chosen point through the station file and checks what the file
holds afterwards: every point once, the bad one retaken and marked, the pause logged with its
reason, and the station safe while paused.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import write_station

from qslab.api import run_procedure
from qslab.errors import ValidationError
from qslab.station import load_station
from qslab.storage.reader import read_run

SUSPENDERS = """
[suspenders]
pump_energy_tolerance = 0.2
min_count_rate_cps = 100
saturation = true
device_retries = true
wait_s = 0
max_retakes = 2
"""


def fault(fault: str, point: int, role: str = "", extra: str = "") -> str:
    role_line = f'role = "{role}"\n' if role else ""
    return f'[[faults]]\n{role_line}fault = "{fault}"\npoint = {point}\n{extra}'


class Steering:
    """A subscriber handed the engine first, to pause, resume, abort or make safe the run."""

    wants_engine = True

    def __init__(self, engine):
        self.engine = engine


class SafeWhilePaused:
    """Records, at each resume document, whether the beam was off the sample."""

    def __init__(self, station):
        self.bench = station.bench
        self.safe_at_resume: list[bool] = []

    def __call__(self, name, doc):
        if name == "resume":
            b = self.bench
            self.safe_at_resume.append(
                not b.light_on_sample and b.transmission == pytest.approx(10**-3.5)
            )


def run_ase(tmp_path, extra: str, points: int = 8, **parameters):
    from qslab.station import open_station

    station = open_station(write_station(tmp_path / "station.toml", extra), seed=4)
    watcher = SafeWhilePaused(station)
    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path / "runs",
        points=points,
        averages=1,
        subscribers=[watcher],
        **parameters,
    )
    return result, read_run(result.path), watcher


@pytest.mark.parametrize(
    ("scripted", "words"),
    [
        (fault("drift", 5, extra="factor = 0.5\n"), "pump pulse energy -50%"),
        (fault("interlock", 5), "energy meter reads"),
        (fault("unplugged", 5, "energy_meter"), "PM100"),
        (fault("timeout", 5, "spectrometer"), "FLAME"),
        (fault("saturate", 5), "saturated at the shortest exposure"),
    ],
)
def test_a_fault_mid_run_pauses_and_the_point_is_retaken(tmp_path, scripted, words):
    result, record, watcher = run_ase(tmp_path, SUSPENDERS + scripted)
    assert record.status == "completed", record.error
    np.testing.assert_array_equal(record.data["point"].read(), np.arange(8))
    assert record.data["retake"].read().tolist() == [False] * 4 + [True] + [False] * 3
    pause, resume = record.pauses
    assert (pause["event"], resume["event"]) == ("pause", "resume")
    assert pause["after_point"] == 4 and words in pause["reason"]
    assert watcher.safe_at_resume == [True]
    pump = record.data["pulse_energy"].read() / record.data["transmission"].read()
    assert np.ptp(pump) / np.mean(pump) < 0.2  # the retaken point has the pump of the others
    assert not record.data["saturated"].read().any()


def test_a_fault_that_stays_fails_the_run_after_the_retakes(tmp_path):
    scripted = fault("drift", 3, extra="factor = 0.3\npermanent = true\n")
    result, record, watcher = run_ase(tmp_path, SUSPENDERS + scripted)
    assert record.status == "failed"
    assert "point 3 could not be taken: pump pulse energy -70%" in record.error
    assert record.points == 2
    assert len(record.pauses) == 4  # two retakes, each a pause and a resume
    assert watcher.safe_at_resume == [True, True]
    assert not result.station.bench.light_on_sample


def test_without_suspenders_a_lost_pump_fails_the_run_instead_of_storing_zeros(tmp_path):
    result, record, _ = run_ase(tmp_path, fault("interlock", 3))
    assert record.status == "failed" and "energy meter reads" in record.error
    assert record.points == 2 and not record.pauses


def test_pause_and_resume_on_request_at_a_point_boundary(tmp_path, fast_station):
    from qslab.station import open_station

    station = open_station(fast_station, seed=2)
    watcher = SafeWhilePaused(station)

    class PauseAtThird(Steering):
        def __call__(self, name, doc):
            if name == "event" and doc["seq_num"] == 3:
                self.engine.pause("sample check")
            if name == "pause":
                threading.Timer(0.3, self.engine.resume).start()

    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path,
        points=6,
        averages=1,
        subscribers=[PauseAtThird, watcher],
    )
    record = read_run(result.path)
    assert record.status == "completed" and record.points == 6
    assert [p["event"] for p in record.pauses] == ["pause", "resume"]
    assert record.pauses[0]["reason"] == "sample check" and record.pauses[0]["after_point"] == 3
    assert not record.data["retake"].read().any()  # nothing was wrong with any point
    assert watcher.safe_at_resume == [True]


def test_abort_while_paused_ends_the_run_safe(tmp_path, fast_station):
    class PauseThenAbort(Steering):
        def __call__(self, name, doc):
            if name == "event" and doc["seq_num"] == 2:
                self.engine.pause()
            if name == "pause":
                threading.Timer(0.2, self.engine.abort).start()

    result = run_procedure(
        "ase", station=fast_station, out=tmp_path, points=6, subscribers=[PauseThenAbort]
    )
    record = read_run(result.path)
    assert record.status == "aborted" and record.points == 2
    assert not result.station.bench.light_on_sample


def test_the_dose_limit_stops_a_scan_before_it_is_exceeded(tmp_path):
    limit = 0.01  # J/cm^2 on one spot
    extra = f"[limits]\nmax_fluence_uJ_cm2 = 150.0\nmax_dose_J_cm2 = {limit}\n"
    result, record, _ = run_ase(tmp_path, extra, points=20, exposure_s=0.2)
    assert record.status == "stopped"
    assert "dose limit" in record.error and "max_dose_J_cm2" in record.error
    assert 3 <= record.points < 20
    dose = record.data["dose"].read()
    assert np.all(np.diff(dose) > 0) and dose[-1] <= limit
    assert "ase_threshold_rate_equation" in record.analysis  # what was taken is analysed

    # the same spot again: the ledger remembers; a fresh spot starts from zero
    def again(**sample):
        result = run_procedure(
            "ase",
            station=tmp_path / "station.toml",
            out=tmp_path / "runs",
            sample=sample,
            points=20,
            averages=1,
            exposure_s=0.2,
        )
        return read_run(result.path).data["dose"].read()

    same_spot = again()
    assert same_spot[0] > dose[-1] and same_spot[-1] <= limit
    assert again(spot="B")[0] < dose[0] * 1.5


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[suspenders]\nwait_s = -1\n", "station.suspenders.wait_s"),
        ("[suspenders]\non_trip = 'panic'\n", "station.suspenders.on_trip"),
        ("[suspenders]\npump_tolerance = 0.1\n", "station.suspenders.pump_tolerance"),
        ("[suspenders]\nmax_retakes = 1.5\n", "station.suspenders.max_retakes"),
        (fault("melt", 2), "station.faults[0].fault"),
        (fault("timeout", 0, "laser"), "station.faults[0].point"),
        (fault("timeout", 2, "monochromator"), "station.faults[0].role"),
        ("[limits]\nmax_fluence_uJ_cm2 = 150.0\nmax_dose_J_cm2 = 0\n", "station.limits"),
    ],
)
def test_suspender_and_fault_mistakes_name_their_field(tmp_path, text, field):
    with pytest.raises(ValidationError) as info:
        load_station(write_station(tmp_path / "s.toml", text))
    assert info.value.field.startswith(field)


def test_a_count_rate_collapse_pauses_a_g2_run_and_the_fluence_is_retaken(tmp_path):
    station = tmp_path / "g2.toml"
    station.write_text(
        'base = "sim-g2"\n[bench]\nrealtime = false\n'
        + SUSPENDERS.replace("min_count_rate_cps = 100", "min_count_rate_cps = 3000")
        + fault("defocus", 2, extra="factor = 0.02\n")
    )
    result = run_procedure(
        "g2",
        station=station,
        out=tmp_path,
        fluences=[0.2, 0.4, 0.8],
        acquisition_s=1,
        dark_s=0.1,
        energy_samples=3,
    )
    record = read_run(result.path)
    assert record.status == "completed", record.error
    assert record.data["retake"].read().tolist() == [False, True, False]
    assert "count rate" in record.pauses[0]["reason"]
    rate = record.data["count_rate"].read()
    assert rate[1] > rate[0]  # the retaken point sees the emitter again


def test_make_safe_now_blocks_the_beam_during_an_exposure_and_nothing_reopens_it(tmp_path):
    from qslab.station import open_station

    station = open_station(write_station(tmp_path / "rt.toml").with_name("rt.toml"), seed=1)
    station.bench.realtime = True  # exposures take their time: the request lands inside one
    bench = station.bench
    seen_after: list[bool] = []
    safe_at_return: list[bool] = []

    class MakeSafeDuringExposure(Steering):
        def __call__(self, name, doc):
            if name == "event" and doc["seq_num"] == 2:
                threading.Thread(target=self.request, daemon=True).start()

        def request(self):
            while not bench.light_on_sample:  # wait for the next point's beam
                threading.Event().wait(0.005)
            threading.Event().wait(0.2)  # well inside its 1-s exposure
            failures = self.engine.make_safe_now("Esc")
            safe_at_return.append(not bench.light_on_sample and not failures)
            watch = threading.Thread(target=self.watch, daemon=True)
            watch.start()

        def watch(self):
            for _ in range(200):
                seen_after.append(bench.light_on_sample)
                threading.Event().wait(0.005)

    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path,
        points=6,
        averages=1,
        exposure_s=1.0,
        background=False,
        subscribers=[MakeSafeDuringExposure],
    )
    assert result.outcome.status == "aborted" and result.outcome.reason == "Esc"
    assert safe_at_return == [True]
    assert seen_after and not any(seen_after)
    assert read_run(result.path).points == 2


REFERENCE = {"reference_every": 3, "exposure_s": 0.2, "fluence_stop": 30}


def test_a_degrading_spot_is_caught_at_the_reference_point_and_the_run_stops(tmp_path):
    result, record, _ = run_ase(
        tmp_path,
        "degradation_dose_J_cm2 = 0.05\n",  # the film bleaches over the run
        points=12,
        reference_on_drift="stop",
        **REFERENCE,
    )
    assert record.status == "stopped"
    assert "reference_level at the reference point changed by -" in record.error
    assert "fresh spot" in record.error
    reference = record.data["reference"].read()
    assert reference[0] and reference.sum() >= 2  # the baseline, then the one that drifted
    assert np.all(record.data["point"].read()[reference] == -1)
    assert 3 <= record.points - reference.sum() < 12
    assert "ase_threshold_rate_equation" in record.analysis  # the points before are analysed


def test_a_stable_spot_passes_every_reference_and_the_series_is_complete(tmp_path):
    result, record, _ = run_ase(tmp_path, "", points=12, **REFERENCE)
    assert record.status == "completed" and not record.pauses
    reference = record.data["reference"].read()
    assert reference.sum() == 4  # before points 1, 4, 7 and 10
    np.testing.assert_array_equal(record.data["point"].read()[~reference], np.arange(12))
    level = record.data["reference_level"].read()[reference]
    assert np.ptp(level) / np.mean(level) < 0.15
    assert np.isnan(record.data["reference_level"].read()[~reference]).all()


def test_a_drifted_reference_pauses_until_the_sample_is_moved_to_a_fresh_spot(tmp_path):
    from qslab.station import open_station

    station = open_station(
        write_station(tmp_path / "station.toml", "degradation_dose_J_cm2 = 0.05\n"), seed=4
    )

    class MoveToFreshSpot(Steering):
        """The operator, paged by the pause: moves the sample, then resumes the run."""

        def __call__(self, name, doc):
            if name == "pause":
                station.bench.spot_dose_J_cm2 = 0.0
                threading.Timer(0.1, self.engine.resume).start()

    result = run_procedure(
        "ase",
        station=station,
        out=tmp_path / "runs",
        points=12,
        averages=1,
        subscribers=[MoveToFreshSpot],
        reference_on_drift="pause",
        **REFERENCE,
    )
    record = read_run(result.path)
    assert record.status == "completed"
    assert [p["event"] for p in record.pauses][:2] == ["pause", "resume"]
    assert "reference point changed by -" in record.pauses[0]["reason"]
    np.testing.assert_array_equal(
        record.data["point"].read()[~record.data["reference"].read()], np.arange(12)
    )
