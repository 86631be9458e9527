"""Acquisition functions by name, and the YAML's constraints in BoTorch's form.

The names are those of `loop.spec.strategy.Acquisition` (the YAML's enum, which
must validate without importing torch); each has one builder here, registered
under its name, and `register` refuses a name the spec does not know. How an
acquisition function is optimised over the feasible space: `search`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from loop.errors import UnknownNameError
from loop.space.encoding import Encoder
from loop.spec.strategy import Acquisition

Builder = Callable[..., Any]
#: Posterior standard deviations qUCB looks above the mean at a campaign's
#: first experiment; the weight falls linearly to 0 at its last, so the last
#: proposals exploit what was learnt. Chosen from 2 and 4 on the replay suite
#: (docs/benchmarks.md, "Exploration that runs out with the budget").
UCB_START_SDS = 4.0
#: The same at the first experiment of a campaign that learns from transfer
#: sources: they already tell the model where good materials are, so less of the
#: budget goes to looking elsewhere. Measured on both transfer pairs of
#: docs/benchmarks.md section 10 (2 against 4: 0.79 against 0.72 and 0.14
#: against 0.11 of the top 5 % found).
UCB_TRANSFER_START_SDS = 2.0
_REGISTRY: dict[Acquisition, Builder] = {}


def register(name: Acquisition) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"acquisition '{name}' is registered twice")
        _REGISTRY[Acquisition(name)] = builder
        return builder

    return decorate


def build(
    name: str,
    *,
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    objective: Any = None,
    constraints: Any = None,
    ref_point: Any = None,
    sds: float = 0.0,
    scale: tuple[float, float] = (0.0, 1.0),
) -> Any:
    """The acquisition function *name* built from a model and data.

    *ref_point* (signed, one value per goal) is used by the multi-goal
    functions only; *sds* (`exploration_sds`) and *scale* (the signed
    goal's mean and sd, so that qUCB's values are in sds, as a failure
    model's log-probability penalty expects) by qUCB only.
    """
    if name not in _REGISTRY:
        raise UnknownNameError(
            "acquisition function", name, [str(a) for a in _REGISTRY]
        )
    builder = _REGISTRY[Acquisition(name)]
    common = {
        "model": model,
        "x_baseline": x_baseline,
        "x_pending": x_pending,
        "objective": objective,
        "constraints": constraints,
    }
    if Acquisition(name).several_goals:
        return builder(**common, ref_point=ref_point)
    if Acquisition(name) is Acquisition.qUCB:
        return builder(**common, sds=sds, scale=scale)
    return builder(**common)


def exploration_sds(budget: int, taken: int, start: float = UCB_START_SDS) -> float:
    """How many posterior sds above the mean qUCB looks for the next proposal
    when *taken* of *budget* experiments are taken: *start* (`UCB_START_SDS`,
    or `UCB_TRANSFER_START_SDS` with transfer sources) x the share of the
    budget left after it."""
    left = max(budget - taken - 1, 0)
    return start * left / max(budget, 1)


@register(Acquisition.qLogNEI)
def _qlognei(
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    objective: Any = None,
    constraints: Any = None,
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


@register(Acquisition.qUCB)
def _qucb(
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    sds: float,
    scale: tuple[float, float],
    objective: Any = None,
    constraints: Any = None,
) -> Any:
    from botorch.acquisition.monte_carlo import qUpperConfidenceBound
    from botorch.acquisition.objective import GenericMCObjective

    # one goal and no outcome constraints (validation refuses them), so the
    # model's first output is the goal
    centre, spread = scale

    def in_sds(y: Any, X: Any = None) -> Any:
        return (y[..., 0] - centre) / spread

    return qUpperConfidenceBound(
        model=model,
        beta=sds**2,  # BoTorch's qUCB looks sqrt(beta) sds above the mean
        objective=GenericMCObjective(in_sds),
        X_pending=x_pending,
    )


@register(Acquisition.qLogNEHVI)
def _qlognehvi(
    model: Any,
    x_baseline: Any,
    x_pending: Any,
    ref_point: Any,
    objective: Any = None,
    constraints: Any = None,
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
