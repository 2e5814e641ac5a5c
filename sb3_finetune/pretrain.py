"""Where a prior comes from: behaviour cloning of a dataset, a plain SB3 model's actor, or an export.

Datasets are ``.npz`` files, Minari datasets, or a policy's rollouts.

Datasets hold actions in the env's own units, as Minari and a user's logs store them; the cloned network then
outputs env units, and the file written says so in its metadata (``action_units = env``), with its activation and,
for Dict observations, the keys it reads. Observations are standardised while training and the standardisation is
folded into the first layer afterwards, so the file is a plain Linear stack that takes raw observations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from torch import nn

from sb3_finetune.networks import (
    DEFAULT_ACTIVATION,
    NORMALISED_AFTER,
    LinearStack,
    activation_name,
    mlp_layers,
)
from sb3_finetune.weights import metadata_names, save_weights, sb3_actor_chain


@dataclass
class Dataset:
    """Observations and the actions to imitate, in the env's own units.

    :param observations: ``(n, d)``; for Dict observations the keys of ``input_keys`` concatenated
    :param actions: ``(n, k)``
    :param input_keys: for Dict observations, the keys concatenated into ``observations`` (``None`` for a Box)
    """

    observations: np.ndarray
    actions: np.ndarray
    input_keys: tuple[str, ...] | None = None

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
        return cls.from_arrays(observations, actions, origin=f"'{path}'")

    @classmethod
    def from_arrays(
        cls, observations: np.ndarray, actions: np.ndarray, input_keys: Sequence[str] | None = None, origin: str = ""
    ) -> Dataset:
        """A dataset from arrays, checked: 2-d, the same length, finite.

        :param observations: ``(n, d)``
        :param actions: ``(n, k)``
        :param input_keys: for Dict observations, the keys concatenated into ``observations``
        :param origin: where the arrays come from, for messages
        :return: the dataset
        """
        origin = origin or "the dataset"
        observations, actions = np.asarray(observations), np.asarray(actions)
        if actions.ndim == 1:
            actions = actions[:, None]
        if observations.ndim != 2 or actions.ndim != 2 or len(observations) != len(actions) or not len(actions):
            raise ValueError(
                f"{origin}: observations must be (n, d) and actions (n, k) with the same n > 0, got "
                f"{observations.shape} and {actions.shape}"
            )
        if not (np.isfinite(observations).all() and np.isfinite(actions).all()):
            raise ValueError(f"{origin} holds NaN or infinite values")
        keys = None if input_keys is None else tuple(input_keys)
        return cls(observations.astype(np.float32), actions.astype(np.float32), keys)

    def check_fits(self, observation_space: gym.Space, action_space: gym.Space, env_name: str = "the env") -> None:
        """Raise a ``ValueError`` naming both widths unless the dataset fits the env's spaces.

        :param observation_space: the env's observation space
        :param action_space: the env's action space
        :param env_name: the env, for the message
        """
        from sb3_finetune.prior import default_input_keys

        keys = self.input_keys or default_input_keys(observation_space)
        if isinstance(observation_space, gym.spaces.Dict):
            width = sum(int(np.prod(observation_space[key].shape)) for key in keys or ())
        else:
            width = int(np.prod(observation_space.shape))
        action_width = int(np.prod(action_space.shape))
        if self.observations.shape[1] != width or self.actions.shape[1] != action_width:
            raise ValueError(
                f"the dataset's observations have {self.observations.shape[1]} values and its actions "
                f"{self.actions.shape[1]}, but {env_name} has {width} and {action_width}"
            )


def minari_dataset(dataset_id: str, input_keys: Sequence[str] | None = None) -> Dataset:
    """A Minari dataset as (observation, action) pairs (read locally: ``minari.load_dataset(id, download=False)``).

    Needs the ``minari`` extra (``pip install "sb3-finetune[minari]"``). Dict observations are flattened in the
    order of ``input_keys`` (default: ``observation, desired_goal`` for a goal env, else every key, sorted).

    :param dataset_id: the dataset's id, e.g. ``"pendulum/controller-v0"``
    :param input_keys: for Dict observations, the keys to concatenate
    :return: the dataset
    """
    try:
        import minari
    except ImportError:
        raise ImportError('reading Minari datasets needs minari: pip install "sb3-finetune[minari]"') from None
    from sb3_finetune.prior import default_input_keys

    try:
        data = minari.load_dataset(dataset_id, download=False)
    except Exception as exc:
        raise FileNotFoundError(f"Minari dataset {dataset_id!r} is not available locally: {exc}") from None
    keys = tuple(input_keys) if input_keys is not None else default_input_keys(data.observation_space)
    observations, actions = [], []
    for episode in data.iterate_episodes():
        obs = episode.observations
        if isinstance(obs, Mapping):
            flat = np.concatenate([np.asarray(obs[key]).reshape(len(obs[key]), -1) for key in keys or ()], axis=1)
        else:
            flat = np.asarray(obs).reshape(len(obs), -1)
        observations.append(flat[: len(episode.actions)])  # the last observation has no action
        actions.append(np.asarray(episode.actions).reshape(len(episode.actions), -1))
    if not observations:
        raise ValueError(f"Minari dataset {dataset_id!r} has no episodes")
    return Dataset.from_arrays(np.concatenate(observations), np.concatenate(actions), keys, f"Minari {dataset_id!r}")


def rollout_dataset(
    policy: Any,
    env: gym.Env,
    steps: int,
    seed: int = 0,
    input_keys: Sequence[str] | None = None,
    noise: float = 0.0,
) -> Dataset:
    """The states a policy visits on an env, labelled with its own actions (env units): a teacher to distil.

    With ``noise`` the env is sent the policy's action plus Gaussian noise of ``noise`` times the action box's
    half-width (clipped to the box), while each state is still labelled with the policy's clean action (DART,
    Laskey et al. 2017): the states then cover the neighbourhood of the policy's own path, where a clone drifts to.

    :param policy: a batch policy in the env's units (see :mod:`sb3_finetune.evaluation`)
    :param env: the env
    :param steps: env steps to collect
    :param seed: seed of the first reset (later resets continue its random stream) and of the noise
    :param input_keys: for Dict observations, the keys to concatenate (default as :func:`minari_dataset`)
    :param noise: acting noise relative to the action box's half-width (0: act as labelled)
    :return: the dataset
    """
    from sb3_finetune.evaluation import _batch_of_one
    from sb3_finetune.prior import check_observation_space, default_input_keys, flatten_observations

    check_observation_space(env.observation_space)
    keys = tuple(input_keys) if input_keys is not None else default_input_keys(env.observation_space)
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    low, high = env.action_space.low, env.action_space.high
    generator = np.random.default_rng(seed)
    observations, actions = [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        batch = _batch_of_one(obs)
        action = np.asarray(policy(batch), dtype=np.float32).reshape(env.action_space.shape)
        observations.append(flatten_observations(batch, keys)[0].numpy())
        actions.append(action.reshape(-1))
        sent = action
        if noise > 0:
            spread = noise * (high - low) / 2
            sent = np.clip(action + spread * generator.standard_normal(action.shape), low, high).astype(np.float32)
        obs, _, terminated, truncated, _ = env.step(sent)
        if terminated or truncated:
            obs, _ = env.reset()
    return Dataset.from_arrays(np.stack(observations), np.stack(actions), keys, "the rollouts")


def behaviour_clone(
    dataset: Dataset,
    network: nn.Module | None = None,
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    hidden: Sequence[int] = (64,),
    activation: str = DEFAULT_ACTIVATION,
) -> nn.Module:
    """Train a network to output the dataset's actions (mean squared error, Adam), on the CPU.

    A new network is a :class:`~sb3_finetune.networks.LinearStack` with layers ``fc1, fc2, ...`` (for one hidden
    layer of 64, the design note's 2-64-2 agent with its key names). Its inputs are standardised with the dataset's
    mean and spread during training, and the standardisation is then folded into ``fc1``, so the result takes raw
    observations.

    :param dataset: the pairs to imitate
    :param network: the network to train as it is; a new Linear stack when ``None``
    :param epochs: passes over the dataset
    :param batch_size: minibatch size
    :param learning_rate: Adam's learning rate
    :param seed: seed of the initialisation and the shuffling
    :param hidden: hidden sizes of a new network
    :param activation: activation of a new network (a name of :data:`~sb3_finetune.networks.ACTIVATIONS`)
    :return: the trained network (in eval mode)
    """
    th.manual_seed(seed)
    observations = th.as_tensor(dataset.observations)
    actions = th.as_tensor(dataset.actions)
    mean, scale = th.zeros(observations.shape[1]), th.ones(observations.shape[1])
    if network is None:
        network = LinearStack(mlp_layers(observations.shape[1], hidden, actions.shape[1]), activation_name(activation))
        mean = observations.mean(dim=0)
        scale = observations.std(dim=0).clamp_min(1e-6)
    inputs = (observations - mean) / scale
    optimizer = th.optim.Adam(network.parameters(), lr=learning_rate)
    generator = th.Generator().manual_seed(seed)
    network.train()
    for _ in range(epochs):
        order = th.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            loss = nn.functional.mse_loss(network(inputs[index]), actions[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if isinstance(network, LinearStack) and not (th.all(mean == 0) and th.all(scale == 1)):
        first = network.linears[0]
        with th.no_grad():  # W ((x - m) / s) + b  ==  (W / s) x + (b - W (m / s))
            first.bias.sub_(first.weight @ (mean / scale))
            first.weight.div_(scale)
    return network.eval()


def prior_metadata(network: nn.Module, action_units: str, input_keys: Sequence[str] | None, source: str) -> dict:
    """Metadata written beside a prior's weights (see :func:`~sb3_finetune.weights.read_metadata`).

    :param network: the network
    :param action_units: ``"env"`` or ``"scaled"``
    :param input_keys: for Dict observations, the keys it reads
    :param source: how it was made (``"dataset"``, ``"minari"``, ``"sb3-actor"``, ``"expert"``, ...)
    :return: string metadata
    """
    metadata = {"action_units": action_units, "source": source}
    if isinstance(network, LinearStack):
        metadata["activation"] = activation_name(type(network.activation))
        if network.output_activation is not None:
            metadata["output_activation"] = activation_name(type(network.output_activation))
        if network.normalised_after:
            metadata[NORMALISED_AFTER] = ",".join(network.normalised_after)
    if input_keys:
        metadata["input_keys"] = ",".join(input_keys)
    return metadata


def pretrain(
    out: str | os.PathLike,
    dataset: Dataset | str | os.PathLike,
    epochs: int = 30,
    seed: int = 0,
    hidden: Sequence[int] = (64,),
    activation: str = DEFAULT_ACTIVATION,
    source: str = "dataset",
) -> nn.Module:
    """Behaviour-clone a dataset (actions in the env's units) into a new network and write it, with metadata.

    :param out: where to write the weights; a ``.safetensors`` suffix selects that format, anything else a torch
        file ``{"state_dict": ..., "metadata": ...}``
    :param dataset: a :class:`Dataset` or an ``.npz`` of ``observations``/``actions``
    :param epochs: passes over the data
    :param seed: seed of everything
    :param hidden: hidden layer sizes
    :param activation: activation between layers
    :param source: recorded in the metadata
    :return: the trained network
    """
    data = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    network = behaviour_clone(data, epochs=epochs, seed=seed, hidden=hidden, activation=activation)
    save_weights(network.state_dict(), out, prior_metadata(network, "env", data.input_keys, source))
    return network


def _actor_chain(path: str | os.PathLike, vec_normalize: Any = None) -> tuple[dict[str, th.Tensor], dict[str, str]]:
    """:func:`~sb3_finetune.weights.sb3_actor_chain`, with ``VecNormalize``'s statistics folded in where given."""
    state, metadata = sb3_actor_chain(path, normalised_ok=vec_normalize is not None)
    if vec_normalize is not None and vec_normalize.norm_obs:
        from sb3_finetune.decisions import say
        from sb3_finetune.normalization import fold_into_first_layer, folding_sentence

        state = fold_into_first_layer(state, metadata_names(metadata, "input_keys"), vec_normalize)
        metadata["vec_normalize_folded"] = f"clip_obs={vec_normalize.clip_obs}"
        say(folding_sentence(vec_normalize))
    return state, metadata


def sb3_actor_network(path: str | os.PathLike, vec_normalize: Any = None) -> tuple[LinearStack, dict[str, str]]:
    """An SB3 model's deterministic actor (DDPG, TD3, SAC; plain or fine-tuned here) as a Linear stack, tanh output.

    Only ``policy.pth`` (``weights_only=True``) and the readable JSON of ``data`` are read; nothing is unpickled.

    :param path: the model ``.zip``
    :param vec_normalize: the ``VecNormalize`` statistics the model trained with, folded into the first layer (as
        :func:`export` folds them): the network reads the env's own observations
    :return: the network (scaled actions, as the actor's deterministic output) and its metadata
    :raises PretrainedWeightsError: not such a model, or one fine-tuned here under ``VecNormalize`` without
        ``vec_normalize``
    """
    from sb3_finetune.networks import infer_linear_layers

    state, metadata = _actor_chain(path, vec_normalize)
    network = LinearStack(
        infer_linear_layers(state),
        metadata["activation"],
        output_activation=metadata["output_activation"],
        normalised_after=metadata_names(metadata, NORMALISED_AFTER),
    )
    network.load_state_dict(state, strict=True)
    return network.eval(), metadata


def export(
    model_path: str | os.PathLike, out: str | os.PathLike, actor_only: bool = False, vec_normalize: Any = None
) -> dict[str, th.Tensor]:
    """Write a trained SB3 model's deterministic actor as a prior: one Linear chain with tanh output.

    The file carries its metadata (scaled action units, activation, input keys), so it works as ``--pretrained``
    with any recipe and as a policy for ``evaluate``, with the same actions as the model.

    A model that arbitrates between its actor and a prior (:mod:`sb3_finetune.arbitration`) deploys both, which one
    Linear chain cannot hold: it is refused unless ``actor_only`` says that the actor alone is wanted.

    A model trained under ``VecNormalize`` acts on normalised observations, and a prior reads the env's own: with
    ``vec_normalize`` (the statistics it trained with) they are folded into the chain's first layer
    (:func:`~sb3_finetune.normalization.fold_into_first_layer`: exact where no observation would be clipped), and
    the metadata says so (``vec_normalize_folded``); a model fine-tuned here under ``VecNormalize`` is refused
    without them.

    :param model_path: a DDPG, TD3 or SAC ``.zip`` (plain, or built with the pretrained extractor)
    :param out: destination (``.safetensors`` or a torch file)
    :param actor_only: export an arbitrating model's actor alone
    :param vec_normalize: the ``VecNormalize`` statistics the model trained with (see
        :func:`~sb3_finetune.normalization.read_vec_normalize`)
    :return: the exported state dict
    :raises PretrainedWeightsError: the file is not such a model, it arbitrates and ``actor_only`` is not set, or it
        was fine-tuned here under ``VecNormalize`` and ``vec_normalize`` is not given
    :raises ValueError: ``vec_normalize`` is not of the observations the actor reads
    """
    from sb3_finetune.weights import PretrainedWeightsError, sb3_policy_state

    if not actor_only and "arbitrating" in sb3_policy_state(model_path):
        raise PretrainedWeightsError(
            f"'{model_path}' acts with the better of its actor and its prior by the critic (recipe ibrl): its actor "
            "alone is not its policy, and one Linear chain cannot hold both; load the model itself, or pass "
            "actor_only=True (--actor-only) to export the actor alone"
        )
    state, metadata = _actor_chain(model_path, vec_normalize)
    save_weights(state, out, metadata)
    return state
