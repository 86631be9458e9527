"""Benchmark: proposal time against torch/BLAS threads, alone and beside a busy process.

The 6-component simplex campaign of `latency.py` with N stored observations;
the time of a cold `CampaignEngine.ask(1)` (a fresh engine told the N
observations and asked once, the model fit included), for each thread count of
`--threads`. Thread settings belong to a process, so every (N, threads) setting
runs in a fresh Python process, given its count through `LOOP_THREADS`
(`OMP_NUM_THREADS` and `MKL_NUM_THREADS` removed) and applied by
`loop.threads.ensure_threads`, as every loop entry point does. That process
first makes one untimed ask on 20 observations (imports and first-call costs),
then times `--repeats` cold asks and reports their median. With `--competitor`
each setting is timed twice: alone, and with one competing CPU-bound process
(`python -c "while True: pass"`) started before each timed ask and killed after
it, as when another job shares the machine.

    .venv/bin/python -m tests.benchmarks.threads --sizes 20 500 2000 --threads 1 2 \\
        --competitor [--repeats 3] [-o FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks.common import ROOT

#: Seconds a competitor spins before the timed ask starts.
COMPETITOR_WARMUP = 0.5
#: Observations of the untimed first ask of each process.
WARMUP_OBSERVATIONS = 20
THREAD_VARIABLES = ("LOOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    # a SIGTERM (a killed benchmark) must still run the `finally` that stops a
    # competitor, or the busy process outlives the benchmark and skews what follows
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 500, 2000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--competitor",
        action="store_true",
        help="also time each setting beside one competing CPU-bound process",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path)
    # internal: one (N, threads) setting, run by the parent in a fresh process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--with-competitor", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.sizes[0], args.repeats, args.with_competitor)
        return
    settings = [False, True] if args.competitor else [False]
    from loop.threads import DEFAULT_THREADS

    print(
        f"{os.cpu_count()} cores; cold ask(1), median of {args.repeats}; "
        f"default threads {DEFAULT_THREADS}"
    )
    print(
        f"{'N':>5} {'threads':>7} "
        + " ".join(f"{'busy' if c else 'alone':>9}" for c in settings)
    )
    rows = []
    for n_obs in args.sizes:
        for threads in args.threads:
            row: dict[str, Any] = {"n": n_obs, "threads": threads}
            for competing in settings:
                result = run_setting(n_obs, threads, args.repeats, competing)
                row["busy" if competing else "alone"] = result
            rows.append(row)
            cells = " ".join(
                f"{row['busy' if c else 'alone']['median']:9.2f}" for c in settings
            )
            print(f"{n_obs:>5} {threads:>7} {cells}", flush=True)
    print(verdict(rows, settings, DEFAULT_THREADS))
    if args.output:
        document = {
            "benchmark": "threads",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "default_threads": DEFAULT_THREADS,
            "repeats": args.repeats,
            "rows": rows,
        }
        args.output.write_text(json.dumps(document, indent=1) + "\n")


def run_setting(n_obs: int, threads: int, repeats: int, competing: bool) -> dict:
    """Time one setting in a fresh process; its seconds, median and threads in effect."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["LOOP_THREADS"] = str(threads)
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.threads",
        "--child",
        "--sizes",
        str(n_obs),
        "--repeats",
        str(repeats),
    ]
    if competing:
        command.append("--with-competitor")
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"setting N={n_obs} threads={threads} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(n_obs: int, repeats: int, competing: bool) -> None:
    """One setting: untimed warm-up ask, then *repeats* timed cold asks (JSON out)."""
    from loop.engine import CampaignEngine
    from loop.spec import validate
    from loop.threads import ensure_threads, thread_info
    from tests.benchmarks.common import observed_trials
    from tests.benchmarks.latency import campaign

    ensure_threads()
    spec = validate(campaign("botorch", 1))
    history = observed_trials(spec, n_obs, seed=1)
    warmup = CampaignEngine(spec)
    warmup.tell(history[:WARMUP_OBSERVATIONS])
    warmup.ask(1, iteration=999)
    seconds = []
    for r in range(repeats):
        engine = CampaignEngine(spec)
        engine.tell(history)
        with competitor(competing):
            started = time.perf_counter()
            engine.ask(1, iteration=1000 + r)
            seconds.append(time.perf_counter() - started)
    info = thread_info()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "median": statistics.median(seconds),
                "torch_threads": info["threads"],
                "source": info["source"],
                "pools": info["pools"],
            }
        )
    )


@contextmanager
def competitor(enabled: bool) -> Iterator[None]:
    """One busy CPU-bound process for the duration of the block (if *enabled*)."""
    if not enabled:
        yield
        return
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(COMPETITOR_WARMUP)
        yield
    finally:
        busy.kill()
        busy.wait()


def verdict(rows: list[dict], settings: list[bool], default: int) -> str:
    """For each N and setting: the default's time against the best thread count."""
    lines = []
    for n_obs in sorted({r["n"] for r in rows}):
        mine = [r for r in rows if r["n"] == n_obs]
        ours = next((r for r in mine if r["threads"] == default), None)
        if ours is None:
            continue
        for c in settings:
            key = "busy" if c else "alone"
            best = min(mine, key=lambda r: r[key]["median"])
            ratio = ours[key]["median"] / best[key]["median"]
            lines.append(
                f"N={n_obs} {key}: default ({default}) {ours[key]['median']:.2f} s, "
                f"best ({best['threads']}) {best[key]['median']:.2f} s, {ratio:.2f}x"
            )
    return "\n".join(lines)


def _commit() -> str | None:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or None


if __name__ == "__main__":
    main()
