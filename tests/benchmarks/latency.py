"""Benchmark: proposal latency of loop's strategy, Ax and plain BoTorch, side by side.

Three cases (`--cases`, default all), every engine on the same history in the
same run, each timed call including the engine's own model fit:

- `simplex`: a 6-component simplex composition (each fraction in [0, 1], sum 1),
  the simplex-bumps objective, N stored observations (uniform random feasible
  points) for N in `--sizes` and batches of q in `--batches`. Engines
  (`--engines`): `botorch` (loop's native strategy), `ax` (loop's Ax strategy)
  and `reference`, plain BoTorch as a BoTorch user writes it: SingleTaskGP
  (default kernel, `Standardize(m=1)`, no input transform: the fractions are
  already in [0, 1]) fitted with `fit_gpytorch_mll`, qLogNoisyExpectedImprovement
  (observed points as pruned baseline) and `optimize_acqf` with the sum as an
  equality constraint, 10 restarts, 512 raw samples, the q points optimised
  jointly. The median of `--repeats` calls is printed, in two settings:

  - cold: a fresh engine is told N observations and asked once (a first
    proposal, or `loop resume` after a restart);
  - warm: one engine per strategy, as the driver keeps it during a campaign: it
    is told N - k*q observations and asked once (not timed), then k times told
    q more and asked (timed), ending at N observations; k = `--repeats`, fewer
    when N - k*q would fall below the initial design size of 10 (N = 20, q = 8:
    k = 1). This is the latency a running campaign sees at each iteration.

  The reference builds a fresh model at every call, as a plain BoTorch user
  refits from scratch: its warm figure is its cold figure (not timed again).
- `categorical`: the same simplex plus three categorical parameters of 5 values
  each; N in `--sizes` up to 500, q in `--batches`, botorch and ax, cold only.
- `electrolyte`: campaigns/electrolyte-mixed.yaml (5 solvents, at most 4, 1 %
  grid, a temperature, a 3-value salt, two objectives and a viscosity limit,
  batches of 2) run with loop's engine from its initial design to
  `--campaign-n` measurements (simulator adapter), one engine kept across
  rounds as the driver keeps it; every `ask(2)` is timed, and the Ax strategy
  is asked on the same trials at the same point in every `--ax-every`-th model
  round. The first model round (a cold fit) is reported apart from the later ones.

`--max-n ENGINE=N` (repeatable) skips an engine above N observations: its cells
print "—" and are null in the JSON. Before any timed call each engine makes one
untimed small proposal (imports and first-call costs). Progress lines go to
stderr as each cell finishes; `-o FILE` writes every figure with the date,
commit, threads and platform. Run with one torch thread (loop's default;
`OMP_NUM_THREADS=1`).

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.benchmarks.latency --cases simplex \\
        --sizes 20 100 500 2000 10000 --batches 1 8 --repeats 3 \\
        --max-n ax=2000 --max-n reference=2000 -o latency.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from loop.spec import validate
from tests.benchmarks.common import environment, observed_trials
from tests.benchmarks.latency_cases import (
    CASES,
    CATEGORICAL_MAX_N,
    ENGINES,
    allowed,
    campaign,
    categorical_campaign,
    electrolyte_summary,
    goals,
    parse_max_n,
    run_electrolyte,
    time_cold,
    time_reference,
    time_warm,
    training_data,
    warm_asks,
    warm_up,
)

__all__ = ["campaign", "main"]

DASH = "—"
REFERENCE_NOTE = (
    "reference: plain BoTorch, a fresh SingleTaskGP and fit at every call; "
    "its warm figure is its cold figure (a plain user refits from scratch)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500, 2000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--max-n",
        action="append",
        default=[],
        metavar="ENGINE=N",
        help="skip ENGINE above N observations (repeatable), e.g. ax=2000",
    )
    parser.add_argument(
        "--campaign-n",
        type=int,
        default=50,
        help="electrolyte: measurements to run the campaign to",
    )
    parser.add_argument(
        "--ax-every",
        type=int,
        default=1,
        help="electrolyte: time ax in every k-th model round only",
    )
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    cases = [c for c in args.cases.split(",") if c]
    for name, given, valid in (("engine", engines, ENGINES), ("case", cases, CASES)):
        if unknown := [g for g in given if g not in valid]:
            parser.error(
                f"unknown {name} {', '.join(unknown)}; valid: {', '.join(valid)}"
            )
    try:
        limits = parse_max_n(args.max_n)
    except ValueError as exc:
        parser.error(str(exc))
    if args.ax_every < 1 or args.campaign_n < 1 or args.repeats < 1:
        parser.error("--ax-every, --campaign-n and --repeats must be at least 1")

    from loop.threads import ensure_threads, thread_info

    ensure_threads()  # the same thread setting for every engine, reference included
    progress = Progress()
    document: dict[str, Any] = {
        "benchmark": "latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment(thread_info()),
        "argv": sys.argv[1:],
        "repeats": args.repeats,
        "max_n": limits,
        "notes": {"reference_warm": REFERENCE_NOTE},
    }
    print(
        f"torch threads {document['torch_threads']}; commit {document['commit']}; "
        f"median seconds per ask of {args.repeats}, model fit included"
    )
    spent = warm_up([e for e in engines if e != "reference" or "simplex" in cases])
    document["warmup_seconds"] = spent
    progress(
        "warm-up (untimed): " + ", ".join(f"{e} {t:.1f} s" for e, t in spent.items())
    )

    def save() -> None:  # after every row: a long run that stops keeps what it measured
        document["goals"] = goals(document)
        if args.output:
            args.output.write_text(json.dumps(document, indent=1) + "\n")

    if "simplex" in cases:
        document["simplex"] = {"rows": []}
        simplex_case(args, engines, limits, progress, document["simplex"]["rows"], save)
    if "categorical" in cases:
        document["categorical"] = {"rows": []}
        rows = document["categorical"]["rows"]
        categorical_case(args, engines, limits, progress, rows, save)
    if "electrolyte" in cases:
        document["electrolyte"] = electrolyte_case(args, engines, progress)
    save()
    print("\ngoals of issue 12 (one thread)")
    for g in document["goals"]:
        value = DASH if g["value"] is None else f"{g['value']:.2f} {g['unit']}"
        verdict = {None: "not measured", True: "met", False: "NOT met"}[g["met"]]
        print(f"  {g['goal']}: {value} (at most {g['limit']} {g['unit']}): {verdict}")


class Progress:
    """Progress lines on stderr with the time since the start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, text: str) -> None:
        elapsed = int(time.perf_counter() - self.started)
        stamp = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        print(f"[{stamp}] {text}", file=sys.stderr, flush=True)


