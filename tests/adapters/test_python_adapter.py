"""The python adapter: the lab's own function, found from `adapter.target`, run
through the real CLI on SQLite files; what it raises or returns wrongly is a
failed trial with the reason, never a crash; a bad target is a clear exit 2."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters.python import PythonAdapter, PythonConfig
from loop.cli import app
from loop.errors import LoopError
from loop.ports import DATA_ROOT_ENV, EvaluationRequest
from loop.records import TrialStatus
from loop.spec import CampaignSpec, validate
from loop.storage import Store

#: The lab's module: hardness from the composition and the anneal temperature;
#: a sample annealed above 700 K cracks (the function raises).
LAB_MODULE = """
import threading

THREADS = []


def hardness(composition, parameters, scale=1.0):
    THREADS.append(threading.current_thread().name)
    if parameters["anneal_K"] > 700:
        raise RuntimeError("sample cracked in the furnace")
    return scale * (3.0 * composition["Ni"] + composition["Al"])


RETURNS = {
    "nan": float("nan"),
    "inf": {"hardness": float("inf")},
    "other name": {"strength": 1.0},
    "empty": {},
    "text": "hard",
    "text value": {"hardness": "3.2"},
    "bool": True,
    "none": None,
    "int": 4,
    "with extras": {"hardness": 4.0, "phase": "fcc"},
}


def where(composition, parameters):
    import os

    return {"hardness": composition["Ni"], "pid": os.getpid()}


def answer(composition, parameters, case):
    return RETURNS[case]


def busy(composition, parameters):
    from loop.errors import AdapterError

    raise AdapterError("licence server busy", retryable=True)


not_a_function = 42
"""


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with the lab's module `labmodel.py`, as the working directory."""
    (tmp_path / "labmodel.py").write_text(LAB_MODULE)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("labmodel", None)


def campaign(**adapter: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "own-function",
        "space": {
            "composition": {"components": ["Cu", "Ni", "Al"]},
            "parameters": [
                {"name": "anneal_K", "type": "continuous", "bounds": [400, 900]}
            ],
        },
        "objectives": [{"name": "hardness", "direction": "maximize"}],
        "strategy": {"engine": "random", "batch_size": 4},
        "budget": {"experiments": 12},
        "adapter": {"type": "python", "target": "labmodel:hardness", **adapter},
        "seed": 2,
    }


def test_a_campaign_runs_the_function_on_threads_and_fails_what_it_raises(
    lab_dir: Path,
) -> None:
    data = campaign(options={"scale": 2.0})
    data["executor"] = {"type": "threads", "workers": 2}
    (lab_dir / "campaign.yaml").write_text(yaml.safe_dump(data))
    db = f"sqlite:///{lab_dir / 'loop.db'}"

    result = CliRunner().invoke(app, ["run", "campaign.yaml", "--db", db])

    assert result.exit_code == 0, result.output
    trials = Store(db, create=False).trials("own-function")
    assert len(trials) == 12
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    assert completed and failed and len(completed) + len(failed) == 12
    for t in completed:
        x = {c: v / sum(t.composition.values()) for c, v in t.composition.items()}
        assert t.values["hardness"] == pytest.approx(2.0 * (3.0 * x["Ni"] + x["Al"]))
        assert t.parameters["anneal_K"] <= 700
        assert t.measurement is not None
        assert t.measurement.metadata["function"] == "labmodel:hardness"
    for t in failed:
        # the campaign went on past the exception, which is the trial's reason
        assert t.parameters["anneal_K"] > 700
        assert t.failure_reason == (
            "labmodel:hardness raised RuntimeError: sample cracked in the furnace"
        )
    threads = sys.modules["labmodel"].THREADS
    assert len(threads) == 12 and all(n.startswith("loop-trial-") for n in threads)


@pytest.mark.slow
def test_a_campaign_runs_the_function_in_dask_worker_processes(lab_dir: Path) -> None:
    """`executor: {type: dask}`: a local cluster's worker processes import the
    module themselves (from `adapter.path`) and run every evaluation."""
    models = lab_dir / "models"
    models.mkdir()
    (lab_dir / "labmodel.py").rename(models / "labmodel.py")
    data = campaign(target="labmodel:where", path="models")
    data["budget"] = {"experiments": 4}
    data["strategy"]["batch_size"] = 2
    data["executor"] = {"type": "dask", "workers": 1}
    (lab_dir / "campaign.yaml").write_text(yaml.safe_dump(data))
    db = f"sqlite:///{lab_dir / 'loop.db'}"

    result = CliRunner().invoke(app, ["run", "campaign.yaml", "--db", db])

    assert result.exit_code == 0, result.output
    trials = Store(db, create=False).trials("own-function")
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 4
    pids = set()
    for t in trials:
        assert t.measurement is not None
        assert t.values["hardness"] == pytest.approx(
            t.composition["Ni"] / sum(t.composition.values())
        )
        pids.add(t.measurement.metadata["outputs"]["pid"])
    assert len(pids) == 1 and os.getpid() not in pids  # one worker, not the driver


def _spec(**adapter: Any) -> CampaignSpec:
    return validate(campaign(**adapter))


