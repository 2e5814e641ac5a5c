"""The RL Zoo's ``env_wrapper``: read as the Zoo reads it, around every env of finetune, evaluate and compare."""

import json

import pytest

from sb3_finetune.cli import UsageError, load_env_wrapper, load_hyperparams, main
from sb3_finetune.wrappers import parse_env_wrapper, wrap_env

NAV = "SimpleNavigation-v0"
SHORT = f"""
{NAV}:
  env_wrapper:
    - gymnasium.wrappers.TimeLimit:
        max_episode_steps: 15
  learning_starts: 100
"""


def test_the_setting_is_read_as_the_zoo_reads_it(tmp_path):
    assert parse_env_wrapper(None) == ()
    assert parse_env_wrapper("a.B") == (("a.B", {}),)
    assert parse_env_wrapper(["a.B", {"c.D": {"k": 1}}, {"e.F": None}]) == (("a.B", {}), ("c.D", {"k": 1}), ("e.F", {}))
    for bad, message in [(["B"], "not a dotted name"), ([{"a.B": 3}], "must be a mapping"), ([3], "dotted name or")]:
        with pytest.raises(ValueError, match=message):
            parse_env_wrapper(bad)
    path = tmp_path / "h.yml"
    path.write_text(SHORT)
    assert load_env_wrapper(str(path), NAV) == (("gymnasium.wrappers.TimeLimit", {"max_episode_steps": 15}),)
    assert "env_wrapper" not in load_hyperparams(str(path), NAV)[0]
    path.write_text(f"{NAV}:\n  env_wrapper: no_such_module_here.Wrapper\n")
    with pytest.raises(UsageError, match="cannot import 'no_such_module_here'"):
        load_env_wrapper(str(path), NAV)


def test_a_wrapper_that_refuses_its_arguments_says_so():
    import gymnasium as gym

    with pytest.raises(ValueError, match=r"env_wrapper: gymnasium.wrappers.TimeLimit\(bogus\)"):
        wrap_env(gym.make(NAV), (("gymnasium.wrappers.TimeLimit", {"bogus": 1}),))


def test_finetune_evaluate_and_compare_run_inside_the_wrappers(nav_bc_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "short.yml").write_text(SHORT)
    run = ["finetune", "--algo", "td3", "--env", NAV, "--pretrained", nav_bc_weights, "-conf", "short.yml", "-n", "300"]
    assert main([*run, "--eval-freq", "100", "--eval-episodes", "3", "--out", "model.zip"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "model.zip", "--env", NAV, "--episodes", "4"]) == 2
    assert "trained inside the env wrappers ['gymnasium.wrappers.TimeLimit'] and is evaluated inside none" in (
        capsys.readouterr().err
    )
    assert main(["evaluate", "model.zip", "--env", NAV, "--episodes", "4", "-conf", "short.yml", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["mean_length"] <= 15 and figures["episodes"] == 4  # the nav env's own limit is 100
    out = tmp_path / "cmp"
    compare = ["compare", "--algo", "td3", "--env", NAV, "--pretrained", nav_bc_weights, "-conf", "short.yml"]
    assert (
        main([*compare, "-n", "40", "--seeds", "1", "--eval-freq", "20", "--eval-episodes", "2", "--out-dir", str(out)])
        == 0
    )
    curves = json.loads((out / "comparison.json").read_text())["curves"]
    lengths = [point["mean_length"] for arm in curves.values() for curve in arm.values() for point in curve]
    assert lengths and max(lengths) <= 15


def test_the_files_n_envs_sets_the_copies_unless_the_flag_does(nav_bc_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.yml").write_text(f"{NAV}:\n  n_envs: 2\n  learning_starts: 50\n")
    run = ["finetune", "--algo", "td3", "--env", NAV, "-conf", "two.yml", "-n", "100", "--eval-freq", "0"]
    assert main([*run, "--eval-episodes", "2"]) == 0
    assert "note: 2 envs: gradient_steps=-1" in capsys.readouterr().out
    assert main([*run, "--eval-episodes", "2", "--n-envs", "1"]) == 0
    assert "2 envs" not in capsys.readouterr().out
    compare = ["compare", "--algo", "td3", "--env", NAV, "--pretrained", nav_bc_weights, "-conf", "two.yml", "-n", "40"]
    assert main(compare) == 2
    assert "n_envs 2: compare runs each arm on one env" in capsys.readouterr().err
    (tmp_path / "bad.yml").write_text(f"{NAV}:\n  n_envs: 0\n")
    assert main(["finetune", "--algo", "td3", "--env", NAV, "-conf", "bad.yml", "-n", "100"]) == 2
    assert "n_envs must be a whole number of at least 1" in capsys.readouterr().err


def test_the_files_callbacks_run_with_finetune(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saving = (
        "stable_baselines3.common.callbacks.CheckpointCallback:\n        save_freq: 60\n        save_path: sb3_saves"
    )
    (tmp_path / "cb.yml").write_text(f"{NAV}:\n  learning_starts: 50\n  callback:\n    - {saving}\n")
    run = ["finetune", "--algo", "td3", "--env", NAV, "-n", "120", "--eval-freq", "0", "--eval-episodes", "2"]
    assert main([*run, "-conf", "cb.yml"]) == 0
    assert sorted(path.name for path in (tmp_path / "sb3_saves").iterdir()) == [
        "rl_model_120_steps.zip",
        "rl_model_60_steps.zip",
    ]
    for setting, message in [
        ("sb3_finetune.zoo.FinetuneCallback", "runs the recipe, which finetune runs already"),
        ("collections.OrderedDict", "is not an SB3 callback"),
        ("stable_baselines3.common.callbacks.CheckpointCallback", "CheckpointCallback(): "),
    ]:
        (tmp_path / "bad.yml").write_text(f"{NAV}:\n  callback: {setting}\n")
        assert main([*run, "-conf", "bad.yml", "--out", "never.zip"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "never.zip").exists()
    compare = ["compare", "--algo", "td3", "--env", NAV, "--pretrained", "x.pt", "-conf", "cb.yml", "-n", "40"]
    assert main(compare) == 2
    assert "compare runs no callbacks of the file's" in capsys.readouterr().err
