"""Action units, stated assumptions, the gate's records, several envs and VecNormalize."""

import json
import logging

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecNormalize

from sb3_finetune import PretrainedWeightsError, evaluate, get_recipe, load_prior, make_finetune, model_policy
from sb3_finetune.decisions import say
from sb3_finetune.networks import LinearStack, mlp_layers

RECIPE = get_recipe("default", distill_steps=100)


def test_units_are_read_from_the_file_and_map_back_to_the_env(pendulum_prior):
    env = gym.make("Pendulum-v1")
    prior = load_prior(pendulum_prior, env.action_space, env.observation_space)
    assert (prior.info.action_units, prior.info.action_units_from) == ("env", "metadata")
    obs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 3.0]], dtype=np.float32)
    raw = prior.network(th.as_tensor(obs)).numpy()
    np.testing.assert_allclose(prior.predict(obs), np.clip(raw, -2, 2), atol=1e-5)
    np.testing.assert_allclose(prior(obs).numpy(), np.clip(raw, -2, 2) / 2, atol=1e-6)  # scaled for SB3


def test_units_that_matter_and_are_unknown_are_asked_for_not_guessed():
    env = gym.make("Pendulum-v1")
    network = LinearStack(mlp_layers(3, [8], 1))
    with pytest.raises(PretrainedWeightsError, match="action_units='env'"):
        load_prior(network, env.action_space, env.observation_space)
    stated = load_prior(network, env.action_space, env.observation_space, action_units="scaled")
    assert stated.info.action_units_from == "stated"
    nav_like = gym.spaces.Box(-1, 1, (1,), np.float32)  # where [-1, 1] is the box, the units agree
    assert load_prior(network, nav_like, env.observation_space).info.action_units_from == "[-1, 1] action box"


def test_a_linear_stack_normalises_inside_where_it_is_told_and_nowhere_else():
    plain = LinearStack(mlp_layers(3, [8, 8], 1), "tanh", output_activation="tanh")
    normalised = LinearStack(mlp_layers(3, [8, 8], 1), "tanh", output_activation="tanh", normalised_after=["fc1"])
    assert normalised.state_dict().keys() == plain.state_dict().keys()  # no tensors of its own
    normalised.load_state_dict(plain.state_dict())
    x = th.randn(5, 3)
    fc1, fc2, fc3 = plain.linears
    hidden = th.nn.functional.layer_norm(th.tanh(fc1(x)), (8,))
    th.testing.assert_close(normalised(x), th.tanh(fc3(th.tanh(fc2(hidden)))))
    assert not th.allclose(normalised(x), plain(x))
    with pytest.raises(ValueError, match=r"\['fc3'\] that are not among those followed by an activation"):
        LinearStack(mlp_layers(3, [8, 8], 1), normalised_after=["fc3"])  # the output: no activation after it
    with pytest.raises(ValueError, match=r"\['fc9'\]"):
        LinearStack(mlp_layers(3, [8, 8], 1), normalised_after=["fc9"])
    cut = LinearStack(mlp_layers(3, [8], 8), final_activation=True, normalised_after=["fc2"])  # features: it can
    assert cut.normalised_after == ("fc2",)


def test_a_decision_is_logged_at_its_level_and_kept_where_a_list_is_given(caplog):
    kept: list[str] = []
    with caplog.at_level(logging.INFO, logger="sb3_finetune"):
        say("the gate stood the prior down", kept, warn=True)
        say("frontier exploration: off", kept)
        say("only logged")
    assert kept == ["the gate stood the prior down", "frontier exploration: off"]
    levels = {record.getMessage(): record.levelno for record in caplog.records}
    assert levels == {
        "sb3_finetune: the gate stood the prior down": logging.WARNING,
        "sb3_finetune: frontier exploration: off": logging.INFO,
        "sb3_finetune: only logged": logging.INFO,
    }


