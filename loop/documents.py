"""The documents loop publishes: what the robot API answers and `inspect` prints.

Each is a frozen pydantic model, so the OpenAPI document (`/openapi.json`,
committed as docs/reference/openapi.json) describes every response body, and a
document that drifts from its declaration fails loudly instead of reaching a
client. The service layer builds them (`loop.service.lab`, `loop.service.explain`);
the API routes return them unchanged. Field names and values are the wire
contract of docs/reference/api.md: renaming one is a breaking change.

Three fields are absent rather than null when they do not apply. `best` and
`pareto` of the status document (one or the other, by the number of
objectives) default to None and are left unset; the route serialises with
`response_model_exclude_unset`, so only the one the builder set appears (and
`best` may be null: one objective, nothing acceptable yet). `fields` of an
error body (only with `invalid_body`) is dropped when None.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from loop.records import CampaignStatus, TrialPhase, TrialStatus
from loop.spec.objectives import Objective

#: A process parameter's value: a number, or the category's text.
ParameterValue = float | int | str
#: A time in UTC, written ISO 8601 with a `Z` suffix.
UtcTime = Annotated[AwareDatetime, Field(description="ISO 8601 in UTC with a Z suffix")]


class Document(BaseModel):
    """A published document: frozen, and no key beyond the declared ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------ errors
class FieldProblemBody(Document):
    """One problem of an invalid request: where (a JSON pointer) and what."""

    pointer: str = Field(
        description="JSON pointer into the body, or the name of a path or header "
        'parameter (`/trial_id`); `""` or `/` for the whole body'
    )
    message: str


class ErrorBody(Document):
    """Every 4xx and 5xx JSON answer: a stable code, what went wrong, what to do."""

    code: str = Field(
        description="stable machine-readable name (docs/reference/api.md, error codes)"
    )
    message: str = Field(description="what went wrong, naming the trial or field")
    hint: str = Field(description="what to do about it")
    fields: list[FieldProblemBody] | None = Field(
        default=None,
        description="only with `invalid_body`: every problem, one entry each",
    )


class Health(Document):
    """`GET /healthz`: the server is alive (the database is not touched)."""

    status: Literal["ok"]


# ---------------------------------------------------------- robot answers
class ObjectiveUnit(Document):
    """A value a measurement must carry, and the unit it must be in."""

    name: str
    unit: str | None = Field(description="null when the campaign declares none")


class WorkDocument(Document):
    """What a claim hands a robot: the trial, its lease and what to measure."""

    trial_id: int = Field(description="use it in every later path")
    attempt: int = Field(description="the fencing token; send it with every call")
    lease_expires_at: UtcTime | None = Field(
        description="when the lease ends unless renewed (database clock)"
    )
    campaign: str
    composition: dict[str, float] = Field(
        description="component -> amount, in the units of the campaign's total"
    )
    parameters: dict[str, ParameterValue]
    objectives: list[ObjectiveUnit]


class LeaseDocument(Document):
    """The answer to heartbeat and start: the attempt's status and lease."""

    trial_id: int
    attempt: int
    status: TrialStatus
    lease_expires_at: UtcTime | None


class MeasurementAck(Document):
    """The stored measurement, as accepted (a replay returns it unchanged)."""

    trial_id: int
    attempt: int = Field(description="the attempt the values belong to")
    status: TrialStatus = Field(description="the trial's status after the post")
    measurement_id: int
    values: dict[str, float]
    units: dict[str, str] = Field(
        description="the declared unit of every objective that has one"
    )
    late: bool = Field(description="true when the post arrived after the lease ended")
    received_at: UtcTime | None = Field(description="when the API stored it")
    review: str | None = Field(
        None,
        description="set (with status needs_review and HTTP 202) when a value is "
        "outside its objective's bounds under `outliers: flag`: the measurement "
        "is stored, kept out of the model and waits for an operator",
    )


class FailureAck(Document):
    """The answer to a failure report: whether another attempt was granted."""

    trial_id: int
    status: TrialStatus = Field(description="pending (retried) or failed")
    attempt: int = Field(description="the trial's attempt after the call")
    retried: bool


