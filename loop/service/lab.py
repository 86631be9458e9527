"""What robots do to a campaign: claim, heartbeat, start, report, fail.

The HTTP routes are thin wrappers over these functions. Bodies that carry
results (measurements, failures) arrive raw: they are stored in the submission
inbox first, then parsed and validated here, so a rejected or malformed post is
still on record for an operator. Measurements need an Idempotency-Key: a retry
with the same key and body replays the stored response, never a second
measurement.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from loop.campaign_state import load_spec
from loop.documents import (
    FailureAck,
    LeaseDocument,
    MeasurementAck,
    ObjectiveUnit,
    StatusDocument,
    WorkDocument,
)
from loop.errors import (
    BadInputError,
    FieldProblem,
    ForbiddenError,
    InvalidBodyError,
    OutOfBoundsError,
    RequestError,
    TrialStateError,
)
from loop.plugins import adapter_class
from loop.records import Trial, TrialStatus
from loop.service.campaigns import status_document
from loop.service.robots import CLAIM, READ, REPORT, authorize
from loop.spec import CampaignSpec
from loop.spec.fidelity import Fidelity, charged, robot_level
from loop.spec.values import review_reason, value_problems
from loop.storage import Store, inbox
from loop.storage import lab as db
from loop.storage.keys import RobotKey

M = TypeVar("M", bound=BaseModel)
Attempt = Annotated[StrictInt, Field(ge=1, le=1000)]
Text = Annotated[str, Field(max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AttemptBody(Strict):
    """Body of heartbeat and start: the attempt number the claim returned."""

    attempt: Attempt


class MeasurementBody(Strict):
    """Body of a measurement post."""

    attempt: Attempt
    values: Annotated[
        dict[Text, Annotated[float, Field(strict=True, allow_inf_nan=False)]],
        Field(min_length=1, max_length=100),
    ]
    units: Annotated[dict[Text, Text], Field(max_length=100)] | None = None
    metadata: Annotated[dict[Text, Any], Field(max_length=100)] | None = None

    @field_validator("metadata")
    @classmethod
    def _plain_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _finite_json(value)


class FailureBody(Strict):
    """Body of a failure post: why the attempt gave no value, and whether to retry."""

    attempt: Attempt
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    retryable: StrictBool = False
    #: what the robot knows of it (an error code, the step it stopped at), kept
    #: on the trial's audit event
    details: Annotated[dict[Text, Any], Field(max_length=100)] | None = None

    @field_validator("details")
    @classmethod
    def _plain_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Stored as JSON, like a measurement's metadata."""
        return _finite_json(value)


def _finite_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Free-form JSON a robot sends: finite numbers only, at most 8 levels deep."""
    if value is not None:
        _check_json(value, 1)
    return value


def _check_json(value: Any, depth: int) -> None:
    if depth > 8:
        raise ValueError("nested more than 8 levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        for child in children:
            _check_json(child, depth + 1)


@dataclass(frozen=True)
class RobotSettings:
    """The campaign's `adapter: {type: robot}` block, as the API needs it (of
    the fidelity robots measure, in a campaign with `fidelities:`)."""

    spec: CampaignSpec
    campaign_id: int
    claim_ttl: float
    max_attempts: int
    #: The fidelity robots measure: they claim only its trials, and each of
    #: their measurements is charged its cost (None without fidelities).
    level: Fidelity | None = None


def settings(store: Store, campaign: str) -> RobotSettings:
    record = store.get_campaign(campaign)
    spec = load_spec(record)
    level = robot_level(spec)
    block = dict(level.adapter) if level is not None else spec.adapter
    if block["type"] != "robot":
        raise TrialStateError(
            f"campaign '{campaign}' is not run by robots (adapter: "
            f"{spec.adapter['type']})",
            "only campaigns with `adapter: {type: robot}` (or a fidelity measured "
            "by robots) hand out work over the API",
            code="not_a_robot_campaign",
        )
    config = adapter_class("robot").Config.model_validate(block)
    return RobotSettings(spec, record.id, config.claim_ttl, config.max_attempts, level)


def authorize_campaign(key: RobotKey, scope: str, campaign: str) -> None:
    """403 before anything about another campaign is looked up (or revealed)."""
    if key.campaign != campaign:
        raise ForbiddenError(
            f"robot '{key.name}' belongs to campaign '{key.campaign}', not '{campaign}'",
            "use a token minted for this campaign",
        )
    authorize(key, scope, key.campaign_id)


def campaign_status(store: Store, key: RobotKey, campaign: str) -> StatusDocument:
    """The campaign's status document, for a key allowed to read it."""
    authorize_campaign(key, READ, campaign)
    return StatusDocument.model_validate(status_document(store, campaign))


