"""Turn `loop bench -o` result files into the Markdown tables of docs/benchmarks.md.

    .venv/bin/python -m tests.benchmarks.bench_table RESULT.json [...]

Nothing is typed by hand: every figure comes from the result files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loop.bench.tables import markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.results:
        print(markdown(json.loads(path.read_text())))
        print()


if __name__ == "__main__":
    main()
