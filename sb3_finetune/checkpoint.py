"""Checkpoints that survive a crash: model, replay buffer and step count, written atomically; no pickles to read.

Runs of a sweep or a comparison survive one too: each is a JSON line appended and synced as it ends
(:func:`append_record`), and a line torn by a kill is skipped when the file is read again (:func:`read_records`).

A checkpoint is a folder ``step-<n>`` holding ``model.zip`` (SB3's format), ``replay_buffer.npz`` (the buffer's
arrays, read back with ``allow_pickle=False``), ``state.json``, and, where the model's env is wrapped in SB3's
``VecNormalize``, its running statistics in ``vecnormalize.pkl`` (SB3's format, read back by
:func:`~sb3_finetune.normalization.read_vec_normalize`, which runs nothing from the file). It is written under a
temporary name and renamed when complete, so a crash at any moment leaves either the previous checkpoints or the
new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.decisions import say

_STEP_DIR = re.compile(r"^step-(\d+)$")

VEC_NORMALIZE_FILE = "vecnormalize.pkl"
"""A checkpoint's ``VecNormalize`` statistics (the RL Zoo's name for them)."""


_OBJECTS = "__objects__/"
"""The prefix of an object array's entry (HER's info dicts), stored as JSON text, never as a pickle."""


def _to_json(value: Any, where: str, dropped: set[str]) -> Any:
    """An info dict's value as JSON, numpy arrays and scalars tagged with their dtype so they come back exact."""
    if isinstance(value, dict):
        return {str(key): _to_json(item, f"{where}.{key}", dropped) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item, where, dropped) for item in value]
    if isinstance(value, np.ndarray) and value.dtype != object:
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {"__npscalar__": value.item(), "dtype": value.dtype.str}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    dropped.add(f"{where} ({type(value).__name__})")
    return None


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if "__npscalar__" in value:
        return np.dtype(value["dtype"]).type(value["__npscalar__"])
    return {key: _from_json(item) for key, item in value.items()}


def _object_array_text(name: str, value: np.ndarray) -> np.ndarray:
    """An object array (HER's ``infos``: a dict per transition) as UTF-8 JSON bytes.

    Values JSON cannot hold (not numbers, strings, numpy arrays or containers of them) are stored as ``None``, and a
    warning names them.
    """
    dropped: set[str] = set()
    text = json.dumps(
        {"shape": list(value.shape), "items": [_to_json(item, name, dropped) for item in value.ravel().tolist()]}
    )
    if dropped:  # a Python warning: a checkpoint is written mid-run, where no decision list is at hand
        warnings.warn(
            f"replay buffer checkpoint: stored as None, not JSON-serialisable: {', '.join(sorted(dropped))}",
            stacklevel=2,
        )
    return np.frombuffer(text.encode(), dtype=np.uint8)


def _object_array_from_text(data: np.ndarray) -> np.ndarray:
    stored = json.loads(bytes(data).decode())
    items = np.empty(len(stored["items"]), dtype=object)
    items[:] = [_from_json(item) for item in stored["items"]]
    return items.reshape(stored["shape"])


