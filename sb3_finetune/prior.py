"""The prior: a pretrained network used as a policy on an env, with its action units stated.

A pretrained network maps observations to actions in one of two units:

- ``"env"``: the env's own units, those of ``env.action_space`` (Pendulum's torque in ``[-2, 2]``). Behaviour
  cloning of a controller, of a user's logs or of a Minari dataset gives these: datasets store the actions the env
  was sent.
- ``"scaled"``: SB3's units, ``[-1, 1]`` mapped linearly onto the action box. An SB3 actor outputs these.

Where the action box is ``[-1, 1]`` the two agree and nothing needs saying. Otherwise the units come from, in
order: the caller (``action_units=``, ``--action-units``), the weights file's metadata (files written by
``sb3-finetune pretrain`` record them), or the file's kind (a plain SB3 model is ``"scaled"``). Nothing is
guessed: a network whose units are unknown on a box other than ``[-1, 1]`` is refused with a message saying how
to state them.

Inside SB3 the prior always speaks scaled units (:meth:`Prior.forward`); towards the env, :meth:`Prior.predict`
maps them back exactly as SB3's ``unscale_action`` does, so the prior and a model that acts like it send the env
identical actions.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from torch import nn

from sb3_finetune.decisions import say
from sb3_finetune.networks import (
    DEFAULT_ACTIVATION,
    NORMALISED_AFTER,
    LinearStack,
    activation_name,
    infer_linear_layers,
)
from sb3_finetune.weights import PretrainedWeightsError, WeightsSource, metadata_names, read_metadata, read_weights

ACTION_UNITS = ("env", "scaled")
"""The two units a prior's output can be in (see the module docstring)."""


@dataclass
class PriorInfo:
    """How a prior was read: what was stated, what was read from the file, and what was assumed.

    :param action_units: ``"env"`` or ``"scaled"``
    :param action_units_from: ``"stated"``, ``"metadata"``, ``"sb3 model"`` or ``"[-1, 1] action box"``
    :param activation: the activation between a Linear stack's layers (``None`` for another module)
    :param activation_from: ``"stated"``, ``"metadata"`` or ``"assumed"``
    :param input_keys: for Dict observations, the keys concatenated into the network's input
    :param assumptions: one sentence per decision taken for the user (also logged)
    """

    action_units: str
    action_units_from: str
    activation: str | None = None
    activation_from: str | None = None
    input_keys: tuple[str, ...] | None = None
    assumptions: list[str] = field(default_factory=list)


def _is_unit_box(space: gym.spaces.Box) -> bool:
    return bool(np.all(space.low == -1.0) and np.all(space.high == 1.0))


def default_input_keys(space: gym.Space) -> tuple[str, ...] | None:
    """The Dict keys a prior reads by default: ``observation, desired_goal`` for a goal env, else all, sorted.

    :param space: the observation space
    :return: the keys (``None`` for a Box)
    """
    if not isinstance(space, gym.spaces.Dict):
        return None
    keys = tuple(space.spaces)
    if "observation" in keys and "desired_goal" in keys:
        return ("observation", "desired_goal")
    return tuple(sorted(keys))


def flatten_observations(observations: Any, input_keys: Sequence[str] | None) -> th.Tensor:
    """A batch of observations as the network's flat float32 input.

    :param observations: a tensor or array ``(batch, ...)``, or a dict of them
    :param input_keys: for a dict, the keys to concatenate, in order
    :return: ``(batch, features)``
    """
    if isinstance(observations, Mapping):
        if input_keys is None:
            raise ValueError("Dict observations need input_keys")
        parts = [
            th.as_tensor(
                np.asarray(observations[key]) if not isinstance(observations[key], th.Tensor) else observations[key]
            )
            for key in input_keys
        ]
        return th.cat([part.flatten(1).float() for part in parts], dim=1)
    if not isinstance(observations, th.Tensor):
        observations = th.as_tensor(np.asarray(observations))
    return observations.flatten(1).float()


