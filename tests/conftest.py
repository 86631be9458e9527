"""Shared fixtures: real SQLite files in tmp_path, a real PostgreSQL server for the
storage contract suite, the example campaigns.

`db_url` is SQLite only (fast; most tests). `any_db_url` runs a test once on
SQLite and once on PostgreSQL, each time on a fresh database: the contract
suite (RELIABILITY.md §3 case 26). The PostgreSQL server is $LOOP_TEST_PG_URL
when set (a role allowed to CREATE DATABASE), otherwise a throwaway server that
this session starts from the local PostgreSQL binaries and removes at the end.
Without either, the PostgreSQL cases skip locally and fail in CI (env CI set).
Run only the SQLite half with `-m "not postgresql"`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tests.support import unavailable

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"
#: The shared public datasets beside the clone (CI has them there); the benchmark
#: campaigns under campaigns/benchmarks/ read their data from it.
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
os.environ.setdefault("LOOP_DATA_ROOT", str(SHARED_DATASETS))


def has_shared_datasets() -> bool:
    return (SHARED_DATASETS / "README.md").is_file()


def reads_shared_data(path: Path) -> bool:
    """True for a campaign that reads the shared datasets while none are beside
    the clone: a fresh machine, where `make test` must still pass. Its data check
    cannot run there (tests/bench runs it where the data is; CI must have it)."""
    under_benchmarks = (CAMPAIGNS / "benchmarks") in path.resolve().parents
    return under_benchmarks and not has_shared_datasets()


def needs_shared_datasets(what: str) -> None:
    """Skip *what* locally without the shared datasets (a failure in CI)."""
    if not has_shared_datasets():
        unavailable(
            what,
            f"no shared datasets at {SHARED_DATASETS}",
            "put the shared datasets folder at ../shared/datasets beside the clone",
        )


#: A PostgreSQL URL (postgresql+psycopg://...) whose role may CREATE DATABASE.
PG_URL_ENV = "LOOP_TEST_PG_URL"
#: The throwaway server runs in a time zone far from UTC, so that a timestamp
#: stored or compared in local time instead of UTC shows up in the tests.
PG_TEST_TIMEZONE = "Asia/Kolkata"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgresql: the PostgreSQL half of the storage contract suite (any_db_url)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on a PostgreSQL server is also `slow`: `make test` runs the
    SQLite half of the contract suite, `make test-slow` (and so CI) the rest."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "postgresql" in item.keywords or "postgres_server" in fixtures:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'loop.db'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test, on each backend in turn (contract tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loop.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool, Pool

    name = f"loop_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(
        postgres_server, isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    # the Stores a test makes keep pooled connections: close them at the end, or
    # the driver warns when those pools are garbage-collected during a later test
    opened: list[Any] = []

    def track(dbapi_connection: Any, _record: Any) -> None:
        opened.append(dbapi_connection)

    event.listen(Pool, "connect", track)
    try:
        yield (
            make_url(postgres_server)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        event.remove(Pool, "connect", track)
        for dbapi_connection in opened:
            try:
                dbapi_connection.close()
            except Exception:  # noqa: BLE001 - a broken connection is closed too
                pass
        with admin.connect() as conn:  # FORCE: in case a session is still open
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database, for the session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _postgres_unavailable(
            "psycopg is not installed (pip install 'psycopg[binary]')"
        )
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield given
        return
    try:
        url, stop = _start_postgres()
    except PostgresUnavailable as exc:
        _postgres_unavailable(str(exc))
    try:
        yield url
    finally:
        stop()


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here."""


def _postgres_unavailable(reason: str) -> NoReturn:
    unavailable(
        "the PostgreSQL half of the storage contract suite",
        f"PostgreSQL unavailable ({reason})",
        f"install PostgreSQL (apt-get install postgresql) or set {PG_URL_ENV}="
        "postgresql+psycopg://USER:PASSWORD@HOST:5432/postgres for a role allowed "
        "to CREATE DATABASE",
    )


def _postgres_bindir() -> Path | None:
    """The newest local PostgreSQL server binaries (Debian keeps them off PATH)."""

    def version(initdb: Path) -> tuple[int, ...]:
        name = initdb.parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _start_postgres() -> tuple[str, Callable[[], None]]:
    """initdb + pg_ctl start a throwaway server on a unix socket in /tmp.

    As root, the server runs as the `postgres` system user (initdb refuses
    root). Durability is switched off: the data dies with the session anyway.
    """
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl)")
    prefix: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' system user to run "
                "the server as"
            ) from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
        owner = (user.pw_uid, user.pw_gid)
    # a short path: the socket's path must stay under ~100 characters
    base = Path(tempfile.mkdtemp(prefix="loop-pg-", dir="/tmp"))
    if owner is not None:
        os.chown(base, *owner)
    data, log = base / "data", base / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefix, *args], cwd=base, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()} {tail}".strip()
            )

    def stop() -> None:
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            cwd=base,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{base}' -p {port} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections=300 -c TimeZone={PG_TEST_TIMEZONE}"
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
    except (PostgresUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        stop()
        if isinstance(exc, PostgresUnavailable):
            raise
        raise PostgresUnavailable(f"cannot start a server: {exc}") from exc
    return f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}", stop


@pytest.fixture
def campaign_data() -> dict:
    """The fast mixed-space example campaign as a dict, ready to modify."""
    return yaml.safe_load((CAMPAIGNS / "mixed-bumps.yaml").read_text())


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a dict (or text) as a campaign file and return its path."""

    def write(data: dict | str, name: str = "campaign.yaml") -> Path:
        path = tmp_path / name
        path.write_text(
            data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        )
        return path

    return write
