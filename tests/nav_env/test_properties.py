"""Property-based tests: any constructor kwargs and any action sequence, valid or not."""

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nav_env import SimpleNavigationEnv, SimpleNavigationGoalEnv, SimpleNavigationVectorEnv

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.none(), st.text(max_size=3)
)
actions = st.one_of(
    arrays(np.float32, (2,), elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
    arrays(np.float64, (2,), elements=st.floats(allow_nan=True, allow_infinity=True)),
    arrays(np.int64, (2,), elements=st.integers(-5, 5)),
    arrays(np.float32, st.sampled_from([(1,), (3,), (2, 1), (1, 2), ()]), elements=st.floats(-1, 1, width=32)),
    arrays(np.bool_, (2,)),
    st.lists(finite, min_size=0, max_size=3),
)


def valid(action):
    array = np.asarray(action)
    return array.dtype.kind in "iuf" and array.shape == (2,) and bool(np.isfinite(array).all())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25), st.integers(0, 2**31 - 1))
def test_any_action_sequence_gives_valid_observations_or_a_clear_error(sequence, seed):
    env = SimpleNavigationEnv(obstacles=[(0.0, 0.0, 0.3)], drift=(0.01, -0.02))
    obs, _ = env.reset(seed=seed)
    for action in sequence:
        before = env.position
        if valid(action):
            obs, reward, terminated, _, info = env.step(action)
            assert obs.dtype == np.float32 and obs.shape == (2,)
            assert np.isfinite(obs).all() and np.all(np.abs(obs) <= 1.0)
            assert math.isfinite(reward) and reward == pytest.approx(-info["distance"], abs=1e-12)
            assert math.hypot(obs[0], obs[1]) >= 0.3 - 1e-6
            if terminated:
                obs, _ = env.reset()
        else:
            with pytest.raises((ValueError, TypeError)):
                env.step(action)
            np.testing.assert_array_equal(env.position, before)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "goal_position": st.one_of(st.tuples(finite, finite), st.tuples(anything, anything), anything),
            "max_step": st.one_of(finite, anything),
            "goal_radius": st.one_of(finite, anything),
            "success_bonus": st.one_of(finite, anything),
            "drift": st.one_of(st.tuples(finite, finite), anything),
            "obstacles": st.one_of(
                st.lists(st.tuples(finite, finite, finite), max_size=3), st.lists(anything, max_size=2), anything
            ),
        },
    )
)
def test_any_constructor_kwargs_build_a_valid_env_or_raise_a_clear_error(kwargs):
    for env_cls, extra in (
        (SimpleNavigationEnv, {}),
        (SimpleNavigationGoalEnv, {}),
        (SimpleNavigationVectorEnv, {"num_envs": 3}),
    ):
        call = dict(kwargs, **extra)
        if env_cls is SimpleNavigationGoalEnv:
            call.pop("goal_position", None)
        try:
            env = env_cls(**call)
        except (ValueError, TypeError) as error:
            assert str(error)
            continue
        except RuntimeError as error:  # obstacles covering the whole arena
            assert "cover" in str(error)
            continue
        try:
            obs, _ = env.reset(seed=0)
        except RuntimeError as error:
            assert "cover" in str(error)
            continue
        positions = np.atleast_2d(obs["observation"] if isinstance(obs, dict) else obs)
        assert np.isfinite(positions).all() and np.all(np.abs(positions) <= 1.0)
        assert not any(env.rules.inside_obstacle(*p.astype(np.float64)) for p in positions)
        for _ in range(5):
            obs, reward, *_ = env.step(env.action_space.sample())
            assert np.isfinite(reward).all()


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        arrays(np.float64, (4, 2), elements=st.floats(allow_nan=True, allow_infinity=True)),
        arrays(np.float32, (4, 2), elements=st.floats(width=32)),
        arrays(np.float32, st.sampled_from([(4,), (3, 2), (4, 3), (2, 4, 2), ()]), elements=st.floats(-1, 1, width=32)),
        arrays(np.bool_, (4, 2)),
        arrays(np.int32, (4, 2), elements=st.integers(-3, 3)),
    ),
    st.integers(0, 1000),
)
def test_vector_env_valid_or_clear_error(batch, seed):
    env = SimpleNavigationVectorEnv(num_envs=4, obstacles=[(0.5, -0.5, 0.2)])
    obs, _ = env.reset(seed=seed)
    if batch.dtype == np.bool_ or batch.shape != (4, 2):
        with pytest.raises((ValueError, TypeError)):
            env.step(batch)
    elif np.isfinite(batch).all():
        obs, rewards, *_ = env.step(batch)
        assert np.isfinite(obs).all() and np.all(np.abs(obs) <= 1.0) and np.isfinite(rewards).all()
    else:
        with pytest.raises(ValueError, match="finite"):
            env.step(batch)
        after, *_ = env.step(np.zeros((4, 2)))
        np.testing.assert_array_equal(after, obs)


def test_registered_ids_survive_gym_make_with_huge_actions():
    env = gym.make("SimpleNavigation-v0")
    env.reset(seed=0)
    obs, *_ = env.step(np.array([3e38, -3e38], dtype=np.float32))
    assert np.all(np.abs(obs) <= 1.0)
