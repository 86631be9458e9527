"""Operator commands on one trial: void, amend, retry, abandon (`loop trial`).

Each checks its input here (the campaign, the reason, amended values against the
campaign's objectives) and is then one audited transaction in the store
(`loop.storage.operator`). The semantics:

- `void`: a COMPLETED trial's measurement stops counting (model, best, Pareto
  front, report), but is kept and shown; the experiment still spent its budget.
- `amend`: replaces some or all measured values of a COMPLETED trial, or of a
  NEEDS_REVIEW trial holding a flagged value (outside its bounds, `outliers:
  flag`), which it completes; the old values stay in the event. The new values
  must pass the campaign's value rule (`loop.spec.values`: finite, inside the
  bounds). An amended measurement counts (also after a void), and the same
  value amended again confirms an extreme one the model held out.
- `void` also completes a NEEDS_REVIEW trial's flagged measurement as voided.
- `retry`: a FAILED or NEEDS_REVIEW trial goes back to PENDING with the next
  attempt number (claimable again by robots; `loop resume` evaluates it with a
  push adapter). It keeps its budget slot; a flagged measurement moves into the
  audit event.
- `abandon`: a PENDING, CLAIMED, STARTED or NEEDS_REVIEW trial ends for good
  (ABANDONED), and frees its budget slot; a robot's later report is refused.
"""

from __future__ import annotations

import getpass
import math
from typing import Any

from loop.campaign_state import load_spec
from loop.errors import BadInputError
from loop.spec.values import describe, value_problems
from loop.storage import Store
from loop.storage.operator import Action, operate


def operator_name(by: str | None) -> str:
    """Who acts: *by* when given, else the OS user."""
    if by:
        return by.strip()[:128]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def parse_values(items: list[str], objectives: list[str]) -> dict[str, float]:
    """`NAME=X` pairs for an amend: each an objective, each a finite number."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInputError(
                f"--value '{item}' is not NAME=X", "e.g. --value conductivity=12.5"
            )
        if name not in objectives:
            raise BadInputError(
                f"--value '{item}': '{name}' is not an objective of this campaign",
                f"objectives: {', '.join(objectives)}",
            )
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadInputError(
                f"--value '{item}': '{text.strip()}' is not a finite number",
                "give the corrected value as a plain number, e.g. 12.5 or 1.2e-3",
            )
        values[name] = value
    return values


def act_on_trial(
    store: Store,
    name: str,
    trial_id: int,
    action: Action | str,
    *,
    reason: str,
    by: str | None = None,
    values: list[str] | None = None,
) -> dict[str, Any]:
    """Apply an operator *action* to trial *trial_id* of campaign *name*; returns
    the audit record stored with it."""
    action = Action(action)
    spec = load_spec(store.get_campaign(name))
    if not reason.strip():
        raise BadInputError(
            f"`loop trial {action.value}` needs a reason",
            '--reason "..." says why, for the audit trail',
        )
    parsed: dict[str, float] | None = None
    if action is Action.AMEND:
        parsed = parse_values(values or [], [o.name for o in spec.objectives])
        if not parsed:
            raise BadInputError(
                "`loop trial amend` needs at least one --value NAME=X",
                f"objectives: {', '.join(o.name for o in spec.objectives)}",
            )
        trial = next((t for t in store.trials(name) if t.id == trial_id), None)
        stored = trial and (trial.measurement or trial.flagged or trial.voided)
        old = stored.values if stored else {}
        refused = value_problems(spec, {**old, **parsed})
        if stored and refused:
            raise BadInputError(
                f"trial {trial_id} cannot be amended so: {describe(refused)}",
                "amend every value outside its bounds (--value NAME=X), or widen "
                "`bounds` in the campaign YAML first when the value is real",
            )
    elif values:
        raise BadInputError(
            f"--value is only for `loop trial amend`, not `{action.value}`",
            "leave --value out",
        )
    return operate(
        store,
        name,
        trial_id,
        action,
        reason=reason.strip(),
        by=operator_name(by),
        values=parsed,
    )
