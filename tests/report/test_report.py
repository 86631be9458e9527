"""The HTML report of finished simulator campaigns: the plots' data, not just a file.

Each check reads the numbers back from the page (the figures' JSON and the
tables) and compares them with a recomputation from the store.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from loop.campaign_state import pareto_trials
from loop.cli import app
from loop.engine import CampaignEngine
from loop.model.state import from_document
from loop.model.surrogate import fit_gp
from loop.records import Trial, TrialStatus
from loop.report.data import build_report
from loop.report.html import render_html
from loop.service.campaigns import ensure_campaign
from loop.spec import validate
from loop.storage import Store
from loop.strategies.botorch import gp_settings
from tests.report.conftest import Finished, electrolyte
from tests.report.page import Page

runner = CliRunner()


def measured_in_arrival_order(store: Store, name: str) -> list:
    done = [t for t in store.trials(name) if t.measurement is not None]
    return sorted(done, key=lambda t: (t.measurement.received_at, t.id))


def test_best_so_far_trace_is_the_running_best_of_the_stored_measurements(
    single: Finished,
) -> None:
    measured = measured_in_arrival_order(single.store, single.spec.name)
    values = [t.values["conductivity"] for t in measured]
    running = list(np.maximum.accumulate(values))  # maximise
    assert len(values) == 10
    progress = single.data.progress
    assert progress["values"]["conductivity"] == values
    assert progress["best"]["conductivity"] == running
    page = Page(single.html)
    assert page.trace("progress", "best so far")["y"] == running
    assert page.trace("progress", "measured")["y"] == values
    assert page.trace("progress", "best so far")["x"] == list(range(1, 11))


def test_cross_validation_numbers_match_a_recomputation(single: Finished) -> None:
    cv = single.data.cv
    assert cv["k"] == 5
    (out,) = cv["outputs"]
    stored = {t.id: t.values for t in single.store.trials(single.spec.name)}
    assert out["measured"] == [stored[i]["conductivity"] for i in cv["trial_ids"]]
    y, p = np.array(out["measured"]), np.array(out["mean"])
    r2 = 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    rmse = math.sqrt(((y - p) ** 2).mean())
    assert out["r2"] == pytest.approx(r2, rel=1e-12)
    assert out["rmse"] == pytest.approx(rmse, rel=1e-12)
    assert sorted(set(out["fold"])) == [0, 1, 2, 3, 4]  # every row held out once
    # the page's table and figure show exactly these numbers
    page = Page(single.html)
    (row,) = page.data_rows("cv-table", "data-output")
    exact = [json.loads(c["attrs"]["data-value"]) for c in row["cells"][-2:]]
    assert exact == [out["r2"], out["rmse"]]
    held_out = page.trace("cv", "conductivity (held out)")
    assert held_out["x"] == out["measured"] and held_out["y"] == out["mean"]
    assert held_out["error_y"]["array"] == out["sd"]
    assert (
        f"R² {out['r2']:.4g}" in page.figure("cv")["layout"]["annotations"][0]["text"]
    )


def test_cross_validation_predictions_come_from_a_gp_that_did_not_see_the_row(
    single: Finished,
) -> None:
    """Rebuild fold 0 with the engine's own GP code and predict its rows again.

    The report reuses the hyperparameters stored with the last model round (no
    refit): fold 0's GP is those hyperparameters conditioned on the other folds."""
    cv, spec = single.data.cv, single.spec
    (out,) = cv["outputs"]
    by_id = {t.id: t for t in single.store.trials(spec.name)}
    engine = CampaignEngine(spec)
    x = engine.encoder.encode_many(
        [(by_id[i].composition, by_id[i].parameters) for i in cv["trial_ids"]]
    )
    y = np.array(out["measured"])[:, None]  # maximised, no transform: y as is
    test = np.array(out["fold"]) == 0
    stored = from_document(single.store.latest_fit(spec.name))["outcomes"]
    assert cv["hyperparameters"]["reused"] is True
    model = fit_gp(
        x[~test],
        y[~test],
        gp_settings(engine.spec, engine.encoder),
        spec.seed,
        warm=stored,
        refit=False,
    )
    assert model.info["refit"] is False
    mean, sd = model.predict(x[test])
    assert mean[:, 0] == pytest.approx(np.array(out["mean"])[test], rel=1e-6)
    assert sd[:, 0] == pytest.approx(np.array(out["sd"])[test], rel=1e-6)


