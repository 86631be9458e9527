"""Torch and BLAS threads are chosen on purpose in every entry point (loop/threads.py).

Thread settings belong to a process, so each entry point runs in a fresh Python
process whose thread variables the test sets (`make test` exports
OMP_NUM_THREADS=1; it is removed here unless a test sets it), and that process
reports what is in effect after the command: torch's thread count and each
BLAS/OpenMP pool's (`loop.threads.thread_info`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import BadInputError
from loop.threads import DEFAULT_THREADS, choose_threads
from tests.conftest import CAMPAIGNS, ROOT

THREAD_VARIABLES = ("LOOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

CAMPAIGN = """\
schema_version: 1
name: threads-simplex
space:
  composition: {kind: species, components: [A, B, C]}
objectives:
  - {name: y, direction: maximize}
strategy: {initial_design: {size: 5}, batch_size: 1}
budget: {experiments: 5}
adapter: {type: simulator, function: simplex-bumps}
seed: 1
"""


def fresh(code: str, **env: str) -> dict[str, Any]:
    """Run *code* in a new Python process with only *env*'s thread variables set;
    return the JSON object it prints last."""
    environ = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def after_cli(args: list[str], **env: str) -> dict[str, Any]:
    """`loop ARGS` in a fresh process, then the threads in effect in it."""
    return fresh(
        "import json\n"
        "from loop.cli import app\n"
        f"code = app({args!r}, standalone_mode=False)\n"
        "from loop.threads import thread_info\n"
        "print(json.dumps({'exit': code or 0, **thread_info()}))\n",
        **env,
    )


def assert_threads(info: dict[str, Any], count: int, source: str) -> None:
    assert info.get("exit", 0) == 0, info
    assert info["threads"] == count, info
    assert info["source"] == source, info
    # numpy's and scipy's OpenBLAS and torch's OpenMP, all limited alike
    assert {p["api"] for p in info["pools"]} >= {"openblas", "openmp"}, info
    assert all(p["threads"] == count for p in info["pools"]), info


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small campaign run to its budget by `loop run` with no thread variable
    set: its database URL and the threads `loop run` ran with."""
    folder = tmp_path_factory.mktemp("threads")
    path = folder / "campaign.yaml"
    path.write_text(CAMPAIGN)
    url = f"sqlite:///{folder / 'loop.db'}"
    return {"url": url, "run": after_cli(["run", str(path), "--db", url])}


def test_loop_run_uses_one_thread_by_default(measured: dict[str, Any]) -> None:
    assert DEFAULT_THREADS == 1
    assert_threads(measured["run"], 1, "default")


def test_loop_report_takes_loop_threads_over_omp_num_threads(
    measured: dict[str, Any], tmp_path: Path
) -> None:
    # one thread here: the report fits GPs, and the test machine may be shared
    out = tmp_path / "report.html"
    args = ["report", "threads-simplex", "--db", measured["url"], "-o", str(out)]
    info = after_cli(args, LOOP_THREADS="1", OMP_NUM_THREADS="2")
    assert_threads(info, 1, "LOOP_THREADS")
    assert out.is_file()


def test_loop_resume_honours_loop_threads(measured: dict[str, Any]) -> None:
    info = after_cli(
        ["resume", "threads-simplex", "--db", measured["url"]], LOOP_THREADS="2"
    )
    assert_threads(info, 2, "LOOP_THREADS")


def test_loop_bench_respects_omp_num_threads_when_loop_threads_is_unset() -> None:
    args = [
        "bench",
        str(CAMPAIGNS / "perovskite-replay.yaml"),
        "--strategies",
        "random",
        "--seeds",
        "1",
        "--budget",
        "6",
    ]
    assert_threads(after_cli(args, OMP_NUM_THREADS="2"), 2, "OMP_NUM_THREADS")


def test_threads_option_beats_both_variables_in_loop_serve(
    measured: dict[str, Any],
) -> None:
    # uvicorn.run replaced: when serving starts torch is not loaded yet, and
    # the first model fit (ensure_threads) applies --threads over both variables
    info = fresh(
        "import json, sys, uvicorn\n"
        "from loop.cli import app\n"
        "from loop.threads import ensure_threads, thread_info\n"
        "seen = {}\n"
        "def serving(served, **kw):\n"
        "    assert 'torch' not in sys.modules, 'loop serve imported torch'\n"
        "    ensure_threads()\n"
        "    seen.update(thread_info())\n"
        "uvicorn.run = serving\n"
        f"code = app(['--threads', '2', 'serve', '--db', {measured['url']!r}], "
        "standalone_mode=False)\n"
        "print(json.dumps({'exit': code or 0, **seen}))\n",
        LOOP_THREADS="3",
        OMP_NUM_THREADS="3",
    )
    assert_threads(info, 2, "--threads")


