"""How faithfully is the actor distilled from the prior on real states? With and without jittered states.

The default recipe distils the actor on the states of the prior's probe (a few episodes on the target env), never
on observations drawn from the space. A few episodes leave gaps that other starts fall into, so half of each
minibatch is moved by Gaussian noise of ``distill_jitter`` standard deviations of those states. This script
measures, per env and algorithm, the prior's mean return and the distilled actor's on the same seeded evaluation
episodes (none of them the probe's starts), right after the warm-up and before any gradient step of RL.

Priors: Pendulum-v1, behaviour cloning of an energy-pumping + PD controller (20,000 logged steps, 64-64 ReLU);
SimpleNavigation-v0 (the note's task, and an obstacle between the start region and the goal), behaviour cloning of
the nav expert on the source task (the note's 2-64-2 network).

Run: ``python benchmarks/distill_fidelity.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from _args import run_script, write_summary

from sb3_finetune import evaluate, get_recipe, load_prior, make_finetune, model_policy, prior_policy
from sb3_finetune.nav import pretrain_expert
from sb3_finetune.pretrain import pretrain, rollout_dataset


@dataclass
class Args:
    """Command-line arguments."""

    jitters: str = "0,0.3"
    """distill_jitter values to compare, comma-separated"""
    algos: str = "td3,sac"
    """algorithms"""
    seeds: int = 2
    """model seeds per cell (the probe's starts and the distillation's draws)"""
    episodes: int = 20
    """evaluation episodes (seeds 10,000 and up)"""
    out: str = "benchmarks/results/distill_fidelity.json"
    """summary file"""
    quick: bool = False
    """one seed, 2 episodes, fewer distillation steps"""


def swing_up(obs: np.ndarray) -> np.ndarray:
    cos, sin, velocity = obs[:, 0], obs[:, 1], obs[:, 2]
    energy = 0.5 * velocity**2 + 10 * (cos - 1)
    pump = np.where(velocity * -energy >= 0, 2.0, -2.0)
    return np.clip(np.where(cos > 0.9, -10 * np.arctan2(sin, cos) - 2 * velocity, pump), -2, 2)[:, None]


def priors(folder: Path, quick: bool) -> dict[str, tuple[str, dict, str]]:
    """The priors, by name: ``(env id, env kwargs, weights file)``."""
    pendulum = folder / "pendulum.pt"
    data = rollout_dataset(swing_up, gym.make("Pendulum-v1"), 2_000 if quick else 20_000)
    pretrain(pendulum, data, epochs=3 if quick else 30, hidden=(64, 64))
    nav = folder / "nav.pt"
    pretrain_expert(nav, samples=2_000 if quick else 20_000, epochs=3 if quick else 30)
    obstacle_source = {"goal_position": (0.7, 0.7)}
    obstacle = folder / "obstacle.pt"
    pretrain_expert(obstacle, env_kwargs=obstacle_source, samples=2_000 if quick else 20_000, epochs=3 if quick else 30)
    return {
        "pendulum": ("Pendulum-v1", {}, str(pendulum)),
        "nav same-task": ("SimpleNavigation-v0", {}, str(nav)),
        "nav obstacle": ("SimpleNavigation-v0", {**obstacle_source, "obstacles": [(0.3, 0.3, 0.3)]}, str(obstacle)),
    }


def main(args: Args) -> dict:
    th.set_num_threads(1)
    if args.quick:
        args.seeds, args.episodes = 1, 2
    jitters = [float(value) for value in args.jitters.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (env_id, kwargs, weights) in priors(Path(folder), args.quick).items():
            env = gym.make(env_id, **kwargs)
            prior = load_prior(weights, env.action_space, env.observation_space)
            prior_return = evaluate(prior_policy(prior), env_id, kwargs, args.episodes, 10_000).mean_return
            for algo in args.algos.split(","):
                for jitter in jitters:
                    # A prior the gate stands down waits for learning_starts too (the default would start training
                    # after the probes), so that every run is the warm-up alone.
                    recipe = get_recipe(
                        "default",
                        distill_jitter=jitter,
                        distill_steps=100 if args.quick else 1_000,
                        stand_down_skip_warmup=False,
                    )
                    returns = []
                    for seed in range(args.seeds):
                        budget = 1_300  # the warm-up only: learning starts after it
                        setup = make_finetune(
                            algo,
                            gym.make(env_id, **kwargs),
                            weights,
                            budget,
                            recipe,
                            seed=seed,
                            hyperparams={"learning_starts": budget},
                        )
                        setup.learn(budget)
                        figures = evaluate(model_policy(setup.model), env_id, kwargs, args.episodes, 10_000)
                        returns.append(figures.mean_return)
                    row = {
                        "env": name,
                        "algo": algo,
                        "jitter": jitter,
                        "prior_return": prior_return,
                        "distilled_returns": returns,
                        "distilled_mean": float(np.mean(returns)),
                    }
                    rows.append(row)
                    print(
                        f"{name:<14} {algo}  jitter {jitter:<4}  prior {prior_return:9.2f}  distilled "
                        + " ".join(f"{value:9.2f}" for value in returns)
                    )
    return write_summary(args, rows, args.out)


if __name__ == "__main__":
    run_script(main, Args, __doc__)
