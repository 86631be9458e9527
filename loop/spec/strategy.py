"""How proposals are made: the strategy, its initial design, model and acquisition."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from loop.spec.base import SpecModel, fail
from loop.spec.transfer import Transfer

STRATEGY_ENGINES = ("botorch", "ax", "baybe", "random", "sobol")


# The one list of acquisition names: the YAML's enum (and its JSON schema),
# validation, the builders of `loop.acquisition` and the Ax strategy's mapping
# all read it. It lives in the spec so that validating never imports torch.
class Acquisition(StrEnum):
    """The acquisition function: qUCB (an upper confidence bound whose
    exploration falls to nothing as the experiment budget runs out) or qLogNEI
    (noisy expected improvement) for one goal, qLogNEHVI (noisy expected
    hypervolume improvement) for several. Left out, the botorch engine uses
    qUCB for one goal under a budget of at most 50 experiments with no outcome
    constraint, fidelity or cost budget, qLogNEI for other single goals, and
    qLogNEHVI for several (docs/strategies.md says why)."""

    qLogNEI = "qLogNEI"
    qLogNEHVI = "qLogNEHVI"
    qUCB = "qUCB"

    @property
    def several_goals(self) -> bool:
        """True for a function of several goals (a hypervolume improvement)."""
        return self is Acquisition.qLogNEHVI

    @classmethod
    def default_for(cls, goals: int) -> Acquisition:
        """The function a campaign with *goals* goals uses when it names none
        and its budget is not one the annealed qUCB was measured on."""
        return cls.qLogNEI if goals == 1 else cls.qLogNEHVI

    @property
    def weighs_constraints(self) -> bool:
        """True for a function that weighs outcome constraints (the log
        improvements); qUCB cannot."""
        return self is not Acquisition.qUCB


#: The largest `budget.experiments` the botorch engine uses the annealed qUCB
#: for by default: the largest budget of the replay suite it was measured on
#: (docs/benchmarks.md, "Exploration that runs out with the budget").
ANNEALED_UCB_MAX_BUDGET = 50


class DesignPoint(SpecModel):
    """A configuration the lab wants measured first (the baseline electrolyte,
    the reference alloy): a formula (`Fe70Cr20Ni10`, element campaigns) or
    amounts by component (missing ones are 0), and every process parameter."""

    composition: str | dict[str, float] | None = None
    parameters: dict[str, str | float | int] = Field(default_factory=dict)


class InitialDesign(SpecModel):
    """The space-filling cold start before the first model is fitted.

    `size` defaults to twice the number of free dimensions, at least 4 (and at
    least the number of `include` points). `include` lists configurations
    proposed first, in order, as part of the design; the space-filling points
    fill the rest.
    """

    method: Literal["sobol", "random"] = "sobol"
    size: int | None = Field(None, ge=1)
    include: tuple[DesignPoint, ...] = Field(default=(), max_length=1000)


FEATURES = ("fractions", "element_descriptors")


class Surrogate(SpecModel):
    """The Gaussian-process preset and its input features.

    `fractions` feeds the composition itself to the GP; `element_descriptors`
    adds composition-weighted means and spreads of component properties (from
    pymatgen for elements, from `composition.descriptors` for named species).
    Process parameters are always inputs.
    """

    kernel: Literal["matern52", "rbf"] = "matern52"
    features: tuple[Literal["fractions", "element_descriptors"], ...] = ("fractions",)

    @field_validator("features")
    @classmethod
    def _some_and_unique(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        if not features:
            fail(
                [
                    (
                        "no features are listed",
                        "use [fractions] or [fractions, element_descriptors]",
                    )
                ]
            )
        if len(set(features)) != len(features):
            fail([("a feature is listed twice", "list each once")])
        return features


class OptimizerSettings(SpecModel):
    """How hard the acquisition function is optimised."""

    restarts: int = Field(8, ge=1, le=256)
    raw_samples: int = Field(256, ge=16, le=16384)
    max_iterations: int = Field(200, ge=10, le=5000)


class Strategy(SpecModel):
    """Which engine proposes, and with which settings.

    `baybe` needs the optional extra `peers` (BayBE); a campaign naming it
    validates without it, and a run stops before its first proposal if it is
    missing. `transfer` names related campaigns or tables the native strategy
    learns from (`loop.spec.transfer`).
    """

    engine: Literal["botorch", "ax", "baybe", "random", "sobol"] = "botorch"
    initial_design: InitialDesign = Field(default_factory=InitialDesign)
    surrogate: Surrogate = Field(default_factory=Surrogate)
    acquisition: Acquisition | None = None
    batch_size: int = Field(1, ge=1, le=64)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    transfer: Transfer | None = None


#: The failure breaker's limit when `budget.max_consecutive_failures` is left
#: out: this many, or two whole batches when batches are larger.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


class Budget(SpecModel):
    """When the campaign stops: after this many experiments (measured or failed),
    or, with `cost`, once what the evaluations recorded as their cost is spent.

    `max_consecutive_failures` is the failure breaker: after that many trials in
    a row failed for good (in the order they resolved, counted from the start
    of this `loop run`/`resume`), the driver stops proposing, marks the campaign
    needs_review and exits 1, so a broken instrument or setup does not burn the
    budget. Left out: max(10, 2 x strategy.batch_size).
    """

    experiments: int = Field(ge=1, le=1_000_000)
    cost: float | None = Field(
        None,
        gt=0,
        le=1e15,
        description="Stop proposing once the evaluations' recorded cost (each "
        "measurement's and failed attempt's `cost`, e.g. a DFT job's CPU seconds or "
        "node hours) plus those in flight at their expected cost (the mean so far; "
        "with fidelities, their fidelity's) reaches this.",
    )
    max_consecutive_failures: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Stop (exit 1, campaign needs_review) after this many trials in "
        "a row failed for good; `loop resume` continues. Default: "
        "max(10, 2 x batch_size).",
    )

    def failure_limit(self, batch_size: int) -> int:
        """The breaker's limit for batches of *batch_size*."""
        if self.max_consecutive_failures is not None:
            return self.max_consecutive_failures
        return max(DEFAULT_MAX_CONSECUTIVE_FAILURES, 2 * batch_size)
