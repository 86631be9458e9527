"""Measurements loop did not ask for: `loop tell`, `loop.Campaign.tell`, `loop import`.

An off-plan measurement (a configuration loop never proposed) becomes a trial
and its measurement in one transaction, so a crash leaves both or neither and
no driver ever sees an unmeasured off-plan trial to dispatch. An import is
one transaction too: all of a file's rows, or none.
"""

from __future__ import annotations

from sqlmodel import func, select

from loop.errors import BadInputError
from loop.faults import fault
from loop.records import Proposal, Trial, TrialPhase, TrialStatus
from loop.storage.rows import trial_record
from loop.storage.sessions import campaign_id, committed_trials, transition
from loop.storage.store import Store, retried
from loop.storage.tables import MeasurementRow, TrialEventRow, TrialRow


@retried
def add_measured_trial(
    store: Store,
    campaign: str,
    proposal: Proposal,
    values: dict[str, float],
    budget: int,
    *,
    units: dict[str, str] | None = None,
    source: str = "tell",
) -> Trial:
    """Store *proposal* as a COMPLETED trial with its measurement, within *budget*."""
    with store.transaction() as s:
        cid = campaign_id(s, campaign, lock=True)
        if committed_trials(s, cid) + 1 > budget:
            raise BadInputError(
                f"campaign '{campaign}' has used its budget of {budget} experiments",
                "raise `budget.experiments` in the YAML and run `loop run` with it "
                "(or `Campaign.from_yaml`), then tell again",
            )
        iteration = s.exec(
            select(func.max(TrialRow.iteration)).where(TrialRow.campaign_id == cid)
        ).one()
        row = TrialRow(
            campaign_id=cid,
            iteration=(iteration if iteration is not None else -1) + 1,
            status=TrialStatus.PENDING.value,
            **Proposal.fields_of(proposal),
        )
        s.add(row)
        s.flush()
        assert row.id is not None
        s.add(TrialEventRow(trial_id=row.id, to_status="pending", attempt=1))
        transition(
            s,
            row.id,
            [TrialStatus.PENDING],
            TrialStatus.COMPLETED,
            1,
            reason="measured off plan, entered by hand",
        )
        measurement = _measurement(row.id, values, units, source)
        s.add(measurement)
        s.flush()
        s.refresh(row)
        return trial_record(row, campaign, measurement)


@retried
def import_measured(
    store: Store,
    campaign: str,
    rows: list[tuple[Proposal, dict[str, float]]],
    sha256: str,
    *,
    source: str,
    units: dict[str, str] | None = None,
) -> list[Trial] | None:
    """Store past measurements as COMPLETED trials of phase `imported`, all in
    one transaction; None (and nothing stored) when a file with this content
    was imported into the campaign before. They spend no budget."""
    with store.transaction() as s:
        cid = campaign_id(s, campaign, lock=True)
        earlier = s.exec(
            select(TrialRow.provenance)
            .where(TrialRow.campaign_id == cid)
            .where(TrialRow.phase == TrialPhase.IMPORTED.value)
        ).all()
        if any((p or {}).get("sha256") == sha256 for p in earlier):
            return None
        stored: list[Trial] = []
        for i, (proposal, values) in enumerate(rows):
            row = TrialRow(
                campaign_id=cid,
                iteration=-1,
                status=TrialStatus.COMPLETED.value,
                **Proposal.fields_of(proposal),
            )
            s.add(row)
            s.flush()
            assert row.id is not None
            s.add(TrialEventRow(trial_id=row.id, to_status="pending", attempt=1))
            # the audit reads as every trial's does: created, then measured
            s.add(
                TrialEventRow(
                    trial_id=row.id,
                    from_status="pending",
                    to_status="completed",
                    attempt=1,
                    reason=f"imported from {source}",
                )
            )
            measurement = _measurement(row.id, values, units, source)
            s.add(measurement)
            if i == len(rows) // 2:
                s.flush()
                fault("import_mid_txn")
            stored.append(trial_record(row, campaign, measurement))
        return stored


def _measurement(
    trial_id: int, values: dict[str, float], units: dict[str, str] | None, source: str
) -> MeasurementRow:
    """The first attempt's measurement of a trial loop did not dispatch."""
    return MeasurementRow(
        trial_id=trial_id,
        attempt=1,
        values=values,
        units=units or {},
        meta={},
        source=source,
    )
