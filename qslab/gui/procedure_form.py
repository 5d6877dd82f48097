"""The procedure panel: a parameter form generated from the procedure's own declarations, the
sample labels, the output folder, and the buttons that queue a run.

Every keystroke re-validates the whole form the way a run would: each field through
:meth:`Parameter.coerce`, then the procedure's own cross-checks against the loaded station
(fluence limits, ranges, a spot the station does not name), which touch no instrument. The first
error is shown with the same message the command line prints, and its field is outlined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from qslab.errors import ValidationError
from qslab.gui.worker import Job
from qslab.procedures import PROCEDURES
from qslab.procedures.base import Procedure
from qslab.procedures.parameters import Parameter
from qslab.station import SAMPLE_TEXT_KEYS, Station

ERROR_STYLE = "border: 2px solid #d62728;"
SAMPLE_HINTS = {
    "name": "sample name (stored in /entry/sample)",
    "batch": "synthesis batch",
    "notes": "free text",
    "spot": "spot on the film; the dose ledger is kept per spot (with a stage: a named spot)",
}


def default_text(parameter: Parameter) -> str:
    """A default as a person would type it."""
    value = parameter.default
    if isinstance(value, list):
        return ", ".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _tooltip(parameter: Parameter) -> str:
    lines = [parameter.doc or parameter.name]
    if parameter.units:
        lines.append(f"units: {parameter.units}")
    if parameter.minimum is not None or parameter.maximum is not None:
        low = "-inf" if parameter.minimum is None else f"{parameter.minimum:g}"
        high = "inf" if parameter.maximum is None else f"{parameter.maximum:g}"
        lines.append(f"range: {low} .. {high}")
    if parameter.choices:
        lines.append("one of: " + ", ".join(parameter.choices))
    lines.append(f"default: {default_text(parameter) or '(none)'}")
    return "\n".join(lines)


class ParameterForm(QWidget):
    """One editor per declared parameter of one procedure."""

    changed = pyqtSignal()

    def __init__(self, procedure: type[Procedure]) -> None:
        super().__init__()
        self.procedure = procedure
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for parameter in procedure.parameters:
            editor = self._editor(parameter)
            editor.setToolTip(_tooltip(parameter))
            label = QLabel(parameter.name + (f" [{parameter.units}]" if parameter.units else ""))
            label.setToolTip(editor.toolTip())
            layout.addRow(label, editor)
            self.editors[parameter.name] = editor

    def _editor(self, parameter: Parameter) -> QWidget:
        if parameter.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(parameter.default))
            box.toggled.connect(self.changed)
            return box
        if parameter.choices:
            combo = QComboBox()
            combo.addItems(parameter.choices)
            combo.setCurrentText(str(parameter.default))
            combo.currentTextChanged.connect(self.changed)
            return combo
        line = QLineEdit(default_text(parameter))
        line.setPlaceholderText(default_text(parameter) or "(none)")
        line.textChanged.connect(self.changed)
        return line

    def texts(self) -> dict[str, str]:
        """What the user typed, for the settings."""
        return {name: _text(editor) for name, editor in self.editors.items()}

    def set_texts(self, texts: dict[str, Any]) -> None:
        for name, text in texts.items():
            editor = self.editors.get(name)
            if editor is None or not isinstance(text, str):
                continue
            if isinstance(editor, QCheckBox):
                editor.setChecked(text.lower() == "true")
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(text)
            else:
                editor.setText(text)

    def values(self) -> dict[str, Any]:
        """The parameters that differ from their defaults, coerced; raises ValidationError."""
        out = {}
        for parameter in self.procedure.parameters:
            text = _text(self.editors[parameter.name]).strip()
            if not text:
                if parameter.default not in ([], ""):
                    raise ValidationError(
                        f"parameters.{parameter.name}",
                        f"give a value (default {default_text(parameter)})",
                    )
                value = parameter.default
            else:
                value = parameter.coerce(text)
            if value != parameter.default:
                out[parameter.name] = value
        return out

    def mark(self, name: str | None) -> None:
        """Outline the editor of the field in error (none when ``name`` is None)."""
        for field, editor in self.editors.items():
            editor.setStyleSheet(ERROR_STYLE if field == name else "")


def _line(editor: QLineEdit | QComboBox) -> QLineEdit:
    """The line a sample label is typed into (an editable combo has one too)."""
    return editor.lineEdit() if isinstance(editor, QComboBox) else editor


def _text(editor: QWidget) -> str:
    if isinstance(editor, QCheckBox):
        return "true" if editor.isChecked() else "false"
    if isinstance(editor, QComboBox):
        return editor.currentText()
    return editor.text()


class ProcedurePanel(QWidget):
    """Pick a procedure, fill in its form and the sample labels, queue the run."""

    job_requested = pyqtSignal(object, bool)
    """A valid :class:`Job`, and whether to start the queue at once."""

    def __init__(self) -> None:
        super().__init__()
        self.station: Station | None = None
        self.chooser = QComboBox()
        for name, cls in PROCEDURES.items():
            self.chooser.addItem(f"{name}: {cls.title}", name)
        self.forms: dict[str, ParameterForm] = {}
        self.stack = QStackedWidget()
        for name, cls in PROCEDURES.items():
            form = ParameterForm(cls)
            form.changed.connect(self.validate)
            self.forms[name] = form
            self.stack.addWidget(form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.stack)
        self.chooser.currentIndexChanged.connect(self._chosen)

        self.spots = QComboBox()
        self.spots.setEditable(True)
        self.spots.setInsertPolicy(QComboBox.NoInsert)
        self.sample_editors = {
            k: self.spots if k == "spot" else QLineEdit() for k in SAMPLE_TEXT_KEYS
        }
        self.sample = {key: _line(editor) for key, editor in self.sample_editors.items()}
        """The lines the labels are typed into (the spot's is its combo's)."""
        sample_box = QGroupBox("Sample")
        sample_grid = QGridLayout(sample_box)
        for i, (key, editor) in enumerate(self.sample_editors.items()):
            editor.setToolTip(SAMPLE_HINTS[key])
            self.sample[key].textChanged.connect(self.validate)
            sample_grid.addWidget(QLabel(key), i // 2, 2 * (i % 2))
            sample_grid.addWidget(editor, i // 2, 2 * (i % 2) + 1)

        self.out = QLineEdit("runs")
        self.out.setToolTip("folder the run files are written to")
        browse = QPushButton("…")
        browse.setToolTip("choose the output folder")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("save to"))
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.add_button = QPushButton("Add to queue")
        self.run_button = QPushButton("Run now")
        self.add_button.clicked.connect(lambda: self._request(False))
        self.run_button.clicked.connect(lambda: self._request(True))
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.run_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addWidget(sample_box)
        layout.addLayout(out_row)
        layout.addLayout(buttons)
        self.validate()

    @property
    def form(self) -> ParameterForm:
        return self.forms[self.chooser.currentData()]

    def _chosen(self) -> None:
        self.stack.setCurrentWidget(self.form)
        self.validate()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save runs to", self.out.text())
        if folder:
            self.out.setText(folder)

    def set_station(self, station: Station | None) -> None:
        """Cross-checks run against this station; its sample labels fill empty fields."""
        self.station = station
        spots = station.config.sample["spots"] if station is not None else {}
        typed = self.spots.currentText()
        self.spots.clear()  # empties the text too; a first item would become it
        self.spots.addItems(spots)
        self.spots.setEditText(typed)
        if station is not None:
            for key, line in self.sample.items():
                if not line.text():
                    line.setText(str(station.config.sample.get(key, "")))
        self.validate()

    def labels(self) -> dict[str, str]:
        """The sample labels typed in, which replace the station's for the run."""
        return {k: line.text().strip() for k, line in self.sample.items() if line.text().strip()}

    def check(self) -> dict[str, Any]:
        """The form's values, fully validated (as a run would be); raises ValidationError."""
        values = self.form.values()
        if self.station is not None:
            self.station.check_spot(self.labels().get("spot"))
            self.form.procedure(self.station, values)
        return values

    def validate(self) -> bool:
        """Show the first error (or that all is well); True when the form can be queued."""
        try:
            self.check()
        except ValidationError as exc:
            self.form.mark(exc.field.removeprefix("parameters."))
            self._mark_sample(exc.field)
            self.message.setText(str(exc))
            self.message.setStyleSheet("color: #d62728;")
            ok = False
        else:
            self.form.mark(None)
            self._mark_sample(None)
            where = f" for station {self.station.config.name}" if self.station else ""
            self.message.setText(f"parameters valid{where}")
            self.message.setStyleSheet("color: #2ca02c;")
            ok = True
        self.add_button.setEnabled(ok)
        self.run_button.setEnabled(ok)
        return ok

    def _mark_sample(self, field: str | None) -> None:
        for key, editor in self.sample_editors.items():
            editor.setStyleSheet(ERROR_STYLE if field == f"sample.{key}" else "")

    def job(self) -> Job:
        return Job(
            procedure=self.chooser.currentData(),
            parameters=self.check(),
            out=Path(self.out.text().strip() or "runs"),
            sample=self.labels(),
        )

    def _request(self, start: bool) -> None:
        if self.validate():
            self.job_requested.emit(self.job(), start)

    # -- what the settings keep ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "procedure": self.chooser.currentData(),
            "parameters": {name: form.texts() for name, form in self.forms.items()},
            "sample": {k: line.text() for k, line in self.sample.items()},
            "out": self.out.text(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for name, texts in (state.get("parameters") or {}).items():
            if name in self.forms and isinstance(texts, dict):
                self.forms[name].set_texts(texts)
        for key, text in (state.get("sample") or {}).items():
            if key in self.sample and isinstance(text, str):
                self.sample[key].setText(text)
        if isinstance(state.get("out"), str) and state["out"]:
            self.out.setText(state["out"])
        index = self.chooser.findData(state.get("procedure"))
        if index >= 0:
            self.chooser.setCurrentIndex(index)
        self.validate()
