"""Work inside one open transaction, shared by the store's modules.

Each function takes the session of a transaction the caller opened
(`Store.transaction`) and reads or writes within it: lookups by name or id,
a trial row locked for the rest of the transaction, and the one conditional
status change every module makes (`transition`: the UPDATE that succeeds only
from an expected status and attempt, with its audit event in `trial_event`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from loop.errors import (
    CampaignNotFoundError,
    ForbiddenError,
    NotFoundError,
    TrialStateError,
)
from loop.records import OPERATOR_TRANSITIONS, TRANSITIONS, TrialStatus
from loop.storage.connection import storable_json, storable_text
from loop.storage.tables import (
    CampaignRow,
    IdempotencyRow,
    TrialEventRow,
    TrialRow,
    utcnow,
)


def campaign_id(s: Session, name: str, *, lock: bool = False) -> int:
    """The id of campaign *name*; with *lock*, its row stays locked (FOR NO
    KEY UPDATE on PostgreSQL) until the transaction ends."""
    query = select(CampaignRow.id).where(CampaignRow.name == name)
    if lock:
        query = query.with_for_update(key_share=True)
    cid = s.exec(query).first()
    if cid is None:
        raise CampaignNotFoundError(f"no campaign named '{name}'", "check the name")
    return int(cid)


def campaign_name(s: Session, cid: int) -> str:
    """The name of the campaign with id *cid*."""
    return s.exec(select(CampaignRow.name).where(CampaignRow.id == cid)).one()


def trial_campaign(s: Session, trial_id: int) -> int:
    """The id of the campaign trial *trial_id* belongs to (404 when there is none)."""
    cid = s.exec(select(TrialRow.campaign_id).where(TrialRow.id == trial_id)).first()
    if cid is None:
        raise NotFoundError(f"no trial {trial_id}", "use the trial_id a claim returned")
    return int(cid)


def locked_trial(s: Session, trial_id: int) -> TrialRow:
    """The trial row, locked until the transaction ends (PostgreSQL; SQLite's
    write transactions hold the whole database already)."""
    row = s.exec(
        select(TrialRow)
        .where(TrialRow.id == trial_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFoundError(f"no trial {trial_id}", "use the trial_id a claim returned")
    return row


def check_holder(row: TrialRow, key_id: int | None) -> None:
    """Refuse a robot acting on an attempt another robot claimed."""
    if key_id is not None and row.claimed_by_key not in (None, key_id):
        raise ForbiddenError(
            f"trial {row.id} attempt {row.attempt} was claimed by another robot",
            "a robot may only heartbeat, start, report or fail attempts it claimed",
        )


def scoped_key(key_id: int | None, key: str) -> str:
    """Idempotency-Key *key* as stored: scoped to the robot key that sent it, so
    one robot replaying another's key never receives the other's stored answer.
    (Long keys are stored by their SHA-256 to fit the column.)"""
    scoped = key if key_id is None else f"{key_id}:{key}"
    if len(scoped) <= 200:
        return scoped
    return f"{key_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def idempotency_row(
    s: Session, cid: int, key: str, key_id: int | None
) -> IdempotencyRow | None:
    """The stored outcome of Idempotency-Key *key*, sent by robot key *key_id*,
    in campaign *cid*, if any."""
    return s.exec(
        select(IdempotencyRow)
        .where(IdempotencyRow.campaign_id == cid)
        .where(IdempotencyRow.key == scoped_key(key_id, key))
    ).first()


def transition(
    s: Session,
    trial_id: int,
    expected: Collection[TrialStatus],
    new: TrialStatus,
    attempt: int | None,
    *,
    reason: str | None = None,
    next_attempt: bool = False,
    details: dict[str, Any] | None = None,
    operator: bool = False,
    **columns: Any,
) -> None:
    """Move a trial from one of *expected* to *new*, at *attempt* (any when None).

    One conditional UPDATE (with *columns*, e.g. lease columns, in the same
    statement); when another process changed the trial first it matches no row
    and `TrialStateError` is raised. The change is logged in `trial_event` with
    *reason* and *details*; *next_attempt* increments the attempt number.
    *operator* also allows `OPERATOR_TRANSITIONS` (`loop trial`).
    """
    for old in expected:
        allowed = TRANSITIONS[old] | (
            OPERATOR_TRANSITIONS.get(old, frozenset()) if operator else frozenset()
        )
        if new not in allowed:
            raise ValueError(f"illegal transition {old} -> {new}")  # a bug, not input
    # lock the row first (PostgreSQL) so that the audited from-status is the
    # one the conditional UPDATE below acts on
    before = s.exec(
        select(TrialRow.status)
        .where(TrialRow.id == trial_id)
        .with_for_update(key_share=True)
    ).first()
    values: dict[str, Any] = {
        "status": new.value,
        "updated_at": utcnow(),
        **(columns or {}),
    }
    if reason is not None:
        reason = storable_text(reason)
        values["failure_reason"] = reason[:1000]
    if next_attempt:
        values["attempt"] = TrialRow.attempt + 1
    stmt = (
        update(TrialRow)
        .where(col(TrialRow.id) == trial_id)
        .where(col(TrialRow.status).in_([e.value for e in expected]))
    )
    if attempt is not None:
        stmt = stmt.where(col(TrialRow.attempt) == attempt)
    result = s.exec(stmt.values(**values))
    if result.rowcount != 1:
        current = s.get(TrialRow, trial_id)
        state = (
            f"is {current.status} (attempt {current.attempt})"
            if current
            else "does not exist"
        )
        raise TrialStateError(
            f"trial {trial_id} {state}; expected {'/'.join(e.value for e in expected)}"
            + (f" at attempt {attempt}" if attempt is not None else ""),
            "another process changed it first; reload and retry",
        )
    row = s.get(TrialRow, trial_id)
    assert row is not None
    s.refresh(row)
    s.add(
        TrialEventRow(
            trial_id=trial_id,
            from_status=before,
            to_status=new.value,
            attempt=row.attempt,
            reason=reason,
            details=None if details is None else storable_json(details),
        )
    )


def committed_trials(s: Session, cid: int) -> int:
    """Trials of campaign *cid* that hold a slot of `budget.experiments`: all but
    abandoned and stale ones, and past measurements imported from a file."""
    return s.exec(
        select(func.count())
        .select_from(TrialRow)
        .where(TrialRow.campaign_id == cid)
        .where(col(TrialRow.status).not_in(["abandoned", "stale"]))
        .where(TrialRow.phase != "imported")
    ).one()
