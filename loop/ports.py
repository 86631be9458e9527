"""Interfaces the engine and the driver depend on, implemented elsewhere.

An adapter evaluates trials (simulator, DFT, robot). It is registered under a
name in the `loop.adapters` entry-point group (`loop.plugins`); what is
registered is the adapter's class, which must satisfy `AdapterClass`:

* ``Config``: a frozen pydantic model of its YAML block (with ``type``),
* ``check(config, spec) -> list[Problem]``: cross-checks against the campaign
  (e.g. the simulator's function supports these components and objectives),
* ``rerun_safe``: whether an interrupted attempt may simply be run again,
* ``__init__(config, spec)``, giving the adapter the driver works with.

What the driver does with an adapter depends on the capabilities it has, each
a `typing.Protocol` below that the driver asks for with ``isinstance`` (they
are runtime-checkable) and mypy checks statically:

* `PushAdapter` (``evaluate``): the driver calls it for each trial
  (simulator, dataset, DFT);
* `JobAdapter`, a push adapter whose evaluations wait on long jobs
  (``max_in_flight``, ``close``): the driver keeps that many running (DFT);
* `PoolAdapter`, a push adapter with a finite candidate pool (``pool``,
  ``pool_values``, ``pool_report``): the engine proposes only from the pool and
  `loop bench` replays it (dataset);
* `PullAdapter` (``pull``, ``max_attempts``): robots claim work over HTTP and the
  driver never evaluates (robot);
* on the class: `PinningAdapterClass` (``pinned``, ``pin``) fixes adapter-block
  values when a campaign is created (dataset), `PullAdapterClass` says before
  any instance exists that robots pull, `PooledAdapterClass` (``pooled``) that
  proposals are rows of a table (dataset), `UncostedAdapterClass`
  (``records_cost = False``) that no evaluation records a cost (simulator,
  dataset, manual), `RobotSimulatorClass` plays robots (`loop robot simulate`).

Each built-in adapter declares what it implements with a typed assignment of
its class (e.g. ``_implements: AdapterClass[SimulatorConfig, PushAdapter] =
SimulatorAdapter``), which mypy checks member by member;
docs/how-to/write-an-adapter.md shows a third-party adapter doing the same.

Evaluation must never raise for a bad experiment: it returns a result with
``failure`` set, so the driver records a failed trial instead of crashing.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    Protocol,
    TypeVar,
    runtime_checkable,
)

from pydantic import BaseModel, Field

from loop.errors import Problem
from loop.records import Record

if TYPE_CHECKING:
    from loop.spec import CampaignSpec

#: Where adapters look for data files given by relative paths (`--data-root`).
DATA_ROOT_ENV = "LOOP_DATA_ROOT"


class EvaluationRequest(Record):
    """One trial attempt handed to an adapter."""

    campaign: str
    trial_id: int
    attempt: int
    composition: dict[str, float]
    parameters: dict[str, Any] = Field(default_factory=dict)
    objectives: list[str]
    seed: int


class EvaluationResult(Record):
    """What an adapter observed: values, or a failure with a reason."""

    values: dict[str, float] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    failure: str | None = None
    retryable: bool = False


# ------------------------------------------------------------------ adapters


@runtime_checkable
class Adapter(Protocol):
    """Every adapter: what the driver may ask of any of them.

    An adapter is also one of `PushAdapter` or `PullAdapter`; the driver
    refuses one that is neither.
    """

    #: Re-running an attempt is harmless (nothing physical is made, or the
    #: adapter finds its earlier job again). When a driver starts, attempts a
    #: stopped driver left running are offered again only if this is True;
    #: otherwise they wait for an operator. Only re-run-safe push adapters may
    #: run their evaluations on Dask.
    rerun_safe: ClassVar[bool]


@runtime_checkable
class PushAdapter(Adapter, Protocol):
    """An adapter the driver calls for each trial (simulator, dataset, DFT).

    The driver marks a trial CLAIMED, then calls `evaluate` on its executor (in
    the driver, on threads, or pickled to Dask workers) and stores the result:
    values complete the trial; a failure marked `retryable` is tried again as
    the next attempt (up to `loop.service.settle.MAX_ATTEMPTS`); any other
    failure fails the trial for good.
    """

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Measure one trial attempt; a bad experiment returns a failure, never raises."""
        ...


@runtime_checkable
class JobAdapter(PushAdapter, Protocol):
    """A push adapter whose evaluations mostly wait on long jobs (DFT on a scheduler).

    Instead of whole batches, the driver keeps `max_in_flight` evaluations
    running (on threads of the driver unless the executor is Dask) and
    proposes a new trial, with the running ones as pending points, as soon as
    one ends. It calls `close` when it stops.
    """

    @property
    def max_in_flight(self) -> int:
        """How many evaluations the driver keeps running at once."""
        ...

    def close(self) -> None:
        """The driver is leaving: evaluations still waiting should return soon."""
        ...


@runtime_checkable
class PoolAdapter(PushAdapter, Protocol):
    """A push adapter that can only measure a finite pool of candidates (a dataset).

    The engine proposes only from `pool` (never a candidate twice), and
    `loop bench` scores strategies against `pool_values`.
    """

    def pool(self) -> list[tuple[dict[str, float], dict[str, Any]]]:
        """Every candidate as (composition, parameters), in a fixed order."""
        ...

    def pool_values(self) -> list[dict[str, float]]:
        """The objective values of every candidate, in the order of `pool`."""
        ...

    def pool_report(self) -> dict[str, Any]:
        """How the pool was built: `rows` read, `candidates`, `dropped` by reason."""
        ...


