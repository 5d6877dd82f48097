"""The station panel: which station, each role's driver, resource, state and identity; connect
and disconnect; the shutter indicator and the make-safe button (shown in the window's toolbar,
see :meth:`StationPanel.safety_bar`).

The devices have one user at a time. While idle, the panel may open them (connect) and read
the shutter; a run closes the panel's connection and opens its own (the engine connects and
closes the station itself), so during a run the panel never talks to an instrument. The
shutter state then comes from the simulated bench when there is one (its physics is guarded by
a lock), and is shown as unknown on real hardware: "possibly open" is the safe thing to say.

A station with a sample stage gets a stage box: the position, and a move to one of the named
spots, while connected and idle only (the run owns the stage: it goes to its own spot).
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qslab.errors import QslabError
from qslab.station import Station, builtin_stations, open_station

COLUMNS = ("role", "driver", "resource", "state", "identity")
COLUMN_WIDTHS = (150, 45, 80)
"""Starting widths of driver, resource and state; identity takes the rest, and every cell
shows its full text as a tooltip."""
SHUTTER_POLL_MS = 200
SHUTTER_STYLES = {
    "open": ("SHUTTER OPEN: beam on sample", "#d62728", "white"),
    "closed": ("SHUTTER CLOSED", "#2ca02c", "white"),
    "unknown": ("SHUTTER ? run in progress", "#ff9f1c", "black"),
    "offline": ("SHUTTER: not connected", "#7f7f7f", "white"),
}


class StageBox(QWidget):
    """One row: the sample stage's position and a move to a named spot; the panel does the
    talking."""

    go_requested = pyqtSignal(str)
    """The label of the spot to move to."""

    def __init__(self) -> None:
        super().__init__()
        self.position = QLabel()
        self.spots = QComboBox()
        self.spots.setToolTip("the spots named in the station's [sample] spots")
        self.go_button = QPushButton("Go")
        self.go_button.clicked.connect(lambda: self.go_requested.emit(self.spots.currentText()))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("stage"))
        row.addWidget(self.position, 1)
        row.addWidget(QLabel("spot"))
        row.addWidget(self.spots)
        row.addWidget(self.go_button)

    def set_spots(self, spots: dict[str, tuple[float, float]], current: str) -> None:
        self.spots.clear()
        for label, (x, y) in spots.items():
            self.spots.addItem(label)
            self.spots.setItemData(self.spots.count() - 1, f"x {x:g}, y {y:g} mm", Qt.ToolTipRole)
        self.spots.setCurrentText(current)

    def set_ready(self, ready: bool, why_not: str) -> None:
        """Go only while the panel holds the devices and a spot is named."""
        self.go_button.setEnabled(ready and self.spots.count() > 0)
        self.go_button.setToolTip("move the sample there" if ready else why_not)


def position_text(position: tuple[float, float]) -> str:
    x, y = position
    return f"x {x:.3f}  y {y:.3f} mm"


class StationPanel(QWidget):
    """Owns the :class:`Station` the GUI runs on."""

    station_changed = pyqtSignal(object)
    """The new :class:`Station`, or None when the chosen one could not be loaded."""
    make_safe_requested = pyqtSignal()
    message = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.station: Station | None = None
        self.spec = ""
        self.running = False
        self.chooser = QComboBox()
        self.chooser.setEditable(True)
        self.chooser.setToolTip("a built-in station, or a station TOML file")
        for name, description in builtin_stations().items():
            self.chooser.addItem(name)
            self.chooser.setItemData(self.chooser.count() - 1, description, Qt.ToolTipRole)
        self.chooser.activated.connect(lambda _: self.load(self.chooser.currentText()))
        self.browse = QPushButton("Open…")
        self.browse.clicked.connect(self._browse)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.toggle_connection)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d62728;")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        for col, width in enumerate(COLUMN_WIDTHS, start=1):
            header.resizeSection(col, width)
        self.shutter = QLabel()
        self.shutter.setAlignment(Qt.AlignCenter)
        self.shutter.setMinimumSize(380, 40)
        self.shutter_state = ""
        self.safe_button = QPushButton("MAKE SAFE  (Esc)")
        self.safe_button.setMinimumSize(200, 40)
        self.safe_button.setStyleSheet(
            "QPushButton { background: #ffd60a; font-weight: bold; font-size: 14px; }"
        )
        self.safe_button.setToolTip(
            "shutter closed, attenuator to maximum, laser emission off; aborts a running run"
        )
        self.safe_button.clicked.connect(self.make_safe_requested)
        self.stage = StageBox()
        self.stage.go_requested.connect(self.go_to_spot)

        top = QHBoxLayout()
        top.addWidget(QLabel("station"))
        top.addWidget(self.chooser, 1)
        top.addWidget(self.browse)
        top.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.error)
        layout.addWidget(self.stage)
        layout.addWidget(self.table, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh_shutter)
        self.timer.start(SHUTTER_POLL_MS)
        self.refresh_shutter()

    def safety_bar(self) -> QWidget:
        """The shutter indicator and the make-safe button, for a place that is always visible
        whatever the user does with the docks (the window's toolbar)."""
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(self.shutter, 1)
        row.addWidget(self.safe_button)
        return bar

    @property
    def connected(self) -> bool:
        return self.station is not None and bool(self.station.devices) and not self.running

    # -- loading -------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a station file", "", "Station files (*.toml)"
        )
        if path:
            self.load(path)

    def load(self, spec: str, seed: int | None = None) -> bool:
        """Validate and build the station (nothing is opened); False if it is not valid."""
        spec = spec.strip()
        if self.running or not spec:
            return False
        self.disconnect_station()
        if self.station is not None:
            self.station.shutdown()
        self.station = None
        if self.chooser.currentText() != spec:
            self.chooser.setCurrentText(spec)
        try:
            self.station = open_station(spec, seed=seed)
        except QslabError as exc:
            self.spec = ""
            self.error.setText(str(exc))
            self.message.emit(f"station {spec}: {exc}")
        else:
            self.spec = spec
            self.error.setText("")
            self.message.emit(f"station {self.station.config.name} loaded ({Path(spec).name})")
        if self.has_stage:
            sample = self.station.config.sample
            self.stage.set_spots(sample["spots"], sample["spot"])
        self._fill_table()
        self.station_changed.emit(self.station)
        return self.station is not None

    def _fill_table(self, identities: dict[str, tuple[str, str]] | None = None) -> None:
        """One row per role; ``identities`` gives (state, identity) where known."""
        roles = self.station.config.roles if self.station else {}
        self.table.setRowCount(len(roles))
        for row, (role, rc) in enumerate(roles.items()):
            resource = rc.resource if isinstance(rc.resource, str) else ", ".join(rc.resource)
            state, identity = (identities or {}).get(role, ("closed", ""))
            for col, text in enumerate((role, rc.spec.name, resource, state, identity)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.connect_button.setText("Disconnect" if self.connected else "Connect")
        self.connect_button.setEnabled(self.station is not None and not self.running)
        self._show_stage()

    # -- connection ----------------------------------------------------------------------------
    def toggle_connection(self) -> None:
        if self.connected:
            self.disconnect_station()
        else:
            self.connect_station()

    def connect_station(self) -> bool:
        """Open every role and read its identity; a failing role is named with its error."""
        station = self.station
        if station is None or self.running:
            return False
        try:
            station.connect()
        except Exception as exc:  # noqa: BLE001 - each role's problem is shown below
            self.message.emit(f"connect failed: {exc}")
            checks = station.check()
            self._fill_table(
                {c.role: ("error: " + c.error if c.error else "ok", c.identity) for c in checks}
            )
            return False
        identities = {}
        for role, device in station.devices.items():
            try:
                identities[role] = ("connected", device.identity())
            except Exception as exc:  # noqa: BLE001
                identities[role] = ("connected", f"identity unreadable: {exc}")
        self._fill_table(identities)
        self.message.emit(f"station {station.config.name} connected")
        self.refresh_shutter()
        return True

    def disconnect_station(self) -> None:
        """Make every open role safe and close it."""
        station = self.station
        if station is None or self.running or not station.devices:
            return
        failures = station.make_safe()
        station.close()
        for failure in failures:
            self.message.emit(f"make safe: {failure}")
        self.message.emit(f"station {station.config.name} disconnected (made safe)")
        self._fill_table()
        self.refresh_shutter()

    def make_safe_now(self) -> list[str]:
        """Safe state while no run holds the devices: open them if needed, make safe, and
        leave them as they were (a panel that was not connected closes them again)."""
        station = self.station
        if station is None or self.running:
            return []
        was_open = bool(station.devices)
        if not was_open:
            try:
                station.connect()
            except Exception as exc:  # noqa: BLE001 - Station.connect made safe what opened
                return [str(exc)]
        failures = station.make_safe()
        if not was_open:
            station.close()
        self.refresh_shutter()
        return failures

    def set_running(self, running: bool) -> None:
        """A run takes the devices (True) or gives them back (False)."""
        self.running = running
        if running and self.station is not None and self.station.devices:
            self.station.close()  # the engine opens its own connection
        self.chooser.setEnabled(not running)
        self.browse.setEnabled(not running)
        state = "in use by the run" if running else "closed"
        roles = self.station.config.roles if self.station else {}
        self._fill_table({role: (state, "") for role in roles})
        self.refresh_shutter()

    # -- sample stage ------------------------------------------------------------------------
    @property
    def has_stage(self) -> bool:
        return self.station is not None and "stage" in self.station.config.roles

    def _show_stage(self) -> None:
        """The stage box follows the connection: the position is read whenever the panel
        (re)connects, and a move is offered only then."""
        self.stage.setVisible(self.has_stage)
        if not self.has_stage:
            return
        if self.connected:
            self._read_position()
        else:
            self.stage.position.setText("in use by the run" if self.running else "not connected")
        self.stage.set_ready(self.connected, "connect the station first (not during a run)")

    def _read_position(self) -> None:
        try:
            text = position_text(self.station["stage"].position_mm)
        except Exception as exc:  # noqa: BLE001 - a stage that cannot say is shown so
            text = f"position unreadable: {exc}"
        self.stage.position.setText(text)
        self.stage.position.setToolTip(text)

    def go_to_spot(self, label: str) -> bool:
        """Move the sample to a named spot through the station's guarded stage (its lock keeps
        any other caller out); refused during a run and while not connected."""
        refusal = self._refuse_move(label)
        if refusal:
            self._stage_error(f"cannot move to spot {label!r}: {refusal}")
            return False
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            self.station.move_sample(*self.station.config.sample["spots"][label])
        except Exception as exc:  # noqa: BLE001 - DeviceError, ValidationError (travel), ...
            self._stage_error(f"move to spot {label}: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
            self._read_position()
        self.error.setText("")
        self.message.emit(f"stage moved to spot {label}: {self.stage.position.text()}")
        return True

    def _refuse_move(self, label: str) -> str:
        """Why the stage may not move to ``label`` now; empty when it may."""
        if self.running:
            return "a run holds the stage"
        if not self.has_stage or not self.connected:
            return "connect the station first"
        if label not in self.station.config.sample["spots"]:
            return "not a named spot of the station"
        return ""

    def _stage_error(self, text: str) -> None:
        self.error.setText(text)
        self.message.emit(text)

    # -- shutter -------------------------------------------------------------------------------
    def read_shutter(self) -> str:
        """open, closed, unknown (a run holds real devices) or offline."""
        station = self.station
        if station is None:
            return "offline"
        if station.bench is not None:
            return "open" if station.bench.light_on_sample else "closed"
        if self.running:
            return "unknown"
        if not station.devices:
            return "offline"
        try:
            return "open" if station.beam_shutter.shutter_open else "closed"
        except Exception:  # noqa: BLE001 - a shutter that cannot say is not known closed
            return "unknown"

    def refresh_shutter(self) -> None:
        state = self.read_shutter()
        if state == self.shutter_state:
            return
        self.shutter_state = state
        text, background, color = SHUTTER_STYLES[state]
        self.shutter.setText(text)
        self.shutter.setStyleSheet(
            f"background: {background}; color: {color}; font-size: 18px; font-weight: bold;"
            " border-radius: 4px; padding: 6px;"
        )
