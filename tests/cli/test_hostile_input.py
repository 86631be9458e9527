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
    small = small.replace("size: 8", "size: 2").replace("experiments: 24", "experiments: 2")
    (tmp_path / "small.yaml").write_text(small)
    result = loop(*command, "--db", url)
    assert result.exit_code == 2, result.output
    assert "--db" in result.stderr and "names no database file" in result.stderr
    assert "sqlite:///loop.db" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["small.yaml"]
