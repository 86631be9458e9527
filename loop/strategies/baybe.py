"""BayBE as a proposal engine: a peer for comparisons, installed with the `peers` extra.

Every `propose` builds a fresh `baybe.Campaign` (loop's store is the only
state), describes the campaign to it, adds the completed trials as
measurements and asks `Campaign.recommend` for `n` points, under a BayBE random
seed derived from the iteration seed. BayBE keeps its defaults: the
`TwoPhaseMetaRecommender` (random until one measurement, then
`BotorchRecommender` with BayBE's Gaussian process and qLogEI for one goal,
qLogNEHVI for several). loop passes only what the YAML says: an
explicit `strategy.acquisition`, the optimizer's restarts and raw samples, and
thresholds as the hypervolume's reference point when every goal has one.

In a dataset replay the search space is the pool itself, a discrete subspace
built with `SubspaceDiscrete.from_dataframe`; measured rows are flagged by
`add_measurements`, failed rows excluded, rows in flight passed as pending
experiments, and the campaign is told never to recommend any of them again.
So BayBE proposes only rows not yet taken. Outside a replay the composition and
the continuous parameters are continuous parameters, the sum to one and the
linear constraints `ContinuousLinearConstraint`s, integer and categorical
parameters discrete ones (a hybrid space); proposals are then repaired by
`Feasibility.finalise` like every other strategy's. BayBE has no failure model:
failed trials are left out of its data. docs/strategies.md lists what maps.

BayBE sees aliases (c0.. for components, p0.. for parameters, m0.. for
goals), as the Ax strategy does, so names never collide with its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from loop.errors import BadInputError, LoopError
from loop.records import TrialPhase
from loop.spec import CampaignSpec
from loop.strategies.base import Candidate, Context, History
from loop.strategies.baybe_mapping import BaybeMapping
from loop.strategies.design import RandomStrategy
from loop.warnings_guard import guarded_filters

#: How to get BayBE: the optional extra of loop's package.
INSTALL_HINT = (
    "install the optional extra 'peers' (BayBE 0.15): "
    "`pip install -c constraints.txt -e '.[peers]'` in a clone of loop "
    "(`pip install 'loop-campaigns[peers]'` from a package index); "
    "or choose another strategy.engine (botorch, ax, random, sobol)"
)
#: Most discrete combinations (integer x categorical values) of a hybrid space:
#: BayBE optimises the continuous part once for each of them.
MAX_DISCRETE_COMBINATIONS = 1000


def require_baybe() -> Any:
    """The `baybe` module; a LoopError saying how to install it when it is missing."""
    try:
        with _quiet():
            import baybe
    except ImportError as exc:
        raise LoopError(
            f"strategy.engine: baybe needs the BayBE package, which cannot be "
            f"imported ({type(exc).__name__}: {exc})",
            INSTALL_HINT,
        ) from exc
    return baybe


def unsupported(spec: CampaignSpec, pooled: bool) -> list[str]:
    """What of *spec* the BayBE strategy cannot express (empty when it can run)."""
    out = [
        f"objective '{o.name}' has role: constraint (BayBE 0.15 has no outcome "
        "constraints)"
        for o in spec.outcome_constraints
    ]
    if pooled:
        return out  # the pool's rows satisfy the space's rules by construction
    combinations = 1
    for p in spec.space.parameters:
        if p.type == "integer":
            combinations *= p.bounds[1] - p.bounds[0] + 1
        elif p.type == "categorical":
            combinations *= len(p.values)
    if combinations > MAX_DISCRETE_COMBINATIONS:
        out.append(
            f"{combinations} combinations of integer and categorical values (BayBE "
            f"optimises the rest once per combination; at most "
            f"{MAX_DISCRETE_COMBINATIONS})"
        )
    discrete = {p.name for p in spec.space.parameters if p.type != "continuous"}
    for k, c in enumerate(spec.constraints):
        touched = sorted(set(c.coefficients) & discrete)
        if touched:
            out.append(
                f"constraints[{k}] involves {', '.join(touched)}, an integer or "
                "categorical parameter (BayBE's linear constraints are continuous)"
            )
    return out


def check(spec: CampaignSpec, pooled: bool) -> None:
    """Fail early, before a run starts: BayBE missing, or a campaign it cannot express."""
    problems = unsupported(spec, pooled)
    if problems:
        raise BadInputError(
            "strategy.engine: baybe cannot express this campaign: "
            + "; ".join(problems),
            "remove what is listed, or choose another strategy.engine "
            "(botorch supports everything)",
        )
    require_baybe()


class BaybeStrategy:
    """Proposals from BayBE's default recommender (random, then BayBE's BoTorch GP).

    Phase "model" when `BotorchRecommender` made the point, "initial" while
    BayBE is in its own random step (no completed trial yet, which only happens
    when the strategy is called without loop's initial design), "fallback" for
    random fill-ins (a repeat, a repair that failed, or an error of BayBE's,
    recorded in `provenance.baybe_error`).
    """

    name = "baybe"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        pooled = history.pool is not None
        check(ctx.spec, pooled)
        baybe = require_baybe()
        out: list[Candidate] = []
        info: dict[str, Any] = {
            "baybe": {
                "version": str(baybe.__version__),
                "completed": len(history.x_done),
                "failed": len(history.x_failed),
                "pending": len(history.x_pending),
            }
        }
        try:
            with _quiet():
                if pooled:
                    out = self._from_pool(ctx, history, n, seed, info)
                else:
                    out = self._from_space(ctx, history, n, seed, info)
        except Exception as exc:  # BayBE could not propose: record why, then sample
            info = {**info, "baybe_error": f"{type(exc).__name__}: {exc}"[:500]}
            out = []
        if len(out) < n:
            chosen = [c.pool_index for c in out if c.pool_index is not None]
            rest = history.taking([c.x for c in out], chosen)
            more = RandomStrategy().propose(ctx, rest, n - len(out), seed)
            out += [
                Candidate(
                    c.x, TrialPhase.FALLBACK, provenance=info, pool_index=c.pool_index
                )
                for c in more
            ]
        return out

    def _campaign(
        self, mapping: BaybeMapping, space: Any, discrete: bool, info: dict[str, Any]
    ) -> Any:
        """A fresh BayBE campaign over *space*; what it uses goes into *info*."""
        from baybe import Campaign

        flags: dict[str, bool] = {}
        if discrete:  # BayBE allows these only for a purely discrete space
            flags = {
                "allow_recommending_already_measured": False,
                "allow_recommending_already_recommended": False,
                "allow_recommending_pending_experiments": False,
            }
        recommender = mapping.recommender()
        campaign = Campaign(space, mapping.objective(), recommender, **flags)
        bo = recommender.recommender
        info["baybe"].update(
            {
                "search_space": str(space.type.name).lower(),
                "recommender": type(bo).__name__,
                "acquisition": bo.acquisition_function.abbreviation,
                "surrogate": "GaussianProcessSurrogate",
                "objective": type(campaign.objective).__name__,
                "aliases": mapping.aliases,
            }
        )
        return campaign

    def _from_pool(
        self,
        ctx: Context,
        history: History,
        n: int,
        seed: int,
        info: dict[str, Any],
    ) -> list[Candidate]:
        """Rows of the pool chosen by BayBE over the pool as a discrete space.

        The space holds the rows left and those taken (so every measurement is
        one of its rows); its index is the row's position in `pool` + `x_all`.
        """
        from baybe import Settings
        from baybe.searchspace import SearchSpace, SubspaceDiscrete

        assert history.pool is not None and history.pool_index is not None
        mapping = BaybeMapping(ctx)
        left = len(history.pool)
        if left == 0:
            return []
        rows = np.concatenate(
            [history.pool, history.x_all.reshape(-1, ctx.encoder.dim)]
        )
        full = mapping.frame(rows)
        parameters = mapping.pool_parameters(full)
        columns = [p.name for p in parameters]
        space = SearchSpace(
            discrete=SubspaceDiscrete.from_dataframe(full[columns], parameters)
        )
        campaign = self._campaign(mapping, space, True, info)
        info["baybe"]["candidates"] = left
        # columns with one value in every row: nothing to learn or choose there
        info["baybe"]["constant"] = [c for c in mapping.aliases if c not in columns]
        if len(history.x_done):
            measured = mapping.measurements(history)
            campaign.add_measurements(
                measured[[*columns, *mapping.metrics.values()]],
                numerical_measurements_must_be_within_tolerance=False,
            )
        if len(history.x_failed):
            failed = mapping.frame(history.x_failed)[columns]
            campaign.toggle_discrete_candidates(failed, exclude=True)
        pending = (
            mapping.frame(history.x_pending)[columns]
            if len(history.x_pending)
            else None
        )
        with Settings(random_seed=seed):
            recommended = campaign.recommend(min(n, left), pending_experiments=pending)
        phase = _phase(campaign, len(history.x_done), info)
        means, sds = _predictions(ctx, campaign, mapping, recommended, phase)
        out: list[Candidate] = []
        taken = [*history.x_all]
        for k, (position, _) in enumerate(recommended.iterrows()):
            if not 0 <= int(position) < left:
                continue  # a row already taken: BayBE was told not to, but be sure
            x = history.pool[int(position)]
            if not ctx.is_new(x, taken):
                continue
            taken.append(x)
            prov = {**info, "baybe": {**info["baybe"]}}
            out.append(
                Candidate(
                    x,
                    phase,
                    None,
                    means[k],
                    sds[k],
                    prov,
                    int(history.pool_index[int(position)]),
                )
            )
        return out

    def _from_space(
        self,
        ctx: Context,
        history: History,
        n: int,
        seed: int,
        info: dict[str, Any],
    ) -> list[Candidate]:
        """Points of the continuous (or hybrid) space, repaired by `finalise`."""
        from baybe import Settings
        from baybe.searchspace import SearchSpace

        mapping = BaybeMapping(ctx)
        parameters, constraints, fixed = mapping.space()
        space = SearchSpace.from_product(parameters, constraints)
        campaign = self._campaign(mapping, space, False, info)
        names = [p.name for p in parameters]
        info["baybe"]["linear_constraints"] = len(constraints)
        info["baybe"]["not_given"] = [
            rule
            for rule, present in (
                ("max_components", ctx.feasibility.max_components is not None),
                ("resolution", ctx.feasibility.step is not None),
            )
            if present
        ]
        if len(history.x_done):
            measured = mapping.measurements(history)
            campaign.add_measurements(
                measured[[*names, *mapping.metrics.values()]],
                numerical_measurements_must_be_within_tolerance=False,
            )
        pending = (
            mapping.frame(history.x_pending)[names] if len(history.x_pending) else None
        )
        with Settings(random_seed=seed):
            recommended = campaign.recommend(n, pending_experiments=pending)
        phase = _phase(campaign, len(history.x_done), info)
        out: list[Candidate] = []
        taken = [*history.x_all]
        for _, row in recommended.iterrows():
            x = ctx.feasibility.finalise(mapping.vector(row, fixed))
            if x is None or not ctx.is_new(x, taken):
                continue
            taken.append(x)
            out.append(
                Candidate(x, phase, provenance={**info, "baybe": {**info["baybe"]}})
            )
        if out and phase is TrialPhase.MODEL:
            repaired = mapping.frame(np.array([c.x for c in out]))[names]
            means, sds = _predictions(ctx, campaign, mapping, repaired, phase)
            out = [
                Candidate(c.x, c.phase, None, m, s, {**c.provenance})
                for c, m, s in zip(out, means, sds, strict=True)
            ]
        return out


def _phase(campaign: Any, completed: int, info: dict[str, Any]) -> TrialPhase:
    """MODEL once BayBE's meta recommender has switched to its Bayesian step.

    Records the recommender that made the points as `baybe_step`.
    """
    meta = campaign.recommender
    switched = completed >= meta.switch_after
    step = meta.recommender if switched else meta.initial_recommender
    info["baybe_step"] = type(step).__name__
    return TrialPhase.MODEL if switched else TrialPhase.INITIAL


def _predictions(
    ctx: Context, campaign: Any, mapping: BaybeMapping, rows: Any, phase: TrialPhase
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """BayBE's posterior mean and sd at *rows*, in the goals' units (empty if none)."""
    empty: tuple[list[dict[str, float]], list[dict[str, float]]] = (
        [{} for _ in range(len(rows))],
        [{} for _ in range(len(rows))],
    )
    if phase is not TrialPhase.MODEL or not len(rows):
        return empty
    try:
        stats = campaign.posterior_stats(rows)
    except Exception:  # a prediction is a courtesy, not a requirement
        return empty
    means: list[dict[str, float]] = []
    sds: list[dict[str, float]] = []
    for k in range(len(rows)):
        mean, sd = {}, {}
        for o in ctx.spec.goals:
            m = mapping.metrics[o.name]
            mu, sigma = o.from_model(
                o.sign * float(stats[f"{m}_mean"].iloc[k]),
                float(stats[f"{m}_std"].iloc[k]),
            )
            mean[o.name], sd[o.name] = mu, sigma
        means.append(mean)
        sds.append(sd)
    return means, sds


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence BayBE and keep what it changes process-wide to this block.

    Python warnings are ignored (BayBE's pandas deprecations among them) and the
    filters restored afterwards, under loop's filter lock; importing BayBE adds
    a filter of its own, undone the same way. BayBE sets torch's default dtype
    when it builds its priors; the previous one is restored, so strategies run
    later in the same process (`loop bench`) see torch as they would alone.
    """
    import torch

    dtype = torch.get_default_dtype()
    with guarded_filters():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            torch.set_default_dtype(dtype)
