"""The CLI end to end on real SQLite files: run, inspect, resume, stop with SIGINT."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.spec import load_path, validate
from loop.spec.rules import violations
from tests.conftest import CAMPAIGNS, ROOT

runner = CliRunner()


def loop_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loop.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def inspect_json(name: str, db: str) -> dict:
    result = runner.invoke(app, ["inspect", name, "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_alloy_campaign_runs_to_budget_and_inspect_shows_it(db_url: str) -> None:
    result = runner.invoke(
        app, ["run", str(CAMPAIGNS / "alloy-emt.yaml"), "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert (
        "best composition" in result.stdout
        and "loop inspect cu-ni-pd-pt-au-emt" in result.stdout
    )
    spec = load_path(CAMPAIGNS / "alloy-emt.yaml")
    doc = inspect_json(spec.name, db_url)
    assert doc["budget"] == {"experiments": 24, "used": 24}
    assert doc["status"] == "completed"
    assert len(doc["trials"]) == 24
    for t in doc["trials"]:
        assert t["status"] == "completed"
        assert abs(sum(t["composition"].values()) - 1.0) <= 1e-9
        assert violations(spec, t["composition"], t["parameters"]) == []
        assert set(t["measurements"]) == {"mixing_energy"}
    best = min(t["measurements"]["mixing_energy"] for t in doc["trials"])
    assert doc["best"]["measurements"]["mixing_energy"] == best
    # model-based proposals follow the initial design and carry provenance
    phases = [t["phase"] for t in doc["trials"]]
    assert phases[:8] == ["initial"] * 8 and "model" in phases[8:]
    model_trial = next(t for t in doc["trials"] if t["phase"] == "model")
    assert model_trial["acquisition_value"] is not None
    assert "mixing_energy" in model_trial["predicted_mean"]


def test_run_again_at_budget_says_so_and_exits_0(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 4
    path = write_yaml(campaign_data)
    assert runner.invoke(app, ["run", str(path), "--db", db_url]).exit_code == 0
    again = runner.invoke(app, ["run", str(path), "--db", db_url])
    assert again.exit_code == 0
    assert "continued" in again.stdout and "budget reached" in again.stdout
    assert inspect_json("mixed-bumps", db_url)["budget"]["used"] == 4


def test_a_run_refused_for_a_busy_driver_lease_changes_nothing(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    """The lease comes first: a raised budget is not written while another
    driver (here one on another machine) holds the campaign."""
    from loop.storage import Store
    from loop.storage.driver import acquire, holder

    campaign_data["budget"]["experiments"] = 3
    path = write_yaml(campaign_data)
    assert runner.invoke(app, ["run", str(path), "--db", db_url]).exit_code == 0
    store = Store(db_url, create=False)
    acquire(store, "mixed-bumps", owner="robot-hall-pc:4242")
    campaign_data["budget"]["experiments"] = 6
    refused = runner.invoke(
        app, ["run", str(write_yaml(campaign_data)), "--db", db_url]
    )
    assert refused.exit_code == 1
    assert "robot-hall-pc:4242" in refused.output
    assert "updated" not in refused.output
    assert inspect_json("mixed-bumps", db_url)["budget"] == {
        "experiments": 3,
        "used": 3,
    }
    held = holder(store, "mixed-bumps")
    assert held is not None and held.owner == "robot-hall-pc:4242"


def test_raising_the_budget_continues_the_campaign(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 4
    path = write_yaml(campaign_data)
    assert runner.invoke(app, ["run", str(path), "--db", db_url]).exit_code == 0
    campaign_data["budget"]["experiments"] = 7
    more = runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", db_url])
    assert more.exit_code == 0, more.output
    assert "updated budget" in more.stdout
    doc = inspect_json("mixed-bumps", db_url)
    assert doc["budget"] == {"experiments": 7, "used": 7}
    configs = [
        json.dumps([t["composition"], t["parameters"]], sort_keys=True)
        for t in doc["trials"]
    ]
    assert len(set(configs)) == 7


def test_changing_anything_else_is_refused_and_writes_nothing(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 3
    assert (
        runner.invoke(
            app, ["run", str(write_yaml(campaign_data)), "--db", db_url]
        ).exit_code
        == 0
    )
    campaign_data["objectives"][0]["direction"] = "minimize"
    result = runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", db_url])
    assert result.exit_code == 2
    assert "different objectives" in result.stderr and "new `name`" in result.stderr
    assert (
        inspect_json("mixed-bumps", db_url)["objectives"][0]["direction"] == "maximize"
    )


def test_resume_and_inspect_of_unknown_campaign_exit_2_listing_known(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 2
    runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", db_url])
    for command in ("resume", "inspect"):
        result = runner.invoke(app, [command, "nope", "--db", db_url])
        assert result.exit_code == 2
        assert (
            "no campaign named 'nope'" in result.stderr
            and "mixed-bumps" in result.stderr
        )


def test_inspect_of_a_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "absent.db"
    result = runner.invoke(app, ["inspect", "x", "--db", f"sqlite:///{db}"])
    assert result.exit_code == 2 and "no database" in result.stderr
    assert not db.exists()


def test_inspect_formats_table_and_yaml(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 3
    runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", db_url])
    table = runner.invoke(app, ["inspect", "mixed-bumps", "--db", db_url])
    assert (
        table.exit_code == 0
        and "3/3 experiments" in table.stdout
        and "best so far" in table.stdout
    )
    as_yaml = yaml.safe_load(
        runner.invoke(
            app, ["inspect", "mixed-bumps", "--db", db_url, "--format", "yaml"]
        ).stdout
    )
    assert as_yaml["budget"] == {"experiments": 3, "used": 3}
    bad = runner.invoke(
        app, ["inspect", "mixed-bumps", "--db", db_url, "--format", "xml"]
    )
    # typer's usage error, in a box: it names the option and the choices
    flat = " ".join(bad.stderr.replace("│", " ").split())
    assert bad.exit_code == 2 and "Invalid value for '--format'" in flat
    assert "'xml' is not one of 'table', 'json', 'yaml'" in flat
    assert "<table|json|yaml>" in runner.invoke(app, ["inspect", "--help"]).stdout


def test_loop_db_environment_variable_selects_the_database(
    tmp_path: Path, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 2
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = runner.invoke(
        app, ["run", str(write_yaml(campaign_data))], env={"LOOP_DB": url}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_seed_option_overrides_the_file(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 2
    result = runner.invoke(
        app, ["run", str(write_yaml(campaign_data)), "--db", db_url, "--seed", "42"]
    )
    assert result.exit_code == 0
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        (spec,) = conn.execute("select spec from campaign").fetchone()
    assert json.loads(spec)["seed"] == 42


def _count(db: Path, sql: str) -> int:
    """A count from the live database; 0 while its tables are still being created."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_sigterm_during_a_long_proposal_stops_within_seconds(
    tmp_path: Path, campaign_data: dict, write_yaml
) -> None:
    """A model fit writes nothing, so a stop need not wait for it: SIGTERM in
    the middle of a deliberately slow proposal ends the run at once, with only
    the initial design stored (it used to run the whole fit first)."""
    campaign_data["strategy"]["optimizer"] = {
        "restarts": 64,
        "raw_samples": 8192,
        "max_iterations": 2000,
    }
    path = write_yaml(campaign_data)
    db = tmp_path / "run.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loop.cli", "run", str(path), "--db", f"sqlite:///{db}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # progress lines: stdout is a pipe, not a terminal
        if "proposing 3 (iteration 2" in line:  # the first model round
            break
    time.sleep(1.0)  # inside the fit or the acquisition search by now
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    waited = time.monotonic() - stopped
    assert proc.returncode == 130, stderr
    assert "the proposal in progress is dropped" in stderr
    assert "Traceback" not in stderr
    assert waited < 30, f"the stop waited {waited:.0f} s for the proposal"
    assert _count(db, "select count(*) from trial") == 6  # the initial design only
    assert _count(db, "select count(*) from trial where phase != 'initial'") == 0


