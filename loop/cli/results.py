"""Reading a campaign: `loop list`, `loop inspect` and `loop export`.

They open the database read-only and never need the campaign's adapter.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from loop.cli.common import DbOption, friendly, out, print_table, printable
from loop.display import composition_text, parameter_units, parameters_text
from loop.storage.connection import redact_url


def _flag(value: bool | None, no: str = "no") -> str:
    """A yes/no table cell; blank when it does not apply (not measured)."""
    return "" if value is None else "yes" if value else no


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
        _print_adapter_note(doc["spec"]["adapter"]["type"])


def _print_adapter_note(kind: str) -> None:
    """Say so when the campaign's adapter is not usable here (not installed)."""
    from loop.plugins import adapter_problem

    problem = adapter_problem(kind)
    if problem is not None:
        out.print(
            f"[yellow]note:[/] the adapter of this campaign is not available here "
            f"({escape(problem.message)}); it reads from what is stored, but "
            f"`loop resume` needs the package that provides '{escape(kind)}'",
            highlight=False,
        )


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
    cost = (
        f"cost {budget['cost_spent']:.4g}/{budget['cost']:.4g}  "
        if budget.get("cost") is not None
        else ""
    )
    if budget.get("cost_by_fidelity"):
        levels = ", ".join(
            f"{k} {v:.4g}" for k, v in budget["cost_by_fidelity"].items()
        )
        cost = f"{cost.rstrip()} ({levels})  "
    out.print(
        f"[bold]{doc['name']}[/] ({doc['status']})  {budget['used']}/{budget['experiments']} "
        f"experiments  {cost}"
        + "  ".join(f"{k}: {v}" for k, v in sorted(doc["counts"].items())),
        highlight=False,
    )
    objectives = doc["objectives"]
    units = parameter_units(doc["spec"])
    table = Table(show_lines=False)
    for col in ("id", "iter", "status", "phase", "composition", "parameters"):
        table.add_column(col)
    for o in objectives:
        table.add_column(
            escape(f"{o['name']}" + (f" [{o['unit']}]" if o.get("unit") else "")),
            justify="right",
        )
    # which measured trials count: outcome constraints met, in the Pareto set
    constrained = any(o.get("role") == "constraint" for o in objectives)
    several = "pareto" in doc
    if constrained:
        table.add_column("feasible")
    if several:
        table.add_column("pareto")
    for t in doc["trials"]:
        comp = composition_text(t["composition"], compact=True, digits=3)
        params = parameters_text(t["parameters"], units)
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
            t["phase"] + (" (outside)" if t.get("outside_space") else ""),
            escape(comp),
            escape(params),
            *vals,
            *([_flag(t["feasible"])] if constrained else []),
            *([_flag(t["is_pareto"], no="")] if several else []),
        )
    print_table(table)
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
