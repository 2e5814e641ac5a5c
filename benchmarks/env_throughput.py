"""Env throughput: SimpleNavigation against Gymnasium's own envs, in one process, same action sequence.

Every figure is a ratio against references measured in the same run (the machines are noisy):

* single env, through ``gym.make`` (so with the same wrappers): ``SimpleNavigation-v0`` against a do-nothing env
  (the ceiling for any Python env) and ``MountainCarContinuous-v0``;
* native vector env at ``--num-envs`` copies against Gymnasium's ``CartPoleVectorEnv`` at the same size.

Run: ``python benchmarks/env_throughput.py`` (add ``--quick`` for a smoke test). Prints a table, writes JSON.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from _args import run_script
from gymnasium import spaces

import nav_env

DO_NOTHING_ID = "DoNothing-v0"
SHARED_DO_NOTHING_ID = "DoNothingSharedObs-v0"


@dataclass
class Args:
    """Command-line arguments."""

    steps: int = 200_000
    """env steps per timing of a single env"""
    vector_steps: int = 300
    """vector steps per timing of a vector env"""
    num_envs: int = 4096
    """copies in the vector envs"""
    repeats: int = 5
    """timings per env; the best is kept"""
    seed: int = 0
    """seed of the action sequences and of the envs"""
    out: str = "benchmarks/results/env_throughput.json"
    """where to write the figures"""
    quick: bool = False
    """tiny budgets, for smoke tests"""


class DoNothingEnv(gym.Env):
    """The cheapest env that keeps Gymnasium's contract: a fresh copy of a constant observation every call.

    (Gymnasium's passive checker warns when two calls return the same array, since users keep observations.)
    """

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._obs = np.zeros(2, dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self._obs.copy(), 0.0, False, False, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self._obs.copy(), {}


class SharedObsDoNothingEnv(DoNothingEnv):
    """Cheaper still, and not a valid env: the same observation array every call (for information only)."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self._obs, 0.0, False, False, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        gym.Env.reset(self, seed=seed)
        return self._obs, {}


def time_single(env_id: str, actions: np.ndarray, repeats: int, seed: int) -> float:
    """Best steps/s over ``repeats`` runs of ``len(actions)`` steps through ``gym.make`` (resetting on episode end)."""
    env = gym.make(env_id)
    with warnings.catch_warnings():  # the shared-observation reference is warned about, rightly
        warnings.simplefilter("ignore")
        env.reset(seed=seed)
        env.step(actions[0])  # the passive checker inspects the first steps only; keep them out of the timing
        env.step(actions[1])
    best = 0.0
    for _ in range(repeats):
        env.reset(seed=seed)
        step, reset = env.step, env.reset
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()
        best = max(best, len(actions) / (time.perf_counter() - start))
    env.close()
    return best


def time_vector(make: Any, actions: np.ndarray, repeats: int, seed: int) -> float:
    """Best env-steps/s (copies x vector steps) of a vector env over ``repeats`` runs."""
    env = make()
    best = 0.0
    for _ in range(repeats):
        env.reset(seed=seed)
        step = env.step
        start = time.perf_counter()
        for action in actions:
            step(action)
        best = max(best, actions.shape[0] * actions.shape[1] / (time.perf_counter() - start))
    env.close()
    return best


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.steps, args.vector_steps, args.num_envs, args.repeats = 2_000, 5, 64, 1
    for env_id, entry_point in ((DO_NOTHING_ID, DoNothingEnv), (SHARED_DO_NOTHING_ID, SharedObsDoNothingEnv)):
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, max_episode_steps=100)
    rng = np.random.default_rng(args.seed)
    actions = rng.uniform(-1.0, 1.0, size=(args.steps, 2)).astype(np.float32)

    single = {
        env_id: time_single(env_id, actions, args.repeats, args.seed)
        for env_id in (SHARED_DO_NOTHING_ID, DO_NOTHING_ID, "MountainCarContinuous-v0", "SimpleNavigation-v0")
    }
    nav_actions = rng.uniform(-1.0, 1.0, size=(args.vector_steps, args.num_envs, 2)).astype(np.float32)
    cartpole_actions = rng.integers(0, 2, size=(args.vector_steps, args.num_envs))
    vector = {
        "CartPoleVectorEnv": time_vector(
            lambda: gym.make_vec("CartPole-v1", num_envs=args.num_envs, vectorization_mode="vector_entry_point"),
            cartpole_actions,
            args.repeats,
            args.seed,
        ),
        "SimpleNavigationVectorEnv": time_vector(
            lambda: gym.make_vec(
                "SimpleNavigation-v0", num_envs=args.num_envs, vectorization_mode="vector_entry_point"
            ),
            nav_actions,
            args.repeats,
            args.seed,
        ),
    }
    nav = single["SimpleNavigation-v0"]
    results = {
        "command": "python " + " ".join(sys.argv),
        "args": asdict(args),
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "gymnasium": gym.__version__},
        "single_steps_per_s": single,
        "vector_env_steps_per_s": vector,
        "ratios": {
            "nav_vs_do_nothing": nav / single[DO_NOTHING_ID],
            "nav_vs_do_nothing_shared_obs": nav / single[SHARED_DO_NOTHING_ID],
            "nav_vs_mountain_car_continuous": nav / single["MountainCarContinuous-v0"],
            "nav_vector_vs_cartpole_vector": vector["SimpleNavigationVectorEnv"] / vector["CartPoleVectorEnv"],
        },
    }
    print(f"{'env':<40}{'steps/s':>14}")
    for name, rate in {**single, **{f"{k} x{args.num_envs}": v for k, v in vector.items()}}.items():
        print(f"{name:<40}{rate:>14,.0f}")
    print()
    for name, ratio in results["ratios"].items():
        print(f"{name:<40}{ratio:>14.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}  (command: {results['command']})")
    return results


if __name__ == "__main__":
    gym.register_envs(nav_env)
    run_script(main, Args, __doc__)
