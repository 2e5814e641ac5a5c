"""SB3's TD3 and SAC policies with a layer-normalised critic (RLPD, Ball et al. 2023).

``critic_layer_norm=True`` puts a ``LayerNorm`` after each hidden ``Linear`` of every Q-network, before its
activation, in the critic and its target; the actor is SB3's. A critic trained on the few thousand transitions of a
warm-up, most of them the prior's own actions, can grow a slope in the action several times the return's
(``benchmarks/critic_slope.py`` measures it), which a released actor follows away from the prior; normalised hidden
layers bound how far its values run off between its data. In ``benchmarks/PARTLY_RIGHT.md`` ("The actor's
release") it shortens the falls after the release and keeps the obstacle's runs higher, without removing the falls.

The policies take SB3's arguments and ``critic_layer_norm`` (``False``: SB3's critic, exactly), so a saved model
records it and ``TD3.load`` / ``SAC.load`` rebuild the same critic. :func:`~sb3_finetune.make_finetune` uses them
where the recipe's ``critic_layer_norm`` is on (the default recipe's with TD3 and SAC) or ``policy_kwargs`` asks for
it (from scratch too); with arbitration its arbitrated policies, which derive from them.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn


def normalise_q_networks(critic: ContinuousCritic, net_arch: list[int], activation_fn: type[nn.Module]) -> None:
    """Rebuild each of ``critic``'s Q-networks with a ``LayerNorm`` after every hidden ``Linear`` (in place).

    :param critic: a freshly built critic (its Q-networks are replaced, untrained)
    :param net_arch: the Q-networks' hidden units
    :param activation_fn: their activation
    """
    inputs = critic.q_networks[0][0].in_features  # the features and the action
    for index in range(len(critic.q_networks)):
        q_net = nn.Sequential(*create_mlp(inputs, 1, net_arch, activation_fn, post_linear_modules=[nn.LayerNorm]))
        critic.add_module(f"qf{index}", q_net)
        critic.q_networks[index] = q_net


class _CriticLayerNorm:
    """``critic_layer_norm`` for an SB3 policy whose ``make_critic`` builds a :class:`ContinuousCritic` (a mixin).

    :param args: the SB3 policy's arguments
    :param critic_layer_norm: normalise the critic's hidden layers (``False``: SB3's critic)
    :param kwargs: the SB3 policy's keyword arguments
    """

    critic_kwargs: dict[str, Any]

    def __init__(self, *args: Any, critic_layer_norm: bool = False, **kwargs: Any) -> None:
        self.critic_layer_norm = bool(critic_layer_norm)  # before SB3's __init__, which builds the critics
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        critic = super().make_critic(features_extractor)  # type: ignore[misc]
        if self.critic_layer_norm:
            normalise_q_networks(critic, self.critic_kwargs["net_arch"], self.critic_kwargs["activation_fn"])
        return critic

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["critic_layer_norm"] = self.critic_layer_norm
        return data


class FinetuneTD3Policy(_CriticLayerNorm, TD3Policy):
    """TD3's (and DDPG's) policy, its critic layer-normalised with ``critic_layer_norm``.

    :param args: as :class:`~stable_baselines3.td3.policies.TD3Policy`
    :param critic_layer_norm: normalise the critic's hidden layers
    :param kwargs: as :class:`~stable_baselines3.td3.policies.TD3Policy`
    """


class FinetuneSACPolicy(_CriticLayerNorm, SACPolicy):
    """SAC's policy, its critic layer-normalised with ``critic_layer_norm``.

    :param args: as :class:`~stable_baselines3.sac.policies.SACPolicy`
    :param critic_layer_norm: normalise the critic's hidden layers
    :param kwargs: as :class:`~stable_baselines3.sac.policies.SACPolicy`
    """


FINETUNE_POLICIES: dict[str, type[TD3Policy] | type[SACPolicy]] = {
    "ddpg": FinetuneTD3Policy,
    "td3": FinetuneTD3Policy,
    "sac": FinetuneSACPolicy,
}
"""The policy class for each algorithm where the recipe normalises the critic (any observation space: the recipe
gives the features extractor)."""
