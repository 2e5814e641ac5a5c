"""The hold's rehearsal: a copy of the actor that learns during the critic warm-up and acts in some of its episodes.

While the critic warm-up holds the actor at the prior, the critic sees the prior's actions (and the algorithm's noise
around them) and nothing of where its own slope in the action leads. When the actor is released it follows that slope
at once, and where the critic's values off the prior's actions are wrong it falls in its first few hundred gradient
steps (SAC on Pendulum: ``benchmarks/PARTLY_RIGHT.md``, "SAC's fall at the release on Pendulum"), until the actions it
then takes have taught the critic otherwise. :class:`HoldRehearsal` gives the critic that data before the release:

- at the first gradient step it copies the actor (still the prior) into a *rehearsal actor*, with an optimiser of the
  actor's kind and learning rate;
- at each of the actor's gradient steps while the actor is held (the hold reverts them), the rehearsal actor takes the
  algorithm's own actor step: SAC's loss (``ent_coef * log_prob - min Q``) or TD3's and DDPG's (``-Q_1``), on a batch
  of its own from the replay buffer, through the same critic (without the recipe's pull towards the prior, which the
  released actor gets: the rehearsal shows where the critic's slope alone leads; with ``pull``, with it, at the weight
  the released actor would have then);
- each episode that begins while the actor is held is acted by the rehearsal actor with probability ``share`` (its
  action sampled as the algorithm samples the actor's: SAC's squashed Gaussian, TD3's action noise, from a copy of the
  model's noise process); the replay buffer keeps what it did, so the critic learns what following its slope does;
- at the release it stops, and the rehearsal actor is dropped: the actor is released as it was held, the prior,
  along a critic that has seen the moves;
- with ``release_episodes`` (off by default) the release waits for the rehearsal instead: once the critic warm-up's
  hold is over, the actor is released as soon as the rehearsal actor's last ``release_episodes`` episodes score at the
  prior's figure in the trust gate's probe or above (scored as the collapse guard scores training episodes), and it
  is released *as the rehearsal actor* (its weights and its optimiser's state); where they do not by ``release_extend``
  env steps after the hold's end, the actor is released as held. The rehearsal actor has then already gone through
  the fall that the critic's slope leads the prior into, and come out of it (SAC on Pendulum:
  ``benchmarks/PARTLY_RIGHT.md``, "Releasing the rehearsal actor"). Three episodes at the prior's figure are a weak
  test: a policy in the middle of its fall has such a run by chance (a 52% policy three successes in a row one time
  in seven). With ``release_window`` the test is the one frontier exploration makes
  (:func:`~sb3_finetune.explore.beats`): the rehearsal actor's episodes that ended in the last ``release_window`` env
  steps (or its last ``release_episodes``, where the window holds fewer) must do better than the prior's figure by a
  one-sided test at :data:`~sb3_finetune.explore.SIGNIFICANCE` (binomial for rates, Student's t for returns). A window
  of env steps, not of episodes, so that the test has the episodes it needs where they are short and scored 0 or 1 (a
  rate of 0.78 is beaten at 5% by 13 successes in a row, no fewer) and is not kept waiting where they are long and
  scored by their return (five of Pendulum's 200 steps); where they are longer than the window holds
  ``release_episodes`` of (Pendulum's 200 steps in a 500-step window), the last ``release_episodes`` are tested, so that
  the test is still made; where the hold itself ends with fewer than ``release_episodes`` of the rehearsal actor's
  episodes finished (MountainCar's 999 steps in a 1,000-step hold), or, for a rate, where the episodes the test would
  be made on at the hold's end are too few to beat the prior's rate even if every one succeeded (PointMaze's 300-step
  episodes: three in a 1,000-step window, where beating a rate of 0.71 at 5% takes nine successes in a row), the test
  is not waited for: the actor is released as held at the hold's end, as without a release test (waiting on such a
  test only lengthened the hold; ``benchmarks/PARTLY_RIGHT.md``, "The release test given up where the hold leaves it
  too few episodes" and "... where its episodes could not pass it"). With ``release_margin`` the line the test must
  clear is the prior's figure less that share of it (rates) or of its lead over the gate's random probe (returns): the
  training episodes carry the algorithm's noise, which the probe's did not, so that a rehearsal actor as good as the
  prior scores a little below it there.

Only rollouts change (through :func:`~sb3_finetune.explore.replace_sampling`): evaluations and ``predict`` see the
held actor, and nothing of the rehearsal is saved (until a release as the rehearsal actor, which makes it the actor:
then it is what is evaluated and saved). The collapse guard and the progress pull score only episodes begun
after the release, so no rehearsed episode is scored. It does nothing where the trust gate stands the prior down or
where the recipe does not hold the actor, and only in the first hold (not when the collapse guard holds the actor
again). Its random draws (its batches, SAC's sampled actions, TD3's action noise)
come from generators seeded from its own and leave numpy's and torch's global ones as they were: a rehearsal that acts
in no episode leaves the run bit for bit as it is without one, so that what it changes is what it showed the critic.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise

from sb3_finetune.callbacks import OptimizerStepHookCallback
from sb3_finetune.decisions import say
from sb3_finetune.explore import SIGNIFICANCE, beats, replace_sampling, restore_sampling
from sb3_finetune.guard import GuardFloor
from sb3_finetune.warmup import EpisodeTally, step_rewards


def actor_copy(actor: th.nn.Module) -> th.nn.Module:
    """A deep copy of an SB3 actor, the tensors its action distribution kept from its last forward pass detached.

    Those (gSDE's exploration matrices, the last Gaussian) are not graph leaves, which ``deepcopy`` refuses.

    :param actor: the actor
    :return: the copy
    """
    memo: dict[int, th.Tensor] = {}
    pending = [getattr(actor, "action_dist", None)]
    while pending:
        holder = pending.pop()
        for value in vars(holder).values() if holder is not None else ():
            if isinstance(value, th.Tensor) and not value.is_leaf:
                memo[id(value)] = value.detach().clone()
            elif isinstance(value, th.distributions.Distribution):
                pending.append(value)
    return copy.deepcopy(actor, memo)


class HoldRehearsal(OptimizerStepHookCallback):
    """A copy of the actor learns while the actor is held and acts in a share of the hold's episodes.

    It does nothing until :meth:`arm` gives it the hold's window (the recipe's warm-up does, where the gate trusts the
    prior).

    :param share: the probability that an episode begun while the actor is held is acted by the rehearsal actor
    :param seed: seed of the draws
    :param decisions: where the start and the end are said (the setup's ``decisions``)
    :param restart: env steps after which the rehearsal actor is copied again from the held actor (the prior), so that
        the critic sees the first moves off it again along what it has learned since; ``0``: never
    :param release_episodes: release the actor as the rehearsal actor once its last this many episodes score at the
        prior's figure or above, from the hold's end on (``None``: at the hold's end, as held)
    :param release_extend: with ``release_episodes``, env steps after the hold's end by which the actor is released
        as held where the rehearsal actor has not scored so
    :param pull: the rehearsal actor's step adds the pull of the hook that holds the actor (its
        :meth:`~sb3_finetune.recipes.ActorUpdateHook.pull_loss`), as the released actor's does
    :param release_window: with ``release_episodes``, the release waits instead until the rehearsal actor's episodes
        that ended in the last this many env steps (its last ``release_episodes`` where the window holds fewer) do
        better than the prior's figure by a one-sided test (:func:`~sb3_finetune.explore.beats`), or, where fewer than
        ``release_episodes`` of them have ended by the hold's end, releases it as held then; ``None``: until the mean
        of its last ``release_episodes`` episodes reaches it
    :param release_margin: with ``release_window``, the test's line is the prior's figure less this share of it (for
        rates) or of its lead over the random probe (for returns): ``mark.floor`` (the recipe arms it with
        :func:`~sb3_finetune.guard.guard_floor` at ``1 - release_margin``); ``0``: the prior's figure
    """

    def __init__(
        self,
        share: float,
        seed: int | None = None,
        decisions: list[str] | None = None,
        restart: int = 0,
        release_episodes: int | None = None,
        release_extend: int = 0,
        pull: bool = False,
        release_window: int | None = None,
        release_margin: float = 0.0,
    ) -> None:
        super().__init__(("actor",))
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        if restart < 0:
            raise ValueError(f"restart must be >= 0, got {restart}")
        if release_episodes is not None and release_episodes < 1:
            raise ValueError(f"release_episodes must be >= 1 or None, got {release_episodes}")
        if release_extend < 0:
            raise ValueError(f"release_extend must be >= 0, got {release_extend}")
        if release_window is not None and (release_window < 1 or release_episodes is None):
            raise ValueError(f"release_window must be >= 1 and needs release_episodes, got {release_window}")
        if not 0.0 <= release_margin < 1.0 or (release_margin and release_window is None):
            raise ValueError(f"release_margin must be in [0, 1) and needs release_window, got {release_margin}")
        self.share, self.restart = share, restart
        self.release_episodes, self.release_extend, self.pull = release_episodes, release_extend, pull
        self.release_window, self.release_margin = release_window, release_margin
        self.line: GuardFloor | None = None
        """With ``release_window``, the figure the windowed test must beat, as a mark (``None``: before arming)."""
        self.hold_end = 0
        """The critic warm-up's end: the earliest release (with ``release_episodes``; else ``until``)."""
        self.mark: GuardFloor | None = None
        """What the rehearsal actor's episodes are scored by, and the prior's figure they must reach (``None``: the
        release does not wait for the rehearsal)."""
        self.hook: Any = None
        """The callback that holds the actor (its ``hold_steps`` moved to the release; its pull added with ``pull``)."""
        self.scores: list[float] = []
        """The rehearsal actor's finished episodes' scores (with a mark)."""
        self.scored_at: list[int] = []
        """The env step each of ``scores`` ended at."""
        self.release_pvalue: float | None = None
        """With ``release_window``, the last test's p-value (``None``: no test made yet)."""
        self._tested: tuple[int, int] | None = None
        self._beaten = False
        self._judged = False
        self.given_up: str | None = None
        """With ``release_window``, why the test was given up at the hold's end (``None``: it was not)."""
        self.released_as_rehearsal: bool | None = None
        """Whether the actor was released as the rehearsal actor (``None``: not yet released)."""
        self._tally: EpisodeTally | None = None
        self.restarts = 0
        """Times the rehearsal actor was copied again from the held actor."""
        self._copied_at = 0
        self.generator = np.random.default_rng(seed)
        self.decisions = decisions if decisions is not None else []
        self.start = 0
        self.until = 0
        """The window ``[start, until)`` in env steps (``until <= start``: off)."""
        self.actor: th.nn.Module | None = None
        """The rehearsal actor (``None`` before the first gradient step of the window and after it)."""
        self.optimizer: th.optim.Optimizer | None = None
        self.action_noise: ActionNoise | None = None
        """TD3's and DDPG's action noise for the rehearsal actor's actions: a copy of the model's, so that a stateful
        process (Ornstein-Uhlenbeck) runs on in the rehearsal's episodes and the model's own is advanced by its own
        steps only (``None``: the model has none, or before the window)."""
        self.rehearsed_episodes = 0
        """Episodes the rehearsal actor acted in."""
        self.rehearsed_steps = 0
        """Env steps it took."""
        self.updates = 0
        """Gradient steps it took."""
        self.rehearsing = np.zeros(0, dtype=bool)
        """Per env: whether its current episode is the rehearsal actor's."""
        self._new = np.zeros(0, dtype=bool)
        self._original_class: type[BaseAlgorithm] | None = None
        self.ended = False
        self.on_end: Callable[[th.nn.Module], None] | None = None
        """Called with the rehearsal actor at the release, just before it is dropped (to look at what the critic's
        slope alone made of the prior: ``benchmarks/release_dip.py --rehearsal-score``); ``None``: nothing."""

    def arm(self, start: int, until: int, hook: Any = None, mark: GuardFloor | None = None) -> str:
        """Rehearse from env step ``start`` (the first gradient step) to ``until`` (the actor's release).

        With ``release_episodes``, a ``mark`` and the ``hook`` that holds the actor, ``until`` is the earliest release
        and the hold is extended to ``until + release_extend`` (``hook.hold_steps`` with it), to be cut short when the
        rehearsal actor scores at ``mark.prior`` (with ``release_window``: beats ``mark.prior``, or with
        ``release_margin`` ``mark.floor``, by the one-sided test; where that line is a rate of 1, which nothing beats,
        the hold is not extended).

        :param start: the first gradient step
        :param until: the hold's end
        :param hook: the callback that holds the actor (anything with a ``hold_steps`` attribute)
        :param mark: what the rehearsal actor's episodes are scored by (the collapse guard's
            :func:`~sb3_finetune.guard.guard_floor`; ``None``: the release does not wait)
        :return: what the release waits for, in words (empty where it does not wait)
        """
        self.start, self.until, self.hold_end, self.hook = start, until, until, hook
        if self.release_episodes is None or mark is None or hook is None:
            return ""
        line = mark.floor if self.release_margin else mark.prior
        if self.release_window is not None and mark.criterion != "return" and line >= 1.0:
            return (
                f"; the actor is released as held at step {until}: the rehearsal release tests the rehearsal actor's "
                f"{mark.measure} against {line:.2f} (the prior's in the probe), which nothing beats"
            )
        self.mark, self.line = mark, GuardFloor(mark.criterion, line, line, mark.gate_return)
        self.until = hook.hold_steps = until + self.release_extend
        if self.release_window is None:
            test = (
                f"its last {self.release_episodes} episodes have a {mark.measure} of {mark.prior:.2f} (the prior's in "
                "the probe) or above"
            )
        else:
            of = "it" if mark.criterion != "return" else "its lead over the random probe's"
            rate = "" if mark.criterion == "return" else ", or too few to beat it even if every one succeeded"
            less = f" less {self.release_margin:g} of {of}" if self.release_margin else ""
            test = (
                f"its episodes that ended in the last {self.release_window} env steps (its last "
                f"{self.release_episodes} where they are fewer) have a {mark.measure} above {line:.2f} (the prior's "
                f"{mark.prior:.2f} in the probe{less}) by a one-sided test at {SIGNIFICANCE:g} (where fewer than "
                f"{self.release_episodes} have ended by step {until}{rate}, it is released as held then)"
            )
        return (
            f"; from step {until} the actor is released as the rehearsal actor once {test}, else as held at step "
            f"{self.until}"
        )

    @property
    def active(self) -> bool:
        """Whether the window is on now."""
        return not self.ended and self.start <= self.num_timesteps < self.until

    def _on_training_start(self) -> None:
        super()._on_training_start()
        n_envs = self.model.get_env().num_envs
        # Kept over learn() calls, as the episodes are (the warm-up's, then training's); the RL Zoo callback steps
        # this one through its warm-up before it starts it, so its episode starts may be known already.
        if len(self.rehearsing) != n_envs:
            self.rehearsing = np.zeros(n_envs, dtype=bool)
        if len(self._new) != n_envs:
            self._new = np.zeros(n_envs, dtype=bool)  # episodes running at the first start are not drawn
        if self.until > self.start and not self.ended and self._original_class is None:
            self._original_class = replace_sampling(self.model, self)

    def _on_training_end(self) -> None:
        super()._on_training_end()
        self._restore()

    def _restore(self) -> None:
        if self._original_class is not None:
            restore_sampling(self.model, self._original_class)
            self._original_class = None

    def _copy_actor(self) -> tuple[th.nn.Module, th.optim.Optimizer]:
        """The rehearsal actor, copied from the actor (held at the prior) when the window's first need of it comes."""
        if self.actor is not None and self.restart > 0 and self.num_timesteps - self._copied_at >= self.restart:
            self.actor, self.optimizer = None, None
            self.restarts += 1
        if self.actor is None or self.optimizer is None:
            if self.action_noise is None and self.model.action_noise is not None:
                self.action_noise = copy.deepcopy(self.model.action_noise)
                self.action_noise.reset()
            self._copied_at = self.num_timesteps
            actor = self.model.policy.actor
            self.actor = actor_copy(actor)
            self.actor.optimizer = None  # its own below, fresh
            trained = [p for p in self.actor.parameters() if p.requires_grad]
            self.optimizer = type(actor.optimizer)(trained, **actor.optimizer.defaults)
        return self.actor, self.optimizer

    @contextlib.contextmanager
    def _own_randomness(self) -> Iterator[None]:
        """The global generators (numpy's, torch's) seeded from this callback's own, and put back after.

        The rehearsal's batches (SB3's replay buffer samples with numpy's global generator), SAC's sampled actions and
        TD3's action noise draw from them; without this they would shift every later draw of the run, so that a
        rehearsal that acts in no episode would still make another run than the recipe without it.
        """
        saved = np.random.get_state()
        devices = [self.model.device] if self.model.device.type == "cuda" else []
        with th.random.fork_rng(devices=devices):
            seed = int(self.generator.integers(2**31))
            np.random.seed(seed)
            th.manual_seed(seed)
            try:
                yield
            finally:
                np.random.set_state(saved)

    def _post_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        if not self.active:
            return
        with self._own_randomness():
            self._rehearsal_step(optimizer)

    def _rehearsal_step(self, optimizer: th.optim.Optimizer) -> None:
        model = self.model
        rehearsal, rehearsal_optimizer = self._copy_actor()
        for group in rehearsal_optimizer.param_groups:  # the actor's learning rate now (SB3 sets it each train())
            group["lr"] = optimizer.param_groups[0]["lr"]
        batch = model.replay_buffer.sample(model.batch_size, env=model._vec_normalize_env)
        critic = model.policy.critic
        if isinstance(model, SAC):
            if model.use_sde:  # a new exploration matrix at each gradient step, as SAC's train() draws one
                rehearsal.reset_noise()
            actions, log_prob = rehearsal.action_log_prob(batch.observations)
            q_values = th.cat(critic(batch.observations, actions), dim=1).min(dim=1, keepdim=True).values
            if model.ent_coef_optimizer is not None:
                ent_coef = th.exp(model.log_ent_coef.detach())
            else:
                ent_coef = model.ent_coef_tensor
            loss = (ent_coef * log_prob.reshape(-1, 1) - q_values).mean()
        else:
            loss = -critic.q1_forward(batch.observations, rehearsal(batch.observations)).mean()
        pulled = self.hook.pull_loss(rehearsal) if self.pull and self.hook is not None else None
        if pulled is not None:
            loss = loss + pulled
        parameters = [p for group in rehearsal_optimizer.param_groups for p in group["params"]]
        # Gradients for the rehearsal actor only: the critic's .grad is left as SB3 left it.
        gradients = th.autograd.grad(loss, parameters, allow_unused=True)
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter.grad = gradient
        rehearsal_optimizer.step()
        self.updates += 1

    def _replace(self, actions: np.ndarray, buffer_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.active:
            return actions, buffer_actions
        for index in np.flatnonzero(self._new):  # draw for the episodes that start with this action
            self._new[index] = False
            self.rehearsing[index] = self.generator.random() < self.share
            self.rehearsed_episodes += int(self.rehearsing[index])
        if not self.rehearsing.any():
            return actions, buffer_actions
        model = self.model
        rehearsal, _ = self._copy_actor()
        observations, _ = model.policy.obs_to_tensor(model._last_obs)
        with self._own_randomness(), th.no_grad():
            scaled = rehearsal(observations).cpu().numpy().reshape(buffer_actions.shape)
            if self.action_noise is not None:
                scaled = np.clip(scaled + self.action_noise(), -1.0, 1.0)
        buffer_actions = np.array(buffer_actions, copy=True)
        actions = np.array(actions, copy=True)
        buffer_actions[self.rehearsing] = scaled[self.rehearsing]
        actions[self.rehearsing] = model.policy.unscale_action(scaled)[self.rehearsing]
        self.rehearsed_steps += int(self.rehearsing.sum())
        return actions, buffer_actions

    def _on_step(self) -> bool:
        if self.ended:
            return True
        # At the longest hold's step the release is decided on the episodes scored before it (as the stored runs of
        # benchmarks/results/rehearsal_*.jsonl were made): an episode ending at that very step is not counted.
        if self._original_class is not None and self.num_timesteps >= self.until:
            self._end()
            return True
        ended = np.asarray(self.locals["dones"], dtype=bool)
        if self.mark is not None and self._original_class is not None:
            self._score(ended)
            reason = self._give_up()
            if reason is not None:
                self.given_up = reason
                self._end()
                return True
            if self._rehearsal_scores_at_prior():
                self._end()
                return True
        if self.action_noise is not None:  # as SB3 resets the model's at an episode's end
            for index in np.flatnonzero(ended & self.rehearsing):
                self.action_noise.reset(**({"indices": [index]} if len(ended) > 1 else {}))
        self.rehearsing &= ~ended
        # An episode is drawn at its first action only: one begun before the window, or while another part of the
        # warm-up acted, is not rehearsed.
        self._new = ended.copy()
        if self._original_class is not None:
            self.logger.record("finetune/rehearsed_steps", self.rehearsed_steps)
        return True

    def _score(self, ended: np.ndarray) -> None:
        """Score the rehearsal actor's episodes that ended at this step (before ``rehearsing`` forgets them)."""
        if self._tally is None:
            self._tally = EpisodeTally(len(ended))
        assert self.mark is not None
        for index, episode_return, _, success in self._tally.step(step_rewards(self), ended, self.locals["infos"]):
            if self.rehearsing[index]:
                self.scores.append(self.mark.score(episode_return, success))
                self.scored_at.append(self.num_timesteps)

    def _first_scored(self) -> int:
        """Where in ``scores`` the release test's episodes begin.

        The last ``release_episodes``; with a window, those that ended in it, or the last ``release_episodes`` where it
        holds fewer (episodes longer than a share of the window).
        """
        assert self.release_episodes is not None
        last = max(len(self.scores) - self.release_episodes, 0)
        if self.release_window is None:
            return last
        return min(bisect.bisect_right(self.scored_at, self.num_timesteps - self.release_window), last)

    def _give_up(self) -> str | None:
        """Why the windowed test is given up, at the first step past the hold's end (``None``: it is waited for).

        It is given up where the episodes it would be made on then could not pass it: fewer finished than it is made
        on (episodes longer than a share of the hold: MountainCar's 999 steps in a 1,000-step hold), or, for a rate,
        so few in the window that every one of them a success would not beat the line at the test's level
        (PointMaze's three 300-step episodes against a rate of 0.71: 0.71 ** 3 = 0.36). Decided once, at that step:
        the windows after it are the test's, up to the longest hold.
        """
        if self.release_window is None or self._judged or self.num_timesteps < self.hold_end:
            return None
        self._judged = True
        assert self.release_episodes is not None and self.line is not None
        finished = len(self.scores)
        if finished < self.release_episodes:
            return (
                f"the rehearsal actor finished {finished} episode{'' if finished == 1 else 's'} in the hold, fewer "
                f"than the {self.release_episodes} the test is made on"
            )
        if self.line.criterion == "return":
            return None
        tested = finished - self._first_scored()
        could_pass, least = beats([1.0] * tested, self.line)  # the test itself, on as many successes
        if could_pass:
            return None
        line = f"the test's line {self.line.prior:.2f}" if self.release_margin else f"the prior's {self.line.prior:.2f}"
        return (
            f"the rehearsal actor's {tested} episodes in the window could not beat {line} by the test even if every "
            f"one succeeded (its least p-value {self.line.prior:.3f} ** {tested} = {least:.3f}, not below "
            f"{SIGNIFICANCE:g})"
        )

    def _rehearsal_scores_at_prior(self) -> bool:
        """Whether the hold is over and the rehearsal actor's last episodes reach the prior (or beat it, by test)."""
        assert self.mark is not None and self.release_episodes is not None
        if self.num_timesteps < self.hold_end or len(self.scores) < self.release_episodes:
            return False
        first = self._first_scored()
        if self.release_window is None:
            return float(np.mean(self.scores[first:])) >= self.mark.prior
        if (first, len(self.scores)) != self._tested:  # the test is made again only when its episodes change
            self._tested = (first, len(self.scores))
            assert self.line is not None
            self._beaten, self.release_pvalue = beats(self.scores[first:], self.line)
        return self._beaten

    def _adopt(self) -> None:
        """The actor takes the rehearsal actor's weights and its optimiser's state (by parameter name), now."""
        rehearsal, rehearsal_optimizer = self.actor, self.optimizer
        assert rehearsal is not None and rehearsal_optimizer is not None
        self.hook.hold_steps = self.num_timesteps
        actor = self.model.policy.actor
        actor.load_state_dict(rehearsal.state_dict())
        theirs = dict(rehearsal.named_parameters())
        for name, parameter in actor.named_parameters():
            state = rehearsal_optimizer.state.get(theirs[name])
            if state is not None:
                actor.optimizer.state[parameter] = copy.deepcopy(state)
            else:
                actor.optimizer.state.pop(parameter, None)

    def _end(self) -> None:
        """End the rehearsal at the actor's release, and say how it was released.

        Where the windowed test was given up at the hold's end (``given_up``, :meth:`_give_up`), the actor is released
        as held now, not at the longest hold's end.
        """
        if self.on_end is not None and self.actor is not None:
            self.on_end(self.actor)
        release = ""
        if self.given_up is not None:
            self.hook.hold_steps = self.num_timesteps
            self.released_as_rehearsal = False
            release = (
                f"; the actor released as held at the hold's end ({self.given_up}: the release waits only where the "
                "hold gives the test the episodes it needs)"
            )
        elif self.mark is not None and self.release_episodes is not None:
            last = self.scores[self._first_scored() :]
            figure = f"{float(np.mean(last)):.2f}" if last else "none finished"
            adopt = self.actor is not None and self.optimizer is not None and self._rehearsal_scores_at_prior()
            if adopt:
                self._adopt()
            self.released_as_rehearsal = adopt
            what = "as the rehearsal actor" if adopt else "as held"
            which = f"last {len(last)} episodes" if self.release_window is None else f"{len(last)} tested episodes"
            line = "" if not self.release_margin or self.line is None else f", the test's line {self.line.prior:.2f}"
            tested = self._tested == (len(self.scores) - len(last), len(self.scores))  # made on these episodes
            test = f", one-sided p {self.release_pvalue:.3f}" if tested and self.release_pvalue is not None else ""
            release = (
                f"; the actor released {what} (the rehearsal actor's {which}: {self.mark.measure} "
                f"{figure}, the prior's {self.mark.prior:.2f}{line}{test})"
            )
        self.ended = True
        self.rehearsing[:] = False
        self._restore()
        self.actor, self.optimizer, self.action_noise = None, None, None
        restarts = f", copied again from the held actor {self.restarts} times" if self.restart else ""
        say(
            f"hold rehearsal: ended at the actor's release (step {self.num_timesteps}); the rehearsal actor took "
            f"{self.updates} gradient steps and acted in {self.rehearsed_episodes} episodes "
            f"({self.rehearsed_steps} env steps){restarts}{release}",
            self.decisions,
        )