@runtime_checkable
class PullAdapter(Adapter, Protocol):
    """Robots pull work over HTTP (`loop serve`); the driver never evaluates.

    The driver keeps `strategy.batch_size` trials claimable, waits for
    measurements, and puts back trials whose claim expired, at most
    `max_attempts` claims per trial.
    """

    #: Marks the adapter as pull mode (always True).
    pull: ClassVar[Literal[True]]

    @property
    def max_attempts(self) -> int:
        """Claims per trial before an expired one is abandoned (FAILED)."""
        ...


@runtime_checkable
class PartlyPulledAdapter(PushAdapter, Protocol):
    """A push adapter whose trials at some fidelities robots measure instead
    (`adapters/fidelity` with a `type: robot` fidelity).

    The driver evaluates the other trials and leaves those whose `fidelity`
    parameter is in `pulled` for robots to claim over the API; it waits for
    their measurements, and puts back expired claims as `robot` allows.
    """

    @property
    def pulled(self) -> frozenset[str]:
        """The fidelities robots measure (empty: the driver evaluates all)."""
        ...

    @property
    def robot(self) -> PullAdapter | None:
        """The adapter of the fidelity robots measure (None when `pulled` is empty)."""
        ...


# ------------------------------------------------------- what is registered

ConfigT = TypeVar("ConfigT", bound=BaseModel)
AdapterT_co = TypeVar("AdapterT_co", bound=Adapter, covariant=True)


@runtime_checkable
class AdapterClass(Protocol[ConfigT, AdapterT_co]):
    """What an entry point of `loop.adapters` names: an adapter's class.

    `ConfigT` is its config model and `AdapterT_co` the capability protocol its
    instances implement, so ``_implements: AdapterClass[MyConfig, PushAdapter]
    = MyAdapter`` lets mypy check the class and its instances.
    """

    @property
    def Config(self) -> type[ConfigT]:
        """The frozen pydantic model of the adapter block; validation uses it."""
        ...

    @property
    def rerun_safe(self) -> bool:
        """As `Adapter.rerun_safe`, known before any instance exists."""
        ...

    def check(self, config: ConfigT, spec: CampaignSpec) -> list[Problem]:
        """Problems that stop this adapter from serving *spec* (empty if none).

        Called when a campaign file is validated, not when a stored campaign is
        read back, so it may read files or reach an instrument.
        """
        ...

    def __call__(self, config: ConfigT, spec: CampaignSpec) -> AdapterT_co:
        """The adapter for one driver run; raise `LoopError` if it cannot start."""
        ...


@runtime_checkable
class PinningAdapterClass(
    AdapterClass[ConfigT, AdapterT_co], Protocol[ConfigT, AdapterT_co]
):
    """An adapter class that fixes adapter-block values when a campaign is created.

    `pin` (e.g. the dataset adapter's data file SHA-256) is stored with a new
    campaign unless the file gives it; keys in `pinned` are kept from the
    stored campaign when a continued campaign's file leaves them out. The
    adapter compares them each time it starts, so a campaign never continues on
    different data.
    """

    @property
    def pinned(self) -> tuple[str, ...]:
        """Adapter-block keys that `pin` fills in."""
        ...

    def pin(self, config: ConfigT, spec: CampaignSpec) -> dict[str, Any]:
        """Values for the `pinned` keys, computed for a new campaign."""
        ...


@runtime_checkable
class PullAdapterClass(AdapterClass[ConfigT, PullAdapter], Protocol[ConfigT]):
    """The class of a pull adapter, known as such while a campaign is validated.

    Validation refuses a Dask executor for it: robots pull their own work.
    """

    @property
    def pull(self) -> Literal[True]:
        """As `PullAdapter.pull`."""
        ...


@runtime_checkable
class PooledAdapterClass(Protocol):
    """An adapter class whose proposals are rows of a finite table (a replay),
    known as such while a campaign is validated.

    Validation refuses it as a fidelity (its rows hold no fidelity) and refuses
    `strategy.initial_design.include` points (only its rows can be measured).
    Its instances are `PoolAdapter`s.
    """

    @property
    def pooled(self) -> Literal[True]:
        """Always True: the adapter replays a table."""
        ...


@runtime_checkable
class UncostedAdapterClass(Protocol):
    """An adapter class whose evaluations never record a cost.

    Validation refuses `budget.cost` for it (the budget would never bind) and a
    `cost: measured` fidelity evaluated by it (no cost would ever be measured).
    An adapter class without this marker may record a `cost` per evaluation.
    """

    @property
    def records_cost(self) -> Literal[False]:
        """Always False: no evaluation records a cost."""
        ...


@runtime_checkable
class InputReadingAdapterClass(Protocol):
    """An adapter class that knows which declared parameters it reads.

    Validation warns about a declared parameter the adapter never reads (the
    electrolyte simulator given a `salt_type` it has no data for): the model
    would spend its budget on a dimension that changes nothing.
    """

    def unread_parameters(self, config: Any, spec: CampaignSpec) -> list[str]:
        """Names of the campaign's parameters this adapter ignores (may be empty)."""
        ...


@runtime_checkable
class RobotSimulatorClass(Protocol):
    """An adapter class that plays simulated robots (`loop robot simulate`)."""

    def simulate(self, **options: Any) -> object:
        """Run simulated robots against the API with *options*; a printable summary."""
        ...
