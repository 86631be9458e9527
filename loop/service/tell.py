"""A measurement entered by hand: for a proposed trial, or for a point never proposed.

`loop tell` and `loop.Campaign.tell` share this. Values are checked as the
robot API checks them (`loop.spec.values`: every objective, finite, positive
under a log transform, inside its `bounds`; a value outside them is refused,
also with `outliers: flag`, since the person telling it can fix it); an off-plan configuration must obey every rule of the
campaign's space (`spec.rules.violations`). A proposed trial is completed as a
robot's post would complete it; an off-plan one becomes a trial of phase
`manual` with its measurement, in one transaction.
"""

from __future__ import annotations

from typing import Any

from loop.campaign_state import load_spec
from loop.errors import BadInputError, NotFoundError
from loop.records import Proposal, Trial, TrialPhase, TrialStatus
from loop.spec.points import configuration
from loop.spec.rules import outside_space
from loop.spec.values import describe, value_problems
from loop.storage import Store
from loop.storage.manual import add_measured_trial

#: Statuses a told measurement completes (a robot's claim included: the lab knows).
OPEN = (TrialStatus.PENDING, TrialStatus.CLAIMED, TrialStatus.STARTED)


def tell(
    store: Store,
    name: str,
    values: dict[str, float],
    *,
    trial_id: int | None = None,
    composition: dict[str, float] | str | None = None,
    parameters: dict[str, Any] | None = None,
    source: str = "tell",
    keep_outside: bool = False,
) -> Trial:
    """Store *values* for trial *trial_id*, or for the configuration given.

    *keep_outside*: an off-plan configuration outside the campaign's space
    (its bounds, grids, `max_components` or constraints) is stored with
    provenance `outside_space: [why]`, for the model to learn from but never
    as the best, as `loop import --keep-outside` stores a row; it must still
    mean something to the model (its components, the total, a declared
    category)."""
    spec = load_spec(store.get_campaign(name))
    problems = value_problems(spec, values)
    if problems:
        raise BadInputError(
            describe(problems),
            "give every objective a finite number inside its bounds, e.g. "
            + " ".join(f"--value {o.name}=..." for o in spec.objectives),
        )
    values = {k: float(v) for k, v in values.items()}
    units = {o.name: o.unit for o in spec.objectives if o.unit}
    if trial_id is not None:
        if composition is not None or parameters:
            raise BadInputError(
                "give either a trial id or a configuration, not both",
                "a proposed trial's configuration is already stored",
            )
        return _complete(store, name, trial_id, values, units, source)
    if composition is None and spec.space.composition is not None:
        raise BadInputError(
            "no trial id and no composition",
            "name a proposed trial (--trial ID) or give the composition measured",
        )
    amounts = configuration(spec, composition, parameters or {}, keep_outside)
    outside = outside_space(spec, *amounts) if keep_outside else []
    proposal = Proposal(
        composition=amounts[0],
        parameters=amounts[1],
        phase=TrialPhase.MANUAL,
        strategy="manual",
        provenance={"outside_space": outside} if outside else {},
    )
    return add_measured_trial(
        store,
        name,
        proposal,
        values,
        spec.budget.experiments,
        units=units,
        source=source,
    )


def fail(
    store: Store, name: str, trial_id: int, reason: str, source: str = "tell"
) -> Trial:
    """Record that the experiment of proposed trial *trial_id* failed for good
    (FAILED, with *reason*): it spends its budget slot, and the failure model
    learns to avoid its region, as for a robot's `/failure` without a retry."""
    reason = reason.strip()
    if not reason:
        raise BadInputError(
            "a failure needs a reason",
            'say what went wrong, e.g. --failed "sample cracked in the furnace"',
        )
    trial = _open_trial(store, name, trial_id, "failed")
    store.transition(
        trial_id,
        OPEN,
        TrialStatus.FAILED,
        attempt=trial.attempt,
        reason=reason[:2000],
        details={"source": source},
    )
    return next(t for t in store.trials(name) if t.id == trial_id)


def _open_trial(store: Store, name: str, trial_id: int, what: str) -> Trial:
    """Trial *trial_id* of *name*, still open for a measurement or a failure."""
    trial = next((t for t in store.trials(name) if t.id == trial_id), None)
    if trial is None:
        raise NotFoundError(
            f"campaign '{name}' has no trial {trial_id}",
            f"list its trials with `loop inspect {name}`",
        )
    if trial.status not in OPEN:
        raise BadInputError(
            f"trial {trial_id} is {trial.status.value}; only a pending, claimed or "
            f"started trial can be {what}",
            "a trial is settled once; for a new measurement of the same "
            "configuration, tell it as an off-plan point (--composition ...)",
        )
    return trial


def _complete(
    store: Store,
    name: str,
    trial_id: int,
    values: dict[str, float],
    units: dict[str, str],
    source: str,
) -> Trial:
    trial = _open_trial(store, name, trial_id, "measured")
    store.complete(
        trial_id,
        trial.attempt,
        values,
        units=units,
        source=source,
        expected=OPEN,
    )
    return next(t for t in store.trials(name) if t.id == trial_id)