def test_sigint_mid_campaign_then_resume_measures_exactly_the_budget(
    tmp_path: Path, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 14
    campaign_data["strategy"]["batch_size"] = 2
    path = write_yaml(campaign_data)
    db = tmp_path / "run.db"
    url = f"sqlite:///{db}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loop.cli", "run", str(path), "--db", url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if db.exists() and _count(db, "select count(*) from measurement") >= 7:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    # the signal lands between steps or, on a loaded machine, inside the next
    # proposal: either way the driver says what it does with it
    assert (
        "stopping after the current step (Ctrl-C again" in stderr
        or "stopping: the proposal in progress is dropped" in stderr
    ), stderr
    assert "loop resume mixed-bumps" in stderr
    assert "Traceback" not in stderr
    stopped_at = _count(db, "select count(*) from measurement")
    assert 7 <= stopped_at < 14

    resumed = loop_cli("resume", "mixed-bumps", "--db", url)
    assert resumed.returncode == 0, resumed.stderr
    assert _count(db, "select count(*) from measurement") == 14
    assert _count(db, "select count(distinct trial_id) from measurement") == 14
    doc = inspect_json("mixed-bumps", url)
    assert doc["budget"] == {"experiments": 14, "used": 14}
    configs = [
        json.dumps([t["composition"], t["parameters"]], sort_keys=True)
        for t in doc["trials"]
    ]
    assert len(configs) == len(set(configs)) == 14
    spec = validate(campaign_data)
    assert all(
        violations(spec, t["composition"], t["parameters"]) == [] for t in doc["trials"]
    )


@pytest.mark.parametrize("example", sorted(p.name for p in CAMPAIGNS.glob("*.yaml")))
def test_every_example_campaign_validates_from_the_cli(example: str) -> None:
    result = runner.invoke(app, ["validate", str(CAMPAIGNS / example)])
    assert result.exit_code == 0, result.output


def test_version_alone_prints_the_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("loop ")


def test_inspect_table_shows_units_in_headers(db_url: str, write_yaml) -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["experiments"] = 2
    runner.invoke(app, ["run", str(write_yaml(data)), "--db", db_url])
    table = runner.invoke(app, ["inspect", data["name"], "--db", db_url])
    assert "[mS/cm]" in table.stdout


def test_an_unsupported_database_url_is_bad_input(
    campaign_data: dict, write_yaml
) -> None:
    url = "mysql://lab:s3cret@db.example/loop"
    result = runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", url])
    assert result.exit_code == 2
    assert "unsupported database URL" in result.stderr
    assert "postgresql+psycopg://" in result.stderr, "the hint names what works"
    assert "s3cret" not in result.output
    assert "internal error" not in result.stderr


def test_an_unreachable_postgresql_server_is_a_runtime_error_without_password(
    campaign_data: dict, write_yaml
) -> None:
    url = "postgresql+psycopg://lab:s3cret@db.invalid/loop"
    result = runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", url])
    assert result.exit_code == 1
    assert "cannot open the database" in result.stderr
    assert "s3cret" not in result.output
    assert "internal error" not in result.stderr


def test_a_campaign_stored_before_a_new_default_still_continues(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    campaign_data["budget"]["experiments"] = 2
    path = write_yaml(campaign_data)
    assert runner.invoke(app, ["run", str(path), "--db", db_url]).exit_code == 0
    # as an older loop would have stored it: without keys added since
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        (raw,) = conn.execute("select spec from campaign").fetchone()
        spec = json.loads(raw)
        del spec["adapter"]["failures"], spec["strategy"]["surrogate"]["features"]
        conn.execute("update campaign set spec = ?", (json.dumps(spec),))
    again = runner.invoke(app, ["run", str(path), "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "continued" in again.stdout
