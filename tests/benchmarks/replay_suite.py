"""The whole replay suite, resumable: every benchmark campaign, every strategy
and seed, one run at a time, each kept on disk as it ends (issue 18).

Issue 18's table (≥ 16 datasets x botorch, ax, baybe, random x 10 seeds) is
many hours of two cores; Ax alone took about 7 h on al-alloys. A session ends
wherever it is, so this runner keeps every finished run as
`OUT/<campaign>/<strategy>-<seed>.json` and skips it when started again: stop
it at any moment and run the same command to go on. When a campaign has
every run, its merged result (`loop bench -o`'s format) is written as
`OUT/<campaign>.json`. Campaigns run cheapest first (pool size x budget).

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.benchmarks.replay_suite \\
        --data-root ../shared/datasets --strategies botorch,ax,baybe,random \\
        --seeds 10 --out suite

    # tables and issue 18's goals from what is finished, running nothing:
    .venv/bin/python -m tests.benchmarks.replay_suite --out suite --report

The report prints one overview row per finished campaign, then, over the
finished campaigns that ran botorch and its peers, the three goals of issue 18
(and then each campaign's own table, `loop.bench.tables`): botorch's top-5 % found at least
the best peer's on 75 % of the datasets; its mean enhancement factor at least
1.25 times each peer's; never below random. Where the results keep their
runs, the ratio and every gap below random come with a 90 % interval over the
seeds (`loop.bench.metrics.stratified_bootstrap`): how far the draw of seeds
alone could move them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from loop.bench.metrics import enhancement_factor, stratified_bootstrap
from loop.bench.replay import (
    GAP_LEVEL,
    Plan,
    found_gap,
    paired_found,
    prepare,
    result,
    run_one,
)
from loop.bench.tables import markdown
from loop.spec import load_path
from tests.benchmarks.common import ROOT

CAMPAIGNS = ROOT / "campaigns" / "benchmarks"
#: Issue 18: botorch at least the best peer's top-5 % on this share of datasets.
SHARE_AT_LEAST_PEERS = 0.75
#: Issue 18: botorch's mean enhancement factor over each peer's.
EF_RATIO = 1.25


def plans(campaigns: Path, only: set[str] | None) -> list[tuple[str, Plan]]:
    """Every campaign of *campaigns* (or those named in *only*), cheapest first."""
    out = []
    for path in sorted(campaigns.glob("*.yaml")):
        if only and path.stem not in only:
            continue
        plan = prepare(load_path(path))
        out.append((path.stem, plan))
    return sorted(out, key=lambda p: len(p[1].signed) * p[1].budget)


def run_path(out: Path, name: str, strategy: str, seed: int) -> Path:
    return out / name / f"{strategy}-{seed}.json"


def write_atomically(path: Path, data: Any) -> None:
    """*data* as JSON at *path*, whole or not at all (a stop mid-write leaves
    no half file for the next start to trust)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_text(json.dumps(data))
    os.replace(part, path)


def run_suite(
    campaigns: Path,
    out: Path,
    strategies: list[str],
    seeds: int,
    only: set[str] | None = None,
    log: Any = print,
) -> list[Path]:
    """Run what is missing; returns the merged result files of the campaigns
    that have every run."""
    merged = []
    for name, plan in plans(campaigns, only):
        for seed in range(seeds):
            for strategy in strategies:
                path = run_path(out, name, strategy, seed)
                if path.exists():
                    continue
                started = time.monotonic()
                run = run_one(plan, strategy, seed)
                write_atomically(path, run)
                log(
                    f"{name} {strategy} seed {seed}: "
                    f"{len(run.get('rows', []))} measured, "
                    f"{time.monotonic() - started:.0f} s"
                )
        runs = {
            s: [
                json.loads(run_path(out, name, s, seed).read_text())
                for seed in range(seeds)
            ]
            for s in strategies
        }
        path = out / f"{name}.json"
        write_atomically(path, result(plan, runs, seeds))
        merged.append(path)
    return merged


