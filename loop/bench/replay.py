"""Replay one dataset campaign with several strategies over several seeds.

Every (strategy, seed) run goes through the real driver into its own SQLite
file in a temporary folder, so a benchmark exercises exactly what a campaign
does. For a given seed every strategy starts from the same initial rows (the
engine draws them with the campaign seed), as the protocol requires.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loop.bench import metrics
from loop.errors import BadInputError
from loop.plugins import adapter_class
from loop.records import Trial, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, validate
from loop.storage import Store

#: Called after each run with (runs done, runs in all, a one-line description).
Progress = Callable[[int, int, str], None]


def replay(
    spec: CampaignSpec,
    strategies: list[str],
    seeds: int,
    budget: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every strategy on every seed; return traces and a summary (JSON-ready)."""
    pool_values, signed = _pool(spec)
    goal = spec.goals[0]
    n = budget or spec.budget.experiments
    if n > len(signed):
        raise BadInputError(
            f"the budget of {n} exceeds the pool of {len(signed)} candidates",
            f"use --budget {len(signed)} or less",
        )
    top1, top5 = metrics.top_set(signed, 0.01), metrics.top_set(signed, 0.05)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
    total, done = seeds * len(strategies), 0
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        for seed in range(seeds):
            for strategy in strategies:
                trials = _run(spec, strategy, seed, n, Path(tmp))
                rows = [
                    int(t.measurement.metadata["row"]) for t in trials if t.measurement
                ]
                run = _describe_run(seed, trials, rows, signed, goal.sign, top1, top5)
                runs[strategy].append(run)
                done += 1
                if progress:
                    best = run["best_so_far"][-1]
                    progress(done, total, f"{strategy} seed {seed}: best {best:.6g}")
    return {
        "campaign": spec.name,
        "objective": goal.model_dump(mode="json"),
        "pool_size": len(signed),
        "pool_best": max(signed) * goal.sign,
        "budget": n,
        "seeds": seeds,
        "top1_size": len(top1),
        "top5_size": len(top5),
        "summary": {s: _summary(r, len(signed), n) for s, r in runs.items()},
        "runs": runs,
    }


def _pool(spec: CampaignSpec) -> tuple[list[dict[str, float]], list[float]]:
    adapter = adapter_class(spec.adapter["type"])(spec.adapter_config(), spec)
    if not hasattr(adapter, "pool_values"):
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
    values = adapter.pool_values()
    return values, [goal.sign * v[goal.name] for v in values]


def _run(
    spec: CampaignSpec, strategy: str, seed: int, budget: int, tmp: Path
) -> list[Trial]:
    data = spec.model_dump(mode="json")
    data["seed"] = seed
    data["strategy"] = {**data["strategy"], "engine": strategy}
    data["budget"] = {"experiments": budget}
    variant = validate(data, f"{spec.name} ({strategy}, seed {seed})")
    store = Store(f"sqlite:///{tmp / f'{strategy}-{seed}.db'}")
    ensure_campaign(store, variant)
    run_campaign(store, variant.name)
    return [t for t in store.trials(variant.name) if t.status is TrialStatus.COMPLETED]


def _describe_run(
    seed: int,
    trials: list[Trial],
    rows: list[int],
    signed: list[float],
    sign: float,
    top1: set[int],
    top5: set[int],
) -> dict[str, Any]:
    per_batch: dict[int, float] = {}
    for t in trials:
        seconds = t.provenance.get("propose_seconds")
        if seconds is not None and t.phase != "initial":
            per_batch[t.iteration] = float(seconds)
    return {
        "seed": seed,
        "rows": rows,
        "best_so_far": [sign * v for v in metrics.best_so_far(signed, rows)],
        "top1_found": metrics.found_curve(rows, top1),
        "top5_found": metrics.found_curve(rows, top5),
        "to_best": metrics.measurements_to_best(signed, rows),
        "propose_seconds": list(per_batch.values()),
    }


def _summary(runs: list[dict[str, Any]], pool_size: int, budget: int) -> dict[str, Any]:
    top5 = [r["top5_found"][-1] for r in runs]
    top1 = [r["top1_found"][-1] for r in runs]
    mean5, _ = metrics.mean_and_band([r["top5_found"] for r in runs])
    to_best = [r["to_best"] for r in runs]
    latencies = [s for r in runs for s in r["propose_seconds"]]
    found = [n for n in to_best if n is not None]
    return {
        "top1_found": _mean_sd(top1),
        "top5_found": _mean_sd(top5),
        "ef_top5": metrics.enhancement_factor(statistics.mean(top5), budget, pool_size),
        "af_top5": metrics.acceleration_factor(list(mean5), pool_size),
        "best": _mean_sd([r["best_so_far"][-1] for r in runs]),
        "found_best": f"{len(found)}/{len(runs)}",
        "to_best_median": statistics.median(found) if found else None,
        "propose_seconds_median": statistics.median(latencies) if latencies else None,
    }


def _mean_sd(values: list[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.mean(values), "sd": sd}
