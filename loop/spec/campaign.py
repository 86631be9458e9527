"""The campaign spec: the validated, frozen form of a campaign YAML file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from loop.errors import LoopError, Problem, SpecError
from loop.plugins import adapter_class, adapter_is, adapter_problem
from loop.ports import PooledAdapterClass, PullAdapterClass, UncostedAdapterClass
from loop.spec.base import (
    Frozen,
    FrozenDict,
    SpecModel,
    block_problems,
    deep_freeze,
    fail,
)
from loop.spec.composition import CompositionSpec
from loop.spec.constraints import LinearConstraint
from loop.spec.executor import Executor
from loop.spec.feasibility import linear_problems
from loop.spec.fidelity import (
    Fidelity,
    fidelity_problems,
    with_fidelity_parameter,
)
from loop.spec.objectives import Objective
from loop.spec.parameters import Parameter
from loop.spec.prior import PriorData, prior_problems
from loop.spec.strategy import ANNEALED_UCB_MAX_BUDGET, Acquisition, Budget, Strategy
from loop.spec.transfer import transfer_problems

#: Validation context key: False marks a stored spec, read back: the adapter's
#: own `check` is skipped, and an adapter that is not installed (or no longer
#: imports) is tolerated, its block kept as stored (see `validate`).
CHECK_ADAPTER = "check_adapter"
#: Longest campaign description, in characters (longer notes belong in a file).
DESCRIPTION_LIMIT = 10_000
CAMPAIGN_NAME = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")


class Space(SpecModel):
    """What can be varied: one composition block and any process parameters."""

    composition: CompositionSpec | None = None
    parameters: tuple[Parameter, ...] = ()

    @model_validator(mode="after")
    def _something_to_vary(self) -> Space:
        if self.composition is None and not self.parameters:
            fail(
                [
                    (
                        "the space has neither a composition nor parameters",
                        "add `composition:` (components that share a total) and/or "
                        "`parameters:`",
                    )
                ]
            )
        return self

    @property
    def components(self) -> tuple[str, ...]:
        """Composition component names (empty for a process-only campaign)."""
        return self.composition.components if self.composition else ()


class CampaignSpec(SpecModel):
    """A whole campaign: space, constraints, objectives, strategy, budget, adapter."""

    schema_version: Literal[1]
    name: Annotated[str, CAMPAIGN_NAME]
    description: str = Field("", max_length=DESCRIPTION_LIMIT)
    space: Space
    constraints: tuple[LinearConstraint, ...] = ()
    objectives: tuple[Objective, ...]
    strategy: Strategy = Field(default_factory=Strategy)
    budget: Budget
    adapter: Frozen[dict[str, Any]]
    executor: Executor = Field(default_factory=Executor)
    #: Past measurements imported when the campaign is created or continued.
    prior_data: tuple[PriorData, ...] = ()
    #: Ways to evaluate a configuration, cheapest first; the last is the target
    #: (`loop.spec.fidelity`). They bring the `fidelity` parameter and adapter.
    fidelities: tuple[Fidelity, ...] = ()
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="before")
    @classmethod
    def _add_fidelity(cls, data: Any) -> Any:
        return with_fidelity_parameter(data)

    @field_validator("objectives")
    @classmethod
    def _at_least_one(cls, objectives: tuple[Objective, ...]) -> tuple[Objective, ...]:
        if not objectives:
            fail(
                [
                    (
                        "no objective is declared",
                        "add e.g. `- {name: y, direction: maximize}`",
                    )
                ]
            )
        if not any(o.role == "objective" for o in objectives):
            fail(
                [
                    (
                        "only constraints are declared: nothing to optimise",
                        "give at least one objective `role: objective` (the default)",
                    )
                ]
            )
        return objectives

    @field_validator("adapter")
    @classmethod
    def _validate_adapter(
        cls, block: dict[str, Any], info: ValidationInfo
    ) -> FrozenDict[str, Any]:
        kind = block.get("type")
        if not isinstance(kind, str):
            fail([("the adapter block needs a `type`", "e.g. `type: simulator`")])
        try:
            plugin = adapter_class(kind)
        except LoopError as exc:
            if not _checks_adapter(info):
                # a stored campaign reads without its adapter; driving it refuses
                return deep_freeze(block)
            fail([(exc.message, exc.hint, "type")])
        try:
            config = plugin.Config.model_validate(block)
        except ValidationError as exc:
            fail(block_problems(exc, plugin.Config))
        return deep_freeze(config.model_dump(mode="json"))

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> CampaignSpec:
        problems = _naming_problems(self) + linear_problems(self)
        problems += _strategy_problems(self) + _feature_problems(self)
        problems += _include_problems(self) + _cost_problems(self)
        problems += fidelity_problems(self, _checks_adapter(info))
        if self.adapter_problem is None:
            problems += _executor_problems(self)
        # a stored campaign was checked against its adapter when it was created;
        # reading it back (e.g. for `loop inspect`) must not need the adapter's
        # resources, such as a dataset file
        if not problems and _checks_adapter(info):
            problems += adapter_class(self.adapter["type"]).check(
                self.adapter_config(), self
            )
        # a stored campaign reads without its prior files, as without its adapter
        if not problems:
            problems += prior_problems(self, check_files=_checks_adapter(info))
        if not problems:
            problems += transfer_problems(self, check_files=_checks_adapter(info))
        if problems:
            raise SpecError(problems)
        return self

    def adapter_config(self) -> Any:
        """The adapter block as the adapter's own validated config object."""
        return adapter_class(self.adapter["type"]).Config.model_validate(self.adapter)

    @property
    def adapter_problem(self) -> LoopError | None:
        """Why this campaign's adapter cannot be used here, or None.

        Only a stored campaign read back can have one (a campaign made with a
        plug-in since uninstalled): it is inspected, exported and reported
        from its stored adapter block, but not driven.
        """
        return adapter_problem(self.adapter["type"])

    @property
    def acquisition(self) -> Acquisition:
        """The acquisition function in use: the named one, else by objectives,
        engine and budget (`Acquisition`'s docstring; docs/strategies.md)."""
        if self.strategy.acquisition:
            return self.strategy.acquisition
        if (
            len(self.goals) == 1
            and self.strategy.engine == "botorch"
            and self.budget.experiments <= ANNEALED_UCB_MAX_BUDGET
            and self.budget.cost is None
            and not self.outcome_constraints
            and not self.fidelities
        ):
            return Acquisition.qUCB
        return Acquisition.default_for(len(self.goals))

    @property
    def goals(self) -> tuple[Objective, ...]:
        """The objectives to optimise (role: objective), in file order."""
        return tuple(o for o in self.objectives if o.role == "objective")

    @property
    def outcome_constraints(self) -> tuple[Objective, ...]:
        """Measured quantities that only have to meet their threshold."""
        return tuple(o for o in self.objectives if o.role == "constraint")

    def objective(self, name: str) -> Objective:
        return next(o for o in self.objectives if o.name == name)

    @property
    def target_fidelity(self) -> str | None:
        """The fidelity whose values count (the last listed), None without any."""
        return self.fidelities[-1].name if self.fidelities else None


