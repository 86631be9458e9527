"""The Store on both backends (`any_db_url`: a SQLite file and a PostgreSQL
database): transactions, transitions, budget; SQLite pragmas and files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from loop.campaign_state import CostSpent
from loop.errors import (
    BadInputError,
    CampaignNotFoundError,
    StorageError,
    TrialStateError,
)
from loop.records import Proposal, TrialStatus
from loop.spec import validate
from loop.storage import Store
from loop.storage.tables import SCHEMA_VERSION


def _proposal(a: float) -> Proposal:
    return Proposal(
        composition={"A": a, "B": 100 - a},
        parameters={"route": "cast"},
        phase="initial",
        strategy="botorch",
        predicted_mean={"y": 0.5},
        provenance={"n_train": 0},
    )


@pytest.fixture
def store(any_db_url: str, campaign_data: dict) -> Store:
    s = Store(any_db_url)
    s.create_campaign("c1", validate(campaign_data).model_dump(mode="json"))
    return s


def test_sqlite_connections_use_wal_foreign_keys_and_full_sync(db_url: str) -> None:
    store = Store(db_url)
    with store.engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["busy_timeout"] >= 5000


def test_trials_round_trip_with_provenance(store: Store) -> None:
    added = store.add_trials("c1", 0, [_proposal(30.0), _proposal(40.5)], budget=10)
    trials = store.trials("c1")
    assert [t.id for t in trials] == [t.id for t in added]
    assert trials[1].composition == {"A": 40.5, "B": 59.5}
    assert trials[0].status is TrialStatus.PENDING and trials[0].attempt == 1
    assert trials[0].predicted_mean == {"y": 0.5}
    assert trials[0].provenance == {"n_train": 0}


def test_add_trials_never_exceeds_budget_and_writes_nothing_when_refused(
    store: Store,
) -> None:
    store.add_trials("c1", 0, [_proposal(10.0), _proposal(20.0)], budget=3)
    with pytest.raises(StorageError, match="exceed the budget"):
        store.add_trials("c1", 1, [_proposal(30.0), _proposal(40.0)], budget=3)
    assert len(store.trials("c1")) == 2


def test_complete_stores_measurement_and_status_together(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    store.complete(t.id, 1, {"y": 0.25}, units={"y": ""}, source="test")
    (done,) = store.trials("c1")
    assert done.status is TrialStatus.COMPLETED
    assert done.values == {"y": 0.25}
    assert done.measurement is not None and done.measurement.source == "test"


def test_a_trial_is_never_measured_twice(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    store.complete(t.id, 1, {"y": 0.25})
    with pytest.raises(TrialStateError):
        store.complete(t.id, 1, {"y": 0.99})
    # and the database itself refuses a second measurement row for the trial
    with store.engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(
            text(
                'insert into measurement (trial_id, attempt, "values", units, metadata,'
                " source, late, received_at) values (:trial, 1, '{}', '{}', '{}', '',"
                " false, '2026-01-01 00:00:00')"
            ),
            {"trial": t.id},
        )
    assert store.trials("c1")[0].values == {"y": 0.25}


def test_failed_complete_rolls_back_the_measurement(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    with pytest.raises(TrialStateError, match="expected claimed/started"):
        store.complete(t.id, 1, {"y": 0.25})  # still PENDING: refused
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from measurement")).scalar() == 0


def test_transition_is_conditional_on_state_and_attempt(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    with pytest.raises(TrialStateError, match="is claimed"):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    with pytest.raises(TrialStateError, match="attempt 2"):
        store.transition(t.id, [TrialStatus.CLAIMED], TrialStatus.STARTED, attempt=2)
    store.transition(
        t.id,
        [TrialStatus.CLAIMED],
        TrialStatus.PENDING,
        attempt=1,
        reason="retry",
        next_attempt=True,
    )
    (again,) = store.trials("c1")
    assert again.status is TrialStatus.PENDING and again.attempt == 2
    assert again.failure_reason == "retry"
    history = [
        (e["from_status"], e["to_status"], e["attempt"]) for e in store.events(t.id)
    ]
    assert history == [
        (None, "pending", 1),
        ("pending", "claimed", 1),
        ("claimed", "pending", 2),
    ]


def test_a_transition_keeps_its_details_on_the_event(store: Store) -> None:
    """An adapter's metadata for a failed attempt round-trips through events()."""
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    details = {
        "job": {
            "name": "loop-c1-t1-a1",
            "id": "4711",
            "directory": "/scratch/loop/c1/t1/a1",
            "state": "TIMEOUT",
            "history": [["PENDING", 0.0], ["RUNNING", 12.5], ["TIMEOUT", 3600.0]],
        },
        "cost": 7200.0,
        "cost_unit": "cpu_seconds",
        "note": "Li₂S \u00e9",
    }
    store.transition(
        t.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        attempt=1,
        reason="job loop-c1-t1-a1 ended TIMEOUT",
        details=details,
    )
    events = store.events(t.id)
    assert [e["details"] for e in events] == [None, None, details]
    assert list(events[-1]["details"]) == list(details)
    assert events[-1]["reason"] == "job loop-c1-t1-a1 ended TIMEOUT"


