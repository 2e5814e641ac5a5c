"""VecNormalize: statistics read without running code, models evaluated and checkpointed with their statistics."""

import os
import pickle

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_finetune.checkpoint import CheckpointCallback, list_checkpoints, load_checkpoint, save_checkpoint
from sb3_finetune.evaluation import LearningCurveCallback, evaluate, model_policy, prior_policy
from sb3_finetune.normalization import load_vec_normalize, read_vec_normalize, save_vec_normalize
from sb3_finetune.prior import load_prior
from sb3_finetune.recipes import get_recipe, make_finetune


def _stepped(env_id="Pendulum-v1", steps=50, **kwargs):
    """A VecNormalize whose statistics have seen ``steps`` random steps."""
    env = VecNormalize(make_vec_env(env_id, n_envs=2, seed=0), **kwargs)
    env.reset()
    for _ in range(steps):
        env.step(np.array([env.action_space.sample() for _ in range(2)]))
    return env


def test_statistics_round_trip_in_sb3s_format(tmp_path):
    env = _stepped()
    path = save_vec_normalize(env, tmp_path / "vecnormalize.pkl")
    assert not [p for p in tmp_path.iterdir() if p != path]  # the temporary file is gone
    sb3 = VecNormalize.load(str(path), make_vec_env("Pendulum-v1"))  # SB3's own loader reads what we write
    ours = load_vec_normalize(path, make_vec_env("Pendulum-v1"))
    raw = np.array([[1.0, 0.0, 3.0], [0.0, -1.0, -7.0]], dtype=np.float32)
    np.testing.assert_allclose(ours.normalize_obs(raw), env.normalize_obs(raw))
    np.testing.assert_allclose(ours.normalize_obs(raw), sb3.normalize_obs(raw))
    assert ours.training is False and ours.ret_rms.count == env.ret_rms.count


def test_dict_observations_round_trip(tmp_path):
    env = _stepped("SimpleNavigationGoal-v0", steps=20)
    read = read_vec_normalize(save_vec_normalize(env, tmp_path / "stats.pkl"))
    assert set(read.obs_rms) == set(env.obs_rms)
    for key in env.obs_rms:
        np.testing.assert_allclose(read.obs_rms[key].mean, env.obs_rms[key].mean)


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_a_file_that_names_anything_else_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"obs_rms": _Payload(str(marker))}))
    with pytest.raises(ValueError, match="mkdir"):
        read_vec_normalize(evil)
    assert not marker.exists()
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": np.zeros(3)}))
    with pytest.raises(ValueError, match="holds a dict, not SB3's VecNormalize"):
        read_vec_normalize(other)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match=r"cannot read .* as VecNormalize statistics"):
        read_vec_normalize(junk)


def test_statistics_of_other_observations_are_refused(tmp_path):
    path = save_vec_normalize(_stepped(), tmp_path / "stats.pkl")
    with pytest.raises(ValueError, match="statistics of observations"):
        load_vec_normalize(path, make_vec_env("MountainCarContinuous-v0"))


def test_model_policy_normalises_the_envs_own_observations():
    env = _stepped()
    model = SAC("MlpPolicy", env, seed=0, device="cpu")
    raw = np.array([[1.0, 0.0, 3.0], [0.6, 0.8, -5.0]], dtype=np.float32)
    expected = model.predict(env.normalize_obs(raw), deterministic=True)[0]
    np.testing.assert_allclose(model_policy(model)(raw), expected)
    # a model loaded without its env acts with the statistics it is given
    loaded = SAC("MlpPolicy", env.venv, seed=0, device="cpu")
    loaded.policy.load_state_dict(model.policy.state_dict())
    np.testing.assert_allclose(model_policy(loaded, env)(raw), expected)
    assert not np.allclose(model_policy(loaded)(raw), expected)  # without them it acts on raw observations