def _checks_adapter(info: ValidationInfo) -> bool:
    """False when a stored spec is read back (`CHECK_ADAPTER`)."""
    return bool((info.context or {}).get(CHECK_ADAPTER, True))


def _naming_problems(spec: CampaignSpec) -> list[Problem]:
    problems = []
    components = set(spec.space.components)
    seen: set[str] = set()
    for i, p in enumerate(spec.space.parameters):
        if p.name in seen or p.name in components:
            problems.append(
                Problem(
                    f"space.parameters.{i}.name",
                    f"name '{p.name}' is already used by a component or parameter",
                    "give every component and parameter its own name",
                )
            )
        seen.add(p.name)
    names = [o.name for o in spec.objectives]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(
                Problem(
                    f"objectives.{i}.name",
                    f"objective '{name}' is listed twice",
                    "list it once",
                )
            )
    return problems


def _feature_problems(spec: CampaignSpec) -> list[Problem]:
    from loop.spec.descriptors import descriptor_problems

    comp = spec.space.composition
    wanted = "element_descriptors" in spec.strategy.surrogate.features
    if comp is None:
        if not wanted:
            return []
        return [
            Problem(
                "strategy.surrogate.features",
                "element_descriptors needs a composition",
                "remove element_descriptors, or add `space.composition`",
            )
        ]
    if not wanted and comp.descriptors is None:
        return []
    return descriptor_problems(comp.kind, comp.components, comp.descriptors, wanted)


