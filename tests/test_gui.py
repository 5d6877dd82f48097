"""The desktop application, offscreen: runs started, watched, paused and aborted from the window,
files opened in the run browser, forms validated as typed, settings kept."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import write_station  # noqa: E402
from gui_helpers import (  # noqa: E402
    RUN_TIMEOUT_MS,
    click,
    data,
    fill,
    open_window,
    plotted,
    wait_until_idle,
)
from PyQt5.QtCore import Qt  # noqa: E402

from qslab.gui import app  # noqa: E402
from qslab.gui.plots.ase import ASEView  # noqa: E402
from qslab.gui.plots.g2 import G2View  # noqa: E402
from qslab.gui.plots.generic import GenericView  # noqa: E402
from qslab.gui.plots.lasing import LasingView  # noqa: E402
from qslab.gui.worker import MAX_RATE_HZ, DocumentRelay, RefreshThrottle  # noqa: E402
from qslab.storage.reader import read_run  # noqa: E402

LONG_ASE = {"points": "3000", "averages": "1"}
"""More points than a test waits for: the run is stopped by the test."""


@pytest.fixture
def window(qtbot, tmp_path: Path):
    """The main window on ``base = "sim"`` out of real time, saving runs under tmp_path."""
    station = write_station(tmp_path / "fast.toml")
    main = open_window(qtbot, tmp_path / "settings.ini", str(station))
    main.procedure_panel.out.setText(str(tmp_path / "runs"))
    yield main
    main.close()


def ase_view(window) -> ASEView:
    return next(v for v in window.plots.views if isinstance(v, ASEView))


def test_ase_run_plots_live_aborts_safe_and_opens_in_the_browser(window, qtbot):
    fill(window, "ase", **LONG_ASE)
    click(qtbot, window.procedure_panel.run_button)
    view = ase_view(window)
    qtbot.waitUntil(lambda: plotted(view.lilo_points) >= 5, timeout=RUN_TIMEOUT_MS)
    assert window.plots.current is view
    fluence, emission = data(view.lilo_points)
    assert np.all(fluence > 0) and np.all(emission > 0)
    assert plotted(view.spectrum_curve) == 2048
    assert view.image.image.shape[1] >= 5  # one row per spectrum taken
    assert plotted(view.fwhm_points) >= 5 and plotted(view.peak_points) >= 5

    click(qtbot, window.queue.buttons["abort"])
    wait_until_idle(qtbot, window)
    job = window.queue.jobs[0]
    assert job.status == "aborted"
    record = read_run(job.path)
    assert record.status == "aborted"
    assert 5 <= record.points < 3000
    bench = window.station_panel.station.bench
    assert not bench.light_on_sample and not bench.laser.shutter_open
    window.station_panel.refresh_shutter()
    assert window.station_panel.shutter.text() == "SHUTTER CLOSED"

    assert window.browser.open(job.path.parent) == 1
    shown = window.browser.plots.current
    assert isinstance(shown, ASEView)
    x, y = data(shown.lilo_points)
    np.testing.assert_allclose(x, record.data["fluence"].read())
    np.testing.assert_allclose(y, record.data["integrated_emission"].read())
    assert shown.image.image.shape[1] == record.points
    rows = window.browser.metadata.findItems("status", Qt.MatchRecursive | Qt.MatchExactly)
    assert rows and rows[0].text(1).startswith("aborted")


def test_a_bad_parameter_shows_the_validation_message_and_blocks_queueing(window):
    panel = window.procedure_panel
    fill(window, "ase", fluence_stop="abc")
    assert panel.message.text() == "parameters.fluence_stop: expected a number, got 'abc'"
    assert not panel.add_button.isEnabled() and not panel.run_button.isEnabled()
    assert "border" in panel.form.editors["fluence_stop"].styleSheet()
    fill(window, "ase", fluence_stop="60", points="1")
    assert panel.message.text() == "parameters.points: 1 is below the minimum 2"
    fill(window, "ase", points="30", fluence_stop="5000")
    assert "exceeds the station limit" in panel.message.text()  # the procedure's cross-check
    fill(window, "ase", fluence_stop="60")
    assert panel.add_button.isEnabled()
    assert panel.form.editors["fluence_stop"].styleSheet() == ""


def test_pause_makes_safe_resume_goes_on_and_escape_aborts(window, qtbot):
    fill(window, "ase", **LONG_ASE)
    click(qtbot, window.procedure_panel.run_button)
    view = ase_view(window)
    qtbot.waitUntil(lambda: plotted(view.lilo_points) >= 3, timeout=RUN_TIMEOUT_MS)
    engine = window.thread.engine
    if not hasattr(engine, "pause"):
        pytest.skip("RunEngine.pause is not there yet")
    job = window.queue.jobs[0]
    click(qtbot, window.queue.buttons["pause"])
    qtbot.waitUntil(lambda: job.status == "paused", timeout=RUN_TIMEOUT_MS)
    assert not window.station_panel.station.bench.light_on_sample
    held = plotted(view.lilo_points)
    qtbot.wait(300)
    window.throttle.flush()
    assert plotted(view.lilo_points) == held

    click(qtbot, window.queue.buttons["pause"])  # now labelled Resume
    qtbot.waitUntil(lambda: plotted(view.lilo_points) > held + 2, timeout=RUN_TIMEOUT_MS)
    assert job.status == "running"

    qtbot.keyClick(window, Qt.Key_Escape)
    wait_until_idle(qtbot, window)
    assert job.status == "aborted" and "made safe" in job.reason
    assert read_run(job.path).status == "aborted"
    assert not window.station_panel.station.bench.laser.shutter_open


def test_g2_run_shows_histogram_windows_running_g2_and_count_rates(qtbot, tmp_path):
    station = tmp_path / "g2.toml"
    station.write_text('base = "sim-g2"\n[bench]\nrealtime = false\n')
    window = open_window(qtbot, tmp_path / "settings.ini", str(station))
    window.procedure_panel.out.setText(str(tmp_path / "runs"))
    fill(window, "g2", fluences="0.3, 0.6", acquisition_s="1", dark_s="0.2")
    click(qtbot, window.procedure_panel.run_button)
    wait_until_idle(qtbot, window)
    job = window.queue.jobs[0]
    assert job.status == "completed", job.reason
    view = window.plots.current
    assert isinstance(view, G2View)
    x, counts = data(view.histogram_curve)
    assert len(x) > 100 and counts.sum() > 0
    assert len(view.windows) == 2 * 5 + 1  # default periods K = 5
    assert plotted(view.g2_running) > 0 and plotted(view.g2_points) == 2
    assert len(view.rate_curves) == 2 and all(plotted(c) > 0 for c in view.rate_curves.values())
    assert plotted(view.n_points) == 2
    window.close()


def test_recipe_runs_queue_in_order_and_all_complete(window, qtbot, tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'station = "{tmp_path / "fast.toml"}"\nout = "recipe-runs"\n'
        '[[run]]\nprocedure = "ase"\npoints = 8\naverages = 1\n'
        '[run.loop]\nspot = ["A", "B"]\n'
    )
    assert window.add_recipe(str(recipe)) == 2
    assert [job.sample for job in window.queue.jobs] == [{"spot": "A"}, {"spot": "B"}]
    click(qtbot, window.queue.buttons["start"])
    qtbot.waitUntil(
        lambda: [j.status for j in window.queue.jobs] == ["completed"] * 2,
        timeout=RUN_TIMEOUT_MS,
    )
    spots = [read_run(job.path).sample["spot"] for job in window.queue.jobs]
    assert spots == ["A", "B"]
    assert window.queue.time_left.text() == "idle"


def test_settings_remember_station_parameters_and_layout(qtbot, tmp_path):
    station = str(write_station(tmp_path / "fast.toml"))
    first = open_window(qtbot, tmp_path / "settings.ini", station)
    fill(first, "g2", acquisition_s="7.5")
    fill(first, "ase", points="17")
    first.procedure_panel.sample["batch"].setText("B-42")
    first.close()
    second = open_window(qtbot, tmp_path / "settings.ini", None)
    panel = second.procedure_panel
    assert second.station_panel.spec == station
    assert panel.chooser.currentData() == "ase"
    assert panel.form.texts()["points"] == "17"
    assert panel.forms["g2"].texts()["acquisition_s"] == "7.5"
    assert panel.sample["batch"].text() == "B-42"
    assert second.settings.layout("window/state") is not None
    second.close()


def test_station_panel_connects_shows_identities_and_makes_safe(window):
    panel = window.station_panel
    assert panel.connect_station()
    identities = [panel.table.item(row, 4).text() for row in range(panel.table.rowCount())]
    assert all(identities) and panel.connect_button.text() == "Disconnect"
    panel.station["laser"].set_emission(True)
    panel.station["laser"].open_shutter()
    panel.refresh_shutter()
    assert panel.shutter_state == "open"
    window.make_safe()
    assert panel.shutter_state == "closed"
    assert not panel.station.bench.light_on_sample
    panel.disconnect_station()
    assert not panel.station.devices


def test_throttle_refreshes_at_most_thirty_times_a_second(qtbot):
    relay = DocumentRelay()
    batches = []
    throttle = RefreshThrottle(relay, batches.append)  # noqa: F841 - kept alive for the test

    def flood() -> None:
        for i in range(20000):
            relay("event", {"data": {"i": i}})
            if i % 50 == 0:
                time.sleep(0.001)

    started = time.monotonic()
    thread = threading.Thread(target=flood)
    thread.start()
    # generous limits: a loaded machine is slow, and slowness only lowers the refresh rate
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=60_000)
    qtbot.waitUntil(lambda: sum(map(len, batches)) == 20000, timeout=30_000)
    elapsed = time.monotonic() - started
    assert len(batches) <= MAX_RATE_HZ * elapsed + 2
    assert [doc["data"]["i"] for batch in batches for _, doc, _ in batch] == list(range(20000))


def test_generic_view_draws_one_curve_per_mode_key(qtbot):
    view = GenericView()
    qtbot.addWidget(view)  # closed (pyqtgraph's teardown) by the test, not by the collector
    keys = {k: {"shape": [], "units": "counts/s"} for k in ("mode1_intensity", "mode2_intensity")}
    view.feed("start", {"uid": "x", "time": 0.0, "procedure": "lasing"}, 0.0)
    descriptor = {"data_keys": {"fluence": {"shape": []}, **keys}, "plot": {"axes": ["fluence"]}}
    view.feed("descriptor", descriptor, 0.0)
    for f in (1.0, 2.0, 4.0):
        view.feed(
            "event", {"data": {"fluence": f, "mode1_intensity": f, "mode2_intensity": f**3}}, 0.0
        )
    view.redraw()
    assert sorted(view.curves) == ["mode1_intensity", "mode2_intensity"]
    _, y = data(view.curves["mode2_intensity"])
    np.testing.assert_allclose(y, [1.0, 8.0, 64.0])


def lasing_documents(points, resolution=0.1):
    """The documents of a small lasing run: ``points`` are (pump, reference, lines), lines as
    (wavelength, area, width) brightest first; three slots per point, NaN where empty."""
    wavelength = np.linspace(660.0, 720.0, 601)
    keys = {"pump": {"shape": [], "units": "mJ/cm^2"}, "spectrum": {"shape": [601]}}
    keys |= {f"modes_{k}": {"shape": [3], "units": "nm"} for k in ("intensity", "wavelength")}
    constants = {"wavelength": {"value": wavelength}, "resolution": {"value": resolution}}
    docs = [
        ("start", {"uid": "x", "time": 0.0, "procedure": "lasing"}),
        ("descriptor", {"data_keys": keys, "constants": constants}),
    ]
    for pump, reference, lines in points:
        slots = np.full((3, 3), np.nan)
        slots[: len(lines)] = lines
        spectrum = np.full(601, pump)
        for wl, area, _ in lines:
            spectrum[np.argmin(np.abs(wavelength - wl))] += area
        event = {"pump": pump, "reference": reference, "spectrum": spectrum}
        event |= {f"modes_{k}": slots[:, i] for i, k in enumerate(("wavelength", "intensity"))}
        docs.append(("event", {"data": event | {"modes_linewidth": slots[:, 2]}}))
    return docs


def test_lasing_view_follows_modes_by_wavelength_not_by_brightness_rank(qtbot):
    view = LasingView()
    qtbot.addWidget(view)
    a, b = 688.80, 666.58  # b overtakes a at the third point, a wobbles by 0.05 nm
    points = [
        (1.0, False, [(a, 10.0, 0.9)]),
        (2.0, False, [(a + 0.05, 40.0, 0.7), (b, 20.0, 0.95)]),
        (4.0, False, [(b, 900.0, 0.4), (a - 0.03, 500.0, 0.5)]),
        (1.0, True, [(b, 7777.0, 0.9)]),  # a reference point: left out
        (8.0, False, [(b, 5000.0, 0.3), (a, 3000.0, 0.35), (712.5, 5.0, 1.0)]),
    ]
    for name, doc in lasing_documents(points):
        view.feed(name, doc, 0.0)
        view.redraw()  # live: one document at a time
    modes = {round(m.name_nm): m for m in view.tracker.modes}
    assert sorted(modes) == [667, 689, 712]
    x, y = data(view.items[modes[689].ident].lilo)
    np.testing.assert_allclose(x, [1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(y, [10.0, 40.0, 500.0, 3000.0])
    x, y = data(view.items[modes[667].ident].lilo)
    np.testing.assert_allclose(x, [2.0, 4.0, 8.0])  # not the reference point's 7777
    _, width = data(view.items[modes[667].ident].linewidth)
    np.testing.assert_allclose(width, [0.95, 0.4, 0.3])
    assert view.image.image.shape[1] == 4  # one row per point of the scan
    assert len(view.line_marks.data) == 3  # the latest spectrum's lines, marked

    running = {"run_uid": "x", "done": 5, "total": 9, "message": "running threshold"}
    view.feed("progress", {**running, "live": {"running_threshold": {"value": 2.5}}}, 0.0)
    view.redraw()
    assert view.main_threshold.line.isVisible()  # the scan's estimate, before the analysis
    assert view.main_threshold.line.value() == pytest.approx(np.log10(2.5))

    view.feed("analysis", {"results": {"lasing_threshold": {"value": 3.0, "error": 0.1}}}, 0.0)
    view.redraw()
    assert view.main_threshold.line.isVisible()
    assert view.main_threshold.line.value() == pytest.approx(np.log10(3.0))


def run_lasing_in_window(qtbot, tmp_path, **texts):
    """A lasing scan of the vertical cavity (three modes), out of real time, from the window."""
    station = tmp_path / "vcsel.toml"
    station.write_text('base = "sim-vcsel"\n[bench]\nrealtime = false\n')
    window = open_window(qtbot, tmp_path / "settings.ini", str(station))
    window.procedure_panel.out.setText(str(tmp_path / "runs"))
    fill(window, "lasing", **texts)
    click(qtbot, window.procedure_panel.run_button)
    wait_until_idle(qtbot, window)
    job = window.queue.jobs[0]
    assert job.status == "completed", job.reason
    return window, job


def mode_curves(view: LasingView) -> dict[float, tuple]:
    """Each mode's light in / light out and linewidth data, by its wavelength."""
    return {
        round(mode.name_nm, 2): (
            *data(view.items[mode.ident].lilo),
            *data(view.items[mode.ident].linewidth),
        )
        for mode in view.tracker.modes
    }


