"""One driver per campaign: the lease row on the campaign, on the database clock
(both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from loop.storage import Store
from loop.storage.driver import (
    DriverBusyError,
    DriverLostError,
    acquire,
    driving,
    holder,
    me,
    release,
    renew,
)
from loop.storage.tables import CampaignRow


@pytest.fixture
def store(any_db_url: str) -> Store:
    store = Store(any_db_url)
    store.create_campaign("c", {"name": "c"})
    return store


def _set_owner(store: Store, owner: str, seconds_left: float) -> None:
    with store.transaction() as s:
        row = s.exec(select(CampaignRow).where(CampaignRow.name == "c")).one()
        now = store.now(s)
        row.driver_owner = owner
        row.driver_since = now
        row.driver_expires_at = now + timedelta(seconds=seconds_left)
        s.add(row)


def test_a_second_driver_is_refused_with_the_holder_and_the_lease_end(
    store: Store,
) -> None:
    _set_owner(store, "robot-hall-pc:4242", 60)
    with pytest.raises(DriverBusyError) as caught:
        acquire(store, "c")
    assert "robot-hall-pc:4242" in caught.value.message
    assert "lease runs until" in caught.value.message
    assert holder(store, "c").owner == "robot-hall-pc:4242"


def test_an_expired_lease_of_another_host_is_taken_over(store: Store) -> None:
    _set_owner(store, "robot-hall-pc:4242", 60)
    store.clock_skew = timedelta(seconds=61)
    epoch = acquire(store, "c")
    assert holder(store, "c").owner == me()
    assert epoch == 1


def test_a_dead_process_on_this_host_is_taken_over_at_once(store: Store) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _set_owner(store, f"{socket.gethostname()}:{gone.stdout.strip()}", 3600)
    acquire(store, "c")
    assert holder(store, "c").owner == me()


def test_a_driver_whose_lease_was_taken_over_learns_it_at_the_next_renewal(
    store: Store,
) -> None:
    epoch = acquire(store, "c", owner="host-a:1")
    store.clock_skew = timedelta(seconds=3600)
    acquire(store, "c", owner="host-b:2")
    with pytest.raises(DriverLostError):
        renew(store, "c", epoch, owner="host-a:1")
    release(store, "c", epoch, owner="host-a:1")  # a stale release changes nothing
    assert holder(store, "c").owner == "host-b:2"


def test_the_lease_is_released_when_the_driver_stops(store: Store) -> None:
    with driving(store, "c") as lease:
        assert holder(store, "c").owner == me()
        lease.check()
    assert holder(store, "c") is None
    with driving(store, "c"):  # and the next driver gets it at once
        pass
