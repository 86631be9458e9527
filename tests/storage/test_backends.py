"""What the two backends must agree on, and what only PostgreSQL can show.

Parity (`any_db_url`): JSON and aware-UTC datetimes round-trip, concurrent
writers see the same outcomes (campaign names, budget, keyed claims). PostgreSQL
only (`postgres_url`): SKIP LOCKED claims from two sessions, serialization
failures and deadlocks re-run by `retried`, dead pooled connections replaced.
SQLite only: a held write lock becomes a 503, not a 500. Database URLs: only the
supported forms are accepted, and no message ever shows a password.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from loop.errors import BadInputError, StorageError
from loop.records import Proposal, TrialStatus
from loop.storage import Store, sqlite_path
from loop.storage.connection import RETRIES, ConflictRetryError, retried
from loop.storage.inbox import save_submission, submissions
from loop.storage.lab import claim_next, reap_expired
from tests.lab import live_server, robot_campaign
from tests.support import unavailable

SECRET = "hunter2-never-shown"


def _proposal(a: float) -> Proposal:
    return Proposal(
        composition={"A": a, "B": 100 - a},
        parameters={"route": "cast"},
        phase="initial",
        strategy="botorch",
        predicted_mean={"y": 0.5},
        provenance={"n_train": 0},
    )


def _store(url: str, trials: int = 0) -> Store:
    store = Store(url)
    store.create_campaign("c", {"name": "c"})
    if trials:
        store.add_trials("c", 0, [_proposal(10.0 + i) for i in range(trials)], 100)
    return store


def _work(trial: Any) -> dict[str, Any]:
    return {"trial_id": trial.id, "attempt": trial.attempt}


def _claim(store: Store, key: str | None = None, respond: Any = _work) -> Any:
    return claim_next(store, "c", None, 60.0, 3, respond=respond, idempotency_key=key)


def _in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


# ------------------------------------------------------------------ URLs
@pytest.mark.parametrize(
    "url",
    [
        f"mysql://loop:{SECRET}@db.example/loop",
        f"postgresql://loop:{SECRET}@db.example/loop",
        f"postgresql+psycopg2://loop:{SECRET}@db.example/loop",
        f"postgres://loop:{SECRET}@db.example/loop",
        f"not a url:{SECRET}@x",
    ],
)
def test_an_unsupported_url_is_refused_naming_the_supported_forms(url: str) -> None:
    with pytest.raises(BadInputError) as caught:
        Store(url)
    shown = str(caught.value)
    assert "sqlite:///" in shown and "postgresql+psycopg://" in shown
    assert SECRET not in shown


def test_an_unreachable_postgresql_server_is_a_storage_error_without_the_password(
    tmp_path,
) -> None:
    url = f"postgresql+psycopg://loop:{SECRET}@/loop?host={tmp_path}/no-server"
    with pytest.raises(StorageError) as caught:
        Store(url)
    assert "cannot open the database" in caught.value.message
    assert SECRET not in str(caught.value)
    assert caught.value.http_status == 503


# ---------------------------------------------------------------- parity
def test_json_and_datetimes_round_trip_alike(any_db_url: str) -> None:
    spec = {
        "name": "c",
        "zeta": [0.1, 1e-300, 2**53 + 1, -0.0, None, True],
        "unicode": "Li₂S–P₂S₅ \u00e9 \U0001f9ea",
        "nested": {"b": {"deep": [{"x": 1}]}, "a": "first key stays second"},
    }
    store = Store(any_db_url)
    store.create_campaign("c", spec)
    got = Store(any_db_url).get_campaign("c")
    assert got.spec == spec
    assert list(got.spec) == list(spec) and list(got.spec["nested"]) == ["b", "a"]
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == (
        timedelta(0)
    )
    assert abs(got.created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_leases_are_aware_utc_on_the_database_clock(any_db_url: str) -> None:
    """The test server runs in Asia/Kolkata: a lease stored or compared in local
    time would be 5.5 hours off."""
    store = _store(any_db_url, trials=1)
    with store.transaction(write=False) as s:
        now = store.now(s)
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)
    work = _claim(store)
    (trial,) = store.trials("c")
    assert trial.lease_expires_at is not None
    assert trial.lease_expires_at.utcoffset() == timedelta(0)
    assert timedelta(seconds=55) < trial.lease_expires_at - now < timedelta(seconds=65)

    store.clock_skew = timedelta(seconds=50)
    assert reap_expired(store, "c", 3) == [], "not expired yet"
    store.clock_skew = timedelta(seconds=70)
    (reaped,) = reap_expired(store, "c", 3)
    assert (reaped.trial_id, reaped.to) == (work["trial_id"], TrialStatus.PENDING)


def test_nul_characters_are_kept_alike_as_replacement_characters(
    any_db_url: str,
) -> None:
    """PostgreSQL text cannot hold NUL: a received body or a failure reason with
    one is kept (with U+FFFD in its place) on both backends, never a 500."""
    store = _store(any_db_url, trials=1)
    (trial,) = store.trials("c")
    campaign_id = store.get_campaign("c").id
    save_submission(
        store,
        campaign_id=campaign_id,
        trial_id=trial.id,
        key_id=None,
        route="failure",
        idempotency_key=None,
        body='{"reason": "cell\x00A3"}',
        body_sha256="0" * 64,
        source_ip=None,
    )
    store.transition(trial.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    store.transition(
        trial.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, reason="cell\x00A3"
    )
    assert [s["body"] for s in submissions(store, "c")] == [
        '{"reason": "cell\ufffdA3"}'
    ]
    assert store.trials("c")[0].failure_reason == "cell\ufffdA3"
    assert store.events(trial.id)[-1]["reason"] == "cell\ufffdA3"


def test_a_read_transaction_sees_one_snapshot(any_db_url: str) -> None:
    """A trial list and its measurements come from one moment, however many
    statements the read takes (SQLite WAL readers; REPEATABLE READ)."""
    store = _store(any_db_url, trials=1)
    count = text("select count(*) from trial")
    with store.transaction(write=False) as s:
        before = s.execute(count).scalar()
        Store(any_db_url).add_trials("c", 1, [_proposal(50.0)], budget=10)
        assert s.execute(count).scalar() == before == 1
    assert len(store.trials("c")) == 2


def test_two_campaigns_created_at_once_with_one_name_make_one(any_db_url: str) -> None:
    Store(any_db_url)  # the schema, before the race
    barrier = threading.Barrier(2)

    def create(i: int) -> Any:
        store = Store(any_db_url)
        barrier.wait(timeout=30)
        return store.create_campaign("twin", {"name": "twin", "i": i})

    runs = [_in_thread(create, i) for i in range(2)]
    for thread, _ in runs:
        thread.join(timeout=60)
    outcomes = [out for _, out in runs]
    assert sum("value" in o for o in outcomes) == 1, outcomes
    (error,) = [o["error"] for o in outcomes if "error" in o]
    assert isinstance(error, BadInputError) and "already exists" in error.message
    assert [c.name for c in Store(any_db_url).list_campaigns()] == ["twin"]


def test_two_batches_at_once_never_exceed_the_budget(any_db_url: str) -> None:
    _store(any_db_url)
    barrier = threading.Barrier(2)

    def add(i: int) -> Any:
        store = Store(any_db_url)
        barrier.wait(timeout=30)
        return store.add_trials("c", i, [_proposal(1.0), _proposal(2.0)], budget=3)

    runs = [_in_thread(add, i) for i in range(2)]
    for thread, _ in runs:
        thread.join(timeout=60)
    errors = [out.get("error") for _, out in runs]
    assert sum(e is None for e in errors) == 1, errors
    assert any(isinstance(e, StorageError) and "budget" in e.message for e in errors)
    assert len(Store(any_db_url).trials("c")) == 2


def test_two_claims_with_one_key_at_once_get_the_same_trial(any_db_url: str) -> None:
    """The first claim is held inside its transaction while a twin with the same
    key runs: on SQLite the twin waits for the write lock and replays; on
    PostgreSQL the twin commits first and the held claim, refused by the key's
    unique index, runs again and replays the twin's answer."""
    store = _store(any_db_url, trials=2)
    inside, release = threading.Event(), threading.Event()

    def held(trial: Any) -> dict[str, Any]:
        inside.set()
        release.wait(timeout=30)
        return _work(trial)

    first, first_out = _in_thread(_claim, store, "claim-key-0001", held)
    assert inside.wait(timeout=30)
    twin, twin_out = _in_thread(_claim, Store(any_db_url), "claim-key-0001")
    twin.join(timeout=1.0)  # PostgreSQL: done; SQLite: waiting for the lock
    release.set()
    first.join(timeout=60)
    twin.join(timeout=60)
    assert "error" not in first_out and "error" not in twin_out, (first_out, twin_out)
    assert first_out["value"] == twin_out["value"]
    statuses = sorted(t.status.value for t in store.trials("c"))
    assert statuses == ["claimed", "pending"], "one trial leased, none stranded"


