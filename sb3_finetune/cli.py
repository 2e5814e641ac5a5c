"""The ``sb3-finetune`` command line: pretrain, finetune, evaluate, export and demo.

Flags are named as in the RL Zoo where they overlap (``--algo``, ``--env``, ``-n``, ``--seed``, ``--env-kwargs``,
``--tensorboard-log``, ``--eval-freq``, ``--save-freq``, ``-P/--progress``, ``--hyperparams``, ``-f``). A mistake
(a bad flag, an unknown algorithm, a missing file) prints one line on stderr and exits with status 2, no
traceback.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import functools
import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import gymnasium as gym
import numpy as np

from sb3_finetune.weights import PretrainedWeightsError, written_atomically

if TYPE_CHECKING:
    from sb3_finetune.wrappers import EnvWrappers

ALGOS = ("ddpg", "td3", "sac")
RECIPE_NAMES = ("default", "frontier", "frozen", "naive", "ibrl")
"""``recipes.RECIPES``' names, written out so that ``--help`` does not import torch (a test keeps them the same)."""
GATE_CRITERIA = ("auto", "return")
"""``warmup.GATE_CRITERIA``, likewise."""


HYPERPARAMS_HELP = "an RL Zoo hyperparameter YAML (the env's entry, else its default one), or a Zoo run's config.yml"


class UsageError(Exception):
    """A mistake of the user's, reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# ---------------------------------------------------------------------------------------------- parsing helpers


def parse_env_kwargs(items: list[str] | None) -> dict[str, Any]:
    """``key:value`` pairs (values are Python literals), as the RL Zoo's ``--env-kwargs``.

    :param items: e.g. ``["goal_position:(-0.5, -0.5)", "max_step:0.05"]``
    :return: the kwargs
    """
    kwargs: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise UsageError(f"--env-kwargs expects key:value pairs, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value  # a bare string, as the Zoo allows
    return kwargs


def _literal_call(text: str, what: str = "policy_kwargs") -> dict[str, Any]:
    """Parse the Zoo's ``"dict(net_arch=[64, 64])"`` without eval (activation names from a short list).

    :param text: the string
    :param what: the setting it is (for messages)
    """
    import torch as th

    activations = {
        f"{prefix}{name}": getattr(th.nn, name)
        for prefix in ("nn.", "th.nn.", "torch.nn.")
        for name in ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU")
    }
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise UsageError(f"cannot parse {what} {text!r}: {exc.msg}") from None
    if isinstance(tree, ast.Dict):
        return ast.literal_eval(tree)
    if not (
        isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "dict" and not tree.args
    ):
        raise UsageError(f"{what} must be dict(...) or a {{...}} literal, got {text!r}")
    result = {}
    for keyword in tree.keywords:
        source = ast.unparse(keyword.value)
        if source in activations:
            result[keyword.arg] = activations[source]
        else:
            try:
                result[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                raise UsageError(
                    f"{what}: cannot read {keyword.arg}={source} (only literals and nn.ReLU-style activations)"
                ) from None
    return result


ZOO_ONLY_KEYS = {"frame_stack", "vec_env_wrapper", "monitor_kwargs"}

ZOO_RUN_CONFIG_TAG = "tag:yaml.org,2002:python/object/apply:collections.OrderedDict"
"""The tag of an RL Zoo run's saved ``config.yml`` (and ``args.yml``): an ``OrderedDict`` of its settings."""


class _RunConfig(dict):
    """An RL Zoo run's saved hyperparameters (``config.yml``): one entry, whatever the env."""


def _yaml_loader() -> type:
    """YAML's safe loader, which also reads the RL Zoo's saved runs: their ``OrderedDict`` and tuples, as data.

    Nothing in the file is imported or called: an ``OrderedDict`` is built from its pairs as a dict, a tuple from
    its items, and any other Python tag is refused, as the safe loader refuses it.
    """
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> _RunConfig:
        pairs = loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode) else None
        if not pairs or len(pairs) != 1 or not all(isinstance(p, list) and len(p) == 2 for p in pairs[0]):
            raise yaml.constructor.ConstructorError(
                None, None, "an OrderedDict not written as the RL Zoo writes its config.yml", node.start_mark
            )
        return _RunConfig(pairs[0])

    def python_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
        return tuple(loader.construct_sequence(node, deep=True))  # type: ignore[arg-type]

    Loader.add_constructor(ZOO_RUN_CONFIG_TAG, ordered_dict)
    Loader.add_constructor("tag:yaml.org,2002:python/tuple", python_tuple)
    return Loader


