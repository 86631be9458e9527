"""What the driver tells its caller: progress after each step, a summary at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loop.campaign_state import CampaignState, Hypervolume
from loop.display import parameter_units
from loop.records import Trial, TrialStatus
from loop.spec import CampaignSpec


@dataclass(frozen=True)
class Progress:
    """What the driver reports after each step."""

    used: int
    budget: int
    best: float | None
    message: str
    #: Something an operator must act on (stored values held out of the model).
    warning: str | None = None
    #: Several objectives: how many trials the Pareto set holds (None with one).
    pareto: int | None = None
    #: Several objectives: what the Pareto set dominates, in the objectives' units.
    hypervolume: Hypervolume | None = None


@dataclass(frozen=True)
class RunSummary:
    name: str
    used: int
    budget: int
    completed: int
    failed: int
    best: Trial | None
    finished: bool
    exhausted: bool = False
    #: several objectives: the non-dominated acceptable trials (empty with one)
    pareto: tuple[Trial, ...] = ()
    #: several objectives: the balanced trade-off among them
    recommended: Trial | None = None
    #: several objectives: what the Pareto set dominates, and against what
    hypervolume: Hypervolume | None = None
    #: objective and parameter units, for showing the result
    units: dict[str, str | None] = field(default_factory=dict)


def progress(
    spec: CampaignSpec, trials: list[Trial], message: str, warning: str | None = None
) -> Progress:
    state = CampaignState(spec, trials)
    best = state.best if state.single_goal else None
    value = best.values[spec.goals[0].name] if best else None
    front = None if state.single_goal else len(state.pareto)
    return Progress(
        state.budget_used,
        spec.budget.experiments,
        value,
        message,
        warning,
        front,
        state.hypervolume,
    )


def summary(
    spec: CampaignSpec, trials: list[Trial], finished: bool, exhausted: bool = False
) -> RunSummary:
    state = CampaignState(spec, trials)
    return RunSummary(
        name=spec.name,
        used=state.budget_used,
        budget=spec.budget.experiments,
        completed=state.counts.get(TrialStatus.COMPLETED.value, 0),
        failed=state.counts.get(TrialStatus.FAILED.value, 0),
        best=state.best if state.single_goal else None,
        finished=finished,
        exhausted=exhausted,
        pareto=() if state.single_goal else tuple(state.pareto),
        recommended=None if state.single_goal else state.recommended,
        hypervolume=state.hypervolume,
        units={o.name: o.unit for o in spec.objectives} | parameter_units(spec),
    )


#: What the driver calls with each step it takes (the CLI prints it).
ProgressCallback = Callable[[Progress], None]