def measure(
    row: dict[str, Any],
    key: str,
    run: Callable[[], list[float]] | None,
    progress: Progress,
    label: str,
) -> None:
    """Fill row[key] (median) and row["seconds"][key] (every call); null if *run* is None."""
    if run is None:
        row[key] = None
        row["seconds"][key] = None
        progress(f"{label} {key}: skipped (--max-n)")
        return
    times = run()
    row[key] = statistics.median(times)
    row["seconds"][key] = times
    progress(
        f"{label} {key}: {row[key]:.2f} s ({', '.join(f'{t:.2f}' for t in times)})"
    )


def cell(value: float | None, width: int = 9) -> str:
    return f"{DASH:>{width}}" if value is None else f"{value:{width}.2f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{DASH:>6}" if a is None or b is None else f"{a / b:5.2f}x"


def simplex_case(
    args: argparse.Namespace,
    engines: list[str],
    limits: dict[str, int],
    progress: Progress,
    rows: list[dict[str, Any]],
    save: Callable[[], None],
) -> None:
    loop_engines = [e for e in engines if e != "reference"]
    keys = [f"{e}_{m}" for m in ("cold", "warm") for e in loop_engines]
    if "reference" in engines:
        keys.append("reference_cold")
    both = {"botorch", "ax"} <= set(engines)
    with_ref = {"botorch", "reference"} <= set(engines)
    print("\nsimplex: 6 components, simplex-bumps; botorch = loop's strategy")
    if "reference" in engines:
        print(f"  {REFERENCE_NOTE}")
    header = f"{'N':>6} {'q':>2} " + " ".join(
        f"{k.replace('reference', 'ref').replace('_', ' '):>12}" for k in keys
    )
    if with_ref:
        header += "  loop/ref cold, warm"
    if both:
        header += "  ax/loop cold, warm"
    print(header, flush=True)
    for n_obs in args.sizes:
        spec1 = validate(campaign("botorch", 1))
        started = time.perf_counter()
        history = observed_trials(spec1, n_obs, seed=1)
        progress(f"simplex N={n_obs}: history in {time.perf_counter() - started:.1f} s")
        train: tuple[np.ndarray, np.ndarray] | None = None
        for q in args.batches:
            row: dict[str, Any] = {"n": n_obs, "q": q, "seconds": {}}
            row["warm_asks"] = warm_asks(n_obs, q, args.repeats)
            label = f"simplex N={n_obs} q={q}"
            for engine in loop_engines:
                spec = validate(campaign(engine, q))
                ok = allowed(limits, engine, n_obs)
                for mode, timer in (("cold", time_cold), ("warm", time_warm)):
                    run = partial(timer, spec, history, q, args.repeats) if ok else None
                    measure(row, f"{engine}_{mode}", run, progress, label)
            if "reference" in engines:
                run = None
                if allowed(limits, "reference", n_obs):
                    train = train or training_data(spec1, history)
                    run = partial(time_reference, *train, q, args.repeats)
                measure(row, "reference_cold", run, progress, label)
                row["reference_warm"] = row["reference_cold"]
            rows.append(row)
            line = f"{n_obs:>6} {q:>2} " + " ".join(cell(row[k], 12) for k in keys)
            if with_ref:
                line += "  " + ratio(row["botorch_cold"], row["reference_cold"])
                line += " " + ratio(row["botorch_warm"], row["reference_cold"])
                line += " " * 6
            if both:
                line += "  " + ratio(row["ax_cold"], row["botorch_cold"])
                line += " " + ratio(row["ax_warm"], row["botorch_warm"])
            print(line, flush=True)
            save()


