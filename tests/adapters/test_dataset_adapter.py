"""The dataset adapter on hand-made tables: averaging, mapping, filtering, replay."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.dataset import DatasetAdapter
from loop.cli import app
from loop.errors import LoopError, SpecError
from loop.ports import EvaluationRequest
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store

CSV = """\
A (at%),B (at%),route,score,note
50,50,cast,1.0,first
50,50,cast,3.0,replicate of the first
25,75,cast,4.0,
75,25,powder,5.0,
100.2,0,cast,6.0,sums to 100.2
10,90,powder,,missing value
0,100,sputter,7.0,category the campaign does not allow
"""


def _campaign(path: Path, **adapter: object) -> dict:
    return {
        "schema_version": 1,
        "name": "table",
        "space": {
            "composition": {"kind": "species", "components": ["A", "B"]},
            "parameters": [
                {"name": "route", "type": "categorical", "values": ["cast", "powder"]}
            ],
        },
        "objectives": [{"name": "score", "direction": "maximize"}],
        "strategy": {"initial_design": {"method": "random", "size": 2}},
        "budget": {"experiments": 4},
        "adapter": {
            "type": "dataset",
            "path": str(path),
            "columns": {"A": "A (at%)", "B": "B (at%)"},
            **adapter,
        },
    }


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(CSV)
    return path


def test_the_pool_averages_replicates_normalises_and_drops_what_does_not_fit(
    table: Path,
) -> None:
    spec = validate(_campaign(table))
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    pool = adapter.pool()
    values = adapter.pool_values()
    assert len(pool) == 4  # 7 rows: 1 replicate merged, 1 missing value, 1 bad category
    first = pool.index(({"A": 0.5, "B": 0.5}, {"route": "cast"}))
    assert values[first] == {"score": 2.0}  # mean of the replicates 1 and 3
    assert adapter.data.replicates[first] == 2
    rescaled = next(c for c, _ in pool if c["B"] == 0.0)
    assert rescaled == {"A": 1.0, "B": 0.0}  # 100.2 at.% rescaled to the total 1
    for composition, _ in pool:
        assert abs(sum(composition.values()) - 1.0) <= 1e-12
    assert adapter.data.dropped == {
        "missing value": 1,
        "outside the campaign's space": 1,
    }


def test_a_measurement_reveals_the_tabulated_value(table: Path) -> None:
    spec = validate(_campaign(table))
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    request = EvaluationRequest(
        campaign="table",
        trial_id=1,
        attempt=1,
        composition={"A": 0.25, "B": 0.75},
        parameters={"route": "cast"},
        objectives=["score"],
        seed=0,
    )
    result = adapter.evaluate(request)
    assert result.failure is None and result.values == {"score": 4.0}
    stranger = request.model_copy(update={"composition": {"A": 0.3, "B": 0.7}})
    assert "not a row of the dataset" in (adapter.evaluate(stranger).failure or "")


def test_the_where_filter_selects_rows(table: Path) -> None:
    data = _campaign(table, where={"route": "powder"})
    data["budget"] = {"experiments": 1}
    spec = validate(data)
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    assert adapter.pool() == [({"A": 0.75, "B": 0.25}, {"route": "powder"})]
    assert adapter.data.dropped["not selected by `where` on route"] == 5


def test_a_where_range_keeps_rows_whose_column_lies_in_it(table: Path) -> None:
    data = _campaign(table, where={"A (at%)": {"ge": 40, "le": 80}})
    data["budget"] = {"experiments": 1}
    spec = validate(data)
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    assert adapter.pool() == [
        ({"A": 0.5, "B": 0.5}, {"route": "cast"}),
        ({"A": 0.75, "B": 0.25}, {"route": "powder"}),
    ]
    assert adapter.pool_values() == [{"score": 2.0}, {"score": 5.0}]
    assert adapter.data.dropped["not selected by `where` on A (at%)"] == 4


def test_a_one_sided_where_range_and_a_range_on_text_cells(table: Path) -> None:
    data = _campaign(table, where={"A (at%)": {"le": 25}})
    data["budget"] = {"experiments": 1}
    spec = validate(data)
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    # 25 (cast), 10 (no score) and 0 (a category the campaign does not allow)
    assert adapter.pool() == [({"A": 0.25, "B": 0.75}, {"route": "cast"})]
    text = _campaign(table, where={"route": {"ge": 0}})
    with pytest.raises(SpecError, match="no candidate of table.csv fits"):
        validate(text)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        pytest.param({}, "needs `ge`, `le` or both", id="empty"),
        pytest.param({"ge": 5, "le": 1}, "the range is empty", id="reversed"),
        pytest.param({"gt": 5}, "gt", id="unknown-key"),
    ],
)
def test_a_bad_where_range_is_refused(table: Path, bad: dict, words: str) -> None:
    with pytest.raises(SpecError) as info:
        validate(_campaign(table, where={"A (at%)": bad}))
    problem = info.value.problems[0]
    assert problem.path.startswith("adapter.where") and words in problem.message


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        pytest.param(
            {"columns": {"A": "A (wt%)"}},
            "adapter.columns.A",
            "no column 'A (wt%)'",
            id="missing-column",
        ),
        pytest.param(
            {"columns": {"Q": "x"}},
            "adapter.columns.Q",
            "not a component",
            id="unknown-name",
        ),
        pytest.param(
            {"where": {"colour": "red"}},
            "adapter.where.colour",
            "no column 'colour'",
            id="unknown-filter",
        ),
        pytest.param(
            {"path": "nowhere/table.csv"},
            "adapter.path",
            "data file not found",
            id="missing-file",
        ),
    ],
)
def test_bad_adapter_blocks_are_reported_with_their_path(
    table: Path, change: dict, path: str, words: str
) -> None:
    data = _campaign(table)
    data["adapter"] = {**data["adapter"], **change}
    with pytest.raises(SpecError) as info:
        validate(data)
    problem = info.value.problems[0]
    assert problem.path == path and words in problem.message and problem.hint


def test_a_budget_larger_than_the_pool_is_refused(table: Path) -> None:
    data = _campaign(table)
    data["budget"] = {"experiments": 9}
    with pytest.raises(SpecError, match="exceeds the pool of 4"):
        validate(data)


def test_a_replay_measures_every_row_once_and_stops(table: Path, db_url: str) -> None:
    spec = validate(_campaign(table))
    store = Store(db_url)
    ensure_campaign(store, spec)
    summary = run_campaign(store, spec.name)
    assert summary.finished and summary.used == 4
    trials = store.trials(spec.name)
    rows = [t.measurement.metadata["row"] for t in trials if t.measurement]
    assert sorted(rows) == [0, 1, 2, 3]  # the whole pool, each row exactly once
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    for t in trials:
        assert t.values == adapter.pool_values()[t.measurement.metadata["row"]]


def test_relative_paths_start_from_the_data_root(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --data-root sets LOOP_DATA_ROOT for the process; let monkeypatch restore it
    monkeypatch.setenv("LOOP_DATA_ROOT", "")
    data = _campaign(table)
    data["adapter"]["path"] = table.name
    campaign = table.parent / "campaign.yaml"
    campaign.write_text(json.dumps(data))
    runner = CliRunner()
    lost = runner.invoke(app, ["validate", str(campaign)])
    assert lost.exit_code == 2 and "--data-root" in lost.stderr
    found = runner.invoke(
        app, ["validate", str(campaign), "--data-root", str(table.parent)]
    )
    assert found.exit_code == 0, found.output


def test_every_dropped_row_is_counted_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "rough.csv"
    path.write_text(
        "A (at%),B (at%),route,score\n"
        "50,50,cast,1.0\n"
        "25,75,cast,2.0\n"
        "75,25,powder,3.0\n"
        "60,40,cast,\n"  # missing value
        "40,60,cast,high\n"  # objective not a number
        "30,70,cast,inf\n"  # objective not finite
        "20,80,cast,-inf\n"  # objective not finite
        "x,80,cast,4.0\n"  # unusable input
        "0,0,cast,4.0\n"  # unusable input: sums to 0
        "10,90,sputter,5.0\n"  # outside the campaign's space
        "10,90,sputter,6.0\n"  # ... two rows, one candidate
    )
    spec = validate(_campaign(path, normalize=True) | {"budget": {"experiments": 2}})
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    assert adapter.pool_report() == {
        "rows": 11,
        "candidates": 3,
        "dropped": {
            "missing value": 1,
            "objective not a number": 1,
            "objective not finite": 2,
            "unusable inputs": 2,
            "outside the campaign's space": 2,
        },
    }
    assert all(math.isfinite(v["score"]) for v in adapter.pool_values())


INT_CATEGORIES = """\
A,B,layers,score
0.5,0.5,1,1.0
0.5,0.5,2,2.0
0.5,0.5,3,3.0
"""
# an empty cell makes pandas read the whole column as floats: 1.0, 2.0, 3.0
FLOAT_CATEGORIES = INT_CATEGORIES + "0.4,0.6,,4.0\n"


@pytest.mark.parametrize(
    "declared",
    [pytest.param([1, 2, 3], id="numbers"), pytest.param(["1", "2", "3"], id="text")],
)
@pytest.mark.parametrize(
    "cells",
    [
        pytest.param(INT_CATEGORIES, id="int-column"),
        pytest.param(FLOAT_CATEGORIES, id="float-column"),
    ],
)
def test_numeric_looking_categories_match_the_declared_values(
    tmp_path: Path, declared: list, cells: str
) -> None:
    path = tmp_path / "layers.csv"
    path.write_text(cells)
    data = _campaign(path)
    data["space"]["parameters"] = [
        {"name": "layers", "type": "categorical", "values": declared}
    ]
    data["adapter"]["columns"] = {}
    data["budget"] = {"experiments": 3}
    spec = validate(data)
    assert spec.space.parameters[0].values == ("1", "2", "3")
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    assert sorted(p["layers"] for _, p in adapter.pool()) == ["1", "2", "3"]
    assert adapter.data.dropped.get("outside the campaign's space", 0) == 0


def test_a_log_objective_with_a_non_positive_candidate_is_refused_when_checked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "signed.csv"
    path.write_text("A (at%),B (at%),route,score\n50,50,cast,2.0\n25,75,cast,0\n")
    data = _campaign(path)
    data["objectives"][0]["transform"] = "log"
    data["budget"] = {"experiments": 1}
    with pytest.raises(SpecError) as info:
        validate(data)
    problem = info.value.problems[0]
    assert problem.path == "objectives.0.transform"
    assert "'score' has transform: log" in problem.message
    assert "column 'score'" in problem.message and "signed.csv" in problem.message
    # a stored campaign is not checked again on loading: the adapter refuses to start
    stored = validate(data, check_adapter=False)
    with pytest.raises(LoopError, match="'score' has transform: log"):
        DatasetAdapter(stored.adapter_config(), stored)


def test_a_pool_of_formulas_is_read_with_a_composition_column(tmp_path: Path) -> None:
    """An element campaign replays a table whose alloys are formulas."""
    path = tmp_path / "alloys.csv"
    path.write_text("alloy,HV\nFeNi,300\nFe3Ni,350\nFeNi3,320\nFeCo,310\n")
    data = {
        "schema_version": 1,
        "name": "fe-ni",
        "space": {"composition": {"kind": "element", "components": ["Fe", "Ni"]}},
        "objectives": [{"name": "hardness", "direction": "maximize"}],
        "strategy": {"initial_design": {"method": "random", "size": 2}},
        "budget": {"experiments": 2},
        "adapter": {
            "type": "dataset",
            "path": str(path),
            "columns": {"composition": "alloy", "hardness": "HV"},
        },
    }
    spec = validate(data)
    adapter = DatasetAdapter(spec.adapter_config(), spec)
    pool = {
        tuple(sorted(c.items())): v
        for (c, _), v in zip(adapter.pool(), adapter.pool_values(), strict=True)
    }
    assert pool == {
        (("Fe", 0.5), ("Ni", 0.5)): {"hardness": 300.0},
        (("Fe", 0.75), ("Ni", 0.25)): {"hardness": 350.0},
        (("Fe", 0.25), ("Ni", 0.75)): {"hardness": 320.0},
    }  # FeCo names an element the campaign lacks: not in the pool
    assert sum(adapter.data.dropped.values()) == 1
