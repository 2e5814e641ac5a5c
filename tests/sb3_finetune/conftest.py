import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DDPG, SAC, TD3

import nav_env  # noqa: F401
from sb3_finetune import PretrainedFeaturesExtractor, SimpleNavigationAgent
from sb3_finetune.pretrain import pretrain, rollout_dataset

ALGORITHMS = {"ddpg": DDPG, "td3": TD3, "sac": SAC}


@pytest.fixture(scope="session")
def nav_bc_weights(tmp_path_factory):
    """A behaviour clone of the nav expert (a prior that is right on the source task), saved as a state dict."""
    from sb3_finetune.nav import expert_dataset
    from sb3_finetune.pretrain import behaviour_clone

    path = tmp_path_factory.mktemp("weights") / "bc.pt"
    th.save(behaviour_clone(expert_dataset(samples=6_000), epochs=20).state_dict(), path)
    return str(path)


@pytest.fixture
def agent():
    th.manual_seed(0)
    return SimpleNavigationAgent()


@pytest.fixture
def agent_file(agent, tmp_path):
    path = tmp_path / "agent.pt"
    th.save(agent.state_dict(), path)
    return path


def make_model(algo, weights, *, share=False, freeze=False, env_id="SimpleNavigation-v0", **extractor_kwargs):
    """A small model of ``algo`` with the pretrained extractor, cheap to train for a few hundred steps."""
    return ALGORITHMS[algo](
        "MlpPolicy",
        gym.make(env_id),
        policy_kwargs={
            "features_extractor_class": PretrainedFeaturesExtractor,
            "features_extractor_kwargs": {"weights": weights, "freeze": freeze, **extractor_kwargs},
            "share_features_extractor": share,
            "net_arch": [32, 32],
        },
        learning_starts=50,
        batch_size=32,
        seed=0,
        device="cpu",
    )


def clone_state(module):
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def states_equal(a, b):
    return a.keys() == b.keys() and all(th.equal(a[key], b[key]) for key in a)


def pd(obs):
    """A PD controller for Pendulum's angle (it holds the pole near upright; it cannot swing it up)."""
    return np.clip(-6 * np.arctan2(obs[:, 1], obs[:, 0])[:, None] - obs[:, 2:3], -2, 2)


@pytest.fixture(scope="module")
def pendulum_prior(tmp_path_factory):
    """A behaviour clone of :func:`pd` on Pendulum-v1 (a safetensors file, env units)."""
    path = tmp_path_factory.mktemp("pendulum") / "pd.safetensors"
    pretrain(path, rollout_dataset(pd, gym.make("Pendulum-v1"), 1_000), epochs=5)
    return str(path)
