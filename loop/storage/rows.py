"""From table rows to the frozen records the Store returns (never ORM rows)."""

from __future__ import annotations

from loop.records import (
    CampaignRecord,
    CampaignStatus,
    Measurement,
    Proposal,
    Trial,
    TrialStatus,
)
from loop.storage.tables import CampaignRow, MeasurementRow, TrialRow


def campaign_record(row: CampaignRow) -> CampaignRecord:
    assert row.id is not None
    return CampaignRecord(
        id=row.id,
        name=row.name,
        status=CampaignStatus(row.status),
        spec=row.spec,
        created_at=row.created_at,
    )


def trial_record(
    row: TrialRow,
    campaign: str,
    m: MeasurementRow | None,
    *,
    voided: bool = False,
    amended: bool = False,
) -> Trial:
    """The record of *row* with its measurement *m*; a *voided* measurement
    (`loop trial void`) goes to `Trial.voided`, and one on a trial that is not
    COMPLETED (held for review: outside its bounds under `outliers: flag`) to
    `Trial.flagged`, instead of `Trial.measurement`: this is where a
    measurement stops counting for every reader. *amended*: an operator's
    amend is the latest word on it (`Measurement.reviewed`)."""
    assert row.id is not None
    measurement = (
        Measurement(
            trial_id=row.id,
            attempt=m.attempt,
            values=m.values,
            units=m.units,
            metadata=m.meta,
            source=m.source,
            late=m.late,
            received_at=m.received_at,
            reviewed=amended,
        )
        if m
        else None
    )
    status = TrialStatus(row.status)
    counts = status == TrialStatus.COMPLETED and not voided
    return Trial(
        id=row.id,
        campaign=campaign,
        iteration=row.iteration,
        status=status,
        attempt=row.attempt,
        **Proposal.fields_of(row),
        failure_reason=row.failure_reason,
        measurement=measurement if counts else None,
        voided=measurement if voided else None,
        flagged=measurement if not counts and not voided else None,
        lease_expires_at=row.lease_expires_at,
        claimed_by_key=row.claimed_by_key,
        started_at=row.started_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
