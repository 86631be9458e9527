"""Measurements entered by hand (issue 14, items 2, 3 and 5): `loop tell`, the
Python API `loop.Campaign`, and formulas in and out."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import loop
from loop.cli import app
from loop.errors import BadInputError
from loop.spec import load_path
from loop.spec.formulas import formula, parse_formula
from loop.spec.rules import violations
from tests.conftest import CAMPAIGNS

runner = CliRunner()
HEA = CAMPAIGNS / "hea-manual.yaml"


def hardness(composition: dict[str, float]) -> float:
    """A smooth made-up hardness with its best near Al 0.3, Cr 0.25."""
    return (
        600
        - 900 * (composition["Al"] - 0.3) ** 2
        - 600 * (composition["Cr"] - 0.25) ** 2
    )


def test_a_notebook_drives_a_campaign_to_budget_and_inspect_sees_it(
    db_url: str,
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    spec = load_path(HEA)
    asked = 0
    while batch := campaign.ask():
        asked += len(batch)
        for trial in batch:
            assert violations(spec, trial.composition, trial.parameters) == []
            campaign.tell(trial.id, {"hardness": hardness(trial.composition)})
    assert asked == spec.budget.experiments
    table = campaign.trials()
    assert len(table) == 12 and set(table["status"]) == {"completed"}
    assert table["formula"].notna().all()
    best = campaign.best()
    assert best is not None
    assert best.values["hardness"] == pytest.approx(table["hardness"].max())
    # the model phase took over from the design and found better alloys
    assert {"initial", "model"} <= set(table["phase"])
    # `loop inspect` reads the same campaign from the same file
    result = runner.invoke(
        app, ["inspect", spec.name, "--db", db_url, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["best"]["id"] == best.id
    assert doc["budget"] == {"experiments": 12, "used": 12}
    # a reopened campaign (a new kernel) continues where the old one stopped
    assert loop.Campaign.open(spec.name, db=db_url).ask() == []


def test_an_off_plan_formula_is_stored_as_a_manual_trial(db_url: str) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    told = campaign.tell("Al30Co20Cr25Fe10Ni15", {"hardness": 590.0})
    assert told.phase == "manual" and told.status == "completed"
    assert told.composition == pytest.approx(
        {"Al": 0.3, "Co": 0.2, "Cr": 0.25, "Fe": 0.1, "Ni": 0.15}
    )
    assert campaign.trials().loc[told.id, "formula"] == "Al0.3Co0.2Cr0.25Fe0.1Ni0.15"
    assert campaign.best().id == told.id  # it counts like any measurement
    # the next proposals learn from it and do not repeat it
    batch = campaign.ask(2)
    assert all(t.composition != told.composition for t in batch)


def test_loop_tell_completes_a_proposed_trial_and_refuses_bad_input(
    db_url: str,
) -> None:
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    (first, second) = campaign.ask(2)
    name = campaign.name

    def tell(*args: str):
        return runner.invoke(app, ["tell", name, "--db", db_url, *args])

    ok = tell("--trial", str(first.id), "--value", "hardness=512")
    assert ok.exit_code == 0, ok.output
    assert f"trial {first.id}" in ok.stdout
    assert campaign.trials().loc[first.id, "hardness"] == 512.0
    for args, said in [
        (["--trial", str(first.id), "--value", "hardness=500"], "is completed"),
        (["--trial", str(second.id), "--value", "strength=3"], "unknown objective"),
        (["--trial", str(second.id), "--value", "hardness=nan"], "not a finite"),
        (["--trial", str(second.id), "--value", "hardness=hard"], "not a number"),
        (["--trial", "999", "--value", "hardness=1"], "no trial 999"),
        (["--composition", "FeCrMn", "--value", "hardness=1"], "Mn"),
        (["--composition", "Al", "--value", "hardness=1"], "outside campaign"),
        (
            ["--composition", "Al=0.5,W=0.5", "--value", "hardness=1"],
            "unknown component",
        ),
    ]:
        result = tell(*args)
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # nothing refused was stored
    table = campaign.trials()
    assert len(table) == 2 and math.isnan(table.loc[second.id, "hardness"])


def test_loop_tell_an_off_plan_point_with_parameters(db_url: str, tmp_path) -> None:
    import yaml

    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["adapter"] = {"type": "manual"}
    path = tmp_path / "electrolyte-manual.yaml"
    path.write_text(yaml.safe_dump(data))
    campaign = loop.Campaign.from_yaml(path, db=db_url)
    result = runner.invoke(
        app,
        [
            "tell", campaign.name, "--db", db_url,
            "--composition", "EC=0.3,EMC=0.3,DMC=0.4",
            "--param", "LiPF6_molality=1.1",
            "--value", "conductivity=10.5",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (trial,) = campaign.store.trials(campaign.name)
    assert trial.parameters == {"LiPF6_molality": 1.1}
    assert trial.phase == "manual" and trial.values == {"conductivity": 10.5}
    missing = runner.invoke(
        app,
        ["tell", campaign.name, "--db", db_url, "--composition", "EC=0.3,EMC=0.3,DMC=0.4",
         "--value", "conductivity=10.5"],
    )  # fmt: skip
    assert missing.exit_code == 2 and "missing LiPF6_molality" in missing.output


@pytest.mark.parametrize(
    ("text", "atomic"),
    [
        ("Fe70Cr20Ni10", {"Fe": 0.7, "Cr": 0.2, "Ni": 0.1}),
        ("Fe0.7Cr0.2Ni0.1", {"Fe": 0.7, "Cr": 0.2, "Ni": 0.1}),
        ("FeCrNi", {"Fe": 1 / 3, "Cr": 1 / 3, "Ni": 1 / 3}),
    ],
)
@pytest.mark.parametrize("basis", ["atomic", "mass"])
def test_formula_round_trip_on_either_basis(
    text: str, atomic: dict[str, float], basis: str
) -> None:
    from pymatgen.core import Element

    from loop.spec.composition import CompositionSpec

    comp = CompositionSpec(
        kind="element", basis=basis, total=100.0, components=("Fe", "Cr", "Ni")
    )
    amounts = parse_formula(comp, text)
    assert sum(amounts.values()) == pytest.approx(100.0)
    if basis == "atomic":
        assert amounts == pytest.approx({k: 100 * v for k, v in atomic.items()})
    else:  # weight fractions from the masses
        mass = {k: v * float(Element(k).atomic_mass) for k, v in atomic.items()}
        total = sum(mass.values())
        assert amounts == pytest.approx({k: 100 * m / total for k, m in mass.items()})
    back = parse_formula(comp, formula(comp, amounts))
    assert back == pytest.approx(amounts, abs=1e-2)


def test_species_campaigns_take_no_formula() -> None:
    from loop.spec.composition import CompositionSpec

    comp = CompositionSpec(kind="species", components=("EC", "DMC"))
    assert formula(comp, {"EC": 0.5, "DMC": 0.5}) is None
    with pytest.raises(BadInputError, match="species"):
        parse_formula(comp, "EC0.5DMC0.5")


def test_formulas_come_out_in_export_and_the_status_document(db_url: str) -> None:
    import csv
    import io

    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    campaign.tell("Al30Co20Cr25Fe10Ni15", {"hardness": 590.0})
    result = runner.invoke(app, ["export", campaign.name, "--db", db_url])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["formula"] == "Al0.3Co0.2Cr0.25Fe0.1Ni0.15"
    assert parse_formula(campaign.spec.space.composition, row["formula"]) == (
        pytest.approx({"Al": 0.3, "Co": 0.2, "Cr": 0.25, "Fe": 0.1, "Ni": 0.15})
    )
    doc = json.loads(
        runner.invoke(
            app, ["inspect", campaign.name, "--db", db_url, "--format", "json"]
        ).stdout
    )
    assert doc["trials"][0]["formula"] == row["formula"]


def test_loop_list_shows_every_campaign_with_its_budget_and_best(db_url: str) -> None:
    missing = runner.invoke(app, ["list", "--db", db_url])
    assert missing.exit_code == 2 and "no database" in missing.output
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    campaign.tell("Al30Co20Cr25Fe10Ni15", {"hardness": 590.0})
    campaign.tell("Al20Co20Cr20Fe20Ni20", {"hardness": 480.0})
    table = runner.invoke(app, ["list", "--db", db_url])
    assert table.exit_code == 0, table.output
    line = next(ln for ln in table.stdout.splitlines() if campaign.name in ln)
    assert "2/12" in line and "hardness 590 HV (trial 1)" in line
    (row,) = json.loads(
        runner.invoke(app, ["list", "--db", db_url, "--format", "json"]).stdout
    )
    assert row["name"] == campaign.name and row["adapter"] == "manual"
    assert row["budget"] == {"experiments": 12, "used": 2}
    assert row["best"] == {"trial": 1, "hardness": 590.0, "unit": "HV"}


def test_a_notebook_adds_a_table_of_past_measurements_once(db_url: str) -> None:
    """`Campaign.add_data`: a DataFrame of past alloys becomes imported trials
    (no budget spent), the same table again adds nothing, and a table with a
    bad row adds none of its rows and names the row."""
    import pandas as pd

    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    past = pd.DataFrame(
        {
            "Al": [0.3, 0.2, 0.1],
            "Co": [0.2, 0.2, 0.3],
            "Cr": [0.25, 0.2, 0.2],
            "Fe": [0.1, 0.2, 0.2],
            "Ni": [0.15, 0.2, 0.2],
            "HV": [590.0, 540.0, 480.0],
        }
    )
    done = campaign.add_data(past, columns={"hardness": "HV"}, source="2024 alloys")
    assert (done.rows, done.stored, done.already) == (3, 3, False)
    table = campaign.trials()
    assert list(table["phase"]) == ["imported"] * 3
    assert sorted(table["hardness"]) == [480.0, 540.0, 590.0]
    assert campaign.best() is not None and campaign.best().values["hardness"] == 590.0
    stored = campaign.store.trials(campaign.name)
    assert {t.provenance["source"] for t in stored} == {"2024 alloys"}
    assert sorted(t.provenance["row"] for t in stored) == [1, 2, 3]
    # the same table again (a re-run notebook cell): nothing new
    again = campaign.add_data(past, columns={"hardness": "HV"}, source="2024 alloys")
    assert again.already and len(campaign.trials()) == 3
    # a row outside the space (Al 0.5 > 0.35): refused whole, the row named
    bad = past.assign(HV=past["HV"] + 1.0)
    bad.loc[1, ["Al", "Co"]] = [0.5, 0.0]
    with pytest.raises(BadInputError, match="row 2"):
        campaign.add_data(bad, columns={"hardness": "HV"})
    assert len(campaign.trials()) == 3
    # past data spend no budget: the whole budget is still there to ask for
    assert len(campaign.ask(2)) == 2


def test_an_off_plan_alloy_outside_the_space_is_kept_with_keep_outside(
    db_url: str,
) -> None:
    """Al 0.5 lies above its bound 0.35: refused, with the way to keep it; kept
    with --keep-outside for the model, and never the best although it is the
    hardest; a formula with an element the campaign lacks is refused even so."""
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    campaign.tell("Al30Co20Cr25Fe10Ni15", {"hardness": 590.0})
    args = ["tell", campaign.name, "--db", db_url, "--value", "hardness=700"]
    refused = runner.invoke(app, [*args, "--composition", "Al50Co20Cr10Fe10Ni10"])
    assert refused.exit_code == 2, refused.output
    assert "Al" in refused.output and "--keep-outside" in refused.output
    kept = runner.invoke(
        app, [*args, "--composition", "Al50Co20Cr10Fe10Ni10", "--keep-outside"]
    )
    assert kept.exit_code == 0, kept.output
    stored = campaign.store.trials(campaign.name)[-1]
    assert stored.values == {"hardness": 700.0}
    assert stored.outside_space and "Al" in " ".join(stored.outside_space)
    assert campaign.best().values["hardness"] == 590.0  # not the 700 outside
    alien = runner.invoke(
        app, [*args, "--composition", "Al20Co20Cr20Fe20Ti20", "--keep-outside"]
    )
    assert alien.exit_code == 2 and "Ti" in alien.output
    assert len(campaign.store.trials(campaign.name)) == 2


def test_a_failed_experiment_is_told_with_its_reason(db_url: str) -> None:
    """`loop tell --trial ID --failed REASON` and `Campaign.fail`: the trial is
    FAILED with the reason, spends its slot, and cannot be settled again."""
    campaign = loop.Campaign.from_yaml(HEA, db=db_url)
    first, second = campaign.ask(2)
    result = runner.invoke(
        app,
        ["tell", campaign.name, "--db", db_url, "--trial", str(first.id),
         "--failed", "sample cracked in the furnace"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "failed (sample cracked in the furnace)" in result.stdout
    failed = campaign.fail(second.id, "crucible reacted")
    assert failed.status == "failed" and failed.failure_reason == "crucible reacted"
    trials = {t.id: t for t in campaign.store.trials(campaign.name)}
    assert trials[first.id].failure_reason == "sample cracked in the furnace"
    doc = json.loads(
        runner.invoke(
            app, ["inspect", campaign.name, "--db", db_url, "--format", "json"]
        ).stdout
    )
    assert doc["budget"]["used"] == 2
    again = runner.invoke(
        app,
        ["tell", campaign.name, "--db", db_url, "--trial", str(first.id),
         "--value", "hardness=500"],
    )  # fmt: skip
    assert again.exit_code == 2 and "is failed" in again.output
    for bad in (
        ["--failed", "x", "--value", "hardness=1", "--trial", str(first.id)],
        ["--failed", "x"],
        ["--failed", "  ", "--trial", str(first.id)],
        [],
    ):
        refused = runner.invoke(app, ["tell", campaign.name, "--db", db_url, *bad])
        assert refused.exit_code == 2, (bad, refused.output)
        assert "Traceback" not in refused.output
