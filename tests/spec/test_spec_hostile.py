"""Hostile campaign files (issue 15, items 4 and 9): alias bombs, deep nesting,
true/false for numbers, huge free text. Each is refused by `loop validate` and
`loop run` with exit 2, the file's line and a hint, quickly and in bounded memory,
and nothing is stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import SpecError
from loop.spec import loads
from loop.spec.campaign import DESCRIPTION_LIMIT
from loop.spec.io import MAX_FILE_BYTES
from tests.conftest import CAMPAIGNS

runner = CliRunner()
BASE = (CAMPAIGNS / "alloy-emt.yaml").read_text()


def billion_laughs() -> str:
    """Nine levels of nine aliases each: 10**9 strings once expanded."""
    text = 'lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    previous = "a"
    for anchor in "bcdefghi":
        text += f"{anchor}: &{anchor} [{', '.join([f'*{previous}'] * 9)}]\n"
        previous = anchor
    return BASE + text


def refused(tmp_path: Path, text: str) -> str:
    """Run `validate` and `run` on *text*; both exit 2; the run stores nothing."""
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    db = tmp_path / "loop.db"
    for command in (
        ["validate", str(path)],
        ["run", str(path), "--db", f"sqlite:///{db}"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert (
            "Traceback" not in result.output and "internal error" not in result.output
        )
        assert str(path) in result.stderr
    assert not db.exists()
    return result.stderr


def test_a_billion_laughs_file_is_refused_at_once(tmp_path: Path) -> None:
    text = billion_laughs()
    start = time.perf_counter()
    with pytest.raises(SpecError, match="aliases"):
        loads(text)
    assert time.perf_counter() - start < 0.5
    stderr = refused(tmp_path, text)
    assert "YAML too complex: aliases (*name) expand the file" in stderr
    assert "hint:" in stderr


@pytest.mark.parametrize(
    "nested",
    [
        "x: " + "[" * 5000 + "]" * 5000,
        "x: " + "{a: " * 5000 + "1" + "}" * 5000,
        "x:\n" + "".join(" " * i + "-\n" for i in range(1, 1000)),
    ],
    ids=["flow lists", "flow mappings", "block lists"],
)
def test_deep_nesting_is_refused_with_exit_2(tmp_path: Path, nested: str) -> None:
    start = time.perf_counter()
    with pytest.raises(SpecError, match="nested more than 64 deep"):
        loads(BASE + nested + "\n")
    assert time.perf_counter() - start < 0.5
    assert "nested more than 64 deep" in refused(tmp_path, BASE + nested + "\n")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(SpecError, match="refers to the block that holds it"):
        loads(BASE + "x: &a [1, *a]\n")


def test_a_few_small_aliases_still_work() -> None:
    text = BASE.replace(
        "bounds: {default: [0.0, 0.6], Cu: [0.1, 0.6]}",
        "bounds: {default: &wide [0.0, 0.6], Ni: *wide, Cu: [0.1, 0.6]}",
    )
    spec = loads(text)
    assert spec == loads(
        BASE.replace("Cu: [0.1, 0.6]", "Ni: [0.0, 0.6], Cu: [0.1, 0.6]")
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "line"),
    [
        ("experiments: 24", "experiments: true", "budget.experiments", 22),
        ("size: 8", "size: false", "strategy.initial_design.size", 18),
        ("seed: 0", "seed: true", "seed", 24),
        ("[0.1, 0.6]", "[true, 0.6]", "space.composition.bounds", 11),
    ],
)
def test_true_and_false_are_not_numbers(
    tmp_path: Path, old: str, new: str, key: str, line: int
) -> None:
    text = BASE.replace(old, new)
    assert text != BASE
    stderr = refused(tmp_path, text)
    assert f":{line}: {key}: true/false is not a number" in stderr
    assert "hint: write a number here" in stderr


def test_a_huge_description_is_refused(tmp_path: Path) -> None:
    loads(
        BASE.replace("description: ", "description: " + "x" * (DESCRIPTION_LIMIT - 200))
    )
    text = BASE.replace("description: ", "description: " + "x" * 20_000)
    stderr = refused(tmp_path, text)
    assert (
        f"description: String should have at most {DESCRIPTION_LIMIT} characters"
        in stderr
    )
    assert "hint: shorten it" in stderr


def test_a_50_mb_campaign_file_is_refused_unread(tmp_path: Path) -> None:
    """Parsing it took 130 s before it was refused for its description."""
    text = BASE.replace("description: ", "description: " + "x" * 50_000_000)
    stderr = " ".join(refused(tmp_path, text).split())
    assert f"above the {MAX_FILE_BYTES:,} a campaign may have" in stderr
    assert "loop import" in stderr
