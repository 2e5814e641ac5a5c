"""The default recipe's contract on envs nobody here wrote, for DDPG, TD3 and SAC.

Pendulum-v1 (finite bounds, torque in [-2, 2], no success signal), Pendulum behind a wrapper that makes its
observation bounds infinite, Pendulum behind Gymnasium's ``RescaleAction`` to a torque box of [0, 4] (bounds
neither symmetric nor [-1, 1]), MountainCarContinuous-v0 (999-step episodes, no success signal) and Gymnasium-Robotics
PointMaze_UMaze-v3 (Dict observations, infinite bounds, ``info["success"]``), and MuJoCo's InvertedPendulum-v5
(episodes that end when the pole falls, force in [-3, 3], no success signal). On each: it runs, nothing is NaN, the
model at step 0 scores exactly as the prior on the same seeded episodes, and the trust gate keeps a good prior and
drops one that is worse than random.
"""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_finetune import evaluate, get_recipe, load_prior, make_finetune, model_policy, prior_policy, warmup
from sb3_finetune.pretrain import pretrain, rollout_dataset
from sb3_finetune.recipes import CRITIC_WARMUP
from sb3_finetune.rehearsal import HoldRehearsal

ALGOS = ["ddpg", "td3", "sac"]


class InfiniteBounds(gym.ObservationWrapper):
    """The same observations, declared with infinite bounds (as every MuJoCo env declares them)."""

    def __init__(self, env):
        super().__init__(env)
        shape = env.observation_space.shape
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape, np.float32)

    def observation(self, observation):
        return observation


def swing_up(obs):
    """Energy pumping far from the top, PD near it (Pendulum's torque units)."""
    cos, sin, velocity = obs[:, 0], obs[:, 1], obs[:, 2]
    angle = np.arctan2(sin, cos)
    energy = 0.5 * velocity**2 + 10 * (cos - 1)
    pump = np.where(velocity * -energy >= 0, 2.0, -2.0)
    return np.clip(np.where(cos > 0.9, -10 * angle - 2 * velocity, pump), -2, 2)[:, None]


def hold_at_bottom(obs):
    """Damps every swing: the pendulum stays down, worse than random torques."""
    return np.clip(-2.0 * obs[:, 2:3], -2, 2)


def rock(obs):
    """Push along the velocity: reaches the flag."""
    return np.where(obs[:, 1:2] >= 0, 0.6, -0.6)


def full_throttle(obs):
    """Always full power forward: never reaches the flag, and pays for every step of it."""
    return np.ones((len(obs), 1))


def to_goal(obs):
    """A P-controller straight at the goal, walls ignored (about 80% on the U-maze)."""
    position, velocity = obs["observation"][:, :2], obs["observation"][:, 2:]
    return np.clip(5 * (obs["desired_goal"] - position) - velocity, -1, 1)


def away_from_goal(obs):
    return -to_goal(obs)


def balance_for_a_while(obs):
    """Pole feedback only, the cart's drift ignored: balances about 250 steps of the 1,000, then the cart leaves."""
    return np.clip(10 * obs[:, 1:2] + obs[:, 3:4], -3, 3)


def push_right(obs):
    """Full force one way: the pole falls within 2 steps (random forces keep it up for about 5)."""
    return np.full((len(obs), 1), 3.0)


def _shifted_pendulum():
    """Pendulum whose torque box is [0, 4] (the env adds -2): bounds neither symmetric nor [-1, 1]."""
    low, high = np.zeros(1, np.float32), np.full(1, 4.0, np.float32)
    return gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), low, high)


def _shifted(controller):
    return lambda obs: controller(obs) + 2.0


def _inverted_pendulum():
    pytest.importorskip("mujoco")
    return gym.make("InvertedPendulum-v5")


def _maze():
    gymnasium_robotics = pytest.importorskip("gymnasium_robotics")
    gym.register_envs(gymnasium_robotics)
    return gym.make("PointMaze_UMaze-v3")


