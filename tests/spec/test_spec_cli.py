"""`loop validate`, `loop run` and `loop schema` as a user meets them: exit codes,
every problem listed at once, nothing written for a bad file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import SpecError
from loop.spec import loads
from tests.conftest import needs_shared_datasets, reads_shared_data

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = ROOT / "campaigns"
EXAMPLES = sorted(
    p
    for p in CAMPAIGNS.rglob("*.yaml")
    if "schema" not in p.relative_to(CAMPAIGNS).parts
)

# Four independent mistakes in four different blocks, on lines 6, 13, 16 and 19.
MANY_PROBLEMS = """\
schema_version: 1
name: many-problems
space:
  composition:
    kind: species
    components: [EC, EMC, EC]
    bounds: {default: [0.0, 0.8]}
  parameters:
    - {name: LiPF6_molality, type: continuous, bounds: [0.5, 2.0], unit: mol/kg}
objectives:
  - name: conductivity
    unit: mS/cm
    direction: upwards
strategy:
  engine: botorch
  batch_size: 0
budget:
  experiments: 10
wibble: 3
adapter: {type: simulator, function: electrolyte}
"""
MANY_EXPECTED = {
    # path: (line, words of the message)
    "space.composition.components.2": (6, "'EC' is listed twice"),
    "objectives.0.direction": (13, "'minimize' or 'maximize'"),
    "strategy.batch_size": (16, "greater than or equal to 1"),
    "wibble": (19, "unknown key 'wibble'"),
}


def flat(text: str) -> str:
    """Text with runs of whitespace collapsed (Rich wraps long lines)."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=str(p.relative_to(CAMPAIGNS))) for p in EXAMPLES]
)
def test_cli_validate_accepts_every_example(path: Path) -> None:
    if reads_shared_data(path):
        needs_shared_datasets("`loop validate` on the benchmark campaigns")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "is valid" in flat(result.stdout)
    assert result.stderr == ""


def test_cli_validate_names_a_benchmark_data_file_it_cannot_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark campaign validated against a folder without its data says
    which file is missing and how to point at it, without a traceback."""
    # --data-root sets the variable for the process; put it back afterwards.
    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    path = CAMPAIGNS / "benchmarks" / "alkox.yaml"
    result = CliRunner().invoke(
        app, ["validate", str(path), "--data-root", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert "adapter.path" in text and "data file not found" in text
    assert "--data-root" in text and "Traceback" not in text


def test_examples_are_found() -> None:
    """The parametrisation above is not vacuous: the shipped examples are there."""
    names = {p.name for p in EXAMPLES}
    assert {"alloy-emt.yaml", "electrolyte.yaml", "mixed-bumps.yaml"} <= names


def test_loads_reports_every_problem_at_once() -> None:
    with pytest.raises(SpecError) as info:
        loads(MANY_PROBLEMS, "many.yaml")
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == set(MANY_EXPECTED)
    for path, (line, words) in MANY_EXPECTED.items():
        assert problems[path].line == line, path
        assert words in problems[path].message
        assert problems[path].hint.strip(), path
    assert str(info.value).startswith("many.yaml: 4 problems")


def test_cli_validate_lists_every_problem_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("many.yaml").write_text(MANY_PROBLEMS, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "many.yaml"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    out = flat(result.stderr)
    assert "4 problems" in out
    for path, (line, words) in MANY_EXPECTED.items():
        assert f"many.yaml:{line}: {path}: " in out
        assert words in out
    # one hint per problem plus the closing general hint
    assert out.count("hint:") == len(MANY_EXPECTED) + 1


def test_cli_validate_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(app, ["validate", str(missing)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "file not found" in flat(result.stderr)
    assert "hint:" in result.stderr


def test_cli_run_bad_file_exits_2_and_writes_nothing(
    write_yaml, tmp_path: Path
) -> None:
    bad = write_yaml(MANY_PROBLEMS, "bad.yaml")
    db = tmp_path / "x.db"
    result = CliRunner().invoke(app, ["run", str(bad), "--db", f"sqlite:///{db}"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "4 problems" in flat(result.stderr)
    assert not db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_cli_schema_prints_the_committed_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    committed = json.loads((CAMPAIGNS / "schema" / "campaign.schema.json").read_text())
    assert json.loads(result.stdout) == committed


# ----------------------------------------------------------------- known bugs
# The tests below fail on the current code; each names the bug it exposes.


def test_cli_prints_bracketed_hints_verbatim(tmp_path: Path, monkeypatch) -> None:
    """BUG loop/cli/common.py (`friendly`): the error message and hint are printed
    with Rich markup enabled, so text in square brackets that starts with a letter
    is taken for a style tag and vanishes: the hint "write [lo, hi]" for a
    non-finite bound is printed as "write ", "write a list, e.g. [a, b]" as
    "write a list, e.g. ". Problem text should be printed verbatim.
    """
    monkeypatch.chdir(tmp_path)
    text = MANY_PROBLEMS.replace("[EC, EMC, EC]", "[EC, EMC, DMC]")
    text = text.replace("direction: upwards", "direction: maximize")
    text = text.replace("batch_size: 0", "batch_size: 1").replace("wibble: 3\n", "")
    text = text.replace("[0.0, 0.8]", "[0.0, .nan]")
    Path("nan.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        loads(text)
    assert all(p.hint == "write [lo, hi]" for p in info.value.problems)
    result = CliRunner().invoke(app, ["validate", "nan.yaml"])
    assert result.exit_code == 2
    assert "hint: write [lo, hi]" in flat(result.stderr)


def test_cli_problem_lines_are_not_wrapped_when_piped(tmp_path: Path) -> None:
    """BUG loop/cli/common.py (consoles): errors go through a Rich console that wraps at
    80 columns when the output is not a terminal, so with `loop validate f.yaml
    2>&1 | grep ...` (or an editor parsing `file:line:`) a problem's
    `file:line: path: message` is split over two lines. Problem lines should be
    printed whole.
    """
    (tmp_path / "bad.yaml").write_text(
        MANY_PROBLEMS.replace("wibble: 3", "a_rather_long_unknown_key_name: 3"),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "loop.cli", "validate", "bad.yaml"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    expected = (
        "bad.yaml:19: a_rather_long_unknown_key_name: "
        "unknown key 'a_rather_long_unknown_key_name'"
    )
    assert expected in proc.stderr.splitlines(), proc.stderr
