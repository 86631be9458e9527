"""The robot HTTP API (ARCHITECTURE.md §5): thin routes over `loop.service.lab`.

`create_app(store)` builds the app; `loop serve` runs it under uvicorn. Every
route but `/healthz` and the OpenAPI document needs `Authorization: Bearer`.
Routes return the documents of `loop.documents` and declare them, with the
error body (`ErrorBody`: `{code, message, hint, fields?}`) of every 4xx/5xx
they can answer, so `/openapi.json` describes every response; bad input is a
4xx, never a 500. docs/reference/openapi.json is the committed copy (`loop
schema --api`), compared with the served one by the tests. The interactive docs
pages are off: they load scripts from a CDN, and the OpenAPI document at
`/openapi.json` is what clients and schemathesis use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import loop
from loop.api import dashboard
from loop.api.limits import RateLimitedError, RateLimiter
from loop.documents import (
    ErrorBody,
    FailureAck,
    FieldProblemBody,
    Health,
    LeaseDocument,
    MeasurementAck,
    StatusDocument,
    WorkDocument,
)
from loop.errors import (
    BodyTooLargeError,
    FieldProblem,
    InvalidBodyError,
    LoopError,
    UnsupportedMediaError,
)
from loop.service import lab
from loop.service.robots import authenticate
from loop.storage import Store
from loop.storage.keys import RobotKey
from loop.threads import prepare_threads

#: Largest body accepted (bytes): a measurement is small; anything bigger is a mistake.
MAX_BODY = 64 * 1024
#: Paths held to less than MAX_BODY: the sign-in form (a token is under 100 bytes).
BODY_LIMITS: Mapping[str, int] = {"/login": dashboard.MAX_FORM}

TrialId = Annotated[
    int, Path(ge=1, le=2**62, description="the trial_id a claim returned")
]
CampaignName = Annotated[str, Path(max_length=64, description="the campaign's name")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="required: a fresh UUID per measurement (8-200 characters), "
        "reused for every retry of it",
    ),
]

ClaimKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="optional (8-200 characters): a retried claim with the same key "
        "gets the same trial",
    ),
]

#: What each error status means, for the OpenAPI document (docs/reference/api.md
#: lists the codes behind each).
_ERROR_MEANINGS = {
    400: "a missing or malformed Idempotency-Key (bad_request)",
    401: "no valid token (unauthorized)",
    403: "a token of another campaign or robot, or without the scope (forbidden)",
    404: "no such trial (not_found)",
    409: "the trial or campaign is not in a state that accepts the call",
    413: "a body above 64 KiB (body_too_large)",
    415: "a Content-Type that is not JSON (unsupported_media_type)",
    429: "more requests from this token than the rate limit allows; wait "
    "Retry-After seconds (rate_limited)",
    422: "the body, a path or a header parameter is invalid (invalid_body), or "
    "only measured values are outside their objectives' bounds (out_of_bounds)",
    503: "the database refused the operation; retry later (storage)",
}


#: The error answers of every API route, each with the ErrorBody model.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": meaning}
    for status, meaning in _ERROR_MEANINGS.items()
}


_bearer = HTTPBearer(auto_error=False)


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> RobotKey:
    """The robot key behind the request's bearer token (401 without one)."""
    token = credentials.credentials if credentials else None
    # reads record nothing, so they never wait on a write lock
    writes = request.method not in ("GET", "HEAD")
    key = authenticate(request.app.state.store, token, record_use=writes)
    request.app.state.limiter.take(key.id)
    return key


Caller = Annotated[RobotKey, Depends(_caller)]


