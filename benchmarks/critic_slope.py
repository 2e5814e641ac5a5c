"""Whether the critic's slope in the action points where the return goes, around the actor's release (Pendulum).

At chosen env steps of a sweep's run (the scenario's budget sets the recipe's schedules, as in
``release_dip.py``), for states along the prior's own paths on the target env, this compares

- the critic's slope: the derivative of Q (the minimum over the critics, as SAC's actor loss takes it) in the action,
  at the actor's deterministic action, with
- the return's slope: a Monte-Carlo estimate from copies of the target env put in that state, the first action moved
  by ``+delta`` and ``-delta`` and then the actor acting for the rest of the horizon, as a central difference of the
  discounted returns (the model's ``gamma``). "deterministic": the actor's mean acts after the first action, as in
  the sweep's evaluations; "sampled" (SAC): its samples act, ``--reps`` roll-outs per state with the same random
  numbers for both signs, the policy whose soft values SAC's critic learns.

Per checkpoint it reports the mean absolute slopes, their correlation over the states, the fraction of states where
their signs agree, and the deterministic actor's mean discounted return from those states (its fall after the
release). The measurement leaves the run's random state as it was.

Run: ``python benchmarks/critic_slope.py --runs sac:pretrain-5k-handover,sac:default,td3:default --seeds 2``
(``--quick`` for a smoke test). Only ``pendulum-heavy``: its env's state can be set (``PendulumEnv.state``).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from _args import run_script, write_summary
from recipe_ablation import VARIANTS, variant_setup
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.cli import UsageError
from sb3_finetune.experiment import SCENARIOS
from sb3_finetune.recipes import ALGORITHMS

SCENARIO = "pendulum-heavy"
HORIZON = 200
"""Env steps of each Monte-Carlo roll-out: Pendulum's episode."""


@dataclass
class Args:
    """Command-line arguments."""

    runs: str = "sac:pretrain-5k-handover,sac:default,td3:default"
    """algorithm:variant pairs (variants of benchmarks/recipe_ablation.py; ``default``: today's default)"""
    seeds: int = 2
    """model seeds"""
    at: str = "1300,2100,2250,2400"
    """env steps at which to measure (the actor is released at 2,200 on Pendulum: the probe's 1,200 steps fill
    learning_starts, then 1,000 of critic warm-up)"""
    starts: int = 16
    """random initial states the prior's paths start from (every 12th state of each is measured)"""
    delta: float = 0.1
    """the first action's move either way, in SB3's scaled action units ([-1, 1])"""
    reps: int = 8
    """sampled roll-outs per state and sign (SAC)"""
    workers: int = 2
    """parallel runs"""
    cache: str = "benchmarks/results/cache"
    """pretrained networks"""
    out: str = "benchmarks/results/critic_slope.json"
    """summary file"""
    quick: bool = False
    """TD3 without critic pre-training, one seed, at step 1,100, 2 starts, 2 sampled roll-outs"""


def actions(model: BaseAlgorithm, observations: np.ndarray, sampled: bool = False) -> np.ndarray:
    """The actor's actions in SB3's scaled units: its mean, or (SAC, ``sampled``) a sample."""
    with th.no_grad():
        if isinstance(model, ALGORITHMS["sac"]):
            return model.actor(th.as_tensor(observations), deterministic=not sampled).numpy()
        return model.actor(th.as_tensor(observations)).numpy()


def target_envs(envs: list[Any], count: int) -> list[Any]:
    """``count`` of the target env's (unwrapped) copies, adding to ``envs`` where it has fewer."""
    scenario = SCENARIOS[SCENARIO]
    while len(envs) < count:
        env = gym.make(scenario.env_id, **scenario.target).unwrapped
        env.reset(seed=len(envs))
        envs.append(env)
    return envs[:count]


def place(envs: list[Any], states: np.ndarray) -> np.ndarray:
    """Put each env in its state; their observations."""
    for env, state in zip(envs, states, strict=True):
        env.state = np.array(state, dtype=np.float64)
    return np.asarray([env._get_obs() for env in envs], dtype=np.float32)


