"""Fine-tuning recipes that keep the pretrained skill when RL starts, and the ``finetune`` entry point.

The trap (Luo et al. 2023; SB3 issue #543): a pretrained actor, a random critic and SB3's uniform-random
``learning_starts`` actions together destroy the pretrained skill in the first thousand steps. The recipe's
parts, each optional:

1. **features**: the pretrained network runs in every network as :class:`PretrainedFeaturesExtractor`, frozen
   or not, its output or a hidden layer as the features;
2. **actor start** (``actor_init``): the whole actor (extractor and head) is distilled from the pretrained
   network, so the policy at step 0 *is* the pretrained policy (the jumpstart), not only its features;
3. **warm-up** (``pretrained_warmup``): during ``learning_starts`` the replay buffer is filled by that policy
   (with the algorithm's own exploration) instead of SB3's uniform random actions (WSRL, Zhou et al. 2025);
4. **critic warm-up** (``critic_warmup``): for that many env steps after ``learning_starts`` the actor is held
   still while the critic learns the pretrained policy's values;
5. **fading pull** (``bc_weight``): a behaviour-cloning term towards the pretrained policy added to the actor's
   gradient, its weight fading linearly to 0 over ``bc_fade`` of the budget (TD3+BC, QDagger), only on states
   where the critic prefers the pretrained action if ``bc_q_filter`` (Nair et al. 2018; off by default);
5b. **trust gate** (``trust_gate``): the warm-up starts with a short probe of the pretrained policy on the target
   task; if it rarely succeeds there (a moved goal), 2.-5. are switched off for the rest of the run, since
   holding and pulling the actor towards a wrong policy, and a buffer of its trajectories only, slow RL down;
6. **schedules**: unfreezing and a lower learning rate for the pretrained layers (see :mod:`.callbacks`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from torch import nn

from sb3_finetune.adapter import pretrained_policy_kwargs
from sb3_finetune.callbacks import OptimizerStepHookCallback, PretrainedLearningRateCallback, UnfreezeCallback
from sb3_finetune.networks import LinearStack, infer_linear_layers
from sb3_finetune.weights import WeightsSource, read_weights

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ddpg": DDPG, "td3": TD3, "sac": SAC}


@dataclass(frozen=True)
class Recipe:
    """How to fine-tune: which parts of the recipe are on (see the module docstring).

    :param features_layer: ``None``: the pretrained network's output is the features (the design note);
        ``k``: the activations after its ``k``-th layer
    :param freeze: freeze the pretrained layers (``True``, ``False`` or the first ``k``)
    :param actor_init: distil the pretrained network into the whole actor before RL
    :param distill_steps: gradient steps of that distillation
    :param pretrained_warmup: let the (distilled) policy fill the replay buffer from step 0 instead of
        ``learning_starts`` uniform random actions
    :param critic_warmup: env steps during which the actor is held still while the critic trains
    :param bc_weight: initial weight of the pull towards the pretrained policy (0: off)
    :param bc_fade: fraction of the budget over which that weight fades to 0
    :param bc_q_filter: pull only on states where the critic values the pretrained action above the actor's
        (the Q-filter of Nair et al. 2018), so that a pretrained policy that is wrong for the target task stops
        pulling once the critic knows better
    :param trust_gate: the pretrained policy's success rate, over the episodes of its first ``gate_steps`` warm-up
        steps on the target task, below which it is not trusted: the rest of the warm-up uses uniform random
        actions, as SB3 does, and the actor is neither held nor pulled (``None``: always trusted)
    :param gate_steps: env steps of that probe (they count towards the budget, like every env step)
    :param unfreeze_at: fraction of the budget at which frozen layers are unfrozen (``None``: never)
    :param unfreeze_interval: fraction of the budget between layers (``None``: all at once)
    :param pretrained_lr_scale: learning rate of the pretrained layers relative to the head (``None``: same)
    """

    features_layer: int | None = 1
    freeze: bool | int = True
    actor_init: bool = True
    distill_steps: int = 1_000
    pretrained_warmup: bool = True
    critic_warmup: int = 1_000
    bc_weight: float = 0.0
    bc_fade: float = 0.2
    bc_q_filter: bool = False
    trust_gate: float | None = 0.5
    gate_steps: int = 300
    unfreeze_at: float | None = None
    unfreeze_interval: float | None = None
    pretrained_lr_scale: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The recipe as a plain dict (for logs and result files)."""
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    # Hidden features, frozen; the actor starts as the pretrained policy, which fills the buffer while the
    # critic warms up, then a pull towards it fades over half the budget; all of it only if the pretrained
    # policy passes the trust gate. Chosen from benchmarks/recipe_ablation.py (see the README): there the
    # Q-filter on the pull let SAC dip to 0.48 success in one seed of three, the unfiltered pull never dipped.
    "default": Recipe(bc_weight=1.0, bc_fade=0.5),
    # Frozen hidden features only: the rest is plain SB3 (random warm-up, random head).
    "frozen": Recipe(actor_init=False, pretrained_warmup=False, critic_warmup=0),
    # The design note's transfer: the network's output as features, trained from the start, nothing else.
    "naive": Recipe(features_layer=None, freeze=False, actor_init=False, pretrained_warmup=False, critic_warmup=0),
}


