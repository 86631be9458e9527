"""The live dashboard: read-only HTML pages served by `loop serve` at `/`.

Thin routes over `loop.service.dashboard` (sessions and view data). The pages
are Jinja2 templates in loop/api/templates/, autoescaped; their figures, figure
sections and tables come from `loop.report` and its templates, as in `loop
report`. A person signs in at
`/login` with a token; pages then carry a session cookie (HttpOnly,
SameSite=Strict, Secure over TLS), never the token. Everything a page loads
comes from this app: plotly.js from the installed plotly package
(`/static/plotly.min.js`), the page script and styles from loop/api/static/;
the Content-Security-Policy allows nothing else and no inline script.

A campaign page polls `/dashboard/api/campaigns/{name}/summary` every few
seconds and, when its `version` changes, replaces its live part with the HTML of
`/dashboard/api/campaigns/{name}/live` and redraws the figures.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool

from loop.display import configuration_text
from loop.documents import DashboardSummary, LiveFragment
from loop.errors import AuthError, LoopError, RequestError
from loop.service.dashboard import SESSION_COOKIE, SESSION_SECONDS, Dashboard
from loop.storage.keys import RobotKey

router = APIRouter(include_in_schema=False)

#: The page script and styles, mounted at /static by `create_app`.
STATIC = Path(__file__).parent / "static"
#: How often a campaign page asks whether anything changed (milliseconds).
POLL_MS = 3000
#: Largest sign-in form accepted (bytes): a token is under 100. Enforced as the
#: form arrives by `loop.api.app.BodyLimit` (`BODY_LIMITS`).
MAX_FORM = 4096

#: plotly draws with inline styles, and its WebGL traces (parallel coordinates,
#: drawn for campaigns without three components) compile shaders with `new
#: Function`, hence 'unsafe-eval'; scripts come only from this app.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_lock = threading.Lock()


def dashboard(request: Request) -> Dashboard:
    """The app's Dashboard (made on first use, over the app's store)."""
    state = request.app.state
    with _lock:
        if getattr(state, "dashboard", None) is None:
            state.dashboard = Dashboard(state.store)
        found: Dashboard = state.dashboard
        return found


@cache
def _asset(name: str) -> str:
    """URL of a static file, with its content hash so that browsers refetch it
    when it changes."""
    if name == "plotly.min.js":
        import plotly

        return f"/static/plotly.min.js?v={quote(plotly.__version__)}"
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


@cache
def _plotly_js() -> tuple[bytes, bytes, str]:
    from importlib.resources import files

    raw = files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:20] + '"'
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), etag


@router.get("/static/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """plotly.js from the installed plotly package (no CDN), cacheable for a year:
    pages ask for it with plotly's version in the query."""
    raw, packed, etag = _plotly_js()
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)


# ------------------------------------------------------------------- pages
@cache
def templates() -> Environment:
    """The pages' templates (loop/api/templates/, over the report's: the figure
    sections and tables are the report's macros), with the report's settings:
    autoescaping on, undefined names an error (`loop.report.html.environment`)."""
    from loop.report.html import environment

    env = environment(PackageLoader("loop.api"))
    env.globals.update(
        asset=_asset,
        campaign_url=_campaign_url,
        api_url=_api_url,
        poll_ms=POLL_MS,
    )
    env.filters["when"] = _when
    env.filters["configuration"] = _configuration
    return env


