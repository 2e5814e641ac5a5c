"""SB3's ``VecNormalize`` statistics: written in SB3's own format, read back without running code from the file.

A model trained under ``VecNormalize`` acts on normalised observations, so it is only as good as the running
statistics it was trained with: SB3 and the RL Zoo keep them beside the model in a pickle (``VecNormalize.save``,
``vecnormalize.pkl``). :func:`save_vec_normalize` writes that same file (so ``VecNormalize.load`` and the RL Zoo
read it), and :func:`read_vec_normalize` reads one, from here or from SB3 and the RL Zoo, through an unpickler that
builds only what such a file holds (numpy arrays and scalars, Gymnasium ``Box`` and ``Dict`` spaces, SB3's
``RunningMeanStd`` and ``VecNormalize``, numpy's random generators), as ``torch.load(..., weights_only=True)`` does
for tensors: any other name in the file is refused before it is looked up, so nothing the file names is imported or
run. :func:`fold_into_first_layer` makes a model's actor, exported, read the env's own observations.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_finetune.weights import written_atomically

_ALLOWED = {
    "numpy": {"dtype", "ndarray"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},  # written by numpy < 2
    "numpy.random._pickle": {"__generator_ctor", "__bit_generator_ctor", "__randomstate_ctor"},
    "numpy.random._pcg64": {"PCG64", "PCG64DXSM"},
    "numpy.random._mt19937": {"MT19937"},
    "numpy.random._philox": {"Philox"},
    "numpy.random._sfc64": {"SFC64"},
    "numpy.random.bit_generator": {"SeedSequence", "__pyx_unpickle_SeedSequence"},
    "collections": {"OrderedDict"},
    "gymnasium.spaces.box": {"Box"},
    "gymnasium.spaces.dict": {"Dict"},
    "stable_baselines3.common.running_mean_std": {"RunningMeanStd"},
    "stable_baselines3.common.vec_env.vec_normalize": {"VecNormalize"},
}
"""The names a ``VecNormalize`` pickle refers to, by module: the only ones :func:`read_vec_normalize` looks up."""


class _StatisticsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name not in _ALLOWED.get(module, ()):
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a VecNormalize statistics file does not hold (only numpy arrays, "
                "Gymnasium Box and Dict spaces and SB3's running statistics are read; nothing in the file is run)"
            )
        return super().find_class(module, name)


def read_vec_normalize(path: str | os.PathLike) -> VecNormalize:
    """A ``VecNormalize`` saved by SB3's ``VecNormalize.save`` (or :func:`save_vec_normalize`), without its env.

    :param path: the file (``vecnormalize.pkl``)
    :return: the statistics and settings, to be given an env with ``set_venv`` (see :func:`load_vec_normalize`)
    :raises ValueError: the file is not such a file, or names anything else
    """
    try:
        with open(path, "rb") as stream:
            loaded = _StatisticsUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot read '{path}' as VecNormalize statistics: {exc}") from None
    if not isinstance(loaded, VecNormalize):
        raise ValueError(f"'{path}' holds a {type(loaded).__name__}, not SB3's VecNormalize statistics")
    statistics = loaded.obs_rms if isinstance(loaded.obs_rms, dict) else {"": loaded.obs_rms}
    if not all(isinstance(value, RunningMeanStd) for value in [*statistics.values(), loaded.ret_rms]):
        raise ValueError(f"'{path}': its observation or return statistics are not SB3's RunningMeanStd")
    return loaded


def load_vec_normalize(path: str | os.PathLike, venv: VecEnv, training: bool = False) -> VecNormalize:
    """:func:`read_vec_normalize`, wrapped around ``venv``: SB3's ``VecNormalize.load``, without unpickling code.

    :param path: the file
    :param venv: the env to wrap (its observation space must be the one the statistics were gathered on)
    :param training: update the statistics as the env steps (``False`` to evaluate, as SB3's docs advise)
    :return: the wrapped env
    :raises ValueError: as :func:`read_vec_normalize`, or the observation spaces differ
    """
    normalizer = read_vec_normalize(path)
    try:
        normalizer.set_venv(venv)
    except (AssertionError, ValueError) as exc:
        raise ValueError(
            f"'{path}' holds statistics of observations {normalizer.observation_space}, and the env's are "
            f"{venv.observation_space} ({str(exc).splitlines()[0] if str(exc) else 'they differ'})"
        ) from None
    normalizer.training = training
    return normalizer


def statistics_path(model_path: str | os.PathLike) -> Path:
    """Where ``sb3-finetune finetune`` writes a model's ``VecNormalize`` statistics: ``<model>_vecnormalize.pkl``.

    :param model_path: the model's ``.zip``
    """
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}_vecnormalize.pkl")


def found_statistics(model_path: str | os.PathLike) -> Path | None:
    """A model's ``VecNormalize`` statistics where they are kept beside it.

    That is :func:`statistics_path`'s file, or the RL Zoo's (``<folder>/<model>/vecnormalize.pkl`` for
    ``<folder>/<model>.zip``).

    :param model_path: the model's ``.zip``
    :return: the file, or ``None`` where there is none
    """
    model_path = Path(model_path)
    for candidate in (statistics_path(model_path), model_path.with_suffix("") / "vecnormalize.pkl"):
        if candidate.is_file():
            return candidate
    return None


def save_vec_normalize(normalizer: VecNormalize, path: str | os.PathLike) -> Path:
    """Write ``normalizer``'s statistics and settings as SB3's ``VecNormalize.save`` does, atomically.

    :param normalizer: the env's ``VecNormalize``
    :param path: the file
    :return: the path written
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as temporary:
        normalizer.save(str(temporary))
    return path


def folding_sentence(normalizer: VecNormalize) -> str:
    """What :func:`fold_into_first_layer` did, in a sentence (``export`` logs it, the command prints it)."""
    return (
        "export: the VecNormalize statistics are folded into the first layer, so the prior reads the env's own "
        f"observations; exact where no observation would be clipped (within {normalizer.clip_obs:g} standard "
        "deviations of the statistics' mean)"
    )


def fold_into_first_layer(
    state: Mapping[str, th.Tensor], input_keys: Sequence[str], normalizer: VecNormalize
) -> dict[str, th.Tensor]:
    """A Linear chain that reads the env's own observations, made of one that reads ``normalizer``'s output.

    ``VecNormalize`` maps an observation ``x`` to ``clip((x - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``;
    without the clip that is affine, and it is folded into the first layer: ``W / s`` and ``b - (W / s) @ mean``. The
    chain is exact wherever no observation would have been clipped (within ``clip_obs`` standard deviations of the
    statistics' mean, 10 by default); beyond, it extrapolates where the model saw the clip's bound.

    :param state: the chain's tensors (its first Linear layer first, as :func:`~sb3_finetune.networks.
        infer_linear_layers` reads them)
    :param input_keys: the keys the chain reads of Dict observations, concatenated in this order (empty for a Box)
    :param normalizer: the statistics the chain's model acted with
    :return: the chain's tensors, the first layer's replaced
    :raises ValueError: the statistics are not of the observations the chain reads
    """
    import numpy as np

    from sb3_finetune.networks import infer_linear_layers

    if not normalizer.norm_obs:
        return dict(state)
    name, width, _, _ = infer_linear_layers(state)[0]
    space = normalizer.observation_space
    if input_keys:
        parts = []
        for key in input_keys:
            if key not in getattr(space, "spaces", {}):
                raise ValueError(f"the VecNormalize statistics have no key {key!r} (they have {space})")
            size = int(np.prod(space[key].shape))
            if key in (normalizer.norm_obs_keys or []):
                parts.append((normalizer.obs_rms[key].mean.ravel(), normalizer.obs_rms[key].var.ravel()))
            else:
                parts.append((np.zeros(size), np.ones(size) - normalizer.epsilon))
        mean = np.concatenate([part[0] for part in parts])
        var = np.concatenate([part[1] for part in parts])
    else:
        mean, var = normalizer.obs_rms.mean.ravel(), normalizer.obs_rms.var.ravel()
    if mean.size != width:
        raise ValueError(
            f"the VecNormalize statistics are of {mean.size} observation values, and the chain reads {width}"
        )
    weight = state[f"{name}.weight"]
    scaled = weight / th.as_tensor(np.sqrt(var + normalizer.epsilon), dtype=weight.dtype)
    bias = state.get(f"{name}.bias", th.zeros(weight.shape[0], dtype=weight.dtype))
    shifted = bias - scaled @ th.as_tensor(mean, dtype=weight.dtype)
    folded = {}
    for key, value in state.items():  # in order: the chain is read off it
        if key == f"{name}.weight":
            folded[key], folded[f"{name}.bias"] = scaled, shifted
        elif key != f"{name}.bias":
            folded[key] = value
    return folded
