"""A damaged or foreign database is refused untouched; inspect and export only read
(RELIABILITY.md §2 storage rules, §3 cases 22 and 24).

Every Store that opens an existing SQLite file first runs `PRAGMA quick_check`
and reads the schema on a read-only (`mode=ro`) connection: a corrupted file,
or one at another schema, is refused with a clear message (exit 1 from the CLI)
before any writable connection could switch its journal mode, so its bytes
stay as they were. `Store(..., read_only=True)` (inspect, export) refuses
writes in the Store and at the database (SQLite `mode=ro`, PostgreSQL
`default_transaction_read_only`), and a writer holding the write lock does not
hold up `loop inspect`.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import StorageError
from loop.records import Proposal
from loop.spec import validate
from loop.storage import Store, sqlite_path
from loop.storage.connection import quick_check
from tests.lab import free_port

NAME = "mixed-bumps"
FROZEN = Path(__file__).parent / "data" / "loop-schema-1.db"
PAGE = 4096
runner = CliRunner()


def _proposal(i: int) -> Proposal:
    return Proposal(
        composition={"A": float(i % 100), "B": float(100 - i % 100)},
        parameters={"route": "cast", "i": i},
        phase="initial",
        strategy="random",
        provenance={"n_train": 0, "note": "padding " * 40},
    )


def _campaign(url: str, campaign_data: dict, trials: int = 200) -> Store:
    """A loop database holding one campaign with *trials* pending trials."""
    campaign_data["budget"]["experiments"] = trials
    store = Store(url)
    store.create_campaign(NAME, validate(campaign_data).model_dump(mode="json"))
    store.add_trials(NAME, 0, [_proposal(i) for i in range(trials)], trials)
    return store


def _closed_file(url: str, campaign_data: dict) -> Path:
    """A SQLite database file with every page in use and no -wal beside it."""
    _campaign(url, campaign_data).engine.dispose()  # the last close checkpoints
    path = sqlite_path(url)
    assert path is not None
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("VACUUM")  # no free pages: a damaged page is one in use
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
    assert not Path(f"{path}-wal").exists()
    assert path.stat().st_size >= 20 * PAGE
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbage_page(path: Path) -> None:
    """Overwrite a page in the middle of the file with random bytes."""
    pages = path.stat().st_size // PAGE
    with path.open("r+b") as f:
        f.seek(pages // 2 * PAGE)
        f.write(random.Random(24).randbytes(PAGE))


def _commands(url: str, tmp_path: Path, campaign_data: dict) -> dict[str, list[str]]:
    campaign_file = tmp_path / "campaign.yaml"
    campaign_file.write_text(json.dumps(campaign_data))
    return {
        "inspect": ["inspect", NAME, "--db", url],
        "export": ["export", NAME, "--db", url],
        "resume": ["resume", NAME, "--db", url],
        "run": ["run", str(campaign_file), "--db", url],
        "serve": ["serve", "--db", url, "--port", str(free_port())],
    }


# ------------------------------------------------------------------ corruption
@pytest.mark.parametrize(
    "damage", [_truncate, _garbage_page], ids=["truncated", "garbage-page"]
)
def test_a_damaged_file_is_refused_by_every_command_and_left_byte_identical(
    damage, db_url: str, campaign_data: dict, tmp_path: Path
) -> None:
    path = _closed_file(db_url, campaign_data)
    quick_check(path)  # healthy before the damage
    damage(path)
    image = _digest(path)

    for kwargs in ({}, {"create": False}, {"create": False, "read_only": True}):
        with pytest.raises(StorageError) as refused:
            Store(db_url, **kwargs)
        message = refused.value.message
        assert message.startswith(f"the database file {path} is damaged: ")
        assert "PRAGMA quick_check says: " in message
        # what the check found is quoted, not just "failed"
        said = message.split("says: ", 1)[1]
        assert "malformed" in said or "page" in said.lower(), said
        assert "loop db backup" in refused.value.hint
        assert "never copy a live database" in refused.value.hint
    assert _digest(path) == image

    for command, args in _commands(db_url, tmp_path, campaign_data).items():
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (command, result.output)
        assert f"error: the database file {path} is damaged" in result.stderr, command
        assert "loop db backup" in result.stderr, command
        assert "Traceback" not in result.output
        assert _digest(path) == image, f"`loop {command}` changed the file"


def test_a_file_that_is_not_a_database_is_refused_untouched(db_url: str) -> None:
    path = sqlite_path(db_url)
    assert path is not None
    path.write_bytes(b"campaign notes, not a database\n" * 200)
    image = _digest(path)
    result = runner.invoke(app, ["inspect", NAME, "--db", db_url])
    assert result.exit_code == 1, result.output
    assert f"the database file {path} is damaged" in result.stderr
    assert "file is not a database" in result.stderr
    assert _digest(path) == image


def test_an_older_database_is_refused_before_anything_writes_to_it(
    tmp_path: Path, campaign_data: dict
) -> None:
    """The schema-1 file is in rollback-journal mode: a writable connection
    would switch it to WAL (header bytes 18-19) before the refusal."""
    path = tmp_path / "old.db"
    shutil.copyfile(FROZEN, path)
    url = f"sqlite:///{path}"
    image = _digest(path)
    for kwargs in ({}, {"create": False}, {"create": False, "read_only": True}):
        with pytest.raises(StorageError, match="database at schema 1"):
            Store(url, **kwargs)
    for command, args in _commands(url, tmp_path, campaign_data).items():
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (command, result.output)
        assert "database at schema 1" in result.stderr, command
    assert path.read_bytes()[18:20] == b"\x01\x01"
    assert _digest(path) == image
    assert not Path(f"{path}-wal").exists()


# ------------------------------------------------------------------ read-only
def test_a_read_only_store_reads_and_refuses_every_write(
    any_db_url: str, campaign_data: dict
) -> None:
    writer = _campaign(any_db_url, campaign_data, trials=3)
    with pytest.raises(ValueError, match="cannot create"):
        Store(any_db_url, read_only=True)
    reader = Store(any_db_url, create=False, read_only=True)
    try:
        assert [t.id for t in reader.trials(NAME)] == [
            t.id for t in writer.trials(NAME)
        ]
        # the Store refuses before it asks the database ...
        with pytest.raises(StorageError, match="open read-only"):
            reader.update_campaign(NAME, status="exhausted")
        with pytest.raises(StorageError, match="open read-only"):
            reader.create_campaign("another", {"name": "another"})
        # ... and the database refuses too, whatever goes around the Store
        with pytest.raises(DBAPIError, match="(?i)read-?only"):
            with reader.engine.begin() as conn:
                conn.execute(text("UPDATE campaign SET status = 'exhausted'"))
        with pytest.raises(DBAPIError, match="(?i)read-?only"):
            with reader.engine.begin() as conn:
                conn.execute(text("DELETE FROM trial_event"))
    finally:
        reader.engine.dispose()
    assert writer.get_campaign(NAME).status == "active"
    assert len(writer.trials(NAME)) == 3


@contextmanager
def _write_lock_held(url: str) -> Iterator[None]:
    """Another session holds the write lock with an uncommitted change
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: the campaign and trial rows locked)."""
    path = sqlite_path(url)
    if path is not None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE campaign SET status = 'exhausted'")
            yield
            conn.execute("COMMIT")  # the lock was ours all along
        finally:
            conn.close()
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("UPDATE campaign SET status = 'exhausted'"))
            conn.execute(text("SELECT id FROM trial FOR UPDATE")).all()
            yield
            conn.commit()
    finally:
        engine.dispose()


def test_a_writer_holding_the_write_lock_does_not_block_inspect_or_export(
    any_db_url: str, campaign_data: dict
) -> None:
    _campaign(any_db_url, campaign_data, trials=5).engine.dispose()
    with _write_lock_held(any_db_url):
        started = time.monotonic()
        shown = runner.invoke(
            app, ["inspect", NAME, "--db", any_db_url, "--format", "json"]
        )
        exported = runner.invoke(
            app, ["export", NAME, "--db", any_db_url, "--format", "json"]
        )
        took = time.monotonic() - started
        assert shown.exit_code == 0, shown.output
        assert exported.exit_code == 0, exported.output
        # the busy timeout is 30 s: a blocked reader would wait that long
        assert took < 10, f"inspect and export took {took:.1f} s under a writer's lock"
        doc = json.loads(shown.stdout)
        assert doc["status"] == "active"  # the writer has not committed yet
        assert len(doc["trials"]) == 5
        assert len(json.loads(exported.stdout)) == 5
    # the writer committed after them: inspect took no lock it had to wait for
    store = Store(any_db_url, create=False, read_only=True)
    try:
        assert store.get_campaign(NAME).status == "exhausted"
    finally:
        store.engine.dispose()


@pytest.mark.postgresql
def test_read_only_postgresql_transactions_leave_the_session_as_it_was(
    postgres_url: str,
) -> None:
    """READ ONLY per transaction, not per session: behind a transaction-pooling
    proxy a server session serves many clients, and a session setting would
    make the next client's writes fail."""
    Store(postgres_url).engine.dispose()  # the tables
    store = Store(postgres_url, create=False, read_only=True)

    def settings(conn: Any) -> tuple[str, str]:
        return (
            conn.exec_driver_sql("SHOW transaction_read_only").scalar(),
            conn.exec_driver_sql("SHOW default_transaction_read_only").scalar(),
        )

    try:
        with store.transaction(write=False) as s:  # a Store read
            assert settings(s.connection()) == ("on", "off")
        with store.engine.connect() as conn:  # the engine used directly
            assert settings(conn) == ("on", "off")
    finally:
        store.engine.dispose()
