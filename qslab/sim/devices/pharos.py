"""Simulated Light Conversion PHAROS femtosecond Yb amplifier: its REST API served over HTTP on
127.0.0.1 (an ephemeral port), started when the simulator is built and stopped by :meth:`close`.

API (Light Conversion's ``lightcon`` package, ``lightcon.laser_clients.Pharos`` 1.7.0; the
pzp-hardware PHAROS piece; the PHAROS-Clone project's copy of the API reference): JSON over HTTP
under ``/v1`` (port 20022 on the laser's controller). ``GET /v1/Basic`` answers every basic
property as one object; ``GET /v1/Basic/<Property>`` answers one bare JSON value
(``ActualOutputFrequency`` in kHz after the pulse picker, ``ActualPpDivider``, ``IsOutputEnabled``
``true``/``false``, ``ActualStateName`` a string); ``PUT /v1/Basic/TargetPpDivider`` (and
``TargetAttenuatorPercentage``) takes the bare JSON number as its body; ``POST
/v1/Basic/EnableOutput``, ``CloseOutput``, ``GoToStandby`` and ``TurnOn`` take an empty body.
A write answers 200 with an empty body; an unknown path is 404, a bad value 400, and a command
the laser will not take in its state (or while remote control is blocked) 403 with a message.

Not confirmed: the state names (``StateOperational``, ``StateEmissionOn`` while the output is
enabled, ``StateStandingBy``, ``StatePreparingHardware`` while turning on; from PHAROS-Clone),
``TurnOn`` (PHAROS-Clone; lightcon's FLINT client has the same endpoint), and the text of the
error bodies. The regenerative amplifier's rate, power and warm-up time are representative.

Faults (the shared :class:`FaultSwitch`): ``timeout`` holds the request unanswered, ``garbage``
answers 200 with line noise, ``error`` answers 403 as a laser whose remote control is blocked;
``connected = False`` closes the port, so connections are refused.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from qslab.sim.bench import VirtualBench
from qslab.sim.devices import LINE_NOISE, FaultSwitch
from qslab.sim.devices.pulsed import Optics

API = "/v1/Basic"
FUNDAMENTAL_NM = 1030.0
RA_KHZ = 100.0
RA_POWER_W = 10.0
WARMUP_S = 20.0
POLL_S = 0.05
"""How often the server looks for a request to stop; closing takes about this long."""
HOLD_S = 5.0
"""How long a request hit by the ``timeout`` fault stays unanswered (unless closed first)."""
OPERATIONAL, EMITTING = "StateOperational", "StateEmissionOn"
STANDBY, TURNING_ON = "StateStandingBy", "StatePreparingHardware"
GENERAL = {OPERATIONAL: "Operational", EMITTING: "EmissionOn", STANDBY: "Standby"}
GENERAL[TURNING_ON] = "Standby"
FAULT_ANSWERS = {"garbage": (200, LINE_NOISE), "error": (403, b"Remote control is blocked")}
"""What a faulty request gets instead of its answer; it does nothing on the laser."""


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.simulator.serve(self, "GET")

    def do_PUT(self) -> None:  # noqa: N802
        self.server.simulator.serve(self, "PUT")

    def do_POST(self) -> None:  # noqa: N802
        self.server.simulator.serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a simulated laser does not write to the test's stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, simulator: PharosSimulator) -> None:
        self.simulator = simulator
        super().__init__(("127.0.0.1", port), _Handler)


class PharosSimulator(FaultSwitch):
    """The laser's controller as seen over HTTP; ``received`` lists every request in order as
    (method, path, body)."""

    def __init__(
        self,
        bench: VirtualBench,
        harmonic: int = 1,
        pulse_width_s: float = 290e-15,
        pp_divider: int = 100,
    ) -> None:
        self.bench = bench
        self.optics = Optics(bench, harmonic, pulse_width_s)
        self.received: list[tuple[str, str, str]] = []
        self.remote_control = True
        self.pp_divider = pp_divider
        self.attenuator_percent = 100.0
        self.output_enabled = False
        self._state, self._changed_at = OPERATIONAL, time.monotonic()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.port = 0
        self.connected = True
        self._report()

    # -- the HTTP server -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def resource_name(self) -> str:
        return self.url

    @property
    def connected(self) -> bool:
        return self._server is not None

    @connected.setter
    def connected(self, up: bool) -> None:
        """Down closes the port (connections refused); up opens the same port again."""
        if up and self._server is None:
            self._server = _Server(self.port, self)
            self.port = self._server.server_address[1]
            serve = self._server.serve_forever
            threading.Thread(target=serve, args=(POLL_S,), daemon=True).start()
        elif not up and self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        """Stop serving and let any held request go."""
        self._release.set()
        self.connected = False

    # -- requests --------------------------------------------------------------------------
    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", "replace")
        with self._lock:
            self.received.append((method, handler.path, body))
            fault = self.take_fault()
            status, payload = FAULT_ANSWERS.get(fault, (200, b""))
            if fault is None:
                try:
                    payload = self._route(method, handler.path, body)
                except _Refusal as refusal:
                    status, payload = refusal.status, str(refusal).encode()
            self._report()
        if fault == "timeout":
            self._release.wait(HOLD_S)
            handler.close_connection = True
            return
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(self, method: str, path: str, body: str) -> bytes:
        if path != API and not path.startswith(API + "/"):
            raise _Refusal(404, f"No such resource: {path}")
        name = path[len(API) + 1 :]
        readings = self._readings()
        if method == "GET" and not name:
            return json.dumps(readings).encode()
        if method == "GET" and name in readings:
            return json.dumps(readings[name]).encode()
        if method == "PUT" and name in ("TargetPpDivider", "TargetAttenuatorPercentage"):
            self._put(name, body)
            return b""
        if method == "POST" and name in ("EnableOutput", "CloseOutput", "GoToStandby", "TurnOn"):
            self._command(name)
            return b""
        raise _Refusal(404 if name not in readings else 405, f"No {method} for {path}")

    def _readings(self) -> dict[str, Any]:
        state = self.state
        emitting = state in (OPERATIONAL, EMITTING)
        return {
            "ActualAttenuatorPercentage": self.attenuator_percent,
            "ActualOutputFrequency": RA_KHZ / self.pp_divider,
            "ActualOutputPower": RA_POWER_W * self.attenuator_percent / 100 / self.pp_divider
            if emitting and self.output_enabled
            else 0.0,
            "ActualPpDivider": self.pp_divider,
            "ActualRaFrequency": RA_KHZ,
            "ActualStateName": state,
            "GeneralStatus": GENERAL[state],
            "IsOutputEnabled": self.output_enabled,
            "TargetAttenuatorPercentage": self.attenuator_percent,
            "TargetPpDivider": self.pp_divider,
        }

    def _put(self, name: str, body: str) -> None:
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            raise _Refusal(400, f"Invalid value {body!r}") from None
        if name == "TargetPpDivider":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _Refusal(400, f"Invalid PP divider {body!r}")
            self.pp_divider = value
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
            self.attenuator_percent = float(value)
        else:
            raise _Refusal(400, f"Invalid attenuator percentage {body!r}")

    def _command(self, name: str) -> None:
        if not self.remote_control:
            raise _Refusal(403, "Remote control is blocked")
        state = self.state
        if name == "EnableOutput":
            if state not in (OPERATIONAL, EMITTING):
                raise _Refusal(403, f"Cannot enable output in state {state}")
            self.output_enabled = True
        elif name == "CloseOutput":
            self.output_enabled = False
        elif name == "GoToStandby":
            self.output_enabled = False
            self._state, self._changed_at = STANDBY, time.monotonic()
        elif state == STANDBY:
            self._state, self._changed_at = TURNING_ON, time.monotonic()

    @property
    def state(self) -> str:
        """The state machine, which finishes turning on ``WARMUP_S`` after ``TurnOn``."""
        warm = not self.bench.realtime or time.monotonic() - self._changed_at >= WARMUP_S
        if self._state == TURNING_ON and warm:
            self._state = OPERATIONAL
        if self._state in (OPERATIONAL, EMITTING):
            self._state = EMITTING if self.output_enabled else OPERATIONAL
        return self._state

    def _report(self) -> None:
        emitting = self.state in (OPERATIONAL, EMITTING)
        rate_hz = RA_KHZ * 1e3 / self.pp_divider
        self.optics.show(emitting, self.output_enabled, FUNDAMENTAL_NM, rate_hz)
        self.bench.set_transmission("pharos:attenuator", self.attenuator_percent / 100)
