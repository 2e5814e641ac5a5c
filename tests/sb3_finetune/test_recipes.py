import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

import nav_env  # noqa: F401
from sb3_finetune import load_model, pretrained_extractors
from sb3_finetune.evaluation import evaluate, model_policy, prior_policy
from sb3_finetune.experiment import STAND_DOWN_ONLY
from sb3_finetune.nav import expert_dataset, nav_prior
from sb3_finetune.pretrain import behaviour_clone
from sb3_finetune.recipes import CRITIC_PRETRAIN_STEPS, ActorUpdateHook, get_recipe, make_finetune
from sb3_finetune.rehearsal import HoldRehearsal


@pytest.fixture(scope="module")
def bc_agent():
    return behaviour_clone(expert_dataset(samples=6_000), epochs=20)


@pytest.fixture(scope="module")
def bc_weights(bc_agent, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "bc.pt"
    th.save(bc_agent.state_dict(), path)
    return str(path)


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_default_recipe_starts_at_the_pretrained_policy(algo, bc_agent, bc_weights):
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune(algo, env, bc_weights, 2_000, "default", seed=0, hyperparams={"learning_starts": 400})
    prior = prior_policy(nav_prior(bc_agent, "SimpleNavigation-v0"))
    pretrained = evaluate(prior, "SimpleNavigation-v0", {}, 50, 3)
    model = evaluate(model_policy(setup.model), "SimpleNavigation-v0", {}, 50, 3)
    assert pretrained.success_rate >= 0.9
    assert model == pretrained  # at step 0 the model acts exactly as the prior
    setup.learn(400)  # the probe's 300 steps, then distillation: the actor itself now acts like the prior
    assert not setup.acting_as_prior.attached
    distilled = evaluate(model_policy(setup.model), "SimpleNavigation-v0", {}, 50, 3)
    assert abs(distilled.success_rate - pretrained.success_rate) <= 0.04
    if algo != "sac":  # TD3's critic pre-training, after the warm-up, leaves the target actor as it is too
        assert th.equal(
            th.nn.utils.parameters_to_vector(setup.model.policy.actor.parameters()),
            th.nn.utils.parameters_to_vector(setup.model.policy.actor_target.parameters()),
        )


def test_the_warm_up_alone_then_learn_is_the_same_run_as_learn(bc_weights):
    def run(split: bool):
        setup = make_finetune(
            "td3",
            gym.make("SimpleNavigation-v0"),
            bc_weights,
            700,
            "default",
            seed=0,
            hyperparams={"learning_starts": 400},
        )
        if split:
            gate = setup.warm_up(700)
            assert gate is setup.gate and gate is not None
            # No env step's gradient step yet; the warm-up ends with TD3's critic pre-training (the default's).
            assert setup.model.num_timesteps == 400
            assert setup.model._n_updates == setup.recipe.critic_pretrain_steps == CRITIC_PRETRAIN_STEPS["td3"] > 0
            with pytest.raises(RuntimeError, match="nothing to warm up"):
                setup.warm_up(700)
        setup.learn(700)
        return setup

    split, whole = run(True), run(False)
    assert split.model.num_timesteps == whole.model.num_timesteps == 700
    assert split.gate.as_dict() == whole.gate.as_dict() and split.decisions == whole.decisions
    assert th.equal(
        th.nn.utils.parameters_to_vector(split.model.policy.parameters()),
        th.nn.utils.parameters_to_vector(whole.model.policy.parameters()),
    )
    scratch = make_finetune("td3", gym.make("SimpleNavigation-v0"), None, 700, "default", seed=0)
    with pytest.raises(RuntimeError, match="nothing to warm up"):
        scratch.warm_up(700)


def test_naive_recipe_does_not_start_from_the_pretrained_policy(bc_weights):
    setup = make_finetune("td3", gym.make("SimpleNavigation-v0"), bc_weights, 2_000, "naive", seed=0)
    figures = evaluate(model_policy(setup.model), "SimpleNavigation-v0", {}, 50, 3)
    assert figures.success_rate < 0.5
    assert pretrained_extractors(setup.model)["actor"].features_dim == 2


def test_warmup_fills_the_buffer_with_the_pretrained_policy(bc_agent, bc_weights):
    # Without TD3's critic pre-training, which comes after the warm-up (its own tests are below).
    recipe = get_recipe("default", critic_pretrain_steps=0)
    setup = make_finetune(
        "td3", gym.make("SimpleNavigation-v0"), bc_weights, 400, recipe, seed=0, hyperparams={"learning_starts": 300}
    )
    critic_before = th.nn.utils.parameters_to_vector(setup.model.policy.critic.parameters()).clone()
    setup.learn(300)
    buffer = setup.model.replay_buffer
    observations = th.as_tensor(buffer.observations[:300, 0])
    actions = buffer.actions[:300, 0]
    teacher = nav_prior(bc_agent, "SimpleNavigation-v0")(observations).numpy()
    # The probe (half of this 300-step budget) is the prior itself, without exploration noise; then the distilled
    # actor with TD3's noise (0.1). Uniform random actions would be ~0.65 away on average.
    assert np.abs(actions[:150] - teacher[:150]).max() < 1e-5
    assert np.abs(actions - teacher).mean() < 0.15
    assert setup.model.num_timesteps == 300
    critic_after = th.nn.utils.parameters_to_vector(setup.model.policy.critic.parameters())
    assert th.equal(critic_before, critic_after)  # no gradient step during the warm-up


def test_scratch_uses_uniform_random_warmup_and_no_extractor():
    setup = make_finetune(
        "td3", gym.make("SimpleNavigation-v0"), None, 400, hyperparams={"learning_starts": 300}, seed=0
    )
    setup.learn(300)
    actions = setup.model.replay_buffer.actions[:300, 0]
    assert actions.std() > 0.45  # uniform on [-1, 1] has std 0.58
    with pytest.raises(ValueError):
        pretrained_extractors(setup.model)


def test_critic_warmup_holds_the_actor_while_the_critic_learns(bc_weights):
    setup = make_finetune(
        "sac",
        gym.make("SimpleNavigation-v0"),
        bc_weights,
        600,
        get_recipe("default", critic_warmup=300, gate_steps=100),
        hyperparams={"learning_starts": 100},
        seed=0,
    )
    model = setup.model
    setup.learn(110)  # the 100-step probe and the distillation, then 10 steps of critic-only training
    actor = th.nn.utils.parameters_to_vector(model.policy.actor.parameters()).clone()
    critic = th.nn.utils.parameters_to_vector(model.policy.critic.parameters()).clone()
    setup.learn(240, reset_num_timesteps=False)  # 240 more steps of critic-only training
    assert th.equal(actor, th.nn.utils.parameters_to_vector(model.policy.actor.parameters()))
    assert not th.equal(critic, th.nn.utils.parameters_to_vector(model.policy.critic.parameters()))
    setup.learn(100, reset_num_timesteps=False)  # past the hold: the actor trains
    assert not th.equal(actor, th.nn.utils.parameters_to_vector(model.policy.actor.parameters()))


def test_bc_pull_fades_linearly():
    hook = ActorUpdateHook(teacher=None, hold_steps=0, bc_weight=2.0, bc_until=1_000)
    for steps, expected in ((0, 2.0), (250, 1.5), (999, 0.002), (1_000, 0.0), (5_000, 0.0)):
        hook.num_timesteps = steps
        assert hook.weight() == pytest.approx(expected)


def test_bc_pull_keeps_the_actor_closer_to_the_teacher(bc_agent, bc_weights):
    def distance_after(bc_weight):
        recipe = get_recipe("default", critic_warmup=0, bc_weight=bc_weight, bc_fade=1.0, trust_gate=None)
        setup = make_finetune(
            "td3",
            gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5)),
            bc_weights,
            700,
            recipe,
            hyperparams={"learning_starts": 100},
            seed=0,
        )
        setup.learn(700)
        observations = th.rand(512, 2) * 2 - 1
        with th.no_grad():
            student = setup.model.policy.actor(observations)
        return float((student - nav_prior(bc_agent, "SimpleNavigation-v0")(observations)).abs().mean())

    assert distance_after(10.0) < distance_after(0.0)


