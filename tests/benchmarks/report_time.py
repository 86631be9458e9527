"""Benchmark: how long `loop report` takes on a campaign of N trials.

Runs a campaign file to N trials through the real driver into its own SQLite
file (not timed), then times `loop report` in a fresh process, as a user runs
it: once as it is (the GP hyperparameters stored with the last model round are
reused) and once with the stored fits removed from a copy of the database (one
fit to every measurement, as for a campaign without model rounds).

    .venv/bin/python -m tests.benchmarks.report_time --campaign campaigns/electrolyte.yaml \\
        --trials 100 [--repeats 3] [-o FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store
from loop.threads import thread_info
from tests.benchmarks.common import ROOT, environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--campaign", type=Path, default=ROOT / "campaigns/electrolyte.yaml"
    )
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    data = yaml.safe_load(args.campaign.read_text())
    data["budget"]["experiments"] = args.trials
    spec = validate(data)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "campaign.db"
        store = Store(f"sqlite:///{db}")
        ensure_campaign(store, spec)
        started = time.perf_counter()
        run_campaign(store, spec.name)
        print(
            f"ran {spec.name} to {args.trials} trials in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        store.engine.dispose()
        bare = Path(tmp) / "without-fits.db"
        shutil.copyfile(db, bare)
        with sqlite3.connect(bare) as conn:
            conn.execute("DELETE FROM model_fit")
        result = {
            "campaign": str(args.campaign.resolve().relative_to(ROOT)),
            "trials": args.trials,
            "stored_fit": _time(spec.name, db, Path(tmp), args.repeats),
            "without_stored_fit": _time(spec.name, bare, Path(tmp), args.repeats),
            **environment(thread_info()),
        }
    print(
        f"loop report, {args.trials} trials: {statistics.median(result['stored_fit']):.1f} s "
        f"reusing the stored fit, {statistics.median(result['without_stored_fit']):.1f} s "
        "fitting once (median of the repeats, whole command in a fresh process)"
    )
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")


def _time(name: str, db: Path, tmp: Path, repeats: int) -> list[float]:
    seconds = []
    for r in range(repeats):
        out = tmp / f"report-{db.stem}-{r}.html"
        started = time.perf_counter()
        subprocess.run(
            [
                str(ROOT / ".venv/bin/loop"),
                "report",
                name,
                "--db",
                f"sqlite:///{db}",
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
            env={**os.environ},
        )
        seconds.append(round(time.perf_counter() - started, 2))
    return seconds


if __name__ == "__main__":
    main()
