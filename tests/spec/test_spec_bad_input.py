"""Bad campaign files: each problem is reported with its YAML path, line and a hint.

Every case breaks one thing in an otherwise valid campaign (`BASE`). The line the
problem must be reported on carries a `# here` comment, so the expected line
number is read off the case text itself. Each case is checked twice: through
`loop.spec.loads` (a `SpecError` with `.problems`) and through `loop validate`
(exit code 2, `file:line: path: message` and `hint:` lines, no traceback).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import Problem, SpecError
from loop.spec import loads

BASE = """\
schema_version: 1
name: probe
description: a small campaign that each case breaks in one place
space:
  composition:
    kind: species
    basis: mass
    components: [EC, EMC, DMC]
    total: 1.0
    bounds: {default: [0.0, 0.8]}
  parameters:
    - name: LiPF6_molality
      type: continuous
      bounds: [0.5, 2.0]
      unit: mol/kg
    - name: additive
      type: categorical
      values: [none, VC]
constraints:
  - type: linear
    coefficients: {EC: 1, EMC: 1}
    le: 0.9
objectives:
  - name: conductivity
    direction: maximize
    unit: mS/cm
strategy:
  engine: botorch
  batch_size: 2
budget:
  experiments: 10
adapter:
  type: simulator
  function: electrolyte
seed: 7
"""

MARK = "# here"


def edit(*pairs: tuple[str, str]) -> str:
    """BASE with each `old` (which must occur exactly once) replaced by `new`."""
    text = BASE
    for old, new in pairs:
        assert text.count(old) == 1, f"case edit {old!r} must match exactly once"
        text = text.replace(old, new)
    return text


def marked_line(text: str) -> int:
    """1-based number of the line carrying the `# here` marker."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if MARK in line]
    assert len(lines) == 1, "each case marks exactly one line"
    return lines[0]


def case(
    id: str,
    text: str,
    path: str | None,
    message: tuple[str, ...],
    hint: tuple[str, ...] = (),
):
    """One bad file: the problem's path (None: not checked), words of its message
    and of its hint (the hint must be non-empty in every case)."""
    return pytest.param(text, path, message, hint, id=id)


