import gymnasium as gym
import numpy as np
import pytest

import nav_env
from nav_env import NavigationRules, optimal_action

TASKS = [
    ("SimpleNavigation-v0", {}),
    ("SimpleNavigation-v0", {"goal_position": (-0.5, -0.5), "max_step": 0.05}),
    ("SimpleNavigation-v0", {"drift": (0.05, -0.03)}),
    ("SimpleNavigation-v0", {"goal_position": (0.7, 0.7), "obstacles": [(0.2, 0.2, 0.35)]}),
    (
        "SimpleNavigation-v0",
        {"goal_position": (0.0, 0.8), "obstacles": [(0.0, 0.3, 0.3), (-0.6, -0.2, 0.25), (0.6, -0.3, 0.2)]},
    ),
    ("SimpleNavigationGoal-v0", {"obstacles": [(0.0, 0.0, 0.4)]}),
]


def expert_rollout(env, seed):
    obs, _ = env.reset(seed=seed)
    rules = env.unwrapped.rules
    total = 0.0
    for _ in range(100):
        if isinstance(obs, dict):
            action = optimal_action(obs["observation"], obs["desired_goal"], rules)
        else:
            action = optimal_action(obs, env.unwrapped.goal, rules)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            return info["is_success"], total
    raise AssertionError("the time limit should have ended the episode")


@pytest.mark.parametrize(("env_id", "kwargs"), TASKS)
def test_expert_always_reaches_the_goal(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    assert all(expert_rollout(env, seed)[0] for seed in range(150))


def test_expert_is_optimal_per_coordinate_without_obstacles():
    # After k steps the expert sits at the point nearest to the goal among all points reachable in k steps.
    rng = np.random.default_rng(0)
    rules = NavigationRules()
    for _ in range(100):
        start = rng.uniform(-1, 1, 2)
        goal = rng.uniform(-1, 1, 2)
        position = start.copy()
        for k in range(1, 15):
            position = position + optimal_action(position, goal, rules).astype(np.float64) * rules.max_step
            reachable = np.clip(goal, start - k * rules.max_step, start + k * rules.max_step)
            np.testing.assert_allclose(position, reachable, atol=1e-6)


def test_expert_beats_the_straight_line_controller():
    env = gym.make("SimpleNavigation-v0")
    for seed in range(50):
        _, expert_return = expert_rollout(env, seed)
        obs, _ = env.reset(seed=seed)
        straight_return = 0.0
        for _ in range(100):
            direction = env.unwrapped.goal - obs
            action = direction / max(np.abs(direction).max(), 1e-9)
            obs, reward, terminated, truncated, _ = env.step(action.astype(np.float32))
            straight_return += reward
            if terminated or truncated:
                break
        assert expert_return >= straight_return - 1e-6


def test_batch_matches_single_calls():
    rules = NavigationRules(obstacles=((0.0, 0.0, 0.3),), drift=(0.01, 0.0))
    positions = np.random.default_rng(1).uniform(-1, 1, (20, 2))
    positions = positions[np.hypot(positions[:, 0], positions[:, 1]) > 0.3]
    batch = optimal_action(positions, (0.6, 0.6), rules)
    assert batch.shape == positions.shape and batch.dtype == np.float32
    for position, action in zip(positions, batch, strict=True):
        np.testing.assert_array_equal(optimal_action(position, (0.6, 0.6), rules), action)
    assert np.abs(batch).max() <= 1.0


def test_default_rules_are_the_seed_task():
    action = nav_env.optimal_action(np.array([0.0, 0.45]), (0.5, 0.5))
    np.testing.assert_allclose(action, [1.0, 0.5], atol=1e-6)
