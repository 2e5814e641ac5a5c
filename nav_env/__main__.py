"""``python -m nav_env``: roll out the expert controller on every registered task and print its success rate."""

from __future__ import annotations

import argparse
import sys

import gymnasium as gym
import numpy as np

from nav_env.expert import optimal_action
from nav_env.registration import ENV_IDS

SHOWCASE = [
    ("SimpleNavigation-v0", {}),
    ("SimpleNavigation-v0", {"goal_position": (-0.5, -0.5), "drift": (0.03, 0.0)}),
    ("SimpleNavigation-v0", {"goal_position": (0.7, 0.7), "obstacles": [(0.25, 0.25, 0.3)]}),
    ("SimpleNavigationGoal-v0", {"reward_type": "sparse"}),
]


def evaluate_expert(env_id: str, env_kwargs: dict, episodes: int, seed: int) -> tuple[float, float, float]:
    """Roll out the expert for ``episodes`` seeded episodes.

    :param env_id: registered id
    :param env_kwargs: keyword arguments for ``gym.make``
    :param episodes: number of episodes
    :param seed: seed of the first episode (then ``seed + 1``, ...)
    :return: ``(success_rate, mean_return, mean_length)``
    """
    env = gym.make(env_id, **env_kwargs)
    rules = env.unwrapped.rules
    successes, returns, lengths = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, length, done, info = 0.0, 0, False, {}
        while not done:
            if isinstance(obs, dict):
                action = optimal_action(obs["observation"], obs["desired_goal"], rules)
            else:
                action = optimal_action(obs, env.unwrapped.goal, rules)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            length += 1
            done = terminated or truncated
        successes.append(bool(info.get("is_success", False)))
        returns.append(total)
        lengths.append(length)
    env.close()
    return float(np.mean(successes)), float(np.mean(returns)), float(np.mean(lengths))


def main(argv: list[str] | None = None) -> int:
    """Print the expert's success rate, mean return and mean episode length on a few tasks.

    :param argv: command-line arguments (``sys.argv[1:]`` when ``None``)
    :return: exit status
    """
    parser = argparse.ArgumentParser(prog="python -m nav_env", description=__doc__)
    parser.add_argument("--episodes", type=int, default=200, help="episodes per task (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    print(f"Expert controller on {', '.join(ENV_IDS)} ({args.episodes} seeded episodes per task)\n")
    print(f"{'task':<78}{'success':>8}{'return':>9}{'length':>8}")
    for env_id, kwargs in SHOWCASE:
        success, mean_return, mean_length = evaluate_expert(env_id, kwargs, args.episodes, args.seed)
        name = env_id + (" " + ", ".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")
        print(f"{name:<78}{success:>8.0%}{mean_return:>9.2f}{mean_length:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
