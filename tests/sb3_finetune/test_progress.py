"""The pull weighed by the learner's shortfall against the prior (``bc_progress``), not faded with time."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import TD3
from stable_baselines3.common.logger import configure

import nav_env  # noqa: F401
from sb3_finetune.guard import GuardFloor
from sb3_finetune.recipes import ActorUpdateHook, get_recipe, make_finetune, progress_mark
from sb3_finetune.warmup import GateDecision


def test_the_mark_follows_the_gates_criterion():
    recipe = get_recipe("default", bc_progress=10)
    success = GateDecision(True, "success", 0.78, 0.5, 5, 300, -3.0)
    mark, said = progress_mark(success, recipe)
    assert (mark.criterion, mark.prior, mark.floor) == ("success", 0.78, 0.0)
    assert "learner's last 10 training episodes" in said and "success rate from 0.00 (full) to 0.78 (none)" in said
    # Against the random probe: full pull at the random probe's mean return, none at the prior's.
    random = GateDecision(True, "random probe", 0.8, 0.5, 5, 300, -262.0, 300, -1_100.0, 5)
    mark, said = progress_mark(random, recipe)
    assert (mark.criterion, mark.prior, mark.floor) == ("return", -262.0, -1_100.0)
    assert "mean return from -1100.00 (full) to -262.00 (none)" in said
    threshold = GateDecision(True, "return threshold", 0.6, 0.5, 5, 300, -250.0, 0, -300.0, 5)
    assert "share of returns >= -300 from 0.00 (full) to 0.60 (none)" in progress_mark(threshold, recipe)[1]
    # No finished probe episode: nothing to compare with, so the time fade, and it says so.
    per_step = GateDecision(True, "random probe, per step", 1.0, 0.5, 0, 300, None, 300, None, 1)
    mark, said = progress_mark(per_step, recipe)
    assert mark is None and said.startswith("progress pull: off") and "fades with time over 0.5" in said


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bc_progress": 0}, "bc_progress must be >= 1"),
        ({"bc_progress": 5, "trust_gate": None}, "needs a trust_gate and bc_weight > 0"),
        ({"bc_progress": 5, "bc_weight": 0.0}, "needs a trust_gate and bc_weight > 0"),
        ({"bc_progress_with_fade": True}, "bc_progress_with_fade keeps the time fade .* needs bc_progress"),
    ],
)
def test_bad_progress_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("default", **overrides)


def test_the_weight_follows_the_learners_last_episodes_not_time():
    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    hook = ActorUpdateHook(teacher=None, hold_steps=100, bc_weight=2.0, bc_until=1_000, progress=4)
    hook.init_callback(model)

    def step(at, done=False, success=False):
        model.num_timesteps = at
        hook.locals = {"dones": np.array([done]), "infos": [{"is_success": success}], "rewards": np.zeros(1)}
        hook.on_step()
        return hook.weight()

    assert step(500) == pytest.approx(1.0)  # not armed: the time fade (half way to bc_until)
    hook.arm_progress(GuardFloor("success", 0.8, 0.0))
    step(50, done=True, success=False)  # ends while the actor is held: not the learner's
    step(150, done=True, success=False)  # began while it was held: not scored either
    assert len(hook._scores) == 0 and step(160) == 2.0  # full until 4 episodes are in
    for at, success in zip((200, 300, 400), (True, True, False), strict=True):
        assert step(at, done=True, success=success) == 2.0
    assert step(2_000, done=True, success=False) == pytest.approx(2.0 * (0.8 - 0.5) / 0.8)  # past bc_until: no matter
    for at in (2_100, 2_200, 2_300, 2_400):
        step(at, done=True, success=True)
    assert step(2_500) == 0.0  # at the prior's figure or above: no pull
    for at in (2_600, 2_700, 2_800, 2_900):
        step(at, done=True, success=False)
    assert step(3_000) == 2.0  # fallen to the floor: the whole pull is back


def test_with_fade_the_weight_never_falls_below_the_time_fade_and_comes_back_after_it():
    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    hook = ActorUpdateHook(teacher=None, hold_steps=100, bc_weight=2.0, bc_until=1_000, progress=2, with_fade=True)
    hook.init_callback(model)
    hook.arm_progress(GuardFloor("success", 0.8, 0.0))

    def step(at, done=False, success=False):
        model.num_timesteps = at
        hook.locals = {"dones": np.array([done]), "infos": [{"is_success": success}], "rewards": np.zeros(1)}
        hook.on_step()
        return hook.weight()

    step(150, done=True)  # began while the actor was held: not scored
    assert step(200, done=True, success=True) == pytest.approx(1.6)  # one episode of two in: the time fade alone
    assert step(300, done=True, success=True) == pytest.approx(1.4)  # at the prior's figure: still the time fade
    assert step(400, done=True, success=False) == pytest.approx(1.2)  # a shortfall (0.75) below the fade
    assert step(500, done=True, success=False) == 2.0  # a shortfall above it
    assert step(1_200, done=True, success=True) == pytest.approx(2.0 * 0.3 / 0.8)  # past the fade: the shortfall
    assert step(1_300, done=True, success=True) == 0.0  # at the prior's figure: no pull
    assert step(1_400, done=True, success=False) == pytest.approx(2.0 * 0.3 / 0.8)  # a fall brings it back
    assert step(1_500, done=True, success=False) == 2.0


def test_progress_pull_on_nav_is_armed_from_the_gate_and_scores_the_learner(nav_bc_weights):
    recipe = get_recipe("default", bc_progress=3, critic_warmup=0, distill_steps=200)
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("td3", env, nav_bc_weights, 700, recipe, hyperparams={"learning_starts": 400}, seed=0)
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    setup.learn(700)
    assert setup.trusted and hook.mark is not None and hook.mark.criterion == "success"
    assert hook.mark.prior == setup.gate.score and hook.mark.floor == 0.0
    (said,) = [d for d in setup.decisions if d.startswith("progress pull")]
    assert "the pull's weight is 1 times the shortfall of the learner's last 3 training episodes" in said
    with_fade = get_recipe("default", bc_progress=3, bc_progress_with_fade=True)
    said = progress_mark(setup.gate, with_fade)[1]
    assert "the larger of its time fade (1 to 0 over 0.5 of the budget) and 1 times the shortfall" in said
    assert len(hook._scores) == 3  # the learner's episodes after the release, the last three kept
    expected = float(np.clip((hook.mark.prior - np.mean(hook._scores)) / hook.mark.prior, 0.0, 1.0))
    assert hook.weight() == pytest.approx(expected)
