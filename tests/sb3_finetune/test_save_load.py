import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from conftest import ALGORITHMS, make_model

from sb3_finetune import load_model, pretrained_extractors, pretrained_policy_kwargs

OBSERVATIONS = np.array([[0.1, -0.2], [-0.9, 0.8], [0.5, 0.45], [0.0, 0.0]], dtype=np.float32)

LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from stable_baselines3 import DDPG, SAC, TD3
    import sb3_finetune

    algo, path = sys.argv[1], sys.argv[2]
    cls = {"ddpg": DDPG, "td3": TD3, "sac": SAC}[algo]
    model = sb3_finetune.load_model(path, cls) if sys.argv[3] == "load_model" else cls.load(path, device="cpu")
    obs = np.array(json.loads(sys.argv[4]), dtype=np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    extractors = sb3_finetune.pretrained_extractors(model)
    print(json.dumps({
        "actions": actions.tolist(),
        "frozen": {name: e.frozen_layers for name, e in extractors.items()},
        "trainable": {name: sum(p.numel() for p in e.parameters()) for name, e in extractors.items()},
        "layer_norm": {name: e.layer_norm for name, e in extractors.items()},
    }))
    """
)


def load_in_fresh_process(algo, path, how="load"):
    result = subprocess.run(
        [sys.executable, "-c", LOADER, algo, str(path), how, json.dumps(OBSERVATIONS.tolist())],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result


@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.parametrize("freeze", [False, True])
def test_save_then_load_in_a_fresh_process_gives_the_same_actions(algo, freeze, agent_file, tmp_path):
    model = make_model(algo, str(agent_file), freeze=freeze)
    model.learn(120)
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    result = load_in_fresh_process(algo, tmp_path / "model.zip")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(loaded["actions"], expected, rtol=0, atol=1e-6)
    if freeze:
        assert set(loaded["frozen"].values()) == {2}
        assert set(loaded["trainable"].values()) == {0}


@pytest.mark.parametrize(
    ("algo", "extractor_kwargs"), [("sac", {}), ("td3", {"features_layer": 1, "layer_norm": True})]
)
def test_model_from_pretrained_policy_kwargs_loads_without_the_weights_file(
    algo, extractor_kwargs, agent_file, tmp_path
):
    model = ALGORITHMS[algo](
        "MlpPolicy",
        gym.make("SimpleNavigation-v0"),
        policy_kwargs=pretrained_policy_kwargs(str(agent_file), freeze=True, net_arch=[32, 32], **extractor_kwargs),
        learning_starts=50,
        device="cpu",
        seed=0,
    )
    model.learn(100)
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    agent_file.unlink()  # the model moved to a machine without the weights file
    result = load_in_fresh_process(algo, tmp_path / "model.zip")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    np.testing.assert_allclose(loaded["actions"], expected, atol=1e-6)
    assert set(loaded["layer_norm"].values()) == {extractor_kwargs.get("layer_norm", False)}


def test_hand_written_kwargs_without_the_file_fail_clearly_and_load_model_recovers(agent_file, tmp_path):
    model = make_model("td3", str(agent_file), features_layer=1)
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    agent_file.unlink()
    result = load_in_fresh_process("td3", tmp_path / "model.zip")
    assert result.returncode != 0
    assert str(agent_file) in result.stderr and "sb3_finetune.load_model" in result.stderr
    result = load_in_fresh_process("td3", tmp_path / "model.zip", how="load_model")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(json.loads(result.stdout.splitlines()[-1])["actions"], expected, atol=1e-6)


def test_load_pretrained_records_the_shape_so_the_model_loads_anywhere(agent, agent_file, tmp_path):
    from sb3_finetune import load_pretrained

    model = make_model("sac", str(agent_file))
    load_pretrained(model, agent.state_dict())
    model.save(tmp_path / "model.zip")
    agent_file.unlink()
    loaded = ALGORITHMS["sac"].load(tmp_path / "model.zip", device="cpu")
    for extractor in pretrained_extractors(loaded).values():
        for key, value in agent.state_dict().items():
            assert th.equal(extractor.network.state_dict()[key], value)


def test_load_model_in_process(agent_file, tmp_path):
    model = make_model("sac", str(agent_file), freeze=True)
    model.save(tmp_path / "model.zip")
    agent_file.unlink()
    loaded = load_model(tmp_path / "model.zip", ALGORITHMS["sac"], device="cpu")
    assert next(iter(pretrained_extractors(loaded).values())).frozen_layers == 2


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_export_keeps_layer_normalised_features_and_the_next_model_keeps_them_too(algo, agent_file, tmp_path):
    """A stood-down model's features are layer-normalised before its head: the exported prior says where
    (``normalised_after``) and acts as the model does; a model built on it normalises there too, and keeps doing so
    once saved and loaded where the weights file is not."""
    from sb3_finetune.pretrain import export
    from sb3_finetune.prior import load_prior
    from sb3_finetune.weights import read_metadata

    model = make_model(algo, str(agent_file), features_layer=1, layer_norm=True)
    model.learn(120)
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    for suffix in (".safetensors", ".pt"):
        export(tmp_path / "model.zip", tmp_path / f"prior{suffix}")
        assert read_metadata(tmp_path / f"prior{suffix}")["normalised_after"] == "actor.features_extractor.network.fc1"
        prior = load_prior(tmp_path / f"prior{suffix}", model.action_space, model.observation_space)
        np.testing.assert_allclose(prior.predict(OBSERVATIONS), expected, atol=1e-5)
        assert prior.network.normalised_after == ("actor.features_extractor.network.fc1",)
    # Without the norm the exported chain would act otherwise: the norm is what makes it the model's actor
    plain = load_prior(tmp_path / "prior.pt", model.action_space, model.observation_space)
    plain.network._normalised = [False] * len(plain.network.linears)
    assert np.abs(plain.predict(OBSERVATIONS) - expected).max() > 1e-3
    # The next task's model, cut at the prior's second layer: its features are the prior's, normalised inside
    again = make_model("td3", str(tmp_path / "prior.pt"), features_layer=2, freeze=True)
    extractor = pretrained_extractors(again)["actor"]
    assert extractor.network.normalised_after == ("actor.features_extractor.network.fc1",)
    layers = prior.network.linears
    x = th.as_tensor(OBSERVATIONS)
    by_hand = th.relu(layers[1](th.nn.functional.layer_norm(th.relu(layers[0](x)), (layers[0].out_features,))))
    th.testing.assert_close(extractor(x), by_hand)
    actions, _ = again.predict(OBSERVATIONS, deterministic=True)
    again.save(tmp_path / "again.zip")
    (tmp_path / "prior.pt").unlink()
    result = load_in_fresh_process("td3", tmp_path / "again.zip", how="load_model")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(json.loads(result.stdout.splitlines()[-1])["actions"], actions, atol=1e-6)


def test_a_second_stand_down_on_features_normalised_already_exports_exactly(agent, tmp_path):
    """A model cut where its prior normalises (a stood-down model's export, fine-tuned and stood down again) does not
    normalise its features twice: the chain it exports applies the norm once there, and acts as the model does."""
    from sb3_finetune.adapter import set_layer_norm
    from sb3_finetune.pretrain import export
    from sb3_finetune.prior import load_prior
    from sb3_finetune.weights import save_weights

    prior = save_weights(agent.state_dict(), tmp_path / "prior.pt", {"normalised_after": "fc1"})
    model = make_model("td3", str(prior), features_layer=1)
    extractor = pretrained_extractors(model)["actor"]
    x = th.as_tensor(OBSERVATIONS)
    before = extractor(x)
    set_layer_norm(model, True)  # what the trust gate's stand-down does (the saved kwargs say so too)
    th.testing.assert_close(extractor(x), before, rtol=0, atol=0)
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    export(tmp_path / "model.zip", tmp_path / "again.pt")
    again = load_prior(tmp_path / "again.pt", model.action_space, model.observation_space)
    np.testing.assert_array_equal(again.predict(OBSERVATIONS), expected)


def test_a_model_on_a_prior_normalised_inside_loads_without_the_weights_file(agent, tmp_path):
    """``pretrained_policy_kwargs`` records where the prior normalises inside, so that ``SAC.load`` itself rebuilds
    it where the file is gone (the state dict says it too: ``load_model`` reads it there)."""
    from sb3_finetune.weights import save_weights

    prior = save_weights(agent.state_dict(), tmp_path / "prior.pt", {"normalised_after": "fc1"})
    kwargs = pretrained_policy_kwargs(str(prior), freeze=True, net_arch=[32, 32])
    assert kwargs["features_extractor_kwargs"]["normalised_after"] == ["fc1"]
    model = ALGORITHMS["sac"]("MlpPolicy", gym.make("SimpleNavigation-v0"), policy_kwargs=kwargs, device="cpu", seed=0)
    assert "actor.features_extractor.normalised_layers" in model.policy.state_dict()
    expected, _ = model.predict(OBSERVATIONS, deterministic=True)
    model.save(tmp_path / "model.zip")
    prior.unlink()
    for how in ("load", "load_model"):
        result = load_in_fresh_process("sac", tmp_path / "model.zip", how=how)
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(json.loads(result.stdout.splitlines()[-1])["actions"], expected, atol=1e-6)


def test_export_refuses_layer_normalised_linear_output_features(agent_file, tmp_path):
    from sb3_finetune.pretrain import export
    from sb3_finetune.weights import PretrainedWeightsError

    model = make_model("td3", str(agent_file), features_layer=None, layer_norm=True)
    model.save(tmp_path / "model.zip")
    with pytest.raises(PretrainedWeightsError, match="linear output, layer-normalised"):
        export(tmp_path / "model.zip", tmp_path / "prior.safetensors")
    assert not (tmp_path / "prior.safetensors").exists()


def test_load_pretrained_refuses_weights_normalised_where_the_extractor_is_not(agent, agent_file, tmp_path):
    from sb3_finetune import load_pretrained
    from sb3_finetune.weights import PretrainedWeightsError, save_weights

    model = make_model("td3", str(agent_file), features_layer=1)
    before = {key: value.clone() for key, value in model.policy.state_dict().items()}
    normalised = save_weights(agent.state_dict(), tmp_path / "normalised.pt", {"normalised_after": "fc1"})
    with pytest.raises(PretrainedWeightsError, match=r"normalise the activations of \['fc1'\] inside the network"):
        load_pretrained(model, normalised)
    assert all(th.equal(value, before[key]) for key, value in model.policy.state_dict().items())  # untouched


def test_writers_racing_for_one_weights_file_each_replace_it_whole(tmp_path):
    """Sweep workers that find a cached network missing all write it (benchmarks/distill_steps.py's quick run did):
    each writes a temporary file of its own and replaces the target whole, so none fails and the file is complete."""
    import subprocess
    import sys

    from sb3_finetune.weights import read_weights

    target = tmp_path / "cache" / "net.pt"
    code = (
        "import sys, torch; from sb3_finetune.weights import save_weights\n"
        "state = {'fc1.weight': torch.ones(256, 256), 'fc1.bias': torch.zeros(256)}\n"
        "for _ in range(30): save_weights(state, sys.argv[1], {'source': 'race'})\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, str(target)], stderr=subprocess.PIPE) for _ in range(4)]
    errors = [writer.communicate()[1].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0, 0], errors
    assert read_weights(target)["fc1.weight"].sum() == 256 * 256
    assert [path.name for path in target.parent.iterdir()] == ["net.pt"]  # no temporary file left behind
