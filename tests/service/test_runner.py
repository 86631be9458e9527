"""The driver on real SQLite: failures, retries, crash recovery, exhausted spaces."""

from __future__ import annotations

from loop.records import Proposal, TrialStatus
from loop.service.campaigns import ensure_campaign, status_document
from loop.service.runner import run_campaign
from loop.service.settle import MAX_ATTEMPTS
from loop.spec import validate
from loop.storage import Store


def _start(db_url: str, data: dict) -> tuple[Store, str]:
    store = Store(db_url)
    spec = validate(data)
    ensure_campaign(store, spec)
    return store, spec.name


def test_failed_experiments_spend_budget_and_never_become_numbers(
    db_url: str, campaign_data: dict
) -> None:
    campaign_data["budget"]["experiments"] = 10
    campaign_data["adapter"]["failures"] = {"region": {"A": [0, 35]}}
    store, name = _start(db_url, campaign_data)
    summary = run_campaign(store, name)
    assert summary.finished and summary.used == 10
    trials = store.trials(name)
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    assert failed, (
        "the failure region covers part of the space; some trials must land there"
    )
    for t in failed:
        assert t.composition["A"] <= 35 and t.measurement is None
        assert "failure region" in (t.failure_reason or "")
    for t in trials:
        if t.status is TrialStatus.COMPLETED:
            assert t.composition["A"] > 35 and t.measurement is not None
    assert summary.completed + summary.failed == 10


def test_transient_failures_are_retried_with_a_new_attempt(
    db_url: str, campaign_data: dict
) -> None:
    campaign_data["budget"]["experiments"] = 8
    campaign_data["adapter"]["failures"] = {"transient_rate": 0.5}
    store, name = _start(db_url, campaign_data)
    summary = run_campaign(store, name)
    assert summary.finished and summary.used == 8
    trials = store.trials(name)
    retried = [t for t in trials if t.attempt > 1]
    assert retried, "with a 50 % transient rate some attempts must fail"
    for t in retried:
        events = [(e["from_status"], e["to_status"]) for e in store.events(t.id)]
        assert ("claimed", "pending") in events
        assert t.attempt <= MAX_ATTEMPTS
    for t in trials:
        if t.status is TrialStatus.FAILED:
            assert t.attempt == MAX_ATTEMPTS  # given up only after the last attempt
    measured = [t for t in trials if t.measurement is not None]
    assert len(measured) == summary.completed


def test_resume_redispatches_an_attempt_left_claimed_by_a_crash(
    db_url: str, campaign_data: dict
) -> None:
    campaign_data["budget"]["experiments"] = 3
    store, name = _start(db_url, campaign_data)
    proposal = Proposal(
        composition={"A": 40.0, "B": 20.0, "C": 20.0, "D": 20.0},
        parameters={"temperature": 500.0, "layers": 2, "route": "cast"},
        phase="initial",
        strategy="botorch",
    )
    (t,) = store.add_trials(name, 0, [proposal], budget=3)
    store.transition(
        t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1
    )  # then "crash"
    summary = run_campaign(store, name)
    assert summary.finished and summary.used == 3
    again = next(x for x in store.trials(name) if x.id == t.id)
    assert again.status is TrialStatus.COMPLETED and again.attempt == 2
    assert again.measurement is not None and again.measurement.attempt == 2
    reasons = [e["reason"] for e in store.events(t.id) if e["to_status"] == "pending"]
    assert any("driver stopped" in (r or "") for r in reasons)


def test_a_space_with_fewer_points_than_the_budget_ends_cleanly(
    db_url: str, campaign_data: dict
) -> None:
    campaign_data["space"] = {
        "composition": {
            "kind": "species",
            "components": ["A", "B"],
            "total": 1.0,
            "resolution": 0.5,
        }
    }
    campaign_data["constraints"] = []
    campaign_data["budget"]["experiments"] = 10
    store, name = _start(db_url, campaign_data)
    summary = run_campaign(store, name)
    assert summary.exhausted and not summary.finished
    doc = status_document(store, name)
    compositions = sorted(tuple(t["composition"].values()) for t in doc["trials"])
    assert compositions == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    assert doc["status"] == "exhausted"


def test_a_process_only_campaign_needs_no_composition(db_url: str) -> None:
    data = {
        "schema_version": 1,
        "name": "process-only",
        "space": {
            "parameters": [
                {"name": "temperature", "type": "continuous", "bounds": [300, 900]},
                {"name": "layers", "type": "integer", "bounds": [1, 11]},
                {"name": "route", "type": "categorical", "values": ["cast", "powder"]},
            ]
        },
        "constraints": [{"coefficients": {"temperature": 1, "layers": 10}, "le": 900}],
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {"initial_design": {"size": 4}, "batch_size": 2},
        "budget": {"experiments": 8},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
    }
    store, name = _start(db_url, data)
    summary = run_campaign(store, name)
    assert summary.finished and summary.used == 8
    for t in store.trials(name):
        assert t.composition == {}
        assert t.parameters["temperature"] + 10 * t.parameters["layers"] <= 900 + 1e-9
        assert isinstance(t.parameters["layers"], int)
    assert any(t.phase == "model" for t in store.trials(name))
