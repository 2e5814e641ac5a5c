"""Per-state arbitration between the prior and the actor by the critic (IBRL, Hu et al. 2024; PEX, Zhang et al. 2023).

The policy keeps a frozen copy of the prior beside its actor. In every state it acts with whichever of the two
actions the critic values more (the smaller of its twin Q-values, as TD3's target takes), so the prior keeps acting
where it is right while the actor takes over where it has learned better:

- **acting**: ``predict`` (and so SB3's rollouts, ``evaluate`` and every saved model) returns the chosen action; TD3's
  and DDPG's exploration noise is added to it by SB3 as usual, so the learner explores around the prior's path where
  the prior is chosen;
- **the TD target** (TD3, DDPG): the next action is the target actor's or the prior's, whichever the target critic
  values more, before TD3's smoothing noise, so the critic's values are those of the composite policy (IBRL). SAC's
  target keeps its own actor's sample and entropy term (the prior has no log-probability): with SAC the arbitration
  acts only (as PEX does).

Arbitration starts off. The recipe switches it on once the critic has learned the prior's values (after its
warm-up): an untrained critic chooses at random (a prototype's success fell to 0.02 early without it). It is a
buffer of the policy (``arbitrating``), saved and loaded with the model, and the prior's weights are in the
policy's state dict: a saved model is the composite policy, whether or not the prior's file is still there.

The prior must be a Linear stack (what ``sb3-finetune pretrain`` and ``export`` write, or any state dict of Linear
layers); it reads the observations the policy receives, so arbitration is refused under ``VecNormalize``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from sb3_finetune.networks import LinearStack, activation_name
from sb3_finetune.policies import FinetuneSACPolicy, FinetuneTD3Policy
from sb3_finetune.prior import Prior, PriorInfo


def prior_spec(prior: Prior) -> dict[str, Any]:
    """What rebuilds a prior without its file (its weights go into the policy's state dict).

    :param prior: a prior whose network is a :class:`~sb3_finetune.networks.LinearStack`
    :return: layers, activations, action units, input keys and the layers normalised after, as plain data
    :raises ValueError: the prior is not a Linear stack
    """
    network = prior.network
    if not isinstance(network, LinearStack):
        raise ValueError(
            "arbitration needs a prior that is a Linear stack (a file written by sb3-finetune pretrain or export, or "
            f"a state dict of Linear layers); got a {type(network).__name__}"
        )
    spec = {
        "layers": [list(layer) for layer in network.layer_specs],
        "activation": activation_name(type(network.activation)),
        "output_activation": None
        if network.output_activation is None
        else activation_name(type(network.output_activation)),
        "action_units": prior.action_units,
        "input_keys": None if prior.info.input_keys is None else list(prior.info.input_keys),
    }
    if network.normalised_after:  # only then: the specs saved before it existed stay as they were
        spec["normalised_after"] = list(network.normalised_after)
    return spec


def _build_prior(spec: dict[str, Any], action_space: gym.spaces.Box) -> Prior:
    network = LinearStack(
        [tuple(layer) for layer in spec["layers"]],
        spec["activation"],
        output_activation=spec["output_activation"],
        normalised_after=spec.get("normalised_after", ()),
    )
    keys = None if spec["input_keys"] is None else tuple(spec["input_keys"])
    return Prior(network, action_space, PriorInfo(spec["action_units"], "saved with the model", input_keys=keys))


class _Arbiter:
    """The prior and the arbitration state, shared by the TD3 and SAC policies below (a mixin before the SB3 policy).

    :param args: the SB3 policy's arguments
    :param prior_spec: the prior's layers and units (:func:`prior_spec`); its weights are loaded afterwards
    :param kwargs: the SB3 policy's keyword arguments
    """

    prior: Prior
    arbitrating: th.Tensor
    critic: nn.Module
    action_space: gym.spaces.Box

    def __init__(self, *args: Any, prior_spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.prior_spec = prior_spec
        self.prior = _build_prior(prior_spec, self.action_space)
        self.register_buffer("arbitrating", th.zeros((), dtype=th.bool))  # type: ignore[attr-defined]
        self.chosen_prior, self.chosen_total = 0, 0

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["prior_spec"] = self.prior_spec
        return data

    def choose(self, observation: Any, action: th.Tensor, critic: nn.Module) -> tuple[th.Tensor, th.Tensor]:
        """Per state, the action (``[-1, 1]``) the critic values more of ``action`` and the prior's.

        :param observation: the observations (as the policy receives them)
        :param action: the actor's actions for them
        :param critic: the critic that judges (online for acting, target for the TD target)
        :return: the chosen actions and a boolean mask of the states where the prior's was chosen
        """
        with th.no_grad():
            prior_action = self.prior(observation).to(action.device, action.dtype).reshape(action.shape)
            # One critic pass over both candidates (it runs at every env step and every gradient step).
            twice = (
                {key: th.cat([value, value]) for key, value in observation.items()}
                if isinstance(observation, dict)
                else th.cat([observation, observation])
            )
            q = th.cat(critic(twice, th.cat([action, prior_action])), dim=1).min(dim=1).values
            q_actor, q_prior = q[: len(action)], q[len(action) :]
            use_prior = q_prior > q_actor
            return th.where(use_prior[:, None], prior_action, action), use_prior

    def arbitrate_acting(self, observation: Any, action: th.Tensor) -> th.Tensor:
        """The acting choice, counted for :class:`ArbitrationCallback` (the actor's action while arbitration is off)."""
        if not bool(self.arbitrating):
            return action
        chosen, use_prior = self.choose(observation, action, self.critic)
        self.chosen_prior += int(use_prior.sum())
        self.chosen_total += int(use_prior.numel())
        return chosen


class ArbitratedTD3Policy(_Arbiter, FinetuneTD3Policy):
    """TD3's (and DDPG's) policy, acting and bootstrapping with the better of its actor and a frozen prior.

    :param args: as :class:`~stable_baselines3.td3.policies.TD3Policy`
    :param prior_spec: the prior's layers and units (:func:`prior_spec`); its weights are loaded afterwards
    :param kwargs: as :class:`~stable_baselines3.td3.policies.TD3Policy`, and ``critic_layer_norm``
        (:class:`~sb3_finetune.policies.FinetuneTD3Policy`)
    """

    def __init__(self, *args: Any, prior_spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, prior_spec=prior_spec, **kwargs)
        self.actor_target.register_forward_hook(self._target_choice)

    def _target_choice(self, _module: nn.Module, inputs: tuple, output: th.Tensor) -> th.Tensor:
        # Only TD3's train() calls the target actor (under no_grad): its next action, before the smoothing noise.
        if not bool(self.arbitrating):
            return output
        return self.choose(inputs[0], output, self.critic_target)[0]

    def _predict(self, observation: Any, deterministic: bool = False) -> th.Tensor:
        return self.arbitrate_acting(observation, self.actor(observation))


class ArbitratedSACPolicy(_Arbiter, FinetuneSACPolicy):
    """SAC's policy, acting with the better of its actor's action and a frozen prior's (its target is SAC's own).

    :param args: as :class:`~stable_baselines3.sac.policies.SACPolicy`
    :param prior_spec: the prior's layers and units (:func:`prior_spec`); its weights are loaded afterwards
    :param kwargs: as :class:`~stable_baselines3.sac.policies.SACPolicy`, and ``critic_layer_norm``
        (:class:`~sb3_finetune.policies.FinetuneSACPolicy`)
    """

    def _predict(self, observation: Any, deterministic: bool = False) -> th.Tensor:
        return self.arbitrate_acting(observation, self.actor(observation, deterministic))


ARBITRATED_POLICIES: dict[str, type[TD3Policy] | type[SACPolicy]] = {
    "ddpg": ArbitratedTD3Policy,
    "td3": ArbitratedTD3Policy,
    "sac": ArbitratedSACPolicy,
}


def is_arbitrated(policy: nn.Module) -> bool:
    """Whether a policy is one of the arbitrated policies above."""
    return isinstance(policy, _Arbiter)


class ArbitrationCallback(BaseCallback):
    """Switches arbitration on at ``start`` env steps, and logs how often the prior was chosen.

    ``finetune/prior_chosen`` is the fraction of acting choices since the last log that went to the prior.

    :param start: env step from which the critic arbitrates (the recipe sets it to the end of the critic warm-up)
    """

    WINDOW = 1_000
    """Env steps over which each logged fraction is counted."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start
        self.enabled = True
        self.history: list[tuple[int, float]] = []
        """``(env step, fraction of acting choices that went to the prior since the previous entry)``."""
        self._window_start = 0

    def stand_down(self) -> None:
        """Never arbitrate in this run (the trust gate's verdict against the prior)."""
        self.enabled = False
        if self.model is not None:
            self.model.policy.arbitrating.fill_(False)

    def _on_step(self) -> bool:
        policy = self.model.policy
        policy.arbitrating.fill_(self.enabled and self.num_timesteps >= self.start)
        if policy.chosen_total:
            self.logger.record("finetune/prior_chosen", policy.chosen_prior / policy.chosen_total)
        if self.num_timesteps - self._window_start >= self.WINDOW:
            if policy.chosen_total:
                self.history.append((self.num_timesteps, policy.chosen_prior / policy.chosen_total))
            policy.chosen_prior, policy.chosen_total = 0, 0
            self._window_start = self.num_timesteps
        return True