def test_costs_of_failed_and_retried_attempts_are_counted_once_each(
    store: Store,
) -> None:
    """`budget.cost` counts what failed and retried attempts cost (on their
    events) besides what measured ones cost (on their measurement)."""
    a, b = store.add_trials("c1", 0, [_proposal(10.0), _proposal(20.0)], budget=5)
    for t in (a, b):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    store.transition(
        a.id,
        [TrialStatus.CLAIMED],
        TrialStatus.PENDING,
        attempt=1,
        next_attempt=True,
        reason="node lost",
        details={"cost": 5.0},
    )
    store.transition(
        b.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        attempt=1,
        reason="did not converge",
        details={"cost": 7.5, "note": "no cost here: 1", "nested": {"cost": 99}},
    )
    store.transition(a.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=2)
    store.complete(a.id, 2, {"y": 1.0}, metadata={"cost": 4.0})
    assert sorted(store.attempt_costs("c1")) == [5.0, 7.5]
    trials = store.trials("c1")
    spent = CostSpent.of(trials, store.attempt_costs("c1"))
    assert spent.spent == pytest.approx(16.5)
    assert spent.expected == pytest.approx(5.5)


def test_event_details_are_kept_as_plain_json_and_capped(store: Store) -> None:
    """Both backends keep the same: NUL as U+FFFD, NaN as null, other objects as
    text; details over 64 kB become a note instead of failing the transition."""
    a, b = store.add_trials("c1", 0, [_proposal(10.0), _proposal(20.0)], budget=5)
    for t in (a, b):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    odd = {"trace\x00": "line\x00", "nan": float("nan"), "path": Path("/x"), 3: (1,)}
    store.transition(a.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, details=odd)
    assert store.events(a.id)[-1]["details"] == {
        "trace\ufffd": "line\ufffd",
        "nan": None,
        "path": "/x",
        "3": [1],
    }
    huge = {"traceback": "x" * 70_000, "job": {"name": "j"}}
    store.transition(b.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, details=huge)
    note = store.events(b.id)[-1]["details"]
    assert note["truncated"] is True and note["keys"] == ["traceback", "job"]
    assert note["bytes"] > 70_000
    assert store.trials("c1")[1].status is TrialStatus.FAILED


def test_odd_measurement_metadata_is_stored_as_plain_json(store: Store) -> None:
    """An adapter's metadata with NaN or a path must not fail the measurement's
    write (PostgreSQL refuses NaN in JSON): both backends keep the same."""
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    odd = {"turnaround": float("nan"), "dir": Path("/jobs/t1"), "steps": (1, 2)}
    store.complete(t.id, t.attempt, {"yield": 0.5}, metadata=odd)
    [done] = store.trials("c1")
    assert done.status is TrialStatus.COMPLETED and done.values == {"yield": 0.5}
    assert done.measurement.metadata == {
        "turnaround": None,
        "dir": "/jobs/t1",
        "steps": [1, 2],
    }


def test_terminal_states_never_change(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    store.transition(t.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, reason="cracked")
    with pytest.raises(ValueError, match="illegal transition"):
        store.transition(t.id, [TrialStatus.FAILED], TrialStatus.PENDING)


def test_only_one_of_many_concurrent_claims_wins(store: Store) -> None:
    (t,) = store.add_trials("c1", 0, [_proposal(10.0)], budget=5)
    wins, losses = [], []

    def claim() -> None:
        other = Store(store.url)
        try:
            other.transition(
                t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1
            )
            wins.append(1)
        except TrialStateError:
            losses.append(1)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(wins) == 1 and len(losses) == 7


def test_unknown_campaign_lists_the_known_ones(store: Store) -> None:
    with pytest.raises(CampaignNotFoundError) as info:
        store.get_campaign("nope")
    assert "c1" in info.value.hint


def test_duplicate_campaign_name_is_refused(store: Store, campaign_data: dict) -> None:
    with pytest.raises(BadInputError, match="already exists"):
        store.create_campaign("c1", campaign_data)


def test_opening_a_missing_file_for_reading_does_not_create_it(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(BadInputError, match="no database"):
        Store(url, create=False)
    assert not (tmp_path / "absent.db").exists()


def test_a_database_from_a_newer_loop_is_refused(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text("update loop_meta set value = :v where key = 'schema_version'"),
            {"v": str(SCHEMA_VERSION + 1)},
        )
    with pytest.raises(StorageError, match="newer than this loop"):
        Store(store.url)


def test_a_file_that_is_not_a_loop_database_is_refused(tmp_path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table x (a)")
    with pytest.raises(BadInputError, match="not a loop database"):
        Store(f"sqlite:///{path}", create=False)
