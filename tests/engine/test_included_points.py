"""`strategy.initial_design.include`: configurations the lab wants measured
first (a formula or amounts by component, and the parameters), proposed before
the space-filling design, once; a point outside the space is refused at
validation under its key."""

from __future__ import annotations

import pytest
import yaml

from loop.engine import CampaignEngine
from loop.errors import SpecError
from loop.spec import validate
from tests.conftest import CAMPAIGNS

HEA = CAMPAIGNS / "hea-manual.yaml"


def _hea(include: list, **design) -> dict:
    data = yaml.safe_load(HEA.read_text())
    data["strategy"]["initial_design"] = {**design, "include": include}
    return data


@pytest.mark.parametrize("engine", ["botorch", "random"])
def test_included_points_come_first_in_order_then_the_design(engine: str) -> None:
    data = _hea(
        [
            {"composition": "Al30Co20Cr25Fe10Ni15"},
            {"composition": {"Al": 0.2, "Co": 0.2, "Cr": 0.2, "Fe": 0.2, "Ni": 0.2}},
        ]
    )
    data["strategy"]["engine"] = engine
    spec = validate(data)
    engine_ = CampaignEngine(spec)
    first = engine_.ask(3, 0)
    assert first[0].composition == pytest.approx(
        {"Al": 0.3, "Co": 0.2, "Cr": 0.25, "Fe": 0.1, "Ni": 0.15}
    )
    assert first[1].composition == pytest.approx(
        {c: 0.2 for c in "Al Co Cr Fe Ni".split()}
    )
    assert [p.provenance.get("included") for p in first] == [0, 1, None]
    assert [p.phase for p in first[:2]] == ["initial", "initial"]
    assert first[2].phase == ("initial" if engine == "botorch" else "random")


def test_an_included_point_outside_the_space_is_refused_under_its_key() -> None:
    with pytest.raises(SpecError) as refused:
        validate(
            _hea(
                [
                    {"composition": "AlCoCrFeNi"},
                    {"composition": "Al50Co20Cr10Fe10Ni10"},  # Al above 0.35
                    {"composition": "AlCoCrFeTi"},  # Ti: not a component
                ],
                size=2,
            )
        )
    paths = {p.path: p.message for p in refused.value.problems}
    assert set(paths) == {
        "strategy.initial_design.include.1",
        "strategy.initial_design.include.2",
        "strategy.initial_design.size",
    }
    assert "Al" in paths["strategy.initial_design.include.1"]
    assert "Ti" in paths["strategy.initial_design.include.2"]


def test_included_points_are_proposed_once_in_a_stored_campaign(
    db_url: str, tmp_path
) -> None:
    import loop

    path = tmp_path / "hea.yaml"
    path.write_text(yaml.safe_dump(_hea([{"composition": "AlCoCrFeNi"}])))
    campaign = loop.Campaign.from_yaml(path, db=db_url)
    (first,) = campaign.ask(1)
    assert first.provenance.get("included") == 0
    later = campaign.ask(3)
    assert all("included" not in t.provenance for t in later)
    assert all(t.composition != first.composition for t in later)


def test_included_points_are_proposed_even_after_an_import_covers_the_design(
    db_url: str, tmp_path
) -> None:
    """Imported past measurements stand in for the space-filling design, not
    for the points the lab asked to measure."""
    import loop

    path = tmp_path / "hea.yaml"
    path.write_text(yaml.safe_dump(_hea([{"composition": "AlCoCrFeNi"}], size=2)))
    campaign = loop.Campaign.from_yaml(path, db=db_url)
    past = tmp_path / "past.csv"
    past.write_text(
        "Al,Co,Cr,Fe,Ni,HV\n0.3,0.2,0.25,0.1,0.15,590\n0.1,0.3,0.3,0.15,0.15,420\n"
    )
    from typer.testing import CliRunner

    from loop.cli import app

    done = CliRunner().invoke(
        app,
        [
            "import",
            campaign.name,
            str(past),
            "--db",
            db_url,
            "--columns",
            "hardness=HV",
        ],
    )
    assert done.exit_code == 0, done.output
    first, second = campaign.ask(2)
    assert first.provenance.get("included") == 0
    assert second.phase == "model"
