"""How well the ASE analysis recovers the simulated bench's truth, over many seeds.

    python bench/threshold_accuracy.py [--seeds 20] [--station sim] [--set NAME=VALUE ...]

Prints the fitted/true threshold ratio (mean, spread, range), the mean reported relative error
and the spread of the pulls (fitted - true) / error, which is 1 when the errors are honest,
the fitted beta, and the XX-X splitting against the bench's.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from qslab.api import run_procedure
from qslab.procedures.parameters import parse_assignments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--station", default="sim")
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        station = Path(tmp) / "station.toml"
        station.write_text(f'base = "{args.station}"\n[bench]\nrealtime = false\n')
        rows = []
        for seed in range(args.seeds):
            result = run_procedure(
                "ase", station=station, out=tmp, seed=seed, **parse_assignments(args.assignments)
            )
            analysis = result.outcome.analysis
            truth = result.station.bench.true_ase_threshold()
            fit = analysis["ase_threshold"]
            rows.append(
                (
                    fit["value"] / truth,
                    fit["error"] / truth,
                    analysis.get("ase_beta", {}).get("value", np.nan),
                    analysis.get("xx_x_splitting", {}).get("value", np.nan),
                )
            )
    ratio, rel_error, beta, splitting = np.array(rows).T
    pulls = (ratio - 1) / rel_error
    print(f"{args.seeds} seeds on {args.station!r}")
    print(
        f"fitted/true threshold: mean {ratio.mean():.3f}, std {ratio.std():.3f}, "
        f"range {ratio.min():.3f}..{ratio.max():.3f}"
    )
    print(f"reported relative error: mean {rel_error.mean():.3f}; pull spread {pulls.std():.2f}")
    print(f"beta: median {np.nanmedian(beta):.3g}")
    print(f"XX-X splitting: {np.nanmean(splitting):.1f} +- {np.nanstd(splitting):.1f} meV")


if __name__ == "__main__":
    main()
