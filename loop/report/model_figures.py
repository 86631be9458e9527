"""Plotly figures of the model's quality and relevance, drawn from `ReportData`.

Like `loop.report.figures`, nothing is computed here: the traces carry the
lists of the report's `cv` and `relevance` sections.
"""

from __future__ import annotations

from typing import Any

from loop.report.figures import GREY, TEMPLATE, hover_ids, label, percent


def cv_figure(cv: dict[str, Any]) -> Any:
    """Cross-validated prediction (mean ± 1 sd) against measurement, per output."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    outputs = cv["outputs"]
    titles = [
        f"{o['name']}: R² {_fmt(o['r2'])}, RMSE {_fmt(o['rmse'])}" for o in outputs
    ]
    fig = make_subplots(rows=1, cols=len(outputs), subplot_titles=titles)
    for j, o in enumerate(outputs, start=1):
        lo = min(o["measured"] + o["mean"])
        hi = max(o["measured"] + o["mean"])
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                name="prediction = measurement",
                line={"dash": "dot", "color": GREY},
                showlegend=j == 1,
            ),
            row=1,
            col=j,
        )
        fig.add_trace(
            go.Scatter(
                x=o["measured"],
                y=o["mean"],
                error_y={"type": "data", "array": o["sd"], "visible": True},
                mode="markers",
                name=f"{o['name']} (held out)",
                text=hover_ids(cv["trial_ids"]),
            ),
            row=1,
            col=j,
        )
        unit = o.get("unit")
        fig.update_xaxes(title_text=label(f"measured {o['name']}", unit), col=j)
        fig.update_yaxes(title_text=label(f"predicted {o['name']}", unit), col=j)
    fig.update_layout(
        title=f"{cv['k']}-fold cross-validation: predicted mean ± 1 sd",
        template=TEMPLATE,
    )
    return fig


def calibration_figure(cv: dict[str, Any], held_out: dict[str, Any] | None) -> Any:
    """Observed against nominal coverage of central intervals, per output:
    cross-validated, and (where there are any) the predictions stored with
    model proposals against their later measurements."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    outputs = cv["outputs"]
    titles = [
        f"{o['name']}: 90 % interval covers {percent(o['calibration']['coverage']['90%'])}"
        for o in outputs
    ]
    fig = make_subplots(rows=1, cols=len(outputs), subplot_titles=titles)
    for j, o in enumerate(outputs, start=1):
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                name="calibrated",
                line={"dash": "dot", "color": GREY},
                showlegend=j == 1,
            ),
            row=1,
            col=j,
        )
        curves = [("cross-validated", o["calibration"])]
        later = (held_out or {}).get(o["name"])
        if later and later["curve"]:
            curves.append(("predicted before measured", later))
        for k, (name, summary) in enumerate(curves):
            nominal, observed = zip(*summary["curve"], strict=True)
            fig.add_trace(
                go.Scatter(
                    x=list(nominal),
                    y=list(observed),
                    mode="lines+markers",
                    name=f"{name} (n = {summary['n']})",
                    line={"dash": "dash" if k else "solid"},
                    legendgroup=name,
                    showlegend=j == 1,
                ),
                row=1,
                col=j,
            )
        fig.update_xaxes(title_text="nominal coverage", range=[0, 1], col=j)
        fig.update_yaxes(title_text="observed coverage", range=[0, 1.02], col=j)
    fig.update_layout(
        title="Calibration: how often the central intervals hold the measurement",
        template=TEMPLATE,
    )
    return fig


def relevance_figure(relevance: dict[str, Any]) -> Any:
    """Per output: 1 / lengthscale per GP input, and permutation importance."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    outputs = relevance["outputs"]
    perm = relevance["permutation"]
    titles = []
    for name in outputs:
        titles += [f"{name}: 1 / lengthscale", f"{name}: RMSE rise when shuffled"]
    fig = make_subplots(rows=len(outputs), cols=2, subplot_titles=titles)
    for j, name in enumerate(outputs):
        fig.add_trace(
            go.Bar(
                x=relevance["inputs"],
                y=relevance["relevance"][j],
                name=f"{name} relevance",
                showlegend=False,
            ),
            row=j + 1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=perm["inputs"],
                y=perm["rmse_rise"][name],
                name=f"{name} permutation",
                showlegend=False,
            ),
            row=j + 1,
            col=2,
        )
        # log scale: a categorical's one-hot inputs can get lengthscales a
        # million times shorter than a fraction's, which flattened every other bar
        fig.update_yaxes(type="log", row=j + 1, col=1)
    fig.update_layout(
        title="what the model relies on",
        template=TEMPLATE,
        height=320 * len(outputs) + 80,
    )
    return fig


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
