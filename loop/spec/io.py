"""Campaign YAML in and out: parse with line numbers, validate, explain every problem.

`load_path` reads a file, `loads` a string; both return a frozen `CampaignSpec` or
raise `SpecError` listing every problem with its YAML path, line and a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import BaseModel, ValidationError

from loop.errors import Problem, SpecError
from loop.spec.base import split_problems
from loop.spec.campaign import CHECK_ADAPTER, CampaignSpec

_HINTS = {
    "missing": "add this key",
    "literal_error": "use one of the values listed",
    "union_tag_invalid": "use one of the types listed",
    "union_tag_not_found": "add a `type` key",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "string_type": "write a text value",
    "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of keys to values",
    "model_type": "write a mapping of keys to values here, e.g. `budget: {experiments: 20}`",
    "model_attributes_type": "write a mapping of keys to values here",
    "tuple_type": "write a pair, e.g. [0.0, 1.0]",
    "too_short": "add the missing items",
    "too_long": "remove the extra items",
    "string_pattern_mismatch": "use lower-case letters, digits, '-', '_' or '.'",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "string_too_long": "shorten it (longer notes belong in a file beside the campaign)",
}


#: Deepest nesting of lists and mappings a campaign file may have (aliases
#: included); real campaigns need fewer than ten levels.
MAX_DEPTH = 64
#: Most nodes that aliases (`*name`) may add to a file once expanded: a few
#: reused blocks are fine, a "billion laughs" file is refused before it grows.
MAX_ALIAS_NODES = 10_000


class _TooComplexError(yaml.MarkedYAMLError):
    """A YAML file nested too deep or with aliases that expand too far."""


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader (duplicate keys are found on the node tree, with their paths).

    Bounded: nesting deeper than `MAX_DEPTH` and aliases expanding to more than
    `MAX_ALIAS_NODES` nodes (or referring to themselves) are refused while the
    node tree is composed, before anything walks or constructs it, so a small
    hostile file can take neither the memory nor the stack.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._open: set[str | None] = set()  # anchors of blocks being composed
        # node id -> (nodes, depth) once expanded; None while being measured
        self._sizes: dict[int, tuple[int, int] | None] = {}

    # the scanner would look ahead through every unclosed bracket (quadratic
    # time) before the composer saw the first one: it stops at the limit too
    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            self._too_deep(self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            self._too_deep(self.get_mark())
        return bool(super().add_indent(column))

    @staticmethod
    def _too_deep(mark: Any) -> NoReturn:
        raise _TooComplexError(
            problem=f"lists and mappings nested more than {MAX_DEPTH} deep",
            problem_mark=mark,
        )

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                self._too_deep(mark)
            event = self.peek_event()
            alias = isinstance(event, yaml.AliasEvent)
            if alias and event.anchor in self._open:
                raise _TooComplexError(
                    problem=f"the alias *{event.anchor} refers to the block that "
                    "holds it",
                    problem_mark=mark,
                )
            anchor = None if alias else event.anchor
            if anchor is not None:
                self._open.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._open.discard(anchor)
            if alias and node is not None:
                nodes, depth = self._measure(node, mark)
                self._expanded += nodes
                if self._expanded > MAX_ALIAS_NODES:
                    raise _TooComplexError(
                        problem=f"aliases (*name) expand the file by more than "
                        f"{MAX_ALIAS_NODES} values",
                        problem_mark=mark,
                    )
                if self._depth + depth - 1 > MAX_DEPTH:
                    raise _TooComplexError(
                        problem=f"an alias (*name) nests lists and mappings more "
                        f"than {MAX_DEPTH} deep",
                        problem_mark=mark,
                    )
            return node
        finally:
            self._depth -= 1

    def _measure(self, node: yaml.Node, mark: Any) -> tuple[int, int]:
        """(values, depth) of *node* with every alias inside it expanded."""
        key = id(node)
        if key in self._sizes:
            known = self._sizes[key]
            assert known is not None  # `_open` refuses an alias inside its anchor
            return known
        self._sizes[key] = None
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        nodes, depth = 1, 1
        for child in children:
            n, d = self._measure(child, mark)
            nodes += n
            depth = max(depth, d + 1)
            if nodes > MAX_ALIAS_NODES or depth > MAX_DEPTH:
                break  # too big already: the caller refuses it
        self._sizes[key] = (nodes, depth)
        return nodes, depth


#: A campaign file is a few kilobytes; one larger than this is refused unread,
#: before the YAML parser spends minutes on it.
MAX_FILE_BYTES = 1_000_000


def _too_big(size: int, source: str) -> SpecError:
    return SpecError(
        [
            Problem(
                "",
                f"the campaign file is {size:,} bytes, above the {MAX_FILE_BYTES:,} "
                "a campaign may have",
                "keep data out of the YAML: measurements go in a CSV "
                "(`loop import`), long notes in a separate document",
            )
        ],
        source,
    )


def loads(text: str, source: str = "<string>") -> CampaignSpec:
    """Parse and validate campaign YAML; raise SpecError with every problem."""
    if len(text) > MAX_FILE_BYTES:
        raise _too_big(len(text.encode("utf-8", errors="replace")), source)
    data, lines = _parse(text, source)
    return validate(data, source, lines)


def load_path(path: str | Path) -> CampaignSpec:
    """Read, parse and validate a campaign YAML file."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise _too_big(path.stat().st_size, str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            [Problem("", f"file not found: {path}", "check the path")], str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            [Problem("", f"cannot read {path}: {exc}", "")], str(path)
        ) from None
    return loads(text, str(path))


