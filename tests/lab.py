"""Test helpers for robot campaigns: a real uvicorn server on loopback, robot tokens.

The server runs in a thread of the test process so that tests can shift the
store's clock (`store.clock_skew`) to expire leases without sleeping; every
request still goes over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from loop.api import create_app
from loop.engine import CampaignEngine
from loop.records import Trial
from loop.service.campaigns import ensure_campaign
from loop.service.robots import add_robot
from loop.spec import CampaignSpec
from loop.storage import Store

ROBOT_CAMPAIGN = (
    Path(__file__).resolve().parents[1] / "campaigns" / "robot-electrolyte.yaml"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(store: Store, **app_options: Any) -> Iterator[str]:
    """Serve the API over *store* on a free loopback port; yields the base URL.
    *app_options* go to `create_app` (e.g. a tighter `limiter`)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(store, **app_options),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class RobotCampaign:
    """A stored robot campaign with tokens, ready to be served."""

    store: Store
    spec: CampaignSpec
    token: str
    other_token: str

    @property
    def name(self) -> str:
        return self.spec.name

    def propose(self, n: int) -> list[Trial]:
        """Store *n* PENDING trials (as the driver would), ready to be claimed."""
        trials = self.store.trials(self.name)
        iteration = max((t.iteration for t in trials), default=-1) + 1
        engine = CampaignEngine(self.spec)
        engine.tell(trials)
        return self.store.add_trials(
            self.name, iteration, engine.ask(n, iteration), self.spec.budget.experiments
        )


def robot_campaign(db_url: str, **changes: object) -> RobotCampaign:
    """The robot-electrolyte example campaign (with *changes* to its top-level
    keys), a robot token for it, and a token of a second campaign."""
    import yaml

    from loop.spec import validate

    data = yaml.safe_load(ROBOT_CAMPAIGN.read_text())
    data.update(changes)
    spec = validate(data)
    store = Store(db_url)
    ensure_campaign(store, spec)
    other = validate({**data, "name": f"{spec.name}-other"})
    ensure_campaign(store, other)
    return RobotCampaign(
        store,
        spec,
        add_robot(store, spec.name, "robot-1").token,
        add_robot(store, other.name, "robot-x").token,
    )