class Prior(nn.Module):
    """A pretrained network used as a policy: scaled actions for SB3, env actions for the env.

    Build it with :func:`load_prior`. Its network is a frozen copy.

    :param network: maps flat observations to actions
    :param action_space: the env's action box (finite bounds)
    :param info: units, activation and input keys (see :class:`PriorInfo`)
    """

    def __init__(self, network: nn.Module, action_space: gym.spaces.Box, info: PriorInfo) -> None:
        super().__init__()
        if info.action_units not in ACTION_UNITS:
            raise ValueError(f"action_units must be one of {ACTION_UNITS}, got {info.action_units!r}")
        self.network = copy.deepcopy(network).requires_grad_(False).eval()
        self.action_space = action_space
        self.info = info
        self.register_buffer("low", th.as_tensor(action_space.low, dtype=th.float32).flatten())
        self.register_buffer("high", th.as_tensor(action_space.high, dtype=th.float32).flatten())

    @property
    def action_units(self) -> str:
        """``"env"`` or ``"scaled"``: what the network outputs."""
        return self.info.action_units

    def forward(self, observations: Any) -> th.Tensor:
        """Scaled actions in ``[-1, 1]`` for a batch of observations (tensors, arrays, or a dict of them)."""
        with th.no_grad():
            output = self.network(flatten_observations(observations, self.info.input_keys).to(self.low.device))
            if self.action_units == "env":
                output = 2.0 * (output - self.low) / (self.high - self.low) - 1.0
            return output.clamp(-1.0, 1.0)

    def predict(self, observations: Any) -> np.ndarray:
        """Env actions for a batch of observations, mapped from the scaled ones exactly as SB3 maps a model's.

        :param observations: array ``(batch, ...)`` or dict of arrays
        :return: actions ``(batch, *action_shape)`` in the env's units
        """
        scaled = self(observations).cpu().numpy().reshape((-1, *self.action_space.shape))
        low, high = self.action_space.low, self.action_space.high
        return low + (0.5 * (scaled + 1.0) * (high - low))


def _module_from_weights(
    source: WeightsSource, activation: str | None, architecture: nn.Module | type[nn.Module] | None
) -> tuple[nn.Module, dict[str, str], str | None, str | None]:
    """The network, the file's metadata, and the Linear stack's activation with where it came from."""
    if isinstance(source, nn.Module):
        return source, {}, None, None
    metadata = read_metadata(source) if isinstance(source, (str, os.PathLike)) else {}
    state = read_weights(source)
    if architecture is not None:
        network = architecture() if isinstance(architecture, type) else copy.deepcopy(architecture)
        network.load_state_dict(state, strict=True)
        return network, metadata, None, None
    if activation is not None:
        chosen, origin = activation_name(activation), "stated"
    elif metadata.get("activation"):
        chosen, origin = activation_name(metadata["activation"]), "metadata"
    else:
        chosen, origin = DEFAULT_ACTIVATION, "assumed"
    network = LinearStack(
        infer_linear_layers(state),
        chosen,
        output_activation=metadata.get("output_activation"),
        normalised_after=metadata_names(metadata, NORMALISED_AFTER),
    )
    network.load_state_dict(state, strict=True)
    return network, metadata, chosen, origin


def finite_box(space: gym.Space) -> bool:
    """Whether ``space`` is a Box with finite bounds: the action space a prior needs, as DDPG, TD3 and SAC do.

    :param space: an action space
    :return: ``True`` for such a Box
    """
    return isinstance(space, gym.spaces.Box) and bool(
        np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
    )


