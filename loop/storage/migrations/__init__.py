"""Schema migrations: alembic revisions shipped in the package, run by loop itself.

A new database is created by running every revision (never `create_all`), so
what a new user gets is exactly what an upgrade produces. An existing database
is only ever changed by `loop db upgrade`; every other command refuses a
database at another schema (`check`). Each revision sets the `schema_version`
row of `loop_meta` to its number in `REVISIONS`, in the same transaction as
its DDL.

To change the schema: change loop/storage/tables.py, bump SCHEMA_VERSION, write
the next file in versions/ by hand from script.py.mako (batch mode for
alters, so it runs on SQLite and PostgreSQL), add it to `REVISIONS`, and keep
tests/storage/test_migrations.py green: it compares a migrated database with
the tables' metadata.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loop.errors import BadInputError, StorageError
from loop.storage.tables import SCHEMA_VERSION

if TYPE_CHECKING:
    from alembic.config import Config

#: Every alembic revision, oldest first, with the schema_version it leaves.
REVISIONS: dict[str, int] = {"0001": 1, "0002": 2, "0003": 3, "0004": 4, "0005": 5}
HEAD = next(reversed(REVISIONS))
#: Every table loop owns (besides alembic_version).
LOOP_TABLES = frozenset(
    {
        "campaign",
        "trial",
        "measurement",
        "trial_event",
        "robot_key",
        "submission",
        "idempotency",
        "model_fit",
        "loop_meta",
    }
)
#: Added with the robot API; databases of earlier development builds lack them.
ROBOT_TABLES = frozenset({"robot_key", "submission", "idempotency"})
#: Added by revision 0002 (the driver lease).
DRIVER_COLUMNS = frozenset(
    {"driver_owner", "driver_since", "driver_expires_at", "driver_epoch"}
)

assert REVISIONS[HEAD] == SCHEMA_VERSION, "add the new revision to REVISIONS"

#: Alembic keeps the running migration in module globals (`alembic.op`,
#: `alembic.context`): two threads migrating at once would mix their
#: connections and wait on each other forever. One migration per process.
_ALEMBIC = threading.RLock()


@dataclass(frozen=True)
class DbState:
    """What a database holds, read without changing it."""

    tables: frozenset[str]
    #: The loop_meta row (None without the table or the row).
    schema_version: int | None
    #: The alembic_version row (None for databases made before migrations).
    revision: str | None
    campaign_columns: frozenset[str]

    @property
    def fresh(self) -> bool:
        """No loop table at all: a new database (other applications' tables allowed)."""
        return not self.tables & LOOP_TABLES

    @property
    def is_loop(self) -> bool:
        return self.schema_version is not None


def read_state(conn: Connection) -> DbState:
    inspector = sa.inspect(conn)
    tables = frozenset(inspector.get_table_names())
    columns = _columns(inspector, "campaign") if "campaign" in tables else frozenset()
    version = revision = None
    if "loop_meta" in tables and {"key", "value"} <= _columns(inspector, "loop_meta"):
        meta = sa.table(
            "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
        )
        value = conn.execute(
            sa.select(meta.c.value).where(meta.c.key == "schema_version")
        ).scalar()
        version = int(value) if value is not None and str(value).isdigit() else None
    if "alembic_version" in tables and "version_num" in _columns(
        inspector, "alembic_version"
    ):
        rows: list[str] = list(
            conn.execute(
                sa.select(sa.column("version_num")).select_from(
                    sa.table("alembic_version")
                )
            ).scalars()
        )
        revision = max(rows, default=None)
    return DbState(tables, version, revision, columns)


def _columns(inspector: sa.Inspector, table: str) -> frozenset[str]:
    return frozenset(c["name"] for c in inspector.get_columns(table))


def check(state: DbState, url: str) -> None:
    """Refuse anything but a loop database at this loop's schema."""
    if not state.is_loop:
        raise BadInputError(
            f"{shown(url)} is not a loop database", "check --db / LOOP_DB"
        )
    version = state.schema_version
    assert version is not None
    if newer(state):
        raise StorageError(
            f"the database uses schema version {version}"
            + (f" (migration {state.revision})" if state.revision else "")
            + f", newer than this loop ({SCHEMA_VERSION})",
            "upgrade loop to open it; never let an older loop write to it",
        )
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"database at schema {version}, this loop needs {SCHEMA_VERSION} "
            f"({shown(url)})",
            upgrade_hint(url),
        )


def newer(state: DbState) -> bool:
    return (state.schema_version or 0) > SCHEMA_VERSION or (
        state.revision is not None and state.revision not in REVISIONS
    )


def upgrade_hint(url: str) -> str:
    db = shown(url)
    if url.startswith("sqlite"):
        backup = f"back it up with `loop db backup FILE --db {db}`"
    else:
        backup = "back it up (pg_dump)"
    return f"{backup}, then run `loop db upgrade --db {db}`"


