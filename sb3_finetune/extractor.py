"""The SB3 features extractor that runs a pretrained network."""

from __future__ import annotations

import contextvars
import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_finetune.networks import (
    DEFAULT_ACTIVATION,
    NORMALISED_AFTER,
    NORMALISED_BUFFER,
    LayerSpec,
    LinearStack,
    activation_name,
    infer_linear_layers,
)
from sb3_finetune.weights import PretrainedWeightsError, WeightsSource, metadata_names, read_metadata, read_weights

Architecture = Sequence[LayerSpec] | type[nn.Module] | nn.Module
"""How the pretrained network is named: Linear layer specs, a module class (built with no arguments) or an instance."""

# Set by sb3_finetune.load_model while SB3 rebuilds a saved model whose weights file is gone.
_FALLBACK_ARCHITECTURE: contextvars.ContextVar[Architecture | None] = contextvars.ContextVar(
    "sb3_finetune_fallback_architecture", default=None
)
# ... and the layers its network normalises inside, read from the model's own state dict (NORMALISED_BUFFER).
_FALLBACK_NORMALISED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "sb3_finetune_fallback_normalised", default=()
)


def _shape_mismatches(expected: Mapping[str, tuple[int, ...]], state: Mapping[str, th.Tensor]) -> list[str]:
    return [
        f"layer {key.rpartition('.')[0] or key!r} ({key}): the network has shape {expected[key]}, "
        f"the weights have {tuple(state[key].shape)}"
        for key in expected
        if key in state and tuple(state[key].shape) != expected[key]
    ]


def check_state_fits(expected: Mapping[str, tuple[int, ...]], state: Mapping[str, th.Tensor], origin: str) -> None:
    """Raise a :class:`PretrainedWeightsError` that lists missing and unexpected keys and every shape mismatch.

    :param expected: the network's keys and shapes
    :param state: the weights to load
    :param origin: what the weights are, for the message
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    problems += _shape_mismatches(expected, state)
    if problems:
        raise PretrainedWeightsError(f"{origin} do not fit the pretrained network: " + "; ".join(problems))


def _build_network(
    architecture: Architecture | None,
    state: Mapping[str, th.Tensor] | None,
    activation: str = DEFAULT_ACTIVATION,
    output_activation: str | None = None,
    normalised_after: Sequence[str] = (),
) -> nn.Module:
    if architecture is None:
        assert state is not None
        layers = infer_linear_layers(state)
        return LinearStack(layers, activation, output_activation=output_activation, normalised_after=normalised_after)
    if isinstance(architecture, nn.Module):
        return copy.deepcopy(architecture)
    if isinstance(architecture, type) and issubclass(architecture, nn.Module):
        return architecture()
    if isinstance(architecture, Sequence) and not isinstance(architecture, (str, bytes)):
        layers = [tuple(layer) for layer in architecture]
        return LinearStack(
            layers,  # type: ignore[arg-type]
            activation,
            output_activation=output_activation,
            normalised_after=normalised_after,
        )
    raise TypeError(
        "architecture must be an nn.Module class or instance, or a list of (name, in, out, bias) Linear layers, "
        f"got {architecture!r}"
    )


def _architecture_spec(network: nn.Module, architecture: Architecture | None) -> Architecture:
    """A description of the network that rebuilds it without the weights file (it is saved with the model)."""
    if isinstance(network, LinearStack):
        return [list(layer) for layer in network.layer_specs]
    return architecture if architecture is not None else type(network)


def _truncate(network: nn.Module, features_layer: int | None) -> nn.Module:
    """Keep the layers up to ``features_layer`` (1-based); the features are that layer's activations."""
    if features_layer is None:
        return network
    if isinstance(features_layer, bool) or not isinstance(features_layer, (int, np.integer)):
        raise TypeError(f"features_layer must be an int (number of layers to keep) or None, got {features_layer!r}")
    if isinstance(network, LinearStack):
        count = len(network.layer_specs)
        if not 1 <= features_layer < count:
            raise ValueError(
                f"features_layer must be between 1 and {count - 1} for this network (a hidden layer), got "
                f"{features_layer}; leave it None for the network's output"
            )
        kept = network.layer_specs[:features_layer]
        names = {name for name, *_ in kept}
        truncated = LinearStack(
            kept,
            type(network.activation),
            final_activation=True,
            normalised_after=[name for name in network.normalised_after if name in names],
        )
        truncated.load_state_dict(network.state_dict(), strict=False)
        return truncated
    if isinstance(network, nn.Sequential):
        count = len(network)
        if not 1 <= features_layer < count:
            raise ValueError(
                f"features_layer must be between 1 and {count - 1} for this nn.Sequential (children kept), got "
                f"{features_layer}; leave it None for the network's output"
            )
        return network[:features_layer]
    raise ValueError(
        "features_layer needs a network inferred from Linear layers or an nn.Sequential; "
        f"got {type(network).__name__}: wrap the part you want in an nn.Sequential"
    )


