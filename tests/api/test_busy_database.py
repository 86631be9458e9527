"""A busy database (issue 15, item 9): reads never wait on the write lock, and a
503 tells the client when to come back."""

from __future__ import annotations

import sqlite3
import time

import httpx

from loop.errors import StorageError
from loop.storage.keys import key_by_prefix
from tests.lab import live_server, robot_campaign


def _last_used(rc, token: str):
    return key_by_prefix(rc.store, token.split("_")[1]).last_used_at


def test_a_read_answers_while_a_driver_holds_the_write_lock(db_url: str) -> None:
    rc = robot_campaign(db_url)
    path = db_url.removeprefix("sqlite:///")
    with live_server(rc.store) as url:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # what a writing driver holds
        try:
            started = time.monotonic()
            r = httpx.get(
                f"{url}/api/v1/campaigns/{rc.name}",
                headers={"Authorization": f"Bearer {rc.token}"},
                timeout=60,
            )
            took = time.monotonic() - started
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert r.status_code == 200, r.text
    assert took < 10  # not the 30 s busy timeout a write would wait for
    assert _last_used(rc, rc.token) is None  # a read records nothing


def test_use_is_recorded_on_writes_at_most_once_a_minute(db_url: str) -> None:
    from loop.service.robots import TOUCH_INTERVAL, authenticate

    rc = robot_campaign(db_url)
    authenticate(rc.store, rc.token, record_use=False)
    assert _last_used(rc, rc.token) is None
    authenticate(rc.store, rc.token)
    first = _last_used(rc, rc.token)
    assert first is not None
    authenticate(rc.store, rc.token)  # within TOUCH_INTERVAL: not written again
    assert _last_used(rc, rc.token) == first
    assert TOUCH_INTERVAL == 60


def test_a_503_carries_retry_after() -> None:
    from loop.api.app import RETRY_AFTER, _error_response

    response = _error_response(StorageError("the database is locked", "retry"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