def test_recipe_errors():
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("magic")
    with pytest.raises(ValueError, match="unknown recipe field"):
        get_recipe("default", colour="blue")
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_finetune("ppo", gym.make("SimpleNavigation-v0"), None, 100)
    # gym.make_vec's batched spaces would otherwise reach the prior's check as one wider observation
    with pytest.raises(TypeError, match="Gymnasium vector env, which SB3 does not take: pass SB3's VecEnv"):
        make_finetune("td3", gym.make_vec("Pendulum-v1", 2), None, 100)
    # an env factory (as make_vec_env takes) ended in an AttributeError on its observation_space
    with pytest.raises(TypeError, match="got function \\(call it: pass the env it makes"):
        make_finetune("td3", lambda: gym.make("Pendulum-v1"), None, 100)


def test_goal_env_with_her_and_a_4_input_network(tmp_path):
    from stable_baselines3 import HerReplayBuffer

    agent = behaviour_clone(expert_dataset("SimpleNavigationGoal-v0", samples=4_000), epochs=10)
    path = tmp_path / "goal.pt"
    th.save(agent.state_dict(), path)
    env = gym.make("SimpleNavigationGoal-v0", reward_type="sparse")
    setup = make_finetune(
        "sac",
        env,
        str(path),
        400,
        "default",
        seed=0,
        hyperparams={"replay_buffer_class": HerReplayBuffer, "learning_starts": 200},
    )
    setup.learn(400)
    assert setup.model.num_timesteps == 400
    assert pretrained_extractors(setup.model)["actor"].input_keys == ("observation", "desired_goal")
    # SAC's default rehearses its hold: on Dict observations, with batches from HER's buffer
    rehearsal = next(c for c in setup.callbacks if isinstance(c, HoldRehearsal))
    assert setup.trusted and rehearsal.updates > 0 and rehearsal.rehearsed_steps > 0


@pytest.mark.parametrize(("target", "trusted"), [({}, True), ({"goal_position": (-0.5, -0.5)}, False)])
def test_trust_gate_keeps_a_good_teacher_and_drops_a_wrong_one(bc_weights, target, trusted):
    env = gym.make("SimpleNavigation-v0", **target)
    setup = make_finetune("td3", env, bc_weights, 1_000, "default", hyperparams={"learning_starts": 600}, seed=0)
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    setup.learn(600)
    assert setup.trusted is trusted
    assert setup.gate.criterion == "success" and setup.gate.episodes >= 3
    probed = setup.gate.prior_steps  # 3 episodes at least, more until they decide the gate (the default's test)
    assert 300 <= probed <= 500
    actions = setup.model.replay_buffer.actions[probed:600, 0]
    extractors = pretrained_extractors(setup.model).values()
    normalised = [
        s for s in setup.decisions if s.startswith("stand-down: the prior's 64 features are layer-normalised")
    ]
    if trusted:
        assert hook.hold_steps > 0 and hook.bc_weight > 0
        assert not any(e.layer_norm for e in extractors) and not normalised
    else:
        # Past the probe, the warm-up falls back to SB3's uniform random actions; no hold, no pull; the features
        # are normalised before the actor is distilled on them, in every network, and the saved model keeps it.
        assert hook.hold_steps == 0 and hook.bc_weight == 0.0
        assert actions.std() > 0.45
        assert all(e.layer_norm for e in extractors) and len(normalised) == 1
        assert setup.model.policy_kwargs["features_extractor_kwargs"]["layer_norm"] is True


@pytest.mark.parametrize(
    ("overrides", "said"),
    [({"stand_down_layer_norm": False}, None), ({"features_layer": None}, "the features are 2 wide, fewer than 8")],
)
def test_the_stand_down_leaves_the_features_when_asked_or_too_narrow(bc_weights, overrides, said):
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    recipe = get_recipe("default", **overrides)
    setup = make_finetune("td3", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 400}, seed=0)
    setup.learn(400)
    assert setup.trusted is False
    assert not any(e.layer_norm for e in pretrained_extractors(setup.model).values())
    sentences = [s for s in setup.decisions if s.startswith("stand-down")]
    if said is None:
        assert sentences == []
    else:
        assert len(sentences) == 1 and said in sentences[0]


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_an_env_id_string_works_for_every_algorithm(algo):
    from sb3_finetune import finetune

    model = finetune(algo, "SimpleNavigation-v0", None, 10, hyperparams={"learning_starts": 5})
    assert model.num_timesteps == 10
    assert (model.finetune_decisions, model.finetune_gate) == ([], None)  # from scratch nothing is decided


def test_finetune_keeps_its_decisions_on_the_model_through_save_and_load(bc_weights, tmp_path):
    """``finetune`` returns the model, not the set-up: what the recipe decided stays on it, and in its saved file."""
    from stable_baselines3 import TD3

    from sb3_finetune import finetune

    recipe = get_recipe("default", distill_steps=20, critic_pretrain_steps=10)
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.7, -0.7))  # the prior heads for (0.7, 0.7)
    model = finetune("td3", env, bc_weights, 400, recipe, hyperparams={"learning_starts": 300}, seed=0)
    assert model.finetune_gate["trusted"] is False and model.finetune_gate["criterion"] == "success"
    assert any(sentence.startswith("stand-down") for sentence in model.finetune_decisions)
    model.save(tmp_path / "model.zip")
    loaded = load_model(tmp_path / "model.zip", TD3)
    assert (loaded.finetune_decisions, loaded.finetune_gate) == (model.finetune_decisions, model.finetune_gate)


def test_layer_norm_recipe_normalises_wide_features_and_says_when_it_skips_narrow_ones(bc_weights, caplog):
    env = gym.make("SimpleNavigation-v0")
    wide = make_finetune("td3", env, bc_weights, 2_000, get_recipe("default", layer_norm=True), seed=0)
    assert all(e.layer_norm for e in pretrained_extractors(wide.model).values())
    assert not any(sentence.startswith("layer_norm") for sentence in wide.decisions)
    with caplog.at_level("INFO", logger="sb3_finetune"):
        narrow = make_finetune(
            "td3", env, bc_weights, 2_000, get_recipe("default", layer_norm=True, features_layer=None), seed=0
        )
    assert not any(e.layer_norm for e in pretrained_extractors(narrow.model).values())
    skipped = [sentence for sentence in narrow.decisions if sentence.startswith("layer_norm skipped")]
    assert len(skipped) == 1 and "2 wide" in skipped[0]
    assert skipped[0] in caplog.text


def test_actor_distilled_through_normalised_features_acts_like_the_prior(bc_agent, bc_weights):
    env = gym.make("SimpleNavigation-v0")
    recipe = get_recipe("default", layer_norm=True)
    setup = make_finetune("td3", env, bc_weights, 2_000, recipe, seed=0, hyperparams={"learning_starts": 400})
    setup.learn(400)
    pretrained = evaluate(prior_policy(nav_prior(bc_agent, "SimpleNavigation-v0")), "SimpleNavigation-v0", {}, 50, 3)
    distilled = evaluate(model_policy(setup.model), "SimpleNavigation-v0", {}, 50, 3)
    assert abs(distilled.success_rate - pretrained.success_rate) <= 0.04


def _vector(module):
    return th.nn.utils.parameters_to_vector(module.parameters()).detach().clone()


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_critic_pretraining_trains_the_critic_on_the_warm_up_and_holds_the_actor(bc_weights, algo, caplog):
    env = gym.make("SimpleNavigation-v0")
    runs = {}
    for steps in (0, 60):
        recipe = get_recipe("default", critic_pretrain_steps=steps, distill_steps=50)
        setup = make_finetune(algo, env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 400}, seed=0)
        critic_at_start = _vector(setup.model.critic)
        with caplog.at_level("INFO", logger="sb3_finetune"):
            setup.warm_up(1_000)  # the warm-up alone: to learning_starts, then the pre-training
        runs[steps] = (setup, critic_at_start)
    (plain, plain_start), (pretrained, pretrained_start) = runs[0], runs[60]
    assert plain.model.num_timesteps == pretrained.model.num_timesteps == 400  # no env step of its own
    assert th.equal(_vector(plain.model.critic), plain_start)  # without it, no gradient step before learning_starts
    assert not th.equal(_vector(pretrained.model.critic), pretrained_start)
    assert pretrained.model._n_updates == 60 and plain.model._n_updates == 0
    # The same seed distils the same actor; pre-training the critic leaves it, and its optimizer, untouched.
    assert th.equal(_vector(pretrained.model.actor), _vector(plain.model.actor))
    assert not pretrained.model.actor.optimizer.state and "step" not in vars(pretrained.model.actor.optimizer)
    (sentence,) = [d for d in pretrained.decisions if d.startswith("critic pre-training")]
    assert "60 gradient steps on the warm-up's 400 transitions" in sentence and sentence in caplog.text
    assert not [d for d in plain.decisions if d.startswith("critic pre-training")]


