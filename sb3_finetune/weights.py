"""Reading pretrained weights safely: no file is ever allowed to run code.

Accepted sources: a plain state dict saved with ``torch.save(model.state_dict(), path)`` (read with
``weights_only=True``), a ``.safetensors`` file (the recommended format), an SB3 model ``.zip`` (only its
``policy.pth`` is read, again with ``weights_only=True``, never the cloudpickled ``data``), an in-memory state
dict, or an ``nn.Module``.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch as th
from torch import nn

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
    policy = _read_torch(f"{path}:{SB3_POLICY_FILE}", archive.read(SB3_POLICY_FILE))
    prefix = len(EXTRACTOR_PREFIX)
    pretrained = {key[prefix:]: value for key, value in policy.items() if key.startswith(EXTRACTOR_PREFIX)}
    if not pretrained:
        raise PretrainedWeightsError(
            f"'{path}' is an SB3 model whose actor has no pretrained part (no '{EXTRACTOR_PREFIX}*' tensors): "
            "only models built with PretrainedFeaturesExtractor can be used as weights"
        )
    return pretrained


def sb3_zip_extractor_state(path: str | os.PathLike) -> dict[str, th.Tensor]:
    """The actor's pretrained part of an SB3 model ``.zip`` (read with ``weights_only=True``).

    :param path: the model file
    :return: the state dict of the actor's pretrained network
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: '{path}'")
    if not zipfile.is_zipfile(path):
        raise PretrainedWeightsError(f"'{path}' is not an SB3 model (not a zip archive)")
    with zipfile.ZipFile(path) as archive:
        if SB3_POLICY_FILE not in archive.namelist():
            raise PretrainedWeightsError(f"'{path}' is not an SB3 model (no {SB3_POLICY_FILE} inside)")
        return _read_sb3_zip(path, archive)


def save_weights(state_dict: Mapping[str, th.Tensor], path: str | os.PathLike) -> Path:
    """Write a state dict as ``.safetensors`` (by suffix) or a plain torch file, atomically.

    :param state_dict: the tensors
    :param path: destination; ``.safetensors`` selects that format
    :return: the path written
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    temporary = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(temporary))
    else:
        th.save(tensors, temporary)
    os.replace(temporary, path)
    return path
