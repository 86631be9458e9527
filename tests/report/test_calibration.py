"""Is the model's uncertainty honest? Coverage, calibration curve, failure-model
scores, the held-out check of stored predictions, and the applicability domain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from loop.engine import CampaignEngine
from loop.model import calibration
from loop.records import Trial, TrialPhase, TrialStatus
from loop.report.quality import model_quality
from loop.report.terminal import calibration_lines
from loop.space.domain import FAR, domain_of, scaled_distances, typical_spacing
from loop.space.encoding import Encoder
from loop.spec import validate
from tests.report.conftest import Finished, electrolyte, two_objectives
from tests.support import simulated_trials


def test_coverage_follows_the_spread_of_the_errors() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal(4000)
    honest = calibration.summary(z)
    assert honest["coverage"]["50%"] == pytest.approx(0.5, abs=0.03)
    assert honest["coverage"]["90%"] == pytest.approx(0.9, abs=0.02)
    for nominal, observed in honest["curve"]:
        assert observed == pytest.approx(nominal, abs=0.03)
    assert honest["verdict"] == "calibrated"
    # errors three times the stated sd: the intervals are too narrow
    assert calibration.summary(3 * z)["verdict"] == "overconfident"
    assert calibration.summary(0.3 * z)["verdict"] == "underconfident"
    assert calibration.summary(z[:3])["verdict"] == "too few to tell"
    assert calibration.coverage([np.nan, 0.0], 0.5) == 1.0  # undefined errors skipped


def test_auc_is_the_mann_whitney_statistic_and_brier_a_squared_error() -> None:
    assert calibration.roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert calibration.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert calibration.roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert calibration.roc_auc([1, 1], [0.5, 0.4]) is None  # one class only
    rng = np.random.default_rng(1)
    labels = rng.random(60) < 0.4
    scores = rng.random(60) + 0.3 * labels
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert calibration.roc_auc(labels, scores) == pytest.approx(
        u / (labels.sum() * (~labels).sum())
    )
    assert calibration.brier_score([1, 0], [0.5, 0.5]) == 0.25
    assert calibration.brier_score([1, 0], [1.0, 0.0]) == 0.0


def test_standardised_errors_are_taken_on_the_model_scale() -> None:
    spec = validate(electrolyte(10))
    linear = spec.objectives[0]
    assert linear.standardized_error(12.0, 10.0, 2.0) == 1.0
    log = linear.model_copy(update={"transform": "log"})
    # `from_model` gives the median exp(mu) and the spread exp(mu) * sigma
    median, spread = log.from_model(np.log(10.0), 0.5)
    measured = 10.0 * np.exp(0.5)  # one sigma above on the log scale
    assert log.standardized_error(measured, median, spread) == pytest.approx(1.0)
    assert log.standardized_error(-1.0, median, spread) is None


def test_a_known_function_with_known_noise_is_covered_as_stated() -> None:
    """The electrolyte simulator (smooth, noise sd 0.05) on 40 design points: the
    cross-validated intervals hold about as many measurements as they claim."""
    data = electrolyte(40)
    data["strategy"]["initial_design"] = {"size": 40}
    spec = validate(data)
    trials = simulated_trials(spec, CampaignEngine(spec).ask(40, 0))
    quality = model_quality(spec, trials)
    (conductivity,) = quality.cv["outputs"]
    cal = conductivity["calibration"]
    assert cal["n"] == 40
    # 40 errors: a binomial sd of 0.05 at 90 % and 0.08 at 50 %
    assert 0.78 <= cal["coverage"]["90%"] <= 1.0
    assert 0.3 <= cal["coverage"]["50%"] <= 0.82
    assert cal["verdict"] == "calibrated"
    assert quality.failure is None  # nothing failed


def test_the_failure_model_separates_the_failing_region() -> None:
    """Cells fail for LiPF6 between 0.2 and 0.6 mol/kg: a success model worth
    its name ranks failures below successes and beats the base rate."""
    data = two_objectives(40)
    data["strategy"]["initial_design"] = {"size": 40}
    spec = validate(data)
    trials = simulated_trials(spec, CampaignEngine(spec).ask(40, 0))
    failure = model_quality(spec, trials).failure
    assert failure is not None and failure["n_failed"] >= 2
    assert failure["n_failed"] + failure["n_success"] == 40
    assert failure["auc"] >= 0.8
    assert failure["brier"] < failure["brier_constant"]


def _trial(tid: int, value: float, mean: float, sd: float, **provenance) -> Trial:
    return Trial(
        id=tid,
        campaign="c",
        iteration=tid,
        status=TrialStatus.COMPLETED,
        phase=TrialPhase.MODEL,
        strategy="botorch",
        attempt=1,
        composition={"EC": 0.5, "DMC": 0.5},
        parameters={"LiPF6_molality": 1.0},
        predicted_mean={"conductivity": mean},
        predicted_sd={"conductivity": sd},
        provenance=provenance,
        measurement={"trial_id": tid, "attempt": 1, "values": {"conductivity": value}},
    )


def test_stored_predictions_are_checked_against_later_measurements() -> None:
    spec = validate(electrolyte(10))
    # errors of 3 model sds, but 1 predictive sd (the measurement noise)
    trials = [
        _trial(i, 10.0 + s * 3.0, 10.0, 1.0, predictive_sd={"conductivity": 3.0})
        for i, s in enumerate([0.1, -0.2, 0.5, -0.8, 1.2, -0.3, 0.05, 0.9], 1)
    ]
    check = calibration.predicted_before_measured(spec, trials)["conductivity"]
    assert check["n"] == 8 and check["trial_ids"] == list(range(1, 9))
    assert check["sd"] == "predictive"
    assert check["z"] == pytest.approx([0.1, -0.2, 0.5, -0.8, 1.2, -0.3, 0.05, 0.9])
    assert check["verdict"] == "calibrated"
    # without the stored predictive sd the model's own sd is used, and says so
    old = [t.model_copy(update={"provenance": {}}) for t in trials]
    check = calibration.predicted_before_measured(spec, old)["conductivity"]
    assert check["sd"] == "model only" and check["verdict"] == "overconfident"
    line = calibration_lines({"conductivity": check})[0]
    assert "predicted before measured" in line and "overconfident" in line


def test_a_finished_campaign_stores_predictive_sds_and_domains(
    single: Finished,
) -> None:
    model_trials = [
        t for t in single.store.trials(single.spec.name) if t.phase == "model"
    ]
    assert model_trials
    for t in model_trials:
        predictive = t.provenance["predictive_sd"]["conductivity"]
        assert predictive >= t.predicted_sd["conductivity"]  # noise added, not removed
        domain = t.provenance["domain"]
        # stored to 3 decimals, so within half the last one
        assert domain["ratio"] == pytest.approx(
            domain["nearest"] / domain["spacing"], abs=6e-4
        )
    held_out = single.data.held_out["conductivity"]
    assert held_out["n"] == len(model_trials) and held_out["sd"] == "predictive"
    cv = single.data.cv["outputs"][0]["calibration"]
    assert cv["n"] == single.data.campaign["n_measured"]


def test_the_domain_distance_is_relative_to_the_spacing_of_the_data() -> None:
    spec = validate(electrolyte(10))
    enc = Encoder(spec)
    # columns EC, EMC, DMC, LiPF6_molality
    grid = np.array([[f, 0.0, 1 - f, m] for f in (0.2, 0.3, 0.4) for m in (0.5, 1.0)])
    spacing = typical_spacing(enc, grid)
    # neighbours differ by 0.1 in EC and DMC (0.24 of their ranges together) or
    # by 0.5 mol/kg (0.22 of its range): every point's nearest is a molality step
    steps = scaled_distances(enc, grid[1:], grid[0])
    assert spacing == pytest.approx(steps.min())
    inside = domain_of(enc, grid, np.array([0.3, 0.0, 0.7, 0.75]), spacing)
    assert inside is not None and not inside.outside and inside.ratio < 1.5
    far = domain_of(enc, grid, enc.upper.copy(), spacing)
    assert far is not None and far.ratio > FAR and far.outside
    assert domain_of(enc, grid[:1], grid[0], typical_spacing(enc, grid[:1])) is None


def test_explain_warns_when_a_proposal_lies_outside_the_data(single: Finished) -> None:
    from rich.console import Console

    from loop.documents import DomainDocument, ProposalModel
    from loop.report.terminal import explanation_panel
    from loop.service.explain import explain_trial

    trial = next(t for t in single.store.trials(single.spec.name) if t.phase == "model")
    explained = explain_trial(single.store, single.spec.name, trial.id)
    assert explained.model.domain is not None
    assert explained.model.domain.model_dump() == trial.provenance["domain"]

    def shown(domain: dict) -> str:
        doc = explained.model_copy(
            update={"model": ProposalModel(domain=DomainDocument(**domain))}
        )
        console = Console(width=200, record=True)
        console.print(explanation_panel(doc))
        return console.export_text()

    near = {"nearest": 0.05, "spacing": 0.1, "ratio": 0.5, "outside": False}
    assert "0.5 typical spacings away" in shown(near)
    assert "outside the measured data" not in shown(near)
    far = {"nearest": 0.5, "spacing": 0.1, "ratio": 5.0, "outside": True}
    assert "outside the measured data" in shown(far)


def test_the_report_page_shows_the_calibration_it_computed(double: Finished) -> None:
    """Two goals with a failing region: coverage per output, the held-out check
    and the failure model's scores are on the page, as computed."""
    import re

    page, data = double.html, double.data
    assert 'id="fig-calibration"' in page and 'id="calibration-table"' in page
    for o in data.cv["outputs"]:
        row = re.search(
            rf'<tr data-output="{o["name"]}" data-check="cross-validated">(.*?)</tr>',
            page,
            re.S,
        )
        assert row is not None
        covers = o["calibration"]["coverage"]["90%"]
        assert f'data-value="{covers}"' in row.group(1)
        assert o["calibration"]["verdict"] in row.group(1)
    assert data.failure is not None
    assert f"{data.failure['brier']:.3f}" in page