def _page(
    template: str, *, key: RobotKey | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = templates().get_template(template).render(key=key, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error_page(exc: LoopError, key: RobotKey | None = None) -> HTMLResponse:
    status = exc.http_status if exc.http_status < 500 else 503
    return _page("error.html", key=key, status=status, problem=exc)


def _view(request: Request, build: Callable[[RobotKey], Response]) -> Response:
    """*build*'s page for the signed-in key; the sign-in form without a session;
    an error page for anything else refused."""
    try:
        key = _signed_in(request)
    except AuthError:
        response = RedirectResponse(
            f"/login?next={quote(request.url.path)}", status_code=303
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    except LoopError as exc:
        return _error_page(exc)
    try:
        return build(key)
    except LoopError as exc:
        return _error_page(exc, key)


def _signed_in(request: Request) -> RobotKey:
    return dashboard(request).session(request.cookies.get(SESSION_COOKIE))


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _same_origin(request: Request) -> bool:
    """A form post from our own pages (or from a client that sends no Origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def _campaign_url(name: str, tail: str = "") -> str:
    return f"/dashboard/campaigns/{quote(name, safe='')}{tail}"


def _api_url(name: str, tail: str) -> str:
    return f"/dashboard/api/campaigns/{quote(name, safe='')}/{tail}"


def _login_page(
    next_path: str, problem: LoopError | None = None, status: int = 200
) -> HTMLResponse:
    return _page(
        "login.html",
        status=status,
        next_path=next_path,
        problem=problem,
        session_hours=SESSION_SECONDS // 3600,
    )


@router.get("/login")
def login_page(next: str = "/") -> HTMLResponse:
    return _login_page(_safe_next(next))


@router.post("/login", response_model=None)
async def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the pasted token; on success set the session cookie and go on.

    A form above MAX_FORM bytes is refused (413) as it arrives, before it is
    buffered (`loop.api.app.BodyLimit`)."""
    if not _same_origin(request):
        problem = RequestError(
            "this sign-in form did not come from this dashboard",
            "open /login on this server and paste the token there",
        )
        return _login_page("/", problem, status=400)
    next_path = _safe_next(next)
    try:
        _key, cookie = await run_in_threadpool(dashboard(request).login, token)
    except LoopError as exc:
        status = exc.http_status if exc.http_status < 500 else 503
        return _login_page(next_path, exc, status=status)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    if _same_origin(request):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_model=None)
def campaigns_page(request: Request) -> Response:
    """The campaigns the signed-in key may see, with status and budget."""

    def build(key: RobotKey) -> Response:
        found = dashboard(request).campaigns(key)
        return _page("campaigns.html", key=key, campaigns=found)

    return _view(request, build)


@router.get("/dashboard/campaigns/{name}", response_model=None)
def campaign_page(request: Request, name: str) -> Response:
    """Progress, trials in flight and recent measurements, updating as they arrive."""

    def build(key: RobotKey) -> Response:
        live = dashboard(request).live(key, name)
        figures = _live_figures(live)
        return _page("campaign.html", key=key, name=name, live=live, figures=figures)

    return _view(request, build)


def live_fragment(live: dict[str, Any]) -> str:
    """The part of a campaign page that is replaced when something changes."""
    page = templates().get_template("live.html")
    return page.render(live=live, figures=_live_figures(live))


def _live_figures(live: dict[str, Any]) -> dict[str, Any]:
    """The live part's plotly figures (None where there is nothing to draw)."""
    from loop.report import figures

    return {
        "progress": live["progress"]
        and figures.progress_figure(live["campaign"], live["progress"]),
        "space": live["space"] and figures.space_figure(live["space"]),
        "pareto": live["pareto"] and figures.pareto_figure(live["pareto"]),
    }


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] + " UTC" if iso else "-"


def _configuration(row: dict[str, Any]) -> str:
    """A trial's composition and process parameters, in one short line."""
    return configuration_text(row["composition"], row["parameters"])


@router.get("/dashboard/campaigns/{name}/model", response_model=None)
def model_page(request: Request, name: str) -> Response:
    """Cross-validation, feature relevance and every trial (fits GPs: seconds)."""
    from loop.report import model_figures

    def build(key: RobotKey) -> Response:
        board = dashboard(request)
        data = board.report(key, name)
        figures = {
            "cv": data.cv and model_figures.cv_figure(data.cv),
            "calibration": data.cv
            and model_figures.calibration_figure(data.cv, data.held_out),
            "relevance": data.relevance
            and model_figures.relevance_figure(data.relevance),
        }
        return _page(
            "model.html",
            key=key,
            name=name,
            report=data,
            figures=figures,
            measured_version=board.summary(key, name).measured_version,
        )

    return _view(request, build)


@router.get("/dashboard/campaigns/{name}/report.html", response_model=None)
def report_download(request: Request, name: str) -> Response:
    """The same self-contained page as `loop report NAME`, as a download."""
    from loop.report.html import render_html

    def build(key: RobotKey) -> Response:
        data = dashboard(request).report(key, name)
        filename = quote(f"{name}-report.html", safe="")
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return HTMLResponse(render_html(data), headers=headers)

    return _view(request, build)


# ------------------------------------------------------------ JSON for pages
@router.get("/dashboard/api/campaigns/{name}/summary")
def summary(request: Request, name: str, response: Response) -> DashboardSummary:
    """Counts, budget, the latest measurement and `version` (changes with any of them)."""
    key = _signed_in(request)
    response.headers.update(HEADERS)
    return dashboard(request).summary(key, name)


@router.get("/dashboard/api/campaigns/{name}/live")
def live(request: Request, name: str, response: Response) -> LiveFragment:
    """The live part of the campaign page as HTML, with the `version` it shows."""
    key = _signed_in(request)
    view = dashboard(request).live(key, name)
    response.headers.update(HEADERS)
    return LiveFragment(version=view["summary"].version, html=live_fragment(view))
