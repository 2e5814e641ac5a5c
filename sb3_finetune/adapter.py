"""Model-level operations: load weights into every network, freeze and unfreeze, save and load anywhere."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from sb3_finetune.extractor import (
    _FALLBACK_ARCHITECTURE,
    _FALLBACK_NORMALISED,
    Architecture,
    PretrainedFeaturesExtractor,
    extractor_kwargs_for_saving,
    layer_norm_refusal,
)
from sb3_finetune.networks import (
    DEFAULT_ACTIVATION,
    NORMALISED_AFTER,
    LinearStack,
    infer_linear_layers,
)
from sb3_finetune.weights import (
    PretrainedWeightsError,
    WeightsSource,
    metadata_names,
    read_metadata,
    read_weights,
    sb3_extractor_layers,
)

NETWORKS = ("actor", "critic", "actor_target", "critic_target")
"""The networks of SB3's off-policy policies that may own a features extractor."""


def pretrained_extractors(model: BaseAlgorithm) -> dict[str, PretrainedFeaturesExtractor]:
    """Every distinct :class:`PretrainedFeaturesExtractor` of a model, by the first network that owns it.

    With ``share_features_extractor=True`` the critic uses the actor's extractor, so it appears once.

    :param model: a DDPG, TD3 or SAC model (or sb3-contrib's TQC, CrossQ)
    :return: ``{"actor": ..., "critic": ..., "actor_target": ..., "critic_target": ...}`` (those that exist)
    :raises ValueError: the model was not built with the extractor
    """
    found: dict[str, PretrainedFeaturesExtractor] = {}
    seen: set[int] = set()
    for name in NETWORKS:
        extractor = getattr(getattr(model.policy, name, None), "features_extractor", None)
        if isinstance(extractor, PretrainedFeaturesExtractor) and id(extractor) not in seen:
            found[name] = extractor
            seen.add(id(extractor))
    if not found:
        raise ValueError(
            f"this {type(model).__name__} model has no PretrainedFeaturesExtractor: build it with policy_kwargs="
            "dict(features_extractor_class=PretrainedFeaturesExtractor, features_extractor_kwargs=dict(weights=...))"
        )
    return found


def _record_extractor_kwargs(model: BaseAlgorithm, **updates: Any) -> None:
    """Update the extractor kwargs that ``model.save`` stores, without touching the dict the user passed."""
    kwargs = dict(model.policy_kwargs.get("features_extractor_kwargs") or {})
    kwargs.update(updates)
    model.policy_kwargs = {**model.policy_kwargs, "features_extractor_kwargs": kwargs}
    model.policy.features_extractor_kwargs = kwargs


def load_pretrained(model: BaseAlgorithm, weights: WeightsSource) -> None:
    """Put pretrained weights into every network of ``model`` that owns a pretrained extractor.

    The actor, the critic and their targets all receive the weights, so targets equal their online networks
    afterwards. The weights are checked against every extractor before anything changes: on any error the model
    is left exactly as it was. The model records the network's shape, so that once saved it loads even where
    the weights file is not.

    :param model: a model built with :class:`PretrainedFeaturesExtractor`
    :param weights: a path, state dict or module (see :class:`PretrainedFeaturesExtractor`)
    :raises FileNotFoundError: the weights file does not exist
    :raises PretrainedWeightsError: the file is not a checkpoint or does not fit (keys and shapes are listed)
    """
    extractors = pretrained_extractors(model)
    state = read_weights(weights)
    # A weights file says where its network normalises inside (a prior exported from a stood-down model): an
    # extractor built otherwise would compute other features from the same tensors
    path = isinstance(weights, (str, os.PathLike))
    normalised = set(metadata_names(read_metadata(weights), NORMALISED_AFTER)) if path else None
    for name, extractor in extractors.items():
        extractor.check_weights(state, f"the weights for the {name}'s extractor")
        network = extractor.network
        if normalised is not None and isinstance(network, LinearStack):
            wanted = sorted(normalised & {layer for layer, *_ in network.layer_specs})
            if wanted != sorted(network.normalised_after):
                raise PretrainedWeightsError(
                    f"the weights layer-normalise the activations of {wanted or 'no layer'} inside the network, the "
                    f"{name}'s extractor of {sorted(network.normalised_after) or 'none'}: build the model from these "
                    "weights (pretrained_policy_kwargs)"
                )
    backups = {name: {k: v.clone() for k, v in e.network.state_dict().items()} for name, e in extractors.items()}
    try:
        with th.no_grad():
            for extractor in extractors.values():
                extractor.load_weights(state)
    except BaseException:
        with th.no_grad():
            for name, extractor in extractors.items():
                extractor.network.load_state_dict(backups[name])
        raise
    first = next(iter(extractors.values()))
    _record_extractor_kwargs(model, **extractor_kwargs_for_saving(first))


