"""Adapters found by name through the `loop.adapters` entry-point group.

loop never imports `adapters` statically: the built-in adapters are registered in
pyproject.toml exactly as a third-party package would register its own
(docs/how-to/write-an-adapter.md). An entry point names an adapter class, which
must satisfy `loop.ports.AdapterClass`; what else it can do is asked of it with
the capability protocols of `loop.ports`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from loop.errors import BadInputError, LoopError, UnknownNameError
from loop.ports import Adapter, AdapterClass

GROUP = "loop.adapters"


@cache
def adapter_names() -> tuple[str, ...]:
    """Names of every installed adapter."""
    return tuple(sorted(ep.name for ep in entry_points(group=GROUP)))


@cache
def adapter_class(name: str) -> AdapterClass[Any, Adapter]:
    """The adapter class registered under *name*; unknown names list the valid ones.

    Refuses what cannot be imported or is not an adapter class (no `Config`,
    `check` or `rerun_safe`), so a broken plug-in fails here, by name, rather
    than later in the middle of a campaign.
    """
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            try:
                loaded = ep.load()
            except Exception as exc:  # a plug-in whose code or dependencies broke
                raise BadInputError(
                    f"the adapter '{name}' ({ep.value}) cannot be imported: "
                    f"{type(exc).__name__}: {exc}",
                    "reinstall the package that provides it, with its dependencies",
                ) from exc
            if not isinstance(loaded, AdapterClass):
                raise LoopError(
                    f"the adapter '{name}' ({ep.value}) is not an adapter class",
                    "it needs `Config`, `check(config, spec)`, `rerun_safe` and a "
                    "`(config, spec)` constructor; see docs/how-to/write-an-adapter.md",
                )
            return loaded
    raise UnknownNameError("adapter type", name, list(adapter_names()))


def adapter_is(name: str, capability: type) -> bool:
    """Whether the adapter class *name* has *capability* (a class-level
    protocol of `loop.ports`, e.g. `PooledAdapterClass`); False for an adapter
    that cannot be loaded here (a stored campaign read without its plug-in)."""
    try:
        return isinstance(adapter_class(name), capability)
    except LoopError:
        return False


def adapter_problem(name: str) -> LoopError | None:
    """Why the adapter *name* cannot be used here (unknown, broken), or None.

    A stored campaign stays readable without its adapter (`loop inspect`,
    `export`, `report`, the dashboard); only driving it needs the adapter.
    """
    try:
        adapter_class(name)
    except LoopError as exc:
        return exc
    return None
