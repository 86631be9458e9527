"""Proposal strategies by name: `botorch` (native GP), `ax` (Ax Client), `baybe`
(BayBE Campaign, an optional peer), `random`, `sobol`."""

from __future__ import annotations

from loop.errors import UnknownNameError
from loop.spec import CampaignSpec
from loop.strategies.base import Candidate, History, Strategy


def get_strategy(name: str) -> Strategy:
    """The strategy registered as *name*; unknown names list the valid ones."""
    from loop.strategies.ax import AxStrategy
    from loop.strategies.baybe import BaybeStrategy
    from loop.strategies.botorch import BotorchStrategy
    from loop.strategies.design import RandomStrategy, SobolStrategy

    registry: dict[str, type[Strategy]] = {
        "botorch": BotorchStrategy,
        "ax": AxStrategy,
        "baybe": BaybeStrategy,
        "random": RandomStrategy,
        "sobol": SobolStrategy,
    }
    if name not in registry:
        raise UnknownNameError("strategy engine", name, list(registry))
    return registry[name]()


def check_strategy(engine: str, spec: CampaignSpec, pooled: bool) -> None:
    """Fail before a run starts when *engine* cannot run *spec* here.

    Only the optional peers can fail: `baybe` when BayBE is not installed (a
    LoopError naming the extra to install) or when the campaign uses something
    BayBE cannot express. *pooled* is True for a dataset replay.
    """
    if engine == "baybe":
        from loop.strategies.baybe import check

        check(spec, pooled)


__all__ = ["Candidate", "History", "Strategy", "check_strategy", "get_strategy"]
