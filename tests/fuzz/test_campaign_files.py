"""Fuzzing campaign files: a valid campaign with any one value replaced by
something hostile (a wrong type, a huge or non-finite number, a huge or
escape-laden string, a deep structure, an unknown key) is either a campaign or
a list of problems, each naming a YAML key: never an internal error, never
slow. The structural attacks on the YAML text itself (alias bombs, deep
nesting, huge files) are in tests/spec/test_spec_hostile.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import LoopError, SpecError
from loop.spec import CampaignSpec
from loop.spec.io import loads
from tests.conftest import CAMPAIGNS

#: The campaigns mutated: a mixed space (composition, every parameter kind)
#: and a two-objective one with an outcome constraint.
BASES = [
    yaml.safe_load((CAMPAIGNS / name).read_text())
    for name in ("mixed-bumps.yaml", "electrolyte-mixed.yaml")
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in *node* a value can be put (dict keys and list items)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, float("inf"), float("nan")]),
    st.text(max_size=20),
    st.sampled_from(
        [
            "x" * 100_000,
            "\x1b[2J\x1b]0;owned\x07",
            '=HYPERLINK("http://x")',
            "Fe\u0000Cr",
            "ⅿixed",
            "../../etc/passwd",
        ]
    ),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=5, max_value=60).map(_deep),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    base = draw(st.sampled_from(BASES))
    data = yaml.safe_load(yaml.safe_dump(base))  # a fresh copy
    path = draw(st.sampled_from(_paths(data)))
    value = draw(HOSTILE)
    if draw(st.booleans()) and isinstance(path[-1], str):
        path = (*path[:-1], draw(st.sampled_from(["extra", "Space", "\x1b[31m"])))
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data, path, value


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_any_one_hostile_value_gives_a_campaign_or_named_problems(
    case: tuple[dict[str, Any], tuple[Any, ...], Any],
) -> None:
    data, path, _value = case
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (OverflowError, ValueError):  # PyYAML cannot write it: nothing to test
        return
    started = time.perf_counter()
    try:
        spec = loads(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.exit_code == 2
        assert exc.problems, "a refusal without a problem"
        for problem in exc.problems:
            assert problem.path or problem.message, problem
    except LoopError as exc:
        assert exc.exit_code == 2, f"{path}: {exc}"
    else:
        assert isinstance(spec, CampaignSpec)
    assert time.perf_counter() - started < 5, f"{path} took too long"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("\x1b]0;owned\x07extra",), 1),
        (("name",), "bumps\x1b[2J"),
        (("budget", "experiments"), 10**400),
        (("space", "parameters", 0, "bounds"), [float("nan"), 1]),
        (("objectives", 0, "name"), '=HYPERLINK("http://x")'),
    ],
)
def test_loop_validate_refuses_hostile_files_with_exit_2_and_clean_output(
    tmp_path: Path, where: tuple[Any, ...], value: Any
) -> None:
    data = yaml.safe_load(yaml.safe_dump(BASES[0]))
    parent = data
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = value
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(data))

    result = CliRunner().invoke(app, ["validate", str(path)])

    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
