"""One joint model of everything measured: goals, outcome constraints, success.

Outputs are ordered: the goals (signed so larger is better), then the outcome
constraints (signed the same way, with their signed thresholds), then — when
some trials failed — the probability that an experiment succeeds.

Failed trials never enter the regression of any measured quantity. Instead a
separate GP is fitted to success labels (1 for measured, 0 for failed) over
every resolved trial; its prediction acts as a probability of success, and the
acquisition treats "success >= 0.5" as one more outcome constraint. That way the
campaign learns where experiments fail and stops proposing there, while the
objective model only ever sees real measurements (documented in docs/concepts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loop.model.surrogate import FittedSurrogate, GPSettings, fit_gp

#: Success probability below which a region counts as failing.
SUCCESS_LEVEL = 0.5


@dataclass
class JointModel:
    """A model whose outputs are goals, constraints and (optionally) success."""

    model: Any
    n_goals: int
    constraints: list[tuple[int, float]] = field(default_factory=list)
    success_output: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_plain(self) -> bool:
        """Only goals: the model can be handed to an acquisition function as is."""
        return not self.constraints and self.success_output is None

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return FittedSurrogate(self.model, {}).predict(x)

    def constraint_callables(self) -> list[Any]:
        """BoTorch outcome constraints: feasible where the callable is <= 0."""
        out = [(lambda y, i=i, t=t: t - y[..., i]) for i, t in self.constraints]
        if self.success_output is not None:
            k = self.success_output
            out.append(lambda y: SUCCESS_LEVEL - y[..., k])
        return out

    def objective(self) -> Any:
        """The MC objective selecting the goal outputs."""
        if self.n_goals == 1:
            from botorch.acquisition.objective import GenericMCObjective

            return GenericMCObjective(lambda y, X=None: y[..., 0])
        from botorch.acquisition.multi_objective.objective import (
            IdentityMCMultiOutputObjective,
        )

        return IdentityMCMultiOutputObjective(outcomes=list(range(self.n_goals)))


def fit_joint(
    x_done: np.ndarray,
    y_goals: np.ndarray,
    y_constraints: np.ndarray,
    thresholds: list[float],
    x_failed: np.ndarray,
    settings: GPSettings,
    seed: int,
) -> JointModel:
    """Fit the goal model and, where needed, constraint and success models."""
    goals = fit_gp(x_done, y_goals, settings, seed)
    parts = [goals.model]
    info: dict[str, Any] = {**goals.info}
    constraints: list[tuple[int, float]] = []
    index = y_goals.shape[1]
    if y_constraints.shape[1]:
        con = fit_gp(x_done, y_constraints, settings, seed + 1)
        parts.append(con.model)
        for j, threshold in enumerate(thresholds):
            constraints.append((index + j, threshold))
        index += y_constraints.shape[1]
        info["constraint_model"] = {"n_train": con.info["n_train"]}
    success_output = None
    if len(x_failed):
        x_all = np.concatenate([x_done, x_failed])
        labels = np.concatenate([np.ones(len(x_done)), np.zeros(len(x_failed))])[
            :, None
        ]
        success = fit_gp(x_all, labels, settings, seed + 2)
        parts.append(success.model)
        success_output = index
        info["success_model"] = {"n_success": len(x_done), "n_failed": len(x_failed)}
    if len(parts) == 1:
        return JointModel(goals.model, y_goals.shape[1], info=info)
    from botorch.models import ModelListGP

    return JointModel(
        ModelListGP(*parts), y_goals.shape[1], constraints, success_output, info
    )
