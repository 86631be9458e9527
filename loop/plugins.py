"""Adapters found by name through the `loop.adapters` entry-point group.

loop never imports `adapters` statically: the built-in adapters are registered in
pyproject.toml exactly as a third-party package would register its own.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from loop.errors import UnknownNameError

GROUP = "loop.adapters"


@cache
def adapter_names() -> tuple[str, ...]:
    """Names of every installed adapter."""
    return tuple(sorted(ep.name for ep in entry_points(group=GROUP)))


@cache
def adapter_class(name: str) -> Any:
    """The adapter class registered under *name*; unknown names list the valid ones."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    raise UnknownNameError("adapter type", name, list(adapter_names()))
