"""Acquisition functions by name, and their optimisation over the feasible space.

The composition's sum is passed to BoTorch as an *equality* constraint and the
YAML's linear constraints as inequalities, both in comp-rep (see
`loop.space.encoding`). Categorical values are fixed per optimisation (one
optimisation per combination, at most `MAX_CATEGORY_COMBOS` of them), and
with `max_components` the support of each candidate is chosen from a relaxed
optimum (its k largest components) and the others are fixed at exactly 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from loop.errors import UnknownNameError
from loop.model.quiet import quiet_numerics
from loop.space.encoding import Encoder
from loop.spec.strategy import OptimizerSettings

MAX_CATEGORY_COMBOS = 16

Builder = Callable[..., Any]
_REGISTRY: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"acquisition '{name}' is registered twice")
        _REGISTRY[name] = builder
        return builder

    return decorate


def build(name: str, **kwargs: Any) -> Any:
    """The acquisition function *name* built from a model and data."""
    if name not in _REGISTRY:
        raise UnknownNameError("acquisition function", name, list(_REGISTRY))
    return _REGISTRY[name](**kwargs)


@register("qLogNEI")
def _qlognei(
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    objective: Any = None,
    constraints: Any = None,
    **_: Any,
) -> Any:
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement

    return qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=x_baseline,
        X_pending=x_pending,
        objective=objective,
        constraints=constraints or None,
        prune_baseline=True,
    )


@register("qLogNEHVI")
def _qlognehvi(
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    ref_point: Any,
    objective: Any = None,
    constraints: Any = None,
    **_: Any,
) -> Any:
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )

    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=x_baseline,
        X_pending=x_pending,
        objective=objective,
        constraints=constraints or None,
        prune_baseline=True,
    )


def botorch_constraints(enc: Encoder) -> tuple[list[Any], list[Any]]:
    """(inequality, equality) constraints in BoTorch's `sum(c * x[i]) >= rhs` form."""
    import torch

    def rows(a: np.ndarray, b: np.ndarray, sign: float) -> list[Any]:
        out = []
        for r, rhs in zip(a, b, strict=True):
            idx = np.flatnonzero(r)
            out.append(
                (
                    torch.tensor(idx, dtype=torch.long),
                    torch.tensor(sign * r[idx], dtype=torch.double),
                    float(sign * rhs),
                )
            )
        return out

    lin = enc.linear
    return rows(lin.a_ub, lin.b_ub, -1.0), rows(lin.a_eq, lin.b_eq, 1.0)


def category_combos(
    enc: Encoder, seen: np.ndarray, rng: np.random.Generator
) -> list[dict[int, float]]:
    """Fixed one-hot assignments to optimise over: all if few, else observed + random."""
    groups = list(enc.categorical.values())
    if not groups:
        return [{}]
    every = list(itertools.product(*groups))
    if len(every) > MAX_CATEGORY_COMBOS:
        observed = {
            tuple(int(g[int(np.argmax(row[g]))]) for g in groups) for row in seen
        }
        picked = list(observed)[: MAX_CATEGORY_COMBOS // 2]
        for i in rng.permutation(len(every)):
            if len(picked) >= MAX_CATEGORY_COMBOS:
                break
            if every[i] not in picked:
                picked.append(every[i])
        every = picked
    combos = []
    for hot in every:
        fixed = {i: 0.0 for g in groups for i in g}
        fixed.update({i: 1.0 for i in hot})
        combos.append(fixed)
    return combos


def optimise(
    acqf: Any,
    enc: Encoder,
    settings: OptimizerSettings,
    fixed_list: list[dict[int, float]],
    pool: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Local optima of *acqf* for one candidate, best first (one per restart).

    `fixed_list` holds the fixed-feature assignments to optimise over (category
    combinations, zeroed components); each gets its own optimisation. `pool`
    holds feasible raw samples for the same support: the restarts start from the
    best of them (Boltzmann-weighted, as BoTorch does), which avoids BoTorch's
    own hit-and-run sampling of start points on every call.

    BoTorch's warnings about restarts that stopped early are expected with
    equality constraints (SLSQP line searches) and are not shown to users: the
    best restart is used either way.
    """
    with quiet_numerics():
        return _optimise(acqf, enc, settings, fixed_list, pool)


def _optimise(
    acqf: Any,
    enc: Encoder,
    settings: OptimizerSettings,
    fixed_list: list[dict[int, float]],
    pool: np.ndarray | None,
) -> list[np.ndarray]:
    import torch
    from botorch.optim import optimize_acqf

    ineq_all, eq_all = botorch_constraints(enc)
    hi = np.where(enc.upper > enc.lower, enc.upper, enc.lower)
    bounds = torch.as_tensor(np.stack([enc.lower, hi]), dtype=torch.double)
    found: list[tuple[float, np.ndarray]] = []
    for fixed in fixed_list:
        ineq, eq = _drop_fixed(ineq_all, fixed), _drop_fixed(eq_all, fixed)
        start = None if pool is None else _starts(acqf, pool, fixed, settings.restarts)
        x, values = optimize_acqf(
            acqf,
            bounds=bounds,
            q=1,
            num_restarts=settings.restarts if start is None else len(start),
            raw_samples=settings.raw_samples if start is None else None,
            inequality_constraints=ineq or None,
            equality_constraints=eq or None,
            fixed_features=fixed or None,
            batch_initial_conditions=start,
            options={"maxiter": settings.max_iterations},
            return_best_only=False,
            retry_on_optimization_warning=False,
        )
        assert values is not None  # return_acq_values is left at True
        found += [
            (float(v), row.reshape(-1).numpy())
            for v, row in zip(values.reshape(-1), x, strict=True)
        ]
    found.sort(key=lambda item: -item[0])
    return [x for _, x in found]


def _starts(acqf: Any, pool: np.ndarray, fixed: dict[int, float], n: int) -> Any:
    """Start points for the restarts: the pool's best, Boltzmann-sampled."""
    import torch
    from botorch.optim.initializers import initialize_q_batch

    x = pool.copy()
    for i, v in fixed.items():
        x[:, i] = v
    tx = torch.as_tensor(x[:, None, :], dtype=torch.double)
    with torch.no_grad():
        values = torch.cat([acqf(chunk) for chunk in tx.split(256)])
    starts, _ = initialize_q_batch(tx, values, n=min(n, len(x)))
    return starts


def _drop_fixed(constraints: list[Any], fixed: dict[int, float]) -> list[Any]:
    """Constraints whose every variable is fixed would be constant: leave them out."""
    if not fixed:
        return constraints
    return [c for c in constraints if not set(c[0].tolist()) <= set(fixed)]
