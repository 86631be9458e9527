"""Connecting to the database: URLs, engines, and retries of conflicting transactions.

SQLite connections run in WAL mode with foreign keys on, `synchronous=FULL` and
a busy timeout, and take the write lock at BEGIN (`BEGIN IMMEDIATE`).
PostgreSQL connections are checked before use. A transaction that fails with a
serialization failure or a deadlock raises `ConflictRetryError`, and functions
wrapped in `retried` run again a bounded number of times.

Read-only engines (`inspect`, `export`, and the checks made before a database
is first written to) open SQLite files with a `mode=ro` URI, so they can never
write, change the journal mode or take the write lock, and start every
PostgreSQL transaction READ ONLY. `quick_check` runs SQLite's `PRAGMA
quick_check` on such a connection before anything else touches a file.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import quote, unquote

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlmodel import create_engine
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)

from loop.errors import (
    BadInputError,
    StorageError,
)

DEFAULT_URL = "sqlite:///loop.db"
#: The database URLs loop accepts, for error messages and `--help`.
SUPPORTED_URLS = (
    "sqlite:///PATH/TO/FILE.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"
)
#: SQLSTATEs after which a transaction can simply be run again:
#: serialization_failure and deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
#: How many times `retried` runs a transaction again after a retryable failure.
RETRIES = 3
#: First backoff before a retry, in seconds; doubled (with jitter) each time.
BACKOFF = 0.05
#: SQLite's busy timeout, in seconds: how long a writer (or a reader during WAL
#: recovery) waits for a lock before "database is locked".
BUSY_TIMEOUT = 30
#: SQLite result codes that mean the file itself is damaged (or not SQLite).
CORRUPT_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
#: How many lines of `PRAGMA quick_check` output a corruption message quotes.
QUICK_CHECK_LINES = 6

P = ParamSpec("P")
R = TypeVar("R")


class ConflictRetryError(StorageError):
    """A serialization failure or deadlock: the transaction was rolled back and
    can be run again as it is."""


def _give_up(state: RetryCallState) -> NoReturn:
    """Out of retries: the conflict becomes a plain `StorageError` (HTTP 503)."""
    conflict = state.outcome.exception() if state.outcome else None
    assert isinstance(conflict, ConflictRetryError)
    raise StorageError(
        f"{conflict.message} (gave up after {RETRIES} retries)", conflict.hint
    ) from conflict


_retry_conflicts = retry(
    retry=retry_if_exception_type(ConflictRetryError),
    stop=stop_after_attempt(RETRIES + 1),
    # BACKOFF * 2**n * (1 + jitter in [0, 1)) before retry n + 1
    wait=wait_exponential(multiplier=BACKOFF)
    + wait_random_exponential(multiplier=BACKOFF),
    retry_error_callback=_give_up,
)


def retried(fn: Callable[P, R]) -> Callable[P, R]:
    """Run *fn* (one whole transaction) again after a serialization failure or
    deadlock, up to `RETRIES` times with a short randomised backoff.

    A `with store.transaction()` block cannot re-run itself, so the retry sits
    around the function that holds the block. When the retries run out the
    error becomes a plain `StorageError` (HTTP 503), so that an outer `retried`
    does not multiply the attempts.
    """
    return _retry_conflicts(fn)


def storable_text(value: str) -> str:
    """*value* as both backends store it: PostgreSQL text cannot hold NUL, so
    NUL characters become U+FFFD (on SQLite too, so that both keep the same)."""
    return value.replace("\x00", "\ufffd")


#: Largest event details kept, in bytes of JSON; larger ones become a short note.
DETAILS_LIMIT = 64 * 1024
#: A measurement's metadata (an adapter's job record, structure, ...) may be larger.
METADATA_LIMIT = 1024 * 1024


def storable_json(value: dict[str, Any], limit: int = DETAILS_LIMIT) -> dict[str, Any]:
    """*value* (an adapter's free-form metadata) as plain JSON both backends
    keep alike: text as `storable_text` keeps it, NaN and infinities as null,
    keys as text, anything else (paths, dates, numpy integers) as its str().
    Over *limit* bytes of JSON it is dropped for a note of its size and keys."""
    plain = _plain(value, 0)
    size = len(json.dumps(plain, allow_nan=False).encode())
    if size <= limit:
        return plain
    keys = [storable_text(str(k))[:100] for k in list(value)[:50]]
    return {"truncated": True, "bytes": size, "keys": keys}


def _plain(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return storable_text(value)
    if depth < 32 and isinstance(value, dict):
        return {storable_text(str(k)): _plain(v, depth + 1) for k, v in value.items()}
    if depth < 32 and isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    return storable_text(str(value))


def redact_url(url: str) -> str:
    """*url* with its password (in the authority or the query) replaced by ***."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return re.sub(r"(?<=:)[^:@/]*(?=@)", "***", url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return unquote(parsed.render_as_string(hide_password=True))


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and memory."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def storage_failure(exc: DBAPIError) -> StorageError | None:
    """The StorageError for a database failure that is not a bug of ours, or
    None (integrity and data errors stay as they are for the caller)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        kind = "deadlock" if sqlstate == "40P01" else "serialization failure"
        return ConflictRetryError(
            f"the database rolled the transaction back ({kind}, SQLSTATE {sqlstate})",
            "a concurrent transaction touched the same rows; retry",
        )
    if sqlstate == "25006" or "readonly database" in str(exc.orig):
        return StorageError(
            f"the database refused a write on a read-only connection: {exc.orig}",
            "inspect and export open databases read-only; campaigns change through "
            "run, resume, serve and the robot API (if one of those said this, "
            "check the file's permissions)",
        )
    if "database is locked" in str(exc.orig):
        return StorageError(
            "the database is busy: another process held its write lock longer "
            "than the busy timeout",
            "retry shortly; if it persists, look for a stuck `loop` process or an "
            "open sqlite3 shell on the file",
        )
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return StorageError(
            f"the database refused the operation: {exc.orig}",
            "retry; check that the database server is up and the disk is not full",
        )
    return None


#: The hint given for a SQLite URL that names no file.
NO_FILE_HINT = (
    "give --db (or LOOP_DB) a file path, e.g. sqlite:///loop.db or "
    "sqlite:////var/lib/loop/loop.db; if it came from a variable, check that "
    "the variable is set"
)


def in_memory(url: str) -> bool:
    """Whether *url* is a SQLite database that lives only in memory: no path
    (`sqlite://`, `sqlite:///`, an unset variable after the slashes),
    `:memory:`, or a `file::memory:` / `mode=memory` URI."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    if not parsed.drivername.startswith("sqlite"):
        return False
    database = (parsed.database or "").strip()
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or "mode=memory" in database
        or parsed.query.get("mode") == "memory"
    )


