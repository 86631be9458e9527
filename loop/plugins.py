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

from loop.errors import LoopError, UnknownNameError
from loop.ports import Adapter, AdapterClass

GROUP = "loop.adapters"


@cache
def adapter_names() -> tuple[str, ...]:
    """Names of every installed adapter."""
    return tuple(sorted(ep.name for ep in entry_points(group=GROUP)))


@cache
def adapter_class(name: str) -> AdapterClass[Any, Adapter]:
    """The adapter class registered under *name*; unknown names list the valid ones.

    Refuses what is not an adapter class (no `Config`, `check` or
    `rerun_safe`), so a broken plug-in fails here, by name, rather than later
    in the middle of a campaign.
    """
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            loaded = ep.load()
            if not isinstance(loaded, AdapterClass):
                raise LoopError(
                    f"the adapter '{name}' ({ep.value}) is not an adapter class",
                    "it needs `Config`, `check(config, spec)`, `rerun_safe` and a "
                    "`(config, spec)` constructor; see docs/how-to/write-an-adapter.md",
                )
            return loaded
    raise UnknownNameError("adapter type", name, list(adapter_names()))
