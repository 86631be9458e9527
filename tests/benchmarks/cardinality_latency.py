"""Benchmark: proposal time for a 12-component composition with max_components 4.

The campaign has 12 elements, at most 4 non-zero (794 possible supports), a
0.01 dosing grid and batches of 8. For N = 50 and 200 stored observations
(uniform random feasible points scored by the simplex-bumps function) the script
times one `ask(8)` of the native strategy, and of the `ax` strategy on the
nearest problem Ax can express (the same simplex without cardinality and grid,
which loop repairs afterwards), in the same run.

    .venv/bin/python -m tests.benchmarks.cardinality_latency [--sizes 50 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from loop.engine import CampaignEngine
from loop.spec import validate
from tests.benchmarks.common import observed_trials

ELEMENTS = ["Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au", "Fe", "Co", "Cr", "Mn", "Ti"]


def campaign(engine: str, cardinality: bool) -> dict:
    composition: dict = {"components": ELEMENTS, "bounds": {"default": [0.0, 0.7]}}
    if cardinality:
        composition |= {"max_components": 4, "resolution": 0.01}
    return {
        "schema_version": 1,
        "name": "card12",
        "space": {"composition": composition},
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {"engine": engine, "batch_size": 8, "initial_design": {"size": 10}},
        "budget": {"experiments": 1000},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
        "seed": 0,
    }


def time_ask(data: dict, n_obs: int, repeats: int) -> tuple[float, list]:
    spec = validate(data)
    history = observed_trials(spec, n_obs, seed=1)
    times, batch = [], []
    for r in range(repeats):
        engine = CampaignEngine(spec)
        engine.tell(history)
        started = time.perf_counter()
        batch = engine.ask(8, iteration=100 + r)
        times.append(time.perf_counter() - started)
    return statistics.median(times), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="botorch,ax")
    args = parser.parse_args()
    print("median seconds for one batch of 8 proposals")
    print(f"{'N':>5} {'engine':8} {'problem':34} {'seconds':>8}  non-zero per proposal")
    for n_obs in args.sizes:
        for engine in args.engines.split(","):
            exact = engine != "ax"
            problem = (
                "12 comps, k<=4, 0.01 grid"
                if exact
                else "12 comps (no k, no grid; repaired)"
            )
            seconds, batch = time_ask(campaign(engine, exact), n_obs, args.repeats)
            sizes = [sum(v > 0 for v in p.composition.values()) for p in batch]
            print(
                f"{n_obs:>5} {engine:8} {problem:34} {seconds:8.2f}  {sizes}",
                flush=True,
            )


if __name__ == "__main__":
    main()
