import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import nav_env
from nav_env import SimpleNavigationEnv, SimpleNavigationGoalEnv
from nav_env.registration import ENV_IDS


def position_of(obs):
    return obs["observation"] if isinstance(obs, dict) else obs


def test_reward_is_minus_distance_after_the_move_and_success_terminates():
    env = SimpleNavigationEnv()
    obs, info = env.reset(options={"start_position": (0.0, 0.0)})
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    assert info["distance"] == pytest.approx(math.sqrt(0.5))
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.5], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.1, 0.05], atol=1e-7)
    assert reward == pytest.approx(-math.hypot(0.5 - 0.1, 0.5 - 0.05), abs=1e-6)
    assert info["distance"] == pytest.approx(-reward)
    assert not terminated and not truncated and info["is_success"] is False
    env.reset(options={"start_position": (0.45, 0.45)})
    obs, reward, terminated, truncated, info = env.step(np.array([0.5, 0.5], dtype=np.float32))
    assert terminated and not truncated and info["is_success"] is True
    assert reward == pytest.approx(0.0, abs=1e-6)


def test_time_limit_truncates_at_100_steps():
    env = gym.make("SimpleNavigation-v0")
    env.reset(seed=0, options={"start_position": (-1.0, -1.0)})
    for step in range(1, 101):
        _, _, terminated, truncated, _ = env.step(np.array([-1.0, -1.0], dtype=np.float32))
        assert not terminated
        assert truncated == (step == 100)


def test_actions_outside_the_box_are_clipped():
    env = SimpleNavigationEnv()
    env.reset(options={"start_position": (0.0, 0.0)})
    obs_big, *_ = env.step(np.array([7.0, -3.0], dtype=np.float32))
    env.reset(options={"start_position": (0.0, 0.0)})
    obs_unit, *_ = env.step(np.array([1.0, -1.0], dtype=np.float32))
    np.testing.assert_array_equal(obs_big, obs_unit)


def test_positions_are_clipped_to_the_arena():
    env = SimpleNavigationEnv()
    env.reset(options={"start_position": (0.95, -0.97)})
    obs, *_ = env.step(np.array([1.0, -1.0], dtype=np.float32))
    np.testing.assert_array_equal(obs, [1.0, -1.0])


def test_success_bonus_is_added_on_the_step_that_reaches_the_goal():
    env = SimpleNavigationEnv(success_bonus=5.0)
    env.reset(options={"start_position": (0.45, 0.5)})
    _, reward, terminated, _, info = env.step(np.array([0.2, 0.0], dtype=np.float32))
    assert terminated
    assert reward == pytest.approx(5.0 - info["distance"])


def test_drift_is_added_to_every_move():
    env = SimpleNavigationEnv(drift=(0.05, -0.02))
    env.reset(options={"start_position": (0.0, 0.0)})
    obs, *_ = env.step(np.zeros(2, dtype=np.float32))
    np.testing.assert_allclose(obs, [0.05, -0.02], atol=1e-7)


def test_obstacle_stops_the_move_at_its_boundary():
    env = SimpleNavigationEnv(obstacles=[(0.0, 0.0, 0.2)], max_step=0.5)
    env.reset(options={"start_position": (-0.5, 0.0)})
    obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(obs, [-0.2, 0.0], atol=1e-6)
    # Pushing on: the agent does not enter; moving away is free.
    obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert np.hypot(*obs) >= 0.2 - 1e-6
    obs, *_ = env.step(np.array([-1.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(obs, [-0.7, 0.0], atol=1e-6)


def test_obstacle_is_never_entered_by_random_moves():
    env = SimpleNavigationEnv(obstacles=[(0.0, 0.0, 0.3), (0.6, -0.4, 0.2)], max_step=0.3)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(3000):
        obs, _, terminated, _, _ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        for cx, cy, r in env.rules.obstacles:
            assert math.hypot(obs[0] - cx, obs[1] - cy) >= r - 1e-6
        if terminated:
            env.reset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"goal_position": (1.5, 0.0)}, "outside the arena"),
        ({"goal_position": (0.0, math.nan)}, "finite"),
        ({"goal_position": (0.0, 0.0, 0.0)}, "shape"),
        ({"max_step": 0.0}, "max_step must be positive"),
        ({"max_step": -0.1}, "max_step must be positive"),
        ({"max_step": math.inf}, "max_step must be finite"),
        ({"goal_radius": 0.0}, "goal_radius must be positive"),
        ({"success_bonus": math.nan}, "success_bonus must be finite"),
        ({"drift": (0.0, math.inf)}, "drift must be finite"),
        ({"obstacles": [(0.0, 0.0)]}, r"obstacles\[0\] must be \(x, y, radius\)"),
        ({"obstacles": [(0.0, 0.0, -0.1)]}, "radius must be positive"),
        ({"obstacles": [(0.5, 0.5, 0.2)]}, "goal_position .* inside an obstacle"),
        ({"render_mode": "ansi"}, "render_mode"),
    ],
)
def test_bad_kwargs_raise_value_error_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("SimpleNavigation-v0", **kwargs)


def test_bad_goal_env_kwargs():
    with pytest.raises(ValueError, match="reward_type"):
        SimpleNavigationGoalEnv(reward_type="shaped")


