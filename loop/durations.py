"""Lengths of time in a campaign file: `Duration`, one type for every such key.

A duration is a number of seconds (`900`), a number with a unit `s`, `m`, `h`
or `d` (`'90s'`, `'15m'`, `'1.5h'`, `'1d'`), or anything pydantic reads as a
`timedelta` (ISO 8601 `'PT15M'`, `'01:30:00'`). Pydantic does the parsing; the
unit form, which it does not know, is turned into a timedelta first. The field
holds float seconds (to the microsecond), so a campaign stores `10m` as `600.0`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

#: What the error message offers instead of a value that is not a duration.
EXAMPLES = "900 (seconds), '90s', '15m', '2h', '1d' or 'PT15M'"

_WITH_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TIMEDELTA = TypeAdapter(timedelta)


def seconds(value: Any) -> float:
    """*value* (a duration as the YAML gives it) in seconds.

    Raises a pydantic error naming the value and giving examples, so a field
    of type `Duration` reports e.g. `adapter.claim_ttl: 'soon' is not a duration`.
    `true` and `false` are refused (pydantic would read them as 1 and 0 s).
    """
    if isinstance(value, str) and (match := _WITH_UNIT.fullmatch(value.strip())):
        number, unit = match.groups()
        value = timedelta(**{_UNITS[unit]: float(number)})
    if not isinstance(value, bool):
        try:
            return _TIMEDELTA.validate_python(value).total_seconds()
        except ValidationError:
            pass
    raise PydanticCustomError(
        "duration",
        "{value} is not a duration; write e.g. {examples}",
        {"value": repr(value), "examples": EXAMPLES},
    )


#: A length of time in seconds, given as a number or text (see the module).
Duration = Annotated[float, BeforeValidator(seconds)]


def parse_duration(text: str, option: str) -> timedelta:
    """A positive duration given on the command line (`--expires 30d`), or a
    BadInputError naming *option* (exit 2)."""
    from loop.errors import BadInputError

    try:
        value = seconds(text)
    except PydanticCustomError:
        value = 0.0
    if value <= 0:
        raise BadInputError(
            f"{option} {text!r} is not a positive duration", f"write e.g. {EXAMPLES}"
        )
    return timedelta(seconds=value)
