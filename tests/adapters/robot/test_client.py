"""RobotClient against the real API on loopback, over real SQLite files.

Only the network is faked, and only where a test says so: an httpx transport
that forwards to the real server and then loses the response, or answers like
an overloaded gateway before forwarding.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from adapters.robot.client import RobotAPIError, RobotClient
from loop.service.robots import add_robot
from loop.storage import inbox as db
from loop.storage.tables import MeasurementRow
from tests.lab import free_port, live_server, robot_campaign

pytestmark = pytest.mark.timeout(120)


class Recording(httpx.BaseTransport):
    """Forwards every request to the real server and keeps a copy of it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def to(self, suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(suffix)]


class DropsFirstResponse(Recording):
    """The first request to *suffix* reaches the server, but its response is lost."""

    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.suffix = suffix
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith(self.suffix) and not self.dropped:
            self.dropped += 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("response lost on the way back", request=request)
        return response


class BusyGatewayFirst(Recording):
    """Answers the first request 503 with Retry-After (as a proxy would), then forwards."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.requests:
            self.requests.append(request)
            return httpx.Response(
                503, headers={"Retry-After": "0"}, text="upstream busy", request=request
            )
        return super().handle_request(request)


def _measurements(store, trial_id: int) -> list[MeasurementRow]:
    with store.transaction(write=False) as s:
        return list(
            s.exec(select(MeasurementRow).where(MeasurementRow.trial_id == trial_id))
        )


def test_report_retried_after_a_lost_response_is_stored_once(db_url: str) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    transport = DropsFirstResponse("/measurements")
    with (
        live_server(rc.store) as url,
        RobotClient(url, rc.token, rc.name, backoff=0.01, transport=transport) as robot,
    ):
        work = robot.claim()
        assert work is not None and work.attempt == 1
        robot.start(work)
        response = robot.report(work, {"conductivity": 9.5}, {"conductivity": "mS/cm"})
        posts = transport.to("/measurements")
        assert transport.dropped == 1 and len(posts) == 2
        keys = {p.headers["Idempotency-Key"] for p in posts}
        assert len(keys) == 1, "a retry must reuse the Idempotency-Key"
        assert posts[0].content == posts[1].content
        # posting again on purpose with that key replays the same response
        again = robot.report(
            work,
            {"conductivity": 9.5},
            {"conductivity": "mS/cm"},
            idempotency_key=keys.pop(),
        )
    assert again == response
    assert response["status"] == "completed" and response["values"] == {
        "conductivity": 9.5
    }
    rows = _measurements(rc.store, work.trial_id)
    assert [r.id for r in rows] == [response["measurement_id"]]
    outcomes = [
        s["outcome"]
        for s in db.submissions(rc.store, rc.name)
        if s["route"] == "measurements"
    ]
    assert outcomes == ["accepted", "replayed", "replayed"]


def test_invalid_body_raises_with_field_pointers_without_retrying(
    db_url: str,
) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    transport = Recording()
    with (
        live_server(rc.store) as url,
        RobotClient(url, rc.token, rc.name, backoff=0.01, transport=transport) as robot,
    ):
        work = robot.claim()
        assert work is not None
        with pytest.raises(RobotAPIError) as caught:
            robot.report(work, {"conductivity": 9.5, "viscosity": 1.0})
    error = caught.value
    assert (error.status, error.code) == (422, "invalid_body")
    assert [f["pointer"] for f in error.fields] == ["/values/viscosity"]
    assert "/values/viscosity" in str(error)
    assert len(transport.to("/measurements")) == 1
    assert _measurements(rc.store, work.trial_id) == []


def test_busy_gateway_is_retried_and_then_answered(db_url: str) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    transport = BusyGatewayFirst()
    with (
        live_server(rc.store) as url,
        RobotClient(url, rc.token, rc.name, backoff=0.01, transport=transport) as robot,
    ):
        work = robot.claim()
    assert work is not None and work.attempt == 1
    assert len(transport.to("/claims")) == 2


def test_claim_start_heartbeat_fail_and_claim_again(db_url: str) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    with live_server(rc.store) as url, RobotClient(url, rc.token, rc.name) as robot:
        work = robot.claim()
        assert work is not None
        assert work.campaign == rc.name
        assert set(work.composition) == {"EC", "EMC", "DMC"}
        assert set(work.parameters) == {"LiPF6_molality"}
        assert work.objectives == [{"name": "conductivity", "unit": "mS/cm"}]
        assert robot.claim() is None  # the only trial is leased
        assert robot.heartbeat(work)["status"] == "claimed"
        assert robot.start(work)["status"] == "started"
        assert robot.start(work)["status"] == "started"  # repeating is harmless
        failed = robot.fail(
            work, "pipette clogged", retryable=True, details={"code": "E42"}
        )
        assert failed == {
            "trial_id": work.trial_id,
            "status": "pending",
            "attempt": 2,
            "retried": True,
        }
        again = robot.claim()
        assert again is not None
        assert (again.trial_id, again.attempt) == (work.trial_id, 2)
        status = robot.status()
    assert status["name"] == rc.name and status["counts"] == {"claimed": 1}
    # what the robot said of the failure stays on the trial's history
    [retry] = [
        e for e in rc.store.events(work.trial_id) if e["to_status"] == "pending"
    ][-1:]
    assert retry["reason"] == "pipette clogged" and retry["details"] == {"code": "E42"}


def test_wrong_token_and_other_campaign_are_refused_at_once(db_url: str) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    transport = Recording()
    with live_server(rc.store) as url:
        with RobotClient(url, "not-a-token", rc.name, transport=transport) as robot:
            with pytest.raises(RobotAPIError) as caught:
                robot.claim()
        assert caught.value.status == 401
        with RobotClient(url, rc.other_token, rc.name, transport=transport) as robot:
            with pytest.raises(RobotAPIError) as caught:
                robot.claim()
        assert caught.value.status == 403
    assert len(transport.requests) == 2


def test_unreachable_server_raises_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    transport = Recording()
    with RobotClient(
        url, "token", "nowhere", retries=2, backoff=0.001, transport=transport
    ) as robot:
        with pytest.raises(RobotAPIError) as caught:
            robot.claim()
    assert (caught.value.status, caught.value.code) == (0, "unreachable")
    assert len(transport.requests) == 3


def test_a_robot_that_vanishes_after_claiming_is_replaced_on_attempt_two(
    db_url: str,
) -> None:
    rc = robot_campaign(db_url)
    rc.propose(1)
    ttl = rc.spec.adapter_config().claim_ttl
    second = add_robot(rc.store, rc.name, "robot-2").token
    with live_server(rc.store) as url:
        with RobotClient(url, rc.token, rc.name) as gone:
            lost = gone.claim()
            assert lost is not None and lost.attempt == 1
            # the robot vanishes: no heartbeat, no report
            with RobotClient(url, second, rc.name) as robot:
                assert robot.claim() is None  # the lease still holds
                rc.store.clock_skew = timedelta(seconds=ttl + 1)
                work = robot.claim()
                assert work is not None
                assert (work.trial_id, work.attempt) == (lost.trial_id, 2)
                robot.start(work)
            # the first robot comes back too late: its attempt was superseded
            with pytest.raises(RobotAPIError) as caught:
                gone.report(lost, {"conductivity": 9.5})
    assert (caught.value.status, caught.value.code) == (409, "lease_superseded")
    assert _measurements(rc.store, lost.trial_id) == []