def _trial_settings(
    store: Store, key: RobotKey, trial_id: int, scope: str
) -> RobotSettings:
    campaign_id = db.trial_campaign_id(store, trial_id)
    authorize(key, scope, campaign_id)
    return settings(store, key.campaign)


# ------------------------------------------------------------------ claims
def claim(
    store: Store, key: RobotKey, campaign: str, idempotency_key: str | None = None
) -> WorkDocument | None:
    """Lease the next ready trial to *key*'s robot; None when nothing is ready.

    With an Idempotency-Key, a retried claim returns the trial already granted:
    the work document stored with the key (as JSON), exactly as first sent.
    """
    authorize_campaign(key, CLAIM, campaign)
    if idempotency_key is not None:
        _check_key(idempotency_key)
    conf = settings(store, campaign)
    granted = db.claim_next(
        store,
        campaign,
        key.id,
        conf.claim_ttl,
        conf.max_attempts,
        respond=lambda trial: work_document(conf.spec, trial).model_dump(mode="json"),
        idempotency_key=idempotency_key,
        level=None if conf.level is None else conf.level.name,
    )
    return None if granted is None else WorkDocument.model_validate(granted)


def heartbeat(
    store: Store, key: RobotKey, trial_id: int, post: Received
) -> LeaseDocument:
    """Extend the lease of an attempt the caller holds."""
    conf = _trial_settings(store, key, trial_id, CLAIM)
    body = _parse(post.body.decode("utf-8", errors="replace"), AttemptBody)
    trial = db.renew_lease(store, trial_id, body.attempt, key.id, conf.claim_ttl)
    return lease_document(trial)


def start(store: Store, key: RobotKey, trial_id: int, post: Received) -> LeaseDocument:
    """Material committed: CLAIMED -> STARTED; the trial is never silently re-offered."""
    conf = _trial_settings(store, key, trial_id, REPORT)
    body = _parse(post.body.decode("utf-8", errors="replace"), AttemptBody)
    trial = db.mark_started(store, trial_id, body.attempt, key.id, conf.claim_ttl)
    return lease_document(trial)


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class Received:
    """A raw post as it reached the API."""

    body: bytes
    idempotency_key: str | None
    source_ip: str | None = None


def measure(
    store: Store, key: RobotKey, trial_id: int, post: Received
) -> tuple[int, MeasurementAck]:
    """Ingest a measurement post; returns (HTTP status, the stored measurement).

    A replay returns the status and acknowledgement stored with the key.
    """
    text, digest, submission = _keep(store, key, trial_id, "measurements", post)
    try:
        conf = _trial_settings(store, key, trial_id, REPORT)
        if not post.idempotency_key:
            raise RequestError(
                "the Idempotency-Key header is required for measurements",
                "send a fresh UUID per measurement and reuse it for every retry",
            )
        _check_key(post.idempotency_key)
        replay = inbox.find_idempotent(
            store, trial_id, post.idempotency_key, key.id, digest, submission
        )
        if replay is not None:
            return replay.status_code, MeasurementAck.model_validate(replay.response)
        body = _parse(text, MeasurementBody)
        values, units = _check_measurement(conf.spec, body)
        accepted = inbox.accept_measurement(
            store,
            trial_id=trial_id,
            attempt=body.attempt,
            key_id=key.id,
            values=values,
            units=units,
            metadata=_charged(conf, body.metadata or {}),
            idempotency_key=post.idempotency_key,
            body_sha256=digest,
            submission_id=submission,
            respond=lambda trial, row: _measurement_ack(trial, row).model_dump(
                mode="json"
            ),
            review=review_reason(conf.spec, values),
        )
        return accepted.status_code, MeasurementAck.model_validate(accepted.response)
    except (BadInputError, TrialStateError) as exc:
        inbox.finish_submission(store, submission, exc.code, exc.http_status)
        raise


def _charged(conf: RobotSettings, metadata: dict[str, Any]) -> dict[str, Any]:
    """A robot's measurement metadata, with its fidelity and that fidelity's
    cost in a campaign with `fidelities:` (robots claim only that fidelity's
    trials, and only a claimed trial takes a measurement)."""
    level = conf.level
    if level is None:
        return metadata
    return charged(level.declared_cost, level.measured, level.name, metadata)


def fail(store: Store, key: RobotKey, trial_id: int, post: Received) -> FailureAck:
    """A robot reports that an attempt gave no value."""
    text, _, submission = _keep(store, key, trial_id, "failure", post)
    try:
        conf = _trial_settings(store, key, trial_id, REPORT)
        body = _parse(text, FailureBody)
        retry = body.retryable and body.attempt < conf.max_attempts
        trial = db.fail_attempt(
            store, trial_id, body.attempt, key.id, body.reason, retry, body.details
        )
    except (BadInputError, TrialStateError) as exc:
        inbox.finish_submission(store, submission, exc.code, exc.http_status)
        raise
    inbox.finish_submission(store, submission, "accepted", 200)
    return FailureAck(
        trial_id=trial.id, status=trial.status, attempt=trial.attempt, retried=retry
    )


