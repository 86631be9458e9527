"""One self-contained HTML page of a bench result: best so far and top 5 % found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loop.bench.metrics import carried, mean_and_band

COLOURS = {
    "botorch": "#1f77b4",
    "ax": "#ff7f0e",
    "baybe": "#d62728",
    "random": "#7f7f7f",
    "sobol": "#2ca02c",
}


def write_plot(result: dict[str, Any], path: Path) -> None:
    """`bench_figure` as a self-contained HTML page at *path*."""
    path.write_text(
        bench_figure(result).to_html(include_plotlyjs=True, full_html=True),
        encoding="utf-8",
    )


def bench_figure(result: dict[str, Any]) -> Any:
    """Mean curves with 95 % confidence bands per strategy, vs measurements."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    objective = result["objective"]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"best {objective['name']} so far ({objective['direction']})",
            f"fraction of the pool's top 5 % found ({result['top5_size']} candidates)",
        ),
    )
    for strategy, runs in result["runs"].items():
        colour = COLOURS.get(strategy, "#9467bd")
        for col, key, empty in ((1, "best_so_far", None), (2, "top5_found", 0.0)):
            curves = carried([r[key] for r in runs], result["budget"], empty)
            if not curves:
                continue  # no run of this strategy measured anything
            mean, band = mean_and_band(curves)
            low, high = mean - band, mean + band
            if key == "top5_found":  # a fraction: its band stays inside [0, 1]
                low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
            x = list(range(1, len(mean) + 1))
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=list(high) + list(low[::-1]),
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.2,
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=list(mean),
                    name=strategy,
                    line={"color": colour},
                    legendgroup=strategy,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="measurements")
    fig.update_layout(
        title=f"{result['campaign']}: pool of {result['pool_size']}, "
        f"{result['seeds']} seeds, budget {result['budget']}",
        template="plotly_white",
    )
    return fig
