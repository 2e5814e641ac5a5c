"""Fine-tuning from inside the RL Zoo: the shipped example trains with the recipe as a callback, enjoy replays it."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from sb3_finetune.pretrain import pretrain, rollout_dataset

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rl_zoo" / "td3_pendulum_finetune.yml"


def test_rl_zoo_train_with_the_finetune_callback_then_enjoy(tmp_path):
    if importlib.util.find_spec("rl_zoo3") is None:  # not imported here: it patches gymnasium's TimeLimit
        pytest.skip("rl_zoo3 is not installed")

    def controller(obs):
        return np.clip(-6 * np.arctan2(obs[:, 1], obs[:, 0])[:, None] - obs[:, 2:3], -2, 2)

    pretrain(tmp_path / "prior.pt", rollout_dataset(controller, gym.make("Pendulum-v1"), 1_000), epochs=5)
    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "td3", "--env", "Pendulum-v1", "-conf", str(EXAMPLE)]
    result = subprocess.run(
        [*train, "-n", "1300", "--eval-freq", "-1", "--seed", "0"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trust gate (random probe)" in result.stdout
    assert (tmp_path / "logs" / "td3" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()
    (tmp_path / "prior.pt").unlink()  # the saved model records the network's shape: it loads without the file
    enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", "td3", "--env", "Pendulum-v1", "-f", "logs"]
    result = subprocess.run(
        [*enjoy, "--exp-id", "1", "--no-render", "-n", "200"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Episode Reward" in result.stdout
