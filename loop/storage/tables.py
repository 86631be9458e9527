"""SQLModel tables: campaigns, trials, measurements, trial events, schema metadata.

A few real columns carry what is queried (names, statuses, foreign keys); the
rest is JSON written from frozen records. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

#: Bumped by every schema change, with a new revision in loop/storage/migrations;
#: a database with a larger number is refused, one with a smaller is upgraded by
#: `loop db upgrade`.
SCHEMA_VERSION = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    status: str = Field(default="active", max_length=16)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: The one driver (`loop run`/`resume`) allowed to write: "host:pid", its
    #: lease on the database clock, and an epoch bumped at every takeover.
    driver_owner: str | None = Field(default=None, max_length=128)
    driver_since: datetime | None = None
    driver_expires_at: datetime | None = None
    driver_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TrialRow(SQLModel, table=True):
    __tablename__ = "trial"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    iteration: int
    status: str = Field(index=True, max_length=16)
    attempt: int = 1
    composition: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    phase: str = Field(max_length=16)
    strategy: str = Field(max_length=16)
    acquisition_value: float | None = None
    predicted_mean: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    predicted_sd: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    seed: int | None = None
    provenance: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    failure_reason: str | None = None
    #: Lease of the current attempt (database clock, UTC); None when unleased.
    lease_expires_at: datetime | None = None
    #: The robot key that claimed the current attempt (None for push adapters).
    claimed_by_key: int | None = Field(default=None, foreign_key="robot_key.id")
    started_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MeasurementRow(SQLModel, table=True):
    """One accepted measurement per trial: the unique key makes a second one impossible."""

    __tablename__ = "measurement"
    __table_args__ = (UniqueConstraint("trial_id", name="uq_measurement_trial"),)

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    attempt: int
    values: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    units: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(sa_column=Column("metadata", JSON, nullable=False))
    source: str = Field(default="", max_length=128)
    late: bool = False
    received_at: datetime = Field(default_factory=utcnow)


class TrialEventRow(SQLModel, table=True):
    """Append-only audit of every status change."""

    __tablename__ = "trial_event"

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    attempt: int
    reason: str | None = None
    #: What the adapter reported with the change (a failed job's name, id and
    #: scheduler states; a traceback), as `connection.storable_json` keeps it.
    details: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    at: datetime = Field(default_factory=utcnow)


class ModelFitRow(SQLModel, table=True):
    """The fitted model hyperparameters of one proposal round, stored with its trials.

    The next fit starts from them (also after `loop resume`), and `loop report`
    reuses them instead of fitting again. `state` is the engine's document
    (`loop.model.state`): plain numbers, no pickles.
    """

    __tablename__ = "model_fit"
    __table_args__ = (
        UniqueConstraint("campaign_id", "iteration", name="uq_model_fit_iteration"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    iteration: int
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class RobotKeyRow(SQLModel, table=True):
    """A robot controller's credential: only a hash of the token is kept."""

    __tablename__ = "robot_key"
    __table_args__ = (UniqueConstraint("campaign_id", "name", name="uq_robot_name"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    name: str = Field(max_length=64)
    prefix: str = Field(index=True, unique=True, max_length=16)
    token_sha256: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    #: None: the token never expires
    expires_at: datetime | None = None


class SubmissionRow(SQLModel, table=True):
    """Append-only inbox: every body a robot posts, kept before it is validated."""

    __tablename__ = "submission"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    trial_id: int | None = Field(default=None, index=True)
    robot_key_id: int | None = Field(default=None, foreign_key="robot_key.id")
    route: str = Field(max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=200)
    body_sha256: str = Field(max_length=64)
    body: str
    outcome: str = Field(default="received", max_length=32)
    status_code: int | None = None
    source_ip: str | None = Field(default=None, max_length=64)
    received_at: datetime = Field(default_factory=utcnow)


class IdempotencyRow(SQLModel, table=True):
    """An accepted keyed request and the response replayed for its retries."""

    __tablename__ = "idempotency"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key", name="uq_idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    key: str = Field(max_length=200)
    route: str = Field(max_length=32)
    trial_id: int
    body_sha256: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class MetaRow(SQLModel, table=True):
    __tablename__ = "loop_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str
