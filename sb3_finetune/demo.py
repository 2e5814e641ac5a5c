"""``sb3-finetune demo``: pretrain on a source task, fine-tune on a target task, compare with training from scratch.

The embedded default (no downloads) is the benchmarks' obstacle scenario, where the prior is partly right: the design
note's 2-64-2 network is behaviour-cloned on a source task with the goal at (0.7, 0.7); the target task puts a disc
of radius 0.3 at (0.3, 0.3), between the start region and the goal, which the pretrained network never saw. It
heads straight for the goal and succeeds from the starts that miss the disc (78% of them). TD3 then trains with the
default recipe, and from scratch with the same settings and budget (the scenario's, 10,000 env steps).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.evaluation import LearningCurveCallback, evaluate, prior_policy
from sb3_finetune.experiment import SCENARIOS, THRESHOLD, curve_metrics
from sb3_finetune.nav import expert_policy, nav_prior, pretrain_expert
from sb3_finetune.progress import ProgressCallback
from sb3_finetune.recipes import make_finetune

DEMO_SCENARIO = "obstacle"


def _plot(curves: dict[str, list[dict]], pretrained: Any, path: Path, title: str) -> bool:
    """Two panels: success rate, and the expert's return over each arm's (1.0 = the expert's level)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (success_axis, return_axis) = plt.subplots(1, 2, figsize=(10.5, 3.8), dpi=110)
    styles = {"fine-tuned": {"color": "tab:blue", "marker": "o"}, "scratch": {"color": "tab:orange", "marker": "s"}}
    for label, curve in curves.items():
        style = styles.get(label.split()[-1], {})
        steps = [p["step"] for p in curve]
        success_axis.plot(steps, [p["success_rate"] for p in curve], markersize=3, label=label, **style)
        return_axis.plot(steps, [p["expert_return_ratio"] for p in curve], markersize=3, label=label, **style)
    # The pretrained network alone: drawn over the curves, thick and dashed, so a curve at the same level hides it not.
    for axis, value in ((success_axis, pretrained.success_rate), (return_axis, pretrained.expert_return_ratio)):
        axis.axhline(
            value,
            color="grey",
            linewidth=2.5,
            linestyle=(0, (4, 3)),
            alpha=0.8,
            zorder=5,
            label=f"pretrained network alone ({value:.2f})",
        )
    success_axis.axhline(THRESHOLD, color="black", linewidth=0.8, linestyle=":", label=f"threshold ({THRESHOLD:.0%})")
    return_axis.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="the expert (1.0)")
    success_axis.set(xlabel="env steps", ylabel="success rate (50 fixed episodes)", ylim=(-0.03, 1.05))
    return_axis.set(xlabel="env steps", ylabel="expert's return / arm's return")
    for axis in (success_axis, return_axis):
        axis.legend(loc="best", fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def run_demo(out_dir: Path, algo: str = "td3", budget: int | None = None, seed: int = 0, progress: bool = True) -> int:
    """Run the demo and print its table.

    :param out_dir: where the weights, the models, the curves and the plot go
    :param algo: algorithm
    :param budget: env steps per arm (``None``: the scenario's)
    :param seed: seed of both arms
    :param progress: show progress bars
    :return: exit status
    """
    th.set_num_threads(1)
    scenario = SCENARIOS[DEMO_SCENARIO]
    budget = scenario.budget if budget is None else budget
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
    if _plot(curves, on_target, plot, f"{algo.upper()}: {scenario.description}"):
        print(f"\nlearning curves: {plot}")
    else:
        print('\n(install matplotlib, e.g. pip install "sb3-finetune[plot]", for the PNG learning curve)')
    return 0