def test_relevance_shows_the_fitted_lengthscales_and_every_input(
    single: Finished,
) -> None:
    rel = single.data.relevance
    assert rel["inputs"] == ["EC", "EMC", "DMC", "LiPF6_molality"]
    assert rel["n_train"] == 10
    (ls,) = rel["lengthscales"]
    assert rel["relevance"] == [[1 / v for v in ls]]
    assert rel["permutation"]["inputs"] == ["EC", "EMC", "DMC", "LiPF6_molality"]
    bars = Page(single.html).trace("relevance", "conductivity relevance")
    assert bars["x"] == rel["inputs"] and bars["y"] == rel["relevance"][0]
    # on a log axis, so inputs a million times less relevant stay visible
    layout = Page(single.html).figure("relevance")["layout"]
    assert layout["yaxis"]["type"] == "log"


def test_ternary_plot_places_every_measured_trial(single: Finished) -> None:
    space = single.data.space
    assert space["kind"] == "ternary"
    ternary = Page(single.html).trace("space", "measured")
    trials = single.store.trials(single.spec.name)
    assert ternary["a"] == [t.composition["EC"] for t in trials]
    assert ternary["b"] == [t.composition["EMC"] for t in trials]
    assert ternary["marker"]["color"] == [t.values["conductivity"] for t in trials]


def test_trial_table_lists_every_trial_with_its_provenance(single: Finished) -> None:
    trials = single.store.trials(single.spec.name)
    rows = Page(single.html).data_rows("trial-table", "data-trial")
    assert [int(r["attrs"]["data-trial"]) for r in rows] == [t.id for t in trials]
    for t, row in zip(trials, rows, strict=True):
        cells = [c["text"] for c in row["cells"]]
        assert cells[:6] == [
            str(t.id),
            str(t.iteration),
            t.phase,
            t.strategy,
            t.status.value,
            str(t.attempt),
        ]
        acq = json.loads(row["cells"][8]["attrs"]["data-value"])
        assert acq == t.acquisition_value
        if t.phase == "model":
            mean, sd = (
                t.predicted_mean["conductivity"],
                t.predicted_sd["conductivity"],
            )
            assert cells[9] == f"{mean:.4g} ± {sd:.4g}"
        assert (
            json.loads(row["cells"][10]["attrs"]["data-value"])
            == t.values["conductivity"]
        )
    assert any(t.phase == "model" for t in trials)


def test_page_is_self_contained_and_embeds_exactly_the_report_data(
    single: Finished,
) -> None:
    from plotly.offline import get_plotlyjs

    page = Page(single.html)
    assert not [s for s in page.sources if re.match(r"(https?:)?//", s)]
    assert not re.search(r"<script[^>]*\ssrc=", single.html)
    assert not re.search(r"<link\b", single.html)
    assert single.html.count(get_plotlyjs()) == 1  # plotly.js inlined once
    embedded = page.json("report-data")
    assert embedded == json.loads(json.dumps(single.data.to_dict()))


