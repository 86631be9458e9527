"""Acquisition functions by name, and their optimisation over the feasible space.

The composition's sum is passed to BoTorch as an *equality* constraint and the
YAML's linear constraints as inequalities, both in comp-rep (see
`loop.space.encoding`). Categorical values are fixed per optimisation
(`optimize_acqf_mixed` over at most `MAX_CATEGORY_COMBOS` combinations), and
with `max_components` the support of each candidate is chosen from a relaxed
optimum (its k largest components) and the others are fixed at exactly 0.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from loop.errors import UnknownNameError
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
) -> list[np.ndarray]:
    """Local optima of *acqf* for one candidate, best first (one per restart).

    BoTorch's warnings about restarts that stopped early are expected with
    equality constraints (SLSQP line searches) and are not shown to users: the
    best restart is used either way.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"botorch\.")
        warnings.filterwarnings("ignore", message=r".*[Oo]ptimization")
        warnings.filterwarnings("ignore", message=r".*added jitter")
        return _optimise(acqf, enc, settings, fixed_list)


def _optimise(
    acqf: Any,
    enc: Encoder,
    settings: OptimizerSettings,
    fixed_list: list[dict[int, float]],
) -> list[np.ndarray]:
    import torch
    from botorch.optim import optimize_acqf, optimize_acqf_mixed

    ineq, eq = botorch_constraints(enc)
    hi = np.where(enc.upper > enc.lower, enc.upper, enc.lower)
    bounds = torch.as_tensor(np.stack([enc.lower, hi]), dtype=torch.double)
    options = {"maxiter": settings.max_iterations}
    ineq, eq = _drop_fixed(ineq, fixed_list), _drop_fixed(eq, fixed_list)
    if len(fixed_list) == 1:
        x, values = optimize_acqf(
            acqf,
            bounds=bounds,
            q=1,
            num_restarts=settings.restarts,
            raw_samples=settings.raw_samples,
            inequality_constraints=ineq or None,
            equality_constraints=eq or None,
            fixed_features=fixed_list[0] or None,
            options=options,
            return_best_only=False,
            retry_on_optimization_warning=False,
        )
        order = torch.argsort(values.reshape(-1), descending=True)
        return [x[i].reshape(-1).numpy() for i in order.tolist()]
    x, _ = optimize_acqf_mixed(
        acqf,
        bounds=bounds,
        q=1,
        num_restarts=settings.restarts,
        raw_samples=settings.raw_samples,
        fixed_features_list=fixed_list,
        inequality_constraints=ineq or None,
        equality_constraints=eq or None,
        options=options,
        retry_on_optimization_warning=False,
    )
    return [x.reshape(-1).numpy()]


def _drop_fixed(
    constraints: list[Any], fixed_list: list[dict[int, float]]
) -> list[Any]:
    """Constraints whose every variable is fixed would be constant: leave them out."""
    if len(fixed_list) != 1 or not fixed_list[0]:
        return constraints
    fixed = set(fixed_list[0])
    return [c for c in constraints if not set(c[0].tolist()) <= fixed]
