import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC, HerReplayBuffer

import nav_env  # noqa: F401


@pytest.mark.parametrize("reward_type", ["dense", "sparse"])
def test_her_trains_on_the_goal_env_and_relabels_with_compute_reward(reward_type):
    env = gym.make("SimpleNavigationGoal-v0", reward_type=reward_type)
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        learning_starts=100,
        batch_size=32,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
        device="cpu",
    )
    model.learn(300)
    assert model.num_timesteps == 300
    buffer = model.replay_buffer
    samples = buffer.sample(256)
    achieved = samples.next_observations["achieved_goal"].numpy()
    desired = samples.observations["desired_goal"].numpy()
    # Some samples carry relabelled goals (goals no episode had); every reward matches compute_reward.
    real_goals = {tuple(goal) for goal in buffer.observations["desired_goal"][: buffer.pos, 0]}
    assert sum(tuple(goal) not in real_goals for goal in desired) > 0
    expected = env.unwrapped.compute_reward(achieved, desired, [{}] * len(achieved))
    np.testing.assert_allclose(samples.rewards.numpy().ravel(), expected, rtol=1e-6, atol=1e-6)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(action)
