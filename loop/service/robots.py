"""Robot credentials: minted once by the CLI, stored as hashes, checked per request.

A token reads `loop_<prefix>_<secret>`: the prefix finds the key row without a
scan, the 32-byte secret is never stored (only the SHA-256 of the whole token),
and the comparison is constant-time. There are no default credentials: a
campaign has no keys until an operator adds one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loop.errors import AuthError, BadInputError, ForbiddenError
from loop.storage import Store
from loop.storage import keys as db
from loop.storage.keys import RobotKey

#: What each scope allows.
CLAIM, REPORT, READ = "robot:claim", "robot:report", "campaign:read"
ROLES = {"robot": (CLAIM, REPORT, READ), "read": (READ,)}


@dataclass(frozen=True)
class NewKey:
    key: RobotKey
    token: str


#: Robot names: plain ASCII, so two names that look the same are the same.
ROBOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def add_robot(
    store: Store,
    campaign: str,
    name: str,
    role: str = "robot",
    expires: timedelta | None = None,
) -> NewKey:
    """Mint a token for robot *name* on *campaign*; the token is returned only here.
    With *expires* the token is refused (401) once that time has passed."""
    if role not in ROLES:
        raise BadInputError(
            f"unknown role '{role}'", f"valid roles: {', '.join(sorted(ROLES))}"
        )
    if not ROBOT_NAME.fullmatch(name):
        # ASCII only: a Cyrillic 'а' in 'robot-а' would read as another robot
        raise BadInputError(
            f"robot name {name!r} is not allowed",
            "use 1-64 ASCII letters, digits, '-' or '_' (no look-alike letters "
            "from other scripts)",
        )
    record = store.get_campaign(campaign)
    adapter = record.spec.get("adapter", {}).get("type")
    levels = [
        f.get("adapter", {}).get("type") for f in record.spec.get("fidelities", [])
    ]
    if role == "robot" and adapter != "robot" and "robot" not in levels:
        raise BadInputError(
            f"campaign '{campaign}' is not run by robots (adapter: {adapter})",
            "robot tokens serve `adapter: {type: robot}` campaigns; for a read-only "
            "token (status and dashboard) add --read-only",
        )
    prefix = secrets.token_hex(4)
    token = f"loop_{prefix}_{secrets.token_urlsafe(32)}"
    until = None if expires is None else datetime.now(UTC) + expires
    key = db.add_key(
        store, campaign, name, prefix, _digest(token), list(ROLES[role]), until
    )
    return NewKey(key, token)


#: Seconds within which a key's last use is not written again.
TOUCH_INTERVAL = 60.0


def authenticate(store: Store, token: str | None, record_use: bool = True) -> RobotKey:
    """The live key behind *token*, or AuthError (HTTP 401).

    With *record_use* the key's `last_used_at` (shown by `loop robots list`) is
    written, at most once a minute. Read-only requests pass False: a read must
    never wait for, or fail on, a database write lock (a GET that wrote here
    answered 503 while a driver held the lock).
    """
    if not token:
        raise AuthError(
            "missing credentials",
            "send the robot's token as `Authorization: Bearer <token>`",
        )
    parts = token.split("_")
    key = db.key_by_prefix(store, parts[1]) if len(parts) >= 3 else None
    if key is None or not hmac.compare_digest(key.token_sha256, _digest(token)):
        raise AuthError(
            "invalid token", "check the token; `loop robots add` mints a new one"
        )
    if key.revoked_at is not None:
        raise AuthError(
            f"the token of robot '{key.name}' was revoked",
            f"mint a new one with `loop robots add NAME --campaign {key.campaign}`",
        )
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        raise AuthError(
            f"the token of robot '{key.name}' expired at "
            f"{key.expires_at:%Y-%m-%d %H:%M} UTC",
            f"mint a new one with `loop robots add NAME --campaign {key.campaign} "
            "--expires 30d` (and revoke the old name)",
        )
    if record_use and _stale(key.last_used_at):
        db.touch_key(store, key.id)
    return key


def _stale(last_used: datetime | None) -> bool:
    if last_used is None:
        return True
    if last_used.tzinfo is None:  # SQLite hands back naive UTC
        last_used = last_used.replace(tzinfo=UTC)
    return (datetime.now(UTC) - last_used).total_seconds() >= TOUCH_INTERVAL


def authorize(key: RobotKey, scope: str, campaign_id: int) -> None:
    """Raise ForbiddenError (HTTP 403) unless *key* may use *scope* on the campaign."""
    if key.campaign_id != campaign_id:
        raise ForbiddenError(
            f"robot '{key.name}' belongs to campaign '{key.campaign}', not to this one",
            "use a token minted for this campaign",
        )
    if scope not in key.scopes:
        raise ForbiddenError(
            f"robot '{key.name}' lacks the scope {scope}",
            f"its scopes: {', '.join(key.scopes)}; mint a robot token with "
            "`loop robots add NAME --campaign C`",
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