def test_lasing_run_shows_one_curve_per_mode_with_thresholds_live_and_in_the_browser(
    qtbot, tmp_path
):
    # reference points every 4 points; a drifting reference (the spot bleaches at the top
    # pumps, by 10-15 % at times) must not pause the run: the tolerance is wide
    window, job = run_lasing_in_window(qtbot, tmp_path, reference_every="4", bootstrap="10")
    view = window.plots.current
    assert isinstance(view, LasingView)
    record = read_run(job.path)
    results = record.analysis
    reference = record.data["reference"].read().astype(bool)
    pump = record.data["pump"].read()
    assert reference.any() and (~reference).sum() >= 5

    # one curve per mode, the modes' wavelengths distinct and those of the analysis
    names = sorted(round(m.name_nm, 2) for m in view.tracker.modes)
    assert len(names) == results["n_modes"]["value"] == 3
    assert np.all(np.diff(names) > 10 * view.tracker.tolerance)
    analysed = sorted(results[f"mode{k}_wavelength"]["value"] for k in (1, 2, 3))
    np.testing.assert_allclose(names, analysed, atol=view.tracker.tolerance)
    for mode in view.tracker.modes:  # every line of a mode lies near the mode
        assert np.all(np.abs(np.array(mode.centres) - mode.name_nm) <= view.tracker.tolerance)

    # reference points are in no curve
    curves = mode_curves(view)
    scan_pumps = set(pump[~reference])
    for x, *_ in curves.values():
        assert len(x) >= 3 and set(x) <= scan_pumps
    main = view.mode_of(1)
    x, _ = data(view.items[main.ident].lilo)
    assert len(x) == len(set(x))  # a mode has one line per point at most
    assert view.image.image.shape[1] == (~reference).sum()

    # the thresholds of the analysis
    threshold = results["lasing_threshold"]["value"]
    assert main.name_nm == pytest.approx(results["lasing_wavelength"]["value"], abs=0.3)
    assert view.main_threshold.line.isVisible()
    assert 10 ** view.main_threshold.line.value() == pytest.approx(threshold)
    for marker in view.items[main.ident].thresholds:  # on both pump plots
        assert 10 ** marker.line.value() == pytest.approx(threshold)
    assert plotted(view.items[main.ident].fit) > 0
    assert "P<sub>th</sub>" in view.lilo.titleLabel.text and "β" in view.lilo.titleLabel.text

    # the same file in the run browser: the same curves and threshold
    assert window.browser.open(job.path) == 1
    shown = window.browser.plots.current
    assert isinstance(shown, LasingView) and shown is not view
    again = mode_curves(shown)
    assert sorted(again) == sorted(curves)
    for name, columns in curves.items():
        for live, read in zip(columns, again[name], strict=True):
            np.testing.assert_allclose(read, live)
    assert shown.main_threshold.line.value() == pytest.approx(view.main_threshold.line.value())
    window.close()