@functools.lru_cache(maxsize=8)
def _read_hyperparams_file(path: str, stamp: tuple[int, int]) -> Any:
    """A hyperparameter file's content, parsed once per version of the file (``stamp``: its mtime and size)."""
    import yaml

    try:
        return yaml.load(Path(path).read_text(), Loader=_yaml_loader())  # a safe loader (above)
    except yaml.YAMLError as exc:
        raise UsageError(f"'{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None


def _hyperparams_file(path: str) -> Any:
    file = Path(path)
    if not file.exists():
        raise UsageError(f"hyperparameter file not found: '{path}'")
    status = file.stat()
    content = _read_hyperparams_file(str(file.resolve()), (status.st_mtime_ns, status.st_size))
    if isinstance(content, _RunConfig) and {"algo", "env"} <= set(content):
        raise UsageError(
            f"'{path}' holds an RL Zoo run's command-line arguments (its args.yml): give the run's config.yml, "
            "its hyperparameters"
        )
    return content


def _hyperparams_entry(path: str, env_id: str) -> dict[str, Any]:
    """The entry for ``env_id`` of an RL Zoo hyperparameter file, as written (a copy).

    As the RL Zoo finds it: the env id's entry, else the file's ``default`` entry; an RL Zoo run's saved
    ``config.yml`` is one entry, used for any env (:func:`hyperparams_source` says which).
    """
    content = _hyperparams_file(path)
    if isinstance(content, _RunConfig):
        return copy.deepcopy(dict(content))
    if isinstance(content, dict):
        for key in (env_id, "default"):
            if isinstance(content.get(key), dict):
                return copy.deepcopy(content[key])
    keys = sorted(map(str, content)) if isinstance(content, dict) else []
    raise UsageError(f"'{path}' has no entry for {env_id!r} and no 'default' one (entries: {keys})")


def hyperparams_source(path: str, env_id: str) -> str | None:
    """A sentence saying which settings of ``path`` are used for ``env_id``, where it is not the env's own entry.

    :param path: the YAML file
    :param env_id: the env id
    :return: the sentence, or ``None`` where the file has an entry for ``env_id``
    """
    content = _hyperparams_file(path)
    if isinstance(content, _RunConfig):
        return f"'{path}' is an RL Zoo run's saved hyperparameters: they are used for {env_id}"
    if isinstance(content, dict) and env_id not in content and isinstance(content.get("default"), dict):
        return f"'{path}' has no entry for {env_id}: its 'default' entry is used, as the RL Zoo uses it"
    return None  # the env's own entry, or none at all (which _hyperparams_entry refuses)


def file_env_kwargs(path: str, env_id: str) -> dict[str, Any]:
    """The ``env_kwargs`` of a hyperparameter file's entry (empty where it sets none).

    :param path: the YAML file
    :param env_id: the env id (the entry's key)
    :return: the env's arguments
    """
    kwargs = _hyperparams_entry(path, env_id).get("env_kwargs") or {}
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise UsageError(f"'{path}': env_kwargs must map argument names to values, got {kwargs!r}")
    return kwargs


VEC_NORMALIZE_KEYS = {"norm_obs", "norm_reward", "norm_obs_keys", "clip_obs", "clip_reward", "gamma", "epsilon"}
"""The ``VecNormalize`` arguments a hyperparameter file's ``normalize`` may set."""


def load_normalize(path: str, env_id: str) -> dict[str, Any] | None:
    """The ``normalize`` setting of an RL Zoo hyperparameter file's entry, as ``VecNormalize`` arguments.

    As the RL Zoo reads it: ``true`` (observations and rewards), or a dict (or its string, ``"{'norm_obs': True,
    'norm_reward': False}"``) of ``VecNormalize``'s arguments; ``gamma`` is the algorithm's where the entry sets
    one and ``normalize`` does not.

    :param path: the YAML file
    :param env_id: the env id (the entry's key)
    :return: the arguments, or ``None`` where the entry does not normalise
    """
    entry = _hyperparams_entry(path, env_id)
    setting = entry.get("normalize", False)
    if isinstance(setting, str):
        setting = _literal_call(setting, "normalize")
    if setting is False or setting is None:
        return None
    if setting is True:
        setting = {}
    if not isinstance(setting, dict):
        raise UsageError(f"'{path}': normalize must be true, false or a dict of VecNormalize's arguments")
    unknown = sorted(set(setting) - VEC_NORMALIZE_KEYS)
    if unknown:
        takes = sorted(VEC_NORMALIZE_KEYS)
        raise UsageError(f"'{path}': normalize: {unknown} are not VecNormalize's (it takes {takes})")
    if "gamma" in entry and "gamma" not in setting:
        setting["gamma"] = float(entry["gamma"])
    return setting


def load_env_wrapper(path: str, env_id: str) -> EnvWrappers:
    """The ``env_wrapper`` setting of an RL Zoo hyperparameter file's entry.

    As :func:`~sb3_finetune.wrappers.parse_env_wrapper` reads it; each wrapper is imported once to check its name.

    :param path: the YAML file
    :param env_id: the env id (the entry's key)
    :return: the wrappers (empty where the entry names none)
    """
    from sb3_finetune.wrappers import parse_env_wrapper, wrapper_class

    try:
        wrappers = parse_env_wrapper(_hyperparams_entry(path, env_id).get("env_wrapper"))
        for name, _ in wrappers:
            wrapper_class(name)
    except ValueError as exc:
        raise UsageError(f"'{path}': {exc}") from None
    return wrappers


def load_callbacks(path: str, env_id: str) -> list[Any]:
    """The ``callback`` setting of an RL Zoo hyperparameter file's entry, as SB3 callbacks.

    As the RL Zoo reads it, in the same form as ``env_wrapper``: each callback's dotted name, alone or with its
    arguments. ``sb3_finetune.zoo.FinetuneCallback`` (the recipe as a callback, for the Zoo itself) is refused:
    ``finetune`` runs the recipe already.

    :param path: the YAML file
    :param env_id: the env id (the entry's key)
    :return: the callbacks, built (empty where the entry names none)
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from sb3_finetune.wrappers import parse_env_wrapper, wrapper_class

    callbacks = []
    try:
        for name, kwargs in parse_env_wrapper(_hyperparams_entry(path, env_id).get("callback"), "callback"):
            if name.endswith(".FinetuneCallback"):
                raise ValueError(
                    f"callback: {name} runs the recipe, which finetune runs already (it is for the RL Zoo)"
                )
            try:
                callback = wrapper_class(name, "callback")(**kwargs)
            except ValueError:
                raise
            except Exception as exc:  # the callback's own complaint about its arguments
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ValueError(f"callback: {name}({', '.join(kwargs)}): {message}") from None
            if not isinstance(callback, BaseCallback):
                raise ValueError(f"callback: {name} is not an SB3 callback")
            callbacks.append(callback)
    except ValueError as exc:
        raise UsageError(f"'{path}': {exc}") from None
    return callbacks


def _linear_schedule(path: str, setting: str) -> Any:
    """The RL Zoo's ``lin_<initial value>`` learning rate: from that value at the start to 0 at the end of training.

    SB3's ``LinearSchedule`` from the value to 0 over the whole run is the Zoo's ``SimpleLinearSchedule``.
    """
    from stable_baselines3.common.utils import LinearSchedule

    kind, _, value = setting.partition("_")
    try:
        start = float(value)
    except ValueError:
        start = None
    if kind != "lin" or start is None:
        raise UsageError(f"'{path}': learning_rate {setting!r}: a number, or lin_<initial value> as in the RL Zoo")
    return LinearSchedule(start, 0.0, 1.0)


def load_hyperparams(path: str, env_id: str, env: gym.Env | None = None) -> tuple[dict[str, Any], int | None]:
    """The entry for ``env_id`` of an RL Zoo hyperparameter file, as SB3 arguments and ``n_timesteps``.

    ``normalize``, ``env_wrapper``, ``callback`` and ``env_kwargs`` are not an algorithm's arguments:
    :func:`load_normalize`, :func:`load_env_wrapper`, :func:`load_callbacks` and :func:`file_env_kwargs` read them.
    A ``lin_<value>`` learning rate is the RL Zoo's linear schedule, from the value to 0.

    :param path: the YAML file
    :param env_id: the env id (the entry's key)
    :param env: the env, whose action size sizes the action noise (made from ``env_id`` when ``None``)
    :return: ``(algorithm kwargs, n_timesteps or None)``
    """
    entry = _hyperparams_entry(path, env_id)
    for key in ("normalize", "env_wrapper", "callback", "env_kwargs"):  # not the algorithm's: load_normalize, ...
        entry.pop(key, None)
    unsupported = sorted(set(entry) & ZOO_ONLY_KEYS)
    if unsupported:
        raise UsageError(f"'{path}': {unsupported} are not supported by sb3-finetune (use the RL Zoo for them)")
    entry.pop("n_envs", None)
    n_timesteps = entry.pop("n_timesteps", None)
    entry.pop("policy", None)
    if isinstance(entry.get("policy_kwargs"), str):
        entry["policy_kwargs"] = _literal_call(entry["policy_kwargs"])
    noise_type, noise_std = entry.pop("noise_type", None), entry.pop("noise_std", None)
    if noise_type is not None:
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        action_space = (env if env is not None else gym.make(resolve_env_id(env_id))).action_space
        shape = action_space.shape  # the box's own: SB3 adds the noise to actions of that shape
        noise_class = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}.get(noise_type)
        if noise_class is None:
            raise UsageError(f"'{path}': unknown noise_type {noise_type!r}")
        entry["action_noise"] = noise_class(np.zeros(shape), float(noise_std or 0.1) * np.ones(shape))
    if isinstance(entry.get("replay_buffer_kwargs"), str):
        entry["replay_buffer_kwargs"] = _literal_call(entry["replay_buffer_kwargs"])
    if isinstance(entry.get("replay_buffer_class"), str):
        from stable_baselines3 import HerReplayBuffer

        if entry["replay_buffer_class"] != "HerReplayBuffer":
            raise UsageError(f"'{path}': replay_buffer_class {entry['replay_buffer_class']!r} is not supported")
        entry["replay_buffer_class"] = HerReplayBuffer
    if isinstance(entry.get("learning_rate"), str):
        entry["learning_rate"] = _linear_schedule(path, entry["learning_rate"])
    if "train_freq" in entry and isinstance(entry["train_freq"], list):
        entry["train_freq"] = tuple(entry["train_freq"])
    return entry, int(float(n_timesteps)) if n_timesteps is not None else None


def import_gym_packages(packages: list[str] | None) -> None:
    """Import the modules that register env ids (the RL Zoo's ``--gym-packages``).

    :param packages: module names, e.g. ``["gymnasium_robotics"]``
    """
    for package in packages or []:
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise UsageError(f"--gym-packages: cannot import {package!r}: {exc}") from None
        if hasattr(gym, "register_envs"):
            gym.register_envs(module)


def resolve_env_id(env_id: str) -> str:
    """The registered id for ``env_id``, importing ``module`` first for the ``module:Id`` form.

    This distribution's own envs (``nav_env``) are found without ``--gym-packages``: their package is imported
    only when an id is not registered otherwise.

    :param env_id: an id, or ``module:Id``
    :return: the id as registered
    """
    module, sep, name = env_id.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(f"--env {env_id}: cannot import {module!r}: {exc}") from None
        env_id = name
    if env_id not in gym.registry and importlib.util.find_spec("nav_env") is not None:
        importlib.import_module("nav_env")
    if env_id not in gym.registry:
        raise UsageError(
            f"unknown env {env_id!r}: name the package that registers it with --gym-packages, or write module:{env_id}"
        )
    return env_id


def _make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    try:
        return gym.make(env_id, **env_kwargs)
    except Exception as exc:  # a wrong kwarg, a bad value, a missing dependency: the env's own message
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot make {env_id} with --env-kwargs {env_kwargs}: {message}") from None


def _check_file(path: str, what: str) -> str:
    if not Path(path).exists():
        raise UsageError(f"{what} not found: '{path}'")
    return path


class RunSettings(NamedTuple):
    """A training command's env and the algorithm's settings, from its flags and its hyperparameter file.

    :param env_id: the env id
    :param env_kwargs: its arguments
    :param env: the env, inside ``wrappers``
    :param hyperparams: the algorithm's arguments
    :param n_timesteps: env steps per run
    :param normalize: ``VecNormalize``'s arguments (``None``: the file does not normalise)
    :param wrappers: the file's ``env_wrapper`` (empty: none)
    :param n_envs: the file's ``n_envs`` (``None``: it says none)
    """

    env_id: str
    env_kwargs: dict[str, Any]
    env: gym.Env
    hyperparams: dict[str, Any]
    n_timesteps: int
    normalize: dict[str, Any] | None
    wrappers: EnvWrappers
    n_envs: int | None = None

    def eval_env(self) -> tuple[Any, dict[str, Any] | None]:
        """What evaluations run on: the env id and its arguments, or, inside wrappers, a wrapped env of its own."""
        if not self.wrappers:
            return self.env_id, self.env_kwargs
        return _wrapped(_make_env(self.env_id, self.env_kwargs), self.wrappers), None


def _run_settings(args: argparse.Namespace, fewest_steps: int) -> RunSettings:
    """A training command's settings.

    The env from ``--env`` and ``--env-kwargs`` inside the file's ``env_wrapper``; the arguments, ``normalize``,
    ``env_wrapper`` and ``n_envs`` from ``--hyperparams``; the steps from ``-n``, else the file's ``n_timesteps``.

    :param args: the command's arguments
    :param fewest_steps: the fewest env steps a run may have
    """
    env_id, env_kwargs, env = _env_from_args(args)
    hyperparams: dict[str, Any] = {}
    normalize, wrappers, n_envs = None, (), None
    n_timesteps = args.n_timesteps
    if args.hyperparams:
        wrappers = load_env_wrapper(args.hyperparams, env_id)
        env = _wrapped(env, wrappers)
        hyperparams, file_steps = load_hyperparams(args.hyperparams, env_id, env)
        normalize = load_normalize(args.hyperparams, env_id)
        n_envs = _hyperparams_entry(args.hyperparams, env_id).get("n_envs")
        if n_envs is not None and (not isinstance(n_envs, int) or n_envs < 1):
            raise UsageError(f"'{args.hyperparams}': n_envs must be a whole number of at least 1, got {n_envs!r}")
        n_timesteps = n_timesteps or file_steps
    if not n_timesteps or n_timesteps < fewest_steps:
        at_least = "the number of" if fewest_steps == 1 else f"at least {fewest_steps}"
        raise UsageError(f"give {at_least} env steps with -n/--n-timesteps (or n_timesteps in --hyperparams)")
    return RunSettings(env_id, env_kwargs, env, hyperparams, n_timesteps, normalize, wrappers, n_envs)


def _wrapped(env: gym.Env, wrappers: EnvWrappers) -> gym.Env:
    """``env`` inside ``wrappers`` (a wrapper that cannot be imported or refuses the env is a usage error)."""
    from sb3_finetune.wrappers import wrap_env

    try:
        return wrap_env(env, wrappers)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _env_from_args(args: argparse.Namespace) -> tuple[str, dict[str, Any], gym.Env]:
    import_gym_packages(args.gym_packages)
    env_id = resolve_env_id(args.env)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    path = getattr(args, "hyperparams", None)
    if path:  # the file's env_kwargs, unless --env-kwargs replace them (as in the RL Zoo)
        source = hyperparams_source(path, env_id)
        if source:
            print(f"note: {source}")
        in_file = file_env_kwargs(path, env_id)
        if in_file and env_kwargs:
            print(f"note: --env-kwargs {env_kwargs} replace the env_kwargs of '{path}' ({in_file}), as in the RL Zoo")
        elif in_file:
            env_kwargs = in_file
    env = _make_env(env_id, env_kwargs)
    from sb3_finetune.prior import finite_box

    if not finite_box(env.action_space):
        raise UsageError(
            f"{env_id} has the action space {env.action_space}: DDPG, TD3 and SAC need continuous actions, a Box with "
            "finite bounds"
        )
    return env_id, env_kwargs, env


def _expert_for(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    """The nav expert where the env is one of ``nav_env``'s, else ``None`` (no other env has one)."""
    entry_point = str(gym.spec(env_id).entry_point)
    if not entry_point.startswith("nav_env"):
        return None
    from sb3_finetune.nav import expert_policy

    return expert_policy(env_id, env_kwargs)


def _figures_line(figures: Any) -> str:
    parts = []
    if figures.success_rate is not None:
        parts.append(f"success {figures.success_rate:.0%}")
    parts.append(f"return {figures.mean_return:.2f}")
    if figures.expert_return_ratio is not None:
        parts.append(f"{figures.expert_return_ratio:.2f}x the expert's return")
    if getattr(figures, "episodes_cut", 0):
        from sb3_finetune.evaluation import EPISODE_CAP

        parts.append(f"{figures.episodes_cut} episodes cut at {EPISODE_CAP} steps (no time limit declared)")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- commands


def cmd_pretrain(args: argparse.Namespace) -> int:
    """``sb3-finetune pretrain``: a prior from a dataset, a Minari dataset, a controller, an SB3 model, an expert."""
    from sb3_finetune.evaluation import prior_policy
    from sb3_finetune.networks import activation_name
    from sb3_finetune.pretrain import (
        Dataset,
        behaviour_clone,
        minari_dataset,
        prior_metadata,
        rollout_dataset,
        sb3_actor_network,
    )
    from sb3_finetune.prior import load_prior
    from sb3_finetune.weights import metadata_names, save_weights

    env_id = env_kwargs = env = None
    wrappers: EnvWrappers = ()
    if args.env:
        env_id, env_kwargs, env = _env_from_args(args)
        if args.hyperparams:
            wrappers = load_env_wrapper(args.hyperparams, env_id)
            env = _wrapped(env, wrappers)
    elif args.expert or args.controller or (args.sb3_model and args.hidden):
        raise UsageError(
            "--env is required with --expert and --controller, and to distil --sb3-model into --hidden layers"
        )
    elif args.hyperparams:
        raise UsageError("--hyperparams is for --env: the env its env_wrapper and env_kwargs make")
    rolled_out = bool(args.controller or (args.sb3_model and args.hidden))
    if args.noise is not None and (not rolled_out or args.noise < 0):
        raise UsageError(
            "--noise is for rollouts (--controller, or --sb3-model with --hidden), and at least 0"
            if args.noise >= 0
            else f"--noise must be at least 0, got {args.noise}"
        )
    noise = args.noise if args.noise is not None else (CONTROLLER_NOISE if args.controller else 0.0)
    try:
        activation_name(args.activation)
    except ValueError as exc:
        raise UsageError(f"--activation: {exc}") from None
    hidden = tuple(args.hidden or (64,))
    if any(size < 1 for size in hidden):
        raise UsageError(f"--hidden sizes must be positive, got {list(hidden)}")
    if args.epochs < 1 or args.samples < 1:
        raise UsageError("--epochs and --samples must be at least 1")
    if args.vec_normalize and not args.sb3_model:
        raise UsageError("--vec-normalize is for --sb3-model: the statistics an SB3 model trained with")
    source, dataset, network = "dataset", None, None
    if args.dataset:
        dataset = Dataset.load(_check_file(args.dataset, "dataset file"))
    elif args.minari:
        dataset, source = minari_dataset(args.minari), "minari"
    elif args.sb3_model:
        normalizer = _statistics_for(
            _check_file(args.sb3_model, "SB3 model file"), args.vec_normalize, env, "the prior made"
        )
        with _decisions_printed_here():
            actor, metadata = sb3_actor_network(args.sb3_model, normalizer)
        _say_folded(normalizer)
        if not args.hidden:
            network, source = actor, "sb3-actor"
        else:
            assert env is not None
            keys = metadata_names(metadata, "input_keys") or None  # those the actor reads (SB3's: every key, sorted)
            teacher = load_prior(actor, env.action_space, env.observation_space, "scaled", input_keys=keys)
            dataset = rollout_dataset(teacher.predict, env, args.samples, args.seed, noise=noise)
            source = "sb3-actor-distilled"
    elif args.controller:
        assert env is not None
        controller = _controller(args.controller, env)
        dataset, source = rollout_dataset(controller, env, args.samples, args.seed, noise=noise), "controller"
    else:
        from sb3_finetune.nav import expert_dataset, is_nav_env

        assert env_id is not None
        if not is_nav_env(env_id):
            raise UsageError(f"--expert: only nav_env's tasks have an expert; {env_id} has none")
        dataset, source = expert_dataset(env_id, env_kwargs, args.samples, args.seed), "expert"
        if isinstance(env.observation_space, gym.spaces.Dict):
            dataset.input_keys = ("observation", "desired_goal")
    if dataset is not None and env is not None:
        try:
            dataset.check_fits(env.observation_space, env.action_space, env_id or "the env")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if network is None:
        assert dataset is not None
        network = behaviour_clone(
            dataset, epochs=args.epochs, seed=args.seed, hidden=hidden, activation=args.activation
        )
        metadata = prior_metadata(network, "env", dataset.input_keys, source)
    elif source == "sb3-actor":
        metadata = {**metadata, **prior_metadata(network, "scaled", None, source)}
    prior = None
    if env is not None:  # checked before anything is written
        keys = metadata_names(metadata, "input_keys") or None
        prior = load_prior(network, env.action_space, env.observation_space, metadata["action_units"], input_keys=keys)
    save_weights(network.state_dict(), args.out, metadata)
    rollouts = f"; {args.samples} rollout steps on {env_id}, acting noise {noise:g}" if rolled_out else ""
    print(f"wrote {args.out} ({source}{rollouts}; actions in {metadata['action_units']} units)")
    if args.safetensors:
        path = save_weights(network.state_dict(), Path(args.out).with_suffix(".safetensors"), metadata)
        print(f"wrote {path}")
    if prior is not None and env_id is not None:
        assert env_kwargs is not None
        figures = _evaluate_on(prior_policy(prior), env_id, env_kwargs, wrappers, args.eval_episodes, args.seed)
        print(f"the prior on {env_id} ({args.eval_episodes} episodes): {_figures_line(figures)}")
    return 0


CONTROLLER_NOISE = 0.3
"""``pretrain --controller``'s acting noise where ``--noise`` is not given (the external scenarios' priors')."""


def _controller(name: str, env: gym.Env) -> Any:
    """The batch policy ``module:name`` names, imported, and checked on a batch of one of ``env``'s observations."""
    from sb3_finetune.evaluation import _batch_of_one
    from sb3_finetune.wrappers import imported_callable

    module, sep, attribute = name.partition(":")
    if not sep or not module or not attribute:
        raise UsageError(f"--controller {name}: give it as module:name (a function in module)")
    try:
        controller = imported_callable(module, attribute, f"--controller {name}")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    obs, _ = env.reset(seed=0)
    try:
        actions = np.asarray(controller(_batch_of_one(obs)), dtype=np.float32)
    except Exception as exc:  # the controller's own complaint
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0]}" if str(exc) else type(exc).__name__
        raise UsageError(f"--controller {name}: on a batch of one observation it raised {message}") from None
    if actions.size != int(np.prod(env.action_space.shape)):
        raise UsageError(
            f"--controller {name}: on a batch of one observation it gave actions of shape {actions.shape}, where a "
            f"batch of one of the env's has shape {(1, *env.action_space.shape)}"
        )
    return controller


def _evaluate_on(
    policy: Any, env_id: str, env_kwargs: dict[str, Any], wrappers: EnvWrappers, episodes: int, seed: int
) -> Any:
    """A policy's figures on the command's env: inside the file's wrappers, on a wrapped env of their own."""
    from sb3_finetune.evaluation import evaluate

    if wrappers:  # the episodes run one after the other, from the same starts
        return evaluate(policy, _wrapped(_make_env(env_id, env_kwargs), wrappers), None, episodes, seed)
    return evaluate(policy, env_id, env_kwargs, episodes, seed, _expert_for(env_id, env_kwargs))


def _recipe_from_args(args: argparse.Namespace) -> Any:
    from sb3_finetune.recipes import get_recipe

    features_layer = args.features_layer
    overrides: dict[str, Any] = {
        "freeze": args.freeze,
        "critic_warmup": args.critic_warmup,
        "bc_weight": args.bc_weight,
        "bc_fade": args.bc_fade,
        "unfreeze_at": args.unfreeze_at,
        "unfreeze_interval": args.unfreeze_interval,
        "pretrained_lr_scale": args.pretrained_lr_scale,
        "gate_return": args.gate_return,
        "gate_criterion": args.gate_criterion,
        "gate_confidence": args.gate_confidence,
        "gate_margin": args.gate_margin,
        "actor_init": False if args.no_actor_init else None,
        "pretrained_warmup": False if args.no_pretrained_warmup else None,
        "bc_q_scale": True if args.bc_q_scale else None,
        "bc_q_filter": args.bc_q_filter,
        "bc_q_filter_conservative": args.bc_q_filter_conservative,
        "critic_pretrain_steps": args.critic_pretrain_steps,
        "warmup_handover": args.warmup_handover,
        "layer_norm": args.layer_norm,
        "stand_down_layer_norm": args.stand_down_layer_norm,
        "collapse_guard": args.collapse_guard,
        "guard_episodes": args.guard_episodes,
        "guard_restore": args.guard_restore,
        "frontier_explore": args.frontier_explore,
        "explore_hold": args.explore_hold,
        "explore_noise": args.explore_noise,
        "escape_saturation": args.escape_saturation,
        "escape_above": args.escape_above,
        "bc_progress": args.bc_progress,
        "bc_progress_with_fade": args.bc_progress_with_fade,
        "actor_ramp": args.actor_ramp,
        "critic_layer_norm": args.critic_layer_norm,
        "hold_rehearsal": args.hold_rehearsal,
        "rehearsal_restart": args.rehearsal_restart,
        "rehearsal_release": args.rehearsal_release,
        "rehearsal_release_extend": args.rehearsal_release_extend,
        "rehearsal_pull": args.rehearsal_pull,
        "rehearsal_release_window": args.rehearsal_release_window,
        "rehearsal_release_margin": args.rehearsal_release_margin,
        "stand_down_warmup": args.stand_down_warmup,
        "stand_down_skip_warmup": args.stand_down_skip_warmup,
        "distill_random_probe": args.distill_random_probe,
        "stand_down_distill_random_probe": args.stand_down_distill_random_probe,
        "entropy_start": args.entropy_start,
        "critic_pretrain_entropy": args.critic_pretrain_entropy,
        "entropy_floor": args.entropy_floor,
        "entropy_decay": args.entropy_decay,
    }
    changes = {key: value for key, value in overrides.items() if value is not None}
    for name in ("entropy_floor", "entropy_decay"):  # None above is "the recipe's own"; off is none
        if changes.get(name) == _OFF:
            changes[name] = None
    if args.entropy_decay_window is not None:
        changes["entropy_decay_from"], changes["entropy_decay_until"] = args.entropy_decay_window
    if args.gate_confidence == _GATE_TEST_OFF:
        if args.gate_margin not in (None, 0.0):
            raise UsageError("--gate-margin is the zone of the gate's test, which --gate-confidence off turns off")
        changes["gate_confidence"], changes["gate_margin"] = None, 0.0
    if args.no_trust_gate:
        if any(value is not None for value in (args.gate_confidence, args.gate_margin, args.gate_criterion)):
            raise UsageError(
                "--gate-confidence, --gate-margin and --gate-criterion set the trust gate: --no-trust-gate has none"
            )
        changes["trust_gate"] = None
    if features_layer is not None:
        try:
            changes["features_layer"] = None if features_layer == "output" else int(features_layer)
        except ValueError:
            raise UsageError(f"--features-layer expects 'output' or a layer number, got {features_layer!r}") from None
    named = get_recipe(args.recipe)
    for given, says, needed in (
        (args.rehearsal_release_extend, "--rehearsal-release-extend is the longest wait of", "rehearsal_release"),
        (args.rehearsal_release_window, "--rehearsal-release-window is the test of", "rehearsal_release"),
        (args.rehearsal_release_margin, "--rehearsal-release-margin is the margin of", "rehearsal_release_window"),
    ):  # checked before the recipe is made, which would refuse some of them in its own words
        if given is not None and getattr(args, needed) is None and getattr(named, needed) is None:
            flag = f"--{needed.replace('_', '-')} {'EPISODES' if needed == 'rehearsal_release' else 'STEPS'}"
            raise UsageError(f"{says} the rehearsal release: give {flag} too ({args.recipe!r} has none)")
    recipe = get_recipe(args.recipe, **changes)
    if args.gate_margin not in (None, 0.0) and recipe.gate_confidence is None:
        raise UsageError(
            f"--gate-margin is the zone of the gate's test: give --gate-confidence too ({args.recipe!r} has none)"
        )
    if args.entropy_decay_window is not None and recipe.entropy_decay is None:
        raise UsageError(
            "--entropy-decay-window is the window of the entropy decay: give --entropy-decay FACTOR too "
            f"({args.recipe!r} has none)"
        )
    return recipe


_GATE_TEST_OFF = -1.0
"""What ``--gate-confidence off`` parses to: the gate decides on its first episodes, with no test."""

_OFF = "off"
"""What ``--entropy-floor off`` and ``--entropy-decay off`` parse to: none (``None`` is the recipe's own value)."""


def _float_or_off(value: str, off: float | str, expected: str) -> float | str:
    """``off`` for ``"off"`` or ``"none"``, else ``value`` as a number; an argparse error naming ``expected``."""
    if value.lower() in ("off", "none"):
        return off
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected} or 'off', got {value!r}") from None