def test_critic_pretraining_holds_sacs_entropy_coefficient_where_asked(bc_weights):
    """Under ``ent_coef="auto"`` the pre-training trains SAC's coefficient as any gradient step does, against a held
    actor; with ``critic_pretrain_entropy`` off it stays at the recipe's start, and the decision says so."""
    env = gym.make("SimpleNavigation-v0")
    coefficients, said = {}, {}
    for trained in (True, False):
        recipe = get_recipe("default", critic_pretrain_steps=60, distill_steps=50, critic_pretrain_entropy=trained)
        hyperparams = {"learning_starts": 400, "ent_coef": "auto", "learning_rate": 1e-3}
        setup = make_finetune("sac", env, bc_weights, 1_000, recipe, hyperparams=hyperparams, seed=0)
        setup.warm_up(1_000)
        coefficients[trained] = float(th.exp(setup.model.log_ent_coef.detach()))
        (said[trained],) = [d for d in setup.decisions if d.startswith("critic pre-training")]
        assert "step" not in vars(setup.model.ent_coef_optimizer)  # the optimizer's own step again
    assert coefficients[False] == pytest.approx(0.01)
    assert coefficients[True] != pytest.approx(0.01, rel=1e-3)
    assert "and the entropy coefficient (critic_pretrain_entropy off)" in said[False]
    assert "entropy coefficient" not in said[True]


def _left_to_the_algorithm(recipe):
    """The fields the default recipe leaves to the algorithm, in recipes._LEFT_TO_THE_ALGORITHM's order."""
    return (
        recipe.critic_pretrain_steps,
        recipe.warmup_handover,
        recipe.critic_warmup,
        recipe.critic_layer_norm,
        recipe.hold_rehearsal,
        recipe.stand_down_warmup,
        recipe.distill_random_probe,
    )


@pytest.mark.real_defaults
def test_the_default_leaves_critic_pretraining_the_handover_the_hold_its_rehearsal_and_the_critic_norm_to_the_algo():
    """5,000 steps on a warm-up that hands over, with a normalised critic, with TD3, SAC and DDPG, TD3's and DDPG's
    actor released at learning_starts, SAC's hold rehearsed and its stand-down's warm-up acted by the policy
    (benchmarks/recipe_ablation.py, pretrain-5k, pretrain-5k-handover, pretrain-5k-handover-critic-ln,
    pretrain-5k-handover-critic-ln-no-hold, rehearse-100 and stand-down-warmup); one sentence for each field filled
    in."""
    from sb3_finetune.recipes import (
        CRITIC_LAYER_NORM,
        CRITIC_PRETRAIN_STEPS,
        CRITIC_WARMUP,
        DISTILL_RANDOM_PROBE,
        HOLD_REHEARSAL,
        STAND_DOWN_WARMUP,
        WARMUP_HANDOVER,
        Recipe,
    )

    default = get_recipe("default")
    assert default.critic_pretrain_steps is None
    assert CRITIC_PRETRAIN_STEPS == {"td3": 5_000, "sac": 5_000, "ddpg": 5_000}
    assert default.warmup_handover is None and WARMUP_HANDOVER == {"td3": True, "sac": True, "ddpg": True}
    assert default.critic_warmup is None and CRITIC_WARMUP == {"td3": 0, "sac": 1_000, "ddpg": 0}
    assert default.critic_layer_norm is None and CRITIC_LAYER_NORM == {"td3": True, "sac": True, "ddpg": True}
    assert default.hold_rehearsal is None and HOLD_REHEARSAL == {"td3": 0.0, "sac": 1.0, "ddpg": 0.0}
    assert default.distill_random_probe is None and default.stand_down_distill_random_probe is False
    assert DISTILL_RANDOM_PROBE == {"td3": True, "sac": True, "ddpg": False}
    for algo, steps in CRITIC_PRETRAIN_STEPS.items():
        handover, hold, norm = WARMUP_HANDOVER[algo], CRITIC_WARMUP[algo], CRITIC_LAYER_NORM[algo]
        rehearsal, stand_down = HOLD_REHEARSAL[algo], STAND_DOWN_WARMUP[algo]
        random_probe = DISTILL_RANDOM_PROBE[algo]
        recipe, said = default.for_algorithm(algo)
        said_steps, said_handover, said_hold, said_norm, said_rehearsal, said_stand_down, said_random_probe = said
        assert recipe == get_recipe(
            default,
            critic_pretrain_steps=steps,
            warmup_handover=handover,
            critic_warmup=hold,
            critic_layer_norm=norm,
            hold_rehearsal=rehearsal,
            stand_down_warmup=stand_down,
            distill_random_probe=random_probe,
        )
        assert said_random_probe.startswith(
            f"distill_random_probe: {random_probe}, {algo.upper()}'s in the default recipe"
        )
        assert said_stand_down.startswith(f"stand_down_warmup: {stand_down}, {algo.upper()}'s in the default recipe")
        assert said_steps.startswith(f"critic_pretrain_steps: {steps}, {algo.upper()}'s in the default recipe")
        assert said_handover.startswith(f"warmup_handover: {handover}, {algo.upper()}'s in the default recipe")
        assert said_hold.startswith(f"critic_warmup: {hold}, {algo.upper()}'s in the default recipe")
        assert said_norm.startswith(f"critic_layer_norm: {norm}, {algo.upper()}'s in the default recipe")
        assert said_rehearsal.startswith(f"hold_rehearsal: {rehearsal}, {algo.upper()}'s in the default recipe")
    chosen = get_recipe("default", critic_pretrain_steps=300, critic_warmup=200, hold_rehearsal=0.0)
    # the user's figures stand, and nothing is said of them
    recipe, (said, said_norm, _, _) = chosen.for_algorithm("td3")
    assert (recipe.critic_pretrain_steps, recipe.critic_warmup, recipe.hold_rehearsal) == (300, 200, 0.0)
    assert recipe.warmup_handover and said.startswith("warmup_handover: True")
    assert recipe.critic_layer_norm and said_norm.startswith("critic_layer_norm: True")
    chosen_all = get_recipe(
        "default",
        critic_pretrain_steps=300,
        warmup_handover=False,
        critic_layer_norm=False,
        critic_warmup=0,
        hold_rehearsal=0.0,
        stand_down_warmup=False,
        distill_random_probe=False,
    )
    assert chosen_all.for_algorithm("td3") == (chosen_all, [])
    assert Recipe().for_algorithm("td3") == (Recipe(), [])  # a recipe built by hand has none unless it asks
    recipe, said = default.for_algorithm("tqc")  # an algorithm with no figure measured gets none
    assert _left_to_the_algorithm(recipe) == (0, False, 1_000, False, 0.0, False, False)
    assert len(said) == 7 and all("no figure was measured for it" in sentence for sentence in said)
    # SAC and DDPG pre-train their critic and hand over only with the norm, TD3 and DDPG release their actor at
    # learning_starts only with it, and SAC's hold was rehearsed only with it: the norm turned off takes them off
    # too, and says why; TD3's pre-training and hand-over stay (its default pre-trained and handed over without the
    # norm before).
    without = get_recipe("default", critic_layer_norm=False)
    for algo in ("sac", "ddpg"):
        recipe, (said_steps, said_handover, said_hold, said_rehearsal, said_stand_down, _) = without.for_algorithm(algo)
        assert _left_to_the_algorithm(recipe)[:-1] == (0, False, 1_000, False, 0.0, False)
        name = algo.upper()
        assert said_steps.startswith(f"critic_pretrain_steps: 0, {name}'s")
        assert "without its critic's norm" in said_steps
        assert said_handover.startswith(f"warmup_handover: False, {name}'s")
        assert "without its critic's norm" in said_handover
        assert said_hold.startswith(f"critic_warmup: 1000, {name}'s")
        assert ("without its critic's norm" in said_hold) is (algo == "ddpg")  # SAC holds its actor either way
        assert said_rehearsal.startswith(f"hold_rehearsal: 0.0, {name}'s")
        assert ("without its critic's norm" in said_rehearsal) is (algo == "sac")  # DDPG rehearses in neither
        assert said_stand_down.startswith(f"stand_down_warmup: False, {name}'s")
        assert ("without its critic's norm" in said_stand_down) is (algo == "sac")
    recipe, (_, _, said_hold, _, _, _) = without.for_algorithm("td3")
    assert _left_to_the_algorithm(recipe) == (5_000, True, 1_000, False, 0.0, False, True)  # the random probe's: on
    assert said_hold.startswith("critic_warmup: 1000, TD3's") and "without its critic's norm" in said_hold


