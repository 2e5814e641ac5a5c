"""The screens' bounded residual on the frozen prior (``benchmarks/_residual.py``)."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from _residual import SAC_PRIOR_CLIP, ResidualSACActor, ResidualTD3Actor, _InwardClamp, make_residual

import nav_env  # noqa: F401
from sb3_finetune import SimpleNavigationAgent
from sb3_finetune.recipes import make_finetune


@pytest.fixture
def weights(tmp_path):
    th.manual_seed(0)
    path = tmp_path / "agent.pt"
    th.save(SimpleNavigationAgent().state_dict(), path)
    return str(path)


def _setup(algo, weights):
    env = gym.make("SimpleNavigation-v0")
    return make_finetune(algo, env, weights, 600, "default", {"learning_starts": 300}, seed=0)


def test_the_clamp_keeps_only_gradients_that_move_back_inside():
    x = th.tensor([1.5, 1.5, 0.5, 0.5, -1.5, -1.5], requires_grad=True)
    upstream = th.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])  # a descent step moves x by -upstream
    y = _InwardClamp.apply(x)
    y.backward(upstream)
    assert th.equal(y.detach(), x.detach().clamp(-1, 1))
    # past the top: kept where the step lowers x; past the bottom: kept where it raises x; inside: always
    assert x.grad.tolist() == [1.0, 0.0, 1.0, -1.0, 0.0, -1.0]


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_the_residual_stays_within_its_scale_of_the_prior_and_trains(algo, weights):
    setup = _setup(algo, weights)
    keys = set(setup.model.policy.state_dict())
    make_residual(setup, 0.5)
    policy = setup.model.policy
    assert set(policy.state_dict()) == keys  # the prior is not saved into the actor
    expected = ResidualSACActor if algo == "sac" else ResidualTD3Actor
    assert type(policy.actor) is expected
    if algo == "td3":
        assert type(policy.actor_target) is ResidualTD3Actor
    obs = th.as_tensor(np.random.default_rng(0).uniform(-1, 1, (256, 2)), dtype=th.float32)
    prior = setup.prior(obs)
    with th.no_grad():
        if algo == "sac":
            mean, _, _ = policy.actor.get_action_dist_params(obs)
            base = th.atanh(prior.clamp(-SAC_PRIOR_CLIP, SAC_PRIOR_CLIP))
            assert (mean - base).abs().max() <= 0.5 + 1e-6
        else:
            action = policy.actor(obs)
            assert (action - prior).abs().max() <= 0.5 + 1e-6 and action.abs().max() <= 1.0
    setup.learn(600)  # the warm-up, the distillation (fitting the correction to ~0) and training run through it
    assert setup.model.num_timesteps == 600
    with th.no_grad():
        if algo == "td3":
            assert (policy.actor(obs) - prior).abs().max() <= 0.5 + 1e-6


def test_a_residual_needs_a_prior_and_a_positive_scale(weights):
    with pytest.raises(ValueError, match="scale must be > 0"):
        make_residual(_setup("td3", weights), 0.0)
    scratch = make_finetune("td3", gym.make("SimpleNavigation-v0"), None, 600, "default", seed=0)
    with pytest.raises(ValueError, match="needs a prior"):
        make_residual(scratch, 0.5)
