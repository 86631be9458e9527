"""Benchmark: does the engine stop proposing where experiments fail?

The electrolyte campaign with an injected failure region (every blend with EC
between 0.3 and 0.6 fails, which covers the high-conductivity side) runs with
the GP strategy and with random search. The script prints how many of the
budget's experiments each spent inside the failing region, the best
conductivity each found, and for the GP strategy how well its failure model
tells the two apart: the cross-validated ROC AUC and Brier score that
`loop report` shows (from the campaign's last stored fit), beside the Brier
score of always predicting the base rate.

    .venv/bin/python -m tests.benchmarks.failure_region --seeds 5 --budget 24

`--acquisition qLogNEI` runs botorch with that function instead of its default.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from loop.records import TrialStatus
from loop.report.quality import model_quality
from tests.benchmarks.common import (
    ROOT,
    acquisition_option,
    mean_sd,
    run_variant,
    variant,
    with_acquisition,
)


def campaign(budget: int) -> dict:
    data = yaml.safe_load((ROOT / "campaigns" / "electrolyte.yaml").read_text())
    data["name"] = "electrolyte-failures"
    data["adapter"]["failures"] = {"region": {"EC": [0.3, 0.6]}}
    data["strategy"] = {"initial_design": {"size": 6}, "batch_size": 2}
    data["budget"] = {"experiments": budget}
    return data


def failure_model(data: dict, seed: int, workdir: Path) -> dict:
    """The report's check of the botorch run's failure model (AUC, Brier)."""
    spec, store = variant(data, "botorch", seed, workdir)
    quality = model_quality(
        spec, store.trials(spec.name), fit=store.latest_fit(spec.name)
    )
    assert quality.failure is not None, "a run with failures has a failure model"
    return quality.failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=24)
    acquisition_option(parser)
    args = parser.parse_args()
    data = with_acquisition(campaign(args.budget), args.acquisition)
    failed: dict[str, list[float]] = {"botorch": [], "random": []}
    after_design: dict[str, list[float]] = {"botorch": [], "random": []}
    best: dict[str, list[float]] = {"botorch": [], "random": []}
    checks: dict[str, list[float]] = {"auc": [], "brier": [], "brier_constant": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            line = [f"seed {seed}:"]
            for engine in failed:
                trials, seconds = run_variant(data, engine, seed, Path(tmp))
                n_failed = sum(t.status is TrialStatus.FAILED for t in trials)
                late = sum(t.status is TrialStatus.FAILED for t in trials[6:])
                top = max(t.values["conductivity"] for t in trials if t.measurement)
                failed[engine].append(n_failed)
                after_design[engine].append(late)
                best[engine].append(top)
                line.append(
                    f"{engine}: {n_failed} failed ({late} after the first 6), "
                    f"best {top:.2f} mS/cm ({seconds:.0f} s)"
                )
            check = failure_model(data, seed, Path(tmp))
            for key in checks:
                checks[key].append(check[key])
            line.append(
                f"failure model AUC {check['auc']:.2f}, Brier {check['brier']:.3f} "
                f"(base rate {check['brier_constant']:.3f})"
            )
            print("  ".join(line), flush=True)
    print(f"\nover {args.seeds} seeds, budget {args.budget} (mean ± sd):")
    for engine in failed:
        print(
            f"  {engine:8s} failed experiments {mean_sd(failed[engine])}, "
            f"of which after the first 6 {mean_sd(after_design[engine])}; "
            f"best conductivity {mean_sd(best[engine])} mS/cm"
        )
    print(
        f"  botorch's failure model (cross-validated, as in loop report): "
        f"AUC {mean_sd(checks['auc'])}, Brier {mean_sd(checks['brier'])} "
        f"(always the base rate: {mean_sd(checks['brier_constant'])})"
    )


if __name__ == "__main__":
    main()
