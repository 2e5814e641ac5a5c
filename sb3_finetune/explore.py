"""Exploration from the failure frontier during training, until the learner does better than the prior did.

The warm-up hand-over (:class:`~sb3_finetune.warmup.HandOver`) shows the critic what lies past the point where the prior
stalls, but only in the few episodes before ``learning_starts``. Where none of them happened on the way round (the
obstacle's detour), a TD3 actor that starts as the prior stays the prior: its own noise never takes it far from where
the prior goes, and the critic, having seen nothing better, holds it there (the "stuck" seeds of
``benchmarks/PARTLY_RIGHT.md``). :class:`FrontierExploration` keeps handing over during training, and stops once the
learner has moved past the prior:

- from the first training step, each episode is handed over with probability ``share``: its actions turn uniform
  random in the action box at a step drawn uniformly below the prior probe's longest episode, as in the warm-up.
  The other episodes are the algorithm's own (its actor and its exploration noise). Uniform actions drawn afresh
  every step average out: on MountainCar they never build the swing that reaches the flag. Two remedies: each
  random action held for ``hold`` steps (a time scale to choose per env), or pink noise (``noise="pink"``; Eberhard
  et al. 2023), whose power spectrum 1/f correlates the pushes over the whole series, here as long as the probe's
  longest episode: the env's own time scale, with nothing to choose;
- only the rollout's actions change (the model's ``_sample_action``, through a subclass its class is swapped for
  while the hand-over lasts, so that a checkpoint saved meanwhile holds none of it): an evaluation, or any other
  callback, sees the true actor, and the replay buffer holds the actions taken;
- the algorithm's own episodes are scored as the trust gate scored the prior's probe (success; else whether the
  return reaches ``gate_return``; else the return), in blocks of ``episodes``. Once a block does better than the
  prior's figure in the probe by a one-sided test at :data:`SIGNIFICANCE` (binomial for rates, Student's t for
  returns), the hand-over stops for good: the learner has found what the prior was missing. A test, not a mark:
  training episodes are few and their starts random, and a block of 10 at a prior's 0.78 scores 0.9 or more by
  chance one time in three (what a first mark, "halfway to a perfect score", did on the obstacle);
- it stops at ``until`` env steps in any case, and it does not start where the prior scored perfectly in the probe
  (no frontier to explore from).

It acts only where the gate trusted the prior and its figures allow a comparison; each start and stop is logged and
kept in the setup's ``decisions``. The collapse guard does not score the handed-over episodes (see
:attr:`FrontierExploration.handed_over`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from colorednoise import powerlaw_psd_gaussian
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.decisions import say
from sb3_finetune.guard import GuardFloor, LearnerEpisodes
from sb3_finetune.warmup import GateDecision

_EXPLORERS: weakref.WeakKeyDictionary[BaseAlgorithm, Any] = weakref.WeakKeyDictionary()
_EXPLORING_CLASSES: dict[type[BaseAlgorithm], type[BaseAlgorithm]] = {}


def _exploring(cls: type[BaseAlgorithm]) -> type[BaseAlgorithm]:
    """``cls`` with a ``_sample_action`` that lets the model's replacer (:func:`replace_sampling`) replace actions."""
    if cls not in _EXPLORING_CLASSES:

        def _sample_action(self: BaseAlgorithm, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
            actions, buffer_actions = cls._sample_action(self, *args, **kwargs)  # type: ignore[attr-defined]
            explorer = _EXPLORERS.get(self)
            return (actions, buffer_actions) if explorer is None else explorer._replace(actions, buffer_actions)

        namespace = {"_sample_action": _sample_action, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
        _EXPLORING_CLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return _EXPLORING_CLASSES[cls]


def replace_sampling(model: BaseAlgorithm, replacer: Any) -> type[BaseAlgorithm]:
    """Let ``replacer._replace(actions, buffer_actions)`` replace the actions ``model`` samples in its rollouts.

    The model's class becomes a subclass whose ``_sample_action`` asks ``replacer``: nothing is added to the model's
    ``__dict__``, so a checkpoint saved meanwhile holds nothing of it. One replacer per model at a time.

    :param model: the model
    :param replacer: an object with ``_replace(actions, buffer_actions) -> (actions, buffer_actions)``
    :return: the model's own class, for :func:`restore_sampling`
    """
    if model in _EXPLORERS:
        raise ValueError(f"{type(model).__name__}'s actions are already replaced by {_EXPLORERS[model]!r}")
    original = type(model)
    _EXPLORERS[model] = replacer
    model.__class__ = _exploring(original)
    return original


def restore_sampling(model: BaseAlgorithm, original: type[BaseAlgorithm]) -> None:
    """Undo :func:`replace_sampling`: ``model`` samples its own actions again, as an ``original``."""
    model.__class__ = original
    _EXPLORERS.pop(model, None)


EXPLORE_NOISES = ("uniform", "pink")
"""What the hand-over's random actions are (:class:`FrontierExploration`'s ``noise``)."""


def check_explore_noise(noise: str, hold: int, prefix: str = "") -> None:
    """Refuse an unknown kind of random action, or pink noise asked to be held.

    :param noise: the kind of random action (one of :data:`EXPLORE_NOISES`)
    :param hold: env steps each random action is held for
    :param prefix: the parameters' prefix in the caller's own names (``"explore_"`` in a recipe)
    :raises ValueError: naming the problem
    """
    if noise not in EXPLORE_NOISES:
        raise ValueError(f"{prefix}noise must be one of {EXPLORE_NOISES}, got {noise!r}")
    if noise == "pink" and hold > 1:
        raise ValueError(f"{prefix}hold holds uniform random actions; pink noise is correlated in time already")


SIGNIFICANCE = 0.05
"""The one-sided test's level at which a block of the learner's own episodes beats the prior's figure."""


def exploration_mark(gate: GateDecision) -> tuple[GuardFloor | None, str]:
    """What a block of the learner's own episodes is scored by and tested against, and a sentence.

    :param gate: the gate's decision (trusted)
    :return: the mark, as a :class:`~sb3_finetune.guard.GuardFloor` whose ``prior`` is the figure to beat (``None``
        where the prior has nothing left to improve, a perfect rate, or the gate's figures allow no comparison), and
        the sentence (the reason where ``None``)
    """
    if gate.criterion in ("success", "return threshold"):
        threshold = gate.reference_mean_return if gate.criterion == "return threshold" else None
        mark = GuardFloor(gate.criterion, gate.score, gate.score, threshold)
        if gate.score >= 1.0:
            return None, f"the prior's {mark.measure} in the probe was {gate.score:.2f} (no frontier to explore from)"
        return mark, f"{mark.measure} above the prior's {gate.score:.2f} in the probe"
    if gate.criterion == "random probe" and gate.prior_mean_return is not None:
        mark = GuardFloor("return", gate.prior_mean_return, gate.prior_mean_return)
        return mark, f"{mark.measure} above the prior's {gate.prior_mean_return:.2f} in the probe"
    return None, (
        f"the trust gate's figures give nothing to compare the learner with (criterion {gate.criterion!r}, prior "
        f"mean return {gate.prior_mean_return})"
    )


def beats(scores: list[float], mark: GuardFloor) -> tuple[bool, float]:
    """Whether a block of scores does better than the prior's figure, by a one-sided test at :data:`SIGNIFICANCE`.

    :param scores: the block's scores (0/1 for rates, returns otherwise)
    :param mark: the figure to beat (``mark.prior``) and the criterion
    :return: the verdict and the test's p-value
    """
    from scipy.stats import binomtest, ttest_1samp

    if mark.criterion == "return":
        if np.ptp(scores) == 0.0:  # no spread: the t statistic is undefined
            return bool(scores[0] > mark.prior), 0.0 if scores[0] > mark.prior else 1.0
        pvalue = float(ttest_1samp(scores, mark.prior, alternative="greater").pvalue)
    else:
        pvalue = float(binomtest(round(sum(scores)), len(scores), mark.prior, alternative="greater").pvalue)
    return pvalue < SIGNIFICANCE, pvalue


class FrontierExploration(BaseCallback):
    """Hands a share of training episodes over to uniform random actions, until the learner beats the prior.

    It does nothing until :meth:`arm` gives it the hand-over horizon and the mark (the recipe's warm-up does, where
    the gate trusts the prior).

    :param share: the probability that an episode is handed over
    :param episodes: the learner's own finished episodes per block scored
    :param until: the env step after which no episode is handed over
    :param seed: seed of the hand-over draws and of the random actions
    :param decisions: where the start and the stop are said (the setup's ``decisions``)
    :param hold: env steps each random action is held for (1: a new one every step; ``"uniform"`` noise only)
    :param noise: ``"uniform"``: uniform in the action box; ``"pink"``: pink noise of unit variance per action
        dimension, clipped to the box, over a series of ``horizon`` steps drawn when an episode's random actions
        begin (a new series once one is used up)
    """

    def __init__(
        self,
        share: float,
        episodes: int,
        until: int,
        seed: int | None = None,
        decisions: list[str] | None = None,
        hold: int = 1,
        noise: str = "uniform",
    ) -> None:
        super().__init__()
        check_explore_noise(noise, hold)
        self.share, self.episodes, self.until, self.hold, self.noise = share, episodes, until, hold, noise
        self.generator = np.random.default_rng(seed)
        self.decisions = decisions if decisions is not None else []
        self.mark: GuardFloor | None = None
        self.horizon = 0
        self.stopped_at: int | None = None
        """The env step at which the hand-over stopped (``None``: it has not)."""
        self.random_actions = 0
        """Env steps taken with random actions."""
        self.blocks: list[tuple[int, float]] = []
        """``(env step, mean score)`` of every block of the learner's own episodes."""
        self.handed_over = np.zeros(0, dtype=bool)
        """Per env: whether its current episode is handed over (it keeps the flag of an episode that ends at a step
        until the next action is drawn, so that other callbacks can read it for the episode that just ended; after the
        stop, an episode that had taken random actions keeps it until the step after it ends)."""
        self._steps = np.zeros(0, dtype=np.int64)
        self._at = np.zeros(0, dtype=np.int64)
        self._new = np.zeros(0, dtype=bool)
        self._held = np.zeros((0, 0))  # per env: the random action being held (drawn afresh every ``hold`` steps)
        self._series = np.zeros((0, 0, 0))  # pink noise: per env, a series of random actions (time last)
        self._ended = np.zeros(0, dtype=bool)  # after the stop: envs whose handed-over episode ended at the last step
        self._block: list[float] = []
        self._episodes = LearnerEpisodes()
        self._original_class: type[BaseAlgorithm] | None = None

    def arm(self, horizon: int, mark: GuardFloor | None) -> None:
        """Start handing over, at steps drawn below ``horizon``, until a block beats ``mark`` (``None``: stay off)."""
        self.horizon, self.mark = max(int(horizon), 1), mark

    @property
    def active(self) -> bool:
        """Whether episodes are still handed over."""
        return self.mark is not None and self.stopped_at is None

    def _on_training_start(self) -> None:
        n_envs = self.model.get_env().num_envs
        self.handed_over = np.zeros(n_envs, dtype=bool)
        self._steps = np.zeros(n_envs, dtype=np.int64)
        self._at = np.zeros(n_envs, dtype=np.int64)
        self._new = np.zeros(n_envs, dtype=bool)
        self._held = np.zeros((n_envs, *self.model.action_space.shape))
        self._series = np.zeros((n_envs, *self.model.action_space.shape, self.horizon))
        self._ended = np.zeros(n_envs, dtype=bool)
        self._episodes = LearnerEpisodes()  # episodes running at the start (the warm-up's) are not scored
        if self.active and self._original_class is None:
            self._original_class = replace_sampling(self.model, self)

    def _on_training_end(self) -> None:
        self._restore_sampling()

    def _restore_sampling(self) -> None:
        if self._original_class is not None:
            restore_sampling(self.model, self._original_class)
            self._original_class = None

    def _replace(self, actions: np.ndarray, buffer_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.active:
            return actions, buffer_actions
        for index in np.flatnonzero(self._new):  # draw for the episodes that start with this action
            self._new[index] = False
            self.handed_over[index] = self.generator.random() < self.share
            self._at[index] = self.generator.integers(0, self.horizon)
        past = self.handed_over & (self._steps >= self._at)
        if not past.any():
            return actions, buffer_actions
        buffer_actions = np.array(buffer_actions, copy=True)
        actions = np.array(actions, copy=True)
        into = self._steps - self._at  # steps since the env's random actions began
        if self.noise == "pink":
            for index in np.flatnonzero(past & (into % self.horizon == 0)):  # a new series, or the last one used up
                self._series[index] = powerlaw_psd_gaussian(1, self._series[index].shape, random_state=self.generator)
            self._held[past] = np.clip(self._series[past, ..., into[past] % self.horizon], -1.0, 1.0)
        else:
            fresh = past & (into % self.hold == 0)  # with hold 1: every env past its step
            self._held[fresh] = self.generator.uniform(-1.0, 1.0, self._held[fresh].shape)
        random = self._held[past].astype(buffer_actions.dtype)
        buffer_actions[past] = random
        actions[past] = self.model.policy.unscale_action(random)
        self.random_actions += int(past.sum())
        return actions, buffer_actions

    def _on_step(self) -> bool:
        if not self.active:
            if self.stopped_at is not None and self.handed_over.any():
                # After the stop, an episode handed over before it keeps its flag until it has ended (and been read).
                self.handed_over &= ~self._ended
                self._ended = np.asarray(self.locals["dones"], dtype=bool) & self.handed_over
            return True
        assert self.mark is not None
        self._steps += 1
        # The learner's own episodes: begun while the model samples through this callback (in training, not in the
        # rest of the warm-up after the gate armed it) and not handed over. The critic warm-up's episodes count: the
        # actor acts in them (it starts as the prior).
        sampling = self._original_class is not None
        self._block.extend(self._episodes.step(self, not sampling, self.mark, self))
        ended = np.asarray(self.locals["dones"], dtype=bool)
        self._steps[ended] = 0
        self._new |= ended
        if len(self._block) >= self.episodes:
            score = float(np.mean(self._block))
            self.blocks.append((self.num_timesteps, score))
            self.logger.record("finetune/explore_block_score", score)
            better, pvalue = beats(self._block, self.mark)
            self._block = []
            if better:
                self._stop(
                    f"a block of the learner's own {self.episodes} episodes scored {score:.2f} against the prior's "
                    f"{self.mark.prior:.2f} (one-sided p = {pvalue:.3f})"
                )
                return True
        if self.num_timesteps >= self.until:
            self._stop(f"its last step ({self.until}) came before a block beat the prior")
        return True

    def _stop(self, why: str) -> None:
        self.stopped_at = self.num_timesteps
        # Episodes that have taken random actions, or that end at this step, stay handed over until they have ended:
        # the collapse guard must not score them as the learner's own. The rest are the learner's from here on.
        ended = np.asarray(self.locals["dones"], dtype=bool)
        self.handed_over &= ended | (self._steps > self._at)
        self._ended = ended & self.handed_over
        self._restore_sampling()
        self.logger.record("finetune/explore_random_actions", self.random_actions)
        sentence = (
            f"frontier exploration: stopped at step {self.num_timesteps}, {why}; {self.random_actions} training "
            "actions were random"
        )
        say(sentence, self.decisions)
