"""Shared pieces of the benchmark scripts: run a campaign variant through the real driver."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from loop.records import Trial
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, validate
from loop.storage import Store

ROOT = Path(__file__).resolve().parents[2]


def variant(
    data: dict[str, Any], engine: str, seed: int, workdir: Path
) -> tuple[CampaignSpec, Store]:
    """*data* with `strategy.engine` = *engine* and *seed*, and its own SQLite
    file in *workdir* (the same file for the same variant)."""
    spec = validate(
        {
            **data,
            "seed": seed,
            "strategy": {**data.get("strategy", {}), "engine": engine},
        }
    )
    return spec, Store(f"sqlite:///{workdir / f'{spec.name}-{engine}-{seed}.db'}")


def run_variant(
    data: dict[str, Any], engine: str, seed: int, workdir: Path
) -> tuple[list[Trial], float]:
    """Run *data* with `strategy.engine` = *engine* and *seed* in its own SQLite file.

    Returns every stored trial and the wall-clock seconds the run took.
    """
    spec, store = variant(data, engine, seed, workdir)
    ensure_campaign(store, spec)
    started = time.perf_counter()
    summary = run_campaign(store, spec.name)
    seconds = time.perf_counter() - started
    assert summary.finished, f"{engine} seed {seed} stopped before its budget"
    return store.trials(spec.name), seconds


def acquisition_option(parser: Any) -> None:
    """`--acquisition NAME`: botorch with that function instead of its default,
    so a default change can be measured against the old one in one run."""
    parser.add_argument(
        "--acquisition", default=None, help="botorch's, e.g. qLogNEI (default: its own)"
    )


def with_acquisition(data: dict[str, Any], name: str | None) -> dict[str, Any]:
    """*data* (a campaign's YAML as a dict) with `strategy.acquisition` set to *name*."""
    if name:
        data["strategy"] = {**data.get("strategy", {}), "acquisition": name}
    return data


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4g} ± {sd:.2g}"


def observed_trials(spec: Any, n: int, seed: int) -> list[Trial]:
    """*n* uniform random feasible trials of *spec*, measured by its simulator.

    Linear in *n*: about 3 s per 1000 points on one thread for the 6-component
    simplex (BoTorch's hit-and-run sampler takes most of it), so ~30 s at 10 000.
    """
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


def environment(threads: dict[str, Any]) -> dict[str, Any]:
    """Commit, threads (*threads*: `loop.threads.thread_info()`), platform and
    package versions, for a benchmark's JSON."""

    def git(*command: str) -> str:
        out = subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    versions: dict[str, str | None] = {}
    for package in ("torch", "gpytorch", "botorch", "ax-platform"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        # uncommitted changes to the engine make the commit an incomplete record
        "engine_changes_uncommitted": bool(
            git("status", "--porcelain", "--", "loop", "adapters")
        ),
        "torch_threads": threads["threads"],
        "thread_source": threads["source"],
        "thread_pools": threads["pools"],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }
