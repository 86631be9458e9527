"""The warning for stored measurements the model does not take (issue 15).

A campaign database may already hold a value such as 1.7e308: stored before
`bounds` were declared (bounds added to the YAML of a running campaign), or
from a campaign without bounds. The engine keeps such values out of the model
(`loop.model.robust.held_out`) until an operator voids or amends them; the
driver says so when it starts and whenever another one appears, naming each
trial, its value and the commands that resolve it.
"""

from __future__ import annotations

from collections.abc import Sequence

from loop.records import Trial
from loop.spec import CampaignSpec
from loop.spec.values import Held, held_out


class HeldValues:
    """Tracks which held-out measurements the operator has been told about."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self._told: set[tuple[int, str]] = set()

    def news(self, trials: Sequence[Trial]) -> str | None:
        """The warning for held-out values not reported yet, or None."""
        new = [
            h
            for h in held_out(self.spec, trials)
            if (h.trial_id, h.name) not in self._told
        ]
        self._told |= {(h.trial_id, h.name) for h in new}
        return warning(self.spec.name, new) if new else None


def held_reasons(spec: CampaignSpec, trials: Sequence[Trial]) -> dict[int, str]:
    """Trial id -> why its values are held out of the model (for documents)."""
    reasons: dict[int, list[str]] = {}
    for h in held_out(spec, trials):
        reasons.setdefault(h.trial_id, []).append(h.reason)
    return {i: "; ".join(why) for i, why in reasons.items()}


def warning(campaign: str, held: Sequence[Held]) -> str:
    """What an operator reads: each value held out of the model, and what to do."""
    lines = [
        f"{len(held)} stored value{'s' if len(held) != 1 else ''} kept out of the "
        "model until an operator acts:"
    ]
    lines += [
        f"  trial {h.trial_id}: {h.name} = {h.value:.6g}: {h.reason}" for h in held
    ]
    first = held[0]
    lines += [
        "  resolve each with one of:",
        f"    loop trial void {campaign} {first.trial_id} --reason '...'   "
        "(the value is wrong: it counts nowhere)",
        f"    loop trial amend {campaign} {first.trial_id} --value "
        f"{first.name}=X --reason '...'   (the corrected value; the same value "
        "confirms it, if it is inside the bounds)",
    ]
    return "\n".join(lines)