def layer_norm_refusal(features_dim: int) -> str | None:
    """Why ``layer_norm`` cannot normalise features of this width (``None`` where it can): it needs at least 2.

    :param features_dim: the number of features
    :return: the reason, or ``None``
    """
    if features_dim < 2:
        return f"layer_norm needs at least 2 features to normalise across, the network gives {features_dim}"
    return None


def _layers_of(network: nn.Module) -> list[nn.Module]:
    """The units that ``freeze=k`` counts: Linear layers of a stack, else children that own parameters."""
    if isinstance(network, LinearStack):
        return network.linears
    layers = [child for child in network.children() if any(True for _ in child.parameters())]
    return layers or [network]


class PretrainedFeaturesExtractor(BaseFeaturesExtractor):
    """Runs a pretrained network as the features extractor of an SB3 policy, in every network that owns one.

    Use it the SB3 way, for DDPG, TD3 and SAC (and sb3-contrib's TQC and CrossQ)::

        SAC("MlpPolicy", env, policy_kwargs=dict(
            features_extractor_class=PretrainedFeaturesExtractor,
            features_extractor_kwargs=dict(weights="agent.pt", freeze=True),
        ))

    SB3 builds one instance per network (actor, critic and their targets, unless ``share_features_extractor``);
    each loads the same weights. Frozen layers are kept as buffers, not parameters: no gradient is computed for
    them, no optimizer holds them, and SB3's polyak update (which walks ``parameters()``) cannot move them by
    rounding. :func:`sb3_finetune.set_frozen_layers` and the callbacks unfreeze them during training.

    :param observation_space: the observation space (given by SB3)
    :param weights: the pretrained weights: a path to a state dict (``torch.save(model.state_dict(), path)``),
        a ``.safetensors`` file, an SB3 model ``.zip`` (its actor's pretrained part), a state dict or an
        ``nn.Module``. ``None`` builds ``architecture`` with fresh weights (SB3 then loads a saved model's).
    :param architecture: the network, when it is not a chain of Linear layers that the state dict's shapes name
        (ReLU between layers): an ``nn.Module`` class (called without arguments) or instance, or a list of
        ``(name, in_features, out_features, has_bias)`` Linear layers. Recorded with the model, so that a saved
        model loads where the weights file is gone.
    :param features_layer: ``None`` (default): the features are the network's output, as in the design note;
        ``k``: the activations after the ``k``-th Linear layer of an inferred stack (for the note's 2-64-2 agent,
        ``1`` gives the 64 hidden units), or the output of the first ``k`` children of an ``nn.Sequential``.
        Layers after it are dropped.
    :param freeze: ``True`` freezes the whole pretrained network, an int ``k`` its first ``k`` layers,
        ``False``/``0`` nothing
    :param activation: for a Linear stack, the activation between its layers (a name of
        :data:`~sb3_finetune.networks.ACTIVATIONS`); ``None``: the weights file's metadata, else ``"relu"``
    :param output_activation: for a Linear stack, the activation of its output (``"tanh"`` for an SB3 actor);
        ``None``: the weights file's metadata, else none
    :param input_keys: for Dict observations, the keys concatenated (in this order) into the network's input;
        ``None``: the weights file's metadata, else ``observation, desired_goal`` for a goal env and every key in
        sorted order otherwise
    :param layer_norm: normalise each observation's features to zero mean and unit variance across units (a
        ``LayerNorm`` with no learned scale or shift) before the policy's own layers. It gives the new heads inputs
        of a fixed scale whatever the pretrained layers learned, which keeps a TD3/DDPG actor on frozen features out
        of tanh saturation (see the README); it needs at least 2 features.
    :param normalised_after: for a Linear stack, the layers whose activations it layer-normalises inside (see
        :class:`~sb3_finetune.networks.LinearStack`; a prior exported from a model whose trust gate stood its own
        prior down has one); ``None``: the weights file's metadata, else none
    """

    def __init__(
        self,
        observation_space: gym.Space,
        weights: WeightsSource | None = None,
        architecture: Architecture | None = None,
        features_layer: int | None = None,
        freeze: bool | int = False,
        activation: str | None = None,
        output_activation: str | None = None,
        input_keys: Sequence[str] | None = None,
        layer_norm: bool = False,
        normalised_after: Sequence[str] | None = None,
    ) -> None:
        if weights is None and architecture is None:
            raise ValueError("PretrainedFeaturesExtractor needs `weights`, or `architecture` to build fresh weights")
        if isinstance(weights, nn.Module) and architecture is None:
            architecture = weights
        state = self._read(weights, architecture)
        from_saved_model = architecture is None and state is None
        if from_saved_model:
            architecture = _FALLBACK_ARCHITECTURE.get()
        metadata = read_metadata(weights) if isinstance(weights, (str, os.PathLike)) else {}
        activation = activation_name(activation or metadata.get("activation") or DEFAULT_ACTIVATION)
        output_activation = output_activation or metadata.get("output_activation") or None
        if normalised_after is None:
            normalised_after = (
                _FALLBACK_NORMALISED.get() if from_saved_model else metadata_names(metadata, NORMALISED_AFTER)
            )
        normalised = tuple(normalised_after)
        cut_already = from_saved_model and features_layer is not None  # its last layer is followed by an activation
        inside = () if cut_already else normalised
        full_network = _build_network(architecture, state, activation, output_activation, inside)
        expected = {key: tuple(value.shape) for key, value in full_network.state_dict().items()}
        if state is not None:
            check_state_fits(expected, state, "the pretrained weights")
            full_network.load_state_dict(state, strict=True)
        if cut_already and isinstance(full_network, LinearStack):
            # The saved model's extractor was already cut at features_layer: that is all the .zip holds.
            names = {name for name, *_ in full_network.layer_specs}
            normalised = tuple(name for name in normalised if name in names)
            network: nn.Module = LinearStack(
                full_network.layer_specs, activation, final_activation=True, normalised_after=normalised
            )
        else:
            normalised = full_network.normalised_after if isinstance(full_network, LinearStack) else ()
            network = _truncate(full_network, features_layer)
        if input_keys is None:
            input_keys = metadata_names(metadata, "input_keys") or None
        input_keys = self._input_keys(observation_space, input_keys)
        features_dim = self._check_observations(network, observation_space, input_keys)
        refusal = layer_norm_refusal(features_dim) if layer_norm else None
        if refusal is not None:
            raise ValueError(f"{refusal}: use a wider layer as the features (features_layer) or layer_norm=False")
        super().__init__(observation_space, features_dim)
        self.layer_norm = bool(layer_norm)
        self.normalised_after = normalised
        applied = network.normalised_after if isinstance(network, LinearStack) else ()
        if applied:  # said in the state dict too: a model saved with hand-written kwargs still says where
            names = [name for name, *_ in network.layer_specs]
            self.register_buffer(NORMALISED_BUFFER, th.tensor([names.index(name) for name in applied]))
        # Features the network normalises already (cut where a stood-down model's export normalised) are not
        # normalised again by layer_norm: once is what the exported chain of such a model can hold, exactly
        self._features_normalised = bool(applied) and applied[-1] == network.layer_specs[-1][0]
        self.input_keys = input_keys
        self.network = network
        self.architecture = _architecture_spec(full_network, architecture)
        self.features_layer = features_layer
        self.activation = activation
        self.output_activation = output_activation
        self._full_shapes = expected
        self._layers = _layers_of(network)
        # Per layer, the (module, name) pairs of the parameters that freezing turned into buffers.
        self._frozen: list[list[tuple[nn.Module, str]]] = []
        self.set_frozen_layers(self._as_layer_count(freeze))

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _read(weights: WeightsSource | None, architecture: Architecture | None) -> dict[str, th.Tensor] | None:
        if weights is None:
            return None
        try:
            return read_weights(weights)
        except FileNotFoundError:
            if architecture is not None or _FALLBACK_ARCHITECTURE.get() is not None:
                return None  # a saved model being rebuilt: its trained weights come from the .zip
            path = os.fspath(weights)  # type: ignore[arg-type]
            raise FileNotFoundError(
                f"pretrained weights file not found: '{path}'. If you are loading a saved model, its trained weights "
                "are inside the .zip and only the network's shape is missing: load it with "
                "sb3_finetune.load_model(path, ALGO), or copy the weights file back to that path. "
                "(Models built by load_pretrained, finetune or pretrained_policy_kwargs record the shape and load "
                "anywhere.)"
            ) from None

    @staticmethod
    def _input_keys(observation_space: gym.Space, wanted: Sequence[str] | None = None) -> tuple[str, ...] | None:
        """For Dict observations, the keys fed to the network, in order (``None`` for a Box)."""
        if isinstance(observation_space, gym.spaces.Box):
            return None
        if isinstance(observation_space, gym.spaces.Dict):
            keys = tuple(observation_space.spaces)
            if wanted is not None:
                unknown = [key for key in wanted if key not in keys]
                if unknown:
                    raise PretrainedWeightsError(f"input keys {unknown} are not in the observation space {list(keys)}")
                return tuple(wanted)
            if "observation" in keys and "desired_goal" in keys:
                return ("observation", "desired_goal")  # a goal env: achieved_goal repeats the observation
            return tuple(sorted(keys))
        raise ValueError(f"PretrainedFeaturesExtractor needs a Box or Dict observation space, got {observation_space}")

    @staticmethod
    def _check_observations(network: nn.Module, observation_space: gym.Space, keys: tuple[str, ...] | None) -> int:
        if keys is None:
            shape = observation_space.shape
            size = int(np.prod(shape))
        else:
            shape = tuple(int(np.prod(observation_space[key].shape)) for key in keys)
            size = int(sum(shape))
            shape = f"{dict(zip(keys, shape, strict=True))} (concatenated)"  # type: ignore[assignment]
        if isinstance(network, LinearStack) and network.in_features != size:
            first = network.layer_specs[0][0]
            raise PretrainedWeightsError(
                f"layer {first!r} takes {network.in_features} inputs but the observations have shape {shape} "
                f"({size} values): the weights do not fit this observation space"
            )
        probe = th.zeros((1, size), dtype=th.float32)
        try:
            with th.no_grad():
                output = network(probe)
        except Exception as exc:
            raise PretrainedWeightsError(
                f"the pretrained network does not accept observations of shape {shape} ({size} values): {exc}"
            ) from None
        if not isinstance(output, th.Tensor) or output.dim() != 2 or output.shape[0] != 1:
            got = tuple(output.shape) if isinstance(output, th.Tensor) else type(output).__name__
            raise PretrainedWeightsError(
                f"the pretrained network must map (batch, {size}) to (batch, features); it returned {got}"
            )
        return int(output.shape[1])

    def _as_layer_count(self, freeze: bool | int) -> int:
        if isinstance(freeze, (bool, np.bool_)):
            return len(self._layers) if freeze else 0
        if not isinstance(freeze, (int, np.integer)) or not 0 <= freeze <= len(self._layers):
            raise ValueError(
                f"freeze must be True, False or a number of layers between 0 and {len(self._layers)}, got {freeze!r}"
            )
        return int(freeze)

    # ------------------------------------------------------------------ forward

    def forward(self, observations: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        """Features of a batch of observations: the pretrained network's output (or a hidden layer's).

        Dict observations are flattened and concatenated in :attr:`input_keys` order; with :attr:`layer_norm` the
        features are normalised across units.
        """
        if self.input_keys is not None:
            observations = th.cat([observations[key].flatten(1) for key in self.input_keys], dim=1)
        features = self.network(observations.flatten(1))
        if self.layer_norm and not self._features_normalised:
            features = nn.functional.layer_norm(features, (self.features_dim,))
        return features

    # ------------------------------------------------------------------ freezing

    @property
    def num_layers(self) -> int:
        """Number of layers that ``freeze`` counts."""
        return len(self._layers)

    @property
    def frozen_layers(self) -> int:
        """Number of frozen layers (the first ones)."""
        return len(self._frozen)

    def set_frozen_layers(self, count: int) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """Freeze exactly the first ``count`` layers (turning their parameters into buffers) and unfreeze the rest.

        Prefer :func:`sb3_finetune.set_frozen_layers`, which does this in every network of a model and updates the
        optimizers; this method changes only this instance.

        :param count: number of layers to keep frozen, from the first
        :return: ``(unfrozen, frozen)``: the parameters that were created, and those that were removed
        """
        count = self._as_layer_count(count)
        unfrozen: list[nn.Parameter] = []
        frozen: list[nn.Parameter] = []
        while len(self._frozen) > count:  # unfreeze, last frozen layer first
            for module, name in self._frozen.pop():
                parameter = nn.Parameter(module._buffers.pop(name))
                module.register_parameter(name, parameter)
                unfrozen.append(parameter)
        while len(self._frozen) < count:
            entries = []
            for module in self._layers[len(self._frozen)].modules():
                for name, parameter in list(module._parameters.items()):
                    if parameter is None:
                        continue
                    del module._parameters[name]
                    module.register_buffer(name, parameter.detach())
                    entries.append((module, name))
                    frozen.append(parameter)
            self._frozen.append(entries)
        return unfrozen, frozen

    # ------------------------------------------------------------------ weights

    def check_weights(self, state: Mapping[str, th.Tensor], origin: str = "the weights") -> None:
        """Raise unless ``state`` fits the whole pretrained network (unused trailing layers included).

        :param state: a state dict of the pretrained network
        :param origin: what the weights are, for the message
        """
        check_state_fits(self._full_shapes, state, origin)

    def load_weights(self, state: Mapping[str, th.Tensor]) -> None:
        """Copy ``state`` into the network (frozen or not); call :meth:`check_weights` first.

        :param state: a state dict of the whole pretrained network
        """
        own = self.network.state_dict()
        self.network.load_state_dict({key: state[key] for key in own}, strict=True)

    def extra_repr(self) -> str:
        """Features size and frozen layers, shown in ``print(model.policy)``."""
        norm = ", layer_norm=True" if self.layer_norm else ""
        return f"features_dim={self.features_dim}, frozen_layers={self.frozen_layers}/{self.num_layers}{norm}"


def extractor_kwargs_for_saving(extractor: PretrainedFeaturesExtractor) -> dict[str, Any]:
    """The keyword arguments that rebuild ``extractor`` (frozen layers included) without the weights file.

    :param extractor: an extractor of a model
    :return: ``architecture``, ``features_layer``, ``freeze``, the activations, ``input_keys`` and ``layer_norm``
        (and ``normalised_after`` where the network normalises inside)
    """
    return {
        "architecture": extractor.architecture,
        "features_layer": extractor.features_layer,
        "freeze": extractor.frozen_layers,
        "activation": extractor.activation,
        "output_activation": extractor.output_activation,
        "input_keys": None if extractor.input_keys is None else list(extractor.input_keys),
        "layer_norm": extractor.layer_norm,
        **({"normalised_after": list(extractor.normalised_after)} if extractor.normalised_after else {}),
    }
