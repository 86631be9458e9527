"""`loop bench FILE`: replay a dataset campaign with several strategies."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from loop.cli.common import DataRootOption, friendly, out, print_table


class BenchFormat(StrEnum):
    """What `loop bench --format` prints at the end."""

    TABLE = "table"  # for people
    MARKDOWN = "markdown"  # for docs/benchmarks.md and issues
    JSON = "json"  # the whole result, for scripts (as -o writes it)


@friendly
def bench(
    file: Annotated[Path, typer.Argument(help="Dataset campaign YAML file.")],
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategy engines to compare.")
    ] = "botorch,ax,random",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per strategy.")] = 10,
    budget: Annotated[
        int | None,
        typer.Option(min=1, help="Measurements per run (default: the file's)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the full result as JSON."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write an HTML plot of the curves.")
    ] = None,
    data_root: DataRootOption = None,
    output_format: Annotated[
        BenchFormat,
        typer.Option("--format", help="The summary as a table, Markdown or JSON."),
    ] = BenchFormat.TABLE,
) -> None:
    """Replay a dataset campaign with several strategies and compare them."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from loop.bench.plot import write_plot
    from loop.bench.replay import prepare, replay
    from loop.errors import BadInputError
    from loop.spec import load_path
    from loop.spec.strategy import STRATEGY_ENGINES
    from loop.strategies import check_strategy

    spec = load_path(file)
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGY_ENGINES]
    if unknown or not names:
        raise BadInputError(
            f"unknown strategies: {', '.join(unknown) or '(none given)'}",
            f"choose from {', '.join(STRATEGY_ENGINES)}",
        )
    for name in names:  # an optional peer that is missing stops here, not mid-run
        check_strategy(name, spec, pooled=True)
    # the pool is read and the budget checked before any progress is shown
    plan = prepare(spec, budget)
    for line in plan.pool_lines():
        out.print(escape(line), highlight=False)
    columns = (
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    if out.is_terminal:
        with Progress(*columns, console=out) as bar:
            task = bar.add_task("starting", total=seeds * len(names))

            def show(done: int, total: int, message: str) -> None:
                bar.update(task, completed=done, description=escape(message))

            result = replay(plan, names, seeds, show)
    else:
        # a log file or a pipe: one line per run, as it ends

        def logged(done: int, total: int, message: str) -> None:
            out.print(f"bench {done}/{total} {escape(message)}", highlight=False)

        result = replay(plan, names, seeds, logged)
    if output_format is BenchFormat.JSON:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
    elif output_format is BenchFormat.MARKDOWN:
        from loop.bench.tables import markdown

        sys.stdout.write(markdown(result) + "\n")
    else:
        _print_bench(result)
    if output:
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        out.print(f"wrote {output}", highlight=False)
    if plot:
        write_plot(result, plot)
        out.print(f"wrote {plot}", highlight=False)


def _print_bench(result: dict[str, Any]) -> None:
    table = Table(
        title=f"{result['campaign']}: pool {result['pool_size']}, budget {result['budget']}, "
        f"{result['seeds']} seeds (top 1 % = {result['top1_size']}, top 5 % = "
        f"{result['top5_size']} candidates)"
    )
    for col in (
        "strategy",
        "top-1 % found",
        "top-5 % found",
        "EF top-5",
        "AF top-5",
        "best found",
        "found best",
        "to best (median)",
        "s / batch",
    ):
        table.add_column(col, justify="right")
    gaps = any("top5_vs_random" in s for s in result["summary"].values())
    if gaps:
        table.add_column("top-5 % vs random (90 % interval)", justify="right")
    for strategy, s in result["summary"].items():
        gap = s.get("top5_vs_random")
        extra = []
        if gaps:
            extra = [
                "-"
                if gap is None
                else f"{gap['mean']:+.2f} ({gap['low']:+.2f} to {gap['high']:+.2f})"
            ]
        table.add_row(
            strategy,
            f"{s['top1_found']['mean']:.2f} ± {s['top1_found']['sd']:.2f}",
            f"{s['top5_found']['mean']:.2f} ± {s['top5_found']['sd']:.2f}",
            f"{s['ef_top5']:.2f}",
            "-" if s["af_top5"] is None else f"{s['af_top5']:.2f}",
            "-" if s["best"] is None else f"{s['best']['mean']:.4g}",
            s["found_best"],
            "-" if s["to_best_median"] is None else f"{s['to_best_median']:g}",
            "-"
            if s["propose_seconds_median"] is None
            else f"{s['propose_seconds_median']:.2f}",
            *extra,
        )
    print_table(table)