@pytest.mark.parametrize(
    ("env", "count", "source"),
    [({}, 1, "default"), ({"LOOP_THREADS": "2"}, 2, "LOOP_THREADS")],
)
def test_create_app_applies_threads_without_the_cli(
    measured: dict[str, Any], env: dict[str, str], count: int, source: str
) -> None:
    """An app factory run under another server (uvicorn --factory, gunicorn):
    it loads no torch (an idle server stays small), and the count it recorded
    is what the first model fit (the dashboard's model page) applies."""
    info = fresh(
        "import json, sys\n"
        "from loop.api import create_app\n"
        "from loop.storage import Store\n"
        f"create_app(Store({measured['url']!r}, create=False))\n"
        "assert 'torch' not in sys.modules, 'create_app imported torch'\n"
        "from loop.threads import ensure_threads, thread_info\n"
        "ensure_threads()  # what loop.report.quality calls before fitting\n"
        "print(json.dumps(thread_info()))\n",
        **env,
    )
    assert_threads(info, count, source)


def test_python_api_configure_threads_is_kept_by_later_model_work() -> None:
    # ensure_threads is what the engine, the driver and the report call first
    info = fresh(
        "import json\n"
        "from loop.threads import configure_threads, ensure_threads, thread_info\n"
        "assert configure_threads(2) == 2\n"
        "assert ensure_threads() == 2\n"
        "print(json.dumps(thread_info()))\n",
        LOOP_THREADS="3",
    )
    assert_threads(info, 2, "configure_threads()")


def test_validate_with_threads_does_not_load_torch() -> None:
    info = fresh(
        "import json, sys\n"
        "from loop.cli import app\n"
        "code = app(['--threads', '2', 'validate', 'campaigns/alloy-emt.yaml'], "
        "standalone_mode=False)\n"
        "print(json.dumps({'exit': code or 0, 'torch': 'torch' in sys.modules}))\n"
    )
    assert info == {"exit": 0, "torch": False}


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--threads", "0"], {}, "--threads 0"),
        (["--threads", "-2"], {}, "--threads -2"),
        ([], {"LOOP_THREADS": "abc"}, "LOOP_THREADS='abc'"),
        ([], {"LOOP_THREADS": "0"}, "LOOP_THREADS='0'"),
        ([], {"LOOP_THREADS": "-1"}, "LOOP_THREADS='-1'"),
        ([], {"OMP_NUM_THREADS": "many"}, "OMP_NUM_THREADS='many'"),
    ],
)
def test_bad_thread_settings_exit_2_naming_the_setting(
    args: list[str], env: dict[str, str], named: str
) -> None:
    unset: dict[str, str | None] = dict.fromkeys(THREAD_VARIABLES)
    result = CliRunner().invoke(
        app,
        [*args, "validate", str(CAMPAIGNS / "alloy-emt.yaml")],
        env={**unset, **env},
    )
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.output


def test_choice_order_and_parsing() -> None:
    assert choose_threads(None, {}).count == DEFAULT_THREADS
    assert choose_threads(None, {"LOOP_THREADS": " "}).source == "default"
    omp = {"OMP_NUM_THREADS": "4,2", "MKL_NUM_THREADS": "3"}
    assert choose_threads(None, omp) == choose_threads(None, {"OMP_NUM_THREADS": "4"})
    assert choose_threads(None, {"MKL_NUM_THREADS": "3"}).count == 3
    assert choose_threads(None, {**omp, "LOOP_THREADS": "5"}).count == 5
    assert choose_threads(6, {**omp, "LOOP_THREADS": "5"}).count == 6
    with pytest.raises(BadInputError, match=r"configure_threads\(0\)"):
        choose_threads(0, {})
    with pytest.raises(BadInputError, match="LOOP_THREADS='1.5'"):
        choose_threads(None, {"LOOP_THREADS": "1.5"})


def test_engine_ask_applies_the_default() -> None:
    """A notebook that only builds an engine and asks gets one thread, not one per core."""
    info = fresh(
        "import json\n"
        "from loop.engine import CampaignEngine\n"
        "from loop.spec import validate\n"
        "from tests.benchmarks.latency import campaign\n"
        "CampaignEngine(validate(campaign('botorch', 1))).ask(1, 0)\n"
        "from loop.threads import thread_info\n"
        "print(json.dumps(thread_info()))\n"
    )
    assert_threads(info, 1, "default")