def check_observation_space(space: gym.Space, for_prior: bool = True) -> None:
    """Refuse observations that SB3's policies, or a prior, cannot take, naming the wrapper that fixes them.

    SB3's policies take a Box of at least one dimension, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``, or a flat
    Dict of those; a prior reads Boxes (or a Dict of them) as they are.

    :param space: the env's observation space
    :param for_prior: a prior will read them (``False``: training from scratch)
    :raises ValueError: such a space
    """
    parts = space.spaces.items() if isinstance(space, gym.spaces.Dict) else [("", space)]
    wrapper = "an env_wrapper in the RL Zoo's hyperparameter file"
    for key, part in parts:
        where = f"the observations' {key!r}" if key else "the observations"
        if isinstance(part, gym.spaces.Box):
            if part.shape == ():
                raise ValueError(
                    f"{where} are a box of no dimension (a scalar), which SB3's policies do not take: give them one "
                    f"(gymnasium.wrappers.ReshapeObservation(env, (1,)), {wrapper})"
                )
        elif isinstance(part, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
            if for_prior:
                raise ValueError(
                    f"{where} are {part}: SB3 one-hot encodes them, and a prior reads observations as they are; "
                    f"make them a Box (gymnasium.wrappers.FlattenObservation one-hot encodes them, {wrapper})"
                )
        else:
            raise ValueError(
                f"{where} are {type(part).__name__} ({part}), which SB3's policies do not take: make them a Box "
                f"(gymnasium.wrappers.FlattenObservation, {wrapper})"
            )


def load_prior(
    source: WeightsSource | Prior,
    action_space: gym.Space,
    observation_space: gym.Space | None = None,
    action_units: str | None = None,
    activation: str | None = None,
    architecture: nn.Module | type[nn.Module] | None = None,
    input_keys: Sequence[str] | None = None,
) -> Prior:
    """Read a pretrained network as a :class:`Prior` for an env with these spaces.

    :param source: weights (a file written by ``sb3-finetune pretrain``, a state dict file, ``.safetensors``, a
        plain SB3 model ``.zip``, a state dict or an ``nn.Module``), or a prior (returned as it is)
    :param action_space: the env's action space (a Box with finite bounds)
    :param observation_space: the env's observation space (checked against the network's input size)
    :param action_units: ``"env"`` or ``"scaled"`` (see the module docstring); ``None``: from the file, or
        unneeded where the box is ``[-1, 1]``
    :param activation: for a Linear stack read off a state dict, its activation; ``None``: from the file's
        metadata, else ReLU (an assumption, logged and kept in :attr:`Prior.info`)
    :param architecture: the network's class or an instance, for a network that is not a Linear stack
    :param input_keys: for Dict observations, the keys the network reads, concatenated in this order; ``None``: the
        file's metadata, else those of :func:`default_input_keys`
    :return: the prior
    :raises PretrainedWeightsError: the weights do not fit, or the units are unknown where they matter
    """
    if isinstance(source, Prior):
        return source
    if not finite_box(action_space):
        raise PretrainedWeightsError(f"a prior needs a Box action space with finite bounds, got {action_space}")
    network, metadata, chosen_activation, activation_from = _module_from_weights(source, activation, architecture)
    assumptions = []
    if action_units is not None:
        if action_units not in ACTION_UNITS:
            raise ValueError(f"action_units must be one of {ACTION_UNITS}, got {action_units!r}")
        units, units_from = action_units, "stated"
    elif metadata.get("action_units") in ACTION_UNITS:
        units = metadata["action_units"]
        units_from = "sb3 model" if metadata.get("source") == "sb3-actor" else "metadata"
    elif _is_unit_box(action_space):
        units, units_from = "scaled", "[-1, 1] action box"
    else:
        raise PretrainedWeightsError(
            f"the action box is [{action_space.low.min():g}, {action_space.high.max():g}], not [-1, 1], and nothing "
            "says which units the network outputs: pass action_units='env' (the env's own units, as datasets and "
            "controllers give) or 'scaled' ([-1, 1], as SB3 actors give); on the command line --action-units"
        )
    if activation_from == "assumed" and len(getattr(network, "layer_specs", ())) > 1:
        assumptions.append(
            f"the network was read off a state dict as {len(network.layer_specs)} Linear layers with "
            f"{DEFAULT_ACTIVATION} between them (assumed: pass activation= to say otherwise)"
        )
    keys = None
    if observation_space is not None:
        if input_keys is not None:
            keys = tuple(input_keys)
        else:
            keys = metadata_names(metadata, "input_keys") or default_input_keys(observation_space)
    info = PriorInfo(units, units_from, chosen_activation, activation_from, keys, assumptions)
    prior = Prior(network, action_space, info)
    if observation_space is not None:
        check_observation_space(observation_space)
        _check_fits(prior, observation_space)
    for sentence in assumptions:
        say(sentence, warn=True)
    return prior


def _check_fits(prior: Prior, observation_space: gym.Space) -> None:
    sample = observation_space.sample()
    if isinstance(sample, Mapping):
        batch: Any = {key: np.asarray(value)[None] for key, value in sample.items()}
        missing = [key for key in prior.info.input_keys or () if key not in batch]
        if missing:
            raise PretrainedWeightsError(f"the prior reads keys {missing} that the observations do not have")
        batch = {key: np.zeros_like(value, dtype=np.float32) for key, value in batch.items()}
    else:
        batch = np.zeros((1, *observation_space.shape), dtype=np.float32)
    size = int(flatten_observations(batch, prior.info.input_keys).shape[1])
    try:
        output = prior.network(th.zeros((1, size)))
    except Exception as exc:
        raise PretrainedWeightsError(
            f"the pretrained network does not take this env's observations ({size} values): {exc}"
        ) from None
    expected = int(np.prod(prior.action_space.shape))
    if output.dim() != 2 or output.shape[1] != expected:
        raise PretrainedWeightsError(
            f"the pretrained network outputs {tuple(output.shape[1:])} values but the env's action has {expected}"
        )