def test_an_assumed_activation_is_said_and_kept(caplog):
    env = gym.make("Pendulum-v1")
    state = LinearStack(mlp_layers(3, [8], 1)).state_dict()
    with caplog.at_level(logging.WARNING, logger="sb3_finetune"):
        prior = load_prior(state, env.action_space, env.observation_space, action_units="env")
    assert prior.info.activation_from == "assumed" and prior.info.assumptions
    assert "relu between them (assumed" in caplog.text
    told = load_prior(state, env.action_space, env.observation_space, action_units="env", activation="tanh")
    assert told.info.activation == "tanh" and not told.info.assumptions


def test_dataset_that_does_not_fit_is_refused_before_training(pendulum_prior, tmp_path):
    np.savez(tmp_path / "wide.npz", observations=np.zeros((10, 4)), actions=np.zeros((10, 1)))
    with pytest.raises(ValueError, match="4 values"):
        make_finetune("td3", gym.make("Pendulum-v1"), pendulum_prior, 100, dataset=tmp_path / "wide.npz")


def test_the_gate_is_logged_through_sb3s_logger(pendulum_prior, tmp_path):
    setup = make_finetune("td3", gym.make("Pendulum-v1"), pendulum_prior, 1_000, RECIPE, seed=0)
    setup.model.set_logger(configure(str(tmp_path), ["json"]))
    setup.learn(900)
    records = [json.loads(line) for line in (tmp_path / "progress.json").read_text().splitlines()]
    gate = next(record for record in records if "finetune/gate_trusted" in record)
    assert gate["finetune/gate_trusted"] == int(setup.trusted)
    assert gate["finetune/gate_score"] == setup.gate.score
    assert gate["finetune/gate_reference_return"] == pytest.approx(setup.gate.reference_mean_return)


def test_several_envs_and_vecnormalize_count_env_steps(pendulum_prior):
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=3, seed=0))
    setup = make_finetune("sac", env, pendulum_prior, 1_500, RECIPE, seed=0, hyperparams={"learning_starts": 1_200})
    assert setup.model.gradient_steps == -1 and setup.decisions
    setup.learn(1_500)
    assert 1_500 <= setup.model.num_timesteps < 1_500 + 3
    assert setup.gate.prior_steps % 3 == 0 and setup.gate.episodes >= 3
    # The distilled actor reads normalised observations and still acts like the prior, which reads raw ones. (The gate
    # stands this prior down, and then the actor trains freely after learning_starts; trusted, it is held.)
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=3, seed=0))
    trusted = get_recipe(RECIPE, trust_gate=None)
    setup = make_finetune("sac", env, pendulum_prior, 1_500, trusted, seed=0, hyperparams={"learning_starts": 1_200})
    setup.learn(1_500)
    raw = setup.model.replay_buffer.observations[:200].reshape(-1, 3)
    prior = load_prior(pendulum_prior, env.action_space, env.observation_space)
    with th.no_grad():
        student = setup.model.policy.actor(th.as_tensor(env.normalize_obs(raw)), deterministic=True).numpy()
    assert np.abs(student - prior(raw).numpy()).mean() < 0.1
    figures = evaluate(model_policy(setup.model), env, episodes=4, seed=1)
    assert figures.episodes == 4 and np.isfinite(figures.mean_return) and figures.success_rate is None


def test_the_recipe_appears_in_tensorboard_beside_sb3s_curves(pendulum_prior, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sb3_finetune.evaluation import LearningCurveCallback

    setup = make_finetune(
        "td3", gym.make("Pendulum-v1"), pendulum_prior, 1_800, RECIPE, seed=0, tensorboard_log=str(tmp_path)
    )
    setup.learn(1_800, callback=LearningCurveCallback("Pendulum-v1", {}, 600, episodes=2))
    (run,) = list(tmp_path.iterdir())  # the warm-up and the training share one run folder
    events = EventAccumulator(str(run)).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"finetune/gate_trusted", "finetune/gate_score", "finetune/gate_reference_return"} <= tags
    assert {"finetune/pull_weight", "finetune/actor_held", "eval/mean_return"} <= tags
    assert "train/critic_loss" in tags  # SB3's own curves, in the same run
    assert events.Scalars("finetune/gate_trusted")[0].value == float(setup.trusted)
    first_eval = events.Scalars("eval/mean_return")[0]
    assert first_eval.step == 0  # the jumpstart evaluation


