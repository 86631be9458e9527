"""The python adapter: evaluate trials with the lab's own Python function.

`adapter: {type: python, target: "my_model:predict"}` calls
``predict(composition, parameters, **options)`` for each trial: the composition
as fractions of its total (component -> fraction, empty for a process-only
campaign), the process parameters by name, and the block's `options` as keyword
arguments. The function returns a mapping of objective name -> number (a
`cost` key is the evaluation's cost, counted by `budget.cost` and a
`cost: measured` fidelity; other keys are kept in the measurement's metadata,
under `outputs`), or a bare number when the
campaign has a single objective; it raises for a failed experiment. Neither a
raised exception nor a wrong value stops the campaign: the trial is recorded
FAILED with the reason (`loop.errors.AdapterError(..., retryable=True)` asks for
another attempt instead).

Where the module is found: `adapter.path`, when given, is the folder that holds
it (absolute, else relative to the data root, `--data-root` or
`LOOP_DATA_ROOT`, else to the working directory, as the dataset adapter finds
its file); without it, the working directory. That folder is searched first,
then the installed packages, and only while the module is imported: import what
the function needs at the top of its file.

The function is assumed pure (the same trial gives the same answer, nothing
physical is made), so the adapter is re-run safe: a trial a stopped driver left
running is simply evaluated again, and evaluations may run on threads of the
driver (`executor: {type: threads}`, the function must then be thread-safe) or
on Dask (the module must be importable on the workers, from the same folder).
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from loop.errors import AdapterError, LoopError, Problem
from loop.ports import (
    DATA_ROOT_ENV,
    AdapterClass,
    EvaluationRequest,
    EvaluationResult,
    PushAdapter,
)
from loop.records import cost_of
from loop.spec.values import value_problems

if TYPE_CHECKING:
    from loop.spec import CampaignSpec

#: `package.module:function` (the function may be an attribute path, `Class.method`).
_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

Function = Callable[..., Any]


class PythonConfig(BaseModel):
    """The `adapter:` block for `type: python`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["python"]
    #: `module:function`, e.g. `my_model:predict` for predict() in my_model.py.
    target: str = Field(min_length=1, max_length=256)
    #: The folder holding the module (see the module docstring for where it is looked for).
    path: str | None = Field(None, min_length=1)
    #: Keyword arguments passed to the function with every call.
    options: dict[str, Any] = Field(default_factory=dict)


