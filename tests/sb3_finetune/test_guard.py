import gymnasium as gym
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

import nav_env  # noqa: F401
from sb3_finetune.guard import CollapseGuard, guard_floor
from sb3_finetune.recipes import ActorUpdateHook, get_recipe, make_finetune
from sb3_finetune.warmup import GateDecision


def test_floor_follows_the_gates_criterion():
    success = GateDecision(True, "success", 0.8, 0.5, 5, 300, -3.0)
    floor, said = guard_floor(success, 0.5)
    assert floor.criterion == "success" and floor.floor == pytest.approx(0.4)
    assert floor.score(-100.0, True) == 1.0 and floor.score(0.0, None) == 0.0
    assert "below 0.40" in said and said.endswith("puts the actor back as it was released")
    assert guard_floor(success, 0.5, "best")[1].endswith("as it was after its best block (else as released)")

    threshold = GateDecision(True, "return threshold", 0.6, 0.5, 5, 300, -250.0, 0, -300.0, 5)
    floor, _ = guard_floor(threshold, 0.5)
    assert floor.floor == pytest.approx(0.3)
    assert floor.score(-299.0, None) == 1.0 and floor.score(-301.0, None) == 0.0

    # Against the random probe: the floor keeps half of the prior's lead over random.
    random = GateDecision(True, "random probe", 0.8, 0.5, 5, 300, -200.0, 300, -1000.0, 5)
    floor, _ = guard_floor(random, 0.5)
    assert floor.criterion == "return" and floor.floor == pytest.approx(-600.0)
    assert floor.score(-123.0, True) == -123.0

    # No finished probe episode (the gate's per-step criterion): nothing to compare with, and it says so.
    per_step = GateDecision(True, "random probe, per step", 1.0, 0.5, 0, 300, None, 300, None, 1)
    floor, said = guard_floor(per_step, 0.5)
    assert floor is None and said.startswith("collapse guard: off")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"collapse_guard": 1.0}, "collapse_guard must be in"),
        ({"collapse_guard": 0.5, "trust_gate": None}, "needs a trust_gate"),
        ({"collapse_guard": 0.5, "guard_episodes": 0}, "guard_episodes must be >= 1"),
        ({"collapse_guard": 0.5, "guard_hold": -1}, "guard_hold must be >= 0"),
        ({"collapse_guard": 0.5, "guard_restore": "latest"}, "guard_restore must be one of"),
    ],
)
def test_bad_guard_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("frontier", **overrides)


class Sabotage(BaseCallback):
    """At the actor's release, record its weights, then make it drive into the corner away from the goal."""

    def __init__(self, hook):
        super().__init__()
        self.hook, self.released = hook, None

    def _on_step(self):
        if self.released is None and self.num_timesteps >= self.hook.hold_steps:
            actor = self.model.actor
            self.released = th.nn.utils.parameters_to_vector(actor.parameters()).clone()
            with th.no_grad():
                last = actor.mu[-2]  # the head's last Linear (before tanh)
                last.weight.zero_()
                last.bias.fill_(-5.0)
        return True


def test_guard_puts_a_collapsed_actor_back_as_it_was_released_and_holds_it(nav_bc_weights):
    recipe = get_recipe(
        "default", critic_warmup=0, collapse_guard=0.5, guard_episodes=2, guard_hold=10_000, distill_steps=200
    )
    env = gym.make("SimpleNavigation-v0")
    setup = make_finetune("td3", env, nav_bc_weights, 1_000, recipe, hyperparams={"learning_starts": 400}, seed=0)
    hook = next(c for c in setup.callbacks if isinstance(c, ActorUpdateHook))
    guard = next(c for c in setup.callbacks if isinstance(c, CollapseGuard))
    sabotage = Sabotage(hook)
    setup.learn(1_000, callback=sabotage)
    assert setup.trusted and guard.floor is not None and guard.floor.criterion == "success"
    # The sabotaged actor fails (nearly) every episode: the first block it plays is below the floor, and the guard
    # puts it back there and then.
    assert len(guard.restored_at) == 1 and guard.blocks[0][1] < guard.floor.floor
    assert guard.restored_at[0] == guard.blocks[0][0]
    assert hook.hold_steps == guard.restored_at[0] + 10_000
    after = th.nn.utils.parameters_to_vector(setup.model.actor.parameters())
    assert th.equal(after, sabotage.released)  # held since the restore: still the released actor
    said = [s for s in setup.decisions if s.startswith("collapse guard: at step")]
    assert len(said) == 1 and "back as it was released" in said[0]
    assert any(s.startswith("collapse guard: a block of training episodes") for s in setup.decisions)


