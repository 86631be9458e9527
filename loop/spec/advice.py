"""Warnings about a valid campaign that probably does not do what its author meant.

Validation refuses what cannot work; these are the cases that run but waste
the budget, so `loop validate` and `loop run` print them and carry on.
"""

from __future__ import annotations

from loop.errors import Problem
from loop.plugins import adapter_class
from loop.ports import InputReadingAdapterClass
from loop.spec.campaign import CampaignSpec


def spec_warnings(spec: CampaignSpec) -> list[Problem]:
    """Every warning about *spec*: today, declared parameters the adapter ignores."""
    if spec.adapter_problem is not None:
        return []
    plugin = adapter_class(spec.adapter["type"])
    if not isinstance(plugin, InputReadingAdapterClass):
        return []  # robots, people and own functions may read anything
    unread = set(plugin.unread_parameters(spec.adapter_config(), spec))
    return [
        Problem(
            f"space.parameters.{i}",
            f"the {spec.adapter['type']} adapter never reads parameter '{p.name}': "
            "proposals would vary it for nothing",
            "remove it from space.parameters, or use an adapter that measures its "
            "effect",
        )
        for i, p in enumerate(spec.space.parameters)
        if p.name in unread
    ]
