import gymnasium as gym
from stable_baselines3 import TD3

import nav_env  # noqa: F401


def test_the_aligned_curve_evaluates_on_the_multiples_and_where_training_restarts():
    from aligned_grid import AlignedCurve

    model = TD3(
        "MlpPolicy", gym.make("SimpleNavigation-v0"), learning_starts=50, seed=0, policy_kwargs={"net_arch": [8]}
    )
    curve = AlignedCurve("SimpleNavigation-v0", {}, 100, episodes=2)
    model.learn(130, callback=curve)
    model.learn(120, callback=curve, reset_num_timesteps=False)  # a restart off the grid, as a warm-up's end is
    assert [point["step"] for point in curve.curve] == [0, 100, 130, 200]


def test_steps_on_grid_count_only_the_multiples():
    from aligned_grid import steps_on_grid

    curve = [
        {"step": 0, "success_rate": 0.4},
        {"step": 629, "success_rate": 0.95},  # the warm-up's end: off scratch's grid
        {"step": 900, "success_rate": 0.5},
        {"step": 1200, "success_rate": 0.92},
    ]
    assert steps_on_grid(curve, 300, "drift") == 1200.0
    assert steps_on_grid(curve[:3], 300, "drift") == 6000.0  # never on the grid: the budget (censored)
