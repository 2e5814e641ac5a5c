import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode

from nav_env import SimpleNavigationEnv, SimpleNavigationGoalEnv, SimpleNavigationGoalVectorEnv
from nav_env.registration import ENV_IDS

TASKS = [
    {},
    {"drift": (0.03, -0.02), "success_bonus": 2.0},
    {"obstacles": [(0.0, 0.0, 0.35), (-0.5, 0.6, 0.2)], "max_step": 0.25},
    {"obstacles": [(0.2, 0.1, 0.3)], "drift": (-0.04, 0.05), "goal_radius": 0.2},
]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_builds_the_native_vector_env_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make_vec(env_id, num_envs=8, vectorization_mode="vector_entry_point")
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.num_envs == 8 and env.max_episode_steps == 100
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, rewards, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert rewards.shape == terminated.shape == truncated.shape == (8,)
    assert info["is_success"].shape == (8,) and info["_is_success"].all()
    env.close()


def drive_single_and_vector(task, env_cls, vector_id, starts, goals, actions):
    """Step N single envs and one vector env of N copies from the same states with the same actions."""
    num_envs = len(starts)
    vector = gym.make_vec(vector_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **task)
    options = {"start_position": starts}
    if goals is not None:
        options["goal_position"] = goals
    vector.reset(seed=0, options=options)
    singles = []
    for i in range(num_envs):
        single = env_cls(**task)
        single_options = {"start_position": starts[i]}
        if goals is not None:
            single_options["goal_position"] = goals[i]
        single.reset(options=single_options)
        singles.append(single)
    done = np.zeros(num_envs, dtype=bool)
    for action in actions:
        obs, rewards, terminated, _, _ = vector.step(action)
        positions = obs["observation"] if isinstance(obs, dict) else obs
        for i, single in enumerate(singles):
            if done[i]:
                continue
            s_obs, s_reward, s_terminated, _, _ = single.step(action[i])
            s_position = s_obs["observation"] if isinstance(s_obs, dict) else s_obs
            np.testing.assert_array_equal(positions[i], s_position)
            assert rewards[i] == s_reward
            assert terminated[i] == s_terminated
            done[i] = s_terminated
    return done


@pytest.mark.parametrize("task", TASKS)
def test_vector_env_matches_single_env_bit_for_bit(task):
    rng = np.random.default_rng(1)
    probe = SimpleNavigationEnv(**task)
    starts = probe.rules.sample_free_points(rng, 64)
    # Actions beyond the box exercise the clipping, large steps the walls and the obstacles.
    actions = rng.uniform(-1.5, 1.5, size=(60, 64, 2)).astype(np.float32)
    done = drive_single_and_vector(task, SimpleNavigationEnv, "SimpleNavigation-v0", starts, None, actions)
    assert done.any() or task.get("obstacles")


@pytest.mark.parametrize("reward_type", ["dense", "sparse"])
def test_goal_vector_env_matches_single_goal_env(reward_type):
    task = {"reward_type": reward_type, "obstacles": [(0.0, 0.0, 0.3)], "goal_radius": 0.3}
    rng = np.random.default_rng(2)
    probe = SimpleNavigationGoalEnv(**task)
    starts = probe.rules.sample_free_points(rng, 32)
    goals = probe.rules.sample_free_points(rng, 32)
    actions = rng.uniform(-1, 1, size=(40, 32, 2))
    drive_single_and_vector(task, SimpleNavigationGoalEnv, "SimpleNavigationGoal-v0", starts, goals, actions)


