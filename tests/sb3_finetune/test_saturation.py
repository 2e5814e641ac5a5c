import pytest
import torch as th
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback

from sb3_finetune.callbacks import SaturationEscape, actor_tanh
from sb3_finetune.recipes import get_recipe, make_finetune


class HookSeen(BaseCallback):
    """Whether the actor's tanh had a forward hook at each env step."""

    def __init__(self):
        super().__init__()
        self.hooked = []

    def _on_step(self):
        self.hooked.append(bool(actor_tanh(self.model)._forward_hooks))
        return True


def output_gradient(model, target):
    """The gradient reaching the actor's last layer's bias from an MSE towards ``target`` at one state."""
    model.actor.zero_grad()
    state = th.zeros(1, 3)
    ((model.actor(state) - th.tensor([target])) ** 2).sum().backward()
    return model.actor.mu[-2].bias.grad.clone(), model.actor(state).detach()


@pytest.mark.parametrize("algo", [TD3, DDPG])
def test_an_inward_gradient_passes_the_saturated_tanh_and_an_outward_one_does_not(algo):
    model = algo("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    with th.no_grad():
        model.actor.mu[-2].bias.copy_(th.tensor([6.0]))  # pre-activation about 6: tanh' below 1e-4
    assert actor_tanh(model) is model.actor.mu[-1]
    plain, action = output_gradient(model, [0.0])  # the target pulls the action inwards
    escape = SaturationEscape()
    escape.init_callback(model)
    escape.on_training_start({}, {})
    inward, escaped_action = output_gradient(model, [0.0])
    outward, _ = output_gradient(model, [1.0])
    assert th.equal(action, escaped_action)  # the forward pass is unchanged
    slope = 1.0 - float(action[0, 0]) ** 2
    assert float(plain[0]) == pytest.approx(2.0 * float(action[0, 0]) * slope)  # tanh's damping
    assert float(inward[0]) == pytest.approx(2.0 * float(action[0, 0]))  # undamped: as if tanh were the identity
    assert abs(float(inward[0])) > 1_000 * abs(float(plain[0]))
    # Outwards (towards 1 from 0.99998) the damping stays, so the action does not leave the box's side of tanh.
    assert float(outward[0]) == pytest.approx(2.0 * (float(action[0, 0]) - 1.0) * slope)
    escape.on_training_end()
    assert not actor_tanh(model)._forward_hooks
    assert th.equal(output_gradient(model, [0.0])[0], plain)


def test_sacs_actor_has_no_tanh_of_its_own_and_the_recipe_says_so(pendulum_prior):
    assert actor_tanh(SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]})) is None
    recipe = get_recipe("default", escape_saturation=True)
    setup = make_finetune("sac", "Pendulum-v1", pendulum_prior, 1_000, recipe, seed=0)
    assert not any(isinstance(c, SaturationEscape) for c in setup.callbacks)
    said = "saturation escape: off, SAC's actor has no tanh layer of its own"
    assert any(s.startswith(said) for s in setup.decisions)
    td3 = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_000, recipe, seed=0)
    assert any(isinstance(c, SaturationEscape) for c in td3.callbacks)
    assert not any(s.startswith("saturation escape") for s in td3.decisions)


def test_training_with_the_escape_leaves_a_plain_td3_model(pendulum_prior, tmp_path):
    recipe = get_recipe("default", escape_saturation=True, distill_steps=50, critic_warmup=0)
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_300, recipe, seed=0)
    seen = HookSeen()
    setup.learn(1_300, callback=seen)
    assert seen.hooked and all(seen.hooked)  # in place from the first step to the last
    assert not actor_tanh(setup.model)._forward_hooks
    setup.model.save(tmp_path / "model.zip")
    loaded = TD3.load(tmp_path / "model.zip", env=setup.model.get_env())
    state = th.zeros(1, 3)
    assert th.equal(loaded.actor(state), setup.model.actor(state))
    # Resumed as ``sb3-finetune finetune --resume`` does: the loaded model gets the escape again while it trains.
    setup.model = loaded
    resumed = HookSeen()
    setup.learn(200, callback=resumed, reset_num_timesteps=False)
    assert loaded.num_timesteps == 1_500
    assert len(resumed.hooked) == 200 and all(resumed.hooked) and not actor_tanh(loaded)._forward_hooks


def test_the_rl_zoo_callback_escapes_during_training_only(pendulum_prior):
    from sb3_finetune.zoo import FinetuneCallback

    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=1_000, seed=0, policy_kwargs={"net_arch": [16]})
    callback = FinetuneCallback(pendulum_prior, escape_saturation=True, distill_steps=50, critic_warmup=0)
    seen = HookSeen()
    model.learn(1_200, callback=[callback, seen])
    assert len(seen.hooked) == 1_200 and all(seen.hooked) and not actor_tanh(model)._forward_hooks


def test_with_a_level_the_escape_acts_only_beyond_it():
    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    escape = SaturationEscape(above=0.9)
    escape.init_callback(model)
    escape.on_training_start({}, {})
    for bias, undamped in ((6.0, True), (1.0, False)):  # tanh(6) ~ 0.99999, beyond 0.9; tanh(1) ~ 0.76, within
        with th.no_grad():
            model.actor.mu[-2].bias.copy_(th.tensor([bias]))
        inward, action = output_gradient(model, [0.0])
        slope = 1.0 - float(action[0, 0]) ** 2
        expected = 2.0 * float(action[0, 0]) * (1.0 if undamped else slope)
        assert float(inward[0]) == pytest.approx(expected)
    escape.on_training_end()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"escape_above": 1.0}, "escape_above must be in"),
        ({"escape_above": -0.1}, "escape_above must be in"),
        ({"escape_above": 0.9, "escape_saturation": False}, "it needs escape_saturation"),
    ],
)
def test_bad_escape_levels_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("default", **overrides)
    with pytest.raises(ValueError, match="above must be in"):
        SaturationEscape(above=1.0)


def test_the_recipe_passes_its_level_to_the_escape(pendulum_prior):
    recipe = get_recipe("default", escape_above=0.95)
    setup = make_finetune("td3", "Pendulum-v1", pendulum_prior, 1_000, recipe, seed=0)
    (escape,) = [c for c in setup.callbacks if isinstance(c, SaturationEscape)]
    assert escape.above == 0.95
