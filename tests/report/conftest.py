"""Finished simulator campaigns (run once per session by the real driver) and their reports."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from loop.report.data import ReportData, build_report
from loop.report.html import render_html
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, validate
from loop.storage import Store
from tests.conftest import CAMPAIGNS


@dataclass(frozen=True)
class Finished:
    """A campaign run to its budget, with its report data and page."""

    store: Store
    spec: CampaignSpec
    data: ReportData
    html: str


def electrolyte(budget: int) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"] = {"experiments": budget}
    return data


def two_objectives(budget: int) -> dict:
    """The electrolyte with viscosity as a second goal and a region where cells fail."""
    data = electrolyte(budget)
    data["name"] = "electrolyte-two-goals"
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize", "unit": "mS/cm"},
        {"name": "viscosity", "direction": "minimize", "unit": "mPa s"},
    ]
    data["adapter"] = {
        **data["adapter"],
        "failures": {"region": {"LiPF6_molality": [0.2, 0.6]}},
    }
    return data


def finish(folder: Path, data: dict) -> Finished:
    store = Store(f"sqlite:///{folder / 'loop.db'}")
    spec = validate(copy.deepcopy(data))
    ensure_campaign(store, spec)
    summary = run_campaign(store, spec.name)
    assert summary.finished
    report = build_report(store, spec.name)
    return Finished(store, spec, report, render_html(report))


@pytest.fixture(scope="session")
def single(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """campaigns/electrolyte.yaml with a budget of 10."""
    return finish(tmp_path_factory.mktemp("single"), electrolyte(10))


@pytest.fixture(scope="session")
def double(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """Two goals (conductivity up, viscosity down), budget 10, some trials failing."""
    return finish(tmp_path_factory.mktemp("double"), two_objectives(10))
