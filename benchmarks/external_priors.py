"""How right is each external scenario's prior? Its controller and its clone on the source and the target task.

For every scenario of ``sb3_finetune.experiment.SCENARIOS`` on a standard env (Pendulum with a heavier pole,
MountainCar with a weaker engine, PointMaze from an open arena to the U-maze), this script evaluates, on the
transfer benchmark's own evaluation episodes (50, seeds 10,000 and up):

- the controller the prior clones, on the source task and on the target task;
- the prior itself (the cached clone the benchmark uses, made if missing), on both;
- a uniform-random policy on the target (the "random" end of the score).

Its score on the target is the place of its figure between random (0) and the scenario's best known return (1), or
its success rate: "partly right" means roughly 0.3-0.8.

Run: ``python benchmarks/external_priors.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from _args import UsageError, run_script

from sb3_finetune import evaluate, load_prior, prior_policy
from sb3_finetune.experiment import SCENARIOS, pretrained_weights
from sb3_finetune.external import CONTROLLERS, require


@dataclass
class Args:
    """Command-line arguments."""

    scenarios: str = ",".join(name for name, scenario in SCENARIOS.items() if scenario.external)
    """external scenarios to measure"""
    episodes: int = 50
    """evaluation episodes (seeds 10,000 and up, as the transfer benchmark's)"""
    cache: str = "benchmarks/results/cache"
    """the transfer benchmark's pretrained networks (made here when missing)"""
    out: str = "benchmarks/results/external_priors.json"
    """summary file"""
    quick: bool = False
    """2 episodes"""


def random_policy(space: gym.spaces.Box, seed: int) -> Any:
    generator = np.random.default_rng(seed)

    def act(obs: Any) -> np.ndarray:
        count = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
        return generator.uniform(space.low, space.high, (count, *space.shape)).astype(np.float32)

    return act


def figures(evaluation: Any) -> dict[str, Any]:
    return {"mean_return": evaluation.mean_return, "success_rate": evaluation.success_rate}


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.episodes = 2
    rows = []
    for name in args.scenarios.split(","):
        if name not in SCENARIOS or not SCENARIOS[name].external:
            raise UsageError(f"unknown external scenario {name!r}")
        scenario = SCENARIOS[name]
        started = time.perf_counter()
        require(scenario.env_id)
        controller = CONTROLLERS[scenario.controller](**scenario.controller_kwargs)
        env = gym.make(scenario.env_id, **scenario.target)
        weights = pretrained_weights(scenario, args.cache)
        prior = prior_policy(load_prior(weights, env.action_space, env.observation_space))
        row: dict[str, Any] = {"scenario": name, "threshold": scenario.threshold_label()}
        for label, task in (("source", scenario.source), ("target", scenario.target)):
            for who, policy in (("controller", controller), ("prior", prior)):
                row[f"{who}_on_{label}"] = figures(evaluate(policy, scenario.env_id, task, args.episodes, 10_000))
        row["random_on_target"] = figures(
            evaluate(random_policy(env.action_space, 0), scenario.env_id, scenario.target, args.episodes, 10_000)
        )
        row["prior_score_on_target"] = scenario.score(row["prior_on_target"])
        row["random_score_on_target"] = scenario.score(row["random_on_target"])
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"command": "python " + " ".join(sys.argv), "args": asdict(args), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    run_script(main, Args, __doc__)
