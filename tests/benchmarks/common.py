"""Shared pieces of the benchmark scripts: run a campaign variant through the real driver."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from loop.records import Trial
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store

ROOT = Path(__file__).resolve().parents[2]


def run_variant(
    data: dict[str, Any], engine: str, seed: int, workdir: Path
) -> tuple[list[Trial], float]:
    """Run *data* with `strategy.engine` = *engine* and *seed* in its own SQLite file.

    Returns every stored trial and the wall-clock seconds the run took.
    """
    spec = validate(
        {
            **data,
            "seed": seed,
            "strategy": {**data.get("strategy", {}), "engine": engine},
        }
    )
    store = Store(f"sqlite:///{workdir / f'{spec.name}-{engine}-{seed}.db'}")
    ensure_campaign(store, spec)
    started = time.perf_counter()
    summary = run_campaign(store, spec.name)
    seconds = time.perf_counter() - started
    assert summary.finished, f"{engine} seed {seed} stopped before its budget"
    return store.trials(spec.name), seconds


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4g} ± {sd:.2g}"


def observed_trials(spec: Any, n: int, seed: int) -> list[Trial]:
    """*n* uniform random feasible trials of *spec*, measured by its simulator."""
    from types import SimpleNamespace

    from loop.engine import CampaignEngine
    from loop.space.design import uniform_samples
    from tests.support import simulated_trials

    engine = CampaignEngine(spec)
    rows = uniform_samples(engine.encoder, engine.feasibility, n, seed)
    configs = []
    for x in rows:
        composition, parameters = engine.encoder.decode(x)
        configs.append(SimpleNamespace(composition=composition, parameters=parameters))
    return simulated_trials(spec, configs)
