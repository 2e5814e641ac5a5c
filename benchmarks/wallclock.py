"""Wall-clock to 90% success on the note's task: ``finetune`` (default recipe) against SB3's SAC from scratch.

Side by side in one process, one thread, seed after seed, the order of the arms alternating between seeds so that
a slower stretch of a noisy machine hits both. Arms:

- ``sac-sb3-default``: ``SAC("MlpPolicy", env, seed=seed)``, SB3's default hyperparameters, from scratch;
- ``finetune-<algo>``: ``sb3_finetune.make_finetune(algo, env, pretrained, budget, "default")``, the project's
  hyperparameters and default recipe, starting from the behaviour-cloned network of the note's task.

The clock runs from before the model is built (distillation, trust gate and warm-up included) to the first
evaluation (50 fixed episodes every ``--eval-freq`` steps) at 90% success or more; evaluation time is left out.
Training stops there. Runs that never reach 90% are censored at their total time (reported, and counted at that
time, which favours them). The pretraining (behaviour cloning of the expert) is timed once and reported apart.

Run: ``python benchmarks/wallclock.py`` (``--quick`` for a smoke test). Output: ``--results`` (JSON).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th
from _args import run_script
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback

import nav_env  # noqa: F401  (registers the envs)
from sb3_finetune.evaluation import LearningCurveCallback
from sb3_finetune.experiment import SCENARIOS, THRESHOLD, pretrained_weights
from sb3_finetune.nav import expert_policy, pretrain_expert
from sb3_finetune.recipes import make_finetune
from sb3_finetune.stats import iqm, iqm_ratio_interval

ENV_ID = "SimpleNavigation-v0"
REFERENCE = "sac-sb3-default"


@dataclass
class Args:
    """Command-line arguments."""

    seeds: int = 5
    """seeds per arm"""
    algos: str = "sac,td3"
    """algorithms fine-tuned with the default recipe"""
    scratch_budget: int = 20_000
    """env steps at most for SAC from scratch"""
    finetune_budget: int = 6_000
    """env steps at most for fine-tuning (the recipe's fractions refer to it)"""
    eval_freq: int = 500
    """env steps between evaluations"""
    eval_episodes: int = 50
    """episodes per evaluation"""
    results: str = "benchmarks/results/wallclock.json"
    """where to write every run and the summary"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    quick: bool = False
    """one seed, tiny budgets: a smoke test"""


class StopAtThreshold(BaseCallback):
    """Stop training at the first evaluation of ``curve`` at or above the threshold, noting the training time.

    :param curve: the learning-curve callback (placed before this one)
    :param started: ``time.perf_counter()`` when the clock started
    """

    def __init__(self, curve: LearningCurveCallback, started: float) -> None:
        super().__init__()
        self.curve, self.started = curve, started
        self.reached: dict[str, float] | None = None

    def check(self) -> bool:
        """Whether the last evaluation reached the threshold (recording when, the first time)."""
        if self.reached is None and self.curve.curve and self.curve.curve[-1]["success_rate"] >= THRESHOLD:
            wall = time.perf_counter() - self.started - self.curve._evaluation_time
            self.reached = {"step": self.curve.curve[-1]["step"], "wall_s": wall}
        return self.reached is not None

    def _on_step(self) -> bool:
        return not self.check()


def run_arm(arm: str, seed: int, weights: Path, args: Args) -> dict[str, Any]:
    """One run of one arm: steps and training seconds to 90% success (or the censored totals)."""
    env = gym.make(ENV_ID)
    started = time.perf_counter()
    curve = LearningCurveCallback(ENV_ID, {}, args.eval_freq, args.eval_episodes, expert=expert_policy(ENV_ID))
    stop = StopAtThreshold(curve, started)
    if arm == REFERENCE:
        budget = args.scratch_budget
        model = SAC("MlpPolicy", env, seed=seed, device="cpu")
        model.learn(budget, callback=[curve, stop])
    else:
        budget = args.finetune_budget
        setup = make_finetune(arm.removeprefix("finetune-"), env, str(weights), budget, "default", seed=seed)
        model = setup.learn(budget, callback=[curve, stop])
    stop.check()  # the last evaluation, when it came after the last step callback
    total = time.perf_counter() - started - curve._evaluation_time
    reached = stop.reached
    return {
        "arm": arm,
        "seed": seed,
        "reached": reached is not None,
        "steps_to_threshold": reached["step"] if reached else model.num_timesteps,
        "wall_s_to_threshold": reached["wall_s"] if reached else total,
        "jumpstart": curve.curve[0]["success_rate"],
        "curve": [(point["step"], point["success_rate"]) for point in curve.curve],
    }


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.seeds, args.scratch_budget, args.finetune_budget, args.eval_freq, args.eval_episodes = 1, 300, 300, 100, 10
    th.set_num_threads(1)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        pretrain_expert(Path(folder) / "bc.pt", ENV_ID, seed=0)
    pretrain_s = time.perf_counter() - began
    weights = pretrained_weights(SCENARIOS["same-task"], args.cache)
    arms = [REFERENCE] + [f"finetune-{algo}" for algo in args.algos.split(",")]
    runs = []
    for seed in range(args.seeds):
        order = arms[seed % len(arms) :] + arms[: seed % len(arms)]
        for arm in order:
            record = run_arm(arm, seed, weights, args)
            runs.append(record)
            print(
                f"seed {seed} {arm:<16} {'reached' if record['reached'] else 'NOT reached'} 90% at step "
                f"{record['steps_to_threshold']} after {record['wall_s_to_threshold']:.1f}s",
                flush=True,
            )
    reference = [r["wall_s_to_threshold"] for r in runs if r["arm"] == REFERENCE]
    summary: dict[str, Any] = {"pretrain_s": pretrain_s}
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        walls = [r["wall_s_to_threshold"] for r in mine]
        row = {
            "runs": len(mine),
            "reached": sum(r["reached"] for r in mine),
            "iqm_steps_to_threshold": iqm([r["steps_to_threshold"] for r in mine]),
            "iqm_wall_s_to_threshold": iqm(walls),
        }
        if arm != REFERENCE:
            # Speed-up = IQM(reference seconds) / IQM(arm seconds), with a bootstrap interval.
            ratio, low, high = iqm_ratio_interval(reference, walls)
            row["speedup_vs_reference"] = (ratio, low, high)
            with_pretraining = [w + pretrain_s for w in walls]
            row["speedup_including_pretraining"] = iqm_ratio_interval(reference, with_pretraining)
        summary[arm] = row
    print(json.dumps(summary, indent=2))
    report = {"command": "python " + " ".join(sys.argv), "args": asdict(args), "summary": summary, "runs": runs}
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    run_script(main, Args, __doc__)
