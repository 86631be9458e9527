"""A robot posts `conductivity: 1.7e308` to a campaign with `bounds` (issue 15).

Over real HTTP: with the default `outliers: refuse` the post is refused with
422 `out_of_bounds` and nothing stored changes but the inbox; with
`outliers: flag` it is stored (202), its trial held in needs_review and kept
out of the model, the next proposal round still fits a real GP, and an
operator's amend resolves it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loop.engine import CampaignEngine
from loop.records import TrialPhase, TrialStatus
from loop.service.trials import act_on_trial
from loop.storage.inbox import submissions
from tests.invariants import check_invariants
from tests.lab import RobotCampaign, live_server, robot_campaign

POISON = 1.7e308


def _objectives(**extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "conductivity",
            "direction": "maximize",
            "unit": "mS/cm",
            "bounds": [0, 100],
            **extra,
        }
    ]


@pytest.fixture
def refusing(db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(db_url, objectives=_objectives())
    with live_server(rc.store) as url:
        yield rc, url


@pytest.fixture
def flagging(db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(
        db_url,
        objectives=_objectives(outliers="flag"),
        strategy={"initial_design": {"size": 3}, "batch_size": 2},
    )
    with live_server(rc.store) as url:
        yield rc, url


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _claim(rc: RobotCampaign, client: httpx.Client) -> int:
    r = client.post(f"/api/v1/campaigns/{rc.name}/claims")
    assert r.status_code == 200, r.text
    return int(r.json()["trial_id"])


def _post(
    client: httpx.Client, trial_id: int, value: float, key: str | None = None
) -> httpx.Response:
    return client.post(
        f"/api/v1/trials/{trial_id}/measurements",
        content=json.dumps({"attempt": 1, "values": {"conductivity": value}}),
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key or str(uuid.uuid4()),
        },
    )


def test_a_value_outside_the_bounds_is_refused_and_nothing_changes(
    refusing: tuple[RobotCampaign, str], db_url: str
) -> None:
    rc, url = refusing
    rc.propose(1)
    with _client(url, rc.token) as client:
        trial_id = _claim(rc, client)
        before = rc.store.trials(rc.name)
        r = _post(client, trial_id, POISON)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "out_of_bounds"
        assert body["fields"] == [
            {
                "pointer": "/values/conductivity",
                "message": "1.7e+308 is outside the bounds [0, 100] of 'conductivity' "
                "(check the units and the instrument; if the value is real, widen "
                "`bounds`)",
            }
        ]
        assert "nothing was stored" in body["hint"]
        # a well-formed body with a suspicious reading is not called invalid
        assert body["message"].startswith(
            "measured value outside its objective's bounds: /values/conductivity: "
        )
        # with another fault in the body it is an ordinary invalid body
        mixed = client.post(
            f"/api/v1/trials/{trial_id}/measurements",
            content=json.dumps(
                {"attempt": 1, "values": {"conductivity": POISON, "x": 1.0}}
            ),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k" * 12},
        )
        assert mixed.status_code == 422 and mixed.json()["code"] == "invalid_body"
        assert rc.store.trials(rc.name) == before  # still claimed, unmeasured
        ok = _post(client, trial_id, 9.7)
        assert ok.status_code == 200 and ok.json()["review"] is None
    outcomes = [s["outcome"] for s in submissions(rc.store, rc.name)]
    assert outcomes == ["out_of_bounds", "invalid_body", "accepted"]
    assert check_invariants(db_url, rc.name) == []


def test_a_flagged_value_is_stored_for_review_and_kept_out_of_the_model(
    flagging: tuple[RobotCampaign, str], db_url: str
) -> None:
    rc, url = flagging
    rc.propose(3)
    with _client(url, rc.token) as client:
        ids = [_claim(rc, client) for _ in range(3)]
        for trial_id, value in zip(ids[:2], [8.5, 11.2], strict=True):
            assert _post(client, trial_id, value).status_code == 200
        r = _post(client, ids[2], POISON, key="poison-key-1")
        assert r.status_code == 202, r.text
        ack = r.json()
        assert ack["status"] == "needs_review"
        assert ack["values"] == {"conductivity": POISON}
        assert (
            "held for review: 1.7e+308 is outside the bounds [0, 100]"
            in (ack["review"])
        )
        replay = _post(client, ids[2], POISON, key="poison-key-1")
        assert (replay.status_code, replay.json()) == (202, ack)
        second = _post(client, ids[2], 9.0)  # another key: the first value stands
        assert second.status_code == 409 and second.json()["code"] == "already_measured"

    trials = {t.id: t for t in rc.store.trials(rc.name)}
    held = trials[ids[2]]
    assert held.status is TrialStatus.NEEDS_REVIEW
    assert held.measurement is None and held.flagged is not None
    assert held.flagged.values == {"conductivity": POISON}
    assert "outside the bounds" in (held.failure_reason or "")
    assert check_invariants(db_url, rc.name) == []

    # the next round fits a GP on the two good values only
    engine = CampaignEngine(rc.spec)
    engine.tell(list(trials.values()))
    assert sorted(engine.history().y_done[:, 0]) == [8.5, 11.2]
    proposed = rc.propose(2)
    assert [t.phase for t in proposed] == [TrialPhase.MODEL, TrialPhase.MODEL]
    assert all(abs(t.predicted_mean["conductivity"]) < 1e3 for t in proposed)

    # an operator corrects the unit slip: the trial completes and counts
    act_on_trial(
        rc.store, rc.name, ids[2], "amend", reason="was S/m", values=["conductivity=17"]
    )
    fixed = {t.id: t for t in rc.store.trials(rc.name)}[ids[2]]
    assert fixed.status is TrialStatus.COMPLETED
    assert fixed.values == {"conductivity": 17.0} and fixed.flagged is None
    assert check_invariants(db_url, rc.name) == []


def test_flagged_values_are_resolved_by_void_retry_or_abandon(
    flagging: tuple[RobotCampaign, str], db_url: str
) -> None:
    rc, url = flagging
    rc.propose(3)
    with _client(url, rc.token) as client:
        ids = [_claim(rc, client) for _ in range(3)]
        for trial_id in ids:
            assert _post(client, trial_id, -5.0).status_code == 202
    for trial_id, action in zip(ids, ["void", "retry", "abandon"], strict=True):
        act_on_trial(rc.store, rc.name, trial_id, action, reason="checked the cell")
    void, retry, abandon = ({t.id: t for t in rc.store.trials(rc.name)}[i] for i in ids)
    assert void.status is TrialStatus.COMPLETED and void.measurement is None
    assert void.voided is not None and void.voided.values == {"conductivity": -5.0}
    # retried: claimable again as attempt 2, the old value kept in the audit
    assert (retry.status, retry.attempt, retry.flagged) == (
        TrialStatus.PENDING,
        2,
        None,
    )
    old = rc.store.events(retry.id)[-1]["details"]["operator"]["old"]["measurement"]
    assert old["values"] == {"conductivity": -5.0}
    assert abandon.status is TrialStatus.ABANDONED
    assert abandon.flagged is not None
    with _client(url, rc.token) as client:
        again = _claim(rc, client)
        assert again == retry.id
        r = client.post(
            f"/api/v1/trials/{again}/measurements",
            content=json.dumps({"attempt": 2, "values": {"conductivity": 9.0}}),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k" * 10},
        )
        assert r.status_code == 200, r.text
    assert check_invariants(db_url, rc.name) == []