def test_sacs_rehearsal_left_to_it_stands_down_where_its_actor_is_not_held_or_frontier_exploration_acts():
    """The default's rehearsal (SAC's) is turned off where it has nothing to act in, and a sentence says why, in
    place of the one that would have filled it in; a rehearsal asked for beside frontier_explore is refused."""
    unheld, said = get_recipe("default", critic_warmup=0).for_algorithm("sac")
    assert unheld.hold_rehearsal == 0.0
    assert not any(sentence.startswith("hold_rehearsal:") for sentence in said)
    assert said[-1].startswith("hold rehearsal: off, SAC's actor is not held (critic_warmup 0)")
    exploring, said = get_recipe("default", frontier_explore=0.5).for_algorithm("sac")
    assert exploring.hold_rehearsal == 0.0 and exploring.critic_warmup == 1_000
    assert said[-1].startswith("hold rehearsal: off, frontier_explore replaces the training actions")
    with pytest.raises(ValueError, match="choose one"):
        get_recipe("default", frontier_explore=0.5, hold_rehearsal=1.0)
    assert get_recipe("default", critic_warmup=500).for_algorithm("sac")[0].hold_rehearsal == 1.0


@pytest.mark.parametrize("algo", ["td3", "ddpg"])
def test_make_finetune_fills_in_the_algorithms_critic_pretraining_and_handover_and_says_so(algo, bc_weights, caplog):
    from sb3_finetune.recipes import CRITIC_PRETRAIN_STEPS, WARMUP_HANDOVER, algorithm_name

    env = gym.make("SimpleNavigation-v0")
    with caplog.at_level("INFO", logger="sb3_finetune"):
        setup = make_finetune(algo, env, bc_weights, 1_000, "default", seed=0)
    assert algorithm_name(setup.model) == algo  # DDPG is a TD3 subclass in SB3
    assert setup.recipe.critic_pretrain_steps == CRITIC_PRETRAIN_STEPS[algo]
    assert setup.recipe.warmup_handover is WARMUP_HANDOVER[algo] is True
    for field in ("critic_pretrain_steps", "warmup_handover"):
        (sentence,) = [d for d in setup.decisions if d.startswith(f"{field}:")]
        assert f"{algo.upper()}'s in the default recipe" in sentence and sentence in caplog.text
    scratch = make_finetune(algo, env, None, 1_000, "default", seed=0)
    assert not scratch.decisions  # from scratch there is no critic to pre-train, and nothing to say


def test_critic_pretraining_is_skipped_where_the_warm_up_takes_the_whole_budget(bc_weights, caplog):
    env = gym.make("SimpleNavigation-v0")
    recipe = get_recipe("default", critic_pretrain_steps=60, distill_steps=50)
    setup = make_finetune("td3", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 400}, seed=0)
    critic_at_start = _vector(setup.model.critic)
    with caplog.at_level("INFO", logger="sb3_finetune"):
        setup.learn(300)  # the probe and the warm-up end with the budget: no training would use the critic
    assert setup.model.num_timesteps == 300 and setup.model._n_updates == 0
    assert th.equal(_vector(setup.model.critic), critic_at_start)
    (sentence,) = [d for d in setup.decisions if d.startswith("critic pre-training")]
    assert "skipped, the warm-up took the whole budget (300 of 300 env steps)" in sentence and sentence in caplog.text


def test_critic_pretraining_stands_down_with_the_prior_unless_asked(bc_weights):
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    runs = {}
    for on_stand_down in (False, True):
        recipe = get_recipe(
            "default",
            critic_pretrain_steps=60,
            distill_steps=50,
            stand_down_critic_pretrain=on_stand_down,
            stand_down_skip_warmup=False,
        )
        setup = make_finetune("td3", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 800}, seed=0)
        critic_at_start = _vector(setup.model.critic)
        setup.warm_up(1_000)  # the probe stands the prior down; the random warm-up to learning_starts
        assert setup.trusted is False and setup.model.num_timesteps == 800
        runs[on_stand_down] = (setup, critic_at_start)
    (plain, plain_start), (asked, asked_start) = runs[False], runs[True]
    assert plain.model._n_updates == 0 and th.equal(_vector(plain.model.critic), plain_start)
    assert not [d for d in plain.decisions if d.startswith("critic pre-training")]
    # Asked, the critic learns on the probe's and the random warm-up's transitions, and the actor (the prior
    # distilled on the features normalised at the stand-down) is the same as without it until training moves it.
    assert asked.model._n_updates == 60 and not th.equal(_vector(asked.model.critic), asked_start)
    assert th.equal(_vector(asked.model.actor), _vector(plain.model.actor))
    assert [d for d in asked.decisions if d.startswith("critic pre-training")] == [
        "critic pre-training: 60 gradient steps on the warm-up's 800 transitions, the actor held, before training's "
        "first env step (the prior stood down: stand_down_critic_pretrain)"
    ]


def test_a_stand_down_warm_up_is_acted_by_the_distilled_policy_when_asked(bc_weights):
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    near = {}
    for asked in (False, True):
        recipe = get_recipe(
            "default", critic_pretrain_steps=0, distill_steps=50, stand_down_warmup=asked, stand_down_skip_warmup=False
        )
        setup = make_finetune("td3", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 800}, seed=0)
        setup.warm_up(1_000)  # the probe stands the prior down, then the rest of the warm-up to learning_starts
        assert setup.trusted is False and setup.model.num_timesteps == 800
        probe = setup.gate.prior_steps
        buffer = setup.model.replay_buffer
        observations = th.as_tensor(buffer.observations[probe:800, 0])
        with th.no_grad():
            own = setup.model.actor(observations).numpy()  # the distilled prior, not trained yet
        near[asked] = float((np.abs(buffer.actions[probe:800, 0] - own).max(axis=1) < 0.3).mean())
        said = [d for d in setup.decisions if "stand_down_warmup" in d]
        assert len(said) == int(asked)
        if asked:
            assert said[0].startswith(f"trust gate: the prior stood down, the warm-up's last {800 - probe} env steps")
            assert any(d.startswith("warm-up hand-over:") for d in setup.decisions)  # TD3's default hands over
    # Uniform random actions fall near the actor's by chance only; the policy's warm-up acts as the actor until each
    # episode's hand-over.
    assert near[False] < 0.15 and near[True] > 0.3
    # SAC's default does it unasked (STAND_DOWN_WARMUP), where the warm-up is not skipped (the default skips it)
    recipe = get_recipe("default", critic_pretrain_steps=0, distill_steps=50, stand_down_skip_warmup=False)
    setup = make_finetune("sac", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 800}, seed=0)
    setup.warm_up(1_000)
    assert setup.trusted is False and setup.recipe.stand_down_warmup is True
    assert any(d.startswith("trust gate: the prior stood down, the warm-up's last") for d in setup.decisions)
    with pytest.raises(ValueError, match="it needs pretrained_warmup and a trust_gate"):
        get_recipe("default", stand_down_warmup=True, trust_gate=None)
    with pytest.raises(ValueError, match="it needs pretrained_warmup and a trust_gate"):
        get_recipe("default", stand_down_warmup=True, pretrained_warmup=False)


