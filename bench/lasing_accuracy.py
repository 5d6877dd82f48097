"""How well a lasing scan recovers each cavity preset's truth, over many seeds.

    python bench/lasing_accuracy.py [--seeds 20] [--station sim-pc ...] [--set NAME=VALUE ...]

For each station (default: the three lasing presets) runs ``qslab run lasing`` with its default
parameters on a bench out of real time and prints fitted/true threshold and fitted/true beta
(mean and standard deviation over the seeds), the standard deviation of the pulls
(fitted - true) / error of threshold and beta (about 1 when the errors are honest), the mean
points taken, the lasing linewidth against the bench's, and how many runs found no threshold.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from qslab.api import run_procedure
from qslab.procedures.parameters import parse_assignments

PRESETS = ("sim-pc", "sim-pcsel", "sim-vcsel")


def measure(station: str, seeds: int, parameters: dict[str, str]) -> np.ndarray:
    """(seeds, 6) rows of threshold/true, beta/true, points, linewidth/true and the pulls
    (fitted - true) / error of threshold and beta."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "station.toml"
        path.write_text(f'base = "{station}"\n[bench]\nrealtime = false\n')
        rows = []
        for seed in range(seeds):
            result = run_procedure("lasing", station=path, out=tmp, seed=seed, **parameters)
            analysis = result.outcome.analysis
            truth = result.station.bench.lasing_truth()
            threshold, beta = analysis["lasing_threshold"], analysis["beta"]
            rows.append(
                (
                    threshold["value"] / truth.threshold,
                    beta["value"] / truth.beta,
                    result.outcome.num_events,
                    analysis["linewidth_nm"]["value"] / truth.linewidth_nm,
                    _pull(threshold, truth.threshold),
                    _pull(beta, truth.beta),
                )
            )
    return np.array(rows, dtype=float)


def _pull(entry: dict, truth: float) -> float:
    """(fitted - true) / error: standard normal when the error is honest."""
    return (entry["value"] - truth) / entry["error"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--station", action="append", default=[])
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    parameters = parse_assignments(args.assignments)
    print(f"{args.seeds} seeds per station; mean +- sd")
    print(
        f"{'station':10s} {'threshold/true':>16s} {'beta/true':>14s} {'pull th':>14s} "
        f"{'pull beta':>14s} {'points':>7s} {'linewidth/true':>15s} {'no threshold':>13s}"
    )
    for station in args.station or PRESETS:
        rows = measure(station, args.seeds, parameters)
        found = rows[np.isfinite(rows[:, 0])]
        threshold, beta, _, width, pull_th, pull_beta = found.T
        print(
            f"{station:10s} {threshold.mean():8.3f} +- {threshold.std():.3f} "
            f"{beta.mean():7.2f} +- {beta.std():.2f} "
            f"{pull_th.mean():6.2f} +- {pull_th.std():.2f} "
            f"{np.nanmean(pull_beta):6.2f} +- {np.nanstd(pull_beta):.2f} "
            f"{rows[:, 2].mean():7.1f} {np.nanmean(width):8.3f} +- {np.nanstd(width):.3f} "
            f"{len(rows) - len(found):13d}"
        )


if __name__ == "__main__":
    main()
