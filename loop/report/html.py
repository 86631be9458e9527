"""One self-contained HTML page from `ReportData`: plotly.js inlined once, no network.

The page is the Jinja2 template loop/report/templates/report.html, with HTML
autoescaping on; its figure sections and tables are macros of
loop/report/templates/parts.html, which the live dashboard's pages import too
(`environment` gives both the same settings). Each figure is stored in the page
as JSON (`<script type="application/json" id="fig-NAME-json">`) and drawn by a
few lines of script, and the whole `ReportData` is embedded the same way
(`id="report-data"`), so scripts and tests can read exactly what the page shows.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from loop.display import composition_text, number, parameters_text
from loop.report import figures, model_figures
from loop.report.data import ReportData


def render_html(data: ReportData) -> str:
    """The report page for *data* (several MB: plotly.js is inlined)."""
    from plotly.offline import get_plotlyjs

    c = data.campaign
    drawn = {
        "progress": data.progress and figures.progress_figure(c, data.progress),
        "best_per_goal": data.progress
        and figures.best_per_goal_figure(c, data.progress),
        "space": data.space and figures.space_figure(data.space),
        "cv": data.cv and model_figures.cv_figure(data.cv),
        "calibration": data.cv
        and model_figures.calibration_figure(data.cv, data.held_out),
        "relevance": data.relevance and model_figures.relevance_figure(data.relevance),
        "pareto": data.pareto and figures.pareto_figure(data.pareto),
        "front_composition": data.pareto
        and figures.front_composition_figure(data.pareto),
        "fidelity": data.fidelity and figures.fidelity_figure(c, data.fidelity),
    }
    page = _report_templates().get_template("report.html")
    # plotly.js is the one text trusted as HTML: the installed package's script
    plotly_js = Markup(get_plotlyjs())
    return page.render(report=data.to_dict(), figures=drawn, plotly_js=plotly_js)


def environment(*loaders: BaseLoader) -> Environment:
    """Jinja2 over *loaders* and the report's templates, as every page needs it.

    Autoescaping is on for every template (and for strings), so stored text
    (descriptions, failure reasons, robot-supplied values) is escaped unless a
    template is told otherwise, and an undefined name is an error rather than an
    empty string. `tojson` writes finite JSON (an acquisition value of -inf
    becomes null, which JSON and plotly understand), keeps the keys in order,
    and escapes `<`, `>`, `&` and `'`, so it is safe inside a script element.
    """
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("loop.report")]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_function"] = _finite_json
    env.policies["json.dumps_kwargs"] = {}
    env.filters["plotly_data"] = lambda figure: json.loads(figure.to_json())
    env.filters["composition"] = composition_text
    env.filters["parameters"] = parameters_text
    env.filters["num"] = number
    env.tests["finite"] = lambda v: v is not None and math.isfinite(v)
    return env


@cache
def _report_templates() -> Environment:
    return environment()


def _finite_json(value: Any) -> str:
    return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