def test_screenshot_runs_a_short_scan_and_saves_the_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("QSLAB_GUI_SETTINGS", str(tmp_path / "unused.ini"))
    monkeypatch.setitem(app.SCREENSHOT_RUNS, "ase", {"points": 8, "averages": 1})
    path = tmp_path / "shot.png"
    assert app.take_screenshot("sim", path) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "unused.ini").exists()  # screenshots keep no settings


def test_screenshot_runs_the_procedure_that_fits_the_station(window):
    panel = window.station_panel
    chosen = {}
    for name in ("sim", "sim-g2", "sim-pc", "sim-vcsel"):
        panel.load(name)
        chosen[name] = app.screenshot_procedure(panel.station)
    assert chosen == {"sim": "ase", "sim-g2": "g2", "sim-pc": "lasing", "sim-vcsel": "lasing"}


def test_the_ns_fit_curve_is_rebuilt_from_the_stored_pulse_width():
    from qslab.analysis.lasing import mode_curve_pulsed
    from qslab.gui.plots.lasing import _fitted_curve

    stored = {"method": "rate_equation_pulsed", "pulse_per_lifetime": 0.65}
    pump = np.geomspace(10.0, 300.0, 7)
    np.testing.assert_allclose(
        _fitted_curve(stored)(pump, 2.0, 66.9, 0.004),
        mode_curve_pulsed(pump, 2.0, 66.9, 0.004, 0.65),
    )
