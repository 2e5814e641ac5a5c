"""The command line's pretrain -> finetune -> evaluate round trip on envs nobody here wrote.

One algorithm per env (DDPG, TD3 and SAC each take one), to keep the default suite short: the Python contract in
``tests/sb3_finetune/test_any_env.py`` covers every algorithm on every env.
"""

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import TD3

from sb3_finetune.pretrain import rollout_dataset


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sb3_finetune.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def _last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_pendulum_from_a_dataset_in_env_units(tmp_path):
    def controller(obs):  # a PD controller's torque, in Pendulum's units [-2, 2]
        return np.clip(-6 * np.arctan2(obs[:, 1], obs[:, 0])[:, None] - obs[:, 2:3], -2, 2)

    data = rollout_dataset(controller, gym.make("Pendulum-v1"), 1_000)
    np.savez(tmp_path / "pendulum.npz", observations=data.observations, actions=data.actions)
    steps = [
        [
            "pretrain",
            "--dataset",
            "pendulum.npz",
            "--out",
            "prior.pt",
            "--epochs",
            "5",
            "--env",
            "Pendulum-v1",
            "--eval-episodes",
            "2",
        ],
        ["evaluate", "prior.pt", "--env", "Pendulum-v1", "--episodes", "2", "--json"],
        [
            "finetune",
            "--algo",
            "td3",
            "--env",
            "Pendulum-v1",
            "--pretrained",
            "prior.pt",
            "-n",
            "900",
            "--eval-episodes",
            "2",
            "--out",
            "model.zip",
            "--verbose",
            "1",
        ],
        ["evaluate", "model.zip", "--env", "Pendulum-v1", "--episodes", "2", "--json"],
    ]
    outputs = []
    for args in steps:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "actions in env units" in outputs[0]
    prior = _last_json(outputs[1])
    assert prior["success_rate"] is None and prior["expert_return_ratio"] is None  # none invented
    assert "trust gate (random probe" in outputs[2]
    assert np.isfinite(_last_json(outputs[3])["mean_return"])


def test_mountaincar_from_a_plain_sb3_model(tmp_path):
    TD3("MlpPolicy", "MountainCarContinuous-v0", seed=0).save(tmp_path / "td3.zip")
    steps = [
        ["pretrain", "--sb3-model", "td3.zip", "--out", "actor.safetensors"],
        [
            "pretrain",
            "--sb3-model",
            "td3.zip",
            "--hidden",
            "32",
            "--samples",
            "600",
            "--epochs",
            "3",
            "--env",
            "MountainCarContinuous-v0",
            "--out",
            "small.pt",
            "--eval-episodes",
            "1",
        ],
        [
            "finetune",
            "--algo",
            "sac",
            "--env",
            "MountainCarContinuous-v0",
            "--pretrained",
            "td3.zip",
            "-n",
            "700",
            "--eval-episodes",
            "1",
            "--out",
            "model.zip",
        ],
        ["evaluate", "model.zip", "--env", "MountainCarContinuous-v0", "--episodes", "1", "--json"],
        ["evaluate", "actor.safetensors", "--env", "MountainCarContinuous-v0", "--episodes", "1", "--json"],
    ]
    outputs = []
    for args in steps:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "actions in scaled units" in outputs[0]
    assert _last_json(outputs[-1])["mean_length"] > 0


def test_pointmaze_with_gym_packages_and_module_id(tmp_path):
    gymnasium_robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(gymnasium_robotics)

    def to_goal(obs):
        return np.clip(5 * (obs["desired_goal"] - obs["observation"][:, :2]) - obs["observation"][:, 2:], -1, 1)

    data = rollout_dataset(to_goal, gym.make("PointMaze_UMaze-v3"), 900)  # [observation, desired_goal]: 6 values
    np.savez(tmp_path / "maze.npz", observations=data.observations, actions=data.actions)
    steps = [
        [
            "pretrain",
            "--dataset",
            "maze.npz",
            "--out",
            "prior.pt",
            "--epochs",
            "5",
            "--env",
            "PointMaze_UMaze-v3",
            "--gym-packages",
            "gymnasium_robotics",
            "--eval-episodes",
            "1",
        ],
        [
            "finetune",
            "--algo",
            "ddpg",
            "--env",
            "PointMaze_UMaze-v3",
            "--gym-packages",
            "gymnasium_robotics",
            "--pretrained",
            "prior.pt",
            "-n",
            "700",
            "--eval-episodes",
            "1",
            "--out",
            "model.zip",
        ],
        ["evaluate", "model.zip", "--env", "gymnasium_robotics:PointMaze_UMaze-v3", "--episodes", "2", "--json"],
    ]
    for args in steps:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    figures = _last_json(result.stdout)
    assert 0.0 <= figures["success_rate"] <= 1.0  # info["success"] is read
    assert figures["expert_return_ratio"] is None


