"""The RL Zoo's hyperparameter files read as the Zoo reads them: its own entries, a run's saved ``config.yml``."""

import argparse
import importlib.util
import inspect
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import gymnasium as gym
import pytest
import yaml
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.utils import LinearSchedule

from sb3_finetune.cli import (
    ZOO_ONLY_KEYS,
    UsageError,
    _env_from_args,
    _hyperparams_entry,
    hyperparams_source,
    load_hyperparams,
    main,
)

ALGORITHMS = {"ddpg": DDPG, "td3": TD3, "sac": SAC}


def zoo_file(algo: str) -> Path:
    spec = importlib.util.find_spec("rl_zoo3")  # not imported: rl_zoo3 patches gymnasium's TimeLimit on import
    if spec is None or spec.origin is None:
        pytest.skip("rl_zoo3 is not installed")
    return Path(spec.origin).parent / "hyperparams" / f"{algo}.yml"


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_every_entry_of_the_zoos_own_files_gives_the_algorithms_arguments(algo):
    """Each entry of the Zoo's DDPG, TD3 and SAC files is read into arguments the algorithm takes (its ``lin_``
    learning rates as the Zoo's linear schedule), or refused by the name of a setting sb3-finetune leaves to the
    Zoo."""
    path = zoo_file(algo)
    entries = yaml.safe_load(path.read_text())
    accepted = set(inspect.signature(ALGORITHMS[algo].__init__).parameters)
    env, schedules = gym.make("Pendulum-v1"), 0
    for env_id in entries:
        try:
            params, _ = load_hyperparams(str(path), env_id, env)
        except UsageError as exc:
            assert any(key in str(exc) for key in ZOO_ONLY_KEYS), (env_id, str(exc))
            continue
        assert set(params) <= accepted, (env_id, sorted(set(params) - accepted))
        rate = params.get("learning_rate", 1e-3)
        assert isinstance(rate, float) or callable(rate), (env_id, rate)
        if isinstance(rate, LinearSchedule):
            schedules += 1
            written = float(entries[env_id]["learning_rate"].removeprefix("lin_"))
            assert (rate(1.0), rate(0.5), rate(0.0)) == pytest.approx((written, written / 2, 0.0))
    assert schedules or (algo == "ddpg" and "lin_" not in path.read_text())


def write_run_config(path: Path, settings: dict) -> Path:
    """A run's saved hyperparameters, written as the Zoo writes them (``yaml.dump`` of a sorted ``OrderedDict``)."""
    path.write_text(yaml.dump(OrderedDict(sorted(settings.items()))))
    return path


def test_a_zoo_runs_saved_config_is_its_entry_for_any_env(tmp_path):
    path = write_run_config(
        tmp_path / "config.yml",
        {"learning_rate": "lin_1e-3", "n_timesteps": 5000.0, "policy": "MlpPolicy", "train_freq": (2, "step")},
    )
    assert "python/object/apply:collections.OrderedDict" in path.read_text()
    assert "python/tuple" in path.read_text()
    params, steps = load_hyperparams(str(path), "Pendulum-v1")
    assert steps == 5000 and params["train_freq"] == (2, "step")
    assert params["learning_rate"](0.25) == pytest.approx(2.5e-4)
    assert "an RL Zoo run's saved hyperparameters" in hyperparams_source(str(path), "MountainCarContinuous-v0")


