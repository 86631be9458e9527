"""Shared fixtures: real SQLite files in tmp_path, the example campaigns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"
#: The shared public datasets beside the clone (CI has them there); the benchmark
#: campaigns under campaigns/benchmarks/ read their data from it.
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
os.environ.setdefault("LOOP_DATA_ROOT", str(SHARED_DATASETS))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'loop.db'}"


@pytest.fixture
def campaign_data() -> dict:
    """The fast mixed-space example campaign as a dict, ready to modify."""
    return yaml.safe_load((CAMPAIGNS / "mixed-bumps.yaml").read_text())


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a dict (or text) as a campaign file and return its path."""

    def write(data: dict | str, name: str = "campaign.yaml") -> Path:
        path = tmp_path / name
        path.write_text(
            data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        )
        return path

    return write
