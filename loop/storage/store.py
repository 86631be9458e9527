"""The Store: the campaign's only state, behind one transaction context manager.

Every state change is one short transaction. On SQLite writers take the lock up
front (`BEGIN IMMEDIATE`), so two writers queue on `busy_timeout` instead of
failing half-way; connections run in WAL mode with foreign keys on and
`synchronous=FULL`, because a measurement can cost days of lab time. Trial
status changes are conditional UPDATEs (`... WHERE status IN (expected)`): if
someone else moved the trial first, the caller gets `TrialStateError`.

On PostgreSQL (`postgresql+psycopg://`) transactions run at READ COMMITTED;
rows that a decision is based on are locked (`FOR NO KEY UPDATE`, claims with
`SKIP LOCKED`) in one fixed order: campaign, then trials by id, then the rows
that hang off a trial. A transaction that fails with a serialization failure or
a deadlock (SQLSTATE 40001/40P01) rolls back whole and raises
`ConflictRetryError`; the functions that are one transaction each are wrapped
in `retried`, which runs them again up to `RETRIES` times after a short
backoff.

Opening a SQLite file runs `PRAGMA quick_check` on a read-only connection first;
`Store(url, create=False, read_only=True)` (inspect, export) never writes.
Methods return frozen records (`loop.records`), never ORM rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col, select

from loop.errors import (
    BadInputError,
    CampaignNotFoundError,
    LoopError,
    StorageError,
    TrialStateError,
)
from loop.records import (
    CampaignRecord,
    CampaignStatus,
    Proposal,
    Trial,
    TrialStatus,
    cost_of,
)
from loop.storage.connection import (  # noqa: F401 - DEFAULT_URL etc. re-exported
    DEFAULT_URL,
    METADATA_LIMIT,
    ConflictRetryError,
    make_engine,
    redact_url,
    retried,
    sqlite_path,
    storable_json,
    storable_text,
    storage_failure,
)
from loop.storage.operator import operator_marks
from loop.storage.rows import campaign_record, trial_record
from loop.storage.sessions import campaign_id, committed_trials, transition
from loop.storage.tables import (
    CampaignRow,
    MeasurementRow,
    ModelFitRow,
    TrialEventRow,
    TrialRow,
    utcnow,
)


class Store:
    """Campaigns, trials and measurements in a SQL database."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        create: bool = True,
        read_only: bool = False,
        allow_memory: bool = False,
    ) -> None:
        """Open (with *create*, make) the database at *url*; *read_only* (for
        inspect and export) connects so that the database refuses every write.
        An in-memory SQLite URL is refused (it would keep nothing) unless
        *allow_memory*, which only loop's own throwaway stores pass."""
        if read_only and create:
            raise ValueError("a read-only Store cannot create a database")
        self.url = url
        self.read_only = read_only
        #: The URL with its password hidden: the only form put in messages.
        self.display_url = redact_url(url)
        #: Added to the database clock; tests shift it to expire leases without sleeping.
        self.clock_skew = timedelta(0)
        path = sqlite_path(url)
        if path is not None and not create and not path.exists():
            raise BadInputError(
                f"no database at {path}",
                "check --db / LOOP_DB, or start a campaign with `loop run FILE.yaml`",
            )
        if path is not None and create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url, read_only=read_only, allow_memory=allow_memory)
        try:
            self._prepare(create)
        except OperationalError as exc:  # schema checks outside transaction()
            raise StorageError(
                f"cannot open the database {self.display_url}: {exc.orig}",
                "check that the server is up and the URL, role and password are right",
            ) from exc
        except DBAPIError as exc:  # a damaged file; a role that may not create tables
            raise StorageError(
                f"cannot prepare the database {self.display_url}: {exc.orig}",
                "is it a loop database? check --db / LOOP_DB, and restore a backup "
                "if the file is damaged"
                if path is not None
                else "create or upgrade its tables once as the role that owns the "
                "database (`loop db upgrade --db URL`); loop's other roles need no "
                "DDL rights",
            ) from exc
        except LoopError as exc:  # messages name the URL: never with its password
            if self.display_url != url:
                exc.message = exc.message.replace(url, self.display_url)
                exc.args = (exc.message,)
            raise

    # ------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error.

        Write transactions take SQLite's write lock at BEGIN; read transactions
        (`write=False`) never block the writer in WAL mode, and see one snapshot
        (REPEATABLE READ on PostgreSQL). A serialization failure or deadlock
        (PostgreSQL) raises `ConflictRetryError`, which `retried` turns into
        another attempt; other refusals of the database (SQLite's "database is
        locked", a lost connection) raise `StorageError`, which the API answers
        with 503.
        """
        if write and self.read_only:
            raise StorageError(
                f"{self.display_url} is open read-only here: this cannot change it",
                "this is a bug in loop: a read-only Store (inspect, export) was "
                "asked to write; please report it",
            )
        bind = self.engine
        if not write:
            # one snapshot for the whole read, as SQLite's WAL readers have; a
            # read-only REPEATABLE READ transaction never fails to serialize
            repeatable = self.engine.dialect.name == "postgresql"
            bind = self.engine.execution_options(
                loop_read=True,
                **({"isolation_level": "REPEATABLE READ"} if repeatable else {}),
            )
        session = Session(bind, expire_on_commit=False)
        try:
            with session.begin():
                yield session
        except DBAPIError as exc:
            failure = storage_failure(exc)
            if failure is None:
                raise
            raise failure from exc
        finally:
            session.close()

    def _prepare(self, create: bool) -> None:
        """Check the file (SQLite: `PRAGMA quick_check`) and the schema, read-only;
        only a new database (with *create*) is written to, by running every
        migration (`loop.storage.migrations.prepare`). An older database is
        refused with the way to upgrade it, a newer one outright."""
        from loop.storage.migrations import prepare

        prepare(self.engine, self.url, create, read_only=self.read_only)

    def now(self, s: Session) -> datetime:
        """The database server's clock (UTC) plus `clock_skew`.

        Leases are timed by the database, not by whichever machine asks, so
        robots, API replicas and drivers agree on when a lease ends.
        """
        if self.engine.dialect.name == "sqlite":
            text = s.exec(select(func.strftime("%Y-%m-%d %H:%M:%f", "now"))).one()
            now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        else:
            now = s.exec(select(func.clock_timestamp())).one()
        return now.astimezone(UTC) + self.clock_skew

    # --------------------------------------------------------------- campaigns
    @retried
    def create_campaign(self, name: str, spec: dict[str, Any]) -> CampaignRecord:
        with self.transaction() as s:
            row = CampaignRow(name=name, spec=spec)
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise BadInputError(
                    f"a campaign named '{name}' already exists",
                    "continue it with `loop resume NAME`, or choose another name",
                ) from None
            return campaign_record(row)

    @retried
    def find_campaign(self, name: str) -> CampaignRecord | None:
        with self.transaction(write=False) as s:
            row = s.exec(select(CampaignRow).where(CampaignRow.name == name)).first()
            return campaign_record(row) if row else None

    def get_campaign(self, name: str) -> CampaignRecord:
        found = self.find_campaign(name)
        if found is None:
            names = [c.name for c in self.list_campaigns()]
            raise CampaignNotFoundError(
                f"no campaign named '{name}' in {self.display_url}",
                f"campaigns here: {', '.join(names)}"
                if names
                else "this database is empty",
            )
        return found

    @retried
    def list_campaigns(self) -> list[CampaignRecord]:
        with self.transaction(write=False) as s:
            rows = s.exec(select(CampaignRow).order_by(col(CampaignRow.id))).all()
            return [campaign_record(r) for r in rows]

    @retried
    def update_campaign(
        self,
        name: str,
        *,
        spec: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> None:
        """Replace the campaign's spec snapshot and/or set its status (a
        `CampaignStatus`; its plain-text value is accepted and checked)."""
        checked = CampaignStatus(status) if status is not None else None
        with self.transaction() as s:
            row = s.exec(select(CampaignRow).where(CampaignRow.name == name)).one()
            if spec is not None:
                row.spec = spec
            if checked is not None:
                row.status = checked.value
            row.updated_at = utcnow()
            s.add(row)

    # ------------------------------------------------------------------ trials
    @retried
    def add_trials(
        self,
        campaign: str,
        iteration: int,
        proposals: list[Proposal],
        budget: int,
        fit: dict[str, Any] | None = None,
    ) -> list[Trial]:
        """Store a batch as PENDING trials in one transaction, never beyond *budget*,
        with the model *fit* that proposed it (`latest_fit` returns it)."""
        with self.transaction() as s:
            # the campaign row is locked so that two batches cannot both pass the
            # budget check on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises them)
            cid = campaign_id(s, campaign, lock=True)
            committed = committed_trials(s, cid)
            if committed + len(proposals) > budget:
                raise StorageError(
                    f"storing {len(proposals)} proposals would exceed the budget of "
                    f"{budget} ({committed} already committed)",
                    "this is a bug in the driver; nothing was stored",
                )
            rows = [
                TrialRow(
                    campaign_id=cid,
                    iteration=iteration,
                    status=TrialStatus.PENDING.value,
                    **Proposal.fields_of(p),
                )
                for p in proposals
            ]
            s.add_all(rows)
            s.flush()
            trials = [trial_record(r, campaign, None) for r in rows]  # ids set by flush
            for t in trials:
                s.add(TrialEventRow(trial_id=t.id, to_status="pending", attempt=1))
            if fit is not None:
                s.add(ModelFitRow(campaign_id=cid, iteration=iteration, state=fit))
            return trials

    @retried
    def latest_fit(self, campaign: str) -> dict[str, Any] | None:
        """The model fit stored with the campaign's latest model round, if any."""
        with self.transaction(write=False) as s:
            cid = campaign_id(s, campaign)
            row = s.exec(
                select(ModelFitRow)
                .where(ModelFitRow.campaign_id == cid)
                .order_by(col(ModelFitRow.iteration).desc())
                .limit(1)
            ).first()
            return dict(row.state) if row else None

    @retried
    def trials(self, campaign: str) -> list[Trial]:
        """Every trial of *campaign*, oldest first, with its measurement."""
        with self.transaction(write=False) as s:
            cid = campaign_id(s, campaign)
            rows = s.exec(
                select(TrialRow)
                .where(TrialRow.campaign_id == cid)
                .order_by(col(TrialRow.id))
            ).all()
            measured: dict[int | None, MeasurementRow] = {
                m.trial_id: m
                for m in s.exec(
                    select(MeasurementRow)
                    .join(TrialRow)
                    .where(TrialRow.campaign_id == cid)
                ).all()
            }
            voided, amended = operator_marks(s, cid)
            return [
                trial_record(
                    r,
                    campaign,
                    measured.get(r.id),
                    voided=r.id in voided,
                    amended=r.id in amended,
                )
                for r in rows
            ]

    @retried
    def transition(
        self,
        trial_id: int,
        expected: Collection[TrialStatus],
        new: TrialStatus,
        *,
        attempt: int | None = None,
        reason: str | None = None,
        next_attempt: bool = False,
        details: dict[str, Any] | None = None,  # on the event, via storable_json
    ) -> None:
        """Move a trial from one of *expected* to *new* in one conditional UPDATE."""
        with self.transaction() as s:
            transition(
                s,
                trial_id,
                expected,
                new,
                attempt,
                reason=reason,
                next_attempt=next_attempt,
                details=details,
            )

    @retried
    def complete(
        self,
        trial_id: int,
        attempt: int,
        values: dict[str, float],
        *,
        units: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "",
        expected: Collection[TrialStatus] = (TrialStatus.CLAIMED, TrialStatus.STARTED),
        review: str | None = None,
    ) -> None:
        """Store a measurement and mark the trial COMPLETED, both or neither;
        with *review* (why: a value outside its bounds, `outliers: flag`) the
        trial goes to NEEDS_REVIEW instead, the measurement kept but not counted."""
        to = TrialStatus.COMPLETED if review is None else TrialStatus.NEEDS_REVIEW
        with self.transaction() as s:
            transition(s, trial_id, expected, to, attempt, reason=review)
            s.add(
                MeasurementRow(
                    trial_id=trial_id,
                    attempt=attempt,
                    values=values,
                    units=units or {},
                    meta=storable_json(metadata or {}, limit=METADATA_LIMIT),
                    source=source,
                )
            )
            try:
                s.flush()
            except IntegrityError:
                raise TrialStateError(
                    f"trial {trial_id} already has a measurement",
                    "a trial is measured once and the first accepted value stands",
                ) from None

    @retried
    def attempt_costs(self, campaign: str) -> list[float]:
        """The cost every failed or retried attempt of *campaign* recorded (the
        adapter's `cost` in its failure details, e.g. a DFT job's CPU seconds);
        measured attempts keep theirs in the measurement's metadata."""
        with self.transaction(write=False) as s:
            cid = campaign_id(s, campaign)
            rows = s.exec(
                select(TrialEventRow.details)
                .join(TrialRow)
                .where(TrialRow.campaign_id == cid)
            ).all()
        return [c for c in (cost_of(d) for d in rows) if c is not None]

    @retried
    def events(self, trial_id: int) -> list[dict[str, Any]]:
        with self.transaction(write=False) as s:
            rows = s.exec(
                select(TrialEventRow)
                .where(TrialEventRow.trial_id == trial_id)
                .order_by(col(TrialEventRow.id))
            ).all()
            return [r.model_dump() for r in rows]
