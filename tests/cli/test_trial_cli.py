"""`loop trial void|amend|retry|abandon` on a campaign run by the real driver."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from loop.campaign_state import CampaignState, load_spec
from loop.cli import app
from loop.engine import CampaignEngine
from loop.records import TrialStatus
from loop.storage import Store
from tests.invariants import check_invariants

runner = CliRunner()


def _run(db_url: str, campaign_data: dict, write_yaml, **failures: object) -> Store:
    campaign_data["strategy"] = {"engine": "random", "batch_size": 2}
    campaign_data["budget"] = {"experiments": 6}
    if failures:
        campaign_data["adapter"]["failures"] = failures
    result = runner.invoke(app, ["run", str(write_yaml(campaign_data)), "--db", db_url])
    assert result.exit_code == 0, result.output
    return Store(db_url, create=False)


def _trial(*args: str) -> object:
    return runner.invoke(app, ["trial", *args])


def test_void_takes_a_measurement_out_of_the_model_and_best_but_not_the_budget(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    store = _run(db_url, campaign_data, write_yaml)
    spec = load_spec(store.get_campaign("mixed-bumps"))
    before = CampaignState(spec, store.trials("mixed-bumps"))
    best = before.best
    assert best is not None
    result = _trial(
        "void", "mixed-bumps", str(best.id), "--reason", "cell leaked", "--by", "ana",
        "--db", db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"trial {best.id} of mixed-bumps: void by ana" in result.stdout

    after = CampaignState(spec, store.trials("mixed-bumps"))
    assert after.best is not None and after.best.id != best.id
    assert after.budget_used == before.budget_used == 6  # still spent
    assert best.id not in {t.id for t in after.measured}
    engine = CampaignEngine(spec)
    engine.tell(after.trials)
    assert len(engine.history().y_done) == 5  # the model learns from the others

    doc = json.loads(
        runner.invoke(
            app, ["inspect", "mixed-bumps", "--db", db_url, "--format", "json"]
        ).stdout
    )
    shown = next(t for t in doc["trials"] if t["id"] == best.id)
    assert shown["measurements"] == {} and shown["voided"] == best.values
    explained = runner.invoke(
        app,
        ["inspect", "mixed-bumps", "--db", db_url, "--explain", str(best.id),
         "--format", "json"],
    )  # fmt: skip
    assert explained.exit_code == 0, explained.output
    assert any(
        f["reason"] == "void by ana: cell leaked"
        for f in json.loads(explained.stdout)["failures"]
    )
    exported = json.loads(
        runner.invoke(
            app, ["export", "mixed-bumps", "--db", db_url, "--format", "json"]
        ).stdout
    )
    row = next(t for t in exported if t["id"] == best.id)
    assert row["measurement"]["voided"] is True
    assert row["events"][-1]["reason"] == "void by ana: cell leaked"

    # amend: corrected values count again; the old ones stay in the event
    result = _trial(
        "amend", "mixed-bumps", str(best.id), "--reason", "re-read the meter",
        "--value", "y=0.25", "--db", db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    t = next(t for t in store.trials("mixed-bumps") if t.id == best.id)
    assert t.values == {"y": 0.25}
    assert store.events(best.id)[-1]["details"]["operator"]["old"]["values"] == (
        best.values
    )
    assert check_invariants(db_url, "mixed-bumps") == []


def test_refusals_exit_2_naming_the_trial_status_and_what_is_possible(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    store = _run(db_url, campaign_data, write_yaml)
    trial = store.trials("mixed-bumps")[0]
    events = len(store.events(trial.id))
    result = _trial(
        "retry", "mixed-bumps", str(trial.id), "--reason", "x", "--db", db_url
    )
    assert result.exit_code == 2
    assert f"trial {trial.id} of 'mixed-bumps' is completed" in result.stderr
    assert "loop trial void | amend" in result.stderr
    for bad in (["--value", "nope=1"], ["--value", "y=inf"], ["--value", "y"]):
        result = _trial(
            "amend", "mixed-bumps", str(trial.id), "--reason", "x", *bad,
            "--db", db_url,
        )  # fmt: skip
        assert result.exit_code == 2, result.output
    result = _trial("void", "mixed-bumps", "999", "--reason", "x", "--db", db_url)
    assert result.exit_code == 2 and "no trial 999" in result.stderr
    assert len(store.events(trial.id)) == events  # nothing stored


def test_retry_a_failed_trial_and_resume_measures_it(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    store = _run(db_url, campaign_data, write_yaml, region={"A": [0, 40]})
    failed = [t for t in store.trials("mixed-bumps") if t.status is TrialStatus.FAILED]
    assert failed, "some trials land in the failure region"
    # the cause is fixed (the failure region removed), then the trial retried
    fixed = dict(store.get_campaign("mixed-bumps").spec)
    fixed["adapter"] = {k: v for k, v in fixed["adapter"].items() if k != "failures"}
    store.update_campaign("mixed-bumps", spec=fixed)
    result = _trial(
        "retry", "mixed-bumps", str(failed[0].id), "--reason", "pump replaced",
        "--db", db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "failed -> pending (attempt 2)" in result.stdout
    result = runner.invoke(app, ["resume", "mixed-bumps", "--db", db_url])
    assert result.exit_code == 0, result.output
    t = next(t for t in store.trials("mixed-bumps") if t.id == failed[0].id)
    assert t.status is TrialStatus.COMPLETED and t.attempt == 2
    assert check_invariants(db_url, "mixed-bumps") == []


def test_abandon_a_pending_trial_frees_its_budget_slot(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    from loop.records import Proposal

    store = _run(db_url, campaign_data, write_yaml)
    store.update_campaign(
        "mixed-bumps",
        spec={**store.get_campaign("mixed-bumps").spec, "budget": {"experiments": 7}},
    )
    (extra,) = store.add_trials(
        "mixed-bumps",
        9,
        [Proposal(composition={"A": 50, "B": 50}, phase="random", strategy="random")],
        7,
    )
    result = _trial(
        "abandon", "mixed-bumps", str(extra.id), "--reason", "wrong batch",
        "--db", db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pending -> abandoned" in result.stdout
    trials = store.trials("mixed-bumps")
    assert sum(1 for t in trials if t.status.spends_budget) == 6
    assert check_invariants(db_url, "mixed-bumps") == []


def test_the_report_leaves_a_voided_measurement_out(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    from loop.report.data import build_report

    store = _run(db_url, campaign_data, write_yaml)
    first = store.trials("mixed-bumps")[0]
    _trial("void", "mixed-bumps", str(first.id), "--reason", "x", "--db", db_url)
    report = build_report(store, "mixed-bumps")
    assert report.campaign["n_measured"] == 5
    row = next(r for r in report.trials if r["id"] == first.id)
    assert row["measured"] == {}
    assert "voided by an operator" in row["failure_reason"]