@pytest.mark.parametrize(("hits", "misses", "settled"), [(3, 0, False), (4, 0, True), (0, 4, True), (2, 2, False)])
def test_the_gate_is_settled_by_an_exact_one_sided_binomial_test(hits, misses, settled):
    from types import SimpleNamespace

    from sb3_finetune.warmup import gate_settled

    episodes = [[(0.0, 10, True)] * hits + [(0.0, 10, False)] * misses]
    recorder = SimpleNamespace(success_reported=True, episodes=episodes)
    # At a rate of 0.5: 3 of 3 happens 1 time in 8 (> 0.1), 4 of 4 (or 0 of 4) 1 in 16.
    assert gate_settled(recorder, 0.5, None, 0.9) is settled
    by_return = SimpleNamespace(
        success_reported=False, episodes=[[(r, 10, None) for r in [5.0] * hits + [-5.0] * misses]]
    )
    assert gate_settled(by_return, 0.5, 0.0, 0.9) is settled
    assert gate_settled(SimpleNamespace(success_reported=False, episodes=episodes), 0.5, None, 0.9)  # random probe


@pytest.mark.parametrize(
    ("hits", "misses", "settled"), [(6, 6, False), (7, 7, True), (3, 1, True), (1, 3, True), (2, 1, False)]
)
def test_a_margin_settles_a_rate_near_the_gate_and_one_far_from_it_sooner(hits, misses, settled):
    from types import SimpleNamespace

    from sb3_finetune.warmup import gate_settled

    recorder = SimpleNamespace(success_reported=True, episodes=[[(0.0, 10, True)] * hits + [(0.0, 10, False)] * misses])
    # Against 0.3 and 0.7: 7 of 14 is at least that many at 0.3 (or at most at 0.7) 9.3% of the time, 6 of 12
    # 11.8%; 3 of 4 at 0.3 8.4%. Without the margin none of these settles (the least is 3 of 4 at 0.5, 31%).
    assert gate_settled(recorder, 0.5, None, 0.9, margin=0.2) is settled
    assert not gate_settled(recorder, 0.5, None, 0.9)


def test_a_zone_past_1_is_cut_there_so_one_failure_rules_out_a_rate_of_1():
    from types import SimpleNamespace

    from sb3_finetune.warmup import gate_settled

    def recorder(hits: int, misses: int) -> SimpleNamespace:
        return SimpleNamespace(success_reported=True, episodes=[[(0.0, 10, True)] * hits + [(0.0, 10, False)] * misses])

    # trust_gate 0.9 with a margin of 0.2: the zone is [0.7, 1]. 8 of 8 is at least that many at 0.7 5.8% of the
    # time, 9 of 9 4.0%; a single failure cannot happen at a rate of 1.
    assert not gate_settled(recorder(8, 0), 0.9, None, 0.95, margin=0.2)
    assert gate_settled(recorder(9, 0), 0.9, None, 0.95, margin=0.2)
    assert gate_settled(recorder(2, 1), 0.9, None, 0.95, margin=0.2)
    assert not gate_settled(recorder(2, 1), 0.9, None, 0.95)  # against 0.9 itself: 2 of 3 or fewer is 27% there


