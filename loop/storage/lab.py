"""Storage for pull-mode (robot) work: claims, leases, heartbeats, failures.

Each function is one transaction on a `Store`, run again by `retried` after a
serialization failure or deadlock. Leases are timed by the database clock
(`Store.now`). A claim picks the oldest PENDING trial and moves it with a
conditional UPDATE; on PostgreSQL the candidate row is locked with
`FOR NO KEY UPDATE SKIP LOCKED`, on SQLite `BEGIN IMMEDIATE` already serialises
writers, so two robots can never be handed the same trial.

On PostgreSQL every function that decides from a trial's state locks the trial
row before reading it (`_locked`), so concurrent requests queue on the row as
they queue on SQLite's write lock. Rows are locked in one order: campaign, then
trials by id, then the rows that hang off them (measurement, idempotency key,
submission).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from loop.errors import (
    FieldProblem,
    InvalidBodyError,
    TrialStateError,
)
from loop.records import CampaignStatus, Trial, TrialStatus
from loop.spec.fidelity import FIDELITY
from loop.storage.rows import trial_record
from loop.storage.sessions import (
    campaign_id,
    campaign_name,
    check_holder,
    idempotency_row,
    locked_trial,
    scoped_key,
    transition,
    trial_campaign,
)
from loop.storage.store import (
    ConflictRetryError,
    Store,
    retried,
)
from loop.storage.tables import (
    CampaignRow,
    IdempotencyRow,
    TrialRow,
    utcnow,
)

LEASED = (TrialStatus.CLAIMED, TrialStatus.STARTED)


@dataclass(frozen=True)
class Reaped:
    """A lease that ran out, and what became of its trial."""

    trial_id: int
    attempt: int
    to: TrialStatus


# ------------------------------------------------------------------ leases
@retried
def claim_next(
    store: Store,
    campaign: str,
    key_id: int | None,
    ttl: float,
    max_attempts: int,
    *,
    respond: Callable[[Trial], dict[str, Any]],
    idempotency_key: str | None = None,
    level: str | None = None,
) -> dict[str, Any] | None:
    """Lease the oldest PENDING trial of *campaign* for *ttl* seconds, if any;
    returns `respond(trial)`, or None when nothing is ready. With *level*,
    only a trial at that fidelity (the one robots measure; the driver
    evaluates the others).

    Expired leases of the campaign are reaped first, in the same transaction, so
    a trial abandoned by a vanished robot is offered again at once. A claim sent
    with an Idempotency-Key that was already granted returns the same answer, so
    a robot whose first response was lost does not strand a second trial.
    """
    with store.transaction() as s:
        now = store.now(s)
        cid = campaign_id(s, campaign)
        if idempotency_key is not None:
            known = idempotency_row(s, cid, idempotency_key, key_id)
            if known is not None:
                if known.route != "claims":
                    raise InvalidBodyError(
                        [
                            FieldProblem(
                                "",
                                f"Idempotency-Key '{idempotency_key}' was already "
                                f"used for {known.route}",
                            )
                        ],
                        "use a fresh key for each claim",
                    )
                granted = s.get(TrialRow, known.trial_id)
                if (
                    granted is None
                    or granted.claimed_by_key != key_id
                    or granted.attempt != known.response.get("attempt")
                    or TrialStatus(granted.status) not in LEASED
                ):
                    raise TrialStateError(
                        f"the claim made with Idempotency-Key '{idempotency_key}' "
                        f"(trial {known.trial_id}) is no longer held by this robot",
                        "its lease ran out or the attempt was settled; claim again "
                        "with a new key",
                        code="claim_superseded",
                    )
                return known.response
        paused = s.exec(select(CampaignRow.status).where(CampaignRow.id == cid)).one()
        if paused == CampaignStatus.PAUSED.value:
            raise TrialStateError(
                f"campaign '{campaign}' is paused for an operator (the failure breaker): "
                "no trial is handed out",
                "an operator looks at the failures (`loop inspect`) and continues "
                "with `loop resume`; claim again after that",
                code="campaign_paused",
            )
        _reap(s, cid, now, max_attempts)
        ready = (
            select(TrialRow)
            .where(TrialRow.campaign_id == cid)
            .where(TrialRow.status == TrialStatus.PENDING.value)
        )
        if level is not None:
            ready = ready.where(col(TrialRow.parameters)[FIDELITY].as_string() == level)
        row = s.exec(
            ready.order_by(col(TrialRow.id))
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
        ).first()
        if row is None:
            return None
        assert row.id is not None
        transition(
            s,
            row.id,
            [TrialStatus.PENDING],
            TrialStatus.CLAIMED,
            row.attempt,
            lease_expires_at=now + timedelta(seconds=ttl),
            claimed_by_key=key_id,
            started_at=None,
        )
        s.refresh(row)
        response = respond(trial_record(row, campaign, None))
        if idempotency_key is not None:
            s.add(
                IdempotencyRow(
                    campaign_id=cid,
                    key=scoped_key(key_id, idempotency_key),
                    route="claims",
                    trial_id=row.id,
                    body_sha256="",
                    status_code=200,
                    response=response,
                )
            )
            try:
                s.flush()
            except IntegrityError:
                # PostgreSQL: a twin claim with this key committed first; run
                # again, which replays its answer (as SQLite's serialised writers do)
                raise ConflictRetryError(
                    f"a claim with Idempotency-Key '{idempotency_key}' was granted "
                    "at the same moment",
                    "retry with the same key to get the trial it was granted",
                ) from None
        return response


@retried
def renew_lease(
    store: Store, trial_id: int, attempt: int, key_id: int | None, ttl: float
) -> Trial:
    """Extend the lease of a CLAIMED or STARTED attempt held by *key_id*."""
    with store.transaction() as s:
        now = store.now(s)
        row = _held(s, trial_id, attempt, key_id, LEASED, now)
        row.lease_expires_at = now + timedelta(seconds=ttl)
        row.updated_at = utcnow()
        s.add(row)
        s.flush()
        return trial_record(row, campaign_name(s, row.campaign_id), None)


@retried
def mark_started(
    store: Store, trial_id: int, attempt: int, key_id: int | None, ttl: float
) -> Trial:
    """CLAIMED -> STARTED (material committed); repeating it is harmless."""
    with store.transaction() as s:
        now = store.now(s)
        row = _held(s, trial_id, attempt, key_id, LEASED, now)
        if row.status == TrialStatus.CLAIMED.value:
            transition(
                s,
                trial_id,
                [TrialStatus.CLAIMED],
                TrialStatus.STARTED,
                attempt,
                started_at=now,
                lease_expires_at=now + timedelta(seconds=ttl),
            )
            s.refresh(row)
        return trial_record(row, campaign_name(s, row.campaign_id), None)


@retried
def reap_expired(store: Store, campaign: str, max_attempts: int) -> list[Reaped]:
    """Settle every lease of *campaign* that has run out (see `_reap`)."""
    with store.transaction() as s:
        return _reap(s, campaign_id(s, campaign), store.now(s), max_attempts)


def _reap(s: Session, cid: int, now: datetime, max_attempts: int) -> list[Reaped]:
    """Never-started attempts go back to PENDING (or ABANDONED when out of
    attempts); started ones go to NEEDS_REVIEW, since a sample may exist."""
    rows = s.exec(
        select(TrialRow)
        .where(TrialRow.campaign_id == cid)
        .where(col(TrialRow.status).in_([t.value for t in LEASED]))
        .where(col(TrialRow.lease_expires_at) < now)
        .order_by(col(TrialRow.id))
        .with_for_update(skip_locked=True, key_share=True)
    ).all()
    reaped = []
    for row in rows:
        assert row.id is not None
        status = TrialStatus(row.status)
        if status == TrialStatus.STARTED:
            to, again = TrialStatus.NEEDS_REVIEW, False
            reason = "lease expired after the robot started; check the sample"
        elif row.attempt < max_attempts:
            to, again = TrialStatus.PENDING, True
            reason = "lease expired before the robot started; offered again"
        else:
            to, again = TrialStatus.ABANDONED, False
            reason = f"lease expired on the last of {max_attempts} attempts"
        transition(
            s,
            row.id,
            [status],
            to,
            row.attempt,
            reason=reason,
            next_attempt=again,
            lease_expires_at=None,
        )
        reaped.append(Reaped(row.id, row.attempt, to))
    return reaped


@retried
def fail_attempt(
    store: Store,
    trial_id: int,
    attempt: int,
    key_id: int | None,
    reason: str,
    retry: bool,
    details: dict[str, Any] | None = None,
) -> Trial:
    """A failed attempt: back to PENDING with the next attempt, or FAILED for good."""
    with store.transaction() as s:
        row = _held(s, trial_id, attempt, key_id, LEASED)
        to = TrialStatus.PENDING if retry else TrialStatus.FAILED
        transition(
            s,
            trial_id,
            [TrialStatus(row.status)],
            to,
            attempt,
            reason=reason,
            next_attempt=retry,
            details=details,
            lease_expires_at=None,
        )
        s.refresh(row)
        return trial_record(row, campaign_name(s, row.campaign_id), None)


# ----------------------------------------------------------------- helpers
@retried
def trial_campaign_id(store: Store, trial_id: int) -> int:
    """The campaign a trial belongs to (404 when there is no such trial)."""
    with store.transaction(write=False) as s:
        return trial_campaign(s, trial_id)


def _held(
    s: Session,
    trial_id: int,
    attempt: int,
    key_id: int | None,
    expected: tuple[TrialStatus, ...],
    now: datetime | None = None,
) -> TrialRow:
    """The trial row, when *attempt* is current, in *expected*, held by *key_id*
    and, given the database time *now*, its lease not run out (a heartbeat or a
    start must not revive an expired lease the reaper has not yet seen: the
    trial is already due to go back; a failure report passes no *now*, since
    what a robot reports is kept).
    """
    trial_campaign(s, trial_id)
    row = locked_trial(s, trial_id)
    current = TrialStatus(row.status) in expected and row.attempt == attempt
    if (
        not current
        and row.status == TrialStatus.PENDING.value
        and attempt >= row.attempt
    ):
        raise TrialStateError(
            f"trial {trial_id} is pending at attempt {row.attempt}: it has not been "
            "claimed",
            "claim work with POST /api/v1/campaigns/{name}/claims first",
            code="lease_superseded",
        )
    if not current:
        raise TrialStateError(
            f"attempt {attempt} of trial {trial_id} is not leased: the trial is "
            f"{row.status} at attempt {row.attempt}",
            "the lease ran out or the attempt was settled; claim new work",
            code="lease_superseded",
        )
    check_holder(row, key_id)
    expires = row.lease_expires_at
    if expires is not None and expires.tzinfo is None:  # SQLite keeps naive UTC
        expires = expires.replace(tzinfo=UTC)
    if now is not None and expires is not None and expires < now:
        raise TrialStateError(
            f"the lease of attempt {attempt} of trial {trial_id} ran out at "
            f"{expires:%Y-%m-%d %H:%M:%S} UTC",
            "the trial goes back to the queue; stop work on it and claim new work "
            "(a measurement already made can still be posted: it is kept as late)",
            code="lease_superseded",
        )
    return row
