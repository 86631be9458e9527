"""RobotClient against the real API on loopback, over real SQLite files.

Only the network is faked, and only where a test says so: an httpx transport
that forwards to the real server and then loses the response, or answers like
an overloaded gateway before forwarding.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from adapters.robot.client import (
    MAX_PAUSE,
    NO_RESPONSE,
    RobotAPIError,
    RobotClient,
    Work,
)
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


# ------------------------------------------------- retries without a server
class Scripted(httpx.BaseTransport):
    """Answers each request with the next of *answers*: a response, or an error
    to raise (no response at all); the last answer repeats."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"code": code, "message": code, "hint": ""}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's pauses between tries, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


def _client(transport: httpx.BaseTransport, retries: int = 5) -> RobotClient:
    return RobotClient(
        "http://robot.test", "token", "c", retries=retries, transport=transport
    )


def test_pauses_grow_with_jitter_and_keep_the_key_and_the_body(
    pauses: list[float],
) -> None:
    transport = Scripted(
        httpx.ConnectError("refused"),
        _error(502, "http"),
        _error(409, "in_flight"),
        httpx.Response(200, json={"measurement_id": 1}),
    )
    with _client(transport) as robot:
        work = Work(1, 1, None, {}, {}, [])
        assert robot.report(work, {"x": 1.0}) == {"measurement_id": 1}
    assert len(transport.requests) == 4 and len(pauses) == 3
    backoff = robot.backoff
    for n, pause in enumerate(pauses):
        assert 0.5 * backoff * 2**n <= pause <= 1.5 * backoff * 2**n
    assert len({r.headers["Idempotency-Key"] for r in transport.requests}) == 1
    assert len({r.content for r in transport.requests}) == 1


def test_retry_after_is_a_floor_capped_at_max_pause(pauses: list[float]) -> None:
    transport = Scripted(
        _error(503, "busy", **{"Retry-After": "7"}),
        _error(429, "slow_down", **{"Retry-After": "3600"}),
        _error(503, "busy", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(204),
    )
    with _client(transport) as robot:
        assert robot.claim() is None
    assert pauses[:2] == [7.0, MAX_PAUSE]
    assert pauses[2] <= 1.5 * robot.backoff * 4, "an HTTP date: our own backoff"


def test_out_of_retries_the_last_error_is_raised(pauses: list[float]) -> None:
    transport = Scripted(_error(503, "busy"))
    with _client(transport, retries=2) as robot:
        with pytest.raises(RobotAPIError) as caught:
            robot.status()
    assert (caught.value.status, caught.value.code) == (503, "busy")
    assert len(transport.requests) == 3 and len(pauses) == 2


def test_unreachable_after_the_retries_names_the_tries(pauses: list[float]) -> None:
    transport = Scripted(httpx.ReadTimeout("slow"))
    with _client(transport, retries=3) as robot:
        with pytest.raises(RobotAPIError) as caught:
            robot.status()
    error = caught.value
    assert (error.status, error.code) == (NO_RESPONSE, "unreachable")
    assert "after 4 tries: ReadTimeout: slow" in error.message
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert len(transport.requests) == 4 and len(pauses) == 3


@pytest.mark.parametrize(
    "answer",
    [
        _error(409, "lease_superseded"),
        _error(422, "invalid_body"),
        _error(500, "error"),
        httpx.UnsupportedProtocol("ftp://"),
    ],
    ids=["409-superseded", "422", "500", "not-a-network-error"],
)
def test_other_failures_are_raised_at_once(
    answer: httpx.Response | Exception, pauses: list[float]
) -> None:
    transport = Scripted(answer)
    with _client(transport) as robot:
        with pytest.raises((RobotAPIError, httpx.UnsupportedProtocol)):
            robot.status()
    assert len(transport.requests) == 1 and pauses == []
