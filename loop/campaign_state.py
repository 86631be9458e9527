"""What a campaign has achieved so far, read from its spec and trials.

One read model for every reader: the driver's progress line, `loop inspect`,
the API's status document, the report and the dashboard all ask the same
questions (which trials count, which is best, what is the Pareto set, how much
of the budget is spent) and must get the same answers. `CampaignState` is built
once per command, request or driver iteration from (spec, trials) and answers
them; the free functions are the rules it applies, for callers holding a
single trial.

"Acceptable" follows `loop inspect`: measured inside the campaign's space (an
imported row kept outside it, `keep_outside`, is not), with every objective
present and inside its `bounds`, every outcome constraint met, and at the
target fidelity when the campaign has several (`fidelities:`). Only acceptable trials
can be best or on the Pareto front, and only when their values are not held
for an operator (`loop.spec.values.held_out`: a 1.7e308 stored before bounds
were declared, or without bounds until an operator confirms it, is never the
best).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np

from loop.records import CampaignRecord, Trial, TrialPhase, TrialStatus, cost_of
from loop.spec import CampaignSpec, validate
from loop.spec.fidelity import FIDELITY
from loop.spec.values import held_out


def load_spec(record: CampaignRecord) -> CampaignSpec:
    """The frozen spec of a stored campaign (validated again on the way out).

    The adapter's own check is not repeated: it was made when the campaign was
    stored, and an adapter checks its resources again when the driver starts it.
    So reading a campaign (`loop inspect`, the API, the report) needs neither its
    data file nor its instrument.
    """
    return validate(
        record.spec, f"campaign '{record.name}' in the database", check_adapter=False
    )


def budget_used(trials: list[Trial]) -> int:
    """Experiments spent: measured or failed for good (imported past
    measurements spend none)."""
    return sum(
        1
        for t in trials
        if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
        and t.phase is not TrialPhase.IMPORTED
    )


@dataclass(frozen=True)
class CostSpent:
    """What a campaign's evaluations cost so far, for `budget.cost`.

    `spent` sums the `cost` each measured trial's metadata and each failed or
    retried attempt recorded (`Store.attempt_costs`). `expected` is the cost a
    new evaluation is counted at: their mean (None before any is known), or,
    with `fidelities:`, the cheapest level's expected cost until costs are
    recorded (a campaign's first points are screens). `levels` is each
    fidelity's expected cost (`level_costs`): a trial in flight is counted at
    its own level's.
    """

    spent: float
    expected: float | None
    levels: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        trials: list[Trial],
        attempt_costs: list[float],
        spec: CampaignSpec | None = None,
    ) -> CostSpent:
        costs = [*attempt_costs]
        for t in trials:
            if t.measurement is not None and t.phase is not TrialPhase.IMPORTED:
                cost = cost_of(t.measurement.metadata)
                if cost is not None:
                    costs.append(cost)
        levels = level_costs(spec, trials) if spec is not None else {}
        expected = sum(costs) / len(costs) if costs else None
        if expected is None and levels:
            expected = next(iter(levels.values()))
        return cls(sum(costs), expected, levels)

    def promised(self, in_flight: list[Trial]) -> float:
        """The expected cost of the evaluations *in_flight*: each at its
        fidelity's expected cost, otherwise at the mean so far."""
        total = 0.0
        for t in in_flight:
            level = t.parameters.get(FIDELITY)
            cost = self.levels.get(str(level)) if level is not None else None
            total += cost if cost is not None else (self.expected or 0.0)
        return total

    def slots(self, budget: float, promised: float = 0.0) -> int | None:
        """How many more evaluations *budget* allows after what is spent and
        *promised* to evaluations in flight: 0 when it is spent, None while no
        cost is known (the experiment budget alone limits), else enough to
        reach it at the expected cost (the last may go over by part of one)."""
        left = budget - self.spent - promised
        if left <= 0:
            return 0
        if not self.expected:
            return None
        return math.ceil(left / self.expected)


def level_costs(spec: CampaignSpec, trials: list[Trial]) -> dict[str, float]:
    """The cost one more evaluation at each fidelity is expected to have,
    cheapest first: its `cost`, or for `cost: measured` the mean cost its
    evaluations recorded (`expected_cost` before any); empty without fidelities."""
    out: dict[str, float] = {}
    for f in spec.fidelities:
        if not f.measured:
            out[f.name] = f.declared_cost
            continue
        recorded = [
            c
            for t in trials
            if t.measurement is not None
            and t.phase is not TrialPhase.IMPORTED
            and t.parameters.get(FIDELITY) == f.name
            and (c := cost_of(t.measurement.metadata)) is not None
        ]
        out[f.name] = sum(recorded) / len(recorded) if recorded else f.declared_cost
    return out


def level_counts(spec: CampaignSpec, trials: list[Trial]) -> dict[str, int]:
    """Evaluations at each fidelity that count toward its `max_evaluations`:
    measured, failed for good or in flight (imported ones do not)."""
    out = {f.name: 0 for f in spec.fidelities}
    for t in trials:
        level = t.parameters.get(FIDELITY)
        if t.spends_budget and level in out:
            out[str(level)] += 1
    return out


def target_slots(spec: CampaignSpec, trials: list[Trial]) -> int | None:
    """Evaluations left under the target fidelity's `max_evaluations` (None
    without one): when none are left the campaign is over, as a screen can
    no longer lead to an evaluation that counts."""
    if not spec.fidelities or spec.fidelities[-1].max_evaluations is None:
        return None
    target = spec.fidelities[-1]
    used = level_counts(spec, trials)[target.name]
    return max(int(target.max_evaluations or 0) - used, 0)


def acceptable(spec: CampaignSpec, trial: Trial) -> bool:
    """Measured inside the campaign's space, with every objective present and
    inside its bounds, and every outcome constraint met. A past measurement
    imported from outside the space (`Trial.outside_space`) teaches the model
    but is not one of the campaign's results."""
    if trial.status != TrialStatus.COMPLETED or trial.outside_space:
        return False
    if spec.fidelities and trial.parameters.get(FIDELITY) != spec.target_fidelity:
        return False  # a cheaper fidelity informs the model; only the target counts
    if any(
        o.name not in trial.values or o.out_of_bounds(trial.values[o.name])
        for o in spec.objectives
    ):
        return False
    return all(o.acceptable(trial.values[o.name]) for o in spec.outcome_constraints)


def contenders(spec: CampaignSpec, trials: list[Trial]) -> list[Trial]:
    """Acceptable trials whose values are not held for an operator (extreme and
    unconfirmed, `loop.spec.values.held_out`): those that can be best or on
    the Pareto front."""
    held = {h.trial_id for h in held_out(spec, trials)}
    return [t for t in trials if acceptable(spec, t) and t.id not in held]


def best_trial(spec: CampaignSpec, trials: list[Trial]) -> Trial | None:
    """The best contending trial for the first goal (None before there is one)."""
    goal = spec.goals[0]
    done = contenders(spec, trials)
    if not done:
        return None
    return max(done, key=lambda t: goal.sign * t.values[goal.name])


def pareto_trials(spec: CampaignSpec, trials: list[Trial]) -> list[Trial]:
    """Contending trials that no other contending trial beats on every goal."""
    names = [o.name for o in spec.goals]
    signs = [o.sign for o in spec.goals]
    done = contenders(spec, trials)
    points = [
        [s * t.values[n] for s, n in zip(signs, names, strict=True)] for t in done
    ]

    def dominated(p: list[float]) -> bool:
        return any(
            all(q_i >= p_i for q_i, p_i in zip(q, p, strict=True)) and q != p
            for q in points
        )

    return [t for t, p in zip(done, points, strict=True) if not dominated(p)]


def recommended_tradeoff(spec: CampaignSpec, front: list[Trial]) -> Trial | None:
    """The Pareto member closest to the best of every goal at once: each goal
    scaled to [0, 1] over the front (1 the best of it), the trial nearest
    (1, ..., 1). A balanced default a chemist can start from, not a ranking."""
    if not front:
        return None
    names, signs = [o.name for o in spec.goals], [o.sign for o in spec.goals]
    points = np.array(
        [[s * t.values[n] for s, n in zip(signs, names, strict=True)] for t in front]
    )
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    gaps = np.linalg.norm(1.0 - (points - low) / span, axis=1)
    return front[int(np.argmin(gaps))]


@dataclass(frozen=True)
class Hypervolume:
    """The space the Pareto set dominates, in the objectives' own units (the
    product of their units; no logarithms), above `reference`: each goal's
    threshold where the YAML gives one, else 10 % of the observed range beyond
    the worst contending value (the engine's rule, on the measured values), so
    without thresholds the reference moves as the data spreads."""

    value: float
    reference: dict[str, float]


def reference_point(spec: CampaignSpec, trials: list[Trial]) -> np.ndarray | None:
    """The hypervolume reference of *trials* (contending ones), on the signed
    scale where larger is better for every goal; None without any."""
    goals = spec.goals
    if not trials:
        return None
    signed = np.array([[o.sign * t.values[o.name] for o in goals] for t in trials])
    worst = signed.min(axis=0)
    ref = worst - 0.1 * np.maximum(signed.max(axis=0) - worst, 1e-9)
    for j, o in enumerate(goals):
        if o.threshold is not None:
            ref[j] = o.sign * o.threshold
    return ref


def dominated_volume(spec: CampaignSpec, trials: list[Trial], ref: np.ndarray) -> float:
    """The hypervolume *trials* dominate above the signed reference *ref*
    (torch is imported here, not where a state is merely read)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume as Volume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    points = [
        p
        for p in (
            np.array([o.sign * t.values[o.name] for o in spec.goals]) for t in trials
        )
        if np.all(p > ref)
    ]
    if not points:
        return 0.0
    y = torch.as_tensor(np.array(points), dtype=torch.double)
    volume = Volume(torch.as_tensor(ref, dtype=torch.double))
    return float(volume.compute(y[is_non_dominated(y)]))


def measured_in_order(trials: list[Trial]) -> list[Trial]:
    """COMPLETED trials with a measurement, in the order the measurements arrived
    (`received_at`, then trial id)."""
    done = [
        t
        for t in trials
        if t.status == TrialStatus.COMPLETED and t.measurement is not None
    ]
    return sorted(done, key=lambda t: (_arrival(t), t.id))


def _arrival(t: Trial) -> datetime:
    assert t.measurement is not None
    return t.measurement.received_at or datetime.max


class CampaignState:
    """One campaign's spec and trials, and what follows from them.

    Answers are computed on first use and kept: build a new state after the
    trials change (a state describes one moment of the campaign).
    """

    def __init__(self, spec: CampaignSpec, trials: list[Trial]) -> None:
        self.spec = spec
        self.trials = list(trials)

    @cached_property
    def budget_used(self) -> int:
        """Experiments spent: measured or failed for good."""
        return budget_used(self.trials)

    @property
    def budget_left(self) -> int:
        return max(self.spec.budget.experiments - self.budget_used, 0)

    @cached_property
    def counts(self) -> dict[str, int]:
        """Trials per status (only statuses that occur), in first-seen order."""
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.status.value] = counts.get(t.status.value, 0) + 1
        return counts

    @cached_property
    def recommended(self) -> Trial | None:
        """Several goals: the balanced trade-off of the Pareto set."""
        return recommended_tradeoff(self.spec, self.pareto)

    @cached_property
    def measured(self) -> list[Trial]:
        """Measured trials in the order their measurements arrived."""
        return measured_in_order(self.trials)

    @cached_property
    def acceptable(self) -> list[Trial]:
        """Trials that count towards the campaign's result (see the module doc)."""
        return [t for t in self.trials if acceptable(self.spec, t)]

    @property
    def single_goal(self) -> bool:
        return len(self.spec.goals) == 1

    @cached_property
    def best(self) -> Trial | None:
        """The best acceptable trial for the first goal."""
        return best_trial(self.spec, self.trials)

    @cached_property
    def pareto(self) -> list[Trial]:
        """Acceptable trials no other acceptable trial beats on every goal."""
        return pareto_trials(self.spec, self.trials)

    @cached_property
    def hypervolume(self) -> Hypervolume | None:
        """Several goals: what the Pareto set dominates (None with one goal or
        before a contending measurement)."""
        if self.single_goal:
            return None
        done = contenders(self.spec, self.trials)
        ref = reference_point(self.spec, done)
        if ref is None:
            return None
        return Hypervolume(
            dominated_volume(self.spec, done, ref),
            {
                o.name: o.sign * float(r)
                for o, r in zip(self.spec.goals, ref, strict=True)
            },
        )
