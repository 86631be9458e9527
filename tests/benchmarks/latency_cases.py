"""The cases and engines of `tests/benchmarks/latency.py` (its docstring says what is timed).

Engines: `botorch` and `ax` are loop's strategies, asked through `CampaignEngine`;
`reference` is plain BoTorch written as a BoTorch user would (`reference_propose`).
Cases: `simplex` (6 components, simplex-bumps), `categorical` (the same simplex
with three 5-value categorical parameters) and `electrolyte` (the campaign file
campaigns/electrolyte-mixed.yaml run from its initial design).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import yaml

from loop.engine import CampaignEngine
from loop.records import Trial
from loop.spec import CampaignSpec, validate
from tests.benchmarks.common import ROOT, observed_trials

COMPONENTS = ["C1", "C2", "C3", "C4", "C5", "C6"]
ENGINES = ("botorch", "ax", "reference")
CASES = ("simplex", "electrolyte", "categorical")
#: Largest N of the categorical case, whatever `--sizes` says.
CATEGORICAL_MAX_N = 500
#: Stored observations below which the simplex campaigns would still propose
#: initial-design points (their `initial_design.size`).
INITIAL_SIZE = 10
ELECTROLYTE = ROOT / "campaigns" / "electrolyte-mixed.yaml"
#: plain BoTorch's optimiser effort, as stated in issue 12.
REFERENCE_RESTARTS = 10
REFERENCE_RAW_SAMPLES = 512


# ------------------------------------------------------------------ campaigns
def campaign(engine: str, q: int) -> dict:
    """The 6-component simplex campaign (sum 1, each fraction in [0, 1])."""
    return {
        "schema_version": 1,
        "name": "latency",
        "space": {"composition": {"kind": "species", "components": COMPONENTS}},
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {
            "engine": engine,
            "batch_size": q,
            "initial_design": {"size": INITIAL_SIZE},
        },
        "budget": {"experiments": 100_000},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
        "seed": 0,
    }


def categorical_campaign(engine: str, q: int) -> dict:
    """The simplex campaign plus three categorical parameters of 5 values each."""
    data = campaign(engine, q)
    data["name"] = "latency-categorical"
    data["space"]["parameters"] = [
        {"name": f"cat_{c}", "type": "categorical", "values": list("abcde")}
        for c in "xyz"
    ]
    return data


def electrolyte_campaign(engine: str, n_total: int) -> dict:
    """campaigns/electrolyte-mixed.yaml with *engine* and room for *n_total* trials."""
    data = yaml.safe_load(ELECTROLYTE.read_text(encoding="utf-8"))
    data["strategy"] = {**data["strategy"], "engine": engine}
    budget = data.get("budget", {})
    data["budget"] = {
        **budget,
        "experiments": max(n_total, budget.get("experiments", 0)),
    }
    return data


# ------------------------------------------------------------------ options
def parse_max_n(items: list[str], engines: tuple[str, ...] = ENGINES) -> dict[str, int]:
    """`["ax=2000", "reference=2000"]` -> {"ax": 2000, "reference": 2000}.

    Comma-separated items in one string are accepted too. A ValueError names
    the item that is not `ENGINE=N` with a known engine and a whole N >= 1.
    """
    limits: dict[str, int] = {}
    for item in (part for raw in items for part in raw.split(",") if part.strip()):
        engine, sep, value = item.strip().partition("=")
        if not sep or engine not in engines:
            raise ValueError(
                f"--max-n {item!r}: write ENGINE=N with ENGINE one of {', '.join(engines)}"
            )
        try:
            limit = int(value)
        except ValueError:
            raise ValueError(f"--max-n {item!r}: N must be a whole number") from None
        if limit < 1:
            raise ValueError(f"--max-n {item!r}: N must be at least 1")
        limits[engine] = limit
    return limits


def allowed(limits: dict[str, int], engine: str, n_obs: int) -> bool:
    return n_obs <= limits.get(engine, n_obs)


# ------------------------------------------------------------------ loop's engines
def time_cold(
    spec: CampaignSpec, history: list[Trial], q: int, repeats: int
) -> list[float]:
    """Seconds of `repeats` asks, each by a fresh engine told the whole history."""
    times = []
    for r in range(repeats):
        engine = CampaignEngine(spec)
        engine.tell(history)
        started = time.perf_counter()
        engine.ask(q, iteration=1000 + r)
        times.append(time.perf_counter() - started)
    return times


def warm_asks(n_obs: int, q: int, repeats: int) -> int:
    """Timed asks of the warm setting: *repeats*, fewer when N leaves no room.

    The engine is first told N - k q observations and asked (untimed); that
    start stays at or above the initial design size, so every ask is a model
    ask (k >= 1 always: for N < INITIAL_SIZE + q the first ask may be a design one).
    """
    return max(1, min(repeats, (n_obs - INITIAL_SIZE) // q))


def time_warm(
    spec: CampaignSpec, history: list[Trial], q: int, repeats: int
) -> list[float]:
    """Seconds of the asks of one engine kept across asks, ending at the whole history."""
    k = warm_asks(len(history), q, repeats)
    start = max(len(history) - k * q, 0)
    engine = CampaignEngine(spec)
    engine.tell(history[:start])
    engine.ask(q, iteration=999)
    times = []
    for r in range(k):
        engine.tell(history[: start + (r + 1) * q])
        started = time.perf_counter()
        engine.ask(q, iteration=1000 + r)
        times.append(time.perf_counter() - started)
    return times


# ------------------------------------------------------------------ plain BoTorch
def training_data(
    spec: CampaignSpec, history: list[Trial]
) -> tuple[np.ndarray, np.ndarray]:
    """The completed rows and values exactly as loop's engine sees them.

    For the simplex campaign the rows are the six fractions (total 1), already
    in [0, 1]; the values are the raw objective (maximised).
    """
    engine = CampaignEngine(spec)
    engine.tell(history)
    h = engine.history()
    return h.x_done, h.y_done


def reference_propose(
    train_x: np.ndarray,
    train_y: np.ndarray,
    q: int,
    seed: int,
    restarts: int = REFERENCE_RESTARTS,
    raw_samples: int = REFERENCE_RAW_SAMPLES,
) -> tuple[np.ndarray, float]:
    """Plain BoTorch on a simplex: *q* candidates (rows sum to 1) and the seconds taken.

    SingleTaskGP with its default kernel and `Standardize(m=1)` (no input
    transform: the fractions are already in [0, 1]), fitted by
    `fit_gpytorch_mll`; qLogNoisyExpectedImprovement with the observed points
    as baseline (pruned); `optimize_acqf` over [0, 1]^d with the sum as an
    equality constraint, joint over the q points (BoTorch's default,
    `sequential=False`). The seconds cover model, fit, acquisition and
    optimisation, not the conversion of the arrays to tensors.
    """
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    x = torch.tensor(train_x, dtype=torch.double)
    y = torch.tensor(train_y, dtype=torch.double).reshape(-1, 1)
    d = x.shape[-1]
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.double)
    total = (torch.arange(d), torch.ones(d, dtype=torch.double), 1.0)
    started = time.perf_counter()
    model = SingleTaskGP(x, y, outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    acqf = qLogNoisyExpectedImprovement(model, X_baseline=x, prune_baseline=True)
    candidates, _ = optimize_acqf(
        acqf,
        bounds=bounds,
        q=q,
        num_restarts=restarts,
        raw_samples=raw_samples,
        equality_constraints=[total],
    )
    seconds = time.perf_counter() - started
    return candidates.detach().numpy(), seconds


def time_reference(
    train_x: np.ndarray, train_y: np.ndarray, q: int, repeats: int
) -> list[float]:
    """Seconds of `repeats` reference proposals, each with a fresh model and fit."""
    return [
        reference_propose(train_x, train_y, q, seed=1000 + r)[1] for r in range(repeats)
    ]


def warm_up(engines: list[str]) -> dict[str, float]:
    """One untimed small proposal per engine, so no timed call pays for imports.

    Importing Ax, BoTorch and GPyTorch and their first calls take seconds; without
    this the first cell of each engine would carry them. Returns the seconds each took.
    """
    spec = validate(campaign("botorch", 1))
    history = observed_trials(spec, 20, seed=0)
    spent = {}
    for engine in engines:
        started = time.perf_counter()
        if engine == "reference":
            reference_propose(*training_data(spec, history), 1, 0, 2, 32)
        else:
            time_cold(validate(campaign(engine, 1)), history, 1, 1)
        spent[engine] = time.perf_counter() - started
    return spent


# ------------------------------------------------------------------ electrolyte campaign
def run_electrolyte(
    n_total: int,
    engines: list[str],
    ax_every: int,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run the electrolyte campaign with loop's engine from its initial design to *n_total*.

    As the driver does: one engine for the whole run, told every trial before
    each `ask(batch_size)`, its proposals measured by the simulator adapter.
    Every round is timed; for `ax` one Ax-strategy engine is told the same
    trials and asked at the same point (not its answers measured) in every
    `ax_every`-th model round. Returns one dict per round.
    """
    from tests.support import simulated_trials

    spec = validate(electrolyte_campaign("botorch", n_total))
    ax = CampaignEngine(validate(electrolyte_campaign("ax", n_total)))
    engine = CampaignEngine(spec)
    batch = spec.strategy.batch_size
    trials: list[Trial] = []
    rounds: list[dict[str, Any]] = []
    model_rounds = 0
    while len(trials) < n_total:
        iteration, n_ask = len(rounds), min(batch, n_total - len(trials))
        engine.tell(trials)
        started = time.perf_counter()
        proposals = engine.ask(n_ask, iteration)
        seconds = time.perf_counter() - started
        kind = "design" if all(p.phase == "initial" for p in proposals) else "model"
        row: dict[str, Any] = {
            "round": iteration,
            "n": len(trials),
            "q": n_ask,
            "kind": kind,
            "phases": [p.phase for p in proposals],
            "botorch": seconds if "botorch" in engines else None,
            "ax": None,
        }
        if kind == "model":
            if "ax" in engines and model_rounds % ax_every == 0:
                ax.tell(trials)
                started = time.perf_counter()
                ax.ask(n_ask, iteration)
                row["ax"] = time.perf_counter() - started
            model_rounds += 1
        rounds.append(row)
        new = simulated_trials(spec, proposals, start=len(trials) + 1)
        trials += [t.model_copy(update={"iteration": iteration}) for t in new]
        ax_text = "" if row["ax"] is None else f", ax {row['ax']:.2f} s"
        progress(
            f"electrolyte round {iteration} ({kind}, N={row['n']}, q={n_ask}): "
            f"botorch {seconds:.2f} s{ax_text}"
        )
    return rounds


