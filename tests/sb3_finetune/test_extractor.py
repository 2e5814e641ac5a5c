import numpy as np
import pytest
import torch as th
from conftest import ALGORITHMS, clone_state, make_model, states_equal

from sb3_finetune import (
    PretrainedFeaturesExtractor,
    SimpleNavigationAgent,
    load_pretrained,
    pretrained_extractors,
)

EXPECTED_NETWORKS = {
    ("sac", False): ["actor", "critic", "critic_target"],
    ("sac", True): ["actor", "critic_target"],
    ("td3", False): ["actor", "critic", "actor_target", "critic_target"],
    ("td3", True): ["actor", "actor_target"],
    ("ddpg", False): ["actor", "critic", "actor_target", "critic_target"],
    ("ddpg", True): ["actor", "actor_target"],
}


def network_state(extractor):
    return clone_state(extractor.network)


@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.parametrize("share", [False, True])
def test_weights_reach_every_network_that_owns_an_extractor(algo, share, agent, agent_file):
    model = make_model(algo, str(agent_file), share=share)
    extractors = pretrained_extractors(model)
    assert list(extractors) == EXPECTED_NETWORKS[(algo, share)]
    for extractor in extractors.values():
        assert states_equal(network_state(extractor), agent.state_dict())
    if share:
        assert model.policy.critic.features_extractor is model.policy.actor.features_extractor


@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("freeze", [False, True])
def test_load_pretrained_fills_every_network_and_targets_equal_online(algo, share, freeze, agent_file):
    model = make_model(algo, str(agent_file), share=share, freeze=freeze)
    th.manual_seed(123)
    other = SimpleNavigationAgent()
    load_pretrained(model, other.state_dict())
    for extractor in pretrained_extractors(model).values():
        assert states_equal(network_state(extractor), other.state_dict())
    policy = model.policy
    assert states_equal(clone_state(policy.critic), clone_state(policy.critic_target))
    if hasattr(policy, "actor_target"):
        assert states_equal(clone_state(policy.actor), clone_state(policy.actor_target))


@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("freeze", [False, True])
def test_training_keeps_frozen_weights_bit_identical_and_trains_the_rest(algo, share, freeze, agent, agent_file):
    model = make_model(algo, str(agent_file), share=share, freeze=freeze)
    extractors = pretrained_extractors(model)
    head_before = clone_state(model.policy.actor)
    optimized = {
        id(p)
        for net in ("actor", "critic")
        for g in getattr(model.policy, net).optimizer.param_groups
        for p in g["params"]
    }
    model.learn(150)
    for name, extractor in extractors.items():
        if freeze:
            # Frozen in every network, targets included: SB3's polyak update did not move them by rounding.
            assert states_equal(network_state(extractor), agent.state_dict()), name
            assert list(extractor.parameters()) == []  # no gradients can be computed for buffers
        else:
            assert all(p.requires_grad for p in extractor.parameters())
    if freeze:
        assert not any(id(b) in optimized for e in extractors.values() for b in e.buffers())
    else:
        actor_extractor = extractors["actor"]
        assert not states_equal(network_state(actor_extractor), agent.state_dict())
    actor_after = clone_state(model.policy.actor)
    changed = [k for k in head_before if not th.equal(head_before[k], actor_after[k])]
    assert any("features_extractor" not in key for key in changed)


def test_features_layer_picks_the_hidden_units(agent_file):
    model = make_model("sac", str(agent_file), features_layer=1)
    extractor = pretrained_extractors(model)["actor"]
    assert extractor.features_dim == 64
    obs = th.tensor([[0.2, -0.3]])
    agent_state = th.load(agent_file, weights_only=True)
    expected = th.relu(obs @ agent_state["fc1.weight"].T + agent_state["fc1.bias"])
    th.testing.assert_close(extractor(obs), expected)


def test_default_features_are_the_network_output(agent, agent_file):
    model = make_model("td3", str(agent_file))
    extractor = pretrained_extractors(model)["actor"]
    assert extractor.features_dim == 2
    obs = th.tensor([[0.2, -0.3], [0.9, 0.1]])
    th.testing.assert_close(extractor(obs), agent(obs))


