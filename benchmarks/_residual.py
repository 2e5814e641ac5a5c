"""A bounded residual on the frozen prior, for screens only (``release_dip.py --residual-scale``; not in the library).

The issue's fourth mechanism (Silver et al. 2018, residual policy learning; Policy Decorator, 2025): the policy is the
frozen prior plus a learned correction of bounded size, so that RL can add what the prior is missing without being
able to move far from it. Built on a set-up of today's default by swapping the classes of SB3's actors (and TD3's
target actor), so that every other part of the recipe acts as it does (the gate, the warm-up, the pull; the
distillation then fits the correction's head to about zero, as it fits the whole actor to the prior without it):

- TD3 and DDPG: ``action = clamp(prior(s) + scale * head(s), -1, 1)`` in SB3's scaled units, ``head`` the actor's own
  network (ending in ``tanh``); the clamp passes the gradients that move the action back inside the box, so an action
  pushed past the bound can come back (the saturation escape's reason);
- SAC: the Gaussian's mean before ``tanh`` is ``atanh(prior(s)) + scale * tanh(mean(s))`` (the prior's action clipped
  to 0.995 of the bound first), so the correction is bounded in the squashed Gaussian's own units.

Not saved with the model (the prior is held outside the state dict): a screen's runs are evaluated in the process.
"""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor

from sb3_finetune.recipes import FinetuneSetup

SAC_PRIOR_CLIP = 0.995
"""The prior's action is clipped to this share of the bound before ``atanh`` (SAC)."""


class _InwardClamp(th.autograd.Function):
    """``clamp(x, -1, 1)`` whose gradient is kept where a descent step moves ``x`` back towards the box."""

    @staticmethod
    def forward(ctx: Any, x: th.Tensor) -> th.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(-1.0, 1.0)

    @staticmethod
    def backward(ctx: Any, grad: th.Tensor) -> th.Tensor:
        (x,) = ctx.saved_tensors
        outward = ((x > 1.0) & (grad < 0.0)) | ((x < -1.0) & (grad > 0.0))
        return grad.masked_fill(outward, 0.0)


class ResidualTD3Actor(TD3Actor):
    """TD3's and DDPG's actor as the prior plus ``scale`` times its own network's output."""

    def forward(self, obs: th.Tensor) -> th.Tensor:
        features = self.extract_features(obs, self.features_extractor)
        base = self.residual_prior(obs).to(features.device)
        return _InwardClamp.apply(base + self.residual_scale * self.mu(features))


class ResidualSACActor(SACActor):
    """SAC's actor whose Gaussian mean (before ``tanh``) is the prior's plus ``scale`` times a ``tanh`` of its own."""

    def get_action_dist_params(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        mean, log_std, kwargs = super().get_action_dist_params(obs)
        base = th.atanh(self.residual_prior(obs).to(mean.device).clamp(-SAC_PRIOR_CLIP, SAC_PRIOR_CLIP))
        return base + self.residual_scale * th.tanh(mean), log_std, kwargs


def make_residual(setup: FinetuneSetup, scale: float) -> None:
    """Turn the set-up's actor (and TD3's target actor) into a residual on its prior, in place.

    :param setup: a set-up built with a prior, before training
    :param scale: the correction's largest size (TD3/DDPG: scaled action units; SAC: units before ``tanh``)
    :raises ValueError: without a prior, or with a scale that is not positive
    """
    if setup.prior is None:
        raise ValueError("a residual needs a prior: this set-up trains from scratch")
    if scale <= 0:
        raise ValueError(f"the residual's scale must be > 0, got {scale}")
    policy = setup.model.policy
    actors = [policy.actor] + ([policy.actor_target] if getattr(policy, "actor_target", None) is not None else [])
    for actor in actors:
        actor.__class__ = ResidualSACActor if isinstance(actor, SACActor) else ResidualTD3Actor
        # Plain attributes, not submodules: the state dict (and the target's copy of it) stays the actor's own.
        object.__setattr__(actor, "residual_prior", setup.prior)
        object.__setattr__(actor, "residual_scale", float(scale))
