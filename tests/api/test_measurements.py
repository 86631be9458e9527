"""Measurements over real HTTP: late posts, superseded attempts, idempotent retries,
and bad bodies that must leave the trial as it was while the inbox keeps them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from loop.api.app import MAX_BODY
from loop.records import Trial, TrialStatus
from loop.service.robots import add_robot
from loop.storage.inbox import submissions
from loop.storage.lab import reap_expired
from tests.lab import RobotCampaign, live_server, robot_campaign

GOOD = {
    "attempt": 1,
    "values": {"conductivity": 9.7},
    "units": {"conductivity": "mS/cm"},
    "metadata": {"cell": "A3", "temperature_C": 25.0},
}


@pytest.fixture
def lab(db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(db_url)
    with live_server(rc.store) as url:
        yield rc, url


@pytest.fixture
def any_lab(any_db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    """`lab` on SQLite and on PostgreSQL (leases and idempotency: RELIABILITY.md
    §3 cases 9 and 26)."""
    rc = robot_campaign(any_db_url)
    with live_server(rc.store) as url:
        yield rc, url


def robot(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def claimed(rc: RobotCampaign, client: httpx.Client) -> dict[str, Any]:
    """Propose one trial and claim it; the work document."""
    rc.propose(1)
    r = client.post(f"/api/v1/campaigns/{rc.name}/claims")
    assert r.status_code == 200, r.text
    return r.json()


def post(
    client: httpx.Client,
    trial_id: int,
    body: dict[str, Any] | str | bytes,
    key: str | None = "fresh",
    content_type: str = "application/json",
) -> httpx.Response:
    """POST a measurement; *body* as a dict (JSON) or raw text/bytes, sent as is."""
    if isinstance(body, dict):
        body = json.dumps(body)
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = str(uuid.uuid4()) if key == "fresh" else key
    return client.post(
        f"/api/v1/trials/{trial_id}/measurements",
        content=body.encode() if isinstance(body, str) else body,
        headers=headers,
    )


def stored(rc: RobotCampaign, trial_id: int) -> Trial:
    (trial,) = [t for t in rc.store.trials(rc.name) if t.id == trial_id]
    return trial


def inbox(rc: RobotCampaign, trial_id: int) -> list[dict[str, Any]]:
    return [s for s in submissions(rc.store, rc.name) if s["trial_id"] == trial_id]


def ttl(rc: RobotCampaign) -> float:
    return float(rc.spec.adapter_config().claim_ttl)


def shift(rc: RobotCampaign, seconds: float) -> None:
    rc.store.clock_skew += timedelta(seconds=seconds)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    """A 4xx with the JSON error body every client can rely on."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    for field in ("code", "message", "hint"):
        assert isinstance(body[field], str) and body[field], body
    if code is not None:
        assert body["code"] == code, body
    return body