def _parse_confidence(value: str) -> float:
    return float(_float_or_off(value, _GATE_TEST_OFF, "a level in (0.5, 1)"))


def _checked_or_off(value: str, expected: str, ok: Callable[[float], bool]) -> float | str:
    """:func:`_float_or_off` with ``"off"`` for off, and a number refused where ``ok`` says no."""
    number = _float_or_off(value, _OFF, expected)
    if number != _OFF and not ok(float(number)):
        raise argparse.ArgumentTypeError(f"expected {expected} or 'off', got {value!r}")
    return number


def _parse_floor(value: str) -> float | str:
    return _checked_or_off(value, "a coefficient above 0", lambda floor: floor > 0)


def _parse_decay(value: str) -> float | str:
    return _checked_or_off(value, "a fraction in (0, 1]", lambda factor: 0.0 < factor <= 1.0)


def recipe_switch(parser: Any, flag: str, text: str) -> None:
    """A ``--flag/--no-flag`` pair for a recipe field, ``None`` (the recipe's own value) when neither is given.

    :param parser: the subcommand's parser, or a group of its arguments
    :param flag: ``--name``
    :param text: what the switch does
    """
    parser.add_argument(
        flag, action=argparse.BooleanOptionalAction, default=None, help=f"{text} (default: the recipe's)"
    )


