"""The native strategy: a BoTorch GP and a log-improvement acquisition function.

One candidate at a time (sequential greedy): each accepted candidate, after
repair onto the feasible set, joins the pending points of the acquisition
function before the next is optimised, so a batch spreads out and never
repeats a point in flight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loop import acquisition
from loop.model.features import FeatureSpec
from loop.model.outcomes import fit_joint
from loop.model.surrogate import GPSettings
from loop.strategies.base import Candidate, Context, History
from loop.strategies.design import RandomStrategy


class BotorchStrategy:
    name = "botorch"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        import torch

        spec = ctx.spec
        names = [o.name for o in spec.objectives]
        goals, cons = spec.goals, spec.outcome_constraints
        y_goals = _signed_columns(history.y_done, names, goals)
        y_cons = _signed_columns(history.y_done, names, cons)
        joint = fit_joint(
            history.x_done,
            y_goals,
            y_cons,
            [o.sign * float(o.threshold) for o in cons],  # type: ignore[arg-type]
            history.x_failed,
            gp_settings(ctx),
            seed,
        )
        ref_point = _reference_point(goals, y_goals) if len(goals) > 1 else None
        provenance: dict[str, Any] = dict(joint.info)
        if ref_point is not None:
            provenance["reference_point"] = {
                o.name: float(o.sign * r) for o, r in zip(goals, ref_point, strict=True)
            }
        outputs = [*goals, *cons]
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        x_base = torch.as_tensor(history.x_done, dtype=torch.double)
        pending = [*history.x_pending]
        taken = [*history.x_all]
        out: list[Candidate] = []
        for _ in range(n):
            x_pending = (
                torch.as_tensor(np.array(pending), dtype=torch.double)
                if pending
                else None
            )
            acqf = acquisition.build(
                spec.acquisition,
                model=joint.model,
                x_baseline=x_base,
                x_pending=x_pending,
                ref_point=None if ref_point is None else torch.as_tensor(ref_point),
                objective=None if joint.is_plain else joint.objective(),
                constraints=joint.constraint_callables(),
            )
            candidate = self._one(ctx, acqf, history, taken, rng)
            if candidate is None:
                fallback = RandomStrategy().propose(
                    ctx, _history_with(history, taken), 1, seed + 1
                )
                if not fallback:
                    break
                candidate = Candidate(x=fallback[0].x, phase="fallback")
            mean, sd = joint.predict(candidate.x[None])
            extra = dict(provenance)
            if joint.success_output is not None:
                extra["p_success"] = round(float(mean[0, joint.success_output]), 4)
            candidate = Candidate(
                x=candidate.x,
                phase=candidate.phase,
                acquisition_value=candidate.acquisition_value,
                predicted_mean={
                    o.name: float(o.sign * mean[0, j]) for j, o in enumerate(outputs)
                },
                predicted_sd={o.name: float(sd[0, j]) for j, o in enumerate(outputs)},
                provenance=extra,
            )
            out.append(candidate)
            pending.append(candidate.x)
            taken.append(candidate.x)
        return out

    def _one(
        self,
        ctx: Context,
        acqf: Any,
        history: History,
        taken: list[np.ndarray],
        rng: np.random.Generator,
    ) -> Candidate | None:
        """The best new feasible candidate after repair, or None."""
        import torch

        enc, feas, settings = ctx.encoder, ctx.feasibility, ctx.spec.strategy.optimizer
        combos = acquisition.category_combos(enc, history.x_done, rng)
        raw = acquisition.optimise(acqf, enc, settings, combos)
        k = feas.max_components
        if k is not None and k < len(enc.components):
            raw = self._on_support(ctx, acqf, raw[0], combos) + raw
        for x in raw:
            fixed = feas.finalise(x)
            if fixed is not None and ctx.is_new(fixed, taken):
                with torch.no_grad():
                    value = float(
                        acqf(torch.as_tensor(fixed[None, None], dtype=torch.double))
                    )
                return Candidate(x=fixed, phase="model", acquisition_value=value)
        return None

    def _on_support(
        self,
        ctx: Context,
        acqf: Any,
        relaxed: np.ndarray,
        combos: list[dict[int, float]],
    ) -> list[np.ndarray]:
        """Re-optimise with only the k largest components of the relaxed optimum non-zero."""
        enc, feas = ctx.encoder, ctx.feasibility
        support = feas.finalise(relaxed)
        if support is None:
            return []
        zero = {int(i): 0.0 for i in enc.fraction_idx if support[i] == 0}
        fixed_list = [{**c, **zero} for c in combos]
        return acquisition.optimise(acqf, enc, ctx.spec.strategy.optimizer, fixed_list)


def _reference_point(goals: Any, y_signed: np.ndarray) -> np.ndarray:
    """Signed reference point: thresholds where given, else 10 % below the worst seen."""
    worst = y_signed.min(axis=0)
    spread = np.maximum(y_signed.max(axis=0) - worst, 1e-9)
    ref = worst - 0.1 * spread
    for j, o in enumerate(goals):
        if o.threshold is not None:
            ref[j] = o.sign * o.threshold
    return ref


def _history_with(history: History, taken: list[np.ndarray]) -> History:
    return History(
        history.x_done,
        history.y_done,
        history.x_failed,
        history.x_pending,
        np.array(taken),
    )


def _signed_columns(y: np.ndarray, names: list[str], which: Any) -> np.ndarray:
    """Columns of *y* for the objectives *which*, signed so larger is better."""
    idx = [names.index(o.name) for o in which]
    signs = np.array([o.sign for o in which])
    return (y[:, idx] * signs).reshape(len(y), len(idx))


def gp_settings(ctx: Context) -> GPSettings:
    """The GP inputs of this campaign: bounds, kernel and descriptor features."""
    enc = ctx.encoder
    kernel = ctx.spec.strategy.surrogate.kernel
    table = enc.features()
    names = [c.name for c in enc.columns]
    if table is None:
        return GPSettings(enc.lower, enc.upper, kernel, None, tuple(names))
    features = FeatureSpec(enc.fraction_idx, table.table, table.keep_fractions, enc.dim)
    fractions = set(enc.fraction_idx.tolist())
    kept = [
        n for i, n in enumerate(names) if table.keep_fractions or i not in fractions
    ]
    names = kept + [f"mean({p})" for p in table.properties]
    names += [f"spread({p})" for p in table.properties]
    return GPSettings(enc.lower, enc.upper, kernel, features, tuple(names))
