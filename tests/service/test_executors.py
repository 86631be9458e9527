"""Evaluations on a Dask cluster or on threads of the driver give the same
campaign as evaluations in the driver, one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loop.errors import SpecError
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store
from tests.conftest import CAMPAIGNS


def _electrolyte(name: str, executor: dict | None) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["name"] = name
    data["strategy"] = {"engine": "sobol", "batch_size": 4}
    data["budget"] = {"experiments": 12}
    data["adapter"]["failures"] = {"transient_rate": 0.2}
    if executor is not None:
        data["executor"] = executor
    return data


def _outcome(store: Store, name: str) -> list[tuple]:
    return [
        (
            t.iteration,
            t.attempt,
            t.status.value,
            tuple(sorted(t.composition.items())),
            tuple(sorted(t.parameters.items())),
            tuple(sorted(t.values.items())),
        )
        for t in store.trials(name)
    ]


@pytest.mark.timeout(300)
def test_a_dask_local_cluster_runs_the_same_campaign_as_the_driver(
    tmp_path: Path,
) -> None:
    outcomes = []
    for where, executor in [
        ("inline", None),
        ("on-dask", {"type": "dask", "workers": 2}),
    ]:
        # separate databases: simulated noise and failures are seeded by trial id
        store = Store(f"sqlite:///{tmp_path / where}.db")
        spec = validate(_electrolyte("same", executor))
        ensure_campaign(store, spec)
        summary = run_campaign(store, "same")
        assert summary.finished and summary.used == 12
        outcomes.append(_outcome(store, "same"))
    assert outcomes[1] == outcomes[0]
    assert any(attempt > 1 for _, attempt, *_ in outcomes[1]), (
        "transient failures were retried on the cluster too"
    )


def test_threads_run_the_same_campaign_as_the_driver(tmp_path: Path) -> None:
    outcomes = []
    for where, executor in [("inline", None), ("threads", {"type": "threads"})]:
        store = Store(f"sqlite:///{tmp_path / where}.db")
        ensure_campaign(store, validate(_electrolyte("same", executor)))
        summary = run_campaign(store, "same")
        assert summary.finished and summary.used == 12
        outcomes.append(_outcome(store, "same"))
    assert outcomes[1] == outcomes[0]


@pytest.mark.parametrize("kind", ["dask", "threads"])
def test_robots_cannot_fan_out(kind: str) -> None:
    data = yaml.safe_load((CAMPAIGNS / "robot-electrolyte.yaml").read_text())
    data["executor"] = {"type": kind}
    with pytest.raises(SpecError) as caught:
        validate(data)
    assert [p.path for p in caught.value.problems] == ["executor.type"]
    assert "robots pull their own work" in str(caught.value)


def test_an_address_needs_the_dask_type() -> None:
    data = _electrolyte("x", {"type": "local", "address": "tcp://10.0.0.5:8786"})
    with pytest.raises(SpecError) as caught:
        validate(data)
    assert "only used with `type: dask`" in str(caught.value)
