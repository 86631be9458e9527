"""Robot keys: one row per robot controller and campaign, holding a token hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from loop.errors import BadInputError, NotFoundError
from loop.storage.sessions import campaign_id
from loop.storage.store import Store, retried
from loop.storage.tables import CampaignRow, RobotKeyRow, utcnow


@dataclass(frozen=True)
class RobotKey:
    id: int
    campaign: str
    campaign_id: int
    name: str
    prefix: str
    token_sha256: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None = None


@retried
def add_key(
    store: Store,
    campaign: str,
    name: str,
    prefix: str,
    digest: str,
    scopes: list[str],
    expires_at: datetime | None = None,
) -> RobotKey:
    with store.transaction() as s:
        cid = campaign_id(s, campaign)
        row = RobotKeyRow(
            campaign_id=cid,
            name=name,
            prefix=prefix,
            token_sha256=digest,
            scopes=scopes,
            expires_at=expires_at,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise BadInputError(
                f"campaign '{campaign}' already has a robot named '{name}'",
                "choose another name, or revoke the old key with `loop robots revoke`",
            ) from None
        return _key(row, campaign)


@retried
def keys(store: Store, campaign: str | None = None) -> list[RobotKey]:
    with store.transaction(write=False) as s:
        query = select(RobotKeyRow, CampaignRow.name).join(CampaignRow)
        if campaign is not None:
            query = query.where(CampaignRow.name == campaign)
        rows = s.exec(query.order_by(col(RobotKeyRow.id))).all()
        return [_key(row, name) for row, name in rows]


@retried
def key_by_prefix(store: Store, prefix: str) -> RobotKey | None:
    with store.transaction(write=False) as s:
        found = s.exec(
            select(RobotKeyRow, CampaignRow.name)
            .join(CampaignRow)
            .where(RobotKeyRow.prefix == prefix)
        ).first()
        return _key(*found) if found else None


@retried
def touch_key(store: Store, key_id: int) -> None:
    """Record that a key was used (for `loop robots list`)."""
    with store.transaction() as s:
        s.exec(
            update(RobotKeyRow)
            .where(col(RobotKeyRow.id) == key_id)
            .values(last_used_at=utcnow())
        )


@retried
def revoke_key(store: Store, campaign: str, name: str) -> RobotKey:
    with store.transaction() as s:
        cid = campaign_id(s, campaign)
        row = s.exec(
            select(RobotKeyRow)
            .where(RobotKeyRow.campaign_id == cid)
            .where(RobotKeyRow.name == name)
        ).first()
        if row is None:
            raise NotFoundError(
                f"campaign '{campaign}' has no robot named '{name}'",
                f"list them with `loop robots list --campaign {campaign}`",
            )
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
            s.flush()
        return _key(row, campaign)


def _key(row: RobotKeyRow, campaign: str) -> RobotKey:
    assert row.id is not None
    return RobotKey(
        id=row.id,
        campaign=campaign,
        campaign_id=row.campaign_id,
        name=row.name,
        prefix=row.prefix,
        token_sha256=row.token_sha256,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        expires_at=_aware(row.expires_at),
    )


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
