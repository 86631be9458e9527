"""Stored dataset campaigns: read without their data file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
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
