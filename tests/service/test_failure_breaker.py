"""The failure breaker: a campaign whose every trial fails stops, paused, with exit 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import CampaignPausedError, TrialStateError
from loop.records import CampaignStatus, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store

runner = CliRunner()


def _failing(data: dict, limit: int | None) -> dict:
    """Every configuration lies in the simulator's failure region."""
    data["strategy"] = {"engine": "random", "batch_size": 3}
    data["budget"] = {"experiments": 40}
    if limit is not None:
        data["budget"]["max_consecutive_failures"] = limit
    data["adapter"]["failures"] = {"region": {"A": [0, 100]}}
    return data


def test_every_failure_pauses_the_campaign_and_resume_counts_again(
    db_url: str, campaign_data: dict
) -> None:
    store = Store(db_url)
    spec = validate(_failing(campaign_data, 4))
    ensure_campaign(store, spec)
    with pytest.raises(CampaignPausedError) as caught:
        run_campaign(store, spec.name)
    message = str(caught.value)
    assert "the last 4 trials failed in a row" in message
    assert "failure region" in message and "loop resume mixed-bumps" in message
    trials = store.trials(spec.name)
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    # batches of 3: the breaker trips at 4 failures, the batch in flight settles
    assert 4 <= len(failed) <= 6
    assert store.get_campaign(spec.name).status is CampaignStatus.PAUSED
    assert len(failed) < spec.budget.experiments  # the budget is not burned

    # resume: the campaign is active again and may fail 4 more times in a row
    with pytest.raises(CampaignPausedError):
        run_campaign(store, spec.name)
    again = [t for t in store.trials(spec.name) if t.status is TrialStatus.FAILED]
    assert len(again) >= len(failed) + 4
    assert store.get_campaign(spec.name).status is CampaignStatus.PAUSED


def test_the_default_limit_follows_the_batch_size() -> None:
    from loop.spec.strategy import Budget

    assert Budget(experiments=100).failure_limit(1) == 10
    assert Budget(experiments=100).failure_limit(8) == 16
    assert Budget(experiments=100, max_consecutive_failures=3).failure_limit(8) == 3


def test_loop_run_exits_1_with_the_breakers_message(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    path = write_yaml(_failing(campaign_data, None))  # the default: 10 in a row
    result = runner.invoke(app, ["run", str(path), "--db", db_url])
    assert result.exit_code == 1, result.output
    assert "paused: the last 10 trials failed in a row" in result.stderr
    assert "max_consecutive_failures" in result.stderr
    store = Store(db_url, create=False)
    trials = store.trials("mixed-bumps")
    assert 10 <= len([t for t in trials if t.status is TrialStatus.FAILED]) < 40
    assert store.get_campaign("mixed-bumps").status is CampaignStatus.PAUSED

    # after fixing the cause (no failure region any more) resume finishes
    fixed = dict(store.get_campaign("mixed-bumps").spec)
    fixed["adapter"] = {k: v for k, v in fixed["adapter"].items() if k != "failures"}
    store.update_campaign("mixed-bumps", spec=fixed)
    result = runner.invoke(app, ["resume", "mixed-bumps", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert store.get_campaign("mixed-bumps").status is CampaignStatus.COMPLETED


def test_a_pull_campaign_stops_on_robot_failures(db_url: str) -> None:
    """Robots report every trial failed; the pull driver pauses the campaign."""
    import threading

    from loop.storage.lab import claim_next, fail_attempt
    from tests.lab import robot_campaign

    lab = robot_campaign(
        db_url,
        strategy={"engine": "random", "batch_size": 2},
        budget={"experiments": 16, "max_consecutive_failures": 3},
    )
    outcome: list[BaseException] = []

    def drive() -> None:
        try:
            run_campaign(lab.store, lab.name, poll_seconds=0.05)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    failed = 0

    def claim() -> dict | None:
        return claim_next(
            lab.store, lab.name, None, 60.0, 3, respond=lambda t: t.model_dump()
        )

    while driver.is_alive() and failed < 16:
        try:
            claimed = claim()
        except TrialStateError as exc:  # the driver paused it a moment ago
            assert exc.code == "campaign_paused"
            break
        if claimed is None:
            driver.join(0.05)
            continue
        fail_attempt(
            lab.store, claimed["id"], claimed["attempt"], None, "pipette jammed", False
        )
        failed += 1
    driver.join(30)
    assert not driver.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], CampaignPausedError)
    assert "'pipette jammed'" in str(outcome[0])
    assert 3 <= failed <= 4  # robots may fail the other claimable trial first
    assert lab.store.get_campaign(lab.name).status is CampaignStatus.PAUSED
    # paused: the trials still claimable are not handed out until an operator acts
    waiting = [t for t in lab.store.trials(lab.name) if t.status is TrialStatus.PENDING]
    with pytest.raises(TrialStateError) as refused:
        claim()
    assert (
        refused.value.code == "campaign_paused" and "loop resume" in refused.value.hint
    )
    assert [
        t for t in lab.store.trials(lab.name) if t.status is TrialStatus.PENDING
    ] == waiting


def test_a_campaign_waiting_on_review_still_hands_out_what_an_operator_re_offers(
    db_url: str,
) -> None:
    """Only the failure breaker closes claims: a campaign that stopped because
    a started trial's lease ran out (needs_review) hands that trial out again
    once an operator retries it, without a `loop resume`."""
    import threading

    from loop.storage.lab import claim_next, mark_started
    from tests.lab import robot_campaign

    lab = robot_campaign(
        db_url,
        strategy={"engine": "random", "batch_size": 1},
        budget={"experiments": 1},
    )
    summaries = []
    driver = threading.Thread(
        target=lambda: summaries.append(
            run_campaign(lab.store, lab.name, poll_seconds=0.05)
        )
    )
    driver.start()

    def claim(ttl: float) -> dict | None:
        return claim_next(
            lab.store, lab.name, None, ttl, 3, respond=lambda t: t.model_dump()
        )

    claimed = None
    while claimed is None and driver.is_alive():
        claimed = claim(0.3)
        driver.join(0.05)  # give the driver the database to propose
    assert claimed is not None
    # the robot starts, then goes quiet past its lease: the trial waits for review
    mark_started(lab.store, claimed["id"], claimed["attempt"], None, 0.3)
    driver.join(30)
    assert not driver.is_alive() and not summaries[0].finished
    assert lab.store.get_campaign(lab.name).status is CampaignStatus.NEEDS_REVIEW
    trial = lab.store.trials(lab.name)[0]
    assert trial.status is TrialStatus.NEEDS_REVIEW

    result = runner.invoke(
        app,
        [
            "trial",
            "retry",
            lab.name,
            str(trial.id),
            "--reason",
            "robot restarted",
            "--db",
            db_url,
        ],
    )
    assert result.exit_code == 0, result.output
    again = claim(60.0)
    assert again is not None and again["id"] == trial.id and again["attempt"] == 2