ENVS = {
    "pendulum": (lambda: gym.make("Pendulum-v1"), swing_up, hold_at_bottom, 1_400),
    "pendulum-infinite-bounds": (lambda: InfiniteBounds(gym.make("Pendulum-v1")), swing_up, hold_at_bottom, 1_400),
    "pendulum-shifted-actions": (_shifted_pendulum, _shifted(swing_up), _shifted(hold_at_bottom), 1_400),
    "mountaincar": (lambda: gym.make("MountainCarContinuous-v0"), rock, full_throttle, 900),
    "pointmaze": (_maze, to_goal, away_from_goal, 1_200),
    "inverted-pendulum": (_inverted_pendulum, balance_for_a_while, push_right, 1_400),
}
RECIPE = get_recipe("default", distill_steps=300)


@pytest.fixture(scope="module")
def priors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("priors")
    made = {}
    for name, (make, good, bad, _) in ENVS.items():
        if name in ("pointmaze", "inverted-pendulum"):
            try:
                make()
            except pytest.skip.Exception:
                continue
        for quality, controller in (("good", good), ("bad", bad)):
            path = folder / f"{name}-{quality}.pt"
            pretrain(path, rollout_dataset(controller, make(), 2_000, seed=0), epochs=15, hidden=(64, 64))
            made[name, quality] = str(path)
    return made


def _prior(priors, name, quality):
    if (name, quality) not in priors:
        pytest.skip("gymnasium-robotics (PointMaze) or mujoco (InvertedPendulum) is not installed")
    return priors[name, quality]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("name", list(ENVS))
def test_default_recipe_runs_from_the_prior_and_keeps_a_good_one(name, algo, priors):
    make, _, _, budget = ENVS[name]
    weights = _prior(priors, name, "good")
    env = make()
    setup = make_finetune(algo, env, weights, budget, RECIPE, hyperparams={"learning_starts": budget - 200}, seed=0)
    prior = load_prior(weights, env.action_space, env.observation_space)
    assert prior.info.action_units == "env"  # from the file's metadata: nothing to state, nothing guessed

    # Jumpstart fidelity: at step 0 the model is the prior, on the same seeded episodes.
    eval_env = make()
    at_start = evaluate(model_policy(setup.model), eval_env, episodes=2, seed=5)
    assert at_start == evaluate(prior_policy(prior), eval_env, episodes=2, seed=5)

    setup.warm_up(budget)  # to learning_starts or the probe's end: the probe, the distillation, the pre-training
    first_update = setup.model.num_timesteps
    assert (first_update < budget) is (name != "mountaincar")  # its 999-step episodes: the probes take the budget
    released = th.nn.utils.parameters_to_vector(setup.model.actor.parameters()).clone()
    setup.learn(budget)
    assert setup.model.num_timesteps == budget
    assert setup.trusted is True
    # TD3's and DDPG's actor leaves at the first gradient step; SAC's is held for 1,000 env steps, past these 200.
    moved = not th.equal(released, th.nn.utils.parameters_to_vector(setup.model.actor.parameters()))
    assert setup.recipe.critic_warmup == CRITIC_WARMUP[algo]
    assert moved is (first_update < budget and CRITIC_WARMUP[algo] == 0)
    expected = "success" if name == "pointmaze" else "random probe"
    assert setup.gate.criterion.startswith(expected)
    parameters = th.nn.utils.parameters_to_vector(setup.model.policy.parameters())
    assert th.isfinite(parameters).all()
    after = evaluate(model_policy(setup.model), eval_env, episodes=2, seed=5)
    assert np.isfinite(after.mean_return)
    assert (after.success_rate is None) == (name != "pointmaze")


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("name", list(ENVS))
def test_trust_gate_drops_a_prior_worse_than_random(name, algo, priors):
    make, _, _, budget = ENVS[name]
    setup = make_finetune(
        algo, make(), _prior(priors, name, "bad"), budget, RECIPE, hyperparams={"learning_starts": budget}, seed=0
    )
    setup.learn(budget)  # learning_starts is the budget: the probes, the gate's decision, distillation, then training
    assert setup.trusted is False
    assert setup.gate.score < 0.5
    # The default starts training at the probes' end (stand_down_skip_warmup), where they leave any room (Pendulum's
    # 200 steps in its torque units, PointMaze's Dict observations; MountainCar's 999-step episodes fill the budget).
    probes = setup.gate.prior_steps + setup.gate.reference_steps
    room = budget - probes
    assert (room > 0) is (name != "mountaincar")
    skipped = [sentence for sentence in setup.decisions if "(stand_down_skip_warmup;" in sentence]
    assert len(skipped) == int(room > 0)
    assert setup.model.learning_starts == (probes if room > 0 else budget)
    assert setup.model._n_updates == max(room, 0)
    assert th.isfinite(th.nn.utils.parameters_to_vector(setup.model.policy.parameters())).all()
    assert not [sentence for sentence in setup.decisions if "(stand_down_warmup)" in sentence]  # nothing left to act
    if name != "pointmaze":  # judged by return against the random probe from the same starts
        assert setup.gate.reference_steps > 0
        assert setup.gate.criterion.startswith("random probe")
    if algo != "sac" or room <= 0:
        return
    # Waiting for learning_starts instead, SAC's default acts the rest of the warm-up with the distilled policy all
    # the same (stand_down_warmup); TD3's and DDPG's leave it to uniform random actions.
    waiting = get_recipe("default", distill_steps=300, stand_down_skip_warmup=False)
    setup = make_finetune(algo, make(), _prior(priors, name, "bad"), budget, waiting, {"learning_starts": budget}, 0)
    setup.learn(budget)  # the warm-up only
    assert setup.trusted is False and setup.model._n_updates == 0
    (acted,) = [sentence for sentence in setup.decisions if "(stand_down_warmup)" in sentence]
    assert f"the warm-up's last {room} env steps are acted by the distilled policy" in acted
    assert any(sentence.startswith("warm-up hand-over: each episode's") for sentence in setup.decisions)


