import importlib

import gymnasium as gym
import pytest

import nav_env
from nav_env.registration import ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ids_are_registered_with_time_limit_and_vector_entry_point(env_id):
    spec = gym.spec(env_id)
    assert spec.max_episode_steps == 100
    assert spec.vector_entry_point is not None
    env = gym.make(env_id)
    assert env.spec.max_episode_steps == 100
    env.close()


def test_registration_is_idempotent(recwarn):
    before = {env_id: gym.spec(env_id) for env_id in ENV_IDS}
    nav_env.register_envs()
    importlib.reload(nav_env)
    for env_id in ENV_IDS:
        assert gym.spec(env_id) is before[env_id]
    assert not [w for w in recwarn if "already in registry" in str(w.message) or "Overriding" in str(w.message)]


def test_module_prefixed_id_imports_the_package():
    env = gym.make("nav_env:SimpleNavigation-v0")
    assert isinstance(env.unwrapped, nav_env.SimpleNavigationEnv)
    env.close()
