"""Every campaign in campaigns/benchmarks/ builds its pool from the shared datasets.

The shared datasets lie beside the clone (`../shared/datasets`, as in CI); the
campaigns name paths relative to that folder and are run with `--data-root
../shared/datasets`. Each campaign must validate, build its pool, and follow the
protocol's conventions (docs/benchmarks.md §5): a budget of 10 % of the pool or
50 measurements, whichever is smaller; 2 random initial rows (5 with a budget of
50); seed 0; one objective. Every shared dataset has a campaign or a stated
reason to have none. Only pools are built here: no model is fitted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loop.bench.replay import prepare
from loop.ports import DATA_ROOT_ENV
from loop.spec import validate
from tests.conftest import CAMPAIGNS, ROOT, SHARED_DATASETS, needs_shared_datasets

BENCHMARKS = CAMPAIGNS / "benchmarks"
FILES = [pytest.param(p, id=p.stem) for p in sorted(BENCHMARKS.glob("*.yaml"))]
#: Shared datasets without a benchmark campaign, with the reason (the same as in
#: the Coverage table of docs/benchmarks.md §5).
LEFT_OUT: dict[str, str] = {}


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Path:
    needs_shared_datasets("the benchmark campaign tests")
    monkeypatch.setenv(DATA_ROOT_ENV, str(SHARED_DATASETS))
    return SHARED_DATASETS


def _raw(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", FILES)
def test_benchmark_campaign_builds_its_pool_and_follows_the_protocol(
    path: Path, shared: Path
) -> None:
    text = path.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    command = (
        f"loop bench campaigns/benchmarks/{path.name} --data-root ../shared/datasets"
    )
    assert any(command in line for line in header), f"header must give `{command}`"
    raw = _raw(path)
    data_path = Path(raw["adapter"]["path"])
    assert not data_path.is_absolute() and ".." not in data_path.parts, (
        "the data path is relative to --data-root"
    )
    assert (shared / data_path).is_file()
    # the adapter's check reads the same pool as `prepare`: build it once
    spec = validate(raw, str(path), check_adapter=False)
    plan = prepare(spec)
    pool = len(plan.signed)
    assert pool == plan.pool_report["candidates"] > 0
    assert spec.name == path.stem
    assert spec.budget.experiments == min(50, pool // 10), "10 % of the pool or 50"
    design = spec.strategy.initial_design
    assert design.method == "random"
    assert design.size == (5 if spec.budget.experiments == 50 else 2)
    assert spec.strategy.batch_size == 1 and spec.seed == 0
    assert len(spec.goals) == 1


def test_every_shared_dataset_has_a_benchmark_campaign_or_a_reason(
    shared: Path,
) -> None:
    datasets = {p.name for p in shared.iterdir() if (p / "data.csv").is_file()}
    used: dict[str, list[str]] = {}
    for path in sorted(BENCHMARKS.glob("*.yaml")):
        folder = Path(_raw(path)["adapter"]["path"]).parts[0]
        used.setdefault(folder, []).append(path.name)
    assert not set(used) & set(LEFT_OUT), "a dataset is both used and left out"
    missing = datasets - set(used) - set(LEFT_OUT)
    assert not missing, f"no benchmark campaign and no reason given for {missing}"
    assert set(used) <= datasets, "a campaign names a folder the datasets lack"


def test_the_coverage_table_names_every_campaign_and_dataset(shared: Path) -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    coverage = page.split("### Coverage", 1)[1].split("\n## ", 1)[0]
    for path in BENCHMARKS.glob("*.yaml"):
        assert f"`{path.name}`" in coverage, path.name
    for folder in shared.iterdir():
        if (folder / "data.csv").is_file():
            assert f"`{folder.name}`" in coverage, folder.name
