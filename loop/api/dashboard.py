"""The live dashboard: read-only HTML pages served by `loop serve` at `/`.

Thin routes over `loop.service.dashboard` (sessions and view data); figures and
tables come from `loop.report`, as in `loop report`. A person signs in at
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
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from loop.errors import AuthError, LoopError, RequestError
from loop.service.dashboard import SESSION_COOKIE, SESSION_SECONDS, Dashboard
from loop.storage.keys import RobotKey

router = APIRouter(include_in_schema=False)

#: The page script and styles, mounted at /static by `create_app`.
STATIC = Path(__file__).parent / "static"
#: How often a campaign page asks whether anything changed (milliseconds).
POLL_MS = 3000
#: Largest sign-in form accepted (bytes).
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
def _page(
    title: str,
    body: str,
    *,
    key: RobotKey | None = None,
    plotly: bool = False,
    data: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in (data or {}).items())
    who = ""
    if key is not None:
        who = (
            f"<span>signed in as <b>{escape(key.name)}</b> "
            f"(campaign {escape(key.campaign)})</span>"
            '<form method="post" action="/logout"><button>sign out</button></form>'
        )
    scripts = [_asset("plotly.min.js")] if plotly else []
    scripts.append(_asset("dashboard.js"))
    html = "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',  # no /favicon.ico request
            f"<title>{escape(title)} · loop</title>",
            f'<link rel="stylesheet" href="{_asset("dashboard.css")}">',
            *(f'<script src="{src}" defer></script>' for src in scripts),
            f"</head><body{attrs}>",
            f'<header class="bar"><a class="home" href="/">loop dashboard</a>{who}</header>',
            body,
            "</body></html>",
        ]
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error_page(exc: LoopError, key: RobotKey | None = None) -> HTMLResponse:
    status = exc.http_status if exc.http_status < 500 else 503
    body = (
        f'<h1>{escape(exc.message)}</h1><p class="error">{escape(exc.hint)}</p>'
        '<p><a href="/">back to the campaigns</a></p>'
    )
    return _page("error", body, key=key, status=status)


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


def _login_form(next_path: str, problem: LoopError | None = None) -> str:
    error = ""
    if problem is not None:
        error = (
            f'<p class="error" id="login-error">{escape(problem.message)}: '
            f"{escape(problem.hint)}</p>"
        )
    return f"""<h1>Sign in</h1>
<p class="muted">Paste a token of a campaign: a read-only one from
<code>loop robots add NAME --campaign C --read-only</code>, or a robot's. The token
is checked and forgotten; the browser keeps a signed session cookie for
{SESSION_SECONDS // 3600} hours (or until you sign out or the key is revoked).</p>
{error}
<form class="login" method="post" action="/login">
<label for="token">token</label>
<input type="password" id="token" name="token" autocomplete="off" required
 placeholder="loop_…">
<input type="hidden" name="next" value="{escape(next_path)}">
<button type="submit">sign in</button>
</form>"""


@router.get("/login")
def login_page(next: str = "/") -> HTMLResponse:
    return _page("sign in", _login_form(_safe_next(next)))


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the pasted token; on success set the session cookie and go on."""
    body = await request.body()
    if len(body) > MAX_FORM or not _same_origin(request):
        problem = RequestError(
            "this sign-in form did not come from this dashboard",
            "open /login on this server and paste the token there",
        )
        return _page("sign in", _login_form("/", problem), status=400)
    form = parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0]
    next_path = _safe_next((form.get("next") or ["/"])[0])
    try:
        _key, cookie = await run_in_threadpool(dashboard(request).login, token)
    except LoopError as exc:
        status = exc.http_status if exc.http_status < 500 else 503
        return _page("sign in", _login_form(next_path, exc), status=status)
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


def _table(element_id: str, head: list[str], rows: list[str], empty: str) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    if not rows:
        rows = [f'<tr><td colspan="{len(head)}" class="muted">{empty}</td></tr>']
    return f'<table id="{element_id}"><tr>{header}</tr>{"".join(rows)}</table>'