@pytest.mark.parametrize("name", ["pendulum", "pointmaze"])
def test_a_stood_down_run_resumes_stood_down(name, priors, tmp_path):
    """A checkpoint of a run whose gate stood the prior down (Pendulum: by return against the random probe;
    PointMaze: by success, Dict observations in the replay buffer) resumes with the gate's decision: no hold, no pull,
    the lowered ``learning_starts`` and the normalised features back with the model, and training goes on."""
    from stable_baselines3 import TD3

    from sb3_finetune.adapter import pretrained_extractors
    from sb3_finetune.checkpoint import CheckpointCallback, list_checkpoints, load_checkpoint
    from sb3_finetune.recipes import ActorUpdateHook

    make, _, _, budget = ENVS[name]
    weights = _prior(priors, name, "bad")

    def build():
        return make_finetune("td3", make(), weights, 2 * budget, RECIPE, {"learning_starts": budget}, seed=0)

    first = build()
    first.learn(budget, callback=CheckpointCallback(budget // 2, tmp_path, first.checkpoint_state))
    assert first.trusted is False
    step, path = list_checkpoints(tmp_path)[-1]
    model, state = load_checkpoint(path, TD3, env=first.model.get_env())
    assert model.learning_starts == first.model.learning_starts < budget  # the stand-down start, kept
    assert all(extractor.layer_norm for extractor in pretrained_extractors(model).values())
    resumed = build()
    said = resumed.resume(model, state)
    assert said[0].startswith("trust gate: the checkpoint's run stood the prior down")
    hook = next(c for c in resumed.callbacks if isinstance(c, ActorUpdateHook))
    assert hook.weight() == 0.0 and hook.hold_steps == 0
    resumed.learn(100, reset_num_timesteps=False)
    assert resumed.model.num_timesteps == step + 100
    assert th.isfinite(th.nn.utils.parameters_to_vector(resumed.model.policy.parameters())).all()


def test_frontier_recipe_on_dict_observations_and_two_envs(priors):
    """PointMaze's Dict observations and infinite bounds, two envs: hand-over, critic pre-training, filtered pull."""
    from stable_baselines3.common.env_util import make_vec_env

    weights = _prior(priors, "pointmaze", "good")
    env = make_vec_env("PointMaze_UMaze-v3", n_envs=2, seed=0)
    recipe = get_recipe("frontier", distill_steps=100, critic_pretrain_steps=30, critic_warmup=0)
    setup = make_finetune("td3", env, weights, 1_900, recipe, hyperparams={"learning_starts": 1_800}, seed=0)
    setup.learn(1_900)
    assert setup.trusted is True and setup.model.num_timesteps == 1_900
    (handover,) = [d for d in setup.decisions if d.startswith("warm-up hand-over")]
    (pretraining,) = [d for d in setup.decisions if d.startswith("critic pre-training")]
    assert "30 gradient steps on the warm-up's 1800 transitions" in pretraining
    # The probe ends with two 300-step episodes per env (1,200 steps); the next episode of each env is whole within
    # the warm-up and hands over at a step below 300, so some warm-up actions are random.
    counts = re.search(r"; (\d+) of (\d+) warm-up actions were random$", handover)
    assert counts is not None and 0 < int(counts[1]) < int(counts[2])
    assert setup.model._n_updates == 30 + 100  # then one per env step, as with one env (gradient_steps=-1)
    assert th.isfinite(th.nn.utils.parameters_to_vector(setup.model.policy.parameters())).all()


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_a_normalised_critic_on_dict_observations(algo, priors):
    """PointMaze's Dict observations reach the layer-normalised critic through the prior's extractor; with SAC's
    default the hold's rehearsal actor learns from them and acts in the episode begun in the hold."""
    weights = _prior(priors, "pointmaze", "good")
    recipe = get_recipe("default", critic_layer_norm=True, distill_steps=50, critic_pretrain_steps=20)
    setup = make_finetune(algo, _maze(), weights, 1_600, recipe, hyperparams={"learning_starts": 1_300}, seed=0)
    setup.learn(1_600)
    critic = setup.model.policy.critic
    assert any(isinstance(module, th.nn.LayerNorm) for module in critic.modules())
    assert setup.model._n_updates > 0
    rehearsals = [c for c in setup.callbacks if isinstance(c, HoldRehearsal)]
    assert len(rehearsals) == (algo == "sac")  # TD3's actor is released at learning_starts: nothing to rehearse
    if algo == "sac":  # 300-step episodes: the one begun at 1,500, inside the hold (1,300 to 2,300), is rehearsed
        assert setup.trusted and rehearsals[0].updates >= 290 and rehearsals[0].rehearsed_steps >= 90
    assert th.isfinite(th.nn.utils.parameters_to_vector(setup.model.policy.parameters())).all()


def test_a_normalised_critic_from_scratch_on_dict_observations():
    """Without a prior, ``policy_kwargs={"critic_layer_norm": True}`` normalises the critic, and reads PointMaze's
    Dict observations as SB3's MultiInputPolicy does."""
    kwargs = {"learning_starts": 50, "policy_kwargs": {"critic_layer_norm": True}}
    setup = make_finetune("td3", _maze(), None, 100, hyperparams=kwargs, seed=0)
    policy = setup.model.policy
    assert (
        type(policy.actor.features_extractor).__name__
        == type(policy.critic.features_extractor).__name__
        == "CombinedExtractor"
    )
    assert any(isinstance(module, th.nn.LayerNorm) for module in policy.critic.modules())
    setup.learn(100)
    assert setup.model._n_updates > 0


def test_stand_down_normalises_dict_observation_features_and_training_goes_on(priors):
    """A wrong prior on PointMaze (Dict observations, infinite bounds): the gate stands it down, the features are
    layer-normalised in every network before the first gradient step, and training on them stays finite."""
    from sb3_finetune.adapter import pretrained_extractors

    weights = _prior(priors, "pointmaze", "bad")
    # TD3: its four networks (actor, critic and their targets) each own an extractor.
    setup = make_finetune("td3", _maze(), weights, 1_100, RECIPE, seed=0)
    setup.learn(1_100)
    assert setup.trusted is False
    (sentence,) = [d for d in setup.decisions if d.startswith("stand-down:")]
    assert "features are layer-normalised from now on" in sentence
    extractors = pretrained_extractors(setup.model)
    assert len(extractors) == 4 and all(extractor.layer_norm for extractor in extractors.values())
    # Trained on the normalised features from the probe's end (the default's stand-down start lowers learning_starts)
    probe = setup.gate.prior_steps
    assert setup.model.learning_starts == probe < 1_000 and setup.model._n_updates == 1_100 - probe
    assert th.isfinite(th.nn.utils.parameters_to_vector(setup.model.policy.parameters())).all()


@pytest.mark.parametrize("name", ["pendulum", "pointmaze"])
def test_progress_pull_scores_the_learner_as_the_gate_scored_the_prior(name, priors):
    """Pendulum by return against the random probe, PointMaze (Dict observations) by ``info["success"]``."""
    make, _, _, _ = ENVS[name]
    # The gate decides on its first 3 episodes (no test): a longer probe would leave no episode after the release.
    recipe = get_recipe("default", distill_steps=300, critic_warmup=0, bc_progress=1, gate_confidence=None)
    budget, starts = (1_600, 1_200) if name == "pendulum" else (1_800, 1_000)
    setup = make_finetune("td3", make(), _prior(priors, name, "good"), budget, recipe, {"learning_starts": starts}, 0)
    hook = next(c for c in setup.callbacks if hasattr(c, "arm_progress"))
    setup.learn(budget)
    assert setup.trusted and hook.mark is not None
    assert hook.mark.criterion == ("return" if name == "pendulum" else "success")
    assert len(hook._scores) == 1  # a learner's episode ended after the release, and was scored
    span = hook.mark.prior - hook.mark.floor
    assert hook.weight() == pytest.approx(float(np.clip((hook.mark.prior - hook._scores[0]) / span, 0.0, 1.0)))
    assert any(d.startswith("progress pull: the pull's weight is 1 times") for d in setup.decisions)


@pytest.fixture
def distilled_pools(monkeypatch) -> list[list]:
    """The pools of states each distillation of the test is given (``warmup.distill_actor`` spied on)."""
    pools: list[list] = []
    real = warmup.distill_actor

    def spy(model, prior, observations, *args, **kwargs):
        pools.append(observations)
        return real(model, prior, observations, *args, **kwargs)

    monkeypatch.setattr(warmup, "distill_actor", spy)
    return pools


@pytest.mark.parametrize("name", ["pendulum", "pointmaze"])
def test_the_actor_is_distilled_on_the_random_probes_states_too(name, priors, distilled_pools):
    """Where the gate compares the prior with a random probe (Pendulum: no success reported) the distillation's pool
    holds that probe's states too, labelled by the prior; PointMaze reports success: no random probe, the prior's
    states alone, whatever ``distill_random_probe`` says."""
    make, _, _, _ = ENVS[name]
    pools = distilled_pools

    def count(observations):
        return len(next(iter(observations.values()))) if isinstance(observations, dict) else len(observations)

    for on in (True, False):
        pools.clear()
        # Whatever the gate decides (the random probe's states are taken on a stand-down too, as asked here)
        recipe = get_recipe(
            "default",
            distill_steps=10,
            critic_pretrain_steps=0,
            distill_random_probe=on,
            stand_down_distill_random_probe=True,
        )
        setup = make_finetune("td3", make(), _prior(priors, name, "good"), 3_000, recipe, {"learning_starts": 1_000})
        gate = setup.warm_up(3_000)
        said = [d for d in setup.decisions if d.startswith("distillation: on the states of the prior's probe")]
        (pool,) = pools
        if name == "pointmaze":
            assert gate.reference_steps == 0 and [count(part) for part in pool] == [gate.prior_steps] and not said
            continue
        assert gate.reference_steps == gate.prior_steps == 600  # three episodes each
        assert [count(part) for part in pool] == ([600, 600] if on else [600])
        assert len(said) == int(on)
        if on:  # the random probe's own states, as the buffer stored them after the prior's
            np.testing.assert_array_equal(pool[1], setup.model.replay_buffer.observations[600:1_200, 0])


def _on_the_random_probe(on_a_stand_down: bool, **fields):
    """The default recipe distilling on the random probe's states, on a stand-down too or not, and ``fields``."""
    return get_recipe("default", distill_random_probe=True, stand_down_distill_random_probe=on_a_stand_down, **fields)


def test_a_trusted_run_is_the_same_whatever_a_stand_down_would_distil_on(priors):
    """``stand_down_distill_random_probe`` is a STAND_DOWN_ONLY field: where the gate trusts the prior (Pendulum, a
    random probe run and distilled on), the run is the same, bit for bit, with it on or off."""
    make, _, _, _ = ENVS["pendulum"]
    ends = []
    for on_a_stand_down in (True, False):
        recipe = _on_the_random_probe(on_a_stand_down, distill_steps=50, critic_pretrain_steps=20)
        good = _prior(priors, "pendulum", "good")
        setup = make_finetune("td3", make(), good, 1_400, recipe, {"learning_starts": 1_000}, seed=0)
        setup.learn(1_400)
        assert setup.trusted and setup.gate.reference_steps > 0
        assert any(d.startswith("distillation: on the states of the prior's probe (") for d in setup.decisions)
        ends.append(setup.model.policy.state_dict())
    assert all(th.equal(ends[0][name], ends[1][name]) for name in ends[0])


@pytest.mark.parametrize("on_a_stand_down", [True, False])
def test_a_stood_down_prior_is_distilled_on_the_random_probe_only_if_asked(on_a_stand_down, priors, distilled_pools):
    """Where the gate stands the prior down (Pendulum, a prior that does worse than random), the random probe's states
    join the distillation only with ``stand_down_distill_random_probe``; without it the prior's states alone, said."""
    make, _, _, _ = ENVS["pendulum"]
    recipe = _on_the_random_probe(on_a_stand_down, distill_steps=10, critic_pretrain_steps=0)
    bad = _prior(priors, "pendulum", "bad")
    setup = make_finetune("td3", make(), bad, 3_000, recipe, {"learning_starts": 1_000}, seed=0)
    gate = setup.warm_up(3_000)
    assert not gate.trusted and gate.reference_steps > 0
    (pool,) = distilled_pools
    assert [len(part) for part in pool] == ([gate.prior_steps, gate.reference_steps] if on_a_stand_down else [600])
    said = [d for d in setup.decisions if d.startswith("distillation: on the states of the prior's probe only")]
    assert len(said) == int(not on_a_stand_down)
    assert "stand_down_distill_random_probe off" in "".join(said) or on_a_stand_down


class MatrixEnv(gym.Env):
    """Observations a (3, 4) box and actions a (2, 2) box in [-2, 2]: shapes of more than one dimension."""

    observation_space = gym.spaces.Box(-1, 1, (3, 4), np.float32)
    action_space = gym.spaces.Box(-2, 2, (2, 2), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.state, self.steps = self.np_random.uniform(-1, 1, (3, 4)).astype(np.float32), 0
        return self.state, {}

    def step(self, action):
        reward = -float(np.abs(np.asarray(action) / 2 - self.state[:2, :2]).sum())
        self.state, self.steps = self.np_random.uniform(-1, 1, (3, 4)).astype(np.float32), self.steps + 1
        return self.state, reward, False, self.steps >= 20, {}


def match(obs):
    """The action that earns 0: twice the top-left block of the observation."""
    return 2 * obs[:, :2, :2]


@pytest.mark.parametrize("algo", ALGOS)
def test_boxes_of_more_than_one_dimension(algo, tmp_path):
    """TD3's and DDPG's exploration noise has the action box's shape (a flat one did not broadcast onto (2, 2)), the
    prior reads and writes the boxes' shapes, and the model is the prior at step 0."""
    from sb3_finetune.evaluation import LearningCurveCallback

    env = MatrixEnv()
    pretrain(tmp_path / "prior.pt", rollout_dataset(match, MatrixEnv(), 400, seed=0), epochs=5)
    prior = load_prior(tmp_path / "prior.pt", env.action_space, env.observation_space)
    assert prior.predict(np.zeros((5, 3, 4), np.float32)).shape == (5, 2, 2)
    setup = make_finetune(algo, env, tmp_path / "prior.pt", 300, RECIPE, seed=0, hyperparams={"learning_starts": 100})
    curve = LearningCurveCallback(MatrixEnv(), None, eval_freq=1_000, episodes=3)
    setup.learn(300, callback=[curve])
    expected = evaluate(prior_policy(prior), MatrixEnv(), episodes=3, seed=10_000)
    assert curve.curve[0]["mean_return"] == pytest.approx(expected.mean_return, rel=1e-5)
    assert setup.model.num_timesteps >= 300
    assert model_policy(setup.model)(np.zeros((2, 3, 4), np.float32)).shape == (2, 2, 2)


def test_the_zoo_files_noise_has_the_action_boxs_shape(tmp_path):
    from sb3_finetune.cli import load_hyperparams

    (tmp_path / "h.yml").write_text("Matrix-v0:\n  noise_type: ornstein-uhlenbeck\n  noise_std: 0.2\n")
    params, _ = load_hyperparams(str(tmp_path / "h.yml"), "Matrix-v0", MatrixEnv())
    assert params["action_noise"]().shape == (2, 2)


class Endless(gym.Env):
    """An env with no time limit whose episodes never end."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), -1.0, False, False, {}


def test_episodes_of_an_env_with_no_time_limit_are_cut_and_said(caplog, monkeypatch):
    from sb3_finetune import evaluation

    monkeypatch.setattr(evaluation, "EPISODE_CAP", 30)
    gym.register("EndlessForTests-v0", entry_point=Endless)
    try:
        policy = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
        with caplog.at_level("WARNING", logger="sb3_finetune"):
            by_id = evaluate(policy, "EndlessForTests-v0", episodes=3)
        assert (by_id.mean_length, by_id.episodes_cut) == (30, 3) and by_id.as_dict()["episodes_cut"] == 3
        assert "declares no time limit" in caplog.text and "3 of the 3 episodes were cut at 30 steps" in caplog.text
        instance = evaluate(policy, Endless(), episodes=2)
        assert (instance.mean_length, instance.episodes_cut) == (30, 2)
        limited = evaluate(policy, "EndlessForTests-v0", {"max_episode_steps": 50}, episodes=2)
        assert (limited.mean_length, limited.episodes_cut) == (50, 0) and "episodes_cut" not in limited.as_dict()
        long_limit = evaluate(policy, gym.wrappers.TimeLimit(Endless(), 40), episodes=1)
        assert (long_limit.mean_length, long_limit.episodes_cut) == (40, 0)  # a declared limit beyond the cap stands
        # an SB3 VecEnv cannot cut one episode: at the cap it says so (it never returned), unless the env has a limit
        from stable_baselines3.common.vec_env import DummyVecEnv

        with pytest.raises(ValueError, match="ran 30 steps and its env declares no time limit"):
            evaluate(policy, DummyVecEnv([Endless, Endless]), episodes=2)
        vec = evaluate(policy, DummyVecEnv([lambda: gym.wrappers.TimeLimit(Endless(), 40)] * 2), episodes=2)
        assert vec.mean_length == 40
    finally:
        gym.registry.pop("EndlessForTests-v0")


class ScalarObservation(gym.Env):
    """A scalar observation (a box of no dimension), which SB3's policies do not take."""

    observation_space = gym.spaces.Box(-1, 1, (), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.array(0.5, np.float32), {}

    def step(self, action):
        return np.array(0.5, np.float32), 0.0, False, True, {}


def test_a_scalar_observation_is_refused_with_the_wrapper_that_fixes_it(pendulum_prior):
    from sb3_finetune.wrappers import wrap_env

    with pytest.raises(ValueError, match=r"box of no dimension.*ReshapeObservation"):
        make_finetune("td3", ScalarObservation(), None, 100)
    with pytest.raises(ValueError, match="box of no dimension"):
        rollout_dataset(lambda obs: -obs, ScalarObservation(), 10)
    inner = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (), np.float32), "y": gym.spaces.Box(-1, 1, (2,))})
    with pytest.raises(ValueError, match="the observations' 'x' are a box of no dimension"):
        load_prior(pendulum_prior, gym.spaces.Box(-2, 2, (1,)), inner)
    # the Zoo file's wrapper, its shape a YAML list: given as a tuple, as the wrapper asks
    env = wrap_env(ScalarObservation(), (("gymnasium.wrappers.ReshapeObservation", {"shape": [1]}),))
    assert env.observation_space.shape == (1,)
    assert rollout_dataset(lambda obs: -obs, env, 10).observations.shape == (10, 1)


class Cells(gym.Env):
    """Discrete observations (one cell of 5) and continuous actions."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return 2, {}

    def step(self, action):
        return 3, 0.0, False, True, {}


def test_observations_a_prior_cannot_read_are_refused_and_scratch_still_trains(pendulum_prior):
    with pytest.raises(ValueError, match=r"Discrete\(5\): SB3 one-hot encodes them.*FlattenObservation"):
        make_finetune("td3", Cells(), pendulum_prior, 100)
    with pytest.raises(ValueError, match="a prior reads observations as they are"):
        rollout_dataset(lambda obs: np.zeros((len(obs), 1)), Cells(), 10)
    setup = make_finetune("td3", Cells(), None, 60, hyperparams={"learning_starts": 20})  # SB3 one-hot encodes them
    setup.learn(60)
    assert setup.model.num_timesteps == 60
    one_hot = gym.wrappers.FlattenObservation(Cells())
    assert rollout_dataset(lambda obs: np.zeros((len(obs), 1)), one_hot, 4).observations.tolist()[0] == [0, 0, 1, 0, 0]
    pair = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,)), gym.spaces.Box(-1, 1, (1,))))
    with pytest.raises(ValueError, match=r"are Tuple .* which SB3's policies do not take"):
        load_prior(pendulum_prior, gym.spaces.Box(-2, 2, (1,)), pair)


def test_sac_with_gsde_exports_and_reads_as_it_acts(tmp_path):
    """SAC with gSDE (``use_sde``, as the RL Zoo's MountainCar and Bullet entries set it) clips its mean at 2
    before tanh: its exported prior, and the model read directly as a prior, act exactly as it does, also where the
    mean is beyond the clip (its last layer scaled up to get there)."""
    from stable_baselines3 import SAC

    from sb3_finetune.pretrain import export

    env = gym.make("Pendulum-v1")
    model = SAC("MlpPolicy", env, use_sde=True, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    with th.no_grad():
        model.policy.actor.mu[0].weight.mul_(50.0)  # means far beyond the clip
    model.save(tmp_path / "gsde.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 3)).astype(np.float32)
    acted = model.predict(obs, deterministic=True)[0]
    with th.no_grad():
        means = model.policy.actor.mu[0](model.policy.actor.latent_pi(th.as_tensor(obs)))
    assert (means.abs() > 2).any()  # some are clipped
    export(tmp_path / "gsde.zip", tmp_path / "prior.pt")
    for source in (tmp_path / "prior.pt", tmp_path / "gsde.zip"):
        prior = load_prior(source, env.action_space, env.observation_space)
        np.testing.assert_allclose(prior.predict(obs), acted, atol=1e-5)
