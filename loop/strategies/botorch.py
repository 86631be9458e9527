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
from loop.acquisition import search
from loop.acquisition.search import SearchSpace
from loop.model.features import FeatureSpec
from loop.model.outcomes import SUCCESS_LEVEL, JointModel, fit_joint, reference_point
from loop.model.quiet import quiet_numerics
from loop.model.surrogate import SOURCE_SPREAD, GPSettings, exact_linear_algebra
from loop.model.transfer import TransferModel, fitted_transfer
from loop.records import TrialPhase
from loop.space.encoding import Encoder
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.spec.strategy import Acquisition
from loop.strategies.base import (
    MODEL_MEMORY,
    TRANSFER_MEMORY,
    Candidate,
    Context,
    History,
)
from loop.strategies.design import RandomStrategy
from loop.strategies.fidelity import FidelityPlan, target_fidelity

#: Measured points the acquisition function compares against (its baseline): the
#: ones predicted best, when there are more. BoTorch then prunes the baseline to
#: the points that may be the best, which needs a joint posterior sample over all
#: of them: fine for hundreds of points, minutes and gigabytes for ten thousand.
BASELINE_POINTS = 256
#: Raw samples rescored for the second and later picks of a batch (the best of the
#: first pick's scoring).
RESCORED_RAW = 32
#: Restarts and L-BFGS-B iterations of the second and later picks of a batch: they
#: start at the best local optima of the first pick (and raw samples) rescored with
#: the points before them pending, so a short polish is enough.
LATER_RESTARTS = 2
LATER_ITERATIONS = 10  #: Pool rows scored per acquisition call in a dataset replay.
POOL_CHUNK = 512


