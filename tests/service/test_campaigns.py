"""Stored dataset campaigns: read without their data file, never continued on changed data."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import LoopError
from loop.service.campaigns import ensure_campaign, status_document
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store

CSV = "A,B,score\n0.2,0.8,1.0\n0.4,0.6,2.0\n0.6,0.4,3.0\n0.8,0.2,4.0\n"


def _replay(budget: int) -> dict:
    return {
        "schema_version": 1,
        "name": "tiny-replay",
        "space": {"composition": {"kind": "species", "components": ["A", "B"]}},
        "objectives": [{"name": "score", "direction": "maximize"}],
        "strategy": {"initial_design": {"method": "random", "size": 2}},
        "budget": {"experiments": budget},
        # relative to the data root, as the benchmark campaigns are
        "adapter": {"type": "dataset", "path": "table.csv"},
    }


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "datasets"
    root.mkdir()
    (root / "table.csv").write_text(CSV)
    monkeypatch.setenv("LOOP_DATA_ROOT", str(root))
    return root


def test_a_dataset_campaign_is_inspected_without_its_data_root(
    data_root: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(db_url)
    ensure_campaign(store, validate(_replay(budget=3)))
    run_campaign(store, "tiny-replay")
    monkeypatch.setenv("LOOP_DATA_ROOT", "")  # as in a shell without --data-root
    doc = status_document(store, "tiny-replay")
    assert doc["budget"] == {"experiments": 3, "used": 3}
    result = CliRunner().invoke(app, ["inspect", "tiny-replay", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "tiny-replay (completed)" in result.stdout


def test_a_dataset_campaign_refuses_to_continue_on_a_changed_file(
    data_root: Path, db_url: str
) -> None:
    store = Store(db_url)
    record, _ = ensure_campaign(store, validate(_replay(budget=2)))
    assert len(record.spec["adapter"]["sha256"]) == 64  # pinned at creation
    run_campaign(store, "tiny-replay")
    (data_root / "table.csv").write_text(CSV.replace("4.0", "40.0"))
    bigger = validate(_replay(budget=4))  # `loop run` again, with more budget
    ensure_campaign(store, bigger)  # the file still names no SHA-256: not a conflict
    with pytest.raises(LoopError) as info:
        run_campaign(store, "tiny-replay")
    assert str(data_root / "table.csv") in info.value.message
    assert "changed since the campaign was created" in info.value.message
    assert "restore the file" in info.value.hint
    assert "new campaign" in info.value.hint
    resumed = CliRunner().invoke(app, ["resume", "tiny-replay", "--db", db_url])
    assert resumed.exit_code == 1
    assert "table.csv has changed" in resumed.stderr
    assert len(store.trials("tiny-replay")) == 2  # nothing measured on the new data
    (data_root / "table.csv").write_text(CSV)  # restored: the campaign goes on
    assert run_campaign(store, "tiny-replay").used == 4
