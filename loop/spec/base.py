"""Base class and frozen containers shared by every block of the campaign spec."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

K = TypeVar("K")
V = TypeVar("V")


class SpecModel(BaseModel):
    """Strict and frozen: unknown keys are errors and a validated spec never changes.

    Fields hold tuples and `FrozenDict`s, so nothing inside can be changed in
    place either. To change a spec, build a new one from data
    (``model_validate``); never use ``model_copy(update=...)``, which skips
    validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """Refuse true/false where a number belongs: pydantic would read
        `experiments: true` as 1 (issue 15)."""
        if isinstance(data, dict):
            fail(
                [
                    (
                        "true/false is not a number",
                        "write a number here (true and false are not numbers)",
                        str(key),
                    )
                    for key, value in data.items()
                    if key in cls.model_fields
                    and _numeric(cls.model_fields[key].annotation)
                    and _has_bool(value)
                ]
            )
        return data


def _types(annotation: Any) -> set[Any]:
    """Every type named in *annotation*, through unions, containers and Annotated."""
    found = {typing.get_origin(annotation) or annotation}
    for arg in typing.get_args(annotation):
        found |= _types(arg)
    return found


def _numeric(annotation: Any) -> bool:
    """Whether a field holds numbers and never true/false (nor anything at all)."""
    types = _types(annotation)
    return bool(types & {int, float}) and not types & {bool, Any, object}


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bool(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bool(v) for v in value.values())
    return False


class FrozenDict(dict[K, V]):
    """A dict that refuses every change after construction (and still pickles)."""

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("a validated campaign spec cannot be changed; build a new one")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __ior__(self, _: Any) -> NoReturn:  # type: ignore[misc]  # |= refuses, | copies
        self._refuse()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=repr)))


def deep_freeze(value: Any) -> Any:
    """Dicts become FrozenDicts and lists tuples, all the way down."""
    if isinstance(value, dict):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value


def _freeze_top(value: dict[Any, Any]) -> FrozenDict[Any, Any]:
    return deep_freeze(value)


#: A dict field that cannot be modified after validation.
Frozen = Annotated[K, AfterValidator(_freeze_top)]


#: Separates a message from its hint inside a validator's ValueError text.
HINT_SEP = " ⟶ hint: "
#: Separates an optional sub-path (below the field) from the message.
PATH_SEP = " ⟶ at: "


def fail(problems: Sequence[tuple[str, str] | tuple[str, str, str]]) -> None:
    """Raise one ValueError carrying several problems, if there are any.

    Each problem is (message, hint) or (message, hint, sub-path below the field,
    e.g. a component name). Pydantic keeps one error per field; `loop.spec.io`
    splits this text back into one reported problem per entry.
    """
    if problems:
        lines = []
        for p in problems:
            message, hint = p[0], p[1]
            sub = p[2] if len(p) > 2 else ""
            lines.append(f"{sub}{PATH_SEP}{message}{HINT_SEP}{hint}")
        raise ValueError("\n".join(lines))


def split_problems(text: str) -> list[tuple[str, str, str]]:
    """Inverse of `fail`: (sub-path, message, hint) triples."""
    out = []
    for line in text.split("\n"):
        sub, sep, rest = line.partition(PATH_SEP)
        if not sep:
            sub, rest = "", line
        message, _, hint = rest.partition(HINT_SEP)
        out.append((sub, message, hint))
    return out


def block_problems(exc: Any, model: Any) -> list[tuple[str, str, str]]:
    """(message, hint, key inside the block) for each error of a plugin's
    block (*exc*, the `ValidationError` of its config *model*): an unknown key
    lists the valid ones."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            hint = (
                "remove it or check its spelling; valid keys here: "
                f"{', '.join(model.model_fields)}"
            )
            out.append((f"unknown key '{err['loc'][-1]}'", hint, where))
        else:
            out.append((err["msg"], "see docs/reference/yaml.md#adapter", where))
    return out
