"""Headless Chromium from Debian's `chromium` package, driven by Playwright's Python
package (no browser download), and a robot campaign served by a real uvicorn on
loopback (tests/lab.py).

Without /usr/bin/chromium (or the playwright package) the browser tests skip
locally and fail in CI (env CI set), as the PostgreSQL half of the suite does:
`.ci/run` installs `chromium` and `chromium-driver`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from loop.service.robots import add_robot
from tests.lab import RobotCampaign, live_server, robot_campaign
from tests.support import unavailable

#: Where Debian's `chromium` package puts the browser.
CHROMIUM = Path(os.environ.get("LOOP_TEST_CHROMIUM", "/usr/bin/chromium"))


def _unavailable(reason: str) -> NoReturn:
    unavailable(
        "the browser tests",
        reason,
        "apt-get install --no-install-recommends chromium chromium-driver, and "
        "pip install -e '.[dev]' (playwright)",
    )


#: WebGL without a GPU (SwiftShader), for plotly's parallel coordinates.
WEBGL = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def launch(playwright: Any) -> Any:
    """Headless Chromium from the Debian package (never a downloaded one)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=WEBGL
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    # a busy CI machine (2 cores, benchmarks) can take more than the default 5 s
    expect.set_options(timeout=10_000)
    if not CHROMIUM.exists() and not shutil.which(str(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Served:
    """A robot campaign with 4 claimable trials behind a live API, and a read token."""

    url: str
    campaign: RobotCampaign
    read_token: str

    @property
    def name(self) -> str:
        return self.campaign.name


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    rc = robot_campaign(db_url)
    read = add_robot(rc.store, rc.name, "viewer", role="read").token
    rc.propose(4)
    with live_server(rc.store) as url:
        yield Served(url, rc, read)
