"""Screenshots for the docs: docs/img/report.png, report-two-objectives.png and dashboard.png.

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.browser.screenshots [--out docs/img]

Uses the same headless Chromium as the browser tests (Debian's `chromium`
package, driven by playwright). The report is `loop report`'s page for
campaigns/electrolyte.yaml run to its budget by the simulator (and, for the
two-objective sections, the report test's electrolyte with viscosity as a
second goal, tests/report/conftest.py); the dashboard is
the robot-electrolyte campaign served by a real uvicorn on loopback, with two
robots that have measured a few trials (values from the electrolyte simulator)
and hold two more. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.browser.conftest import CHROMIUM, launch
from tests.conftest import CAMPAIGNS
from tests.report.conftest import finish, two_objectives

#: Width of every shot (CSS pixels); PNGs stay well under 300 KB.
WIDTH = 1200


def report_html(folder: Path) -> Path:
    """`loop report`'s page for the electrolyte campaign, run to its budget."""
    from loop.report.data import build_report
    from loop.report.html import render_html
    from loop.service.campaigns import ensure_campaign
    from loop.service.runner import run_campaign
    from loop.spec import validate
    from loop.storage import Store

    store = Store(f"sqlite:///{folder / 'report.db'}")
    spec = validate(yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text()))
    ensure_campaign(store, spec)
    assert run_campaign(store, spec.name).finished
    page = folder / "report.html"
    page.write_text(render_html(build_report(store, spec.name)), encoding="utf-8")
    return page


def robot_lab(folder: Path) -> tuple[Any, str, dict[str, str]]:
    """The robot campaign after 3 batches measured by two robots, with one batch
    claimed in part; returns it, a read token and the robots' tokens."""
    from adapters.robot.client import RobotClient
    from adapters.simulator.functions import build
    from loop.service.robots import add_robot
    from tests.lab import live_server, robot_campaign

    rc = robot_campaign(f"sqlite:///{folder / 'lab.db'}")
    robots = {"robot-1": rc.token}
    robots["robot-2"] = add_robot(rc.store, rc.name, "robot-2").token
    read = add_robot(rc.store, rc.name, "viewer", role="read").token
    simulate = build("electrolyte", rc.spec, {})
    assert not isinstance(simulate, list)
    with live_server(rc.store) as url:
        clients = [RobotClient(url, t, rc.name) for t in robots.values()]
        for batch in range(4):
            rc.propose(4)
            for i in range(4 if batch < 3 else 2):
                robot = clients[i % 2]
                work = robot.claim()
                assert work is not None
                if batch == 3:
                    robot.start(work)  # material committed: in flight
                    continue
                values = simulate(work.composition, work.parameters)
                robot.report(work, {"conductivity": values["conductivity"]})
        for client in clients:
            client.close()
    return rc, read, robots


def shrink(png: bytes) -> bytes:
    """The screenshot as a 256-colour PNG (plots are mostly flat colour)."""
    try:
        from PIL import Image
    except ImportError:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    from tests.lab import live_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium")

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1500})

        page.goto(report_html(folder).as_uri())
        page.wait_for_selector("#fig-space .main-svg")
        shot = page.screenshot(clip={"x": 0, "y": 0, "width": WIDTH, "height": 1500})
        (args.out / "report.png").write_bytes(shrink(shot))

        two = finish(folder / "two", two_objectives(10))
        (folder / "two.html").write_text(two.html, encoding="utf-8")
        page.goto((folder / "two.html").as_uri())
        page.wait_for_selector("#fig-front-composition .main-svg")
        top = page.locator("#best-per-goal").bounding_box()
        end = page.locator("#fig-front-composition").bounding_box()
        assert top is not None and end is not None
        height = end["y"] + end["height"] - top["y"]
        page.set_viewport_size({"width": WIDTH, "height": int(top["y"] + height) + 20})
        shot = page.screenshot(
            clip={"x": 0, "y": top["y"], "width": WIDTH, "height": height}
        )
        (args.out / "report-two-objectives.png").write_bytes(shrink(shot))

        rc, read, _robots = robot_lab(folder)
        with live_server(rc.store) as url:
            page.goto(f"{url}/login?next=/dashboard/campaigns/{rc.name}")
            page.fill("#token", read)
            page.click("button[type=submit]")
            page.wait_for_selector("#fig-space .main-svg")
            page.wait_for_selector("#live-state:has-text('checked')")
            height = min(page.evaluate("document.body.scrollHeight"), 2000)
            page.set_viewport_size({"width": WIDTH, "height": height})
            shot = page.screenshot(full_page=False)
            (args.out / "dashboard.png").write_bytes(shrink(shot))
        browser.close()
    for name in ("report.png", "report-two-objectives.png", "dashboard.png"):
        size = (args.out / name).stat().st_size
        print(f"wrote {args.out / name} ({size // 1024} KB)")


if __name__ == "__main__":
    main()
