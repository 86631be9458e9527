"""Small text views for the terminal: best-so-far sparklines and trial explanations.

They read the status document (`loop.service.campaigns.status_document`) and
the explanation (`loop.service.explain.explain_trial`), never the store.
"""

from __future__ import annotations

from typing import Any

from loop.display import configuration_text
from loop.documents import ExplainDocument
from loop.report.figures import percent

BARS = "▁▂▃▄▅▆▇█"


def _meets(value: float | None, constraint: dict[str, Any]) -> bool:
    if value is None:
        return False
    threshold = constraint["threshold"]
    if constraint["direction"] == "maximize":
        return bool(value >= threshold)
    return bool(value <= threshold)


def best_so_far(
    trials: list[dict[str, Any]],
    objective: dict[str, Any],
    constraints: list[dict[str, Any]] | None = None,
) -> list[float]:
    """Running best of *objective* over measured trials, in trial order.

    A trial that misses one of *constraints* (outcome constraints, as in the
    status document's objectives), or a past measurement kept outside the
    campaign's space (`outside_space`), does not count, as for `best`.
    """
    name, maximize = objective["name"], objective["direction"] == "maximize"
    trace: list[float] = []
    for t in trials:
        value = t["measurements"].get(name)
        if value is None:
            continue
        if t.get("outside_space") or not all(
            _meets(t["measurements"].get(c["name"]), c) for c in constraints or []
        ):
            if trace:  # a measurement that does not count: the best stays
                trace.append(trace[-1])
            continue
        if not trace:
            trace.append(value)
        else:
            trace.append(max(trace[-1], value) if maximize else min(trace[-1], value))
    return trace


def sparkline(values: list[float], width: int = 40) -> str:
    """A one-line chart of *values* (sampled down to *width* characters)."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width - 1)] + [
            values[-1]
        ]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(
        BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + 0.5))]
        for v in values
    )


def best_so_far_lines(doc: dict[str, Any]) -> list[str]:
    """One line per goal: its best-so-far sparkline and current best value."""
    objectives = doc["objectives"]
    constraints = [o for o in objectives if o.get("role") == "constraint"]
    lines = []
    for goal in (o for o in objectives if o.get("role") != "constraint"):
        trace = best_so_far(doc["trials"], goal, constraints)
        if not trace:
            continue
        unit = f" {goal['unit']}" if goal.get("unit") else ""
        lines.append(
            f"best so far  {goal['name']} ({goal['direction']})  "
            f"{sparkline(trace)}  {trace[-1]:.6g}{unit}"
        )
    return lines


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}"


def calibration_lines(
    held_out: dict[str, Any] | None,
    cv: dict[str, Any] | None = None,
    failure: dict[str, Any] | None = None,
) -> list[str]:
    """The model check in a few lines: per output, cross-validated R² and the
    coverage of its 90 % interval; the predictions made before measuring; the
    failure model's AUC and Brier score."""
    lines = []
    for o in (cv or {}).get("outputs", []):
        cal = o["calibration"]
        r2 = "-" if o["r2"] is None else f"{o['r2']:.2f}"
        lines.append(
            f"model check  {o['name']}: cross-validated R² {r2}, 90 % interval "
            f"covers {percent(cal['coverage']['90%'])} of {cal['n']} "
            f"({cal['verdict']})"
        )
    for name, check in (held_out or {}).items():
        if not check["n"]:
            continue
        lines.append(
            f"model check  {name}: predicted before measured, 90 % interval covers "
            f"{percent(check['coverage']['90%'])}, 50 % covers "
            f"{percent(check['coverage']['50%'])} of {check['n']} ({check['verdict']})"
        )
    if failure:
        auc = "-" if failure["auc"] is None else f"{failure['auc']:.2f}"
        lines.append(
            f"failure model  AUC {auc}, Brier {failure['brier']:.3f} (always the "
            f"base rate: {failure['brier_constant']:.3f}), "
            f"{failure['n_failed']} failed of {failure['n_failed'] + failure['n_success']}"
        )
    return lines