def test_two_goals_show_the_pareto_front_and_the_hypervolume(double: Finished) -> None:
    store, spec, data = double.store, double.spec, double.data
    trials = store.trials(spec.name)
    assert any(t.status is TrialStatus.FAILED for t in trials)
    front = {t.id for t in pareto_trials(spec, trials)}
    pareto = data.pareto
    assert {
        i for i, f in zip(pareto["trial_ids"], pareto["front"], strict=True) if f
    } == front
    page = Page(double.html)
    drawn = page.trace("pareto", "Pareto front")
    assert sorted(drawn["text"]) == sorted(f"trial {i}" for i in front)
    # the recommended trade-off: the member nearest the best of both goals,
    # each scaled over the front, starred on the figure
    members = pareto_trials(spec, trials)
    c = [t.values["conductivity"] for t in members]
    v = [t.values["viscosity"] for t in members]

    def gap(t: Trial) -> float:
        up = (t.values["conductivity"] - min(c)) / ((max(c) - min(c)) or 1.0)
        down = (max(v) - t.values["viscosity"]) / ((max(v) - min(v)) or 1.0)
        return (1 - up) ** 2 + (1 - down) ** 2

    chosen = min(members, key=gap)
    assert pareto["recommended"] == chosen.id
    star = page.trace("pareto", f"recommended trade-off (trial {chosen.id})")
    assert star["text"] == [f"trial {chosen.id}"]
    # what the front is made of: one stacked bar per member, per component
    bars = page.figure("front-composition")["data"]
    assert {b["name"] for b in bars} == set(spec.space.components)
    by_trial = {t.id: t for t in members}
    for b in bars:
        for tick, amount in zip(b["x"], b["y"], strict=True):
            trial = by_trial[int(tick.split()[1])]
            assert amount == pytest.approx(trial.composition[b["name"]])
    # hypervolume recomputed by a sweep over (conductivity, -viscosity)
    measured = measured_in_arrival_order(store, spec.name)
    points = [(t.values["conductivity"], -t.values["viscosity"]) for t in measured]
    cs, vs = [p[0] for p in points], [p[1] for p in points]
    ref = (min(cs) - 0.1 * (max(cs) - min(cs)), min(vs) - 0.1 * (max(vs) - min(vs)))
    reference = data.progress["reference_point"]
    assert reference["conductivity"] == pytest.approx(ref[0])
    assert reference["viscosity"] == pytest.approx(-ref[1])

    def area(pts: list[tuple[float, float]]) -> float:
        total, top = 0.0, ref[1]
        for c, v in sorted(pts, reverse=True):  # conductivity from high to low
            if v > top:
                total += (c - ref[0]) * (v - top)
                top = v
        return total

    expected = [area(points[: n + 1]) for n in range(len(points))]
    assert data.progress["hypervolume"] == pytest.approx(expected, rel=1e-9)
    # in the objectives' own units, with the reference point stated
    layout = page.figure("progress")["layout"]
    assert layout["yaxis"]["title"]["text"] == "hypervolume (mS/cm × mPa s)"
    assert (
        f"conductivity {reference['conductivity']:.4g} mS/cm"
        in (layout["title"]["text"])
    )
    # and each objective's best so far in its own panel
    panels = page.figure("best-per-goal")["data"]
    assert [p["name"] for p in panels] == ["best conductivity", "best viscosity"]
    for panel, name in zip(panels, ["conductivity", "viscosity"], strict=True):
        assert panel["y"] == data.progress["best"][name]
    assert page.trace("progress", "hypervolume")["y"] == data.progress["hypervolume"]
    failed_rows = [
        r
        for r in page.data_rows("trial-table", "data-trial")
        if r["attrs"].get("class") == "failed"
    ]
    assert len(failed_rows) == sum(t.status is TrialStatus.FAILED for t in trials)
    assert all("failure region" in r["cells"][-1]["text"] for r in failed_rows)


