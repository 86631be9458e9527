"""Replay one dataset campaign with several strategies over several seeds.

`prepare` reads the pool and checks the campaign and the budget, before
anything is shown running; `replay` then runs every (strategy, seed) through
the real driver into its own SQLite file in a temporary folder, so a benchmark
exercises exactly what a campaign does. For a given seed every strategy starts
from the same initial rows (the engine draws them with the campaign seed), as
the protocol requires. A run whose measurements failed has fewer measured rows
than its budget, possibly none: its curves stop where its measurements stop.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loop.bench import metrics
from loop.errors import BadInputError
from loop.plugins import adapter_class
from loop.ports import PoolAdapter
from loop.records import Trial, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, validate
from loop.storage import Store
from loop.strategies import check_strategy

#: Called after each run with (runs done, runs in all, a one-line description).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Plan:
    """A checked benchmark: the campaign, its pool's signed values, the budget."""

    spec: CampaignSpec
    #: The goal's pool values with its sign applied (larger is better).
    signed: list[float]
    budget: int
    #: How the adapter built the pool: rows, candidates, rows dropped by reason.
    pool_report: dict[str, Any] = field(default_factory=dict)

    @property
    def top1(self) -> set[int]:
        return metrics.top_set(self.signed, 0.01)

    @property
    def top5(self) -> set[int]:
        return metrics.top_set(self.signed, 0.05)

    def pool_lines(self) -> list[str]:
        """The pool's size, then one `N rows dropped: reason` line per reason."""
        report = self.pool_report
        if not report:
            return []
        dropped = report.get("dropped", {})
        head = f"pool: {report['candidates']} candidates from {report['rows']} rows"
        lines = [head + ("" if dropped else "; no row dropped")]
        for why, n in dropped.items():
            lines.append(f"  {n} row{'' if n == 1 else 's'} dropped: {why}")
        return lines


def prepare(spec: CampaignSpec, budget: int | None = None) -> Plan:
    """Read the pool and check that *spec* can be benchmarked with this budget."""
    adapter = adapter_class(spec.adapter["type"])(spec.adapter_config(), spec)
    if not isinstance(adapter, PoolAdapter):
        raise BadInputError(
            "loop bench replays dataset campaigns (adapter type dataset)",
            "point the campaign's adapter at a table: `adapter: {type: dataset, path: ...}`",
        )
    if len(spec.goals) != 1:
        raise BadInputError(
            "loop bench compares strategies on one objective",
            "keep one objective with role: objective (others may be constraints)",
        )
    goal = spec.goals[0]
    signed = [goal.sign * v[goal.name] for v in adapter.pool_values()]
    n = budget or spec.budget.experiments
    if n > len(signed):
        raise BadInputError(
            f"the budget of {n} exceeds the pool of {len(signed)} candidates",
            f"use --budget {len(signed)} or less",
        )
    return Plan(spec, signed, n, adapter.pool_report())


