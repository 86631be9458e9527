"""Shared fixtures: real SQLite files in tmp_path, the example campaigns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"


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