def _parse_freeze(value: str) -> bool | int:
    lowered = value.lower()
    if lowered in ("true", "all", "yes"):
        return True
    if lowered in ("false", "none", "no"):
        return False
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected true, false or a number of layers, got {value!r}") from None


@contextlib.contextmanager
def _decisions_printed_here() -> Iterator[None]:
    """While a command prints every decision the library takes itself (``note: ...`` and the trust gate's line).

    The library also logs each decision on the ``"sb3_finetune"`` logger; with no handler configured, logging's
    last-resort handler would print its warnings on stderr a second time. A handler on that logger for the command's
    duration keeps that from happening; handlers the caller configured (on the root logger, say) still get every
    record.
    """
    logger = logging.getLogger("sb3_finetune")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def cmd_finetune(args: argparse.Namespace) -> int:
    """``sb3-finetune finetune``: build, train (or resume), save and evaluate a model."""
    with _decisions_printed_here():
        return _finetune(args)


def _finetune(args: argparse.Namespace) -> int:
    """:func:`cmd_finetune`'s work, with the decisions printed here only."""
    from sb3_finetune.checkpoint import CheckpointCallback, list_checkpoints, load_checkpoint
    from sb3_finetune.evaluation import LearningCurveCallback, evaluate, model_policy
    from sb3_finetune.recipes import ALGORITHMS, make_finetune

    run = _run_settings(args, fewest_steps=1)
    env_id, env_kwargs, env, hyperparams, n_timesteps, normalize, wrappers, file_envs = run
    n_envs = args.n_envs if args.n_envs is not None else file_envs or 1  # the flag, else the file's
    if n_envs < 1:
        raise UsageError("--n-envs must be at least 1")
    if args.pretrained:
        _refuse_statistics_beside(_check_file(args.pretrained, "pretrained weights file"))
    if args.dataset:
        _check_file(args.dataset, "dataset file")
    recipe = _recipe_from_args(args)
    if args.stand_down_distill_random_probe and not recipe.for_algorithm(args.algo)[0].distill_random_probe:
        off = "--no-distill-random-probe" if args.distill_random_probe is False else f"--recipe {args.recipe}"
        raise UsageError(
            "--stand-down-distill-random-probe acts on the states --distill-random-probe distils on, which is off "
            f"with {args.algo} and {off}: give --distill-random-probe too"
        )
    if n_envs > 1 or normalize is not None:  # else the env made above
        from sb3_finetune.wrappers import training_env

        env = training_env(env_id, env_kwargs, wrappers, n_envs, normalize, args.seed)
    expert = None if wrappers else _expert_for(env_id, env_kwargs)  # the nav expert reads the env's own observations
    eval_env, eval_kwargs = run.eval_env()
    log_folder = Path(args.log_folder)
    checkpoints = log_folder / "checkpoints"
    callbacks = []
    if args.eval_freq > 0:
        callbacks.append(
            LearningCurveCallback(eval_env, eval_kwargs, args.eval_freq, args.eval_episodes, expert=expert, verbose=1)
        )
    if args.save_freq > 0:
        # Called at each checkpoint, when ``setup`` (built below) has run its warm-up: the gate's decision goes with it
        callbacks.append(
            CheckpointCallback(args.save_freq, checkpoints, lambda: {"argv": sys.argv[1:], **setup.checkpoint_state()})
        )
    if args.hyperparams:
        callbacks.extend(load_callbacks(args.hyperparams, env_id))
    if args.progress:  # over the whole run: SB3's own bar would restart after the recipe's warm-up
        from sb3_finetune.progress import ProgressCallback

        callbacks.append(ProgressCallback(args.algo, n_timesteps))

    setup = make_finetune(
        args.algo,
        env,
        args.pretrained,
        n_timesteps,
        recipe,
        hyperparams,
        args.seed,
        args.device,
        verbose=args.verbose,
        tensorboard_log=args.tensorboard_log,
        action_units=args.action_units,
        activation=args.activation,
        dataset=args.dataset,
    )
    for sentence in setup.decisions:
        print(f"note: {sentence}")
    said = len(setup.decisions)  # the warm-up's decisions (hand-over, stand-down, critic pre-training...) come later
    gate_said = args.verbose >= 1  # at verbose >= 1 the warm-up prints the gate's decision itself
    if args.resume:
        found = list_checkpoints(checkpoints)
        if not found:
            raise UsageError(f"--resume: no checkpoint in '{checkpoints}'")
        step, path = found[-1]
        model, state = load_checkpoint(path, ALGORITHMS[args.algo], env=setup.model.get_env(), device=args.device)
        model.tensorboard_log = args.tensorboard_log
        restored = setup.resume(model, state)
        said = len(setup.decisions)
        buffer = model.replay_buffer
        stored = buffer.size() * buffer.n_envs if buffer is not None else 0  # a row per step, of every env
        print(f"resuming from {path} (step {step} of {n_timesteps}, {stored} transitions in the replay buffer)")
        for sentence in [*state.get("load_notes", []), *restored]:
            print(f"note: {sentence}")
        remaining = n_timesteps - model.num_timesteps
        if remaining > 0:
            setup.learn(remaining, callback=callbacks, reset_num_timesteps=False)
    else:
        if setup.warm_up_pending:  # its decisions and the gate's are printed when taken, before training starts
            setup.warm_up(n_timesteps, callbacks)
            _print_decisions(setup, said, with_gate=not gate_said)
            said, gate_said = len(setup.decisions), True
        setup.learn(n_timesteps, callback=callbacks)
    _print_decisions(setup, said, with_gate=not gate_said)
    model = setup.model
    # plain data in the saved model: evaluate checks that it is given the same wrappers (it imports nothing)
    model.finetune_env_wrapper = [[name, kwargs] for name, kwargs in wrappers]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:  # first: a model is never there without the statistics it acts with
        from sb3_finetune.normalization import save_vec_normalize, statistics_path

        save_vec_normalize(normalizer, statistics_path(out))
        print(f"wrote {statistics_path(out)} (the VecNormalize statistics the model acts with; evaluate reads them)")
    with written_atomically(out) as temporary:
        model.save(temporary)
    figures = evaluate(model_policy(model), eval_env, eval_kwargs, args.eval_episodes, seed=10_000, expert=expert)
    print(f"wrote {out} after {model.num_timesteps} steps: {_figures_line(figures)}")
    return 0


