"""The worked example of docs/adding-a-driver.md runs as written: protocol, bench, station."""

from __future__ import annotations

import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from conftest import write_station
from pymeasure.test import expected_protocol

from qslab.instruments import registry
from qslab.station import open_station

DOC = Path(__file__).parents[1] / "docs" / "adding-a-driver.md"


@pytest.fixture
def acme(tmp_path, monkeypatch):
    """The doc's two modules written out as the package ``acme_qslab`` and registered."""
    package = tmp_path / "acme_qslab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        first = block.splitlines()[0]
        assert first.startswith("# acme_qslab/"), first
        (tmp_path / first[2:].strip()).write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    import acme_qslab.shutter as shutter

    point = EntryPoint("acme", "acme_qslab.shutter:DRIVER", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    monkeypatch.setattr(registry, "_registry", None)
    yield shutter
    monkeypatch.setattr(registry, "_registry", None)
    for name in [m for m in sys.modules if m.startswith("acme_qslab")]:
        del sys.modules[name]


def test_the_example_driver_speaks_its_manual(acme):
    with expected_protocol(acme.AcmeS1, [("STATE?", "1"), ("CLOSE", "OK")]) as inst:
        assert inst.is_open == 1
        inst.write("CLOSE")


def test_the_example_runs_on_the_bench_as_a_station_role(acme, tmp_path):
    path = write_station(tmp_path / "s.toml", '[shutter]\ndriver = "acme.s1"\nresource = "sim"\n')
    station = open_station(path)
    station.connect()
    bench = station.bench
    bench.laser.emission = bench.laser.shutter_open = True
    station["shutter"].open_shutter()
    assert bench.light_on_sample
    assert station.beam_shutter is station["shutter"]
    station.make_safe()
    assert not bench.light_on_sample
    station.simulators["shutter"].fault = "error"
    with pytest.raises(Exception, match="Acme S1 at sim:acme-s1: refused 'OPEN'"):
        station["shutter"].open_shutter()
    station.close()
