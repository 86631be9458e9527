"""Creating, finding and describing campaigns."""

from __future__ import annotations

from typing import Any

from loop.campaign_state import CampaignState, CostSpent, acceptable, load_spec
from loop.errors import CampaignConflictError
from loop.plugins import adapter_class
from loop.ports import PinningAdapterClass
from loop.records import CampaignRecord, CampaignStatus, Trial, TrialStatus, cost_of
from loop.service.held import held_reasons
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.spec.formulas import formula
from loop.storage import Store
from loop.storage.driver import holder

#: Keys of the spec that may change when `loop run` continues a campaign
#: (`prior_data`: a lab adds a file later; what was imported stays).
MUTABLE_KEYS = {"budget", "description", "executor", "prior_data"}
#: Keys of each objective that may change too: the plausible range of a value
#: and what happens outside it (stored values are screened again on resume).
MUTABLE_OBJECTIVE_KEYS = ("bounds", "outliers")


def ensure_campaign(store: Store, spec: CampaignSpec) -> tuple[CampaignRecord, str]:
    """The stored campaign for *spec*, created if new; returns (record, what happened).

    An existing campaign continues when its stored spec equals *spec* except for
    the budget, description, executor, `prior_data` or the objectives' `bounds`
    and `outliers`, which are updated; any other difference is refused.
    """
    data = spec.model_dump(mode="json")
    found = store.find_campaign(spec.name)
    if found is None:
        data["adapter"] = {**data["adapter"], **_pins(spec, data["adapter"])}
        return store.create_campaign(spec.name, data), "created"
    # compare canonical forms under this version of loop, so a default added
    # since the campaign was stored does not count as a change
    stored = load_spec(found).model_dump(mode="json")
    data["adapter"] = _keep_pins(spec, data["adapter"], stored["adapter"])
    changed = sorted(
        k for k in data.keys() | stored.keys() if data.get(k) != stored.get(k)
    )
    blocked = [
        k
        for k in changed
        if k not in MUTABLE_KEYS
        and not (k == "objectives" and _same_objectives(data[k], stored[k]))
    ]
    if blocked:
        raise CampaignConflictError(
            f"campaign '{spec.name}' already exists with a different "
            f"{', '.join(blocked)}",
            "only `budget`, `description`, `executor`, `prior_data` and the "
            "objectives' `bounds` and `outliers` may change when continuing; to "
            "change anything else "
            "give the campaign a new `name`",
        )
    if changed:
        used = sum(1 for t in store.trials(spec.name) if t.spends_budget)
        if spec.budget.experiments < used:
            raise CampaignConflictError(
                f"the new budget {spec.budget.experiments} is below the {used} experiments "
                "already committed",
                f"set budget.experiments to at least {used}",
            )
        store.update_campaign(spec.name, spec=data, status=CampaignStatus.ACTIVE)
        return store.get_campaign(spec.name), "updated " + ", ".join(changed)
    return found, "continued"


def _same_objectives(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> bool:
    """Whether the objectives differ at most in their bounds and outliers."""

    def fixed(objectives: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in o.items() if k not in MUTABLE_OBJECTIVE_KEYS}
            for o in objectives
        ]

    return fixed(new) == fixed(old)


def _pins(spec: CampaignSpec, block: dict[str, Any]) -> dict[str, Any]:
    """Adapter-block values the adapter fixes for a new campaign, unless given.

    A `loop.ports.PinningAdapterClass` gives them with `pin(config, spec)` (the
    dataset adapter returns its data file's SHA-256); the values are stored
    with the campaign and the adapter compares them each time it starts, so a
    campaign never continues on different data.
    """
    plugin = adapter_class(block["type"])
    if not isinstance(plugin, PinningAdapterClass):
        return {}
    pins = plugin.pin(spec.adapter_config(), spec)
    return {k: v for k, v in pins.items() if block.get(k) is None}


def _keep_pins(
    spec: CampaignSpec, block: dict[str, Any], stored: dict[str, Any]
) -> dict[str, Any]:
    """*block* with the stored pinned values where the file leaves them out."""
    plugin = adapter_class(block["type"])
    keys = plugin.pinned if isinstance(plugin, PinningAdapterClass) else ()
    kept = {k: stored[k] for k in keys if block.get(k) is None and k in stored}
    return {**block, **kept}


def _budget(store: Store, spec: CampaignSpec, state: CampaignState) -> dict[str, Any]:
    """The budget block of the status document (the cost only with `budget.cost`)."""
    block: dict[str, Any] = {
        "experiments": spec.budget.experiments,
        "used": state.budget_used,
    }
    if spec.budget.cost is not None:
        spent = CostSpent.of(state.trials, store.attempt_costs(spec.name), spec)
        block |= {"cost": spec.budget.cost, "cost_spent": spent.spent}
    if spec.fidelities:
        block["cost_by_fidelity"] = cost_by_fidelity(spec, state.trials)
    return block


