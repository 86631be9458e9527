"""Fidelities: several ways to evaluate the same configuration, cheapest first.

A campaign with `fidelities:` evaluates a configuration with one of several
adapters (EMT, CHGNet, DFT, ...), each with a `cost` in the campaign's cost
unit; the last is the target, the one whose values count. The spec gives the
engine the level of each trial as a categorical process parameter named
`fidelity` (added to `space.parameters` when the file is read, so every
reader, the encoder, storage, export and reports, sees it as one more
parameter), and its adapter is the `fidelities` adapter, which hands each
trial to its level's own adapter without that parameter
(`adapters/fidelity`).

Why a categorical parameter and not a new field of a trial: the level is an
input of the model like any other (its one-hot columns let the GP learn how
the levels differ and how far they agree), it is stored, exported and shown
with every trial without a schema change, and a campaign read back knows its
levels from its own spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, ValidationError

from loop.errors import LoopError, Problem
from loop.spec.base import Frozen, SpecModel

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec

#: The parameter that carries a trial's fidelity (reserved with `fidelities:`).
FIDELITY = "fidelity"
#: The adapter type of a campaign with fidelities (each level has its own).
FIDELITY_ADAPTER = "fidelities"
LEVEL_NAME = Field(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
)


class Fidelity(SpecModel):
    """One way to evaluate a configuration: a name, an adapter block and its cost.

    `cost` is what one evaluation costs in the campaign's cost unit (seconds,
    core-hours, euros: the unit of `budget.cost`); it is recorded with each
    evaluation unless the adapter records its own `cost`.
    """

    name: Annotated[str, LEVEL_NAME]
    cost: float = Field(gt=0)
    adapter: Frozen[dict[str, Any]]


def fidelity_parameter(levels: list[str]) -> dict[str, Any]:
    """The categorical parameter block that carries the fidelity of a trial."""
    return {"type": "categorical", "name": FIDELITY, "values": list(levels)}


def with_fidelity_parameter(data: Any) -> Any:
    """The raw campaign document with the `fidelity` parameter and adapter added
    when it declares `fidelities:` (a stored spec already has them: kept)."""
    if not isinstance(data, dict) or not data.get("fidelities"):
        return data
    levels = data["fidelities"]
    if not isinstance(levels, list | tuple) or not all(
        isinstance(f, dict) for f in levels
    ):
        return data  # the field's own validation says what is wrong
    data = {"adapter": {"type": FIDELITY_ADAPTER}, **data}
    names = [str(f.get("name")) for f in levels]
    space = data.get("space")
    if (
        not isinstance(space, dict)
        or len(set(names)) < 2
        or len(set(names)) < len(names)
    ):
        return data  # `fidelity_problems` says why
    parameters = list(space.get("parameters") or ())
    declared = [
        p for p in parameters if isinstance(p, dict) and p.get("name") == FIDELITY
    ]
    if not declared:  # a stored spec has it already; one the file declares is refused
        parameters.append(fidelity_parameter(names))
    return {**data, "space": {**space, "parameters": parameters}}


def level_spec(spec: CampaignSpec, level: Fidelity) -> CampaignSpec:
    """The campaign as *level*'s adapter sees it: its own adapter block, no
    fidelities and no `fidelity` parameter (not validated again)."""
    space = spec.space.model_copy(
        update={
            "parameters": tuple(p for p in spec.space.parameters if p.name != FIDELITY)
        }
    )
    return spec.model_copy(
        update={"space": space, "adapter": level.adapter, "fidelities": ()}
    )


def fidelity_problems(spec: CampaignSpec, check_adapters: bool) -> list[Problem]:
    """Why the `fidelities:` block cannot serve this campaign (empty if it can)."""
    from loop.plugins import adapter_class

    levels = spec.fidelities
    problems = _reserved(spec)
    if not levels:
        return problems
    if len(levels) < 2:
        problems.append(
            Problem(
                "fidelities",
                "one fidelity is not a choice",
                "list at least two, cheapest first (the last is the target), or "
                "remove `fidelities:` and give the campaign an `adapter:`",
            )
        )
    names = [f.name for f in levels]
    for i, f in enumerate(levels):
        if names.index(f.name) != i:
            problems.append(
                Problem(
                    f"fidelities.{i}.name",
                    f"fidelity '{f.name}' is listed twice",
                    "give every fidelity its own name",
                )
            )
        if i and f.cost <= levels[i - 1].cost:
            problems.append(
                Problem(
                    f"fidelities.{i}.cost",
                    f"fidelity '{f.name}' costs {f.cost:g}, not more than "
                    f"'{levels[i - 1].name}' before it ({levels[i - 1].cost:g})",
                    "list fidelities cheapest first, each costing more than the one "
                    "before; the last, the most expensive, is the target",
                )
            )
    if spec.adapter.get("type") != FIDELITY_ADAPTER:
        problems.append(
            Problem(
                "adapter",
                "a campaign with fidelities has an adapter per fidelity, not one "
                "for the whole campaign",
                "remove the top-level `adapter:` block; give each fidelity its own "
                "`adapter:`",
            )
        )
    if spec.strategy.engine != "botorch":
        problems.append(
            Problem(
                "strategy.engine",
                f"fidelities need the botorch engine, not '{spec.strategy.engine}'",
                "remove `engine:` (botorch is the default) or remove `fidelities:`",
            )
        )
    if problems:
        return problems
    for i, f in enumerate(levels):
        problems += _level_problems(spec, i, f, check_adapters, adapter_class)
    return problems


def _reserved(spec: CampaignSpec) -> list[Problem]:
    """A `fidelity` parameter other than the one `fidelities:` brings."""
    wanted = fidelity_parameter([f.name for f in spec.fidelities])
    return [
        Problem(
            f"space.parameters.{i}.name",
            f"'{FIDELITY}' is the parameter loop adds for `fidelities:`",
            "rename the parameter; a trial's fidelity comes from `fidelities:`",
        )
        for i, p in enumerate(spec.space.parameters)
        if p.name == FIDELITY
        and p.model_dump(mode="json", exclude_defaults=True) != wanted
    ]


def _level_problems(
    spec: CampaignSpec, i: int, level: Fidelity, check: bool, adapter_class: Any
) -> list[Problem]:
    """The level's adapter block validated by its own adapter (keys under
    `fidelities.N.adapter`)."""
    where = f"fidelities.{i}.adapter"
    kind = level.adapter.get("type")
    if not isinstance(kind, str):
        return [
            Problem(where, "the adapter block needs a `type`", "e.g. `type: simulator`")
        ]
    if kind == FIDELITY_ADAPTER:
        return [
            Problem(
                f"{where}.type",
                "a fidelity cannot itself have fidelities",
                "give the fidelity an adapter that evaluates (simulator, dft, ...)",
            )
        ]
    try:
        plugin = adapter_class(kind)
    except LoopError as exc:
        if not check:
            return []
        return [Problem(f"{where}.type", exc.message, exc.hint)]
    if getattr(plugin, "pull", False):
        return [
            Problem(
                f"{where}.type",
                f"the {kind} adapter is pulled by robots; fidelities are evaluated "
                "by the driver for now",
                "use push adapters for every fidelity (simulator, dft, dataset, "
                "python); a robot campaign stays a campaign of its own",
            )
        ]
    try:
        config = plugin.Config.model_validate(dict(level.adapter))
    except ValidationError as exc:
        return [
            Problem(
                ".".join([where, *(str(p) for p in err["loc"])]),
                err["msg"],
                "see docs/reference/yaml.md#adapter",
            )
            for err in exc.errors()
        ]
    if not check:
        return []
    return [
        Problem(where + p.path.removeprefix("adapter"), p.message, p.hint)
        if p.path.startswith("adapter")
        else p
        for p in plugin.check(config, level_spec(spec, level))
    ]
