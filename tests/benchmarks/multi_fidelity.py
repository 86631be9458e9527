"""Benchmark: does a cheap fidelity find the target's best for less cost?

One campaign with `fidelities:` is run three ways, with the same seeds and the
same cost budget (issue 17):

- `multi-fidelity`: the campaign as written (botorch; each proposal at the
  level with the most information about the target per unit cost);
- `target only`: the same botorch campaign with only the target's adapter,
  every evaluation costing the target's cost;
- `random`: random configurations at the target.

Problems:

- `bumps`: `campaigns/multi-fidelity-bumps.yaml`, an analytic landscape on a
  four-component simplex; the screen (cost 1) is the target (cost 10) with its
  main bump moved and a linear trend added.
- `alloy`: `campaigns/multi-fidelity-alloy.yaml`, the mixing energy of
  Cu-Ni-Pd-Pt-Au solid solutions, EMT (cost 1) before CHGNet (cost 20; local
  jobs, each about 10 s of a core).

Each evaluation goes through the real adapters (`adapters/fidelity` over the
simulator and the DFT adapter) and the real engine; the driver's storage is
left out, as it costs no evaluation. Recorded after every evaluation: the cost
spent and the best target value measured so far.

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.benchmarks.multi_fidelity \\
        --problem bumps --seeds 5 -o mf-bumps.json

Prints a Markdown table: the mean best target value at a quarter, half,
three quarters and all of the cost budget, and the cost at which each arm's
mean curve first reaches the target-only arm's final mean best (the goal: at
most half of the budget for multi-fidelity).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from loop.engine import CampaignEngine
from loop.records import Trial
from loop.spec import CampaignSpec, validate
from loop.spec.fidelity import FIDELITY
from tests.benchmarks.common import ROOT
from tests.support import simulated_trials

PROBLEMS = {
    "bumps": ROOT / "campaigns" / "multi-fidelity-bumps.yaml",
    "alloy": ROOT / "campaigns" / "multi-fidelity-alloy.yaml",
}
ARMS = ("multi-fidelity", "target only", "random")


def arm_spec(data: dict[str, Any], arm: str, seed: int) -> CampaignSpec:
    """The campaign of *arm* with *seed*: as written, or at the target alone."""
    out = {**data, "seed": seed, "budget": {"experiments": 10_000}}
    if arm != "multi-fidelity":
        out = {k: v for k, v in out.items() if k != "fidelities"}
        out["adapter"] = data["fidelities"][-1]["adapter"]
        if arm == "random":
            out["strategy"] = {**data.get("strategy", {}), "engine": "random"}
    return validate(out)


def run_arm(
    data: dict[str, Any], arm: str, seed: int, budget: float
) -> list[tuple[float, float | None]]:
    """(cost spent, best target value so far) after each evaluation."""
    spec = arm_spec(data, arm, seed)
    # each run its own DFT job directories (`work_dir` is relative): the arms
    # share a campaign name and trial numbers
    os.chdir(tempfile.mkdtemp(prefix=f"mf-{arm.replace(' ', '-')}-{seed}-"))
    goal = spec.goals[0]
    target_cost = data["fidelities"][-1]["cost"]
    engine = CampaignEngine(spec)
    trials: list[Trial] = []
    curve: list[tuple[float, float | None]] = []
    spent, best, iteration = 0.0, None, 0
    while spent < budget:
        proposals = engine.ask(spec.strategy.batch_size, iteration)
        if not proposals:
            break
        configs = [
            SimpleNamespace(composition=p.composition, parameters=p.parameters)
            for p in proposals
        ]
        for t in simulated_trials(spec, configs, start=len(trials) + 1):
            trials.append(t)
            at_target = (
                arm != "multi-fidelity"
                or t.parameters[FIDELITY] == spec.target_fidelity
            )
            spent += (
                t.measurement.metadata["cost"]
                if arm == "multi-fidelity" and t.measurement is not None
                else target_cost
            )
            if at_target and t.measurement is not None:
                value = t.values[goal.name]
                if best is None or goal.sign * value > goal.sign * best:
                    best = value
            curve.append((spent, best))
        engine.tell(trials)
        iteration += 1
    return curve


def best_at(curve: list[tuple[float, float | None]], cost: float) -> float | None:
    """The best value once *cost* was spent (the last point at or below it)."""
    found = None
    for spent, best in curve:
        if spent > cost + 1e-9:
            break
        found = best
    return found


def summarise(
    runs: dict[str, list[list[tuple[float, float | None]]]], budget: float, sign: float
) -> dict[str, Any]:
    """Mean best at fractions of the budget, and the cost to reach the
    target-only arm's final mean best."""
    grid = [budget * k / 40 for k in range(1, 41)]

    def mean_curve(arm: str) -> list[float | None]:
        out: list[float | None] = []
        for c in grid:
            values = [best_at(r, c) for r in runs[arm]]
            out.append(
                statistics.mean(values) if all(v is not None for v in values) else None
            )  # type: ignore[arg-type]
        return out

    curves = {arm: mean_curve(arm) for arm in runs}
    final = curves["target only"][-1]
    summary: dict[str, Any] = {"budget": budget, "target_only_final": final, "arms": {}}
    for arm, curve in curves.items():
        reach = next(
            (
                c
                for c, v in zip(grid, curve, strict=True)
                if v is not None and final is not None and sign * v >= sign * final
            ),
            None,
        )
        summary["arms"][arm] = {
            "mean_best": {f"{k / 4:g}": curve[10 * k - 1] for k in (1, 2, 3, 4)},
            "cost_to_target_only_final": reach,
            "evaluations": statistics.mean(len(r) for r in runs[arm]),
        }
    return summary