def step_all(envs: list[Any], scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of each env with its action (from SB3's scaled units to the env's box); observations and rewards."""
    observations, rewards = [], []
    for env, action in zip(envs, scaled, strict=True):
        low, high = env.action_space.low, env.action_space.high
        observation, reward, *_ = env.step(low + 0.5 * (action + 1.0) * (high - low))
        observations.append(observation)
        rewards.append(reward)
    return np.asarray(observations, dtype=np.float32), np.asarray(rewards, dtype=np.float64)


def returns(model: BaseAlgorithm, envs: list[Any], states: np.ndarray, first: np.ndarray, sampled: bool) -> np.ndarray:
    """Discounted returns (the model's ``gamma``) of ``first`` then the actor, from each state."""
    place(envs, states)
    scaled, total, discount = first, np.zeros(len(envs)), 1.0
    for _ in range(HORIZON):
        observations, rewards = step_all(envs, scaled)
        total += discount * rewards
        discount *= model.gamma
        scaled = actions(model, observations, sampled)
    return total


def critic_slope(model: BaseAlgorithm, observations: np.ndarray, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q (the minimum over the critics) and its derivative in the (one-dimensional) action."""
    action = th.as_tensor(scaled, dtype=th.float32).requires_grad_(True)
    q = th.cat(model.critic(th.as_tensor(observations), action), dim=1).min(dim=1).values
    (slope,) = th.autograd.grad(q.sum(), action)
    return q.detach().numpy(), slope.numpy()[:, 0]


def measure(model: BaseAlgorithm, envs: list[Any], states: np.ndarray, args: Args, seed: int) -> dict[str, Any]:
    """The figures at one checkpoint (the torch random state is put back afterwards)."""
    rng_state = th.get_rng_state()
    observations = place(target_envs(envs, len(states)), states)
    mean = actions(model, observations)
    q, slope = critic_slope(model, observations, mean)
    up, down = np.clip(mean + args.delta, -1.0, 1.0), np.clip(mean - args.delta, -1.0, 1.0)
    width = (up - down)[:, 0]
    figures: dict[str, Any] = {"q_mean": float(q.mean()), "critic_slope_abs": float(np.abs(slope).mean())}
    follow_ups = {"deterministic": 1}
    if isinstance(model, ALGORITHMS["sac"]):
        follow_ups["sampled"] = args.reps
    for name, reps in follow_ups.items():
        copies = target_envs(envs, len(states) * reps)
        outcome = {}
        for sign, first in (("up", up), ("down", down), ("at", mean)):
            th.manual_seed(seed)  # the same samples for every first action
            done = returns(model, copies, np.repeat(states, reps, 0), np.repeat(first, reps, 0), name == "sampled")
            outcome[sign] = done.reshape(len(states), reps).mean(axis=1)
        kept = width > 0  # an action at the bound both ways has no difference to take
        true = (outcome["up"][kept] - outcome["down"][kept]) / width[kept]
        figures[name] = {
            "return_slope_abs": float(np.abs(true).mean()),
            "correlation": float(np.corrcoef(slope[kept], true)[0, 1]),
            "sign_agreement": float(np.mean(np.sign(slope[kept]) == np.sign(true))),
            "return": float(outcome["at"].mean()),
        }
    th.set_rng_state(rng_state)
    return figures


class Checkpoints(BaseCallback):
    """Measures at the given env steps."""

    def __init__(self, at: list[int], states: np.ndarray, args: Args, seed: int) -> None:
        super().__init__()
        self.at, self.states, self.args, self.seed = set(at), states, args, seed
        self.envs: list[Any] = []
        self.rows: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        if self.num_timesteps in self.at:
            figures = measure(self.model, self.envs, self.states, self.args, self.seed + self.num_timesteps)
            self.rows.append({"step": self.num_timesteps, **figures})
        return True


def prior_path_states(model: BaseAlgorithm, starts: int, seed: int) -> np.ndarray:
    """Every 12th state of the model's deterministic paths from random states.

    Before training the model acts as the prior: these are the prior's paths.
    """
    rng = np.random.default_rng(seed)
    states = np.stack([rng.uniform(-np.pi, np.pi, starts), rng.uniform(-1.0, 1.0, starts)], axis=1)
    envs = target_envs([], starts)
    observations, kept = place(envs, states), []
    for step in range(HORIZON):
        if step % 12 == 0:
            kept.append(np.asarray([env.state for env in envs]))
        observations, _ = step_all(envs, actions(model, observations))
    return np.concatenate(kept)


def one_run(algo: str, variant: str, seed: int, at: list[int], args: Args) -> dict[str, Any]:
    """One run of the sweep's, measured at ``at``."""
    th.set_num_threads(1)
    setup = variant_setup(SCENARIO, algo, variant, seed, args.cache)
    states = prior_path_states(setup.model, args.starts, 123)
    checkpoints = Checkpoints(at, states, args, seed)
    setup.learn(max(at) + 1, callback=checkpoints)
    return {"algo": algo, "variant": variant, "seed": seed, "states": len(states), "checkpoints": checkpoints.rows}


def main(args: Args) -> dict:
    if args.quick:
        args.runs, args.seeds, args.at, args.starts, args.reps = "td3:gate-confidence-95-margin-20", 1, "1100", 2, 2
    runs = []
    for pair in args.runs.split(","):
        algo, _, variant = pair.partition(":")
        if algo not in ALGORITHMS or variant not in VARIANTS:
            raise UsageError(f"--runs: {pair!r} is not algorithm:variant (algorithms {sorted(ALGORITHMS)})")
        runs.append((algo, variant))
    try:
        at = sorted(int(step) for step in args.at.split(","))
    except ValueError:
        raise UsageError(f"--at must be env steps separated by commas, got {args.at!r}") from None
    if at[0] < 1 or args.delta <= 0 or args.reps < 1 or args.starts < 2:
        raise UsageError("--at must be positive, --delta above 0, --reps at least 1 and --starts at least 2")
    jobs = [(algo, variant, seed) for algo, variant in runs for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one_run, algo, variant, seed, at, args) for algo, variant, seed in jobs]
        rows = [future.result() for future in futures]
    for row in rows:
        for point in row["checkpoints"]:
            det = point["deterministic"]
            sampled = point.get("sampled")
            extra = ""
            if sampled is not None:
                extra = f"; sampled: |slope| {sampled['return_slope_abs']:.2f}, corr {sampled['correlation']:+.2f}"
            print(
                f"{row['algo']}:{row['variant']} seed {row['seed']} step {point['step']}: critic |slope| "
                f"{point['critic_slope_abs']:.2f}; return |slope| {det['return_slope_abs']:.2f}, corr "
                f"{det['correlation']:+.2f}, signs agree {det['sign_agreement']:.2f}; return {det['return']:.1f}"
                f"{extra}"
            )
    return write_summary(args, rows, args.out)


if __name__ == "__main__":
    run_script(main, Args, __doc__)
