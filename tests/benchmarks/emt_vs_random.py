"""Benchmark: the GP strategy against random sampling on the EMT alloy campaign.

Runs `campaigns/alloy-emt.yaml` once per seed with `strategy.engine: botorch`
and once with `random`, each through the real driver into its own temporary
SQLite file, and prints the best mixing energy each found within the budget.

    .venv/bin/python -m tests.benchmarks.emt_vs_random --seeds 5 [-o results.json]

`--acquisition qLogNEI` runs botorch with that function instead of its default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.benchmarks.common import (
    ROOT,
    acquisition_option,
    run_variant,
    with_acquisition,
)


def run_once(data: dict, engine: str, seed: int, workdir: Path) -> tuple[float, float]:
    """Best mixing energy found and wall-clock seconds for one strategy and seed."""
    trials, seconds = run_variant(data, engine, seed, workdir)
    return min(t.values["mixing_energy"] for t in trials if t.measurement), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--campaign", default=str(ROOT / "campaigns" / "alloy-emt.yaml")
    )
    parser.add_argument("-o", "--output", type=Path)
    acquisition_option(parser)
    args = parser.parse_args()
    data = with_acquisition(
        yaml.safe_load(Path(args.campaign).read_text()), args.acquisition
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            row = {"seed": seed}
            for engine in ("botorch", "random"):
                best, seconds = run_once(data, engine, seed, Path(tmp))
                row[engine] = best
                row[f"{engine}_seconds"] = round(seconds, 1)
            rows.append(row)
            print(
                f"seed {seed}: botorch {row['botorch']:+.5f} eV/atom ({row['botorch_seconds']} s)"
                f"   random {row['random']:+.5f} eV/atom ({row['random_seconds']} s)",
                flush=True,
            )
    summary = {}
    for engine in ("botorch", "random"):
        values = [r[engine] for r in rows]
        summary[engine] = {
            "mean": statistics.mean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        }
    wins = sum(1 for r in rows if r["botorch"] < r["random"])
    print(
        f"\nbest mixing energy after {data['budget']['experiments']} experiments, "
        f"mean ± sd over {args.seeds} seeds (lower is better):"
    )
    for engine, s in summary.items():
        print(f"  {engine:8s} {s['mean']:+.5f} ± {s['sd']:.5f} eV/atom")
    print(f"  botorch better than random on {wins} of {args.seeds} seeds")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(),
                    "campaign": args.campaign,
                    "rows": rows,
                    "summary": summary,
                    "wins": wins,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
