"""Benchmark: DFT job slots refilled as each job ends vs synchronous batches.

The EMT example campaign (campaigns/dft-emt-cu-ni-pd.yaml: botorch, batches of
2, two job slots) with `--budget` trials, where every job first sleeps 1-4 s
(by trial id: 2, 3, 4, 1, 2, ... s) to stand in for jobs of unequal length.
The same campaign runs three ways, each in its own work directory and SQLite
file, with the elemental references computed beforehand:

* `batches`: the driver before refilling (the adapter's `max_in_flight`
  hidden), two workers of a Dask LocalCluster: a batch of 2 is proposed, both
  jobs run, the next batch waits for the slower one;
* `refill, Dask`: the same cluster, the next trial proposed as each job ends;
* `refill, threads`: the default executor, the driver's own threads.

Reported: wall-clock seconds to the budget, and slot use, the jobs' summed
time between submission and end over (2 x the span from the first submission
to the last end), read from each job's own state history.

    .venv/bin/python -m tests.benchmarks.dft_refill [--budget 12] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from adapters.dft import DFTAdapter
from adapters.dft.jobs import backend
from adapters.dft.references import References
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store
from tests.benchmarks.common import ROOT

#: Sleep 1-4 s by trial id (the job runs in .../trial-NNNNN/attempt-K), then compute.
UNEQUAL = (
    'sleep $(( 10#$(basename "$(dirname "$PWD")" | tr -dc 0-9) % 4 + 1 )); '
    "$python -m adapters.dft.run_local ."
)


@contextmanager
def synchronous_batches() -> Any:
    """The driver as it was before refilling: the adapter declares no in-flight cap."""
    saved = DFTAdapter.max_in_flight
    DFTAdapter.max_in_flight = None  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        DFTAdapter.max_in_flight = saved  # type: ignore[method-assign]


def run(label: str, executor: dict | None, budget: int, tmp: Path) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "campaigns" / "dft-emt-cu-ni-pd.yaml").read_text())
    work = tmp / label.replace(" ", "-").replace(",", "")
    data["budget"] = {"experiments": budget}
    data["adapter"]["work_dir"] = str(work)
    data.pop("executor", None)
    # the references first, with the plain command (no sleep), outside the timing
    plain = validate(data).adapter_config()
    References(plain, work, backend("local")).ensure(["Cu", "Ni", "Pd"])
    data["adapter"]["slurm"] = {"command": UNEQUAL}
    if executor:
        data["executor"] = executor
    spec = validate(data)
    store = Store(f"sqlite:///{work}.db")
    ensure_campaign(store, spec)
    started = time.perf_counter()
    if label == "batches":
        with synchronous_batches():
            summary = run_campaign(store, spec.name)
    else:
        summary = run_campaign(store, spec.name)
    seconds = time.perf_counter() - started
    assert summary.finished and summary.completed == budget, summary
    spans = []
    for path in (work / spec.name).glob("trial-*/attempt-*/job.json"):
        history = dict(json.loads(path.read_text())["history"])
        spans.append((history["submitted"], history["completed"]))
    busy = sum(end - start for start, end in spans)
    span = max(end for _, end in spans) - min(start for start, _ in spans)
    return {
        "mode": label,
        "seconds": round(seconds, 1),
        "slot_use": round(busy / (2 * span), 3),
        "proposals": len({t.iteration for t in store.trials(spec.name)}),
        "best": summary.best.values["mixing_energy"] if summary.best else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dask = {"type": "dask", "workers": 2}
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            run("batches", dask, args.budget, Path(tmp)),
            run("refill, Dask", dask, args.budget, Path(tmp)),
            run("refill, threads", None, args.budget, Path(tmp)),
        ]
    print("| mode | wall (s) | slot use | proposal rounds | best mixing energy |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['seconds']} | {r['slot_use']:.0%} | "
            f"{r['proposals']} | {r['best']:.6g} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"budget": args.budget, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