@pytest.mark.parametrize("env_cls", [SimpleNavigationEnv, SimpleNavigationGoalEnv])
@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (np.array([math.nan, 0.0], dtype=np.float32), ValueError, "finite"),
        (np.array([0.0, math.inf]), ValueError, "finite"),
        (np.array([0.1, 0.2, 0.3], dtype=np.float32), ValueError, "shape"),
        (np.zeros((1, 2), dtype=np.float32), ValueError, "shape"),
        ([[0.1], [0.2]], ValueError, "shape"),
        (0.5, ValueError, "shape"),
        (np.array([True, False]), TypeError, "real numbers"),
        (np.array(["a", "b"]), TypeError, "real numbers"),
        (np.array([1 + 2j, 0]), TypeError, "real numbers"),
    ],
)
def test_bad_actions_raise_clear_errors_and_change_nothing(env_cls, action, error, message):
    env = env_cls()
    env.reset(seed=3)
    before = env.position
    with pytest.raises(error, match=message):
        env.step(action)
    np.testing.assert_array_equal(env.position, before)


def test_list_and_int_actions_are_accepted():
    env = SimpleNavigationEnv()
    env.reset(options={"start_position": (0.0, 0.0)})
    obs, *_ = env.step([1, 0])
    np.testing.assert_allclose(obs, [0.1, 0.0], atol=1e-7)


@pytest.mark.parametrize("env_cls", [SimpleNavigationEnv, SimpleNavigationGoalEnv])
def test_step_before_reset_raises(env_cls):
    with pytest.raises(ResetNeeded, match="reset"):
        env_cls().step(np.zeros(2, dtype=np.float32))


def test_reset_options_are_validated():
    env = SimpleNavigationEnv(obstacles=[(0.0, 0.0, 0.2)])
    with pytest.raises(ValueError, match="outside the arena"):
        env.reset(options={"start_position": (2.0, 0.0)})
    with pytest.raises(ValueError, match="inside an obstacle"):
        env.reset(options={"start_position": (0.05, 0.0)})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"start": (0.0, 0.5)})


def test_goal_env_reset_options_fix_start_and_goal():
    env = SimpleNavigationGoalEnv()
    obs, _ = env.reset(options={"start_position": (-0.5, -0.5), "goal_position": (0.25, -0.75)})
    np.testing.assert_array_equal(obs["observation"], [-0.5, -0.5])
    np.testing.assert_array_equal(obs["achieved_goal"], [-0.5, -0.5])
    np.testing.assert_array_equal(obs["desired_goal"], [0.25, -0.75])


@pytest.mark.parametrize("reward_type", ["dense", "sparse"])
def test_goal_env_compute_reward_matches_step_reward_on_batches(reward_type):
    env = SimpleNavigationGoalEnv(reward_type=reward_type, success_bonus=0.5)
    obs, _ = env.reset(seed=1)
    achieved, desired, rewards = [], [], []
    for _ in range(200):
        obs, reward, terminated, _, info = env.step(env.action_space.sample())
        assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == reward
        achieved.append(obs["achieved_goal"])
        desired.append(obs["desired_goal"])
        rewards.append(reward)
        if terminated:
            obs, _ = env.reset()
    batch = env.compute_reward(np.array(achieved), np.array(desired), [{}] * len(rewards))
    np.testing.assert_array_equal(batch, rewards)
    if reward_type == "sparse":
        assert set(np.unique(batch)) <= {-1.0, 0.5}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory_different_seed_different(env_id):
    def rollout(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        trajectory = [position_of(obs).copy()]
        for _ in range(150):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            trajectory.append(np.append(position_of(obs), reward))
            if terminated or truncated:
                obs, _ = env.reset()
                trajectory.append(position_of(obs).copy())
        return np.concatenate(trajectory)

    np.testing.assert_array_equal(rollout(7), rollout(7))
    assert not np.array_equal(rollout(7), rollout(8))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_starts_are_uniform_over_the_arena_and_avoid_obstacles(env_id):
    env = gym.make(env_id, obstacles=[(0.0, 0.0, 0.5)])
    env.reset(seed=0)
    starts = np.array([position_of(env.reset()[0]) for _ in range(2000)])
    assert starts.min() >= -1.0 and starts.max() <= 1.0
    assert np.all(np.hypot(starts[:, 0], starts[:, 1]) >= 0.5)
    # All four quadrants are visited about equally often (each holds a quarter of the free area).
    quadrant_counts = np.bincount((starts[:, 0] > 0) * 2 + (starts[:, 1] > 0), minlength=4)
    assert quadrant_counts.min() > 400


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip_keeps_the_state(env_id):
    env = gym.make(env_id, drift=(0.01, 0.0))
    env.reset(seed=5)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    action = np.array([0.3, -0.7], dtype=np.float32)
    a = env.step(action)
    b = clone.step(action)
    np.testing.assert_array_equal(position_of(a[0]), position_of(b[0]))
    assert a[1] == b[1]


def test_observation_is_a_fresh_array_each_call():
    env = SimpleNavigationEnv()
    obs0, _ = env.reset(seed=0)
    obs1, *_ = env.step(np.zeros(2, dtype=np.float32))
    obs2, *_ = env.step(np.zeros(2, dtype=np.float32))
    assert not np.shares_memory(obs0, obs1) and not np.shares_memory(obs1, obs2)
    assert obs1.dtype == np.float32 and obs1.shape == (2,)


def test_env_kwargs_are_exposed_as_rules():
    env = gym.make("SimpleNavigation-v0", max_step=0.2, obstacles=[(0.0, 0.0, 0.1)])
    rules = env.unwrapped.rules
    assert isinstance(rules, nav_env.NavigationRules)
    assert rules.max_step == 0.2 and rules.obstacles == ((0.0, 0.0, 0.1),)
