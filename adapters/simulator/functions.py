"""The registry of simulator functions and the interface each one implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from loop.errors import Problem, UnknownNameError

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class SimFunction(Protocol):
    """A deterministic function of a composition (fractions summing to 1) and parameters."""

    #: Output name -> unit; a campaign's objectives must be among these outputs.
    outputs: dict[str, str]
    #: The campaign parameters the function reads; None when it reads them all.
    parameters_read: frozenset[str] | None

    def __call__(
        self, fractions: dict[str, float], parameters: dict[str, Any]
    ) -> dict[str, float]: ...


#: Builds a function for a campaign, or returns the problems that prevent it.
Factory = Callable[["CampaignSpec", dict[str, Any]], "SimFunction | list[Problem]"]

_REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"simulator function '{name}' is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorate


def function_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def build(
    name: str, spec: CampaignSpec, options: dict[str, Any]
) -> SimFunction | list[Problem]:
    """The named function set up for *spec*; unknown names list the valid ones."""
    _load_builtins()
    if name not in _REGISTRY:
        raise UnknownNameError("simulator function", name, list(_REGISTRY))
    return _REGISTRY[name](spec, options)


def _load_builtins() -> None:
    from adapters.simulator import analytic, emt  # noqa: F401  (registers on import)
