"""The dashboard's pages over plain HTTP (httpx, no browser): sessions, refusals,
and pages that load nothing from another origin."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from itsdangerous.encoding import (
    base64_decode,
    base64_encode,
    bytes_to_int,
    int_to_bytes,
)

from adapters.robot.client import RobotClient
from loop.api.dashboard import CSP, MAX_FORM
from loop.documents import DashboardSummary, LiveFragment
from loop.errors import AuthError
from loop.service.dashboard import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Dashboard,
    SessionSigner,
)
from loop.storage import Store
from loop.storage import keys as key_db
from tests.browser.conftest import Served
from tests.lab import live_server, robot_campaign
from tests.report.page import Page

SignIn = Callable[..., httpx.Client]


@pytest.fixture
def sign_in() -> Iterator[SignIn]:
    """Sign in through the form; returns a client holding the session cookie."""
    clients: list[httpx.Client] = []

    def signed_in(served: Served, token: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=served.url, follow_redirects=True)
        clients.append(client)
        r = client.post(
            "/login", data={"token": token or served.read_token, "next": "/"}
        )
        assert r.status_code == 200 and r.url.path == "/", r.text
        return client

    yield signed_in
    for client in clients:
        client.close()


def measure(served: Served, *values: float) -> list[int]:
    """Robot-1 claims and measures one trial per value; returns their ids."""
    ids = []
    with RobotClient(served.url, served.campaign.token, served.name) as robot:
        for v in values:
            work = robot.claim()
            assert work is not None
            robot.report(work, {"conductivity": v})
            ids.append(work.trial_id)
    return ids


def foreign(html: str) -> list[str]:
    """Every script src / link href that leaves the site, and any absolute URL
    inside a script or link element."""
    page = Page(html)
    outside = [s for s in page.sources if not s.startswith(("/", "#", "data:"))]
    tags = re.findall(r"<(?:script|link)\b[^>]*>", html, re.I)
    return outside + [t for t in tags if re.search(r"https?://|//", t)]


def test_pages_load_nothing_from_a_cdn(served: Served, sign_in: SignIn) -> None:
    measure(served, 8.5, 9.25)
    client = sign_in(served)
    name = served.name
    pages = {
        "/login": httpx.get(served.url + "/login"),
        "/": client.get("/"),
        "campaign": client.get(f"/dashboard/campaigns/{name}"),
    }
    live = client.get(f"/dashboard/api/campaigns/{name}/live").json()
    summary = client.get(f"/dashboard/api/campaigns/{name}/summary")
    assert summary.headers["cache-control"] == "no-store"
    # the page script's JSON is the declared documents, and they agree
    assert DashboardSummary.model_validate(summary.json()).n_measured == 2
    assert LiveFragment.model_validate(live).version == summary.json()["version"]
    for where, r in pages.items():
        assert r.status_code == 200, where
        assert r.headers["content-security-policy"] == CSP, where
        assert r.headers["cache-control"] == "no-store", where
        assert foreign(r.text) == [], where
    assert foreign(live["html"]) == []
    assert "default-src 'none'" in CSP and "https:" not in CSP and "http:" not in CSP

    campaign = Page(pages["campaign"].text)
    assert "/static/plotly.min.js?v=" in " ".join(campaign.sources)
    # no inline script: each script element is a file of this app or JSON data
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
    for tag in re.findall(r"<script\b[^>]*>", pages["campaign"].text):
        assert re.search(r'src="/static/|type="application/json"', tag), tag
    for url in campaign.sources:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
    # the figures carry the measured values, as in the report
    progress = campaign.trace("progress", "measured")
    assert progress["y"] == [8.5, 9.25]
    assert len(campaign.data_rows("measurements", "data-trial")) == 2


def test_plotly_is_served_by_the_app_and_cacheable(served: Served) -> None:
    import plotly

    url = f"{served.url}/static/plotly.min.js?v={plotly.__version__}"
    r = httpx.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < 2_000_000
    assert "immutable" in r.headers["cache-control"]
    assert r.content.startswith(b"/**") and b"plotly" in r.content[:2000]
    again = httpx.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_the_session_cookie_holds_no_token(served: Served) -> None:
    r = httpx.post(
        served.url + "/login",
        data={"token": served.read_token, "next": "/dashboard/campaigns/x"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/campaigns/x"
    header = r.headers["set-cookie"]
    attributes = {a.strip().lower() for a in header.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert f"max-age={SESSION_SECONDS}" in attributes
    assert "secure" not in attributes  # plain HTTP on loopback; set under TLS
    value = r.cookies[SESSION_COOKIE]
    secret_part = served.read_token.split("_", 2)[2]
    assert secret_part not in value and served.read_token not in value
    prefix, _signed_at, _signature = value.split(".")
    assert prefix == served.read_token.split("_")[1]


def test_without_a_session_pages_redirect_and_the_json_is_refused(
    served: Served, sign_in: SignIn
) -> None:
    name = served.name
    for path in (
        "/",
        f"/dashboard/campaigns/{name}",
        f"/dashboard/campaigns/{name}/model",
    ):
        r = httpx.get(served.url + path)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/login?next={path}"
    r = httpx.get(f"{served.url}/dashboard/api/campaigns/{name}/summary")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    # a forged or altered cookie is no session either
    good = sign_in(served).cookies[SESSION_COOKIE]
    prefix, signed_at, mac = good.split(".")
    later = base64_encode(int_to_bytes(bytes_to_int(base64_decode(signed_at)) + 3600))
    key = key_db.key_by_prefix(served.campaign.store, prefix)
    assert key is not None
    for bad in (
        f"{prefix}.{later.decode()}.{mac}",
        f"{prefix}.{signed_at}.{mac[:-2]}AA",
        SessionSigner(b"another secret", key).sign(prefix).decode(),
        f"v1.{prefix}.99999999999.x",  # the hand-made cookies of before
        "deadbeef.AAAA.x",
        "garbage",
    ):
        r = httpx.get(served.url + "/", cookies={SESSION_COOKIE: bad})
        assert r.status_code == 303, bad


def test_a_wrong_token_or_a_foreign_form_gets_no_session(served: Served) -> None:
    for token in ("", "loop_nothing_here", served.read_token + "x"):
        r = httpx.post(served.url + "/login", data={"token": token, "next": "/"})
        assert r.status_code == 401, token
        assert SESSION_COOKIE not in r.cookies
        assert 'id="login-error"' in r.text
    # a form posted from another site (login CSRF) is refused
    r = httpx.post(
        served.url + "/login",
        data={"token": served.read_token, "next": "/"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 400 and SESSION_COOKIE not in r.cookies
    # a form above MAX_FORM is refused as it arrives, with or without a length
    padded = {"token": served.read_token, "next": "/", "pad": "x" * MAX_FORM}

    def streamed() -> Iterator[bytes]:
        yield f"token={served.read_token}&pad=".encode()
        yield from (b"x" * 65536 for _ in range(100))

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for r in (
        httpx.post(served.url + "/login", data=padded),
        httpx.post(served.url + "/login", content=streamed(), headers=form),
    ):
        assert r.status_code == 413 and SESSION_COOKIE not in r.cookies
    # and `next` never leaves the site
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = httpx.post(
            served.url + "/login", data={"token": served.read_token, "next": target}
        )
        assert r.headers["location"] == "/", target


def test_a_key_sees_only_its_campaign_and_revoking_it_ends_the_session(
    served: Served, sign_in: SignIn
) -> None:
    client = sign_in(served)
    other = f"{served.name}-other"
    listed = Page(client.get("/").text).data_rows("campaigns", "data-campaign")
    assert [r["attrs"]["data-campaign"] for r in listed] == [served.name]
    r = client.get(f"/dashboard/campaigns/{other}")
    assert r.status_code == 403 and "belongs to campaign" in r.text
    r = client.get(f"/dashboard/api/campaigns/{other}/summary")
    assert r.status_code == 403
    r = client.get("/dashboard/campaigns/no-such-campaign")
    assert r.status_code == 403  # not looked up, so not revealed

    key_db.revoke_key(served.campaign.store, served.name, "viewer")
    r = client.get(f"/dashboard/api/campaigns/{served.name}/summary")
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303  # and the stale cookie is cleared
    assert SESSION_COOKIE not in client.cookies


def test_a_robot_token_signs_in_too_and_another_replica_accepts_the_session(
    served: Served, db_url: str, sign_in: SignIn
) -> None:
    client = sign_in(served, served.campaign.token)
    cookie = client.cookies[SESSION_COOKIE]
    # a second API process over the same database: same secret, same sessions
    with live_server(Store(db_url)) as replica:
        r = httpx.get(replica + "/", cookies={SESSION_COOKIE: cookie})
        assert r.status_code == 200 and "robot-1" in r.text


def test_sessions_expire(db_url: str) -> None:
    from loop.service.robots import add_robot

    rc = robot_campaign(db_url)
    board = Dashboard(rc.store)
    key = key_db.key_by_prefix(rc.store, rc.token.split("_")[1])
    assert key is not None
    signed_at = 1_000_000_000  # September 2001
    cookie = board.cookie(key, now=signed_at)
    assert board.session(cookie, now=signed_at + SESSION_SECONDS).id == key.id
    with pytest.raises(AuthError, match="expired"):
        board.session(cookie, now=signed_at + SESSION_SECONDS + 1)
    with pytest.raises(AuthError, match="expired"):
        board.session(cookie)  # by the clock: long ago
    _key, fresh = board.login(add_robot(rc.store, rc.name, "v", role="read").token)
    assert board.session(fresh).name == "v"


def test_stored_text_is_escaped(db_url: str, sign_in: SignIn) -> None:
    """A description, a measurement's source and a failure reason are stored
    text: every page shows them as text, and none closes a script element."""
    from loop.records import TrialStatus
    from loop.service.robots import add_robot

    rc = robot_campaign(db_url, description="<img src=x onerror=alert(1)>")
    token = add_robot(rc.store, rc.name, "viewer", role="read").token
    hostile = "</script><script>alert('x')</script>"
    measured, failed = rc.propose(2)
    for trial in (measured, failed):
        rc.store.transition(trial.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    rc.store.complete(measured.id, 1, {"conductivity": 5.0}, source=hostile)
    rc.store.transition(
        failed.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, reason=hostile
    )
    with live_server(rc.store) as url:
        client = sign_in(Served(url, rc, token))
        campaign = f"/dashboard/campaigns/{rc.name}"
        pages = {
            "campaign": client.get(campaign).text,
            "live": client.get(f"/dashboard/api/campaigns/{rc.name}/live").json()[
                "html"
            ],
            "model": client.get(f"{campaign}/model").text,
            "download": client.get(f"{campaign}/report.html").text,
        }
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages["campaign"]
    for where, html in pages.items():
        assert "<img src=x" not in html and "<script>alert" not in html, where
    shown = "&lt;/script&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert shown in pages["live"]  # the measurement's source, as the robot
    rows = Page(pages["model"]).data_rows("trial-table", "data-trial")
    assert [r["cells"][-1]["text"] for r in rows] == ["", hostile]
    report = Page(pages["download"])
    assert report.json("report-data")["trials"][1]["failure_reason"] == hostile


def test_the_model_page_fits_once_per_measurement(
    served: Served, monkeypatch: pytest.MonkeyPatch, sign_in: SignIn
) -> None:
    import loop.report.data

    fits: list[str] = []
    build = loop.report.data.build_report

    def counted(store: Store, name: str, *args: Any) -> Any:
        fits.append(name)
        return build(store, name, *args)

    monkeypatch.setattr(loop.report.data, "build_report", counted)
    measure(served, 7.5, 9.0, 10.25)
    client = sign_in(served)
    model = f"/dashboard/campaigns/{served.name}/model"
    r = client.get(model)
    assert r.status_code == 200, r.text
    assert foreign(r.text) == []
    page = Page(r.text)
    assert page.data_rows("cv-table", "data-output")
    assert len(page.data_rows("trial-table", "data-trial")) == 4
    assert "fig-relevance-json" in page.scripts
    # the second visit and the download reuse the fit
    assert client.get(model).status_code == 200
    download = client.get(f"/dashboard/campaigns/{served.name}/report.html")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert 'id="report-data"' in download.text
    assert len(fits) == 1
    # a new measurement makes the next visit refit
    measure(served, 8.0)
    assert client.get(model).status_code == 200
    assert len(fits) == 2


def test_replicas_agree_on_the_session_secret(any_db_url: str) -> None:
    """Four API processes starting at once over one database (SQLite and
    PostgreSQL) store one secret between them and accept each other's cookies."""
    from concurrent.futures import ThreadPoolExecutor

    from loop.service.robots import add_robot

    rc = robot_campaign(any_db_url)
    token = add_robot(rc.store, rc.name, "viewer", role="read").token
    boards = [Dashboard(Store(any_db_url)) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        secrets = list(pool.map(lambda b: b.secret, boards))
    assert len(set(secrets)) == 1 and len(secrets[0]) == 32
    _key, cookie = boards[0].login(token)
    assert {b.session(cookie).name for b in boards} == {"viewer"}
    # times on the page are UTC whatever the database session's time zone
    rc.propose(1)
    with live_server(rc.store) as url:
        with RobotClient(url, rc.token, rc.name) as robot:
            work = robot.claim()
            assert work is not None and work.lease_expires_at is not None
    row = boards[1].live(boards[1].session(cookie), rc.name)["in_flight"][0]
    lease = datetime.fromisoformat(row["lease_expires_at"]).replace(tzinfo=UTC)
    assert abs(lease - datetime.fromisoformat(work.lease_expires_at)) < timedelta(
        seconds=1
    )
