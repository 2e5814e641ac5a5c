"""Reading pretrained weights safely: no file is ever allowed to run code.

Accepted sources: a plain state dict saved with ``torch.save(model.state_dict(), path)`` (read with
``weights_only=True``), a ``.safetensors`` file (the recommended format), an SB3 model ``.zip`` (only its
``policy.pth`` is read, again with ``weights_only=True``, never the cloudpickled ``data``), an in-memory state
dict, or an ``nn.Module``.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch as th
from torch import nn

from sb3_finetune.networks import NORMALISED_AFTER, NORMALISED_BUFFER, LayerSpec, infer_linear_layers

WeightsSource = str | os.PathLike | Mapping[str, th.Tensor] | nn.Module
"""Anything :func:`read_weights` accepts."""

SB3_POLICY_FILE = "policy.pth"
EXTRACTOR_PREFIX = "actor.features_extractor.network."
"""Where a model built with :class:`~sb3_finetune.PretrainedFeaturesExtractor` keeps the actor's pretrained part."""


class PretrainedWeightsError(ValueError):
    """Weights that cannot be used: not a checkpoint, unsafe, or not fitting the network."""


def read_weights(source: WeightsSource) -> dict[str, th.Tensor]:
    """Read a state dict from any accepted source, on the CPU, without running code from a file.

    :param source: a path (``.pt``/``.pth``/any torch file, ``.safetensors``, SB3 ``.zip``), a state dict, or a
        module
    :return: a new dict of tensors (the caller may keep it; the tensors are not shared with ``source``)
    :raises FileNotFoundError: the path does not exist
    :raises PretrainedWeightsError: the file is not a checkpoint, holds pickled objects other than tensors, or is
        an SB3 model without a pretrained part
    """
    if isinstance(source, nn.Module):
        return {key: value.detach().clone() for key, value in source.state_dict().items()}
    if isinstance(source, Mapping):
        return _check_tensors(source, "the state dict")
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source))
    raise TypeError(
        f"weights must be a path, a state dict or an nn.Module, got {type(source).__name__}: {source!r}"[:300]
    )


def _check_tensors(state_dict: Mapping, origin: str) -> dict[str, th.Tensor]:
    bad = [key for key, value in state_dict.items() if not isinstance(key, str) or not isinstance(value, th.Tensor)]
    if bad:
        raise PretrainedWeightsError(f"{origin} is not a state dict: entries that are not named tensors: {bad[:10]}")
    if not state_dict:
        raise PretrainedWeightsError(f"{origin} is empty")
    return {key: value.detach().cpu().clone() for key, value in state_dict.items()}


def metadata_names(metadata: Mapping[str, str], key: str) -> tuple[str, ...]:
    """The comma-separated names under ``key`` in a weights file's metadata (``()`` where there are none).

    :param metadata: as :func:`read_metadata` gives it
    :param key: ``"input_keys"`` or :data:`~sb3_finetune.networks.NORMALISED_AFTER`
    :return: the names, in order
    """
    return tuple(name for name in metadata.get(key, "").split(",") if name)