@router.get("/", response_model=None)
def campaigns_page(request: Request) -> Response:
    """The campaigns the signed-in key may see, with status and budget."""

    def build(key: RobotKey) -> Response:
        rows = [campaign_row(s) for s in dashboard(request).campaigns(key)]
        head = [
            "campaign",
            "status",
            "budget",
            "measured",
            "in flight",
            "latest measurement",
        ]
        table = _table("campaigns", head, rows, "none")
        return _page("campaigns", f"<h1>Campaigns</h1>{table}", key=key)

    return _view(request, build)


def campaign_row(s: dict[str, Any]) -> str:
    b, latest = s["budget"], s["latest_measurement"]
    when = (
        f"trial {latest['trial_id']}, {_when(latest['received_at'])}" if latest else "-"
    )
    return (
        f'<tr data-campaign="{escape(s["name"])}">'
        f'<td><a href="{_campaign_url(s["name"])}">{escape(s["name"])}</a></td>'
        f"<td>{escape(s['status'])}</td>"
        f'<td class="num">{b["used"]} of {b["experiments"]}</td>'
        f'<td class="num">{s["n_measured"]}</td><td class="num">{s["n_in_flight"]}</td>'
        f"<td>{escape(when)}</td></tr>"
    )


@router.get("/dashboard/campaigns/{name}", response_model=None)
def campaign_page(request: Request, name: str) -> Response:
    """Progress, trials in flight and recent measurements, updating as they arrive."""

    def build(key: RobotKey) -> Response:
        live = dashboard(request).live(key, name)
        s = live["summary"]
        body = (
            f"<h1>{escape(name)}</h1>"
            + (f"<p>{escape(s['description'])}</p>" if s["description"] else "")
            + f'<p class="muted"><span id="live-state">live: checks every '
            f"{POLL_MS // 1000} s</span> · "
            f'<a href="{_campaign_url(name, "/model")}">model quality and feature '
            f'relevance</a> · <a href="{_campaign_url(name, "/report.html")}">'
            f'download the full report</a></p><div id="live">{live_fragment(live)}</div>'
        )
        data = {
            "summary": _api_url(name, "summary"),
            "live": _api_url(name, "live"),
            "watch": "version",
            "version": s["version"],
            "poll-ms": str(POLL_MS),
        }
        return _page(name, body, key=key, plotly=True, data=data)

    return _view(request, build)


def live_fragment(live: dict[str, Any]) -> str:
    """The part of a campaign page that is replaced when something changes."""
    from loop.report import figures
    from loop.report.html import figure_section

    parts = [f'<p id="summary">{escape(_summary_text(live["summary"]))}</p>']
    if live["progress"]:
        figure = figures.progress_figure(live["campaign"], live["progress"])
        parts += figure_section("progress", "Progress", figure)
    else:
        parts.append(
            '<p class="notes">No measurements yet: the plots appear with the first.</p>'
        )
    parts += ['<h2 id="in-flight">Trials in flight</h2>', in_flight_table(live)]
    parts += ['<h2 id="recent">Recent measurements</h2>', measurement_table(live)]
    if live["space"]:
        figure = figures.space_figure(live["space"])
        parts += figure_section("space", "Trials in composition space", figure)
    if live["pareto"]:
        parts += figure_section(
            "pareto", "Pareto front", figures.pareto_figure(live["pareto"])
        )
    return "\n".join(parts)


def _summary_text(s: dict[str, Any]) -> str:
    b = s["budget"]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s["counts"].items()))
    return (
        f"status {s['status']}; {b['used']} of {b['experiments']} experiments used; "
        f"trials: {counts or 'none'}"
    )


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] + " UTC" if iso else "-"


def _config(composition: dict[str, float], parameters: dict[str, Any]) -> str:
    comp = " ".join(f"{k} {v:.4g}" for k, v in composition.items() if v)
    params = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in parameters.items()
    )
    return f"{comp}; {params}" if params else comp