def test_a_plain_sb3_model_on_dict_observations_reads_every_key(tmp_path):
    """SB3's ``MultiInputPolicy`` flattens every key of a Dict observation in sorted order (8 values on PointMaze,
    not the goal env's usual ``observation, desired_goal``): ``pretrain --sb3-model`` (as it is, or distilled into
    new layers) and ``export`` give the actor those keys, and the exported prior acts as the model does."""
    gymnasium_robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(gymnasium_robotics)
    model = TD3("MultiInputPolicy", gym.make("PointMaze_UMaze-v3"), policy_kwargs={"net_arch": [16]}, seed=0)
    model.save(tmp_path / "plain.zip")
    maze = ["--env", "PointMaze_UMaze-v3", "--gym-packages", "gymnasium_robotics"]
    evaluate = ["--episodes", "2", "--json", *maze]
    for args in (
        ["pretrain", "--sb3-model", "plain.zip", "--out", "as_it_is.pt", "--eval-episodes", "1", *maze],
        [
            *("pretrain", "--sb3-model", "plain.zip", "--out", "distilled.pt", "--hidden", "8"),
            *("--samples", "300", "--epochs", "1", "--eval-episodes", "1", *maze),
        ],
        ["export", "plain.zip", "--out", "exported.pt"],
    ):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    from sb3_finetune.weights import read_metadata

    for name in ("as_it_is.pt", "exported.pt"):
        assert read_metadata(tmp_path / name)["input_keys"] == "achieved_goal,desired_goal,observation"
    figures = [cli("evaluate", name, *evaluate, cwd=tmp_path) for name in ("plain.zip", "exported.pt", "as_it_is.pt")]
    assert all(result.returncode == 0 for result in figures), [result.stderr for result in figures]
    assert _last_json(figures[0].stdout) == _last_json(figures[1].stdout) == _last_json(figures[2].stdout)


CONTROLLER = """
import numpy as np

calls = []


def pd(obs):  # a PD controller's torque, in Pendulum's units [-2, 2]
    calls.append(np.asarray(obs).shape)
    return np.clip(-6 * np.arctan2(obs[:, 1], obs[:, 0])[:, None] - obs[:, 2:3], -2, 2)


def wrong_size(obs):
    return np.zeros((len(obs), 3))
"""


def test_pretrain_clones_a_controller_of_the_users_inside_the_files_wrappers(tmp_path, monkeypatch, capsys):
    """``pretrain --controller module:name`` clones the user's batch controller from its noisy rollouts (DART: every
    state labelled with the clean action); with ``-conf`` the rollouts and the prior's check run inside the file's
    env_wrapper, so the check is what ``evaluate -conf`` gives."""
    import importlib

    from sb3_finetune.cli import main
    from sb3_finetune.weights import read_metadata, read_weights

    (tmp_path / "my_controller.py").write_text(CONTROLLER)
    (tmp_path / "h.yml").write_text(
        "Pendulum-v1:\n  env_wrapper:\n    - gymnasium.wrappers.TimeLimit:\n        max_episode_steps: 7\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("my_controller")
    common = ["pretrain", "--env", "Pendulum-v1", "--samples", "700", "--epochs", "60", "--eval-episodes", "3"]
    assert main([*common, "--controller", "my_controller:pd", "-conf", "h.yml", "--out", "prior.pt"]) == 0
    printed = capsys.readouterr().out
    assert "(controller; 700 rollout steps on Pendulum-v1, acting noise 0.3; actions in env units)" in printed
    assert module.calls[0] == (1, 3) and len(module.calls) == 701  # the check's batch of one, then each step's
    assert read_metadata("prior.pt")["source"] == "controller"
    assert main(["evaluate", "prior.pt", "--env", "Pendulum-v1", "-conf", "h.yml", "--episodes", "3", "--json"]) == 0
    figures = _last_json(capsys.readouterr().out)
    assert figures["mean_length"] == 7  # inside the file's TimeLimit
    assert f"return {figures['mean_return']:.2f}" in printed  # the check ran there too, on the same episodes
    # the clone acts as the controller on states like those of its rollouts (not exact: 60 epochs of 700 pairs)
    from sb3_finetune.prior import load_prior

    env = gym.make("Pendulum-v1", max_episode_steps=7)
    prior = load_prior(read_weights("prior.pt"), env.action_space, env.observation_space, "env")
    states = rollout_dataset(module.pd, env, 300, seed=1).observations
    actions = module.pd(states)
    error = np.abs(prior.predict(states) - actions).mean()
    assert error < 0.75 * np.abs(actions - np.median(actions)).mean(), error  # well below the best constant's
    assert main([*common, "--controller", "my_controller:wrong_size", "--out", "wrong.pt"]) == 2
    assert "it gave actions of shape (1, 3), where a batch of one of the env's has shape (1, 1)" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "wrong.pt").exists()