def make_engine(
    url: str, *, read_only: bool = False, allow_memory: bool = False
) -> Engine:
    """An engine for a supported URL; `BadInputError` for anything else.

    With *read_only* the database refuses every write: SQLite files are opened
    with `mode=ro`, PostgreSQL transactions begin READ ONLY. An in-memory SQLite
    database (`in_memory`) keeps nothing once the process ends, so it is
    refused unless *allow_memory* (only for loop's own throwaway stores, never
    from a command-line option).
    """
    if not allow_memory and in_memory(url):
        raise BadInputError(
            f"--db {redact_url(url)!r} names no database file: SQLite would keep "
            "the campaign in memory and lose every result when the command ends",
            NO_FILE_HINT,
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInputError(
            f"cannot read the database URL {redact_url(url)!r}",
            f"write it as {SUPPORTED_URLS}",
        ) from None
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return _sqlite_engine(url, read_only)
    if parsed.drivername == "postgresql+psycopg":
        return _postgresql_engine(parsed, read_only)
    hint = f"loop stores campaigns in {SUPPORTED_URLS}"
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        hint = (
            "loop talks to PostgreSQL through psycopg 3: start the URL with "
            "postgresql+psycopg:// (" + SUPPORTED_URLS + ")"
        )
    raise BadInputError(f"unsupported database URL {redact_url(url)!r}", hint)


def _postgresql_engine(url: URL, read_only: bool = False) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in url.query:
        connect_args["application_name"] = "loop"
    options: dict[str, Any] = {}
    if read_only:
        # every transaction starts READ ONLY (psycopg's `read_only`: BEGIN READ
        # ONLY), rather than a session setting: behind a transaction-pooling
        # proxy (PgBouncer) a session setting would leak to other clients' server
        # sessions, and PgBouncer refuses it as a startup option
        options["execution_options"] = {"postgresql_readonly": True}
    try:
        return create_engine(
            url, pool_pre_ping=True, connect_args=connect_args, **options
        )
    except ImportError:
        raise BadInputError(
            "PostgreSQL needs the psycopg package, which is not installed",
            "pip install 'psycopg[binary]' (it is a dependency of loop)",
        ) from None


def _sqlite_engine(url: str, read_only: bool = False) -> Engine:
    options: dict[str, Any] = {}
    path = sqlite_path(url)
    if read_only and path is not None:
        uri = _read_only_uri(path)
        options["creator"] = lambda: sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT, check_same_thread=False
        )
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let us emit BEGIN ourselves (SQLAlchemy's pysqlite recipe)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if read_only:
            # no journal mode or synchronous setting: those would write
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read = read_only or conn.get_execution_options().get("loop_read", False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def _read_only_uri(path: Path) -> str:
    """The `file:` URI that opens *path* read-only (never creating it)."""
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def quick_check(path: Path) -> None:
    """Refuse a damaged SQLite file before anything else opens it.

    Runs `PRAGMA quick_check` on a read-only connection, so the file is left
    byte-identical whatever it holds (in WAL mode SQLite may create the empty
    -wal and -shm files beside it, as any reader does). Raises `StorageError`
    naming the file and quoting what the check found.
    """
    lines: list[str] = []
    failure: sqlite3.Error | None = None
    try:
        conn = sqlite3.connect(
            _read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from exc
    try:
        cursor = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_LINES})")
        lines = [str(row[0]) for row in cursor]
    except sqlite3.Error as exc:  # often: the schema itself cannot be read
        failure = exc
    finally:
        conn.close()
    if failure is not None and not _corrupt(failure):
        raise _unreadable(path, failure) from failure
    if failure is None and lines == ["ok"]:
        return
    found = [x for text in lines for x in text.splitlines() if x.strip()]
    found = [x for x in found if not x.startswith("*** in database")]
    found = found[:QUICK_CHECK_LINES]
    if failure is not None:
        found.append(str(failure))
    said = "; ".join(dict.fromkeys(found)) or "not ok"
    raise StorageError(
        f"the database file {path} is damaged: PRAGMA quick_check says: {said}",
        "loop left the file untouched; stop every loop process using it, keep "
        "the damaged file aside, and restore the last backup made with `loop db "
        f"backup` (never copy a live database with cp); `sqlite3 {path} 'PRAGMA "
        "integrity_check'` lists every problem",
    )


def _corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return any(name == c or name.startswith(f"{c}_") for c in CORRUPT_CODES)


def _unreadable(path: Path, exc: sqlite3.Error) -> StorageError:
    return StorageError(
        f"cannot read the database file {path}: {exc}",
        "check that the file and its directory are readable (SQLite also needs "
        "to reach the -wal and -shm files beside it)",
    )
