"""Every error loop raises on purpose.

Each error carries a *message* (what went wrong, naming the key, trial or campaign)
and a *hint* (what the user can do about it). The CLI prints both and exits 2 for
bad input or 1 for runtime failures; the API maps them to 4xx JSON bodies.
"""

from __future__ import annotations

from dataclasses import dataclass


class LoopError(Exception):
    """Root of loop's errors: a message and a hint saying how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class BadInputError(LoopError):
    """The user gave us something we cannot use (exit code 2, HTTP 4xx)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in a campaign file: where it is, what is wrong, how to fix it."""

    path: str
    message: str
    hint: str = ""
    line: int | None = None

    def render(self, source: str = "") -> str:
        where = f"{source}:{self.line}: " if self.line is not None and source else ""
        if not where and self.line is not None:
            where = f"line {self.line}: "
        text = f"{where}{self.path or '(top level)'}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class SpecError(BadInputError):
    """A campaign spec with one or more problems, all reported at once."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        label = source or "campaign spec"
        body = "\n".join(p.render(source) for p in self.problems)
        super().__init__(
            f"{label}: {count} {noun}\n{body}",
            "fix the listed keys; `loop validate FILE` checks a file without running it",
        )

    def __str__(self) -> str:
        return self.message

    def with_lines(self, lines: dict[str, int], source: str) -> SpecError:
        """Return the same problems with YAML line numbers and the file name filled in."""
        located = [
            Problem(p.path, p.message, p.hint, p.line or _nearest_line(p.path, lines))
            for p in self.problems
        ]
        return SpecError(located, source)


def _nearest_line(path: str, lines: dict[str, int]) -> int | None:
    """Line of *path*, or of its nearest ancestor present in the YAML."""
    parts = path.split(".") if path else []
    while parts:
        key = ".".join(parts)
        if key in lines:
            return lines[key]
        parts.pop()
    return lines.get("")


class InfeasibleSpaceError(BadInputError):
    """No configuration satisfies the bounds and constraints together."""


class UnknownNameError(BadInputError):
    """A name looked up in a registry (strategy, adapter, function) is not known."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        listed = ", ".join(sorted(choices)) or "(none installed)"
        super().__init__(f"unknown {kind} '{name}'", f"valid choices: {listed}")
        self.choices = choices


class CampaignNotFoundError(BadInputError):
    """No campaign of that name in the database."""


class CampaignConflictError(BadInputError):
    """A campaign of that name exists with a different spec."""


class StorageError(LoopError):
    """The database refused or failed an operation."""


class TrialStateError(LoopError):
    """A trial was not in the state a transition expected (someone else won)."""


class AdapterError(LoopError):
    """An adapter could not evaluate a trial; surfaces as a trial failure."""

    def __init__(self, message: str, hint: str = "", retryable: bool = False) -> None:
        super().__init__(message, hint)
        self.retryable = retryable


class FitError(LoopError):
    """The surrogate model could not be fitted to the data."""
