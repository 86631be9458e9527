"""Plotly figures drawn from `ReportData` sections; no numbers are computed here.

Each function takes one section of the report's data and returns a figure
whose traces carry exactly that section's lists, so what a plot shows can be
checked against the data (tests/report).
"""

from __future__ import annotations

from typing import Any

TEMPLATE = "plotly_white"
GREY = "#9a9a9a"


def label(name: str, unit: str | None) -> str:
    return f"{name} [{unit}]" if unit else name


def percent(share: float | None) -> str:
    """A share as a whole percentage, `-` when there is none."""
    return "-" if share is None else f"{share:.0%}"


def hover_ids(ids: list[int]) -> list[str]:
    return [f"trial {i}" for i in ids]


def progress_figure(campaign: dict[str, Any], progress: dict[str, Any]) -> Any:
    """Best so far (one goal) or hypervolume (several) against measurements."""
    import plotly.graph_objects as go

    goals = [o for o in campaign["objectives"] if o["role"] == "objective"]
    x = progress["measurement"]
    fig = go.Figure()
    if len(goals) == 1:
        goal = goals[0]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=progress["values"][goal["name"]],
                mode="markers",
                name="measured",
                text=hover_ids(progress["trial_ids"]),
                marker={
                    "color": [
                        "#1f77b4" if ok else GREY for ok in progress["acceptable"]
                    ]
                },
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=progress["best"][goal["name"]],
                mode="lines",
                name="best so far",
                line={"shape": "hv", "color": "#d62728"},
            )
        )
        title = f"best {goal['name']} so far ({goal['direction']})"
        y_title = label(goal["name"], goal.get("unit"))
    else:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=progress["hypervolume"],
                mode="lines+markers",
                name="hypervolume",
                line={"shape": "hv"},
                text=hover_ids(progress["trial_ids"]),
            )
        )
        ref = progress["reference_point"] or {}
        units = {g["name"]: g.get("unit") for g in goals}
        where = ", ".join(
            f"{k} {v:.4g}" + (f" {units[k]}" if units.get(k) else "")
            for k, v in ref.items()
        )
        title = f"hypervolume of the acceptable points (reference point: {where})"
        product = " × ".join(g.get("unit") or "1" for g in goals)
        y_title = f"hypervolume ({product})"
    fig.update_layout(
        title=title,
        xaxis_title="measurements",
        yaxis_title=y_title,
        template=TEMPLATE,
    )
    return fig


def space_figure(space: dict[str, Any]) -> Any:
    """Trials in composition space: ternary for three components, else parallel axes."""
    import plotly.graph_objects as go

    colour = space["colour"]
    measured = [i for i, v in enumerate(colour["values"]) if v is not None]
    others = [i for i, v in enumerate(colour["values"]) if v is None]
    ids = space["trial_ids"]
    colour_label = label(colour["name"], colour.get("unit"))
    if space["kind"] == "ternary":
        a, b, c = (axis for axis in space["axes"][:3])
        hover = [
            " ".join(
                [f"trial {ids[i]} ({space['status'][i]})"]
                + [_axis_text(axis, i) for axis in space["axes"][3:]]
            )
            for i in range(len(ids))
        ]
        fig = go.Figure()
        for rows, name, marker in (
            (
                measured,
                "measured",
                {
                    "color": [colour["values"][i] for i in measured],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": colour_label},
                    "size": 10,
                },
            ),
            (others, "not measured", {"color": GREY, "symbol": "x", "size": 9}),
        ):
            fig.add_trace(
                go.Scatterternary(
                    a=[a["values"][i] for i in rows],
                    b=[b["values"][i] for i in rows],
                    c=[c["values"][i] for i in rows],
                    mode="markers",
                    name=name,
                    text=[hover[i] for i in rows],
                    marker=marker,
                )
            )
        fig.update_layout(
            ternary={
                "aaxis": {"title": a["name"]},
                "baxis": {"title": b["name"]},
                "caxis": {"title": c["name"]},
            },
            title=f"measured trials coloured by {colour_label} (failed or in flight: x)",
            template=TEMPLATE,
            legend={"x": 0.0, "y": 1.0},
        )
        return fig
    if space["kind"] == "bars":
        return _composition_bars(space, measured, colour_label)
    dimensions = []
    for axis in space["axes"]:
        dim: dict[str, Any] = {
            "label": label(axis["name"], axis.get("unit")),
            "values": [axis["values"][i] for i in measured],
        }
        if axis["kind"] == "categorical":
            dim["tickvals"] = list(range(len(axis["labels"])))
            dim["ticktext"] = axis["labels"]
        dimensions.append(dim)
    values = [colour["values"][i] for i in measured]
    dimensions.append({"label": colour_label, "values": values})
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": values,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": colour_label},
            },
            dimensions=dimensions,
        )
    )
    fig.update_layout(
        title=f"measured trials, one line each, coloured by {colour_label}",
        template=TEMPLATE,
    )
    return fig


