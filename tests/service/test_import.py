"""`loop import`: past measurements into a campaign (issue 14, item 1)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loop
from loop.cli import app
from loop.records import TrialPhase
from tests.conftest import CAMPAIGNS
from tests.faults.test_kill_points import loop_cli
from tests.invariants import check_invariants

runner = CliRunner()
HEA = CAMPAIGNS / "hea-manual.yaml"
HEADER = "Al,Co,Cr,Fe,Ni,HV\n"
GOOD = [
    "0.30,0.20,0.25,0.10,0.15,590\n",
    "0.20,0.20,0.20,0.20,0.20,480\n",
    "0.20,0.20,0.20,0.20,0.20,470\n",  # a replicate: its own trial
    "0.10,0.30,0.30,0.15,0.15,420\n",
]


def _file(tmp_path: Path, lines: list[str], name: str = "past.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(lines))
    return path


def _import(db: str, path: Path, *extra: str):
    return runner.invoke(
        app,
        ["import", "al-co-cr-fe-ni-hardness", str(path), "--db", db,
         "--columns", "hardness=HV", *extra],
    )  # fmt: skip


def test_rows_become_imported_trials_once_and_spend_no_budget(
    any_db_url: str, tmp_path: Path
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=any_db_url)
    path = _file(tmp_path, GOOD)
    first = _import(any_db_url, path)
    assert first.exit_code == 0, first.output
    assert "imported 4 measurements" in first.stdout
    again = _import(any_db_url, path)
    assert again.exit_code == 0 and "nothing added" in again.stdout
    trials = campaign.store.trials(campaign.name)
    assert len(trials) == 4
    assert {t.phase for t in trials} == {TrialPhase.IMPORTED}
    assert [t.provenance["row"] for t in trials] == [1, 2, 3, 4]
    assert {t.provenance["source"] for t in trials} == {"past.csv"}
    assert [t.values["hardness"] for t in trials] == [590, 480, 470, 420]
    doc = json.loads(
        runner.invoke(
            app, ["inspect", campaign.name, "--db", any_db_url, "--format", "json"]
        ).stdout
    )
    assert doc["budget"] == {"experiments": 12, "used": 0}
    assert doc["best"]["measurements"] == {"hardness": 590.0}
    assert check_invariants(any_db_url, campaign.name) == []
    # four imported measurements stand in for the design of four: the first
    # proposals are already the model's
    batch = campaign.ask(2)
    assert [t.phase for t in batch] == ["model", "model"]
    # and the whole budget is still there for the campaign's own experiments
    assert len(campaign.ask(20)) == 10


def test_refused_rows_are_reported_by_row_and_nothing_is_stored(
    db_url: str, tmp_path: Path
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    path = _file(
        tmp_path,
        [
            GOOD[0],
            "0.30,0.20,0.25,0.10,0.15,hard\n",  # row 2: not a number
            "0.60,0.10,0.10,0.10,0.10,500\n",  # row 3: Al above its bound 0.35
            "0.30,0.20,x,0.10,0.15,500\n",  # row 4: a component not a number
            "0.30,0.20,0.25,0.10,0.15,inf\n",  # row 5: not finite
        ],
    )
    result = _import(db_url, path)
    assert result.exit_code == 2, result.output
    out = result.output
    assert "4 of 5 rows of past.csv cannot be imported" in out
    assert "row 2, column HV" in out and "row 4, column Cr" in out
    assert "row 3:" in out and "Al" in out and "row 5, column HV" in out
    assert "row 1" not in out and "Traceback" not in out
    assert campaign.store.trials(campaign.name) == []


def test_unknown_columns_are_named_with_the_fix(db_url: str, tmp_path: Path) -> None:
    loop.Campaign.from_yaml(HEA, db=db_url)
    path = _file(tmp_path, GOOD)
    result = runner.invoke(
        app, ["import", "al-co-cr-fe-ni-hardness", str(path), "--db", db_url]
    )
    assert result.exit_code == 2
    assert "no column hardness" in result.output and "--columns" in result.output


@pytest.mark.timeout(300)
def test_a_crash_in_the_middle_of_an_import_leaves_nothing(
    any_db_url: str, tmp_path: Path
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=any_db_url)
    path = _file(tmp_path, GOOD)
    code, _, _ = loop_cli(
        "import", campaign.name, str(path), "--db", any_db_url,
        "--columns", "hardness=HV", fault="import_mid_txn",
    )  # fmt: skip
    assert code == -signal.SIGKILL
    assert campaign.store.trials(campaign.name) == []
    assert check_invariants(any_db_url, campaign.name) == []
    # and the same file imports whole afterwards
    assert _import(any_db_url, path).exit_code == 0
    assert len(campaign.store.trials(campaign.name)) == 4


def test_a_column_of_formulas_gives_the_composition(
    db_url: str, tmp_path: Path
) -> None:
    """`--columns composition=Formula`: each row's alloy as a formula, parsed
    on the campaign's basis; a formula with another element is refused by row."""
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    path = tmp_path / "formulas.csv"
    path.write_text("Formula,HV\nAl30Co20Cr25Fe10Ni15,590\nAlCoCrFeNi,480\n")
    result = runner.invoke(
        app,
        ["import", campaign.name, str(path), "--db", db_url,
         "--columns", "composition=Formula,hardness=HV"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = campaign.store.trials(campaign.name)
    total = campaign.spec.space.composition.total
    assert [round(t.composition["Al"] / total, 6) for t in trials] == [0.3, 0.2]
    assert [round(t.composition["Cr"] / total, 6) for t in trials] == [0.25, 0.2]
    assert list(campaign.trials()["formula"]) == [
        "Al0.3Co0.2Cr0.25Fe0.1Ni0.15",
        "Al0.2Co0.2Cr0.2Fe0.2Ni0.2",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("Formula,HV\nAl30Co20Cr25Fe10Ni15,591\nAlCoCrFeNiTi,500\n,400\n")
    refused = runner.invoke(
        app,
        ["import", campaign.name, str(bad), "--db", db_url,
         "--columns", "composition=Formula,hardness=HV"],
    )  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert "row 2, column Formula" in refused.output and "Ti" in refused.output
    assert "row 3, column Formula" in refused.output
    assert len(campaign.store.trials(campaign.name)) == 2


def test_a_column_of_formulas_needs_an_element_campaign(
    db_url: str, tmp_path: Path
) -> None:
    from loop.spec.tables import unknown_names

    electrolyte = loop.Campaign.from_yaml(CAMPAIGNS / "electrolyte.yaml", db=db_url)
    (problem,) = unknown_names(
        "prior_data.0", {"composition": "Formula"}, electrolyte.spec
    )
    assert problem.path == "prior_data.0.columns.composition"
    assert "element campaign" in problem.message
