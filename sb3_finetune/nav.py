"""What ``sb3_finetune`` knows about its own test bench, ``nav_env``: the expert as a policy and as a dataset.

This module, :mod:`sb3_finetune.experiment` (the nav transfer scenarios) and :mod:`sb3_finetune.demo` are the
only ones that import ``nav_env``; the rest of the library works on any Gymnasium env.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from torch import nn

import nav_env
from sb3_finetune.evaluation import Policy
from sb3_finetune.pretrain import Dataset, pretrain
from sb3_finetune.prior import Prior, load_prior


def is_nav_env(env_id: str) -> bool:
    """Whether ``env_id`` is one of ``nav_env``'s (they have an expert).

    :param env_id: an env id (``"module:Id"`` accepted)
    :return: ``True`` for ``SimpleNavigation-v0`` and ``SimpleNavigationGoal-v0``
    """
    return env_id.rpartition(":")[2] in nav_env.ENV_IDS


def expert_policy(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Policy:
    """The expert controller of a nav task, as a batch policy (actions in the env's units, ``[-1, 1]``).

    :param env_id: a ``nav_env`` id
    :param env_kwargs: task arguments
    :return: the batch policy
    """
    env = gym.make(env_id, **(env_kwargs or {})).unwrapped
    rules, goal = env.rules, env.goal

    def act(obs: Any) -> np.ndarray:
        if isinstance(obs, dict):
            return nav_env.optimal_action(obs["observation"], obs["desired_goal"], rules)
        return nav_env.optimal_action(obs, goal, rules)

    return act


def expert_dataset(
    env_id: str = "SimpleNavigation-v0", env_kwargs: dict[str, Any] | None = None, samples: int = 20_000, seed: int = 0
) -> Dataset:
    """States drawn uniformly from the task's free arena, labelled with the expert's actions.

    For the goal env the observation is ``[position, goal]`` (4 numbers), with goals drawn uniformly too.

    :param env_id: a ``nav_env`` id
    :param env_kwargs: task arguments
    :param samples: number of (observation, action) pairs
    :param seed: seed of the draws
    :return: the dataset (actions in the env's units, which are ``[-1, 1]`` here)
    """
    env = gym.make(env_id, **(env_kwargs or {})).unwrapped
    rng = np.random.default_rng(seed)
    positions = env.rules.sample_free_points(rng, samples)
    if isinstance(env.observation_space, gym.spaces.Dict):
        goals = env.rules.sample_free_points(rng, samples)
        observations = np.concatenate([positions, goals], axis=1)
    else:
        goals = np.asarray(env.goal, dtype=np.float64)
        observations = positions
    actions = nav_env.optimal_action(positions, goals, env.rules)
    return Dataset(observations.astype(np.float32), actions.astype(np.float32))


def pretrain_expert(
    out: str | os.PathLike,
    env_id: str = "SimpleNavigation-v0",
    env_kwargs: dict[str, Any] | None = None,
    samples: int = 20_000,
    epochs: int = 30,
    seed: int = 0,
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
) -> nn.Module:
    """Behaviour-clone the nav expert into a network (the design note's 2-64-2 by default) and write it.

    :param out: weights file (``.safetensors`` or a torch file)
    :param env_id: a ``nav_env`` id
    :param env_kwargs: task arguments
    :param samples: expert pairs
    :param epochs: passes over the data
    :param seed: seed of everything
    :param hidden: hidden layer sizes
    :param activation: activation between layers
    :return: the trained network
    """
    dataset = expert_dataset(env_id, env_kwargs, samples, seed)
    if env_id.rpartition(":")[2] == "SimpleNavigationGoal-v0":
        dataset.input_keys = ("observation", "desired_goal")
    return pretrain(out, dataset, epochs, seed, hidden, activation, source="expert")


def nav_prior(weights: Any, env_id: str, env_kwargs: dict[str, Any] | None = None) -> Prior:
    """A network (or weights) as a prior on a nav task (its actions are ``[-1, 1]``: no units to state).

    :param weights: a module or weights source
    :param env_id: a ``nav_env`` id
    :param env_kwargs: task arguments
    :return: the prior
    """
    env = gym.make(env_id, **(env_kwargs or {}))
    return load_prior(weights, env.action_space, env.observation_space)
