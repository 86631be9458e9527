"""Benchmark: the robot API under load (claims and measurements from many robots).

A temporary SQLite campaign is made from campaigns/robot-electrolyte.yaml with a
large budget, `--trials` PENDING trials are stored up front (random feasible
configurations from the `random` engine, as `loop run` would store them), and
the real API is started as a subprocess (`loop serve --db ... --port ...`).
Then `--clients` threads, each a robot with its own token and its own
`httpx.Client`, loop for `--seconds`: claim a trial, post its measurement with a
fresh Idempotency-Key, and re-post about `--replay-rate` of them with the same
key and body (a retry after a lost response).

It prints a markdown table of throughput and latency (p50/p99 of claims and of
posts, in milliseconds), then checks the books against the database:

- every accepted (200) first post is one measurement row, and nothing else is;
- no trial has two measurements;
- the inbox holds one row per measurement post sent (first posts and replays);
- every replay returned the identical body and added no row.

    .venv/bin/python -m tests.benchmarks.robot_load --clients 16 --seconds 30

Exit code 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from sqlalchemy import text

from loop.engine import CampaignEngine
from loop.service.campaigns import ensure_campaign
from loop.service.robots import add_robot
from loop.spec import validate
from loop.storage import Store
from tests.benchmarks.common import ROOT

CAMPAIGN = ROOT / "campaigns" / "robot-electrolyte.yaml"
#: Distinct configurations proposed; more trials than this reuse them in turn.
DISTINCT = 1000
#: Trials stored per transaction while filling the campaign.
CHUNK = 1000


@dataclass
class Tally:
    """What one client thread did."""

    claim_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    replay_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    posts: int = 0
    replays: int = 0
    replays_identical: int = 0
    empty_claims: int = 0
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_campaign(
    db_url: str, trials: int, clients: int
) -> tuple[Store, str, list[str]]:
    """The campaign with *trials* PENDING trials and one robot token per client."""
    data = yaml.safe_load(CAMPAIGN.read_text())
    data["name"] = "robot-load"
    data["strategy"] = {"engine": "random", "batch_size": 64}
    data["budget"] = {"experiments": max(1_000_000, trials)}
    spec = validate(data)
    store = Store(db_url)
    ensure_campaign(store, spec)
    engine = CampaignEngine(spec)
    engine.tell([])
    pool = engine.ask(min(trials, DISTINCT), 0)
    stored = 0
    while stored < trials:
        n = min(CHUNK, trials - stored)
        batch = [pool[(stored + i) % len(pool)] for i in range(n)]
        store.add_trials(spec.name, stored // CHUNK, batch, spec.budget.experiments)
        stored += n
    tokens = [add_robot(store, spec.name, f"bench-{i}").token for i in range(clients)]
    return store, spec.name, tokens


def start_server(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`loop serve` in a subprocess (its output in *log*), once /healthz answers."""
    loop_cli = Path(sys.executable).with_name("loop")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(loop_cli), "serve", "--db", db_url, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"loop serve exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError("loop serve did not answer /healthz within 60 s")


