"""The command line on MuJoCo tasks nobody here wrote, from a plain SB3 model to an exported prior (slow).

Each env's prior is the actor of a plain SB3 TD3 model trained for a few hundred steps, so the trust gate may keep it
or stand it down (a stood-down model's features are layer-normalised, which its export keeps). For each algorithm:
``pretrain --sb3-model``, ``finetune`` with the default recipe, ``evaluate``, ``export``, and the exported prior
evaluated again: it must score exactly as the model. Run with ``pytest -m slow tests/cli/test_mujoco_cli.py``.
"""

import json
import subprocess
import sys

import gymnasium as gym
import pytest

pytestmark = pytest.mark.slow

MUJOCO_ENVS = ["Reacher-v5", "Hopper-v5", "HalfCheetah-v5", "Swimmer-v5", "InvertedDoublePendulum-v5", "Pusher-v5"]


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sb3_finetune.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def plain_models(tmp_path_factory):
    pytest.importorskip("mujoco")
    from stable_baselines3 import TD3

    folder = tmp_path_factory.mktemp("mujoco")
    for env_id in MUJOCO_ENVS:
        model = TD3("MlpPolicy", gym.make(env_id), learning_starts=100, policy_kwargs={"net_arch": [32, 32]}, seed=0)
        model.learn(200)
        model.save(folder / f"{env_id}.zip")
    return folder


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
@pytest.mark.parametrize("env_id", MUJOCO_ENVS)
def test_mujoco_round_trip(env_id, algo, plain_models):
    name = f"{env_id}-{algo}"
    steps = [
        [
            *("pretrain", "--sb3-model", f"{env_id}.zip", "--env", env_id, "--hidden", "32", "32"),
            *("--samples", "1000", "--epochs", "3", "--eval-episodes", "2", "--out", f"{name}.pt"),
        ],
        [
            *("finetune", "--algo", algo, "--env", env_id, "--pretrained", f"{name}.pt", "-n", "1200"),
            *("--eval-freq", "600", "--eval-episodes", "2", "--out", f"{name}.zip", "-f", f"logs-{name}"),
        ],
        ["export", f"{name}.zip", "--out", f"{name}-exported.safetensors"],
    ]
    outputs = []
    for args in steps:
        result = cli(*args, cwd=plain_models)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    # No success signal: the gate compares returns with a random probe (per step where an episode outlasts half the
    # budget: Swimmer's and HalfCheetah's 1,000 steps), and says so once
    gate = [line for line in outputs[1].splitlines() if line.startswith("trust gate (random probe")]
    assert len(gate) == 1
    figures = []
    for model in (f"{name}.zip", f"{name}-exported.safetensors"):
        result = cli("evaluate", model, "--env", env_id, "--episodes", "3", "--json", cwd=plain_models)
        assert result.returncode == 0, result.stderr
        figures.append(json.loads(result.stdout.splitlines()[-1]))
    assert figures[0] == figures[1]
