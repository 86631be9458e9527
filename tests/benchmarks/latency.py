"""Benchmark: proposal latency of the native strategy and of Ax, side by side.

A 6-component simplex composition (each fraction in [0, 1], sum 1), the
simplex-bumps objective, N stored observations (uniform random feasible
points) for N = 20, 100, 500, 2000, and batches of q = 1 and q = 8. For each
(N, q) both strategies are timed on the same history in the same run; the
median of `--repeats` calls is printed (each call includes the model fit, as in
a real campaign).

    .venv/bin/python -m tests.benchmarks.latency [--sizes 20 100 500 2000] [--batches 1 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from loop.engine import CampaignEngine
from loop.spec import validate
from tests.benchmarks.common import observed_trials

COMPONENTS = ["C1", "C2", "C3", "C4", "C5", "C6"]


def campaign(engine: str, q: int) -> dict:
    return {
        "schema_version": 1,
        "name": "latency",
        "space": {"composition": {"kind": "species", "components": COMPONENTS}},
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {"engine": engine, "batch_size": q, "initial_design": {"size": 10}},
        "budget": {"experiments": 100_000},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
        "seed": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500, 2000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="botorch,ax")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    engines = args.engines.split(",")
    rows = []
    print(
        f"{'N':>5} {'q':>2} " + " ".join(f"{e + ' s':>10}" for e in engines) + "  ratio"
    )
    for n_obs in args.sizes:
        history = observed_trials(validate(campaign("botorch", 1)), n_obs, seed=1)
        for q in args.batches:
            row: dict = {"n": n_obs, "q": q}
            for engine in engines:
                spec = validate(campaign(engine, q))
                times = []
                for r in range(args.repeats):
                    model = CampaignEngine(spec)
                    model.tell(history)
                    started = time.perf_counter()
                    model.ask(q, iteration=1000 + r)
                    times.append(time.perf_counter() - started)
                row[engine] = statistics.median(times)
            rows.append(row)
            ratio = (
                f"{row['ax'] / row['botorch']:.1f}x"
                if {"ax", "botorch"} <= set(row)
                else ""
            )
            cells = " ".join(f"{row[e]:10.2f}" for e in engines)
            print(f"{n_obs:>5} {q:>2} {cells}  {ratio}", flush=True)
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