def test_without_measurements_the_page_has_the_trials_and_says_so(
    db_url: str,
) -> None:
    store = Store(db_url)
    spec = validate(electrolyte(10))
    ensure_campaign(store, spec)
    store.add_trials(spec.name, 0, CampaignEngine(spec).ask(2, 0), 10)
    data = build_report(store, spec.name)
    assert data.progress is None and data.cv is None and data.space is None
    assert "no measurements yet" in data.notes[0]
    html = render_html(data)
    page = Page(html)
    assert len(page.data_rows("trial-table", "data-trial")) == 2
    assert not [k for k in page.scripts if k.startswith("fig-")]
    assert "no measurements yet" in html
    # one measurement: progress, but too few rows to cross-validate
    first = store.trials(spec.name)[0]
    store.transition(first.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    store.complete(first.id, 1, {"conductivity": 5.0})
    data = build_report(store, spec.name)
    assert data.progress["best"] == {"conductivity": [5.0]}
    assert data.cv is None and "at least 3" in data.notes[0]


def test_stored_text_is_shown_as_text_and_cannot_close_a_script(
    db_url: str,
) -> None:
    """The description and a failure reason reach the page escaped, and the
    embedded JSON (which carries them too) cannot end its script element."""
    from plotly.offline import get_plotlyjs

    hostile = "</script><script>alert('x')</script><!--"
    store = Store(db_url)
    spec = validate({**electrolyte(10), "description": hostile})
    ensure_campaign(store, spec)
    store.add_trials(spec.name, 0, CampaignEngine(spec).ask(1, 0), 10)
    (trial,) = store.trials(spec.name)
    store.transition(trial.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    store.transition(
        trial.id, [TrialStatus.CLAIMED], TrialStatus.FAILED, reason=hostile
    )
    html = render_html(build_report(store, spec.name))
    ours = html.replace(get_plotlyjs(), "")  # all but the inlined plotly.js
    assert "<script>alert" not in ours and "<!--" not in ours
    escaped = "&lt;/script&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;!--"
    assert html.count(escaped) == 2  # the description and the failure reason
    page = Page(html)
    embedded = page.json("report-data")
    assert embedded["campaign"]["description"] == hostile
    assert embedded["trials"][0]["failure_reason"] == hostile
    (row,) = page.data_rows("trial-table", "data-trial")
    assert row["cells"][-1]["text"] == hostile


def test_loop_report_writes_the_page_and_refuses_unknown_campaigns(
    single: Finished, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = single.store.url
    result = runner.invoke(app, ["report", single.spec.name, "--db", url])
    assert result.exit_code == 0, result.output
    path = tmp_path / f"{single.spec.name}-report.html"
    assert f"wrote {path.name}" in result.stdout
    page = Page(path.read_text(encoding="utf-8"))
    assert page.json("report-data")["cv"] == json.loads(json.dumps(single.data.cv))
    missing = runner.invoke(app, ["report", "no-such", "--db", url])
    assert missing.exit_code == 2 and "no campaign named 'no-such'" in missing.output


def test_many_components_draw_one_stacked_bar_per_trial_best_first() -> None:
    """Nine components as parallel axes could not be read; stacked bars, sorted
    by the goal, show which blend won."""
    from loop.engine import CampaignEngine
    from loop.report.data import space
    from loop.report.figures import space_figure
    from loop.spec import validate
    from tests.support import simulated_trials

    names = [f"S{i}" for i in range(9)]
    spec = validate(
        {
            "schema_version": 1,
            "name": "nine",
            "space": {
                "composition": {
                    "kind": "species",
                    "components": names,
                    "bounds": {"default": [0.0, 0.5]},
                }
            },
            "objectives": [{"name": "y", "direction": "maximize"}],
            "budget": {"experiments": 12},
            "adapter": {"type": "simulator", "function": "simplex-bumps"},
        }
    )
    trials = simulated_trials(spec, CampaignEngine(spec).ask(12, 0))
    drawn = space(spec, trials)
    assert drawn["kind"] == "bars"
    bars = space_figure(drawn).data
    assert [b.name for b in bars] == names
    best_first = sorted(trials, key=lambda t: -t.values["y"])
    assert list(bars[0].x) == [f"trial {t.id}" for t in best_first]
    for b in bars:
        assert list(b.y) == [t.composition[b.name] for t in best_first]
