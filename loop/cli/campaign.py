"""Commands about one campaign and its file: validate, schema, run, resume,
inspect, export."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from loop.cli.common import (
    DataRootOption,
    DbOption,
    err,
    friendly,
    out,
    print_table,
    printable,
)
from loop.storage.connection import redact_url


@friendly
def validate(
    file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    data_root: DataRootOption = None,
) -> None:
    """Check a campaign file and list every problem (exit 0 or 2)."""
    from loop.spec import load_path

    spec = load_path(file)
    out.print(f"[green]ok[/] {file}: campaign '{spec.name}' is valid", highlight=False)


@friendly
def schema(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here.")
    ] = None,
    api: Annotated[bool, typer.Option("--api", help="The HTTP API's OpenAPI.")] = False,
) -> None:
    """Print (or write) the JSON Schema of campaign files, for editors."""
    if api:  # the robot HTTP API's, as served (docs/reference/openapi.json)
        from loop.api.app import openapi_document as document
    else:
        from loop.spec.schema import campaign_schema as document
    text = json.dumps(document(), indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@friendly
def run(
    file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    db: DbOption = "sqlite:///loop.db",
    seed: Annotated[int | None, typer.Option(help="Override the file's seed.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Create (or continue) the campaign of FILE and drive it to its budget."""
    from loop.faults import check_env
    from loop.service.campaigns import ensure_campaign
    from loop.spec import load_path, validate
    from loop.storage import Store

    check_env()
    spec = load_path(file)
    if seed is not None:
        spec = validate({**spec.model_dump(mode="json"), "seed": seed}, str(file))
    store = Store(db)
    record, what = ensure_campaign(store, spec)
    out.print(
        f"campaign [bold]{record.name}[/] {what} in {redact_url(db)}", highlight=False
    )
    _drive(store, record.name, db)


@friendly
def resume(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    db: DbOption = "sqlite:///loop.db",
    data_root: DataRootOption = None,
) -> None:
    """Continue a campaign after a stop or crash; nothing is lost or repeated."""
    from loop.faults import check_env
    from loop.storage import Store

    check_env()
    store = Store(db, create=False)
    store.get_campaign(name)
    _drive(store, name, db)