def get_recipe(recipe: str | Recipe, **overrides: Any) -> Recipe:
    """A named recipe (``"default"``, ``"frozen"``, ``"naive"``) or a :class:`Recipe`, with fields overridden.

    :param recipe: name or instance
    :param overrides: fields to change (``None`` is a value too: ``features_layer=None`` means the output)
    :return: the recipe
    """
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
        recipe = RECIPES[recipe]
    changes = dict(overrides)
    unknown = set(changes) - set(asdict(recipe))
    if unknown:
        raise ValueError(f"unknown recipe field(s) {sorted(unknown)}")
    return replace(recipe, **changes)


# ---------------------------------------------------------------------------------------------- the policy to keep


def _flat_observations(observations: Any) -> th.Tensor:
    """Observations as the pretrained network sees them (goal envs: ``[observation, desired_goal]``)."""
    if isinstance(observations, dict):
        return th.cat([observations["observation"], observations["desired_goal"]], dim=-1).float()
    return observations.flatten(1).float()


class PretrainedPolicy(nn.Module):
    """The pretrained network used as a policy: its output clipped to ``[-1, 1]`` (SB3's scaled action space).

    :param network: the pretrained network (a frozen copy is kept)
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = copy.deepcopy(network).requires_grad_(False).eval()

    def forward(self, observations: Any) -> th.Tensor:
        """Actions for a batch of observations (tensor, or dict of tensors for goal envs)."""
        with th.no_grad():
            return self.network(_flat_observations(observations)).clamp(-1.0, 1.0)


def pretrained_network(weights: WeightsSource) -> nn.Module:
    """The pretrained network as a module (a Linear stack rebuilt from the weights' shapes, or the module itself)."""
    if isinstance(weights, nn.Module):
        return weights
    state = read_weights(weights)
    network = LinearStack(infer_linear_layers(state))
    network.load_state_dict(state)
    return network


def deterministic_actions(model: BaseAlgorithm, observations: Any) -> th.Tensor:
    """The actor's deterministic actions (scaled to ``[-1, 1]``), with gradients."""
    actor = model.policy.actor
    if isinstance(model, SAC):
        return actor(observations, deterministic=True)
    return actor(observations)


def _sample_observations(model: BaseAlgorithm, count: int, generator: np.random.Generator) -> Any:
    """Observations drawn uniformly from the observation space, as SB3 tensors."""
    space = model.observation_space
    if isinstance(space, gym.spaces.Dict):
        sampled = {key: generator.uniform(sub.low, sub.high, (count, *sub.shape)) for key, sub in space.items()}
        if "achieved_goal" in sampled and "observation" in sampled:
            sampled["achieved_goal"] = sampled["observation"]
        return {key: th.as_tensor(value, dtype=th.float32, device=model.device) for key, value in sampled.items()}
    values = generator.uniform(space.low, space.high, (count, *space.shape))
    return th.as_tensor(values, dtype=th.float32, device=model.device)


def distill_actor(
    model: BaseAlgorithm,
    teacher: PretrainedPolicy,
    steps: int = 1_000,
    batch_size: int = 256,
    seed: int = 0,
    sac_std: float | None = 0.3,
) -> float:
    """Train the model's actor to act like ``teacher`` on observations drawn from the observation space.

    Frozen extractor layers stay as they are; targets (TD3, DDPG) are set equal to the actor afterwards.

    :param model: the model
    :param teacher: the pretrained policy
    :param steps: Adam steps
    :param batch_size: observations per step
    :param seed: seed of the observation draws
    :param sac_std: for SAC, the standard deviation (before tanh) the actor starts with; ``None`` leaves it
    :return: the final loss
    """
    actor = model.policy.actor
    parameters = [p for p in actor.parameters() if p.requires_grad]
    optimizer = th.optim.Adam(parameters, lr=1e-3)
    generator = np.random.default_rng(seed)
    loss = th.zeros(())
    model.policy.set_training_mode(True)
    for _ in range(steps):
        observations = _sample_observations(model, batch_size, generator)
        loss = nn.functional.mse_loss(deterministic_actions(model, observations), teacher(observations))
        if isinstance(model, SAC) and sac_std is not None:
            # SAC also samples around the mean: start it with a modest spread instead of std ~1 before tanh.
            _, log_std, _ = actor.get_action_dist_params(observations)
            loss = loss + nn.functional.mse_loss(log_std, th.full_like(log_std, float(np.log(sac_std))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.policy.set_training_mode(False)
    if getattr(model.policy, "actor_target", None) is not None:
        model.policy.actor_target.load_state_dict(actor.state_dict())
    return float(loss.detach())


class ActorUpdateHook(OptimizerStepHookCallback):
    """Holds the actor still for ``hold_steps`` env steps and adds a fading pull towards the pretrained policy.

    Both act on the actor optimizer's ``step()`` (SB3's ``train()`` has no other entry point): the hold reverts
    the step; the pull adds ``weight * d MSE(actor(s), teacher(s)) / d theta`` to the gradient, on observations
    from the replay buffer, with ``weight`` falling linearly from ``bc_weight`` to 0 at ``bc_until`` env steps.
    With ``q_filter`` the pull acts only on states where the critic prefers the teacher's action.

    :param teacher: the pretrained policy
    :param hold_steps: env steps during which actor updates are undone
    :param bc_weight: initial weight of the pull (0: off)
    :param bc_until: env step at which the pull reaches 0
    :param batch_size: observations per pull
    :param q_filter: pull only where the critic values the teacher's action above the actor's
    """

    def __init__(
        self,
        teacher: PretrainedPolicy,
        hold_steps: int,
        bc_weight: float,
        bc_until: int,
        batch_size: int = 256,
        q_filter: bool = False,
    ) -> None:
        super().__init__(("actor",))
        self.teacher = teacher
        self.hold_steps, self.bc_weight, self.bc_until, self.batch_size = hold_steps, bc_weight, bc_until, batch_size
        self.q_filter = q_filter
        self._saved: list[th.Tensor] | None = None

    def weight(self) -> float:
        """The pull's weight now."""
        if self.bc_weight <= 0.0 or self.num_timesteps >= self.bc_until:
            return 0.0
        return self.bc_weight * (1.0 - self.num_timesteps / self.bc_until)

    def _pre_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if self.num_timesteps < self.hold_steps:
            self._saved = [p.detach().clone() for p in parameters]
            return
        weight = self.weight()
        if weight > 0.0 and self.model.replay_buffer.size() > 0:
            observations = self.model.replay_buffer.sample(self.batch_size).observations
            student = deterministic_actions(self.model, observations)
            teacher = self.teacher(observations)
            per_state = ((student - teacher) ** 2).mean(dim=1)
            if self.q_filter:
                with th.no_grad():
                    critic = self.model.policy.critic
                    better = (
                        th.cat(critic(observations, teacher), dim=1).min(dim=1).values
                        > th.cat(critic(observations, student.detach()), dim=1).min(dim=1).values
                    )
                per_state = per_state * better.float()
            (weight * per_state.mean()).backward()  # adds to the RL gradient already in .grad

    def _post_step(self, optimizer: th.optim.Optimizer, *_: object) -> None:
        if self._saved is not None:
            with th.no_grad():
                parameters = [p for group in optimizer.param_groups for p in group["params"]]
                for parameter, saved in zip(parameters, self._saved, strict=True):
                    parameter.copy_(saved)
            self._saved = None


# ---------------------------------------------------------------------------------------------- the entry point


@dataclass
class FinetuneSetup:
    """A model ready to ``learn``, with the callbacks that carry out its recipe.

    :param model: the model
    :param callbacks: the recipe's callbacks
    :param recipe: the recipe (``None`` when training from scratch)
    :param warmup_steps: env steps collected by the model's own (pretrained) policy before any gradient step
    :param trusted: see the attribute
    """

    model: BaseAlgorithm
    callbacks: list[BaseCallback] = field(default_factory=list)
    recipe: Recipe | None = None
    warmup_steps: int = 0
    trusted: bool | None = None
    """Whether the trust gate kept the pretrained policy (``None`` before the warm-up, or without a gate)."""

    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        progress_bar: bool = False,
        **kwargs: Any,
    ) -> BaseAlgorithm:
        """``model.learn`` with the recipe's callbacks (and yours), after the pretrained warm-up if any.

        :param total_timesteps: env steps, warm-up included
        :param callback: extra callbacks
        :param progress_bar: show SB3's progress bar
        :param kwargs: passed to ``model.learn``
        :return: the model
        """
        extra = [] if callback is None else (callback if isinstance(callback, list) else [callback])
        callbacks = CallbackList([*self.callbacks, *extra])
        model = self.model
        warmup = min(self.warmup_steps, total_timesteps) if model.num_timesteps == 0 else 0
        if warmup > 0:
            gate = self.recipe.trust_gate if self.recipe is not None else None
            probe = min(self.recipe.gate_steps, warmup) if gate is not None and self.recipe is not None else warmup
            self._collect(probe, callbacks, with_policy=True, reset=True)
            if gate is not None:
                outcomes = list(model.ep_success_buffer)
                self.trusted = bool(outcomes) and float(np.mean(outcomes)) >= gate
                if not self.trusted:
                    for hook in self.callbacks:
                        if isinstance(hook, ActorUpdateHook):
                            hook.hold_steps, hook.bc_weight = 0, 0.0
            if warmup > probe:
                self._collect(warmup - probe, callbacks, with_policy=self.trusted is not False, reset=False)
            kwargs["reset_num_timesteps"] = False
        return model.learn(total_timesteps - warmup, callback=callbacks, progress_bar=progress_bar, **kwargs)

    def _collect(self, steps: int, callbacks: CallbackList, with_policy: bool, reset: bool) -> None:
        """Collect ``steps`` env steps into the replay buffer without training.

        With ``with_policy`` the model's own policy acts (the distilled pretrained one, with the algorithm's
        exploration): SB3's collection with ``learning_starts=0``. Otherwise uniform random actions, as SB3 does
        during ``learning_starts``.
        """
        model = self.model
        _, callback = model._setup_learn(steps, callbacks, reset_num_timesteps=reset)
        callback.on_training_start(locals(), globals())
        model.collect_rollouts(
            model.env,
            callback=callback,
            train_freq=TrainFreq(steps, TrainFrequencyUnit.STEP),
            replay_buffer=model.replay_buffer,
            action_noise=model.action_noise,
            learning_starts=0 if with_policy else model.num_timesteps + steps,
            log_interval=None,
        )
        callback.on_training_end()


def default_hyperparams(algo: str, env: gym.Env | Any) -> dict[str, Any]:
    """Settings shared by fine-tuning and training from scratch (the comparison's common ground).

    TD3 and DDPG get Gaussian exploration noise (sigma 0.1, as in the RL Zoo), which SB3 leaves off by default.
    SAC gets a fixed entropy coefficient of 0.01: with SB3's automatic one (starting at 1.0) and a reward of minus
    the distance, hovering near the goal earns more entropy bonus than arriving (see README, "SAC").

    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param env: the env (for the action size)
    :return: algorithm arguments
    """
    params: dict[str, Any] = {"learning_starts": 1_000, "policy_kwargs": {"net_arch": [64, 64]}}
    if algo == "sac":
        params["ent_coef"] = 0.01
    if algo in ("td3", "ddpg"):
        size = int(np.prod(env.action_space.shape))
        params["action_noise"] = NormalActionNoise(np.zeros(size), 0.1 * np.ones(size))
    return params


def make_finetune(
    algo: str,
    env: gym.Env | Any,
    pretrained: WeightsSource | None,
    total_timesteps: int,
    recipe: str | Recipe = "default",
    hyperparams: dict[str, Any] | None = None,
    seed: int | None = None,
    device: str = "cpu",
    verbose: int = 0,
    tensorboard_log: str | None = None,
) -> FinetuneSetup:
    """Build a model of ``algo`` that starts from ``pretrained`` with ``recipe`` (or from scratch).

    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param env: a Gymnasium env or SB3 VecEnv
    :param pretrained: the pretrained weights; ``None`` trains from scratch with the same settings
    :param total_timesteps: the budget (fractions in the recipe refer to it)
    :param recipe: a name from :data:`RECIPES` or a :class:`Recipe`
    :param hyperparams: algorithm arguments, over :func:`default_hyperparams` (``policy_kwargs`` merged)
    :param seed: seed of the model and of the distillation
    :param device: torch device
    :param verbose: SB3 verbosity
    :param tensorboard_log: SB3's tensorboard folder
    :return: the model and the recipe's callbacks
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(ALGORITHMS)}")
    params = default_hyperparams(algo, env)
    user = dict(hyperparams or {})
    policy_kwargs = {**params.pop("policy_kwargs"), **user.pop("policy_kwargs", {})}
    params.update(user)
    recipe = get_recipe(recipe)
    callbacks: list[BaseCallback] = []
    if pretrained is not None:
        policy_kwargs = pretrained_policy_kwargs(
            pretrained, features_layer=recipe.features_layer, freeze=recipe.freeze, **policy_kwargs
        )
    is_dict = isinstance(getattr(env, "observation_space", None), gym.spaces.Dict)
    policy = "MultiInputPolicy" if is_dict else "MlpPolicy"
    model = ALGORITHMS[algo](
        policy,
        env,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device=device,
        verbose=verbose,
        tensorboard_log=tensorboard_log,
        **params,
    )
    if pretrained is None:
        return FinetuneSetup(model, callbacks, None)
    teacher = PretrainedPolicy(pretrained_network(pretrained))
    if recipe.actor_init:
        distill_actor(model, teacher, recipe.distill_steps, seed=seed or 0)
    warmup = model.learning_starts if recipe.pretrained_warmup else 0
    if recipe.critic_warmup > 0 or recipe.bc_weight > 0:
        bc_until = int(recipe.bc_fade * total_timesteps)
        # The actor is held while the critic trains: from the first gradient step, after the warm-up.
        hold = model.learning_starts + recipe.critic_warmup
        callbacks.append(ActorUpdateHook(teacher, hold, recipe.bc_weight, bc_until, q_filter=recipe.bc_q_filter))
    if recipe.unfreeze_at is not None:
        interval = None if recipe.unfreeze_interval is None else max(1, int(recipe.unfreeze_interval * total_timesteps))
        callbacks.append(UnfreezeCallback(int(recipe.unfreeze_at * total_timesteps), interval))
    if recipe.pretrained_lr_scale is not None:
        callbacks.append(PretrainedLearningRateCallback(recipe.pretrained_lr_scale))
    return FinetuneSetup(model, callbacks, recipe, warmup)


def finetune(
    algo: str,
    env: gym.Env | Any,
    pretrained: WeightsSource | None,
    total_timesteps: int,
    recipe: str | Recipe = "default",
    hyperparams: dict[str, Any] | None = None,
    seed: int | None = None,
    callback: BaseCallback | list[BaseCallback] | None = None,
    device: str = "cpu",
    verbose: int = 0,
    progress_bar: bool = False,
) -> BaseAlgorithm:
    """Fine-tune ``pretrained`` on ``env`` with ``algo`` for ``total_timesteps`` env steps (or train from scratch).

    :param algo: ``"ddpg"``, ``"td3"`` or ``"sac"``
    :param env: a Gymnasium env or SB3 VecEnv
    :param pretrained: the pretrained weights; ``None`` trains from scratch with the same settings
    :param total_timesteps: env steps
    :param recipe: a name from :data:`RECIPES` or a :class:`Recipe`
    :param hyperparams: algorithm arguments
    :param seed: seed
    :param callback: extra SB3 callbacks
    :param device: torch device
    :param verbose: SB3 verbosity
    :param progress_bar: show SB3's progress bar
    :return: the trained model
    """
    setup = make_finetune(algo, env, pretrained, total_timesteps, recipe, hyperparams, seed, device, verbose)
    return setup.learn(total_timesteps, callback=callback, progress_bar=progress_bar)