# -------------------------------------------------------- PostgreSQL only
@pytest.mark.postgresql
def test_a_locked_pending_trial_is_skipped_not_waited_for(postgres_url: str) -> None:
    """SKIP LOCKED: while one session holds the oldest PENDING row, a claim from
    another session gets the next trial at once instead of queueing."""
    store = _store(postgres_url, trials=2)
    first, second = (t.id for t in store.trials("c"))
    holder = create_engine(postgres_url, poolclass=NullPool)
    with holder.connect() as conn, conn.begin():
        conn.execute(
            text("select id from trial where id = :id for update"), {"id": first}
        )
        thread, out = _in_thread(_claim, store)
        thread.join(timeout=10)
        assert not thread.is_alive(), "the claim waited for the locked row"
        assert out["value"]["trial_id"] == second
    assert _claim(store)["trial_id"] == first, "released: offered again"
    holder.dispose()


@pytest.mark.postgresql
def test_a_serialization_failure_is_retried_and_then_given_up(
    postgres_url: str,
) -> None:
    store = _store(postgres_url)
    calls: list[int] = []

    @retried
    def rename(failures: int) -> None:
        with store.transaction() as s:
            calls.append(1)
            s.execute(text("update campaign set status = 'exhausted'"))
            if len(calls) <= failures:  # a real 40001 from the server
                s.execute(
                    text(
                        "do $$ begin raise exception 'conflict' using errcode = "
                        "'serialization_failure'; end $$"
                    )
                )

    rename(2)
    assert len(calls) == 3
    assert store.get_campaign("c").status == "exhausted"

    store.update_campaign("c", status="active")
    calls.clear()
    with pytest.raises(StorageError) as caught:
        rename(RETRIES + 5)
    assert not isinstance(caught.value, ConflictRetryError), "no retry by an outer one"
    assert "40001" in caught.value.message and caught.value.http_status == 503
    assert len(calls) == RETRIES + 1
    assert store.get_campaign("c").status == "active", "every attempt rolled back"


