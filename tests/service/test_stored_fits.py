"""Fitted hyperparameters are stored with each model round and start the next fit,
so a campaign stopped and continued proposes exactly what it would have."""

from __future__ import annotations

from pathlib import Path

import yaml

from loop.engine import CampaignEngine
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def _electrolyte(budget: int) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["experiments"] = budget
    data["strategy"]["optimizer"] = {"restarts": 4, "raw_samples": 64}
    # an acquisition that does not read the budget: this test grows it from
    # 8 to 12, and the default qUCB explores less the closer a budget's end
    data["strategy"]["acquisition"] = "qLogNEI"
    return data


def _configs(store: Store, name: str) -> list[tuple]:
    return [
        (
            t.iteration,
            t.phase,
            sorted(t.composition.items()),
            sorted(t.parameters.items()),
        )
        for t in store.trials(name)
    ]


def test_a_stopped_and_continued_campaign_proposes_what_an_uninterrupted_one_does(
    any_db_url: str, tmp_path: Path
) -> None:
    # uninterrupted: 12 experiments in one driver (one engine, fits warm in memory)
    whole = Store(f"sqlite:///{tmp_path / 'whole.db'}")
    spec = validate(_electrolyte(12))
    ensure_campaign(whole, spec)
    run_campaign(whole, spec.name)

    # the same campaign stopped at 8 and continued to 12 by a new driver (a new
    # engine, which must start from the stored fit, as the first one did)
    parts = Store(any_db_url)
    ensure_campaign(parts, validate(_electrolyte(8)))
    run_campaign(parts, spec.name)
    stored = parts.latest_fit(spec.name)
    assert stored is not None and "outcomes" in stored["models"]
    ensure_campaign(parts, spec)
    run_campaign(parts, spec.name)

    assert _configs(parts, spec.name) == _configs(whole, spec.name)
    after_restart = [t for t in parts.trials(spec.name) if t.id > 8]
    assert after_restart and all(t.provenance["warm_start"] for t in after_restart)


def test_every_model_round_stores_its_fit_and_design_rounds_none(db_url: str) -> None:
    store = Store(db_url)
    spec = validate(_electrolyte(10))
    ensure_campaign(store, spec)
    run_campaign(store, spec.name)
    model_rounds = {t.iteration for t in store.trials(spec.name) if t.phase == "model"}
    design_rounds = {t.iteration for t in store.trials(spec.name)} - model_rounds
    assert model_rounds and design_rounds
    with store.transaction(write=False) as s:
        from sqlmodel import select

        from loop.storage.tables import ModelFitRow

        fitted = {row.iteration for row in s.exec(select(ModelFitRow)).all()}
    assert fitted == model_rounds


def test_a_fresh_engine_given_the_last_fit_proposes_what_the_running_one_does() -> None:
    spec = validate(_electrolyte(20))
    running = CampaignEngine(spec)
    history = simulated_trials(spec, running.ask(10, 0), 1)
    running.tell(history[:8])
    running.ask(1, 1)
    document = running.last_fit
    assert document is not None

    running.tell(history)
    (expected,) = running.ask(1, 2)
    rebuilt = CampaignEngine(spec, fit=document)
    rebuilt.tell(history)
    (again,) = rebuilt.ask(1, 2)
    assert again.provenance["warm_start"] is True
    assert (again.composition, again.parameters) == (
        expected.composition,
        expected.parameters,
    )


def test_a_damaged_or_foreign_fit_document_only_costs_a_cold_fit() -> None:
    spec = validate(_electrolyte(20))
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(8, 0), 1)
    for document in (
        {"version": 99, "models": {}},
        {"version": 1, "models": {"outcomes": {"x": {"shape": [2], "values": [1]}}}},
        {"version": 1, "models": "garbage"},
    ):
        fresh = CampaignEngine(spec, fit=document)
        fresh.tell(history)
        (p,) = fresh.ask(1, 1)
        assert p.provenance["warm_start"] is False
