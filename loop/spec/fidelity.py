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

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationError

from loop.errors import LoopError, Problem
from loop.ports import PooledAdapterClass, PullAdapterClass, UncostedAdapterClass
from loop.records import cost_of
from loop.spec.base import Frozen, SpecModel, block_problems

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec

#: The parameter that carries a trial's fidelity (reserved with `fidelities:`).
FIDELITY = "fidelity"
#: The adapter type of a campaign with fidelities (each level has its own).
FIDELITY_ADAPTER = "fidelities"
LEVEL_NAME = Field(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
)


#: `cost: measured`: each evaluation costs what its adapter records.
MEASURED = "measured"


class Fidelity(SpecModel):
    """One way to evaluate a configuration: a name, an adapter block and its cost.

    `cost` is what one evaluation costs in the campaign's cost unit (seconds,
    core-hours, euros: the unit of `budget.cost`), recorded with each
    evaluation; or `measured`: each evaluation costs what its adapter records
    (a DFT job's CPU seconds or node hours), and `expected_cost` is the guess
    the engine and the cost budget use until evaluations at this level have
    recorded theirs. `max_evaluations` caps this level's evaluations (those in
    flight count); when the target's cap is reached the campaign ends.
    """

    name: Annotated[str, LEVEL_NAME]
    cost: float | Literal["measured"] = Field(
        description="The cost of one evaluation in the unit of budget.cost, or "
        "`measured` to take the cost each evaluation's adapter records."
    )
    expected_cost: float | None = Field(
        None,
        gt=0,
        le=1e15,
        description="With `cost: measured`: the cost of one evaluation expected "
        "before any has been measured (then the mean of the measured ones).",
    )
    max_evaluations: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="At most this many evaluations at this fidelity (in flight "
        "included); at the target, the campaign ends when they are spent.",
    )
    adapter: Frozen[dict[str, Any]]

    @property
    def measured(self) -> bool:
        return self.cost == MEASURED

    @property
    def declared_cost(self) -> float:
        """The cost one evaluation is expected to have before any is measured."""
        if isinstance(self.cost, float | int):
            return float(self.cost)
        return float(self.expected_cost or 0.0)


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


#: The adapter type whose fidelity robots claim over the API.
ROBOT = "robot"


def robot_level(spec: CampaignSpec) -> Fidelity | None:
    """The (first) fidelity measured by robots, None when the driver
    evaluates every fidelity. Robots claim only its trials; the driver
    evaluates the others."""
    return next((f for f in spec.fidelities if f.adapter.get("type") == ROBOT), None)


def charged(
    cost: float, measured: bool, level: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    """A measurement's *metadata* at fidelity *level* with the level and the
    cost the budget counts: the level's *cost*, or when it is *measured* the
    adapter's (or robot's) own `cost` (*cost*, the estimate, marked
    `cost_estimated`, when it recorded none). A cost of its own at a fixed-cost
    level is kept as `adapter_cost`."""
    out = dict(metadata)
    own = cost_of(out)
    if measured:
        if own is None:
            out["cost_estimated"] = True
        charge = own if own is not None else cost
    else:
        if "cost" in out:
            out["adapter_cost"] = out.pop("cost")
        charge = cost
    return {**out, FIDELITY: level, "cost": charge}


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
        problems += _cost_problems(i, f)
        if names.index(f.name) != i:
            problems.append(
                Problem(
                    f"fidelities.{i}.name",
                    f"fidelity '{f.name}' is listed twice",
                    "give every fidelity its own name",
                )
            )
        before = levels[i - 1] if i else None
        if (
            before is not None
            and f.declared_cost > 0
            and before.declared_cost > 0
            and f.declared_cost <= before.declared_cost
        ):
            key = "expected_cost" if f.measured else "cost"
            problems.append(
                Problem(
                    f"fidelities.{i}.{key}",
                    f"fidelity '{f.name}' costs {f.declared_cost:g}, not more than "
                    f"'{before.name}' before it ({before.declared_cost:g})",
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


def _cost_problems(i: int, f: Fidelity) -> list[Problem]:
    """A cost that is neither a positive number nor `measured` with an estimate."""
    where = f"fidelities.{i}"
    if f.measured:
        from loop.plugins import adapter_is

        kind = f.adapter.get("type")
        if isinstance(kind, str) and adapter_is(kind, UncostedAdapterClass):
            return [
                Problem(
                    f"{where}.cost",
                    f"fidelity '{f.name}' has a measured cost, and the {kind} "
                    "adapter records no cost per evaluation",
                    "give the fidelity a number as its cost, or use an adapter "
                    "that records `cost` (dft; a python function that returns it)",
                )
            ]
        if f.expected_cost is None:
            return [
                Problem(
                    f"{where}.expected_cost",
                    f"fidelity '{f.name}' has a measured cost and no estimate",
                    "add `expected_cost:` (what one evaluation is expected to cost, "
                    "in the unit of budget.cost): the engine weighs the levels by "
                    "it until evaluations have recorded their own",
                )
            ]
        return []
    problems = []
    if not 0 < float(f.cost) <= 1e15:
        problems.append(
            Problem(
                f"{where}.cost",
                f"fidelity '{f.name}' costs {float(f.cost):g}",
                "give a positive cost (in the unit of budget.cost), or `measured`",
            )
        )
    if f.expected_cost is not None:
        problems.append(
            Problem(
                f"{where}.expected_cost",
                "an expected cost is for a measured cost",
                "remove `expected_cost:`, or set `cost: measured`",
            )
        )
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
    if isinstance(plugin, PooledAdapterClass):
        return [
            Problem(
                f"{where}.type",
                f"the {kind} adapter cannot be a fidelity: a replay chooses among "
                "the rows of its table, which hold no fidelity",
                "evaluate every fidelity with an adapter that measures any "
                "configuration (simulator, dft, python, robot); to learn from a "
                "table of past measurements, use `prior_data` or `strategy.transfer`",
            )
        ]
    if isinstance(plugin, PullAdapterClass) and kind != ROBOT:
        return [
            Problem(
                f"{where}.type",
                f"the {kind} adapter cannot be a fidelity: it waits for a person",
                "use robots (`type: robot`) or adapters the driver calls "
                "(simulator, dft, python) for every fidelity",
            )
        ]
    if kind == ROBOT and robot_level(spec) is not level:
        return [
            Problem(
                f"{where}.type",
                "only one fidelity can be measured by robots",
                "robots claim the trials of one fidelity; evaluate the others with "
                "adapters the driver calls (simulator, dft, python)",
            )
        ]
    try:
        config = plugin.Config.model_validate(dict(level.adapter))
    except ValidationError as exc:
        return [
            Problem(f"{where}.{key}", message, hint)
            for message, hint, key in block_problems(exc, plugin.Config)
        ]
    if not check:
        return []
    return [
        Problem(where + p.path.removeprefix("adapter"), p.message, p.hint)
        if p.path.startswith("adapter")
        else Problem(p.path, f"fidelity '{level.name}': {p.message}", p.hint)
        for p in plugin.check(config, level_spec(spec, level))
    ]