def _optimizer_plan(model: BaseAlgorithm) -> list[tuple[th.optim.Optimizer, nn.Module, list[str]]]:
    """For each optimizer: the module it was built from and which extractors' parameters SB3 puts in it."""
    from stable_baselines3.td3.policies import TD3Policy

    policy = model.policy
    plan = []
    actor = getattr(policy, "actor", None)
    critic = getattr(policy, "critic", None)
    if actor is not None and getattr(actor, "optimizer", None) is not None:
        plan.append((actor.optimizer, actor, ["actor"]))
    if critic is not None and getattr(critic, "optimizer", None) is not None:
        shared = actor is not None and getattr(critic, "features_extractor", None) is getattr(
            actor, "features_extractor", None
        )
        # SAC-like policies leave a shared extractor out of the critic's optimizer; TD3's (and DDPG's) keep it.
        owners = ["critic"] if not shared else (["actor"] if isinstance(policy, TD3Policy) else [])
        plan.append((critic.optimizer, critic, owners))
    return plan


def set_frozen_layers(model: BaseAlgorithm, count: int | bool) -> int:
    """Freeze the first ``count`` pretrained layers in every network of ``model``, and unfreeze the others.

    Unfrozen parameters join the optimizers that SB3 would have put them in had they been trainable from the
    start (in the same order, so that a saved model's optimizer state loads back); frozen ones leave them. The
    model records the new count, so ``save``/``load`` keeps it.

    :param model: a model built with :class:`PretrainedFeaturesExtractor`
    :param count: number of layers to freeze, from the first (``True``: all, ``False``: none)
    :return: the number of frozen layers
    """
    extractors = pretrained_extractors(model)
    first = next(iter(extractors.values()))
    count = first._as_layer_count(count)
    added: dict[str, list[nn.Parameter]] = {}
    removed: set[int] = set()
    for name, extractor in extractors.items():
        unfrozen, frozen = extractor.set_frozen_layers(count)
        added[name] = unfrozen
        removed.update(id(p) for p in frozen)
    for optimizer, module, owners in _optimizer_plan(model):
        joining = {id(p) for owner in owners for p in added.get(owner, [])}
        for group_index, group in enumerate(optimizer.param_groups):
            kept = {id(p) for p in group["params"] if id(p) not in removed}
            for parameter in group["params"]:
                if id(parameter) in removed:
                    optimizer.state.pop(parameter, None)
            wanted = kept | (joining if group_index == 0 else set())
            group["params"] = [p for p in module.parameters() if id(p) in wanted]
    _record_extractor_kwargs(model, freeze=count)
    return count


