"""An operator's corrections to one trial (`loop trial void|amend|retry|abandon`).

Each is one transaction: the trial row is locked, its status checked, the
change made and an audit event added to `trial_event` (who, when, why, and the
old values), all or nothing. Status changes go through `sessions.transition`
(a conditional UPDATE); `void` and `amend` keep the status (COMPLETED) and are
events from and to `completed` whose details name the action.

Whether a measurement counts is read from those events: the latest `void` or
`amend` of a trial decides (`operator_marks`), so an amend after a void makes
the (new) values count again.

A trial held for review with its measurement (NEEDS_REVIEW: a value outside its
bounds under `outliers: flag`) is resolved by the same commands: `amend` and
`void` complete it (the amended values count; the voided ones do not), `retry`
moves the measurement into the audit event (the trial may be measured again)
and `abandon` leaves it on the abandoned trial.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from loop.errors import BadInputError, NotFoundError
from loop.records import TrialStatus
from loop.storage.connection import retried, storable_json, storable_text
from loop.storage.sessions import campaign_id, locked_trial, transition
from loop.storage.tables import MeasurementRow, TrialEventRow, TrialRow


class Action(StrEnum):
    """What an operator can do to a trial."""

    VOID = "void"
    AMEND = "amend"
    RETRY = "retry"
    ABANDON = "abandon"


#: The statuses each action starts from (void and amend also need a measurement).
ALLOWED: dict[Action, tuple[TrialStatus, ...]] = {
    Action.VOID: (TrialStatus.COMPLETED, TrialStatus.NEEDS_REVIEW),
    Action.AMEND: (TrialStatus.COMPLETED, TrialStatus.NEEDS_REVIEW),
    Action.RETRY: (TrialStatus.FAILED, TrialStatus.NEEDS_REVIEW),
    Action.ABANDON: (
        TrialStatus.PENDING,
        TrialStatus.CLAIMED,
        TrialStatus.STARTED,
        TrialStatus.NEEDS_REVIEW,
    ),
}


def possible(status: TrialStatus) -> list[str]:
    """The actions a trial in *status* allows."""
    return [a.value for a, starts in ALLOWED.items() if status in starts]


def operator_marks(s: Session, cid: int) -> tuple[set[int], set[int]]:
    """Ids of campaign *cid*'s trials whose measurement an operator voided, and
    of those whose latest word is an operator's amend (reviewed values)."""
    rows = s.exec(
        select(TrialEventRow.trial_id, TrialEventRow.details)
        .join(TrialRow, col(TrialRow.id) == col(TrialEventRow.trial_id))
        .where(TrialRow.campaign_id == cid)
        .where(TrialEventRow.to_status == TrialStatus.COMPLETED.value)
        .order_by(col(TrialEventRow.id))
    ).all()
    voided: set[int] = set()
    amended: set[int] = set()
    for trial_id, details in rows:
        action = ((details or {}).get("operator") or {}).get("action")
        if action == Action.VOID.value:
            voided.add(trial_id)
            amended.discard(trial_id)
        elif action == Action.AMEND.value:
            voided.discard(trial_id)
            amended.add(trial_id)
    return voided, amended


@retried
def operate(
    store: Any,
    campaign: str,
    trial_id: int,
    action: Action,
    *,
    reason: str,
    by: str,
    values: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Apply *action* to trial *trial_id* of *campaign* in one transaction and
    return its audit record (action, by, reason, from/to status, attempt, old
    and new values). Raises `BadInputError` when the trial's status does not
    allow the action."""
    with store.transaction() as s:
        cid = campaign_id(s, campaign, lock=True)
        row = locked_trial(s, trial_id)
        if row.campaign_id != cid:
            raise NotFoundError(
                f"campaign '{campaign}' has no trial {trial_id}",
                f"list its trials with `loop inspect {campaign}`",
            )
        status = TrialStatus(row.status)
        m = s.exec(
            select(MeasurementRow).where(MeasurementRow.trial_id == trial_id)
        ).first()
        voided = trial_id in operator_marks(s, cid)[0]
        _check(campaign, trial_id, status, action, m is not None, voided)
        audit: dict[str, Any] = {"action": action.value, "by": storable_text(by)}
        reason = f"{action.value} by {by}: {reason}"
        if action in (Action.VOID, Action.AMEND):
            assert m is not None
            audit["old"] = {"values": dict(m.values), "voided": voided}
            if action is Action.AMEND:
                new = {**m.values, **(values or {})}
                audit["new"] = {"values": new}
                m.values = new
                s.add(m)
            to = TrialStatus.COMPLETED
            if status is TrialStatus.NEEDS_REVIEW:  # a flagged value, resolved
                audit["old"]["failure_reason"] = row.failure_reason
                transition(
                    s,
                    trial_id,
                    [status],
                    to,
                    row.attempt,
                    reason=reason,
                    details={"operator": audit},
                )
            else:
                s.add(
                    TrialEventRow(
                        trial_id=trial_id,
                        from_status=status.value,
                        to_status=status.value,
                        attempt=row.attempt,
                        reason=storable_text(reason),
                        details=storable_json({"operator": audit}),
                    )
                )
        else:
            to = (
                TrialStatus.PENDING if action is Action.RETRY else TrialStatus.ABANDONED
            )
            audit["old"] = {"failure_reason": row.failure_reason}
            if m is not None and action is Action.RETRY:
                # a flagged measurement: kept in the audit, so the trial can be
                # measured again (a trial holds one measurement)
                audit["old"]["measurement"] = _kept(m)
                s.delete(m)
                s.flush()
            transition(
                s,
                trial_id,
                [status],
                to,
                row.attempt,
                reason=reason,
                next_attempt=action is Action.RETRY,
                details={"operator": audit},
                operator=True,
                lease_expires_at=None,
                claimed_by_key=None,
                started_at=None,
            )
            s.refresh(row)
        return {
            "campaign": campaign,
            "trial": trial_id,
            "from_status": status.value,
            "to_status": to.value,
            "attempt": row.attempt,
            "reason": reason,
            **audit,
        }


def _kept(m: MeasurementRow) -> dict[str, Any]:
    """A measurement as the audit event keeps it when its row goes."""
    return {
        "attempt": m.attempt,
        "values": dict(m.values),
        "units": dict(m.units),
        "metadata": dict(m.meta),
        "source": m.source,
        "late": m.late,
        "received_at": m.received_at.isoformat() if m.received_at else None,
    }


def _check(
    campaign: str,
    trial_id: int,
    status: TrialStatus,
    action: Action,
    measured: bool,
    voided: bool,
) -> None:
    """Refuse an action the trial's status does not allow, saying what does."""
    others = possible(status)
    what = (
        f"`loop trial {' | '.join(others)} {campaign} {trial_id}` is possible"
        if others
        else f"a {status.value} trial is final: nothing more can be done to it"
    )
    if status not in ALLOWED[action]:
        starts = " or ".join(s.value for s in ALLOWED[action])
        raise BadInputError(
            f"trial {trial_id} of '{campaign}' is {status.value}: `{action.value}` "
            f"needs a {starts} trial",
            what,
        )
    if action in (Action.VOID, Action.AMEND) and not measured:
        raise BadInputError(
            f"trial {trial_id} of '{campaign}' has no measurement to {action.value}",
            "void and amend act on a stored measurement",
        )
    if action is Action.VOID and voided:
        raise BadInputError(
            f"trial {trial_id} of '{campaign}': its measurement is already voided",
            f"`loop trial amend {campaign} {trial_id} --value NAME=X` stores "
            "corrected values, which count again",
        )