CASES = [
    case(
        "yaml-syntax-error",
        edit(("  batch_size: 2", f"  batch_size: 2: 3  {MARK}")),
        "",
        ("YAML syntax error", "mapping values are not allowed"),
    ),
    case(
        "tab-indentation",
        edit(("    total: 1.0", f"\ttotal: 1.0  {MARK}")),
        "",
        ("YAML syntax error",),
    ),
    case(
        "duplicate-key",
        edit(("    total: 1.0", f"    total: 1.0\n    total: 1.0  {MARK}")),
        None,  # the path of a duplicate key: see test_duplicate_key_names_its_path
        ("duplicate key 'total'", "first at line 9"),
    ),
    case(
        "unknown-key-in-composition",
        edit(("    total: 1.0", f"    total: 1.0\n    resolutoin: 0.01  {MARK}")),
        "space.composition.resolutoin",
        ("unknown key", "resolutoin"),
        ("resolution", "components", "total", "max_components", "bounds", "basis"),
    ),
    case(
        "unknown-key-at-top-level",
        edit(("seed: 7", f"seed: 7\nsede: 3  {MARK}")),
        "sede",
        ("unknown key", "sede"),
        ("schema_version", "space", "objectives", "budget", "adapter", "seed"),
    ),
    case(
        "unknown-key-in-a-parameter",
        edit(("      unit: mol/kg", f"      unit: mol/kg\n      step: 0.1  {MARK}")),
        "space.parameters.0.step",
        ("unknown key", "step"),
        ("type", "name", "bounds", "unit"),
    ),
    case(
        "parameter-resolution-not-positive",
        edit(
            (
                "      unit: mol/kg",
                f"      unit: mol/kg\n      resolution: -0.1  {MARK}",
            )
        ),
        "space.parameters.0.resolution",
        ("greater than 0",),
    ),
    case(
        "parameter-resolution-wider-than-bounds",
        edit(
            ("      unit: mol/kg", f"      unit: mol/kg\n      resolution: 2  {MARK}")
        ),
        "space.parameters.0.resolution",
        ("resolution 2 of 'LiPF6_molality' is wider than its bounds [0.5, 2]",),
        ("smaller than upper - lower",),
    ),
    case(
        "unknown-key-in-strategy",
        edit(("  batch_size: 2", f"  batch_sise: 2  {MARK}")),
        "strategy.batch_sise",
        ("unknown key", "batch_sise"),
        ("batch_size", "engine", "acquisition", "initial_design"),
    ),
    case(
        "unknown-key-in-a-constraint",
        edit(("    le: 0.9", f"    le: 0.9\n    lt: 1.0  {MARK}")),
        "constraints.0.lt",
        ("unknown key", "lt"),
        ("coefficients", "le", "ge", "eq"),
    ),
    case(
        "unknown-key-in-an-objective",
        edit(
            (
                "    direction: maximize",
                f"    direction: maximize\n    weight: 1  {MARK}",
            )
        ),
        "objectives.0.weight",
        ("unknown key", "weight"),
        ("name", "direction", "unit", "threshold"),
    ),
    case(
        "unknown-element-kind-inferred",
        edit(
            ("    kind: species\n", ""),
            ("[EC, EMC, DMC]", f"[Cu, Ni, Xx]  {MARK}"),
            ("{EC: 1, EMC: 1}", "{Cu: 1, Ni: 1}"),
        ),
        "space.composition.components.2",
        ("unknown element 'Xx'",),
        ("kind: species",),
    ),
    case(
        "unknown-element-kind-explicit",
        edit(
            ("kind: species", "kind: element"),
            ("[EC, EMC, DMC]", f"[Cu, Ni, Xx]  {MARK}"),
            ("{EC: 1, EMC: 1}", "{Cu: 1, Ni: 1}"),
        ),
        "space.composition.components.2",
        ("unknown element 'Xx'",),
        ("element symbols",),
    ),
    case(
        "upper-bounds-below-total",
        edit(("{default: [0.0, 0.8]}", f"{{default: [0.0, 0.3]}}  {MARK}")),
        "space.composition.bounds",
        ("upper bounds sum to 0.9", "below the total 1"),
        ("raise",),
    ),
    case(
        "lower-bounds-above-total",
        edit(("{default: [0.0, 0.8]}", f"{{default: [0.4, 0.8]}}  {MARK}")),
        "space.composition.bounds",
        ("lower bounds sum to 1.2", "above the total 1"),
        ("lower",),
    ),
    case(
        "lower-bound-above-upper-bound",
        edit(
            (
                "{default: [0.0, 0.8]}",
                f"{{default: [0.0, 0.8], EC: [0.6, 0.2]}}  {MARK}",
            )
        ),
        "space.composition.bounds.EC",
        ("lower bound 0.6", "upper bound 0.2"),
        ("swap",),
    ),
    case(
        "bound-outside-total",
        edit(
            (
                "{default: [0.0, 0.8]}",
                f"{{default: [0.0, 0.8], DMC: [0.0, 1.5]}}  {MARK}",
            )
        ),
        "space.composition.bounds.DMC",
        ("1.5",),
        ("between 0 and the total",),
    ),
    case(
        "bounds-for-a-non-component",
        edit(
            (
                "{default: [0.0, 0.8]}",
                f"{{default: [0.0, 0.8], PC: [0.0, 0.2]}}  {MARK}",
            )
        ),
        "space.composition.bounds.PC",
        ("'PC' is not a component",),
        ("EC", "EMC", "DMC"),
    ),
    case(
        "max-components-below-forced-components",
        edit(
            (
                "{default: [0.0, 0.8]}",
                f"{{default: [0.1, 0.8]}}  {MARK}\n    max_components: 2",
            )
        ),
        "space.composition.bounds",
        ("max_components is 2", "3 components have a positive lower bound"),
        ("raise max_components",),
    ),
    case(
        "max-components-cannot-reach-total",
        edit(
            (
                "{default: [0.0, 0.8]}",
                f"{{default: [0.0, 0.4]}}  {MARK}\n    max_components: 2",
            )
        ),
        "space.composition.bounds",
        ("at most 2 components", "reach only 0.8"),
        ("raise max_components",),
    ),
    case(
        "resolution-does-not-divide-total",
        edit(
            ("    total: 1.0", "    total: 1.0\n    resolution: 0.3"),
            ("{default: [0.0, 0.8]}", f"{{default: [0.0, 0.8]}}  {MARK}"),
        ),
        "space.composition.bounds",
        ("resolution 0.3", "does not divide the total 1"),
        ("divides the total",),
    ),
    case(
        "resolution-grid-misses-the-bounds",
        edit(
            ("    total: 1.0", "    total: 1.0\n    resolution: 0.1"),
            ("{default: [0.0, 0.8]}", f"{{default: [0.31, 0.34]}}  {MARK}"),
        ),
        "space.composition.bounds",
        ("0.1 dosing grid",),
        ("widen the bounds",),
    ),
    case(
        "constraint-names-unknown-component",
        edit(("{EC: 1, EMC: 1}", f"{{EC: 1, Zn: 1}}  {MARK}")),
        "constraints.0.coefficients.Zn",
        ("'Zn'", "neither a component nor a numeric parameter"),
        ("EC", "EMC", "DMC", "LiPF6_molality"),
    ),
    case(
        "constraint-no-point-satisfies",
        edit(
            ("  - type: linear", f"  - type: linear  {MARK}"),
            ("    le: 0.9", "    ge: 1.7"),
        ),
        "constraints.0",
        ("no configuration", "1*EC + 1*EMC >= 1.7", "on its own"),
        ("relax",),
    ),
    case(
        "categorical-in-constraint",
        edit(("{EC: 1, EMC: 1}", f"{{EC: 1, additive: 1}}  {MARK}")),
        "constraints.0.coefficients.additive",
        ("'additive' is categorical",),
        ("continuous/integer",),
    ),
    case(
        "duplicate-component",
        edit(("[EC, EMC, DMC]", f"[EC, EMC, EC]  {MARK}")),
        "space.composition.components.2",
        ("'EC' is listed twice",),
        ("once",),
    ),
    case(
        "duplicate-parameter-name",
        edit(("    - name: additive", f"    - name: LiPF6_molality  {MARK}")),
        "space.parameters.1.name",
        ("'LiPF6_molality' is already used",),
        ("own name",),
    ),
    case(
        "parameter-named-like-a-component",
        edit(("    - name: additive", f"    - name: DMC  {MARK}")),
        "space.parameters.1.name",
        ("'DMC' is already used",),
        ("own name",),
    ),
    case(
        "qLogNEI-with-two-objectives",
        edit(
            (
                "    unit: mS/cm",
                "    unit: mS/cm\n  - {name: viscosity, direction: minimize}",
            ),
            ("  batch_size: 2", f"  batch_size: 2\n  acquisition: qLogNEI  {MARK}"),
        ),
        "strategy.acquisition",
        ("qLogNEI", "2 are declared"),
        ("qLogNEHVI",),
    ),
    case(
        "qUCB-with-an-outcome-constraint",
        edit(
            (
                "    unit: mS/cm",
                "    unit: mS/cm\n  - {name: viscosity, direction: minimize, "
                "role: constraint, threshold: 4.0}",
            ),
            ("  batch_size: 2", f"  batch_size: 2\n  acquisition: qUCB  {MARK}"),
        ),
        "strategy.acquisition",
        ("qUCB cannot weigh the outcome constraints (viscosity)",),
        ("qLogNEI",),
    ),
    case(
        "unknown-adapter-type",
        edit(("adapter:\n  type: simulator", f"adapter:\n  type: simulatr  {MARK}")),
        "adapter.type",
        ("unknown adapter type 'simulatr'",),
        ("simulator",),
    ),
    case(
        "unknown-simulator-function",
        edit(("  function: electrolyte", f"  function: electrolite  {MARK}")),
        "adapter.function",
        ("unknown simulator function 'electrolite'",),
        ("electrolyte", "emt-alloy", "simplex-bumps"),
    ),
    case(
        "objective-not-produced-by-function",
        edit(("  - name: conductivity", f"  - name: yield  {MARK}")),
        "objectives.0.name",
        ("does not produce 'yield'",),
        ("conductivity", "viscosity", "cost"),
    ),
    case(
        "missing-schema-version",
        # a missing key is reported where its mapping starts: line 1 here
        edit(("schema_version: 1\nname: probe", f"name: probe  {MARK}")),
        "schema_version",
        ("required",),
        ("add",),
    ),
    case(
        "wrong-schema-version",
        edit(("schema_version: 1", f"schema_version: 2  {MARK}")),
        "schema_version",
        ("1",),
    ),
    case(
        "wrong-objective-unit",
        edit(("    unit: mS/cm", f"    unit: S/m  {MARK}")),
        "objectives.0.unit",
        ("produced in mS/cm", "not S/m"),
        ("unit: mS/cm",),
    ),
]