def set_layer_norm(model: BaseAlgorithm, on: bool) -> None:
    """Switch the normalisation of the pretrained features (``layer_norm``) in every network of ``model``.

    It has no parameters, so nothing else changes; but the policy's own layers were trained (if at all) on the
    other features, so switch it before training. The model records it, so ``save``/``load`` keeps it.

    :param model: a model built with :class:`PretrainedFeaturesExtractor`
    :param on: normalise (``True``) or not
    :raises ValueError: ``on`` where the features are fewer than 2
    """
    extractors = pretrained_extractors(model)
    width = next(iter(extractors.values())).features_dim
    refusal = layer_norm_refusal(width) if on else None
    if refusal is not None:
        raise ValueError(refusal)
    for extractor in extractors.values():
        extractor.layer_norm = bool(on)
    _record_extractor_kwargs(model, layer_norm=bool(on))


def pretrained_policy_kwargs(
    weights: WeightsSource,
    *,
    architecture: Architecture | None = None,
    features_layer: int | None = None,
    freeze: bool | int = False,
    activation: str | None = None,
    input_keys: Sequence[str] | None = None,
    layer_norm: bool = False,
    **policy_kwargs: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` for an SB3 off-policy algorithm whose extractor is the pretrained network.

    Unlike writing the dict by hand, the network's shape is recorded, so a saved model loads even where the
    weights file is gone.

    :param weights: see :class:`PretrainedFeaturesExtractor`
    :param architecture: see :class:`PretrainedFeaturesExtractor` (inferred from the weights when ``None``)
    :param features_layer: see :class:`PretrainedFeaturesExtractor`
    :param freeze: see :class:`PretrainedFeaturesExtractor`
    :param activation: see :class:`PretrainedFeaturesExtractor` (read from the file's metadata when ``None``)
    :param input_keys: see :class:`PretrainedFeaturesExtractor` (read from the file's metadata when ``None``)
    :param layer_norm: see :class:`PretrainedFeaturesExtractor`
    :param policy_kwargs: other policy arguments (``net_arch``, ``share_features_extractor``, ...)
    :return: the ``policy_kwargs`` dict
    """
    metadata = read_metadata(weights) if isinstance(weights, (str, os.PathLike)) else {}
    if architecture is None and not isinstance(weights, nn.Module):
        architecture = [list(layer) for layer in infer_linear_layers(read_weights(weights))]
    if isinstance(weights, (str, os.PathLike)):
        weights = os.fspath(weights)
    if input_keys is None:
        input_keys = metadata_names(metadata, "input_keys") or None
    return {
        **policy_kwargs,
        "features_extractor_class": PretrainedFeaturesExtractor,
        "features_extractor_kwargs": {
            "weights": weights,
            "architecture": architecture,
            "features_layer": features_layer,
            "freeze": freeze,
            "activation": activation or metadata.get("activation") or DEFAULT_ACTIVATION,
            "output_activation": metadata.get("output_activation"),
            "input_keys": None if input_keys is None else list(input_keys),
            "layer_norm": layer_norm,
            # Where the network normalises inside (a prior exported from a stood-down model): so that a saved model
            # rebuilds it without the weights file (recorded only then, so other models' kwargs stay as they were)
            **({"normalised_after": list(inside)} if (inside := metadata_names(metadata, NORMALISED_AFTER)) else {}),
        },
    }


def load_model(path: str | os.PathLike, algorithm: type[BaseAlgorithm], **load_kwargs: Any) -> BaseAlgorithm:
    """``algorithm.load(path)``, also for a model saved without its network's shape whose weights file is gone.

    The shape is read from the model's own ``policy.pth`` (with ``weights_only=True``).

    :param path: the saved model
    :param algorithm: ``SAC``, ``TD3``, ``DDPG``, ...
    :param load_kwargs: passed to ``algorithm.load`` (``env``, ``device``, ``custom_objects``, ...)
    :return: the loaded model
    """
    layers, normalised = sb3_extractor_layers(path)
    token = _FALLBACK_ARCHITECTURE.set([list(layer) for layer in layers])
    normalised_token = _FALLBACK_NORMALISED.set(normalised)
    try:
        return algorithm.load(path, **load_kwargs)
    finally:
        _FALLBACK_ARCHITECTURE.reset(token)
        _FALLBACK_NORMALISED.reset(normalised_token)
