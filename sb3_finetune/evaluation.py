"""Evaluation on fixed, seeded episodes, on any Gymnasium env or SB3 VecEnv.

Episode ``k`` starts from ``reset(seed=seed + k)``, so two policies evaluated with the same seed meet the same
starts. An env id with a native vector env (``vector_entry_point``, as ``nav_env`` registers) runs every episode at
once on it; any other id runs on Gymnasium's ``SyncVectorEnv`` in batches; an env instance runs its episodes one
after the other; an SB3 ``VecEnv`` is seeded once and its episodes are spread over its copies, as SB3's
``evaluate_policy`` does.

An env that declares no time limit (no ``max_episode_steps`` in its spec, no ``TimeLimit`` wrapper) may never end an
episode: there, on an env id or a Gymnasium env, each episode is cut at :data:`EPISODE_CAP` steps, and where one
was, :func:`evaluate` says so and counts them (``Evaluation.episodes_cut``). An SB3 ``VecEnv`` cannot cut one
episode: there, an episode that reaches the cap is an error that says how to give the env a limit.

Success is reported only where the env reports it, in ``info["is_success"]`` (SB3's key) or ``info["success"]``
(Gymnasium-Robotics'): an episode succeeds if any of its steps says so. Elsewhere the success rate is ``None``:
none is invented. The ratio to an expert's return is there only where an expert is given.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_finetune.decisions import say

Policy = Callable[[Any], np.ndarray]
"""Maps a batch of the env's own observations (array, or dict of arrays; under an SB3 ``VecNormalize``, those it
wraps, before normalisation) to a batch of actions in the env's own units."""

EnvSource = str | gym.Env | VecEnv
"""An env id (with ``env_kwargs``), a Gymnasium env, or an SB3 VecEnv."""

SUCCESS_KEYS = ("is_success", "success")
"""Info keys read as success: SB3's, then Gymnasium-Robotics'."""

BATCH = 32
"""Copies of an env stepped together when an id has no native vector env."""

EPISODE_CAP = 10_000
"""The steps after which an episode of an env that declares no time limit is cut."""

RAW_OBSERVATIONS: contextvars.ContextVar[Any] = contextvars.ContextVar("sb3_finetune_raw_observations", default=None)
"""The env's own observations while :func:`model_policy` asks a model under ``VecNormalize`` for their actions:
where the model still acts as its prior (which reads them raw), it takes them from here instead of undoing the
normalisation, which clipping makes lossy (:func:`sb3_finetune.warmup.raw_observations`)."""


@dataclass
class Evaluation:
    """Figures over a set of seeded episodes.

    :param mean_return: mean undiscounted return
    :param mean_length: mean episode length
    :param episodes: number of episodes
    :param std_return: standard deviation of the returns
    :param success_rate: fraction of episodes with a success (``None`` where the env reports none)
    :param expert_return: the expert's mean return on the same episodes (``None`` without an expert)
    :param expert_return_ratio: ``expert_return / mean_return`` (``None`` without an expert); 1.0 is the expert's
        level; with negative returns it is <= 1 when worse
    :param episodes_cut: episodes cut at :data:`EPISODE_CAP` steps, on an env that declares no time limit
    """

    mean_return: float
    mean_length: float
    episodes: int
    std_return: float = 0.0
    success_rate: float | None = None
    expert_return: float | None = None
    expert_return_ratio: float | None = None
    episodes_cut: int = 0

    def as_dict(self) -> dict[str, float | int | None]:
        """The figures as a plain dict (``episodes_cut`` only where an episode was cut)."""
        figures = asdict(self)
        if not self.episodes_cut:
            del figures["episodes_cut"]
        return figures


@dataclass
class Episodes:
    """Per-episode results of :func:`run_episodes`.

    :param returns: undiscounted returns
    :param lengths: lengths
    :param successes: success per episode, ``None`` where the env reports none
    :param cut: episodes cut at :data:`EPISODE_CAP` steps (the env declares no time limit)
    """

    returns: np.ndarray
    lengths: np.ndarray
    successes: np.ndarray | None
    cut: int = 0


def declared_time_limit(env: gym.Env) -> int | None:
    """The time limit a Gymnasium env declares: its spec's ``max_episode_steps``, or a ``TimeLimit`` wrapper's.

    :param env: the env
    :return: the limit, or ``None`` where it declares none
    """
    layer: Any = env
    while layer is not None:
        if isinstance(layer, gym.wrappers.TimeLimit):
            return int(layer._max_episode_steps)
        spec = getattr(layer, "spec", None)
        if spec is not None and spec.max_episode_steps is not None:
            return int(spec.max_episode_steps)
        layer = getattr(layer, "env", None)
    return None