# ------------------------------------------------------------------ leases
def test_a_measurement_posted_after_the_lease_ran_out_is_accepted_and_flagged_late(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        shift(rc, ttl(rc) + 60)
        r = post(client, work["trial_id"], GOOD)
    assert r.status_code == 200, r.text
    assert r.json()["late"] is True
    trial = stored(rc, work["trial_id"])
    assert trial.status == TrialStatus.COMPLETED
    assert trial.measurement is not None and trial.measurement.late is True
    assert trial.values == {"conductivity": 9.7}


def test_a_late_measurement_for_a_trial_offered_again_but_not_reclaimed_is_accepted(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        shift(rc, ttl(rc) + 1)
        # the driver's reaper offers the trial again (attempt 2); nobody claims it
        (reaped,) = reap_expired(
            rc.store, rc.name, rc.spec.adapter_config().max_attempts
        )
        assert reaped.to == TrialStatus.PENDING
        assert stored(rc, work["trial_id"]).attempt == 2

        r = post(client, work["trial_id"], GOOD)  # attempt 1, from the slow robot
        assert r.status_code == 200, r.text
        assert r.json()["late"] is True and r.json()["attempt"] == 1
        assert client.post(f"/api/v1/campaigns/{rc.name}/claims").status_code == 204
    trial = stored(rc, work["trial_id"])
    assert trial.status == TrialStatus.COMPLETED
    assert trial.measurement is not None
    assert (trial.measurement.attempt, trial.measurement.late) == (1, True)


def test_a_measurement_for_a_superseded_attempt_is_refused_and_kept_for_an_operator(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    second = add_robot(rc.store, rc.name, "robot-2").token
    with robot(url, rc.token) as slow, robot(url, second) as fast:
        work = claimed(rc, slow)
        shift(rc, ttl(rc) + 1)
        again = fast.post(f"/api/v1/campaigns/{rc.name}/claims").json()
        assert (again["trial_id"], again["attempt"]) == (work["trial_id"], 2)

        text = json.dumps(GOOD)
        r = post(slow, work["trial_id"], text)
        assert_error(r, 409, "lease_superseded")
        trial = stored(rc, work["trial_id"])
        assert (trial.status, trial.attempt) == (TrialStatus.CLAIMED, 2)
        assert trial.measurement is None
        kept = inbox(rc, work["trial_id"])[-1]
        assert kept["body"] == text
        assert (kept["outcome"], kept["status_code"]) == ("lease_superseded", 409)

        # the robot holding attempt 2 is unaffected
        r = post(fast, work["trial_id"], {**GOOD, "attempt": 2})
        assert r.status_code == 200, r.text
        assert r.json()["late"] is False
    assert stored(rc, work["trial_id"]).measurement.attempt == 2  # type: ignore[union-attr]


# ------------------------------------------------------------- idempotency
def test_a_retried_post_is_stored_once_and_answered_byte_for_byte_the_same(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    key = str(uuid.uuid4())
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        first = post(client, work["trial_id"], GOOD, key)
        retry = post(client, work["trial_id"], GOOD, key)
        # the same body with other key order and spacing is the same measurement
        reordered = json.dumps(dict(reversed(GOOD.items())), indent=2)
        third = post(client, work["trial_id"], reordered, key)
    assert first.status_code == retry.status_code == third.status_code == 200
    assert retry.content == first.content
    assert third.content == first.content
    trial = stored(rc, work["trial_id"])
    assert trial.status == TrialStatus.COMPLETED
    assert trial.measurement is not None
    assert first.json()["measurement_id"] == retry.json()["measurement_id"]
    outcomes = [s["outcome"] for s in inbox(rc, work["trial_id"])]
    assert outcomes == ["accepted", "replayed", "replayed"]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    key = str(uuid.uuid4())
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        assert post(client, work["trial_id"], GOOD, key).status_code == 200
        before = stored(rc, work["trial_id"])
        other = {**GOOD, "values": {"conductivity": 1.1}}
        body = assert_error(post(client, work["trial_id"], other, key), 422)
    assert body["fields"], body
    assert stored(rc, work["trial_id"]) == before
    assert before.values == {"conductivity": 9.7}


def test_a_key_reused_for_another_trial_is_refused_not_replayed(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    """Replaying the first trial's answer would tell the robot that the second
    trial was measured when nothing was stored for it."""
    rc, url = any_lab
    key = str(uuid.uuid4())
    with robot(url, rc.token) as client:
        first = claimed(rc, client)
        second = claimed(rc, client)
        assert post(client, first["trial_id"], GOOD, key).status_code == 200
        before = stored(rc, second["trial_id"])
        body = assert_error(post(client, second["trial_id"], GOOD, key), 422)
    assert str(first["trial_id"]) in body["message"]
    assert stored(rc, second["trial_id"]) == before
    assert before.measurement is None


def test_another_robot_replaying_a_key_gets_no_stored_answer(
    lab: tuple[RobotCampaign, str],
) -> None:
    """Idempotency keys belong to the robot that sent them: a second robot that
    sends robot A's key (a guessed UUID, a copied log line) gets its own answer,
    never A's stored acknowledgement or A's claimed trial."""
    rc, url = lab
    other = add_robot(rc.store, rc.name, "robot-b").token
    key = str(uuid.uuid4())
    with robot(url, rc.token) as a, robot(url, other) as b:
        work = claimed(rc, a)
        first = post(a, work["trial_id"], GOOD, key)
        assert first.status_code == 200
        replayed = post(b, work["trial_id"], GOOD, key)
        assert_error(replayed, 409, "already_measured")
        assert replayed.content != first.content
        # a claim key too: robot B's claim with A's key is B's own claim
        rc.propose(2)
        claim_key = {"Idempotency-Key": str(uuid.uuid4())}
        mine = a.post(f"/api/v1/campaigns/{rc.name}/claims", headers=claim_key)
        theirs = b.post(f"/api/v1/campaigns/{rc.name}/claims", headers=claim_key)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["trial_id"] != theirs.json()["trial_id"]
    assert [s["outcome"] for s in inbox(rc, work["trial_id"])][-1] != "replayed"


def test_a_measurement_without_an_idempotency_key_is_refused(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        before = stored(rc, work["trial_id"])
        body = assert_error(post(client, work["trial_id"], GOOD, key=None), 400)
    assert "Idempotency-Key" in body["message"]
    assert stored(rc, work["trial_id"]) == before
    kept = inbox(rc, work["trial_id"])
    assert [s["body"] for s in kept] == [json.dumps(GOOD)]


def test_a_second_measurement_with_a_new_key_is_refused_as_already_measured(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        assert post(client, work["trial_id"], GOOD).status_code == 200
        before = stored(rc, work["trial_id"])
        second = {**GOOD, "values": {"conductivity": 10.2}}
        assert_error(post(client, work["trial_id"], second), 409, "already_measured")
    assert stored(rc, work["trial_id"]) == before
    assert inbox(rc, work["trial_id"])[-1]["body"] == json.dumps(second)


def test_a_measurement_for_an_unknown_trial_is_404_and_still_kept(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    """RELIABILITY.md §3 case 11: 404 after auth, the raw body archived."""
    rc, url = any_lab
    text = json.dumps(GOOD)
    with robot(url, rc.token) as client:
        claimed(rc, client)
        assert_error(post(client, 987654, text), 404, "not_found")
    assert [s["body"] for s in submissions(rc.store, rc.name)] == [text]


@pytest.mark.timeout(120)
def test_twenty_concurrent_retries_of_one_post_store_one_measurement(
    any_lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = any_lab
    key = str(uuid.uuid4())
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
    barrier = threading.Barrier(20)

    def retry(_: int) -> httpx.Response:
        with robot(url, rc.token) as client:
            barrier.wait(timeout=60)
            return post(client, work["trial_id"], GOOD, key)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(retry, range(20), timeout=100))
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 409} and statuses[200] >= 1, statuses
    assert all(r.json()["code"] == "in_flight" for r in answers if r.status_code == 409)
    assert len({r.content for r in answers if r.status_code == 200}) == 1
    trial = stored(rc, work["trial_id"])
    assert trial.status == TrialStatus.COMPLETED and trial.values == GOOD["values"]


# --------------------------------------------------------------- bad bodies
def _with(values: str = '{"conductivity": 9.7}', extra: str = "") -> str:
    return f'{{"attempt": 1, "values": {values}{extra}}}'


DEEP = '{"a": ' * 5000 + "1" + "}" * 5000

#: (case, raw body, the JSON pointer the 422 must name)
BAD_BODIES = [
    ("nan", _with('{"conductivity": NaN}'), "/values/conductivity"),
    ("infinity", _with('{"conductivity": Infinity}'), "/values/conductivity"),
    ("minus-infinity", _with('{"conductivity": -Infinity}'), "/values/conductivity"),
    ("overflow-to-infinity", _with('{"conductivity": 1e999}'), "/values/conductivity"),
    ("string-nan", _with('{"conductivity": "NaN"}'), "/values/conductivity"),
    ("string-number", _with('{"conductivity": "9.7"}'), "/values/conductivity"),
    ("boolean", _with('{"conductivity": true}'), "/values/conductivity"),
    ("null", _with('{"conductivity": null}'), "/values/conductivity"),
    (
        "unknown-objective",
        _with('{"conductivity": 9.7, "viscosity": 1.2}'),
        "/values/viscosity",
    ),
    ("other-objective-only", _with('{"viscosity": 1.2}'), "/values/conductivity"),
    ("no-values", _with("{}"), "/values"),
    ("values-missing", '{"attempt": 1}', "/values"),
    (
        "wrong-unit",
        _with(extra=', "units": {"conductivity": "S/m"}'),
        "/units/conductivity",
    ),
    ("extra-field", _with(extra=', "temperature": 25'), "/temperature"),
    (
        "attempt-as-string",
        '{"attempt": "1", "values": {"conductivity": 9.7}}',
        "/attempt",
    ),
    ("attempt-missing", '{"values": {"conductivity": 9.7}}', "/attempt"),
    ("not-json", "conductivity=9.7&attempt=1", ""),
    ("truncated-json", _with()[:-5], ""),
    ("json-array", "[1, 2, 3]", None),
    ("deeply-nested-metadata", _with(extra=f', "metadata": {DEEP}'), None),
]


@pytest.mark.parametrize(
    ("text", "pointer"),
    [pytest.param(text, pointer, id=case) for case, text, pointer in BAD_BODIES],
)
def test_a_bad_measurement_is_refused_with_a_field_pointer_and_changes_nothing(
    lab: tuple[RobotCampaign, str], text: str, pointer: str | None
) -> None:
    rc, url = lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        before = stored(rc, work["trial_id"])
        r = post(client, work["trial_id"], text)
        body = assert_error(r, 422, "invalid_body")
        pointers = [f["pointer"] for f in body["fields"]]
        assert pointers, body
        if pointer is not None:
            assert pointer in pointers, body
        assert stored(rc, work["trial_id"]) == before, "a refused post changes nothing"
        kept = inbox(rc, work["trial_id"])
        assert [(s["body"], s["status_code"]) for s in kept] == [(text, 422)]
        # the robot fixes its post and sends it again: accepted
        assert post(client, work["trial_id"], GOOD).status_code == 200


def test_an_oversized_body_is_refused_with_413_and_changes_nothing(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    huge = {**GOOD, "metadata": {"log": "x" * MAX_BODY}}
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        before = stored(rc, work["trial_id"])
        assert_error(post(client, work["trial_id"], huge), 413, "body_too_large")
        assert stored(rc, work["trial_id"]) == before
        assert post(client, work["trial_id"], GOOD).status_code == 200


def test_a_body_that_is_not_json_by_content_type_is_refused_and_changes_nothing(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    with robot(url, rc.token) as client:
        work = claimed(rc, client)
        before = stored(rc, work["trial_id"])
        r = post(client, work["trial_id"], GOOD, content_type="text/plain")
        assert_error(r, 415, "unsupported_media_type")
        assert stored(rc, work["trial_id"]) == before