def electrolyte_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The first model round (a cold fit) and the later ones (median, max) per engine."""
    model = [r for r in rounds if r["kind"] == "model"]
    design = [r["botorch"] for r in rounds if r["kind"] == "design" and r["botorch"]]
    out: dict[str, Any] = {
        "design_rounds": len(rounds) - len(model),
        "design_max": max(design) if design else None,
        "model_rounds": len(model),
        "first_model": None,
        "later": {},
    }
    if not model:
        return out
    first = model[0]
    out["first_model"] = {
        "n": first["n"],
        "botorch": first["botorch"],
        "ax": first["ax"],
    }
    for engine in ("botorch", "ax"):
        times = [r[engine] for r in model[1:] if r[engine] is not None]
        out["later"][engine] = (
            {
                "rounds": len(times),
                "median": statistics.median(times),
                "max": max(times),
            }
            if times
            else None
        )
    every = [r["botorch"] for r in model if r["botorch"] is not None]
    out["all_model_max"] = max(every) if every else None
    return out


# ------------------------------------------------------------------ goals of issue 12
def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issue 12 with the figure it is judged on and whether it is met."""
    rows = {(r["n"], r["q"]): r for r in results.get("simplex", {}).get("rows", [])}
    out: list[dict[str, Any]] = []

    def add(text: str, value: float | None, limit: float, unit: str) -> None:
        met = None if value is None else value <= limit
        out.append(
            {"goal": text, "value": value, "limit": limit, "unit": unit, "met": met}
        )

    def ratio(n: int, q: int, num: str, den: str) -> float | None:
        r = rows.get((n, q), {})
        a, b = r.get(num), r.get(den)
        return None if a is None or b is None else a / b

    summary = results.get("electrolyte", {}).get("summary")
    add(
        "electrolyte campaign: every model round (ask(2), N <= 50), loop",
        summary.get("all_model_max") if summary else None,
        3.0,
        "s",
    )
    for q in (1, 8):
        add(
            f"N=500 q={q} cold: loop / plain BoTorch",
            ratio(500, q, "botorch_cold", "reference_cold"),
            0.5,
            "x",
        )
        add(
            f"N=500 q={q} cold: loop / Ax",
            ratio(500, q, "botorch_cold", "ax_cold"),
            0.2,
            "x",
        )
    add("N=2000 q=1 cold: loop", rows.get((2000, 1), {}).get("botorch_cold"), 10.0, "s")
    add(
        "N=10000 q=1 cold: loop",
        rows.get((10000, 1), {}).get("botorch_cold"),
        30.0,
        "s",
    )
    return out