# --------------------------------------------------------- status document
class TrialDocument(Document):
    """One trial as `inspect`, the status document and `--explain` show it."""

    id: int
    iteration: int
    status: TrialStatus
    attempt: int
    phase: TrialPhase
    strategy: str
    composition: dict[str, float]
    formula: str | None = Field(
        default=None,
        description="element campaigns: the atom-fraction formula, e.g. "
        "Cu0.4833Ni0.1167Pt0.4 (null for species campaigns)",
    )
    parameters: dict[str, ParameterValue]
    measurements: dict[str, float]
    acquisition_value: float | None
    predicted_mean: dict[str, float]
    predicted_sd: dict[str, float]
    failure_reason: str | None
    voided: dict[str, float] | None = Field(
        None,
        description="values an operator voided (`loop trial void`): kept, but "
        "counted nowhere (model, best, Pareto front)",
    )
    feasible: bool | None = Field(
        None,
        description="measured trials: every objective measured and every outcome "
        "constraint met, so the trial counts toward the result (null until measured)",
    )
    is_pareto: bool | None = Field(
        None,
        description="several objectives: the trial is in the Pareto set (null with "
        "one objective, and in `--explain`)",
    )
    flagged: dict[str, float] | None = Field(
        None,
        description="values held for review (outside their objective's bounds "
        "under `outliers: flag`; why in failure_reason): kept, counted nowhere "
        "until an operator amends, voids or retries the trial",
    )
    held_out: str | None = Field(
        None,
        description="why the model does not learn from this completed trial's "
        "values (outside the bounds, or extreme and unconfirmed) until an "
        "operator voids or amends them",
    )
    outside_space: list[str] | None = Field(
        None,
        description="a past measurement imported from outside the campaign's "
        "space (`--keep-outside`, `keep_outside: true`): why; the model learns "
        "from it, but it is never the best or in the Pareto set",
    )


class DriverDocument(Document):
    """The `loop run` / `loop resume` process driving a campaign."""

    owner: str
    since: str | None = Field(description="ISO 8601")
    lease_expires_at: str | None = Field(description="ISO 8601")


class Budget(Document):
    """`budget.experiments` and how much of it completed and failed trials used;
    with `budget.cost`, the cost budget and what the evaluations recorded."""

    experiments: int
    used: int
    cost: float | None = Field(default=None, description="`budget.cost`, if set")
    cost_spent: float | None = Field(
        default=None,
        description="recorded cost of measurements and failed or retried attempts "
        "(with `budget.cost` only)",
    )
    cost_by_fidelity: dict[str, float] | None = Field(
        default=None,
        description="with `fidelities:`, the recorded cost of the measurements at "
        "each fidelity (cheapest first)",
    )


class StatusDocument(Document):
    """A campaign as `loop inspect --format json` and `GET /api/v1/campaigns/{name}`
    show it. `best` is there for one objective, `pareto` for several."""

    name: str
    status: CampaignStatus
    description: str
    spec: dict[str, Any] = Field(
        description="the stored campaign (campaign.schema.json), canonical JSON"
    )
    driver: DriverDocument | None
    objectives: list[Objective]
    budget: Budget
    counts: dict[TrialStatus, int] = Field(description="trials per status")
    trials: list[TrialDocument]
    best: TrialDocument | None = Field(
        default=None,
        description="one objective: the best acceptable trial (null before one); "
        "absent with several objectives",
    )
    pareto: list[TrialDocument] | None = Field(
        default=None,
        description="several objectives: the non-dominated trials; absent with one",
    )


# -------------------------------------------------------- explain document
class Acquisition(Document):
    """The acquisition function a model-phase trial was chosen by, and its value."""

    function: str | None
    value: float | None


class Prediction(Document):
    """The model's prediction for one objective when the trial was proposed."""

    mean: float
    sd: float | None


class Neighbour(Document):
    """A measured trial near the explained one (comp-rep, scaled by range)."""

    id: int
    distance: float
    composition: dict[str, float]
    formula: str | None = Field(
        default=None,
        description="element campaigns: the atom-fraction formula, e.g. "
        "Cu0.4833Ni0.1167Pt0.4 (null for species campaigns)",
    )
    parameters: dict[str, ParameterValue]
    measurements: dict[str, float]
    measured_before: bool | None = Field(
        description="whether its measurement had arrived when the explained trial "
        "was proposed (null if unknown)"
    )


class StatusChange(Document):
    """A status change with a reason: a failure, a retry, an expired lease."""

    attempt: int
    from_status: TrialStatus | None
    to_status: TrialStatus
    reason: str | None
    details: dict[str, Any] | None = Field(description="what the adapter reported")


class DomainDocument(Document):
    """How far a proposal lay from the measurements when it was proposed
    (`loop.space.domain`)."""

    nearest: float = Field(description="distance to the nearest measured trial")
    spacing: float = Field(description="typical spacing of the measured trials")
    ratio: float = Field(description="nearest / spacing: about 1 inside the data")
    outside: bool = Field(description="ratio above 3: outside the measured data")