def cost_by_fidelity(spec: CampaignSpec, trials: list[Trial]) -> dict[str, float]:
    """The recorded cost of the measurements at each fidelity, cheapest first."""
    out = {f.name: 0.0 for f in spec.fidelities}
    for t in trials:
        level = t.parameters.get(FIDELITY)
        if t.measurement is not None and level in out:
            out[level] += cost_of(t.measurement.metadata) or 0.0
    return out


def status_document(store: Store, name: str) -> dict[str, Any]:
    """The campaign as `inspect --format json` and the API show it."""
    record = store.get_campaign(name)
    state = CampaignState(load_spec(record), store.trials(name))
    spec = state.spec
    front = pareto_ids(state)
    held = held_reasons(spec, state.trials)
    doc: dict[str, Any] = {
        "name": record.name,
        "status": record.status,
        "description": spec.description,
        "spec": record.spec,
        "driver": _driver(store, name),
        "objectives": [o.model_dump(mode="json") for o in spec.objectives],
        "budget": _budget(store, spec, state),
        "counts": state.counts,
        "trials": [trial_document(t, spec, held, front) for t in state.trials],
    }
    if state.single_goal:
        doc["best"] = trial_document(state.best, spec, held) if state.best else None
    else:
        doc["pareto"] = [trial_document(t, spec, held, front) for t in state.pareto]
    return doc


def overview(store: Store) -> list[dict[str, Any]]:
    """Every campaign of the database in a line: `loop list`."""
    rows = []
    for record in store.list_campaigns():
        state = CampaignState(load_spec(record), store.trials(record.name))
        spec = state.spec
        best: dict[str, Any] | None = None
        if state.single_goal and state.best is not None:
            goal = spec.goals[0]
            best = {
                "trial": state.best.id,
                goal.name: state.best.values[goal.name],
                "unit": goal.unit,
            }
        rows.append(
            {
                "name": record.name,
                "status": record.status.value,
                "engine": spec.strategy.engine,
                "adapter": spec.adapter["type"],
                "budget": {
                    "experiments": spec.budget.experiments,
                    "used": state.budget_used,
                },
                "trials": len(state.trials),
                "best": best,
                "pareto": None if state.single_goal else len(state.pareto),
                "created_at": record.created_at.isoformat()
                if record.created_at
                else None,
            }
        )
    return rows


def held_out_check(store: Store, name: str) -> dict[str, Any]:
    """Per objective, how the predictions stored with model proposals compare
    with what was measured later (`loop.model.calibration`); no model is fitted."""
    from loop.model.calibration import predicted_before_measured

    spec = load_spec(store.get_campaign(name))
    return predicted_before_measured(spec, store.trials(name))


def _driver(store: Store, name: str) -> dict[str, Any] | None:
    """Who drives the campaign (`loop run`/`resume`) and until when, if anyone."""
    held = holder(store, name)
    if held is None:
        return None
    return {
        "owner": held.owner,
        "since": held.since.isoformat() if held.since else None,
        "lease_expires_at": held.expires_at.isoformat() if held.expires_at else None,
    }


def trial_document(
    t: Trial,
    spec: CampaignSpec,
    held: dict[int, str] | None = None,
    pareto: set[int] | None = None,
) -> dict[str, Any]:
    """One trial as `inspect`, the status document, `--explain` and `export` show
    it; `formula` is the atom-fraction formula of an element campaign's trial;
    *held*: why trials' values are held out of the model (`held_reasons`);
    *pareto*: the ids of the Pareto set when the campaign has several
    objectives (`pareto_ids`)."""
    return {
        "id": t.id,
        "iteration": t.iteration,
        "status": t.status.value,
        "attempt": t.attempt,
        "phase": t.phase,
        "strategy": t.strategy,
        "composition": t.composition,
        "formula": formula(spec.space.composition, t.composition),
        "parameters": t.parameters,
        "measurements": t.values,
        "acquisition_value": t.acquisition_value,
        "predicted_mean": t.predicted_mean,
        "predicted_sd": t.predicted_sd,
        "failure_reason": t.failure_reason,
        "voided": dict(t.voided.values) if t.voided else None,
        "flagged": dict(t.flagged.values) if t.flagged else None,
        "held_out": (held or {}).get(t.id),
        # an imported row kept outside the space (`keep_outside`): why
        "outside_space": t.outside_space or None,
        "feasible": acceptable(spec, t) if t.status == TrialStatus.COMPLETED else None,
        "is_pareto": None if pareto is None else t.id in pareto,
    }


def pareto_ids(state: CampaignState) -> set[int] | None:
    """Ids of the Pareto set with several objectives; None with one."""
    return None if state.single_goal else {t.id for t in state.pareto}
