"""`retried` without a database: which errors run a transaction again, how
often, how long it waits in between, and what is raised when it gives up.

The PostgreSQL half of `test_backends.py` drives it with real serialization
failures and deadlocks; these pin the numbers.
"""

from __future__ import annotations

import time

import pytest

from loop.errors import StorageError
from loop.storage.connection import BACKOFF, RETRIES, ConflictRetryError, retried


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses `retried` takes, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


def _conflicting(times: int, calls: list[int]):
    @retried
    def transaction() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise ConflictRetryError("serialization failure (40001)", "retry")
        return "stored"

    return transaction


def _within_backoff(pauses: list[float]) -> bool:
    """Pause n (from 0) lies in [BACKOFF * 2**n, 2 * BACKOFF * 2**n]."""
    return all(
        BACKOFF * 2**n <= pause <= 2 * BACKOFF * 2**n for n, pause in enumerate(pauses)
    )


def test_a_conflict_runs_the_transaction_again_after_a_growing_pause(
    pauses: list[float],
) -> None:
    calls: list[int] = []
    assert _conflicting(2, calls)() == "stored"
    assert len(calls) == 3 and len(pauses) == 2
    assert _within_backoff(pauses)


def test_out_of_retries_the_conflict_becomes_a_plain_storage_error(
    pauses: list[float],
) -> None:
    calls: list[int] = []
    with pytest.raises(StorageError) as caught:
        _conflicting(RETRIES + 5, calls)()
    error = caught.value
    assert not isinstance(error, ConflictRetryError), "an outer retried must not retry"
    assert (
        error.message
        == f"serialization failure (40001) (gave up after {RETRIES} retries)"
    )
    assert error.hint == "retry" and error.http_status == 503
    assert isinstance(error.__cause__, ConflictRetryError)
    assert len(calls) == RETRIES + 1 and len(pauses) == RETRIES
    assert _within_backoff(pauses)


def test_other_errors_are_raised_at_once(pauses: list[float]) -> None:
    calls: list[int] = []

    @retried
    def broken() -> None:
        calls.append(1)
        raise StorageError("the database is busy", "retry shortly")

    with pytest.raises(StorageError, match="busy"):
        broken()
    assert len(calls) == 1 and pauses == []


def test_nested_retried_does_not_multiply_the_attempts(pauses: list[float]) -> None:
    calls: list[int] = []
    outer = retried(_conflicting(RETRIES + 5, calls))
    with pytest.raises(StorageError):
        outer()
    assert len(calls) == RETRIES + 1