def test_sacs_default_keeps_the_policys_warm_up_on_a_stand_down_where_there_is_one():
    from sb3_finetune.recipes import STAND_DOWN_WARMUP

    for algo, value in STAND_DOWN_WARMUP.items():
        recipe, said = get_recipe("default").for_algorithm(algo)
        assert recipe.stand_down_warmup is value
        assert any(s.startswith(f"stand_down_warmup: {value}, {algo.upper()}'s in the default recipe") for s in said)
    assert STAND_DOWN_WARMUP["sac"] and not STAND_DOWN_WARMUP["td3"] and not STAND_DOWN_WARMUP["ddpg"]
    # With the default's stand-down start there is nothing left for it to act, and SAC's sentence says so
    moot = "with stand_down_skip_warmup on, as in the default recipe, a stood-down run leaves it nothing to act"
    said = get_recipe("default").for_algorithm("sac")[1]
    assert any(s.startswith("stand_down_warmup: True") and moot in s for s in said)
    said = get_recipe("default", stand_down_skip_warmup=False).for_algorithm("sac")[1]
    assert not any(moot in s for s in said)
    # Left to SAC where nothing would act it: off, and said; asked for there, refused.
    for changes, why in (
        ({"trust_gate": None}, "there is no trust gate to stand the prior down"),
        ({"pretrained_warmup": False}, "the warm-up is uniform random whatever the gate says (pretrained_warmup off)"),
    ):
        recipe, said = get_recipe("default", **changes).for_algorithm("sac")
        assert recipe.stand_down_warmup is False and f"stand-down warm-up: off, {why}" in said
        assert not any(s.startswith("stand_down_warmup:") for s in said)
        with pytest.raises(ValueError, match="it needs pretrained_warmup and a trust_gate"):
            get_recipe("default", stand_down_warmup=True, **changes)


def test_a_stand_down_can_start_training_at_the_probes_end(bc_weights):
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    recipe = get_recipe("default", critic_pretrain_steps=0, distill_steps=50, stand_down_skip_warmup=True)
    setup = make_finetune("sac", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 800}, seed=0)
    setup.warm_up(1_000)  # the probe stands the prior down: the warm-up ends there
    probe = setup.gate.prior_steps
    assert setup.trusted is False and 0 < probe < 800
    assert setup.model.num_timesteps == probe and setup.model.learning_starts == probe
    (said,) = [d for d in setup.decisions if "(stand_down_skip_warmup;" in d]
    assert said == (
        f"trust gate: the prior stood down, training's first gradient step comes after the gate's probes, at env step "
        f"{probe}: the warm-up's last {800 - probe} env steps are skipped (stand_down_skip_warmup; learning_starts "
        f"800 -> {probe})"
    )
    # Nothing of the warm-up it skipped is said to have been acted (SAC's default acts a stood-down warm-up otherwise)
    assert not [d for d in setup.decisions if "(stand_down_warmup)" in d or d.startswith("warm-up hand-over")]
    setup.learn(1_000)  # training takes its first gradient step at once
    assert setup.model.num_timesteps == 1_000 and setup.model._n_updates == 1_000 - probe
    # Without a trust gate nothing stands the prior down: the field (on in the default recipe) does nothing, and the
    # runs it would spell are the runs without it.
    from sb3_finetune.experiment import RunSpec

    ungated = (("trust_gate", None),)
    assert get_recipe("default", trust_gate=None).stand_down_skip_warmup
    assert (
        RunSpec("obstacle", "td3", "default", 0, recipe_overrides=ungated).recipe_fingerprint
        == RunSpec(
            "obstacle", "td3", "default", 0, recipe_overrides=(*ungated, ("stand_down_skip_warmup", False))
        ).recipe_fingerprint
    )


def test_a_run_resumed_from_a_checkpoint_stays_stood_down(bc_weights, tmp_path):
    """The warm-up does not run again on a resume: the checkpoint keeps the gate's decision, and a stood-down run goes
    on neither holding nor pulling the actor towards the prior the gate turned down."""
    from stable_baselines3 import TD3

    from sb3_finetune.checkpoint import CheckpointCallback, list_checkpoints, load_checkpoint

    def build():
        env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
        recipe = get_recipe("default", critic_pretrain_steps=0, distill_steps=50)
        return make_finetune("td3", env, bc_weights, 4_000, recipe, seed=0)

    first = build()
    first.learn(1_000, callback=CheckpointCallback(500, tmp_path, first.checkpoint_state))
    assert first.trusted is False
    (step, path), *_ = reversed(list_checkpoints(tmp_path))
    assert step == 1_000
    model, state = load_checkpoint(path, TD3, env=first.model.get_env())
    assert state["gate"] == first.gate.as_dict() and model.learning_starts == first.gate.prior_steps
    resumed = build()
    hook = next(c for c in resumed.callbacks if isinstance(c, ActorUpdateHook))
    assert hook.weight() > 0.0 and hook.hold_steps == 1_000  # as built: the warm-up would stand it down
    (said,) = resumed.resume(model, state)
    assert said.startswith("trust gate: the checkpoint's run stood the prior down (") and said in resumed.decisions
    assert resumed.trusted is False and resumed.model is model
    assert hook.weight() == 0.0 and hook.hold_steps == 0
    updates = model._n_updates
    resumed.learn(300, reset_num_timesteps=False)  # 300 more env steps from the checkpoint, the actor free
    assert resumed.model.num_timesteps == 1_300 and resumed.model._n_updates == updates + 300
    # A checkpoint without the gate's decision (written before the warm-up ended, or by an earlier version): said.
    blind = build()
    (warning,) = blind.resume(load_checkpoint(path, TD3, env=first.model.get_env())[0], {"num_timesteps": 1_000})
    assert "does not say what the gate decided" in warning
    assert next(c for c in blind.callbacks if isinstance(c, ActorUpdateHook)).weight() > 0.0


@pytest.mark.parametrize("field", STAND_DOWN_ONLY)
def test_a_field_that_acts_on_a_stand_down_leaves_a_trusted_run_as_it_is(bc_weights, field):
    """Where the gate trusts the prior, the fields of STAND_DOWN_ONLY change nothing: the run is the same, bit for bit
    (what lets the sweep take a trusted run for a recipe that differs from its own only there). The nav task has no
    random probe: ``stand_down_distill_random_probe`` is checked where it has one too
    (``tests/sb3_finetune/test_any_env.py``)."""
    ends = []
    for asked in (False, True):
        recipe = get_recipe("default", critic_pretrain_steps=20, distill_steps=50, **{field: asked})
        env = gym.make("SimpleNavigation-v0")
        setup = make_finetune("td3", env, bc_weights, 900, recipe, hyperparams={"learning_starts": 600}, seed=0)
        setup.learn(900)
        assert setup.trusted and setup.model.learning_starts == 600
        assert not [d for d in setup.decisions if f"({field}" in d or f" {field})" in d]
        ends.append(setup.model.policy.state_dict())
    assert all(th.equal(ends[0][name], ends[1][name]) for name in ends[0])


def test_the_q_filter_pulls_where_the_prior_is_valued_more_and_the_conservative_one_until_every_critic_agrees():
    from sb3_finetune.recipes import q_filter_mask

    # Rows: the twins agree the prior is better; agree the actor is; disagree (one critic each way); one critic.
    prior_q = th.tensor([[2.0, 2.0], [0.0, 0.0], [1.0, 3.0]])
    actor_q = th.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert q_filter_mask(prior_q, actor_q).tolist() == [True, False, False]
    assert q_filter_mask(prior_q, actor_q, conservative=True).tolist() == [True, False, True]
    single_prior, single_actor = th.tensor([[1.0], [3.0]]), th.tensor([[2.0], [2.0]])
    assert q_filter_mask(single_prior, single_actor).tolist() == [False, True]
    assert q_filter_mask(single_prior, single_actor, conservative=True).tolist() == [False, True]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"critic_pretrain_steps": -1}, "critic_pretrain_steps must be >= 0"),
        ({"bc_q_filter_conservative": True, "bc_q_filter": False}, "needs bc_q_filter=True"),
    ],
)
def test_inconsistent_recipe_fields_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("default", **overrides)


