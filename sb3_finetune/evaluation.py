"""Evaluation on fixed, seeded episodes, run on the native vector env (all episodes at once)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

import nav_env

Policy = Callable[[Any], np.ndarray]
"""Maps a batch of observations (array, or dict of arrays for the goal env) to a batch of actions."""


@dataclass
class Evaluation:
    """Figures over a set of seeded episodes."""

    success_rate: float
    mean_return: float
    mean_length: float
    expert_return: float
    expert_return_ratio: float
    """``expert_return / mean_return``: 1.0 is optimal; returns are negative, so this is <= 1 when worse."""

    def as_dict(self) -> dict[str, float]:
        """The figures as a plain dict."""
        return asdict(self)


def _rollout(policy: Policy, env_id: str, env_kwargs: dict[str, Any], episodes: int, seed: int) -> tuple:
    env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point", **env_kwargs)
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    success = np.zeros(episodes, dtype=bool)
    done = np.zeros(episodes, dtype=bool)
    while not done.all():
        actions = np.asarray(policy(obs), dtype=np.float32).reshape(episodes, -1)
        obs, rewards, terminated, truncated, infos = env.step(actions)
        active = ~done
        returns[active] += rewards[active]
        lengths[active] += 1
        success[active] |= infos["is_success"][active]
        done |= terminated | truncated
    env.close()
    return success, returns, lengths


def expert_policy(env_id: str, env_kwargs: dict[str, Any]) -> Policy:
    """The expert controller of a task, as a batch policy."""
    env = gym.make(env_id, **env_kwargs).unwrapped
    rules, goal = env.rules, env.goal

    def act(obs: Any) -> np.ndarray:
        if isinstance(obs, dict):
            return nav_env.optimal_action(obs["observation"], obs["desired_goal"], rules)
        return nav_env.optimal_action(obs, goal, rules)

    return act


def network_policy(network: nn.Module) -> Policy:
    """A pretrained network used directly as a policy: its output, clipped to the action box.

    :param network: maps observations (goal env: ``[observation, desired_goal]``) to actions
    :return: the batch policy
    """

    def act(obs: Any) -> np.ndarray:
        if isinstance(obs, dict):
            obs = np.concatenate([obs["observation"], obs["desired_goal"]], axis=-1)
        with th.no_grad():
            out = network(th.as_tensor(np.asarray(obs), dtype=th.float32))
        return np.clip(out.numpy(), -1.0, 1.0)

    return act


def model_policy(model: BaseAlgorithm) -> Policy:
    """An SB3 model's deterministic policy."""

    def act(obs: Any) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    return act


_EXPERT_RETURNS: dict[str, float] = {}


def expert_mean_return(env_id: str, env_kwargs: dict[str, Any], episodes: int, seed: int) -> float:
    """The expert's mean return on the seeded episodes (cached: the expert never changes).

    :param env_id: task id
    :param env_kwargs: task arguments
    :param episodes: number of episodes
    :param seed: seed of the episodes
    :return: the mean return
    """
    key = repr((env_id, sorted(env_kwargs.items()), episodes, seed))
    if key not in _EXPERT_RETURNS:
        _, returns, _ = _rollout(expert_policy(env_id, env_kwargs), env_id, env_kwargs, episodes, seed)
        _EXPERT_RETURNS[key] = float(returns.mean())
    return _EXPERT_RETURNS[key]


def evaluate(
    policy: Policy, env_id: str, env_kwargs: dict[str, Any] | None = None, episodes: int = 100, seed: int = 0
) -> Evaluation:
    """Success rate, mean return and length of ``policy``, and its return against the expert's on the same episodes.

    :param policy: batch policy (see :func:`model_policy`, :func:`network_policy`, :func:`expert_policy`)
    :param env_id: a registered ``nav_env`` id
    :param env_kwargs: task arguments
    :param episodes: number of episodes (all run at once on the vector env)
    :param seed: seed of the episodes' starts (and goals)
    :return: the figures
    """
    env_kwargs = dict(env_kwargs or {})
    success, returns, lengths = _rollout(policy, env_id, env_kwargs, episodes, seed)
    mean_return, expert_return = float(returns.mean()), expert_mean_return(env_id, env_kwargs, episodes, seed)
    return Evaluation(
        success_rate=float(success.mean()),
        mean_return=mean_return,
        mean_length=float(lengths.mean()),
        expert_return=expert_return,
        expert_return_ratio=expert_return / mean_return if mean_return != 0 else 1.0,
    )


class LearningCurveCallback(BaseCallback):
    """Evaluate the deterministic policy on fixed episodes at step 0 and every ``eval_freq`` env steps.

    :param env_id: task id
    :param env_kwargs: task arguments
    :param eval_freq: env steps between evaluations
    :param episodes: episodes per evaluation
    :param seed: seed of the evaluation episodes (the same at every evaluation)
    :param verbose: 1 prints each evaluation
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        eval_freq: int,
        episodes: int = 50,
        seed: int = 10_000,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.eval_freq, self.episodes, self.seed = eval_freq, episodes, seed
        self.curve: list[dict[str, float]] = []
        self._start = 0.0
        self._evaluation_time = 0.0
        self._last = -1

    def _evaluate(self) -> None:
        began = time.perf_counter()
        figures = evaluate(model_policy(self.model), self.env_id, self.env_kwargs, self.episodes, self.seed)
        # Training time only: the evaluations themselves are not counted.
        wall = began - self._start - self._evaluation_time
        self._evaluation_time += time.perf_counter() - began
        point = {"step": self.num_timesteps, "wall_s": wall, **figures.as_dict()}
        self.curve.append(point)
        self._last = self.num_timesteps
        if self.verbose:
            print(f"step {self.num_timesteps}: success {figures.success_rate:.0%}, return {figures.mean_return:.2f}")

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        if not self.curve or self.curve[-1]["step"] != self.num_timesteps:
            self._evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.eval_freq:
            self._evaluate()
        return True
