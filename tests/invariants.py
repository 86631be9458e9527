"""The invariant checker of RELIABILITY.md §3, run after every fault-injection case.

`check_invariants(db_url, campaign)` reads the database directly (through the
Store's own sessions, so it works on any backend the Store opens) and returns
every violation it finds as a sentence; an empty list means the campaign is
consistent. Tests assert the list is empty, so a failure names each problem.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlmodel import select

from loop.records import OPERATOR_TRANSITIONS, TRANSITIONS, TrialStatus
from loop.storage import Store
from loop.storage.inbox import submissions
from loop.storage.tables import (
    CampaignRow,
    IdempotencyRow,
    MeasurementRow,
    TrialEventRow,
    TrialRow,
)

#: Submission outcomes under which a measurement was stored.
STORED = ("accepted", "late", "flagged")
#: Statuses a trial holding a measurement may have: completed, held for review
#: (a value outside its bounds under `outliers: flag`), or abandoned from there.
MEASURED = (
    TrialStatus.COMPLETED.value,
    TrialStatus.NEEDS_REVIEW.value,
    TrialStatus.ABANDONED.value,
)


def check_invariants(
    db_url: str, campaign: str, *, clean_exit: bool = True
) -> list[str]:
    """Every broken invariant of *campaign* in the database at *db_url*.

    With `clean_exit` (the default) the last driver is expected to have stopped
    cleanly, so its lease must be released; pass `clean_exit=False` right after
    a crash, when a dead driver's lease is legitimately still on record.
    """
    store = Store(db_url, create=False)
    try:
        with store.transaction(write=False) as s:
            camp = s.exec(select(CampaignRow).where(CampaignRow.name == campaign)).one()
            trials = s.exec(
                select(TrialRow)
                .where(TrialRow.campaign_id == camp.id)
                .order_by(TrialRow.id)  # type: ignore[arg-type]
            ).all()
            ids = [t.id for t in trials]
            measurements = s.exec(
                select(MeasurementRow).where(MeasurementRow.trial_id.in_(ids))  # type: ignore[union-attr]
            ).all()
            events = s.exec(
                select(TrialEventRow)
                .where(TrialEventRow.trial_id.in_(ids))  # type: ignore[union-attr]
                .order_by(TrialEventRow.id)  # type: ignore[arg-type]
            ).all()
            keys = s.exec(
                select(IdempotencyRow)
                .where(IdempotencyRow.campaign_id == camp.id)
                .where(IdempotencyRow.route == "measurements")
            ).all()
            budget = int(camp.spec["budget"]["experiments"])
            owner = camp.driver_owner
        inbox = submissions(store, campaign)
    finally:
        store.engine.dispose()

    problems: list[str] = []
    problems += _statuses(trials)
    problems += _measurements(trials, measurements)
    problems += _leases(trials)
    problems += _budget(trials, budget)
    problems += _events(trials, events)
    problems += _distinct(trials)
    problems += _inbox(measurements, keys, inbox, events)
    if clean_exit and owner is not None:
        problems.append(f"driver lease still held by {owner} after a clean exit")
    return problems


def _statuses(trials: list[TrialRow]) -> list[str]:
    legal = {s.value for s in TrialStatus}
    out = []
    for t in trials:
        if t.status not in legal:
            out.append(f"trial {t.id}: illegal status {t.status!r}")
        if t.attempt < 1:
            out.append(f"trial {t.id}: attempt {t.attempt} < 1")
    return out


def _measurements(trials: list[TrialRow], rows: list[MeasurementRow]) -> list[str]:
    out = []
    by_trial = Counter(m.trial_id for m in rows)
    status = {t.id: t.status for t in trials}
    attempt = {t.id: t.attempt for t in trials}
    completed = {t.id for t in trials if t.status == TrialStatus.COMPLETED.value}
    for tid, n in sorted(by_trial.items()):
        if n > 1:
            out.append(f"trial {tid}: {n} measurements (at most one allowed)")
        if status[tid] not in MEASURED:
            out.append(f"trial {tid}: measured but {status[tid]}, not completed")
    for tid in sorted(completed - set(by_trial)):
        out.append(f"trial {tid}: completed without a measurement")
    for m in rows:
        if not 1 <= m.attempt <= attempt[m.trial_id]:
            out.append(
                f"trial {m.trial_id}: measurement of attempt {m.attempt}, but the "
                f"trial is at attempt {attempt[m.trial_id]}"
            )
    return out


def _leases(trials: list[TrialRow]) -> list[str]:
    leased = {TrialStatus.CLAIMED.value, TrialStatus.STARTED.value}
    return [
        f"trial {t.id}: {t.status} but holds a lease until {t.lease_expires_at}"
        for t in trials
        if t.lease_expires_at is not None and t.status not in leased
    ]


def _budget(trials: list[TrialRow], budget: int) -> list[str]:
    out = []
    free = {TrialStatus.ABANDONED.value, TrialStatus.STALE.value}
    # imported past measurements spend no budget
    trials = [t for t in trials if t.phase != "imported"]
    committed = sum(1 for t in trials if t.status not in free)
    spent = sum(
        1
        for t in trials
        if t.status in (TrialStatus.COMPLETED.value, TrialStatus.FAILED.value)
    )
    if committed > budget:
        out.append(f"{committed} trials spend budget, more than the {budget} allowed")
    if spent > budget:
        out.append(
            f"{spent} trials completed or failed, more than the {budget} allowed"
        )
    return out


def _events(trials: list[TrialRow], events: list[TrialEventRow]) -> list[str]:
    out = []
    chains: dict[int, list[TrialEventRow]] = defaultdict(list)
    for e in events:
        chains[e.trial_id].append(e)
    for t in trials:
        assert t.id is not None
        chain = chains.get(t.id, [])
        if not chain:
            out.append(f"trial {t.id}: no events")
            continue
        first = chain[0]
        if first.from_status is not None or first.to_status != "pending":
            out.append(
                f"trial {t.id}: first event {first.from_status} -> {first.to_status}, "
                "not the proposal (-> pending)"
            )
        for before, after in zip(chain, chain[1:], strict=False):
            if after.from_status != before.to_status:
                out.append(
                    f"trial {t.id}: event {after.id} starts from {after.from_status} "
                    f"but the trial was {before.to_status}"
                )
            if not _legal(after.from_status, after.to_status, after.details):
                out.append(
                    f"trial {t.id}: illegal transition {after.from_status} -> "
                    f"{after.to_status} (event {after.id})"
                )
            if after.attempt < before.attempt:
                out.append(f"trial {t.id}: attempt went down at event {after.id}")
        last = chain[-1]
        if last.to_status != t.status or last.attempt != t.attempt:
            out.append(
                f"trial {t.id}: is {t.status} at attempt {t.attempt}, but its last "
                f"event says {last.to_status} at attempt {last.attempt}"
            )
    return out


def _legal(old: str | None, new: str, details: dict | None = None) -> bool:
    """A lifecycle transition; with an operator's event (`loop trial`), also
    `OPERATOR_TRANSITIONS` and void/amend, which keep a completed trial so."""
    operator = bool((details or {}).get("operator"))
    try:
        if old is None:
            return False
        before, after = TrialStatus(old), TrialStatus(new)
    except ValueError:
        return False
    if after in TRANSITIONS[before]:
        return True
    if not operator:
        return False
    if before is after:
        return before is TrialStatus.COMPLETED
    return after in OPERATOR_TRANSITIONS.get(before, frozenset())


def _distinct(trials: list[TrialRow]) -> list[str]:
    """The engine never proposes a configuration twice (loop/engine.py `ask`);
    a STALE trial's configuration may be proposed again. Measurements the lab
    chose (imported replicates, a repeat told by hand) may repeat one."""
    seen: dict[str, int] = {}
    out = []
    for t in trials:
        if t.status == TrialStatus.STALE.value or t.phase in ("imported", "manual"):
            continue
        config = json.dumps([t.composition, t.parameters], sort_keys=True)
        if config in seen:
            out.append(f"trials {seen[config]} and {t.id} have the same configuration")
        else:
            assert t.id is not None
            seen[config] = t.id
    return out


def _inbox(
    measurements: list[MeasurementRow],
    keys: list[IdempotencyRow],
    inbox: list[dict[str, Any]],
    events: list[TrialEventRow],
) -> list[str]:
    """Robot measurements come from a stored submission and a bound key (a
    flagged measurement an operator retried lives on in the retry's event)."""
    out = []
    measured = {m.trial_id for m in measurements} | {
        e.trial_id
        for e in events
        if ((e.details or {}).get("operator") or {}).get("old", {}).get("measurement")
    }
    for k in keys:
        if k.trial_id not in measured:
            out.append(
                f"Idempotency-Key {k.key} is bound to trial {k.trial_id}, which has "
                "no measurement"
            )
    keyed = {k.trial_id for k in keys}
    accepted = {
        s["trial_id"]
        for s in inbox
        if s["route"] == "measurements" and s["outcome"] in STORED
    }
    for m in measurements:
        if not m.source.startswith("robot"):
            continue
        if m.trial_id not in keyed:
            out.append(f"trial {m.trial_id}: robot measurement without its key")
        if m.trial_id not in accepted:
            out.append(
                f"trial {m.trial_id}: robot measurement without an accepted submission"
            )
    return out