def test_a_python_object_in_a_hyperparameter_file_is_refused_and_not_built(tmp_path):
    marker = tmp_path / "made"
    path = tmp_path / "config.yml"
    path.write_text(f"Pendulum-v1: !!python/object/apply:os.mkdir ['{marker}']\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        _hyperparams_entry(str(path), "Pendulum-v1")
    inner = f"!!python/object/apply:os.mkdir ['{marker}']"
    path.write_text(f"!!python/object/apply:collections.OrderedDict\n- - - a\n    - {inner}\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        _hyperparams_entry(str(path), "Pendulum-v1")
    assert not marker.exists()


def test_a_zoo_runs_args_file_is_refused_by_name(tmp_path):
    path = write_run_config(tmp_path / "args.yml", {"algo": "td3", "env": "Pendulum-v1", "seed": 0})
    with pytest.raises(UsageError, match=r"command-line arguments \(its args.yml\): give the run's config.yml"):
        load_hyperparams(str(path), "Pendulum-v1")


def test_the_default_entry_serves_an_env_without_one(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text("default:\n  learning_starts: 7\nPendulum-v1:\n  learning_starts: 9\n")
    assert load_hyperparams(str(path), "Pendulum-v1")[0]["learning_starts"] == 9
    assert hyperparams_source(str(path), "Pendulum-v1") is None
    assert load_hyperparams(str(path), "MountainCarContinuous-v0")[0]["learning_starts"] == 7
    assert "its 'default' entry is used" in hyperparams_source(str(path), "MountainCarContinuous-v0")
    path.write_text("Pendulum-v1:\n  learning_starts: 9\n")
    assert hyperparams_source(str(path), "MountainCarContinuous-v0") is None  # no note before the refusal
    with pytest.raises(UsageError, match="no entry for 'MountainCarContinuous-v0' and no 'default' one"):
        load_hyperparams(str(path), "MountainCarContinuous-v0")


def test_an_unknown_schedule_is_one_line(tmp_path, capsys):
    path = tmp_path / "h.yml"
    path.write_text("Pendulum-v1:\n  learning_rate: exp_1e-3\n")
    assert main(["finetune", "--algo", "sac", "--env", "Pendulum-v1", "-conf", str(path), "-n", "100"]) == 2
    assert "learning_rate 'exp_1e-3': a number, or lin_<initial value>" in capsys.readouterr().err


def test_the_files_env_kwargs_make_the_env_unless_the_command_line_gives_its_own(tmp_path, capsys):
    path = tmp_path / "h.yml"
    path.write_text("Pendulum-v1:\n  env_kwargs:\n    g: 12.5\n")

    def env_of(env_kwargs):
        args = argparse.Namespace(env="Pendulum-v1", env_kwargs=env_kwargs, gym_packages=None, hyperparams=str(path))
        return _env_from_args(args)

    _, kwargs, env = env_of(None)
    assert kwargs == {"g": 12.5} and env.unwrapped.g == 12.5
    assert "env_kwargs" not in load_hyperparams(str(path), "Pendulum-v1")[0]
    assert "replace" not in capsys.readouterr().out
    _, kwargs, env = env_of(["g:9.0"])
    assert kwargs == {"g": 9.0} and env.unwrapped.g == 9.0  # replaced, not merged, as in the Zoo
    assert "--env-kwargs {'g': 9.0} replace the env_kwargs" in capsys.readouterr().out
    path.write_text("Pendulum-v1:\n  env_kwargs: [1, 2]\n")
    with pytest.raises(UsageError, match="env_kwargs must map argument names to values"):
        env_of(None)


def test_a_model_the_zoo_trained_fine_tunes_with_the_runs_saved_hyperparameters(tmp_path, capsys):
    """The user's path from the Zoo: a run's model as the prior, its ``config.yml`` as ``-conf`` (with the file's
    env_kwargs and a ``lin_`` learning rate), then the fine-tuned model carries the Zoo's schedule."""
    zoo_file("td3")
    source = tmp_path / "td3.yml"
    source.write_text(
        "Pendulum-v1:\n  n_timesteps: 300\n  policy: MlpPolicy\n  learning_starts: 100\n"
        "  learning_rate: lin_1e-3\n  policy_kwargs: 'dict(net_arch=[32, 32])'\n  env_kwargs:\n    g: 11.0\n"
    )
    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "td3", "--env", "Pendulum-v1", "-conf", str(source)]
    result = subprocess.run(
        [*train, "--seed", "0", "--eval-freq", "-1", "-f", "logs"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "logs" / "td3" / "Pendulum-v1_1"
    config = run / "Pendulum-v1" / "config.yml"
    assert "collections.OrderedDict" in config.read_text()
    out = tmp_path / "fine.zip"
    command = ["finetune", "--algo", "td3", "--env", "Pendulum-v1", "--pretrained", str(run / "Pendulum-v1.zip")]
    status = main([*command, "-conf", str(config), "-n", "400", "--out", str(out), "--eval-episodes", "2"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "is an RL Zoo run's saved hyperparameters: they are used for Pendulum-v1" in printed
    model = TD3.load(out)
    assert isinstance(model.learning_rate, LinearSchedule) and model.lr_schedule(0.5) == pytest.approx(5e-4)
