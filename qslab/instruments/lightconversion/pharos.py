"""Light Conversion PHAROS (and CARBIDE) femtosecond Yb amplifiers, with a harmonics module after
them, as the pulsed-laser role, through the laser's REST API.

Manual: Light Conversion PHAROS REST API reference (``/v1/Basic``), as used by Light
Conversion's own client, ``lightcon.laser_clients.Pharos`` (lightcon 1.7.0 on PyPI): ``GET
/v1/Basic`` (all basic properties; lightcon's connection check), ``GET
/v1/Basic/ActualOutputFrequency`` (kHz, after the pulse picker), ``GET
/v1/Basic/ActualPpDivider``, ``PUT /v1/Basic/TargetPpDivider`` (bare number body, then polled
until ``ActualPpDivider`` agrees), ``POST /v1/Basic/EnableOutput`` and ``POST
/v1/Basic/CloseOutput`` (empty body, empty answer). The pzp-hardware PHAROS piece confirms
``GET /v1/Basic/IsOutputEnabled`` (``true``/``false``), ``POST /v1/Basic/GoToStandby`` and that
any status but 200 is an error. The laser's controller serves the API on port 20022 (lightcon's
default; a CARBIDE uses 20018); give ``resource`` as ``http://<address>:<port>``, optionally with
the API version as its path (``/v1`` when none).

Not confirmed (from the PHAROS-Clone project's copy of the reference, and lightcon's FLINT
client for ``TurnOn``): ``POST /v1/Basic/TurnOn``, the state names of ``ActualStateName``
(``StateOperational``, and ``StateEmissionOn`` while the output is enabled, count as emitting)
and the 403 answer to a command the laser will not take in its state or while its remote
control is blocked.

Roles: the output (``EnableOutput``/``CloseOutput``) is the shutter; the amplifier running is
emission. The harmonics module after the laser divides the wavelength by ``harmonic``.
Connection refusals, timeouts, HTTP errors and answers that are not JSON become a
:class:`DeviceError` naming the laser and its URL. Uses only the standard library (no proxy:
the laser is on the lab's network).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from qslab.errors import ValidationError
from qslab.instruments import pulsed
from qslab.instruments.registry import DriverSpec, Option
from qslab.instruments.textlink import DeviceLink
from qslab.sim.bench import VirtualBench
from qslab.sim.devices.pharos import PharosSimulator

MANUAL = (
    "Light Conversion PHAROS REST API reference, /v1/Basic endpoints "
    "(as used by lightcon.laser_clients.Pharos, lightcon 1.7.0)"
)
NAME = "Light Conversion PHAROS"
FUNDAMENTAL_NM = 1030.0
EMITTING_STATES = ("StateOperational", "StateEmissionOn")
TURN_ON_TIMEOUT_S = 900.0
SETTLE_TIMEOUT_S = 10.0
POLL_S = 0.5


class PharosAPI(DeviceLink):
    """The laser's REST API under ``base`` (``<resource>/v1``); every failure is a DeviceError."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(
                "station.laser.resource", f"give the laser's URL, http://address:port; got {url!r}"
            )
        self.name, self.resource = NAME, url
        self.base = url.rstrip("/") + ("" if parts.path.strip("/") else "/v1")
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, name: str = "") -> Any:
        """A ``/Basic`` property (all of them when ``name`` is empty), decoded from JSON."""
        return self._request("GET", name)

    def put(self, name: str, value: float) -> None:
        self._request("PUT", name, json.dumps(value))

    def post(self, name: str) -> None:
        self._request("POST", name, "")

    def number(self, name: str) -> float:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"unreadable answer to GET {name}: {value!r}")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise self.error(f"unreadable answer to GET {name}: {value!r}")
        return value

    def _request(self, method: str, name: str, body: str | None = None) -> Any:
        url = self.base + "/Basic" + (f"/{name}" if name else "")
        request = urllib.request.Request(
            url,
            data=None if body is None else body.encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        what = f"{method} {urllib.parse.urlsplit(url).path}"
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()
            raise self.error(f"{what} refused: HTTP {exc.code} {detail or exc.reason}") from None
        except OSError as exc:  # refused, unreachable, timed out, dropped (URLError is one)
            raise self.error(f"no answer to {what} ({getattr(exc, 'reason', exc)})") from exc
        except http.client.HTTPException as exc:  # not HTTP at all
            raise self.error(f"garbled answer to {what}: {exc!r}") from None
        try:
            text = raw.decode("utf-8")
            return json.loads(text) if text.strip() else None
        except ValueError as exc:  # not UTF-8, or not JSON
            raise self.error(f"garbled answer to {what}: {exc}") from None


class PharosLaser(pulsed.PulsedLaserRole):
    """The PulsedLaser role: the output of the amplifier, after its harmonics module. The safe
    state sends the amplifier to standby only if asked: it is slow to warm up again."""

    laser: PharosAPI
    laser_nm = FUNDAMENTAL_NM
    poll_s = POLL_S

    @property
    def repetition_rate_hz(self) -> float:
        """The amplifier's rate after the pulse picker (the API gives kHz)."""
        return self.laser.number("ActualOutputFrequency") * 1e3

    @property
    def shutter_open(self) -> bool:
        return self.laser.flag("IsOutputEnabled")

    def open_shutter(self) -> None:
        self._output("EnableOutput", True)

    def close_shutter(self) -> None:
        self._output("CloseOutput", False)

    def _output(self, command: str, enabled: bool) -> None:
        self.laser.post(command)
        if self.shutter_open != enabled:
            raise self.laser.error(
                f"output still {'closed' if enabled else 'open'} after {command}"
            )

    @property
    def state(self) -> str:
        return str(self.laser.get("ActualStateName"))

    @property
    def emission_on(self) -> bool:
        return self.state in EMITTING_STATES

    def set_emission(self, on: bool) -> None:
        """On turns the amplifier on from standby and waits for it (minutes when cold); off
        sends it to standby."""
        if on == self.emission_on:
            return
        self.laser.post("TurnOn" if on else "GoToStandby")
        what = "the amplifier to turn on" if on else "standby"
        self._wait_for(lambda: self.emission_on == on, TURN_ON_TIMEOUT_S, what)

    def set_pp_divider(self, divider: int) -> None:
        """Let the pulse picker pass one pulse in ``divider`` and wait until it does."""
        self.laser.put("TargetPpDivider", divider)
        self._wait_for(
            lambda: self.laser.number("ActualPpDivider") == divider,
            SETTLE_TIMEOUT_S,
            f"the pulse picker divider to reach {divider}",
        )

    def identity(self) -> str:
        return f"{NAME} REST API at {self.laser.base}"

    def _laser_settings(self) -> dict[str, Any]:
        return {"state": self.state, "pp_divider": int(self.laser.number("ActualPpDivider"))}

    def _readings(self) -> dict[str, Any]:
        return {"output_power_w": self.laser.number("ActualOutputPower")}

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    pulsed.check_optics(options, FUNDAMENTAL_NM)
    checks = {
        "pp_divider": (options["pp_divider"] >= 0, "1 or more, or 0 to keep the laser's"),
        "timeout_s": (options["timeout_s"] > 0, "a positive duration"),
    }
    for name, (ok, allowed) in checks.items():
        if not ok:
            raise ValidationError(f"station.laser.{name}", f"must be {allowed}")
    return options


def simulator(bench: VirtualBench, options: dict[str, Any]) -> PharosSimulator:
    o = _checked(options)
    return PharosSimulator(bench, o["harmonic"], o["pulse_width_s"])


def connect(target: Any, options: dict[str, Any]) -> PharosLaser:
    """Reach the API (``target`` is its URL, or a simulator serving it) and set the pulse
    picker when ``pp_divider`` asks for it."""
    options = _checked(options)
    api = PharosAPI(target if isinstance(target, str) else target.url, options["timeout_s"])
    basic = api.get()
    if not isinstance(basic, dict) or "ActualOutputFrequency" not in basic:
        raise api.error(f"not a PHAROS REST API: GET /Basic answered {basic!r:.80}")
    role = PharosLaser(api, options)
    if options["pp_divider"]:
        role.set_pp_divider(options["pp_divider"])
    return role


DRIVER = DriverSpec(
    name="lightconversion.pharos",
    role="laser",
    description="Light Conversion PHAROS/CARBIDE over its REST API, with a harmonics module",
    connect=connect,
    simulator=simulator,
    nominal_wavelength_nm=pulsed.nominal_wavelength(FUNDAMENTAL_NM),
    options=(
        pulsed.harmonic_option(1, "harmonic at the sample: 1 1030, 2 515, 3 343, 4 257.5 nm"),
        Option("pp_divider", "int", 0, "pulse picker divider set on connect (0: keep the laser's)"),
        pulsed.pulse_width_option(290e-15),
        Option("timeout_s", "float", 5.0, "how long to wait for each HTTP answer", "s"),
        pulsed.emission_off_on_safe_option(
            "sends the amplifier to standby (slow to warm up again)"
        ),
    ),
    manual=MANUAL,
    check=_checked,
)
