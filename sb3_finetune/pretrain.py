"""Where pretrained weights come from: behaviour cloning of the expert, or export from a trained SB3 model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from torch import nn

import nav_env
from sb3_finetune.networks import SimpleNavigationAgent
from sb3_finetune.weights import save_weights, sb3_zip_extractor_state


@dataclass
class Dataset:
    """Observations and the actions to imitate."""

    observations: np.ndarray
    actions: np.ndarray

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` with the arrays ``observations`` and ``actions``."""
        np.savez(path, observations=self.observations, actions=self.actions)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Dataset:
        """Read an ``.npz`` with the arrays ``observations`` (n, d) and ``actions`` (n, k); no pickles.

        :param path: the file
        :return: the dataset
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"dataset file not found: '{path}'")
        try:
            with np.load(path, allow_pickle=False) as data:
                observations, actions = data["observations"], data["actions"]
        except KeyError as exc:
            raise ValueError(f"'{path}' must hold the arrays 'observations' and 'actions' (missing {exc})") from None
        except Exception as exc:
            raise ValueError(f"'{path}' is not a readable .npz dataset: {exc}") from None
        if observations.ndim != 2 or actions.ndim != 2 or len(observations) != len(actions):
            raise ValueError(
                f"'{path}': observations must be (n, d) and actions (n, k) with the same n, got "
                f"{observations.shape} and {actions.shape}"
            )
        if not (np.isfinite(observations).all() and np.isfinite(actions).all()):
            raise ValueError(f"'{path}' holds NaN or infinite values")
        return cls(observations.astype(np.float32), actions.astype(np.float32))


def expert_dataset(
    env_id: str = "SimpleNavigation-v0", env_kwargs: dict[str, Any] | None = None, samples: int = 20_000, seed: int = 0
) -> Dataset:
    """States drawn uniformly from the task's free arena, labelled with the expert's actions.

    For the goal env the observation is ``[position, goal]`` (4 numbers), with goals drawn uniformly too.

    :param env_id: a ``nav_env`` id
    :param env_kwargs: task arguments
    :param samples: number of (observation, action) pairs
    :param seed: seed of the draws
    :return: the dataset
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


def behaviour_clone(
    dataset: Dataset,
    network: nn.Module | None = None,
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> nn.Module:
    """Train ``network`` to output the dataset's actions (mean squared error, Adam), on the CPU.

    :param dataset: the pairs to imitate
    :param network: the network to train; a new :class:`SimpleNavigationAgent` of the right sizes when ``None``
    :param epochs: passes over the dataset
    :param batch_size: minibatch size
    :param learning_rate: Adam's learning rate
    :param seed: seed of the initialisation and the shuffling
    :return: the trained network (in eval mode)
    """
    th.manual_seed(seed)
    observations = th.as_tensor(dataset.observations)
    actions = th.as_tensor(dataset.actions)
    if network is None:
        network = SimpleNavigationAgent(observations.shape[1], 64, actions.shape[1])
    optimizer = th.optim.Adam(network.parameters(), lr=learning_rate)
    generator = th.Generator().manual_seed(seed)
    network.train()
    for _ in range(epochs):
        order = th.randperm(len(observations), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            loss = nn.functional.mse_loss(network(observations[index]), actions[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return network.eval()


def pretrain(
    out: str | os.PathLike,
    env_id: str = "SimpleNavigation-v0",
    env_kwargs: dict[str, Any] | None = None,
    dataset: str | os.PathLike | Dataset | None = None,
    samples: int = 20_000,
    epochs: int = 30,
    seed: int = 0,
) -> nn.Module:
    """Behaviour-clone the expert (or a dataset) into the design note's network and write its state dict.

    :param out: where to write the weights; a ``.safetensors`` suffix selects that format, anything else a plain
        ``torch.save`` state dict
    :param env_id: source task id (ignored with a dataset)
    :param env_kwargs: source task arguments
    :param dataset: an ``.npz`` of ``observations``/``actions`` (or a :class:`Dataset`) instead of the expert
    :param samples: expert pairs to draw
    :param epochs: passes over the data
    :param seed: seed of everything
    :return: the trained network
    """
    if dataset is None:
        data = expert_dataset(env_id, env_kwargs, samples, seed)
    elif isinstance(dataset, Dataset):
        data = dataset
    else:
        data = Dataset.load(dataset)
    network = behaviour_clone(data, epochs=epochs, seed=seed)
    save_weights(network.state_dict(), out)
    return network


def export(model_path: str | os.PathLike, out: str | os.PathLike) -> dict[str, th.Tensor]:
    """Write the pretrained part of a trained SB3 model as weights for a new task.

    :param model_path: a ``.zip`` saved by a model built with :class:`~sb3_finetune.PretrainedFeaturesExtractor`
    :param out: destination (``.safetensors`` or a torch state dict)
    :return: the exported state dict
    :raises PretrainedWeightsError: the file is not such a model
    """
    state = sb3_zip_extractor_state(model_path)
    save_weights(state, out)
    return state
