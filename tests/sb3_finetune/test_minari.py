"""Pretraining from a Minari dataset, made here locally (no download is possible or needed).

Minari's ``DataCollector`` needs jax (``minari[create]``, several hundred MB); the dataset is made with
``minari.create_dataset_from_buffers`` from episode buffers instead, which writes the same local format.
"""

import gymnasium as gym
import numpy as np
import pytest

from sb3_finetune.pretrain import minari_dataset


def _episode(env, seed):
    from minari.data_collector import EpisodeBuffer

    obs, _ = env.reset(seed=seed)
    observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
    done = False
    while not done:
        action = env.action_space.sample()
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        terminations.append(terminated)
        truncations.append(truncated)
        done = terminated or truncated
    return EpisodeBuffer(
        id=seed,
        observations=observations,
        actions=actions,
        rewards=rewards,
        terminations=terminations,
        truncations=truncations,
        infos={},
    )


def test_minari_dataset_becomes_pairs_in_env_units(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    pytest.importorskip("h5py")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = gym.make("Pendulum-v1")
    env.action_space.seed(0)
    episodes = [_episode(env, seed) for seed in range(2)]
    minari.create_dataset_from_buffers("pendulum/random-v0", episodes, env=env, algorithm_name="random")
    data = minari_dataset("pendulum/random-v0")
    assert data.observations.shape == (400, 3) and data.actions.shape == (400, 1)
    expected = np.concatenate([np.array(episode.actions, dtype=np.float32) for episode in episodes])
    np.testing.assert_allclose(data.actions, expected)  # Pendulum's own units, [-2, 2]
    assert np.abs(data.actions).max() > 1.0

    from sb3_finetune.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", "--minari", "pendulum/random-v0", "--out", "prior.pt", "--epochs", "2"]) == 0
    assert (tmp_path / "prior.pt").exists()
    assert main(["pretrain", "--minari", "nobody/nothing-v0", "--out", "x.pt"]) == 2