def test_evaluation_on_a_vecnormalize_env_gives_policies_the_envs_own_observations():
    env = _stepped()
    seen = []

    def policy(obs):
        seen.append(np.array(obs))
        return np.zeros((len(obs), 1), dtype=np.float32)

    env.training = False
    evaluate(policy, env, episodes=2)
    cos, sin = np.concatenate(seen)[:, 0], np.concatenate(seen)[:, 1]
    np.testing.assert_allclose(cos**2 + sin**2, 1.0, atol=1e-5)  # Pendulum's own (cos, sin), not normalised


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_the_model_is_the_prior_at_step_0_under_vecnormalize(algo, pendulum_prior):
    """The prior reads the env's own observations exactly, though the early statistics clip nearly all of them."""
    env = VecNormalize(make_vec_env("Pendulum-v1", seed=0))
    recipe = get_recipe("default", trust_gate=None)
    setup = make_finetune(algo, env, pendulum_prior, 1_000, recipe, seed=0, hyperparams={"learning_starts": 800})
    curve = LearningCurveCallback("Pendulum-v1", {}, eval_freq=10_000, episodes=3)
    setup.learn(1, callback=[curve])
    prior = load_prior(pendulum_prior, env.action_space, env.observation_space)
    expected = evaluate(prior_policy(prior), "Pendulum-v1", {}, episodes=3, seed=10_000)
    assert curve.curve[0]["step"] == 0
    assert curve.curve[0]["mean_return"] == pytest.approx(expected.mean_return, rel=1e-5)
    assert setup.model.finetune_vec_normalize is True


def test_checkpoints_keep_the_statistics_and_resume_with_them(tmp_path):
    env = _stepped()
    model = TD3("MlpPolicy", env, seed=0, device="cpu", learning_starts=10)
    model.learn(40)
    path = save_checkpoint(model, tmp_path)
    assert (path / "vecnormalize.pkl").is_file()
    fresh = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=1))
    loaded, state = load_checkpoint(path, TD3, env=fresh, device="cpu")
    np.testing.assert_allclose(fresh.obs_rms.mean, env.obs_rms.mean)
    assert fresh.obs_rms.count == env.obs_rms.count and loaded.get_vec_normalize_env() is fresh
    assert "vec_normalize" not in state
    with pytest.raises(ValueError, match="under VecNormalize and the env to resume on is not"):
        load_checkpoint(path, TD3, env=make_vec_env("Pendulum-v1", n_envs=2), device="cpu")
    _, state = load_checkpoint(path, TD3, device="cpu")  # without an env, the statistics come back to the caller
    np.testing.assert_allclose(state["vec_normalize"].obs_rms.mean, env.obs_rms.mean)
    plain = TD3("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), seed=0, device="cpu")
    plain_path = save_checkpoint(plain, tmp_path / "plain")
    with pytest.raises(ValueError, match="without VecNormalize and the env to resume on is wrapped"):
        load_checkpoint(plain_path, TD3, env=VecNormalize(make_vec_env("Pendulum-v1", n_envs=2)), device="cpu")


def test_a_resumed_run_checkpoints_at_the_next_multiple_of_save_freq(tmp_path):
    env = DummyVecEnv([lambda: gym.make("Pendulum-v1")])
    model = TD3("MlpPolicy", env, seed=0, device="cpu", learning_starts=10, buffer_size=500)
    model.learn(250, callback=CheckpointCallback(100, tmp_path))
    assert [step for step, _ in list_checkpoints(tmp_path)] == [100, 200]
    model.learn(250, callback=CheckpointCallback(100, tmp_path, keep=5), reset_num_timesteps=False)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [100, 200, 300, 400, 500]


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "SimpleNavigationGoal-v0"])
def test_an_exported_actor_reads_the_envs_own_observations_with_the_statistics_folded_in(env_id, tmp_path):
    from sb3_finetune.pretrain import export
    from sb3_finetune.weights import read_metadata

    env = _stepped(env_id, steps=60)
    policy = "MultiInputPolicy" if env_id != "Pendulum-v1" else "MlpPolicy"
    model = TD3(policy, env, seed=0, device="cpu", learning_starts=10, buffer_size=500)
    model.learn(40)
    model.save(tmp_path / "model.zip")
    export(tmp_path / "model.zip", tmp_path / "prior.safetensors", vec_normalize=env)
    assert read_metadata(tmp_path / "prior.safetensors")["vec_normalize_folded"] == "clip_obs=10.0"
    prior = load_prior(tmp_path / "prior.safetensors", env.action_space, env.observation_space)
    raw = env.get_original_obs()  # the env's own observations, well within the statistics' clip
    np.testing.assert_allclose(prior.predict(raw), model_policy(model)(raw), atol=1e-4)
    export(tmp_path / "model.zip", tmp_path / "plain.safetensors")  # without: the chain reads normalised ones
    plain = load_prior(tmp_path / "plain.safetensors", env.action_space, env.observation_space)
    assert not np.allclose(plain.predict(raw), model_policy(model)(raw), atol=1e-3)
