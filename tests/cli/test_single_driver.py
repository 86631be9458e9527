"""One driver per campaign, seen from the command line (real subprocesses)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROBOT_CAMPAIGN = ROOT / "campaigns" / "robot-electrolyte.yaml"


def loop_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loop.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loop.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def wait_for(proc: subprocess.Popen[str], db: Path, sql: str, at_least: int) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        rows = query(db, sql)
        if rows and rows[0][0] is not None and int(rows[0][0]) >= at_least:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {sql}")


def snapshot(db: Path) -> list:
    return [
        query(db, "select id, status, attempt, updated_at from trial order by id"),
        query(db, "select count(*) from trial_event"),
        query(
            db, "select status, updated_at, driver_owner, driver_epoch from campaign"
        ),
    ]


@pytest.mark.timeout(300)
def test_a_second_run_is_refused_naming_the_holder_and_writes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "lab.db"
    url = f"sqlite:///{db}"
    first = start("run", str(ROBOT_CAMPAIGN), "--db", url)  # waits for robots
    try:
        wait_for(first, db, "select count(*) from trial where status = 'pending'", 4)
        before = snapshot(db)
        second = loop_cli("run", str(ROBOT_CAMPAIGN), "--db", url)
        assert second.returncode == 1, second.stderr
        assert f":{first.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        resumed = loop_cli("resume", "robot-electrolyte", "--db", url)
        assert resumed.returncode == 1 and f":{first.pid}" in resumed.stderr
        assert snapshot(db) == before
    finally:
        first.kill()
        first.communicate()


@pytest.mark.timeout(300)
def test_resume_right_after_a_crash_takes_over_without_waiting(
    tmp_path: Path, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 12
    campaign_data["strategy"]["batch_size"] = 2
    path = write_yaml(campaign_data)
    db = tmp_path / "run.db"
    url = f"sqlite:///{db}"
    first = start("run", str(path), "--db", url)
    wait_for(first, db, "select count(*) from measurement", 4)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert query(db, "select driver_owner from campaign")[0][0].endswith(
        f":{first.pid}"
    ), "the crashed driver's lease is still on record"
    # the dead driver's lease has a minute to run: resume must not need it to end
    resumed = loop_cli("resume", "mixed-bumps", "--db", url)
    assert resumed.returncode == 0, resumed.stderr
    assert query(db, "select count(*) from measurement") == [(12,)]
    assert query(db, "select count(distinct trial_id) from measurement") == [(12,)]
    assert query(db, "select driver_owner from campaign") == [(None,)]
