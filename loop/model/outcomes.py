"""One model of everything measured, and one of where experiments succeed.

The *outcome model* is a single (batched) GP over the goals (signed so larger is
better) followed by the outcome constraints (signed the same way, with signed
thresholds); all are measured on the same trials, so one multi-output GP serves
them and BoTorch can cache its factorisations.

Failed trials never enter that regression. When some trials failed, a separate
*success model* is fitted to success labels (1 for measured, 0 for failed) over
every resolved trial; its prediction is read as a probability of success. The
acquisition is weighted by the probability that success is at least one half
(`SuccessWeighted`), and the strategy does not propose a point whose predicted
success is below one half while another candidate exists. That way the campaign
learns where experiments fail and stops proposing there, while the objective
model only ever sees real measurements (docs/concepts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loop.model.robust import winsorise
from loop.model.surrogate import FittedSurrogate, GPSettings, fit_gp, hyperparameters

#: Success probability below which a region counts as failing.
SUCCESS_LEVEL = 0.5


@dataclass
class JointModel:
    """The outcome model (goals, then constraints) and the optional success model."""

    model: Any
    n_goals: int
    constraints: list[tuple[int, float]] = field(default_factory=list)
    success: FittedSurrogate | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: The values it was fitted on (goals, then constraints; `winsorise`d).
    y: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def y_goals(self) -> np.ndarray:
        return self.y[:, : self.n_goals]

    @property
    def is_plain(self) -> bool:
        """Only goals: the model can be handed to an acquisition function as is."""
        return not self.constraints

    def predict(
        self, x: np.ndarray, observation_noise: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        return FittedSurrogate(self.model, {}).predict(x, observation_noise)

    def predict_mean(self, x: np.ndarray) -> np.ndarray:
        return FittedSurrogate(self.model, {}).predict_mean(x)

    def p_success(self, x: np.ndarray) -> np.ndarray:
        """Predicted success of rows of *x* (1 where no experiment has failed yet)."""
        if self.success is None:
            return np.ones(len(x))
        mean, _ = self.success.predict(x)
        return np.clip(mean[:, 0], 0.0, 1.0)

    def constraint_callables(self) -> list[Any]:
        """BoTorch outcome constraints: feasible where the callable is <= 0."""
        return [(lambda y, i=i, t=t: t - y[..., i]) for i, t in self.constraints]

    def objective(self) -> Any:
        """The MC objective selecting the goal outputs."""
        if self.n_goals == 1:
            from botorch.acquisition.objective import GenericMCObjective

            def first_goal(y: Any, X: Any = None) -> Any:
                return y[..., 0]

            return GenericMCObjective(first_goal)
        from botorch.acquisition.multi_objective.objective import (
            IdentityMCMultiOutputObjective,
        )

        return IdentityMCMultiOutputObjective(outcomes=list(range(self.n_goals)))

    def weighted(self, acqf: Any) -> Any:
        """*acqf* weighted by the probability of success, when failures are known."""
        if self.success is None:
            return acqf
        return success_weighted(acqf, self.success.model)


def fit_joint(
    x_done: np.ndarray,
    y_goals: np.ndarray,
    y_constraints: np.ndarray,
    thresholds: list[float],
    x_failed: np.ndarray,
    settings: GPSettings,
    seed: int,
    memory: dict[str, Any] | None = None,
    refit: bool = True,
) -> JointModel:
    """Fit the outcome model and, when trials failed, the success model.

    *memory* (kept by the engine between asks) carries the last fits'
    hyperparameters so each refit starts from them; with `refit=False` they are
    used as they are where they fit (reports reusing a stored fit).
    """
    memory = {} if memory is None else memory
    n_goals = y_goals.shape[1]
    y, moved = winsorise(np.hstack([y_goals, y_constraints]))
    outcomes = fit_gp(
        x_done,
        y,
        settings,
        seed,
        warm=memory.get("outcomes"),
        priority=_best_in_any_goal(y_goals),
        refit=refit,
    )
    memory["outcomes"] = hyperparameters(outcomes.model)
    info: dict[str, Any] = {**outcomes.info}
    if any(moved):
        info["winsorised"] = moved
    constraints = [(n_goals + j, t) for j, t in enumerate(thresholds)]
    success = None
    if len(x_failed):
        x_all = np.concatenate([x_done, x_failed])
        labels = np.concatenate([np.ones(len(x_done)), np.zeros(len(x_failed))])
        fitted = fit_gp(
            x_all,
            labels[:, None],
            settings,
            seed + 2,
            warm=memory.get("success"),
            refit=refit,
        )
        memory["success"] = hyperparameters(fitted.model)
        success = fitted
        info["success_model"] = {"n_success": len(x_done), "n_failed": len(x_failed)}
    return JointModel(outcomes.model, n_goals, constraints, success, info, y)


def _best_in_any_goal(y_goals: np.ndarray) -> np.ndarray:
    """Per row, its best rank among the goals (1 = best in some goal), as a priority.

    Used to keep the rows that matter for improvement when a large campaign is
    modelled on a subset of its data: the best of every goal survives, so a
    Pareto front keeps its ends.
    """
    if not y_goals.shape[1]:
        return np.zeros(len(y_goals))
    ranks = np.argsort(np.argsort(y_goals, axis=0, kind="stable"), axis=0)
    return ranks.max(axis=1) / max(len(y_goals) - 1, 1)


def success_weighted(acqf: Any, success_model: Any) -> Any:
    """Log-acquisition plus log P(success >= 1/2) under the success GP."""
    import torch
    from botorch.acquisition import AcquisitionFunction

    class SuccessWeighted(AcquisitionFunction):
        def __init__(self) -> None:
            super().__init__(model=acqf.model)
            self.inner = acqf
            self.success = success_model

        def set_X_pending(self, X_pending: Any = None) -> None:
            self.inner.set_X_pending(X_pending)

        def forward(self, X: Any) -> Any:
            post = self.success.posterior(X)
            mean = post.mean[..., 0]
            sd = post.variance[..., 0].clamp_min(1e-12).sqrt()
            log_p = torch.special.log_ndtr((mean - SUCCESS_LEVEL) / sd).sum(dim=-1)
            return self.inner(X) + log_p

    return SuccessWeighted()


def reference_point(goals: Any, y_signed: np.ndarray) -> np.ndarray:
    """The hypervolume's signed reference point: each goal's threshold where
    given, else 10 % of the observed range below the worst value seen."""
    worst = y_signed.min(axis=0)
    spread = np.maximum(y_signed.max(axis=0) - worst, 1e-9)
    ref = worst - 0.1 * spread
    for j, o in enumerate(goals):
        if o.threshold is not None:
            ref[j] = float(o.to_model(o.threshold))
    return ref