def validate(
    data: Any,
    source: str = "<data>",
    lines: dict[str, int] | None = None,
    *,
    check_adapter: bool = True,
) -> CampaignSpec:
    """Validate already-parsed data (a dict) into a CampaignSpec.

    With `check_adapter=False` the adapter block is validated as a block but the
    adapter's own cross-check (which may read a data file or reach an instrument)
    is skipped: for specs that were checked when they were stored. An adapter
    that is not installed (or fails to import) is then tolerated: its block is
    kept as stored and `CampaignSpec.adapter_problem` says why it is unusable.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError(
            [
                Problem(
                    "",
                    "a campaign file must be a YAML mapping of keys",
                    "start with `schema_version: 1`",
                )
            ],
            source,
        )
    try:
        return CampaignSpec.model_validate(data, context={CHECK_ADAPTER: check_adapter})
    except ValidationError as exc:
        raise SpecError(_problems(exc), source).with_lines(lines, source) from None
    except SpecError as exc:
        raise exc.with_lines(lines, source) from None


def dumps(spec: CampaignSpec) -> str:
    """The canonical YAML form of a spec (every default and bound spelled out)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def _parse(text: str, source: str) -> tuple[Any, dict[str, int]]:
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _TooComplexError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = Problem(
            "",
            f"YAML too complex: {exc.problem}",
            "write the campaign out plainly: no deep nesting, and anchors (&name) "
            "with aliases (*name) only for a few small reused blocks",
            line,
        )
        raise SpecError([problem], source) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(exc)], source) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem("", f"YAML error: {exc}", "")], source) from None
    lines: dict[str, int] = {}
    duplicates: list[Problem] = []
    if node is not None:
        _collect_lines(node, "", lines, duplicates)
    if duplicates:
        raise SpecError(duplicates, source)
    return data, lines


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    """A YAML syntax error placed where the user must look."""
    what = exc.problem or str(exc)
    mark = exc.problem_mark or exc.context_mark
    if "end of stream" in what and exc.context_mark is not None:
        # an unclosed quote or bracket: the end of the file is not where to look
        mark = exc.context_mark
        what = f"{exc.context} was never closed ({what})"
    line = mark.line + 1 if mark else None
    col = f", column {mark.column + 1}" if mark else ""
    if "'\\t'" in what or "\t" in what:
        hint = "YAML indents with spaces, never tabs: replace the tab with spaces"
    else:
        hint = "check indentation, colons, brackets and quotes around this line"
    return Problem("", f"YAML syntax error{col}: {what}", hint, line)


def _collect_lines(
    node: yaml.Node, path: str, lines: dict[str, int], duplicates: list[Problem]
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{path}.{key_node.value}" if path else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines and isinstance(key_node, yaml.ScalarNode):
                duplicates.append(
                    Problem(
                        key,
                        f"duplicate key '{key_node.value}' (first at line {lines[key]})",
                        "keep only one of them",
                        line,
                    )
                )
                continue
            _collect_lines(value_node, key, lines, duplicates)
            lines[key] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(
                item, f"{path}.{index}" if path else str(index), lines, duplicates
            )


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        path = _yaml_path(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            hint = f"remove it or check its spelling; valid keys here: {', '.join(allowed)}"
            problems.append(Problem(path, f"unknown key '{err['loc'][-1]}'", hint))
        elif err["type"] == "value_error":
            for sub, message, hint in split_problems(
                err["msg"].removeprefix("Value error, ")
            ):
                where = f"{path}.{sub}" if sub and path else sub or path
                problems.append(Problem(where, message, hint))
        else:
            problems.append(Problem(path, err["msg"], _HINTS.get(err["type"], "")))
    return problems


_UNION_TAGS = {"continuous", "integer", "categorical"}


def _yaml_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as a YAML path (dropping union tags)."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _UNION_TAGS)]
    return ".".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = CampaignSpec
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if isinstance(part, str) and part in _UNION_TAGS:
            from loop.spec import parameters

            model = {
                "continuous": parameters.ContinuousParameter,
                "integer": parameters.IntegerParameter,
                "categorical": parameters.CategoricalParameter,
            }[part]
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        model = _model_of(field.annotation) if field else None
    if model is None or not hasattr(model, "model_fields"):
        return []
    return list(model.model_fields)


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
