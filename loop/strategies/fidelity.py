"""Which fidelity to evaluate a proposed configuration at, and why.

The model is one GP over (inputs, fidelity): the fidelity is a categorical
input (`loop.spec.fidelity`), so the mixed kernel of `loop.model.kernels`
learns a part shared by every level and a part of each level's own, that is
how far the levels agree. Proposals are made in two steps:

1. *Where*: the acquisition function is evaluated at the target fidelity
   (`TargetFidelity` sets the fidelity columns of every point it scores, of
   the pending points and of the baseline), so it asks where the target's
   value is worth knowing.
2. *At which level*: for that configuration x, each level l is scored by the
   share of the target's uncertainty at x that one evaluation at l would
   remove, averaged over the goals::

       information(l) = cov(f_target(x), y_l(x))^2 / (var f_target(x) * var y_l(x))

   (y_l includes the measurement noise; for the target itself this is
   var f / (var f + noise)), and the level with the most information per unit
   cost is chosen.

Why this rule and not multi-fidelity knowledge gradient or max-value entropy
search: both need a fantasy model per candidate level and cost a nested
optimisation per pick, minutes on two cores for one batch, while this rule is
one joint posterior per level. It is the cost-weighted variance reduction of
Kandasamy et al.'s MF-GP-UCB family: a cheap level is chosen while it still
explains much of the target at x, and stops being chosen there once its own
value at x is known (its covariance with the target is then spent), so an
expensive evaluation follows a cheap screen that did not rule x out. Levels
that the model finds unrelated to the target carry no information and are
never bought.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.campaign_state import level_costs, level_counts
from loop.records import Trial
from loop.space.encoding import Encoder
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY

#: Of the design's points, every DESIGN_TARGET_EVERY-th is evaluated at the
#: target (on the best configuration screened so far, `CampaignEngine`) and the
#: others at the cheapest level: the model needs both to learn how far the
#: levels agree, and the cheap ones to cover the space.
DESIGN_TARGET_EVERY = 3


@dataclass(frozen=True)
class FidelityPlan:
    """The fidelity columns of the encoding, the levels' names, the cost one
    more evaluation at each is expected to have (`level_costs`: declared, or
    the mean measured), each level's `max_evaluations` (inf: none) and how many
    of them the campaign's trials already use."""

    columns: np.ndarray
    names: tuple[str, ...]
    costs: np.ndarray
    caps: np.ndarray
    used: np.ndarray

    @classmethod
    def of(
        cls, spec: CampaignSpec, encoder: Encoder, trials: Sequence[Trial] = ()
    ) -> FidelityPlan | None:
        if not spec.fidelities:
            return None
        costs = level_costs(spec, list(trials))
        used = level_counts(spec, list(trials))
        return cls(
            np.array(encoder.categorical[FIDELITY], dtype=int),
            tuple(f.name for f in spec.fidelities),
            np.array([costs[f.name] for f in spec.fidelities], dtype=float),
            np.array(
                [f.max_evaluations or np.inf for f in spec.fidelities], dtype=float
            ),
            np.array([used[f.name] for f in spec.fidelities], dtype=float),
        )

    def open_levels(self, picked: Sequence[np.ndarray] = ()) -> list[int]:
        """Levels below their `max_evaluations` once *picked* (rows chosen in
        this batch) are counted too, cheapest first."""
        counts = self.used.copy()
        for x in picked:
            counts[self.level_of(np.asarray(x))] += 1
        return [lv for lv in range(len(self.names)) if counts[lv] < self.caps[lv]]

    @property
    def target(self) -> int:
        return len(self.names) - 1

    def at(self, x: np.ndarray, level: int) -> np.ndarray:
        """*x* (one row or many) with its fidelity set to *level*."""
        out = np.array(x, dtype=float, copy=True)
        out[..., self.columns] = 0.0
        out[..., self.columns[level]] = 1.0
        return out

    def at_tensor(self, x: Any, level: int) -> Any:
        """As `at`, for a torch tensor (differentiable in the other columns)."""
        import torch

        mask = torch.zeros(x.shape[-1], dtype=torch.bool)
        mask[self.columns.tolist()] = True
        onehot = torch.zeros(x.shape[-1], dtype=x.dtype)
        onehot[int(self.columns[level])] = 1.0
        return torch.where(mask, onehot, x)

    def level_of(self, x: np.ndarray) -> int:
        return int(np.argmax(x[self.columns]))

    def design_level(self, k: int) -> int:
        """The level of the *k*-th design point (counted from 0)."""
        return self.target if k % DESIGN_TARGET_EVERY == DESIGN_TARGET_EVERY - 1 else 0

    def information(self, model: Any, x: np.ndarray, n_goals: int) -> np.ndarray:
        """Per level, the share of the target's variance at *x* that one
        evaluation there removes (mean over the goals; see the module doc)."""
        out = np.zeros(len(self.names))
        for j in range(n_goals):
            var_t, c, _, var_noisy = self._pairs(model, x[None], j)
            out += (c**2 / (var_t * var_noisy))[0]
        return np.clip(out / max(n_goals, 1), 0.0, 1.0)

    def correlation(self, model: Any, x: np.ndarray, output: int = 0) -> np.ndarray:
        """Per level, the model's correlation of its value with the target's at
        the configurations *x* (rows), averaged: how far it learned they agree."""
        var_t, c, var_l, _ = self._pairs(model, x, output)
        return np.clip((c / np.sqrt(var_t * var_l)).mean(axis=0), -1.0, 1.0)

    def _pairs(
        self, model: Any, x: np.ndarray, output: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For rows *x* (n, d) and each level: the target's variance, its
        covariance with the level's value, the level's variance without and
        with the measurement noise; arrays (n, levels), for one *output*."""
        import torch

        levels = range(len(self.names))
        rows = np.stack(
            [
                np.stack([self.at(x, self.target), self.at(x, lv)], axis=-2)
                for lv in levels
            ],
            axis=1,
        )  # (n, levels, 2, d)
        tx = torch.as_tensor(rows, dtype=torch.double)
        with torch.no_grad():
            post = model.posterior(tx)
            noisy = model.posterior(tx, observation_noise=True).variance
            cov = post.mvn.covariance_matrix
        m = noisy.shape[-1]
        if m == 1:
            t, lv = 0, 1
        elif getattr(post.mvn, "_interleaved", True):
            t, lv = output, m + output
        else:
            t, lv = 2 * output, 2 * output + 1
        var_t = cov[..., t, t].clamp_min(1e-12).numpy()
        var_l = cov[..., lv, lv].clamp_min(1e-12).numpy()
        var_noisy = noisy[..., 1, output].clamp_min(1e-12).numpy()
        return var_t, cov[..., t, lv].numpy(), var_l, var_noisy

    def spent(self, rows: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Per level, the cost of the evaluations *rows* (measured or in flight)."""
        counts = np.zeros(len(self.names))
        for x in rows:
            counts[self.level_of(np.asarray(x))] += 1
        return counts * self.costs

    def over_screened(self, spent: np.ndarray, level: int) -> bool:
        """Whether an evaluation at the cheaper *level* would make the cheaper
        levels outspend the target by more than one target evaluation: the
        screening may not starve the target of the evaluations that count."""
        if level == self.target:
            return False
        cheaper = spent[: self.target].sum() + self.costs[level]
        return bool(cheaper > spent[self.target] + self.costs[self.target])

    def choose(
        self, information: np.ndarray, levels: Sequence[int] | None = None
    ) -> list[int]:
        """*levels* (all by default) by information per unit cost, best first
        (ties: the cheaper)."""
        value = information / self.costs
        return sorted(
            range(len(self.names)) if levels is None else levels,
            key=lambda lv: (-value[lv], self.costs[lv]),
        )

    def ruled(self, level: int, rule: str) -> dict[str, Any]:
        """Provenance of a level set by a rule (design, fallback, capped,
        included) rather than by information per cost."""
        return {
            "level": self.names[level],
            "cost": float(self.costs[level]),
            "rule": rule,
        }

    def why(self, level: int, information: np.ndarray) -> dict[str, Any]:
        """Provenance of a choice: the level, its cost, and every level's score."""
        return {
            "level": self.names[level],
            "cost": float(self.costs[level]),
            "information": {
                n: round(float(v), 4)
                for n, v in zip(self.names, information, strict=True)
            },
            "per_cost": {
                n: round(float(v / c), 6)
                for n, v, c in zip(self.names, information, self.costs, strict=True)
            },
        }


def target_fidelity(acqf: Any, plan: FidelityPlan) -> Any:
    """*acqf* evaluated with every point, and every pending point, at the
    target fidelity: the value of knowing the target there."""
    from botorch.acquisition import AcquisitionFunction

    class TargetFidelity(AcquisitionFunction):
        def __init__(self) -> None:
            super().__init__(model=acqf.model)
            self.inner = acqf

        def set_X_pending(self, X_pending: Any = None) -> None:
            self.inner.set_X_pending(
                None if X_pending is None else plan.at_tensor(X_pending, plan.target)
            )

        def forward(self, X: Any) -> Any:
            return self.inner(plan.at_tensor(X, plan.target))

    return TargetFidelity()
