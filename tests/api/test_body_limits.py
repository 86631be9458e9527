"""Request bodies are counted as they arrive (issue 15, item 2): a 1 GB chunked
upload to `/login` or to a measurement route is refused with 413 `body_too_large`
after a few MB at most, `loop serve` does not grow, and nothing is stored.

The 1 GB test runs the real `loop serve` as a child process so that its memory
can be read from /proc; the others use the in-process server of tests/lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from loop.api.app import MAX_BODY
from loop.api.dashboard import MAX_FORM
from loop.service.dashboard import SESSION_COOKIE
from loop.storage.inbox import submissions
from tests.api.test_measurements import GOOD, assert_error, claimed, stored
from tests.lab import RobotCampaign, free_port, live_server, robot_campaign
from tests.support import unavailable

ROOT = Path(__file__).resolve().parents[2]
GB = 1 << 30
CHUNK = 64 * 1024
#: How far `loop serve`'s peak resident memory may rise above its idle size while
#: a 1 GB body is sent (it was 2.1 GB before bodies were counted as they arrived).
RSS_GROWTH = 32 << 20
#: Most a client may get to send before the 413 reaches it (socket buffers).
SENT_CAP = 64 << 20


@dataclass
class Upload:
    """A body of *size* bytes made lazily in CHUNK pieces; `sent` counts what the
    client actually took from it."""

    prefix: bytes
    size: int = GB
    sent: int = field(default=0, init=False)

    def __iter__(self) -> Iterator[bytes]:
        self.sent = len(self.prefix)
        yield self.prefix
        chunk = b"a" * CHUNK
        while self.sent < self.size:
            self.sent += CHUNK
            yield chunk


def refused(response: httpx.Response) -> dict:
    """The 413 of a body that passed its limit, with the JSON error body."""
    body = assert_error(response, 413, "body_too_large")
    assert response.headers["connection"] == "close"
    return body


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of process *pid*, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        line.split(":")[0]: int(line.split()[1]) * 1024
        for line in status
        if line.startswith(("VmRSS:", "VmHWM:"))
    }


def reset_peak(pid: int) -> None:
    """Start VmHWM over from the current RSS (Linux clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[RobotCampaign, str, int]]:
    """A robot campaign served by `loop serve` in a child process: (campaign,
    base URL, server pid)."""
    if not Path("/proc/self/clear_refs").exists():
        unavailable(
            "the request-size memory test",
            "it reads the server's peak memory from Linux /proc",
            "run it on Linux",
        )
    rc = robot_campaign(db_url)
    port = free_port()
    command = [sys.executable, "-m", "loop.cli", "serve", "--db", db_url]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "loop serve did not start"
            time.sleep(0.1)
        yield rc, url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_a_1_gb_body_to_login_and_to_a_measurement_is_refused_as_it_arrives(
    served: tuple[RobotCampaign, str, int],
) -> None:
    rc, url, pid = served
    headers = {"Authorization": f"Bearer {rc.token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        work = claimed(rc, client)
        trial_id = work["trial_id"]
        before = stored(rc, trial_id)
        idle = memory(pid)["VmRSS"]
        reset_peak(pid)
        # the sign-in form, without a token and without a Content-Length
        login = Upload(b"token=x&next=/&pad=")
        form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": url}
        r = client.post("/login", content=login, headers=form)
        body = refused(r)
        assert str(MAX_FORM) in body["message"], body
        assert SESSION_COOKIE not in r.cookies
        # a measurement, with a valid token and an Idempotency-Key
        upload = Upload(b'{"attempt": 1, "values": {"conductivity": 9.7}, "pad": "')
        key = str(uuid.uuid4())
        r = client.post(
            f"/api/v1/trials/{trial_id}/measurements",
            content=upload,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        body = refused(r)
        assert str(MAX_BODY) in body["message"], body
        peak = memory(pid)["VmHWM"]
        # the client stopped sending long before 1 GB
        assert login.sent < SENT_CAP and upload.sent < SENT_CAP, (login, upload)
        # the server never held the body: its peak stayed near its idle size,
        # and under the 300 MB the issue set (torch is not loaded to serve)
        assert peak - idle < RSS_GROWTH, (idle, peak)
        assert peak < 300 << 20, (idle, peak)
        # nothing was stored, and the server goes on serving
        assert stored(rc, trial_id) == before
        assert submissions(rc.store, rc.name) == []
        assert _healthy(url)
        r = client.post(
            f"/api/v1/trials/{trial_id}/measurements",
            content=json.dumps(GOOD),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        assert r.status_code == 200, r.text


@pytest.fixture
def lab(db_url: str) -> Iterator[tuple[RobotCampaign, str]]:
    rc = robot_campaign(db_url)
    with live_server(rc.store) as url:
        yield rc, url


@pytest.mark.parametrize("route", ["heartbeat", "start", "measurements", "failure"])
def test_a_chunked_body_past_the_limit_is_refused_on_every_trial_route(
    lab: tuple[RobotCampaign, str], route: str
) -> None:
    rc, url = lab
    headers = {"Authorization": f"Bearer {rc.token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        work = claimed(rc, client)
        before = stored(rc, work["trial_id"])
        upload = Upload(b'{"attempt": 1, "pad": "', size=64 * MAX_BODY)
        r = client.post(
            f"/api/v1/trials/{work['trial_id']}/{route}",
            content=upload,
            headers={"Content-Type": "application/json", "Idempotency-Key": "k" * 12},
        )
        refused(r)
        assert stored(rc, work["trial_id"]) == before
        assert submissions(rc.store, rc.name) == []


def test_a_body_just_under_the_limit_is_read_whole(
    lab: tuple[RobotCampaign, str],
) -> None:
    rc, url = lab
    headers = {"Authorization": f"Bearer {rc.token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        work = claimed(rc, client)
        text = json.dumps({**GOOD, "metadata": {"log": ""}})
        text = text.replace(
            '"log": ""', '"log": "' + "x" * (MAX_BODY - len(text)) + '"'
        )
        assert len(text) == MAX_BODY

        def chunked() -> Iterator[bytes]:  # no Content-Length
            data = text.encode()
            yield from (data[i : i + 1000] for i in range(0, len(data), 1000))

        r = client.post(
            f"/api/v1/trials/{work['trial_id']}/measurements",
            content=chunked(),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k" * 12},
        )
        assert r.status_code == 200, r.text
        (kept,) = submissions(rc.store, rc.name)
        assert kept["body"] == text


def test_a_declared_length_past_the_limit_is_refused_before_the_route_acts(
    lab: tuple[RobotCampaign, str],
) -> None:
    """A claim never reads its body: a Content-Length above the limit must not
    lease a trial and then answer 413."""
    rc, url = lab
    rc.propose(1)
    headers = {"Authorization": f"Bearer {rc.token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        r = client.post(
            f"/api/v1/campaigns/{rc.name}/claims", content=b"x" * (MAX_BODY + 1)
        )
        body = refused(r)
        assert str(MAX_BODY + 1) in body["message"], body
        assert all(t.lease_expires_at is None for t in rc.store.trials(rc.name))
        assert client.post(f"/api/v1/campaigns/{rc.name}/claims").status_code == 200