@pytest.mark.parametrize("source", ["state_dict", "module", "safetensors", "sb3_zip", "architecture_class"])
def test_every_weights_source(source, agent, agent_file, tmp_path):
    from sb3_finetune import save_weights

    kwargs = {}
    if source == "state_dict":
        weights = agent.state_dict()
    elif source == "module":
        weights = agent
    elif source == "safetensors":
        weights = str(save_weights(agent.state_dict(), tmp_path / "agent.safetensors"))
    elif source == "sb3_zip":
        donor = make_model("sac", str(agent_file))
        donor.save(tmp_path / "donor.zip")
        weights = str(tmp_path / "donor.zip")
    else:
        weights, kwargs = str(agent_file), {"architecture": SimpleNavigationAgent}
    model = make_model("td3", weights, **kwargs)
    for extractor in pretrained_extractors(model).values():
        assert states_equal(network_state(extractor), agent.state_dict())


def test_partial_freeze_freezes_the_first_layers(agent, agent_file):
    model = make_model("sac", str(agent_file), freeze=1)
    model.learn(150)
    actor_extractor = pretrained_extractors(model)["actor"]
    assert actor_extractor.frozen_layers == 1
    state = network_state(actor_extractor)
    assert th.equal(state["fc1.weight"], agent.state_dict()["fc1.weight"])
    assert not th.equal(state["fc2.weight"], agent.state_dict()["fc2.weight"])
    assert [name for name, _ in actor_extractor.named_parameters()] == ["network.fc2.weight", "network.fc2.bias"]


def test_custom_architecture_module_instance(agent):
    class Deeper(th.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = th.nn.Sequential(th.nn.Linear(2, 16), th.nn.Tanh(), th.nn.Linear(16, 8))

        def forward(self, x):
            return self.body(x)

    network = Deeper()
    model = make_model("sac", network)
    extractor = pretrained_extractors(model)["actor"]
    assert extractor.features_dim == 8
    assert extractor.network is not network  # each network owns a copy
    obs = th.tensor([[0.5, 0.5]])
    th.testing.assert_close(extractor(obs), network(obs))


def test_extractor_can_be_built_directly():
    import gymnasium as gym

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    extractor = PretrainedFeaturesExtractor(space, architecture=[["fc1", 2, 8, True], ["fc2", 8, 3, True]])
    assert extractor.features_dim == 3 and extractor.frozen_layers == 0


def test_layer_norm_normalises_each_observations_features_in_every_network(agent_file):
    model = make_model("td3", str(agent_file), features_layer=1, freeze=True, layer_norm=True)
    obs = th.tensor([[0.2, -0.3], [0.9, 0.1], [-0.7, -0.7]])
    agent_state = th.load(agent_file, weights_only=True)
    hidden = th.relu(obs @ agent_state["fc1.weight"].T + agent_state["fc1.bias"])
    for extractor in pretrained_extractors(model).values():
        assert extractor.layer_norm
        features = extractor(obs)
        th.testing.assert_close(features.mean(dim=1), th.zeros(3), atol=1e-5, rtol=0)
        th.testing.assert_close(features.var(dim=1, unbiased=False), th.ones(3), atol=1e-3, rtol=0)
        th.testing.assert_close(features, th.nn.functional.layer_norm(hidden, (64,)))
        assert not list(extractor.parameters())  # no learned scale or shift: frozen means frozen
    model.learn(120)
    th.testing.assert_close(pretrained_extractors(model)["actor"](obs), th.nn.functional.layer_norm(hidden, (64,)))


def test_layer_norm_refuses_a_single_feature():
    import gymnasium as gym

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    with pytest.raises(ValueError, match="at least 2 features"):
        PretrainedFeaturesExtractor(space, architecture=[["fc1", 2, 8, True], ["fc2", 8, 1, True]], layer_norm=True)