def _vec_env_declares_time_limit(env: VecEnv) -> bool:
    """Whether every copy of an SB3 VecEnv declares a time limit (``True`` where it cannot be told)."""
    try:
        if all(env.env_is_wrapped(gym.wrappers.TimeLimit)):
            return True
        return all(spec is not None and spec.max_episode_steps is not None for spec in env.get_attr("spec"))
    except Exception:  # a VecEnv that cannot say: stepped as given
        return True


def info_success(info: dict[str, Any]) -> bool | None:
    """The success flag of one step's info dict (``None`` when it has neither key)."""
    for key in SUCCESS_KEYS:
        if key in info:
            return bool(info[key])
    return None


def _vector_success(infos: dict[str, Any], count: int) -> np.ndarray | None:
    for key in SUCCESS_KEYS:
        if key in infos:
            values = np.asarray(infos[key], dtype=bool).reshape(count)
            mask = np.asarray(infos.get(f"_{key}", np.ones(count, dtype=bool)), dtype=bool).reshape(count)
            return values & mask
    return None


def _run_vector(policy: Policy, env: gym.vector.VectorEnv, count: int, seed: int, cap: int | None) -> Episodes:
    """One episode on each of the ``count`` copies of a Gymnasium vector env, seeded ``seed, seed + 1, ...``.

    Each is cut at ``cap`` steps where one is given.
    """
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(count)
    lengths = np.zeros(count, dtype=np.int64)
    success = np.zeros(count, dtype=bool)
    reported, cuts = False, 0
    done = np.zeros(count, dtype=bool)
    while not done.all():
        actions = np.asarray(policy(obs), dtype=np.float32).reshape((count, *env.single_action_space.shape))
        obs, rewards, terminated, truncated, infos = env.step(actions)
        active = ~done
        returns[active] += np.asarray(rewards)[active]
        lengths[active] += 1
        step_success = _vector_success(infos, count)
        if step_success is not None:
            reported = True
            success[active] |= step_success[active]
        ended = np.asarray(terminated) | np.asarray(truncated)
        if cap is not None:
            cut = ~done & ~ended & (lengths >= cap)
            cuts += int(cut.sum())
            ended |= cut
        done |= ended
    return Episodes(returns, lengths, success if reported else None, cuts)