def robot(
    url: str,
    campaign: str,
    token: str,
    until: float,
    replay_rate: float,
    seed: int,
    tally: Tally,
) -> None:
    """Claim and report until *until* (time.perf_counter)."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        while time.perf_counter() < until:
            started = time.perf_counter()
            claim = http.post(f"/api/v1/campaigns/{campaign}/claims")
            tally.claim_ms.append((time.perf_counter() - started) * 1000)
            tally.statuses[f"claim {claim.status_code}"] += 1
            if claim.status_code == 204:  # every stored trial is taken: stop
                tally.empty_claims += 1
                break
            if claim.status_code != 200:
                tally.errors.append(f"claim {claim.status_code}: {claim.text[:200]}")
                continue
            work = claim.json()
            body = json.dumps(
                {
                    "attempt": work["attempt"],
                    "values": {"conductivity": rng.uniform(1.0, 12.0)},
                    "units": {"conductivity": "mS/cm"},
                    "metadata": {"bench": "robot_load"},
                }
            ).encode()
            post_headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            path = f"/api/v1/trials/{work['trial_id']}/measurements"
            started = time.perf_counter()
            post = http.post(path, content=body, headers=post_headers)
            tally.post_ms.append((time.perf_counter() - started) * 1000)
            tally.posts += 1
            tally.statuses[f"post {post.status_code}"] += 1
            if post.status_code != 200:
                tally.errors.append(f"post {post.status_code}: {post.text[:200]}")
                continue
            tally.accepted += 1
            if rng.random() < replay_rate:
                started = time.perf_counter()
                again = http.post(path, content=body, headers=post_headers)
                tally.replay_ms.append((time.perf_counter() - started) * 1000)
                tally.replays += 1
                tally.statuses[f"replay {again.status_code}"] += 1
                if again.status_code == 200 and again.json() == post.json():
                    tally.replays_identical += 1
                else:
                    tally.errors.append(
                        f"replay {again.status_code} differs: {again.text[:200]}"
                    )


def percentile(values: list[float], q: float) -> float:
    """The *q*-th percentile (nearest rank) of *values*; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def database_counts(store: Store, campaign: str) -> dict[str, int]:
    with store.engine.connect() as conn:

        def one(sql: str) -> int:
            return int(conn.execute(text(sql), {"c": campaign}).scalar_one())

        trials_of = "select t.id from trial t join campaign c on c.id = t.campaign_id where c.name = :c"
        return {
            "measurements": one(
                f"select count(*) from measurement where trial_id in ({trials_of})"
            ),
            "doubly_measured": one(
                "select count(*) from (select trial_id from measurement where trial_id in "
                f"({trials_of}) group by trial_id having count(*) > 1)"
            ),
            "inbox": one(
                "select count(*) from submission s join campaign c on c.id = s.campaign_id "
                "where c.name = :c and s.route = 'measurements'"
            ),
            "completed": one(
                "select count(*) from trial t join campaign c on c.id = t.campaign_id "
                "where c.name = :c and t.status = 'completed'"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="robot threads")
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration")
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="PENDING trials stored up front (default: 200 per second of load)",
    )
    parser.add_argument(
        "--replay-rate",
        type=float,
        default=0.05,
        help="share of accepted posts re-sent with the same key and body",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    trials = args.trials or max(100, int(200 * args.seconds))

    workdir = Path(tempfile.mkdtemp(prefix="robot-load-"))
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    started = time.perf_counter()
    store, campaign, tokens = make_campaign(db_url, trials, args.clients)
    print(
        f"stored {trials} pending trials in {time.perf_counter() - started:.1f} s "
        f"({db_url})",
        flush=True,
    )
    port = free_port()
    server = start_server(db_url, port, workdir / "serve.log")
    url = f"http://127.0.0.1:{port}"
    tallies = [Tally() for _ in range(args.clients)]
    try:
        begin = time.perf_counter()
        until = begin + args.seconds
        threads = [
            threading.Thread(
                target=robot,
                args=(url, campaign, tokens[i], until, args.replay_rate, args.seed + i),
                kwargs={"tally": tallies[i]},
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - begin  # robots stop early when trials run out
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    total = Tally()
    for t in tallies:
        total.claim_ms += t.claim_ms
        total.post_ms += t.post_ms
        total.replay_ms += t.replay_ms
        total.statuses.update(t.statuses)
        total.errors += t.errors
        for name in (
            "accepted",
            "posts",
            "replays",
            "replays_identical",
            "empty_claims",
        ):
            setattr(total, name, getattr(total, name) + getattr(t, name))
    sent = total.posts + total.replays
    counts = database_counts(store, campaign)

    print()
    print(
        "| clients | seconds | measurements | posts/s | claim p50 ms | claim p99 ms "
        "| post p50 ms | post p99 ms | replays | replay p50 ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.clients} | {elapsed:.1f} | {total.accepted} | {sent / elapsed:.1f} "
        f"| {percentile(total.claim_ms, 50):.1f} | {percentile(total.claim_ms, 99):.1f} "
        f"| {percentile(total.post_ms, 50):.1f} | {percentile(total.post_ms, 99):.1f} "
        f"| {total.replays} | {percentile(total.replay_ms, 50):.1f} |"
    )
    print()
    print(
        "responses: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(total.statuses.items()))
    )
    if total.empty_claims:
        print(
            f"warning: every stored trial was taken before the time was up "
            f"({total.empty_claims} robots stopped early); store more with --trials "
            f"(now {trials})"
        )
    checks = [
        (
            "accepted first posts = measurement rows",
            total.accepted,
            counts["measurements"],
        ),
        (
            "accepted first posts = completed trials",
            total.accepted,
            counts["completed"],
        ),
        ("trials with two measurements = 0", 0, counts["doubly_measured"]),
        ("inbox rows = measurement posts sent", sent, counts["inbox"]),
        ("identical replays = replays", total.replays, total.replays_identical),
    ]
    failed = False
    for label, expected, found in checks:
        ok = expected == found
        failed |= not ok
        print(f"check {label}: {expected} vs {found} {'ok' if ok else 'FAILED'}")
    for error in total.errors[:10]:
        print(f"error: {error}")
    if args.keep:
        print(f"kept {workdir}")
    else:
        store.engine.dispose()
        for path in sorted(workdir.iterdir()):
            path.unlink()
        workdir.rmdir()
    sys.exit(1 if failed or total.errors else 0)


if __name__ == "__main__":
    main()
