"""Benchmark: two-objective electrolyte campaign, qLogNEHVI against random search.

Conductivity up and viscosity down (analytic electrolyte simulator, EC/EMC/DMC
blend plus LiPF6 molality). Each strategy runs once per seed through the real
driver; the script prints the hypervolume of the measured points, with one
fixed reference point for every run (conductivity 0 mS/cm, viscosity 6 mPa s).

    .venv/bin/python -m tests.benchmarks.moo_vs_random --seeds 5 --budget 30
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from tests.benchmarks.common import ROOT, mean_sd, run_variant

REFERENCE = {"conductivity": 0.0, "viscosity": 6.0}


def hypervolume(points: list[tuple[float, float]]) -> float:
    """Area dominated by (conductivity, viscosity) points above the reference point."""
    ref_c, ref_v = REFERENCE["conductivity"], REFERENCE["viscosity"]
    useful = sorted(
        {(c, v) for c, v in points if c > ref_c and v < ref_v}, key=lambda p: -p[0]
    )
    area, best_v = 0.0, ref_v
    for c, v in useful:  # sweep from high conductivity down
        if v < best_v:
            area += (c - ref_c) * (best_v - v)
            best_v = v
    return area


def campaign(budget: int) -> dict:
    data = yaml.safe_load((ROOT / "campaigns" / "electrolyte.yaml").read_text())
    data["name"] = "electrolyte-moo"
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize", "unit": "mS/cm"},
        {"name": "viscosity", "direction": "minimize", "unit": "mPa s"},
    ]
    data["strategy"] = {"initial_design": {"size": 6}, "batch_size": 2}
    data["budget"] = {"experiments": budget}
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    args = parser.parse_args()
    data = campaign(args.budget)
    results: dict[str, list[float]] = {"botorch": [], "random": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            line = [f"seed {seed}:"]
            for engine in results:
                trials, seconds = run_variant(data, engine, seed, Path(tmp))
                points = [
                    (t.values["conductivity"], t.values["viscosity"])
                    for t in trials
                    if t.measurement is not None
                ]
                results[engine].append(hypervolume(points))
                line.append(f"{engine} HV {results[engine][-1]:.3f} ({seconds:.0f} s)")
            print("  ".join(line), flush=True)
    print(
        f"\nhypervolume after {args.budget} experiments, mean ± sd over {args.seeds} seeds:"
    )
    for engine, values in results.items():
        print(f"  {engine:8s} {mean_sd(values)}")
    wins = sum(
        b > r for b, r in zip(results["botorch"], results["random"], strict=True)
    )
    print(f"  botorch larger than random on {wins} of {args.seeds} seeds")


if __name__ == "__main__":
    main()