def test_next_step_autoreset_and_time_limit():
    env = gym.make_vec("SimpleNavigation-v0", num_envs=2, max_episode_steps=5)
    env.reset(seed=0, options={"start_position": [(0.45, 0.45), (-1.0, -1.0)]})
    toward_goal = np.array([[1.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    obs, rewards, terminated, truncated, _ = env.step(toward_goal)
    assert terminated.tolist() == [True, False]
    # The step after an end returns the reset observation with reward 0 and both flags False.
    obs, rewards, terminated, truncated, _ = env.step(toward_goal)
    assert rewards[0] == 0.0 and not terminated[0] and not truncated[0]
    assert not np.allclose(obs[0], [0.55, 0.55])
    for _ in range(3):
        obs, rewards, terminated, truncated, _ = env.step(toward_goal)
    assert truncated[1] and not terminated[1]
    obs, rewards, terminated, truncated, _ = env.step(toward_goal)
    assert rewards[1] == 0.0 and not truncated[1]


def test_goal_vector_env_draws_new_goals_on_autoreset():
    env = SimpleNavigationGoalVectorEnv(num_envs=3, max_episode_steps=2)
    obs, _ = env.reset(seed=0)
    first_goals = obs["desired_goal"].copy()
    for _ in range(3):
        obs, *_ = env.step(np.zeros((3, 2), dtype=np.float32))
    assert not np.array_equal(obs["desired_goal"], first_goals)
    rewards = env.compute_reward(obs["achieved_goal"], obs["desired_goal"], {})
    assert rewards.shape == (3,)


def test_vector_env_seeding_is_deterministic():
    def rollout(seed):
        env = gym.make_vec("SimpleNavigationGoal-v0", num_envs=16, max_episode_steps=10)
        obs, _ = env.reset(seed=seed)
        out = [obs["observation"], obs["desired_goal"]]
        for _ in range(25):
            obs, rewards, *_ = env.step(np.full((16, 2), 0.3, dtype=np.float32))
            out += [obs["observation"], obs["desired_goal"], np.stack([rewards, rewards], axis=1)]
        return np.concatenate(out)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3), rollout(4))


@pytest.mark.parametrize(
    ("actions", "error", "message"),
    [
        (np.zeros((3, 2), dtype=np.float32), ValueError, r"shape \(4, 2\)"),
        (np.array([[0.0, np.nan]] * 4, dtype=np.float32), ValueError, "finite"),
        (np.array([[0.0, 0.0]] * 3 + [[np.inf, 0.0]]), ValueError, r"env indices \[3\]"),
        (np.zeros((4, 2), dtype=bool), TypeError, "real numbers"),
    ],
)
def test_vector_env_rejects_bad_actions_and_changes_nothing(actions, error, message):
    env = gym.make_vec("SimpleNavigation-v0", num_envs=4)
    obs, _ = env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(actions)
    after, *_ = env.step(np.zeros((4, 2), dtype=np.float32))
    np.testing.assert_array_equal(after, obs)


def test_vector_env_errors():
    with pytest.raises(ResetNeeded):
        gym.make_vec("SimpleNavigation-v0", num_envs=2).step(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec("SimpleNavigation-v0", num_envs=0)
    with pytest.raises(ValueError, match="outside the arena"):
        gym.make_vec("SimpleNavigation-v0", num_envs=2, goal_position=(3.0, 0.0))
    env = gym.make_vec("SimpleNavigation-v0", num_envs=2)
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"start_position": np.zeros((3, 2))})


def test_vector_env_renders_one_frame_per_copy():
    env = gym.make_vec("SimpleNavigation-v0", num_envs=3, render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 3
    assert all(frame.shape == (256, 256, 3) and frame.dtype == np.uint8 for frame in frames)


@pytest.mark.parametrize("env_id", ["SimpleNavigation-v0", "SimpleNavigationGoal-v0"])
def test_infos_on_autoreset_steps_match_sync_vector_env(env_id):
    """The native env's info dicts equal SyncVectorEnv's of the single env, key for key, masks included."""
    native = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", max_episode_steps=4)
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", max_episode_steps=4)
    native.reset(seed=0)
    sync.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(12):  # three episode ends and three autoreset steps per copy
        actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        *_, native_terminated, native_truncated, native_info = native.step(actions)
        *_, sync_terminated, sync_truncated, sync_info = sync.step(actions)
        np.testing.assert_array_equal(native_terminated | native_truncated, sync_terminated | sync_truncated)
        assert set(native_info) == set(sync_info)
        for key in native_info:
            if key.startswith("_"):
                np.testing.assert_array_equal(native_info[key], sync_info[key])
