"""One self-contained HTML page from `ReportData`: plotly.js inlined once, no network.

Each figure is stored in the page as JSON (`<script type="application/json"
id="fig-NAME">`) and drawn by a few lines of script, and the whole `ReportData`
is embedded the same way (`id="report-data"`), so scripts and tests can read
exactly what the page shows.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from loop.report import figures, model_figures
from loop.report.data import ReportData

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
p.caption { color: #555; max-width: 60rem; }
.notes { background: #fff8e1; border-left: 4px solid #f0ad4e; padding: 0.5rem 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; } th { background: #f4f4f4; }
.figure { min-height: 420px; }
"""

DRAW = """
for (const div of document.querySelectorAll("div.figure")) {
  const fig = JSON.parse(document.getElementById(div.id + "-json").textContent);
  Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
}
"""

CAPTIONS = {
    "progress": "Each point is one measurement, in the order measurements arrived; "
    "grey points miss an outcome constraint. With several goals the curve is the "
    "hypervolume dominated by the acceptable points, on the scale the model "
    "works on (signed so larger is better, logarithms under transform: log).",
    "space": "Where the trials were placed. Composition values are in the units of "
    "the campaign's total.",
    "cv": "Each measured trial predicted by a GP fitted without it (the engine's own "
    "model and settings). Error bars are ± 1 predicted standard deviation; R² and "
    "RMSE are in the objective's units (predictions under transform: log are "
    "back-transformed as for proposals: the median exp(μ) and spread exp(μ)·σ).",
    "relevance": "Left: 1 / lengthscale of a GP fitted to every measurement, per GP "
    "input on the unit-cube scale (larger: the output changes faster along it). "
    "Right: how much the cross-validated RMSE rises when one input is shuffled "
    "across the measured trials (mean over shuffles; about 0: not used).",
    "pareto": "Acceptable measured trials; red: not beaten on every goal by another.",
}


def render_html(data: ReportData) -> str:
    """The report page for *data* (several MB: plotly.js is inlined)."""
    from plotly.offline import get_plotlyjs

    c = data.campaign
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>loop report: {escape(c['name'])}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{escape(c['name'])}</h1>",
        f"<p>{escape(_summary(c))}</p>",
    ]
    if c["description"]:
        parts.append(f"<p>{escape(c['description'])}</p>")
    if data.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in data.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    if data.progress:
        parts += figure_section(
            "progress", "Progress", figures.progress_figure(c, data.progress)
        )
    if data.space:
        parts += figure_section(
            "space", "Trials in composition space", figures.space_figure(data.space)
        )
    if data.cv:
        parts += figure_section("cv", "Model quality", model_figures.cv_figure(data.cv))
        parts.append(cv_table(data.cv))
    if data.relevance:
        parts += figure_section(
            "relevance",
            "Feature relevance",
            model_figures.relevance_figure(data.relevance),
        )
    if data.pareto:
        parts += figure_section(
            "pareto", "Pareto front", figures.pareto_figure(data.pareto)
        )
    parts += ['<h2 id="trials">Trials</h2>', trial_table(data)]
    parts.append(_json_script("report-data", data.to_dict()))
    parts += [f"<script>{DRAW}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _summary(c: dict[str, Any]) -> str:
    b = c["budget"]
    return (
        f"status {c['status']}; {b['used']} of {b['experiments']} experiments used; "
        f"{c['n_measured']} measured of {c['n_trials']} trials; strategy "
        f"{c['engine']} ({c['acquisition']})"
    )


def figure_section(key: str, title: str, fig: Any) -> list[str]:
    """A heading, caption and figure (its plotly JSON beside it) for page *key*."""
    return [
        f'<h2 id="{key}">{escape(title)}</h2>',
        f'<p class="caption">{escape(CAPTIONS[key])}</p>',
        f'<div class="figure" id="fig-{key}"></div>',
        _json_script(f"fig-{key}-json", json.loads(fig.to_json())),
    ]


def _json_script(element_id: str, payload: Any) -> str:
    """*payload* as JSON inside a script element (safe: no `</` can close it).

    Non-finite numbers (an acquisition value of -inf) become null, which JSON
    and plotly understand.
    """
    text = json.dumps(_finite(payload), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def number_cell(value: Any) -> str:
    """A numeric cell; the exact value is kept in `data-value` for scripts."""
    if value is None or not math.isfinite(value):
        return '<td class="num" data-value="null">-</td>'
    return f'<td class="num" data-value="{json.dumps(value)}">{value:.4g}</td>'


def cv_table(cv: dict[str, Any]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("output", "unit", "role", "transform", "n", "folds", "R²", "RMSE")
    )
    rows = []
    for o in cv["outputs"]:
        rows.append(
            f'<tr data-output="{escape(o["name"])}"><td>{escape(o["name"])}</td>'
            f"<td>{escape(o['unit'] or '')}</td><td>{o['role']}</td>"
            f'<td>{o["transform"]}</td><td class="num">{len(o["measured"])}</td>'
            f'<td class="num">{cv["k"]}</td>{number_cell(o["r2"])}{number_cell(o["rmse"])}</tr>'
        )
    return f'<table id="cv-table"><tr>{head}</tr>{"".join(rows)}</table>'


def trial_table(data: ReportData) -> str:
    """Every trial with its provenance and result."""
    names = [o["name"] for o in data.campaign["objectives"]]
    head = [
        "id",
        "iteration",
        "phase",
        "strategy",
        "status",
        "attempt",
        "composition",
        "parameters",
        "acquisition value",
        *(f"{n} predicted (mean ± sd)" for n in names),
        *(f"{n} measured" for n in names),
        "p(success)",
        "failure reason",
    ]
    rows = []
    for t in data.trials:
        comp = " ".join(f"{k} {v:.4g}" for k, v in t["composition"].items() if v)
        params = " ".join(f"{k}={v}" for k, v in t["parameters"].items())
        predicted = []
        for n in names:
            mean, sd = t["predicted"].get(n, (None, None))
            text = "" if mean is None else f"{mean:.4g}"
            text += "" if sd is None else f" ± {sd:.4g}"
            predicted.append(f'<td class="num">{text}</td>')
        cells = [
            f"<td>{t['id']}</td><td>{t['iteration']}</td><td>{escape(t['phase'])}</td>",
            f"<td>{escape(t['strategy'])}</td><td>{t['status']}</td>",
            f"<td>{t['attempt']}</td><td>{escape(comp)}</td><td>{escape(params)}</td>",
            number_cell(t["acquisition_value"]),
            *predicted,
            *(number_cell(t["measured"].get(n)) for n in names),
            number_cell(t["p_success"]),
            f"<td>{escape(t['failure_reason'] or '')}</td>",
        ]
        css = ' class="failed"' if t["status"] == "failed" else ""
        rows.append(f'<tr data-trial="{t["id"]}"{css}>{"".join(cells)}</tr>')
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f'<table id="trial-table"><tr>{header}</tr>{"".join(rows)}</table>'