def _batch_of_one(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {key: np.asarray(value)[None] for key, value in obs.items()}
    return np.asarray(obs)[None]


def _run_env(policy: Policy, env: gym.Env, episodes: int, seed: int) -> Episodes:
    """Episodes one after the other on a single env, episode ``k`` from ``reset(seed=seed + k)``."""
    returns, lengths, successes, reported, cuts = [], [], [], False, 0
    cap = None if declared_time_limit(env) is not None else EPISODE_CAP
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, length, success, done = 0.0, 0, False, False
        while not done:
            action = np.asarray(policy(_batch_of_one(obs)), dtype=np.float32).reshape(env.action_space.shape)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            length += 1
            flag = info_success(info)
            if flag is not None:
                reported = True
                success |= flag
            done = terminated or truncated
            if not done and cap is not None and length >= cap:
                done, cuts = True, cuts + 1
        returns.append(total)
        lengths.append(length)
        successes.append(success)
    return Episodes(np.array(returns), np.array(lengths), np.array(successes) if reported else None, cuts)


def _run_vec_env(policy: Policy, env: VecEnv, episodes: int, seed: int) -> Episodes:
    """SB3 VecEnv: seeded once, ``episodes`` spread over the copies as SB3's ``evaluate_policy`` does."""
    count = env.num_envs
    targets = np.array([(episodes + index) // count for index in range(count)])
    env.seed(seed)
    obs = env.reset()
    normalized = isinstance(env, VecNormalize)  # policies read the env's own observations (a prior does, raw)
    if normalized:
        obs = env.get_original_obs()
    returns, lengths, successes, reported = [], [], [], False
    running = np.zeros(count)
    running_length = np.zeros(count, dtype=np.int64)
    running_success = np.zeros(count, dtype=bool)
    finished = np.zeros(count, dtype=np.int64)
    cap = None if _vec_env_declares_time_limit(env) else EPISODE_CAP
    while (finished < targets).any():
        actions = np.asarray(policy(obs))
        obs, rewards, dones, infos = env.step(actions)
        if normalized:
            obs, rewards = env.get_original_obs(), env.get_original_reward()
        running += rewards
        running_length += 1
        for index, info in enumerate(infos):
            flag = info_success(info)
            if flag is not None:
                reported = True
                running_success[index] |= flag
            if dones[index]:
                if finished[index] < targets[index]:
                    returns.append(running[index])
                    lengths.append(running_length[index])
                    successes.append(running_success[index])
                    finished[index] += 1
                running[index], running_length[index], running_success[index] = 0.0, 0, False
        if cap is not None and (running_length >= cap).any():
            raise ValueError(
                f"an episode of the VecEnv ran {cap} steps and its env declares no time limit, and a VecEnv cannot "
                "cut one episode: give each env one (gymnasium.wrappers.TimeLimit, or max_episode_steps), or pass "
                "the env id or a single env, whose episodes are cut and counted"
            )
    return Episodes(np.array(returns), np.array(lengths), np.array(successes) if reported else None)


def run_episodes(
    policy: Policy, env: EnvSource, episodes: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> Episodes:
    """Run ``episodes`` seeded episodes of ``policy`` (see the module docstring for how each kind of env runs).

    :param policy: batch policy in the env's units
    :param env: an env id, a Gymnasium env or an SB3 VecEnv
    :param episodes: number of episodes
    :param seed: seed of the first episode
    :param env_kwargs: arguments of the env (with an id only)
    :return: per-episode returns, lengths and successes
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if isinstance(env, VecEnv):
        return _run_vec_env(policy, env, episodes, seed)
    if isinstance(env, gym.Env):
        return _run_env(policy, env, episodes, seed)
    kwargs = dict(env_kwargs or {})
    declared = kwargs.get("max_episode_steps", gym.spec(env).max_episode_steps)
    cap = None if declared is not None else EPISODE_CAP
    if gym.spec(env).vector_entry_point is not None:
        vector = gym.make_vec(env, num_envs=episodes, vectorization_mode="vector_entry_point", **kwargs)
        try:
            return _run_vector(policy, vector, episodes, seed, cap)
        finally:
            vector.close()
    parts = []
    for start in range(0, episodes, BATCH):
        count = min(BATCH, episodes - start)
        vector = gym.make_vec(env, num_envs=count, vectorization_mode="sync", **kwargs)
        try:
            parts.append(_run_vector(policy, vector, count, seed + start, cap))
        finally:
            vector.close()
    successes = [part.successes for part in parts]
    return Episodes(
        np.concatenate([part.returns for part in parts]),
        np.concatenate([part.lengths for part in parts]),
        None if any(s is None for s in successes) else np.concatenate(successes),  # type: ignore[arg-type]
        sum(part.cut for part in parts),
    )


def model_policy(model: BaseAlgorithm, normalizer: VecNormalize | None = None) -> Policy:
    """An SB3 model's deterministic policy on the env's own observations.

    Its actions are in the env's units, as SB3's ``predict`` gives them. A model trained under ``VecNormalize``
    acts on normalised observations, and its ``predict`` does not normalise: they are normalised here, with
    ``normalizer``'s statistics, or, where none is given, with those of the ``VecNormalize`` of the model's own env
    (``model.get_vec_normalize_env()``) as they stand at each call, as SB3's ``EvalCallback`` keeps its eval env's
    in step with training's.

    :param model: the model
    :param normalizer: the statistics the model was trained with, where it has no env of its own (a model loaded
        from a file, with :func:`~sb3_finetune.normalization.read_vec_normalize`'s)
    :return: the policy
    """

    def act(obs: Any) -> np.ndarray:
        statistics = normalizer if normalizer is not None else model.get_vec_normalize_env()
        if statistics is None:
            return model.predict(obs, deterministic=True)[0]
        token = RAW_OBSERVATIONS.set(obs)
        try:
            return model.predict(statistics.normalize_obs(obs), deterministic=True)[0]
        finally:
            RAW_OBSERVATIONS.reset(token)

    return act


def prior_policy(prior: Any) -> Policy:
    """A :class:`~sb3_finetune.prior.Prior` as a batch policy, in the env's units."""
    return prior.predict


_EXPERT_RETURNS: dict[str, float] = {}


def evaluate(
    policy: Policy,
    env: EnvSource,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = 100,
    seed: int = 0,
    expert: Policy | None = None,
) -> Evaluation:
    """Mean return and length of ``policy``, with its success rate and expert ratio where they exist.

    The success rate is there where the env reports success; the ratio of the expert's return to the policy's, on the
    same episodes, where an expert is given.

    :param policy: batch policy in the env's units (see :func:`model_policy`, :func:`prior_policy`)
    :param env: an env id, a Gymnasium env or an SB3 VecEnv
    :param env_kwargs: env arguments (with an id)
    :param episodes: number of episodes
    :param seed: seed of the episodes' starts
    :param expert: an expert policy on the same env (its mean return is cached for env ids)
    :return: the figures (``episodes_cut``: episodes of an env that declares no time limit cut at
        :data:`EPISODE_CAP` steps, also logged)
    """
    result = run_episodes(policy, env, episodes, seed, env_kwargs)
    mean_return = float(result.returns.mean())
    figures = Evaluation(
        mean_return=mean_return,
        mean_length=float(result.lengths.mean()),
        episodes=len(result.returns),
        std_return=float(result.returns.std()),
        success_rate=None if result.successes is None else float(result.successes.mean()),
        episodes_cut=result.cut,
    )
    if result.cut:
        name = env if isinstance(env, str) else type(env.unwrapped).__name__
        say(
            f"evaluation: {name} declares no time limit (max_episode_steps), and {result.cut} of the {episodes} "
            f"episodes were cut at {EPISODE_CAP} steps; give it one to choose (gym.make's max_episode_steps, or "
            "--env-kwargs max_episode_steps:N on the command line)",
            warn=True,
        )
    if expert is not None:
        key = repr((env, sorted((env_kwargs or {}).items()), episodes, seed)) if isinstance(env, str) else None
        if key is None or key not in _EXPERT_RETURNS:
            expert_return = float(run_episodes(expert, env, episodes, seed, env_kwargs).returns.mean())
            if key is not None:
                _EXPERT_RETURNS[key] = expert_return
        else:
            expert_return = _EXPERT_RETURNS[key]
        figures.expert_return = expert_return
        figures.expert_return_ratio = expert_return / mean_return if mean_return != 0 else 1.0
    return figures


class LearningCurveCallback(BaseCallback):
    """Evaluate the deterministic policy on fixed episodes at step 0 and every ``eval_freq`` env steps.

    Each evaluation is also recorded through SB3's logger (``eval/mean_return``, ``eval/success_rate``, ...), so
    TensorBoard shows it beside SB3's own curves.

    :param env: an env id (with ``env_kwargs``), a Gymnasium env or an SB3 VecEnv, kept apart from training
    :param env_kwargs: env arguments
    :param eval_freq: env steps between evaluations
    :param episodes: episodes per evaluation
    :param seed: seed of the evaluation episodes (the same at every evaluation)
    :param expert: an expert policy, for the ratio to its return
    :param verbose: 1 prints each evaluation
    """

    def __init__(
        self,
        env: EnvSource,
        env_kwargs: dict[str, Any] | None,
        eval_freq: int,
        episodes: int = 50,
        seed: int = 10_000,
        expert: Policy | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.env, self.env_kwargs = env, dict(env_kwargs or {})
        self.eval_freq, self.episodes, self.seed, self.expert = eval_freq, episodes, seed, expert
        self.curve: list[dict[str, Any]] = []
        self._start: float | None = None
        self._evaluation_time = 0.0
        self._last = -1

    def _evaluate(self) -> None:
        began = time.perf_counter()
        figures = evaluate(model_policy(self.model), self.env, self.env_kwargs, self.episodes, self.seed, self.expert)
        # Training time only: the evaluations themselves are not counted.
        start = began if self._start is None else self._start
        wall = max(began - start - self._evaluation_time, 0.0)
        self._evaluation_time += time.perf_counter() - began
        point = {"step": self.num_timesteps, "wall_s": wall, **figures.as_dict()}
        self.curve.append(point)
        self._last = self.num_timesteps
        for key in ("mean_return", "mean_length", "success_rate", "expert_return_ratio"):
            if point[key] is not None:
                self.logger.record(f"eval/{key}", point[key])
        self.logger.dump(self.num_timesteps)  # as SB3's EvalCallback: each evaluation at its own step
        if self.verbose:
            success = "" if figures.success_rate is None else f"success {figures.success_rate:.0%}, "
            cut = f" ({figures.episodes_cut} episodes cut at {EPISODE_CAP} steps)" if figures.episodes_cut else ""
            print(f"step {self.num_timesteps}: {success}return {figures.mean_return:.2f}{cut}")

    def _on_training_start(self) -> None:
        if self._start is None:
            self._start = time.perf_counter()
        if not self.curve or self.curve[-1]["step"] != self.num_timesteps:
            self._evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.eval_freq:
            self._evaluate()
        return True