@pytest.mark.postgresql
def test_a_deadlock_between_two_writers_is_resolved_by_a_retry(
    postgres_url: str,
) -> None:
    """Two writers lock two trials in opposite orders; PostgreSQL aborts one of
    them (40P01) after deadlock_timeout, and `retried` runs it again."""
    store = _store(postgres_url, trials=2)
    a, b = (t.id for t in store.trials("c"))
    both_hold_one = threading.Barrier(2)
    attempts: list[str] = []

    def writer(name: str, order: tuple[int, int]) -> None:
        other = Store(postgres_url)

        @retried
        def work() -> None:
            with other.transaction() as s:
                attempts.append(name)
                for i, trial_id in enumerate(order):
                    s.execute(
                        text("update trial set seed = :seed where id = :id"),
                        {"seed": order[0], "id": trial_id},
                    )
                    if i == 0 and attempts.count(name) == 1:
                        both_hold_one.wait(timeout=30)

        work()

    runs = [_in_thread(writer, "ab", (a, b)), _in_thread(writer, "ba", (b, a))]
    for thread, _ in runs:
        thread.join(timeout=60)
    assert [out for _, out in runs] == [{"value": None}, {"value": None}]
    assert len(attempts) == 3, "exactly one of the two ran again"
    seeds = {t.seed for t in store.trials("c")}
    assert len(seeds) == 1, "the retried writer's updates both landed, last"


@pytest.mark.postgresql
def test_pooled_connections_killed_by_the_server_are_replaced(
    postgres_url: str,
) -> None:
    store = _store(postgres_url, trials=1)
    killer = create_engine(postgres_url, poolclass=NullPool)
    with killer.connect() as conn:
        killed = conn.execute(
            text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
        ).scalar()
    killer.dispose()
    assert killed >= 1
    assert [t.status for t in store.trials("c")] == [TrialStatus.PENDING]


#: The grants docs/operations.md gives the API's role (no DDL, no DELETE); the
#: REVOKE is PostgreSQL 15's default, needed on older servers.
API_GRANTS = """
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
"""


