"""Turn `loop bench -o` result files into the Markdown tables of docs/benchmarks.md.

    .venv/bin/python -m tests.benchmarks.bench_table RESULT.json [...]

Nothing is typed by hand: every figure comes from the result files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(result: dict) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.results:
        print(table(json.loads(path.read_text())))
        print()


if __name__ == "__main__":
    main()
