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
    #: The HTTP status the API answers with when this error reaches a route.
    http_status = 500
    #: A stable machine-readable name for API clients.
    code = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class BadInputError(LoopError):
    """The user gave us something we cannot use (exit code 2, HTTP 4xx)."""

    exit_code = 2
    http_status = 422
    code = "bad_input"


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

    http_status = 404
    code = "not_found"


class CampaignConflictError(BadInputError):
    """A campaign of that name exists with a different spec."""

    http_status = 409
    code = "campaign_conflict"


class StorageError(LoopError):
    """The database refused or failed an operation."""

    http_status = 503
    code = "storage"


class CampaignPausedError(LoopError):
    """The driver stopped a campaign an operator must look at (exit 1), e.g. the
    failure breaker after too many failures in a row; `loop resume` continues."""

    code = "campaign_paused"


class TrialStateError(LoopError):
    """A trial was not in the state a transition expected (someone else won)."""

    http_status = 409

    code = "conflict"

    def __init__(self, message: str, hint: str = "", code: str = "conflict") -> None:
        super().__init__(message, hint)
        self.code = code


class NotFoundError(BadInputError):
    """A trial (or other object) named in a request does not exist."""

    http_status = 404
    code = "not_found"


class AuthError(BadInputError):
    """No valid credentials: a missing, unknown, expired or revoked token."""

    http_status = 401
    code = "unauthorized"


class ForbiddenError(BadInputError):
    """Valid credentials that do not allow this (another campaign, missing scope)."""

    http_status = 403
    code = "forbidden"


class RequestError(BadInputError):
    """A malformed request, e.g. a required header is missing."""

    http_status = 400
    code = "bad_request"


class UnsupportedMediaError(RequestError):
    """A request body in a format the API does not read."""

    http_status = 415
    code = "unsupported_media_type"


class BodyTooLargeError(RequestError):
    """A request body above the API's size limit."""

    http_status = 413
    code = "body_too_large"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of a request body, located by a JSON pointer."""

    pointer: str
    message: str


class InvalidBodyError(BadInputError):
    """A request body that fails validation; every field problem is listed."""

    http_status = 422
    code = "invalid_body"

    #: What the message starts with, before the listed fields.
    lead = "invalid request body"

    def __init__(self, problems: list[FieldProblem], hint: str = "") -> None:
        self.problems = list(problems)
        body = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in self.problems)
        super().__init__(
            f"{self.lead}: {body}",
            hint or "fix the listed fields and post again; the trial is unchanged",
        )


class OutOfBoundsError(InvalidBodyError):
    """Measured values outside their objectives' `bounds` (and nothing else wrong
    with the body): a distinct code, so a robot can tell a suspicious reading
    from a malformed post."""

    code = "out_of_bounds"
    #: the body is well formed: what is wrong is the reading
    lead = "measured value outside its objective's bounds"


class AdapterError(LoopError):
    """An adapter could not evaluate a trial; surfaces as a trial failure."""

    def __init__(self, message: str, hint: str = "", retryable: bool = False) -> None:
        super().__init__(message, hint)
        self.retryable = retryable


class FitError(LoopError):
    """The surrogate model could not be fitted to the data."""
