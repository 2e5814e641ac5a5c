import pytest
import torch as th
from conftest import ALGORITHMS, clone_state, make_model, states_equal

from sb3_finetune import (
    PretrainedLearningRateCallback,
    UnfreezeCallback,
    pretrained_extractors,
    set_frozen_layers,
)


def optimizer_param_ids(model):
    return {
        net: [id(p) for g in getattr(model.policy, net).optimizer.param_groups for p in g["params"]]
        for net in ("actor", "critic")
    }


@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.parametrize("share", [False, True])
def test_unfreeze_at_a_step_trains_the_pretrained_layers_afterwards(algo, share, agent, agent_file):
    model = make_model(algo, str(agent_file), share=share, freeze=True)
    model.learn(200, callback=UnfreezeCallback(start=120))
    extractors = pretrained_extractors(model)
    assert all(e.frozen_layers == 0 for e in extractors.values())
    actor_extractor = extractors["actor"]
    assert not states_equal(clone_state(actor_extractor.network), agent.state_dict())
    ids = optimizer_param_ids(model)
    assert all(id(p) in ids["actor"] for p in actor_extractor.parameters())
    if not share:
        assert all(id(p) in ids["critic"] for p in extractors["critic"].parameters())
    # Same optimizer contents, in the same order, as a model built unfrozen: the saved optimizer state loads back.
    fresh = make_model(algo, str(agent_file), share=share, freeze=False)
    for net in ("actor", "critic"):
        ours = [tuple(p.shape) for g in getattr(model.policy, net).optimizer.param_groups for p in g["params"]]
        theirs = [tuple(p.shape) for g in getattr(fresh.policy, net).optimizer.param_groups for p in g["params"]]
        assert ours == theirs
    assert model.policy_kwargs["features_extractor_kwargs"]["freeze"] == 0


def test_unfrozen_model_saves_and_loads_with_its_optimizer_state(agent_file, tmp_path):
    model = make_model("sac", str(agent_file), freeze=True)
    model.learn(200, callback=UnfreezeCallback(start=100))
    model.save(tmp_path / "model.zip")
    loaded = ALGORITHMS["sac"].load(tmp_path / "model.zip", device="cpu", env=model.get_env())
    assert next(iter(pretrained_extractors(loaded).values())).frozen_layers == 0
    loaded.learn(60, reset_num_timesteps=False)  # the loaded optimizer state fits the parameters


def test_gradual_unfreezing_goes_last_layer_first(agent_file):
    model = make_model("td3", str(agent_file), freeze=True)
    callback = UnfreezeCallback(start=100, interval=60)
    model.learn(130, callback=callback)
    extractors = pretrained_extractors(model)
    assert all(e.frozen_layers == 1 for e in extractors.values())
    assert [n for n, _ in extractors["actor"].named_parameters()] == ["network.fc2.weight", "network.fc2.bias"]
    model.learn(60, callback=callback, reset_num_timesteps=False)
    assert all(e.frozen_layers == 0 for e in extractors.values())


def test_refreezing_removes_parameters_from_the_optimizers(agent_file):
    model = make_model("sac", str(agent_file), freeze=False)
    model.learn(80)
    set_frozen_layers(model, True)
    ids = optimizer_param_ids(model)
    assert all(len(ids[n]) == len(set(ids[n])) for n in ids)
    extractors = pretrained_extractors(model)
    assert all(list(e.parameters()) == [] for e in extractors.values())
    before = {n: clone_state(e) for n, e in extractors.items()}
    model.learn(80, reset_num_timesteps=False)
    assert all(states_equal(before[n], clone_state(e)) for n, e in extractors.items())


def one_gradient_step(agent_file, callback):
    model = make_model("sac", str(agent_file), freeze=False)
    start = clone_state(pretrained_extractors(model)["actor"].network)
    head_start = clone_state(model.policy.actor.mu)
    model.learn(51, callback=callback)  # learning_starts=50: exactly one train() with one gradient step
    end = clone_state(pretrained_extractors(model)["actor"].network)
    head_end = clone_state(model.policy.actor.mu)
    return (
        {k: end[k] - start[k] for k in start},
        {k: head_end[k] - head_start[k] for k in head_start},
    )


def test_lower_learning_rate_for_pretrained_layers_survives_sb3_lr_updates(agent_file):
    plain, plain_head = one_gradient_step(agent_file, None)
    scaled, scaled_head = one_gradient_step(agent_file, PretrainedLearningRateCallback(lr_scale=0.1))
    assert any(d.abs().max() > 0 for d in plain.values())
    for key in plain:
        th.testing.assert_close(scaled[key], 0.1 * plain[key], rtol=1e-3, atol=1e-9)
    for key in plain_head:  # the head keeps the full learning rate
        th.testing.assert_close(scaled_head[key], plain_head[key])


def test_zero_learning_rate_scale_keeps_the_pretrained_layers(agent, agent_file):
    model = make_model("td3", str(agent_file), freeze=False)
    model.learn(150, callback=PretrainedLearningRateCallback(lr_scale=0.0))
    for extractor in (pretrained_extractors(model)["actor"], pretrained_extractors(model)["critic"]):
        assert states_equal(clone_state(extractor.network), agent.state_dict())


def test_callback_arguments_are_validated():
    with pytest.raises(ValueError):
        UnfreezeCallback(start=-1)
    with pytest.raises(ValueError):
        UnfreezeCallback(start=0, interval=0)
    with pytest.raises(ValueError):
        PretrainedLearningRateCallback(lr_scale=-0.5)