def _problem_at(
    problems: list[Problem], path: str | None, words: tuple[str, ...]
) -> Problem:
    matching = [
        p
        for p in problems
        if (path is None or p.path == path) and all(w in p.message for w in words)
    ]
    assert len(matching) == 1, (
        f"expected one problem at {path!r} saying {words}: {problems}"
    )
    return matching[0]


def test_base_campaign_is_valid() -> None:
    """The cases below break BASE in exactly one place; BASE itself is fine."""
    spec = loads(BASE, "base.yaml")
    assert spec.space.composition.components == ("EC", "EMC", "DMC")
    # one goal, no outcome constraint, a budget of 10 experiments: the
    # annealed upper confidence bound
    assert spec.acquisition == "qUCB"


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ((("experiments: 10", "experiments: 51"),), "qLogNEI"),
        ((("engine: botorch", "engine: ax"),), "qLogNEI"),
        (
            (
                (
                    "    unit: mS/cm",
                    "    unit: mS/cm\n  - {name: viscosity, direction: minimize, "
                    "role: constraint, threshold: 4.0}",
                ),
            ),
            "qLogNEI",
        ),
        (
            (
                (
                    "    unit: mS/cm",
                    "    unit: mS/cm\n  - {name: viscosity, direction: minimize}",
                ),
            ),
            "qLogNEHVI",
        ),
        ((("  batch_size: 2", "  batch_size: 2\n  acquisition: qLogNEI"),), "qLogNEI"),
    ],
    ids=["budget-over-50", "ax", "constraint", "two-goals", "named"],
)
def test_the_default_acquisition_is_qucb_only_where_it_was_measured(
    edits: tuple[tuple[str, str], ...], expected: str
) -> None:
    """qUCB was chosen on the replay suite: one goal, budgets of 6 to 50
    experiments, no outcome constraints; elsewhere the default stays."""
    assert loads(edit(*edits), "probe.yaml").acquisition == expected


