"""``sb3-finetune demo``: pretrain on a source task, fine-tune on a target task, compare with training from scratch.

The embedded default (no downloads): the design note's 2-64-2 network is behaviour-cloned on the note's task
(goal (0.5, 0.5)); the target task adds a constant wind of (0.03, 0) per step, which the pretrained network
never saw. TD3 then trains with the default recipe, and from scratch with the same settings and budget.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.evaluation import LearningCurveCallback, evaluate, prior_policy
from sb3_finetune.experiment import SCENARIOS, THRESHOLD, curve_metrics
from sb3_finetune.nav import expert_policy, nav_prior, pretrain_expert
from sb3_finetune.recipes import make_finetune

DEMO_SCENARIO = "wind"


class ProgressCallback(BaseCallback):
    """A one-line progress bar on stderr (no extra dependency).

    :param label: shown before the bar
    :param total: env steps of the whole run
    """

    def __init__(self, label: str, total: int) -> None:
        super().__init__()
        self.label, self.total = label, total
        self._shown = -1
        self._start = time.perf_counter()

    def _draw(self) -> None:
        done = min(self.num_timesteps, self.total)
        percent = int(100 * done / self.total)
        if percent == self._shown:
            return
        self._shown = percent
        bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
        elapsed = time.perf_counter() - self._start
        sys.stderr.write(f"\r  {self.label:<10} [{bar}] {percent:3d}% {done}/{self.total} steps {elapsed:5.0f}s")
        sys.stderr.flush()

    def _on_step(self) -> bool:
        self._draw()
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps >= self.total:
            self._draw()
            sys.stderr.write("\n")


def _plot(curves: dict[str, list[dict]], pretrained_success: float, path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for label, curve in curves.items():
        axis.plot([p["step"] for p in curve], [p["success_rate"] for p in curve], marker="o", markersize=3, label=label)
    axis.axhline(pretrained_success, color="grey", linestyle=":", label="pretrained network alone")
    axis.axhline(THRESHOLD, color="black", linewidth=0.6, linestyle="--")
    axis.set(xlabel="env steps", ylabel="success rate (50 fixed episodes)", ylim=(-0.03, 1.03), title=title)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def run_demo(out_dir: Path, algo: str = "td3", budget: int = 6_000, seed: int = 0, progress: bool = True) -> int:
    """Run the demo and print its table.

    :param out_dir: where the weights, the models, the curves and the plot go
    :param algo: algorithm
    :param budget: env steps per arm
    :param seed: seed of both arms
    :param progress: show progress bars
    :return: exit status
    """
    th.set_num_threads(1)
    scenario = SCENARIOS[DEMO_SCENARIO]
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"source task: {scenario.env_id} {scenario.source}")
    print(f"target task: {scenario.env_id} {scenario.target}")
    weights = out_dir / "pretrained.pt"
    network = pretrain_expert(weights, scenario.env_id, scenario.source, seed=seed)
    expert = expert_policy(scenario.env_id, scenario.target)
    prior = prior_policy(nav_prior(network, scenario.env_id, scenario.target))
    on_source = evaluate(prior, scenario.env_id, scenario.source, 50, 10_000)
    on_target = evaluate(prior, scenario.env_id, scenario.target, 50, 10_000, expert)
    print(
        f"pretrained (behaviour cloning of the expert): {on_source.success_rate:.0%} success on the source task, "
        f"{on_target.success_rate:.0%} on the target task"
    )
    eval_freq = max(budget // 20, 1)
    curves, rows = {}, []
    for label, pretrained in ((f"{algo} fine-tuned", str(weights)), (f"{algo} scratch", None)):
        env = gym.make(scenario.env_id, **scenario.target)
        setup = make_finetune(algo, env, pretrained, budget, "default", seed=seed)
        curve = LearningCurveCallback(scenario.env_id, scenario.target, eval_freq, 50, expert=expert)
        callbacks: list[BaseCallback] = [curve]
        if progress:
            callbacks.append(ProgressCallback(label.split()[-1], budget))
        started = time.perf_counter()
        setup.learn(budget, callback=callbacks)
        if curve.curve[-1]["step"] != setup.model.num_timesteps:
            curve._evaluate()
        seconds = time.perf_counter() - started
        setup.model.save(out_dir / f"{label.replace(' ', '_')}.zip")
        metrics = curve_metrics(curve.curve, budget)
        final = curve.curve[-1]
        curves[label] = curve.curve
        rows.append(
            (label, final["success_rate"], final["mean_return"], final["expert_return_ratio"], metrics, seconds)
        )
    print()
    print(f"{'':<18}{'success':>8}{'return':>9}{'vs expert':>10}{'steps to 90%':>14}{'time':>7}")
    print(
        f"{'pretrained alone':<18}{on_target.success_rate:>8.0%}{on_target.mean_return:>9.2f}"
        f"{on_target.expert_return_ratio:>10.2f}{'':>14}{'':>7}"
    )
    for label, success, mean_return, ratio, metrics, seconds in rows:
        steps = f"{metrics['steps_to_threshold']:.0f}" if metrics["reached_threshold"] else f">{budget}"
        print(f"{label:<18}{success:>8.0%}{mean_return:>9.2f}{ratio:>10.2f}{steps:>14}{seconds:>6.0f}s")
    (out_dir / "curves.json").write_text(json.dumps(curves, indent=1))
    plot = out_dir / "learning_curve.png"
    if _plot(curves, on_target.success_rate, plot, f"{algo.upper()}: {scenario.description}"):
        print(f"\nlearning curves: {plot}")
    else:
        print('\n(install matplotlib, e.g. pip install "sb3-finetune[plot]", for the PNG learning curve)')
    return 0
