"""Why a trial was proposed: `loop inspect NAME --explain TRIAL`.

Everything about the proposal comes from what was stored with it (phase,
acquisition value, the model's predicted mean and sd, the provenance); nothing
is refitted. The nearest measured neighbours are found in comp-rep (the
Encoder's columns: fractions of the total, parameters, one-hot categories),
each column divided by its range, as the engine compares configurations.
Status changes with a reason (failures, retries, expired leases) are listed as
`failures`, each with what the adapter reported (the event's details).
"""

from __future__ import annotations

from loop.campaign_state import load_spec
from loop.documents import (
    Acquisition,
    ExplainDocument,
    Neighbour,
    Prediction,
    ProposalModel,
    StatusChange,
    TrialDocument,
)
from loop.errors import NotFoundError
from loop.records import Trial, TrialPhase, TrialStatus
from loop.service.campaigns import trial_document
from loop.service.held import held_reasons
from loop.space.domain import scaled_distances
from loop.space.encoding import Encoder
from loop.spec import CampaignSpec
from loop.storage import Store

#: Measured neighbours listed for a trial.
NEIGHBOURS = 3

PHASES = {
    TrialPhase.INITIAL: "initial design: a space-filling point chosen before any model "
    "(fixed by the campaign seed), not by the measurements",
    TrialPhase.MODEL: "model-based: the point of highest acquisition value under the GP "
    "fitted to the measurements known at the time",
    TrialPhase.FALLBACK: "fallback: no model-based point could be made (the optimiser "
    "found no new feasible point, or the model could not be fitted or used: see "
    "provenance), so a uniform random feasible point was taken",
    TrialPhase.RANDOM: "random: a uniform sample of the feasible space (the random engine, "
    "or too few measurements for a model)",
    TrialPhase.SOBOL: "sobol: the next point of a space-filling sequence (the sobol engine)",
    TrialPhase.IMPORTED: "imported: a past measurement from a file (`loop import`); "
    "loop did not choose it and it spent none of the budget",
    TrialPhase.MANUAL: "manual: chosen by the lab, not by loop; the measurement was "
    "entered by hand (`loop tell` or `Campaign.tell`)",
}


def explain_trial(
    store: Store, name: str, trial_id: int, k: int = NEIGHBOURS
) -> ExplainDocument:
    """Phase, stored prediction and acquisition value, and nearest measured trials."""
    spec = load_spec(store.get_campaign(name))
    trials = store.trials(name)
    trial = next((t for t in trials if t.id == trial_id), None)
    if trial is None:
        ids = [t.id for t in trials]
        known = f"{ids[0]}..{ids[-1]}" if ids else "none yet"
        raise NotFoundError(
            f"campaign '{name}' has no trial {trial_id}",
            f"its trial ids are {known}; list them with `loop inspect {name}`",
        )
    prov = trial.provenance
    predicted = {
        n: Prediction(mean=m, sd=trial.predicted_sd.get(n))
        for n, m in trial.predicted_mean.items()
    }
    return ExplainDocument(
        campaign=name,
        trial=TrialDocument.model_validate(
            trial_document(trial, spec, held_reasons(spec, trials))
        ),
        phase=trial.phase,
        reason=PHASES[trial.phase],
        acquisition=Acquisition(
            function=spec.acquisition if trial.phase is TrialPhase.MODEL else None,
            value=trial.acquisition_value,
        ),
        predicted=predicted,
        measured=trial.values or None,
        surprise=_surprise(trial),
        model=ProposalModel.model_validate(
            {k: prov[k] for k in ProposalModel.model_fields if k in prov}
        ),
        neighbours=nearest_measured(spec, trials, trial, k),
        failures=[
            StatusChange(
                attempt=e["attempt"],
                from_status=e["from_status"],
                to_status=e["to_status"],
                reason=e["reason"],
                details=e["details"],
            )
            for e in store.events(trial_id)
            if e["reason"] is not None or e["details"]
        ],
        distance="Euclidean in comp-rep (fractions of the total, parameters, "
        "one-hot categories), each column divided by its range",
    )


def nearest_measured(
    spec: CampaignSpec, trials: list[Trial], trial: Trial, k: int = NEIGHBOURS
) -> list[Neighbour]:
    """The *k* measured trials (other than *trial*) closest to it, nearest first.

    Ties are broken by trial id. `measured_before` says whether the neighbour's
    measurement had arrived when *trial* was proposed (None if unknown).
    """
    enc = Encoder(spec)
    measured = [
        t
        for t in trials
        if t.status == TrialStatus.COMPLETED and t.measurement and t.id != trial.id
    ]
    if not measured:
        return []
    x = enc.encode(trial.composition, trial.parameters)
    rows = enc.encode_many([(t.composition, t.parameters) for t in measured])
    distance = scaled_distances(enc, rows, x)
    order = sorted(range(len(measured)), key=lambda i: (distance[i], measured[i].id))
    out = []
    for i in order[:k]:
        t = measured[i]
        assert t.measurement is not None
        arrived, proposed = t.measurement.received_at, trial.created_at
        out.append(
            Neighbour(
                id=t.id,
                distance=float(distance[i]),
                composition=t.composition,
                parameters=t.parameters,
                measurements=t.values,
                measured_before=None
                if arrived is None or proposed is None
                else arrived <= proposed,
            )
        )
    return out


def _surprise(trial: Trial) -> dict[str, float]:
    """(measured - predicted mean) / predicted sd, per objective with all three."""
    out = {}
    for n, value in trial.values.items():
        mean, sd = trial.predicted_mean.get(n), trial.predicted_sd.get(n)
        if mean is not None and sd:
            out[n] = (value - mean) / sd
    return out