@pytest.mark.parametrize(("text", "path", "message", "hint"), CASES)
def test_loads_reports_problem_with_path_line_and_hint(
    text: str, path: str | None, message: tuple[str, ...], hint: tuple[str, ...]
) -> None:
    with pytest.raises(SpecError) as info:
        loads(text, "bad.yaml")
    err = info.value
    assert err.exit_code == 2
    assert err.source == "bad.yaml"
    assert len(err.problems) == 1, f"one mistake, one problem: {err.problems}"
    problem = _problem_at(err.problems, path, message)
    assert problem.line == marked_line(text)
    assert problem.hint.strip(), "every problem says how to fix it"
    for word in hint:
        assert word in problem.hint
    # the error's own text lists the problem in `file:line: path: message` form
    assert f"bad.yaml:{problem.line}: " in str(err)
    assert problem.message in str(err)


@pytest.mark.parametrize(("text", "path", "message", "hint"), CASES)
def test_cli_validate_reports_problem_and_exits_2(
    text: str,
    path: str | None,
    message: tuple[str, ...],
    hint: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "bad.yaml"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    # Rich may wrap long lines; compare with runs of whitespace collapsed
    flat = " ".join(result.stderr.split())
    where = f"bad.yaml:{marked_line(text)}: "
    assert where in flat
    if path is not None:
        assert f"{where}{path or '(top level)'}: " in flat
    for word in message:
        assert word in flat
    assert "hint:" in flat
    for word in hint:
        assert word in flat
    assert "ok" not in result.stdout


# ----------------------------------------------------------------- known bugs
# The tests below fail on the current code; each names the bug it exposes.


def test_tab_indentation_hint_mentions_tabs() -> None:
    """BUG loop/spec/io.py:121: the tab hint is dead code.

    The condition tests `"tab" in str(exc)`, but PyYAML's message is "found
    character '\\t' that cannot start any token" (a backslash-t, never the word
    "tab"), so a tab always gets the generic "check indentation, colons and
    quotes" hint instead of "YAML indents with spaces, never tabs".
    """
    text = edit(("    total: 1.0", "\ttotal: 1.0"))
    with pytest.raises(SpecError) as info:
        loads(text)
    (problem,) = info.value.problems
    assert problem.line == 9
    assert "tab" in problem.hint.lower()


def test_duplicate_key_names_its_path() -> None:
    """BUG loop/spec/io.py:45-56 and 117-124: a duplicate key is reported as a YAML
    syntax error at "(top level)" with the hint "check indentation, colons and
    quotes around this line", although the loader knows the mapping it is in.
    It should carry the YAML path of the key (`space.composition.total`).
    """
    text = edit(("    total: 1.0", "    total: 1.0\n    total: 1.0"))
    with pytest.raises(SpecError) as info:
        loads(text)
    (problem,) = info.value.problems
    assert problem.line == 10
    assert problem.path == "space.composition.total"


def test_unclosed_quote_points_at_the_opening_quote() -> None:
    """BUG loop/spec/io.py:117-120: for scanner errors the loader keeps only the
    problem mark (end of file) and drops PyYAML's context ("while scanning a
    quoted scalar ... line 2"), so an unclosed quote on line 2 is reported as
    "line 36: found unexpected end of stream" with nothing pointing at line 2.
    """
    text = edit(("name: probe", "name: 'probe"))
    with pytest.raises(SpecError) as info:
        loads(text)
    (problem,) = info.value.problems
    assert problem.line == 2 or "line 2" in problem.message, problem


def test_unknown_key_in_adapter_block_lists_valid_keys() -> None:
    """BUG loop/spec/campaign.py:130-137 (`_inner_problems`) with 56-58: an unknown
    key inside the adapter block is reported at path `adapter` as "nosie: unknown
    key" with the hint "see docs/reference/yaml.md", unlike every other block,
    whose unknown keys get their own path and a hint listing the valid keys.
    """
    text = edit(("  function: electrolyte", "  function: electrolyte\n  nosie: 0.1"))
    with pytest.raises(SpecError) as info:
        loads(text)
    (problem,) = info.value.problems
    assert "nosie" in problem.message
    for key in ("type", "function", "noise", "options"):
        assert key in problem.hint, problem.hint
    assert problem.path == "adapter.nosie"
    assert problem.line == 35


def test_components_not_a_list_gives_no_spurious_bounds_problem() -> None:
    """BUG loop/spec/composition.py:50-58 with 92 and 112-115: when `components`
    is not a list the `default` entry of `bounds` is left unexpanded and then
    checked as if it were a component, adding a false "upper bounds sum to 0.8,
    below the total 1" problem to the real one (components must be a list).
    """
    text = edit(("[EC, EMC, DMC]", "EC"))
    with pytest.raises(SpecError) as info:
        loads(text)
    paths = [p.path for p in info.value.problems]
    assert paths == ["space.composition.components"], info.value.problems


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            edit(
                (
                    "    unit: mS/cm",
                    "    unit: mS/cm\n  - {name: conductivity, direction: minimize}",
                )
            ),
            id="objective-listed-twice",  # loop/spec/campaign.py:104
        ),
        pytest.param(
            edit(("bounds: [0.5, 2.0]", "bounds: [2.0, 0.5]")),
            id="parameter-lo-not-below-hi",  # loop/spec/parameters.py:28-31 and 46-49
        ),
        pytest.param(
            edit(("    le: 0.9", "    le: 0.9\n    eq: 0.5")),
            id="constraint-with-eq-and-le",  # loop/spec/constraints.py:28-29
        ),
        pytest.param(
            edit(("budget:\n  experiments: 10", "budget: 10")),
            id="block-given-as-a-number",  # loop/spec/io.py:19-38 lacks model_type
        ),
    ],
)
def test_every_problem_has_a_hint(text: str) -> None:
    """BUG: these problems are reported with an empty hint, although loop's errors
    promise "a message (what went wrong) and a hint (what the user can do)"."""
    with pytest.raises(SpecError) as info:
        loads(text)
    for problem in info.value.problems:
        assert problem.line is not None
        assert problem.hint.strip(), f"no hint for: {problem.path}: {problem.message}"
