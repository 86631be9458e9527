"""The dependency rules of STYLE.md §3, and the promise that validation stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Each package of loop and the loop packages it must not import (directly).
FORBIDDEN = {
    "loop/errors.py": {
        "loop.spec",
        "loop.space",
        "loop.engine",
        "loop.storage",
        "loop.service",
    },
    "loop/durations.py": {
        "loop.spec",
        "loop.space",
        "loop.engine",
        "loop.storage",
        "loop.service",
    },
    "loop/records.py": {
        "loop.spec",
        "loop.space",
        "loop.engine",
        "loop.storage",
        "loop.service",
    },
    "loop/spec": {
        "loop.space",
        "loop.model",
        "loop.strategies",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.cli",
        "loop.acquisition",
    },
    "loop/space": {
        "loop.model",
        "loop.strategies",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.cli",
    },
    "loop/model": {
        "loop.strategies",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.cli",
    },
    "loop/strategies": {"loop.engine", "loop.storage", "loop.service", "loop.cli"},
    "loop/engine.py": {"loop.storage", "loop.service", "loop.cli"},
    "loop/storage": {
        "loop.space",
        "loop.model",
        "loop.strategies",
        "loop.engine",
        "loop.service",
        "loop.cli",
    },
    "loop/campaign_state.py": {
        "loop.space",
        "loop.model",
        "loop.strategies",
        "loop.acquisition",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.report",
        "loop.cli",
        "loop.api",
    },
    "loop/acquisition": {
        "loop.strategies",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.report",
        "loop.bench",
        "loop.cli",
        "loop.api",
    },
    "loop/report": {
        "loop.engine",
        "loop.service",
        "loop.bench",
        "loop.cli",
        "loop.api",
    },
    "loop/bench": {"loop.cli", "loop.api"},
    "loop/documents.py": {
        "loop.space",
        "loop.model",
        "loop.strategies",
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.api",
        "loop.cli",
    },
    "loop/service": {"loop.cli", "loop.api"},
    # the Python API is a thin facade over the service layer, as the CLI is
    "loop/campaign.py": {"loop.cli", "loop.api", "loop.engine", "loop.strategies"},
    "loop/api": {
        "loop.cli",
        "loop.engine",
        "loop.strategies",
        "loop.model",
        "loop.space",
        "loop.bench",
    },
    "adapters": {
        "loop.engine",
        "loop.storage",
        "loop.service",
        "loop.cli",
        "loop.strategies",
        "loop.model",
        "loop.space",
    },
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(target: str) -> list[Path]:
    path = ROOT / target
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def _within(name: str, package: str) -> bool:
    """Whether module *name* is *package* or one of its submodules."""
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("target", sorted(FORBIDDEN))
def test_imports_follow_the_dependency_direction(target: str) -> None:
    for path in _files(target):
        for name in _imports(path):
            for banned in FORBIDDEN[target]:
                assert not _within(name, banned), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


def test_a_banned_package_covers_its_modules() -> None:
    # the command line is the package loop.cli (one module per noun): banning
    # "loop.cli" bans every module in it, and nothing that only shares the prefix
    modules = {p.stem for p in (ROOT / "loop" / "cli").glob("*.py")}
    assert {"__init__", "__main__", "common", "campaign"} <= modules
    strays = [p.name for p in (ROOT / "loop").glob("cli*.py")]
    assert not strays, f"{strays} escape the bans on loop.cli: move them to loop/cli/"
    assert all(_within(f"loop.cli.{m}", "loop.cli") for m in modules)
    assert _within("loop.cli", "loop.cli")
    assert not _within("loop.client", "loop.cli")


def test_no_private_name_is_imported_from_another_module() -> None:
    # a leading underscore means "only for this module": another module that
    # needs the name needs a public one (and a docstring saying what it is for)
    for path in [*(ROOT / "loop").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            private = [
                a.name
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
            assert not private, (
                f"{path.relative_to(ROOT)} imports {private} from {node.module}"
            )


def test_loop_never_imports_adapters_statically() -> None:
    for path in (ROOT / "loop").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith("adapters"), (
                f"{path.relative_to(ROOT)} imports {name}"
            )


def test_validating_a_campaign_does_not_load_torch() -> None:
    code = (
        "import sys; from loop.spec import load_path; "
        "load_path('campaigns/alloy-emt.yaml'); "
        "print('torch' in sys.modules, 'botorch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_ruff_finds_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "loop", "adapters", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_modules_stay_short() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*(ROOT / "loop").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, f"modules over 500 lines (split them): {long}"
