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


def test_export_refuses_layer_normalised_features(agent_file, tmp_path):
    from sb3_finetune.pretrain import export
    from sb3_finetune.weights import PretrainedWeightsError

    model = make_model("td3", str(agent_file), features_layer=1, layer_norm=True)
    model.save(tmp_path / "model.zip")
    with pytest.raises(PretrainedWeightsError, match="layer-normalised"):
        export(tmp_path / "model.zip", tmp_path / "prior.safetensors")
    assert not (tmp_path / "prior.safetensors").exists()