def test_gate_confidence_probes_until_the_episodes_decide_or_the_cap(pendulum_prior):
    found = {}
    cases = (
        (None, 5_000, 0.0, 2_000),
        (0.9, 5_000, 0.0, 2_000),
        (0.9, 700, 0.0, 2_000),
        (0.9, 5_000, 0.2, 2_000),
        (0.9, 5_000, 0.0, 1_400),
    )
    for confidence, cap, margin, budget in cases:
        recipe = get_recipe(
            "default",
            distill_steps=20,
            gate_steps=1,
            gate_max_steps=cap,
            gate_return=-100_000.0,  # every episode counts as a success
            gate_confidence=confidence,
            gate_margin=margin,
        )
        setup = make_finetune(
            "td3", "Pendulum-v1", pendulum_prior, budget, recipe, seed=0, hyperparams={"learning_starts": budget}
        )
        setup.warm_up(budget)
        capped = [s for s in setup.decisions if s.startswith("trust gate: the probe reached its cap")]
        found[(confidence, cap, margin, budget)] = (setup.gate.episodes, setup.gate.prior_steps, capped)
    assert found[(None, 5_000, 0.0, 2_000)] == (3, 600, [])  # gate_episodes decide
    assert found[(0.9, 5_000, 0.0, 2_000)] == (4, 800, [])  # 3 of 3 at 0.5 is 1 in 8: one more episode
    assert found[(0.9, 5_000, 0.2, 2_000)] == (3, 600, [])  # 3 of 3 at 0.3 is 1 in 37: the margin settles it there
    # The cap comes first, and a decision says so and which cap it was: gate_max_steps, or half the budget (training
    # keeps the rest).
    for key, which in (((0.9, 700, 0.0, 2_000), "gate_max_steps"), ((0.9, 5_000, 0.0, 1_400), "half the run's budget")):
        episodes, steps, capped = found[key]
        assert (episodes, steps, len(capped)) == (3, 700, 1)
        assert capped[0].startswith(f"trust gate: the probe reached its cap ({which}: 700 steps, 3 episodes)")
    probes = []
    for confidence in (None, 0.95):  # no success and no gate_return: the random comparison, which it leaves alone
        recipe = get_recipe("default", distill_steps=20, gate_confidence=confidence)
        setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_000, recipe, seed=0)
        probes.append(setup.warm_up(1_000).as_dict())
    assert probes[0] == probes[1] and probes[0]["criterion"] != "success"
    with pytest.raises(ValueError, match="gate_confidence must be in"):
        get_recipe("default", gate_confidence=0.4)
    for margin in (-0.1, 0.5):
        with pytest.raises(ValueError, match=r"gate_margin must be in \[0, 0.5\)"):
            get_recipe("default", gate_confidence=0.9, gate_margin=margin)
    # The default's test does nothing without a gate (no probe) and its zone nothing without the test: turning
    # either off on the default needs no second change.
    assert get_recipe("default", trust_gate=None).gate_confidence == 0.95
    assert get_recipe("default", gate_confidence=None).gate_margin == 0.2
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_000, get_recipe("default", trust_gate=None), seed=0)
    assert setup.warm_up(1_000) is None and setup.model.num_timesteps == 1_000


class _NeverSucceeds(gym.Wrapper):
    """The nav env with a goal it never reports reached: a strict success, as a door that must open all the way."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "is_success": False}


def test_gate_criterion_return_judges_a_prior_by_return_where_the_env_reports_success(nav_bc_weights):
    """Where the env's success is too strict for the prior to reach, ``gate_criterion="return"`` compares its return
    with the random probe's instead (as where the env reports none), and the downstream parts follow the decision."""
    decisions = {}
    for criterion in ("auto", "return"):
        recipe = get_recipe("default", distill_steps=20, gate_criterion=criterion)
        setup = make_finetune("td3", _NeverSucceeds(gym.make("SimpleNavigation-v0")), nav_bc_weights, 1_000, recipe,
                              seed=0)  # fmt: skip
        decisions[criterion] = setup.warm_up(1_000)
    assert (decisions["auto"].criterion, decisions["auto"].trusted) == ("success", False)
    by_return = decisions["return"]
    assert by_return.criterion == "random probe" and by_return.trusted and by_return.score >= 0.9
    assert by_return.reference_steps > 0 and by_return.prior_mean_return > by_return.reference_mean_return
    with pytest.raises(ValueError, match="gate_criterion must be one of"):
        get_recipe("default", gate_criterion="success")
