"""Per-key rate limits: a runaway client gets 429 with Retry-After, over real
HTTP, and other robots are not slowed by it."""

from __future__ import annotations

import httpx
import pytest

from loop.api.limits import RateLimitedError, RateLimiter
from loop.service.robots import add_robot
from tests.lab import live_server, robot_campaign


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    for _ in range(3):
        limiter.take(1, now=100.0)
    with pytest.raises(RateLimitedError) as refused:
        limiter.take(1, now=100.0)
    assert refused.value.retry_after == 1  # half a second, rounded up
    limiter.take(2, now=100.0)  # another key has its own bucket
    limiter.take(1, now=100.5)  # one token back after 1/rate seconds
    with pytest.raises(RateLimitedError):
        limiter.take(1, now=100.5)


def test_a_runaway_token_gets_429_and_the_other_robot_is_served(db_url: str) -> None:
    rc = robot_campaign(db_url)
    other = add_robot(rc.store, rc.name, "robot-2").token
    path = f"/api/v1/campaigns/{rc.name}"
    with live_server(rc.store, limiter=RateLimiter(rate=0.5, burst=5)) as url:
        with httpx.Client(base_url=url, timeout=30) as http:
            mine = {"Authorization": f"Bearer {rc.token}"}
            answers = [http.get(path, headers=mine) for _ in range(8)]
            served = http.get(path, headers={"Authorization": f"Bearer {other}"})
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Retry-After" in refused.json()["hint"]
    assert served.status_code == 200
