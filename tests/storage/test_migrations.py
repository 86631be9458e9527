"""Schema migrations (RELIABILITY.md §3 case 25): new databases are made by the
migrations and equal the tables; a frozen database of the first schema upgrades
with every row kept; older and newer databases are refused until upgraded."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import StorageError
from loop.records import TrialStatus
from loop.service.campaigns import status_document
from loop.spec import validate
from loop.storage import Store, migrations
from loop.storage.connection import make_engine
from loop.storage.driver import acquire
from loop.storage.tables import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
FROZEN = DATA / "loop-schema-1.db"
NAME = "carbonate-electrolyte"
TABLES = sorted(migrations.LOOP_TABLES)
runner = CliRunner()


def differences(url: str) -> list:
    engine = migrations.open_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def state(url: str) -> migrations.DbState:
    return migrations.status(url)


def rows(path: Path) -> dict[str, list[dict]]:
    """Every row of every loop table, by table, as plain dicts."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        return {
            t: [dict(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
            for t in TABLES
            if t in present
        }
    finally:
        conn.close()


@pytest.fixture
def frozen(tmp_path: Path) -> Path:
    """A copy of the frozen schema-1 database."""
    path = tmp_path / "old.db"
    shutil.copyfile(FROZEN, path)
    return path


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


# ------------------------------------------------------------ the migrations
def test_a_new_database_is_made_by_the_migrations_and_equals_the_tables(
    any_db_url: str,
) -> None:
    Store(any_db_url)
    made = state(any_db_url)
    assert made.revision == migrations.HEAD
    assert made.schema_version == SCHEMA_VERSION
    assert differences(any_db_url) == []


def test_stores_opened_at_once_on_a_new_database_create_it_once(
    any_db_url: str,
) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(any_db_url).engine.dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert state(any_db_url).revision == migrations.HEAD
    assert differences(any_db_url) == []


def test_revision_0001_is_the_schema_before_the_driver_lease(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        with engine.begin() as conn:
            migrations.migrate(conn, "0001")
    finally:
        engine.dispose()
    assert state(any_db_url).schema_version == 1
    missing = differences(any_db_url)
    columns = {(d[0], d[2], d[3].name) for d in missing if d[0] == "add_column"}
    assert columns == {
        ("add_column", "campaign", c) for c in migrations.DRIVER_COLUMNS
    } | {
        ("add_column", "trial_event", "details"),
        ("add_column", "robot_key", "expires_at"),
    }
    tables = {d[1].name for d in missing if d[0] == "add_table"}
    assert tables == {"model_fit"}  # revision 0004
    assert {d[0] for d in missing} <= {"add_column", "add_table", "add_index"}
    with pytest.raises(
        StorageError, match=f"database at schema 1, this loop needs {SCHEMA_VERSION}"
    ):
        Store(any_db_url)


def test_downgrade_to_0001_and_upgrade_again_keep_the_campaigns(
    any_db_url: str, campaign_data: dict
) -> None:
    from alembic import command

    store = Store(any_db_url)
    store.create_campaign("c1", validate(campaign_data).model_dump(mode="json"))
    store.engine.dispose()
    engine = migrations.open_engine(any_db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrations._config(connection=conn), "0001")
            assert migrations.read_state(conn).schema_version == 1
    finally:
        engine.dispose()
    assert migrations.upgrade(any_db_url).before == 1
    assert [c.name for c in Store(any_db_url).list_campaigns()] == ["c1"]
    assert differences(any_db_url) == []


def test_revisions_form_one_chain_and_each_sets_its_schema_version() -> None:
    script = ScriptDirectory.from_config(migrations._config())
    chain = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert chain == list(migrations.REVISIONS)
    assert script.get_current_head() == migrations.HEAD
    for revision in chain:
        assert (
            script.get_revision(revision).module.SCHEMA
            == (migrations.REVISIONS[revision])
        )
    assert migrations.REVISIONS[migrations.HEAD] == SCHEMA_VERSION


def test_the_migrations_render_as_postgresql_sql() -> None:
    sql = migrations.sql_script("postgresql")
    assert "CREATE TABLE campaign" in sql and "TIMESTAMP WITH TIME ZONE" in sql
    assert (
        "ALTER TABLE campaign ADD COLUMN driver_epoch INTEGER DEFAULT '0' NOT NULL"
        in sql
    )
    assert (
        "UPDATE loop_meta SET value='2' WHERE loop_meta.key = 'schema_version'" in sql
    )
    assert "ALTER TABLE trial_event ADD COLUMN details JSON" in sql
    assert (
        "UPDATE loop_meta SET value='3' WHERE loop_meta.key = 'schema_version'" in sql
    )


# ---------------------------------------------------------- the frozen database
def test_the_frozen_database_is_small_and_at_schema_1(frozen: Path) -> None:
    assert FROZEN.stat().st_size < 100 * 1024
    # a single file in rollback-journal mode: opening the committed file through
    # loop's engine (WAL) would change it, so the tests only ever open copies
    assert FROZEN.read_bytes()[18:20] == b"\x01\x01"
    found = state(url_of(frozen))
    assert (found.schema_version, found.revision) == (1, "0001")
    assert not found.campaign_columns & migrations.DRIVER_COLUMNS
    counts = {t: len(r) for t, r in rows(FROZEN).items()}
    assert counts == {
        "campaign": 1,
        "idempotency": 1,
        "loop_meta": 1,
        "measurement": 3,
        "robot_key": 1,
        "submission": 1,
        "trial": 6,
        "trial_event": 22,
    }


@pytest.mark.parametrize("create", [True, False])
def test_an_older_database_is_refused_with_the_upgrade_hint(
    frozen: Path, create: bool
) -> None:
    before = rows(frozen)
    with pytest.raises(StorageError) as refused:
        Store(url_of(frozen), create=create)
    assert (
        f"database at schema 1, this loop needs {SCHEMA_VERSION}"
        in refused.value.message
    )
    assert refused.value.hint == (
        f"back it up with `loop db backup FILE --db {url_of(frozen)}`, "
        f"then run `loop db upgrade --db {url_of(frozen)}`"
    )
    assert rows(frozen) == before
    assert state(url_of(frozen)).revision == "0001"


def test_upgrade_keeps_every_row_and_adds_the_new_columns(frozen: Path) -> None:
    url = url_of(frozen)
    before = rows(frozen)
    result = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    assert f"upgraded from schema 1 to {SCHEMA_VERSION}" in result.stdout
    after = rows(frozen)
    # every row kept; the tables added since schema 1 start empty
    assert {t: len(r) for t, r in after.items()} == {
        **{t: len(r) for t, r in before.items()},
        "model_fit": 0,
    }
    for table in before:
        if table == "loop_meta":
            continue
        for old, new in zip(before[table], after[table], strict=True):
            assert {k: new[k] for k in old} == old, table
    campaign = after["campaign"][0]
    assert campaign["driver_epoch"] == 0 and campaign["driver_owner"] is None
    assert [e["details"] for e in after["trial_event"]] == [None] * 22
    assert after["loop_meta"] == [
        {"key": "schema_version", "value": str(SCHEMA_VERSION)}
    ]
    assert state(url).revision == migrations.HEAD
    assert differences(url) == []

    # the upgraded database works: read, inspected, driven
    store = Store(url)
    trials = {t.id: t for t in store.trials(NAME)}
    assert trials[3].measurement is not None and trials[3].measurement.late
    assert trials[3].measurement.metadata["cell"] == "C-17"
    assert trials[4].failure_reason.startswith("salt did not dissolve")
    assert [e["to_status"] for e in store.events(3)][-1] == "completed"
    doc = status_document(store, NAME)
    assert doc["counts"] == {"completed": 3, "failed": 1, "claimed": 1, "pending": 1}
    assert doc["best"]["measurements"] == {"conductivity": 11.7922}
    assert acquire(store, NAME, owner="test:1") == 1
    (claimed,) = [t for t in trials.values() if t.status.value == "claimed"]
    details = {"job": {"name": "cell-9", "state": "FAILED"}}
    store.transition(
        claimed.id,
        [claimed.status],
        TrialStatus.FAILED,
        reason="cell shorted",
        details=details,
    )
    assert store.events(claimed.id)[-1]["details"] == details
    inspected = runner.invoke(app, ["inspect", NAME, "--db", url])
    assert inspected.exit_code == 0, inspected.output
    assert "carbonate-electrolyte" in inspected.stdout


def test_upgrading_twice_does_nothing_the_second_time(frozen: Path) -> None:
    url = url_of(frozen)
    assert migrations.upgrade(url).before == 1
    again = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert again.exit_code == 0
    assert f"already at schema {SCHEMA_VERSION}; nothing to do" in again.stdout


# ------------------------------------------------ databases made before migrations
def test_a_schema_1_database_without_migration_history_is_adopted_as_0001(
    frozen: Path,
) -> None:
    with closing(sqlite3.connect(frozen)) as conn, conn:
        conn.execute("DROP TABLE alembic_version")
    before = rows(frozen)
    done = migrations.upgrade(url_of(frozen))
    assert (done.before, done.after, done.adopted) == (1, SCHEMA_VERSION, "0001")
    assert {t: len(r) for t, r in rows(frozen).items()} == {
        **{t: len(r) for t, r in before.items()},
        "model_fit": 0,
    }
    assert differences(url_of(frozen)) == []


def test_a_database_made_by_loop_with_the_driver_lease_but_no_history_is_adopted_as_0002(
    tmp_path: Path, campaign_data: dict
) -> None:
    """What `create_all` made between the driver lease and the migrations (the
    tables of today without what revisions 0003, 0004 and 0005 added)."""
    url = url_of(tmp_path / "lease.db")
    engine = sa.create_engine(url)
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE trial_event DROP COLUMN details"))
        conn.execute(sa.text("DROP TABLE model_fit"))  # revision 0004
        conn.execute(sa.text("ALTER TABLE robot_key DROP COLUMN expires_at"))  # 0005
        conn.execute(sa.text("INSERT INTO loop_meta VALUES ('schema_version', '1')"))
    engine.dispose()
    with pytest.raises(StorageError, match="database at schema 1"):
        Store(url)
    result = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    assert "recognised as 0002" in result.stdout
    assert (state(url).schema_version, state(url).revision) == (
        SCHEMA_VERSION,
        migrations.HEAD,
    )
    assert differences(url) == []
    Store(url).create_campaign("c1", validate(campaign_data).model_dump(mode="json"))


def test_a_development_database_without_robot_tables_is_refused(frozen: Path) -> None:
    with closing(sqlite3.connect(frozen)) as conn, conn:
        conn.execute("PRAGMA journal_mode=WAL")  # as loop left it
        for table in ("alembic_version", "idempotency", "submission"):
            conn.execute(f"DROP TABLE {table}")
    image = frozen.read_bytes()
    with pytest.raises(StorageError, match="development build"):
        migrations.upgrade(url_of(frozen))
    assert frozen.read_bytes() == image


# --------------------------------------------------------------- newer databases
@pytest.mark.parametrize(
    "change",
    [
        "UPDATE loop_meta SET value = '99' WHERE key = 'schema_version'",
        "UPDATE alembic_version SET version_num = '0099'",
    ],
    ids=["schema-99", "unknown-revision"],
)
def test_a_newer_database_is_refused_and_left_byte_identical(
    db_url: str, campaign_data: dict, change: str
) -> None:
    store = Store(db_url)
    store.create_campaign("c1", validate(campaign_data).model_dump(mode="json"))
    store.engine.dispose()
    path = Path(db_url.removeprefix("sqlite:///"))
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(change)
    assert not Path(f"{path}-wal").exists()
    image = path.read_bytes()
    for create in (True, False):
        with pytest.raises(StorageError, match="newer than this loop"):
            Store(db_url, create=create)
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert upgraded.exit_code == 1 and "newer than this loop" in upgraded.stderr
    shown = runner.invoke(app, ["db", "version", "--db", db_url])
    assert shown.exit_code == 0 and "newer than this loop" in shown.stdout
    assert path.read_bytes() == image
