"""The warm-up before the first gradient step: the prior's probe, the trust gate, distillation on real states.

1. **The probe.** The model acts exactly as the prior (deterministic, no exploration noise) from seeded starts, for
   at least ``gate_steps`` env steps and until ``gate_episodes`` episodes have ended, or until its step cap
   (``gate_max_steps``, and at most half the budget where a random probe may have to follow); with the recipe's
   ``gate_confidence``, where success or a return threshold judges, until its episodes decide the gate at that
   level (:func:`gate_settled`; with ``gate_margin``, until they rule out a rate at either end of a zone around
   ``trust_gate``). Its transitions go into the replay buffer and count towards the budget, like every
   env step.
2. **The trust gate** (:func:`decide`) judges the prior on the probe's episodes:

   - where the env reports success (``info["is_success"]``, SB3's key, or ``info["success"]``, Gymnasium-Robotics'),
     by its success rate (unless the recipe's ``gate_criterion`` is ``"return"``: a prior that reaches the goal
     rarely may still be far better than random);
   - else, where the user gave a return threshold (``gate_return``), by the fraction of episodes reaching it;
   - else against a uniform-random probe from the same seeded starts (as many steps, and at least as many
     episodes per env, so
     episode ``k`` of env ``i`` starts from the same state in both where the env's randomness is only drawn at
     reset): the fraction of those episode pairs in which the prior's return is higher. Where the budget ends
     before both probes finish an episode on an env, that env's pair compares the rewards summed over the steps
     both probes made from the same start (the per-step criterion).

   The prior is trusted when that fraction reaches ``trust_gate``. The decision and its figures are logged
   through SB3's logger (``finetune/gate_*``, so TensorBoard shows them), printed at ``verbose >= 1``, and kept
   on :attr:`FinetuneSetup.gate <sb3_finetune.recipes.FinetuneSetup.gate>`.
3. **Distillation** (:func:`distill_actor`): the actor is trained to act like the prior on the states of the
   probe (the prior's own rollouts on the target env) and, where one is given, the dataset's states. No
   observation is ever drawn from the observation space, so infinite bounds, Dict observations and
   ``VecNormalize`` all work: the prior reads raw observations, the actor the normalised ones it will see.
4. **The rest of the warm-up** (:func:`collect`) fills the buffer up to ``learning_starts`` with the distilled
   policy and the algorithm's exploration (uniform random actions where the gate stands the prior down); with the
   recipe's ``warmup_handover`` each episode turns to uniform random actions at a random step
   (:class:`HandOver`), so that the buffer also shows what lies past the point where the prior stalls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from torch import nn
from torch.utils.hooks import RemovableHandle

from sb3_finetune.decisions import say
from sb3_finetune.evaluation import RAW_OBSERVATIONS, info_success
from sb3_finetune.prior import Prior

# ---------------------------------------------------------------------------------------------- observations


def to_numpy(observations: Any) -> Any:
    """Tensors (or a dict of them) as numpy arrays."""
    if isinstance(observations, dict):
        return {key: to_numpy(value) for key, value in observations.items()}
    if isinstance(observations, th.Tensor):
        return observations.detach().cpu().numpy()
    return np.asarray(observations)


def to_tensor(observations: Any, device: th.device | str) -> Any:
    """Arrays (or a dict of them) as float32 tensors on ``device``."""
    if isinstance(observations, dict):
        return {key: to_tensor(value, device) for key, value in observations.items()}
    if isinstance(observations, th.Tensor):
        return observations.to(device=device, dtype=th.float32)
    return th.as_tensor(np.asarray(observations), dtype=th.float32, device=device)


def actor_inputs(model: BaseAlgorithm, raw: Any) -> Any:
    """Raw observations (as stored in the replay buffer) as the actor sees them: normalised under ``VecNormalize``."""
    normalizer = model.get_vec_normalize_env()
    if normalizer is None:
        return to_tensor(raw, model.device)
    return to_tensor(normalizer.normalize_obs(to_numpy(raw)), model.device)


def raw_observations(model: BaseAlgorithm, observations: Any) -> Any:
    """Observations as the policy receives them (normalised under ``VecNormalize``) back in the env's own scale.

    Under ``VecNormalize`` the env's own observations are taken where they are known and normalise to these: those
    :func:`~sb3_finetune.evaluation.model_policy` is acting on, or the training env's last
    (``model._last_original_obs``, which SB3's rollout acts on). Elsewhere the normalisation is undone, which is
    exact only where it did not clip (early in a run, when the statistics have seen few states, it clips most).
    """
    normalizer = model.get_vec_normalize_env()
    if normalizer is None:
        return observations
    for raw in (RAW_OBSERVATIONS.get(), getattr(model, "_last_original_obs", None)):
        if raw is not None and _normalise_to(normalizer, raw, observations):
            if isinstance(raw, dict):
                shaped = {key: np.asarray(raw[key]).reshape(observations[key].shape) for key in observations}
                return to_tensor(shaped, model.device)
            return to_tensor(np.asarray(raw).reshape(observations.shape), model.device)
    return to_tensor(normalizer.unnormalize_obs(to_numpy(observations)), model.device)


def _normalise_to(normalizer: Any, raw: Any, observations: Any) -> bool:
    """Whether the env's own observations ``raw`` are those that ``normalizer`` turned into ``observations``."""
    if isinstance(observations, dict) != isinstance(raw, dict):
        return False
    normalised = normalizer.normalize_obs(raw)
    pairs = (
        [(normalised[key], observations[key]) for key in observations if key in normalised]
        if isinstance(observations, dict)
        else [(normalised, observations)]
    )
    if isinstance(observations, dict) and len(pairs) != len(observations):
        return False
    for value, seen in pairs:
        seen = to_numpy(seen)
        value = np.asarray(value, dtype=np.float32)
        if value.size != seen.size or not np.allclose(value.reshape(seen.shape), seen, atol=1e-6):
            return False
    return True


def deterministic_actions(model: BaseAlgorithm, observations: Any, actor: th.nn.Module | None = None) -> th.Tensor:
    """The actor's deterministic actions (scaled to ``[-1, 1]``), with gradients.

    :param model: the model
    :param observations: the actor's inputs
    :param actor: an actor of the model's kind (``None``: the model's own)
    :return: the actions
    """
    actor = model.policy.actor if actor is None else actor
    if isinstance(model, SAC):
        return actor(observations, deterministic=True)
    return actor(observations)


# ---------------------------------------------------------------------------------------------- acting as the prior


class ActAsPrior:
    """While attached, the model's actor outputs exactly the prior's action (a forward hook on the actor).

    ``model.predict`` then gives the prior's env action bit for bit (SB3 unscales it as :meth:`Prior.predict`
    does), and SB3's own rollout collection acts as the prior. Attached by ``make_finetune`` so that the model is
    the prior at step 0; detached once the actor has been distilled.

    :param model: the model
    :param prior: the prior
    """

    def __init__(self, model: BaseAlgorithm, prior: Prior) -> None:
        self.model, self.prior = model, prior
        self._handle: RemovableHandle | None = model.policy.actor.register_forward_hook(self._replace)

    def _replace(self, _module: nn.Module, inputs: tuple, output: th.Tensor) -> th.Tensor:
        raw = raw_observations(self.model, inputs[0])
        return self.prior(raw).to(device=output.device, dtype=output.dtype).reshape(output.shape)

    @property
    def attached(self) -> bool:
        """Whether the actor still acts as the prior."""
        return self._handle is not None

    def detach(self) -> None:
        """Give the actor back its own output."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


# ---------------------------------------------------------------------------------------------- the probe


class _Relay(BaseCallback):
    """A callback that passes the rollout's events on to the run's callbacks (``inner``)."""

    def __init__(self, inner: BaseCallback) -> None:
        super().__init__()
        self.inner = inner

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """Give the run's callbacks the rollout's variables too."""
        self.inner.update_locals(locals_)

    def _on_rollout_start(self) -> None:
        self.inner.on_rollout_start()

    def _on_rollout_end(self) -> None:
        self.inner.on_rollout_end()


def step_rewards(callback: BaseCallback) -> np.ndarray:
    """The rewards of the env step just taken, one per env, as the env gave them (before ``VecNormalize``).

    :param callback: a callback inside a rollout (its ``locals`` hold the step's rewards)
    :return: ``(n_envs,)`` rewards
    """
    normalizer = callback.model.get_vec_normalize_env()
    rewards = normalizer.get_original_reward() if normalizer is not None else callback.locals["rewards"]
    return np.asarray(rewards).reshape(-1)


class EpisodeTally:
    """Every env's running return, length and success flag, and the episodes they add up to when they end.

    An episode succeeds if any of its steps' info dicts says so (:func:`~sb3_finetune.evaluation.info_success`);
    its flag is ``None`` where no step reported success at all.

    :param n_envs: number of envs
    """

    def __init__(self, n_envs: int) -> None:
        self._current: list[list[Any]] = [[0.0, 0, None] for _ in range(n_envs)]
        self.success_reported = False
        """Whether any step so far reported success."""

    def step(self, rewards: np.ndarray, dones: Sequence[bool], infos: Sequence[dict[str, Any]]) -> list[tuple]:
        """Add one env step of every env.

        :param rewards: the step's rewards, one per env
        :param dones: whether each env's episode ended
        :param infos: each env's info dict
        :return: ``(env index, return, length, success)`` of each episode that ended at this step
        """
        finished = []
        for index, (reward, done, info) in enumerate(zip(rewards, dones, infos, strict=True)):
            current = self._current[index]
            current[0] += float(reward)
            current[1] += 1
            flag = info_success(info)
            if flag is not None:
                self.success_reported = True
                current[2] = bool(current[2]) or flag
            if done:
                finished.append((index, *current))
                self._current[index] = [0.0, 0, None]
        return finished


class ProbeRecorder(_Relay):
    """Records every env's rewards and finished episodes during a probe, and passes each step on to ``inner``.

    :param inner: the callbacks of the run (they see every env step, the probe's included)
    :param n_envs: number of envs
    """

    def __init__(self, inner: BaseCallback, n_envs: int) -> None:
        super().__init__(inner)
        self.rewards: list[list[float]] = [[] for _ in range(n_envs)]
        self.episodes: list[list[tuple[float, int, bool | None]]] = [[] for _ in range(n_envs)]
        self._tally = EpisodeTally(n_envs)

    @property
    def success_reported(self) -> bool:
        """Whether any step of the probe reported success."""
        return self._tally.success_reported

    @property
    def ended(self) -> int:
        """Episodes finished so far, over all envs."""
        return sum(len(episodes) for episodes in self.episodes)

    def _on_step(self) -> bool:
        rewards = step_rewards(self)
        for index, reward in enumerate(rewards):
            self.rewards[index].append(float(reward))
        for index, episode_return, length, success in self._tally.step(
            rewards, self.locals["dones"], self.locals["infos"]
        ):
            self.episodes[index].append((episode_return, length, success))
        return self.inner.on_step()


def collect(model: BaseAlgorithm, callback: BaseCallback, env_steps: int, mode: str) -> None:
    """Collect about ``env_steps`` env steps (whole steps of every env) into the replay buffer, without training.

    :param model: the model
    :param callback: called at every step
    :param env_steps: env steps to collect (rounded up to a multiple of the number of envs)
    :param mode: ``"deterministic"`` (the model's own actions, no exploration noise: the prior while
        :class:`ActAsPrior` is attached), ``"policy"`` (the model's policy with its exploration), ``"random"``
        (uniform random actions, as SB3 during ``learning_starts``)
    """
    iterations = -(-env_steps // model.env.num_envs)
    if iterations < 1:
        return
    noise = None if mode == "deterministic" else model.action_noise
    learning_starts = model.num_timesteps + iterations * model.env.num_envs + 1 if mode == "random" else 0
    model.collect_rollouts(
        model.env,
        callback=callback,
        train_freq=TrainFreq(iterations, TrainFrequencyUnit.STEP),
        replay_buffer=model.replay_buffer,
        action_noise=noise,
        learning_starts=learning_starts,
        log_interval=None,
    )


def probe(
    model: BaseAlgorithm, callback: BaseCallback, mode: str, min_steps: int, enough: Any, max_steps: Any
) -> ProbeRecorder:
    """Collect at least ``min_steps`` env steps, then one step of every env at a time until ``enough``.

    The probe stops anyway before it would pass ``max_steps``.

    :param model: the model
    :param callback: the run's callbacks
    :param mode: see :func:`collect`
    :param min_steps: env steps collected first
    :param enough: ``recorder -> bool``: whether the probe may stop
    :param max_steps: the most env steps the probe may take, or ``recorder -> int``, asked after the first step of
        every env (which shows whether the env reports success)
    :return: the recorder, with every env's rewards and finished episodes
    """
    recorder = ProbeRecorder(callback, model.env.num_envs)
    recorder.init_callback(model)
    start = model.num_timesteps
    if callable(max_steps):
        collect(model, recorder, model.env.num_envs, mode)
        max_steps = max_steps(recorder)
    collect(model, recorder, min(min_steps, max_steps) - (model.num_timesteps - start), mode)
    while not enough(recorder) and model.num_timesteps - start + model.env.num_envs <= max_steps:
        collect(model, recorder, model.env.num_envs, mode)
    return recorder


def reseed(model: BaseAlgorithm, seed: int) -> None:
    """Reset the training env from ``seed`` (env ``i`` from ``seed + i``), as ``learn`` does at its start."""
    model.env.seed(seed)
    model._last_obs = model.env.reset()
    model._last_episode_starts = np.ones((model.env.num_envs,), dtype=bool)
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        model._last_original_obs = normalizer.get_original_obs()


# ---------------------------------------------------------------------------------------------- the hand-over


class HandOver(_Relay):
    """While collecting, each episode's actions pass from the policy to uniform random ones at a random step.

    Every episode of env ``i`` draws its hand-over step ``h`` uniformly from ``[0, horizon)``; its first ``h``
    actions are the policy's (with the algorithm's exploration), the rest uniform random in the action box, as SB3
    acts during ``learning_starts``. The replay buffer then holds the prior's trajectories *and* exploration that
    starts where the prior has taken the agent: past the point where it stalls (the failure frontier), which a
    buffer of the prior's own trajectories never shows (the roll-in of JSRL, Uchendu et al. 2023, with a random
    roll-out). Episodes already running when it starts count their steps from then.

    A forward hook on the actor replaces the rows of the envs past their hand-over; it acts only on the rollout's
    own calls: the run's callbacks (an evaluation among them) see the true actor.

    :param inner: the run's callbacks
    :param model: the model
    :param horizon: hand-over steps are drawn from ``[0, horizon)``
    :param seed: seed of the hand-over steps and of the random actions
    """

    def __init__(self, inner: BaseCallback, model: BaseAlgorithm, horizon: int, seed: int) -> None:
        super().__init__(inner)
        n_envs = model.env.num_envs
        self.horizon = max(int(horizon), 1)
        self.generator = np.random.default_rng(seed)
        self.steps = np.zeros(n_envs, dtype=np.int64)
        self.hand_over_at = self.generator.integers(0, self.horizon, n_envs)
        self.random_actions = 0
        self._acting = True
        self._handle: RemovableHandle | None = model.policy.actor.register_forward_hook(self._replace)

    def _replace(self, _module: nn.Module, _inputs: tuple, output: th.Tensor) -> th.Tensor:
        if not self._acting or output.shape[0] != len(self.steps):
            return output
        past = self.steps >= self.hand_over_at
        if not past.any():
            return output
        self.random_actions += int(past.sum())
        random = th.as_tensor(self.generator.uniform(-1.0, 1.0, output.shape), dtype=output.dtype)
        mask = th.as_tensor(past, device=output.device).reshape(-1, *([1] * (output.dim() - 1)))
        return th.where(mask, random.to(output.device), output)

    def _on_step(self) -> bool:
        self.steps += 1
        for index in np.flatnonzero(self.locals["dones"]):
            self.steps[index] = 0
            self.hand_over_at[index] = self.generator.integers(0, self.horizon)
        self._acting = False  # the run's callbacks (an evaluation) act with the true actor
        try:
            return self.inner.on_step()
        finally:
            self._acting = True

    def remove(self) -> None:
        """Take the hook off the actor."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def hand_over_horizon(recorder: ProbeRecorder) -> int:
    """The hand-over horizon from the prior's probe: its longest finished episode, else its steps per env."""
    lengths = [episode[1] for episodes in recorder.episodes for episode in episodes]
    if lengths:
        return max(lengths)
    return max(len(rewards) for rewards in recorder.rewards)


def collect_handing_over(
    model: BaseAlgorithm, callback: BaseCallback, env_steps: int, horizon: int, seed: int
) -> HandOver:
    """:func:`collect` with the policy (and its exploration), each episode handing over to random actions.

    :param model: the model
    :param callback: the run's callbacks, called at every step
    :param env_steps: env steps to collect
    :param horizon: see :class:`HandOver`
    :param seed: seed of the hand-over steps and of the random actions
    :return: the hand-over (its hook removed), with the count of random actions it took
    """
    hand_over = HandOver(callback, model, horizon, seed)
    hand_over.init_callback(model)
    try:
        collect(model, hand_over, env_steps, "policy")
    finally:
        hand_over.remove()
    return hand_over


def pretrain_critic(model: BaseAlgorithm, gradient_steps: int, hold_entropy: bool = False) -> bool:
    """``gradient_steps`` of the algorithm's own ``train()`` on the replay buffer, the actor held: no env step is taken.

    The critic (and its target, and SAC's entropy coefficient where it is learned) trains as in any gradient step,
    on the warm-up's transitions and with the actor's (the distilled prior's) next actions, so that it has learned the
    prior's values before the actor first moves. The actor optimizer's ``step`` does nothing meanwhile: the actor's
    parameters and its optimizer's state stay as they are, and so does TD3's and DDPG's target actor (their Polyak
    step towards the unchanged actor, ``(1 - tau) x + tau x``, would only round it away from the actor).

    :param model: the model, inside its ``learn`` (or ``_setup_learn``), with transitions in its replay buffer
    :param gradient_steps: gradient steps
    :param hold_entropy: hold SAC's learned entropy coefficient too (its optimizer's ``step`` does nothing)
    :return: whether an entropy coefficient was held (``hold_entropy`` and one learned)
    """
    held = [model.actor.optimizer]
    if hold_entropy and getattr(model, "ent_coef_optimizer", None) is not None:
        held.append(model.ent_coef_optimizer)
    actor_target: th.nn.Module | None = getattr(model, "actor_target", None)
    held_target = None if actor_target is None else {k: v.clone() for k, v in actor_target.state_dict().items()}
    for optimizer in held:
        optimizer.step = _no_step  # type: ignore[method-assign]  (an instance attribute: the class's is untouched)
    try:
        model.train(gradient_steps=gradient_steps, batch_size=model.batch_size)
    finally:
        for optimizer in held:
            del optimizer.step
        if actor_target is not None and held_target is not None:
            actor_target.load_state_dict(held_target)
    return len(held) > 1


def _no_step(*_: object, **__: object) -> None:
    return None


# ---------------------------------------------------------------------------------------------- the gate


@dataclass
class GateDecision:
    """The trust gate's decision and the figures it rests on.

    :param trusted: whether the recipe keeps the prior (holds and pulls the actor towards it, lets it fill the
        buffer)
    :param criterion: ``"success"``, ``"return threshold"``, ``"random probe"`` or ``"random probe, per step"``
    :param score: the prior's figure: its success rate, the fraction of episodes reaching the threshold, or the
        fraction of paired episodes (or envs) where it beat the random probe
    :param trust_gate: the score needed to trust it
    :param episodes: the prior's finished probe episodes
    :param prior_steps: env steps of the prior's probe
    :param prior_mean_return: mean return of its finished episodes (``None`` if none finished)
    :param reference_steps: env steps of the random probe (0 when there was none)
    :param reference_mean_return: mean return of the random probe's finished episodes, or the threshold
    :param pairs: the number of comparisons the score is over
    """

    trusted: bool
    criterion: str
    score: float
    trust_gate: float
    episodes: int
    prior_steps: int
    prior_mean_return: float | None
    reference_steps: int = 0
    reference_mean_return: float | None = None
    pairs: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The decision as a plain dict."""
        return asdict(self)

    def describe(self) -> str:
        """One line for people."""
        verdict = "trusted" if self.trusted else "NOT trusted: the recipe stands down"
        mean = "n/a" if self.prior_mean_return is None else f"{self.prior_mean_return:.2f}"
        reference = "" if self.reference_mean_return is None else f", reference {self.reference_mean_return:.2f}"
        return (
            f"trust gate ({self.criterion}): prior scored {self.score:.2f} against {self.trust_gate:.2f} over "
            f"{self.pairs} comparisons ({self.episodes} episodes, {self.prior_steps} steps, mean return {mean}"
            f"{reference}): {verdict}"
        )


def _mean_return(recorder: ProbeRecorder) -> float | None:
    returns = [episode[0] for episodes in recorder.episodes for episode in episodes]
    return float(np.mean(returns)) if returns else None


GATE_CRITERIA = ("auto", "return")
"""The recipe's ``gate_criterion``: the env's success where reported (``"auto"``), or never (``"return"``)."""


def _hits(recorder: ProbeRecorder, gate_return: float | None, by_success: bool = True) -> list[bool] | None:
    """Per finished probe episode, whether it succeeded (by the env's success, else by ``gate_return``).

    ``None`` where neither judges (the gate then compares with a random probe). With ``by_success`` off the env's
    success is not read (the recipe's ``gate_criterion="return"``).
    """
    finished = [episode for episodes in recorder.episodes for episode in episodes]
    if by_success and recorder.success_reported:
        return [bool(episode[2]) for episode in finished]
    if gate_return is not None:
        return [episode[0] >= gate_return for episode in finished]
    return None


def gate_settled(
    recorder: ProbeRecorder,
    trust_gate: float,
    gate_return: float | None,
    confidence: float,
    margin: float = 0.0,
    by_success: bool = True,
) -> bool:
    """Whether the probe's episodes decide the gate at ``confidence``, where success or a return threshold judges.

    Exact one-sided binomial tests of the episodes' success (or threshold) rate: settled once the chance of so many
    successes at a rate of ``trust_gate - margin``, or of so few at a rate of ``trust_gate + margin``, is at most
    ``1 - confidence``. With ``margin`` 0 that is a test against ``trust_gate`` either way, which a rate near it may
    never settle; with a margin, a rate inside the zone settles too (either decision is then acceptable). Where
    neither success nor a threshold judges (the random comparison), ``True``.

    :param recorder: the prior's probe
    :param trust_gate: the rate the gate compares with
    :param gate_return: the user's return threshold
    :param confidence: the tests' level
    :param margin: half the width of the zone around ``trust_gate`` (the zone is cut to [0, 1])
    :param by_success: judge by the env's success where it reports one (else by ``gate_return`` or the random probe)
    :return: whether the probe may stop
    """
    judged = _hits(recorder, gate_return, by_success)
    if judged is None:
        return True
    hits, n = sum(judged), len(judged)

    def chances(rate: float) -> list[float]:
        return [math.comb(n, k) * rate**k * (1.0 - rate) ** (n - k) for k in range(n + 1)]

    low, high = max(trust_gate - margin, 0.0), min(trust_gate + margin, 1.0)
    at_least = sum(chances(low)[hits:])  # so many successes, were the rate at the zone's low end
    at_most = sum(chances(high)[: hits + 1])  # so few, were it at the zone's high end
    return min(at_least, at_most) <= 1.0 - confidence


def decide_without_reference(
    recorder: ProbeRecorder, trust_gate: float, gate_return: float | None, steps: int, by_success: bool = True
) -> GateDecision | None:
    """The decision where the env reports success or the user gave a return threshold (``None`` otherwise).

    :param recorder: the prior's probe
    :param trust_gate: score needed
    :param gate_return: the user's return threshold
    :param steps: env steps of the probe
    :param by_success: judge by the env's success where it reports one (else by ``gate_return`` or the random probe)
    :return: the decision, or ``None`` when a random probe is needed
    """
    finished = [episode for episodes in recorder.episodes for episode in episodes]
    if not finished:
        return None
    mean = _mean_return(recorder)
    judged = _hits(recorder, gate_return, by_success)
    if judged is None:
        return None
    score = float(np.mean(judged))
    if by_success and recorder.success_reported:
        return GateDecision(
            score >= trust_gate, "success", score, trust_gate, len(finished), steps, mean, pairs=len(finished)
        )
    return GateDecision(
        score >= trust_gate,
        "return threshold",
        score,
        trust_gate,
        len(finished),
        steps,
        mean,
        0,
        gate_return,
        len(finished),
    )


def decide_against_random(
    prior: ProbeRecorder, random: ProbeRecorder, trust_gate: float, prior_steps: int, random_steps: int
) -> GateDecision:
    """The decision by paired comparison with the random probe from the same starts (see the module docstring).

    :param prior: the prior's probe
    :param random: the random probe
    :param trust_gate: score needed
    :param prior_steps: env steps of the prior's probe
    :param random_steps: env steps of the random probe
    :return: the decision
    """
    wins: list[bool] = []
    per_step = False
    for mine, theirs, my_rewards, their_rewards in zip(
        prior.episodes, random.episodes, prior.rewards, random.rewards, strict=True
    ):
        pairs = min(len(mine), len(theirs))
        if pairs:
            wins += [mine[k][0] > theirs[k][0] for k in range(pairs)]
        else:
            common = min(len(my_rewards), len(their_rewards))
            if common:
                per_step = True
                wins.append(sum(my_rewards[:common]) > sum(their_rewards[:common]))
    score = float(np.mean(wins)) if wins else 0.0
    finished = sum(len(episodes) for episodes in prior.episodes)
    criterion = "random probe, per step" if per_step else "random probe"
    return GateDecision(
        score >= trust_gate,
        criterion,
        score,
        trust_gate,
        finished,
        prior_steps,
        _mean_return(prior),
        random_steps,
        _mean_return(random),
        len(wins),
    )


def report(model: BaseAlgorithm, decision: GateDecision) -> None:
    """Log the decision through SB3's logger (so TensorBoard has it) and ``sb3_finetune``'s; print it at verbose 1."""
    record = model.logger.record
    record("finetune/gate_trusted", int(decision.trusted))
    record("finetune/gate_score", decision.score)
    record("finetune/gate_threshold", decision.trust_gate)
    record("finetune/gate_episodes", decision.episodes)
    record("finetune/gate_criterion", decision.criterion, exclude=("csv",))
    if decision.prior_mean_return is not None:
        record("finetune/gate_prior_return", decision.prior_mean_return)
    if decision.reference_mean_return is not None:
        record("finetune/gate_reference_return", decision.reference_mean_return)
    model.logger.dump(step=model.num_timesteps)
    say(decision.describe(), warn=not decision.trusted)
    if model.verbose >= 1:
        print(decision.describe())


# ---------------------------------------------------------------------------------------------- distillation


def buffer_observations(model: BaseAlgorithm, start: int, stop: int) -> Any:
    """The raw observations stored in the replay buffer at positions ``[start, stop)`` of every env, flattened."""
    stored = model.replay_buffer.observations
    if stop <= start:  # the buffer wrapped around: everything in it is the warm-up's
        start, stop = 0, model.replay_buffer.buffer_size
    if isinstance(stored, dict):
        return {key: value[start:stop].reshape(-1, *value.shape[2:]) for key, value in stored.items()}
    return stored[start:stop].reshape(-1, *stored.shape[2:])


def dataset_observations(observations: np.ndarray, space: gym.Space, input_keys: Sequence[str] | None) -> Any:
    """A dataset's flat observations in the env's observation layout (Dict: split by ``input_keys``).

    Keys the prior does not read are filled: ``achieved_goal`` with the observation where the shapes match (a goal
    env whose observation is the position), zeros otherwise (the actor's extractor reads only the prior's keys).

    :param observations: ``(n, d)``
    :param space: the env's observation space
    :param input_keys: the keys concatenated into the dataset's observations
    :return: observations as the replay buffer stores them
    """
    if not isinstance(space, gym.spaces.Dict):
        return observations.reshape(len(observations), *space.shape)
    split: dict[str, np.ndarray] = {}
    offset = 0
    for key in input_keys or ():
        size = int(np.prod(space[key].shape))
        split[key] = observations[:, offset : offset + size].reshape(len(observations), *space[key].shape)
        offset += size
    for key, sub in space.spaces.items():
        if key not in split:
            same = key == "achieved_goal" and "observation" in split and split["observation"].shape[1:] == sub.shape
            split[key] = split["observation"].copy() if same else np.zeros((len(observations), *sub.shape), np.float32)
    return split


def _count(observations: Any) -> int:
    if isinstance(observations, dict):
        return len(next(iter(observations.values())))
    return len(observations)


def _take(observations: Any, index: np.ndarray) -> Any:
    if isinstance(observations, dict):
        return {key: value[index] for key, value in observations.items()}
    return observations[index]


def _concat(parts: list[Any]) -> Any:
    parts = [part for part in parts if part is not None and _count(part)]
    if isinstance(parts[0], dict):
        return {key: np.concatenate([np.asarray(part[key], dtype=np.float32) for part in parts]) for key in parts[0]}
    return np.concatenate([np.asarray(part, dtype=np.float32) for part in parts])


def _spread(pool: Any) -> Any:
    """Each observation dimension's standard deviation over the pool (per key for a dict)."""
    if isinstance(pool, dict):
        return {key: value.std(axis=0) for key, value in pool.items()}
    return pool.std(axis=0)


def _jittered(raw: Any, spread: Any, scale: float, generator: np.random.Generator) -> Any:
    """The second half of a minibatch moved by Gaussian noise of ``scale`` times each dimension's spread."""
    if isinstance(raw, dict):
        return {key: _jittered(value, spread[key], scale, generator) for key, value in raw.items()}
    raw = np.array(raw, dtype=np.float32)
    half = len(raw) // 2
    raw[half:] += (generator.standard_normal(raw[half:].shape) * scale * spread).astype(np.float32)
    return raw


def distill_actor(
    model: BaseAlgorithm,
    prior: Prior,
    observations: Any | list[Any],
    steps: int = 1_000,
    batch_size: int = 256,
    seed: int = 0,
    sac_std: float | None = 0.3,
    jitter: float = 0.3,
) -> float:
    """Train the model's actor to act like ``prior`` on the given raw observations (real states).

    A few episodes of states leave gaps between them that other starts fall into: half of each minibatch is moved
    by Gaussian noise of ``jitter`` standard deviations of the pool (per dimension), so the actor matches the prior
    around the states it visited too (on Pendulum-v1, without it, the distilled actor fell far below the prior on
    new starts).
    Frozen extractor layers stay as they are; targets (TD3, DDPG) are set equal to the actor afterwards.

    :param model: the model
    :param prior: the prior
    :param observations: raw observations (array, or dict of arrays), or a list of such sets to pool
    :param steps: Adam steps
    :param batch_size: observations per step
    :param seed: seed of the minibatch draws
    :param sac_std: for SAC, the standard deviation (before tanh) the actor starts with; ``None`` leaves it
    :param jitter: noise on half of each minibatch, in standard deviations of the pool's states (0: none)
    :return: the final loss
    """
    pool = _concat(observations if isinstance(observations, list) else [observations])
    size = _count(pool)
    if size == 0:
        raise ValueError("distillation needs at least one observation")
    spread = _spread(pool)
    actor = model.policy.actor
    parameters = [p for p in actor.parameters() if p.requires_grad]
    optimizer = th.optim.Adam(parameters, lr=1e-3)
    generator = np.random.default_rng(seed)
    loss = th.zeros(())
    model.policy.set_training_mode(True)
    for _ in range(steps):
        raw = _take(pool, generator.integers(0, size, min(batch_size, size)))
        if jitter > 0:
            raw = _jittered(raw, spread, jitter, generator)
        inputs = actor_inputs(model, raw)
        target = prior(raw).to(model.device)
        loss = nn.functional.mse_loss(deterministic_actions(model, inputs), target)
        if isinstance(model, SAC) and sac_std is not None:
            # SAC also samples around the mean: start it with a modest spread instead of std ~1 before tanh.
            _, log_std, _ = actor.get_action_dist_params(inputs)
            loss = loss + nn.functional.mse_loss(log_std, th.full_like(log_std, float(np.log(sac_std))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.policy.set_training_mode(False)
    if getattr(model.policy, "actor_target", None) is not None:
        model.policy.actor_target.load_state_dict(actor.state_dict())
    return float(loss.detach())