def read_metadata(source: WeightsSource) -> dict[str, str]:
    """The descriptive metadata stored beside the tensors (``{}`` where there is none).

    Files written by :func:`save_weights` with ``metadata`` carry it: a ``.safetensors`` header's metadata, or the
    ``"metadata"`` entry of a ``{"state_dict": ..., "metadata": ...}`` torch file. An SB3 model ``.zip`` has none.
    Nothing is unpickled: torch files are read with ``weights_only=True``.

    :param source: a path, a state dict or a module
    :return: string keys and values (for example ``{"action_units": "env", "activation": "tanh"}``)
    """
    if not isinstance(source, (str, os.PathLike)):
        return {}
    path = Path(source)
    if not path.is_file():
        return {}
    if is_sb3_model(path):
        return sb3_zip_metadata(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                return dict(handle.metadata() or {})
        except Exception:
            return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = th.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception:
        return {}
    metadata = loaded.get("metadata") if isinstance(loaded, Mapping) else None
    if isinstance(metadata, Mapping):
        return {str(key): str(value) for key, value in metadata.items()}
    return {}


def _read_file(path: Path) -> dict[str, th.Tensor]:
    if not path.exists():
        raise FileNotFoundError(f"pretrained weights file not found: '{path}'")
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights path is not a file: '{path}'")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if SB3_POLICY_FILE in archive.namelist():
                return _read_sb3_zip(path, archive)
    return _read_torch(path, path.read_bytes())


def _read_safetensors(path: Path) -> dict[str, th.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - safetensors is a dependency
        raise PretrainedWeightsError("reading .safetensors files needs the `safetensors` package") from exc
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError, or OSError on odd files
        raise PretrainedWeightsError(f"'{path}' is not a valid safetensors file: {exc}") from exc
    return _check_tensors(tensors, f"'{path}'")


def _read_torch(path: Path | str, data: bytes) -> dict[str, th.Tensor]:
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            loaded = th.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            raise PretrainedWeightsError(
                f"refusing to load '{path}': it holds pickled objects other than tensors, and unpickling them could "
                "run code. Save weights with torch.save(model.state_dict(), path) or as .safetensors."
            ) from None
        raise PretrainedWeightsError(
            f"'{path}' is not a readable PyTorch checkpoint (truncated, another format, or a pickle that torch's "
            "safe loader refuses)"
        ) from None
    except Exception as exc:  # truncated archives, random bytes, ...
        raise PretrainedWeightsError(
            f"'{path}' is not a readable PyTorch checkpoint (truncated or another format): {exc}"
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]  # the common {"state_dict": ..., "epoch": ...} checkpoint layout
    if not isinstance(loaded, Mapping):
        raise PretrainedWeightsError(f"'{path}' holds a {type(loaded).__name__}, not a state dict")
    return _check_tensors(loaded, f"'{path}'")


def _read_sb3_zip(path: Path, archive: zipfile.ZipFile) -> dict[str, th.Tensor]:
    _refuse_normalised_actor(path, _sb3_data(archive))
    return _pretrained_part(path, _read_torch(f"{path}:{SB3_POLICY_FILE}", archive.read(SB3_POLICY_FILE)))


def _refuse_normalised_actor(path: str | os.PathLike, data: Mapping) -> None:
    """A model fine-tuned here under ``VecNormalize`` acts on normalised observations; a prior reads the env's own."""
    if data.get("finetune_vec_normalize") is True:
        raise PretrainedWeightsError(
            f"'{path}' was trained under VecNormalize: its actor reads normalised observations, and a prior reads the "
            "env's own; export it with its statistics (`sb3-finetune export --vec-normalize`), which folds them into "
            "the prior"
        )


def sb3_trained_env_wrapper(path: str | os.PathLike) -> tuple[tuple[str, dict], ...] | None:
    """The env wrappers a model fine-tuned by ``sb3-finetune finetune`` was trained inside.

    The RL Zoo's ``env_wrapper``, which the command keeps on the model (``model.finetune_env_wrapper``), read from
    the JSON of its ``data``; nothing is imported.

    :param path: the model ``.zip``
    :return: ``((dotted name, kwargs), ...)``, empty for none; ``None`` where the model does not say (a plain SB3
        model, or one fine-tuned from Python or before 2026-12-06)
    :raises PretrainedWeightsError: not an SB3 model
    """
    described = _sb3_data_entry(path, "finetune_env_wrapper")
    if described is None:
        return None
    return tuple((str(name), dict(kwargs)) for name, kwargs in described)


def sb3_trained_under_vec_normalize(path: str | os.PathLike) -> bool:
    """Whether a model fine-tuned here trained under ``VecNormalize`` (``model.finetune_vec_normalize``).

    Read from the JSON of its ``data`` (nothing unpickled); ``False`` for a model that does not say (a plain SB3
    model).

    :param path: the model ``.zip``
    :raises PretrainedWeightsError: not an SB3 model
    """
    return _sb3_data_entry(path, "finetune_vec_normalize") is True


def is_sb3_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an SB3 model's ``.zip`` (a zip archive holding ``policy.pth``).

    :param path: a file (one that does not exist is not)
    """
    if not Path(path).is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return SB3_POLICY_FILE in archive.namelist()


def _sb3_policy_and_data(path: str | os.PathLike, with_policy: bool = True) -> tuple[dict[str, th.Tensor], dict]:
    """An SB3 model's ``policy.pth`` (``weights_only=True``) and the readable JSON of its ``data``, checked.

    :param path: the model ``.zip``
    :param with_policy: read the policy's tensors too (``False``: only ``data``, and ``{}`` for the policy)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: '{path}'")
    if not zipfile.is_zipfile(path):
        raise PretrainedWeightsError(f"'{path}' is not an SB3 model (not a zip archive)")
    with zipfile.ZipFile(path) as archive:
        if SB3_POLICY_FILE not in archive.namelist():
            raise PretrainedWeightsError(f"'{path}' is not an SB3 model (no {SB3_POLICY_FILE} inside)")
        policy = _read_torch(f"{path}:{SB3_POLICY_FILE}", archive.read(SB3_POLICY_FILE)) if with_policy else {}
        return policy, _sb3_data(archive)


def _sb3_data_entry(path: str | os.PathLike, key: str) -> Any:
    """One entry of the readable JSON of an SB3 model's ``data`` (``None`` where absent); the policy is not read."""
    return _sb3_policy_and_data(path, with_policy=False)[1].get(key)


def sb3_policy_state(path: str | os.PathLike) -> dict[str, th.Tensor]:
    """An SB3 model's ``policy.pth`` state dict, read with ``weights_only=True``.

    :param path: the model ``.zip``
    :return: the policy's tensors by key
    :raises PretrainedWeightsError: not an SB3 model
    """
    return _sb3_policy_and_data(path)[0]


def normalised_layer_names(policy: Mapping[str, th.Tensor], layer_names: Sequence[str]) -> list[str]:
    """The layers an SB3 model's pretrained network normalises inside, read off its actor extractor's buffer.

    :param policy: the model's policy state dict
    :param layer_names: the pretrained network's Linear layers, in order (the buffer holds their indices)
    :return: their names (``[]`` where the model has no such buffer)
    """
    index = policy.get(f"actor.features_extractor.{NORMALISED_BUFFER}")
    return [] if index is None else [layer_names[int(i)] for i in index.tolist()]


def sb3_extractor_layers(path: str | os.PathLike) -> tuple[list[LayerSpec], tuple[str, ...]]:
    """The Linear layers of an SB3 model's pretrained network and those it normalises inside, from one read.

    :param path: the model ``.zip``
    :return: ``(layer specs, normalised layer names)``
    """
    policy, _ = _sb3_policy_and_data(path)
    layers = infer_linear_layers(_pretrained_part(Path(path), policy))
    return layers, tuple(normalised_layer_names(policy, [name for name, *_ in layers]))


def sb3_saved_with_her(path: str | os.PathLike) -> bool:
    """Whether an SB3 model was saved with ``HerReplayBuffer``, read from the JSON of its ``data`` (nothing unpickled).

    SB3 loads such a model only with an env (HER's buffer is built with it), as the RL Zoo's ``enjoy`` does.

    :param path: the model ``.zip``
    :return: ``True`` where its ``replay_buffer_class`` is SB3's HER buffer
    :raises PretrainedWeightsError: not an SB3 model
    """
    described = _sb3_data_entry(path, "replay_buffer_class")
    return isinstance(described, Mapping) and str(described.get("__module__", "")).startswith("stable_baselines3.her")


def _pretrained_part(path: Path, policy: dict[str, th.Tensor]) -> dict[str, th.Tensor]:
    prefix = len(EXTRACTOR_PREFIX)
    pretrained = {key[prefix:]: value for key, value in policy.items() if key.startswith(EXTRACTOR_PREFIX)}
    if pretrained:
        return pretrained
    actor = _plain_actor_layers(policy)
    if actor is None:
        raise PretrainedWeightsError(
            f"'{path}' is an SB3 model whose actor is neither a plain MLP actor (DDPG, TD3, SAC with "
            f"'MlpPolicy'/'MultiInputPolicy') nor built with PretrainedFeaturesExtractor ('{EXTRACTOR_PREFIX}*')"
        )
    return {key: policy[key] for key in actor}


def _plain_actor_layers(policy: Mapping[str, th.Tensor]) -> list[str] | None:
    """The keys of a plain SB3 actor's Linear layers, in the order they are applied (``None``: not one).

    TD3 and DDPG: ``actor.mu.0``, ``actor.mu.2``, ... (ReLU between, tanh at the end); SAC: ``actor.latent_pi.*``
    then ``actor.mu`` (its deterministic action is ``tanh(mu)``; ``log_std`` is left out).
    """
    if any(key.startswith("actor.features_extractor.") for key in policy):
        return None  # an extractor with parameters: not a plain MLP actor
    return _actor_head_layers(policy) or None


def _actor_head_layers(policy: Mapping[str, th.Tensor]) -> list[str]:
    """The keys of an SB3 actor's head (after its features extractor), in the order they are applied."""
    keys = [key for key in policy if key.rpartition(".")[2] in ("weight", "bias")]
    return [key for key in keys if key.startswith("actor.latent_pi.")] + [
        key for key in keys if key.startswith("actor.mu.")
    ]


def _sb3_output_activation(path: str | os.PathLike, data: Mapping) -> str:
    """What an SB3 actor applies to its last layer's output.

    Tanh, or, for SAC with gSDE (``use_sde``), tanh of the mean clipped at ``clip_mean`` (SB3's default 2;
    ``clipped_tanh``).
    """
    if data.get("use_sde") is not True:
        return "tanh"
    clip = (data.get("policy_kwargs") or {}).get("clip_mean", 2.0)
    if not isinstance(clip, (int, float)) or clip <= 0:
        return "tanh"
    from sb3_finetune.networks import ClippedTanh

    if float(clip) != ClippedTanh.CLIP:
        raise PretrainedWeightsError(
            f"'{path}' is SAC with gSDE and clip_mean={clip}: its deterministic action clips the mean there before "
            f"tanh, and a chain holds SB3's default clip ({ClippedTanh.CLIP:g}) only"
        )
    return "clipped_tanh"


def _sb3_data(archive: zipfile.ZipFile) -> dict:
    """The JSON part of an SB3 zip's ``data`` (its cloudpickled entries are never unpickled)."""
    import json

    try:
        return json.loads(archive.read("data"))
    except (KeyError, ValueError):
        return {}


def _activation_from_data(data: Mapping) -> str:
    """The actor's activation, read from the readable copy SB3 keeps of ``policy_kwargs['activation_fn']``."""
    described = str((data.get("policy_kwargs") or {}).get("activation_fn", ""))
    if not described:
        return "relu"  # SB3's default for DDPG, TD3 and SAC
    from sb3_finetune.networks import ACTIVATIONS

    for name, cls in ACTIVATIONS.items():
        if f".{cls.__name__}'" in described:
            return name
    raise PretrainedWeightsError(f"the SB3 model's activation_fn {described} is not one of {sorted(ACTIVATIONS)}")


def sb3_zip_metadata(path: str | os.PathLike) -> dict[str, str]:
    """What a plain SB3 model's actor is, as weights metadata (``{}`` for other files).

    Its actions are in SB3's scaled units (``[-1, 1]``, tanh-squashed); its activation is read from the readable
    copy of ``policy_kwargs`` in the zip's ``data``; for Dict observations SB3 flattens every key in sorted order.

    :param path: the ``.zip``
    :return: metadata as :func:`read_metadata` gives it
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return {}
    with zipfile.ZipFile(path) as archive:
        if SB3_POLICY_FILE not in archive.namelist():
            return {}
        policy = _read_torch(f"{path}:{SB3_POLICY_FILE}", archive.read(SB3_POLICY_FILE))
        if any(key.startswith(EXTRACTOR_PREFIX) for key in policy) or _plain_actor_layers(policy) is None:
            return {}
        data = _sb3_data(archive)
    metadata = {
        "action_units": "scaled",
        "activation": _activation_from_data(data),
        "output_activation": _sb3_output_activation(path, data),
        "source": "sb3-actor",
    }
    keys = _plain_input_keys(path, data)
    if keys:
        metadata["input_keys"] = keys
    return metadata


def _plain_input_keys(path: str | os.PathLike, data: Mapping) -> str | None:
    """The keys a plain SB3 actor reads of Dict observations, comma-joined (``None`` for a Box).

    SB3's ``MultiInputPolicy`` flattens every key, in sorted order.
    """
    space = data.get("observation_space") or {}
    if "Dict" not in str(space.get(":type:", "")):
        return None
    import re

    keys = sorted(set(re.findall(r"'([^']+)': ", str(space.get("spaces", "")))))
    if not keys:
        raise PretrainedWeightsError(f"'{path}': cannot read the keys of the model's Dict observation space")
    return ",".join(keys)


def _extractor_kwargs(data: Mapping) -> dict:
    """The extractor kwargs from the readable JSON of an SB3 zip's ``data`` (a dict, or its ``str``)."""
    described = (data.get("policy_kwargs") or {}).get("features_extractor_kwargs") or {}
    if isinstance(described, Mapping):
        return dict(described)
    import ast
    import re

    found = {}
    for key in ("features_layer", "activation", "output_activation", "input_keys", "layer_norm"):
        match = re.search(rf"'{key}': (None|True|False|\d+|'[^']*'|\[[^\]]*\])", str(described))
        if match:
            found[key] = ast.literal_eval(match.group(1))
    return found


def sb3_actor_chain(
    path: str | os.PathLike, normalised_ok: bool = False
) -> tuple[dict[str, th.Tensor], dict[str, str]]:
    """The whole deterministic actor of an SB3 model (DDPG, TD3, SAC) as one Linear chain, with its metadata.

    For a model built with :class:`~sb3_finetune.PretrainedFeaturesExtractor` the chain is its pretrained layers
    followed by the head; where the features are the pretrained network's linear output, its last layer is merged
    into the head's first (an exact product of the two). The chain's output goes through tanh, as the actor's does
    (clipped at 2 first for SAC with gSDE, as its actor clips its mean): actions in SB3's scaled units. Only
    ``policy.pth`` (``weights_only=True``) and the readable JSON of ``data`` are read.

    :param path: the model ``.zip``
    :param normalised_ok: take a model fine-tuned here under ``VecNormalize`` (its chain reads normalised
        observations: the caller folds the statistics in, :func:`~sb3_finetune.normalization.fold_into_first_layer`)
    :return: the state dict (keys as in the model) and metadata for :func:`read_metadata`
    :raises PretrainedWeightsError: not an SB3 model, an actor that is not such a chain, or one fine-tuned here
        under ``VecNormalize`` (it reads normalised observations) where ``normalised_ok`` is not set
    """
    policy, data = _sb3_policy_and_data(path)
    if not normalised_ok:
        _refuse_normalised_actor(path, data)
    head_activation = _activation_from_data(data)
    head = _actor_head_layers(policy)
    extractor = [key for key in policy if key.startswith(EXTRACTOR_PREFIX)]
    if not head or (not extractor and any(key.startswith("actor.features_extractor.") for key in policy)):
        raise PretrainedWeightsError(f"'{path}': the actor is not a chain of Linear layers that can be exported")
    output = _sb3_output_activation(path, data)  # tanh, clipped first for SAC with gSDE
    metadata = {"action_units": "scaled", "activation": head_activation, "output_activation": output}
    state = {key: policy[key] for key in extractor}
    if extractor:
        kwargs = _extractor_kwargs(data)
        if kwargs.get("input_keys"):
            metadata["input_keys"] = ",".join(kwargs["input_keys"])
        between = kwargs.get("activation", "relu") if kwargs.get("features_layer") is not None else None
        between = between or kwargs.get("output_activation")
        # Layers normalised inside the pretrained part (a prior exported from a stood-down model), then the
        # features themselves where the extractor normalises them (the trust gate's stand-down, or layer_norm=True)
        layers = list(dict.fromkeys(key.rpartition(".")[0] for key in extractor))
        normalised = normalised_layer_names(policy, layers)
        if kwargs.get("layer_norm"):
            if between is None:
                raise PretrainedWeightsError(
                    f"'{path}': its pretrained features are the network's linear output, layer-normalised (the trust "
                    "gate's stand-down, or layer_norm=True): the actor is not one Linear chain with an activation "
                    "between its layers; use the model itself (evaluate and load it as a .zip)"
                )
            normalised.append(layers[-1])
        if normalised:
            metadata[NORMALISED_AFTER] = ",".join(dict.fromkeys(normalised))
        if between is None:  # the features are a linear output: fold that layer into the head's first
            last, first = layers[-1], head[0].rpartition(".")[0]
            weight, bias = policy[f"{last}.weight"], policy.get(f"{last}.bias")
            head_weight, head_bias = policy[f"{first}.weight"], policy.get(f"{first}.bias")
            merged_bias = head_weight @ bias if bias is not None else th.zeros(head_weight.shape[0])
            if head_bias is not None:
                merged_bias = merged_bias + head_bias
            for key in (f"{last}.weight", f"{last}.bias"):
                state.pop(key, None)
            head = [key for key in head if key.rpartition(".")[0] != first]
            state[f"{first}.weight"] = head_weight @ weight
            state[f"{first}.bias"] = merged_bias
        elif between != head_activation:
            raise PretrainedWeightsError(
                f"'{path}': the pretrained layers use {between} and the head {head_activation}: not one Linear chain"
            )
    elif keys := _plain_input_keys(path, data):
        metadata["input_keys"] = keys
    state.update({key: policy[key] for key in head})
    metadata["source"] = "sb3-actor"
    return state, metadata


def save_weights(
    state_dict: Mapping[str, th.Tensor], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write a state dict as ``.safetensors`` (by suffix) or a torch file, atomically.

    Without ``metadata`` a torch file holds the plain state dict; with it, ``{"state_dict": ..., "metadata":
    ...}`` (the common checkpoint layout, which :func:`read_weights` and ``torch.load(..., weights_only=True)``
    both read). ``.safetensors`` keeps it in its header.

    :param state_dict: the tensors
    :param path: destination; ``.safetensors`` selects that format
    :param metadata: strings describing the network (read back by :func:`read_metadata`)
    :return: the path written
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    with written_atomically(path) as temporary:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(temporary), metadata=dict(metadata) if metadata else None)
        else:
            th.save({"state_dict": tensors, "metadata": dict(metadata)} if metadata else tensors, temporary)
    return path


@contextlib.contextmanager
def written_atomically(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` whole when the block ends without error.

    The name is this writer's own (process id and a random part), so writers racing for one file (sweep workers
    filling a cache) each replace it whole; on an error the temporary file is removed and ``path`` is untouched.

    :param path: the file to write
    :return: (yields) the temporary path; a suffix that names the format (``.zip``, ``.pkl``) is kept
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