def _raw_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that reads its body raw (to keep it before validating)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def create_app(store: Store, limiter: RateLimiter | None = None) -> FastAPI:
    """The API over *store*; tests pass a store whose clock they can shift, and
    may pass a tighter *limiter* than the default per-key rate limit.

    Checks and records the thread count for torch and BLAS (`loop --threads`,
    else LOOP_THREADS, OMP_NUM_THREADS, else 1; a bad value fails here) without
    importing torch: the robot API never needs it, and an idle server stays
    small (about 300 MB with torch loaded, a third of that without). The count
    is applied before the first model fit (the dashboard's model page calls
    `loop.threads.ensure_threads`), also under another server than `loop serve`.
    """
    prepare_threads()
    app = FastAPI(
        title="loop robot API",
        version=loop.__version__,
        docs_url=None,
        redoc_url=None,
        description=(
            "Robot controllers claim trials, report progress and post measurements. "
            "See docs/how-to/connect-a-robot.md."
        ),
    )
    app.state.store = store
    app.state.limiter = limiter or RateLimiter()
    app.add_middleware(BodyLimit, limits=BODY_LIMITS, default=MAX_BODY)

    @app.exception_handler(LoopError)
    async def _loop_error(_request: Request, exc: LoopError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(
            InvalidBodyError(
                [
                    FieldProblem(
                        "".join(f"/{p}" for p in e["loc"][1:]),
                        f"{e['loc'][0]}: {e['msg']}",
                    )
                    for e in exc.errors()
                ]
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, _TooLarge):  # raised by BodyLimit as the body was read
            return _error_response(exc.error)
        body = ErrorBody(code="http", message=str(exc.detail), hint="see /openapi.json")
        return JSONResponse(_dump(body), status_code=exc.status_code)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> Health:
        """Liveness, without credentials."""
        return Health(status="ok")

    @app.post(
        "/api/v1/campaigns/{name}/claims",
        tags=["robots"],
        response_model=WorkDocument,
        responses={
            200: {"description": "a trial leased to the caller"},
            204: {"description": "nothing is ready; ask again later"},
            **ERRORS,
        },
    )
    def claim(
        name: CampaignName, key: Caller, idempotency_key: ClaimKey = None
    ) -> WorkDocument | Response:
        """Lease the next ready trial (composition and parameters to make)."""
        work = lab.claim(store, key, name, idempotency_key)
        return Response(status_code=204) if work is None else work

    @app.post(
        "/api/v1/trials/{trial_id}/heartbeat",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.AttemptBody),
    )
    async def heartbeat(
        trial_id: TrialId, request: Request, key: Caller
    ) -> LeaseDocument:
        """Extend the lease of an attempt the caller holds."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.heartbeat, store, key, trial_id, post)

    @app.post(
        "/api/v1/trials/{trial_id}/start",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.AttemptBody),
    )
    async def start(trial_id: TrialId, request: Request, key: Caller) -> LeaseDocument:
        """Material is committed: after this the trial is never silently re-offered."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.start, store, key, trial_id, post)

    @app.post(
        "/api/v1/trials/{trial_id}/measurements",
        tags=["robots"],
        responses={
            **ERRORS,
            202: {
                "model": MeasurementAck,
                "description": "stored but held for review: a value is outside its "
                "objective's bounds under `outliers: flag` (status needs_review, "
                "`review` says why); it does not count until an operator acts",
            },
        },
        openapi_extra=_raw_body(lab.MeasurementBody),
    )
    async def measurements(
        trial_id: TrialId,
        request: Request,
        response: Response,
        key: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> MeasurementAck:
        """Post the measured values of an attempt (Idempotency-Key required)."""
        post = await _received(request, idempotency_key)
        status, ack = await run_in_threadpool(lab.measure, store, key, trial_id, post)
        response.status_code = status
        return ack

    @app.post(
        "/api/v1/trials/{trial_id}/failure",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.FailureBody),
    )
    async def failure(trial_id: TrialId, request: Request, key: Caller) -> FailureAck:
        """The attempt gave no value; `retryable` asks for another attempt."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.fail, store, key, trial_id, post)

    @app.get(
        "/api/v1/campaigns/{name}",
        tags=["campaigns"],
        response_model_exclude_unset=True,  # `best` or `pareto`, never both
        responses=ERRORS,
    )
    def campaign(name: CampaignName, key: Caller) -> StatusDocument:
        """The campaign's status document (as `loop inspect --format json`)."""
        return lab.campaign_status(store, key, name)

    # the live dashboard's pages at / and its script and styles (loop/api/dashboard.py)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json, as committed in
    docs/reference/openapi.json (`loop schema --api`). It depends on no data, so
    it is built over an empty in-memory database."""
    return create_app(Store("sqlite://", allow_memory=True)).openapi()


async def _received(request: Request, idempotency_key: str | None) -> lab.Received:
    """The raw body of a robot's post, as the inbox keeps it.

    BodyLimit counts the body as it arrives: past MAX_BODY the read raises (413,
    nothing read is kept or stored), so `request.body()` never holds more."""
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise UnsupportedMediaError(
            f"unsupported Content-Type {content_type!r}", "send application/json"
        )
    body = await request.body()
    client = request.client.host if request.client else None
    return lab.Received(body, idempotency_key, client)


class BodyLimit:
    """Every request body counted as it arrives (ASGI middleware).

    A path's limit is *limits*[path], else *default*. A Content-Length above it
    is refused before any route runs; a body without one (chunked) is refused by
    the read that passes the limit, so no route ever holds more than the limit
    plus one chunk (uvicorn reads at most 64 KiB ahead of the app). Either way the
    answer is 413 `body_too_large` and the connection is closed instead of read
    to the end of the body.
    """

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            refusal = _error_response(_too_large(int(declared), limit))
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(_too_large(None, limit))
            return message

        await self.app(scope, counted, send)


class _TooLarge(StarletteHTTPException):
    """A BodyTooLargeError raised from a body read. An HTTPException, because
    FastAPI turns any other error raised while it parses a form or JSON body
    into a 400."""

    def __init__(self, error: BodyTooLargeError) -> None:
        super().__init__(error.http_status, error.message)
        self.error = error


def _too_large(declared: int | None, limit: int) -> BodyTooLargeError:
    """413 for a body of *declared* bytes, or (None) one that passed *limit* as
    it arrived."""
    size = f"of {declared} bytes is longer" if declared is not None else "is longer"
    return BodyTooLargeError(
        f"the body {size} than the {limit} bytes this path accepts",
        "send only the values, units and a little metadata (a sign-in form, only "
        "the token)",
    )


#: Seconds a client is asked to wait after a 503 (the database was busy).
RETRY_AFTER = 2


def _error_response(exc: LoopError) -> JSONResponse:
    """The ErrorBody of *exc*, with its status (a 5xx becomes 503: retry later)."""
    status = exc.http_status if exc.http_status < 500 else 503
    fields = (
        [FieldProblemBody(pointer=p.pointer, message=p.message) for p in exc.problems]
        if isinstance(exc, InvalidBodyError)
        else None
    )
    body = ErrorBody(code=exc.code, message=exc.message, hint=exc.hint, fields=fields)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:  # busy or unreachable storage: a client may try again soon
        headers = {"Retry-After": str(RETRY_AFTER)}
    if status == 413:  # the rest of the body is unread: close, do not drain it
        headers = {"Connection": "close"}
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(_dump(body), status_code=status, headers=headers)


def _dump(body: ErrorBody) -> dict[str, Any]:
    """An error body as JSON: `fields` only with invalid_body, never as null."""
    return body.model_dump(mode="json", exclude_none=True)