class BotorchStrategy:
    name = "botorch"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        with quiet_numerics(), exact_linear_algebra():
            return self._propose(ctx, history, n, seed)

    def _propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        import torch

        self._seed = seed
        self._batch = n
        self._raw: tuple[np.ndarray, np.ndarray] | None = None
        d, nf = ctx.encoder.dim, len(ctx.encoder.fraction_idx)
        self._previous = (np.zeros((0, d)), np.zeros((0, nf), dtype=bool))
        spec = ctx.spec
        names = [o.name for o in spec.objectives]
        goals, cons = spec.goals, spec.outcome_constraints
        y_goals = _signed_columns(history.y_done, names, goals)
        y_cons = _signed_columns(history.y_done, names, cons)
        joint = fit_joint(
            history.x_done,
            y_goals,
            y_cons,
            [float(o.to_model(o.threshold)) for o in cons],
            history.x_failed,
            gp_settings(ctx.spec, ctx.encoder, transfer_model(ctx)),
            seed,
            ctx.memory.setdefault(MODEL_MEMORY, {}),
        )
        ref_point = reference_point(goals, joint.y_goals) if len(goals) > 1 else None
        provenance: dict[str, Any] = dict(joint.info)
        if ref_point is not None:
            provenance["reference_point"] = {
                o.name: o.from_model(float(r), 0.0)[0]
                for o, r in zip(goals, ref_point, strict=True)
            }
        sds, scale = 0.0, (0.0, 1.0)
        if spec.acquisition is Acquisition.qUCB:
            # how far above the mean to look: less as the budget runs out, and
            # less from the start when sources already say where to look
            start = (
                acquisition.UCB_TRANSFER_START_SDS
                if ctx.sources
                else acquisition.UCB_START_SDS
            )
            sds = acquisition.exploration_sds(
                spec.budget.experiments, history.spent, start
            )
            provenance["exploration_sds"] = round(sds, 4)
            scale = _goal_scale(joint.y_goals)
        outputs = [*goals, *cons]
        provenance["outputs"] = [o.name for o in outputs]
        # trials still being measured, which the acquisition treats as pending
        provenance["pending"] = len(history.x_pending)
        torch.manual_seed(seed)
        plan = history.fidelity
        baseline = _baseline(joint, history.x_done, len(goals))
        if plan is not None:  # what is known of the target where anything was measured
            baseline = np.unique(plan.at(baseline, plan.target), axis=0)
        x_base = torch.as_tensor(baseline, dtype=torch.double)
        pending = [*history.x_pending]
        taken = [*history.x_all]
        chosen: list[int] = []  # pool positions picked in this call
        out: list[Candidate] = []

        def as_pending(rows: list[np.ndarray]) -> Any:
            if not rows:
                return None
            x = np.array(rows)
            if plan is not None:  # work in flight at any level will tell of the target
                x = plan.at(x, plan.target)
            return torch.as_tensor(x, dtype=torch.double)

        # built once per batch (pruning the baseline and caching its
        # factorisation is a fixed cost); each pick adds the one before it
        # to the pending points
        acqf = joint.weighted(
            acquisition.build(
                spec.acquisition,
                model=joint.model,
                x_baseline=x_base,
                x_pending=as_pending(pending),
                ref_point=None if ref_point is None else torch.as_tensor(ref_point),
                objective=None if joint.is_plain else joint.objective(),
                constraints=joint.constraint_callables(),
                sds=sds,
                scale=scale,
            )
        )
        if plan is not None:
            acqf = target_fidelity(acqf, plan)
        for i in range(n):
            if i:
                acqf.set_X_pending(as_pending(pending))
            if history.pool is not None:
                candidate = self._one_from_pool(acqf, joint, history, chosen)
            else:
                candidate = self._one(ctx, acqf, joint, history, taken)
            if candidate is None:
                fallback = RandomStrategy().propose(
                    ctx,
                    history.taking(taken[len(history.x_all) :], chosen),
                    1,
                    seed + 1,
                )
                if not fallback:
                    break
                candidate = Candidate(
                    x=fallback[0].x,
                    phase=TrialPhase.FALLBACK,
                    pool_index=fallback[0].pool_index,
                )
            extra = dict(provenance)
            if plan is not None and candidate.phase is TrialPhase.MODEL:
                x, extra["fidelity"] = _level(
                    plan, joint, candidate.x, goals, ctx, taken, len(history.x_all)
                )
                candidate = Candidate(
                    x=x,
                    phase=candidate.phase,
                    acquisition_value=candidate.acquisition_value,
                )
            mean, sd = joint.predict(candidate.x[None])
            _, noisy = joint.predict(candidate.x[None], observation_noise=True)
            # what a measurement there is expected to scatter by (the model's
            # sd plus the noise), for the calibration check of later reports
            extra["predictive_sd"] = {
                o.name: o.from_model(mean[0, j], noisy[0, j])[1]
                for j, o in enumerate(outputs)
            }
            if joint.success is not None:
                extra["p_success"] = round(
                    float(joint.p_success(candidate.x[None])[0]), 4
                )
            candidate = Candidate(
                x=candidate.x,
                phase=candidate.phase,
                acquisition_value=candidate.acquisition_value,
                predicted_mean={
                    o.name: o.from_model(mean[0, j], sd[0, j])[0]
                    for j, o in enumerate(outputs)
                },
                predicted_sd={
                    o.name: o.from_model(mean[0, j], sd[0, j])[1]
                    for j, o in enumerate(outputs)
                },
                provenance=extra,
                pool_index=candidate.pool_index,
            )
            if candidate.pool_index is not None:
                chosen.append(candidate.pool_index)
            out.append(candidate)
            pending.append(candidate.x)
            taken.append(candidate.x)
        return out

    def _one(
        self,
        ctx: Context,
        acqf: Any,
        joint: JointModel,
        history: History,
        taken: list[np.ndarray],
    ) -> Candidate | None:
        """The new feasible point with the highest acquisition value after repair.

        The restarts start from the best of the raw samples and of the previous
        pick's local optima (Boltzmann-weighted, as BoTorch does); every local
        optimum is repaired onto the feasible set (exact sum, grid, cardinality)
        and scored again, so a repair that costs acquisition value is weighed
        against the other restarts rather than accepted blindly.
        """
        import torch
        from botorch.optim.initializers import initialize_q_batch

        settings = ctx.spec.strategy.optimizer
        space = SearchSpace(ctx.encoder, ctx.feasibility)
        if self._raw is None:
            self._raw = search.starts(space, settings.raw_samples, self._seed)
        x_pool = np.concatenate([self._raw[0], self._previous[0]])
        s_pool = np.concatenate([self._raw[1], self._previous[1]])
        values = torch.as_tensor(search.values(acqf, x_pool))
        if len(self._raw[0]) > RESCORED_RAW:
            # later picks of the batch rescore only the best raw samples: a new
            # pending point changes the acquisition near it, not the ranking of
            # the whole space, and rescoring hundreds of points per pick costs
            # more than optimising when the GP holds thousands of rows
            top = np.argsort(-values.numpy()[: len(self._raw[0])], kind="stable")
            keep = np.sort(top[:RESCORED_RAW])
            self._raw = (self._raw[0][keep], self._raw[1][keep])
        if not len(self._previous[0]):
            # the first pick of a batch explores: enough restarts that the
            # later picks find distinct local optima among its results
            n_starts = first_restarts(settings, self._batch)
            chosen = _boltzmann(initialize_q_batch, values, min(n_starts, len(x_pool)))
        else:
            # a later pick polishes the best of those optima and raw samples
            # under the acquisition with the picks before it pending
            settings = settings.model_copy(update={"max_iterations": LATER_ITERATIONS})
            chosen = np.argsort(-values.numpy(), kind="stable")[:LATER_RESTARTS]
        optima, _ = search.local_search(
            acqf, space, x_pool[chosen], s_pool[chosen], settings
        )
        raw = list(optima)
        if joint.success is not None:
            # start points too: a safe region must stay reachable when every
            # local optimum lies where experiments fail
            best_raw = np.argsort(-values.numpy(), kind="stable")[:32]
            raw += list(x_pool[best_raw])
        repaired = self._new_feasible(ctx, raw, taken)
        if not repaired:
            # every local optimum is a point already taken (an acquisition that
            # is flat away from the picks before it): the best-scoring raw
            # samples still beat a random point
            best_raw = np.argsort(-values.numpy(), kind="stable")[:32]
            repaired = self._new_feasible(ctx, list(x_pool[best_raw]), taken)
        if not repaired:
            return None
        likely = joint.p_success(np.array(repaired)) >= SUCCESS_LEVEL
        if likely.any():  # never propose where failure is more likely than success
            repaired = [x for x, ok in zip(repaired, likely, strict=True) if ok]
        scores = search.values(acqf, np.array(repaired))
        best = int(np.argmax(scores))
        # the next picks of the batch choose among these optima too
        self._previous = (
            np.concatenate([self._previous[0], optima]),
            np.concatenate([self._previous[1], search.support_of(space, optima)]),
        )
        return Candidate(
            x=repaired[best],
            phase=TrialPhase.MODEL,
            acquisition_value=float(scores[best]),
        )

    @staticmethod
    def _new_feasible(
        ctx: Context, points: list[np.ndarray], taken: list[np.ndarray]
    ) -> list[np.ndarray]:
        """*points* repaired onto the feasible set, without those already taken."""
        repaired: list[np.ndarray] = []
        for x in points:
            fixed = ctx.feasibility.finalise(x)
            if fixed is not None and ctx.is_new(fixed, [*taken, *repaired]):
                repaired.append(fixed)
        return repaired

    def _one_from_pool(
        self, acqf: Any, joint: JointModel, history: History, chosen: list[int]
    ) -> Candidate | None:
        """The remaining pool row with the highest acquisition value (discrete search).

        Every remaining candidate is scored (in chunks, so large pools fit in
        memory); rows whose predicted success is below one half are passed over
        while any other row remains.
        """
        import torch

        assert history.pool is not None and history.pool_index is not None
        left = ~np.isin(history.pool_index, chosen)
        rows, index = history.pool[left], history.pool_index[left]
        if not len(rows):
            return None
        likely = joint.p_success(rows) >= SUCCESS_LEVEL
        if likely.any():
            rows, index = rows[likely], index[likely]
        tx = torch.as_tensor(rows[:, None, :], dtype=torch.double)
        with torch.no_grad():
            values = torch.cat([acqf(chunk) for chunk in tx.split(POOL_CHUNK)])
        best = int(torch.argmax(values))
        return Candidate(
            x=rows[best],
            phase=TrialPhase.MODEL,
            acquisition_value=float(values[best]),
            pool_index=int(index[best]),
        )


