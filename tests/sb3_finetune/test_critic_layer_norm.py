import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DDPG, SAC, TD3
from torch import nn

from sb3_finetune import get_recipe, make_finetune
from sb3_finetune.cli import main as cli_main

ALGOS = {"ddpg": DDPG, "td3": TD3, "sac": SAC}


def _norms(critic: nn.Module) -> list[int]:
    """For each Q-network, the LayerNorm sizes in order (each right after a hidden Linear of that size)."""
    sizes = []
    for q_net in critic.q_networks:
        layers = list(q_net)
        for before, layer in itertools.pairwise(layers):
            if isinstance(layer, nn.LayerNorm):
                assert isinstance(before, nn.Linear) and before.out_features == layer.normalized_shape[0]
                sizes.append(layer.normalized_shape[0])
    return sizes


@pytest.mark.parametrize("algo", list(ALGOS))
def test_the_critic_and_its_target_are_normalised_and_trained_and_the_actor_is_not(algo, nav_bc_weights):
    env = gym.make("SimpleNavigation-v0")
    recipe = get_recipe("default", critic_layer_norm=True, distill_steps=50)
    setup = make_finetune(algo, env, nav_bc_weights, 1_000, recipe, hyperparams={"learning_starts": 200}, seed=0)
    policy = setup.model.policy
    assert policy.critic_layer_norm is True
    # two hidden layers in each Q-network (one for DDPG, twins for TD3 and SAC)
    assert _norms(policy.critic) == _norms(policy.critic_target) == [64, 64] * policy.critic.n_critics
    assert not any(isinstance(m, nn.LayerNorm) for m in policy.actor.modules())
    # The critic's optimizer holds the norms' parameters, and training moves them.
    norm = policy.critic.qf0[1]
    optimised = {id(p) for group in policy.critic.optimizer.param_groups for p in group["params"]}
    assert id(norm.weight) in optimised and id(norm.bias) in optimised
    before = norm.weight.detach().clone()
    setup.learn(600)  # the probe takes 300 steps: training from then on
    assert setup.model._n_updates > 0
    assert not th.equal(before, norm.weight.detach())
    off = get_recipe("default", critic_layer_norm=False)
    plain = make_finetune(algo, env, nav_bc_weights, 1_000, off, hyperparams={"learning_starts": 200}, seed=0)
    assert type(plain.model.policy).__module__.startswith("stable_baselines3")  # without it, SB3's own policy
    assert _norms(plain.model.policy.critic) == []
    # The default recipe leaves it to the algorithm: on with TD3, SAC and DDPG, and a decision says so.
    default = make_finetune(algo, env, nav_bc_weights, 1_000, hyperparams={"learning_starts": 200}, seed=0)
    assert default.recipe.critic_layer_norm is True and _norms(default.model.policy.critic)
    assert any(sentence.startswith("critic_layer_norm: True") for sentence in default.decisions)


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_a_saved_model_keeps_its_normalised_critic(algo, nav_bc_weights, tmp_path):
    env = gym.make("SimpleNavigation-v0")
    recipe = get_recipe("default", critic_layer_norm=True, distill_steps=50)
    setup = make_finetune(algo, env, nav_bc_weights, 1_000, recipe, hyperparams={"learning_starts": 200}, seed=0)
    setup.learn(500)
    setup.model.save(tmp_path / "model.zip")
    loaded = ALGOS[algo].load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.critic_layer_norm is True and _norms(loaded.policy.critic) == [64, 64] * 2
    observation = th.tensor([[0.3, -0.4]])
    action = th.tensor([[0.2, 0.1]])
    with th.no_grad():
        for q_saved, q_loaded in zip(
            setup.model.critic(observation, action), loaded.critic(observation, action), strict=True
        ):
            np.testing.assert_allclose(q_saved.numpy(), q_loaded.numpy(), atol=1e-6)


@pytest.mark.parametrize("algo", list(ALGOS))
def test_a_normalised_critic_from_scratch_through_policy_kwargs(algo):
    """No prior and no recipe: ``policy_kwargs`` asks for the norm (the benchmark's scratch arm with it)."""
    env = gym.make("SimpleNavigation-v0")
    kwargs = {"learning_starts": 100, "policy_kwargs": {"critic_layer_norm": True}}
    setup = make_finetune(algo, env, None, 300, hyperparams=kwargs, seed=0)
    policy = setup.model.policy
    assert setup.recipe is None and policy.critic_layer_norm is True
    assert _norms(policy.critic) == _norms(policy.critic_target) == [64, 64] * policy.critic.n_critics
    off = make_finetune(algo, env, None, 300, hyperparams={"policy_kwargs": {"critic_layer_norm": False}}, seed=0)
    assert off.model.policy.critic_layer_norm is False and _norms(off.model.policy.critic) == []
    setup.learn(200)
    assert setup.model._n_updates > 0