def _request(spec: CampaignSpec) -> EvaluationRequest:
    return EvaluationRequest(
        campaign=spec.name,
        trial_id=7,
        attempt=1,
        composition={"Cu": 0.25, "Ni": 0.5, "Al": 0.25},
        parameters={"anneal_K": 500.0},
        objectives=[o.name for o in spec.objectives],
        seed=0,
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("nan", "'hardness' = nan is not a finite number"),
        ("inf", "'hardness' = inf is not a finite number"),
        ("other name", "no 'hardness' (its keys: strength)"),
        ("empty", "no 'hardness'"),
        ("text", "'hard', not a number or a dict (hardness)"),
        ("text value", "'3.2' for hardness, not a number"),
        ("bool", "True, not a number or a dict (hardness)"),
        ("none", "None, not a number or a dict (hardness)"),
    ],
)
def test_a_value_that_is_no_measurement_fails_the_trial_with_the_reason(
    lab_dir: Path, case: str, reason: str
) -> None:
    spec = _spec(target="labmodel:answer", options={"case": case})
    adapter = PythonAdapter(PythonConfig.model_validate(spec.adapter), spec)

    result = adapter.evaluate(_request(spec))

    assert result.values == {}
    assert not result.retryable
    assert result.failure == f"labmodel:answer returned {reason}"


def test_a_bare_number_or_a_mapping_is_a_measurement_and_extras_are_kept(
    lab_dir: Path,
) -> None:
    for case, extra in [("int", {}), ("with extras", {"phase": "fcc"})]:
        spec = _spec(target="labmodel:answer", options={"case": case})
        adapter = PythonAdapter(PythonConfig.model_validate(spec.adapter), spec)
        result = adapter.evaluate(_request(spec))
        assert result.failure is None and result.values == {"hardness": 4.0}
        assert result.metadata.get("outputs", {}) == extra


def test_a_retryable_adapter_error_asks_for_another_attempt(lab_dir: Path) -> None:
    spec = _spec(target="labmodel:busy")
    adapter = PythonAdapter(PythonConfig.model_validate(spec.adapter), spec)

    result = adapter.evaluate(_request(spec))

    assert result.retryable
    assert result.failure == "labmodel:busy raised AdapterError: licence server busy"
    assert "Traceback" in result.metadata["traceback"]


def test_the_function_gets_fractions_and_parameters_and_survives_pickling(
    lab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask pickles the adapter to its workers: the function is imported again
    spec = _spec(options={"scale": 1.0})
    adapter = PythonAdapter(PythonConfig.model_validate(spec.adapter), spec)
    sent = pickle.dumps(adapter)
    # a worker elsewhere (another working directory) still finds the module
    monkeypatch.chdir(lab_dir.parent)
    sys.modules.pop("labmodel", None)
    again = pickle.loads(sent)

    result = again.evaluate(_request(spec))

    assert result.values == {"hardness": pytest.approx(3.0 * 0.5 + 0.25)}


@pytest.mark.parametrize(
    ("adapter", "key", "says"),
    [
        (
            {"target": "labmodel.hardness"},
            "adapter.target",
            "not of the form module:function",
        ),
        ({"target": "labmodel:"}, "adapter.target", "not of the form module:function"),
        (
            {"target": "no_such_module:f"},
            "adapter.target",
            "module 'no_such_module' not found",
        ),
        ({"target": "labmodel:hardnes"}, "adapter.target", "has no 'hardnes'"),
        (
            {"target": "labmodel:not_a_function"},
            "adapter.target",
            "is a int, not a function",
        ),
        (
            {"target": "broken:f"},
            "adapter.target",
            "importing module 'broken' failed: SyntaxError",
        ),
        (
            {"options": {"scael": 2}},
            "adapter.target",
            "unexpected keyword argument 'scael'",
        ),
        ({"path": "models"}, "adapter.path", "folder not found: models"),
    ],
)
def test_a_target_that_does_not_load_is_refused_with_its_key(
    lab_dir: Path, adapter: dict[str, Any], key: str, says: str
) -> None:
    (lab_dir / "broken.py").write_text("def f(:\n")
    (lab_dir / "campaign.yaml").write_text(yaml.safe_dump(campaign(**adapter)))

    result = CliRunner().invoke(app, ["validate", "campaign.yaml"])

    assert result.exit_code == 2, result.output
    assert f"{key}: " in result.output and says in result.output
    assert "hint:" in result.output and "Traceback" not in result.output


def test_the_module_is_found_in_adapter_path_from_the_data_root(
    lab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = lab_dir / "shared" / "models"
    models.mkdir(parents=True)
    (lab_dir / "labmodel.py").rename(models / "labmodel.py")
    with pytest.raises(LoopError, match="module 'labmodel' not found"):
        _spec()
    monkeypatch.setenv(DATA_ROOT_ENV, str(lab_dir / "shared"))

    spec = _spec(path="models")
    adapter = PythonAdapter(PythonConfig.model_validate(spec.adapter), spec)

    assert adapter.evaluate(_request(spec)).failure is None
    assert str(models) not in sys.path, "the folder is on the path only to import"