def replay(
    plan: Plan,
    strategies: list[str],
    seeds: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every strategy on every seed; return traces and a summary (JSON-ready).

    Every strategy is checked first (`check_strategy`), so a missing optional
    peer stops the benchmark before its first run.
    """
    for strategy in strategies:
        check_strategy(strategy, plan.spec, pooled=True)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
    total, done = seeds * len(strategies), 0
    for seed in range(seeds):
        for strategy in strategies:
            run = run_one(plan, strategy, seed)
            runs[strategy].append(run)
            done += 1
            if progress:
                progress(done, total, f"{strategy} seed {seed}: {_best_text(run)}")
    return result(plan, runs, seeds)


def run_one(plan: Plan, strategy: str, seed: int) -> dict[str, Any]:
    """One run of *strategy* on *seed* (its own SQLite file, then removed),
    described as `describe_run` does: the unit a long suite keeps on disk
    (`tests/benchmarks/replay_suite.py`)."""
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        trials = _run(plan.spec, strategy, seed, plan.budget, Path(tmp))
    return describe_run(plan, seed, trials)


def result(
    plan: Plan, runs: dict[str, list[dict[str, Any]]], seeds: int
) -> dict[str, Any]:
    """The JSON-ready result of *runs* (strategy -> one `describe_run` per seed)."""
    goal = plan.spec.goals[0]
    pool = len(plan.signed)
    return {
        "campaign": plan.spec.name,
        "objective": goal.model_dump(mode="json"),
        "pool_size": pool,
        "pool_rows": plan.pool_report.get("rows"),
        "dropped": plan.pool_report.get("dropped", {}),
        "pool_best": max(plan.signed) * goal.sign,
        "budget": plan.budget,
        "seeds": seeds,
        "top1_size": len(plan.top1),
        "top5_size": len(plan.top5),
        "summary": {
            s: {**_summary(r, pool, plan.budget), **_against_random(s, runs)}
            for s, r in runs.items()
        },
        "runs": runs,
    }


#: The share of the seeds' resamples that a gap's interval covers.
GAP_LEVEL = 0.90
#: Fewer common seeds than this give no interval: resampling three or four
#: seeds makes one far narrower than the truth.
GAP_MIN_SEEDS = 5


def paired_found(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> np.ndarray | None:
    """Per seed both ran (rows), the top-5 % found by each (columns), or None
    under `GAP_MIN_SEEDS` common seeds. Both started each seed from the same
    initial rows."""
    a = {r["seed"]: final_found(r["top5_found"]) for r in ours}
    b = {r["seed"]: final_found(r["top5_found"]) for r in theirs}
    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < GAP_MIN_SEEDS:
        return None
    return np.array([[a[seed], b[seed]] for seed in seeds])


def found_gap(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> dict[str, float] | None:
    """How much more of the top 5 % *ours* found than *theirs*, seed for seed,
    with a `GAP_LEVEL` interval over the seeds (None under `GAP_MIN_SEEDS`)."""
    pairs = paired_found(ours, theirs)
    if pairs is None:
        return None
    low, high = metrics.stratified_bootstrap(
        [pairs], lambda gs: float((gs[0][:, 0] - gs[0][:, 1]).mean()), GAP_LEVEL
    )
    gap = float((pairs[:, 0] - pairs[:, 1]).mean())
    return {"mean": gap, "low": low, "high": high, "seeds": len(pairs)}


def _against_random(
    strategy: str, runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """`top5_vs_random`: the strategy's gap to random search, when both ran."""
    if strategy == "random" or "random" not in runs:
        return {}
    gap = found_gap(runs[strategy], runs["random"])
    return {} if gap is None else {"top5_vs_random": gap}


def _run(
    spec: CampaignSpec, strategy: str, seed: int, budget: int, tmp: Path
) -> list[Trial]:
    data = spec.model_dump(mode="json")
    data["seed"] = seed
    data["strategy"] = {**data["strategy"], "engine": strategy}
    data["budget"] = {"experiments": budget}
    variant = validate(data, f"{spec.name} ({strategy}, seed {seed})")
    store = Store(f"sqlite:///{tmp / f'{strategy}-{seed}.db'}")
    try:
        ensure_campaign(store, variant)
        run_campaign(store, variant.name)
        return store.trials(variant.name)
    finally:
        store.engine.dispose()


def describe_run(plan: Plan, seed: int, trials: list[Trial]) -> dict[str, Any]:
    """One run's measured rows in order, and its curves (empty if nothing was measured)."""
    rows = [
        int(t.measurement.metadata["row"])
        for t in trials
        if t.status is TrialStatus.COMPLETED and t.measurement is not None
    ]
    sign = plan.spec.goals[0].sign
    per_batch: dict[int, float] = {}
    for t in trials:
        seconds = t.provenance.get("propose_seconds")
        if seconds is not None and t.phase != "initial":
            per_batch[t.iteration] = float(seconds)
    return {
        "seed": seed,
        "rows": rows,
        "failed": sum(1 for t in trials if t.status is TrialStatus.FAILED),
        "best_so_far": [sign * v for v in metrics.best_so_far(plan.signed, rows)],
        "top1_found": metrics.found_curve(rows, plan.top1),
        "top5_found": metrics.found_curve(rows, plan.top5),
        "to_best": metrics.measurements_to_best(plan.signed, rows),
        "propose_seconds": list(per_batch.values()),
    }


def _best_text(run: dict[str, Any]) -> str:
    if not run["best_so_far"]:
        return f"nothing measured ({run['failed']} failed)"
    return f"best {run['best_so_far'][-1]:.6g}"


def _summary(runs: list[dict[str, Any]], pool_size: int, budget: int) -> dict[str, Any]:
    top5 = [final_found(r["top5_found"]) for r in runs]
    top1 = [final_found(r["top1_found"]) for r in runs]
    mean5, _ = metrics.mean_and_band(
        metrics.carried([r["top5_found"] for r in runs], budget, empty=0.0)
    )
    bests = [r["best_so_far"][-1] for r in runs if r["best_so_far"]]
    to_best = [r["to_best"] for r in runs]
    latencies = [s for r in runs for s in r["propose_seconds"]]
    found = [n for n in to_best if n is not None]
    return {
        "top1_found": _mean_sd(top1),
        "top5_found": _mean_sd(top5),
        "ef_top5": metrics.enhancement_factor(statistics.mean(top5), budget, pool_size),
        "af_top5": metrics.acceleration_factor(list(mean5), pool_size),
        "best": _mean_sd(bests) if bests else None,
        "failed": sum(r["failed"] for r in runs),
        "found_best": f"{len(found)}/{len(runs)}",
        "to_best_median": statistics.median(found) if found else None,
        "propose_seconds_median": statistics.median(latencies) if latencies else None,
    }


def final_found(curve: list[float]) -> float:
    """The last value of a found-fraction curve; a run that measured nothing found nothing."""
    return curve[-1] if curve else 0.0


def _mean_sd(values: list[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.mean(values), "sd": sd}