def _print_decisions(setup: Any, said: int, with_gate: bool) -> None:
    """Print the set-up's decisions from the ``said``-th on, then the trust gate's if asked and there is one.

    :param setup: the :class:`~sb3_finetune.recipes.FinetuneSetup`
    :param said: how many of its decisions were printed already
    :param with_gate: print the gate's decision too
    """
    for sentence in setup.decisions[said:]:
        print(f"note: {sentence}", flush=True)
    if with_gate and setup.gate is not None:
        print(setup.gate.describe(), flush=True)


def _policy_for(
    path: str, algo: str | None, env: gym.Env, action_units: str | None, vec_normalize: str | None = None
) -> Any:
    """A ``.zip`` model (any of the algorithms) or a prior's weights, as a batch policy.

    A model trained under ``VecNormalize`` acts with its statistics: ``vec_normalize``'s, else those found beside it
    (:func:`~sb3_finetune.normalization.found_statistics`); one that says it was (fine-tuned here) and has none is
    refused.
    """
    from sb3_finetune.evaluation import model_policy, prior_policy
    from sb3_finetune.prior import load_prior
    from sb3_finetune.recipes import ALGORITHMS
    from sb3_finetune.weights import is_sb3_model, sb3_saved_with_her

    if is_sb3_model(path):
        from sb3_finetune.adapter import load_model

        normalizer = _statistics_for(path, vec_normalize, env)
        candidates = [algo] if algo else _guess_algorithms(path)
        # as the RL Zoo's enjoy: a one-transition buffer (only predict is used), and HER's buffer needs the env
        load_kwargs: dict[str, Any] = {"device": "cpu", "buffer_size": 1}
        if sb3_saved_with_her(path):
            load_kwargs["env"] = env
        errors = []
        for name in candidates:
            try:
                try:
                    return model_policy(load_model(path, ALGORITHMS[name], **load_kwargs), normalizer)
                except ValueError:
                    return model_policy(ALGORITHMS[name].load(path, **load_kwargs), normalizer)
            except Exception as exc:  # try the next algorithm
                errors.append(f"{name}: {exc}")
        raise UsageError(f"cannot load '{path}' as an SB3 model ({'; '.join(errors)[:300]})")
    if vec_normalize:
        raise UsageError("--vec-normalize is for an SB3 model .zip: a prior's weights read the env's own observations")
    return prior_policy(load_prior(path, env.action_space, env.observation_space, action_units))


def _statistics_for(
    path: str, given: str | None, env: gym.Env | None = None, use: str = "observations normalised"
) -> Any:
    """The ``VecNormalize`` statistics a model acts with (``None`` where it trained without), said in a note.

    :param path: the model's ``.zip``
    :param given: the file ``--vec-normalize`` names, if any
    :param env: the env the model will act on, whose observations the statistics must be of (unchecked without)
    :param use: what they are used for (for the note)
    """
    from sb3_finetune.normalization import found_statistics, read_vec_normalize, statistics_path
    from sb3_finetune.weights import sb3_trained_under_vec_normalize

    file = _check_file(given, "--vec-normalize file") if given else found_statistics(path)
    if file is None:
        if sb3_trained_under_vec_normalize(path):
            raise UsageError(
                f"'{path}' was trained under VecNormalize and acts on normalised observations: give its statistics "
                f"with --vec-normalize (finetune wrote them beside it, as {statistics_path(path).name})"
            )
        return None
    normalizer = read_vec_normalize(file)
    if env is not None and normalizer.observation_space != env.observation_space:
        raise UsageError(
            f"'{file}' holds VecNormalize statistics of observations {normalizer.observation_space}, and the env's "
            f"are {env.observation_space}"
        )
    where = "given" if given else "found beside the model"
    print(f"note: {use} with the VecNormalize statistics in {file} ({where})")
    return normalizer


def _guess_algorithms(path: str) -> list[str]:
    import zipfile

    from sb3_finetune.weights import SB3_POLICY_FILE, _read_torch

    with zipfile.ZipFile(path) as archive:
        keys = _read_torch(path, archive.read(SB3_POLICY_FILE)).keys()
    if any(key.startswith("actor_target.") for key in keys):
        return ["td3", "ddpg"]
    return ["sac"]


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``sb3-finetune evaluate``: figures of a model or a prior on seeded episodes."""
    if args.episodes < 1:
        raise UsageError("--episodes must be at least 1")
    _check_file(args.model, "model file")
    env_id, env_kwargs, env = _env_from_args(args)
    wrappers = load_env_wrapper(args.hyperparams, env_id) if args.hyperparams else ()
    _check_wrappers(args.model, wrappers)
    env = _wrapped(env, wrappers)
    policy = _policy_for(args.model, args.algo, env, args.action_units, args.vec_normalize)
    with _decisions_printed_here():  # a cut episode is said below, once
        figures = _evaluate_on(policy, env_id, env_kwargs, wrappers, args.episodes, args.seed)
    print(f"{args.model} on {env_id} ({args.episodes} episodes, seed {args.seed})")
    if figures.episodes_cut:
        from sb3_finetune.evaluation import EPISODE_CAP

        print(
            f"note: {env_id} declares no time limit: {figures.episodes_cut} episodes were cut at {EPISODE_CAP} steps "
            "(--env-kwargs max_episode_steps:N gives it one)"
        )
    if figures.success_rate is not None:
        print(f"  success rate        {figures.success_rate:.1%}")
    print(f"  mean return         {figures.mean_return:.3f} (std {figures.std_return:.3f})")
    print(f"  mean episode length {figures.mean_length:.1f}")
    if figures.expert_return_ratio is not None:
        print(
            f"  expert return ratio {figures.expert_return_ratio:.3f}  (expert's mean return "
            f"{figures.expert_return:.3f})"
        )
    if args.json:
        keys = ("success_rate", "mean_return", "std_return", "mean_length", "episodes", "expert_return_ratio")
        print(json.dumps({key: getattr(figures, key) for key in keys}))
    return 0


def _say_folded(normalizer: Any) -> None:
    """Print that a model's ``VecNormalize`` statistics were folded into the prior made of it, where they were."""
    if normalizer is not None and normalizer.norm_obs:
        from sb3_finetune.normalization import folding_sentence

        print(f"note: {folding_sentence(normalizer)}")


