"""Benchmark: does learning from a related system find good materials sooner?

Two pool replays of the shared datasets (issue 14), each run three ways on the
same target pool, seeds and initial rows:

- `transfer`: botorch with `strategy.transfer` naming the source table;
- `cold`: the same botorch campaign without it;
- `random`: random search.

Pairs: OER catalyst plate 3496 -> plate 3860 (Fe, Co, Mn shared; Ni, Ce, La
only in the source, Sn, Ta, Cu only in the target; element descriptors relate
them), and multi-principal-element alloys (Borg et al. 2020, 30 elements and
several processing routes) -> as-cast AlCoCrCuFeNi alloys (Wen et al. 2019).
Both campaigns of a pair use element descriptors, so the arms differ only in the
sources.

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.benchmarks.transfer \\
        --data-root ../shared/datasets --seeds 10 -o transfer.json

Prints a Markdown table per pair: top-5 % found at the budget, measurements to
the first top-5 % candidate (mean, a run that found none counted as budget + 1),
measurements until the mean found-fraction curve reaches the cold start's final
value, and measurements to the pool's best.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from loop.bench import metrics
from loop.bench.replay import prepare, replay, result
from loop.spec import validate
from tests.benchmarks.common import ROOT

BENCH = ROOT / "campaigns" / "benchmarks"


def _campaign(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((BENCH / f"{name}.yaml").read_text())
    return data


def _source(name: str) -> dict[str, Any]:
    """The `strategy.transfer.data` entry reading campaign *name*'s table."""
    data = _campaign(name)
    columns = dict(data["adapter"]["columns"])
    components = data["space"]["composition"]["components"]
    entry: dict[str, Any] = {
        "path": data["adapter"]["path"],
        "components": components,
        "columns": {c: columns[c] for c in components if c in columns},
    }
    return entry


def pairs() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name -> (cold campaign, transfer campaign)."""
    oer = _campaign("oer-plate-3860")
    oer["space"]["composition"].pop("kind")  # element campaign: descriptors known
    oer["strategy"]["surrogate"] = {"features": ["fractions", "element_descriptors"]}
    hea = _campaign("hea-hardness")
    out = {}
    for name, cold, source in (
        ("oer 3496 -> 3860", oer, _source("oer-plate-3496")),
        ("mpea -> hea", hea, _source("mpea-hardness")),
    ):
        warm = json.loads(json.dumps(cold))
        warm["strategy"]["transfer"] = {"data": [source]}
        out[name] = (cold, warm)
    return out


def first_hits(runs: list[dict[str, Any]], budget: int) -> list[int]:
    """Per run, the measurement that first found a top-5 % candidate (budget + 1: none)."""
    hits = []
    for run in runs:
        found = [i for i, f in enumerate(run["top5_found"]) if f > 0]
        hits.append(found[0] + 1 if found else budget + 1)
    return hits


def to_reach(runs: list[dict[str, Any]], budget: int, level: float) -> int | None:
    """Measurements until the mean top-5 % found curve reaches *level*."""
    curves = metrics.carried([r["top5_found"] for r in runs], budget, empty=0.0)
    mean, _ = metrics.mean_and_band(curves)
    reached = [i for i, v in enumerate(mean) if v >= level - 1e-12]
    return reached[0] + 1 if reached else None


def run_pair(cold: dict[str, Any], warm: dict[str, Any], seeds: int) -> dict[str, Any]:
    plan = prepare(validate(cold, cold["name"]))
    plan_warm = prepare(validate(warm, warm["name"]))

    def progress(done: int, total: int, text: str) -> None:
        print(f"  {done}/{total} {text}", flush=True)

    started = time.perf_counter()
    base = replay(plan, ["botorch", "random"], seeds, progress)
    warmed = replay(plan_warm, ["botorch"], seeds, progress)
    runs = {
        "transfer": warmed["runs"]["botorch"],
        "cold": base["runs"]["botorch"],
        "random": base["runs"]["random"],
    }
    out = result(plan, runs, seeds)
    out["seconds"] = round(time.perf_counter() - started, 1)
    budget = plan.budget
    cold_final = statistics.mean((r["top5_found"] or [0.0])[-1] for r in runs["cold"])
    for arm, arm_runs in runs.items():
        hits = first_hits(arm_runs, budget)
        out["summary"][arm]["first_top5"] = {
            "mean": statistics.mean(hits),
            "median": statistics.median(hits),
            "none": sum(h > budget for h in hits),
        }
        out["summary"][arm]["to_cold_final"] = to_reach(arm_runs, budget, cold_final)
    out["cold_final_top5"] = cold_final
    return out


def markdown(name: str, out: dict[str, Any]) -> str:
    lines = [
        f"#### {name}",
        "",
        f"Pool {out['pool_size']} candidates, budget {out['budget']}, {out['seeds']} "
        f"seeds, top 5 % = {out['top5_size']} candidates; {out['seconds']} s.",
        "",
        "| arm | top-5 % found | first top-5 % (mean, median) | runs with none "
        "| to the cold start's final top-5 % | found the best | to best (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, s in out["summary"].items():
        first = s["first_top5"]
        reach = s["to_cold_final"]
        lines.append(
            f"| {arm} | {s['top5_found']['mean']:.2f} ± {s['top5_found']['sd']:.2f} "
            f"| {first['mean']:.1f}, {first['median']:g} | {first['none']} "
            f"| {reach if reach is not None else '-'} | {s['found_best']} "
            f"| {s['to_best_median'] if s['to_best_median'] is not None else '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--pairs", default="", help="comma-separated pair names")
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    if args.data_root is not None:
        os.environ["LOOP_DATA_ROOT"] = str(args.data_root.resolve())
    wanted = [p for p in args.pairs.split(",") if p]
    results = {}
    for name, (cold, warm) in pairs().items():
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"{name}:", flush=True)
        results[name] = run_pair(cold, warm, args.seeds)
        print(markdown(name, results[name]), flush=True)
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
