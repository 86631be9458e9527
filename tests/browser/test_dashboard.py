"""The live dashboard in a real browser: headless Chromium (Debian's package) on a
real `loop serve` (uvicorn on loopback), signed in through the form, watching a
robot's claim and measurement arrive without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.robot.client import RobotClient
from loop.service.robots import add_robot
from tests.browser.conftest import Served
from tests.lab import live_server, robot_campaign

#: A page and the errors it logged.
Tab = tuple[Any, list[str]]
#: Longest wait for the page to show what the server has (it polls every 3 s).
WAIT_MS = 20_000


@pytest.fixture
def tab(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a fresh browser context (closed afterwards), with a list
    collecting its errors: script errors, failed loads and Content-Security-
    Policy violations (which Chromium logs as console errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on(
        "requestfailed",
        lambda r: (
            problems.append(f"failed: {r.url} ({r.failure})")
            # a load cut short by leaving the page is no error of the page
            if r.failure != "net::ERR_ABORTED"
            else None
        ),
    )
    yield page, problems
    context.close()


def _sign_in(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("button[type=submit]")


def test_sign_in_open_a_campaign_and_watch_a_measurement_arrive(
    tab: Tab, served: Served
) -> None:
    from playwright.sync_api import expect

    page, problems = tab
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login?next=/")
    _sign_in(page, served.read_token)

    # the campaign list: the campaign the key belongs to, its status and budget
    row = page.locator(f'#campaigns tr[data-campaign="{served.name}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("0 of 16")
    expect(page.locator("header.bar")).to_contain_text("viewer")
    assert page.context.cookies()[0]["httpOnly"] is True

    row.get_by_role("link", name=served.name).click()
    expect(page).to_have_url(f"{served.url}/dashboard/campaigns/{served.name}")
    expect(page.locator("#in-flight-table tr[data-trial]")).to_have_count(4)
    expect(page.locator("#measurements")).to_contain_text("none yet")

    with RobotClient(served.url, served.campaign.token, served.name) as robot:
        work = robot.claim()
        assert work is not None
        # the claim shows up by itself: the trial, its robot and attempt
        claimed = page.locator(f'#in-flight-table tr[data-trial="{work.trial_id}"]')
        expect(claimed).to_have_attribute("data-status", "claimed", timeout=WAIT_MS)
        expect(claimed).to_contain_text("robot-1")
        expect(claimed).to_contain_text(" UTC")  # the lease's expiry

        robot.report(work, {"conductivity": 9.8765}, units={"conductivity": "mS/cm"})

    measured = page.locator(f'#measurements tr[data-trial="{work.trial_id}"]')
    expect(measured).to_be_visible(timeout=WAIT_MS)
    expect(measured).to_contain_text("9.877")
    expect(measured).to_contain_text("robot-1")
    expect(page.locator("#summary")).to_contain_text("1 of 16 experiments used")
    expect(page.locator("#in-flight-table tr[data-trial]")).to_have_count(3)
    # the progress plot is drawn by plotly (served by the app) with the value
    expect(page.locator("#fig-progress .main-svg").first).to_be_visible()
    points = page.evaluate("() => document.getElementById('fig-progress').data[0].y")
    assert points == [9.8765]
    expect(page.locator("#live-state")).to_contain_text("live: checked")

    # back on the list, the campaign's result so far: its best value and trial
    page.goto(served.url + "/")
    row = page.locator(f'#campaigns tr[data-campaign="{served.name}"] td.result')
    expect(row).to_have_text(f"conductivity 9.877 mS/cm (trial {work.trial_id})")

    assert problems == []
    origin = served.url + "/"
    assert [u for u in requests if not u.startswith(origin)] == []


def test_the_dashboard_without_a_session_goes_to_the_sign_in_form(
    tab: Tab, served: Served
) -> None:
    from playwright.sync_api import expect

    page, problems = tab
    target = f"/dashboard/campaigns/{served.name}"
    page.goto(served.url + target)
    expect(page).to_have_url(f"{served.url}/login?next={target}")
    expect(page.locator("#token")).to_be_visible()
    # after signing in, the browser lands where it wanted to go
    _sign_in(page, served.read_token)
    expect(page).to_have_url(served.url + target)
    expect(page.locator("h1")).to_have_text(served.name)
    page.wait_for_load_state("load")  # plotly.js in, not cut short by leaving
    # signing out ends the session
    page.get_by_role("button", name="sign out").click()
    expect(page).to_have_url(served.url + "/login")
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login?next=/")
    assert problems == []


def test_a_wrong_token_is_refused(tab: Tab, served: Served) -> None:
    from playwright.sync_api import expect

    page, problems = tab
    page.goto(served.url + "/login")
    _sign_in(page, served.read_token[:-4] + "AAAA")
    expect(page.locator("#login-error")).to_contain_text("invalid token")
    expect(page).to_have_url(served.url + "/login")
    assert page.context.cookies() == []
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login?next=/")
    # the refusal is a 401 page, which Chromium logs as a failed resource
    assert all("401" in p for p in problems), problems


def test_parallel_coordinates_draw_under_the_content_security_policy(
    tab: Tab, db_url: str
) -> None:
    """Four components: the composition plot is plotly's WebGL parcoords, which
    compiles shaders with `new Function` (the policy's 'unsafe-eval')."""
    from playwright.sync_api import expect

    four = {
        "composition": {
            "kind": "species",
            "basis": "mass",
            "total": 1.0,
            "components": ["EC", "EMC", "DMC", "PC"],
            "bounds": {"default": [0.0, 0.8]},
            "resolution": 0.01,
        },
        "parameters": [
            {
                "name": "LiPF6_molality",
                "type": "continuous",
                "bounds": [0.2, 2.5],
                "unit": "mol/kg",
            }
        ],
    }
    rc = robot_campaign(db_url, space=four)
    token = add_robot(rc.store, rc.name, "viewer", role="read").token
    rc.propose(2)
    with live_server(rc.store) as url:
        with RobotClient(url, rc.token, rc.name) as robot:
            for value in (5.0, 6.0):
                work = robot.claim()
                assert work is not None
                robot.report(work, {"conductivity": value})
        page, problems = tab
        page.goto(f"{url}/login?next=/dashboard/campaigns/{rc.name}")
        _sign_in(page, token)
        # one axis per component, the parameter and the goal
        expect(page.locator("#fig-space .axis-title")).to_have_count(6, timeout=WAIT_MS)
        kind = page.evaluate("() => document.getElementById('fig-space').data[0].type")
        assert kind == "parcoords"
    assert problems == []


def test_the_model_page_says_when_new_results_arrive(tab: Tab, served: Served) -> None:
    from playwright.sync_api import expect

    page, problems = tab
    with RobotClient(served.url, served.campaign.token, served.name) as robot:
        for value in (7.5, 9.0, 10.25):
            work = robot.claim()
            assert work is not None
            robot.report(work, {"conductivity": value})
        page.goto(f"{served.url}/login?next=/dashboard/campaigns/{served.name}/model")
        _sign_in(page, served.read_token)
        # the page fits the GP before it answers
        expect(page.locator("#cv-table tr[data-output]")).to_have_count(
            1, timeout=WAIT_MS
        )
        # plotly draws the three figures in one go; a busy machine takes seconds
        expect(page.locator("#fig-relevance .main-svg").first).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.locator("#stale")).to_be_hidden()
        work = robot.claim()
        assert work is not None
        robot.report(work, {"conductivity": 8.0})
    expect(page.locator("#stale")).to_be_visible(timeout=WAIT_MS)
    assert problems == []
