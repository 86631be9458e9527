"""One driver per campaign: a lease row on the campaign, on the database clock.

`loop run` and `loop resume` acquire it with a conditional UPDATE (free,
expired, ours, or held by a process that no longer exists on this host), renew
it from a background thread while they work, and release it when they stop. A
second driver is refused with the holder's name and when its lease ends; after
a crash, `loop resume` on the same host takes over at once because the holder's
PID is gone. Works the same on SQLite and PostgreSQL (no advisory locks, which
break behind transaction-pooling proxies).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from loop.errors import LoopError
from loop.storage.store import Store
from loop.storage.tables import CampaignRow

#: Seconds a driver lease lasts without renewal; renewed every third of it.
LEASE_SECONDS = 60.0


class DriverBusyError(LoopError):
    """Another live driver holds the campaign."""


class DriverLostError(LoopError):
    """This driver's lease was taken over (it expired while we were stalled)."""


@dataclass(frozen=True)
class Holder:
    owner: str
    since: datetime | None
    expires_at: datetime | None


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder(store: Store, campaign: str) -> Holder | None:
    """Who drives *campaign* now (None when nobody holds a live lease)."""
    with store.transaction(write=False) as s:
        row = s.exec(select(CampaignRow).where(CampaignRow.name == campaign)).one()
        if row.driver_owner is None:
            return None
        return Holder(row.driver_owner, row.driver_since, row.driver_expires_at)


def acquire(
    store: Store, campaign: str, owner: str | None = None, ttl: float = LEASE_SECONDS
) -> int:
    """Take the campaign's driver lease; returns the new epoch."""
    owner = owner or me()
    with store.transaction() as s:
        now = store.now(s)
        row = s.exec(select(CampaignRow).where(CampaignRow.name == campaign)).one()
        held = (
            row.driver_owner is not None
            and row.driver_owner != owner
            and row.driver_expires_at is not None
            and row.driver_expires_at > now
            and _alive(row.driver_owner)
        )
        if held:
            raise DriverBusyError(
                f"campaign '{campaign}' is driven by {row.driver_owner} since "
                f"{_stamp(row.driver_since)}; its lease runs until "
                f"{_stamp(row.driver_expires_at)}",
                "let that driver finish or stop it (Ctrl-C); if its machine died, "
                "`loop resume` takes over once the lease has run out",
            )
        epoch = row.driver_epoch + 1
        result = s.exec(
            update(CampaignRow)
            .where(col(CampaignRow.id) == row.id)
            .where(col(CampaignRow.driver_epoch) == row.driver_epoch)
            .values(
                driver_owner=owner,
                driver_since=now,
                driver_expires_at=now + timedelta(seconds=ttl),
                driver_epoch=epoch,
            )
        )
        if result.rowcount != 1:
            raise DriverBusyError(
                f"another driver took campaign '{campaign}' at the same moment",
                "only one `loop run`/`loop resume` may drive a campaign",
            )
        return epoch


def renew(
    store: Store,
    campaign: str,
    epoch: int,
    owner: str | None = None,
    ttl: float = LEASE_SECONDS,
) -> None:
    """Extend our lease; DriverLostError when someone else took it over."""
    owner = owner or me()
    with store.transaction() as s:
        now = store.now(s)
        result = s.exec(
            update(CampaignRow)
            .where(col(CampaignRow.name) == campaign)
            .where(col(CampaignRow.driver_owner) == owner)
            .where(col(CampaignRow.driver_epoch) == epoch)
            .values(driver_expires_at=now + timedelta(seconds=ttl))
        )
        if result.rowcount != 1:
            raise DriverLostError(
                f"this driver lost campaign '{campaign}': another driver took over",
                "check `loop inspect`; only one driver may run a campaign",
            )


def release(store: Store, campaign: str, epoch: int, owner: str | None = None) -> None:
    owner = owner or me()
    with store.transaction() as s:
        s.exec(
            update(CampaignRow)
            .where(col(CampaignRow.name) == campaign)
            .where(col(CampaignRow.driver_owner) == owner)
            .where(col(CampaignRow.driver_epoch) == epoch)
            .values(driver_owner=None, driver_expires_at=None)
        )


class Lease:
    """A held driver lease, renewed by a daemon thread until `close()`."""

    def __init__(self, store: Store, campaign: str, ttl: float = LEASE_SECONDS) -> None:
        self.store, self.campaign, self.ttl = store, campaign, ttl
        self.epoch = acquire(store, campaign, ttl=ttl)
        self.lost: LoopError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise if the lease was lost; the driver calls this before each write."""
        if self.lost is not None:
            raise self.lost

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl)
        if self.lost is None:
            release(self.store, self.campaign, self.epoch)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                renew(self.store, self.campaign, self.epoch, ttl=self.ttl)
            except DriverLostError as exc:
                self.lost = exc
                return
            except LoopError:
                continue  # a busy database: try again at the next tick


@contextmanager
def driving(store: Store, campaign: str, ttl: float = LEASE_SECONDS) -> Iterator[Lease]:
    lease = Lease(store, campaign, ttl)
    try:
        yield lease
    finally:
        lease.close()


def _alive(owner: str) -> bool:
    """False only when the holder is a process of this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stamp(moment: datetime | None) -> str:
    return "?" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"
