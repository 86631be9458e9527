"""`loop robots add|list|revoke` and `loop serve`'s refusal of plain HTTP on a
public address, through the real CLI on real SQLite files."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from loop.cli import app
from tests.lab import live_server, robot_campaign

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
TOKEN = re.compile(r"loop_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}")


def loop(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_robots_add_prints_the_token_once_and_list_never_shows_it(
    db_url: str,
) -> None:
    rc = robot_campaign(db_url)
    added = loop("robots", "add", "arm-7", "--campaign", rc.name, "--db", db_url)
    assert added.exit_code == 0, added.output
    lines = added.stdout.splitlines()
    assert len(lines) == 1 and TOKEN.fullmatch(lines[0]), added.stdout
    token = lines[0]
    assert token not in added.stderr, "the token goes to stdout only, once"
    assert "cannot show it again" in added.stderr

    listed = loop("robots", "list", "--campaign", rc.name, "--db", db_url)
    assert listed.exit_code == 0, listed.output
    assert "arm-7" in listed.stdout and "robot-1" in listed.stdout
    assert token.split("_")[1] in listed.stdout, "the prefix identifies the key"
    secret = token.split("_", 2)[2]
    assert token not in listed.output and secret not in listed.output


def test_adding_the_same_robot_twice_exits_2_with_a_hint(db_url: str) -> None:
    rc = robot_campaign(db_url)
    args = ("robots", "add", "arm-7", "--campaign", rc.name, "--db", db_url)
    assert loop(*args).exit_code == 0
    again = loop(*args)
    assert again.exit_code == 2, again.output
    assert again.stdout == "", "no token is printed when nothing was added"
    assert "already has a robot named 'arm-7'" in again.stderr
    assert "hint:" in again.stderr and "loop robots revoke" in again.stderr


def test_robot_tokens_are_only_for_robot_campaigns_but_read_tokens_for_any(
    db_url: str,
) -> None:
    from loop.service.campaigns import ensure_campaign
    from loop.spec import load_path
    from loop.storage import Store

    campaigns = Path(__file__).resolve().parents[2] / "campaigns"
    ensure_campaign(Store(db_url), load_path(campaigns / "electrolyte.yaml"))
    args = ("robots", "add", "arm-7", "--campaign", "carbonate-electrolyte")
    refused = loop(*args, "--db", db_url)
    assert refused.exit_code == 2, refused.output
    assert refused.stdout == ""
    assert "not run by robots" in refused.stderr and "--read-only" in refused.stderr
    reader = loop(*args, "--read-only", "--db", db_url)
    assert reader.exit_code == 0, reader.output
    assert TOKEN.fullmatch(reader.stdout.strip())


@pytest.mark.parametrize(
    "name", ["robot-\u0430", "r\u043ebot-1", "arm\u20137", "arm 7", "", "x" * 65]
)
def test_robot_names_are_plain_ascii_so_look_alikes_are_refused(
    db_url: str, name: str
) -> None:
    """A Cyrillic 'а' or 'о', or an en dash, would make a second 'robot-a' that
    reads as the first in every list and log."""
    rc = robot_campaign(db_url)
    added = loop("robots", "add", name, "--campaign", rc.name, "--db", db_url)
    assert added.exit_code == 2, added.output
    assert "is not allowed" in added.stderr and "ASCII" in added.stderr
    listed = loop("robots", "list", "--campaign", rc.name, "--db", db_url)
    assert "robot-1" in listed.stdout
    assert not name or name not in listed.stdout, "nothing was added"


def test_robots_add_refuses_an_unknown_campaign(db_url: str) -> None:
    robot_campaign(db_url)
    r = loop("robots", "add", "arm-7", "--campaign", "no-such", "--db", db_url)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert "no-such" in r.stderr


@pytest.mark.timeout(120)
def test_a_token_revoked_with_the_cli_gets_401_from_the_api(db_url: str) -> None:
    rc = robot_campaign(db_url)
    added = loop("robots", "add", "arm-7", "--campaign", rc.name, "--db", db_url)
    token = added.stdout.strip()
    claims = f"/api/v1/campaigns/{rc.name}/claims"
    with live_server(rc.store) as url:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as robot:
            assert robot.post(claims).status_code == 204  # valid; nothing ready yet

            revoked = loop("robots", "revoke", "arm-7", "-c", rc.name, "--db", db_url)
            assert revoked.exit_code == 0, revoked.output

            r = robot.post(claims)
            assert r.status_code == 401
            assert "revoked" in r.json()["message"]
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    listed = loop("robots", "list", "--campaign", rc.name, "--db", db_url)
    row = [line for line in listed.stdout.splitlines() if "arm-7" in line]
    assert len(row) == 1 and "revoked" in row[0], listed.stdout


def test_revoking_an_unknown_robot_exits_2(db_url: str) -> None:
    rc = robot_campaign(db_url)
    r = loop("robots", "revoke", "ghost", "--campaign", rc.name, "--db", db_url)
    assert r.exit_code == 2, r.output
    assert "ghost" in r.stderr and "loop robots list" in r.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "lab-server.local"])
def test_serve_refuses_plain_http_on_a_non_loopback_address(
    db_url: str, host: str
) -> None:
    robot_campaign(db_url)
    r = loop("serve", "--host", host, "--port", "1", "--db", db_url)
    assert r.exit_code == 2, r.output
    assert "refusing plain HTTP" in r.stderr
    for fix in ("--ssl-certfile", "--insecure", "127.0.0.1"):
        assert fix in r.stderr, r.stderr


@pytest.mark.timeout(60)
def test_serve_wants_both_tls_files(db_url: str, tmp_path: Path) -> None:
    robot_campaign(db_url)
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    r = loop("serve", "--host", "0.0.0.0", "--ssl-certfile", str(cert), "--db", db_url)
    assert r.exit_code == 2, r.output
    assert "--ssl-keyfile" in r.stderr


def test_a_token_with_expires_is_refused_once_it_has_run_out(db_url: str) -> None:
    rc = robot_campaign(db_url)
    args = ("robots", "add", "arm-7", "--campaign", rc.name, "--db", db_url)
    path = f"/api/v1/campaigns/{rc.name}"
    with live_server(rc.store) as url:
        minted = time.monotonic()
        added = loop(*args, "--expires", "8s")
        assert added.exit_code == 0, added.output
        assert "valid until" in added.stderr
        auth = {"Authorization": f"Bearer {added.stdout.strip()}"}
        assert httpx.get(url + path, headers=auth).status_code == 200
        time.sleep(max(0.0, minted + 8.5 - time.monotonic()))
        late = httpx.get(url + path, headers=auth)
    assert late.status_code == 401, late.text
    assert "expired at" in late.json()["message"]
    assert "--expires" in late.json()["hint"]
    listed = loop("robots", "list", "--campaign", rc.name, "--db", db_url)
    assert "expired" in listed.stdout
    bad = loop(*args[:2], "arm-8", *args[3:], "--expires", "soon")
    assert bad.exit_code == 2 and "--expires 'soon' is not a positive duration" in (
        " ".join(bad.stderr.split())
    )
