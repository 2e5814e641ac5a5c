"""The runs the sweep takes from another recipe's trusted runs, made again and compared with them point for point.

:func:`sb3_finetune.sweep.match_records` takes a stored run whose trust gate trusted the prior for a spec whose recipe
differs from the stored one's only in fields that act where the gate stands the prior down
(:data:`sb3_finetune.experiment.STAND_DOWN_ONLY`): up to the gate's decision those fields are not read, and after a
trusting one they do nothing, so the run is the same step for step. The unit tests check it on a run of a hundred
steps; this script checks it on the scenarios' own runs. For each spec of today's default recipe (``--scenarios`` x
``--algos`` x ``--seeds``) that the stored results answer with such a run (``same_run_as``), it trains the spec
afresh into ``--out`` and compares the two curves, evaluation by evaluation (wall-clock times aside).

Whether two runs are the same point for point also depends on the floating-point path (package builds, machine):
a difference is reported as one, whatever its cause.

Run: ``python benchmarks/trusted_runs.py --results benchmarks/results/frontier.jsonl,...`` (the scoreboard's files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _args import results_files, run_script, write_summary

from sb3_finetune.cli import UsageError
from sb3_finetune.experiment import SCENARIOS, RunSpec
from sb3_finetune.sweep import load_all, match_records, run_sweep


@dataclass
class Args:
    """Command-line arguments."""

    scenarios: str = "same-task,obstacle,sparse-goal,pendulum-heavy,mountaincar-weak,pointmaze-umaze"
    """scenarios (those where the gate trusted the prior in every stored run of the default)"""
    algos: str = "td3,sac,ddpg"
    """algorithms"""
    seeds: str = "0"
    """seeds, comma-separated"""
    results: str = "benchmarks/results/transfer.jsonl"
    """the stored runs (comma-separated; read only)"""
    out: str = "benchmarks/results/trusted_runs.jsonl"
    """where the runs made again go (JSON lines, resumable)"""
    summary: str = "benchmarks/results/trusted_runs.summary.json"
    """the comparison (JSON)"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    workers: int = 2
    """parallel runs"""


def without_times(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A curve's evaluations without their wall-clock times (the only figures that differ between two equal runs)."""
    return [{key: value for key, value in point.items() if key != "wall_s"} for point in curve]


def main(args: Args) -> list[dict[str, Any]]:
    for scenario in args.scenarios.split(","):
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
    specs = [
        RunSpec(scenario, algo, "default", int(seed))
        for scenario in args.scenarios.split(",")
        for algo in args.algos.split(",")
        for seed in args.seeds.split(",")
    ]
    found = match_records(specs, load_all(results_files(args.results)))
    taken = [spec for spec in specs if "same_run_as" in found.get(spec.key, {})]
    made = run_sweep(taken, args.out, args.cache, workers=args.workers)
    rows = []
    for spec in specs:
        stored = found.get(spec.key)
        row: dict[str, Any] = {"scenario": spec.scenario, "algo": spec.algo, "seed": spec.seed}
        if stored is None or "same_run_as" not in stored:
            row["stored"] = "none" if stored is None else "its own run"
        else:
            fresh = made[spec.key]
            row["stored"] = stored["same_run_as"]
            row["same"] = without_times(fresh["curve"]) == without_times(stored["curve"])
            row["evaluations"] = len(fresh["curve"])
            row["gate_trusted"] = fresh["gate"]["trusted"] if fresh.get("gate") else None
        rows.append(row)
        print(f"{spec.scenario}/{spec.algo}/seed={spec.seed}: {row.get('same', row['stored'])}")
    compared = [row for row in rows if "same" in row]
    print(
        f"{sum(row['same'] for row in compared)} of {len(compared)} runs made again are the stored run point for point"
    )
    write_summary(args, rows, args.summary)
    return rows


if __name__ == "__main__":
    run_script(main, Args, __doc__)
