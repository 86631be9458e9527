"""Operator corrections in the store, on SQLite and PostgreSQL: one audited
transaction each, refused when the trial's status does not allow them."""

from __future__ import annotations

import pytest

from loop.errors import BadInputError, NotFoundError
from loop.records import Proposal, TrialStatus
from loop.storage import Store
from loop.storage.operator import Action, operate


def _store(url: str, trials: int) -> Store:
    store = Store(url)
    store.create_campaign("c", {"name": "c"})
    store.create_campaign("d", {"name": "d"})
    proposals = [
        Proposal(composition={"A": 10.0 + i}, phase="initial", strategy="random")
        for i in range(trials)
    ]
    store.add_trials("c", 0, proposals, 100)
    return store


def _claim(store: Store, trial_id: int) -> None:
    store.transition(trial_id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)


def test_void_and_amend_keep_the_old_values_in_the_audit(any_db_url: str) -> None:
    store = _store(any_db_url, 2)
    first, second = (t.id for t in store.trials("c"))
    for t in (first, second):
        _claim(store, t)
        store.complete(t, 1, {"y": 1.7e308})
    done = operate(store, "c", first, Action.VOID, reason="overflow", by="ana")
    assert done["old"]["values"] == {"y": 1.7e308} and done["by"] == "ana"
    trials = {t.id: t for t in store.trials("c")}
    assert trials[first].measurement is None  # counted nowhere
    assert trials[first].voided is not None
    assert trials[first].voided.values == {"y": 1.7e308}
    assert trials[first].status is TrialStatus.COMPLETED  # still spent
    assert trials[second].measurement is not None and trials[second].voided is None
    event = store.events(first)[-1]
    assert (event["from_status"], event["to_status"]) == ("completed", "completed")
    assert event["reason"] == "void by ana: overflow"
    assert event["details"]["operator"]["old"]["values"] == {"y": 1.7e308}
    assert event["at"] is not None

    with pytest.raises(BadInputError, match="already voided"):
        operate(store, "c", first, Action.VOID, reason="again", by="ana")

    # an amend replaces the values; they count again
    done = operate(
        store, "c", first, Action.AMEND, reason="typo", by="bo", values={"y": 1.7}
    )
    assert done["old"] == {"values": {"y": 1.7e308}, "voided": True}
    t = next(t for t in store.trials("c") if t.id == first)
    assert t.measurement is not None and t.measurement.values == {"y": 1.7}
    assert t.voided is None


def test_retry_and_abandon_follow_the_lifecycle(any_db_url: str) -> None:
    store = _store(any_db_url, 3)
    failed, review, pending = (t.id for t in store.trials("c"))
    _claim(store, failed)
    store.transition(failed, [TrialStatus.CLAIMED], TrialStatus.FAILED, reason="jam")
    _claim(store, review)
    store.transition(review, [TrialStatus.CLAIMED], TrialStatus.STARTED)
    store.transition(review, [TrialStatus.STARTED], TrialStatus.NEEDS_REVIEW)

    done = operate(store, "c", failed, Action.RETRY, reason="fixed", by="ana")
    assert (done["from_status"], done["to_status"], done["attempt"]) == (
        "failed",
        "pending",
        2,
    )
    assert done["old"] == {"failure_reason": "jam"}
    operate(store, "c", review, Action.ABANDON, reason="sample lost", by="ana")
    trials = {t.id: t for t in store.trials("c")}
    assert trials[failed].status is TrialStatus.PENDING
    assert trials[failed].attempt == 2 and trials[failed].lease_expires_at is None
    assert trials[review].status is TrialStatus.ABANDONED
    assert store.events(review)[-1]["details"]["operator"]["action"] == "abandon"

    # refusals name the trial, its status and what is possible; nothing changes
    with pytest.raises(BadInputError, match="is abandoned") as caught:
        operate(store, "c", review, Action.RETRY, reason="x", by="ana")
    assert "final" in caught.value.hint
    with pytest.raises(BadInputError, match="is pending") as caught:
        operate(store, "c", pending, Action.VOID, reason="x", by="ana")
    assert "loop trial abandon c" in caught.value.hint
    with pytest.raises(NotFoundError, match="campaign 'd' has no trial"):
        operate(store, "d", pending, Action.ABANDON, reason="x", by="ana")
    assert len(store.events(pending)) == 1
    assert store.trials("c")[2].status is TrialStatus.PENDING