def _strategy_problems(spec: CampaignSpec) -> list[Problem]:
    acq, n = spec.strategy.acquisition, len(spec.goals)
    if acq is not None and not acq.weighs_constraints and spec.outcome_constraints:
        names = ", ".join(o.name for o in spec.outcome_constraints)
        return [
            Problem(
                "strategy.acquisition",
                f"{acq} cannot weigh the outcome constraints ({names})",
                "use qLogNEI, or leave `acquisition` out",
            )
        ]
    if acq is None or acq.several_goals == (n > 1):
        return []
    fits = Acquisition.default_for(n)
    if n > 1:
        why = f"{acq} optimises one objective but {n} are declared"
        hint = f"use {fits} for several objectives, or leave `acquisition` out"
    else:
        why = f"{acq} needs at least two objectives"
        hint = f"use {fits} for one objective, or leave `acquisition` out"
    return [Problem("strategy.acquisition", why, hint)]


def _cost_problems(spec: CampaignSpec) -> list[Problem]:
    kind = spec.adapter["type"]
    if spec.budget.cost is None or not adapter_is(kind, UncostedAdapterClass):
        return []
    return [
        Problem(
            "budget.cost",
            f"the {kind} adapter records no cost per evaluation",
            "limit the campaign with budget.experiments, or use an adapter that "
            "records `cost` (dft; a robot or python function that sends it)",
        )
    ]


def _include_problems(spec: CampaignSpec) -> list[Problem]:
    """Each `strategy.initial_design.include` point must be a configuration of
    the space (as `loop tell` reads one), and the design large enough to hold
    them; a replay chooses among its dataset's rows instead."""
    design = spec.strategy.initial_design
    key = "strategy.initial_design"
    if not design.include:
        return []
    kind = spec.adapter["type"]
    if adapter_is(kind, PooledAdapterClass):
        return [
            Problem(
                f"{key}.include",
                f"the {kind} adapter replays a table: it proposes only its rows",
                "remove `include`: the replay's seeded initial rows stand for it",
            )
        ]
    from loop.spec.points import configuration

    problems = []
    for i, point in enumerate(design.include):
        try:
            configuration(spec, point.composition, dict(point.parameters))
        except LoopError as exc:
            problems.append(Problem(f"{key}.include.{i}", exc.message, exc.hint))
    if design.size is not None and design.size < len(design.include):
        problems.append(
            Problem(
                f"{key}.size",
                f"{design.size} is fewer than the {len(design.include)} points "
                "of `include`",
                "raise `size` or leave it out",
            )
        )
    return problems


def _executor_problems(spec: CampaignSpec) -> list[Problem]:
    """Robots pull their own work; only push adapters that may re-run an
    evaluation fan out to Dask."""
    if spec.executor.type == "local":
        return []
    kind = spec.adapter["type"]
    plugin = adapter_class(kind)
    if isinstance(plugin, PullAdapterClass):
        return [
            Problem(
                "executor.type",
                f"the {kind} adapter cannot run its evaluations on "
                f"{spec.executor.type}: robots pull their own work",
                "remove `executor`",
            )
        ]
    if spec.executor.type == "dask" and not plugin.rerun_safe:
        return [
            Problem(
                "executor.type",
                f"the {kind} adapter cannot run its evaluations on Dask",
                "remove `executor` or use `type: threads` (only adapters that may "
                "re-run an evaluation fan out to Dask)",
            )
        ]
    return []
