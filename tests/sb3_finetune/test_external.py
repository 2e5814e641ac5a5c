"""The standard-env scenarios: their changed physics, their controllers, the cloned priors, a tiny run of each."""

import json

import gymnasium as gym
import numpy as np
import pytest

from sb3_finetune import external
from sb3_finetune.evaluation import evaluate
from sb3_finetune.experiment import SCENARIOS, RunSpec, run
from sb3_finetune.pretrain import rollout_dataset
from sb3_finetune.recipes import CRITIC_PRETRAIN_STEPS

EXTERNAL = [name for name, scenario in SCENARIOS.items() if scenario.external]


def _steps(env, actions, seed=3):
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for action in actions:
        trace.append(env.step(np.asarray(action, dtype=np.float32))[0])
    return np.array(trace)


def test_pendulum_physics_defaults_are_pendulum_v1_and_mass_changes_the_dynamics():
    actions = [[1.0]] * 20
    plain = _steps(gym.make("Pendulum-v1"), actions)
    np.testing.assert_array_equal(_steps(gym.make(external.PENDULUM_ID), actions), plain)
    heavy = _steps(gym.make(external.PENDULUM_ID, g=12.0, mass=1.3), actions)
    assert heavy[0].tolist() == plain[0].tolist()  # same start
    assert not np.allclose(heavy[-1], plain[-1])
    assert gym.make(external.PENDULUM_ID).spec.max_episode_steps == 200


def test_a_reversed_motor_applies_minus_the_action_and_makes_the_swing_up_worse_than_random():
    actions = [[1.5], [-0.5], [2.0], [0.0]] * 5
    reversed_motor = gym.make(external.PENDULUM_ID, reversed_motor=True)
    np.testing.assert_array_equal(_steps(reversed_motor, actions), _steps(gym.make("Pendulum-v1"), -np.array(actions)))
    assert reversed_motor.spec.max_episode_steps == 200
    controller = evaluate(external.pendulum_swing_up(), external.PENDULUM_ID, {"reversed_motor": True}, 3, 10_000)
    rng = np.random.default_rng(0)
    random = evaluate(lambda obs: rng.uniform(-2, 2, (len(obs), 1)), external.PENDULUM_ID, {"reversed_motor": True}, 3)
    assert controller.mean_return < random.mean_return - 300  # the prior of pendulum-reversed is wrong there
    assert SCENARIOS["pendulum-reversed"].prior == "wrong"


def test_mountain_car_power_is_an_argument():
    actions = [[1.0]] * 30
    plain = _steps(gym.make("MountainCarContinuous-v0"), actions)
    np.testing.assert_allclose(_steps(gym.make(external.MOUNTAIN_CAR_ID), actions), plain)
    weak = _steps(gym.make(external.MOUNTAIN_CAR_ID, power=0.0012), actions)
    assert weak[-1][1] < plain[-1][1]  # less speed gained from the same pushes
    assert gym.make(external.MOUNTAIN_CAR_ID).spec.max_episode_steps == 999


def test_the_pump_is_right_on_the_source_engine_and_short_of_effort_on_the_weak_one():
    pump = external.mountain_car_pump(0.2)
    on_source = evaluate(pump, external.MOUNTAIN_CAR_ID, {}, 2, 10_000)
    on_target = evaluate(pump, external.MOUNTAIN_CAR_ID, {"power": 0.0012}, 2, 10_000)
    assert on_source.mean_return > 90 and on_source.mean_length < 999
    assert on_target.mean_return < 0 and on_target.mean_length == 999


def test_the_swing_up_controller_beats_random_on_pendulum():
    controller = evaluate(external.pendulum_swing_up(), external.PENDULUM_ID, {}, 3, 10_000)
    rng = np.random.default_rng(0)
    random = evaluate(lambda obs: rng.uniform(-2, 2, (len(obs), 1)), external.PENDULUM_ID, {}, 3, 10_000)
    assert controller.mean_return > random.mean_return + 500


def test_the_straight_controller_solves_the_open_arena():
    pytest.importorskip("gymnasium_robotics")
    scenario = SCENARIOS["pointmaze-umaze"]
    external.require(scenario.env_id)
    figures = evaluate(external.point_maze_straight(), scenario.env_id, scenario.source, 4, 10_000)
    assert figures.success_rate == 1.0


def test_rollouts_with_noise_label_states_with_the_clean_action():
    controller = external.pendulum_swing_up()
    clean = rollout_dataset(controller, gym.make("Pendulum-v1"), 300, seed=0)
    noisy = rollout_dataset(controller, gym.make("Pendulum-v1"), 300, seed=0, noise=0.5)
    np.testing.assert_allclose(noisy.actions, controller(noisy.observations), atol=1e-6)
    assert not np.allclose(noisy.observations[1:], clean.observations[1:])  # the noise moved the states
    np.testing.assert_array_equal(noisy.observations[0], clean.observations[0])
    with pytest.raises(ValueError, match="noise must be non-negative"):
        rollout_dataset(controller, gym.make("Pendulum-v1"), 10, noise=-0.1)


@pytest.mark.parametrize("name", EXTERNAL)
def test_every_external_scenario_makes_its_tasks_and_names_a_controller(name):
    if name == "pointmaze-umaze":
        pytest.importorskip("gymnasium_robotics")
    scenario = SCENARIOS[name]
    external.require(scenario.env_id)
    assert scenario.controller in external.CONTROLLERS
    for kwargs in (scenario.source, scenario.target):
        env = gym.make(scenario.env_id, **kwargs)
        env.reset(seed=0)
        env.close()
    if scenario.measure == "mean_return":
        low, high = scenario.return_range
        assert low < scenario.threshold < high


def test_a_tiny_run_on_pendulum_scores_the_return_and_has_no_success(tmp_path):
    scenario = SCENARIOS["pendulum-heavy"]
    # A cheap clone in the cache, so the test does not pay for the full one.
    external.clone_controller(
        tmp_path / "pendulum-heavy-source.pt",
        scenario.env_id,
        scenario.source,
        external.pendulum_swing_up(),
        steps=1_500,
        epochs=5,
    )
    record = run(RunSpec("pendulum-heavy", "td3", "default", 0, budget=150, eval_episodes=3), tmp_path)
    json.dumps(record)  # JSON-friendly
    # The recipe as it ran: the default leaves critic pre-training to the algorithm, filled in for TD3.
    assert record["recipe"]["critic_pretrain_steps"] == CRITIC_PRETRAIN_STEPS["td3"] > 0
    assert any(d.startswith("critic_pretrain_steps:") for d in record["decisions"])
    assert record["pretrained_success_on_target"] is None
    assert record["curve"][0]["success_rate"] is None and record["curve"][-1]["step"] == 150
    low, high = scenario.return_range
    first = record["curve"][0]
    assert first["score"] == pytest.approx((first["mean_return"] - low) / (high - low))
    assert record["metrics"]["final_success"] is None and record["metrics"]["final_expert_return_ratio"] is None
    assert record["metrics"]["final_return"] == record["curve"][-1]["mean_return"]
    # The model is the prior at step 0: the jumpstart is the prior's own score on the same episodes.
    assert record["metrics"]["jumpstart"] == pytest.approx(record["pretrained_score_on_target"])