def shown(url: str) -> str:
    """*url* without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1]


def prepare(
    engine: Engine, url: str, create_new: bool, *, read_only: bool = False
) -> None:
    """What the Store does on opening a database (`Store._prepare`).

    A fresh database (with *create_new*) gets every table by running the
    migrations, so it is exactly what an upgraded one is; nothing else is ever
    written here. Then the database must be at this loop's schema (`check`).

    An existing SQLite file is first checked (`PRAGMA quick_check`) and its
    schema read on a read-only connection (*engine* itself when *read_only*):
    a damaged file, or one at another schema, is refused before a writable
    connection ever opens it (that would switch an old file to WAL), so a
    refused file is left byte-identical.
    """
    from loop.storage.connection import make_engine, quick_check, sqlite_path

    path = sqlite_path(url)
    if path is not None and path.exists():
        quick_check(path)
        probe = engine if read_only else make_engine(url, read_only=True)
        try:
            state = _read(probe)
        finally:
            if probe is not engine:
                probe.dispose()
        if not (state.fresh and create_new):
            check(state, url)
            return
    state = _read(engine)
    if state.fresh and create_new:
        try:
            with _ALEMBIC, engine.begin() as conn:
                # SQLite's write lock orders concurrent creators: look again
                if read_state(conn).fresh:
                    create(conn)
        except sa.exc.DBAPIError:
            # PostgreSQL: a concurrent creator may have won (duplicate table)
            if not _read(engine).is_loop:
                raise
        state = _read(engine)
    check(state, url)


def _read(engine: Engine) -> DbState:
    """`read_state` in a read transaction (never blocks SQLite's writer)."""
    with engine.execution_options(loop_read=True).connect() as conn:
        return read_state(conn)


def create(conn: Connection) -> None:
    """Give a fresh database every table by running all revisions."""
    migrate(conn, "head")


def migrate(conn: Connection, target: str) -> None:
    """Run the revisions up to *target* inside *conn*'s transaction."""
    from alembic import command

    with _ALEMBIC:
        command.upgrade(_config(connection=conn), target)


@dataclass(frozen=True)
class Upgrade:
    before: int | None  # None: the database was empty
    after: int
    #: How the database was recognised when it had no alembic_version table.
    adopted: str | None = None


def upgrade(url: str) -> Upgrade:
    """Bring the database at *url* to this loop's schema, in one transaction."""
    from alembic import command

    engine = open_engine(url)
    try:
        with _refused_writes(url), _ALEMBIC, engine.begin() as conn:
            state = read_state(conn)
            if state.fresh:
                create(conn)
                return Upgrade(None, SCHEMA_VERSION)
            if not state.is_loop or newer(state):
                check(state, url)  # raises
            if state.revision == HEAD:
                return Upgrade(state.schema_version, SCHEMA_VERSION)
            cfg = _config(connection=conn)
            adopted = None
            if state.revision is None:
                adopted = _adopt(state, url)
                command.stamp(cfg, adopted)
                _set_schema(conn, REVISIONS[adopted])
            command.upgrade(cfg, "head")
            after = read_state(conn)
        assert after.schema_version == SCHEMA_VERSION and after.revision == HEAD
        return Upgrade(state.schema_version, SCHEMA_VERSION, adopted)
    finally:
        engine.dispose()


def _adopt(state: DbState, url: str) -> str:
    """The revision a database made before migrations (no alembic_version) is at.

    loop 0.1.0 wrote schema_version 1 both before and after the driver lease
    was added; the campaign table's columns tell them apart.
    """
    if state.schema_version != 1 or not ROBOT_TABLES <= state.tables:
        raise StorageError(
            f"{shown(url)} was made by a development build of loop (schema "
            f"{state.schema_version} without migration history); it cannot be upgraded",
            "export its campaigns with the loop that made it, and start a new database",
        )
    present = DRIVER_COLUMNS & state.campaign_columns
    if present == DRIVER_COLUMNS:
        return "0002"
    if not present:
        return "0001"
    raise StorageError(
        f"{shown(url)} has only some of the driver columns ({', '.join(sorted(present))})",
        "restore it from a backup; it was changed outside loop",
    )


def _set_schema(conn: Connection, version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    conn.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )


def status(url: str) -> DbState:
    """The state of the database at *url* (read only)."""
    engine = open_engine(url, read_only=True)
    try:
        with _refused_writes(url):
            return _read(engine)
    finally:
        engine.dispose()


def open_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `loop db`; a missing SQLite file is refused, never created,
    and an existing one must pass `PRAGMA quick_check` first (a damaged file
    is never reported as up to date, nor written to)."""
    from loop.storage.connection import make_engine, quick_check, sqlite_path

    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise BadInputError(
            f"no database at {path}",
            "check --db / LOOP_DB; `loop run FILE.yaml` creates a new database",
        )
    if path is not None:
        quick_check(path)
    return make_engine(url, read_only=read_only)


@contextmanager
def _refused_writes(url: str) -> Iterator[None]:
    """The database's refusals (a read-only file, a full disk, a file damaged
    past what quick_check saw) as a `StorageError` naming it, never a bug."""
    from loop.storage.connection import sqlite_path, storage_failure

    try:
        yield
    except sa.exc.DBAPIError as exc:
        path = sqlite_path(url)
        where = str(path) if path is not None else shown(url)
        said = str(exc.orig)
        if "readonly" in said or "read-only" in said or "25006" in said:
            raise StorageError(
                f"cannot write to the database {where}: {said}; nothing was changed",
                "check that you may write the file and its directory (SQLite "
                "writes a journal beside it): `ls -l` both, or run as the "
                "database's owner",
            ) from exc
        failure = storage_failure(exc)
        raise StorageError(
            f"the database {where} refused the operation: {said}",
            (failure.hint + "; " if failure is not None else "")
            + "if the file is damaged, check it with `sqlite3 FILE 'PRAGMA "
            "integrity_check'` and restore the last backup made with `loop db "
            "backup`",
        ) from exc


def sql_script(dialect: str, target: str = "head", start: str | None = None) -> str:
    """The SQL of the revisions (from *start*, or a new database, to *target*) for
    *dialect*, e.g. for a DBA who runs migrations under a separate role."""
    from alembic import command

    buffer = io.StringIO()
    cfg = _config(dialect=dialect)
    cfg.output_buffer = buffer
    with _ALEMBIC:
        command.upgrade(cfg, f"{start}:{target}" if start else target, sql=True)
    return buffer.getvalue()


def _config(**attributes: Any) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(__file__).parent).replace("%", "%%")
    )
    cfg.attributes.update(attributes)
    return cfg