def test_the_rl_zoo_callback_pretrains_the_critic_too(pendulum_prior):
    from stable_baselines3 import TD3

    from sb3_finetune.zoo import FinetuneCallback

    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=1_000, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, trust_gate=None, distill_steps=50, critic_pretrain_steps=30)
    model.learn(1_010, callback=callback)
    assert model._n_updates == 30 + 10  # the pre-training's, then one per env step after learning_starts
    (sentence,) = [d for d in callback.decisions if d.startswith("critic pre-training")]
    assert "30 gradient steps on the warm-up's 1000 transitions" in sentence


@pytest.mark.real_defaults
def test_the_rl_zoo_callback_fills_in_the_algorithms_critic_pretraining_and_handover(pendulum_prior):
    from stable_baselines3 import SAC, TD3

    from sb3_finetune.recipes import CRITIC_PRETRAIN_STEPS
    from sb3_finetune.zoo import FinetuneCallback

    for algo in (TD3, SAC):
        model = algo("MlpPolicy", "Pendulum-v1", learning_starts=1_000, seed=0, policy_kwargs={"net_arch": [16]})
        callback = FinetuneCallback(pendulum_prior, distill_steps=10)
        callback.init_callback(model)
        steps = CRITIC_PRETRAIN_STEPS[algo.__name__.lower()]
        assert callback.recipe.critic_pretrain_steps == steps
        assert callback.recipe.warmup_handover is True and callback.recipe.critic_layer_norm is True
        said = [d for d in callback.decisions if d.startswith("critic_pretrain_steps:")]
        assert len(said) == 1 and said[0].startswith(f"critic_pretrain_steps: {steps}, {algo.__name__}'s in the")
        said = [d for d in callback.decisions if d.startswith("warmup_handover:")]
        assert len(said) == 1 and said[0].startswith(f"warmup_handover: True, {algo.__name__}'s in the")


def test_the_rl_zoo_callback_starts_a_stood_down_run_at_the_probes_end(bc_weights):
    from stable_baselines3 import TD3

    from sb3_finetune.zoo import FinetuneCallback

    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    model = TD3("MlpPolicy", env, learning_starts=800, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(bc_weights, distill_steps=10, critic_pretrain_steps=0)
    model.learn(1_000, callback=callback)
    assert callback.gate is not None and not callback.gate.trusted
    probe = callback.gate.prior_steps
    assert model.learning_starts == probe < 800 and model._n_updates == 1_000 - probe
    assert any("(stand_down_skip_warmup; learning_starts 800 -> " in d for d in callback.decisions)


def test_the_rl_zoo_callback_rehearses_sacs_hold_as_make_finetune_does(pendulum_prior):
    from stable_baselines3 import SAC

    from sb3_finetune.zoo import FinetuneCallback

    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=200, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, distill_steps=10, critic_warmup=400, trust_gate=None)
    model.learn(800, callback=callback)
    rehearsal = callback.rehearsal
    assert callback.recipe.hold_rehearsal == 1.0 and rehearsal is not None
    start = rehearsal.start  # the first gradient step, where the warm-up's last episode ends
    assert start >= 200 and rehearsal.until == start + 400 == callback.hook.hold_steps
    assert rehearsal.updates > 0 and rehearsal.rehearsed_episodes >= 1 and rehearsal.actor is None  # dropped
    assert type(model) is SAC  # its sampling swapped only while the window was on
    said = f"hold rehearsal: from step {start} to the actor's release at {start + 400}"
    assert any(d.startswith(said) for d in callback.decisions)
    assert any(d.startswith("hold rehearsal: ended at the actor's release") for d in callback.decisions)
    stepped = FinetuneCallback(pendulum_prior, distill_steps=10, critic_layer_norm=False, hold_rehearsal=1.0)
    stepped.init_callback(model)  # the warm-up, which arms the hold's rehearsal, runs only on a fresh model
    assert stepped.rehearsal is None and stepped.recipe.hold_rehearsal == 0.0  # the recipe as it runs
    assert any(d.startswith("hold rehearsal: off, the recipe's warm-up") for d in stepped.decisions)


def test_the_rl_zoo_callback_builds_the_recipes_conservative_filter_and_guard(pendulum_prior):
    from stable_baselines3 import TD3

    from sb3_finetune.zoo import FinetuneCallback

    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=1_000, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(
        pendulum_prior, recipe="frontier", collapse_guard=0.5, guard_episodes=4, frontier_explore=0.5, explore_hold=20
    )
    callback.init_callback(model)
    assert callback.hook.q_filter and callback.hook.q_filter_conservative
    assert callback.guard is not None and callback.guard.hook is callback.hook and callback.guard.episodes == 4
    assert callback.explorer is not None and callback.guard.explorer is callback.explorer
    assert callback.explorer.share == 0.5 and callback.explorer.mark is None  # armed by the warm-up, if trusted
    assert callback.explorer.hold == 20
    assert callback.hook.explorer is callback.explorer
    pink = FinetuneCallback(pendulum_prior, recipe="frontier", frontier_explore=0.5, explore_noise="pink")
    pink.init_callback(model)
    assert pink.explorer.noise == "pink" and pink.explorer.hold == 1
    assert callback.escape is None
    escaping = FinetuneCallback(pendulum_prior, recipe="frontier", escape_saturation=True)
    escaping.init_callback(model)
    assert escaping.escape is not None and escaping.decisions == []


def test_distill_sac_std_sets_the_spread_sacs_distilled_actor_starts_with(bc_weights):
    """The distilled SAC actor's standard deviation (before tanh) is the recipe's, not SAC's own of about 1."""
    env = gym.make("SimpleNavigation-v0")
    spreads = {}
    for std in (0.3, 0.1):
        recipe = get_recipe("default", distill_sac_std=std, distill_steps=300, trust_gate=None)
        setup = make_finetune("sac", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 300}, seed=0)
        setup.learn(300)  # the warm-up ends at learning_starts: distilled, not yet trained
        observations = th.as_tensor(setup.model.replay_buffer.observations[:300, 0], dtype=th.float32)
        with th.no_grad():
            _, log_std, _ = setup.model.actor.get_action_dist_params(observations)
        spreads[std] = log_std.exp().mean().item()
    assert spreads[0.3] == pytest.approx(0.3, rel=0.2) and spreads[0.1] == pytest.approx(0.1, rel=0.2)
    with pytest.raises(ValueError, match="distill_sac_std must be > 0"):
        get_recipe("default", distill_sac_std=0.0)


def test_actor_ramp_lets_the_released_actor_move_slowly_and_puts_the_learning_rate_back(bc_weights):
    """With the ramp, the actor's first steps after its release are a small share of its learning rate's; SB3's rate
    is as it was after each step."""
    env = gym.make("SimpleNavigation-v0")
    moved = {}
    for ramp in (0, 1_000_000):
        recipe = get_recipe(
            "default", actor_ramp=ramp, critic_warmup=0, bc_weight=0.0, trust_gate=None, distill_steps=50
        )
        setup = make_finetune("sac", env, bc_weights, 1_000, recipe, hyperparams={"learning_starts": 200}, seed=0)
        setup.learn(200)  # the warm-up: the actor is released at learning_starts
        released = _vector(setup.model.actor).clone()
        setup.learn(100, reset_num_timesteps=False)
        moved[ramp] = (_vector(setup.model.actor) - released).abs().max().item()
        learning_rate = setup.model.lr_schedule(setup.model._current_progress_remaining)
        assert all(group["lr"] == learning_rate for group in setup.model.actor.optimizer.param_groups)
    assert 0.0 < moved[1_000_000] < moved[0] / 100
    with pytest.raises(ValueError, match="actor_ramp must be >= 0"):
        get_recipe("default", actor_ramp=-1)


