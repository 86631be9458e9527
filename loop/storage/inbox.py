"""Storage for what robots send: measurements, the submission inbox, idempotency keys.

Every body a robot posts is saved first (`save_submission`), before it is
parsed, so nothing received is ever lost. An accepted measurement, its trial's
COMPLETED status and its Idempotency-Key are written in one transaction; a
retry with the same key replays the stored response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from loop.errors import FieldProblem, InvalidBodyError, TrialStateError
from loop.faults import fault
from loop.records import Trial, TrialStatus
from loop.storage.lab import LEASED
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
    Store,
    retried,
    storable_text,
)
from loop.storage.tables import IdempotencyRow, MeasurementRow, SubmissionRow


# ------------------------------------------------------------ measurements
@dataclass(frozen=True)
class Accepted:
    """The stored outcome of an accepted keyed request."""

    status_code: int
    response: dict[str, Any]
    replayed: bool = False


@retried
def accept_measurement(
    store: Store,
    *,
    trial_id: int,
    attempt: int,
    key_id: int | None,
    values: dict[str, float],
    units: dict[str, str],
    metadata: dict[str, Any],
    idempotency_key: str,
    body_sha256: str,
    submission_id: int,
    respond: Callable[[Trial, MeasurementRow], dict[str, Any]],
    review: str | None = None,
) -> Accepted:
    """Store a measurement, COMPLETE its trial and bind the idempotency key, together.

    With *review* (a value outside its bounds under `outliers: flag`) the
    measurement is stored all the same but the trial goes to NEEDS_REVIEW with
    *review* as its reason, and the answer is 202 (stored, not yet counted).
    The posted attempt must be the trial's current one (CLAIMED, STARTED or
    NEEDS_REVIEW), or the attempt just before it when the trial was re-offered
    after its lease ran out and nobody has claimed it since. Posts after the
    lease ended are accepted and flagged `late`; nothing is dropped.
    """
    with store.transaction() as s:
        cid = trial_campaign(s, trial_id)
        # the trial row first: concurrent posts for it wait here, then see the
        # key the first one stored and replay it
        row = locked_trial(s, trial_id)
        known = idempotency_row(s, cid, idempotency_key, key_id)
        if known is not None:
            return _replay(s, known, trial_id, body_sha256, submission_id)
        status = TrialStatus(row.status)
        now = store.now(s)
        current = status in (*LEASED, TrialStatus.NEEDS_REVIEW)
        reoffered = status == TrialStatus.PENDING and attempt == row.attempt - 1
        flagged = status == TrialStatus.NEEDS_REVIEW and _measured(s, trial_id)
        if status == TrialStatus.COMPLETED or flagged:
            raise TrialStateError(
                f"trial {trial_id} already has a measurement (another Idempotency-Key)",
                "a trial is measured once and the first accepted value stands (a "
                "flagged one waits for an operator); the post is kept in the inbox "
                "for the record",
                code="already_measured",
            )
        if not ((current and attempt == row.attempt) or reoffered):
            raise TrialStateError(
                f"attempt {attempt} of trial {trial_id} is superseded: the trial is "
                f"{status.value} at attempt {row.attempt}",
                "the lease ran out and the trial moved on; your post is kept for an "
                "operator; claim new work",
                code="lease_superseded",
            )
        check_holder(row, key_id)
        late = (
            reoffered
            or status == TrialStatus.NEEDS_REVIEW
            or (row.lease_expires_at is not None and row.lease_expires_at < now)
        )
        transition(
            s,
            trial_id,
            [status],
            TrialStatus.COMPLETED if review is None else TrialStatus.NEEDS_REVIEW,
            row.attempt,
            reason=review or ("late measurement" if late else None),
            lease_expires_at=None,
        )
        code = 200 if review is None else 202
        measurement = MeasurementRow(
            trial_id=trial_id,
            attempt=attempt,
            values=values,
            units=units,
            meta=metadata,
            source=f"robot-key:{key_id}" if key_id is not None else "robot",
            late=late,
        )
        s.add(measurement)
        s.flush()
        fault("ingest_mid_txn")
        s.refresh(row)
        response = respond(
            trial_record(row, campaign_name(s, cid), measurement), measurement
        )
        s.add(
            IdempotencyRow(
                campaign_id=cid,
                key=scoped_key(key_id, idempotency_key),
                route="measurements",
                trial_id=trial_id,
                body_sha256=body_sha256,
                status_code=code,
                response=response,
            )
        )
        outcome = "flagged" if review else "late" if late else "accepted"
        _finish(s, submission_id, outcome, code)
        try:
            s.flush()
        except IntegrityError:  # a concurrent twin won; the caller replays it
            raise TrialStateError(
                "a request with this Idempotency-Key is being processed",
                "retry shortly with the same key and body",
                code="in_flight",
            ) from None
        return Accepted(code, response)


@retried
def find_idempotent(
    store: Store,
    trial_id: int,
    key: str,
    key_id: int | None,
    body_sha256: str,
    submission_id: int,
) -> Accepted | None:
    """The stored response for a key this robot sent before (a replay), or None."""
    with store.transaction() as s:
        known = idempotency_row(s, trial_campaign(s, trial_id), key, key_id)
        if known is None:
            return None
        return _replay(s, known, trial_id, body_sha256, submission_id)


def _replay(
    s: Session,
    known: IdempotencyRow,
    trial_id: int,
    body_sha256: str,
    submission_id: int,
) -> Accepted:
    if known.body_sha256 != body_sha256 or known.trial_id != trial_id:
        raise InvalidBodyError(
            [
                FieldProblem(
                    "",
                    f"Idempotency-Key '{known.key}' was already used with a different "
                    f"body (for trial {known.trial_id})",
                )
            ],
            "use a new key for a new measurement; a retry must resend the same body",
        )
    _finish(s, submission_id, "replayed", known.status_code)
    return Accepted(known.status_code, known.response, replayed=True)


def _measured(s: Session, trial_id: int) -> bool:
    """Whether the trial holds a measurement (one held for review, when it is
    not completed)."""
    found = s.exec(
        select(MeasurementRow.id).where(MeasurementRow.trial_id == trial_id)
    ).first()
    return found is not None


# -------------------------------------------------------------- submissions
@retried
def save_submission(
    store: Store,
    *,
    campaign_id: int,
    trial_id: int | None,
    key_id: int | None,
    route: str,
    idempotency_key: str | None,
    body: str,
    body_sha256: str,
    source_ip: str | None,
) -> int:
    """Keep a received body before anything else looks at it; returns its id.

    NUL characters are kept as U+FFFD (PostgreSQL text cannot hold them); the
    hash is the caller's, of the body as received."""
    with store.transaction() as s:
        row = SubmissionRow(
            campaign_id=campaign_id,
            trial_id=trial_id,
            robot_key_id=key_id,
            route=route,
            idempotency_key=idempotency_key,
            body=storable_text(body),
            body_sha256=body_sha256,
            source_ip=source_ip,
        )
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


@retried
def finish_submission(
    store: Store, submission_id: int, outcome: str, code: int
) -> None:
    with store.transaction() as s:
        _finish(s, submission_id, outcome, code)


@retried
def submissions(store: Store, campaign: str) -> list[dict[str, Any]]:
    """Every body received for *campaign*, oldest first (for audits and tests)."""
    with store.transaction(write=False) as s:
        cid = campaign_id(s, campaign)
        rows = s.exec(
            select(SubmissionRow)
            .where(SubmissionRow.campaign_id == cid)
            .order_by(col(SubmissionRow.id))
        ).all()
        return [r.model_dump() for r in rows]


def _finish(s: Session, submission_id: int, outcome: str, code: int) -> None:
    s.exec(
        update(SubmissionRow)
        .where(col(SubmissionRow.id) == submission_id)
        .values(outcome=outcome, status_code=code)
    )
