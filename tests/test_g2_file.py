"""``qslab g2 FILE`` on the real PicoQuant files: antibunching where there is, none where not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qslab import cli

TTTR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tttr"
pytestmark = pytest.mark.skipif(not TTTR.is_dir(), reason="shared/data/tttr is not beside the repo")


def independent_g2(path: Path, periods: int = 5) -> float:
    """Pairs by laser-pulse index counted with plain numpy from phconvert's own decoding."""
    from phconvert.pqreader import load_ptu

    timestamps, detectors, nanotimes, *_ = load_ptu(str(path))
    a = np.sort(timestamps[detectors == 0])
    b = np.sort(timestamps[detectors == 1])
    pairs = [
        np.sum(np.searchsorted(b, a + k, "right") - np.searchsorted(b, a + k, "left"))
        for k in range(-periods, periods + 1)
    ]
    return pairs[periods] / np.mean(np.delete(pairs, periods))


def g2_json(capsys, *args) -> dict:
    assert cli.main(["g2", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["hydraharp_v20_t3.ptu", "hydraharp_v10_t3.ptu"])
def test_pulsed_antibunching_agrees_with_an_independent_count(capsys, name):
    summary = g2_json(capsys, str(TTTR / name))
    g2 = summary["analysis"]["g2_zero"]
    assert set(g2) >= {"value", "error", "units"}
    assert g2["value"] + 3 * g2["error"] < 1.0, "pulsed antibunching: the centre peak is missing"
    assert g2["value"] == pytest.approx(independent_g2(TTTR / name), abs=0.5 * g2["error"])
    assert summary["mode"] == "T3" and summary["points"] > 50_000


def test_a_gated_g2_says_so(capsys):
    g2 = g2_json(capsys, str(TTTR / "hydraharp_v20_t3.ptu"), "--gate", "2")["analysis"]["g2_zero"]
    assert g2["gate_ns"] == 2.0 and "gated" in g2["method"]


def test_the_t2_file_without_a_laser_gives_a_flat_answer(capsys):
    summary = g2_json(capsys, str(TTTR / "picoharp_v30_t2.ptu"))
    g2 = summary["analysis"]["g2_zero_cw"]
    assert abs(g2["value"] - 1.0) < 3 * g2["error"]
    assert "no laser sync" in g2["method"]
    assert summary["mode"] == "T2"


def test_a_file_that_is_not_time_tags_is_one_clear_error(tmp_path, capsys):
    junk = tmp_path / "junk.ptu"
    junk.write_bytes(b"PQTTTR\0\0 but nothing else")
    assert cli.main(["g2", str(junk)]) == 1
    err = capsys.readouterr().err
    assert "junk.ptu" in err and err.count("\n") == 1
