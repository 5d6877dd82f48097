"""Light Conversion PHAROS: the REST requests the driver sends, the API's answers as documented
(lightcon, pzp-hardware), the pulse train at the sample on the bench, faults."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from driver_faults import fault_words, raises_on_fault, raises_on_lost_link

from qslab.errors import DeviceError, ValidationError
from qslab.instruments.lightconversion.pharos import DRIVER
from qslab.instruments.roles import PulsedLaser
from qslab.sim.bench import VirtualBench

CONNECT = [("GET", "/v1/Basic", "")]
NAME = "Light Conversion PHAROS"


@pytest.fixture
def bench():
    return VirtualBench(realtime=False, seed=13)


@pytest.fixture
def open_laser(bench):
    """Open the driver on a simulator (``given`` as a station file's options); every simulator
    built is closed after the test."""
    simulators = []

    def open_(**given):
        options = DRIVER.check_options("station.laser", given)
        sim = DRIVER.simulator(bench, options)
        simulators.append(sim)
        return sim, DRIVER.connect(sim, options)

    yield open_
    for sim in simulators:
        sim.close()


def fetch(sim, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(sim.url + path, data=body, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=2) as response:
        return response.status, response.read()


# -- the API as documented ---------------------------------------------------------------
def test_the_simulator_answers_as_the_documented_api(open_laser):
    sim, _ = open_laser()
    status, body = fetch(sim, "GET", "/v1/Basic")
    basic = json.loads(body)
    assert status == 200 and {"ActualOutputFrequency", "GeneralStatus"} <= set(basic)
    assert fetch(sim, "GET", "/v1/Basic/IsOutputEnabled") == (200, b"false")
    assert fetch(sim, "GET", "/v1/Basic/ActualOutputFrequency") == (200, b"1.0")
    assert fetch(sim, "PUT", "/v1/Basic/TargetPpDivider", b"4") == (200, b"")
    assert fetch(sim, "GET", "/v1/Basic/ActualPpDivider") == (200, b"4")
    assert fetch(sim, "POST", "/v1/Basic/EnableOutput", b"") == (200, b"")
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(sim, "GET", "/v1/Basic/NoSuchProperty")
    assert info.value.code == 404


# -- (b) the requests the driver sends, and the bench ------------------------------------
def test_connecting_checks_the_api_and_sets_the_pulse_picker_when_asked(open_laser):
    sim, laser = open_laser()
    assert sim.received == CONNECT
    sim, laser = open_laser(pp_divider=50)
    assert sim.received == CONNECT + [
        ("PUT", "/v1/Basic/TargetPpDivider", "50"),
        ("GET", "/v1/Basic/ActualPpDivider", ""),
    ]
    assert isinstance(laser, PulsedLaser)
    assert laser.identity() == f"{NAME} REST API at {sim.url}/v1"


def test_the_output_is_the_shutter_and_reaches_the_bench(open_laser, bench):
    sim, laser = open_laser()
    laser.open_shutter()
    assert sim.received[1:] == [
        ("POST", "/v1/Basic/EnableOutput", ""),
        ("GET", "/v1/Basic/IsOutputEnabled", ""),
    ]
    assert bench.laser.shutter_open and bench.laser.emission and bench.light_on_sample
    assert laser.emission_on and laser.state == "StateEmissionOn"
    laser.close_shutter()
    assert sim.received[-2][:2] == ("POST", "/v1/Basic/CloseOutput")
    assert not bench.laser.shutter_open and not laser.shutter_open


@pytest.mark.parametrize(("harmonic", "nm"), [(1, 1030.0), (2, 515.0), (3, 1030.0 / 3)])
def test_the_pulse_train_at_the_sample(open_laser, bench, harmonic, nm):
    sim, laser = open_laser(harmonic=harmonic, pp_divider=25)
    assert laser.wavelength_nm == nm == bench.laser.wavelength_nm
    assert laser.repetition_rate_hz == 4000.0 == bench.laser.repetition_rate_hz
    assert sim.received[-1] == ("GET", "/v1/Basic/ActualOutputFrequency", "")
    assert laser.pulse_width_s == 290e-15 == bench.laser.pulse_width_s
    assert laser.settings()["pp_divider"] == 25


def test_standby_and_turning_on_again(open_laser, bench):
    sim, laser = open_laser()
    laser.set_emission(False)
    assert ("POST", "/v1/Basic/GoToStandby", "") in sim.received
    assert not bench.laser.emission and laser.state == "StateStandingBy"
    with pytest.raises(DeviceError, match="EnableOutput refused: HTTP 403"):
        laser.open_shutter()
    laser.set_emission(True)
    assert ("POST", "/v1/Basic/TurnOn", "") in sim.received
    assert bench.laser.emission and laser.emission_on


def test_safe_closes_the_output_and_keeps_the_amplifier_running(open_laser, bench):
    sim, laser = open_laser()
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and bench.laser.emission
    assert all(path != "/v1/Basic/GoToStandby" for _, path, _ in sim.received)


def test_safe_can_also_send_the_amplifier_to_standby(open_laser, bench):
    _, laser = open_laser(emission_off_on_safe=True)
    laser.open_shutter()
    laser.safe()
    assert not bench.laser.shutter_open and not bench.laser.emission


@pytest.mark.parametrize(
    ("name", "value"), [("harmonic", 0), ("pp_divider", -2), ("timeout_s", 0.0)]
)
def test_options_are_checked(open_laser, name, value):
    with pytest.raises(ValidationError) as info:
        open_laser(**{name: value})
    assert info.value.field == f"station.laser.{name}"


def test_the_resource_must_be_a_url():
    options = DRIVER.check_options("station.laser", {})
    with pytest.raises(ValidationError) as info:
        DRIVER.connect("ASRL1::INSTR", options)
    assert info.value.field == "station.laser.resource"


def test_a_refused_connection_names_the_laser_and_its_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(DeviceError, match="no answer to GET /v1/Basic") as info:
        DRIVER.connect(url, DRIVER.check_options("station.laser", {}))
    assert (info.value.instrument, info.value.resource) == (NAME, url)


# -- (c) faults ----------------------------------------------------------------------------
@fault_words(error="HTTP 403", garbage="garbled", timeout="no answer")
def test_faults_raise_device_errors_and_the_next_request_works(open_laser, bench, fault, words):
    sim, laser = open_laser(timeout_s=0.2)
    with raises_on_fault(sim, fault, words, NAME, sim.url):
        laser.open_shutter()
    laser.open_shutter()
    assert bench.laser.shutter_open and laser.shutter_open


def test_lost_link_is_a_device_error(open_laser):
    sim, laser = open_laser()
    with raises_on_lost_link(sim, "no answer"):
        laser.safe()
