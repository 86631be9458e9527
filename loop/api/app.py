"""The robot HTTP API (ARCHITECTURE.md §5): thin routes over `loop.service.lab`.

`create_app(store)` builds the app; `loop serve` runs it under uvicorn. Every
route but `/healthz` and the OpenAPI document needs `Authorization: Bearer`.
Errors are JSON `{code, message, hint, fields?}`; bad input is a 4xx, never a
500. The interactive docs pages are off: they load scripts from a CDN, and the
OpenAPI document at `/openapi.json` is what clients and schemathesis use.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import loop
from loop.api import dashboard
from loop.errors import (
    BodyTooLargeError,
    FieldProblem,
    InvalidBodyError,
    LoopError,
    UnsupportedMediaError,
)
from loop.service import lab
from loop.service.campaigns import status_document
from loop.service.robots import READ, authenticate
from loop.storage import Store
from loop.storage.keys import RobotKey
from loop.threads import ensure_threads

#: Largest body accepted (bytes): a measurement is small; anything bigger is a mistake.
MAX_BODY = 64 * 1024

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

_ERROR = {
    "description": "an error with a message and a hint",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message", "hint"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "pointer": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        }
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: _ERROR for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}


_bearer = HTTPBearer(auto_error=False)


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> RobotKey:
    """The robot key behind the request's bearer token (401 without one)."""
    token = credentials.credentials if credentials else None
    return authenticate(request.app.state.store, token)


Caller = Annotated[RobotKey, Depends(_caller)]


def _raw_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that reads its body raw (to keep it before validating)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def create_app(store: Store) -> FastAPI:
    """The API over *store*; tests pass a store whose clock they can shift.

    Sets torch and BLAS threads for the process (`loop.threads.ensure_threads`:
    `loop --threads`, else LOOP_THREADS, OMP_NUM_THREADS, else 1) before serving,
    also when the app runs under another server than `loop serve`: the
    dashboard's model page fits GPs.
    """
    ensure_threads()
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
        return JSONResponse(
            {"code": "http", "message": str(exc.detail), "hint": "see /openapi.json"},
            status_code=exc.status_code,
        )

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness, without credentials."""
        return {"status": "ok"}

    @app.post(
        "/api/v1/campaigns/{name}/claims",
        tags=["robots"],
        responses={
            200: {"description": "a trial leased to the caller"},
            204: {"description": "nothing is ready; ask again later"},
            **ERRORS,
        },
    )
    def claim(name: CampaignName, key: Caller, idempotency_key: ClaimKey = None) -> Any:
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
    ) -> dict[str, Any]:
        """Extend the lease of an attempt the caller holds."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.heartbeat, store, key, trial_id, post)

    @app.post(
        "/api/v1/trials/{trial_id}/start",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.AttemptBody),
    )
    async def start(trial_id: TrialId, request: Request, key: Caller) -> dict[str, Any]:
        """Material is committed: after this the trial is never silently re-offered."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.start, store, key, trial_id, post)

    @app.post(
        "/api/v1/trials/{trial_id}/measurements",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.MeasurementBody),
    )
    async def measurements(
        trial_id: TrialId,
        request: Request,
        key: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Post the measured values of an attempt (Idempotency-Key required)."""
        post = await _received(request, idempotency_key)
        status, body = await run_in_threadpool(lab.measure, store, key, trial_id, post)
        return JSONResponse(body, status_code=status)

    @app.post(
        "/api/v1/trials/{trial_id}/failure",
        tags=["robots"],
        responses=ERRORS,
        openapi_extra=_raw_body(lab.FailureBody),
    )
    async def failure(
        trial_id: TrialId, request: Request, key: Caller
    ) -> dict[str, Any]:
        """The attempt gave no value; `retryable` asks for another attempt."""
        post = await _received(request, None)
        return await run_in_threadpool(lab.fail, store, key, trial_id, post)

    @app.get("/api/v1/campaigns/{name}", tags=["campaigns"], responses=ERRORS)
    def campaign(name: CampaignName, key: Caller) -> dict[str, Any]:
        """The campaign's status document (as `loop inspect --format json`)."""
        lab.authorize_campaign(key, READ, name)
        return status_document(store, name)

    # the live dashboard's pages at / and its script and styles (loop/api/dashboard.py)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    return app


async def _received(request: Request, idempotency_key: str | None) -> lab.Received:
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise UnsupportedMediaError(
            f"unsupported Content-Type {content_type!r}", "send application/json"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLargeError(
            f"the body has {declared} bytes, more than {MAX_BODY}",
            "send only the values, units and a little metadata",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BodyTooLargeError(
            f"the body has {len(body)} bytes, more than {MAX_BODY}",
            "send only the values, units and a little metadata",
        )
    client = request.client.host if request.client else None
    return lab.Received(body, idempotency_key, client)


def _error_response(exc: LoopError) -> JSONResponse:
    status = exc.http_status if exc.http_status < 500 else 503
    content: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "hint": exc.hint,
    }
    if isinstance(exc, InvalidBodyError):
        content["fields"] = [
            {"pointer": p.pointer, "message": p.message} for p in exc.problems
        ]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(content, status_code=status, headers=headers)
