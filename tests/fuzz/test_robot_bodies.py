"""Hostile bodies from a robot, over real HTTP: every one is refused with a 4xx
and a JSON error (code, message, hint), nothing stored changes (the trials and
their measurements are byte for byte as before), the body is kept in the inbox
(nothing received from a robot is dropped), and the trial can still be
measured afterwards. Schemathesis fuzzes the whole API from its OpenAPI
document in tests/api/test_openapi_fuzz.py; the 1 GB, chunked and oversized
bodies are in tests/api/test_body_limits.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loop.storage.inbox import submissions
from tests.lab import RobotCampaign, live_server, robot_campaign


def _deep(depth: int) -> str:
    return '{"attempt": 1, "values": ' + "[" * depth + "]" * depth + "}"


#: Raw bodies a confused or hostile controller might send for a measurement.
HOSTILE: list[tuple[str, bytes]] = [
    ("not json", b"conductivity=12"),
    ("truncated", b'{"attempt": 1, "values": {"conductivity": 1'),
    ("json NaN", b'{"attempt": 1, "values": {"conductivity": NaN}}'),
    ("json Infinity", b'{"attempt": 1, "values": {"conductivity": -Infinity}}'),
    ("overflowing number", b'{"attempt": 1, "values": {"conductivity": 1e400}}'),
    (
        "huge integer",
        b'{"attempt": 1, "values": {"conductivity": ' + b"9" * 5000 + b"}}",
    ),
    ("string value", b'{"attempt": 1, "values": {"conductivity": "12.5"}}'),
    ("boolean value", b'{"attempt": 1, "values": {"conductivity": true}}'),
    ("object value", b'{"attempt": 1, "values": {"conductivity": {"v": 1}}}'),
    ("unknown objective", b'{"attempt": 1, "values": {"\\u001b[2Jcond": 1.0}}'),
    ("no values", b'{"attempt": 1}'),
    ("values a list", b'{"attempt": 1, "values": [1, 2]}'),
    ("attempt a string", b'{"attempt": "1", "values": {"conductivity": 1.0}}'),
    ("attempt negative", b'{"attempt": -1, "values": {"conductivity": 1.0}}'),
    (
        "attempt huge",
        b'{"attempt": 99999999999999999999, "values": {"conductivity": 1}}',
    ),
    ("deep nesting", _deep(30_000).encode()),  # 60 kB: under the 64 kB limit
    (
        "invalid utf-8",
        b'{"attempt": 1, "values": {"conductivity": 1.0}, "x": "\xff\xfe"}',
    ),
    ("nul bytes", b'{"attempt": 1, "values": {"conductivity": 1.0}}\x00\x00'),
    ("top-level array", b'[{"attempt": 1, "values": {"conductivity": 1.0}}]'),
    ("empty", b""),
]


@pytest.fixture
def claimed(db_url: str) -> Iterator[tuple[RobotCampaign, httpx.Client, int]]:
    rc = robot_campaign(db_url)
    rc.propose(1)
    with (
        live_server(rc.store) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {rc.token}"}, timeout=60
        ) as client,
    ):
        r = client.post(f"/api/v1/campaigns/{rc.name}/claims")
        assert r.status_code == 200, r.text
        yield rc, client, int(r.json()["trial_id"])


def _stored(rc: RobotCampaign) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json") for t in rc.store.trials(rc.name)]


def _post(client: httpx.Client, trial_id: int, body: bytes) -> httpx.Response:
    return client.post(
        f"/api/v1/trials/{trial_id}/measurements",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )


def test_hostile_measurement_bodies_are_refused_and_change_nothing_stored(
    claimed: tuple[RobotCampaign, httpx.Client, int],
) -> None:
    rc, client, trial_id = claimed
    before = _stored(rc)
    received = len(submissions(rc.store, rc.name))

    for what, body in HOSTILE:
        r = _post(client, trial_id, body)
        assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
        problem = r.json()
        assert {"code", "message", "hint"} <= problem.keys(), (what, problem)
        assert "\x1b" not in json.dumps(problem, ensure_ascii=False), what
        assert _stored(rc) == before, f"{what} changed what is stored"

    # every body that reached a trial route is kept for the record
    kept = submissions(rc.store, rc.name)[received:]
    assert len(kept) == len(HOSTILE)
    # and the trial is still there to be measured properly
    good = _post(client, trial_id, b'{"attempt": 1, "values": {"conductivity": 11.5}}')
    assert good.status_code == 200, good.text
    (trial,) = [t for t in rc.store.trials(rc.name) if t.id == trial_id]
    assert trial.values == {"conductivity": 11.5}


@pytest.mark.parametrize("route", ["heartbeat", "start", "failure"])
def test_hostile_bodies_on_the_other_trial_routes_are_refused_cleanly(
    claimed: tuple[RobotCampaign, httpx.Client, int], route: str
) -> None:
    """Some of the bodies carry a well-formed `attempt`, which is all a
    heartbeat or a start needs: those may act. Every refusal is a 4xx JSON
    error that changed nothing."""
    rc, client, trial_id = claimed
    refused = 0
    for what, body in HOSTILE:
        before = _stored(rc)
        r = client.post(
            f"/api/v1/trials/{trial_id}/{route}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code < 500, (route, what, r.status_code, r.text)
        if r.status_code >= 400:
            refused += 1
            assert {"code", "message", "hint"} <= r.json().keys(), (route, what)
            assert _stored(rc) == before, f"{route}: {what} changed what is stored"
    assert refused >= len(HOSTILE) - 8
