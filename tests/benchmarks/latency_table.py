"""Turn `tests.benchmarks.latency -o` result files into Markdown tables for docs/benchmarks.md.

    .venv/bin/python -m tests.benchmarks.latency_table docs/bench-results/latency-*.json

Nothing is typed by hand: every figure comes from the result files (medians of
the repeats; "—" where an engine was not run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ENGINES = (("botorch", "loop"), ("ax", "Ax"), ("reference", "plain BoTorch"))


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}×"


def grid(case: str, result: dict[str, Any]) -> str:
    """One row per (N, q): cold and warm seconds per engine, and the ratios."""
    rows = result[case]["rows"]
    header = ["N", "q"]
    for key, label in ENGINES:
        header += [f"{label} cold", f"{label} warm"] if key != "reference" else [label]
    header += ["loop / plain BoTorch (cold)", "loop / Ax (cold)"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---:|" * len(header),
    ]
    for r in rows:
        cells = [str(r["n"]), str(r["q"])]
        for key, _ in ENGINES:
            cells.append(_cell(r.get(f"{key}_cold")))
            if key != "reference":
                cells.append(_cell(r.get(f"{key}_warm")))
        cells.append(_ratio(r.get("botorch_cold"), r.get("reference_cold")))
        cells.append(_ratio(r.get("botorch_cold"), r.get("ax_cold")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.files:
        result = json.loads(path.read_text())
        for case in ("simplex", "categorical"):
            if case in result:
                print(
                    f"<!-- {path.name}: {case}, {result['date']}, commit {result['commit']} -->"
                )
                print(grid(case, result))
                print()
        if "electrolyte" in result:
            print(f"<!-- {path.name}: electrolyte, {result['date']} -->")
            print(json.dumps(result["electrolyte"].get("summary", {}), indent=1))
            print()


if __name__ == "__main__":
    main()
