"""`loop db version|upgrade|backup` and `loop export` on real SQLite files, and the
commands that refuse a database at an older schema."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.cli.results import ExportFormat
from loop.records import Proposal, TrialStatus
from loop.service.export import FORMATS
from loop.spec import validate
from loop.storage import Store, migrations
from loop.storage.tables import SCHEMA_VERSION
from tests.conftest import CAMPAIGNS

FROZEN = Path(__file__).resolve().parents[1] / "storage" / "data" / "loop-schema-1.db"
NAME = "carbonate-electrolyte"
runner = CliRunner()


def loop(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def old(tmp_path: Path) -> str:
    """A copy of the frozen schema-1 database, not upgraded."""
    path = tmp_path / "old.db"
    shutil.copyfile(FROZEN, path)
    return f"sqlite:///{path}"


@pytest.fixture
def upgraded(old: str) -> str:
    migrations.upgrade(old)
    return old


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "command",
    [
        ["run", str(CAMPAIGNS / "electrolyte.yaml")],
        ["resume", NAME],
        ["inspect", NAME],
        ["serve"],
        ["export", NAME],
        ["robots", "list"],
    ],
    ids=lambda c: c[0],
)
def test_commands_refuse_an_older_database_with_the_upgrade_hint(
    old: str, command: list[str]
) -> None:
    trials = len(_rows(old, "trial"))
    result = loop(*command, "--db", old)
    assert result.exit_code == 1, result.output
    assert f"database at schema 1, this loop needs {SCHEMA_VERSION}" in result.stderr
    assert (
        f"hint: back it up with `loop db backup FILE --db {old}`, then run "
        f"`loop db upgrade --db {old}`" in result.stderr
    )
    assert len(_rows(old, "trial")) == trials


# ------------------------------------------------------------------- version
def test_version_says_whether_an_upgrade_is_needed(old: str) -> None:
    before = loop("db", "version", "--db", old)
    assert before.exit_code == 0, before.output
    assert (
        f"schema 1 (migration 0001); this loop needs {SCHEMA_VERSION}" in before.stdout
    )
    assert "loop db upgrade --db" in before.stdout
    upgraded = loop("db", "upgrade", "--db", old)
    assert upgraded.exit_code == 0
    assert (
        upgraded.stdout.strip() == f"{old}: upgraded from schema 1 to {SCHEMA_VERSION}"
    )
    after = loop("db", "version", "--db", old)
    assert after.stdout.strip() == (
        f"{old}: schema {SCHEMA_VERSION} (migration {migrations.HEAD}); up to date"
    )


def test_version_and_upgrade_of_a_missing_file_exit_2_and_create_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for command in ("version", "upgrade"):
        result = loop("db", command, "--db", url)
        assert result.exit_code == 2 and "no database at" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_upgrade_of_an_empty_file_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    url = f"sqlite:///{path}"
    assert "empty (no loop tables yet)" in loop("db", "version", "--db", url).stdout
    result = loop("db", "upgrade", "--db", url)
    assert result.exit_code == 0 and f"created schema {SCHEMA_VERSION}" in result.stdout
    assert Store(url, create=False).list_campaigns() == []


def test_version_of_a_file_that_is_not_a_loop_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE loop_meta (k)")
    result = loop("db", "version", "--db", f"sqlite:///{path}")
    assert result.exit_code == 2 and "not a loop database" in result.stderr


# -------------------------------------------------------------------- backup
def test_backup_of_a_live_database_includes_what_is_still_in_the_wal(
    tmp_path: Path, campaign_data: dict
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = Store(url)
    store.create_campaign("c1", validate(campaign_data).model_dump(mode="json"))
    proposal = Proposal(
        composition={"A": 25.0, "B": 25.0, "C": 25.0, "D": 25.0},
        parameters={"temperature": 400.0, "layers": 2, "route": "cast"},
        phase="initial",
        strategy="random",
    )
    store.add_trials("c1", 0, [proposal] * 3, budget=10)
    # a writer that never checkpoints: its commits live only in the -wal file
    writer = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE trial SET status = 'stale' WHERE id = 3")
    writer.execute("UPDATE campaign SET status = 'exhausted'")
    reader = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM trial").fetchone()  # an open read transaction
    try:
        assert (tmp_path / "live.db-wal").stat().st_size > 0
        naive = tmp_path / "naive-copy.db"
        shutil.copyfile(tmp_path / "live.db", naive)  # what `cp` would give
        assert _campaign_status(naive) != "exhausted"  # lost, or even no table at all

        result = loop("db", "backup", str(tmp_path / "copy.db"), "--db", url)
        assert result.exit_code == 0, result.output
        assert "1 campaign, 3 trials" in result.stdout
    finally:
        reader.close()
        writer.close()
    copy = tmp_path / "copy.db"
    assert not Path(f"{copy}-wal").exists()
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    backup = Store(f"sqlite:///{copy}", create=False)
    assert backup.get_campaign("c1").status == "exhausted"
    copied, live = backup.trials("c1"), store.trials("c1")
    assert [t.model_dump() for t in copied] == [t.model_dump() for t in live]
    assert copied[2].status is TrialStatus.STALE
    assert not list(tmp_path.glob(".copy.db.partial-*"))


def test_backup_of_an_older_database_works_before_the_upgrade(
    old: str, tmp_path: Path
) -> None:
    result = loop("db", "backup", str(tmp_path / "before-upgrade.db"), "--db", old)
    assert result.exit_code == 0, result.output
    assert "schema 1, 1 campaign, 6 trials" in result.stdout
    assert _rows(f"sqlite:///{tmp_path / 'before-upgrade.db'}", "trial") == _rows(
        old, "trial"
    )


def test_backup_never_overwrites(upgraded: str, tmp_path: Path) -> None:
    target = tmp_path / "keep.db"
    target.write_bytes(b"precious")
    result = loop("db", "backup", str(target), "--db", upgraded)
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert target.read_bytes() == b"precious"


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lab:s3cret@db.example/loop"
    result = loop("db", "backup", str(tmp_path / "x.db"), "--db", url)
    assert result.exit_code == 2
    assert "pg_dump" in result.stderr and "s3cret" not in result.output
    assert not (tmp_path / "x.db").exists()


# -------------------------------------------------------------------- export
def test_export_json_round_trips_the_stored_values(upgraded: str) -> None:
    result = loop("export", NAME, "--format", "json", "--db", upgraded)
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    store = Store(upgraded, create=False)
    trials = store.trials(NAME)
    assert [d["id"] for d in docs] == [t.id for t in trials]
    for d, t in zip(docs, trials, strict=True):
        assert d["campaign"] == NAME and d["status"] == t.status.value
        assert d["iteration"] == t.iteration and d["attempt"] == t.attempt
        assert (d["phase"], d["strategy"], d["seed"]) == (t.phase, t.strategy, t.seed)
        assert d["composition"] == t.composition and d["parameters"] == t.parameters
        assert d["acquisition_value"] == t.acquisition_value
        assert d["predicted_mean"] == t.predicted_mean
        assert d["predicted_sd"] == t.predicted_sd
        assert d["provenance"] == t.provenance
        assert d["propose_seconds"] == t.provenance["propose_seconds"]
        assert d["failure_reason"] == t.failure_reason
        assert [
            (e["from_status"], e["to_status"], e["attempt"]) for e in d["events"]
        ] == [
            (e["from_status"], e["to_status"], e["attempt"]) for e in store.events(t.id)
        ]
        m = t.measurement
        if m is None:
            assert d["measurement"] is None and d["measurements"] == {}
            continue
        assert d["measurement"] == {
            "attempt": m.attempt,
            "values": m.values,
            "units": m.units,
            "metadata": m.metadata,
            "source": m.source,
            "late": m.late,
            "received_at": m.received_at.isoformat(),
            "voided": False,
        }
    late = next(d for d in docs if d["id"] == 3)
    assert late["measurement"]["late"] is True
    assert late["measurement"]["metadata"]["temperature_K"] == 298.15
    assert [e["to_status"] for e in late["events"]] == [
        "pending",
        "claimed",
        "pending",
        "claimed",
        "started",
        "completed",
    ]


def test_export_csv_has_one_row_per_trial_that_reads_back_exactly(
    upgraded: str, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    result = loop("export", NAME, "-o", str(target), "--db", upgraded)
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.stdout
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    header = next(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    for column in (
        "composition.EC",
        "composition.EMC",
        "composition.DMC",
        "parameter.LiPF6_molality",
        "value.conductivity",
        "unit.conductivity",
        "predicted_mean.conductivity",
        "predicted_sd.conductivity",
        "acquisition_value",
        "propose_seconds",
        "late",
        "received_at",
        "metadata",
        "events",
    ):
        assert column in header
    trials = Store(upgraded, create=False).trials(NAME)
    assert len(rows) == len(trials)
    for row, t in zip(rows, trials, strict=True):
        assert int(row["id"]) == t.id and row["status"] == t.status.value
        for c, v in t.composition.items():
            assert float(row[f"composition.{c}"]) == v
        assert float(row["parameter.LiPF6_molality"]) == t.parameters["LiPF6_molality"]
        assert json.loads(row["provenance"]) == t.provenance
        if t.acquisition_value is None:
            assert row["acquisition_value"] == ""
        else:
            assert float(row["acquisition_value"]) == t.acquisition_value
        if t.measurement is None:
            assert row["value.conductivity"] == row["late"] == row["metadata"] == ""
            continue
        assert float(row["value.conductivity"]) == t.values["conductivity"]
        assert row["unit.conductivity"] == "mS/cm"
        assert row["late"] == ("true" if t.measurement.late else "false")
        assert json.loads(row["metadata"]) == t.measurement.metadata
        assert [e["to_status"] for e in json.loads(row["events"])][-1] == "completed"


def test_export_carries_what_the_adapter_reported_with_a_failure(
    upgraded: str,
) -> None:
    store = Store(upgraded)
    (claimed,) = [t for t in store.trials(NAME) if t.status is TrialStatus.CLAIMED]
    details = {"job": {"name": "cell-9", "id": 77, "state": "FAILED"}, "cost": 1.5}
    store.transition(
        claimed.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        reason="cell shorted",
        details=details,
    )
    as_json = loop("export", NAME, "--format", "json", "--db", upgraded)
    doc = next(d for d in json.loads(as_json.stdout) if d["id"] == claimed.id)
    assert [e["details"] for e in doc["events"]][-2:] == [None, details]
    as_csv = loop("export", NAME, "--db", upgraded)
    row = next(
        r
        for r in csv.DictReader(io.StringIO(as_csv.stdout))
        if int(r["id"]) == claimed.id
    )
    assert json.loads(row["events"])[-1]["details"] == details


def test_export_to_stdout_and_bad_input(upgraded: str) -> None:
    text = loop("export", NAME, "--db", upgraded).stdout
    assert text.splitlines()[0].startswith("campaign,id,iteration,status")
    assert len(text.splitlines()) == 7
    bad = loop("export", NAME, "--format", "xlsx", "--db", upgraded)
    flat = " ".join(bad.stderr.replace("│", " ").split())  # typer's usage error box
    assert bad.exit_code == 2 and "Invalid value for '--format'" in flat
    assert "'xlsx' is not one of 'csv', 'json'" in flat
    unknown = loop("export", "nope", "--db", upgraded)
    assert unknown.exit_code == 2 and "no campaign named 'nope'" in unknown.stderr


def test_export_offers_the_formats_the_service_renders() -> None:
    # the command line spells them out so that it starts without the service layer
    assert [f.value for f in ExportFormat] == list(FORMATS)
    assert "<csv|json>" in loop("export", "--help").stdout


def _rows(url: str, table: str) -> list[tuple]:
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def _campaign_status(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as conn:
        try:
            return conn.execute("SELECT status FROM campaign").fetchone()[0]
        except sqlite3.OperationalError:
            return None
