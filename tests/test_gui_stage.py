"""The sample stage in the desktop application, offscreen: the station panel shows where the
stage is and moves it to a named spot while idle only; the procedure form offers the named spots
and refuses one the station does not name, as a run would."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import watch_moves, write_station  # noqa: E402
from gui_helpers import RUN_TIMEOUT_MS, click, fill, open_window, wait_until_idle  # noqa: E402

from qslab.errors import DeviceError  # noqa: E402
from qslab.storage.reader import read_run  # noqa: E402

STAGE = '[stage]\ndriver = "newport.esp301"\nresource = "sim"\n'
SPOTS = '[sample]\nname = "QS-1"\nspot = "A"\nspots = { A = [1.0, 0.0], B = [-2.0, 3.0] }\n'


@pytest.fixture
def window(qtbot, tmp_path: Path):
    """The main window on a simulated station with a stage and spots A and B."""
    station = write_station(tmp_path / "stage.toml", STAGE + SPOTS)
    main = open_window(qtbot, tmp_path / "settings.ini", str(station))
    main.procedure_panel.out.setText(str(tmp_path / "runs"))
    yield main
    main.close()


def go(qtbot, panel, label: str) -> None:
    """Choose a spot in the stage box and press Go."""
    panel.stage.spots.setCurrentText(label)
    click(qtbot, panel.stage.go_button)


def test_the_stage_box_shows_only_on_a_station_with_a_stage(window, tmp_path):
    panel = window.station_panel
    assert panel.stage.isVisibleTo(panel)
    assert panel.stage.position.text() == "not connected"
    assert not panel.stage.go_button.isEnabled()
    assert [panel.stage.spots.itemText(i) for i in range(panel.stage.spots.count())] == ["A", "B"]
    assert panel.load(str(write_station(tmp_path / "plain.toml")))
    assert not panel.stage.isVisibleTo(panel)


def test_go_moves_the_film_to_the_spot_and_shows_where_it_is(window, qtbot):
    panel = window.station_panel
    assert panel.connect_station()
    assert panel.stage.position.text() == "x 0.000  y 0.000 mm"
    go(qtbot, panel, "B")
    assert panel.station.bench.sample_position_mm == pytest.approx((-2.0, 3.0))
    assert panel.stage.position.text() == "x -2.000  y 3.000 mm"
    assert panel.error.text() == ""


def test_go_closes_a_shutter_left_open_before_the_stage_moves(window, qtbot):
    panel = window.station_panel
    assert panel.connect_station()
    bench = panel.station.bench
    panel.station["laser"].set_emission(True)
    panel.station["laser"].open_shutter()
    assert bench.light_on_sample
    in_light = watch_moves(bench)
    go(qtbot, panel, "B")
    assert in_light and not any(in_light)
    assert bench.sample_position_mm == pytest.approx((-2.0, 3.0))


def test_a_stage_error_is_shown_not_raised(window, qtbot, monkeypatch):
    panel = window.station_panel
    assert panel.connect_station()

    def stuck(x_mm: float, y_mm: float) -> None:
        raise DeviceError("Newport ESP301", "sim", "the stage was still moving after 9 s")

    monkeypatch.setattr(panel.station["stage"].unguarded, "move_to", stuck)
    go(qtbot, panel, "B")
    assert "still moving" in panel.error.text()
    assert panel.stage.position.text() == "x 0.000  y 0.000 mm"


def test_go_is_refused_while_a_run_holds_the_stage(window, qtbot):
    panel = window.station_panel
    assert panel.connect_station()
    fill(window, "ase", points="3000", averages="1")
    click(qtbot, window.procedure_panel.run_button)
    bench = panel.station.bench
    qtbot.waitUntil(lambda: bench.sample_position_mm == (1.0, 0.0), timeout=RUN_TIMEOUT_MS)
    assert not panel.stage.go_button.isEnabled()
    assert panel.stage.position.text() == "in use by the run"
    assert not panel.go_to_spot("B")
    assert "a run holds the stage" in panel.error.text()
    assert bench.sample_position_mm == (1.0, 0.0)

    click(qtbot, window.queue.buttons["abort"])
    wait_until_idle(qtbot, window)
    assert panel.stage.go_button.isEnabled()  # reconnected after the run
    assert panel.stage.position.text() == "x 1.000  y 0.000 mm"


def test_a_run_goes_to_the_spot_chosen_in_the_form(window, qtbot):
    form = window.procedure_panel
    assert [form.spots.itemText(i) for i in range(form.spots.count())] == ["A", "B"]
    assert form.sample["spot"].text() == "A"  # the station's own spot
    form.spots.setCurrentIndex(form.spots.findText("B"))
    fill(window, "ase", points="4", averages="1")
    click(qtbot, form.run_button)
    wait_until_idle(qtbot, window)
    job = window.queue.jobs[0]
    assert job.status == "completed", job.reason
    record = read_run(job.path)
    assert record.sample["spot"] == "B"
    np.testing.assert_allclose(record.data["spot_x_mm"].read(), -2.0)


def test_a_spot_the_station_does_not_name_is_refused_in_the_form(window):
    form = window.procedure_panel
    form.sample["spot"].setText("Bx")
    assert form.message.text().startswith("sample.spot: 'Bx' is not a named spot")
    assert "A, B" in form.message.text()
    assert not form.run_button.isEnabled() and not form.add_button.isEnabled()
    assert "border" in form.spots.styleSheet()
    assert window.station_panel.station.config.sample["spot"] == "A"  # the station untouched
    form.sample["spot"].setText("B")
    assert form.run_button.isEnabled() and form.spots.styleSheet() == ""