#: Most trials the stacked-bar view shows (the best ones).
MAX_BARS = 40


def _composition_bars(
    space: dict[str, Any], measured: list[int], colour_label: str
) -> Any:
    """Many components: one stacked bar per measured trial, best first, so the
    blends that won can be read off (parallel axes of 9 components cannot)."""
    import plotly.graph_objects as go

    colour = space["colour"]
    sign = -1.0 if colour.get("direction") == "minimize" else 1.0
    order = sorted(measured, key=lambda i: -sign * colour["values"][i])[:MAX_BARS]
    ids = space["trial_ids"]
    ticks = [f"trial {ids[i]}" for i in order]
    hover = [f"{colour_label} {colour['values'][i]:.4g}" for i in order]
    fig = go.Figure(
        [
            go.Bar(
                name=axis["name"],
                x=ticks,
                y=[axis["values"][i] for i in order],
                text=hover,
                hovertemplate="%{x}: " + axis["name"] + " %{y:.3g} (%{text})",
                textposition="none",
            )
            for axis in space["axes"]
            if axis["kind"] == "component"
        ]
    )
    shown = f"the best {len(order)}" if len(order) < len(measured) else "every"
    fig.update_layout(
        barmode="stack",
        title=f"composition of {shown} measured trial, best {colour_label} first",
        yaxis_title="amount",
        template=TEMPLATE,
    )
    return fig


def _axis_text(axis: dict[str, Any], i: int) -> str:
    """A parameter's value at row *i*, for hover text."""
    value = axis["values"][i]
    if axis["kind"] == "categorical":
        return f"{axis['name']}={axis['labels'][value]}"
    return f"{axis['name']}={value:.4g}" if value is not None else ""


def pareto_figure(pareto: dict[str, Any]) -> Any:
    """Acceptable measured points with the Pareto front (pairs of goals if more)."""
    import plotly.graph_objects as go

    goals = pareto["goals"]
    ids, front = pareto["trial_ids"], pareto["front"]
    labels = [label(g["name"], g.get("unit")) for g in goals]
    if len(goals) == 2:
        gx, gy = (g["name"] for g in goals)
        on = sorted(
            (i for i, f in enumerate(front) if f), key=lambda i: pareto["values"][gx][i]
        )
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=pareto["values"][gx],
                y=pareto["values"][gy],
                mode="markers",
                name="measured",
                text=hover_ids(ids),
                marker={"color": GREY},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[pareto["values"][gx][i] for i in on],
                y=[pareto["values"][gy][i] for i in on],
                mode="lines+markers",
                name="Pareto front",
                text=hover_ids([ids[i] for i in on]),
                line={"shape": "hv", "color": "#d62728"},
            )
        )
        if pareto.get("recommended") in ids:
            i = ids.index(pareto["recommended"])
            fig.add_trace(
                go.Scatter(
                    x=[pareto["values"][gx][i]],
                    y=[pareto["values"][gy][i]],
                    mode="markers",
                    name=f"recommended trade-off (trial {ids[i]})",
                    text=hover_ids([ids[i]]),
                    marker={"symbol": "star", "size": 16, "color": "#ff7f0e"},
                )
            )
        fig.update_layout(xaxis_title=labels[0], yaxis_title=labels[1])
    else:
        fig = go.Figure(
            go.Splom(
                dimensions=[
                    {"label": lab, "values": pareto["values"][g["name"]]}
                    for g, lab in zip(goals, labels, strict=True)
                ],
                text=hover_ids(ids),
                marker={"color": ["#d62728" if f else GREY for f in front]},
                name="measured (Pareto front in red)",
            )
        )
    directions = ", ".join(f"{g['name']} {g['direction']}" for g in goals)
    fig.update_layout(title=f"Pareto front ({directions})", template=TEMPLATE)
    return fig