def test_entropy_start_starts_sacs_automatic_coefficient_where_there_is_a_prior(bc_weights):
    """``entropy_start`` moves SB3's start of ``ent_coef="auto"`` (1.0) to its value (the default recipe's: 0.01),
    says so, and keeps a coefficient the user gave; without a prior (scratch) SB3's start stands, and
    ``entropy_start=None`` keeps it too, said with where the default's start was measured."""
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("sac", env, bc_weights, 2_000, "default", {"ent_coef": "auto"})
    assert setup.model.ent_coef == "auto_0.01"
    assert float(th.exp(setup.model.log_ent_coef)) == pytest.approx(0.01)
    assert any(s.startswith("ent_coef: auto, started at 0.01 (entropy_start)") for s in setup.decisions)
    assert setup.recipe.entropy_start == 0.01
    recipe = get_recipe("default", entropy_start=0.1)
    assert make_finetune("sac", env, bc_weights, 2_000, recipe, {"ent_coef": "auto"}).model.ent_coef == "auto_0.1"
    for given in (0.05, "auto_0.2"):
        assert make_finetune("sac", env, bc_weights, 2_000, recipe, {"ent_coef": given}).model.ent_coef == given
    assert make_finetune("sac", env, None, 2_000, recipe, {"ent_coef": "auto"}).model.ent_coef == "auto"
    off = get_recipe("default", entropy_start=None)
    as_given = make_finetune("sac", env, bc_weights, 2_000, off, {"ent_coef": "auto"})
    assert as_given.model.ent_coef == "auto"
    note = next(s for s in as_given.decisions if s.startswith("ent_coef: auto, as given"))
    assert "PARTLY_RIGHT.md" in note and "MountainCar" in note  # said, with where each start was the better one
    # A start of 1 is SB3's own ("auto_1" is "auto"): kept as given, not said to move SB3's start.
    sb3s = make_finetune("sac", env, bc_weights, 2_000, get_recipe("default", entropy_start=1.0), {"ent_coef": "auto"})
    assert sb3s.model.ent_coef == "auto" and not any("instead of SB3's" in s for s in sb3s.decisions)
    assert any(s.startswith("ent_coef: auto, as given") and "entropy_start is 1" in s for s in sb3s.decisions)
    fixed = make_finetune("sac", env, bc_weights, 2_000, "default", {"ent_coef": 0.01})
    assert fixed.model.ent_coef == 0.01 and not any(s.startswith("ent_coef") for s in fixed.decisions)
    with pytest.raises(ValueError, match="entropy_start must be above 0"):
        get_recipe("default", entropy_start=0.0)


def test_entropy_floor_holds_sacs_tuned_coefficient_at_its_floor():
    """:class:`EntropyFloor` lets SB3 tune ``ent_coef="auto"`` and sets it back to the floor after each update that
    took it lower: a run whose tuning falls below the floor (shown by the same run without it) stays at the floor
    after every update, counts the updates it held, says so once at the end, and takes its hook off; a fixed
    coefficient is left alone."""
    from stable_baselines3 import SAC

    from sb3_finetune import EntropyFloor  # exported: a plain SB3 callback for any SAC model

    def run(callbacks):
        model = SAC("MlpPolicy", "Pendulum-v1", ent_coef="auto_1.0", learning_rate=1e-2, learning_starts=50, seed=0)
        seen = []

        class Watch(BaseCallback):
            def _on_step(self):
                seen.append(float(th.exp(self.model.log_ent_coef.detach())))
                return True

        model.learn(150, callback=[*callbacks, Watch()])
        return model, seen

    plain, _ = run([])
    assert float(th.exp(plain.log_ent_coef.detach())) < 0.5  # SB3's tuning alone goes below the floor
    decisions: list[str] = []
    floor = EntropyFloor(0.5, decisions)
    model, seen = run([floor])
    assert min(seen) >= 0.5 - 1e-6 and float(th.exp(model.log_ent_coef.detach())) == pytest.approx(0.5)
    assert 0 < floor.held <= floor.updates == 100
    assert len(decisions) == 1 and decisions[0].startswith("entropy floor: SB3's tuning would have taken")
    assert f"in {floor.held} of its 100 updates" in decisions[0]
    assert not model.ent_coef_optimizer._optimizer_step_post_hooks  # the hook is off after training
    model.learn(10, reset_num_timesteps=False, callback=floor)  # a second learn: one sentence, the counts so far
    assert len(decisions) == 1 and "of its 110 updates" in decisions[0]
    fixed = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.01, learning_starts=50, seed=0)
    untouched = EntropyFloor(0.5, [])
    fixed.learn(100, callback=untouched)
    assert untouched.updates == 0 and untouched.decisions == [] and fixed.ent_coef_tensor.item() == pytest.approx(0.01)
    # The fraction held goes to SB3's logger with each update, so SB3's dumps carry it beside its train/ent_coef.
    from stable_baselines3.common.logger import KVWriter, Logger

    class Rows(KVWriter):
        rows: list = []

        def write(self, key_values, key_excluded, step=0):
            self.rows.append(dict(key_values))

    logged = SAC("MlpPolicy", "Pendulum-v1", ent_coef="auto_1.0", learning_rate=1e-2, learning_starts=50, seed=0)
    logged.set_logger(Logger(None, [Rows()]))
    logged.learn(250, callback=EntropyFloor(0.5), log_interval=1)  # one dump, at the first episode's end (200)
    dumped = [row for row in Rows.rows if "train/ent_coef" in row]
    assert dumped and 0 < dumped[0]["train/ent_coef_floored"] <= 1
    low_start = SAC("MlpPolicy", "Pendulum-v1", ent_coef="auto_0.1", learning_starts=1_000, seed=0)
    low_start.learn(10, callback=EntropyFloor(0.5))  # no update yet: the start is raised when training starts
    assert float(th.exp(low_start.log_ent_coef.detach())) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="floor must be above 0"):
        EntropyFloor(0.0)


def test_entropy_floor_comes_with_the_recipe_where_sac_tunes_its_coefficient(pendulum_prior):
    """``entropy_floor`` adds the floor (said) where SAC runs with ``ent_coef="auto"`` and a prior, through
    make_finetune and the RL Zoo's callback alike, on an env nobody here wrote; a fixed coefficient, TD3 and scratch
    get none and nothing is said."""
    from stable_baselines3 import SAC

    from sb3_finetune.callbacks import EntropyFloor
    from sb3_finetune.zoo import FinetuneCallback

    env = gym.make("Pendulum-v1")
    recipe = get_recipe("default", entropy_floor=0.01)
    setup = make_finetune("sac", env, pendulum_prior, 2_000, recipe, {"ent_coef": "auto"})
    floors = [c for c in setup.callbacks if isinstance(c, EntropyFloor)]
    assert len(floors) == 1 and floors[0].floor == 0.01 and floors[0].decisions is setup.decisions
    assert any(s.startswith("ent_coef: auto, held at or above 0.01 (entropy_floor)") for s in setup.decisions)
    for algo, hyperparams in (("sac", {"ent_coef": 0.01}), ("td3", {})):
        other = make_finetune(algo, env, pendulum_prior, 2_000, recipe, hyperparams)
        assert not any(isinstance(c, EntropyFloor) for c in other.callbacks)
        assert not any("entropy_floor" in s for s in other.decisions)
    assert not make_finetune("sac", env, None, 2_000, recipe, {"ent_coef": "auto"}).callbacks
    assert not any(isinstance(c, EntropyFloor) for c in make_finetune("sac", env, pendulum_prior, 2_000).callbacks)
    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, recipe="default", distill_steps=20, entropy_floor=0.01)
    callback.init_callback(model)
    assert isinstance(callback.floor, EntropyFloor) and callback.floor.decisions is callback.decisions
    assert any(s.startswith("ent_coef: auto, held at or above 0.01") for s in callback.decisions)
    with pytest.raises(ValueError, match="entropy_floor must be above 0"):
        get_recipe("default", entropy_floor=-1.0)


