"""Base class shared by every block of the campaign spec."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """Strict and frozen: unknown keys are errors and a validated spec never changes.

    To change a spec, build a new one from data (``model_validate``); never use
    ``model_copy(update=...)``, which skips validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


#: Separates a message from its hint inside a validator's ValueError text.
HINT_SEP = " ⟶ hint: "


def fail(problems: list[tuple[str, str]]) -> None:
    """Raise one ValueError carrying several (message, hint) pairs.

    Pydantic keeps one error per field; `loop.spec.io` splits this text back into
    one reported problem per pair, each with its hint.
    """
    if problems:
        raise ValueError("\n".join(f"{m}{HINT_SEP}{h}" if h else m for m, h in problems))


def split_problems(text: str) -> list[tuple[str, str]]:
    """Inverse of `fail`: the (message, hint) pairs inside a validator's message."""
    pairs = []
    for line in text.split("\n"):
        message, _, hint = line.partition(HINT_SEP)
        pairs.append((message, hint))
    return pairs
