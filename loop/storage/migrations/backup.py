"""Backups of a SQLite database (`loop db backup`), safe while loop writes to it.

Never a file copy: a live database in WAL mode keeps committed transactions in
its -wal file until a checkpoint, so copying the main file can lose them or
catch a page half-written. SQLite's online backup API copies a consistent
snapshot, WAL content included, while drivers and the API keep working. The
copy is written beside the target under a temporary name, switched to a single
self-contained file (rollback journal), checked with `PRAGMA quick_check`, and
only then given its name; an existing file is never overwritten.

PostgreSQL databases are backed up with the server's tools (pg_dump).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from loop.errors import BadInputError, StorageError
from loop.storage.migrations import shown, status


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    schema_version: int | None
    campaigns: int
    trials: int


def backup(url: str, target: Path) -> Backup:
    """Copy the SQLite database at *url* to the new file *target*."""
    from loop.storage.connection import NO_FILE_HINT, sqlite_path

    source = sqlite_path(url)
    if source is None:
        if url.startswith("sqlite"):
            raise BadInputError(
                f"--db {url!r} names no database file: there is nothing to back up",
                NO_FILE_HINT,
            )
        raise BadInputError(
            f"`loop db backup` copies SQLite databases; {shown(url)} is not one",
            "back up PostgreSQL with its own tools, e.g. "
            "`pg_dump --format=custom --file loop.dump DBNAME`",
        )
    if target.exists():
        raise BadInputError(
            f"{target} already exists", "a backup never overwrites: choose a new name"
        )
    if not target.parent.is_dir():
        raise BadInputError(
            f"no directory {target.parent} for the backup", "create it first"
        )
    state = status(url)  # refuses a missing file
    if not state.is_loop:
        raise BadInputError(
            f"{shown(url)} is not a loop database", "check --db / LOOP_DB"
        )
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _copy(source, partial)
        counts = _counts(partial)
        try:
            os.link(partial, target)  # fails, rather than overwrites, if it exists
        except FileExistsError:
            raise BadInputError(
                f"{target} already exists",
                "a backup never overwrites: choose a new name",
            ) from None
        except OSError:  # a file system without hard links
            if target.exists():
                raise BadInputError(
                    f"{target} already exists", "choose a new name"
                ) from None
            os.rename(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return Backup(target, target.stat().st_size, state.schema_version, *counts)


def _copy(source: Path, partial: Path) -> None:
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            (result,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(
            f"the backup of {source} failed: {exc}",
            "check the disk space and that the database is readable; retry",
        ) from exc
    finally:
        src.close()
    if result != "ok":
        raise StorageError(
            f"the backup of {source} fails its integrity check: {result}",
            "the database itself may be damaged; keep the original and inspect it "
            "with `sqlite3 FILE 'PRAGMA integrity_check'`",
        )


def _counts(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM campaign").fetchone()[0],
            conn.execute("SELECT count(*) FROM trial").fetchone()[0],
        )
    finally:
        conn.close()
