"""Ax as a proposal engine: the campaign handed to Ax's `Client`, its answers repaired.

Every `propose` builds a fresh `ax.api.Client` without storage (loop's store is
the only state), describes the campaign to it as faithfully as Ax 1.3 allows,
attaches the history (completed trials with their values, failed trials marked
failed, trials in flight left RUNNING, which Ax treats as pending) and asks for
`n` trials. Each answer is repaired by `Feasibility.finalise`, since Ax cannot
express max_components or the resolution grid; repeats are dropped and any
shortfall is filled by random samples (phase "fallback"). docs/ax-strategy.md
gives the full mapping and what is lost.

Ax sees aliases (c0.. for components, p0.. for parameters, m0.. for outcomes):
it parses constraint and objective strings with SymPy, where names such as
`E`, `I`, `N`, `O` or `S` are SymPy constants or functions.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np

from loop.records import TrialPhase
from loop.spec.strategy import Acquisition
from loop.strategies.base import Candidate, Context, History
from loop.strategies.design import RandomStrategy
from loop.warnings_guard import guarded_filters

#: Completed trials Ax needs before it leaves its own Sobol step for its model
#: (the engine's threshold for model-based strategies is the same).
MIN_OBSERVATIONS = 2
#: Coefficients below this are treated as zero.
EPS = 1e-12
#: loop's acquisition functions -> the BoTorch classes handed to Ax's MBM node.
ACQF = {
    Acquisition.qLogNEI: "botorch.acquisition.logei.qLogNoisyExpectedImprovement",
    Acquisition.qLogNEHVI: "botorch.acquisition.multi_objective.logei.qLogNoisyExpectedHypervolumeImprovement",
    # Ax's own beta (no annealing with the budget: that is the botorch engine's)
    Acquisition.qUCB: "botorch.acquisition.monte_carlo.qUpperConfidenceBound",
}


class AxMapping:
    """Translates between comp-rep vectors and Ax parameterizations for one campaign.

    Equalities (the sum to one, and any `eq` of the YAML) are solved for one
    float variable each by Gaussian elimination, taking the last eligible column
    (for the sum: the last free component): that variable becomes an Ax derived
    parameter, an affine function of the ranges Ax optimises, and its bounds two
    inequalities on them. So Ax proposes exact sums. Components with lo == hi
    are constants, not parameters.
    """

    def __init__(self, ctx: Context) -> None:
        enc, spec = ctx.encoder, ctx.spec
        self.enc, self.spec, eq = enc, spec, enc.linear
        frac = [int(i) for i in enc.fraction_idx]
        self.fixed = {
            i: float(enc.lower[i]) for i in frac if enc.upper[i] <= enc.lower[i]
        }
        cols = [i for i in [*frac, *map(int, enc.numeric_idx)] if i not in self.fixed]
        fixed = np.array(list(self.fixed), dtype=int)
        a = eq.a_eq[:, cols].copy()
        b = eq.b_eq - eq.a_eq[:, fixed] @ np.array(list(self.fixed.values()))
        self.unsolved: list[tuple[np.ndarray, float]] = []  # left as two inequalities
        pivots: dict[int, int] = {}  # equality row -> position in cols
        for r in range(len(b)):
            options = [
                j
                for j in reversed(range(len(cols)))
                if abs(a[r, j]) > EPS and j not in pivots.values()
                if enc.columns[cols[j]].kind != "integer"
            ]
            if not options:
                self.unsolved.append((eq.a_eq[r], float(eq.b_eq[r])))
                continue
            j = pivots[r] = options[0]
            b[r], a[r] = b[r] / a[r, j], a[r] / a[r, j]
            for s in set(range(len(b))) - {r}:
                b[s], a[s] = b[s] - a[s, j] * b[r], a[s] - a[s, j] * a[r]
        free = [k for k in range(len(cols)) if k not in pivots.values()]
        self.ranges = [cols[k] for k in free]
        #: derived column -> (intercept, {range column: weight})
        self.derived: dict[int, tuple[float, dict[int, float]]] = {}
        for r, j in pivots.items():
            weights = {cols[k]: -float(a[r, k]) for k in free if abs(a[r, k]) > EPS}
            if weights:
                self.derived[cols[j]] = (float(b[r]), weights)
            else:
                self.fixed[cols[j]] = float(b[r])
        self.names = {i: f"c{k}" for k, i in enumerate(frac)}
        index = {c.name: i for i, c in enumerate(enc.columns)}
        self.choices: dict[str, tuple[Any, list[int]]] = {}
        for j, p in enumerate(spec.space.parameters):
            if p.type == "categorical":
                self.choices[f"p{j}"] = (p, enc.categorical[p.name])
            else:
                self.names[index[p.name]] = f"p{j}"
        self.metrics = {o.name: f"m{k}" for k, o in enumerate(spec.objectives)}

    def parameters(self) -> list[Any]:
        """Float/int ranges, the derived variables, unordered string choices."""
        from ax.api.configs import ChoiceParameterConfig as Choice
        from ax.api.configs import DerivedParameterConfig as Derived
        from ax.api.configs import RangeParameterConfig as Range

        enc = self.enc
        out: list[Range | Derived | Choice] = []
        for i in self.ranges:
            integer = enc.columns[i].kind == "integer"
            kind: Literal["float", "int"] = "int" if integer else "float"
            cast = int if integer else float
            bounds = (cast(enc.lower[i]), cast(enc.upper[i]))
            out.append(Range(self.names[i], bounds, kind))
        for i, (intercept, weights) in self.derived.items():
            terms = " + ".join(f"{w!r}*{self.names[j]}" for j, w in weights.items())
            out.append(Derived(self.names[i], f"{intercept!r} + {terms}", "float"))
        for name, (p, _) in self.choices.items():
            out.append(Choice(name, list(p.values), "str", is_ordered=False))
        return out

    def constraints(self) -> list[str]:
        """Ax inequality strings over the ranges (none that the box already implies).

        The YAML's inequalities (comp-rep rows, so component coefficients are in
        fraction units), the derived variables' bounds, and the two sides of any
        equality that could not be solved for a float variable.
        """
        enc = self.enc
        ub = [
            (r, float(b)) for r, b in zip(enc.linear.a_ub, enc.linear.b_ub, strict=True)
        ]
        for i in self.derived:
            e = np.eye(enc.dim)[i]
            ub += [(e, float(enc.upper[i])), (-e, -float(enc.lower[i]))]
        for row, rhs in self.unsolved:
            ub += [(row, rhs), (-row, -rhs)]
        out = []
        for row, rhs in ub:
            coef, bound = self._substitute(row, rhs)
            top = sum(
                c * (enc.upper[i] if c > 0 else enc.lower[i]) for i, c in coef.items()
            )
            if top > bound + 1e-9:
                lhs = " + ".join(f"{c!r}*{self.names[i]}" for i, c in coef.items())
                out.append(f"{lhs or 0} <= {bound!r}")
        return out

    def _substitute(
        self, row: np.ndarray, rhs: float
    ) -> tuple[dict[int, float], float]:
        """`row . x <= rhs` over the ranges alone: constants and derived folded in."""
        row = row.copy()
        for i, v in self.fixed.items():
            rhs, row[i] = rhs - float(row[i]) * v, 0.0
        for i, (intercept, weights) in self.derived.items():
            r, row[i] = float(row[i]), 0.0
            rhs -= r * intercept
            for j, w in weights.items():
                row[j] += r * w
        return {i: float(row[i]) for i in self.ranges if abs(row[i]) > EPS}, rhs

    def objective(self) -> tuple[str, list[str]]:
        """Ax objective string, and outcome constraints (objective thresholds with
        several goals, `role: constraint` limits always)."""
        goals, m = self.spec.goals, self.metrics
        objective = ", ".join(("-" if o.sign < 0 else "") + m[o.name] for o in goals)
        limits = [
            f"{m[o.name]} {'>=' if o.sign > 0 else '<='} {float(o.model_units(o.threshold))!r}"
            for o in self.spec.objectives
            if o.threshold is not None and (o.is_constraint or len(goals) > 1)
        ]
        return objective, limits

    def to_ax(self, x: np.ndarray) -> dict[str, Any]:
        enc, out = self.enc, {}
        for i in self.ranges:
            integer = enc.columns[i].kind == "integer"
            out[self.names[i]] = int(round(x[i])) if integer else float(x[i])
        for i, (intercept, weights) in self.derived.items():
            out[self.names[i]] = intercept + sum(
                w * out[self.names[j]] for j, w in weights.items()
            )
        for name, (p, idx) in self.choices.items():
            out[name] = p.values[int(np.argmax(x[idx]))]
        return out

    def from_ax(self, params: dict[str, Any]) -> np.ndarray:
        x = np.zeros(self.enc.dim)
        for i, v in self.fixed.items():
            x[i] = v
        for i in [*self.ranges, *self.derived]:
            x[i] = float(params[self.names[i]])
        for name, (p, idx) in self.choices.items():
            x[idx[p.values.index(str(params[name]))]] = 1.0
        return x


class AxStrategy:
    """Proposals from Ax's generation strategy: its Sobol step, then its BoTorch model.

    Phase "model" when Ax's model-based node (MBM) made the point, "initial"
    while Ax is in its own Sobol step (fewer than `MIN_OBSERVATIONS` completed
    trials, which only happens when the strategy is called without loop's
    initial design), "fallback" for random fill-ins.
    """

    name = "ax"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        out: list[Candidate] = []
        taken = [*history.x_all]
        chosen: list[int] = []  # pool positions, in a dataset replay
        info: dict[str, Any] = {}
        try:
            with _quiet():
                client, mapping, info = self._client(ctx, history, seed)
                trials = client.get_next_trials(max_trials=n)
                nodes = _nodes(client, list(trials))
                for index, params in trials.items():
                    row = None
                    if history.pool is not None:
                        x, row = _nearest_row(
                            ctx, history, mapping.from_ax(params), chosen
                        )
                    else:
                        x = ctx.feasibility.finalise(mapping.from_ax(params))
                    if x is None or not ctx.is_new(x, taken):
                        continue
                    taken.append(x)
                    if row is not None:
                        chosen.append(row)
                    phase = (
                        TrialPhase.MODEL
                        if nodes[index] == "MBM"
                        else TrialPhase.INITIAL
                    )
                    mean, sd = (
                        _predict(client, mapping, x)
                        if phase is TrialPhase.MODEL
                        else ({}, {})
                    )
                    prov = {**info, "ax_node": nodes[index], "ax_trial": index}
                    out.append(Candidate(x, phase, None, mean, sd, prov, row))
        except Exception as exc:  # Ax could not propose: record why, then sample
            info = {**info, "ax_error": f"{type(exc).__name__}: {exc}"[:500]}
        if len(out) < n:
            rest = history.taking([c.x for c in out], chosen)
            more = RandomStrategy().propose(ctx, rest, n - len(out), seed)
            out += [
                Candidate(
                    c.x, TrialPhase.FALLBACK, provenance=info, pool_index=c.pool_index
                )
                for c in more
            ]
        return out

    def _client(
        self, ctx: Context, history: History, seed: int
    ) -> tuple[Any, AxMapping, dict[str, Any]]:
        """A fresh Ax client holding the campaign and its history, and what it was given."""
        from ax.api.client import Client

        mapping = AxMapping(ctx)
        constraints = mapping.constraints()
        objective, limits = mapping.objective()
        client = Client(random_seed=seed)
        client.configure_experiment(
            mapping.parameters(), constraints, name=ctx.spec.name
        )
        client.configure_optimization(objective, outcome_constraints=limits)
        client.set_generation_strategy(_generation_strategy(ctx, seed))
        metrics = [mapping.metrics[o.name] for o in ctx.spec.objectives]
        scaled = np.stack(
            [
                o.model_units(history.y_done[:, j])
                for j, o in enumerate(ctx.spec.objectives)
            ],
            axis=1,
        ).reshape(history.y_done.shape)  # the same scale the native models use
        for x, y in zip(history.x_done, scaled, strict=True):
            index = client.attach_trial(mapping.to_ax(x))
            client.complete_trial(index, dict(zip(metrics, map(float, y), strict=True)))
        for x in history.x_failed:
            client.mark_trial_failed(client.attach_trial(mapping.to_ax(x)))
        for x in history.x_pending:
            client.attach_trial(mapping.to_ax(x))  # stays RUNNING: pending for Ax
        cols = ctx.encoder.columns
        info = {
            "ax": {
                "completed": len(history.x_done),
                "failed": len(history.x_failed),
                "pending": len(history.x_pending),
                "objective": objective,
                "outcome_constraints": limits,
                "parameter_constraints": constraints,
                "derived": [mapping.names[i] for i in mapping.derived],
                "aliases": {v: cols[i].name for i, v in mapping.names.items()},
                "not_given": ["max_components", "resolution"],
            }
        }
        return client, mapping, info


def _nearest_row(
    ctx: Context, history: History, x: np.ndarray, chosen: list[int]
) -> tuple[np.ndarray | None, int | None]:
    """The remaining pool row closest to Ax's continuous proposal (relative to ranges).

    Ax optimises over the continuous space; a replay may only measure rows of
    its table, so each proposal is moved to the nearest row not yet taken.
    """
    assert history.pool is not None and history.pool_index is not None
    left = ~np.isin(history.pool_index, chosen)
    if not left.any():
        return None, None
    enc = ctx.encoder
    scale = np.where(enc.upper > enc.lower, enc.upper - enc.lower, 1.0)
    rows, index = history.pool[left], history.pool_index[left]
    best = int(np.argmin(np.linalg.norm((rows - x) / scale, axis=1)))
    return rows[best], int(index[best])


def _generation_strategy(ctx: Context, seed: int) -> Any:
    """Ax's "fast" strategy: Sobol until MIN_OBSERVATIONS completed trials, then MBM.

    Attached trials count towards Sobol's budget, so with enough history Ax goes
    straight to its model. The campaign's optimizer settings become MBM's
    `num_restarts` and `raw_samples`; its acquisition function is passed by class.
    """
    from importlib import import_module

    from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
    from ax.api.utils.structs import GenerationStrategyDispatchStruct

    module, _, name = ACQF[ctx.spec.acquisition].rpartition(".")
    gs = choose_generation_strategy(
        struct=GenerationStrategyDispatchStruct(
            method="fast",
            initialization_budget=MIN_OBSERVATIONS,
            initialization_random_seed=seed,
            initialize_with_center=False,
            use_existing_trials_for_initialization=True,
            min_observed_initialization_trials=MIN_OBSERVATIONS,
            allow_exceeding_initialization_budget=True,
        ),
        botorch_acqf_class=getattr(import_module(module), name),
    )
    settings = ctx.spec.strategy.optimizer
    effort = {"num_restarts": settings.restarts, "raw_samples": settings.raw_samples}
    for spec in gs.nodes_by_name["MBM"].generator_specs:
        spec.generator_gen_kwargs["model_gen_options"] = {"optimizer_kwargs": effort}
    return gs


def _nodes(client: Any, indices: list[int]) -> dict[int, str]:
    """The Ax generation node (Sobol or MBM) that made each trial."""
    if not indices:
        return {}
    made = client.summarize(trial_indices=indices)
    return dict(zip(made["trial_index"], made["generation_node"], strict=True))


def _predict(
    client: Any, mapping: AxMapping, x: np.ndarray
) -> tuple[dict[str, float], dict[str, float]]:
    """Ax's predicted mean and standard deviation at the repaired point."""
    try:
        (pred,) = client.predict([mapping.to_ax(x)])
    except Exception:  # a prediction is a courtesy, not a requirement
        return {}, {}
    names = {v: k for k, v in mapping.metrics.items()}
    objectives = {o.name: o for o in mapping.spec.objectives}
    back = {
        names[m]: objectives[names[m]].from_model(
            objectives[names[m]].sign * float(v[0]), float(v[1])
        )
        for m, v in pred.items()
        if m in names
    }
    return {k: v[0] for k, v in back.items()}, {k: v[1] for k, v in back.items()}


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Ax (its INFO log lines and Python warnings), restoring it afterwards.

    Ax logs through the handlers of its non-propagating "ax" logger; their
    levels are raised to ERROR for the duration and then restored. Importing Ax
    logs once at INFO, so the first import happens under `logging.disable`.
    """
    with guarded_filters():
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            import ax.api.client  # noqa: F401
        finally:
            logging.disable(previous)
        handlers = logging.getLogger("ax").handlers
        levels = [h.level for h in handlers]
        try:
            for h in handlers:
                h.setLevel(logging.ERROR)
            yield
        finally:
            for h, level in zip(handlers, levels, strict=True):
                h.setLevel(level)
