"""Who may do what over real HTTP: 401 without a valid token, 403 for a valid token
that is not allowed here, /healthz open, and tokens never stored in plain text.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop.records import Trial, TrialStatus
from loop.service.robots import add_robot
from loop.storage.keys import revoke_key
from tests.lab import RobotCampaign, live_server, robot_campaign

MEASUREMENT = {"attempt": 1, "values": {"conductivity": 9.7}}


@pytest.fixture
def lab(db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(db_url)
    rc.propose(2)
    with live_server(rc.store) as url:
        yield rc, url


def client(url: str, token: str | None = None, **headers: str) -> httpx.Client:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def claim(url: str, rc: RobotCampaign, token: str) -> dict[str, Any]:
    with client(url, token) as c:
        r = c.post(f"/api/v1/campaigns/{rc.name}/claims")
    assert r.status_code == 200, r.text
    return r.json()


def trial_routes(trial_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request kwargs) of every route that acts on a trial."""
    base = f"/api/v1/trials/{trial_id}"
    return [
        ("POST", f"{base}/heartbeat", {"json": {"attempt": 1}}),
        ("POST", f"{base}/start", {"json": {"attempt": 1}}),
        (
            "POST",
            f"{base}/measurements",
            {"json": MEASUREMENT, "headers": {"Idempotency-Key": str(uuid.uuid4())}},
        ),
        (
            "POST",
            f"{base}/failure",
            {"json": {"attempt": 1, "reason": "pump jammed", "retryable": True}},
        ),
    ]


def all_routes(rc: RobotCampaign, trial_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("POST", f"/api/v1/campaigns/{rc.name}/claims", {}),
        ("GET", f"/api/v1/campaigns/{rc.name}", {}),
        *trial_routes(trial_id),
    ]


def snapshot(rc: RobotCampaign) -> list[Trial]:
    return rc.store.trials(rc.name)


def assert_refused(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.text}"
    body = r.json()
    assert body["code"] and body["message"] and body["hint"], body
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers
    return body


# ---------------------------------------------------------------------- 401
def test_without_a_token_every_robot_route_answers_401_and_changes_nothing(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    trial_id = snapshot(rc)[0].id
    before = snapshot(rc)
    with client(url) as anonymous:
        for method, path, kwargs in all_routes(rc, trial_id):
            assert_refused(anonymous.request(method, path, **kwargs), 401)
    assert snapshot(rc) == before


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer not-a-token", id="garbage"),
        pytest.param("Bearer loop_00000000_" + "A" * 43, id="unknown-prefix"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Token {token}", id="wrong-scheme"),
        pytest.param(
            "Basic " + base64.b64encode(b"robot-1:{token}").decode(), id="basic-auth"
        ),
        pytest.param("{token}", id="no-scheme"),
    ],
)
def test_a_wrong_or_malformed_token_is_refused_with_401(
    lab: tuple[RobotCampaign, str], authorization: str
) -> None:
    rc, url = lab
    before = snapshot(rc)
    header = authorization.replace("{token}", rc.token)
    with client(url, Authorization=header) as c:
        assert_refused(c.post(f"/api/v1/campaigns/{rc.name}/claims"), 401)
    assert snapshot(rc) == before


def test_a_token_with_a_valid_prefix_but_another_secret_is_refused(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    prefix = rc.token.split("_")[1]
    forged = f"loop_{prefix}_{'x' * 43}"
    with client(url, forged) as c:
        assert_refused(c.post(f"/api/v1/campaigns/{rc.name}/claims"), 401)


def test_a_token_in_the_query_string_is_not_accepted(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    with client(url) as c:
        for name in ("token", "access_token", "api_key"):
            r = c.post(f"/api/v1/campaigns/{rc.name}/claims", params={name: rc.token})
            assert_refused(r, 401)


def test_a_revoked_token_is_refused_at_once(lab: tuple[RobotCampaign, str]) -> None:
    rc, url = lab
    work = claim(url, rc, rc.token)
    revoke_key(rc.store, rc.name, "robot-1")
    with client(url, rc.token) as robot:
        body = assert_refused(robot.post(f"/api/v1/campaigns/{rc.name}/claims"), 401)
        assert "revoked" in body["message"]
        for method, path, kwargs in trial_routes(work["trial_id"]):
            assert_refused(robot.request(method, path, **kwargs), 401)
    trial = [t for t in snapshot(rc) if t.id == work["trial_id"]][0]
    assert (trial.status, trial.measurement) == (TrialStatus.CLAIMED, None)


# ---------------------------------------------------------------------- 403
def test_a_token_of_another_campaign_is_forbidden_on_this_campaign(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    work = claim(url, rc, rc.token)
    before = snapshot(rc)
    with client(url, rc.other_token) as stranger:
        # the token is valid: its own campaign answers (nothing ready there)
        own = stranger.post(f"/api/v1/campaigns/{rc.name}-other/claims")
        assert own.status_code == 204, own.text
        for method, path, kwargs in all_routes(rc, work["trial_id"]):
            assert_refused(stranger.request(method, path, **kwargs), 403)
    assert snapshot(rc) == before


def test_a_read_only_key_reads_the_status_but_cannot_claim_or_report(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    reader = add_robot(rc.store, rc.name, "dashboard", "read").token
    work = claim(url, rc, rc.token)
    before = snapshot(rc)
    with client(url, reader) as c:
        status = c.get(f"/api/v1/campaigns/{rc.name}")
        assert status.status_code == 200, status.text
        assert status.json()["name"] == rc.name
        assert len(status.json()["trials"]) == 2
        assert_refused(c.post(f"/api/v1/campaigns/{rc.name}/claims"), 403)
        for method, path, kwargs in trial_routes(work["trial_id"]):
            assert_refused(c.request(method, path, **kwargs), 403)
    assert snapshot(rc) == before


def test_a_robot_cannot_act_on_a_trial_another_robot_of_the_campaign_claimed(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    other = add_robot(rc.store, rc.name, "robot-2").token
    work = claim(url, rc, rc.token)
    before = snapshot(rc)
    with client(url, other) as c:
        for method, path, kwargs in trial_routes(work["trial_id"]):
            assert_refused(c.request(method, path, **kwargs), 403)
    assert snapshot(rc) == before
    # the holder is unaffected
    with client(url, rc.token) as holder:
        r = holder.post(
            f"/api/v1/trials/{work['trial_id']}/measurements",
            json=MEASUREMENT,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 200, r.text


# ------------------------------------------------------------ open routes, storage
def test_healthz_needs_no_token(lab: tuple[RobotCampaign, str]) -> None:
    _, url = lab
    with client(url) as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_tokens_are_never_stored_in_plain_text(
    lab: tuple[RobotCampaign, str], tmp_path: Path
) -> None:
    rc, url = lab
    reader = add_robot(rc.store, rc.name, "dashboard", "read").token
    tokens = [rc.token, rc.other_token, reader]
    claim(url, rc, rc.token)  # used tokens too (last_used_at is written)
    files = sorted(tmp_path.glob("loop.db*"))
    assert files, "the SQLite database is in tmp_path"
    data = b"".join(f.read_bytes() for f in files)
    for token in tokens:
        prefix, secret = token.split("_")[1], token.split("_", 2)[2]
        assert prefix.encode() in data, "the scan sees the key rows"
        assert token.encode() not in data
        assert secret.encode() not in data
