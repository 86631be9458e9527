"""The campaign engine: pure ask/tell, no I/O.

`tell` gives it every stored trial; `ask` returns new proposals. Besides the
trials, the engine keeps only the last fit's hyperparameters (to start the next
fit from), and those are stored with each proposal round (`last_fit`) and given
back to a rebuilt engine (`fit=`); so rebuilding it from the store after a crash
gives the same proposals: every random choice is seeded by the campaign seed
and the iteration number.

Phases: the first `initial_design.size` proposals come from a space-filling
design (fixed by the campaign seed); after that the chosen strategy proposes.
A model-based strategy needs at least two completed measurements; until then
the design continues.

With a candidate pool (a dataset replay: the adapter's finite set of
configurations), every proposal is one of the pool's rows not yet taken; the
initial design then draws rows uniformly at random with the campaign seed, so
every strategy starts a replay from the same rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from loop.errors import FitError
from loop.model.robust import model_trials
from loop.model.state import from_document, to_document
from loop.records import Proposal, Trial, TrialPhase, TrialStatus
from loop.space.design import sobol_design, uniform_samples
from loop.space.domain import domain_of, typical_spacing
from loop.space.encoding import Encoder
from loop.space.feasible import Feasibility
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.spec.transfer import SourceRows
from loop.strategies import Candidate, History, get_strategy
from loop.strategies.base import MODEL_MEMORY, Context
from loop.strategies.design import fresh, from_pool
from loop.strategies.fidelity import FidelityPlan
from loop.threads import ensure_threads

MIN_OBSERVATIONS_FOR_MODEL = 2


def iteration_seed(seed: int, iteration: int) -> int:
    """A stable per-iteration seed derived from the campaign seed."""
    digest = hashlib.sha256(f"{seed}:{iteration}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class CampaignEngine:
    """Proposes configurations for one campaign from the trials it is told about."""

    def __init__(
        self,
        spec: CampaignSpec,
        pool: Sequence[tuple[dict[str, float], dict[str, Any]]] | None = None,
        fit: dict[str, Any] | None = None,
        sources: Sequence[SourceRows] = (),
    ) -> None:
        """*fit* is the model fit stored with the campaign's latest model round
        (`Store.latest_fit`): the next fit starts from it, as it would have in
        the engine that made that round. *sources* are the measurements of
        `strategy.transfer` (`loop.sources.read_sources`)."""
        self.spec = spec
        self.encoder = Encoder(spec)
        self.feasibility = Feasibility(self.encoder)
        self.context = Context(spec, self.encoder, self.feasibility, tuple(sources))
        if fit:
            self.context.memory[MODEL_MEMORY] = from_document(fit)
        #: The fit made by the last `ask` (a document for `Store.add_trials`),
        #: None when that ask fitted no model (design points, baselines, Ax).
        self.last_fit: dict[str, Any] | None = None
        self._trials: list[Trial] = []
        self.pool = list(pool) if pool is not None else None
        self._pool_x = (
            self.encoder.encode_many(self.pool) if self.pool is not None else None
        )

    @property
    def fidelity(self) -> FidelityPlan | None:
        """The levels of a campaign with `fidelities:` as of the trials told
        (their expected costs and what is used of their caps; None without)."""
        return FidelityPlan.of(self.spec, self.encoder, self._trials)

    @property
    def initial_size(self) -> int:
        design = self.spec.strategy.initial_design
        size = design.size
        if size is None:
            size = max(4, 2 * self.encoder.free_dims, len(design.include))
        return min(size, self.spec.budget.experiments)

    @cached_property
    def included(self) -> np.ndarray:
        """The `initial_design.include` points, encoded (rows in YAML order);
        read once, since formulas are parsed with pymatgen."""
        from loop.spec.points import configuration

        points = self.spec.strategy.initial_design.include
        return (
            self.encoder.encode_many(
                [
                    configuration(self.spec, p.composition, dict(p.parameters))
                    for p in points
                ]
            )
            if points
            else np.zeros((0, self.encoder.dim))
        )

    def tell(self, trials: Sequence[Trial]) -> None:
        """Replace what the engine knows with *trials* (all of the campaign's)."""
        self._trials = list(trials)

    def history(self) -> History:
        enc = self.encoder

        def rows(ts: list[Trial]) -> np.ndarray:
            return enc.encode_many([(t.composition, t.parameters) for t in ts])

        # the one place measured values become model inputs: held-out values
        # (outside their bounds, or extreme and unconfirmed) stay out
        _, x_done, y_done = enc.measured(model_trials(self.spec, self._trials))
        x_all = rows([t for t in self._trials if t.status != TrialStatus.STALE])
        pool = pool_index = None
        if self._pool_x is not None:
            left = self._untaken(x_all)
            pool, pool_index = self._pool_x[left], np.flatnonzero(left)
        return History(
            x_done=x_done,
            y_done=y_done,
            x_failed=rows([t for t in self._trials if t.status == TrialStatus.FAILED]),
            x_pending=rows([t for t in self._trials if t.status.in_flight]),
            x_all=x_all,
            pool=pool,
            pool_index=pool_index,
            fidelity=self.fidelity,
            spent=sum(t.spends_budget for t in self._trials),
        )

    def _untaken(self, x_all: np.ndarray) -> np.ndarray:
        """Mask of pool rows that match no earlier trial (relative to each range)."""
        assert self._pool_x is not None
        left = np.ones(len(self._pool_x), dtype=bool)
        enc = self.encoder
        scale = np.where(enc.upper > enc.lower, enc.upper - enc.lower, 1.0)
        for x in x_all:
            left &= (np.abs(self._pool_x - x) / scale).max(axis=1) > 1e-6
        return left

    def ask(self, n: int, iteration: int) -> list[Proposal]:
        """Up to *n* new proposals, feasible and distinct from every earlier trial."""
        if n <= 0:
            return []
        ensure_threads()  # the Python API is an entry point too (loop.threads)
        before = dict(self.context.memory.get(MODEL_MEMORY, {}))
        proposals = self._ask(n, iteration)
        after = self.context.memory.get(MODEL_MEMORY, {})
        refitted = any(after[k] is not before.get(k) for k in after)
        self.last_fit = to_document(after) if refitted else None
        return proposals

    def _ask(self, n: int, iteration: int) -> list[Proposal]:
        history = self.history()
        seed = iteration_seed(self.spec.seed, iteration)
        engine = self.spec.strategy.engine
        if engine in ("random", "sobol") and history.pool is None:
            # baselines sample the whole space from the start (after the lab's
            # own `include` points); in a replay they share the seeded initial
            # rows with every other strategy instead
            included = self.included
            first = [
                _marked(c, included)
                for c in fresh(self.context, included, history, n, TrialPhase.INITIAL)
            ]
            wanted = n - len(first)
            candidates = first + (
                get_strategy(engine).propose(
                    self.context, _taking(history, first), wanted, seed
                )
                if wanted
                else []
            )
            return [self._proposal(c, engine, seed) for c in candidates]
        # imported past measurements stand in for design points: a campaign
        # that starts from 200 known alloys does not spend its own on a design
        # (those kept outside the space do not: they cover none of it)
        issued = sum(
            1
            for t in self._trials
            if (t.phase is TrialPhase.INITIAL and t.status != TrialStatus.STALE)
            or (
                t.phase is TrialPhase.IMPORTED
                and t.status == TrialStatus.COMPLETED
                and not t.outside_space
            )
        )
        n_design = max(0, min(n, self.initial_size - issued))
        if len(history.x_done) < MIN_OBSERVATIONS_FOR_MODEL:
            n_design = n
        if history.pool is None:  # the lab's own points are measured whatever else
            waiting = fresh(self.context, self.included, history, n, TrialPhase.INITIAL)
            n_design = max(n_design, len(waiting))
        candidates = self._design(history, n_design)
        if len(candidates) < n and len(history.x_done) < MIN_OBSERVATIONS_FOR_MODEL:
            # too little data for a model and the design is used up: sample instead
            candidates += get_strategy("random").propose(
                self.context, _taking(history, candidates), n - len(candidates), seed
            )
        elif len(candidates) < n:
            rest = _taking(history, candidates)
            try:
                candidates += get_strategy(engine).propose(
                    self.context, rest, n - len(candidates), seed
                )
            except Exception as exc:
                if not model_failure(exc):
                    raise
                candidates += self._fallback(rest, n - len(candidates), seed, exc)
        if history.fidelity is not None:
            candidates = self._levelled(candidates, issued, history)
        spacing = typical_spacing(self.encoder, history.x_done)
        return [
            self._proposal(self._with_domain(c, history, spacing), engine, seed)
            for c in candidates
        ]

    def _levelled(
        self, candidates: list[Candidate], issued: int, history: History
    ) -> list[Candidate]:
        """Design and fallback points at their fidelity (a model's picks carry
        the level it chose). Of the design, every third point is a target
        evaluation of the best configuration screened so far and not yet
        evaluated at the target (a new design point before any screen is
        measured), the others are evaluated at the cheapest level: paired
        values show the model how far the levels agree, where it matters. A
        fallback is evaluated at the cheapest level. A level whose
        `max_evaluations` is used up gives way to the cheapest that is not."""
        plan = history.fidelity
        assert plan is not None
        out: list[Candidate] = []
        taken = list(history.x_all)
        k = issued
        for c in candidates:
            if "included" in c.provenance:  # the lab's point, at its own fidelity
                why = plan.ruled(plan.level_of(c.x), "included")
                c = replace(c, provenance={**c.provenance, "fidelity": why})
            if "fidelity" in c.provenance:
                out.append(c)
                taken.append(c.x)
                continue
            x, level, rule = c.x, 0, "fallback"
            if c.phase is TrialPhase.INITIAL:
                level, rule = plan.design_level(k), "design"
                k += 1
            open_levels = plan.open_levels(taken[len(history.x_all) :])
            if open_levels and level not in open_levels:
                level, rule = open_levels[0], "capped"
            if c.phase is TrialPhase.INITIAL and level == plan.target:
                x = self._best_screened(plan, taken, c.x)
            x = plan.at(x, level)
            taken.append(x)
            why = plan.ruled(level, rule)
            out.append(replace(c, x=x, provenance={**c.provenance, "fidelity": why}))
        return out

    def _best_screened(
        self, plan: FidelityPlan, taken: list[np.ndarray], default: np.ndarray
    ) -> np.ndarray:
        """The configuration measured best at the cheapest level whose target
        value is not yet taken (*default* when there is none)."""
        goal = self.spec.goals[0]
        cheapest = plan.names[0]
        screened = [
            t
            for t in model_trials(self.spec, self._trials)
            if t.status == TrialStatus.COMPLETED
            and t.parameters.get(FIDELITY) == cheapest
            and goal.name in t.values
        ]
        screened.sort(key=lambda t: -goal.sign * t.values[goal.name])
        rows = self.encoder.encode_many(
            [(t.composition, t.parameters) for t in screened]
        )
        for x in plan.at(rows, plan.target) if screened else ():
            if self.context.is_new(x, taken):
                return x
        return default

    def _with_domain(
        self, c: Candidate, history: History, spacing: float | None
    ) -> Candidate:
        """*c* with its applicability-domain distance in provenance (proposals
        chosen by a strategy from measurements; not the seeded design)."""
        if c.phase is TrialPhase.INITIAL:
            return c
        domain = domain_of(self.encoder, history.x_done, c.x, spacing)
        if domain is None:
            return c
        return replace(c, provenance={**c.provenance, "domain": domain.document()})

    def _fallback(
        self, history: History, n: int, seed: int, exc: BaseException
    ) -> list[Candidate]:
        """Random feasible points when the model cannot be fitted or used, so one
        bad measurement never stops a campaign; why is kept in provenance."""
        reason = f"the model could not be used ({type(exc).__name__}: {exc})"
        return [
            replace(c, phase=TrialPhase.FALLBACK, provenance={"fallback": reason[:500]})
            for c in get_strategy("random").propose(self.context, history, n, seed)
        ]

    def _design(self, history: History, n: int) -> list[Candidate]:
        if n <= 0:
            return []
        if history.pool is not None:
            return self._pool_design(history, n)
        size = self.initial_size + len(history.x_all) + n
        design = self.spec.strategy.initial_design
        if design.method == "sobol":
            pool = sobol_design(self.encoder, self.feasibility, size, self.spec.seed)
        else:
            pool = uniform_samples(self.encoder, self.feasibility, size, self.spec.seed)
        # the lab's own points first, then the space-filling ones
        included = self.included
        plan = history.fidelity
        if plan is not None:
            # the lab's points at the fidelity each names; a design point is a
            # configuration, at whichever level: one measured at any level is
            # not designed again (`_levelled` sets its level)
            mine = [
                _marked(c, included)
                for c in fresh(self.context, included, history, n, TrialPhase.INITIAL)
            ]
            rest = _taking(history, mine)
            rest = replace(rest, x_all=plan.at(rest.x_all, 0))
            samples = plan.at(pool, 0)
            return mine + fresh(
                self.context, samples, rest, n - len(mine), TrialPhase.INITIAL
            )
        samples = np.vstack([included, pool])
        picked = fresh(self.context, samples, history, n, TrialPhase.INITIAL)
        return [_marked(c, included) for c in picked]

    def _pool_design(self, history: History, n: int) -> list[Candidate]:
        """The next rows of one seeded random order of the whole pool."""
        assert history.pool_index is not None and self.pool is not None
        order = np.random.default_rng(self.spec.seed).permutation(len(self.pool))
        position = {int(i): k for k, i in enumerate(history.pool_index)}
        picks = [position[int(i)] for i in order if int(i) in position][:n]
        return from_pool(history, np.array(picks, dtype=int), n, TrialPhase.INITIAL)

    def _proposal(self, c: Candidate, engine: str, seed: int) -> Proposal:
        if c.pool_index is not None and self.pool is not None:
            composition, parameters = self.pool[c.pool_index]
        else:
            composition, parameters = self.encoder.decode(c.x)
        return Proposal(
            composition=composition,
            parameters=parameters,
            phase=c.phase,
            strategy=engine,
            acquisition_value=c.acquisition_value,
            predicted_mean=c.predicted_mean,
            predicted_sd=c.predicted_sd,
            seed=seed,
            provenance=c.provenance,
        )


def model_failure(exc: BaseException) -> bool:
    """True for the errors of fitting or using a model on awkward data (a
    singular or non-PSD matrix, a failed fit, NaNs), which the engine answers
    with a random fallback; any other error is a bug and propagates."""
    if isinstance(exc, FitError | ArithmeticError):
        return True
    import torch
    from linear_operator.utils.errors import NanError, NotPSDError

    return isinstance(exc, torch.linalg.LinAlgError | NotPSDError | NanError)


def _marked(c: Candidate, included: np.ndarray) -> Candidate:
    """*c* with provenance `included: N` when it is include point N of the YAML."""
    for i, x in enumerate(included):
        if np.array_equal(x, c.x):
            return replace(c, provenance={**c.provenance, "included": i})
    return c


def _taking(history: History, candidates: list[Candidate]) -> History:
    """*history* with *candidates* added as pending and taken points."""
    return history.taking(
        [c.x for c in candidates],
        [c.pool_index for c in candidates if c.pool_index is not None],
    )
