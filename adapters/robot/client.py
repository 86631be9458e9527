"""A robot controller's side of the robot API: claim, heartbeat, start, report, fail.

`RobotClient` wraps the HTTP calls of docs/how-to/connect-a-robot.md so that a
controller script only decides *what* to do; the client handles how to say it
safely over an unreliable network:

- Transient trouble is retried with exponential backoff: connection errors,
  timeouts, 429/502/503/504 (503 is what the API answers when its database is
  busy) and 409 `in_flight` (a twin of the same keyed request is being
  processed). Every other 4xx is the caller's mistake or a state the robot must
  react to (lease superseded, already measured), so it is raised at once as
  `RobotAPIError`, carrying the server's JSON error.
- A measurement gets one Idempotency-Key per `report` call, reused on every
  retry of that call: if the response to the first post was lost, the retry
  replays the stored response instead of storing a second measurement.

Claims carry an Idempotency-Key too, so a claim retried after a lost response
returns the trial the server already granted rather than stranding it.

Besides the standard library it needs only httpx, tenacity (the retries) and
`loop.errors` (for the error type the `loop` CLI knows how to print).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from loop.errors import LoopError

#: HTTP statuses worth retrying: rate limits and a busy or restarting server.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: 409 codes worth retrying: the same keyed request is still being processed.
RETRY_CODES = frozenset({"in_flight"})
#: Longest pause between two tries (seconds), whatever the backoff or Retry-After.
MAX_PAUSE = 30.0
#: `RobotAPIError.status` when no HTTP response arrived at all.
NO_RESPONSE = 0
#: Failures without a response (the request may or may not have arrived): retried.
NO_RESPONSE_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class RobotAPIError(LoopError):
    """The API refused a request (or could not be reached): its JSON error, kept.

    `status` is the HTTP status (0 when no response arrived), `code` the API's
    stable error name (`lease_superseded`, `already_measured`, `invalid_body`,
    ...), and `fields` the JSON pointers of an invalid body with what is wrong
    at each (e.g. `[{"pointer": "/values/conductivity", "message": "missing"}]`).
    `retry_after` is the server's Retry-After in seconds, when it sent a number.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        hint: str = "",
        fields: list[dict[str, str]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.fields = list(fields or [])
        self.retry_after = retry_after
        if status >= 400:
            self.http_status = status
        detail = "".join(
            f"\n  {f.get('pointer') or '(body)'}: {f.get('message', '')}"
            for f in self.fields
        )
        super().__init__(f"{message}{detail}", hint)

    @classmethod
    def from_response(cls, response: httpx.Response) -> RobotAPIError:
        """The error a response carries; a body that is not loop's JSON is kept as text."""
        retry_after = _seconds_or_none(response.headers.get("Retry-After"))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "code" not in body:
            text = response.text.strip()[:300] or response.reason_phrase
            return cls(
                response.status_code,
                "http",
                f"HTTP {response.status_code} from {response.request.url}: {text}",
                "is the URL the loop API (`loop serve`)?",
                retry_after=retry_after,
            )
        fields = body.get("fields")
        return cls(
            response.status_code,
            str(body["code"]),
            str(body.get("message", "")),
            str(body.get("hint", "")),
            fields if isinstance(fields, list) else None,
            retry_after,
        )


@dataclass(frozen=True)
class Work:
    """A claimed trial: what to make, under which attempt number, until when.

    `attempt` must accompany every later call about this trial; the lease ends at
    `lease_expires_at` (ISO 8601, the server's clock) unless heartbeats extend it.
    `objectives` lists `{"name", "unit"}` of the values to measure.
    """

    trial_id: int
    attempt: int
    lease_expires_at: str | None
    composition: dict[str, float]
    parameters: dict[str, Any]
    objectives: list[dict[str, Any]]
    campaign: str = ""

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Work:
        return cls(
            trial_id=int(doc["trial_id"]),
            attempt=int(doc["attempt"]),
            lease_expires_at=doc.get("lease_expires_at"),
            composition=dict(doc.get("composition") or {}),
            parameters=dict(doc.get("parameters") or {}),
            objectives=list(doc.get("objectives") or []),
            campaign=str(doc.get("campaign", "")),
        )


class RobotClient:
    """A synchronous client of the robot API for one campaign and one robot token.

    `retries` is how many times a request is tried again after the first try;
    the pause before try *n* is about `backoff * 2**n` seconds (with jitter, and
    at least the server's Retry-After). `transport` replaces httpx's network
    layer (tests use it to drop responses). Use it as a context manager, or call
    `close()`, to release the connection pool.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        campaign: str,
        *,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.campaign = campaign
        self.retries = retries
        self.backoff = backoff
        self._campaign_path = quote(campaign, safe="")
        self._jitter = random.Random()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "loop-robot-client",
            },
            timeout=timeout,
            transport=transport,
        )

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RobotClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ calls
    def claim(self) -> Work | None:
        """Lease the next ready trial; None when nothing is ready (ask again later).

        One Idempotency-Key per call, reused on its retries: if the first
        response was lost, the retry gets the same trial instead of a second one.
        """
        response = self._request(
            "POST",
            f"/api/v1/campaigns/{self._campaign_path}/claims",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code == 204:
            return None
        return Work.from_document(response.json())

    def heartbeat(self, work: Work) -> dict[str, Any]:
        """Extend the lease while the robot is still busy with *work*."""
        return self._post(
            f"/api/v1/trials/{work.trial_id}/heartbeat", {"attempt": work.attempt}
        )

    def start(self, work: Work) -> dict[str, Any]:
        """Say material is committed: the trial is then never silently re-offered.

        Repeating it is harmless, so a retry after a lost response is safe.
        """
        return self._post(
            f"/api/v1/trials/{work.trial_id}/start", {"attempt": work.attempt}
        )

    def report(
        self,
        work: Work,
        values: dict[str, float],
        units: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Post the measured *values* of *work*; returns the stored measurement.

        One Idempotency-Key (a fresh UUID unless given) covers every retry of
        this call, so a post whose response was lost is never counted twice.
        Pass the same key again to re-send a measurement deliberately: the
        server replays the same response.
        """
        body: dict[str, Any] = {"attempt": work.attempt, "values": dict(values)}
        if units:
            body["units"] = dict(units)
        if metadata:
            body["metadata"] = dict(metadata)
        key = idempotency_key or str(uuid.uuid4())
        return self._post(
            f"/api/v1/trials/{work.trial_id}/measurements",
            body,
            headers={"Idempotency-Key": key},
        )

    def fail(
        self,
        work: Work,
        reason: str,
        retryable: bool = False,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Report that *work* gave no value; `retryable` asks for another attempt.

        *details* (an error code, the step it stopped at) are kept with the
        trial's history.
        """
        body: dict[str, Any] = {
            "attempt": work.attempt,
            "reason": reason,
            "retryable": retryable,
        }
        if details is not None:
            body["details"] = details
        return self._post(f"/api/v1/trials/{work.trial_id}/failure", body)

    def status(self) -> dict[str, Any]:
        """The campaign's status document (budget, counts, trials, best)."""
        return self._request("GET", f"/api/v1/campaigns/{self._campaign_path}").json()

    # -------------------------------------------------------------- transport
    def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return self._request("POST", path, body, headers).json()

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient trouble; raise RobotAPIError otherwise.

        The body is serialized once, so every retry sends the same bytes (the
        server compares a keyed retry's body with the first one).
        """
        content = None
        send_headers = dict(headers or {})
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = "application/json"
        tries = self.retries + 1
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(tries),
            wait=self._pause,
            reraise=True,
        )
        try:
            return retrying(self._send, method, path, content, send_headers)
        except NO_RESPONSE_ERRORS as exc:
            raise RobotAPIError(
                NO_RESPONSE,
                "unreachable",
                f"{method} {self._http.base_url}{path} got no response after "
                f"{tries} tries: {type(exc).__name__}: {exc}",
                "check the URL and that `loop serve` is running and reachable",
            ) from exc

    def _send(
        self, method: str, path: str, content: bytes | None, headers: dict[str, str]
    ) -> httpx.Response:
        """One try: the response if it succeeded, else its `RobotAPIError`."""
        response = self._http.request(method, path, content=content, headers=headers)
        if not response.is_success:
            raise RobotAPIError.from_response(response)
        return response

    def _pause(self, state: RetryCallState) -> float:
        """Seconds to wait after try n (from 1): `backoff * 2**(n - 1)` times a
        jitter of 0.5-1.5, at least the server's Retry-After, at most `MAX_PAUSE`."""
        delay = self.backoff * 2 ** (state.attempt_number - 1)
        delay *= 0.5 + self._jitter.random()
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RobotAPIError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return min(delay, MAX_PAUSE)


def _transient(exc: BaseException) -> bool:
    """Worth another try: no response, a busy server, or a twin request in flight."""
    if isinstance(exc, NO_RESPONSE_ERRORS):
        return True
    if not isinstance(exc, RobotAPIError):
        return False
    if exc.status in RETRY_STATUSES:
        return True
    return exc.status == 409 and exc.code in RETRY_CODES


def _seconds_or_none(retry_after: str | None) -> float | None:
    """A Retry-After header in seconds; None if absent or an HTTP date."""
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None