def _refuse_statistics_beside(path: str) -> None:
    """Refuse a model with ``VecNormalize`` statistics beside it as a prior (it acts on normalised observations).

    A prior reads the env's own: such a model goes through ``export`` (or ``pretrain --sb3-model``), which folds
    them in.
    """
    from sb3_finetune.normalization import found_statistics
    from sb3_finetune.weights import is_sb3_model

    found = found_statistics(path) if is_sb3_model(path) else None
    if found is not None:
        raise UsageError(
            f"--pretrained '{path}': VecNormalize statistics lie beside it ({found}), so its actor reads normalised "
            "observations and a prior reads the env's own: make the prior with `sb3-finetune export` (or pretrain "
            "--sb3-model), which folds them in"
        )


def _check_wrappers(path: str, wrappers: EnvWrappers) -> None:
    """A model fine-tuned inside the file's ``env_wrapper`` says which (plain data): evaluate it inside the same."""
    from sb3_finetune.weights import is_sb3_model, sb3_trained_env_wrapper

    if not is_sb3_model(path):
        return
    trained = sb3_trained_env_wrapper(path)
    if trained is not None and trained != wrappers:
        names = [name for name, _ in trained] or "none"
        given = [name for name, _ in wrappers] or "none"
        raise UsageError(
            f"'{path}' was trained inside the env wrappers {names} and is evaluated inside {given}: give the "
            "hyperparameter file it was trained with (-conf)"
        )