def goals(results: list[dict[str, Any]]) -> list[str]:
    """Issue 18's three goals over *results* (merged result documents), as
    lines that say which are met and on which datasets they are not."""
    lines = []
    with_botorch = [r for r in results if "botorch" in r["summary"]]
    peers = sorted(
        {s for r in with_botorch for s in r["summary"]} - {"botorch", "random"}
    )

    def top5(r: dict[str, Any], s: str) -> float:
        return float(r["summary"][s]["top5_found"]["mean"])

    compared = [r for r in with_botorch if any(p in r["summary"] for p in peers)]
    if compared:
        behind = [
            r["campaign"]
            for r in compared
            if top5(r, "botorch")
            < max(top5(r, p) for p in peers if p in r["summary"]) - 1e-12
        ]
        share = 1 - len(behind) / len(compared)
        met = "met" if share >= SHARE_AT_LEAST_PEERS else "NOT met"
        lines.append(
            f"top-5 % found at least the best peer's: {share:.0%} of "
            f"{len(compared)} datasets (goal {SHARE_AT_LEAST_PEERS:.0%}): {met}"
            + (f"; behind on {', '.join(behind)}" if behind else "")
        )
    for peer in peers:
        both = [r for r in with_botorch if peer in r["summary"]]
        if not both:
            continue
        ours = statistics.mean(r["summary"]["botorch"]["ef_top5"] for r in both)
        theirs = statistics.mean(r["summary"][peer]["ef_top5"] for r in both)
        ratio = ours / theirs if theirs else float("inf")
        met = "met" if ratio >= EF_RATIO else "NOT met"
        lines.append(
            f"mean enhancement factor, botorch {ours:.2f} vs {peer} {theirs:.2f} "
            f"over {len(both)} datasets: {ratio:.2f}x (goal {EF_RATIO}x): {met}"
            + _ratio_interval(both, peer)
        )
    against = [r for r in with_botorch if "random" in r["summary"]]
    if against:
        below = [
            r["campaign"]
            for r in against
            if top5(r, "botorch") < top5(r, "random") - 1e-12
        ]
        met = "met" if not below else "NOT met"
        lines.append(
            f"never below random (top-5 % found) on {len(against)} datasets: {met}"
            + (f"; below on {', '.join(below)}" if below else "")
        )
        for r in against:
            if r["campaign"] in below and (gap := _gap_interval(r)):
                lines.append(f"{r['campaign']}: {gap}")
    return lines


def _ratio_interval(results: list[dict[str, Any]], peer: str) -> str:
    """'; 90% interval over the seeds ...' for botorch's mean EF over *peer*'s,
    or nothing when a result does not keep its runs."""
    groups = []
    for r in results:
        runs = r.get("runs", {})
        pairs = paired_found(runs.get("botorch", []), runs.get(peer, []))
        if pairs is None:
            return ""
        groups.append(enhancement_factor(pairs, r["budget"], r["pool_size"]))

    def ratio(gs: list[np.ndarray]) -> float:
        theirs = sum(g[:, 1].mean() for g in gs)
        return float(sum(g[:, 0].mean() for g in gs) / theirs) if theirs else np.inf

    low, high = stratified_bootstrap(groups, ratio, GAP_LEVEL)
    return f"; {GAP_LEVEL:.0%} interval over the seeds {low:.2f}x to {high:.2f}x"


def _gap_interval(r: dict[str, Any]) -> str:
    """botorch's top-5 % found minus random's, paired by seed, with its interval."""
    runs = r.get("runs", {})
    gap = found_gap(runs.get("botorch", []), runs.get("random", []))
    if gap is None:
        return ""
    return (
        f"botorch minus random {gap['mean']:+.3f} over {gap['seeds']} seeds, "
        f"{GAP_LEVEL:.0%} interval {gap['low']:+.3f} to {gap['high']:+.3f}"
    )


def overview(results: list[dict[str, Any]]) -> str:
    """One row per campaign: pool, budget, and each strategy's top-5 % found
    (mean ± sd over seeds) and enhancement factor."""
    strategies: list[str] = []
    for r in results:
        strategies += [s for s in r["summary"] if s not in strategies]
    head = "| campaign | pool | budget | " + " | ".join(
        f"{s} top-5 % (EF)" for s in strategies
    )
    lines = [head + " |", "|---|---:|---:|" + "---:|" * len(strategies)]
    for r in sorted(results, key=lambda r: r["campaign"]):
        cells = []
        for s in strategies:
            got = r["summary"].get(s)
            if got is None:
                cells.append("-")
                continue
            top5 = got["top5_found"]
            cells.append(
                f"{top5['mean']:.2f} ± {top5['sd']:.2f} ({got['ef_top5']:.2f})"
            )
        lines.append(
            f"| {r['campaign']} | {r['pool_size']} | {r['budget']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def report(out: Path) -> str:
    """One overview table, the goals, then every merged result's own table."""
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    parts = [overview(results), "\n".join(f"- {line}" for line in goals(results))]
    parts += [markdown(r) for r in results]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=Path, default=CAMPAIGNS)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--strategies", default="botorch,ax,baybe,random")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated campaign names")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--report", action="store_true", help="print tables and goals, run nothing"
    )
    args = parser.parse_args()
    if args.data_root is not None:
        os.environ["LOOP_DATA_ROOT"] = str(args.data_root.resolve())
    if not args.report:
        only = {s for s in args.only.split(",") if s} or None
        strategies = [s for s in args.strategies.split(",") if s]
        run_suite(args.campaigns, args.out, strategies, args.seeds, only)
    print(report(args.out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
