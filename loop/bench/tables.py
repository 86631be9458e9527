"""`loop bench` results as Markdown, the tables of docs/benchmarks.md.

Nothing is typed by hand: every figure comes from a result (`loop bench -o`).
"""

from __future__ import annotations

from typing import Any


def markdown(result: dict[str, Any]) -> str:
    """The Markdown table of docs/benchmarks.md for one `loop bench` result."""
    o = result["objective"]
    lines = [
        f"### {result['campaign']}",
        "",
        f"Pool {result['pool_size']} candidates, budget {result['budget']} measurements "
        f"({100 * result['budget'] / result['pool_size']:.1f} % of the pool), "
        f"{result['seeds']} seeds; objective `{o['name']}` ({o['direction']}); "
        f"top 5 % = {result['top5_size']} candidates, top 1 % = {result['top1_size']}.",
        "",
        "| strategy | top-5 % found | EF (top 5 %) | AF (top 5 %) | top-1 % found | "
        "found the best | best found (mean) | s per proposal (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in result["summary"].items():
        af = "–" if s["af_top5"] is None else f"{s['af_top5']:.2f}"
        latency = s["propose_seconds_median"]
        lines.append(
            f"| {name} | {s['top5_found']['mean']:.2f} ± {s['top5_found']['sd']:.2f} | "
            f"{s['ef_top5']:.2f} | {af} | "
            f"{s['top1_found']['mean']:.2f} ± {s['top1_found']['sd']:.2f} | "
            f"{s['found_best']} | {s['best']['mean']:.4g} | "
            f"{'–' if latency is None else f'{latency:.2f}'} |"
        )
    return "\n".join(lines)