class TransferDocument(Document):
    """What the model of a proposal took from `strategy.transfer`'s sources."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sources: list[str] = Field(description="campaigns and tables learned from")
    rows: dict[str, int] = Field(description="per objective, source rows used")
    weights: list[dict[str, float]] = Field(
        default_factory=list,
        description="per output, the GP mean's weight on each source prediction "
        "(standardised; near 0: the sources are not trusted)",
    )


#: Why a proposal is evaluated at its fidelity (`FidelityDocument.rule`).
FidelityRule = Literal[
    "design", "fallback", "information per cost", "balance", "capped", "included"
]


class FidelityDocument(Document):
    """At which fidelity a proposal is evaluated, and why (`fidelities:`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    level: str = Field(description="the fidelity chosen")
    cost: float = Field(description="what one evaluation there costs")
    rule: FidelityRule = Field(
        default="information per cost",
        description="design: two of three design points at the cheapest, the "
        "third at the target on the best screened so far; fallback: the cheapest; "
        "balance: the target, since the cheaper levels would otherwise outspend it "
        "by more than one target evaluation; capped: the level the design planned "
        "has used its max_evaluations, so the cheapest still open; included: a "
        "point of strategy.initial_design.include, at the fidelity it names; else "
        "the level whose evaluation tells most about the target per unit cost",
    )
    information: dict[str, float] | None = Field(
        default=None,
        description="per fidelity, the share of the target's uncertainty at "
        "this configuration one evaluation there would remove",
    )
    per_cost: dict[str, float] | None = Field(
        default=None, description="information divided by cost, per fidelity"
    )


class ProposalModel(Document):
    """What the stored provenance says about the model behind a proposal (the
    keys recorded; strategies without a model record none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(default=None, description="e.g. SingleTaskGP")
    kernel: str | None = None
    n_train: int | None = Field(
        default=None, description="measurements it learned from"
    )
    p_success: float | None = Field(
        default=None, description="predicted success (once some trial had failed)"
    )
    reference_point: dict[str, float] | None = Field(
        default=None, description="hypervolume reference point (several goals)"
    )
    exploration_sds: float | None = Field(
        default=None,
        description="qUCB: how many posterior sds above the mean the proposal "
        "looked; it falls to 0 at the budget's last experiment",
    )
    propose_seconds: float | None = Field(
        default=None, description="time to propose the batch"
    )
    domain: DomainDocument | None = None
    fallback: str | None = Field(
        default=None, description="why no model-based point was made, if so"
    )
    winsorised: list[int] | None = Field(
        default=None,
        description="per output (goals, then constraints), measurements pulled in "
        "to the robust fence before the fit (extreme values)",
    )
    transfer: TransferDocument | None = Field(
        default=None, description="what it learned from related campaigns or tables"
    )
    fidelity: FidelityDocument | None = Field(
        default=None, description="the fidelity chosen and why (`fidelities:`)"
    )


class ExplainDocument(Document):
    """Why a trial was proposed (`loop inspect NAME --explain TRIAL`), from what
    was stored with it; nothing is refitted."""

    campaign: str
    trial: TrialDocument
    phase: TrialPhase
    reason: str = Field(description="the phase in words")
    acquisition: Acquisition
    predicted: dict[str, Prediction]
    measured: dict[str, float] | None
    surprise: dict[str, float] = Field(
        description="(measured - predicted mean) / predicted sd, per objective"
    )
    model: ProposalModel = Field(
        description="the stored provenance about the model (the keys recorded)"
    )
    neighbours: list[Neighbour]
    failures: list[StatusChange]
    distance: str = Field(description="how neighbour distances are measured")


# ---------------------------------------------------------- dashboard JSON
class LatestMeasurement(Document):
    """The measurement that arrived last: its trial, attempt and arrival."""

    trial_id: int
    attempt: int
    received_at: str | None = Field(description="ISO 8601 in UTC, without a zone")


class BestValue(Document):
    """The best contending value of a single-goal campaign, and its trial."""

    trial_id: int
    objective: str
    value: float
    unit: str | None = None


class DashboardSummary(Document):
    """A campaign as the live dashboard polls it (`GET
    /dashboard/api/campaigns/{name}/summary`, with the session cookie).

    `version` changes whenever anything the campaign page shows changes;
    `measured_version` only when a trial is resolved or a measurement arrives
    (the model page watches it). Both are opaque: compare them, nothing else.
    """

    name: str
    status: CampaignStatus
    description: str
    budget: Budget
    counts: dict[TrialStatus, int] = Field(description="trials per status")
    n_trials: int
    n_measured: int
    n_in_flight: int
    latest_measurement: LatestMeasurement | None
    best: BestValue | None = Field(
        None, description="one goal: the best value so far (None before one)"
    )
    pareto_size: int | None = Field(
        None, description="several goals: how many trials the Pareto set holds"
    )
    measured_version: str
    version: str


class LiveFragment(Document):
    """The live part of a campaign page (`GET /dashboard/api/campaigns/{name}/live`):
    its HTML, and the summary `version` it shows."""

    version: str
    html: str