@contextmanager
def _stop_on_signals(received: list[int]) -> Iterator[None]:
    """While driving, Ctrl-C or SIGTERM stop the driver at the next step.

    The first signal only sets the stop flag: the driver finishes the step it
    is in (a write, a model fit; at most a second while evaluations run) and
    leaves by KeyboardInterrupt, which releases the driver lease on its way,
    so `loop resume` can start at once. Stopping between steps keeps the
    interrupt out of database drivers and numerical libraries, which may
    print tracebacks of their own or swallow it. A second Ctrl-C stops at
    once (still safe: every write is one transaction). The signals go into
    *received*.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    from loop.service.runner import stop_requested

    stop_requested.clear()

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            stop_requested.set()
            err.print(
                "\nstopping after the current step"
                + (" (Ctrl-C again to stop at once)" if signum == signal.SIGINT else "")
            )
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _drive(store: Any, name: str, db: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from loop.service.runner import Progress as Step
    from loop.service.runner import run_campaign

    columns = (
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}  {task.fields[message]}"),
    )
    received: list[int] = []
    try:
        with (
            _stop_on_signals(received),
            Progress(*columns, console=out, transient=False) as bar,
        ):
            task = bar.add_task(
                "run", total=None, name=name, best="-", message="starting"
            )

            def show(step: Step) -> None:
                best = "-" if step.best is None else f"{step.best:.6g}"
                if step.warning:
                    err.print(f"warning: {step.warning}", highlight=False, markup=False)
                if not out.is_terminal:
                    # under nohup, systemd or a pipe the bar is not drawn: log lines
                    out.print(
                        f"{name}: {step.used}/{step.budget} used, best {best}, "
                        f"{step.message}",
                        highlight=False,
                        markup=False,
                    )
                bar.update(
                    task,
                    completed=step.used,
                    total=step.budget,
                    best=best,
                    message=step.message,
                )

            summary = run_campaign(store, name, show)
    except KeyboardInterrupt:
        what = (
            "stopped (SIGTERM)" if received[:1] == [signal.SIGTERM] else "interrupted"
        )
        err.print(
            f"\n{what}: every finished step is stored. Continue with:\n"
            f"  {_self_command()} resume {name} --db {redact_url(db)}"
        )
        raise typer.Exit(130) from None
    _print_summary(summary, db)


def _print_summary(summary: Any, db: str) -> None:
    state = (
        "budget reached"
        if summary.finished
        else "every feasible configuration has been tried"
        if summary.exhausted
        else "waiting on trials in flight"
    )
    out.print(
        f"\n[bold]{summary.name}[/]: {state}; {summary.used} of {summary.budget} experiments "
        f"used ({summary.completed} measured, {summary.failed} failed)",
        highlight=False,
    )
    if summary.best is not None:
        best = summary.best
        comp = ", ".join(f"{k} {v:.4g}" for k, v in best.composition.items() if v > 0)
        values = ", ".join(f"{k} = {v:.6g}" for k, v in best.values.items())
        out.print(
            escape(f"best composition: {comp}" if comp else "best configuration:"),
            highlight=False,
        )
        if best.parameters:
            out.print(escape(f"  parameters: {best.parameters}"), highlight=False)
        out.print(f"  {values} (trial {best.id})", highlight=False)
    out.print(
        f"inspect it with:  {_self_command()} inspect {summary.name} "
        f"--db {redact_url(db)}",
        highlight=False,
    )


def _self_command() -> str:
    """How the user can call loop again: `loop` if on PATH, else the path they used."""
    import shutil

    invoked = Path(sys.argv[0])
    on_path = shutil.which("loop")
    if invoked.name == "loop" and (
        on_path is None or Path(on_path).resolve() != invoked.resolve()
    ):
        try:
            return str(invoked.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(invoked)
    return "loop"


class InspectFormat(StrEnum):
    """What `loop inspect --format` prints."""

    TABLE = "table"  # for people: a table, or with --explain a panel
    JSON = "json"  # the document, for scripts
    YAML = "yaml"


@friendly
def inspect(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    db: DbOption = "sqlite:///loop.db",
    output_format: Annotated[
        InspectFormat,
        typer.Option("--format", help="Table, or JSON/YAML for scripts."),
    ] = InspectFormat.TABLE,
    explain: Annotated[
        int | None,
        typer.Option(
            "--explain",
            metavar="TRIAL",
            help="Explain why trial TRIAL was proposed.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show where a campaign stands: budget, trials, best so far."""
    from loop.service.campaigns import status_document
    from loop.storage import Store

    store = Store(db, create=False, read_only=True)
    if explain is not None:
        from loop.report.terminal import explanation_panel
        from loop.service.explain import explain_trial

        explained = explain_trial(store, name, explain)
        if output_format is InspectFormat.TABLE:
            out.print(explanation_panel(explained), soft_wrap=False)
            return
        doc = explained.model_dump(mode="json")
    else:
        doc = status_document(store, name)
    if output_format is InspectFormat.JSON:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif output_format is InspectFormat.YAML:
        sys.stdout.write(
            yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False)
        )
    else:
        _print_table(doc)
        _print_model_check(store, name)


def _print_model_check(store: Any, name: str) -> None:
    """The held-out check of stored predictions (cheap: nothing is fitted)."""
    from loop.report.terminal import calibration_lines
    from loop.service.campaigns import held_out_check

    lines = calibration_lines(held_out_check(store, name))
    for line in lines:
        out.print(escape(line), highlight=False)
    if lines:
        out.print(
            f"[dim]cross-validated calibration and the failure model: "
            f"loop report {escape(name)}[/]",
            highlight=False,
        )


