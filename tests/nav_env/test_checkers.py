import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from nav_env.registration import ENV_IDS

KWARGS = [
    {},
    {"success_bonus": 1.0, "drift": (0.02, -0.01), "obstacles": [(0.0, 0.0, 0.3)]},
]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("kwargs", KWARGS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_gymnasium_checker_passes_without_warnings(env_id, kwargs, render_mode):
    env = gym.make(env_id, render_mode=render_mode, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Also makes the env in every declared render mode ("human" with SDL's dummy driver).
        gym_check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("kwargs", KWARGS)
def test_sb3_checker_passes_without_warnings(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


@pytest.mark.parametrize("reward_type", ["dense", "sparse"])
def test_sb3_checker_goal_env_reward_types(reward_type):
    env = gym.make("SimpleNavigationGoal-v0", reward_type=reward_type)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)
