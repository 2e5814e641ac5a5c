"""Training cost of the pretrained extractor against plain SB3 with the same layer sizes, in one run.

For SAC and TD3 on ``SimpleNavigation-v0`` (one gradient step per env step), three arms are timed in turn, in
the same process, with the same seed and budget:

* ``plain``: SB3's ``MlpPolicy`` with ``net_arch = pretrained layers + head`` (``[64, 2, 64, 64]`` for the
  design note's 2-64-2 agent and a ``[64, 64]`` head), so every network has the same layer sizes;
* ``unfrozen``: ``PretrainedFeaturesExtractor`` with the agent's weights, trained;
* ``frozen``: the same with ``freeze=True``.

Env steps per second are measured over ``--steps`` steps after ``learning_starts``; each arm is run
``--repeats`` times, interleaved, and the best rate of each arm is kept (the machines are noisy; the best run is
the one least disturbed). Ratios are against ``plain`` of the same run.

Run: ``python benchmarks/train_overhead.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import stable_baselines3
import torch as th
from _args import run_script
from stable_baselines3 import SAC, TD3

import nav_env
from sb3_finetune import PretrainedFeaturesExtractor, SimpleNavigationAgent

ALGORITHMS = {"sac": SAC, "td3": TD3}
ARMS = ("plain", "unfrozen", "frozen")


@dataclass
class Args:
    """Command-line arguments."""

    steps: int = 2_000
    """env steps timed per run (after learning_starts)"""
    learning_starts: int = 100
    """random steps before training starts (not timed)"""
    repeats: int = 3
    """runs per arm; the best is kept"""
    head: str = "64,64"
    """hidden sizes of the policy head after the pretrained network"""
    algos: str = "sac,td3"
    """algorithms to time"""
    seed: int = 0
    """seed of every run"""
    threads: int = 1
    """torch threads (1: the per-step cost is Python and small matmuls; more threads only add contention)"""
    out: str = "benchmarks/results/train_overhead.json"
    """where to write the figures"""
    quick: bool = False
    """tiny budgets, for smoke tests"""


def make_model(algo: str, arm: str, weights: str, head: list[int], args: Args) -> Any:
    """A model of ``algo`` for one arm."""
    if arm == "plain":
        agent = SimpleNavigationAgent()
        policy_kwargs: dict[str, Any] = {"net_arch": [agent.fc1.out_features, agent.fc2.out_features, *head]}
    else:
        policy_kwargs = {
            "features_extractor_class": PretrainedFeaturesExtractor,
            "features_extractor_kwargs": {"weights": weights, "freeze": arm == "frozen"},
            "net_arch": head,
        }
    return ALGORITHMS[algo](
        "MlpPolicy",
        gym.make("SimpleNavigation-v0"),
        policy_kwargs=policy_kwargs,
        learning_starts=args.learning_starts,
        seed=args.seed,
        device="cpu",
    )


def steps_per_second(model: Any, args: Args) -> float:
    """Env steps/s of ``model.learn`` over ``args.steps`` steps, after the untimed warm-up."""
    model.learn(args.learning_starts + 10)
    start = time.perf_counter()
    model.learn(args.steps, reset_num_timesteps=False)
    return args.steps / (time.perf_counter() - start)


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.steps, args.learning_starts, args.repeats = 60, 20, 1
    th.set_num_threads(args.threads)
    head = [int(size) for size in args.head.split(",")]
    algos = [name.strip() for name in args.algos.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        weights = str(Path(folder) / "agent.pt")
        th.manual_seed(args.seed)
        th.save(SimpleNavigationAgent().state_dict(), weights)
        rates: dict[str, dict[str, list[float]]] = {algo: {arm: [] for arm in ARMS} for algo in algos}
        for _ in range(args.repeats):
            for algo in algos:
                for arm in ARMS:
                    rates[algo][arm].append(steps_per_second(make_model(algo, arm, weights, head, args), args))
    best = {algo: {arm: max(values) for arm, values in arms.items()} for algo, arms in rates.items()}
    ratios = {
        algo: {f"{arm}_vs_plain": best[algo][arm] / best[algo]["plain"] for arm in ("unfrozen", "frozen")}
        for algo in algos
    }
    results = {
        "command": "python " + " ".join(sys.argv),
        "args": asdict(args),
        "machine": {
            "python": platform.python_version(),
            "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch_threads": th.get_num_threads(),
        },
        "env_steps_per_s_all_runs": rates,
        "env_steps_per_s_best": best,
        "ratios": ratios,
    }
    print(f"{'algo':<6}{'arm':<10}{'best steps/s':>14}{'vs plain':>10}   runs")
    for algo in algos:
        for arm in ARMS:
            ratio = "" if arm == "plain" else f"{ratios[algo][f'{arm}_vs_plain']:.2f}x"
            runs = ", ".join(f"{r:.0f}" for r in rates[algo][arm])
            print(f"{algo:<6}{arm:<10}{best[algo][arm]:>14.1f}{ratio:>10}   {runs}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}  (command: {results['command']})")
    return results


if __name__ == "__main__":
    gym.register_envs(nav_env)
    run_script(main, Args, __doc__)