def _buffer_arrays(buffer: ReplayBuffer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for name, value in vars(buffer).items():
        if isinstance(value, np.ndarray) and value.dtype == object:
            arrays[f"{_OBJECTS}{name}"] = _object_array_text(name, value)
        elif isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            for key, sub in value.items():
                arrays[f"{name}/{key}"] = sub
        elif isinstance(value, (bool, int, float, np.integer, np.floating)) and not isinstance(value, np.bool_):
            scalars[name] = value.item() if isinstance(value, np.generic) else value
    return arrays, scalars


def save_replay_buffer(buffer: ReplayBuffer, path: str | os.PathLike) -> None:
    """Write a replay buffer's arrays (``.npz``) and counters (inside it, as JSON).

    :param buffer: SB3's ``ReplayBuffer`` or ``HerReplayBuffer``
    :param path: destination ``.npz``
    """
    arrays, scalars = _buffer_arrays(buffer)
    arrays["__scalars__"] = np.frombuffer(json.dumps(scalars).encode(), dtype=np.uint8)
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def load_replay_buffer(buffer: ReplayBuffer, path: str | os.PathLike) -> None:
    """Fill ``buffer`` (of the same size and spaces) from :func:`save_replay_buffer`'s file.

    :param buffer: the model's (empty) buffer
    :param path: the ``.npz``
    :raises ValueError: the file does not match the buffer
    """
    with np.load(path, allow_pickle=False) as data:
        scalars = json.loads(bytes(data["__scalars__"]).decode())
        targets: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # every entry checked before any is copied
        for name in data.files:
            if name == "__scalars__":
                continue
            stored = _object_array_from_text(data[name]) if name.startswith(_OBJECTS) else None
            target, _, key = name.removeprefix(_OBJECTS).partition("/")
            current = getattr(buffer, target, None)
            expected = current[key] if key and isinstance(current, dict) else current
            shape = stored.shape if stored is not None else _npz_header(path, data, name)
            if not isinstance(expected, np.ndarray) or expected.shape != shape:
                got = None if not isinstance(expected, np.ndarray) else expected.shape
                raise ValueError(f"replay buffer file '{path}': {name} has shape {shape}, buffer has {got}")
            targets[name] = (expected, stored)
        for name, (expected, stored) in targets.items():
            expected[...] = data[name] if stored is None else stored
    for name, value in scalars.items():
        setattr(buffer, name, value)


def _npz_header(path: str | os.PathLike, data: Any, name: str) -> tuple[int, ...]:
    """The shape of an ``.npz`` entry, read from its header without reading the array.

    :raises ValueError: the entry is a pickle (an object array), which is never read
    """
    with data.zip.open(f"{name}.npy") as stream:
        major, _ = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(stream)
    if dtype.hasobject:
        raise ValueError(
            f"replay buffer file '{path}': {name} is stored as a pickle (an object array, as sb3_finetune wrote HER's "
            "info dicts until 2026-12-06); pickles are never read: start the run again, or delete this checkpoint"
        )
    return shape


def append_record(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path`` and sync it to disk before returning (a run finished is a run kept).

    Where the file ends in a line torn by a kill, the record starts a line of its own: written onto the torn one, it
    would be lost with it when the file is read.

    :param path: the JSON-lines file
    :param record: the record, with its ``key``
    """
    path = Path(path)
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as stream:
            stream.seek(-1, os.SEEK_END)
            torn = stream.read(1) != b"\n"
    with path.open("a") as stream:
        stream.write(("\n" if torn else "") + json.dumps(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def read_records(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The records of a JSON-lines file by their ``key`` (a missing file holds none; a torn last line is skipped).

    :param path: the file
    :return: ``{key: record}``, a later line with the same key replacing an earlier one
    """
    path = Path(path)
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the last line of a process killed while writing it
            continue
        records[record["key"]] = record
    return records


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``folder``, oldest first.

    :param folder: the checkpoint folder
    :return: ``[(step, path), ...]``
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / "state.json").exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def save_checkpoint(
    model: BaseAlgorithm, folder: str | os.PathLike, extra: dict[str, Any] | None = None, keep: int = 2
) -> Path:
    """Write a checkpoint of ``model`` atomically, and delete all but the ``keep`` newest.

    :param model: the model
    :param folder: the checkpoint folder
    :param extra: more to store in ``state.json``
    :param keep: checkpoints kept
    :return: the checkpoint's path
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{model.num_timesteps}"
    for stale in folder.glob(".step-*.tmp"):  # left by a process killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    temporary = folder / f".step-{model.num_timesteps}.{os.getpid()}.tmp"
    temporary.mkdir()
    model.save(temporary / "model.zip")
    if model.replay_buffer is not None:
        save_replay_buffer(model.replay_buffer, temporary / "replay_buffer.npz")
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        normalizer.save(str(temporary / VEC_NORMALIZE_FILE))
    state = {"num_timesteps": model.num_timesteps, "saved_at": time.time(), **(extra or {})}
    (temporary / "state.json").write_text(json.dumps(state, indent=2))
    for path in temporary.iterdir():  # make the contents durable before the rename publishes them
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
    if final.exists():
        _discard(final)
    os.replace(temporary, final)
    for _, old in list_checkpoints(folder)[:-keep]:
        _discard(old)
    return final


def _discard(checkpoint: Path) -> None:
    """Delete a checkpoint so that a crash midway never leaves a published one half-deleted.

    The folder is first renamed out of the ``step-<n>`` namespace (atomic), then removed.
    """
    doomed = checkpoint.with_name(f".{checkpoint.name}.{os.getpid()}.tmp")
    os.replace(checkpoint, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def load_checkpoint(
    path: str | os.PathLike, algorithm: type[BaseAlgorithm], **load_kwargs: Any
) -> tuple[BaseAlgorithm, dict[str, Any]]:
    """Load a checkpoint's model and replay buffer.

    :param path: a ``step-<n>`` folder
    :param algorithm: the model's class
    :param load_kwargs: passed to ``algorithm.load`` (``env`` is needed to continue training; where the run was
        under ``VecNormalize``, it must be too, and it goes on with the checkpoint's running statistics)
    :return: the model (buffer filled) and the stored state, with ``"load_notes"``: a sentence for each thing the
        load decided (HER's unfinished episodes ended), where any; and, where the checkpoint holds ``VecNormalize``
        statistics and no ``env`` was given, ``"vec_normalize"``: them (see
        :func:`~sb3_finetune.evaluation.model_policy`)
    :raises ValueError: the checkpoint's run was under ``VecNormalize`` and ``env`` is not, or the other way round
        (before anything is loaded)
    """
    from stable_baselines3.common.vec_env import sync_envs_normalization, unwrap_vec_normalize

    from sb3_finetune.adapter import load_model
    from sb3_finetune.normalization import read_vec_normalize

    path = Path(path)
    state = json.loads((path / "state.json").read_text())
    env = load_kwargs.get("env")
    target = unwrap_vec_normalize(env) if env is not None else None
    saved = read_vec_normalize(path / VEC_NORMALIZE_FILE) if (path / VEC_NORMALIZE_FILE).exists() else None
    if env is not None and (saved is None) != (target is None):
        raise ValueError(
            f"'{path}' was saved by a run under VecNormalize and the env to resume on is not wrapped in one"
            if target is None
            else f"'{path}' was saved by a run without VecNormalize and the env to resume on is wrapped in one"
        )
    if saved is not None and target is not None and saved.observation_space != target.observation_space:
        raise ValueError(
            f"'{path}' holds VecNormalize statistics of observations {saved.observation_space}, and the env's are "
            f"{target.observation_space}"
        )
    try:
        model = load_model(path / "model.zip", algorithm, **load_kwargs)
    except ValueError:  # a model without a pretrained extractor (trained from scratch)
        model = algorithm.load(path / "model.zip", **load_kwargs)
    buffer_file = path / "replay_buffer.npz"
    if buffer_file.exists() and model.replay_buffer is not None:
        load_replay_buffer(model.replay_buffer, buffer_file)
        # HER's buffer is built with the model's env where one was given to load, and refuses a second
        if (
            hasattr(model.replay_buffer, "set_env")
            and getattr(model.replay_buffer, "env", None) is None
            and (model.get_env() is not None)
        ):
            model.replay_buffer.set_env(model.get_env())
        buffer = model.replay_buffer
        if hasattr(buffer, "truncate_last_trajectory") and (buffer._current_ep_start != buffer.pos).any():
            # As SB3's own load_replay_buffer: the run goes on from a reset, so HER's unfinished episodes end here
            # (else the next episode would be joined to them, and goals sampled across the two). SB3's warning
            # advises an argument of its own loader; this sentence says what happened instead.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The last trajectory in the replay buffer will be truncated")
                buffer.truncate_last_trajectory()
            sentence = (
                "resume: HER's episodes unfinished at the checkpoint end there (the run goes on from a reset), as "
                "SB3's load_replay_buffer ends them"
            )
            state["load_notes"] = [say(sentence)]
    if saved is not None and target is not None:
        sync_envs_normalization(saved, target)  # SB3's copy of the running statistics (spaces checked above)
    elif saved is not None:
        state["vec_normalize"] = saved
    return model, state


class CheckpointCallback(BaseCallback):
    """Save an atomic checkpoint every ``save_freq`` env steps.

    It holds the model, the replay buffer, the step count, and ``VecNormalize``'s statistics where the env has them.

    :param save_freq: env steps between checkpoints
    :param folder: where checkpoints go
    :param extra: more to store in each ``state.json``, or a function that returns it at each checkpoint (for what
        the run learns as it goes, such as the trust gate's decision:
        :meth:`~sb3_finetune.recipes.FinetuneSetup.checkpoint_state`)
    :param keep: checkpoints kept
    """

    def __init__(
        self,
        save_freq: int,
        folder: str | os.PathLike,
        extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        keep: int = 2,
    ):
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"save_freq must be a positive number of steps, got {save_freq}")
        self.save_freq, self.folder, self.extra, self.keep = save_freq, Path(folder), extra or {}, keep
        self._last = 0

    def _init_callback(self) -> None:
        # The model's count: SB3 updates the callback's own only at its first step, so on a resumed run it is still 0
        # here (and the first checkpoint came one step after the resume, the next one save_freq after that)
        steps = self.model.num_timesteps
        self._last = steps - steps % self.save_freq

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # After the rollout's transitions are in the replay buffer (``_on_step`` runs before the last is stored).
        if self.num_timesteps - self._last >= self.save_freq:
            self._last = self.num_timesteps
            extra = self.extra() if callable(self.extra) else self.extra
            save_checkpoint(self.model, self.folder, extra, self.keep)