@contextmanager
def _role(postgres_url: str, grants: str) -> Iterator[str]:
    """A login role with *grants* on the test database; yields its URL."""
    role, password = f"loop_api_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    database = make_url(postgres_url).database
    owner = create_engine(postgres_url, poolclass=NullPool)
    try:
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            for grant in grants.format(database=database, role=role).split(";"):
                if grant.strip():
                    conn.execute(text(grant))
    except ProgrammingError as exc:
        owner.dispose()
        unavailable(
            "the least-privilege role test",
            f"this server's test role cannot create roles: {exc.orig}",
            "point LOOP_TEST_PG_URL at a role with CREATEROLE, or let the tests "
            "start their own server",
        )
    try:
        yield (
            make_url(postgres_url)
            .set(username=role, password=password)
            .render_as_string(hide_password=False)
        )
    finally:
        with owner.begin() as conn:
            conn.execute(  # its sessions first: DROP ROLE refuses a connected role
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where usename = :role"
                ),
                {"role": role},
            )
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


@pytest.mark.postgresql
def test_a_role_without_ddl_rights_is_told_who_creates_the_tables(
    postgres_url: str,
) -> None:
    grants = API_GRANTS.split("GRANT SELECT")[0]  # connect and use the schema only
    with _role(postgres_url, grants) as api_url:
        with pytest.raises(StorageError) as caught:
            Store(api_url)
    assert "permission denied" in caught.value.message
    assert "loop db upgrade" in caught.value.hint
    assert api_url.split("@")[0].split(":")[-1] not in str(caught.value)


@pytest.mark.postgresql
def test_the_api_works_with_the_documented_least_privilege_role(
    postgres_url: str,
) -> None:
    rc = robot_campaign(postgres_url)  # tables and campaign made by the owner
    rc.propose(2)
    with _role(postgres_url, API_GRANTS) as api_url:
        api = Store(api_url, create=False)
        try:
            _robot_session(api, rc)
        finally:
            api.engine.dispose()
    statuses = sorted(t.status.value for t in rc.store.trials(rc.name))
    assert statuses == ["completed", "pending"]


def _robot_session(api: Store, rc: Any) -> None:
    """A robot's whole round over HTTP, then what the API role may not do."""
    with (
        live_server(api) as url,
        httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {rc.token}"},
            timeout=30,
        ) as robot,
    ):
        claims = f"/api/v1/campaigns/{rc.name}/claims"
        first, second = robot.post(claims).json(), robot.post(claims).json()
        trial = f"/api/v1/trials/{first['trial_id']}"
        for path, body in [("heartbeat", {}), ("start", {})]:
            r = robot.post(f"{trial}/{path}", json={"attempt": 1, **body})
            assert r.status_code == 200, r.text
        measurement = {"attempt": 1, "values": {"conductivity": 9.7}}
        for _ in range(2):  # stored, then replayed
            r = robot.post(
                f"{trial}/measurements",
                json=measurement,
                headers={"Idempotency-Key": "least-privilege-1"},
            )
            assert r.status_code == 200, r.text
        r = robot.post(
            f"/api/v1/trials/{second['trial_id']}/failure",
            json={"attempt": 1, "reason": "cracked", "retryable": True},
        )
        assert r.status_code == 200, r.text
    with api.engine.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("DELETE FROM submission"))
    with api.engine.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("CREATE TABLE intruder (id int)"))


# ------------------------------------------------------------ SQLite only
def test_a_held_sqlite_write_lock_is_a_503_not_a_crash(db_url: str) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)

    @event.listens_for(rc.store.engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    rc.store.engine.dispose()  # new connections wait 200 ms, not 30 s
    path = sqlite_path(db_url)
    assert path is not None
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError) as caught:
            rc.store.update_campaign(rc.name, status="exhausted")
        assert "busy" in caught.value.message and caught.value.http_status == 503
        with live_server(rc.store) as url:
            started = time.monotonic()
            r = httpx.post(
                f"{url}/api/v1/campaigns/{rc.name}/claims",
                headers={"Authorization": f"Bearer {rc.token}"},
                timeout=30,
            )
            assert time.monotonic() - started < 10
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "storage"
    assert [t.status for t in rc.store.trials(rc.name)] == [TrialStatus.PENDING]