def in_flight_table(live: dict[str, Any]) -> str:
    """Trials proposed and not resolved: who holds them and until when."""
    head = ["trial", "iteration", "status", "attempt", "robot", "lease expires"]
    rows = [
        f'<tr data-trial="{r["id"]}" data-status="{r["status"]}"><td>{r["id"]}</td>'
        f"<td>{r['iteration']}</td><td>{r['status']}</td>"
        f'<td class="num">{r["attempt"]}</td><td>{escape(r["robot"] or "-")}</td>'
        f"<td>{_when(r['lease_expires_at'])}</td>"
        f"<td>{escape(_config(r['composition'], r['parameters']))}</td></tr>"
        for r in live["in_flight"]
    ]
    return _table("in-flight-table", [*head, "configuration"], rows, "none")


def measurement_table(live: dict[str, Any]) -> str:
    """The latest measurements, newest first, with the robot that posted each."""
    from loop.report.figures import label
    from loop.report.html import number_cell

    goals = [(o["name"], o.get("unit")) for o in live["campaign"]["objectives"]]
    head = ["trial", "attempt", "received", "robot", *(label(n, u) for n, u in goals)]
    rows = [
        f'<tr data-trial="{r["trial_id"]}"><td>{r["trial_id"]}</td>'
        f'<td class="num">{r["attempt"]}</td>'
        f"<td>{_when(r['received_at'])}{' (late)' if r['late'] else ''}</td>"
        f"<td>{escape(r['source'] or '-')}</td>"
        + "".join(number_cell(r["values"].get(n)) for n, _u in goals)
        + f"<td>{escape(_config(r['composition'], r['parameters']))}</td></tr>"
        for r in live["recent"]
    ]
    return _table("measurements", [*head, "configuration"], rows, "none yet")


@router.get("/dashboard/campaigns/{name}/model", response_model=None)
def model_page(request: Request, name: str) -> Response:
    """Cross-validation, feature relevance and every trial (fits GPs: seconds)."""
    from loop.report import model_figures
    from loop.report.html import cv_table, figure_section, trial_table

    def build(key: RobotKey) -> Response:
        board = dashboard(request)
        data = board.report(key, name)
        summary = board.summary(key, name)
        parts = [
            f"<h1>{escape(name)}: the model</h1>",
            f'<p class="muted"><a href="{_campaign_url(name)}">back to the live page</a>'
            f" · fitted to {data.campaign['n_measured']} measured trials · "
            '<span id="live-state"></span></p>',
            '<p class="notes" id="stale" hidden>New results arrived since this page '
            "was computed: reload it to refit.</p>",
        ]
        if data.notes:
            items = "".join(f"<li>{escape(n)}</li>" for n in data.notes)
            parts.append(f'<ul class="notes">{items}</ul>')
        if data.cv:
            parts += figure_section(
                "cv", "Model quality", model_figures.cv_figure(data.cv)
            )
            parts.append(cv_table(data.cv))
        if data.relevance:
            figure = model_figures.relevance_figure(data.relevance)
            parts += figure_section("relevance", "Feature relevance", figure)
        parts += ['<h2 id="trials">Trials</h2>', trial_table(data)]
        page = {
            "summary": _api_url(name, "summary"),
            "watch": "measured_version",
            "version": summary["measured_version"],
            "poll-ms": str(POLL_MS),
        }
        body = "\n".join(parts)
        return _page(f"{name}: model", body, key=key, plotly=True, data=page)

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
def summary(request: Request, name: str) -> JSONResponse:
    """Counts, budget, the latest measurement and `version` (changes with any of them)."""
    key = _signed_in(request)
    return JSONResponse(dashboard(request).summary(key, name), headers=HEADERS)


@router.get("/dashboard/api/campaigns/{name}/live")
def live(request: Request, name: str) -> JSONResponse:
    """The live part of the campaign page as HTML, with the `version` it shows."""
    key = _signed_in(request)
    view = dashboard(request).live(key, name)
    payload = {"version": view["summary"]["version"], "html": live_fragment(view)}
    return JSONResponse(payload, headers=HEADERS)