def test_guard_leaves_a_learner_that_keeps_the_prior_alone(nav_bc_weights):
    recipe = get_recipe("default", critic_warmup=0, collapse_guard=0.5, guard_episodes=3)
    setup = make_finetune(
        "sac",
        gym.make("SimpleNavigation-v0"),
        nav_bc_weights,
        1_000,
        recipe,
        hyperparams={"learning_starts": 400},
        seed=0,
    )
    guard = next(c for c in setup.callbacks if isinstance(c, CollapseGuard))
    setup.learn(1_000)
    assert guard.blocks, "no block was scored"
    assert all(score >= guard.floor.floor for _, score in guard.blocks) and guard.restored_at == []


def test_guard_stays_off_when_the_gate_stands_the_prior_down(nav_bc_weights):
    recipe = get_recipe("default", critic_warmup=0, collapse_guard=0.5)
    env = gym.make("SimpleNavigation-v0", goal_position=(-0.5, -0.5))
    setup = make_finetune("td3", env, nav_bc_weights, 600, recipe, hyperparams={"learning_starts": 400}, seed=0)
    guard = next(c for c in setup.callbacks if isinstance(c, CollapseGuard))
    setup.learn(600)
    assert setup.trusted is False and guard.floor is None and not guard.active
    assert "collapse guard: off, the trust gate stood the prior down (nothing to go back to)" in setup.decisions


@pytest.mark.parametrize("restore", ["released", "best"])
def test_guard_puts_the_actor_back_as_released_or_after_its_best_block(restore):
    from types import SimpleNamespace

    from stable_baselines3 import TD3
    from stable_baselines3.common.logger import configure

    from sb3_finetune.guard import GuardFloor

    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    model.set_logger(configure(None, []))
    hook = SimpleNamespace(hold_steps=0)
    guard = CollapseGuard(hook, episodes=2, hold=500, restores=2, restore=restore)
    guard.init_callback(model)
    guard.arm(GuardFloor("success", 0.8, 0.4))

    def actor_set_to(value):
        with th.no_grad():
            for parameter in model.actor.parameters():
                parameter.fill_(value)

    def block(step, scores):
        guard.num_timesteps = step
        guard._block = list(scores)
        guard._judge()

    actor_set_to(1.0)
    guard._snapshot = guard._state()  # as released
    actor_set_to(2.0)
    block(100, [1.0, 1.0])  # above the prior's 0.8: the best so far
    actor_set_to(3.0)
    block(200, [1.0, 0.0])  # 0.5: above the floor, below the prior's figure: neither best nor a fall
    actor_set_to(4.0)
    block(300, [0.0, 0.0])  # a fall
    expected = 1.0 if restore == "released" else 2.0
    assert all(th.all(p == expected) for p in model.actor.parameters())
    assert guard.restored_at == [300] and hook.hold_steps == 800
    said = "as it was released" if restore == "released" else "as it was at step 100 (its best block, 1.00)"
    assert said in guard.decisions[-1]
    with pytest.raises(ValueError, match="restore must be one of"):
        CollapseGuard(hook, 2, 500, 2, restore="latest")


def test_guard_scores_returns_where_the_env_reports_no_success(pendulum_prior):
    # Pendulum reports no success: with --gate-return the gate (and so the guard) counts episodes reaching it.
    recipe = get_recipe(
        "default", critic_warmup=0, collapse_guard=0.5, guard_episodes=2, distill_steps=100, gate_return=-1_500.0
    )
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_600, recipe, seed=0)
    guard = next(c for c in setup.callbacks if isinstance(c, CollapseGuard))
    setup.learn(1_600)
    gate = setup.gate
    assert setup.trusted and gate.criterion == "return threshold"
    assert guard.floor.criterion == "return threshold" and guard.floor.gate_return == -1_500.0
    assert guard.floor.floor == pytest.approx(0.5 * gate.score)
    assert guard.blocks and all(0.0 <= score <= 1.0 for _, score in guard.blocks)
    assert all(step > setup.model.learning_starts for step, _ in guard.blocks)