class PythonAdapter:
    """Push-mode adapter calling a user's function for each trial."""

    Config = PythonConfig
    #: A pure function: an interrupted evaluation is simply run again.
    rerun_safe: ClassVar[bool] = True

    def __init__(self, config: PythonConfig, spec: CampaignSpec) -> None:
        found = load(config)
        if isinstance(found, list):
            raise LoopError(f"{found[0].path}: {found[0].message}", found[0].hint)
        self.function: Function = found
        self.config = config
        self.spec = spec
        comp = spec.space.composition
        self.total = comp.total if comp else 1.0

    @staticmethod
    def check(config: PythonConfig, spec: CampaignSpec) -> list[Problem]:
        """The target imports, names a callable, and takes (composition, parameters, **options)."""
        found = load(config)
        if isinstance(found, list):
            return found
        try:
            inspect.signature(found).bind({}, {}, **config.options)
        except ValueError:  # no signature to read (some built-ins): call and see
            return []
        except TypeError as exc:
            return [
                Problem(
                    "adapter.target",
                    f"'{config.target}' cannot be called as "
                    f"{config.target.partition(':')[2]}(composition, parameters"
                    f"{''.join(f', {k}=...' for k in config.options)}): {exc}",
                    "define it as `def f(composition, parameters, ...)`, with a "
                    "keyword parameter for each key of `adapter.options`",
                )
            ]
        return []

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        fractions = {c: v / self.total for c, v in request.composition.items()}
        where: dict[str, Any] = {"function": self.config.target}
        try:
            returned = self.function(
                fractions, dict(request.parameters), **self.config.options
            )
        except (Exception, SystemExit) as exc:  # a failed experiment, never a crash
            return EvaluationResult(
                failure=f"{self.config.target} raised {type(exc).__name__}: {exc}",
                retryable=isinstance(exc, AdapterError) and exc.retryable,
                metadata={**where, "traceback": traceback.format_exc(limit=5)},
            )
        values, extra, wrong = _values(returned, request.objectives)
        if wrong is None:
            # outside the bounds under `outliers: flag`: the driver flags it
            problems = value_problems(self.spec, values, unattended=True)
            wrong = "; ".join(_said(p.name, p.message, returned) for p in problems)
            wrong = wrong or None
        if wrong is not None:
            return EvaluationResult(
                failure=f"{self.config.target} returned {wrong}", metadata=where
            )
        if cost_of(extra) is not None:  # what the evaluation cost (`budget.cost`)
            where["cost"] = float(extra.pop("cost"))
        if extra:
            where["outputs"] = extra
        return EvaluationResult(values=values, metadata=where)

    # Dask sends the adapter to its workers by pickling it: send the config and
    # import the function again there, rather than pickling the function; the
    # folder goes as found here (absolute), since a worker's working directory
    # and data root may differ from the driver's
    def __getstate__(self) -> dict[str, Any]:
        folder, _ = _folder(self.config.path)
        config = self.config
        if folder is not None:
            config = config.model_copy(update={"path": str(folder)})
        return {"config": config, "spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        PythonAdapter.__init__(self, state["config"], state["spec"])


#: A push adapter (loop.ports); mypy checks the class against the protocols.
_implements: AdapterClass[PythonConfig, PushAdapter] = PythonAdapter


def load(config: PythonConfig) -> Function | list[Problem]:
    """The function `config.target` names, or the problems that stop it loading."""
    if not _TARGET.match(config.target):
        return [
            Problem(
                "adapter.target",
                f"'{config.target}' is not of the form module:function",
                "write the module (a .py file's name without .py, or a dotted "
                "package path) and the function, e.g. `target: my_model:predict`",
            )
        ]
    folder, problems = _folder(config.path)
    if folder is None:
        return problems
    module_name, _, attribute = config.target.partition(":")
    try:
        with _importable_from(folder):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name != missing and not module_name.startswith(missing + "."):
            return [_import_failed(module_name, exc)]  # it imports a missing module
        return [
            Problem(
                "adapter.target",
                f"module '{module_name}' not found (looked in {folder} and the "
                "installed packages)",
                f"put {module_name.replace('.', '/')}.py in {folder}, or set "
                "`adapter.path` to the folder that holds it (relative to "
                f"--data-root or ${DATA_ROOT_ENV}, else to the working directory)",
            )
        ]
    except Exception as exc:  # a syntax error, an exception while importing
        return [_import_failed(module_name, exc)]
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            return [_missing(config.target, module, part)]
        found = getattr(found, part)
    if not callable(found):
        return [
            Problem(
                "adapter.target",
                f"'{config.target}' is a {type(found).__name__}, not a function",
                "name a function defined with `def` in the module",
            )
        ]
    return found


def _folder(path: str | None) -> tuple[Path | None, list[Problem]]:
    """The folder the module is imported from: `adapter.path`, or the working directory."""
    if path is None:
        return Path.cwd(), []
    raw = Path(path).expanduser()
    tried = [raw] if raw.is_absolute() else []
    if not tried:
        root = os.environ.get(DATA_ROOT_ENV)
        tried = ([Path(root).expanduser() / raw] if root else []) + [Path.cwd() / raw]
    found = next((p for p in tried if p.is_dir()), None)
    if found is not None:
        return found.resolve(), []
    return None, [
        Problem(
            "adapter.path",
            f"folder not found: {path} (looked in {', '.join(map(str, tried))})",
            "give the folder that holds the function's module: absolute, or "
            f"relative to --data-root (${DATA_ROOT_ENV}) or the working directory",
        )
    ]


@contextmanager
def _importable_from(folder: Path) -> Iterator[None]:
    """*folder* first on the import path while a module is imported."""
    entry = str(folder)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a file written a moment ago is seen
    try:
        yield
    finally:
        sys.path.remove(entry)  # the first occurrence: the one inserted


def _import_failed(module_name: str, exc: BaseException) -> Problem:
    return Problem(
        "adapter.target",
        f"importing module '{module_name}' failed: {type(exc).__name__}: {exc}",
        f"fix the module (or install what it imports); `python -c 'import "
        f"{module_name}'` in its folder shows the full error",
    )


def _missing(target: str, module: Any, part: str) -> Problem:
    defined = sorted(
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and not name.startswith("_")
    )
    where = getattr(module, "__file__", None) or module.__name__
    return Problem(
        "adapter.target",
        f"'{target}': {where} has no '{part}'",
        f"functions it defines: {', '.join(defined)}"
        if defined
        else "define the function in the module, or correct its name",
    )


def _values(
    returned: Any, objectives: list[str]
) -> tuple[dict[str, float], dict[str, Any], str | None]:
    """(objective values, other outputs, what is wrong) of what the function returned."""
    if _is_number(returned) and len(objectives) == 1:
        returned = {objectives[0]: returned}
    if not isinstance(returned, dict):
        wanted = (
            "a number or a dict" if len(objectives) == 1 else "a dict of name -> number"
        )
        return {}, {}, f"{_shown(returned)}, not {wanted} ({', '.join(objectives)})"
    values: dict[str, float] = {}
    for name in objectives:
        if name in returned:
            if not _is_number(returned[name]):
                return {}, {}, f"{_shown(returned[name])} for {name}, not a number"
            values[name] = float(returned[name])
    extra = {str(k): v for k, v in returned.items() if k not in objectives}
    return values, extra, None


def _said(name: str, why: str, returned: Any) -> str:
    """One problem of the returned values, as the failure reason says it."""
    if why != "missing":
        return f"'{name}' = {why}"
    keys = ", ".join(map(str, returned)) if isinstance(returned, dict) else ""
    return f"no '{name}'" + (f" (its keys: {keys})" if keys else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}..." if len(text) > 60 else text
