"""What `loop run` and `loop inspect` print for a two-objective lab campaign:
the Pareto set with values and units, process parameters on their resolution
grid and rounded for reading."""

from __future__ import annotations

import csv
import io
import json

import yaml
from typer.testing import CliRunner

from loop.cli import app
from tests.conftest import CAMPAIGNS

runner = CliRunner()


def test_a_two_objective_run_ends_with_its_pareto_set_and_rounded_parameters(
    tmp_path, write_yaml
) -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte-mixed.yaml").read_text())
    data["budget"]["experiments"] = 8  # the initial design: no model fit needed
    db = f"sqlite:///{tmp_path / 'e.db'}"
    run = runner.invoke(app, ["run", str(write_yaml(data)), "--db", db])
    assert run.exit_code == 0, run.output
    assert "Pareto set:" in run.stdout
    # the progress lines (stdout is not a terminal) say how the front grows
    assert "8/8 used, Pareto set of " in run.stdout
    assert ", hypervolume " in run.stdout.split("8/8 used, Pareto set of ")[1]
    # and the summary states what the hypervolume is measured against
    (hv_line,) = [s for s in run.stdout.splitlines() if s.startswith("hypervolume ")]
    assert "mS/cm·USD/kg above conductivity " in hv_line and "USD/kg" in hv_line
    assert "conductivity = " in run.stdout and " mS/cm" in run.stdout
    shown = json.loads(
        runner.invoke(
            app, ["inspect", "electrolyte-mixed", "--db", db, "--format", "json"]
        ).stdout
    )
    pareto = {t["id"] for t in shown["pareto"]}
    assert pareto and all(f"trial {i}:" in run.stdout for i in pareto)
    recommended = run.stdout.split("recommended trade-off: trial ")[1].split()[0]
    assert int(recommended) in pareto
    # `resolution: 1` K: every proposed temperature is a whole number of kelvin
    temperatures = [t["parameters"]["temperature"] for t in shown["trials"]]
    assert all(float(t).is_integer() for t in temperatures), temperatures
    table = runner.invoke(app, ["inspect", "electrolyte-mixed", "--db", db])
    assert table.exit_code == 0
    flat = " ".join(table.stdout.split())
    assert f"temperature={int(temperatures[0])} K" in flat
    # which trials count: the viscosity limit met, and in the Pareto set
    assert {t["id"] for t in shown["trials"] if t["is_pareto"]} == pareto
    for t in shown["trials"]:
        limit_met = t["measurements"]["viscosity"] <= 4.0
        assert t["feasible"] is limit_met
        assert not (t["is_pareto"] and not limit_met)
    header = table.stdout.splitlines()[2]
    assert "feasible" in header and "pareto" in header
    export = runner.invoke(app, ["export", "electrolyte-mixed", "--db", db])
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert {int(r["id"]) for r in rows if r["is_pareto"] == "true"} == pareto
