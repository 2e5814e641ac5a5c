"""The RL Zoo's ``normalize``: finetune trains under VecNormalize, keeps its statistics, resumes and evaluates with
them; a model that needs them and has none is refused, as is its actor as a prior."""

import json

import gymnasium as gym
import numpy as np
import pytest

from sb3_finetune.cli import UsageError, load_hyperparams, load_normalize, main
from sb3_finetune.normalization import read_vec_normalize
from sb3_finetune.pretrain import pretrain, rollout_dataset

ZOO_ENTRY = """
Pendulum-v1:
  normalize: "{'norm_obs': True, 'norm_reward': False}"
  gamma: 0.98
  learning_starts: 300
  batch_size: 64
"""


def test_normalize_is_read_as_the_zoo_reads_it(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text(ZOO_ENTRY)
    assert load_normalize(str(path), "Pendulum-v1") == {"norm_obs": True, "norm_reward": False, "gamma": 0.98}
    params, _ = load_hyperparams(str(path), "Pendulum-v1")
    assert "normalize" not in params and params["gamma"] == 0.98
    path.write_text("Pendulum-v1:\n  normalize: true\n")
    assert load_normalize(str(path), "Pendulum-v1") == {}
    path.write_text("Pendulum-v1:\n  learning_starts: 10\n")
    assert load_normalize(str(path), "Pendulum-v1") is None
    path.write_text('Pendulum-v1:\n  normalize: "dict(norm_obs=True, scale=2)"\n')
    with pytest.raises(UsageError, match=r"normalize: \['scale'\] are not VecNormalize's"):
        load_normalize(str(path), "Pendulum-v1")


FINETUNE = ["finetune", "--algo", "td3", "--env", "Pendulum-v1", "--pretrained", "prior.safetensors", "-conf"]
FINETUNE += ["zoo.yml", "--eval-freq", "0", "--eval-episodes", "2", "--save-freq", "300"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A model fine-tuned under the Zoo entry's ``normalize`` for 600 steps (``model.zip``), and its run's output."""
    folder = tmp_path_factory.mktemp("vecnormalize")

    def controller(obs):  # a PD controller's torque, in Pendulum's units
        return np.clip(-6 * np.arctan2(obs[:, 1], obs[:, 0])[:, None] - obs[:, 2:3], -2, 2)

    pretrain(folder / "prior.safetensors", rollout_dataset(controller, gym.make("Pendulum-v1"), 600), epochs=3)
    (folder / "zoo.yml").write_text(ZOO_ENTRY)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main([*FINETUNE, "-n", "600", "--out", "model.zip"]) == 0
    return folder


def test_finetune_under_normalize_saves_resumes_and_evaluates_with_its_statistics(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    statistics = read_vec_normalize("model_vecnormalize.pkl")
    assert statistics.norm_reward is False and statistics.gamma == 0.98 and statistics.obs_rms.count > 600
    assert (folder / "logs" / "checkpoints" / "step-600" / "vecnormalize.pkl").is_file()

    assert main([*FINETUNE, "-n", "900", "--out", "resumed.zip", "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().out
    resumed = read_vec_normalize("resumed_vecnormalize.pkl")
    assert resumed.obs_rms.count > statistics.obs_rms.count + 250  # it went on from the checkpoint's statistics

    assert main(["evaluate", "model.zip", "--env", "Pendulum-v1", "--episodes", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "with the VecNormalize statistics in model_vecnormalize.pkl (found beside the model)" in out
    found = json.loads(out.strip().splitlines()[-1])["mean_return"]
    # exported, the statistics folded in: a prior that reads the env's own observations and acts as the model
    assert main(["export", "model.zip", "--out", "prior_next.safetensors"]) == 0
    assert "note: export: the VecNormalize statistics are folded into the first layer" in capsys.readouterr().out
    assert main(["evaluate", "prior_next.safetensors", "--env", "Pendulum-v1", "--episodes", "2", "--json"]) == 0
    exported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_return"]
    assert exported == pytest.approx(found, rel=1e-3)
    assert main(["pretrain", "--sb3-model", "model.zip", "--out", "from_pretrain.pt"]) == 0  # the same, folded
    assert "folded into the first layer" in capsys.readouterr().out
    assert main(["evaluate", "from_pretrain.pt", "--env", "Pendulum-v1", "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_return"] == pytest.approx(found, 1e-3)
    (folder / "model_vecnormalize.pkl").rename(folder / "stats.pkl")
    try:
        assert main(["evaluate", "model.zip", "--env", "Pendulum-v1", "--episodes", "2"]) == 2
        assert "trained under VecNormalize and acts on normalised observations" in capsys.readouterr().err
        assert main(["export", "model.zip", "--out", "never.pt"]) == 2
        assert "give its statistics with --vec-normalize" in capsys.readouterr().err
        assert main(["pretrain", "--sb3-model", "model.zip", "--out", "never.pt"]) == 2
        assert "give its statistics with --vec-normalize" in capsys.readouterr().err
        assert (
            main(["finetune", "--algo", "td3", "--env", "Pendulum-v1", "-n", "100", "--pretrained", "model.zip"]) == 2
        )
        assert "trained under VecNormalize: its actor reads normalised observations" in capsys.readouterr().err
        assert not (folder / "never.pt").exists()
        args = ["evaluate", "model.zip", "--env", "Pendulum-v1", "--episodes", "2", "--vec-normalize", "stats.pkl"]
        assert main([*args, "--json"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_return"] == found
    finally:
        (folder / "stats.pkl").rename(folder / "model_vecnormalize.pkl")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*("finetune", "--algo", "td3", "--env", "Pendulum-v1", "-n", "100", "--pretrained", "model.zip")],
            "VecNormalize statistics lie beside it (model_vecnormalize.pkl)",
        ),
        (
            ["pretrain", "--dataset", "x.npz", "--out", "never.pt", "--vec-normalize", "model_vecnormalize.pkl"],
            "--vec-normalize is for --sb3-model",
        ),
        (
            ["evaluate", "prior.safetensors", "--env", "Pendulum-v1", "--vec-normalize", "model_vecnormalize.pkl"],
            "--vec-normalize is for an SB3 model .zip",
        ),
        (
            ["evaluate", "model.zip", "--env", "MountainCarContinuous-v0", "--vec-normalize", "model_vecnormalize.pkl"],
            "holds VecNormalize statistics of observations",
        ),
        (["evaluate", "model.zip", "--env", "Pendulum-v1", "--vec-normalize", "zoo.yml"], "as VecNormalize statistics"),
    ],
)
def test_what_a_normalised_model_cannot_do_is_said_in_one_line(folder, capsys, monkeypatch, args, message):
    monkeypatch.chdir(folder)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (folder / "never.pt").exists()


def test_a_zoo_model_with_its_statistics_in_the_zoos_layout(tmp_path, capsys, monkeypatch):
    """A plain SB3 model (no word of its own on VecNormalize) beside the RL Zoo's ``<model>/vecnormalize.pkl``."""
    from stable_baselines3 import TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    monkeypatch.chdir(tmp_path)
    env = VecNormalize(make_vec_env("Pendulum-v1", seed=0))
    model = TD3("MlpPolicy", env, seed=0, device="cpu", learning_starts=50, buffer_size=500)
    model.learn(100)
    model.save("Pendulum-v1.zip")
    (tmp_path / "Pendulum-v1").mkdir()
    env.save("Pendulum-v1/vecnormalize.pkl")
    assert main(["evaluate", "Pendulum-v1.zip", "--env", "Pendulum-v1", "--episodes", "2"]) == 0
    assert "statistics in Pendulum-v1/vecnormalize.pkl (found beside the model)" in capsys.readouterr().out
    assert (
        main(["finetune", "--algo", "td3", "--env", "Pendulum-v1", "-n", "100", "--pretrained", "Pendulum-v1.zip"]) == 2
    )
    assert "VecNormalize statistics lie beside it" in capsys.readouterr().err
    assert main(["export", "Pendulum-v1.zip", "--out", "prior.pt"]) == 0
    assert "folded into the first layer" in capsys.readouterr().out