def table(problem: str, summary: dict[str, Any]) -> str:
    budget = summary["budget"]
    lines = [
        f"**{problem}** (cost budget {budget:g}; target-only final mean best "
        f"{summary['target_only_final']:.4g})",
        "",
        "| arm | evaluations | best at 1/4 | at 1/2 | at 3/4 | at budget | cost to reach target-only's final |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, s in summary["arms"].items():
        cells = [("-" if v is None else f"{v:.4g}") for v in s["mean_best"].values()]
        reach = s["cost_to_target_only_final"]
        reach_text = (
            "not reached" if reach is None else f"{reach:g} ({reach / budget:.0%})"
        )
        lines.append(
            f"| {arm} | {s['evaluations']:.1f} | {' | '.join(cells)} | {reach_text} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="bumps")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--cost", type=float, default=None, help="cost budget (default: the campaign's)"
    )
    parser.add_argument("-o", "--out", type=Path, default=None)
    args = parser.parse_args()
    data = yaml.safe_load(PROBLEMS[args.problem].read_text())
    out = args.out.resolve() if args.out else None
    budget = args.cost or float(data["budget"]["cost"])
    sign = validate(data).goals[0].sign
    runs: dict[str, list[list[tuple[float, float | None]]]] = {arm: [] for arm in ARMS}
    started = time.time()
    for seed in range(args.seeds):
        for arm in ARMS:
            t0 = time.time()
            curve = run_arm(data, arm, seed, budget)
            runs[arm].append(curve)
            final = curve[-1][1] if curve else None
            print(
                f"seed {seed} {arm}: {len(curve)} evaluations, best {final}, "
                f"{time.time() - t0:.0f} s",
                flush=True,
            )
        if out:  # after every seed, so a long run stopped early keeps what it has
            _write(out, args.problem, seed + 1, summarise(runs, budget, sign), runs)
    summary = summarise(runs, budget, sign)
    print(table(args.problem, summary))
    print(
        f"({time.time() - started:.0f} s; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})"
    )


def _write(
    out: Path,
    problem: str,
    seeds: int,
    summary: dict[str, Any],
    runs: dict[str, list[list[tuple[float, float | None]]]],
) -> None:
    out.write_text(
        json.dumps(
            {
                "problem": problem,
                "seeds": seeds,
                "date": time.strftime("%Y-%m-%d"),
                "summary": summary,
                "runs": {
                    arm: [[list(p) for p in r] for r in rs] for arm, rs in runs.items()
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
