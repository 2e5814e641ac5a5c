"""The RL Zoo's ``env_wrapper``: Gymnasium wrappers named in a hyperparameter file, around every env of a run.

A run's wrappers are a tuple of ``(dotted name, keyword arguments)``, innermost first, as :func:`parse_env_wrapper`
reads the Zoo's setting. It is plain data (a worker process rebuilds the wrappers from it, and a model keeps it to
say what it was trained on); the classes are imported only by :func:`wrap_env`, from the names the user's own file
gives, as the Zoo imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

EnvWrappers = tuple[tuple[str, dict[str, Any]], ...]
"""Wrappers as ``((dotted name, kwargs), ...)``, innermost first."""


def parse_env_wrapper(setting: Any, key: str = "env_wrapper") -> EnvWrappers:
    """The Zoo's ``env_wrapper`` setting as :data:`EnvWrappers` (its ``callback`` setting has the same form).

    As the RL Zoo reads it: a wrapper's dotted name (``gymnasium.wrappers.TimeAwareObservation``), or a list of
    them, each a name or a one-entry mapping ``{name: kwargs}``; they wrap the env in that order.

    :param setting: the setting as YAML gives it (``None`` for none)
    :param key: the setting's name (for messages)
    :return: the wrappers (empty for none)
    :raises ValueError: the setting is not of that form
    """
    if setting is None:
        return ()
    wrappers = []
    for item in setting if isinstance(setting, list) else [setting]:
        if isinstance(item, str):
            name, kwargs = item, {}
        elif isinstance(item, Mapping) and len(item) == 1:
            ((name, kwargs),) = item.items()
            if kwargs is not None and not isinstance(kwargs, Mapping):
                raise ValueError(f"{key}: the arguments of {name} must be a mapping, got {kwargs!r}")
        else:
            raise ValueError(f"{key}: each entry is a dotted name or {{name: arguments}}, got {item!r}")
        if not isinstance(name, str) or "." not in name:
            raise ValueError(f"{key}: {name!r} is not a dotted name (module.Class)")
        wrappers.append((name, dict(kwargs or {})))
    return tuple(wrappers)


def wrapper_class(name: str, key: str = "env_wrapper") -> Any:
    """The class (or callable) a dotted name gives, imported.

    :param name: ``module.Class``
    :param key: the setting that names it (for messages)
    :raises ValueError: the module cannot be imported, or has no such name
    """
    module, _, attribute = name.rpartition(".")
    return imported_callable(module, attribute, key, "a class")


def imported_callable(module: str, attribute: str, key: str, kind: str = "a function") -> Any:
    """``attribute`` of ``module``, imported, which must be callable.

    :param module: the module's name
    :param attribute: the name in it
    :param key: the setting or flag that names it (for messages)
    :param kind: what it should be (for messages)
    :raises ValueError: the module cannot be imported, has no such name, or it is not callable
    """
    try:
        found = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        raise ValueError(f"{key}: cannot import {module!r}: {exc}") from None
    except AttributeError:
        raise ValueError(f"{key}: {module!r} has no {attribute!r}") from None
    if not callable(found):
        raise ValueError(f"{key}: {module}.{attribute} is not {kind}")
    return found


def wrap_env(env: gym.Env, wrappers: EnvWrappers) -> gym.Env:
    """``env`` inside ``wrappers``, innermost first.

    :param env: the env
    :param wrappers: as :func:`parse_env_wrapper` gives them
    :return: the wrapped env (``env`` itself where there are none)
    :raises ValueError: a wrapper cannot be imported, or refuses the env or its arguments (its own message)
    """
    for name, kwargs in wrappers:
        try:
            env = wrapper_class(name)(env, **as_tuples(kwargs))
        except ValueError:
            raise
        except Exception as exc:  # the wrapper's own complaint: a wrong argument, an env it does not fit
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"env_wrapper: {name}({', '.join(kwargs)}) on {env}: {message}") from None
    return env


def as_tuples(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments from YAML, with each list a tuple.

    YAML has no tuples, and wrappers ask for them (a shape, say: ``ReshapeObservation(env, shape=(1,))`` refuses
    ``[1]``); a tuple serves where a sequence is asked for too.
    """
    return {key: tuple(value) if isinstance(value, list) else value for key, value in kwargs.items()}


def make_wrapped(env_id: str, env_kwargs: Mapping[str, Any] | None, wrappers: EnvWrappers) -> gym.Env:
    """``gym.make(env_id, **env_kwargs)`` inside ``wrappers``."""
    return wrap_env(gym.make(env_id, **dict(env_kwargs or {})), wrappers)


def training_env(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None,
    wrappers: EnvWrappers = (),
    n_envs: int = 1,
    normalize: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Any:
    """A run's training env from the RL Zoo's settings.

    ``wrappers`` around each copy, ``n_envs`` copies (SB3's ``make_vec_env``), and ``VecNormalize`` around them all
    where ``normalize`` gives its arguments.

    :param env_id: the env id
    :param env_kwargs: its arguments
    :param wrappers: the file's ``env_wrapper``
    :param n_envs: copies stepped together
    :param normalize: ``VecNormalize``'s arguments (``None``: none)
    :param seed: the vector env's seed (with several copies or ``normalize``)
    :return: a Gymnasium env (one copy, no ``normalize``) or an SB3 ``VecEnv``
    """
    if n_envs == 1 and normalize is None:
        return make_wrapped(env_id, env_kwargs, wrappers)
    import functools

    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    inside = functools.partial(wrap_env, wrappers=wrappers) if wrappers else None
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=dict(env_kwargs or {}), wrapper_class=inside)
    return env if normalize is None else VecNormalize(env, **normalize)