def test_policy_kwargs_sets_the_norm_a_recipe_leaves_to_the_algorithm_and_a_conflict_is_refused(nav_bc_weights):
    env = gym.make("SimpleNavigation-v0")
    off = {"learning_starts": 200, "policy_kwargs": {"critic_layer_norm": False}}
    setup = make_finetune("sac", env, nav_bc_weights, 1_000, hyperparams=off, seed=0)
    # SAC without its norm: no critic pre-training, no hand-over, no rehearsal and no stand-down warm-up either, and
    # the decisions say why
    recipe = setup.recipe
    fields = (recipe.critic_layer_norm, recipe.critic_pretrain_steps, recipe.warmup_handover, recipe.hold_rehearsal)
    assert fields == (False, 0, False, 0.0) and recipe.stand_down_warmup is False
    assert _norms(setup.model.policy.critic) == []
    assert not any(sentence.startswith("critic_layer_norm:") for sentence in setup.decisions)  # the user's choice
    assert sum("without its critic's norm" in sentence for sentence in setup.decisions) == 4
    with pytest.raises(ValueError, match="policy_kwargs asks for critic_layer_norm=False and the recipe for"):
        make_finetune("td3", env, nav_bc_weights, 1_000, get_recipe("default", critic_layer_norm=True), off, seed=0)


def test_arbitration_with_a_normalised_critic(nav_bc_weights):
    env = gym.make("SimpleNavigation-v0")
    recipe = get_recipe("ibrl", critic_layer_norm=True, distill_steps=50)
    setup = make_finetune("td3", env, nav_bc_weights, 1_000, recipe, hyperparams={"learning_starts": 200}, seed=0)
    assert type(setup.model.policy).__name__ == "ArbitratedTD3Policy"
    assert _norms(setup.model.policy.critic) == [64, 64] * 2
    setup.learn(250)


def test_the_cli_switch_reaches_the_recipe(nav_bc_weights, tmp_path):
    out = tmp_path / "model.zip"
    code = cli_main(
        [
            "finetune",
            "--algo",
            "td3",
            "--env",
            "SimpleNavigation-v0",
            "--pretrained",
            nav_bc_weights,
            "-n",
            "300",
            "--critic-layer-norm",
            "--eval-episodes",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code in (0, None)
    assert TD3.load(out, device="cpu").policy.critic_layer_norm is True


def test_the_rl_zoo_callback_rebuilds_the_policy_with_a_normalised_critic(pendulum_prior):
    from sb3_finetune.zoo import FinetuneCallback

    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs={"net_arch": [16]})
    model.learn(320, callback=FinetuneCallback(pendulum_prior, critic_layer_norm=True, distill_steps=20))
    assert model.policy.critic_layer_norm is True and _norms(model.policy.critic) == [16, 16]
    assert model.policy_kwargs["net_arch"] == [16]  # the Zoo's own architecture, normalised
    # A model that has stepped cannot be rebuilt: refused before anything changes.
    stepped = TD3("MlpPolicy", "Pendulum-v1", learning_starts=10, seed=0, policy_kwargs={"net_arch": [16]})
    stepped.learn(20)
    with pytest.raises(ValueError, match="critic_layer_norm rebuilds the untrained policy"):
        stepped.learn(20, callback=FinetuneCallback(pendulum_prior, critic_layer_norm=True), reset_num_timesteps=False)


def test_the_rl_zoo_callback_takes_the_algorithms_norm_where_it_can_and_says_where_it_cannot(pendulum_prior):
    """The default recipe leaves the norm to the algorithm (on with TD3): a fresh Zoo model is rebuilt with it; a
    model that has stepped keeps SB3's critic, and a decision says so (the user did not ask for the norm), and the
    fields that come with the norm are filled in as without it."""
    from sb3_finetune.zoo import FinetuneCallback

    fresh = TD3("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs={"net_arch": [16]})
    fresh_callback = FinetuneCallback(pendulum_prior, distill_steps=20)
    fresh.learn(320, callback=fresh_callback)
    assert fresh.policy.critic_layer_norm is True and _norms(fresh.policy.critic) == [16, 16]  # twin Q-networks
    assert fresh_callback.recipe.critic_warmup == 0  # with its norm, TD3's actor leaves at learning_starts
    stepped = TD3("MlpPolicy", "Pendulum-v1", learning_starts=10, seed=0, policy_kwargs={"net_arch": [16]})
    stepped.learn(20)
    callback = FinetuneCallback(pendulum_prior, distill_steps=20)
    stepped.learn(20, callback=callback, reset_num_timesteps=False)
    assert callback.recipe.critic_layer_norm is False and _norms(stepped.policy.critic) == []
    assert any(sentence.startswith("critic_layer_norm: off") for sentence in callback.decisions)
    # without the norm TD3's actor is held for the critic warm-up again, and a decision says why
    assert callback.recipe.critic_warmup == 1_000
    (said,) = [sentence for sentence in callback.decisions if sentence.startswith("critic_warmup:")]
    assert said.startswith("critic_warmup: 1000, TD3's") and "without its critic's norm" in said
    # SAC's pre-training, hand-over, rehearsal and stand-down warm-up come with its norm: without it, none of them
    stepped = SAC("MlpPolicy", "Pendulum-v1", learning_starts=10, seed=0, policy_kwargs={"net_arch": [16]})
    stepped.learn(20)
    callback = FinetuneCallback(pendulum_prior, distill_steps=20)
    stepped.learn(20, callback=callback, reset_num_timesteps=False)
    recipe = callback.recipe
    fields = (recipe.critic_layer_norm, recipe.critic_pretrain_steps, recipe.warmup_handover, recipe.hold_rehearsal)
    assert fields == (False, 0, False, 0.0) and recipe.stand_down_warmup is False
    assert sum("without its critic's norm" in sentence for sentence in callback.decisions) == 4