def _print_table(doc: dict[str, Any]) -> None:
    from loop.report.terminal import best_so_far_lines

    budget = doc["budget"]
    out.print(
        f"[bold]{doc['name']}[/] ({doc['status']})  {budget['used']}/{budget['experiments']} "
        f"experiments  "
        + "  ".join(f"{k}: {v}" for k, v in sorted(doc["counts"].items())),
        highlight=False,
    )
    objectives = doc["objectives"]
    table = Table(show_lines=False)
    for col in ("id", "iter", "status", "phase", "composition", "parameters"):
        table.add_column(col)
    for o in objectives:
        table.add_column(
            escape(f"{o['name']}" + (f" [{o['unit']}]" if o.get("unit") else "")),
            justify="right",
        )
    for t in doc["trials"]:
        comp = " ".join(f"{k}{v:.3g}" for k, v in t["composition"].items() if v > 0)
        params = " ".join(f"{k}={v}" for k, v in t["parameters"].items())
        voided = t.get("voided") or {}
        flagged = t.get("flagged") or {}
        vals = [
            f"{t['measurements'][o['name']]:.5g}"
            + (" (held out)" if t.get("held_out") else "")
            if o["name"] in t["measurements"]
            else f"({voided[o['name']]:.5g} voided)"
            if o["name"] in voided
            else f"({flagged[o['name']]:.5g} flagged)"
            if o["name"] in flagged
            else ""
            for o in objectives
        ]
        table.add_row(
            str(t["id"]),
            str(t["iteration"]),
            t["status"],
            t["phase"],
            escape(comp),
            escape(params),
            *vals,
        )
    out.print(table)
    for line in best_so_far_lines(doc):
        out.print(escape(line), highlight=False)
    _print_review(doc)


def _print_review(doc: dict[str, Any]) -> None:
    """Trials whose values wait on an operator: flagged ones (needs_review) and
    completed ones the model holds out, each with why and what resolves it."""
    waiting = [
        (t["id"], t["failure_reason"] if t.get("flagged") else t["held_out"])
        for t in doc["trials"]
        if t.get("held_out") or (t.get("flagged") and t["status"] == "needs_review")
    ]
    if not waiting:
        return
    out.print("[bold]values waiting for review[/] (kept, not in the model):")
    for trial_id, why in waiting:
        out.print(
            f"  trial {trial_id}: {escape(printable(why or ''))}", highlight=False
        )
    out.print(
        f"  resolve with: loop trial amend|void {escape(doc['name'])} ID --reason ... "
        "(a flagged trial may also be retried)",
        highlight=False,
    )


class ExportFormat(StrEnum):
    """What `loop export --format` writes: the formats of `loop.service.export`.

    Spelled out here, not imported, so that starting the command line does not
    load the service layer (a test checks the two agree).
    """

    CSV = "csv"  # one row per trial, nested parts as JSON text
    JSON = "json"  # one list of the trial documents


@friendly
def export(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    output_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="One CSV row per trial, or JSON documents."),
    ] = ExportFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write here instead of stdout."),
    ] = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Export every trial with its measurement, events and provenance."""
    from loop.service.export import render
    from loop.storage import Store

    text = render(Store(db, create=False, read_only=True), name, output_format)
    if output is None:
        if sys.stdout.isatty():  # for the eye: no control character reaches it
            text = printable(text)
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `loop export NAME | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        return
    output.write_text(text, encoding="utf-8")
    out.print(escape(f"wrote {output}"), highlight=False)


@friendly
def list_(
    db: DbOption = "sqlite:///loop.db",
    output_format: Annotated[
        InspectFormat,
        typer.Option("--format", help="Table, or JSON/YAML for scripts."),
    ] = InspectFormat.TABLE,
) -> None:
    """Every campaign in the database: status, budget, best so far."""
    from loop.service.campaigns import overview
    from loop.storage import Store

    rows = overview(Store(db, create=False, read_only=True))
    if output_format is InspectFormat.JSON:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if output_format is InspectFormat.YAML:
        sys.stdout.write(yaml.safe_dump(rows, sort_keys=False))
        return
    if not rows:
        out.print(f"no campaign in {redact_url(db)} yet", highlight=False)
        return
    table = Table()
    for col in ("name", "status", "engine", "adapter", "budget", "trials", "best"):
        table.add_column(
            col, justify="right" if col in ("budget", "trials") else "left"
        )
    for r in rows:
        if r["best"] is not None:
            goal = next(k for k in r["best"] if k not in ("trial", "unit"))
            unit = f" {r['best']['unit']}" if r["best"]["unit"] else ""
            best = f"{goal} {r['best'][goal]:.6g}{unit} (trial {r['best']['trial']})"
        elif r["pareto"] is not None:
            best = f"{r['pareto']} on the Pareto front"
        else:
            best = "-"
        table.add_row(
            escape(r["name"]),
            r["status"],
            escape(r["engine"]),
            escape(r["adapter"]),
            f"{r['budget']['used']}/{r['budget']['experiments']}",
            str(r["trials"]),
            escape(best),
        )
    print_table(table)