def _keep(
    store: Store,
    key: RobotKey,
    trial_id: int,
    route: str,
    post: Received,
) -> tuple[str, str, int]:
    text = post.body.decode("utf-8", errors="replace")
    digest = _canonical_sha256(text)
    submission = inbox.save_submission(
        store,
        campaign_id=key.campaign_id,
        trial_id=trial_id,
        key_id=key.id,
        route=route,
        idempotency_key=(post.idempotency_key or None) and post.idempotency_key[:200],
        body=text,
        body_sha256=digest,
        source_ip=post.source_ip,
    )
    return text, digest, submission


def _canonical_sha256(text: str) -> str:
    """Hash of the body's canonical JSON (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = text
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(value: str) -> None:
    if not 8 <= len(value) <= 200 or not value.isprintable():
        raise RequestError(
            "the Idempotency-Key must be 8-200 printable characters",
            "send a fresh UUID per measurement",
        )


def _parse(text: str, model: type[M]) -> M:
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidBodyError(
            [FieldProblem("", "the body is nested too deeply")], "send a flat object"
        ) from None
    except ValueError as exc:
        raise InvalidBodyError(
            [FieldProblem("", f"the body is not valid JSON: {exc}")],
            "send a JSON object",
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidBodyError(
            [
                FieldProblem("/" + "/".join(str(p) for p in e["loc"]), e["msg"])
                for e in exc.errors()
            ]
        ) from None


def _check_measurement(
    spec: CampaignSpec, body: MeasurementBody
) -> tuple[dict[str, float], dict[str, str]]:
    """Values named, complete, plausible and in the declared units; the units
    stored with them. Values outside their bounds alone are `out_of_bounds`;
    under `outliers: flag` they pass here and hold the trial for review."""
    declared = {o.name: o for o in spec.objectives}
    refused = value_problems(spec, body.values, unattended=True)
    problems = [FieldProblem(f"/values/{p.name}", p.message) for p in refused]
    for name, unit in (body.units or {}).items():
        if name not in declared:
            problems.append(
                FieldProblem(f"/units/{name}", f"unknown objective '{name}'")
            )
        elif (declared[name].unit or "") != unit:
            problems.append(
                FieldProblem(
                    f"/units/{name}",
                    f"'{name}' is measured in {declared[name].unit or '(no unit)'}, "
                    f"not {unit}; convert it before posting",
                )
            )
    if problems and len(problems) == sum(p.bounds for p in refused):
        raise OutOfBoundsError(
            problems,
            "nothing was stored and the trial is unchanged; check the reading, "
            "or report the attempt as failed",
        )
    if problems:
        raise InvalidBodyError(problems)
    values = {n: float(v) for n, v in body.values.items()}
    assert all(math.isfinite(v) for v in values.values())
    units = {n: o.unit for n, o in declared.items() if o.unit}
    return values, units


# --------------------------------------------------------------- documents
def work_document(spec: CampaignSpec, trial: Trial) -> WorkDocument:
    """What a claim hands a robot: the trial, its lease and what to measure."""
    return WorkDocument(
        trial_id=trial.id,
        attempt=trial.attempt,
        lease_expires_at=_utc(trial.lease_expires_at),
        campaign=spec.name,
        composition=trial.composition,
        parameters=trial.parameters,
        objectives=[ObjectiveUnit(name=o.name, unit=o.unit) for o in spec.objectives],
    )


def lease_document(trial: Trial) -> LeaseDocument:
    """The answer to heartbeat and start: the attempt's status and lease."""
    return LeaseDocument(
        trial_id=trial.id,
        attempt=trial.attempt,
        status=trial.status,
        lease_expires_at=_utc(trial.lease_expires_at),
    )


def _measurement_ack(trial: Trial, row: Any) -> MeasurementAck:
    """The acknowledgement of a stored measurement row (kept for replays)."""
    return MeasurementAck(
        trial_id=trial.id,
        attempt=row.attempt,
        status=trial.status,
        measurement_id=row.id,
        values=row.values,
        units=row.units,
        late=row.late,
        received_at=_utc(row.received_at),
        review=(
            trial.failure_reason if trial.status == TrialStatus.NEEDS_REVIEW else None
        ),
    )


def _utc(moment: datetime | None) -> datetime | None:
    """*moment* in UTC; a naive time (SQLite gives those) is read as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
