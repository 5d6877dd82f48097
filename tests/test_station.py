"""Station files: the built-in one, overrides, and one clear message for every mistake."""

from __future__ import annotations

import pytest
from conftest import write_station

from qslab.errors import ValidationError
from qslab.station import Station, builtin_stations, load_station, open_station


def test_builtin_sim_station_has_every_role_simulated():
    cfg = load_station("sim")
    assert set(cfg.roles) == {"laser", "attenuator", "energy_meter", "spectrometer"}
    assert all(rc.simulated for rc in cfg.roles.values())
    assert "sim" in builtin_stations()


def test_override_changes_only_what_it_names(tmp_path):
    path = write_station(tmp_path / "s.toml", "[sample]\ncross_section_cm2 = 0.65e-13\n")
    cfg = load_station(path)
    assert cfg.sample["cross_section_cm2"] == 0.65e-13
    assert cfg.sample["x_peak_nm"] == 670.0
    assert cfg.bench["realtime"] is False
    assert cfg.film().threshold_fluence(400.0) == pytest.approx(
        2 * load_station("sim").film().threshold_fluence(400.0)
    )


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("[laser\n", "s.toml", "not valid TOML"),
        ("[lasr]\ndriver='x'\n", "station.lasr", "unknown table"),
        ("[laser]\ndriver = 'acme.blaster'\n", "station.laser.driver", "known drivers"),
        ("[laser]\ndriver = 'thorlabs.fw102c'\n", "station.laser.driver", "attenuator driver"),
        ("[attenuator]\nwobble = 3\n", "station.attenuator.wobble", "unknown option"),
        ("[beam]\nspot_size_um = -5\n", "station.beam.spot_size_um", "positive"),
        ("[beam]\nspot_definition = 'wide'\n", "station.beam.spot_definition", "1/e2_radius"),
        ("[sample]\nqy_x = 1.5\n", "station.sample.qy_x", "<= 1"),
        ("[sample]\ncross_section_cm2 = 'big'\n", "station.sample.cross_section_cm2", "number"),
        ("[limits]\nmax_fluence = 3\n", "station.limits.max_fluence", "unknown key"),
    ],
)
def test_each_mistake_names_its_field(tmp_path, text, field, words):
    path = tmp_path / "s.toml"
    path.write_text('base = "sim"\n' + text)
    with pytest.raises(ValidationError) as info:
        load_station(path)
    assert info.value.field.endswith(field) or info.value.field == field
    assert words in str(info.value)


def test_missing_station_file_is_one_clear_error(tmp_path):
    with pytest.raises(ValidationError, match="neither a built-in station"):
        load_station(tmp_path / "nowhere.toml")


def test_building_a_simulated_station_sends_no_command(fast_station):
    station = open_station(fast_station)
    assert station.simulators
    assert all(not getattr(sim, "received", []) for sim in station.simulators.values())


class _Broken:
    def safe(self):
        raise OSError("no answer")

    def close(self):
        pass


class _Recorder:
    def __init__(self):
        self.safe_calls = 0

    def safe(self):
        self.safe_calls += 1

    def close(self):
        pass


def test_one_failing_device_does_not_keep_the_others_from_safety(fast_station):
    station = Station(load_station(fast_station))
    recorder = _Recorder()
    station.devices = {"laser": _Broken(), "attenuator": recorder}
    failures = station.make_safe()
    assert recorder.safe_calls == 1
    assert failures == ["laser: no answer"]


def test_a_role_table_with_another_driver_replaces_the_inherited_one(tmp_path):
    path = write_station(
        tmp_path / "s.toml", '[laser]\ndriver = "quantel.bigsky"\nresource = "sim"\n'
    )
    options = load_station(path).roles["laser"].options
    assert "tuning_nm" not in options and options["harmonic"] == 2


def test_builtin_alternative_station_is_based_on_sim():
    cfg = load_station("sim-alt")
    assert cfg.roles["attenuator"].spec.name == "thorlabs.ell14"
    assert cfg.roles["shutter"].spec.name == "thorlabs.sc10"
    assert cfg.sample["cross_section_cm2"] == 1.3e-13