def front_composition_figure(pareto: dict[str, Any]) -> Any:
    """What each Pareto member is made of: one stacked bar per trial, ordered
    along the first goal, so a chemist sees which blend wins where."""
    import plotly.graph_objects as go

    members = pareto.get("members") or []
    if not members or not any(m["composition"] for m in members):
        return None
    names = list(dict.fromkeys(c for m in members for c in m["composition"]))
    first = pareto["goals"][0]["name"]
    ticks = [
        f"trial {m['id']}" + (" *" if m["id"] == pareto.get("recommended") else "")
        for m in members
    ]
    fig = go.Figure(
        [
            go.Bar(name=c, x=ticks, y=[m["composition"].get(c, 0.0) for m in members])
            for c in names
        ]
    )
    fig.update_layout(
        barmode="stack",
        title=f"Composition of the Pareto set, by {first} (* recommended trade-off)",
        yaxis_title="amount",
        template=TEMPLATE,
    )
    return fig


def best_per_goal_figure(campaign: dict[str, Any], progress: dict[str, Any]) -> Any:
    """Several goals: the best acceptable value of each one after each
    measurement, one panel per goal in its own units."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    goals = [o for o in campaign["objectives"] if o["role"] == "objective"]
    if len(goals) < 2:
        return None
    fig = make_subplots(
        rows=len(goals),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[f"{g['name']} ({g['direction']})" for g in goals],
    )
    for row, g in enumerate(goals, start=1):
        fig.add_trace(
            go.Scatter(
                x=progress["measurement"],
                y=progress["best"][g["name"]],
                mode="lines",
                name=f"best {g['name']}",
                line={"shape": "hv"},
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text=label(g["name"], g.get("unit")), row=row, col=1)
    fig.update_xaxes(title_text="measurements", row=len(goals), col=1)
    fig.update_layout(
        title="best so far, per objective",
        height=220 * len(goals) + 80,
        showlegend=False,
        template=TEMPLATE,
    )
    return fig


#: Marker colours of the fidelities, cheapest first (the target is the last used).
LEVEL_COLOURS = ("#9a9a9a", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")


def fidelity_figure(campaign: dict[str, Any], fidelity: dict[str, Any]) -> Any:
    """Every measurement against the cost spent when it arrived, coloured by
    fidelity, the target's best so far as a line, and (right) the cost spent
    at each fidelity against measurements."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    goal = next(o for o in campaign["objectives"] if o["name"] == fidelity["goal"])
    levels = fidelity["levels"]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"{goal['name']} against cost (line: best at {fidelity['target']})",
            "cost spent per fidelity",
        ),
    )
    for i, level in enumerate(levels):
        rows = [k for k, lv in enumerate(fidelity["level"]) if lv == level]
        colour = LEVEL_COLOURS[min(i, len(LEVEL_COLOURS) - 1)]
        fig.add_trace(
            go.Scatter(
                x=[fidelity["cost"][k] for k in rows],
                y=[fidelity["values"][k] for k in rows],
                mode="markers",
                name=level,
                text=hover_ids([fidelity["trial_ids"][k] for k in rows]),
                marker={"color": colour},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(fidelity["cost"]) + 1)),
                y=fidelity["cost_by_level"][level],
                mode="lines",
                name=f"{level} cost",
                line={"color": colour, "shape": "hv"},
            ),
            row=1,
            col=2,
        )
    fig.add_trace(
        go.Scatter(
            x=fidelity["cost"],
            y=fidelity["best"],
            mode="lines",
            name=f"best at {fidelity['target']}",
            line={"shape": "hv", "color": "#d62728"},
        ),
        row=1,
        col=1,
    )
    fig.update_xaxes(title_text="cost spent", row=1, col=1)
    fig.update_yaxes(title_text=label(goal["name"], goal.get("unit")), row=1, col=1)
    fig.update_xaxes(title_text="measurements", row=1, col=2)
    fig.update_yaxes(title_text="cost", row=1, col=2)
    fig.update_layout(template=TEMPLATE)
    return fig