def _level(
    plan: FidelityPlan,
    joint: JointModel,
    x: np.ndarray,
    goals: Any,
    ctx: Context,
    taken: list[np.ndarray],
    before: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """*x* at the fidelity with the most information about the target per
    unit cost that has not measured it yet and has not used its
    `max_evaluations`, and why (`loop.strategies.fidelity`); at the target
    when the cheaper levels would outspend it by more than one target
    evaluation. *taken* holds the earlier trials (the first *before*) and this
    batch's picks."""
    information = plan.information(joint.model, x, len(goals))
    open_levels = plan.open_levels(taken[before:])
    order = plan.choose(information, open_levels or None)
    spent = plan.spent(taken)
    for level in order:
        at = plan.at(x, level)
        if not ctx.is_new(at, taken):
            continue
        if (
            plan.over_screened(spent, level)
            and plan.target in (open_levels or [plan.target])
            and ctx.is_new(plan.at(x, plan.target), taken)
        ):
            why = plan.why(plan.target, information)
            return plan.at(x, plan.target), {**why, "rule": "balance"}
        return at, plan.why(level, information)
    return plan.at(x, order[0]), plan.why(order[0], information)


def _baseline(joint: JointModel, x_done: np.ndarray, n_goals: int) -> np.ndarray:
    """The measured rows predicted best in any goal, at most `BASELINE_POINTS`."""
    if len(x_done) <= BASELINE_POINTS:
        return x_done
    mean = joint.predict_mean(x_done)
    ranks = np.argsort(np.argsort(mean[:, :n_goals], axis=0, kind="stable"), axis=0)
    order = np.argsort(-ranks.max(axis=1), kind="stable")
    return x_done[np.sort(order[:BASELINE_POINTS])]


def _goal_scale(y_goals: np.ndarray) -> tuple[float, float]:
    """Mean and sd of the (one) signed goal's measurements: qUCB's values in
    sds, comparable with a failure model's log-probability penalty."""
    column = y_goals[:, 0]
    sd = float(column.std()) if len(column) > 1 else 0.0
    return float(column.mean()), sd if sd > 0 else 1.0


def _signed_columns(y: np.ndarray, names: list[str], which: Any) -> np.ndarray:
    """Columns of *y* for the objectives *which*, on the model's scale (larger is better)."""
    columns = [o.to_model(y[:, names.index(o.name)]) for o in which]
    try:
        return np.stack(columns, axis=1).reshape(len(y), len(columns))
    except ValueError:  # no columns
        return np.zeros((len(y), 0))


def gp_settings(
    spec: CampaignSpec, enc: Encoder, transfer: TransferModel | None = None
) -> GPSettings:
    """The GP inputs of this campaign: bounds, kernel, descriptor features,
    categoricals, and the sources' predictions when it transfers."""
    kernel = spec.strategy.surrogate.kernel
    table = enc.features()
    columns = list(enc.columns)
    extra = transfer.names if transfer is not None else ()
    lower = np.concatenate([enc.lower, np.full(len(extra), -SOURCE_SPREAD)])
    upper = np.concatenate([enc.upper, np.full(len(extra), SOURCE_SPREAD)])
    features = None
    if table is not None:
        features = FeatureSpec(
            enc.fraction_idx, table.table, table.keep_fractions, enc.dim + len(extra)
        )
        if not table.keep_fractions:
            columns = [c for c in columns if c.kind != "fraction"]
    # the sources' predictions follow the comp-rep's kept columns; the GP's
    # mean reads them and its kernel leaves them out, so the names (one per
    # kernel input) skip them
    sources = tuple(range(len(columns), len(columns) + len(extra)))
    names = [c.name for c in columns]
    if table is not None:
        names += [f"mean({p})" for p in table.properties]
        names += [f"spread({p})" for p in table.properties]
    onehot = tuple(i for i, c in enumerate(columns) if c.kind == "onehot")
    # a cheaper fidelity's values may sit apart from the target's (EMT's
    # mixing energies above CHGNet's): an offset of the mean each, so that the
    # kernel learns how far the levels vary together (`loop.strategies.fidelity`)
    cheaper = {f"{FIDELITY}={f.name}" for f in spec.fidelities[:-1]}
    offsets = tuple(i for i, c in enumerate(columns) if c.name in cheaper)
    # each categorical parameter's effect adds to the others' (measured on the
    # replay suite, docs/strategies.md); the levels of fidelity keep the kernel
    # their benchmark (docs/benchmarks.md, section 11) was measured with
    groups: dict[str, list[int]] = {}
    if not spec.fidelities:
        for i, c in enumerate(columns):
            if c.kind == "onehot":
                groups.setdefault(c.parameter, []).append(i)
    return GPSettings(
        lower,
        upper,
        kernel,
        features,
        tuple(names),
        onehot,
        transfer,
        sources,
        offsets,
        tuple(tuple(g) for g in groups.values()),
    )


def transfer_model(ctx: Context) -> TransferModel | None:
    """The sources' GPs of a transferring campaign (the same for every seed,
    so a rebuilt engine uses the same)."""
    if not ctx.sources:
        return None
    if TRANSFER_MEMORY not in ctx.memory:
        ctx.memory[TRANSFER_MEMORY] = fitted_transfer(
            ctx.sources, ctx.spec, ctx.encoder
        )
    fitted: TransferModel = ctx.memory[TRANSFER_MEMORY]
    return fitted


def first_restarts(settings: Any, batch: int) -> int:
    """Restarts of a batch's first pick: `optimizer.restarts`, and two per point of
    the batch (at most 32) so the later picks have local optima to choose from."""
    return (
        max(settings.restarts, min(2 * batch, 32)) if batch > 1 else settings.restarts
    )


def _boltzmann(initialize: Any, values: Any, n: int) -> np.ndarray:
    """Positions of *n* rows drawn by BoTorch's Boltzmann weighting of *values*."""
    import torch

    index = torch.arange(len(values), dtype=torch.double)[:, None, None]
    picked, _ = initialize(index, values, n=n)
    return picked.reshape(-1).long().numpy()
