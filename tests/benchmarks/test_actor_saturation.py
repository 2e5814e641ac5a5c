import json

import gymnasium as gym
import pytest
import torch as th
from stable_baselines3 import TD3

import nav_env  # noqa: F401


def test_saturation_is_read_off_the_actor_s_pre_tanh_outputs():
    from actor_saturation import look

    model = TD3("MlpPolicy", gym.make("SimpleNavigation-v0"), seed=0, policy_kwargs={"net_arch": [16]})
    states = th.rand(200, 2) * 2 - 1
    fresh = look(model, states, 0.99)
    assert fresh["saturated_fraction"] < 0.05 and fresh["mean_abs_pre_tanh"] < 1.0
    with th.no_grad():  # a last layer that sends every state to (+, -) far beyond tanh's knee
        last = model.policy.actor.mu[-2]
        last.weight.zero_()
        last.bias.copy_(th.tensor([12.0, -12.0]))
    stuck = look(model, states, 0.99)
    assert stuck["saturated_fraction"] == 1.0 and stuck["mean_abs_pre_tanh"] == pytest.approx(12.0)
    assert stuck["mean_action"] == pytest.approx([1.0, -1.0], abs=1e-6)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--algo", "sac", "td3 or ddpg"),
        ("--scenario", "x", "unknown"),
        ("--overrides", "layer_norm=yes", "JSON value"),
        ("--overrides", "no_such_field=1", "unknown recipe field"),
    ],
)
def test_actor_saturation_refuses_in_one_line(refuses, tmp_path, flag, value, message):
    assert message in refuses("actor_saturation", flag, value, "--out", str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()


def test_overrides_reach_the_recipe():
    from actor_saturation import recipe_with

    recipe = recipe_with("default", "layer_norm=true,bc_weight=0.5")
    assert recipe.layer_norm and recipe.bc_weight == 0.5
    assert recipe_with("scratch", "") == recipe_with("default", "")


def test_dict_observations_are_drawn_from_the_replay_buffer_and_looked_at_during_training():
    import numpy as np
    from actor_saturation import Looks, look, sample_states

    env = gym.make("SimpleNavigationGoal-v0")
    model = TD3("MultiInputPolicy", env, learning_starts=50, seed=0, policy_kwargs={"net_arch": [16]})
    looks = Looks([60, 120], env.observation_space, 30, 0.99, seed=0)
    model.learn(150, callback=looks)
    assert [row["step"] for row in looks.rows] == [60, 120]
    states = sample_states(model, env.observation_space, 30, np.random.default_rng(0))
    stored = model.replay_buffer.observations["observation"][:150, 0]
    assert set(states) == set(env.observation_space.spaces) and states["observation"].shape == (30, 2)
    assert all(any(np.allclose(row, seen) for seen in stored) for row in states["observation"].numpy())
    figures = look(model, states, 0.99)
    assert 0.0 <= figures["saturated_fraction"] <= 1.0 and 0.0 <= figures["mean_abs_action"] <= 1.0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--scenario", "x", "unknown"), ("--recipe", "scratch", "no prior")],
)
def test_gate_reliability_refuses_in_one_line(refuses, tmp_path, flag, value, message):
    assert message in refuses("gate_reliability", flag, value, "--out", str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()


def test_gate_reliability_records_the_gate_of_every_seed(run_benchmark, tmp_path):
    out = tmp_path / "out.json"
    result = run_benchmark("gate_reliability.py", "--scenario", "same-task", "--seeds", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    written = json.loads(out.read_text())
    assert [row["seed"] for row in written["rows"]] == [0]
    assert all(row["trusted"] and row["episodes"] >= 3 for row in written["rows"])  # the expert's clone, on its task
    assert written["summary"]["trusted"] == 1 and written["summary"]["seeds"] == 1
    assert written["summary"]["mean_prior_steps"] == written["rows"][0]["prior_steps"] >= 300
