import json

import numpy as np
import torch as th


def test_the_slopes_are_measured_without_touching_the_runs_random_state():
    import gymnasium as gym
    from critic_slope import SCENARIO, Args, measure, prior_path_states
    from stable_baselines3 import SAC, TD3

    from sb3_finetune.experiment import SCENARIOS

    scenario = SCENARIOS[SCENARIO]
    env = gym.make(scenario.env_id, **scenario.target)
    args = Args(delta=0.1, reps=2)
    for algo in (TD3, SAC):
        model = algo("MlpPolicy", env, policy_kwargs={"net_arch": [8]}, seed=0)
        states = prior_path_states(model, 2, seed=0)
        assert states.shape == (2 * 17, 2)  # every 12th of 200 steps, from each start
        before = th.get_rng_state()
        figures = measure(model, [], states[:3], args, seed=1)
        assert th.equal(before, th.get_rng_state())
        assert ("sampled" in figures) is (algo is SAC)  # only SAC's critic learns a sampled policy's values
        for follow_up in ("deterministic", "sampled")[: 1 + (algo is SAC)]:
            assert np.isfinite(figures[follow_up]["return"]) and figures[follow_up]["return"] < 0  # Pendulum's costs
            assert figures[follow_up]["return_slope_abs"] >= 0


def test_critic_slope_script_runs_on_a_tiny_budget(tmp_path, run_benchmark, refuses):
    out = tmp_path / "slope.json"
    result = run_benchmark("critic_slope.py", "--quick", "--cache", str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    (row,) = summary["rows"]
    (point,) = row["checkpoints"]
    assert (row["algo"], point["step"]) == ("td3", 1100) and np.isfinite(point["critic_slope_abs"])
    assert summary["command"].startswith("python benchmarks/critic_slope.py")
    mistake = refuses("critic_slope", "--runs", "td3")
    assert "'td3' is not algorithm:variant" in mistake
