"""Proposal strategies by name: `botorch` (native GP), `ax` (Ax Client), `random`, `sobol`."""

from __future__ import annotations

from loop.errors import UnknownNameError
from loop.strategies.base import Candidate, History, Strategy


def get_strategy(name: str) -> Strategy:
    """The strategy registered as *name*; unknown names list the valid ones."""
    from loop.strategies.ax import AxStrategy
    from loop.strategies.botorch import BotorchStrategy
    from loop.strategies.design import RandomStrategy, SobolStrategy

    registry: dict[str, type[Strategy]] = {
        "botorch": BotorchStrategy,
        "ax": AxStrategy,
        "random": RandomStrategy,
        "sobol": SobolStrategy,
    }
    if name not in registry:
        raise UnknownNameError("strategy engine", name, list(registry))
    return registry[name]()


__all__ = ["Candidate", "History", "Strategy", "get_strategy"]
