"""What the budget still allows: `budget.cost` with work in flight counted at
its expected cost, and the target fidelity's `max_evaluations`."""

from __future__ import annotations

from dataclasses import dataclass

from loop.campaign_state import CostSpent, target_slots
from loop.records import Trial
from loop.spec import CampaignSpec
from loop.storage import Store


@dataclass(frozen=True)
class Limit:
    """How many more evaluations may be proposed besides `budget.experiments`
    (None: no other limit) and, when none, why (for the progress line)."""

    slots: int | None
    why: str = ""


def budget_limit(
    store: Store, spec: CampaignSpec, trials: list[Trial], in_flight: list[Trial]
) -> Limit:
    """More evaluations `budget.cost` allows, those *in_flight* counted at
    their expected cost (`CostSpent`), and, with fidelities, the target's
    `max_evaluations`: the tighter of the two."""
    limits: list[Limit] = []
    if spec.budget.cost is not None:
        spent = CostSpent.of(trials, store.attempt_costs(spec.name), spec)
        slots = spent.slots(spec.budget.cost, spent.promised(in_flight))
        if slots is not None:
            why = f"cost budget spent: {spent.spent:.4g} of {spec.budget.cost:.4g}"
            limits.append(Limit(slots, why))
    target = target_slots(spec, trials)
    if target is not None:
        last = spec.fidelities[-1]
        why = (
            f"{last.max_evaluations} evaluations at the target fidelity "
            f"'{last.name}' (its max_evaluations)"
        )
        limits.append(Limit(target, why))
    return min(limits, key=lambda lm: lm.slots or 0, default=Limit(None))
