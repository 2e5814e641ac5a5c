"""Pretrained networks: the seed note's agent, and Linear stacks rebuilt from a state dict's shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch as th
from torch import nn

LayerSpec = tuple[str, int, int, bool]
"""One Linear layer of a :class:`LinearStack`: ``(name, in_features, out_features, has_bias)``."""


class ClippedTanh(nn.Module):
    """``tanh(clip(x, -2, 2))``: the deterministic action of SB3's SAC with gSDE (``use_sde``).

    Its actor clips its Gaussian's mean at ``clip_mean`` (2 by default) before the squash.
    """

    CLIP = 2.0

    def forward(self, x: th.Tensor) -> th.Tensor:
        """The squashed, clipped input."""
        return th.tanh(th.clamp(x, -self.CLIP, self.CLIP))


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "clipped_tanh": ClippedTanh,
}
"""Activations known by name (in weights files' metadata, on the command line and in saved models)."""

DEFAULT_ACTIVATION = "relu"
"""What a Linear stack read off a state dict is assumed to use between its layers when nothing says otherwise."""


def activation_class(activation: str | type[nn.Module]) -> type[nn.Module]:
    """The activation class for a name of :data:`ACTIVATIONS` (or the class itself).

    :param activation: ``"relu"``, ``"tanh"``, ... or an ``nn.Module`` class
    :return: the class
    :raises ValueError: an unknown name
    """
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    key = str(activation).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]


def activation_name(activation: str | type[nn.Module]) -> str:
    """The name of an activation class in :data:`ACTIVATIONS` (the inverse of :func:`activation_class`)."""
    cls = activation_class(activation)
    for name, known in ACTIVATIONS.items():
        if known is cls:
            return name
    raise ValueError(f"activation {cls.__name__} has no name; choose one of {sorted(ACTIVATIONS)}")


