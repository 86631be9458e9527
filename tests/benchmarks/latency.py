"""Benchmark: proposal latency of the native strategy and of Ax, side by side.

A 6-component simplex composition (each fraction in [0, 1], sum 1), the
simplex-bumps objective, N stored observations (uniform random feasible
points) for N = 20, 100, 500, 2000, and batches of q = 1 and q = 8. For each
(N, q) both strategies are timed on the same history in the same run; the
median of `--repeats` calls is printed (each call includes the model fit, as in
a real campaign), in two settings:

- cold: a fresh engine is told N observations and asked once (a first
  proposal, or `loop resume` after a restart);
- warm: one engine per strategy, as the driver keeps it during a campaign: it
  is told N - R*q observations and asked once (not timed), then for each of the
  R repeats told q more and asked (timed), ending at N observations. This is the
  latency a running campaign sees at each iteration.

    .venv/bin/python -m tests.benchmarks.latency [--sizes 20 100 500 2000] [--batches 1 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

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
        f"{'N':>5} {'q':>2} "
        + " ".join(f"{e + ' ' + m:>10}" for m in ("cold", "warm") for e in engines)
        + "  ax/botorch cold, warm"
    )
    for n_obs in args.sizes:
        history = observed_trials(validate(campaign("botorch", 1)), n_obs, seed=1)
        for q in args.batches:
            row: dict = {"n": n_obs, "q": q}
            for engine in engines:
                spec = validate(campaign(engine, q))
                row[f"{engine}_cold"] = _cold(spec, history, q, args.repeats)
                row[f"{engine}_warm"] = _warm(spec, history, q, args.repeats)
            rows.append(row)
            cells = " ".join(
                f"{row[f'{e}_{mode}']:10.2f}"
                for mode in ("cold", "warm")
                for e in engines
            )
            ratios = "  ".join(
                f"{row[f'ax_{mode}'] / row[f'botorch_{mode}']:.1f}x"
                for mode in ("cold", "warm")
                if {"ax", "botorch"} <= set(engines)
            )
            print(f"{n_obs:>5} {q:>2} {cells}  {ratios}", flush=True)
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))


def _cold(spec: Any, history: list, q: int, repeats: int) -> float:
    times = []
    for r in range(repeats):
        engine = CampaignEngine(spec)
        engine.tell(history)
        started = time.perf_counter()
        engine.ask(q, iteration=1000 + r)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _warm(spec: Any, history: list, q: int, repeats: int) -> float:
    engine = CampaignEngine(spec)
    start = len(history) - repeats * q
    engine.tell(history[:start])
    engine.ask(q, iteration=999)
    times = []
    for r in range(repeats):
        engine.tell(history[: start + (r + 1) * q])
        started = time.perf_counter()
        engine.ask(q, iteration=1000 + r)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
