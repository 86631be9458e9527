"""The live dashboard's data and its browser sessions (routes: loop/api/dashboard.py).

Browsers cannot easily send `Authorization: Bearer`, so a person signs in once
by pasting a token (a read-only key from `loop robots add NAME --campaign C
--read-only`, or a robot's) into a form. The token is checked like any API
request and never kept: the browser gets a session cookie

    <key prefix>.<time of sign-in>.<HMAC-SHA256>

made by itsdangerous's `TimestampSigner` with a secret stored in the database
(`loop_meta` row `dashboard_session_secret`, made on first use), so every
replica of the API over the same database accepts it. The signature's salt
holds the key's token hash, and each request looks the key up again: a revoked
key's sessions end at once. docs/design.md ("Dashboard sessions") explains the
choice.

The views are plain data (dicts and lists) built from the same functions as
`loop report` (loop/report/data.py). The model sections refit GPs, so they are
built on their own page and cached per campaign until the next measurement.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from loop.campaign_state import CampaignState, load_spec
from loop.documents import (
    BestValue,
    Budget,
    DashboardSummary,
    Document,
    LatestMeasurement,
)
from loop.errors import AuthError, ForbiddenError
from loop.records import Trial, TrialStatus
from loop.service.robots import READ, authenticate
from loop.storage import Store
from loop.storage import keys as key_db
from loop.storage.keys import RobotKey
from loop.storage.store import retried
from loop.storage.tables import MetaRow

if TYPE_CHECKING:
    from loop.report.data import ReportData

#: The session cookie's name and lifetime.
SESSION_COOKIE = "loop_session"
SESSION_SECONDS = 12 * 3600
#: The loop_meta row holding the session-signing secret (hex, 32 bytes).
SECRET_ROW = "dashboard_session_secret"
#: What a session signature is for; changing it ends every session.
SESSION_SALT = "loop.dashboard-session.v2"
#: Rows of the recent-measurements table.
RECENT = 20

_SIGNED_OUT = "sign in again at /login with a read token (`loop robots add NAME --campaign C --read-only`)"


class _Exists(Exception):
    """Another process stored the secret first."""


@retried
def _read_secret(store: Store) -> str | None:
    with store.transaction(write=False) as s:
        row = s.exec(select(MetaRow).where(MetaRow.key == SECRET_ROW)).first()
        return row.value if row else None


@retried
def _insert_secret(store: Store, value: str) -> None:
    with store.transaction() as s:
        s.add(MetaRow(key=SECRET_ROW, value=value))
        try:
            s.flush()
        except IntegrityError:
            raise _Exists from None


def session_secret(store: Store) -> bytes:
    """The database's session-signing secret, created by whoever asks first."""
    value = _read_secret(store)
    if value is None:
        try:
            _insert_secret(store, secrets.token_hex(32))
        except _Exists:
            pass
        value = _read_secret(store)
    assert value is not None
    return bytes.fromhex(value)


class SessionSigner(TimestampSigner):
    """itsdangerous's timestamped signer (HMAC-SHA256) for one key's sessions.

    The salt holds the key's token hash, so a session of one key never fits
    another; *now* (unix seconds) stands in for the clock, for tests.
    """

    def __init__(self, secret: bytes, key: RobotKey, now: float | None = None):
        super().__init__(
            secret,
            salt=f"{SESSION_SALT}.{key.token_sha256}",
            digest_method=hashlib.sha256,
            key_derivation="hmac",
        )
        self.now = now

    def get_timestamp(self) -> int:
        return int(time.time() if self.now is None else self.now)


