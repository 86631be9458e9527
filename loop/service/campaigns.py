"""Creating, finding and describing campaigns."""

from __future__ import annotations

from typing import Any

from loop.errors import CampaignConflictError
from loop.plugins import adapter_class
from loop.ports import PinningAdapterClass
from loop.records import CampaignRecord, Trial, TrialStatus
from loop.spec import CampaignSpec, validate
from loop.storage import Store
from loop.storage.driver import holder

#: Keys of the spec that may change when `loop run` continues a campaign.
MUTABLE_KEYS = {"budget", "description", "executor"}


def ensure_campaign(store: Store, spec: CampaignSpec) -> tuple[CampaignRecord, str]:
    """The stored campaign for *spec*, created if new; returns (record, what happened).

    An existing campaign continues when its stored spec equals *spec* except for
    the budget or description, which are updated; any other difference is refused.
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
    blocked = [k for k in changed if k not in MUTABLE_KEYS]
    if blocked:
        raise CampaignConflictError(
            f"campaign '{spec.name}' already exists with a different "
            f"{', '.join(blocked)}",
            "only `budget`, `description` and `executor` may change when continuing; to change "
            "anything else give the campaign a new `name`",
        )
    if changed:
        used = sum(1 for t in store.trials(spec.name) if t.status.spends_budget)
        if spec.budget.experiments < used:
            raise CampaignConflictError(
                f"the new budget {spec.budget.experiments} is below the {used} experiments "
                "already committed",
                f"set budget.experiments to at least {used}",
            )
        store.update_campaign(spec.name, spec=data, status="active")
        return store.get_campaign(spec.name), "updated " + ", ".join(changed)
    return found, "continued"


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


def load_spec(record: CampaignRecord) -> CampaignSpec:
    """The frozen spec of a stored campaign (validated again on the way out).

    The adapter's own check is not repeated: it was made when the campaign was
    stored, and an adapter checks its resources again when the driver starts it.
    So reading a campaign (`loop inspect`, the API) needs neither its data file
    nor its instrument.
    """
    return validate(
        record.spec, f"campaign '{record.name}' in the database", check_adapter=False
    )


def budget_used(trials: list[Trial]) -> int:
    """Experiments spent: measured or failed for good."""
    return sum(
        1 for t in trials if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    )


def acceptable(spec: CampaignSpec, trial: Trial) -> bool:
    """Measured, with every objective present and every outcome constraint met."""
    if trial.status != TrialStatus.COMPLETED:
        return False
    if any(o.name not in trial.values for o in spec.objectives):
        return False
    return all(o.acceptable(trial.values[o.name]) for o in spec.outcome_constraints)


def best_trial(spec: CampaignSpec, trials: list[Trial]) -> Trial | None:
    """The best acceptable trial for a single goal (None before there is one)."""
    goal = spec.goals[0]
    done = [t for t in trials if acceptable(spec, t)]
    if not done:
        return None
    return max(done, key=lambda t: goal.sign * t.values[goal.name])


def pareto_trials(spec: CampaignSpec, trials: list[Trial]) -> list[Trial]:
    """Acceptable trials that no other acceptable trial beats on every goal."""
    names = [o.name for o in spec.goals]
    signs = [o.sign for o in spec.goals]
    done = [t for t in trials if acceptable(spec, t)]
    points = [
        [s * t.values[n] for s, n in zip(signs, names, strict=True)] for t in done
    ]

    def dominated(p: list[float]) -> bool:
        return any(
            all(q_i >= p_i for q_i, p_i in zip(q, p, strict=True)) and q != p
            for q in points
        )

    return [t for t, p in zip(done, points, strict=True) if not dominated(p)]


def status_document(store: Store, name: str) -> dict[str, Any]:
    """The campaign as `inspect --format json` and the API show it."""
    record = store.get_campaign(name)
    spec = load_spec(record)
    trials = store.trials(name)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status.value] = counts.get(t.status.value, 0) + 1
    doc: dict[str, Any] = {
        "name": record.name,
        "status": record.status,
        "description": spec.description,
        "spec": record.spec,
        "driver": _driver(store, name),
        "objectives": [o.model_dump(mode="json") for o in spec.objectives],
        "budget": {"experiments": spec.budget.experiments, "used": budget_used(trials)},
        "counts": counts,
        "trials": [trial_document(t) for t in trials],
    }
    if len(spec.goals) == 1:
        best = best_trial(spec, trials)
        doc["best"] = trial_document(best) if best else None
    else:
        doc["pareto"] = [trial_document(t) for t in pareto_trials(spec, trials)]
    return doc


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


def trial_document(t: Trial) -> dict[str, Any]:
    return {
        "id": t.id,
        "iteration": t.iteration,
        "status": t.status.value,
        "attempt": t.attempt,
        "phase": t.phase,
        "strategy": t.strategy,
        "composition": t.composition,
        "parameters": t.parameters,
        "measurements": t.values,
        "acquisition_value": t.acquisition_value,
        "predicted_mean": t.predicted_mean,
        "predicted_sd": t.predicted_sd,
        "failure_reason": t.failure_reason,
    }