def _value(value: Any) -> str:
    """A provenance value, floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _fidelity_text(fidelity: dict[str, Any]) -> str:
    """The level chosen, its cost, and what each level would have told."""
    text = f"{fidelity['level']} (cost {_fmt(fidelity['cost'])}"
    if fidelity.get("rule") == "design":
        return (
            text + "): design (two of three at the cheapest, the third at the target)"
        )
    if fidelity.get("rule") == "fallback":
        return text + "): fallback, the cheapest"
    if fidelity.get("rule") == "included":
        return text + "): the lab's own point (initial_design.include), as it names"
    if fidelity.get("rule") == "capped":
        return text + "): the cheapest level whose max_evaluations is not used up"
    if fidelity.get("rule") == "balance":
        return text + (
            "): the target, so that screening does not outspend it by more than "
            "one target evaluation"
        )
    shares = ", ".join(
        f"{name} {_fmt(v)}" for name, v in (fidelity.get("information") or {}).items()
    )
    return (
        f"{text}): most information about the target per cost; share of its "
        f"uncertainty one evaluation removes: {shares}"
    )


def _transfer_text(transfer: dict[str, Any]) -> str:
    """The sources of a transferring proposal and how much the model leaned on them."""
    rows = ", ".join(f"{n} {k} rows" for n, k in transfer["rows"].items())
    weights = transfer["weights"][0] if transfer["weights"] else {}
    leaned = ", ".join(f"{n} weight {w:.2g}" for n, w in weights.items())
    return f"{', '.join(transfer['sources'])} ({rows}); {leaned or 'no weight'}"


def _domain_text(domain: dict[str, Any]) -> str:
    """The applicability-domain distance in words, a warning when outside."""
    said = (
        f"nearest measurement {domain['ratio']:.2g} typical spacings away "
        f"(distance {domain['nearest']:.3g}, spacing {domain['spacing']:.3g})"
    )
    if domain["outside"]:
        return (
            f"[bold yellow]outside the measured data:[/] {said}; the prediction "
            "here is mostly the model's prior, so this trial explores"
        )
    return said


def _details(details: dict[str, Any] | None) -> str:
    """An event's details in a few words: the job and its state, or the last
    line of a traceback (the exception), else the short plain values."""
    if not details:
        return ""
    if details.get("truncated"):
        return f"details of {details.get('bytes')} bytes, not kept"
    job = details.get("job")
    if isinstance(job, dict):
        words = [f"job {job.get('name')}"]
        words += [f"(id {job['id']})"] if job.get("id") is not None else []
        words += [str(job["state"])] if job.get("state") else []
        return " ".join(words)
    lines = str(details.get("traceback") or "").strip().splitlines()
    if lines:
        return lines[-1].strip()
    plain = (str, int, float, bool)
    return ", ".join(
        f"{k} {_value(v)}" for k, v in details.items() if isinstance(v, plain)
    )


def _short(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def explanation_panel(
    explained: ExplainDocument, units: dict[str, str | None] | None = None
) -> Any:
    """A rich panel of `explain_trial`'s answer; *units* of the parameters."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    doc = explained.model_dump(mode="json")
    t = doc["trial"]
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    head.add_row(
        "configuration",
        escape(configuration_text(t["composition"], t["parameters"], units)),
    )
    head.add_row(
        "status",
        f"{t['status']} (attempt {t['attempt']}), iteration {t['iteration']}, "
        f"strategy {escape(t['strategy'])}",
    )
    head.add_row("phase", escape(doc["reason"]))
    acq = doc["acquisition"]
    if acq["value"] is not None:
        fn = f" ({acq['function']})" if acq["function"] else ""
        head.add_row("acquisition", f"{_fmt(acq['value'])}{fn}")
    model = {k: v for k, v in doc["model"].items() if v is not None}
    domain = model.pop("domain", None)
    transfer = model.pop("transfer", None)
    fidelity = model.pop("fidelity", None)
    if model:
        head.add_row(
            "provenance",
            escape(", ".join(f"{k} {_value(v)}" for k, v in model.items())),
        )
    if domain:
        head.add_row("data nearby", _domain_text(domain))
    if transfer:
        head.add_row("learned from", escape(_transfer_text(transfer)))
    if fidelity:
        head.add_row("fidelity", escape(_fidelity_text(fidelity)))
    for f in doc.get("failures", []):
        said = [x for x in (f["reason"], _details(f["details"])) if x]
        head.add_row(
            f"{f['to_status']} (attempt {f['attempt']})",
            escape(_short(f"from {f['from_status']}: " + "; ".join(said))),
        )
    values = Table(box=None, pad_edge=False)
    for col in ("", "predicted mean", "± sd", "measured", "(measured - mean) / sd"):
        values.add_column(col, justify="right")
    measured = doc["measured"] or {}
    names = list(dict.fromkeys([*doc["predicted"], *measured]))
    for n in names:
        p = doc["predicted"].get(n, {})
        values.add_row(
            escape(n),
            _fmt(p.get("mean")),
            _fmt(p.get("sd")),
            _fmt(measured.get(n)),
            _fmt(doc["surprise"].get(n)),
        )
    near = Table(box=None, pad_edge=False)
    near.add_column("neighbour", no_wrap=True)
    near.add_column("distance", justify="right")
    near.add_column("configuration", overflow="fold", min_width=20)
    shown = list(
        dict.fromkeys(k for nb in doc["neighbours"] for k in nb["measurements"])
    )
    for n in shown:
        near.add_column(escape(n), justify="right")
    near.add_column("before?", no_wrap=True)
    for nb in doc["neighbours"]:
        near.add_row(
            f"trial {nb['id']}",
            f"{nb['distance']:.3g}",
            escape(
                configuration_text(
                    nb["composition"], nb["parameters"], units, compact=True
                )
            ),
            *(_fmt(nb["measurements"].get(n)) for n in shown),
            {True: "yes", False: "no", None: ""}[nb["measured_before"]],
        )
    parts: list[Any] = [head]
    if names:
        parts += ["", values]
    if doc["neighbours"]:
        parts += [
            "",
            "[bold]nearest measured trials[/]",
            near,
            f"[dim]distance: {escape(doc['distance'])}; before?: "
            "measured before this trial was proposed[/]",
        ]
    else:
        parts += ["", "no other measured trial to compare with"]
    return Panel(
        Group(*parts),
        title=f"trial {t['id']} of {escape(doc['campaign'])}",
        expand=False,
    )