def test_entropy_decay_lowers_sacs_fixed_coefficient_over_its_window(tmp_path):
    """:class:`EntropyDecay` keeps SAC's fixed coefficient until its window, lowers it linearly through it and keeps
    it at its fraction after; SB3's train step uses it (``train/ent_coef``); a saved model carries the lowered one and
    keeps its ``ent_coef`` (where a resumed run's schedule starts); an automatic coefficient is left alone."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import KVWriter, Logger

    from sb3_finetune import EntropyDecay  # exported: a plain SB3 callback for any SAC model

    class Rows(KVWriter):
        def __init__(self):
            self.rows = []

        def write(self, key_values, key_excluded, step=0):
            self.rows.append(dict(key_values))

    model = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.02, learning_starts=50, seed=0, policy_kwargs={"net_arch": [8]})
    rows = Rows()
    model.set_logger(Logger(None, [rows]))
    seen = {}

    class Watch(BaseCallback):
        def _on_step(self):
            seen[self.num_timesteps] = self.model.ent_coef_tensor.item()
            return True

    decisions: list[str] = []
    decay = EntropyDecay(0.1, 0.5, 0.75, decisions=decisions)
    model.learn(400, callback=[decay, Watch()], log_interval=1)  # its window from learn's budget: steps 200 to 300
    assert seen[100] == pytest.approx(0.02) and seen[200] == pytest.approx(0.02)
    assert seen[250] == pytest.approx(0.02 * (1 - 0.5 * 0.9)) and seen[300] == pytest.approx(0.002)
    assert seen[400] == pytest.approx(0.002) and model.ent_coef == 0.02
    assert decisions == [
        "entropy decay: SAC's fixed entropy coefficient 0.02 falls linearly to 0.002 (0.1 of it) from env step 200 to "
        "300 of 400, and stays there"
    ]
    logged = [row["train/ent_coef"] for row in rows.rows if "train/ent_coef" in row]
    assert logged[0] == pytest.approx(0.02) and logged[-1] == pytest.approx(0.002)  # SB3's own update used it
    model.save(tmp_path / "decayed.zip")
    loaded = SAC.load(tmp_path / "decayed.zip")
    assert loaded.ent_coef_tensor.item() == pytest.approx(0.002) and loaded.ent_coef == 0.02
    # A run resumed past the window's start (a new callback, as a checkpoint's resume builds one) takes up the
    # coefficient where the schedule is at its step, not the model's own.
    resumed = SAC(
        "MlpPolicy", "Pendulum-v1", ent_coef=0.02, learning_starts=50, seed=0, policy_kwargs={"net_arch": [8]}
    )
    resumed.learn(250)
    resumed.learn(1, reset_num_timesteps=False, callback=EntropyDecay(0.1, 0.5, 0.75, budget=400))
    done = (resumed.num_timesteps - 200) / 100  # the window, 200 to 300 of 400
    assert resumed.num_timesteps == 251 and resumed.ent_coef_tensor.item() == pytest.approx(0.02 * (1 - done * 0.9))
    auto = SAC("MlpPolicy", "Pendulum-v1", learning_starts=50, seed=0, policy_kwargs={"net_arch": [8]})
    untouched = EntropyDecay(0.1, 0.0, 0.5, decisions=[])
    auto.learn(100, callback=untouched)
    assert untouched.coefficient is None and untouched.decisions == []
    for bad in ({"factor": 0.0}, {"factor": 1.5}, {"factor": 0.1, "start": 0.8, "until": 0.5}):
        with pytest.raises(ValueError, match="must"):
            EntropyDecay(**bad)


def test_entropy_decay_comes_with_the_recipe_where_sacs_coefficient_is_fixed(pendulum_prior):
    """``entropy_decay`` adds the decay (said, its window from the run's budget) where SAC runs with a fixed
    coefficient and a prior, through make_finetune and the RL Zoo's callback; under ``ent_coef="auto"`` it says it is
    off; TD3 and scratch get none. The default recipe's is a tenth over the budget's third quarter (said as the
    default's); ``entropy_decay=None`` keeps the coefficient, and says nothing."""
    from stable_baselines3 import SAC

    from sb3_finetune.callbacks import EntropyDecay
    from sb3_finetune.zoo import FinetuneCallback

    env = gym.make("Pendulum-v1")
    recipe = get_recipe("default", entropy_decay=0.1, entropy_decay_from=0.25, entropy_decay_until=0.5)
    setup = make_finetune("sac", env, pendulum_prior, 2_000, recipe)  # the shared default: ent_coef 0.01
    decays = [c for c in setup.callbacks if isinstance(c, EntropyDecay)]
    assert len(decays) == 1 and (decays[0].factor, decays[0].budget) == (0.1, 2_000)
    assert decays[0].decisions is setup.decisions
    tuned = make_finetune("sac", env, pendulum_prior, 2_000, recipe, {"ent_coef": "auto"})
    assert not any(isinstance(c, EntropyDecay) for c in tuned.callbacks)
    assert any(s.startswith("entropy_decay: off, SB3 tunes this entropy coefficient") for s in tuned.decisions)
    for other in (
        make_finetune("td3", env, pendulum_prior, 2_000, recipe),
        make_finetune("sac", env, pendulum_prior, 2_000, get_recipe("default", entropy_decay=None)),
    ):
        assert not any(isinstance(c, EntropyDecay) for c in other.callbacks)
        assert not any("entropy decay" in s or "entropy_decay" in s for s in other.decisions)
    default = make_finetune("sac", env, pendulum_prior, 2_000)
    (decay,) = [c for c in default.callbacks if isinstance(c, EntropyDecay)]
    assert (decay.factor, decay.start, decay.until) == (0.1, 0.5, 0.75)
    assert any(s.startswith("entropy_decay: 0.1, the default recipe's (SAC's final return") for s in default.decisions)
    assert not make_finetune("sac", env, None, 2_000, recipe).callbacks
    small = {"net_arch": [16]}
    model = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.01, learning_starts=300, seed=0, policy_kwargs=small)
    callback = FinetuneCallback(
        pendulum_prior, recipe="default", distill_steps=20, entropy_decay=0.1, entropy_decay_until=0.6
    )
    model.learn(600, callback=callback)  # the Zoo's one training: the window from its budget, 300 to 360
    assert callback.decay is not None and callback.decay.decisions is callback.decisions
    assert model.ent_coef_tensor.item() == pytest.approx(0.001)
    assert any("from env step 300 to 360 of 600" in s for s in callback.decisions)
    with pytest.raises(ValueError, match="entropy_decay must be in"):
        get_recipe("default", entropy_decay=0.0)
    with pytest.raises(ValueError, match="entropy_decay_from and entropy_decay_until"):
        get_recipe("default", entropy_decay=0.5, entropy_decay_from=0.6, entropy_decay_until=0.6)


def test_the_rl_zoo_callback_starts_sacs_automatic_coefficient_too(pendulum_prior):
    """The Zoo builds SAC with ``ent_coef: auto`` before the callback runs: a fresh model's coefficient starts at the
    recipe's ``entropy_start``, rebuilt or not; on a model that has stepped it is left where it is, and said."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.torch_layers import FlattenExtractor

    from sb3_finetune.zoo import FinetuneCallback

    def coefficient(model):
        return float(th.exp(model.log_ent_coef.detach()))

    kwargs = {"net_arch": [16]}
    own_extractor = {**kwargs, "features_extractor_class": FlattenExtractor}  # not rebuilt
    for policy_kwargs in (kwargs, own_extractor):
        model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=300, seed=0, policy_kwargs=policy_kwargs)
        callback = FinetuneCallback(pendulum_prior, distill_steps=20)
        callback.init_callback(model)
        assert model.ent_coef == "auto_0.01" and coefficient(model) == pytest.approx(0.01)
        assert any(s.startswith("ent_coef: auto, started at 0.01 (entropy_start)") for s in callback.decisions)
    stepped = SAC("MlpPolicy", "Pendulum-v1", learning_starts=10, seed=0, policy_kwargs=kwargs)
    stepped.learn(20)
    before = coefficient(stepped)
    callback = FinetuneCallback(pendulum_prior, distill_steps=20)
    callback.init_callback(stepped)
    assert stepped.ent_coef == "auto" and coefficient(stepped) == before
    assert any(s.startswith("ent_coef: auto, left where it is") for s in callback.decisions)