def cmd_export(args: argparse.Namespace) -> int:
    """``sb3-finetune export``: a model's deterministic actor as a prior's weights file."""
    from sb3_finetune.pretrain import export

    _check_file(args.model, "model file")
    normalizer = _statistics_for(args.model, args.vec_normalize, use="the prior made")
    with _decisions_printed_here():
        state = export(args.model, args.out, actor_only=args.actor_only, vec_normalize=normalizer)
    _say_folded(normalizer)
    print(f"wrote {args.out} ({len(state)} tensors: {', '.join(state)})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``sb3-finetune demo``: the README's main job."""
    from sb3_finetune.demo import run_demo

    if args.budget is not None and args.budget < 20:
        raise UsageError(f"--budget must be at least 20 env steps (20 evaluations), got {args.budget}")
    return run_demo(
        Path(args.out_dir), algo=args.algo, budget=args.budget, seed=args.seed, progress=not args.no_progress
    )


def cmd_compare(args: argparse.Namespace) -> int:
    """``sb3-finetune compare``: the prior fine-tuned against from scratch on an env, over seeds, with statistics."""
    from sb3_finetune.compare import compare, plot_comparison
    from sb3_finetune.recipes import get_recipe

    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.eval_episodes < 1:
        raise UsageError("--eval-episodes must be at least 1")
    env_id, env_kwargs, _, hyperparams, n_timesteps, normalize, wrappers, n_envs = _run_settings(args, fewest_steps=20)
    if (n_envs or 1) != 1:
        raise UsageError(f"'{args.hyperparams}': n_envs {n_envs}: compare runs each arm on one env")
    if args.hyperparams and _hyperparams_entry(args.hyperparams, env_id).get("callback"):
        raise UsageError(f"'{args.hyperparams}': callback: compare runs no callbacks of the file's (finetune does)")
    if args.eval_freq is not None and args.eval_freq < 1:
        raise UsageError("--eval-freq must be at least 1")
    _refuse_statistics_beside(_check_file(args.pretrained, "pretrained weights file"))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    imports = [*args.gym_packages, *([args.env.rpartition(":")[0]] if ":" in args.env else [])]
    measure = {"success": "success_rate", "return": "mean_return", None: None}[args.measure]

    def said(job: Any, curve: list[dict[str, Any]], reused: bool) -> None:
        how = "stored" if reused else "done"
        print(f"{job.arm} seed {job.seed}: {how}, last evaluation {_figures(curve[-1])}", flush=True)

    gate = {"gate_criterion": args.gate_criterion, "gate_return": args.gate_return}
    changes = {name: value for name, value in gate.items() if value is not None}
    comparison = compare(
        args.algo,
        env_id,
        args.pretrained,
        n_timesteps,
        list(range(args.first_seed, args.first_seed + args.seeds)),
        env_kwargs=env_kwargs,
        recipe=get_recipe(args.recipe, **changes) if changes else args.recipe,
        hyperparams=hyperparams,
        normalize=normalize,
        env_wrapper=wrappers,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        measure=measure,
        threshold=args.threshold,
        action_units=args.action_units,
        activation=args.activation,
        imports=imports,
        workers=args.workers,
        results=out / "runs.jsonl",
        on_run=said,
    )
    task = env_id + "".join(f" {key}={value!r}" for key, value in env_kwargs.items())
    print()
    print(comparison.report(f"{args.algo} on {task}"))
    (out / "comparison.json").write_text(json.dumps(comparison.as_dict(), indent=1))
    if plot_comparison(comparison, out / "comparison.png", f"{args.algo.upper()} on {task}"):
        print(f"\nlearning curves: {out / 'comparison.png'}; figures: {out / 'comparison.json'}")
    return 0


def _figures(point: dict[str, Any]) -> str:
    success = "" if point.get("success_rate") is None else f"success {point['success_rate']:.0%}, "
    return f"{success}return {point['mean_return']:.2f} (step {point['step']})"


# ---------------------------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``sb3-finetune`` argument parser."""
    parser = _Parser(
        prog="sb3-finetune",
        description="Pretrain, fine-tune and evaluate SB3 off-policy agents (DDPG, TD3, SAC) on any Gymnasium "
        "continuous-control env, starting from a pretrained network.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def env_flags(sub: argparse.ArgumentParser, required: bool) -> None:
        sub.add_argument(
            "--env",
            required=required,
            help="env id, or module:Id to import its package first (e.g. gymnasium_robotics:PointMaze_UMaze-v3)"
            + (" (required)" if required else ""),
        )
        sub.add_argument(
            "--env-kwargs", nargs="*", metavar="KEY:VALUE", help="env arguments, e.g. goal_position:(-0.5,-0.5)"
        )
        sub.add_argument(
            "--gym-packages",
            nargs="*",
            default=[],
            metavar="MODULE",
            help="modules to import that register env ids, as in the RL Zoo (e.g. gymnasium_robotics)",
        )

    def prior_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--action-units",
            choices=("env", "scaled"),
            help="what a prior outputs: the env's own units, or SB3's [-1, 1] (default: the weights file's metadata;"
            " needed otherwise when the action box is not [-1, 1])",
        )
        sub.add_argument(
            "--activation",
            help="activation between the layers of a prior read off a state dict (default: the file's metadata, "
            "else relu, assumed and said)",
        )

    sub = commands.add_parser(
        "pretrain",
        help="make a prior: behaviour cloning of a dataset, a Minari dataset, your controller or the nav expert, or "
        "an SB3 model's actor",
    )
    source = sub.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="an .npz with arrays observations (n, d) and actions (n, k) in env units")
    source.add_argument("--minari", metavar="DATASET_ID", help="a local Minari dataset (needs the minari extra)")
    source.add_argument(
        "--sb3-model", help="an SB3 model .zip: its actor is the prior (distilled into --hidden layers if given)"
    )
    source.add_argument("--expert", action="store_true", help="behaviour-clone the expert of a nav_env task")
    source.add_argument(
        "--controller",
        metavar="MODULE:NAME",
        help="behaviour-clone a controller of yours on --env: NAME in MODULE (found in the working directory too) "
        "maps a batch of observations to a batch of actions in the env's units; cloned from --samples steps of its "
        "rollouts, acting with --noise",
    )
    sub.add_argument(
        "--noise",
        type=float,
        help="acting noise of the rollouts (--controller, or --sb3-model with --hidden), a fraction of the action "
        "box's half-width; each state is labelled with the clean action (DART). Default 0.3 with --controller, 0 "
        "with --sb3-model",
    )
    sub.add_argument(
        "--vec-normalize",
        metavar="FILE",
        help="with --sb3-model: the VecNormalize statistics the model trained with, folded into the prior's first "
        "layer (found beside the model when omitted, as evaluate finds them)",
    )
    env_flags(sub, required=False)
    sub.add_argument(
        "--hyperparams",
        "-conf",
        "--conf-file",
        dest="hyperparams",
        help="an RL Zoo hyperparameter YAML: its env_wrapper wraps --env (the rollouts' and the prior's check) and "
        "its env_kwargs make it where --env-kwargs are not given",
    )
    sub.add_argument("--out", required=True, help="weights file to write, .pt or .safetensors (required)")
    sub.add_argument("--hidden", type=int, nargs="+", help="hidden layer sizes of the network to train (default 64)")
    sub.add_argument("--activation", default="relu", help="activation between its layers (default relu)")
    sub.add_argument("--samples", type=int, default=20_000, help="expert pairs, or rollout steps (default 20000)")
    sub.add_argument("--epochs", type=int, default=30, help="passes over the data (default 30)")
    sub.add_argument("--eval-episodes", type=int, default=20, help="episodes of the prior's check on --env (20)")
    sub.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    sub.add_argument("--safetensors", action="store_true", help="also write a .safetensors copy")
    sub.set_defaults(func=cmd_pretrain)

    sub = commands.add_parser(
        "finetune", help="fine-tune a prior with DDPG, TD3 or SAC (or train from scratch with the same settings)"
    )
    sub.add_argument("--algo", required=True, choices=ALGOS, help="the algorithm (required)")
    env_flags(sub, required=True)
    sub.add_argument("--pretrained", help="the prior's weights; without it, train from scratch with the same settings")
    prior_flags(sub)
    sub.add_argument("--dataset", help="an .npz dataset whose states the actor is also distilled on")
    sub.add_argument("-n", "--n-timesteps", type=int, help="env steps, warm-up included")
    sub.add_argument(
        "--n-envs", type=int, help="envs stepped together (default: the hyperparameter file's n_envs, else 1)"
    )
    sub.add_argument("--out", default="model.zip", help="model file to write (default model.zip)")
    sub.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    sub.add_argument("--hyperparams", "-conf", "--conf-file", dest="hyperparams", help=HYPERPARAMS_HELP)
    sub.add_argument(
        "--recipe",
        default="default",
        choices=RECIPE_NAMES,
        help="default: frozen hidden features, actor distilled from the prior, trust gate, the prior's warm-up, "
        "critic warm-up, fading pull; frontier: the default, with the warm-up handing over to random actions, the "
        "critic pre-trained on the warm-up and a Q-filtered pull, for a prior that is partly right; frozen: frozen "
        "hidden features only; naive: the network's output as features, all trained; ibrl: the default's start, no "
        "pull, then the critic chooses between the actor's and the prior's action in every state (the saved model "
        "is that composite) (default: default)",
    )
    recipe = sub.add_argument_group(
        "recipe fields",
        "each changes one field of --recipe and defaults to the recipe's own value (what each does, "
        "and the measurements that chose the defaults: benchmarks/PARTLY_RIGHT.md)",
    )
    recipe.add_argument("--freeze", type=_parse_freeze, help="freeze the pretrained layers: true, false or k")
    recipe.add_argument("--features-layer", help="'output' or k: which layer's activations are the features")
    recipe_switch(
        recipe, "--layer-norm", "normalise the pretrained features across units before the policy's own layers"
    )
    recipe_switch(recipe, "--stand-down-layer-norm", "normalise them only once the trust gate stands the prior down")
    recipe.add_argument("--no-actor-init", action="store_true", help="do not distil the prior into the actor")
    recipe_switch(
        recipe,
        "--distill-random-probe",
        "where the trust gate compares the prior with a random probe (no success reported, no --gate-return), "
        "distil the actor on the random probe's states too, with the prior's actions (the default recipe: on with td3 "
        "and sac where the gate trusts the prior, off with ddpg)",
    )
    recipe_switch(
        recipe,
        "--stand-down-distill-random-probe",
        "with --distill-random-probe, distil on the random probe's states where the trust gate stands the prior "
        "down too (the default recipe: off, only where it trusts the prior)",
    )
    recipe.add_argument(
        "--no-pretrained-warmup", action="store_true", help="uniform random actions during learning_starts"
    )
    recipe_switch(
        recipe,
        "--warmup-handover",
        "in the prior's warm-up, each episode turns to uniform random actions at a random step (exploration from "
        "where the prior takes the agent; the default recipe: on with td3, sac and ddpg)",
    )
    recipe_switch(
        recipe,
        "--stand-down-warmup",
        "where the trust gate stands the prior down, the rest of the warm-up is still acted by the distilled policy "
        "(handing over to random actions as the trusted warm-up does) instead of uniform random actions (the default "
        "recipe: on with sac, off with td3 and ddpg)",
    )
    recipe_switch(
        recipe,
        "--stand-down-skip-warmup",
        "where the trust gate stands the prior down, training's first gradient step comes right after the gate's "
        "probes (learning_starts lowered to the steps they took; the rest of the warm-up is skipped; the default "
        "recipe: on)",
    )
    recipe.add_argument("--no-trust-gate", action="store_true", help="always trust the prior")
    recipe.add_argument(
        "--gate-return",
        type=float,
        help="where the env reports no success (or --gate-criterion return): an episode return that counts as "
        "success for the trust gate (default: compare with a uniform-random probe from the same starts)",
    )
    recipe.add_argument(
        "--gate-criterion",
        choices=GATE_CRITERIA,
        help="what the trust gate judges the prior by: 'auto', the env's success where it reports one (else "
        "--gate-return, else a random probe); 'return', never the env's success, for a prior that rarely reaches "
        "a strict goal but is far better than random (default: auto)",
    )
    recipe.add_argument(
        "--gate-confidence",
        type=_parse_confidence,
        metavar="LEVEL",
        help="where success (or --gate-return) judges, probe the prior until its episodes decide the trust gate at "
        "this level (a one-sided binomial test), up to the probe's step cap; 'off': its first 3 episodes decide "
        "(default: the recipe's; 0.95 in the default recipe)",
    )
    recipe.add_argument(
        "--gate-margin",
        type=float,
        metavar="MARGIN",
        help="with --gate-confidence, stop probing once the episodes rule out a rate of trust_gate - MARGIN or "
        "trust_gate + MARGIN; 0: a test against trust_gate itself (default: the recipe's; 0.2 in the default recipe)",
    )
    recipe.add_argument(
        "--critic-warmup",
        type=int,
        help="env steps with the actor held still after learning_starts (the default recipe: 0 with td3 and ddpg, 1000 "
        "with sac, and with td3 and ddpg without the critic's norm)",
    )
    recipe.add_argument(
        "--actor-ramp",
        type=int,
        metavar="STEPS",
        help="env steps after the actor's release over which its learning rate rises linearly from 0 (default: 0)",
    )
    recipe.add_argument(
        "--hold-rehearsal",
        type=float,
        metavar="SHARE",
        help="while the critic warm-up holds the actor, a copy of it learns as the released actor would and acts in "
        "this share of the hold's episodes, so that the critic sees where its slope leads first (the default recipe: 1 "
        "with sac, 0 with td3 and ddpg, whose actor is not held)",
    )
    recipe.add_argument(
        "--rehearsal-restart",
        type=int,
        metavar="STEPS",
        help="with --hold-rehearsal (or the default's, with sac), copy the rehearsal actor again from the held actor "
        "every STEPS env steps, so that the critic sees the first moves off the prior again (default: 0, never)",
    )
    recipe.add_argument(
        "--rehearsal-release",
        type=int,
        metavar="EPISODES",
        help="with --hold-rehearsal (or the default's, with sac), release the actor as the rehearsal actor once its "
        "last EPISODES episodes score at the prior's figure in the trust gate's probe or above, from the critic "
        "warm-up's end on (default: off, released as held at the critic warm-up's end)",
    )
    recipe.add_argument(
        "--rehearsal-release-extend",
        type=int,
        metavar="STEPS",
        help="with --rehearsal-release, env steps after the critic warm-up's end by which the actor is released as "
        "held where the rehearsal actor has not scored so (default: 2000)",
    )
    recipe.add_argument(
        "--rehearsal-release-window",
        type=int,
        metavar="STEPS",
        help="with --rehearsal-release, release once the rehearsal actor's episodes that ended in the last STEPS env "
        "steps (its last EPISODES where the window holds fewer) beat the prior's figure by a one-sided test at 0.05 "
        "(binomial for rates, Student's t for returns), not once the mean of its last EPISODES reaches it; where "
        "fewer than EPISODES have ended by the critic warm-up's end, or, for a rate, too few in the window then to "
        "beat the prior's even if every one succeeded, the actor is released as held then (default: off)",
    )
    recipe.add_argument(
        "--rehearsal-release-margin",
        type=float,
        metavar="FRACTION",
        help="with --rehearsal-release-window, the test's line is the prior's figure less FRACTION of it (rates) or "
        "of its lead over the gate's random probe (returns), as the collapse guard's floor is drawn (default: 0)",
    )
    recipe_switch(
        recipe,
        "--rehearsal-pull",
        "the hold rehearsal's actor steps with the recipe's pull towards the prior too, as the released actor does "
        "(off: it shows where the critic's slope alone leads)",
    )
    recipe_switch(
        recipe,
        "--critic-layer-norm",
        "a LayerNorm after each hidden layer of the critic and its target (RLPD), to bound how far its values run "
        "off between the warm-up's transitions (the default recipe: on with td3, sac and ddpg)",
    )
    recipe.add_argument("--bc-weight", type=float, help="initial weight of the pull towards the prior")
    recipe.add_argument("--bc-fade", type=float, help="fraction of the budget over which the pull fades")
    recipe.add_argument(
        "--bc-progress",
        type=int,
        metavar="EPISODES",
        help="weigh the pull by the learner's shortfall against the prior over its last EPISODES training episodes "
        "(full at the trust gate's random probe's level, none at the prior's figure or above) instead of fading it "
        "with time",
    )
    recipe_switch(
        recipe,
        "--escape-saturation",
        "TD3/DDPG: let a policy gradient that moves the action away from the box's bound through the actor's tanh "
        "undamped, so an actor saturated at the prior's full-throttle actions can follow the critic",
    )
    recipe.add_argument(
        "--escape-above",
        type=float,
        metavar="LEVEL",
        help="with the saturation escape, only actions beyond LEVEL (a fraction of the box's half-width, in [0, 1)) "
        "get the undamped gradient: the escape stops at tanh's knee",
    )
    recipe_switch(
        recipe,
        "--bc-progress-with-fade",
        "with --bc-progress, weigh the pull by the larger of the time fade and the shortfall",
    )
    recipe.add_argument(
        "--bc-q-scale", action="store_true", help="scale the pull by the critic's mean |Q| / 2.5, as TD3+BC does"
    )
    recipe_switch(
        recipe, "--bc-q-filter", "pull only on states where the critic values the prior's action above the actor's"
    )
    recipe_switch(
        recipe,
        "--bc-q-filter-conservative",
        "with --bc-q-filter, stop pulling only where every critic prefers the actor's",
    )
    recipe.add_argument(
        "--critic-pretrain-steps",
        type=int,
        help="gradient steps of the critic on the warm-up's transitions, the actor held, before training's first env "
        "step (the default recipe: 5000, or 0 with sac and ddpg without the critic's norm)",
    )
    recipe.add_argument(
        "--collapse-guard",
        type=float,
        metavar="FRACTION",
        help="once the actor is released, put it back as it was released (and hold it again) when a block of "
        "training episodes scores below FRACTION of the prior's figure in the trust gate's probe",
    )
    recipe.add_argument("--guard-episodes", type=int, help="training episodes per block the collapse guard scores")
    recipe.add_argument(
        "--guard-restore",
        choices=("released", "best"),
        help="what the collapse guard puts the actor back to: as it was released (the default), or as it was after "
        "its best block of training episodes",
    )
    recipe.add_argument(
        "--frontier-explore",
        type=float,
        metavar="SHARE",
        help="during training, SHARE of the episodes turn uniform random at a random step (as --warmup-handover "
        "does in the warm-up), until the learner's own episodes beat the prior's figure in the trust gate's probe",
    )
    recipe.add_argument(
        "--explore-hold",
        type=int,
        metavar="STEPS",
        help="with --frontier-explore, hold each random action for STEPS env steps (default 1: a new one every step)",
    )
    recipe.add_argument(
        "--explore-noise",
        choices=("uniform", "pink"),
        help="with --frontier-explore, what the random actions are: uniform in the action box (the default), or pink "
        "noise correlated over the prior probe's longest episode",
    )
    recipe.add_argument(
        "--entropy-start",
        type=float,
        metavar="VALUE",
        help="SAC with ent_coef auto (the RL Zoo's SAC entries): start the coefficient at VALUE instead of SB3's 1.0 "
        "where there is a prior (default 0.01; 1 is SB3's start)",
    )
    recipe_switch(
        recipe,
        "--critic-pretrain-entropy",
        "SAC with ent_coef auto: the critic's pre-training trains the entropy coefficient too, as every gradient step "
        "does; --no-critic-pretrain-entropy holds it at its start there, as the actor is held",
    )
    recipe.add_argument(
        "--entropy-floor",
        type=_parse_floor,
        metavar="VALUE",
        help="SAC with ent_coef auto, where there is a prior: SB3 tunes the coefficient and the recipe holds it at or "
        "above VALUE ('off': SB3's tuning alone; default: the recipe's)",
    )
    recipe.add_argument(
        "--entropy-decay",
        type=_parse_decay,
        metavar="FACTOR",
        help="SAC with a fixed ent_coef (the default 0.01), where there is a prior: lower the coefficient linearly to "
        "FACTOR of itself over --entropy-decay-window of the budget, and keep it there ('off': kept; default: the "
        "recipe's, 0.1 in the default recipe)",
    )
    recipe.add_argument(
        "--entropy-decay-window",
        type=float,
        nargs=2,
        metavar=("FROM", "UNTIL"),
        help="the fractions of the budget over which the entropy decay (the recipe's, or --entropy-decay) lowers the "
        "coefficient (default 0.5 0.75)",
    )
    recipe.add_argument("--unfreeze-at", type=float, help="fraction of the budget at which to unfreeze")
    recipe.add_argument("--unfreeze-interval", type=float, help="fraction of the budget between layers")
    recipe.add_argument("--pretrained-lr-scale", type=float, help="learning rate of the pretrained layers / the head's")
    output = sub.add_argument_group("training, evaluation and output")
    output.add_argument("--tensorboard-log", "-tb", dest="tensorboard_log", help="tensorboard folder")
    output.add_argument("--eval-freq", type=int, default=0, help="evaluate every N env steps (0: only at the end)")
    output.add_argument("--eval-episodes", type=int, default=50, help="episodes per evaluation (default 50)")
    output.add_argument("--save-freq", type=int, default=0, help="checkpoint every N env steps (0: never)")
    output.add_argument("-f", "--log-folder", default="logs", help="folder of checkpoints (default logs)")
    output.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the log folder")
    output.add_argument(
        "-P", "--progress", action="store_true", help="progress on stderr: a bar on a terminal, else a line every 5%%"
    )
    output.add_argument("--device", default="cpu", help="torch device (default cpu)")
    output.add_argument(
        "--verbose", type=int, default=0, help="SB3 verbosity; 1 also prints the trust gate (default 0)"
    )
    sub.set_defaults(func=cmd_finetune)

    sub = commands.add_parser("evaluate", help="mean return and length, and success where the env reports it")
    sub.add_argument("model", help="a .zip model, or a prior's weights")
    env_flags(sub, required=True)
    prior_flags(sub)
    sub.add_argument("--algo", choices=ALGOS, help="the model's algorithm (guessed when omitted)")
    sub.add_argument("--episodes", type=int, default=100, help="episodes (default 100)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    sub.add_argument("--json", action="store_true", help="also print the figures as JSON on the last line")
    sub.add_argument(
        "--hyperparams",
        "-conf",
        "--conf-file",
        dest="hyperparams",
        help="the RL Zoo hyperparameter YAML the model was trained with: its env_wrapper wraps the env here too, and "
        "its env_kwargs make it where --env-kwargs are not given",
    )
    sub.add_argument(
        "--vec-normalize",
        metavar="FILE",
        help="the VecNormalize statistics a model trained with (SB3's vecnormalize.pkl, read without running code from "
        "it); found beside the model when omitted (<model>_vecnormalize.pkl, as finetune writes it, or the RL Zoo's "
        "<model>/vecnormalize.pkl)",
    )
    sub.set_defaults(func=cmd_evaluate)

    sub = commands.add_parser("export", help="a trained model's actor as a prior for the next task")
    sub.add_argument("model", help="a DDPG, TD3 or SAC .zip (plain, or fine-tuned here)")
    sub.add_argument("--out", required=True, help="weights file (.pt or .safetensors) (required)")
    sub.add_argument(
        "--vec-normalize",
        metavar="FILE",
        help="the VecNormalize statistics the model trained with, folded into the prior's first layer (found beside "
        "the model when omitted, as evaluate finds them)",
    )
    sub.add_argument(
        "--actor-only",
        action="store_true",
        help="for a model that arbitrates between its actor and a prior (--recipe ibrl): export the actor alone, "
        "which is not the policy the model deploys",
    )
    sub.set_defaults(func=cmd_export)

    sub = commands.add_parser(
        "compare",
        help="a prior fine-tuned against from scratch on any env, over seeds, with IQM, bootstrap intervals, "
        "Kaplan-Meier medians and the probability of improvement",
    )
    sub.add_argument("--algo", required=True, choices=ALGOS, help="the algorithm (required)")
    env_flags(sub, required=True)
    sub.add_argument("--pretrained", required=True, help="the prior's weights (required)")
    prior_flags(sub)
    sub.add_argument("-n", "--n-timesteps", type=int, help="env steps per run, warm-up included")
    sub.add_argument("--seeds", type=int, default=5, help="seeds; each trains both arms (default 5)")
    sub.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    sub.add_argument("--recipe", default="default", choices=RECIPE_NAMES,
                     help="the fine-tuned arm's recipe (default: default)")  # fmt: skip
    sub.add_argument("--gate-criterion", choices=GATE_CRITERIA, help="as finetune's (default: auto)")
    sub.add_argument("--gate-return", type=float, help="as finetune's")
    sub.add_argument("--hyperparams", "-conf", "--conf-file", dest="hyperparams", help=HYPERPARAMS_HELP)
    sub.add_argument(
        "--measure",
        choices=("success", "return"),
        help="what the threshold is on (default: success where the env reports it, else return)",
    )
    sub.add_argument(
        "--threshold", type=float, help="the measure's value that counts as solved (default 0.9 for success; "
        "needed for return)"
    )  # fmt: skip
    sub.add_argument("--eval-freq", type=int, help="env steps between evaluations (default: a 20th of the budget)")
    sub.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation (default 20)")
    sub.add_argument("--workers", type=int, default=1, help="runs in parallel, one process each (default 1)")
    sub.add_argument(
        "--out-dir", default="compare_output", help="where the runs (runs.jsonl: rerun to resume or add seeds), the "
        "figures (comparison.json) and the plot go (default compare_output)"
    )  # fmt: skip
    sub.set_defaults(func=cmd_compare)

    sub = commands.add_parser("demo", help="pretrain, fine-tune and compare with training from scratch (nav_env)")
    sub.add_argument("--out-dir", default="demo_output", help="where the weights, models and plot go")
    sub.add_argument("--algo", default="td3", choices=ALGOS, help="algorithm (default td3)")
    sub.add_argument("--budget", type=int, help="env steps per arm (default: the obstacle scenario's, 10000)")
    sub.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    :param argv: arguments (``sys.argv[1:]`` when ``None``)
    :return: 0 on success, 2 on a usage error (bad flags, files, envs, weights or data), 1 on another error
    """
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"sb3-finetune: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PretrainedWeightsError, ValueError, TypeError, ImportError, OSError) as exc:
        if os.environ.get("SB3_FINETUNE_TRACEBACK"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sb3-finetune: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sb3-finetune: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # not a mistake of the user's that we know of: still one line, and exit status 1
        if os.environ.get("SB3_FINETUNE_TRACEBACK"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"sb3-finetune: error: {type(exc).__name__}: {message} (SB3_FINETUNE_TRACEBACK=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def entry_point() -> NoReturn:
    """Console-script entry point.

    Modules the command names (``--env module:Id``, ``--gym-packages``, the file's ``env_wrapper`` and
    ``callback``) are found in the working directory too, as they are under ``python -m sb3_finetune.cli`` and the
    RL Zoo's ``python -m rl_zoo3.train``: a console script does not have it on ``sys.path``. It is put last, so it
    never hides an installed module.
    """
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