class Dashboard:
    """Sessions and views over one store; `create_app` keeps one per app."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._secret: bytes | None = None
        self._lock = threading.Lock()
        self._reports: dict[str, tuple[str, ReportData]] = {}
        self._report_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------- sessions
    @property
    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = session_secret(self.store)
            return self._secret

    def login(self, token: str | None) -> tuple[RobotKey, str]:
        """Check *token* (401 if unknown or revoked, 403 without the read scope);
        returns its key and a session cookie value that does not contain it."""
        key = authenticate(self.store, (token or "").strip() or None)
        if READ not in key.scopes:
            raise ForbiddenError(
                f"key '{key.name}' lacks the scope {READ}",
                "mint a read token with `loop robots add NAME --campaign C --read-only`",
            )
        return key, self.cookie(key)

    def cookie(self, key: RobotKey, now: float | None = None) -> str:
        """A session of *key*, signed at *now* (default: the clock)."""
        return SessionSigner(self.secret, key, now).sign(key.prefix).decode()

    def session(self, cookie: str | None, now: float | None = None) -> RobotKey:
        """The key a session cookie stands for, or AuthError (HTTP 401)."""
        if not cookie:
            raise AuthError("not signed in", _SIGNED_OUT)
        prefix, dot, _signed = cookie.partition(".")
        if not dot:
            raise AuthError("the session cookie is not loop's", _SIGNED_OUT)
        key = key_db.key_by_prefix(self.store, prefix)
        if key is None:
            raise AuthError("the session is not valid", _SIGNED_OUT)
        try:
            SessionSigner(self.secret, key, now).unsign(cookie, SESSION_SECONDS)
        except SignatureExpired:  # only once the signature is found good
            raise AuthError("the session expired", _SIGNED_OUT) from None
        except BadSignature:
            raise AuthError("the session is not valid", _SIGNED_OUT) from None
        if key.revoked_at is not None:
            raise AuthError(f"the key '{key.name}' was revoked", _SIGNED_OUT)
        if READ not in key.scopes:
            raise ForbiddenError(
                f"key '{key.name}' lacks the scope {READ}", _SIGNED_OUT
            )
        return key

    # ---------------------------------------------------------------- views
    @staticmethod
    def visible(key: RobotKey) -> list[str]:
        """Campaigns *key* may see: keys are bound to one campaign (a future
        admin scope would list every campaign here)."""
        return [key.campaign]

    def authorize(self, key: RobotKey, name: str) -> None:
        """403 before anything about another campaign is looked up (or revealed)."""
        if name not in self.visible(key):
            raise ForbiddenError(
                f"key '{key.name}' belongs to campaign '{key.campaign}', not '{name}'",
                "sign in with a token minted for that campaign",
            )

    def campaigns(self, key: RobotKey) -> list[DashboardSummary]:
        """One summary per campaign *key* may see."""
        return [self.summary(key, name) for name in self.visible(key)]

    def summary(self, key: RobotKey, name: str) -> DashboardSummary:
        """Status, budget, counts and the latest measurement; `version` changes
        whenever anything the campaign page shows changes."""
        self.authorize(key, name)
        return self._read(name)["summary"]

    def live(self, key: RobotKey, name: str) -> dict[str, Any]:
        """Everything the campaign page shows but the model sections."""
        from loop.campaign_state import measured_in_order
        from loop.report.data import pareto, progress, space

        self.authorize(key, name)
        view = self._read(name)
        spec, trials = view["spec"], view["trials"]
        measured = measured_in_order(trials)
        robots = {k.id: k.name for k in key_db.keys(self.store, name)}
        multi = len(spec.goals) > 1
        return {
            "summary": view["summary"],
            "campaign": {
                "name": name,
                "objectives": [o.model_dump(mode="json") for o in spec.objectives],
            },
            "progress": progress(spec, measured) if measured else None,
            "space": space(spec, trials) if measured else None,
            "pareto": pareto(spec, trials) if measured and multi else None,
            "in_flight": [_in_flight(t, robots) for t in trials if t.status.in_flight],
            "recent": [_measurement(t, robots) for t in reversed(measured[-RECENT:])],
        }

    def report(self, key: RobotKey, name: str) -> ReportData:
        """`loop report`'s data (it fits GPs: seconds), cached until the next
        measurement or failure."""
        from loop.report.data import build_report

        self.authorize(key, name)
        with self._lock:
            lock = self._report_locks.setdefault(name, threading.Lock())
        with lock:
            stamp = self._read(name)["summary"].measured_version
            cached = self._reports.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            data = build_report(self.store, name)
            # measurements that arrived while fitting make the next visit refit
            self._reports[name] = (stamp, data)
            return data

    def _read(self, name: str) -> dict[str, Any]:
        record = self.store.get_campaign(name)
        spec = load_spec(record)
        trials = self.store.trials(name)
        state = CampaignState(spec, trials)
        counts = state.counts
        done = [t for t in trials if t.measurement is not None]
        latest = max(done, key=_arrival_key, default=None)
        resolved = [
            (t.id, t.status.value, t.attempt)
            for t in trials
            if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
        ]
        latest_measurement = _latest(latest)
        measured_version = _digest([resolved, latest_measurement])
        flight = [
            (
                t.id,
                t.status.value,
                t.attempt,
                _iso(t.lease_expires_at),
                t.claimed_by_key,
            )
            for t in trials
            if t.status.in_flight
        ]
        goal, best = spec.goals[0], state.best if state.single_goal else None
        summary = DashboardSummary(
            name=record.name,
            status=record.status,
            description=spec.description,
            budget=Budget(experiments=spec.budget.experiments, used=state.budget_used),
            counts=counts,
            n_trials=len(trials),
            n_measured=len(done),
            n_in_flight=len(flight),
            latest_measurement=latest_measurement,
            best=BestValue(
                trial_id=best.id,
                objective=goal.name,
                value=best.values[goal.name],
                unit=goal.unit,
            )
            if best is not None
            else None,
            pareto_size=None if state.single_goal else len(state.pareto),
            measured_version=measured_version,
            version=_digest([record.status, measured_version, flight, counts]),
        )
        return {"summary": summary, "spec": spec, "trials": trials}


def _arrival_key(t: Trial) -> tuple[str, int]:
    assert t.measurement is not None
    return (_iso(t.measurement.received_at) or "", t.id)


def _latest(t: Trial | None) -> LatestMeasurement | None:
    if t is None or t.measurement is None:
        return None
    return LatestMeasurement(
        trial_id=t.id,
        attempt=t.measurement.attempt,
        received_at=_iso(t.measurement.received_at),
    )


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A document as JSON data, anything else as text (for `_digest`)."""
    return value.model_dump(mode="json") if isinstance(value, Document) else str(value)


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (naive times are stored in UTC; an aware one may come in
    the database session's time zone)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def _robot(key_id: int | None, robots: dict[int, str]) -> str | None:
    return robots.get(key_id, f"key {key_id}") if key_id is not None else None


def _in_flight(t: Trial, robots: dict[int, str]) -> dict[str, Any]:
    held = t.status in (
        TrialStatus.CLAIMED,
        TrialStatus.STARTED,
        TrialStatus.NEEDS_REVIEW,
    )
    return {
        "id": t.id,
        "iteration": t.iteration,
        "status": t.status.value,
        "attempt": t.attempt,
        "robot": _robot(t.claimed_by_key, robots) if held else None,
        "lease_expires_at": _iso(t.lease_expires_at),
        "started_at": _iso(t.started_at),
        "composition": dict(t.composition),
        "parameters": dict(t.parameters),
    }


def _measurement(t: Trial, robots: dict[int, str]) -> dict[str, Any]:
    m = t.measurement
    assert m is not None
    source = m.source
    if source.startswith("robot-key:") and source[10:].isdigit():
        source = _robot(int(source[10:]), robots) or source
    return {
        "trial_id": t.id,
        "attempt": m.attempt,
        "received_at": _iso(m.received_at),
        "values": dict(m.values),
        "units": dict(m.units),
        "late": m.late,
        "source": source,
        "composition": dict(t.composition),
        "parameters": dict(t.parameters),
    }
