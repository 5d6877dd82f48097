"""What the application remembers between sessions: last station, parameters, window layout.

Backed by QSettings. ``QSLAB_GUI_SETTINGS`` (or the ``path`` argument) points it at an INI file
instead of the user's native store, so that tests, benchmarks and screenshot runs never read or
change a user's real settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QByteArray, QSettings

SETTINGS_ENV = "QSLAB_GUI_SETTINGS"


class Settings:
    """Typed access to the few keys the application keeps."""

    def __init__(self, path: str | Path | None = None) -> None:
        path = path or os.environ.get(SETTINGS_ENV)
        if path:
            self.store = QSettings(str(path), QSettings.IniFormat)
        else:
            self.store = QSettings("qslab", "qslab-gui")

    def text(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return value if isinstance(value, str) else default

    def set_text(self, key: str, value: str) -> None:
        self.store.setValue(key, value)

    def record(self, key: str) -> dict[str, Any]:
        """A dict stored as JSON text (parameter texts, sample labels); {} if absent or bad."""
        try:
            value = json.loads(self.text(key, "{}"))
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_record(self, key: str, value: dict[str, Any]) -> None:
        self.store.setValue(key, json.dumps(value))

    def layout(self, key: str) -> QByteArray | None:
        value = self.store.value(key)
        return value if isinstance(value, QByteArray) else None

    def set_layout(self, key: str, value: QByteArray) -> None:
        self.store.setValue(key, value)

    def sync(self) -> None:
        self.store.sync()
