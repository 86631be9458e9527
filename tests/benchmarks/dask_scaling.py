"""Benchmark: a campaign's simulator evaluations on a Dask LocalCluster vs in the driver.

The EMT alloy campaign (campaigns/alloy-emt.yaml: each evaluation relaxes
nothing but computes a random fcc solid solution's mixing energy with ASE's
EMT) with `--budget` evaluations proposed in batches of `--batch` by the
`random` strategy, so the wall clock is dominated by evaluations. The same
campaign runs twice in the same process, in separate SQLite files: once with
the default executor (one evaluation at a time in the driver), once with
`executor: {type: dask, workers: N}`. Both runs must store identical trials
and values, which the script checks.

    .venv/bin/python -m tests.benchmarks.dask_scaling [--budget 200] [--batch 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store
from tests.benchmarks.common import ROOT


def run(executor: dict | None, budget: int, batch: int, workdir: Path) -> tuple:
    data = yaml.safe_load((ROOT / "campaigns" / "alloy-emt.yaml").read_text())
    data["strategy"] = {"engine": "random", "batch_size": batch}
    data["budget"] = {"experiments": budget}
    if executor:
        data["executor"] = executor
    spec = validate(data)
    label = executor["type"] if executor else "inline"
    store = Store(f"sqlite:///{workdir / label}.db")
    ensure_campaign(store, spec)
    started = time.perf_counter()
    summary = run_campaign(store, spec.name)
    seconds = time.perf_counter() - started
    assert summary.finished
    outcome = [
        (t.id, tuple(sorted(t.composition.items())), tuple(sorted(t.values.items())))
        for t in store.trials(spec.name)
    ]
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inline, a = run(None, args.budget, args.batch, Path(tmp))
        dask, b = run(
            {"type": "dask", "workers": args.workers},
            args.budget,
            args.batch,
            Path(tmp),
        )
    assert a == b, "the Dask run stored different trials or values"
    print(
        f"| evaluations | batch | in the driver (s) | Dask LocalCluster, "
        f"{args.workers} workers (s) | speed-up |"
    )
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.budget} | {args.batch} | {inline:.1f} | {dask:.1f} | "
        f"{inline / dask:.2f}× |"
    )
    print("identical trials and values in both runs: yes")


if __name__ == "__main__":
    main()
