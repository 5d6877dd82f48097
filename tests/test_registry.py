"""The driver registry: built-in drivers, plug-ins through entry points, option checking."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from qslab.errors import ValidationError
from qslab.instruments import registry
from qslab.instruments.registry import DriverSpec, Option


def test_every_builtin_driver_declares_a_known_role_and_a_simulator():
    from qslab.instruments.roles import ROLE_TYPES

    for name, spec in registry.drivers().items():
        assert spec.name == name and "." in name
        assert spec.role in ROLE_TYPES
        assert callable(spec.connect) and callable(spec.simulator)
        assert spec.manual, f"{name} cites no manual"


PLUGIN = DriverSpec(
    name="acme.blaster",
    role="laser",
    description="a third-party laser",
    connect=lambda target, options: None,
    simulator=lambda bench, options: None,
    options=(Option("power_w", "float", 1.0, "output power", "W"),),
    manual="Acme Blaster manual, ch. 3",
)


def test_a_plugin_registers_through_its_entry_point(monkeypatch):
    point = EntryPoint(name="acme", value=f"{__name__}:PLUGIN", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    monkeypatch.setattr(registry, "_registry", None)
    assert registry.driver("acme.blaster") is PLUGIN
    assert "thorlabs.fw102c" in registry.drivers()
    monkeypatch.setattr(registry, "_registry", None)


def test_options_are_checked_by_name_and_type():
    assert PLUGIN.check_options("station.laser", {}) == {"power_w": 1.0}
    assert PLUGIN.check_options("station.laser", {"power_w": 2}) == {"power_w": 2.0}
    with pytest.raises(ValidationError, match="station.laser.power_w"):
        PLUGIN.check_options("station.laser", {"power_w": "lots"})
    with pytest.raises(ValidationError, match="known: power_w"):
        PLUGIN.check_options("station.laser", {"colour": "red"})


@pytest.mark.parametrize(
    "table, field",
    [
        ('[laser]\ndriver = "quantel.bigsky"\nflashlamp_hz = 500', "station.laser.flashlamp_hz"),
        ('[laser]\ndriver = "lightconversion.pharos"\ntimeout_s = 0', "station.laser.timeout_s"),
        ('[attenuator]\ndriver = "thorlabs.ell14"\naddress = "Z"', "station.attenuator.address"),
        ('[stage]\ndriver = "newport.esp301"\nx_axis = 7', "station.stage.x_axis"),
    ],
)
def test_a_real_instruments_inconsistent_options_fail_when_the_station_loads(
    tmp_path, table, field
):
    """Nothing is opened (the resource is a real port): the driver's own check runs at load."""
    from qslab.station import load_station

    path = tmp_path / "real.toml"
    path.write_text(f'base = "sim"\n{table}\nresource = "ASRL9::INSTR"\n')
    with pytest.raises(ValidationError) as info:
        load_station(path)
    assert info.value.field == field
