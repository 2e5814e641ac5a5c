"""Steps to the threshold with the fine-tuned arm evaluated on scratch's own grid.

The sweeps evaluate a run every 20th of its budget counted from its last evaluation, and a fine-tuned run is also
evaluated where its warm-up ends; so its later evaluations follow the warm-up's end (on drift, a stood-down run whose
probes end at 629 is evaluated at 929, 1,229, ...), while scratch's fall on the multiples of the interval (900, 1,200,
...). A run's recorded step is the first evaluation at or past the threshold, so the offset moves each run's figure by
up to one interval, either way. This script makes today's default's runs again with the evaluations on the multiples of
the interval (and at step 0 and the warm-up's end, as before), takes the step to the threshold from the multiples alone
(scratch's grid), and compares with the scoreboard's scratch runs (IQM ratio, stratified bootstrap 95% interval). The
evaluations draw from no generator that training uses (their own env; deterministic actions), but moving them can
still change a run at the rounding level (the memory they allocate at other moments), which then grows: the script
counts the runs whose evaluation at the budget is the stored run's.

Run: ``python benchmarks/aligned_grid.py --results benchmarks/results/frontier.jsonl,...`` (the scoreboard's files).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch as th
from _args import results_files, run_script, write_summary
from recipe_ablation import variant_setup

from sb3_finetune.cli import UsageError
from sb3_finetune.evaluation import LearningCurveCallback
from sb3_finetune.experiment import SCENARIOS, RunSpec
from sb3_finetune.stats import iqm_ratio_interval
from sb3_finetune.sweep import load_all, match_records


@dataclass
class Args:
    """Command-line arguments."""

    scenarios: str = "drift,goal-moved"
    """scenarios (those whose fine-tuned grid is offset from scratch's: the warm-up ends off the interval)"""
    algos: str = "td3,sac,ddpg"
    """algorithms"""
    seeds: int = 10
    """seeds with TD3 and SAC"""
    ddpg_seeds: int = 5
    """seeds with DDPG"""
    results: str = "benchmarks/results/transfer.jsonl"
    """the scoreboard's results files (comma-separated; read only): its scratch runs and today's default's"""
    out: str = "benchmarks/results/aligned_grid.json"
    """summary file"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    workers: int = 2
    """parallel runs"""


class AlignedCurve(LearningCurveCallback):
    """:class:`LearningCurveCallback` evaluating on the multiples of ``eval_freq`` (and where training (re)starts)."""

    def _on_step(self) -> bool:
        if self.num_timesteps // self.eval_freq > self._last // self.eval_freq:
            self._evaluate()
        return True


def aligned_run(job: tuple[str, str, int, str]) -> dict[str, Any]:
    """Today's default's run of a scenario, algorithm and seed, evaluated on the multiples of the sweep's interval."""
    scenario_name, algo, seed, cache = job
    th.set_num_threads(1)
    scenario = SCENARIOS[scenario_name]
    spec = RunSpec(scenario_name, algo, "default", seed)
    every = max(scenario.budget // 20, 1)
    setup = variant_setup(scenario_name, algo, "default", seed, cache)
    curve = AlignedCurve(scenario.env_id, scenario.target, every, spec.eval_episodes)
    setup.learn(scenario.budget, callback=curve)
    if curve.curve[-1]["step"] != setup.model.num_timesteps:
        curve._evaluate()
    return {"key": spec.key, "every": every, "curve": curve.curve}


def _figures(point: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's own figures (not its wall-clock time, nor the expert's, which the runs here do not evaluate)."""
    return {key: point[key] for key in ("step", "episodes", "success_rate", "mean_return", "std_return", "mean_length")}


def steps_on_grid(curve: list[dict[str, Any]], every: int, scenario_name: str) -> float:
    """The first multiple of ``every`` (step 0 included) evaluated at or past the threshold (the budget if none)."""
    scenario = SCENARIOS[scenario_name]
    for point in curve:
        if point["step"] % every == 0 and point[scenario.measure] >= scenario.threshold:
            return float(point["step"])
    return float(scenario.budget)


def main(args: Args) -> list[dict[str, Any]]:
    for scenario in args.scenarios.split(","):
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
    stored = load_all(results_files(args.results))
    cells = [
        (scenario, algo, args.ddpg_seeds if algo == "ddpg" else args.seeds)
        for scenario in args.scenarios.split(",")
        for algo in args.algos.split(",")
    ]
    jobs = [(scenario, algo, seed, args.cache) for scenario, algo, seeds in cells for seed in range(seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        made = {record["key"]: record for record in pool.map(aligned_run, jobs)}
    rows = []
    for scenario, algo, seeds in cells:
        specs = [RunSpec(scenario, algo, arm, seed) for arm in ("default", "scratch") for seed in range(seeds)]
        found = match_records(specs, stored)
        missing = [spec.key for spec in specs if spec.key not in found]
        if missing:
            raise UsageError(f"--results hold no run for {', '.join(missing)}")
        scratch = [found[spec.key]["metrics"]["steps_to_threshold"] for spec in specs if spec.arm == "scratch"]
        sweep = [found[spec.key]["metrics"]["steps_to_threshold"] for spec in specs if spec.arm == "default"]
        aligned, same = [], 0
        for spec in specs[:seeds]:
            record = made[spec.key]
            aligned.append(steps_on_grid(record["curve"], record["every"], scenario))
            same += _figures(record["curve"][-1]) == _figures(found[spec.key]["curve"][-1])
        row = {
            "scenario": scenario,
            "algo": algo,
            "runs": seeds,
            "same_final_evaluation": same,
            "ratio_sweep_grid": iqm_ratio_interval(sweep, scratch),
            "ratio_scratch_grid": iqm_ratio_interval(aligned, scratch),
            "steps_sweep_grid": sweep,
            "steps_scratch_grid": aligned,
        }
        rows.append(row)
        sweep_ratio, scratch_ratio = row["ratio_sweep_grid"], row["ratio_scratch_grid"]
        print(
            f"{scenario}/{algo}: IQM steps ratio vs scratch on the sweep's grid {sweep_ratio[0]:.2f} "
            f"[{sweep_ratio[1]:.2f}, {sweep_ratio[2]:.2f}], on scratch's {scratch_ratio[0]:.2f} "
            f"[{scratch_ratio[1]:.2f}, {scratch_ratio[2]:.2f}]; {same} of {seeds} runs end as the stored ones",
            flush=True,
        )
    write_summary(args, rows, args.out)
    return rows


if __name__ == "__main__":
    run_script(main, Args, __doc__)
