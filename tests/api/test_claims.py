"""Claims and leases over real HTTP: races, vanished robots, started trials, heartbeats.

The API runs under uvicorn on loopback (tests/lab.py) over a real SQLite file
and a real PostgreSQL database (`any_db_url`, RELIABILITY.md §3 cases 15 and
26); leases run out by shifting the store's clock, never by sleeping.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest

from loop.records import Trial, TrialStatus
from loop.service.robots import add_robot
from loop.storage.keys import keys
from tests.lab import RobotCampaign, live_server, robot_campaign


@pytest.fixture
def lab(any_db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(any_db_url)
    with live_server(rc.store) as url:
        yield rc, url


def robot(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def claim(client: httpx.Client, campaign: str) -> httpx.Response:
    return client.post(f"/api/v1/campaigns/{campaign}/claims")


def stored(rc: RobotCampaign, trial_id: int) -> Trial:
    (trial,) = [t for t in rc.store.trials(rc.name) if t.id == trial_id]
    return trial


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def ttl(rc: RobotCampaign) -> float:
    return float(rc.spec.adapter_config().claim_ttl)


def shift(rc: RobotCampaign, seconds: float) -> None:
    """Move the database clock *seconds* further (leases run out without sleeping)."""
    rc.store.clock_skew += timedelta(seconds=seconds)


@pytest.mark.timeout(120)
def test_twenty_robots_racing_for_five_trials_get_each_trial_exactly_once(
    any_db_url: str,
) -> None:
    rc = robot_campaign(any_db_url)
    ready = {t.id for t in rc.propose(5)}
    tokens = [add_robot(rc.store, rc.name, f"racer-{i}").token for i in range(20)]
    key_ids = {k.name: k.id for k in keys(rc.store, rc.name)}
    barrier = threading.Barrier(len(tokens))

    with live_server(rc.store) as url:

        def race(i: int) -> tuple[int, int, dict | None]:
            with robot(url, tokens[i]) as client:
                barrier.wait(timeout=60)
                r = claim(client, rc.name)
            return i, r.status_code, r.json() if r.status_code == 200 else None

        with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
            results = [
                f.result(timeout=100) for f in [pool.submit(race, i) for i in range(20)]
            ]

    assert Counter(status for _, status, _ in results) == {200: 5, 204: 15}, results
    won = {work["trial_id"]: i for i, status, work in results if work is not None}
    assert set(won) == ready, "every ready trial is handed out once, none twice"
    for trial_id, i in won.items():
        trial = stored(rc, trial_id)
        assert trial.status == TrialStatus.CLAIMED and trial.attempt == 1
        assert trial.claimed_by_key == key_ids[f"racer-{i}"], "leased to the winner"
    assert Counter(t.status for t in rc.store.trials(rc.name)) == {
        TrialStatus.CLAIMED: 5
    }


def test_a_trial_whose_robot_vanished_is_offered_again_until_attempts_run_out(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    (trial,) = rc.propose(1)
    max_attempts = rc.spec.adapter_config().max_attempts
    assert max_attempts >= 2
    with robot(url, rc.token) as client:
        for attempt in range(1, max_attempts + 1):
            r = claim(client, rc.name)
            assert r.status_code == 200, r.text
            work = r.json()
            assert (work["trial_id"], work["attempt"]) == (trial.id, attempt)
            assert work["composition"] == trial.composition
            assert work["parameters"] == trial.parameters
            if attempt > 1:  # the robot of the previous attempt comes back: too late
                late = client.post(
                    f"/api/v1/trials/{trial.id}/heartbeat",
                    json={"attempt": attempt - 1},
                )
                assert late.status_code == 409
                assert late.json()["code"] == "lease_superseded"
            # the robot vanishes without a heartbeat; its lease runs out
            shift(rc, ttl(rc) + 1)

        r = claim(client, rc.name)
        assert r.status_code == 204, "a trial out of attempts is not offered again"
    abandoned = stored(rc, trial.id)
    assert abandoned.status == TrialStatus.ABANDONED
    assert abandoned.attempt == max_attempts
    assert abandoned.measurement is None


def test_a_started_trial_whose_lease_runs_out_goes_to_review_not_to_another_robot(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    (trial,) = rc.propose(1)
    with robot(url, rc.token) as client:
        work = claim(client, rc.name).json()
        r = client.post(f"/api/v1/trials/{trial.id}/start", json={"attempt": 1})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "started"
        assert stored(rc, trial.id).started_at is not None

        shift(rc, ttl(rc) + 1)
        assert claim(client, rc.name).status_code == 204, (
            "material was committed: the trial must not be silently re-offered"
        )
        heartbeat = client.post(
            f"/api/v1/trials/{trial.id}/heartbeat", json={"attempt": work["attempt"]}
        )
        assert heartbeat.status_code == 409
    review = stored(rc, trial.id)
    assert review.status == TrialStatus.NEEDS_REVIEW
    assert review.attempt == 1


def test_a_heartbeat_extends_the_lease_so_the_trial_is_not_offered_again(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    (trial,) = rc.propose(1)
    lease = ttl(rc)
    with robot(url, rc.token) as client:
        first = claim(client, rc.name).json()

        shift(rc, lease - 5)  # just before the lease runs out
        r = client.post(f"/api/v1/trials/{trial.id}/heartbeat", json={"attempt": 1})
        assert r.status_code == 200, r.text
        renewed = r.json()
        assert when(renewed["lease_expires_at"]) > when(first["lease_expires_at"])
        assert (renewed["trial_id"], renewed["attempt"]) == (trial.id, 1)

        shift(rc, lease - 5)  # past the first lease, inside the renewed one
        assert claim(client, rc.name).status_code == 204
        held = stored(rc, trial.id)
        assert (held.status, held.attempt) == (TrialStatus.CLAIMED, 1)

        shift(rc, 10)  # past the renewed lease too: now it is offered again
        again = claim(client, rc.name)
        assert again.status_code == 200
        assert (again.json()["trial_id"], again.json()["attempt"]) == (trial.id, 2)


def test_a_retried_claim_with_the_same_key_gets_the_same_trial(
    lab: tuple[RobotCampaign, str],
) -> None:
    """A claim whose response was lost is retried with its key: the robot gets
    the trial it was granted, and no second trial is leased to nobody."""
    rc, url = lab
    rc.propose(2)
    headers = {"Idempotency-Key": "claim-0001-retry"}
    with robot(url, rc.token) as client:
        first = client.post(f"/api/v1/campaigns/{rc.name}/claims", headers=headers)
        again = client.post(f"/api/v1/campaigns/{rc.name}/claims", headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        statuses = sorted(t.status for t in rc.store.trials(rc.name))
        assert statuses == sorted([TrialStatus.PENDING, TrialStatus.CLAIMED])
        other = claim(client, rc.name)
        assert other.json()["trial_id"] != first.json()["trial_id"]


def test_a_claim_key_replays_only_while_the_robot_still_holds_the_trial(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    rc.propose(1)
    headers = {"Idempotency-Key": "claim-0002-late"}
    with robot(url, rc.token) as client:
        first = client.post(f"/api/v1/campaigns/{rc.name}/claims", headers=headers)
        assert first.status_code == 200
        shift(rc, ttl(rc) + 1)  # the lease runs out and the trial is re-offered
        assert claim(client, rc.name).json()["attempt"] == 2
        again = client.post(f"/api/v1/campaigns/{rc.name}/claims", headers=headers)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "claim_superseded"


def test_a_heartbeat_after_the_lease_ran_out_does_not_revive_it(
    lab: tuple[RobotCampaign, str],
) -> None:
    """Issue 15: a heartbeat on an expired lease the reaper had not seen yet
    used to extend it; the trial was already due to go back to the queue."""
    rc, url = lab
    (trial,) = rc.propose(1)
    with robot(url, rc.token) as client:
        first = claim(client, rc.name).json()
        shift(rc, ttl(rc) + 5)  # run out, no claim since: not yet reaped
        for route in ("heartbeat", "start"):
            r = client.post(f"/api/v1/trials/{trial.id}/{route}", json={"attempt": 1})
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "lease_superseded"
            assert "ran out" in r.json()["message"]
        held = stored(rc, trial.id)
        assert held.status == TrialStatus.CLAIMED
        assert held.lease_expires_at == when(first["lease_expires_at"])
        # what the robot reports about the attempt is still kept
        r = client.post(
            f"/api/v1/trials/{trial.id}/failure",
            json={"attempt": 1, "reason": "pump jammed", "retryable": True},
        )
        assert r.status_code == 200, r.text


def test_a_call_on_a_trial_never_claimed_says_so(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    (trial,) = rc.propose(1)
    with robot(url, rc.token) as client:
        r = client.post(f"/api/v1/trials/{trial.id}/heartbeat", json={"attempt": 1})
    assert r.status_code == 409
    assert "has not been claimed" in r.json()["message"]
    assert "claims" in r.json()["hint"]