def categorical_case(
    args: argparse.Namespace,
    engines: list[str],
    limits: dict[str, int],
    progress: Progress,
    rows: list[dict[str, Any]],
    save: Callable[[], None],
) -> None:
    mine = [e for e in engines if e in ("botorch", "ax")]
    sizes = [n for n in args.sizes if n <= CATEGORICAL_MAX_N]
    print(
        "\ncategorical: 6 components + 3 categoricals of 5 values, simplex-bumps; "
        f"cold; N <= {CATEGORICAL_MAX_N}"
    )
    print(
        f"{'N':>6} {'q':>2} "
        + " ".join(f"{e + ' cold':>12}" for e in mine)
        + ("  ax/loop" if len(mine) == 2 else ""),
        flush=True,
    )
    for n_obs in sizes:
        started = time.perf_counter()
        history = observed_trials(
            validate(categorical_campaign("botorch", 1)), n_obs, seed=1
        )
        progress(
            f"categorical N={n_obs}: history in {time.perf_counter() - started:.1f} s"
        )
        for q in args.batches:
            row: dict[str, Any] = {"n": n_obs, "q": q, "seconds": {}}
            for engine in mine:
                spec = validate(categorical_campaign(engine, q))
                run = None
                if allowed(limits, engine, n_obs):
                    run = partial(time_cold, spec, history, q, args.repeats)
                measure(
                    row, f"{engine}_cold", run, progress, f"categorical N={n_obs} q={q}"
                )
            rows.append(row)
            line = f"{n_obs:>6} {q:>2} " + " ".join(
                cell(row[f"{e}_cold"], 12) for e in mine
            )
            if len(mine) == 2:
                line += "  " + ratio(row["ax_cold"], row["botorch_cold"])
            print(line, flush=True)
            save()


def electrolyte_case(
    args: argparse.Namespace, engines: list[str], progress: Progress
) -> dict[str, Any]:
    mine = [e for e in engines if e in ("botorch", "ax")]
    print(
        "\nelectrolyte: campaigns/electrolyte-mixed.yaml from its initial "
        f"design to N = {args.campaign_n}, ask(2) per round, one engine kept across rounds"
        + (
            f"; ax timed every {args.ax_every} model rounds"
            if args.ax_every > 1
            else ""
        )
    )
    rounds = run_electrolyte(args.campaign_n, mine, args.ax_every, progress)
    summary = electrolyte_summary(rounds)
    print(
        f"{summary['design_rounds']} design rounds (max {cell(summary['design_max'], 0)} s), "
        f"{summary['model_rounds']} model rounds"
    )
    first = summary["first_model"]
    if first is not None:
        print(f"{'':24} " + " ".join(f"{e:>9}" for e in mine))
        print(
            f"{'first model round, N=' + str(first['n']):24} "
            + " ".join(cell(first[e]) for e in mine)
        )
        for stat in ("median", "max"):
            later = summary["later"]
            print(
                f"{'later rounds, ' + stat:24} "
                + " ".join(cell(later[e][stat] if later.get(e) else None) for e in mine)
            )
        counts = ", ".join(
            f"{e} {summary['later'][e]['rounds'] if summary['later'].get(e) else 0}"
            for e in mine
        )
        print(f"(later rounds timed: {counts})", flush=True)
    return {
        "campaign_n": args.campaign_n,
        "ax_every": args.ax_every,
        "rounds": rounds,
        "summary": summary,
    }


if __name__ == "__main__":
    main()
