"""`prior_data:` files and `--keep-outside` (issue 14, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import loop
from loop.cli import app
from loop.records import TrialPhase
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants

runner = CliRunner()

#: Past measurements for campaigns/mixed-bumps.yaml (A-D sum to 100, each at
#: most 70, A + B >= 20; route one of cast, powder, sputter), y as column Y.
PAST = [
    "A,B,C,D,temperature,layers,route,Y\n",
    "30,20,25,25,400,2,cast,1.5\n",
    "10,20,40,30,500,3,powder,2.0\n",
    "50,10,20,20,600,1,sputter,0.7\n",
    "25,25,25,25,700,4,cast,1.1\n",
    "40,30,15,15,800,5,powder,2.2\n",
    "20,30,30,20,350,6,sputter,0.9\n",
    "20,30,30,20,350,6,laser,0.9\n",  # row 7: no such route
]


@pytest.fixture(autouse=True)
def _data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # --data-root sets LOOP_DATA_ROOT for the process; let monkeypatch restore it
    monkeypatch.setenv("LOOP_DATA_ROOT", "")


def _campaign(tmp_path: Path, budget: int = 8, **entry: object) -> Path:
    data = yaml.safe_load((CAMPAIGNS / "mixed-bumps.yaml").read_text())
    data["budget"] = {"experiments": budget}
    data["prior_data"] = [{"path": "past.csv", "columns": {"y": "Y"}, **entry}]
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(path: Path, db: str, root: Path) -> object:
    return runner.invoke(app, ["run", str(path), "--db", db, "--data-root", str(root)])


@pytest.mark.timeout(300)
def test_loop_run_imports_prior_data_once_before_its_first_proposal(
    db_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "past.csv").write_text("".join(PAST))
    first = _run(_campaign(tmp_path), db_url, data)
    assert first.exit_code == 0, first.output
    assert "prior_data.0: imported 6 measurements from past.csv" in first.stdout
    assert "1 rows not imported" in first.stdout
    assert "row 7: route='laser' not in" in first.stdout
    campaign = loop.Campaign.open("mixed-bumps", db=db_url)
    trials = campaign.store.trials(campaign.name)
    imported = [t for t in trials if t.phase is TrialPhase.IMPORTED]
    assert [t.provenance["row"] for t in imported] == [1, 2, 3, 4, 5, 6]
    # no budget spent on them, and they stand in for the design of six:
    # every experiment of the campaign's own is the model's
    own = [t for t in trials if t.phase is not TrialPhase.IMPORTED]
    assert len(own) == 8
    assert {t.phase for t in own} == {TrialPhase.MODEL}
    # a continued run (a larger budget) imports nothing twice
    again = _run(_campaign(tmp_path, budget=9), db_url, data)
    assert again.exit_code == 0, again.output
    assert "was imported into mixed-bumps before; nothing added" in again.stdout
    trials = campaign.store.trials(campaign.name)
    assert sum(t.phase is TrialPhase.IMPORTED for t in trials) == 6
    assert len(trials) == 15
    assert check_invariants(db_url, campaign.name) == []


def test_a_prior_file_added_later_is_imported_and_one_without_a_usable_row_stops(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "past.csv").write_text(PAST[0] + PAST[7])  # only the bad row
    path = _campaign(tmp_path, budget=1)
    result = _run(path, db_url, tmp_path)
    assert result.exit_code == 2, result.output
    assert "prior_data.0: past.csv has no usable row" in result.output
    assert "row 1: route='laser'" in result.output
    (tmp_path / "past.csv").write_text("".join(PAST[:3]))
    assert _run(path, db_url, tmp_path).exit_code == 0
    # a lab adds a second file to a stored campaign: allowed, and imported
    (tmp_path / "more.csv").write_text(PAST[0] + PAST[4])
    data = yaml.safe_load(path.read_text())
    data["prior_data"].append({"path": "more.csv", "columns": {"y": "Y"}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = _run(path, db_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "updated prior_data" in result.stdout
    assert "prior_data.1: imported 1 measurements from more.csv" in result.stdout
    trials = loop.Campaign.open("mixed-bumps", db=db_url).trials()
    assert list(trials["phase"]).count("imported") == 3


@pytest.mark.parametrize(
    ("entry", "key", "said"),
    [
        ({"path": "absent.csv"}, "prior_data.0.path", "data file not found"),
        ({"columns": {"y": "nope"}}, "prior_data.0.columns.y", "no column 'nope'"),
        ({"columns": {"y": "Y", "zz": "Y"}}, "prior_data.0.columns.zz", "'zz' is not"),
        ({"columns": {}}, "prior_data.0.columns", "no column 'y'"),
        ({"where": {"oven": "a"}}, "prior_data.0.where.oven", "no column 'oven'"),
    ],
)
def test_validate_names_the_prior_data_key_at_fault(
    tmp_path: Path, entry: dict, key: str, said: str
) -> None:
    (tmp_path / "past.csv").write_text("".join(PAST))
    path = _campaign(tmp_path, **entry)
    result = runner.invoke(app, ["validate", str(path), "--data-root", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{key}: {said}" in result.output


def test_where_selects_prior_rows_and_rows_keep_their_file_numbers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    (tmp_path / "past.csv").write_text("".join(PAST))
    path = _campaign(tmp_path, where={"route": ["powder", "sputter"]})
    campaign = loop.Campaign.from_yaml(path, db=db_url)
    trials = campaign.store.trials(campaign.name)
    assert [t.provenance["row"] for t in trials] == [2, 3, 5, 6]
    assert {t.provenance["source"] for t in trials} == {"past.csv"}


HEA = CAMPAIGNS / "hea-manual.yaml"
HEADER = "Al,Co,Cr,Fe,Ni,HV\n"
INSIDE = [
    "0.30,0.20,0.25,0.10,0.15,590\n",
    "0.20,0.20,0.20,0.20,0.20,480\n",
    "0.10,0.30,0.30,0.15,0.15,420\n",
]
OUTSIDE = "0.45,0.10,0.15,0.15,0.15,900\n"  # row 4: Al above its bound 0.35


def _import(db: str, path: Path, *extra: str):
    return runner.invoke(
        app,
        ["import", "al-co-cr-fe-ni-hardness", str(path), "--db", db,
         "--columns", "hardness=HV", *extra],
    )  # fmt: skip


@pytest.mark.timeout(300)
def test_keep_outside_stores_a_row_the_model_uses_but_never_the_best(
    db_url: str, tmp_path: Path
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    path = tmp_path / "past.csv"
    path.write_text(HEADER + "".join(INSIDE) + OUTSIDE)
    refused = _import(db_url, path)
    assert refused.exit_code == 2
    assert "row 4: Al=0.45 outside [0.0, 0.35]" in refused.output
    assert "--keep-outside" in refused.output
    assert campaign.store.trials(campaign.name) == []
    kept = _import(db_url, path, "--keep-outside")
    assert kept.exit_code == 0, kept.output
    assert "imported 4 measurements" in kept.stdout
    assert "1 of them outside the campaign's space" in kept.stdout
    doc = json.loads(
        runner.invoke(
            app, ["inspect", campaign.name, "--db", db_url, "--format", "json"]
        ).stdout
    )
    outside = doc["trials"][3]
    assert outside["measurements"] == {"hardness": 900.0}
    assert outside["outside_space"] == ["Al=0.45 outside [0.0, 0.35]"]
    assert outside["feasible"] is False
    # the highest value, yet never the campaign's best
    assert doc["best"]["measurements"] == {"hardness": 590.0}
    assert campaign.best().values == {"hardness": 590.0}
    table = runner.invoke(
        app, ["inspect", campaign.name, "--db", db_url], env={"COLUMNS": "200"}
    ).stdout
    assert "imported (outside)" in table
    assert "best so far  hardness (maximize)" in table and "590 HV" in table
    export = runner.invoke(
        app, ["export", campaign.name, "--db", db_url, "--format", "csv"]
    ).stdout
    header, *rows = export.splitlines()
    at = header.split(",").index("outside_space")
    assert [r.split(",")[at] for r in rows][:3] == ["", "", ""]
    assert "Al=0.45" in rows[3]
    # three rows inside the space stand in for three of the design's four (the
    # one outside covers none of it); the model is then fitted on all four rows,
    # one of them outside the bounds it normalises its inputs with
    batch = campaign.ask(2)
    assert [t.phase for t in batch] == ["initial", "model"]
    assert all(t.composition["Al"] <= 0.35 + 1e-9 for t in batch)
    assert check_invariants(db_url, campaign.name) == []


def test_keep_outside_still_refuses_a_row_the_model_cannot_read(
    db_url: str, tmp_path: Path
) -> None:
    loop.Campaign.from_yaml(HEA, db=db_url)
    path = tmp_path / "past.csv"
    path.write_text(HEADER + INSIDE[0] + "0.5,0.5,0.5,0.5,0.5,500\n")
    result = _import(db_url, path, "--keep-outside")
    assert result.exit_code == 2
    assert "row 2: sum 2.5 != total 1.0" in result.output


def test_a_changed_file_imports_only_its_new_rows(db_url: str, tmp_path: Path) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    path = tmp_path / "past.csv"
    path.write_text(HEADER + "".join(INSIDE[:2]))
    assert _import(db_url, path).exit_code == 0
    path.write_text(HEADER + "".join(INSIDE))  # the lab appended a row
    result = _import(db_url, path)
    assert result.exit_code == 0, result.output
    assert "imported 1 measurements" in result.stdout
    assert "2 rows left out: already imported" in result.stdout
    trials = campaign.store.trials(campaign.name)
    assert [t.values["hardness"] for t in trials] == [590, 480, 420]
    assert trials[2].provenance["row"] == 3
    assert trials[0].provenance["sha256"] != trials[2].provenance["sha256"]


def test_prior_data_imports_once_on_every_backend(
    any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "past.csv").write_text("".join(PAST[:6]))
    path = _campaign(tmp_path)
    monkeypatch.chdir(tmp_path)  # no data root: relative to the working directory
    campaign = loop.Campaign.from_yaml(path, db=any_db_url)
    assert len(campaign.store.trials(campaign.name)) == 5
    loop.Campaign.from_yaml(path, db=any_db_url)
    trials = campaign.store.trials(campaign.name)
    assert len(trials) == 5 and {t.phase for t in trials} == {TrialPhase.IMPORTED}
    assert campaign.best() is not None and campaign.best().values == {"y": 2.2}
    assert check_invariants(any_db_url, campaign.name) == []
