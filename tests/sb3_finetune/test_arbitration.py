"""Arbitration by the critic between the actor and the prior (recipe ``ibrl``): acting, the TD target, save/load."""

import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

import nav_env  # noqa: F401
from sb3_finetune import get_recipe, make_finetune
from sb3_finetune.arbitration import ArbitratedSACPolicy, ArbitratedTD3Policy, ArbitrationCallback, is_arbitrated
from sb3_finetune.cli import main
from sb3_finetune.nav import pretrain_expert
from sb3_finetune.pretrain import export
from sb3_finetune.weights import PretrainedWeightsError

SAME_TASK = {"goal_position": (0.7, 0.7)}
# Arbitration from env step 200: 100 steps of probe and warm-up, then 100 of critic warm-up.
RECIPE = get_recipe("ibrl", distill_steps=50, critic_warmup=100, gate_steps=100)
HYPERPARAMS = {"learning_starts": 100, "batch_size": 32}
OBSERVATIONS = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prior") / "prior.pt"
    pretrain_expert(path, "SimpleNavigation-v0", SAME_TASK, samples=5_000, epochs=20)
    return path


def _setup(algo, prior_file, target=SAME_TASK, budget=400, recipe=RECIPE):
    env = gym.make("SimpleNavigation-v0", **target)
    return make_finetune(algo, env, str(prior_file), budget, recipe, dict(HYPERPARAMS), seed=0)


_TRAINED = {}


@pytest.fixture
def trained(prior_file):
    """A model of each algorithm after 400 steps of the recipe (arbitrating since step 200), made once."""

    def get(algo):
        if algo not in _TRAINED:
            setup = _setup(algo, prior_file)
            setup.learn(400)
            _TRAINED[algo] = setup
        return _TRAINED[algo]

    return get


def _by_hand(policy, critic, observations, actions):
    """The arbitration rule written out: the prior's action where its smaller twin Q is the larger."""
    with th.no_grad():
        prior = policy.prior(observations)
        q_actor = th.cat(critic(observations, actions), dim=1).min(dim=1).values
        q_prior = th.cat(critic(observations, prior), dim=1).min(dim=1).values
        return th.where((q_prior > q_actor)[:, None], prior, actions), q_prior > q_actor


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_the_model_acts_with_the_action_the_critic_values_more_once_arbitration_starts(algo, prior_file, trained):
    fresh = _setup(algo, prior_file).model.policy
    assert isinstance(fresh, ArbitratedSACPolicy if algo == "sac" else ArbitratedTD3Policy)
    assert not bool(fresh.arbitrating)
    setup = trained(algo)
    policy = setup.model.policy
    arbiter = next(c for c in setup.callbacks if isinstance(c, ArbitrationCallback))
    assert setup.trusted and arbiter.start == 200 and bool(policy.arbitrating)
    observations = th.as_tensor(OBSERVATIONS)
    with th.no_grad():
        actor = policy.actor(observations, deterministic=True) if algo == "sac" else policy.actor(observations)
    expected, chose_prior = _by_hand(policy, policy.critic, observations, actor)
    actions, _ = setup.model.predict(OBSERVATIONS, deterministic=True)
    np.testing.assert_allclose(actions, expected.numpy(), atol=1e-6)
    assert policy.chosen_total > 0  # the choices are counted for finetune/prior_chosen
    if 0 < int(chose_prior.sum()) < len(OBSERVATIONS):  # both kinds of choice: the actor's own output differs
        assert not np.allclose(actions, actor.numpy())


def test_the_td3_target_bootstraps_with_the_action_the_target_critic_values_more(trained):
    policy = trained("td3").model.policy
    observations = th.as_tensor(OBSERVATIONS)
    policy.arbitrating.fill_(False)
    with th.no_grad():
        plain = policy.actor_target(observations)
    policy.arbitrating.fill_(True)
    expected, chose_prior = _by_hand(policy, policy.critic_target, observations, plain)
    with th.no_grad():
        np.testing.assert_allclose(policy.actor_target(observations).numpy(), expected.numpy(), atol=1e-6)
    assert chose_prior.any() or th.allclose(expected, plain)


LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from stable_baselines3 import SAC, TD3
    import sb3_finetune

    cls = {"td3": TD3, "sac": SAC}[sys.argv[1]]
    model = sb3_finetune.load_model(sys.argv[2], cls)
    actions, _ = model.predict(np.array(json.loads(sys.argv[3]), dtype=np.float32), deterministic=True)
    print(json.dumps({"policy": type(model.policy).__name__, "arbitrating": bool(model.policy.arbitrating),
                      "actions": actions.tolist()}))
    """
)


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_a_saved_model_is_the_composite_policy_without_the_prior_file(algo, prior_file, trained, tmp_path):
    setup = trained(algo)
    expected, _ = setup.model.predict(OBSERVATIONS, deterministic=True)
    setup.model.save(tmp_path / "model.zip")
    moved = prior_file.rename(prior_file.with_suffix(".gone"))
    try:
        result = subprocess.run(
            [sys.executable, "-c", LOADER, algo, str(tmp_path / "model.zip"), json.dumps(OBSERVATIONS.tolist())],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        moved.rename(prior_file)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["policy"] == type(setup.model.policy).__name__ and loaded["arbitrating"]
    np.testing.assert_allclose(loaded["actions"], expected, atol=1e-6)


def test_export_refuses_an_arbitrating_model_unless_the_actor_alone_is_asked_for(trained, tmp_path, capsys):
    setup = trained("td3")
    setup.model.save(tmp_path / "model.zip")
    with pytest.raises(PretrainedWeightsError, match="its actor alone is not its policy"):
        export(tmp_path / "model.zip", tmp_path / "never.pt")
    assert not (tmp_path / "never.pt").exists()
    assert main(["export", str(tmp_path / "model.zip"), "--out", str(tmp_path / "never.pt")]) == 2
    assert "--actor-only" in capsys.readouterr().err and not (tmp_path / "never.pt").exists()
    assert main(["export", str(tmp_path / "model.zip"), "--out", str(tmp_path / "actor.pt"), "--actor-only"]) == 0
    assert (tmp_path / "actor.pt").exists()


def test_an_untrusted_prior_never_arbitrates(prior_file):
    setup = _setup("td3", prior_file, target={"goal_position": (-0.7, -0.7)}, budget=600)
    setup.learn(600)
    assert setup.trusted is False
    arbiter = next(c for c in setup.callbacks if isinstance(c, ArbitrationCallback))
    assert not arbiter.enabled and not bool(setup.model.policy.arbitrating)


def test_arbitration_is_refused_under_vecnormalize_and_for_a_prior_that_is_no_linear_stack(prior_file):
    env = VecNormalize(make_vec_env("SimpleNavigation-v0", n_envs=1))
    with pytest.raises(ValueError, match="VecNormalize"):
        make_finetune("td3", env, str(prior_file), 300, RECIPE)
    module = th.nn.Sequential(th.nn.Linear(2, 8), th.nn.ReLU(), th.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="Linear stack"):
        make_finetune("td3", gym.make("SimpleNavigation-v0"), module, 300, RECIPE)


def test_the_other_recipes_keep_sb3s_own_policies(prior_file):
    setup = _setup("td3", prior_file, recipe=get_recipe("default", distill_steps=50))
    assert not is_arbitrated(setup.model.policy)
    assert not any(isinstance(c, ArbitrationCallback) for c in setup.callbacks)


def test_the_zoo_callback_refuses_an_arbitrating_recipe_in_one_sentence(prior_file):
    from sb3_finetune.zoo import FinetuneCallback

    with pytest.raises(ValueError, match="its own policy class"):
        FinetuneCallback(str(prior_file), recipe="ibrl")


def _pendulum():
    return gym.make("Pendulum-v1")


def _point_maze():
    gymnasium_robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(gymnasium_robotics)
    return gym.make("PointMaze_UMaze-v3")


@pytest.mark.parametrize(("name", "algo"), [("pendulum", "td3"), ("pointmaze", "sac"), ("pointmaze", "td3")])
def test_arbitration_on_envs_nobody_here_wrote(name, algo, tmp_path):
    """Torque in [-2, 2] with a prior in env units (Pendulum); Dict observations and input keys (PointMaze)."""
    from sb3_finetune import load_model
    from sb3_finetune.external import pendulum_swing_up, point_maze_straight
    from sb3_finetune.pretrain import pretrain, rollout_dataset

    make, controller = (_pendulum, pendulum_swing_up()) if name == "pendulum" else (_point_maze, point_maze_straight())
    prior_path = tmp_path / "prior.pt"
    pretrain(prior_path, rollout_dataset(controller, make(), 800, seed=0, noise=0.3), epochs=5, hidden=(32,))
    recipe = get_recipe("ibrl", distill_steps=50, critic_warmup=100, trust_gate=None, gate_steps=100)
    setup = make_finetune(algo, make(), str(prior_path), 400, recipe, dict(HYPERPARAMS), seed=0)
    setup.learn(400)
    policy = setup.model.policy
    assert bool(policy.arbitrating)
    env = make()
    observations = [env.reset(seed=seed)[0] for seed in range(16)]
    if isinstance(observations[0], dict):
        batch = {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    else:
        batch = np.stack(observations)
    tensors, _ = policy.obs_to_tensor(batch)
    with th.no_grad():
        actor = policy.actor(tensors, deterministic=True) if algo == "sac" else policy.actor(tensors)
    expected, _ = _by_hand(policy, policy.critic, tensors, actor)
    actions, _ = setup.model.predict(batch, deterministic=True)
    np.testing.assert_allclose(actions, policy.unscale_action(expected.numpy()), atol=1e-5)
    setup.model.save(tmp_path / "model.zip")
    loaded = load_model(tmp_path / "model.zip", type(setup.model))
    np.testing.assert_allclose(loaded.predict(batch, deterministic=True)[0], actions, atol=1e-6)
