"""The warm-up hand-over (``Recipe.warmup_handover``): each of the prior's warm-up episodes turns to uniform random
actions at a random step, and nothing else sees the change."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_finetune import get_recipe, make_finetune
from sb3_finetune.warmup import ProbeRecorder, collect_handing_over, hand_over_horizon


class Predicts(BaseCallback):
    """At every step, what ``model.predict`` gives for the new observations (as an evaluation would ask)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def _on_step(self) -> bool:
        observations = self.locals["new_obs"]
        self.seen.append((observations.copy(), self.model.predict(observations, deterministic=True)[0]))
        return True


def make_model(algo=TD3, n_envs=1):
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0)
    model = algo("MlpPolicy", env, learning_starts=10**6, seed=0, device="cpu", policy_kwargs={"net_arch": [16]})
    model._setup_learn(10**4, None)
    return model


def episodes_of(model, n_steps, n_envs):
    """The buffer's scaled actions and the actor's deterministic ones on the same observations, per env."""
    observations = model.replay_buffer.observations[:n_steps].reshape(-1, 3)
    with th.no_grad():
        actor = model.policy.actor(th.as_tensor(observations)).numpy().reshape(n_steps, n_envs, -1)
    return model.replay_buffer.actions[:n_steps], actor


def test_each_episode_is_the_policy_until_one_step_then_random():
    model = make_model(n_envs=2)
    callback = Predicts()
    callback.init_callback(model)
    hand_over = collect_handing_over(model, callback, 1_200, horizon=200, seed=3)  # 3 Pendulum episodes per env
    buffered, actor = episodes_of(model, 600, 2)
    switches = []
    for env_index in range(2):
        for episode in range(3):
            steps = slice(episode * 200, (episode + 1) * 200)
            same = np.isclose(buffered[steps, env_index], actor[steps, env_index], atol=1e-5).all(axis=1)
            switch = int(np.argmin(same)) if not same.all() else 200
            assert same[:switch].all() and not same[switch:].any(), "one hand-over per episode, then random only"
            switches.append(switch)
    assert len(set(switches)) > 3  # drawn anew for every episode
    assert hand_over.random_actions == sum(200 - s for s in switches)
    assert np.all(np.abs(buffered[:600]) <= 1.0)
    # The run's callbacks (an evaluation) saw the true actor throughout, and the hook is gone afterwards.
    assert len(callback.seen) == 600 and not model.policy.actor._forward_hooks
    for observations, predicted in callback.seen:
        assert np.allclose(predicted, model.predict(observations, deterministic=True)[0], atol=1e-6)


def test_a_horizon_longer_than_the_collection_leaves_the_policy_alone():
    model = make_model(TD3)
    callback = Predicts()
    callback.init_callback(model)
    hand_over = collect_handing_over(model, callback, 150, horizon=10**9, seed=0)
    buffered, actor = episodes_of(model, 150, 1)
    assert hand_over.random_actions == 0 and np.allclose(buffered, actor, atol=1e-5)


def test_the_horizon_is_the_probe_s_longest_episode():
    recorder = ProbeRecorder(Predicts(), 2)
    recorder.rewards = [[0.0] * 7, [0.0] * 9]
    assert hand_over_horizon(recorder) == 9  # no episode ended: the steps per env
    recorder.episodes = [[(-1.0, 5, None)], [(-2.0, 4, None), (-3.0, 3, None)]]
    assert hand_over_horizon(recorder) == 5


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_the_recipe_hands_over_in_its_warm_up_and_says_so(pendulum_prior, algo, tmp_path):
    recipe = get_recipe("default", distill_steps=50, warmup_handover=True, trust_gate=None)
    setup = make_finetune(algo, "Pendulum-v1", pendulum_prior, 1_100, recipe, seed=0)
    setup.learn(1_100)
    assert setup.gate is None  # no gate: the prior is used as it is
    (sentence,) = [d for d in setup.decisions if d.startswith("warm-up hand-over")]
    assert "below 200" in sentence  # Pendulum's episodes are 200 steps long
    assert not setup.model.policy.actor._forward_hooks
    setup.model.save(tmp_path / "model.zip")  # nothing of the hand-over is left in the model
    loaded = type(setup.model).load(tmp_path / "model.zip", device="cpu")
    observations = setup.model.replay_buffer.observations[:5].reshape(-1, 3)
    assert np.allclose(
        loaded.predict(observations, deterministic=True)[0], setup.model.predict(observations, deterministic=True)[0]
    )


def test_without_the_gate_s_trust_the_warm_up_is_random_and_no_hand_over_is_said(pendulum_prior):
    recipe = get_recipe("default", distill_steps=50, warmup_handover=True)  # this PD prior cannot swing up
    setup = make_finetune(
        "td3", "Pendulum-v1", pendulum_prior, 1_850, recipe, seed=0, hyperparams={"learning_starts": 1_800}
    )
    setup.learn(1_850)
    assert setup.trusted is False
    assert not [d for d in setup.decisions if d.startswith("warm-up hand-over")]


def test_the_rl_zoo_callback_hands_over_too_and_keeps_the_decision(pendulum_prior):
    from sb3_finetune.zoo import FinetuneCallback

    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=1_000, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, warmup_handover=True, trust_gate=None, distill_steps=50)
    model.learn(1_020, callback=callback)
    (sentence,) = [d for d in callback.decisions if d.startswith("warm-up hand-over")]
    assert "below 200" in sentence and not model.policy.actor._forward_hooks


def test_a_hand_over_with_no_room_left_by_the_probe_is_said(pendulum_prior):
    recipe = get_recipe("default", distill_steps=50, warmup_handover=True, trust_gate=None)
    setup = make_finetune(
        "td3", "Pendulum-v1", pendulum_prior, 400, recipe, seed=0, hyperparams={"learning_starts": 300}
    )
    setup.learn(400)
    (sentence,) = [d for d in setup.decisions if d.startswith("warm-up hand-over")]
    assert "nothing to hand over" in sentence and "learning_starts is 300" in sentence


def test_dict_observations_hand_over_too():
    """PointMaze (Gymnasium-Robotics): Dict observations, infinite bounds, 300-step episodes, two envs."""
    gymnasium_robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(gymnasium_robotics)
    env = make_vec_env("PointMaze_UMaze-v3", n_envs=2, seed=0)
    model = TD3("MultiInputPolicy", env, learning_starts=10**6, seed=0, device="cpu", policy_kwargs={"net_arch": [16]})
    model._setup_learn(10**4, None)
    callback = Predicts()
    callback.init_callback(model)
    hand_over = collect_handing_over(model, callback, 600, horizon=300, seed=1)
    buffer = model.replay_buffer
    observations = {key: th.as_tensor(value[:300].reshape(600, -1)) for key, value in buffer.observations.items()}
    with th.no_grad():
        actor = model.policy.actor(observations).numpy().reshape(300, 2, -1)
    same = np.isclose(buffer.actions[:300], actor, atol=1e-5).all(axis=2)
    for env_index in range(2):  # one 300-step episode per env: the policy up to one step, then random only
        switch = int(np.argmin(same[:, env_index])) if not same[:, env_index].all() else 300
        assert same[:switch, env_index].all() and not same[switch:, env_index].any()
    assert hand_over.random_actions == int((~same).sum()) > 0
    assert not model.policy.actor._forward_hooks