class SimpleNavigationAgent(nn.Module):
    """The design note's "pretrained model": ``fc1 = Linear(2, 64)``, ReLU, ``fc2 = Linear(64, 2)``.

    Its state dict has the keys ``fc1.weight, fc1.bias, fc2.weight, fc2.bias``, like the note's. It maps a
    position to a 2-d output: an action for ``SimpleNavigation-v0`` once trained by behaviour cloning.

    :param observation_dim: input size (the position: 2)
    :param hidden_dim: hidden units
    :param output_dim: output size (the action: 2)
    """

    def __init__(self, observation_dim: int = 2, hidden_dim: int = 64, output_dim: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(observation_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """Map observations ``(batch, observation_dim)`` to outputs ``(batch, output_dim)``."""
        return self.fc2(th.relu(self.fc1(x)))


def _set_submodule(root: nn.Module, dotted_name: str, module: nn.Module) -> None:
    """Register ``module`` at ``dotted_name`` under ``root``, creating empty containers on the way."""
    *parents, leaf = dotted_name.split(".")
    node = root
    for part in parents:
        child = node._modules.get(part)
        if child is None:
            child = nn.Module()
            node.add_module(part, child)
        node = child
    node.add_module(leaf, module)


class LinearStack(nn.Module):
    """Linear layers applied in order with an activation between them, named as in the state dict they came from.

    The layer names may be dotted (``"net.0"``): a state dict saved from any module made only of Linear layers
    loads into the stack with ``strict=True``, key for key.

    :param layers: the layers, in the order they are applied
    :param activation: activation put between layers (and after the last one if ``final_activation``): a name
        of :data:`ACTIVATIONS` or an ``nn.Module`` class
    :param final_activation: apply the activation after the last layer too (features cut from a hidden layer)
    :param output_activation: applied to the output instead (``"tanh"`` for a policy whose actions are squashed
        into ``[-1, 1]``, like SB3's actors); ``None``: the output is linear
    :param normalised_after: names of layers whose activations are layer-normalised across units (zero mean, unit
        variance, no learned scale or shift), as :class:`~sb3_finetune.PretrainedFeaturesExtractor`'s
        ``layer_norm`` does to its features: the actor of a model whose trust gate stood the prior down, exported,
        has one after its pretrained layers. A layer followed by no activation (the last, unless
        ``final_activation``) cannot be one. It has no tensors: the state dict is the same.
    """

    def __init__(
        self,
        layers: Sequence[LayerSpec],
        activation: str | type[nn.Module] = DEFAULT_ACTIVATION,
        final_activation: bool = False,
        output_activation: str | type[nn.Module] | None = None,
        normalised_after: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a LinearStack needs at least one layer")
        self.layer_specs: list[LayerSpec] = [(str(n), int(i), int(o), bool(b)) for n, i, o, b in layers]
        names = [name for name, *_ in self.layer_specs]
        with_activation = names if final_activation else names[:-1]
        wrong = [name for name in normalised_after if name not in with_activation]
        if wrong:
            raise ValueError(
                f"normalised_after names layers {wrong} that are not among those followed by an activation "
                f"{with_activation}"
            )
        self.normalised_after: tuple[str, ...] = tuple(name for name in names if name in set(normalised_after))
        for name, in_features, out_features, bias in self.layer_specs:
            _set_submodule(self, name, nn.Linear(in_features, out_features, bias=bias))
        self.activation = activation_class(activation)()
        self.final_activation = final_activation
        self.output_activation = None if output_activation is None else activation_class(output_activation)()
        # A plain list (not registered twice) so that forward does no name look-ups.
        self._linears: list[nn.Linear] = [self.get_submodule(name) for name, *_ in self.layer_specs]
        self._normalised: list[bool] = [name in self.normalised_after for name in names]

    @property
    def linears(self) -> list[nn.Linear]:
        """The Linear layers, in the order they are applied."""
        return list(self._linears)

    @property
    def in_features(self) -> int:
        """Input size of the first layer."""
        return self.layer_specs[0][1]

    @property
    def out_features(self) -> int:
        """Output size of the last layer."""
        return self.layer_specs[-1][2]

    def forward(self, x: th.Tensor) -> th.Tensor:
        """Apply the layers in order."""
        linears = self._linears
        last = len(linears) - 1
        for index, linear in enumerate(linears):
            x = linear(x)
            if index < last or self.final_activation:
                x = self.activation(x)
                if self._normalised[index]:
                    x = nn.functional.layer_norm(x, (x.shape[-1],))
        if self.output_activation is not None and not self.final_activation:
            x = self.output_activation(x)
        return x


NORMALISED_AFTER = "normalised_after"
"""The weights-file metadata key of :attr:`LinearStack.normalised_after`: the layer names, comma-separated."""


NORMALISED_BUFFER = "normalised_layers"
"""The buffer of a :class:`~sb3_finetune.PretrainedFeaturesExtractor` whose network normalises inside: the indices of
those layers, so that a saved model's state dict says where (its ``policy.pth`` is all a model file surely has)."""


def mlp_layers(input_dim: int, hidden: Sequence[int], output_dim: int) -> list[LayerSpec]:
    """Layer specs of a fully connected network ``input -> hidden... -> output``, named ``fc1``, ``fc2``, ...

    :param input_dim: input size
    :param hidden: hidden sizes (may be empty: one Linear layer)
    :param output_dim: output size
    :return: the specs, for :class:`LinearStack`
    """
    sizes = [int(input_dim), *(int(h) for h in hidden), int(output_dim)]
    if any(size < 1 for size in sizes):
        raise ValueError(f"layer sizes must be positive, got {sizes}")
    return [(f"fc{index + 1}", sizes[index], sizes[index + 1], True) for index in range(len(sizes) - 1)]


def infer_linear_layers(state_dict: Mapping[str, th.Tensor]) -> list[LayerSpec]:
    """Read a chain of Linear layers off a state dict's keys and shapes.

    Layers are taken in the order of the state dict (the order modules were registered, which is the order of a
    plain feed-forward network); each must feed the next.

    :param state_dict: tensors keyed ``<layer>.weight`` (2-d) and optionally ``<layer>.bias`` (1-d)
    :return: the layers as ``(name, in_features, out_features, has_bias)``
    :raises ValueError: a key that is not a Linear layer's, or layers that do not chain; the message says to name
        the architecture instead
    """
    hint = (
        "pass the network itself from Python (the module as `pretrained`, or its class or an instance as "
        "`architecture=`) instead of relying on inference; the command line reads plain Linear stacks only"
    )
    weights: dict[str, tuple[int, ...]] = {}
    biases: dict[str, tuple[int, ...]] = {}
    order: list[str] = []
    for key, tensor in state_dict.items():
        prefix, _, kind = key.rpartition(".")
        shape = tuple(tensor.shape)
        if not prefix or kind not in ("weight", "bias"):
            raise ValueError(f"cannot infer the network: {key!r} (shape {shape}) is not a Linear layer's; {hint}")
        if prefix not in order:
            order.append(prefix)
        (weights if kind == "weight" else biases)[prefix] = shape
    layers: list[LayerSpec] = []
    for name in order:
        weight = weights.get(name)
        if weight is None or len(weight) != 2:
            raise ValueError(f"cannot infer the network: layer {name!r} has no 2-d weight (got {weight}); {hint}")
        out_features, in_features = weight
        bias = biases.get(name)
        if bias is not None and bias != (out_features,):
            raise ValueError(
                f"cannot infer the network: {name}.bias has shape {bias}, expected ({out_features},); {hint}"
            )
        if layers and layers[-1][2] != in_features:
            previous = layers[-1]
            raise ValueError(
                f"cannot infer the network: layer {previous[0]!r} outputs {previous[2]} features but the next layer "
                f"{name!r} takes {in_features}; {hint}"
            )
        layers.append((name, in_features, out_features, bias is not None))
    if not layers:
        raise ValueError("cannot infer the network from an empty state dict")
    return layers
